//! Every logical type, at its extremes, through every store: a real SQLite
//! file and a real ClickHouse 18.16 server. What goes in comes out equal,
//! cell for cell, and both stores compute the same content hash.

use hotcold_clickhouse::{ChError, ChTables};
use hotcold_core::schema::{ColumnDef, TableSchema, Window, DAY_MS};
use hotcold_core::{ContentHash, RowBatch, Value};
use hotcold_tests::clickhouse;

fn schema(name: &str) -> TableSchema {
    let cols = [
        ("ts", "timestamp_ms"),
        ("d", "date"),
        ("s", "string"),
        ("lc", "lc_string"),
        ("px", "decimal(8)"),
        ("d0", "decimal(0)"),
        ("d18", "decimal(18)"),
        ("i8", "int8"),
        ("i16", "int16"),
        ("i32", "int32"),
        ("i64", "int64"),
        ("u8", "uint8"),
        ("u16", "uint16"),
        ("u32", "uint32"),
        ("u64", "uint64"),
        ("f", "float64"),
        ("b", "bool"),
    ];
    TableSchema {
        name: name.into(),
        time_column: "ts".into(),
        columns: cols
            .iter()
            .map(|(n, t)| ColumnDef {
                name: (*n).into(),
                ty: t.parse().expect("type"),
            })
            .collect(),
        hot_retention: None,
        partition: Default::default(),
    }
}

const DEPTH: &str = r#"{"bids":[["42000.12345678","0.5"],["41999.9","12"]],"asks":[["42001","0.001"]],"note":"quote \" backslash \\ newline \n tab \t ü 日本 🚀"}"#;

/// Rows at the edges: day boundaries, integer limits, decimal limits,
/// empty and non-ASCII strings, JSON depth, float extremes.
fn extremes() -> Vec<Vec<Value>> {
    let day = 20_000 * DAY_MS;
    let strings = [
        "",
        "ascii",
        "ü日本🚀",
        DEPTH,
        "tab\tnewline\nbackslash\\quote'\"",
    ];
    let floats = [
        0.0,
        -1.5,
        f64::MAX,
        f64::MIN,
        f64::MIN_POSITIVE,
        5e-324,
        1e-300,
        123_456.789_012_345_67,
    ];
    let mut rows = Vec::new();
    for i in 0..8usize {
        let lo = i % 2 == 0;
        rows.push(vec![
            Value::I64(
                [
                    day,
                    day + DAY_MS - 1,
                    day + DAY_MS,
                    0,
                    1,
                    day + 7,
                    day + 8,
                    day + 9,
                ][i],
            ),
            Value::I64(if lo { 0 } else { 65_535 }),
            Value::Str(strings[i % strings.len()].into()),
            Value::Str(strings[(i + 1) % strings.len()].into()),
            Value::I64(if lo { i64::MIN } else { i64::MAX }),
            Value::I64(if lo { -1 } else { 999_999_999_999_999_999 }),
            Value::I64(if lo { -999_999_999_999_999_999 } else { 1 }),
            Value::I64(if lo { i8::MIN.into() } else { i8::MAX.into() }),
            Value::I64(if lo { i16::MIN.into() } else { i16::MAX.into() }),
            Value::I64(if lo { i32::MIN.into() } else { i32::MAX.into() }),
            Value::I64(if lo { i64::MIN } else { i64::MAX }),
            Value::U64(if lo { 0 } else { u8::MAX.into() }),
            Value::U64(if lo { 0 } else { u16::MAX.into() }),
            Value::U64(if lo { 0 } else { u32::MAX.into() }),
            Value::U64(if lo { 0 } else { u64::MAX }),
            Value::F64(floats[i]),
            Value::Bool(lo),
        ]);
    }
    rows.sort_by_key(|r| match r[0] {
        Value::I64(t) => t,
        _ => 0,
    });
    rows
}

