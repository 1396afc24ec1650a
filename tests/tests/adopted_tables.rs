//! Hot tables the operator's own collectors write, in a ClickHouse whose
//! zone is not UTC, partitioned the way real deployments are: named in
//! cloud.yaml without columns, filled straight through ClickHouse (not our
//! ingest), then archived and purged. One table the server cannot delete
//! from (TinyLog) fails alone, with the server's message, and keeps its rows;
//! the others archive in the same run.

use hotcold_core::schema::{TableSchema, Window, DAY_MS};
use hotcold_tests::clickhouse;
use hotcold_tests::data::{bools_as_u8, hash_json, now_ms, trades, trades_schema};
use hotcold_tests::stack::{ColdKind, StackOptions};
use hotcold_tests::Stack;

const KEYS: [(&str, &str); 6] = [
    ("t_none", ""),
    (
        "t_month",
        "PARTITION BY toYYYYMM(toDateTime(intDiv(ts, 1000)))",
    ),
    (
        "t_day_local",
        "PARTITION BY toYYYYMMDD(toDateTime(intDiv(ts, 1000)))",
    ),
    (
        "t_month_exchange",
        "PARTITION BY (toYYYYMM(toDateTime(intDiv(ts, 1000))), exchange)",
    ),
    (
        "t_day_utc",
        "PARTITION BY toYYYYMMDD(toDateTime(intDiv(ts, 1000), 'UTC'))",
    ),
    (
        "t_day_modern_style",
        "PARTITION BY toYYYYMMDD(toDateTime(intDiv(ts, 1000)), 'UTC')",
    ),
];

const COLUMNS: &str = "ts Int64, exchange String, symbol String, trade_id UInt64, \
                       price Decimal(18, 8), amount Decimal(18, 8), buyer_maker UInt8";

fn schema(name: &str) -> TableSchema {
    clickhouse::as_legacy_table(&trades_schema(), name)
}

/// Trades over five days with rows 1 ms either side of every UTC and New
/// York midnight, as 0/1 booleans (the adopted tables' UInt8).
fn rows(start: i64, end: i64, seed: u64) -> Vec<serde_json::Value> {
    let mut rows = trades(start, end, 3_000, seed);
    let mut d = start;
    let mut i = 0u64;
    while d < end {
        for b in [d, d + 5 * 3_600_000, d + 4 * 3_600_000] {
            for ts in [b - 1, b, b + 1] {
                let mut r = trades(ts, ts + 1, 1, seed * 1000 + i).remove(0);
                r["trade_id"] = serde_json::json!(9_000_000_000u64 + seed * 100_000 + i);
                rows.push(r);
                i += 1;
            }
        }
        d += DAY_MS;
    }
    rows.retain(|r| r["ts"].as_i64() < Some(end));
    bools_as_u8(&rows)
}

