//! Rehydrate copies a cold range back into hot as `trades__rehydrated`,
//! without touching `trades`: its rows are still answered once each (from
//! cold), the copy equals the original rows, a second rehydration replaces
//! rather than doubles, and the next archive run leaves the copy alone.

use hotcold_core::schema::{Window, DAY_MS};
use hotcold_tests::data::{hash_json, ndjson, now_ms, trades, trades_schema};
use hotcold_tests::stack::StackOptions;
use hotcold_tests::Stack;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rehydrated_rows_sit_beside_the_table_not_in_it() {
    let stack = Stack::start(StackOptions::default());
    let now = now_ms();
    let start = Window::day_of(now - 6 * DAY_MS).start;
    let rows = trades(start, now, 12_000, 41);
    assert_eq!(stack.cloud.ingest("trades", ndjson(&rows)).await.0, 200);
    let (s, r) = stack.cloud.archive().await;
    assert_eq!(s, 200, "{r}");
    let wm = r["cutoff_ms"].as_i64().expect("cutoff");
    let day = Window::new(start + DAY_MS, start + 2 * DAY_MS);
    let schema = trades_schema();
    let want: Vec<_> = rows
        .iter()
        .filter(|x| x["ts"].as_i64().is_some_and(|t| day.contains(t)))
        .cloned()
        .collect();

    for _ in 0..2 {
        let (s, v) = stack
            .cloud
            .post(&format!(
                "/v1/admin/rehydrate?table=trades&from={}&to={}",
                day.start, day.end
            ))
            .await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["table"], "trades__rehydrated");
        assert_eq!(v["rows"], want.len(), "{v}");
    }
    let q = format!("from={}&to={}&format=json", day.start, day.end);
    let (s, _, body) = stack.cloud.query("trades__rehydrated", &q).await;
    assert_eq!(s, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    let got = v["rows"].as_array().expect("rows");
    assert_eq!(got.len(), want.len(), "replaced, not doubled");
    let mut renamed = schema.clone();
    renamed.name = "trades__rehydrated".into();
    assert_eq!(hash_json(&renamed, got), hash_json(&schema, &want));
    assert_eq!(v["hot_rows"], want.len());

    // `trades` itself: still once each, from cold.
    let (s, _, body) = stack.cloud.query("trades", &q).await;
    assert_eq!(s, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["cold_rows"], want.len());
    assert_eq!(v["hot_rows"], 0);

    // Archiving again leaves the copy where it is; ingest cannot write it.
    let (s, r) = stack.cloud.archive().await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(stack.cloud.hot_count(&renamed, day), want.len() as u64);
    let (s, _) = stack
        .cloud
        .ingest("trades__rehydrated", ndjson(&want[..1]))
        .await;
    assert_eq!(s, 404);

    // Above the watermark there is nothing cold to copy.
    let (s, v) = stack
        .cloud
        .post(&format!(
            "/v1/admin/rehydrate?table=trades&from={wm}&to={}",
            now + 1
        ))
        .await;
    assert_eq!(s, 400, "{v}");
    assert!(v["error"].as_str().unwrap_or("").contains("is cold"), "{v}");
}

/// Rehydrate is bounded like a query: a range wider than query.max-range is
/// refused, and a range holding more rows than query.max-rows is refused
/// whole (413, naming the limits) with nothing left in the copy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rehydrate_is_bounded_like_a_query() {
    let stack = Stack::start(StackOptions {
        extra_yaml: "query:\n  max-rows: 1000\n  max-range: 3d\n".into(),
        ..Default::default()
    });
    let now = now_ms();
    let start = Window::day_of(now - 6 * DAY_MS).start;
    let rows = trades(start, now, 12_000, 42);
    assert_eq!(stack.cloud.ingest("trades", ndjson(&rows)).await.0, 200);
    let (s, r) = stack.cloud.archive().await;
    assert_eq!(s, 200, "{r}");
    let (s, v) = stack
        .cloud
        .post(&format!(
            "/v1/admin/rehydrate?table=trades&from={start}&to={}",
            start + 4 * DAY_MS
        ))
        .await;
    assert_eq!(s, 400, "{v}");
    assert!(
        v["error"]
            .as_str()
            .unwrap_or("")
            .contains("query.max-range"),
        "{v}"
    );
    let day = Window::new(start + DAY_MS, start + 2 * DAY_MS);
    let (s, v) = stack
        .cloud
        .post(&format!(
            "/v1/admin/rehydrate?table=trades&from={}&to={}",
            day.start, day.end
        ))
        .await;
    assert_eq!(s, 413, "{v}");
    assert!(
        v["error"]
            .as_str()
            .unwrap_or("")
            .contains("query.max-rows (1000)"),
        "{v}"
    );
    let mut renamed = trades_schema();
    renamed.name = "trades__rehydrated".into();
    assert_eq!(
        stack.cloud.hot_count(&renamed, day),
        0,
        "nothing left behind"
    );
}