fn batch(schema: &TableSchema) -> RowBatch {
    let mut b = RowBatch::new(schema);
    for r in extremes() {
        b.push_row(r).expect("kinds");
    }
    b
}

#[test]
fn every_type_round_trips_through_sqlite() {
    let s = schema("all_types");
    let dir = tempfile::tempdir().expect("tempdir");
    let conn = hotcold_sqlite::open(&dir.path().join("t.db")).expect("open");
    hotcold_sqlite::create_table(&conn, &s).expect("create");
    let b = batch(&s);
    hotcold_sqlite::insert(&conn, &s, &b).expect("insert");
    let mut back = RowBatch::new(&s);
    hotcold_sqlite::scan::<hotcold_sqlite::SqliteError>(
        &conn,
        &s,
        Window::new(i64::MIN, i64::MAX),
        u64::MAX,
        1000,
        |x| {
            back = x;
            Ok(())
        },
    )
    .expect("scan");
    assert_eq!(back, b);
    assert_eq!(
        hotcold_sqlite::content_hash(&conn, &s, Window::new(i64::MIN, i64::MAX)).expect("hash"),
        ContentHash::of_batch(&b)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_type_round_trips_through_clickhouse() {
    let Some(url) = clickhouse::url() else { return };
    let db = clickhouse::unique_db("types");
    let ch = ChTables::connect(&hotcold_clickhouse::Connection::new(&url, &db), "")
        .await
        .expect("connect");
    let s = schema("all_types");
    ch.ensure_table(&s).await.expect("create");
    ch.ensure_table(&s)
        .await
        .expect("an existing, matching table is accepted");
    let b = batch(&s);
    ch.insert(&s, b.clone()).await.expect("insert");
    let (tx, mut rx) = tokio::sync::mpsc::channel(4);
    let plan = hotcold_core::query::Plan::rows(&s);
    let read = ch.query(
        &s,
        &plan,
        Window::new(i64::MIN, i64::MAX),
        u64::MAX,
        1000,
        tx,
    );
    let collect = async {
        let mut all = RowBatch::new(&s);
        while let Some(x) = rx.recv().await {
            for i in 0..x.len() {
                all.push_row(x.row(i)).expect("kinds");
            }
        }
        all
    };
    let (n, back) = tokio::join!(read, collect);
    assert_eq!(n.expect("query"), b.len() as u64);
    assert_eq!(back, b, "ClickHouse changed a value");
    assert_eq!(ContentHash::of_batch(&back), ContentHash::of_batch(&b));
    // The depth JSON comes back byte for byte.
    assert!(
        back.columns[2].get(3) == Some(Value::Str(DEPTH.into()))
            || (0..back.len()).any(|i| back.row(i)[2] == Value::Str(DEPTH.into()))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mismatched_clickhouse_table_is_named_with_both_types() {
    let Some(url) = clickhouse::url() else { return };
    let db = clickhouse::unique_db("mismatch");
    let ch = ChTables::connect(&hotcold_clickhouse::Connection::new(&url, &db), "")
        .await
        .expect("connect");
    clickhouse::sql(
        &url,
        &format!(
            "CREATE TABLE {db}.trades (ts Int64, price Float64) ENGINE = MergeTree() ORDER BY ts"
        ),
    )
    .await
    .expect("create by hand");
    let s = TableSchema {
        name: "trades".into(),
        time_column: "ts".into(),
        columns: vec![
            ColumnDef {
                name: "ts".into(),
                ty: "timestamp_ms".parse().expect("t"),
            },
            ColumnDef {
                name: "price".into(),
                ty: "decimal(8)".parse().expect("t"),
            },
        ],
        hot_retention: None,
        partition: Default::default(),
    };
    let e = ch.ensure_table(&s).await.expect_err("mismatch");
    assert!(matches!(e, ChError::SchemaMismatch { .. }));
    let msg = e.to_string();
    assert!(
        msg.contains("column price") && msg.contains("Float64") && msg.contains("decimal(8)"),
        "{msg}"
    );
}
