//! Operating it: scheduled runs start by themselves, never two runs at once,
//! /health follows the gateway going away and coming back, and /metrics
//! counts what an archive did.

use hotcold_core::schema::{Window, DAY_MS};
use hotcold_tests::data::{ndjson, now_ms, trades};
use hotcold_tests::stack::StackOptions;
use hotcold_tests::Stack;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Parses Prometheus text into `name{labels}` → value.
fn scrape(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.rsplit_once(' '))
        .filter_map(|(k, v)| v.parse().ok().map(|v| (k.to_string(), v)))
        .collect()
}

async fn health(stack: &Stack) -> serde_json::Value {
    let (_, body) = stack.cloud.get("/health").await;
    serde_json::from_str(&body).expect("health JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn continuous_schedule_archives_by_itself_and_metrics_count_it() {
    let stack = Stack::start(StackOptions {
        schedule_yaml: "schedule:\n  every: 1s\n".into(),
        ..Default::default()
    });
    let now = now_ms();
    let start = Window::day_of(now - 5 * DAY_MS).start;
    let rows = trades(start, now, 20_000, 4);
    let (s, b) = stack.cloud.ingest("trades", ndjson(&rows)).await;
    assert_eq!(s, 200, "{b}");
    let cutoff = Window::day_of(now - 2 * DAY_MS).start;
    let archived = rows
        .iter()
        .filter(|r| r["ts"].as_i64() < Some(cutoff))
        .count() as f64;

    // No one asks for a run: the schedule starts it.
    let deadline = Instant::now() + Duration::from_secs(30);
    let m = loop {
        let (s, text) = stack.cloud.get("/metrics").await;
        assert_eq!(s, 200);
        let m = scrape(&text);
        if m.get("hotcold_archive_rows_total") == Some(&archived) {
            break m;
        }
        assert!(
            Instant::now() < deadline,
            "no scheduled run archived the rows:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(m["hotcold_archive_runs_total"] >= 1.0);
    assert_eq!(
        m["hotcold_ingest_rows_total{table=\"trades\"}"],
        rows.len() as f64
    );
    assert_eq!(
        m["hotcold_watermark_seconds{table=\"trades\"}"],
        cutoff as f64 / 1000.0
    );
    assert!(m["hotcold_archive_batches_purged_total"] >= 3.0);
    assert_eq!(m["hotcold_archive_batches_failed_total"], 0.0);
    assert!(m["hotcold_link_bytes_sent_total"] > 0.0);
    assert_eq!(m["hotcold_spool_bytes"], 0.0);
    assert_eq!(m["hotcold_link_up"], 1.0);
    assert_eq!(
        m["hotcold_hot_rows{table=\"trades\"}"],
        rows.len() as f64 - archived
    );
    assert!(
        m.contains_key("hotcold_link_rtt_seconds"),
        "the link was used, so it has an RTT"
    );
    let h = health(&stack).await;
    assert_eq!(h["status"], "healthy", "{h:#}");
    assert!(h["next_archive_run"].is_string(), "{h:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn never_two_runs_and_health_follows_the_gateway() {
    // A paced line makes the run slow enough to overlap a second request.
    let mut stack = Stack::start(StackOptions {
        bwlimit: "256KiB".into(),
        ..Default::default()
    });
    let now = now_ms();
    let day = Window::day_of(now - 4 * DAY_MS);
    let rows = trades(day.start, day.end, 100_000, 6);
    let (s, b) = stack.cloud.ingest("trades", ndjson(&rows)).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(health(&stack).await["status"], "healthy");

    let url = stack.cloud.url.clone();
    let first = tokio::spawn(async move {
        reqwest::Client::new()
            .post(format!("{url}/v1/admin/archive"))
            .send()
            .await
            .map(|r| r.status().as_u16())
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (second, body) = stack.cloud.archive().await;
    assert_eq!(
        second, 409,
        "a second run must be refused while one runs: {body}"
    );
    assert!(
        body["error"]
            .as_str()
            .unwrap_or("")
            .contains("already in progress"),
        "{body}"
    );
    assert_eq!(first.await.expect("join").expect("first"), 200);

    // The gateway goes away: health turns degraded and says why.
    stack.gateway.kill("KILL");
    let (s, _, _) = stack
        .cloud
        .query("trades", &format!("from={}&to={}", day.start, now))
        .await;
    assert_eq!(s, 503, "a whole answer or a 503 naming the missing range");
    let (s, _, _) = stack
        .cloud
        .query(
            "trades",
            &format!("from={}&to={}&allow_partial=true", day.start, now),
        )
        .await;
    assert_eq!(s, 200, "a partial answer when asked for one");
    let h = health(&stack).await;
    assert_eq!(h["status"], "degraded", "{h:#}");
    assert_eq!(h["components"]["link"]["status"], "degraded", "{h:#}");
    assert!(
        h["components"]["link"]["detail"]["unreachable_since"].is_string(),
        "{h:#}"
    );
    let (_, text) = stack.cloud.get("/metrics").await;
    assert_eq!(scrape(&text)["hotcold_link_up"], 0.0);
    assert!(scrape(&text)["hotcold_queries_partial_total"] >= 1.0);

    // It comes back: healthy again once the link is used.
    stack.gateway.restart(Vec::new());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let _ = stack
            .cloud
            .query("trades", &format!("from={}&to={}", day.start, now))
            .await;
        let h = health(&stack).await;
        if h["status"] == "healthy" {
            break;
        }
        assert!(Instant::now() < deadline, "health did not recover: {h:#}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}
