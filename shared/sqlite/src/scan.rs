//! Reading out: the table's rows (for archiving, hashing and queries) or a
//! plan's partial aggregate rows, streamed in batches so memory holds one
//! segment whatever the window. Aggregations take a path of their own, an
//! ordered scan folded in `fold.rs`, because SQLite has no cheap first/last
//! by (time, price) and its GROUP BY sorts the keys in a temporary B-tree.

use crate::fold::{fold_ordered, folds};
use crate::sql::{aggregate_sql, filter_sql, rows_sql};
use crate::sums::{read_row, Read};
use crate::{open, SqliteError};
use hotcold_core::batch::RowBatch;
use hotcold_core::query::Plan;
use hotcold_core::schema::{TableSchema, Window};
use rusqlite::Connection;
use std::path::Path;

/// Streams the window's rows in time order, `segment_rows` at a time, to `f`;
/// at most `limit` rows. Memory holds one segment.
pub fn scan<E: From<SqliteError>>(
    conn: &Connection,
    schema: &TableSchema,
    window: Window,
    limit: u64,
    segment_rows: usize,
    f: impl FnMut(RowBatch) -> std::result::Result<(), E>,
) -> std::result::Result<u64, E> {
    scan_plan(
        conn,
        schema,
        &Plan::rows(schema),
        window,
        limit,
        segment_rows,
        f,
    )
}

/// `scan_plan` through a connection of its own, in one read transaction:
/// a consistent snapshot that does not wait for (or hold up) the writer,
/// which WAL allows. Both stores read this way.
pub fn scan_snapshot<E: From<SqliteError>>(
    path: &Path,
    schema: &TableSchema,
    plan: &Plan,
    window: Window,
    limit: u64,
    segment_rows: usize,
    f: impl FnMut(RowBatch) -> std::result::Result<(), E>,
) -> std::result::Result<u64, E> {
    let conn = open(path)?;
    conn.execute_batch("BEGIN").map_err(SqliteError::from)?;
    let n = scan_plan(&conn, schema, plan, window, limit, segment_rows, f);
    let _ = conn.execute_batch("COMMIT");
    n
}

/// Streams the rows (or partial aggregate rows) a plan asks for, in its
/// order, `segment_rows` at a time; at most `limit`. Filter values are bound
/// as parameters, never spliced into the SQL.
pub(crate) fn scan_plan<E: From<SqliteError>>(
    conn: &Connection,
    schema: &TableSchema,
    plan: &Plan,
    window: Window,
    limit: u64,
    segment_rows: usize,
    mut f: impl FnMut(RowBatch) -> std::result::Result<(), E>,
) -> std::result::Result<u64, E> {
    let mut binds = vec![
        rusqlite::types::Value::Integer(window.start),
        rusqlite::types::Value::Integer(window.end),
    ];
    let filters = filter_sql(plan, &mut binds);
    let dir = if plan.descending { "DESC" } else { "ASC" };
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    binds.push(rusqlite::types::Value::Integer(limit));
    let (sql, reads) = match &plan.agg {
        None => {
            let reads = (0..plan.output.columns.len()).map(Read::Plain).collect();
            (rows_sql(schema, &filters, dir), reads)
        }
        Some(a) if folds(schema, a) => {
            binds.pop();
            let mut all = fold_ordered(conn, schema, plan, a, &filters, &binds, limit as u64)?;
            let n = all.len() as u64;
            while !all.is_empty() {
                f(all.drain_front(segment_rows.max(1)))?;
            }
            return Ok(n);
        }
        Some(a) => aggregate_sql(schema, a, &filters, dir),
    };
    let mut stmt = conn.prepare_cached(&sql).map_err(SqliteError::from)?;
    let rows = stmt
        .query(rusqlite::params_from_iter(binds.iter()))
        .map_err(SqliteError::from)?;
    read_rows(rows, &plan.output, &reads, segment_rows, f)
}

