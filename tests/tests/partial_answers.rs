//! Never a silently short answer: with the gateway stopped, a query over a
//! range that reaches below the watermark is a 503 naming the missing cold
//! range (a plain `curl`, a pandas script or a dashboard never sees a
//! header). Only `allow_partial=true` gets the hot part, and then the
//! missing range is named in the body of every format and in a header.

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

    // The default: no half answer, whatever the format.
    for format in ["ndjson", "json", "csv"] {
        let (s, _, body) = stack
            .cloud
            .query(
                "trades",
                &format!("from={start}&to={}&format={format}", now + 1),
            )
            .await;
        assert_eq!(s, 503, "{format}: {body}");
        let v: serde_json::Value = serde_json::from_str(&body).expect("json error");
        let e = v["error"].as_str().unwrap_or("");
        assert!(e.contains(&format!("{start}-{wm}")), "{v}");
        assert!(e.contains("allow_partial=true"), "the 503 says how: {v}");
    }
    // Contradicting flags are a 400.
    let (s, _, body) = stack
        .cloud
        .query(
            "trades",
            &format!(
                "from={start}&to={}&allow_partial=true&require_complete=true",
                now + 1
            ),
        )
        .await;
    assert_eq!(s, 400, "{body}");

    let (s, h, body) = stack
        .cloud
        .query(
            "trades",
            &format!("from={start}&to={}&format=json&allow_partial=true", now + 1),
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

    // NDJSON: the rows, then one last line naming what is missing.
    let (s, _, body) = stack
        .cloud
        .query(
            "trades",
            &format!("from={start}&to={}&allow_partial=true", now + 1),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    let lines: Vec<serde_json::Value> = body
        .lines()
        .map(|l| serde_json::from_str(l).expect("ndjson line"))
        .collect();
    let (last, rows_part) = lines.split_last().expect("lines");
    assert_eq!(last["_missing"][0]["start"], start, "{last}");
    assert_eq!(last["_missing"][0]["end"], wm, "{last}");
    assert_eq!(
        hash_json(&trades_schema(), rows_part),
        hash_json(&trades_schema(), &hot)
    );
    // CSV: a comment line at the end.
    let (s, _, body) = stack
        .cloud
        .query(
            "trades",
            &format!("from={start}&to={}&format=csv&allow_partial=true", now + 1),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    let last = body.lines().last().unwrap_or("");
    assert!(
        last.starts_with(&format!("# missing: {start}-{wm}")),
        "{last}"
    );
    assert_eq!(body.lines().count(), hot.len() + 2, "header, rows, comment");

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
            &format!(
                "from={start}&to={}&interval=1h&format=json&allow_partial=true",
                now + 1
            ),
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
            &format!("from={start}&to={}&interval=1h", now + 1),
        )
        .await;
    assert_eq!(s, 503, "bars default to whole answers too: {body}");
    let (s, _, body) = stack
        .cloud
        .ask(
            "aggregate",
            "trades",
            &format!("from={start}&to={}&interval=1d", now + 1),
        )
        .await;
    assert_eq!(s, 503, "and so do aggregates (no short count): {body}");

    // A range entirely above the watermark needs no gateway: complete.
    let (s, h, _) = stack
        .cloud
        .query("trades", &format!("from={wm}&to={}", now + 1))
        .await;
    assert_eq!(s, 200);
    assert!(h.get("x-hotcold-missing").is_none());
}
