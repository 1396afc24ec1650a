//! The 22+ mapping against a real modern engine: chDB (ClickHouse 26.x)
//! behind the test-only HTTP front, its session in America/New_York.
//!
//! - every DDL statement our stores issue for a modern server executes;
//! - rows we encode as RowBinary for `DateTime64(3,'UTC')`,
//!   `LowCardinality(String)`, `Bool`, `Decimal(18, 8)`, `Date`, every
//!   integer width and `Float64` read back identically, and the engine's
//!   own RowBinary output is byte for byte what we encode;
//! - count, content hash, partition key, partition listing, clearing by
//!   partition and by mutation, and fsync detection work there;
//! - rows, bars and statistics answer exactly as ClickHouse 18.16 does for
//!   the same rows;
//! - the real binaries archive end to end with hot and cold on the engine.

use hotcold_clickhouse::{ChTables, Flavor};
use hotcold_core::query::{Aggregate, Filter, Func, Op, Plan, QuerySpec};
use hotcold_core::schema::{LogicalType as T, Partition, TableSchema, Window, DAY_MS};
use hotcold_core::{ContentHash, RowBatch, Value};
use hotcold_tests::chdb::Front;
use hotcold_tests::clickhouse;
use hotcold_tests::data::{hash_json, ndjson, now_ms, rows_for, trades, trades_schema};
use hotcold_tests::stack::{ColdKind, StackOptions};
use hotcold_tests::Stack;
use tokio::sync::mpsc;

fn every_type(name: &str) -> TableSchema {
    TableSchema::new(
        name,
        "ts",
        &[
            ("ts", T::TimestampMs),
            ("d", T::Date),
            ("s", T::String),
            ("lc", T::LcString),
            ("px", T::Decimal { scale: 8 }),
            ("i8", T::Int8),
            ("i16", T::Int16),
            ("i32", T::Int32),
            ("i64", T::Int64),
            ("u8", T::UInt8),
            ("u16", T::UInt16),
            ("u32", T::UInt32),
            ("u64", T::UInt64),
            ("f", T::Float64),
            ("b", T::Bool),
        ],
    )
}

/// Rows at each type's extremes, one per distinct millisecond.
fn extremes(schema: &TableSchema, t0: i64) -> RowBatch {
    let mut b = RowBatch::new(schema);
    let strings = ["", "日本円", "a'b\\c\n\t\"", "BTC-USDT"];
    let floats = [0.0, -1.5, 1e-310, f64::MAX, f64::MIN_POSITIVE, -0.0];
    for i in 0..24i64 {
        let hi = i % 2 == 0;
        b.push_row(vec![
            Value::I64(t0 + i * 3_600_000 + i),
            Value::I64([0, 20_000, 65_535][i as usize % 3]),
            Value::Str(strings[i as usize % 4].repeat(1 + i as usize % 3)),
            Value::Str(strings[(i as usize + 1) % 4].into()),
            Value::I64(if hi {
                999_999_999_999_999_999
            } else {
                -999_999_999_999_999_999 + i
            }),
            Value::I64(if hi { i8::MAX as i64 } else { i8::MIN as i64 }),
            Value::I64(if hi { i16::MAX as i64 } else { i16::MIN as i64 }),
            Value::I64(if hi { i32::MAX as i64 } else { i32::MIN as i64 }),
            Value::I64(if hi { i64::MAX } else { i64::MIN }),
            Value::U64(if hi { u8::MAX as u64 } else { 0 }),
            Value::U64(if hi { u16::MAX as u64 } else { 0 }),
            Value::U64(if hi { u32::MAX as u64 } else { 0 }),
            Value::U64(if hi { u64::MAX } else { i as u64 }),
            Value::F64(floats[i as usize % floats.len()]),
            Value::Bool(hi),
        ])
        .expect("row kinds");
    }
    b
}

async fn read(ch: &ChTables, schema: &TableSchema, plan: &Plan, w: Window) -> Vec<Vec<Value>> {
    let (tx, mut rx) = mpsc::channel(4);
    let (c, s, p) = (ch.clone(), schema.clone(), plan.clone());
    let task = tokio::spawn(async move { c.query(&s, &p, w, u64::MAX, 1000, tx).await });
    let mut out = Vec::new();
    while let Some(b) = rx.recv().await {
        out.extend((0..b.len()).map(|i| b.row(i)));
    }
    task.await
        .expect("task")
        .unwrap_or_else(|e| panic!("query: {e}"));
    out
}

fn hash_rows(rows: &[Vec<Value>]) -> ContentHash {
    let mut h = ContentHash::default();
    for r in rows {
        h.add_row(r);
    }
    h
}

