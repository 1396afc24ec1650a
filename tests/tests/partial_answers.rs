//! Never a silently short answer: with the gateway stopped, a query over a
//! range that reaches below the watermark returns the hot part with the
//! missing cold range in the body and a header; `require_complete=true`
//! makes it a 503 naming the same range.

use hotcold_core::schema::{Window, DAY_MS};
use hotcold_tests::data::{hash_json, ndjson, now_ms, trades, trades_schema};
use hotcold_tests::stack::StackOptions;
use hotcold_tests::Stack;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_down_gives_partial_answers_or_503() {
    let mut stack = Stack::start(StackOptions::default());
    let now = now_ms();
    let start = Window::day_of(now - 5 * DAY_MS).start;
    let rows = trades(start, now, 10_000, 31);
    assert_eq!(stack.cloud.ingest("trades", ndjson(&rows)).await.0, 200);
    let (s, r) = stack.cloud.archive().await;
    assert_eq!(s, 200, "{r}");
    let wm = r["cutoff_ms"].as_i64().expect("cutoff");
    stack.gateway.kill("KILL");

    let (s, h, body) = stack
        .cloud
        .query(
            "trades",
            &format!("from={start}&to={}&format=json", now + 1),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    let missing = h
        .get("x-hotcold-missing")
        .and_then(|v| v.to_str().ok())
        .expect("missing header");
    assert_eq!(missing, format!("{start}-{wm}"));
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["missing"][0]["start"], start);
    assert_eq!(v["missing"][0]["end"], wm);
    assert!(v["missing_reason"].is_string(), "{v}");
    // Exactly the hot rows: everything from the watermark on, nothing else.
    let hot: Vec<_> = rows
        .iter()
        .filter(|x| x["ts"].as_i64() >= Some(wm))
        .cloned()
        .collect();
    let got = v["rows"].as_array().expect("rows").clone();
    assert_eq!(
        hash_json(&trades_schema(), &got),
        hash_json(&trades_schema(), &hot)
    );

    let (s, _, body) = stack
        .cloud
        .query(
            "trades",
            &format!("from={start}&to={}&require_complete=true", now + 1),
        )
        .await;
    assert_eq!(s, 503, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert!(
        v["error"]
            .as_str()
            .unwrap_or("")
            .contains(&format!("{start}-{wm}")),
        "{v}"
    );
    assert_eq!(v["missing"][0]["end"], wm);

    // Bars too: the hot part's bars, the same missing range, or a 503.
    let (s, h, body) = stack
        .cloud
        .ask(
            "bars",
            "trades",
            &format!("from={start}&to={}&interval=1h&format=json", now + 1),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(
        h.get("x-hotcold-missing").and_then(|v| v.to_str().ok()),
        Some(format!("{start}-{wm}").as_str())
    );
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    let bars = v["rows"].as_array().expect("rows");
    let counted: u64 = bars.iter().filter_map(|b| b["count"].as_u64()).sum();
    assert_eq!(counted, hot.len() as u64, "bars count exactly the hot rows");
    assert!(bars.iter().all(|b| b["ts"].as_i64() >= Some(wm)));
    let (s, _, body) = stack
        .cloud
        .ask(
            "bars",
            "trades",
            &format!(
                "from={start}&to={}&interval=1h&require_complete=true",
                now + 1
            ),
        )
        .await;
    assert_eq!(s, 503, "{body}");

    // A range entirely above the watermark needs no gateway: complete.
    let (s, h, _) = stack
        .cloud
        .query(
            "trades",
            &format!("from={wm}&to={}&require_complete=true", now + 1),
        )
        .await;
    assert_eq!(s, 200);
    assert!(h.get("x-hotcold-missing").is_none());
}
