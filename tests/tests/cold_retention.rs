//! Cold retention on a real ClickHouse: exactly the partitions that ended
//! before the cutoff are dropped (day and month partitions alike), a dry run
//! lists them and drops nothing, and the CLI does the same.

use hotcold_core::schema::{Partition, TableSchema, Window, DAY_MS};
use hotcold_core::Value;
use hotcold_tests::clickhouse;
use nas_gateway::cold::clickhouse::ClickHouseCold;
use nas_gateway::cold::ColdStore;

fn table(name: &str, partition: Partition) -> TableSchema {
    let mut t: TableSchema = serde_yaml::from_str(&format!(
        "name: {name}\ntime-column: ts\ncolumns:\n  - {{name: ts, type: timestamp_ms}}\n  - {{name: v, type: int64}}\n"
    ))
    .expect("schema");
    t.partition = partition;
    t
}

async fn insert(store: &ClickHouseCold, t: &TableSchema, times: &[i64]) {
    let mut b = hotcold_core::RowBatch::new(t);
    for (i, ts) in times.iter().enumerate() {
        b.push_row(vec![Value::I64(*ts), Value::I64(i as i64)])
            .expect("row");
    }
    store.ensure_table(t).await.expect("table");
    store.tables().insert(t, b).await.expect("insert");
}

/// A ledger entry per day, with what the store holds: what commits write.
async fn ledger_every_day<S: ColdStore>(store: &S, t: &TableSchema, first: i64, days: i64) {
    for d in 0..days {
        let w = Window::new(first + d * DAY_MS, first + (d + 1) * DAY_MS);
        let content = store.content_hash(t, w).await.expect("hash");
        store
            .ledger_put(&nas_gateway::cold::LedgerEntry {
                batch_id: format!("{}-{}-{}-1", t.name, w.start, w.end),
                table: t.name.clone(),
                window: w,
                content,
            })
            .await
            .expect("ledger");
    }
}

/// Scrub after retention dropped 3 of the 6 trade days: the 3 kept match,
/// the 3 dropped are expired, not lost (before the fix scrub reported each
/// dropped window as a mismatch).
async fn scrub_after_retention<S: ColdStore>(store: &S) {
    let r = nas_gateway::scrub::scrub(store, Some("trades"), |_, _| {})
        .await
        .expect("scrub");
    assert!(r.is_clean(), "{:?}", r.mismatched);
    assert_eq!((r.windows, r.ok, r.expired), (3, 3, 3), "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_retention_marks_the_ledger_so_scrub_stays_clean() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store =
        nas_gateway::cold::sqlite::SqliteCold::open(&dir.path().join("cold.db")).expect("open");
    let trades = table("trades", Partition::Day);
    let days = Window::day_of(hotcold_tests::data::now_ms()).start - 400 * DAY_MS;
    let mut b = hotcold_core::RowBatch::new(&trades);
    for d in 0..6 {
        b.push_row(vec![Value::I64(days + d * DAY_MS + 5_000), Value::I64(d)])
            .expect("row");
    }
    store.ensure_table(&trades).await.expect("table");
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    tx.send(b).await.expect("send");
    drop(tx);
    store.insert_stream(&trades, rx).await.expect("insert");
    ledger_every_day(&store, &trades, days, 6).await;
    let dropped = nas_gateway::retention::enforce(&store, days + 3 * DAY_MS, false)
        .await
        .expect("enforce");
    assert_eq!(dropped.len(), 3, "{dropped:?}");
    scrub_after_retention(&store).await;
    // Twice is the same as once.
    nas_gateway::retention::enforce(&store, days + 3 * DAY_MS, false)
        .await
        .expect("again");
    scrub_after_retention(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_drops_exactly_the_expired_partitions() {
    let Some(url) = clickhouse::url() else { return };
    let db = clickhouse::unique_db("retention");
    let store = ClickHouseCold::connect(&hotcold_clickhouse::Connection::new(&url, &db))
        .await
        .expect("connect");
    let days = Window::day_of(hotcold_tests::data::now_ms()).start - 400 * DAY_MS;
    // The cutoff is the start of a day, 3 days after `days`.
    let cutoff = days + 3 * DAY_MS;
    let trades = table("trades", Partition::Day);
    // Six day partitions: three end at or before the cutoff.
    insert(
        &store,
        &trades,
        &(0..6)
            .map(|d| days + d * DAY_MS + 5_000)
            .collect::<Vec<_>>(),
    )
    .await;
    let funding = table("funding", Partition::Month);
    // Rows 40 and 80 days before, and 5 days after: whole months end before only for the first two.
    insert(
        &store,
        &funding,
        &[days - 80 * DAY_MS, days - 40 * DAY_MS, cutoff + 40 * DAY_MS],
    )
    .await;

    let listed = nas_gateway::retention::enforce(&store, cutoff, true)
        .await
        .expect("dry run");
    let mut names: Vec<String> = listed
        .iter()
        .map(|e| format!("{}:{}", e.table, e.partition))
        .collect();
    names.sort();
    assert!(listed.iter().all(|e| e.window.end <= cutoff), "{names:?}");
    assert_eq!(
        listed.iter().filter(|e| e.table == "trades").count(),
        3,
        "{names:?}"
    );
    assert_eq!(
        listed.iter().filter(|e| e.table == "funding").count(),
        2,
        "{names:?}"
    );
    let count = |t: &'static str| {
        let (url, db) = (url.clone(), db.clone());
        async move {
            clickhouse::sql(&url, &format!("SELECT count() FROM {db}.{t}"))
                .await
                .expect("count")
                .trim()
                .parse::<u64>()
                .expect("n")
        }
    };
    assert_eq!(count("trades").await, 6, "a dry run drops nothing");

    ledger_every_day(&store, &trades, days, 6).await;
    let before = nas_gateway::scrub::scrub(&store, None, |_, _| {})
        .await
        .expect("scrub");
    assert!(before.is_clean(), "{before:?}");
    let dropped = nas_gateway::retention::enforce(&store, cutoff, false)
        .await
        .expect("enforce");
    assert_eq!(dropped, listed);
    scrub_after_retention(&store).await;
    assert_eq!(count("trades").await, 3);
    assert_eq!(count("funding").await, 1);
    let left = store.partitions().await.expect("partitions");
    assert!(left.iter().all(|(_, _, w)| w.end > cutoff), "{left:?}");
    // The ledger table is never touched.
    assert!(
        clickhouse::sql(&url, &format!("SELECT count() FROM {db}._hotcold_ledger"))
            .await
            .is_ok()
    );

    // The CLI's dry run on the same store, with a retention that keeps nothing older than a day.
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("nas.yaml");
    std::fs::write(&cfg, format!("data-dir: {}\ncold:\n  kind: clickhouse\n  url: {url}\n  database: {db}\ncold-retention: 1d\n", dir.path().display()))
        .expect("cfg");
    let out = std::process::Command::new(hotcold_tests::procs::bin("nas-gateway"))
        .args(["retention", "--dry-run", "-c"])
        .arg(&cfg)
        .output()
        .expect("cli");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("would drop 4 partitions"), "{text}");
    assert_eq!(count("trades").await, 3, "the CLI dry run drops nothing");
}