async fn raw(url: &str, sql: &str) -> Vec<u8> {
    let r = reqwest::Client::new()
        .post(url)
        .body(sql.to_string())
        .send()
        .await
        .expect("send");
    assert!(r.status().is_success(), "{sql}: {}", r.status());
    r.bytes().await.expect("bytes").to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modern_mapping_round_trips_through_a_real_engine() {
    let Some(front) = Front::start(18190, "America/New_York") else {
        return;
    };
    let ch = ChTables::connect(
        &hotcold_clickhouse::Connection::new(&front.url, "modern"),
        "",
    )
    .await
    .expect("connect to chDB");
    assert_eq!(
        ch.flavor,
        Flavor::Modern,
        "chDB {} is a modern server",
        ch.version
    );
    assert_eq!(ch.timezone, "America/New_York");
    let schema = every_type("every_type");
    ch.ensure_table(&schema).await.expect("modern DDL executes");
    ch.ensure_table(&schema)
        .await
        .expect("and checks the table it made");
    assert!(
        ch.fsyncs_inserts(&schema.name).await.expect("fsync"),
        "our DDL fsyncs inserts"
    );
    let t0 = Window::day_of(now_ms() - 3 * DAY_MS).start - 1;
    let batch = extremes(&schema, t0);
    ch.insert(&schema, batch.clone()).await.expect("insert");
    let want: Vec<Vec<Value>> = (0..batch.len()).map(|i| batch.row(i)).collect();
    let all = Window::new(i64::MIN / 4, i64::MAX / 4);
    let got = read(&ch, &schema, &Plan::rows(&schema), all).await;
    assert_eq!(got, want, "every type reads back identically");

    // The engine's own RowBinary is byte for byte ours.
    let mut ours = Vec::new();
    hotcold_clickhouse::rowbinary::encode(&schema, &batch, &mut ours);
    let cols: Vec<&str> = schema.columns.iter().map(|c| c.name.as_str()).collect();
    let theirs = raw(
        &front.url,
        &format!(
            "SELECT {} FROM modern.every_type ORDER BY ts FORMAT RowBinary",
            cols.join(", ")
        ),
    )
    .await;
    assert_eq!(theirs, ours, "the engine's RowBinary equals our encoding");

    // Count, hash, partitions and clearing, as the stores use them.
    assert_eq!(
        ch.count(&schema, all).await.expect("count"),
        batch.len() as u64
    );
    assert_eq!(hash_rows(&got), hash_rows(&want));
    let key = ch.partition_key(&schema).await.expect("key");
    assert!(key.utc_bucket.is_some(), "{key:?}");
    let parts = ch
        .partitions(std::slice::from_ref(&schema))
        .await
        .expect("partitions");
    assert!(parts.len() >= 2, "{parts:?}");
    let day = Window::day_of(t0 + 1);
    let cleared = ch.delete_window(&schema, day).await.expect("clear a day");
    assert!(
        !cleared.dropped.is_empty() && !cleared.mutation,
        "{cleared:?}"
    );
    let left: Vec<_> = want
        .iter()
        .filter(|r| !matches!(r[0], Value::I64(ts) if day.contains(ts)))
        .cloned()
        .collect();
    assert_eq!(read(&ch, &schema, &Plan::rows(&schema), all).await, left);
    ch.drop_partition(&schema.name, &parts[parts.len() - 1].1)
        .await
        .expect("retention's drop");

    let mut monthly = every_type("every_type_month");
    monthly.partition = Partition::Month;
    ch.ensure_table(&monthly).await.expect("month DDL");
    ch.insert(&monthly, extremes(&monthly, t0))
        .await
        .expect("insert");
    let cleared = ch
        .delete_window(&monthly, day)
        .await
        .expect("clear by mutation");
    assert!(
        cleared.mutation && cleared.dropped.is_empty(),
        "{cleared:?}"
    );
    assert_eq!(ch.count(&monthly, day).await.expect("count"), 0);
    assert_eq!(
        ch.count(&monthly, all).await.expect("count"),
        left.len() as u64
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_answer_as_clickhouse_18_does() {
    let Some(legacy_url) = clickhouse::url() else {
        return;
    };
    let Some(front) = Front::start(18191, "Asia/Kolkata") else {
        return;
    };
    let modern = ChTables::connect(&hotcold_clickhouse::Connection::new(&front.url, "same"), "")
        .await
        .expect("chDB");
    let legacy = ChTables::connect(
        &hotcold_clickhouse::Connection::new(&legacy_url, &clickhouse::unique_db("same")),
        "",
    )
    .await
    .expect("18.16");
    assert_eq!(
        (modern.flavor, legacy.flavor),
        (Flavor::Modern, Flavor::Legacy)
    );
    let schema = every_type("same");
    let start = Window::day_of(now_ms() - 3 * DAY_MS).start;
    let rows = rows_for(&schema, start, start + 3 * DAY_MS, 3_000, 5);
    let batch = hotcold_tests::data::batch_of(&schema, &rows);
    for ch in [&modern, &legacy] {
        ch.ensure_table(&schema).await.expect("ddl");
        ch.insert(&schema, batch.clone()).await.expect("insert");
    }
    let sym = rows[0]["lc"].clone();
    let specs = vec![
        QuerySpec::default(),
        QuerySpec {
            filters: vec![Filter {
                column: "lc".into(),
                values: vec![sym.clone()],
            }],
            descending: true,
            aggregate: None,
        },
        QuerySpec {
            filters: vec![Filter {
                column: "b".into(),
                values: vec![serde_json::json!(true)],
            }],
            descending: false,
            aggregate: Some(Aggregate::Bars {
                interval_ms: 3_600_000,
                price: "px".into(),
                volume: "i32".into(),
                group_by: vec!["lc".into()],
            }),
        },
        QuerySpec {
            filters: vec![],
            descending: true,
            aggregate: Some(Aggregate::Stats {
                interval_ms: Some(DAY_MS),
                group_by: vec!["lc".into()],
                funcs: vec![
                    Func {
                        op: Op::Count,
                        column: None,
                    },
                    Func {
                        op: Op::Sum,
                        column: Some("i32".into()),
                    },
                    Func {
                        op: Op::Min,
                        column: Some("px".into()),
                    },
                    Func {
                        op: Op::Max,
                        column: Some("f".into()),
                    },
                    Func {
                        op: Op::Avg,
                        column: Some("i16".into()),
                    },
                ],
            }),
        },
    ];
    let windows = [
        Window::new(start, start + 3 * DAY_MS),
        Window::new(start + DAY_MS / 3, start + 2 * DAY_MS + 7),
    ];
    for spec in &specs {
        let plan = spec.plan(&schema).expect("plan");
        for w in windows {
            let a = read(&modern, &schema, &plan, w).await;
            let b = read(&legacy, &schema, &plan, w).await;
            assert!(!a.is_empty(), "{spec:?} {w}");
            assert_eq!(
                a, b,
                "{spec:?} over {w}: chDB 26 and ClickHouse 18.16 differ"
            );
        }
        assert_eq!(
            modern.count(&schema, windows[1]).await.expect("count"),
            legacy.count(&schema, windows[1]).await.expect("count")
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pair_archives_end_to_end_on_the_modern_engine() {
    let Some(front) = Front::start(18192, "America/New_York") else {
        return;
    };
    let stack = Stack::start(StackOptions {
        cold: ColdKind::ClickHouse {
            url: front.url.clone(),
            database: "cold".into(),
        },
        hot_clickhouse: Some((front.url.clone(), "hot".into())),
        // The modern engine fsyncs: commits are durable, no grace needed.
        purge_grace: "1h".into(),
        ..Default::default()
    });
    let schema = trades_schema();
    let now = now_ms();
    let start = Window::day_of(now - 4 * DAY_MS).start;
    let rows = trades(start, now, 6_000, 8);
    let (s, b) = stack.cloud.ingest("trades", ndjson(&rows)).await;
    assert_eq!(s, 200, "{b}");
    let (s, r) = stack.cloud.archive().await;
    if s != 200 || r["failed"] != 0 || r["pending"] != 0 || r["held"] != 0 {
        stack.dump_logs();
        panic!("{r:#}");
    }
    let cutoff = r["cutoff_ms"].as_i64().expect("cutoff");
    let old = rows
        .iter()
        .filter(|x| x["ts"].as_i64() < Some(cutoff))
        .count();
    assert_eq!(r["rows_archived"].as_u64(), Some(old as u64), "{r:#}");
    let got = stack
        .cloud
        .query_rows(
            "trades",
            &format!("from={start}&to={}&require_complete=true", now + 1),
        )
        .await;
    assert_eq!(hash_json(&schema, &got), hash_json(&schema, &rows));
    let cold = raw(
        &front.url,
        &format!("SELECT count() FROM cold.trades WHERE ts < fromUnixTimestamp64Milli(toInt64({cutoff}), 'UTC')"),
    )
    .await;
    assert_eq!(String::from_utf8_lossy(&cold).trim(), old.to_string());
}
