//! Snapshots of a ClickHouse hot store (a server in a non-UTC zone): it has
//! no read transaction, so a strict snapshot holds ingest and the archive's
//! steps while it copies (the pause is reported), a bounded one is refused
//! naming why, an eventual one is an increment. A restore goes into empty
//! tables of another database, counted there by plain SQL, and the
//! restored service answers the same rows; tables that hold rows refuse it.

use hotcold_tests::clickhouse;
use hotcold_tests::data::{ndjson, now_ms, trades};
use hotcold_tests::procs::{bin, Cloud};
use hotcold_tests::stack::StackOptions;
use hotcold_tests::Stack;
use std::collections::BTreeMap;
use std::process::Command;

const HOUR: i64 = 3_600_000;

async fn seeds(url: &str, db: &str) -> BTreeMap<u64, u64> {
    let text = clickhouse::sql(
        url,
        &format!("SELECT intDiv(trade_id, 1000000000) AS s, count() FROM {db}.trades GROUP BY s FORMAT TSV"),
    )
    .await
    .expect("seeds");
    text.lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(a, b)| (a.parse().expect("seed"), b.parse().expect("count")))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clickhouse_hot_store_snapshots_and_restores_into_empty_tables() {
    let Some(url) = clickhouse::url() else {
        return;
    };
    let (db, db2) = (
        clickhouse::unique_db("snaphot"),
        clickhouse::unique_db("snaprestored"),
    );
    let snaps = tempfile::tempdir().expect("snapshot dir");
    let stack = Stack::start(StackOptions {
        hot_clickhouse: Some((url.clone(), db.clone())),
        extra_yaml: format!(
            "snapshot:\n  dir: {}\n  backup-every: 0s\n",
            snaps.path().display()
        ),
        ..Default::default()
    });
    let now = now_ms();
    for seed in 1..=5u64 {
        let rows = trades(now - 10 * HOUR, now - 1_000, 2_000, seed);
        assert_eq!(stack.cloud.ingest("trades", ndjson(&rows)).await.0, 200);
    }
    let (s, strict) = stack.cloud.post("/v1/admin/snapshots?level=strict").await;
    assert_eq!(s, 200, "{strict}");
    assert_eq!(strict["rows"], 10_000, "{strict}");
    assert!(strict["pause_us"].as_u64() > Some(0), "{strict}");
    let (s, bounded) = stack.cloud.post("/v1/admin/snapshots?level=bounded").await;
    assert_eq!(s, 409, "{bounded}");
    assert!(
        bounded["error"]
            .as_str()
            .is_some_and(|e| e.contains("no read transaction")),
        "{bounded}"
    );
    // New rows in one hour: the eventual snapshot rewrites that hour only.
    let hour = (now - 5 * HOUR).div_euclid(HOUR) * HOUR;
    let more = trades(hour, hour + HOUR, 1_000, 6);
    assert_eq!(stack.cloud.ingest("trades", ndjson(&more)).await.0, 200);
    let (s, inc) = stack.cloud.post("/v1/admin/snapshots?level=eventual").await;
    assert_eq!(s, 200, "{inc}");
    assert_eq!(inc["rows"], 11_000);
    assert_eq!(inc["base"], strict["id"]);
    assert!(
        // One hour of eleven rewritten, and the journal's copy.
        inc["bytes_written"].as_u64().expect("written") * 2
            < strict["bytes_written"].as_u64().expect("written"),
        "{inc} vs {strict}"
    );
    let live = seeds(&url, &db).await;

    // Into another database's empty tables, with a fresh data dir.
    let yaml = std::fs::read_to_string(&stack.cloud.config).expect("yaml");
    let data = stack.cloud.data_dir.display().to_string();
    let restored_dir = stack.dir.path().join("restored");
    let cfg = stack.dir.path().join("restored.yaml");
    std::fs::write(
        &cfg,
        yaml.replace(&format!("database: {db}"), &format!("database: {db2}"))
            .replace(
                &format!("data-dir: {data}"),
                &format!("data-dir: {}", restored_dir.display()),
            ),
    )
    .expect("restored yaml");
    let id = inc["id"].as_str().expect("id");
    let out = Command::new(bin("cloud-service"))
        .args(["restore", id, "--config"])
        .arg(&cfg)
        .output()
        .expect("restore");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(seeds(&url, &db2).await, live);

    // Tables that hold rows refuse a second restore, naming the table.
    let again = stack.dir.path().join("again.yaml");
    std::fs::write(
        &again,
        std::fs::read_to_string(&cfg).expect("yaml").replace(
            &restored_dir.display().to_string(),
            &stack.dir.path().join("again").display().to_string(),
        ),
    )
    .expect("again yaml");
    let out = Command::new(bin("cloud-service"))
        .args(["restore", id, "--config"])
        .arg(&again)
        .output()
        .expect("restore");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("already holds rows"),
        "{err}"
    );

    // The restored service answers the restored rows.
    let restored = Cloud::start(cfg, stack.dir.path().join("restored.log"), restored_dir);
    let q = format!("from={}&to={}&limit=1000000", now - 11 * HOUR, now_ms() + 1);
    assert_eq!(restored.query_rows("trades", &q).await.len(), 11_000);
    drop(restored);
    for d in [&db, &db2] {
        let _ = clickhouse::sql(&url, &format!("DROP DATABASE IF EXISTS {d}")).await;
    }
}
