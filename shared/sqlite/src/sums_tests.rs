//! Extremes of every 64-bit type through both of SQLite's aggregation
//! paths (the fold, and the GROUP BY taken when a float is summed): each
//! answer equals an i128 computation, or is the overflow naming the column.

use crate::scan::scan_plan;
use crate::{create_table, insert, open, SqliteError};
use hotcold_core::query::{Aggregate, Filter, Func, QuerySpec, SumOverflow};
use hotcold_core::schema::{LogicalType, TableSchema, Window};
use hotcold_core::{RowBatch, Value};

const DEC: LogicalType = LogicalType::Decimal { scale: 8 };

fn schema() -> TableSchema {
    TableSchema::new(
        "x",
        "ts",
        &[
            ("ts", LogicalType::TimestampMs),
            ("sym", LogicalType::LcString),
            ("id", LogicalType::UInt64),
            ("px", DEC),
            ("q", LogicalType::Float64),
        ],
    )
}

/// Group "fits": sums that fit only just (above i64::MAX for the uint64;
/// back inside after an extreme for the decimal). Group "over": sums that
/// do not fit. Group "low": the small ends.
fn rows() -> Vec<(&'static str, u64, i64)> {
    vec![
        ("fits", u64::MAX - 10, i64::MAX),
        ("fits", 5, -5),
        ("over", u64::MAX, i64::MAX),
        ("over", 1u64 << 63, 1),
        ("low", 0, i64::MIN),
        ("low", (1u64 << 63) - 1, 0),
    ]
}

fn table() -> (tempfile::TempDir, rusqlite::Connection) {
    let dir = tempfile::tempdir().unwrap();
    let conn = open(&dir.path().join("x.db")).unwrap();
    let s = schema();
    create_table(&conn, &s).unwrap();
    let mut b = RowBatch::new(&s);
    for (i, (sym, id, px)) in rows().into_iter().enumerate() {
        b.push_row(vec![
            Value::I64(i as i64 * 1000),
            Value::Str(sym.into()),
            Value::U64(id),
            Value::I64(px),
            Value::F64(0.5),
        ])
        .unwrap();
    }
    insert(&conn, &s, &b).unwrap();
    (dir, conn)
}

/// The finished answer over the rows of `syms`.
fn ask(
    conn: &rusqlite::Connection,
    agg: Aggregate,
    syms: &[&str],
) -> Result<Vec<Vec<Value>>, SqliteError> {
    let s = schema();
    let spec = QuerySpec {
        filters: vec![Filter {
            column: "sym".into(),
            values: syms.iter().map(|s| serde_json::json!(s)).collect(),
        }],
        aggregate: Some(agg),
        ..Default::default()
    };
    let plan = spec.plan(&s).unwrap();
    let mut parts = RowBatch::new(&plan.output);
    scan_plan::<SqliteError>(
        conn,
        &s,
        &plan,
        Window::new(-1, 1_000_000),
        u64::MAX,
        1000,
        |b| {
            parts.extend_from(b).unwrap();
            Ok(())
        },
    )?;
    let fin = plan.finish_owned(parts);
    Ok((0..fin.len()).map(|i| fin.row(i)).collect())
}

fn stats(funcs: &[&str]) -> Aggregate {
    Aggregate::Stats {
        interval_ms: None,
        group_by: vec![],
        funcs: funcs.iter().map(|f| Func::parse(f).unwrap()).collect(),
    }
}

fn overflow(r: Result<Vec<Vec<Value>>, SqliteError>, column: &str, ty: LogicalType) {
    match r {
        Err(SqliteError::Overflow(e)) => {
            assert_eq!(e, SumOverflow::new(column, ty));
            assert!(e.to_string().contains("narrower range"), "{e}");
        }
        other => panic!("want the overflow of {column}, got {other:?}"),
    }
}

#[test]
fn uint64_and_decimal_extremes_are_exact_or_named_on_both_paths() {
    let (_d, conn) = table();
    let all = ["fits", "over", "low"];
    let sum = |sym: &str, f: fn(&(&str, u64, i64)) -> i128| -> i128 {
        rows().iter().filter(|r| r.0 == sym).map(f).sum()
    };
    let id_fits = sum("fits", |r| i128::from(r.1));
    let px_fits = sum("fits", |r| i128::from(r.2));
    assert!(id_fits > i128::from(i64::MAX));
    // The fold's path, then the GROUP BY's (a float sum sends it there).
    for extra in [None, Some("sum:q")] {
        let with = |f: &[&str]| {
            let mut v = f.to_vec();
            v.extend(extra);
            stats(&v)
        };
        let got = ask(&conn, with(&["min:id", "max:id", "min:px", "max:px"]), &all).unwrap();
        assert_eq!(
            got[0][..4],
            [
                Value::U64(0),
                Value::U64(u64::MAX),
                Value::I64(i64::MIN),
                Value::I64(i64::MAX)
            ],
            "{extra:?}"
        );
        let got = ask(
            &conn,
            with(&["sum:id", "avg:id", "sum:px", "avg:px"]),
            &["fits"],
        )
        .unwrap();
        assert_eq!(got[0][0], Value::U64(u64::try_from(id_fits).unwrap()));
        assert_eq!(got[0][1], Value::F64(id_fits as f64 / 2.0));
        assert_eq!(got[0][2], Value::I64(i64::try_from(px_fits).unwrap()));
        assert_eq!(got[0][3], Value::F64(px_fits as f64 / 1e8 / 2.0));
        overflow(
            ask(&conn, with(&["sum:id"]), &["over"]),
            "id",
            LogicalType::UInt64,
        );
        overflow(ask(&conn, with(&["avg:px"]), &["over"]), "px", DEC);
        // i64::MAX - 5 + i64::MIN + 0 is -6: the low end fits too.
        let got = ask(&conn, with(&["sum:px"]), &["low", "fits"]).unwrap();
        assert_eq!(got[0][0], Value::I64(-6));
    }
}