/// Reads result rows into batches of the output schema's kinds.
fn read_rows<E: From<SqliteError>>(
    mut rows: rusqlite::Rows<'_>,
    output: &TableSchema,
    reads: &[Read],
    segment_rows: usize,
    mut f: impl FnMut(RowBatch) -> std::result::Result<(), E>,
) -> std::result::Result<u64, E> {
    let mut batch = RowBatch::with_capacity(output, segment_rows.min(65_536));
    let mut total = 0u64;
    while let Some(row) = rows.next().map_err(SqliteError::from)? {
        read_row(row, reads, &mut batch)?;
        total += 1;
        if batch.len() >= segment_rows {
            let full = std::mem::replace(
                &mut batch,
                RowBatch::with_capacity(output, segment_rows.min(65_536)),
            );
            f(full)?;
        }
    }
    if !batch.is_empty() {
        f(batch)?;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{count, create_table, insert};
    use hotcold_core::Value;

    /// The SQL aggregation equals the reference over the same rows, for
    /// bars and statistics, filters, any interval, either order.
    #[test]
    fn aggregates_match_the_reference() {
        use hotcold_core::query::{aggregate_rows, Aggregate, Filter, Func, QuerySpec};
        let dir = tempfile::tempdir().unwrap();
        let conn = open(&dir.path().join("t.db")).unwrap();
        let s: TableSchema = serde_yaml::from_str(
            "name: t\ntime-column: ts\ncolumns:\n  - {name: ts, type: timestamp_ms}\n  - {name: sym, type: lc_string}\n  - {name: px, type: decimal(2)}\n  - {name: qty, type: float64}\n",
        )
        .unwrap();
        create_table(&conn, &s).unwrap();
        let mut b = RowBatch::new(&s);
        let mut all = Vec::new();
        let mut x = 7u64;
        for _ in 0..3000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let r = vec![
                // Coarse times: many rows share one, as trades do.
                Value::I64(((x >> 20) as i64 % 200_000 - 100_000) / 50 * 50),
                Value::Str(["a", "b", "c'; DROP TABLE t; --"][(x >> 50) as usize % 3].into()),
                Value::I64((x >> 33) as i64 % 1000 - 300),
                Value::F64(((x >> 40) % 64) as f64 / 8.0),
            ];
            all.push(r.clone());
            b.push_row(r).unwrap();
        }
        insert(&conn, &s, &b).unwrap();
        let w = Window::new(-50_000, 70_000);
        for (k, agg) in [
            Some(Aggregate::Bars {
                interval_ms: 7_000,
                price: "px".into(),
                volume: "qty".into(),
                group_by: vec!["sym".into()],
            }),
            Some(Aggregate::Bars {
                interval_ms: 60_000,
                price: "px".into(),
                volume: "px".into(),
                group_by: vec![],
            }),
            Some(Aggregate::Stats {
                interval_ms: None,
                group_by: vec![],
                funcs: ["count", "avg:px", "min:qty", "max:sym"]
                    .iter()
                    .map(|f| Func::parse(f).unwrap())
                    .collect(),
            }),
            Some(Aggregate::Stats {
                interval_ms: Some(3_000),
                group_by: vec!["sym".into()],
                funcs: ["sum:qty", "max:px"]
                    .iter()
                    .map(|f| Func::parse(f).unwrap())
                    .collect(),
            }),
            Some(Aggregate::Stats {
                interval_ms: None,
                group_by: vec![],
                funcs: vec![Func::parse("count").unwrap()],
            }),
        ]
        .into_iter()
        .enumerate()
        {
            let filters = if k % 2 == 0 {
                vec![Filter {
                    column: "sym".into(),
                    values: vec![
                        serde_json::json!("c'; DROP TABLE t; --"),
                        serde_json::json!("a"),
                    ],
                }]
            } else {
                vec![]
            };
            let spec = QuerySpec {
                filters,
                descending: k == 3,
                aggregate: agg,
            };
            let plan = spec.plan(&s).unwrap();
            let keep: Vec<Vec<Value>> = all
                .iter()
                .filter(|r| matches!(r[0], Value::I64(t) if w.contains(t)))
                .filter(|r| k % 2 == 1 || r[1] != Value::Str("b".into()))
                .cloned()
                .collect();
            let mut want = aggregate_rows(&s, &plan, &keep);
            let mut got = Vec::new();
            scan_plan::<SqliteError>(&conn, &s, &plan, w, u64::MAX, 100, |b| {
                got.extend((0..b.len()).map(|i| b.row(i)));
                Ok(())
            })
            .unwrap();
            let mut want_rows: Vec<_> = (0..want.len()).map(|i| want.row(i)).collect();
            if spec.descending {
                want_rows.reverse();
            }
            want = RowBatch::new(&plan.output);
            for r in &want_rows {
                want.push_row(r.clone()).unwrap();
            }
            assert_eq!(got.len(), want.len(), "case {k}");
            assert_eq!(got, want_rows, "case {k}");
        }
        assert_eq!(
            count(&conn, &s, Window::new(i64::MIN, i64::MAX)).unwrap(),
            3000
        );
    }
}
