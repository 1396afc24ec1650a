//! Grouped aggregates over many large rows through both of SQLite's
//! aggregation paths (the fold, and the GROUP BY taken when a float is
//! summed): every sum equals an i128 computed here from the rows, or is
//! the overflow naming the column, and groups come out in the key's own
//! order (a `uint64` key above `i64::MAX` after the small ones).

use crate::scan::scan_plan;
use crate::{create_table, insert, open, SqliteError};
use hotcold_core::query::{Aggregate, Filter, Func, QuerySpec, SumOverflow};
use hotcold_core::schema::{LogicalType, TableSchema, Window};
use hotcold_core::{RowBatch, Value};

const DEC: LogicalType = LogicalType::Decimal { scale: 2 };
const PER_GROUP: u64 = 1000;

fn schema() -> TableSchema {
    TableSchema::new(
        "g",
        "ts",
        &[
            ("ts", LogicalType::TimestampMs),
            ("sym", LogicalType::LcString),
            ("key", LogicalType::UInt64),
            ("id", LogicalType::UInt64),
            ("px", DEC),
            ("q", LogicalType::Float64),
        ],
    )
}

/// One row: (sym, key, id, px).
type Row = (&'static str, u64, u64, i64);

/// Three groups of 1000 rows. Each group's `id` sums to about 0.6 x
/// u64::MAX (over i64::MAX, inside u64); the three together overflow. In
/// each group `px` climbs to about 1.25 x i64::MAX in its first half and
/// comes back below zero in its second, so only a total kept exact at
/// every step answers it. `key` is a uint64 whose values straddle 2^63.
fn rows() -> Vec<Row> {
    let mut v = Vec::new();
    let mut x = 11u64;
    for sym in ["a", "b", "c"] {
        for i in 0..PER_GROUP {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let id = u64::MAX / 1600 - (x >> 40);
            let px = if i < PER_GROUP / 2 {
                i64::MAX / 400 - (x >> 44) as i64
            } else {
                -(i64::MAX / 390)
            };
            let key =
                [0, 7, (1 << 63) - 1, 1 << 63, u64::MAX - 3, u64::MAX][(x >> 59) as usize % 6];
            v.push((sym, key, id, px));
        }
    }
    v
}

fn table() -> (tempfile::TempDir, rusqlite::Connection) {
    let dir = tempfile::tempdir().unwrap();
    let conn = open(&dir.path().join("g.db")).unwrap();
    let s = schema();
    create_table(&conn, &s).unwrap();
    let mut b = RowBatch::new(&s);
    for (i, (sym, key, id, px)) in rows().into_iter().enumerate() {
        b.push_row(vec![
            Value::I64(i as i64),
            Value::Str(sym.into()),
            Value::U64(key),
            Value::U64(id),
            Value::I64(px),
            Value::F64(0.25),
        ])
        .unwrap();
    }
    insert(&conn, &s, &b).unwrap();
    (dir, conn)
}

fn stats(group_by: &[&str], funcs: &[&str], float_sum: bool) -> Aggregate {
    let mut funcs: Vec<Func> = funcs.iter().map(|f| Func::parse(f).unwrap()).collect();
    if float_sum {
        // A float sum sends the aggregation to SQLite's GROUP BY.
        funcs.push(Func::parse("sum:q").unwrap());
    }
    Aggregate::Stats {
        interval_ms: Some(3_600_000),
        group_by: group_by.iter().map(|g| g.to_string()).collect(),
        funcs,
    }
}

/// The finished answer over the rows of `syms`.
fn ask(
    conn: &rusqlite::Connection,
    agg: Aggregate,
    syms: &[&str],
    descending: bool,
) -> Result<Vec<Vec<Value>>, SqliteError> {
    let s = schema();
    let spec = QuerySpec {
        filters: vec![Filter {
            column: "sym".into(),
            values: syms.iter().map(|s| serde_json::json!(s)).collect(),
        }],
        aggregate: Some(agg),
        descending,
    };
    let plan = spec.plan(&s).unwrap();
    let mut parts = RowBatch::new(&plan.output);
    scan_plan::<SqliteError>(
        conn,
        &s,
        &plan,
        Window::new(-1, 1_000_000),
        u64::MAX,
        100,
        |b| {
            parts.extend_from(b).unwrap();
            Ok(())
        },
    )?;
    let fin = plan.finish_owned(parts);
    Ok((0..fin.len()).map(|i| fin.row(i)).collect())
}

/// The exact sums of `id` and `px` over the rows of `syms`, as i128.
fn exact(syms: &[&str]) -> (i128, i128) {
    let rows = rows();
    let keep = rows.iter().filter(|r| syms.contains(&r.0));
    keep.fold((0, 0), |(i, p), r| {
        (i + i128::from(r.2), p + i128::from(r.3))
    })
}

#[test]
fn sums_over_many_large_rows_are_exact_grouped_and_not_on_both_paths() {
    let (_d, conn) = table();
    let (id_a, px_a) = exact(&["a"]);
    assert!(id_a > i128::from(i64::MAX), "the test's sums leave i64");
    for float_sum in [false, true] {
        let path = if float_sum { "GROUP BY" } else { "fold" };
        // Grouped: one row a group, each sum exact.
        let got = ask(
            &conn,
            stats(&["sym"], &["sum:id", "sum:px"], float_sum),
            &["a", "b", "c"],
            false,
        )
        .unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_eq!(got.len(), 3, "{path}");
        for (row, sym) in got.iter().zip(["a", "b", "c"]) {
            let (id, px) = exact(&[sym]);
            // bucket, sym, sum_id, sum_px.
            assert_eq!(row[1], Value::Str(sym.into()), "{path}");
            assert_eq!(
                row[2],
                Value::U64(u64::try_from(id).unwrap()),
                "{path} {sym}"
            );
            assert_eq!(
                row[3],
                Value::I64(i64::try_from(px).unwrap()),
                "{path} {sym}"
            );
        }
        // Ungrouped over one group: the same sums, over i64::MAX.
        let got = ask(
            &conn,
            stats(&[], &["sum:id", "sum:px"], float_sum),
            &["a"],
            false,
        )
        .unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_eq!(
            got[0][1],
            Value::U64(u64::try_from(id_a).unwrap()),
            "{path}"
        );
        assert_eq!(
            got[0][2],
            Value::I64(i64::try_from(px_a).unwrap()),
            "{path}"
        );
        // Ungrouped over all three: the uint64 sum does not fit; named.
        let (id_all, _) = exact(&["a", "b", "c"]);
        assert!(id_all > i128::from(u64::MAX));
        match ask(
            &conn,
            stats(&[], &["sum:id"], float_sum),
            &["a", "b", "c"],
            false,
        ) {
            Err(SqliteError::Overflow(e)) => {
                assert_eq!(e, SumOverflow::new("id", LogicalType::UInt64), "{path}")
            }
            other => panic!("{path}: want the overflow of id, got {other:?}"),
        }
    }
}

#[test]
fn uint64_group_keys_come_out_in_unsigned_order_on_both_paths() {
    let (_d, conn) = table();
    let mut want: Vec<u64> = rows().iter().map(|r| r.1).collect();
    want.sort_unstable();
    want.dedup();
    assert!(want.iter().any(|k| *k > i64::MAX as u64) && want[0] < 8);
    for descending in [false, true] {
        let mut want = want.clone();
        if descending {
            want.reverse();
        }
        for float_sum in [false, true] {
            let got = ask(
                &conn,
                stats(&["key"], &["count"], float_sum),
                &["a", "b", "c"],
                descending,
            )
            .unwrap();
            let keys: Vec<u64> = got
                .iter()
                .map(|r| match r[1] {
                    Value::U64(k) => k,
                    ref other => panic!("key {other:?}"),
                })
                .collect();
            assert_eq!(keys, want, "float_sum={float_sum} descending={descending}");
        }
    }
}
