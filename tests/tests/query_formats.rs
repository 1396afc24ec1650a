//! Column selection and CSV output over a range that spans hot and cold.

use hotcold_core::schema::{Window, DAY_MS};
use hotcold_tests::data::{ndjson, now_ms, trades};
use hotcold_tests::stack::StackOptions;
use hotcold_tests::Stack;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn columns_and_csv_across_hot_and_cold() {
    let stack = Stack::start(StackOptions::default());
    let c = &stack.cloud;
    let now = now_ms();
    let start = Window::day_of(now - 5 * DAY_MS).start;
    let rows = trades(start, now, 3_000, 17);
    assert_eq!(c.ingest("trades", ndjson(&rows)).await.0, 200);
    let (s, r) = c.archive().await;
    assert_eq!(s, 200, "{r}");
    assert!(
        r["rows_archived"].as_u64().unwrap_or(0) > 0,
        "part of the range must be cold"
    );

    let range = format!("from={start}&to={}", now + 1);
    let (s, h, body) = c
        .query(
            "trades",
            &format!("{range}&format=csv&columns=ts,symbol,price"),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    assert!(h
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .starts_with("text/csv"));
    let mut lines = body.lines();
    assert_eq!(lines.next(), Some("ts,symbol,price"));
    let mut got: Vec<String> = lines.map(str::to_string).collect();
    let mut want: Vec<String> = rows
        .iter()
        .map(|r| {
            format!(
                "{},{},{}",
                r["ts"],
                r["symbol"].as_str().unwrap_or(""),
                r["price"].as_str().unwrap_or("")
            )
        })
        .collect();
    got.sort();
    want.sort();
    assert_eq!(got, want, "every row once, the chosen columns in order");

    let (s, _, body) = c
        .query(
            "trades",
            &format!("{range}&format=json&columns=amount,ts&limit=5"),
        )
        .await;
    assert_eq!(s, 200);
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    for row in v["rows"].as_array().expect("rows") {
        let keys: Vec<&String> = row.as_object().expect("object").keys().collect();
        assert_eq!(keys.len(), 2, "{row}");
        assert!(
            row.get("amount").is_some() && row.get("ts").is_some(),
            "{row}"
        );
    }

    for (q, needle) in [
        ("columns=ts,nope", "unknown column \"nope\""),
        ("columns=ts,price,ts", "two columns named \"ts\""),
        ("columns=", "columns= is empty"),
        ("format=xml", "ndjson, json, csv, arrow or parquet"),
    ] {
        let (s, _, body) = c.query("trades", &format!("{range}&{q}")).await;
        assert_eq!(s, 400, "{q}: {body}");
        let v: serde_json::Value = serde_json::from_str(&body).expect("JSON error");
        assert!(
            v["error"].as_str().unwrap_or("").contains(needle),
            "{q}: {body}"
        );
    }
}
