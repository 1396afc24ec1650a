//! The gateway's offline mode: its ClickHouse is down while a batch arrives.
//! The batch is verified and staged, the cloud is told "stored, not
//! committed" and keeps the hot rows; when ClickHouse returns, the gateway
//! commits from staging and the next archive run confirms and purges.

use hotcold_core::schema::{Window, DAY_MS};
use hotcold_tests::clickhouse;
use hotcold_tests::data::{hash_json, ndjson, now_ms, trades, trades_schema};
use hotcold_tests::stack::{ColdKind, StackOptions};
use hotcold_tests::Stack;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_wait_in_staging_while_clickhouse_is_down() {
    if clickhouse::url().is_none() {
        return;
    }
    let ch = clickhouse::OwnServer::new(18124, 19001);
    let url = ch.run("start");
    let db = clickhouse::unique_db("down");
    let stack = Stack::start(StackOptions {
        cold: ColdKind::ClickHouse {
            url: url.clone(),
            database: db.clone(),
        },
        ..Default::default()
    });
    let schema = trades_schema();
    let day = Window::day_of(now_ms() - 4 * DAY_MS);
    let rows = trades(day.start, day.end, 20_000, 8);
    let (s, b) = stack.cloud.ingest("trades", ndjson(&rows)).await;
    assert_eq!(s, 200, "{b}");

    ch.run("stop");
    let (s, r) = stack.cloud.archive().await;
    assert_eq!(s, 200, "{r}");
    let batch = &r["batches"][0];
    assert_eq!(batch["state"], "exported", "{r:#}");
    assert!(
        batch["error"]
            .as_str()
            .unwrap_or("")
            .contains("stored on the NAS but not committed"),
        "{r:#}"
    );
    assert_eq!(
        stack.cloud.hot_count(&schema, day),
        rows.len() as u64,
        "hot keeps the rows"
    );
    let staged = std::fs::read_dir(stack.dir.path().join("nas/staging"))
        .expect("staging")
        .count();
    assert_eq!(staged, 1, "the batch waits in staging");

    let (s, h) = gateway_health(&stack).await;
    assert_eq!(s, 503, "the gateway reports its cold store down: {h}");
    assert_eq!(h["components"]["staging"]["batches"], 1, "{h}");

    ch.run("start");
    // The gateway's committer takes it from staging on its own.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let n = clickhouse::sql(&url, &format!("SELECT count() FROM {db}._hotcold_ledger"))
            .await
            .unwrap_or_default();
        if n.trim() == "1" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the staged batch was not committed after ClickHouse returned"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // The next run confirms (the gateway answers from its ledger) and purges.
    let (s, r) = stack.cloud.archive().await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(
        r["rows_archived"].as_u64(),
        Some(rows.len() as u64),
        "{r:#}"
    );
    assert_eq!(stack.cloud.hot_count(&schema, day), 0);
    let cold = clickhouse::window_hash(&url, &db, &schema, day)
        .await
        .expect("cold");
    assert_eq!(cold, hash_json(&schema, &rows));
    let (s, h) = gateway_health(&stack).await;
    assert_eq!((s, h["status"].as_str()), (200, Some("healthy")), "{h}");
    let metrics = reqwest::get(format!("{}/metrics", stack.gateway.http))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains("hotcold_gateway_stored_not_committed_total 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("hotcold_gateway_cold_store_up 1"),
        "{metrics}"
    );
}

async fn gateway_health(stack: &Stack) -> (u16, serde_json::Value) {
    let r = reqwest::get(format!("{}/health", stack.gateway.http))
        .await
        .expect("gateway health");
    let s = r.status().as_u16();
    (s, r.json().await.expect("json"))
}
