//! Invariant 9: "Committed" means on disk. ClickHouse 18.16 cannot fsync an
//! insert, so the gateway says its commit is not durable and the cloud holds
//! the window in hot for `archive.purge-grace`, then reads it back from cold
//! once more and purges only if it is unchanged. A window that changed in
//! cold during the grace (as a power cut on the NAS would leave it) fails
//! and keeps every hot row.

use hotcold_core::schema::{Window, DAY_MS};
use hotcold_tests::clickhouse;
use hotcold_tests::data::{hash_json, ndjson, now_ms, trades, trades_schema};
use hotcold_tests::stack::{ColdKind, StackOptions};
use hotcold_tests::Stack;
use std::time::Duration;

const GRACE_S: u64 = 3;

/// A pair on ClickHouse 18.16 cold with a short grace, four days of trades
/// ingested and one archive run done: the stack, the server, the cold
/// database, the rows, the range start and the run's report.
struct Archived {
    stack: Stack,
    url: String,
    db: String,
    rows: Vec<serde_json::Value>,
    start: i64,
    now: i64,
    report: serde_json::Value,
}

async fn archived(seed: u64) -> Option<Archived> {
    let url = clickhouse::url()?;
    let db = clickhouse::unique_db("durable");
    let stack = Stack::start(StackOptions {
        cold: ColdKind::ClickHouse {
            url: url.clone(),
            database: db.clone(),
        },
        purge_grace: format!("{GRACE_S}s"),
        ..Default::default()
    });
    let now = now_ms();
    let start = Window::day_of(now - 4 * DAY_MS).start;
    let rows = trades(start, now, 4_000, seed);
    let (s, b) = stack.cloud.ingest("trades", ndjson(&rows)).await;
    assert_eq!(s, 200, "{b}");
    let (s, report) = stack.cloud.archive().await;
    assert_eq!(s, 200, "{report}");
    Some(Archived {
        stack,
        url,
        db,
        rows,
        start,
        now,
        report,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commits_to_clickhouse_18_are_held_for_the_grace_then_read_back() {
    let Some(Archived {
        stack,
        url,
        db,
        rows,
        start,
        now,
        report: r,
    }) = archived(21).await
    else {
        return;
    };
    let schema = trades_schema();
    let cutoff = r["cutoff_ms"].as_i64().expect("cutoff");
    let old: Vec<_> = rows
        .iter()
        .filter(|x| x["ts"].as_i64() < Some(cutoff))
        .cloned()
        .collect();
    let windows = r["batches"].as_array().map_or(0, Vec::len);
    assert!(windows >= 2, "{r:#}");
    // Every window is in cold, but held: hot still has all of it.
    assert_eq!(r["held"].as_u64(), Some(windows as u64), "{r:#}");
    assert_eq!(r["rows_archived"], 0, "{r:#}");
    let all = Window::new(i64::MIN, i64::MAX);
    assert_eq!(
        stack.cloud.hot_count(&schema, all),
        rows.len() as u64,
        "nothing purged during the grace"
    );
    let cold = clickhouse::window_hash(&url, &db, &schema, all)
        .await
        .expect("cold");
    assert_eq!(
        cold,
        hash_json(&schema, &old),
        "cold has the windows already"
    );
    let held = r["batches"][0]["error"].as_str().unwrap_or_default();
    assert!(held.contains("does not fsync"), "{held}");
    // Queries see every row once meanwhile.
    let got = stack
        .cloud
        .query_rows("trades", &format!("from={start}&to={}", now + 1))
        .await;
    assert_eq!(hash_json(&schema, &got), hash_json(&schema, &rows));

    tokio::time::sleep(Duration::from_secs(GRACE_S + 1)).await;
    let (s, r) = stack.cloud.archive().await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["failed"], 0, "{r:#}");
    assert_eq!(r["held"], 0, "{r:#}");
    assert_eq!(r["rows_archived"].as_u64(), Some(old.len() as u64), "{r:#}");
    assert_eq!(
        stack.cloud.hot_count(&schema, all),
        (rows.len() - old.len()) as u64,
        "purged after the grace and the read-back"
    );
    let got = stack
        .cloud
        .query_rows(
            "trades",
            &format!("from={start}&to={}&require_complete=true", now + 1),
        )
        .await;
    assert_eq!(hash_json(&schema, &got), hash_json(&schema, &rows));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_lost_in_cold_during_the_grace_keeps_its_hot_rows() {
    let Some(Archived {
        stack,
        url,
        db,
        rows,
        start,
        now,
        report: r,
    }) = archived(22).await
    else {
        return;
    };
    let schema = trades_schema();
    let first = r["batches"][0]["window"].clone();
    let (w0, w1) = (
        first["start"].as_i64().expect("start"),
        first["end"].as_i64().expect("end"),
    );
    // The NAS lost part of the oldest window before it reached its disk.
    clickhouse::sql(
        &url,
        &format!(
            "ALTER TABLE {db}.trades DELETE WHERE ts >= {w0} AND ts < {} ",
            w0 + (w1 - w0) / 2
        ),
    )
    .await
    .expect("delete");
    for _ in 0..100 {
        let n = clickhouse::sql(
            &url,
            &format!(
                "SELECT count() FROM system.mutations WHERE database = '{db}' AND is_done = 0"
            ),
        )
        .await
        .expect("mutations");
        if n.trim() == "0" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(GRACE_S + 1)).await;
    let (s, r) = stack.cloud.archive().await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["failed"], 1, "{r:#}");
    let failed = r["batches"]
        .as_array()
        .and_then(|b| b.iter().find(|b| b["state"] == "failed"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(failed["window"], first, "{r:#}");
    assert!(
        failed["error"]
            .as_str()
            .unwrap_or("")
            .contains("nothing deleted"),
        "{failed}"
    );
    // The window's rows are all still hot, and queries read them from
    // there (the watermark never moved past it).
    let w = Window::new(w0, w1);
    let in_w = rows
        .iter()
        .filter(|x| x["ts"].as_i64().is_some_and(|t| w.contains(t)))
        .count();
    assert_eq!(stack.cloud.hot_count(&schema, w), in_w as u64);
    let got = stack
        .cloud
        .query_rows("trades", &format!("from={start}&to={}", now + 1))
        .await;
    assert_eq!(
        hash_json(&schema, &got),
        hash_json(&schema, &rows),
        "every row once, the lost ones from hot"
    );

    // The next runs plan the window again; the new batch names the failed
    // one in `replaces`, so the gateway may clear that window's cold copy,
    // and after its own grace the window is archived for good.
    let (s, r) = stack.cloud.archive().await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["failed"], 0, "{r:#}");
    tokio::time::sleep(Duration::from_secs(GRACE_S + 1)).await;
    let (s, r) = stack.cloud.archive().await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["failed"], 0, "{r:#}");
    assert_eq!(stack.cloud.hot_count(&schema, w), 0, "{r:#}");
    let cold = clickhouse::window_hash(&url, &db, &schema, w)
        .await
        .expect("cold");
    let want: Vec<_> = rows
        .iter()
        .filter(|x| x["ts"].as_i64().is_some_and(|t| w.contains(t)))
        .cloned()
        .collect();
    assert_eq!(
        cold,
        hash_json(&schema, &want),
        "the window re-archived whole"
    );
}