async fn insert(url: &str, db: &str, table: &str, rows: &[serde_json::Value]) {
    clickhouse::insert_tsv(url, db, &schema(table), rows)
        .await
        .expect("insert");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adopted_hot_tables_archive_and_purge_with_their_own_partition_keys() {
    let Some(url) = clickhouse::url() else { return };
    let zone = clickhouse::sql(&url, "SELECT timezone()")
        .await
        .expect("tz");
    let (hot_db, cold_db) = (
        clickhouse::unique_db("adopt_hot"),
        clickhouse::unique_db("adopt_cold"),
    );
    clickhouse::sql(&url, &format!("CREATE DATABASE {hot_db}"))
        .await
        .expect("db");
    let now = now_ms();
    let start = Window::day_of(now - 5 * DAY_MS).start;
    let mut data = Vec::new();
    for (i, (name, key)) in KEYS.iter().enumerate() {
        clickhouse::sql(
            &url,
            &format!(
                "CREATE TABLE {hot_db}.{name} ({COLUMNS}) ENGINE = MergeTree() {key} ORDER BY ts"
            ),
        )
        .await
        .expect("table");
        let r = rows(start, now, i as u64 + 1);
        insert(&url, &hot_db, name, &r).await;
        data.push(r);
    }
    // A table the server cannot delete rows from.
    clickhouse::sql(
        &url,
        &format!("CREATE TABLE {hot_db}.t_tinylog ({COLUMNS}) ENGINE = TinyLog"),
    )
    .await
    .expect("tinylog");
    let stuck = rows(start, now, 99);
    insert(&url, &hot_db, "t_tinylog", &stuck).await;

    let mut yaml = String::new();
    for name in KEYS.iter().map(|(n, _)| *n).chain(["t_tinylog"]) {
        yaml.push_str(&format!("  - name: {name}\n    time-column: ts\n"));
    }
    let stack = Stack::start(StackOptions {
        cold: ColdKind::ClickHouse {
            url: url.clone(),
            database: cold_db.clone(),
        },
        hot_clickhouse: Some((url.clone(), hot_db.clone())),
        tables_yaml: Some(yaml),
        ..Default::default()
    });
    let (s, r) = stack.cloud.archive().await;
    assert_eq!(s, 200, "{r}");
    // The TinyLog table fails alone, naming itself and the server's words.
    let err = r["table_errors"]["t_tinylog"].as_str().unwrap_or_default();
    if !(err.contains("t_tinylog") && err.to_lowercase().contains("refused")) {
        stack.dump_logs();
        panic!("the TinyLog failure must name the table and the refused statement: {r:#}");
    }
    assert_eq!(
        r["table_errors"].as_object().map(|o| o.len()),
        Some(1),
        "{r:#}"
    );

    let all = Window::new(i64::MIN, i64::MAX);
    for ((name, key), rows) in KEYS.iter().zip(&data) {
        let s = schema(name);
        let cutoff = r["cutoffs"][name].as_i64().expect("cutoff");
        let (old, recent): (Vec<_>, Vec<_>) = rows
            .iter()
            .cloned()
            .partition(|x| x["ts"].as_i64() < Some(cutoff));
        assert!(!old.is_empty() && !recent.is_empty());
        let cold = clickhouse::window_hash(&url, &cold_db, &s, all)
            .await
            .expect("cold");
        assert_eq!(cold, hash_json(&s, &old), "{name} ({key}): cold");
        let hot = clickhouse::window_hash(&url, &hot_db, &s, all)
            .await
            .expect("hot");
        assert_eq!(
            hot,
            hash_json(&s, &recent),
            "{name} ({key}) in {zone}: hot keeps exactly the unarchived rows"
        );
        let got = stack
            .cloud
            .query_rows(
                name,
                &format!(
                    "from={}&to={}&require_complete=true",
                    start - DAY_MS,
                    now + 1
                ),
            )
            .await;
        assert_eq!(got.len(), rows.len(), "{name}: every row once");
        assert_eq!(hash_json(&s, &got), hash_json(&s, rows), "{name}");
        // Partitions were dropped only where the key proves a UTC day.
        let mutations = clickhouse::sql(
            &url,
            &format!(
                "SELECT count() FROM system.mutations WHERE database = '{hot_db}' AND table = '{name}'"
            ),
        )
        .await
        .expect("mutations");
        // A zone-less day is a UTC day only on a UTC server.
        let by_partition = name.contains("utc")
            || name.contains("modern_style")
            || (*name == "t_day_local" && hotcold_clickhouse::partition::is_utc(zone.trim()));
        assert_eq!(
            mutations.trim() == "0",
            by_partition,
            "{name}: {mutations} mutations"
        );
    }
    // The stuck table lost nothing.
    let s = schema("t_tinylog");
    let hot = clickhouse::window_hash(&url, &hot_db, &s, all)
        .await
        .expect("tinylog");
    assert_eq!(hot, hash_json(&s, &stuck), "nothing deleted from t_tinylog");
}

/// An adopted table with a column type hotcold cannot keep stops the start
/// with an error naming the table, the column and the type.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsupported_column_in_adopted_table_is_named() {
    let Some(url) = clickhouse::url() else { return };
    let db = clickhouse::unique_db("adopt_bad");
    clickhouse::sql(&url, &format!("CREATE DATABASE {db}"))
        .await
        .expect("db");
    clickhouse::sql(
        &url,
        &format!("CREATE TABLE {db}.ticks (ts Int64, tags Array(String)) ENGINE = MergeTree() ORDER BY ts"),
    )
    .await
    .expect("table");
    let dir = tempfile::tempdir().expect("dir");
    hotcold_tests::stack::write_certs(dir.path());
    let cfg = dir.path().join("cloud.yaml");
    std::fs::write(
        &cfg,
        format!(
            "http-listen: 127.0.0.1:0\ndata-dir: {d}/cloud\nhot:\n  kind: clickhouse\n  url: {url}\n  database: {db}\n\
             link:\n  gateway: 127.0.0.1:9\n  ca: {d}/ca.pem\n  cert: {d}/cloud-service.pem\n  key: {d}/cloud-service.key\n\
             schedule:\n  enabled: false\ntables:\n  - name: ticks\n    time-column: ts\n",
            d = dir.path().display()
        ),
    )
    .expect("cfg");
    let out = std::process::Command::new(hotcold_tests::procs::bin("cloud-service"))
        .args(["serve", "-c"])
        .arg(&cfg)
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "must refuse to start: {err}");
    assert!(
        err.contains("ticks") && err.contains("tags") && err.contains("Array(String)"),
        "error must name table, column and type: {err}"
    );
}
