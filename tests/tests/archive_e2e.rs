//! One archive run end to end through real processes: ingest over HTTP into
//! the hot SQLite file, archive over QUIC with mutual TLS into a real cold
//! store, then check the cold store independently, the hot file directly,
//! and a query that straddles the watermark.

use hotcold_core::schema::{Window, DAY_MS};
use hotcold_tests::clickhouse;
use hotcold_tests::data::{hash_json, ndjson, now_ms, trades, trades_schema};
use hotcold_tests::stack::{ColdKind, StackOptions};
use hotcold_tests::Stack;

fn parse_ndjson(body: &str) -> Vec<serde_json::Value> {
    body.lines()
        .map(|l| serde_json::from_str(l).expect("ndjson line"))
        .collect()
}

async fn archive_round(cold: ColdKind) -> (Stack, Vec<serde_json::Value>, i64) {
    let stack = Stack::start(StackOptions {
        cold,
        ..Default::default()
    });
    let now = now_ms();
    let start = Window::day_of(now - 6 * DAY_MS).start;
    let rows = trades(start, now, 30_000, 7);
    for part in rows.chunks(10_000) {
        let (s, b) = stack.cloud.ingest("trades", ndjson(part)).await;
        assert_eq!(s, 200, "{b}");
    }
    let (s, report) = stack.cloud.archive().await;
    if s != 200 || report["failed"] != 0 || report["pending"] != 0 {
        stack.dump_logs();
        panic!("archive: {s} {report:#}");
    }
    let cutoff = report["cutoff_ms"].as_i64().expect("cutoff");
    let archived = rows
        .iter()
        .filter(|r| r["ts"].as_i64() < Some(cutoff))
        .count();
    assert!(
        archived > 10_000 && archived < rows.len(),
        "test data must straddle the cutoff"
    );
    assert_eq!(
        report["rows_archived"].as_u64(),
        Some(archived as u64),
        "{report:#}"
    );
    assert!(report["bytes_sent"].as_u64().unwrap_or(0) > 0);
    println!(
        "archived {archived} of {} rows, {} bytes on the wire",
        rows.len(),
        report["bytes_sent"]
    );
    (stack, rows, cutoff)
}

async fn check_hot_and_query(stack: &Stack, rows: &[serde_json::Value], cutoff: i64) {
    let schema = trades_schema();
    // Hot no longer holds the archived windows, and still holds the rest.
    assert_eq!(
        stack
            .cloud
            .hot_count(&schema, Window::new(i64::MIN, cutoff)),
        0
    );
    let recent = rows
        .iter()
        .filter(|r| r["ts"].as_i64() >= Some(cutoff))
        .count() as u64;
    assert_eq!(
        stack
            .cloud
            .hot_count(&schema, Window::new(cutoff, i64::MAX)),
        recent
    );

    // A query straddling the watermark returns every row exactly once.
    let first = rows
        .iter()
        .filter_map(|r| r["ts"].as_i64())
        .min()
        .expect("rows");
    let (s, h, body) = stack
        .cloud
        .query("trades", &format!("from={first}&to={}", now_ms() + 1))
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(
        h.get("x-hotcold-watermark").and_then(|v| v.to_str().ok()),
        Some(cutoff.to_string().as_str())
    );
    assert!(h.get("x-hotcold-missing").is_none());
    let got = parse_ndjson(&body);
    assert_eq!(got.len(), rows.len());
    assert_eq!(
        hash_json(&schema, &got),
        hash_json(&schema, rows),
        "straddling query returned other rows"
    );
    let ts: Vec<i64> = got.iter().filter_map(|r| r["ts"].as_i64()).collect();
    assert!(
        ts.windows(2).all(|p| p[0] <= p[1]),
        "rows not in time order"
    );

    // A second run finds nothing new: idempotent, no batches.
    let (s, report) = stack.cloud.archive().await;
    assert_eq!(s, 200);
    assert_eq!(
        report["batches"].as_array().map(Vec::len),
        Some(0),
        "{report:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archive_to_clickhouse_end_to_end() {
    let Some(url) = clickhouse::url() else { return };
    let db = clickhouse::unique_db("e2e");
    let (stack, rows, cutoff) = archive_round(ColdKind::ClickHouse {
        url: url.clone(),
        database: db.clone(),
    })
    .await;
    // Cold holds exactly the archived rows: counted and hashed from
    // ClickHouse's own text output, not through the gateway.
    let schema = trades_schema();
    let archived: Vec<_> = rows
        .iter()
        .filter(|r| r["ts"].as_i64() < Some(cutoff))
        .cloned()
        .collect();
    let cold = clickhouse::window_hash(&url, &db, &schema, Window::new(i64::MIN, i64::MAX))
        .await
        .expect("read cold");
    assert_eq!(cold, hash_json(&schema, &archived));
    check_hot_and_query(&stack, &rows, cutoff).await;
    let ledger = clickhouse::sql(&url, &format!("SELECT count() FROM {db}._hotcold_ledger"))
        .await
        .expect("ledger");
    assert!(
        ledger.trim().parse::<u64>().unwrap_or(0) >= 4,
        "ledger: {ledger}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archive_to_sqlite_cold_end_to_end() {
    let (stack, rows, cutoff) = archive_round(ColdKind::Sqlite).await;
    let schema = trades_schema();
    let conn = rusqlite::Connection::open(stack.dir.path().join("nas/cold.db")).expect("cold.db");
    let cold = hotcold_sqlite::content_hash(&conn, &schema, Window::new(i64::MIN, i64::MAX))
        .expect("hash");
    let archived: Vec<_> = rows
        .iter()
        .filter(|r| r["ts"].as_i64() < Some(cutoff))
        .cloned()
        .collect();
    assert_eq!(cold, hash_json(&schema, &archived));
    check_hot_and_query(&stack, &rows, cutoff).await;
    // Rows older than the archived range are now refused, naming the floor.
    let late = trades(cutoff - DAY_MS, cutoff - 1, 1, 99);
    let (s, b) = stack.cloud.ingest("trades", ndjson(&late)).await;
    assert_eq!(s, 409, "{b}");
    assert!(
        b["error"].as_str().unwrap_or("").contains("older than"),
        "{b}"
    );
}
