//! Every market-data preset in config/tables/ (eight tables) archived in one
//! run, with ClickHouse as the hot store as well as the cold one. Checked
//! per table by count and content hash read independently from ClickHouse,
//! and by a query over the whole range; order-book depth JSON comes back
//! byte for byte.

use hotcold_core::schema::{TableSchema, Window, DAY_MS};
use hotcold_tests::clickhouse;
use hotcold_tests::data::{hash_json, ndjson, now_ms, preset, rows_for};
use hotcold_tests::stack::{ColdKind, StackOptions};
use hotcold_tests::Stack;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn six_tables_archive_in_one_run_with_clickhouse_hot() {
    let Some(url) = clickhouse::url() else { return };
    let names = [
        "trades",
        "ohlcv",
        "orderbook",
        "funding",
        "open_interest",
        "liquidations",
        "long_short_ratio",
        "volatility_index",
    ];
    let tables: Vec<TableSchema> = names.iter().map(|n| preset(n)).collect();
    let (hot_db, cold_db) = (
        clickhouse::unique_db("six_hot"),
        clickhouse::unique_db("six_cold"),
    );
    let stack = Stack::start(StackOptions {
        cold: ColdKind::ClickHouse {
            url: url.clone(),
            database: cold_db.clone(),
        },
        hot_clickhouse: Some((url.clone(), hot_db.clone())),
        tables_yaml: Some(serde_yaml::to_string(&tables).expect("yaml")),
        ..Default::default()
    });
    let now = now_ms();
    let start = Window::day_of(now - 5 * DAY_MS).start;
    let mut data = Vec::new();
    for (i, t) in tables.iter().enumerate() {
        let rows = rows_for(t, start, now, 3_000 + 500 * i, i as u64);
        let (s, b) = stack.cloud.ingest(&t.name, ndjson(&rows)).await;
        assert_eq!(s, 200, "{}: {b}", t.name);
        data.push(rows);
    }

    let (s, r) = stack.cloud.archive().await;
    if s != 200 || r["failed"] != 0 || r["pending"] != 0 {
        stack.dump_logs();
        panic!("{r:#}");
    }
    let cutoff = r["cutoff_ms"].as_i64().expect("cutoff");
    let mut moved = 0;
    for (t, rows) in tables.iter().zip(&data) {
        let archived: Vec<_> = rows
            .iter()
            .filter(|x| x[&t.time_column].as_i64() < Some(cutoff))
            .cloned()
            .collect();
        moved += archived.len();
        let cold = clickhouse::window_hash(&url, &cold_db, t, Window::new(i64::MIN, i64::MAX))
            .await
            .expect("cold");
        assert_eq!(cold, hash_json(t, &archived), "{}: cold", t.name);
        let hot = clickhouse::window_hash(&url, &hot_db, t, Window::new(i64::MIN, i64::MAX))
            .await
            .expect("hot");
        let recent: Vec<_> = rows
            .iter()
            .filter(|x| x[&t.time_column].as_i64() >= Some(cutoff))
            .cloned()
            .collect();
        assert_eq!(
            hot,
            hash_json(t, &recent),
            "{}: hot keeps exactly the recent rows",
            t.name
        );

        let (s, _, body) = stack
            .cloud
            .query(&t.name, &format!("from={start}&to={}", now + 1))
            .await;
        assert_eq!(s, 200, "{body}");
        let got: Vec<serde_json::Value> = body
            .lines()
            .map(|l| serde_json::from_str(l).expect("line"))
            .collect();
        assert_eq!(
            hash_json(t, &got),
            hash_json(t, rows),
            "{}: query over hot and cold",
            t.name
        );
        if t.name == "orderbook" {
            let mut want: Vec<&str> = rows.iter().filter_map(|x| x["depth"].as_str()).collect();
            let mut have: Vec<&str> = got.iter().filter_map(|x| x["depth"].as_str()).collect();
            want.sort_unstable();
            have.sort_unstable();
            assert_eq!(have, want, "depth JSON must round-trip byte for byte");
        }
    }
    assert_eq!(r["rows_archived"].as_u64(), Some(moved as u64), "{r:#}");
    println!(
        "preset tables: {moved} rows archived in one run, {} batches",
        r["batches"].as_array().map_or(0, Vec::len)
    );
}

/// A table that already exists in the hot ClickHouse is named in the config
/// without columns: its schema is read from the server, and it archives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn table_read_from_existing_hot_clickhouse_archives() {
    let Some(url) = clickhouse::url() else { return };
    let (hot_db, cold_db) = (
        clickhouse::unique_db("exist_hot"),
        clickhouse::unique_db("exist_cold"),
    );
    clickhouse::sql(&url, &format!("CREATE DATABASE {hot_db}"))
        .await
        .expect("db");
    clickhouse::sql(
        &url,
        &format!(
            "CREATE TABLE {hot_db}.ticks (ts Int64, venue String, px Decimal(18, 8), qty Float64, seq UInt32) \
             ENGINE = MergeTree() PARTITION BY toYYYYMMDD(toDateTime(intDiv(ts, 1000))) ORDER BY ts"
        ),
    )
    .await
    .expect("table");
    let stack = Stack::start(StackOptions {
        cold: ColdKind::ClickHouse {
            url: url.clone(),
            database: cold_db.clone(),
        },
        hot_clickhouse: Some((url.clone(), hot_db.clone())),
        tables_yaml: Some("  - name: ticks\n    time-column: ts\n".into()),
        ..Default::default()
    });
    let schema: TableSchema = serde_yaml::from_str(
        "name: ticks\ntime-column: ts\ncolumns:\n  - {name: ts, type: timestamp_ms}\n  - {name: venue, type: string}\n  - {name: px, type: decimal(8)}\n  - {name: qty, type: float64}\n  - {name: seq, type: uint32}\n",
    )
    .expect("schema");
    let now = now_ms();
    let start = Window::day_of(now - 4 * DAY_MS).start;
    let rows = rows_for(&schema, start, now, 4_000, 77);
    let (s, b) = stack.cloud.ingest("ticks", ndjson(&rows)).await;
    assert_eq!(s, 200, "{b}");
    let (s, r) = stack.cloud.archive().await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["failed"], 0, "{r:#}");
    let cutoff = r["cutoff_ms"].as_i64().expect("cutoff");
    let archived: Vec<_> = rows
        .iter()
        .filter(|x| x["ts"].as_i64() < Some(cutoff))
        .cloned()
        .collect();
    assert!(!archived.is_empty());
    let cold = clickhouse::window_hash(&url, &cold_db, &schema, Window::new(i64::MIN, i64::MAX))
        .await
        .expect("cold");
    assert_eq!(cold, hash_json(&schema, &archived));
}
