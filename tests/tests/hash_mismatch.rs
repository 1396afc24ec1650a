//! Invariant 1: a hot row is deleted only after the cold store's own count and
//! content hash matched. Here a row is altered in the cold store after the
//! insert and before the gateway reads the window back.

use hotcold_core::schema::{Window, DAY_MS};
use hotcold_tests::clickhouse;
use hotcold_tests::data::{hash_json, ndjson, now_ms, trades, trades_schema};
use hotcold_tests::stack::{ColdKind, StackOptions};
use hotcold_tests::Stack;

async fn tampered_cold_keeps_hot(cold: ColdKind, tamper_sql: String) {
    let env = vec![(
        nas_gateway::failpoint::ENV.to_string(),
        format!("after-insert=sql:{tamper_sql}"),
    )];
    let stack = Stack::start(StackOptions {
        cold,
        gateway_env: env,
        ..Default::default()
    });
    let now = now_ms();
    let start = Window::day_of(now - 5 * DAY_MS).start;
    let rows = trades(start, now, 5_000, 3);
    let (s, b) = stack.cloud.ingest("trades", ndjson(&rows)).await;
    assert_eq!(s, 200, "{b}");

    let (s, report) = stack.cloud.archive().await;
    assert_eq!(s, 200, "{report}");
    if report["failed"] != 1 {
        stack.dump_logs();
    }
    assert_eq!(report["failed"], 1, "{report:#}");
    assert_eq!(report["rows_archived"], 0, "{report:#}");
    let batch = &report["batches"][0];
    assert_eq!(batch["state"], "failed");
    assert!(
        batch["error"]
            .as_str()
            .unwrap_or("")
            .contains("nothing deleted"),
        "{batch}"
    );

    // Nothing was deleted from hot, and queries still see every row once.
    let schema = trades_schema();
    assert_eq!(
        stack
            .cloud
            .hot_count(&schema, Window::new(i64::MIN, i64::MAX)),
        rows.len() as u64
    );
    let (s, h, body) = stack
        .cloud
        .query("trades", &format!("from={start}&to={}", now + 1))
        .await;
    assert_eq!(s, 200);
    assert!(
        h.get("x-hotcold-watermark").is_none(),
        "watermark must not move past a failed batch"
    );
    let got: Vec<serde_json::Value> = body
        .lines()
        .map(|l| serde_json::from_str(l).expect("line"))
        .collect();
    assert_eq!(hash_json(&schema, &got), hash_json(&schema, &rows));

    // The journal reports the failure too.
    let (s, status) = stack.cloud.get("/v1/admin/status").await;
    assert_eq!(s, 200);
    assert!(status.contains("\"failed\""), "{status}");

    // And the coverage map: the failed day is failed, its rows hot.
    let (s, body) = stack
        .cloud
        .get(&format!(
            "/v1/admin/coverage?table=trades&from={start}&to={}",
            start + DAY_MS
        ))
        .await;
    assert_eq!(s, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("coverage json");
    let day = &v["buckets"][0];
    assert_eq!(day["state"], "failed", "{v:#}");
    assert_eq!(day["batch_id"], batch["batch_id"], "{v:#}");
    assert_eq!(
        day["hot_rows"],
        stack
            .cloud
            .hot_count(&schema, Window::new(start, start + DAY_MS)),
        "{v:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn altered_clickhouse_row_fails_the_batch_and_keeps_hot() {
    let Some(url) = clickhouse::url() else { return };
    let db = clickhouse::unique_db("tamper");
    let sql =
        format!("ALTER TABLE {db}.trades UPDATE symbol = 'TAMPERED' WHERE trade_id % 100 = 0");
    tampered_cold_keeps_hot(ColdKind::ClickHouse { url, database: db }, sql).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn altered_sqlite_cold_row_fails_the_batch_and_keeps_hot() {
    tampered_cold_keeps_hot(
        ColdKind::Sqlite,
        "UPDATE trades SET symbol = 'TAMPERED' WHERE trade_id % 100 = 0".into(),
    )
    .await;
}