#[test]
fn bars_volume_is_exact_or_named() {
    let (_d, conn) = table();
    let bars = |volume: &str| Aggregate::Bars {
        interval_ms: 3_600_000,
        price: "px".into(),
        volume: volume.into(),
        group_by: vec![],
    };
    let got = ask(&conn, bars("id"), &["fits"]).unwrap();
    // ts, open, high, low, close, volume, count.
    assert_eq!(got[0][5], Value::U64(u64::MAX - 5));
    assert_eq!(got[0][2], Value::I64(i64::MAX));
    let got = ask(&conn, bars("px"), &["fits"]).unwrap();
    assert_eq!(got[0][5], Value::I64(i64::MAX - 5));
    overflow(ask(&conn, bars("id"), &["over"]), "id", LogicalType::UInt64);
    overflow(ask(&conn, bars("px"), &["over"]), "px", DEC);
    // Bars over uint64 prices: high and low in the unsigned order.
    let got = ask(
        &conn,
        Aggregate::Bars {
            interval_ms: 3_600_000,
            price: "id".into(),
            volume: "q".into(),
            group_by: vec![],
        },
        &["fits", "over", "low"],
    )
    .unwrap();
    assert_eq!(got[0][2], Value::U64(u64::MAX));
    assert_eq!(got[0][3], Value::U64(0));
}

/// SQLite's `sum` fails the statement once a total leaves 64 bits, and a
/// group can hold as many rows as a file can (fewer than 2^47, see
/// `sums.rs`), too many to insert in a test. So each piece a sum is split
/// into is checked at the extremes of every integer type: the most any
/// piece adds per row, times 2^47 rows, must stay inside i64, and the
/// pieces read back must join into the exact value.
#[test]
fn no_piece_of_a_sum_can_overflow_whatever_the_rows_in_a_group() {
    use crate::sums::{part_sql, read_row};
    use hotcold_core::query::Part;
    let rows_bound: i128 = 1 << 47;
    for (ty, extremes) in [
        ("int8", vec![i128::from(i8::MIN), i128::from(i8::MAX)]),
        ("int16", vec![i128::from(i16::MIN), i128::from(i16::MAX)]),
        (
            "int32",
            vec![i128::from(i32::MIN), -1, i128::from(i32::MAX)],
        ),
        ("uint32", vec![0, i128::from(u32::MAX)]),
        (
            "int64",
            vec![i128::from(i64::MIN), -65537, -1, 0, i128::from(i64::MAX)],
        ),
        (
            "decimal(8)",
            vec![i128::from(i64::MIN), i128::from(i64::MAX)],
        ),
        (
            "uint64",
            vec![0, i128::from(i64::MAX), 1 << 63, i128::from(u64::MAX)],
        ),
    ] {
        let s = TableSchema::new(
            "p",
            "ts",
            &[("ts", LogicalType::TimestampMs), ("v", ty.parse().unwrap())],
        );
        let (exprs, read) = part_sql(&s, &Part::Sum("v".into()), 0);
        let sql = format!("SELECT {} FROM (SELECT ?1 AS \"v\")", exprs.join(", "));
        for x in extremes {
            // A uint64 is stored bit-cast.
            let stored = x as i64;
            let conn = rusqlite::Connection::open_in_memory().unwrap();
            let mut stmt = conn.prepare(&sql).unwrap();
            let mut rows = stmt.query([stored]).unwrap();
            let row = rows.next().unwrap().unwrap();
            for (i, e) in exprs.iter().enumerate() {
                let piece = i128::from(row.get::<_, i64>(i).unwrap());
                assert!(
                    piece.abs() * rows_bound <= i128::from(i64::MAX) + 1,
                    "{ty} {x}: piece {i} ({e}) is {piece}, whose sum over 2^47 rows overflows",
                );
            }
            let kind = if ty.starts_with("uint") {
                LogicalType::UInt64
            } else {
                LogicalType::Int64
            };
            let out = TableSchema::new("o", "s", &[("s", kind)]);
            let mut b = RowBatch::new(&out);
            read_row(row, std::slice::from_ref(&read), &mut b).unwrap();
            let back = match b.row(0)[0] {
                Value::I64(v) => i128::from(v),
                Value::U64(v) => i128::from(v),
                ref other => panic!("{other:?}"),
            };
            assert_eq!(back, x, "{ty}: the pieces join into the value");
        }
    }
}
