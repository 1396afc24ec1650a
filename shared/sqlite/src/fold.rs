//! Aggregations SQLite cannot do fast, folded here from an ordered scan.
//!
//! Open and close need each group's first and last row by (time, price).
//! Window functions find them but cost 7x an ordered scan (345 ms against
//! 51 ms for 100k rows), and even ORDER BY time, price costs 3x a scan in
//! index order (a sort of each run of equal times). A plain GROUP BY of
//! statistics builds a temporary B-tree over the keys: 64 ms for one day
//! of 1-minute statistics over 100k trades, against 15 ms for the scan
//! alone. So SQLite streams the window's rows in time-index order, each
//! source column once, and [`Merger::add_timed`] folds them, ties in time
//! settled by price.
//!
//! The rows are read into one batch that is refilled in place: a string
//! cell keeps its buffer from one chunk to the next, so a day of trades
//! allocates nothing per row.

use crate::sql::ordered_rows_sql;
use crate::SqliteError;
use hotcold_core::batch::{Column, RowBatch};
use hotcold_core::query::{bucket, AggPlan, Merger, Part, Plan};
use hotcold_core::schema::{LogicalType, TableSchema};
use rusqlite::types::{Type, ValueRef};
use rusqlite::Connection;

/// Rows folded at a time.
const CHUNK: usize = 8192;

/// Whether the fold gives exactly what SQLite's own aggregate would: not
/// for a sum of floats, which SQLite adds with error compensation
/// (Kahan-Babuska-Neumaier) and the fold does not. Bars always fold (their
/// open and close cannot be had otherwise).
pub(crate) fn folds(schema: &TableSchema, a: &AggPlan) -> bool {
    let float = |c: &str| {
        schema
            .column(c)
            .is_some_and(|(_, d)| d.ty == LogicalType::Float64)
    };
    let bars = a.parts.iter().any(|p| matches!(p, Part::Open(_)));
    bars || !a
        .parts
        .iter()
        .any(|p| matches!(p, Part::Sum(c) if float(c)))
}

/// Where each column of the timed partial batch comes from in the SELECT.
enum Source {
    /// The bucket of the row's time (select column 0).
    Bucket(i64),
    Select(usize),
    /// The cell of an earlier partial column read from the same select
    /// column (open, high, low and close all read the price).
    Copy(usize),
    /// A count's 1.
    One,
}

/// The partial rows of the plan over the window, in key order, at most
/// `limit`: `binds` are the window and the filters' values.
pub(crate) fn fold_ordered(
    conn: &Connection,
    schema: &TableSchema,
    plan: &Plan,
    a: &AggPlan,
    filters: &str,
    binds: &[rusqlite::types::Value],
    limit: u64,
) -> Result<RowBatch, SqliteError> {
    let (sql, sources) = select_of(schema, a, filters);
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(rusqlite::params_from_iter(binds.iter()))?;
    let mut m = Merger::new(a);
    let mut batch = RowBatch::with_capacity(&plan.output, CHUNK);
    let mut ts: Vec<i64> = Vec::with_capacity(CHUNK);
    let mut at = 0usize;
    while let Some(row) = rows.next()? {
        let t: i64 = row.get(0)?;
        set(&mut ts, at, t);
        for (j, src) in sources.iter().enumerate() {
            let (done, rest) = batch.columns.split_at_mut(j);
            let c = &mut rest[0];
            match src {
                Source::Bucket(iv) => set_i64(c, at, bucket(t, *iv)),
                Source::One => set_u64(c, at, 1),
                Source::Select(i) => read_cell(row, *i, c, at)?,
                Source::Copy(from) => copy_cell(&done[*from], c, at),
            }
        }
        at += 1;
        if at == CHUNK {
            m.add_timed(&batch, &ts)?;
            at = 0;
        }
    }
    batch.truncate(at);
    ts.truncate(at);
    m.add_timed(&batch, &ts)?;
    Ok(m.finish(&plan.output, plan.descending, limit)?.0)
}

/// The SELECT (time first, then each source column once) and where each
/// partial column is read from.
fn select_of(schema: &TableSchema, a: &AggPlan, filters: &str) -> (String, Vec<Source>) {
    let mut cols: Vec<String> = vec![schema.time_column.clone()];
    // The partial column that first read each select column.
    let mut first: Vec<Option<usize>> = vec![None];
    let mut sources = Vec::new();
    if let Some(iv) = a.interval_ms {
        sources.push(Source::Bucket(iv));
    }
    let names = a
        .group_by
        .iter()
        .map(|g| Some(g.name.as_str()))
        .chain(a.parts.iter().map(Part::column));
    for name in names {
        let Some(name) = name else {
            sources.push(Source::One);
            continue;
        };
        let i = match cols.iter().position(|x| x == name) {
            Some(i) => i,
            None => {
                cols.push(name.to_string());
                first.push(None);
                cols.len() - 1
            }
        };
        sources.push(match first[i] {
            Some(j) => Source::Copy(j),
            None => {
                first[i] = Some(sources.len());
                Source::Select(i)
            }
        });
    }
    (ordered_rows_sql(schema, &cols, filters), sources)
}

/// Writes a cell at row `at`: over the old one while the batch is refilled,
/// else appended.
fn set<T>(v: &mut Vec<T>, at: usize, x: T) {
    match v.get_mut(at) {
        Some(old) => *old = x,
        None => v.push(x),
    }
}

fn set_i64(c: &mut Column, at: usize, x: i64) {
    if let Column::I64(v) = c {
        set(v, at, x);
    }
}

fn set_u64(c: &mut Column, at: usize, x: u64) {
    if let Column::U64(v) = c {
        set(v, at, x);
    }
}

/// Copies row `at` of `from` (a column of the same kind) into `c`.
fn copy_cell(from: &Column, c: &mut Column, at: usize) {
    match (from, c) {
        (Column::I64(f), Column::I64(v)) => set(v, at, f[at]),
        (Column::U64(f), Column::U64(v)) => set(v, at, f[at]),
        (Column::F64(f), Column::F64(v)) => set(v, at, f[at]),
        (Column::Bool(f), Column::Bool(v)) => set(v, at, f[at]),
        (Column::Str(f), Column::Str(v)) => match v.get_mut(at) {
            Some(old) => old.clone_from(&f[at]),
            None => v.push(f[at].clone()),
        },
        // The same select column, so the same kind.
        _ => {}
    }
}

/// Reads select column `i` into `c` at row `at`, typed as `Row::get` would
/// (the same errors for a cell of another type), a string into the buffer
/// the cell already has.
fn read_cell(
    row: &rusqlite::Row<'_>,
    i: usize,
    c: &mut Column,
    at: usize,
) -> Result<(), SqliteError> {
    match c {
        Column::I64(v) => set(v, at, row.get(i)?),
        // u64 above i64::MAX is stored bit-cast and cast back here.
        Column::U64(v) => set(v, at, row.get::<_, i64>(i)? as u64),
        Column::F64(v) => set(v, at, row.get(i)?),
        Column::Bool(v) => set(v, at, row.get::<_, i64>(i)? != 0),
        Column::Str(v) => {
            let s = match row.get_ref(i)? {
                ValueRef::Text(t) => std::str::from_utf8(t).map_err(|e| {
                    rusqlite::Error::FromSqlConversionFailure(i, Type::Text, Box::new(e))
                })?,
                other => {
                    let name = row.as_ref().column_name(i).unwrap_or("?").to_string();
                    return Err(
                        rusqlite::Error::InvalidColumnType(i, name, other.data_type()).into(),
                    );
                }
            };
            match v.get_mut(at) {
                Some(old) => {
                    old.clear();
                    old.push_str(s);
                }
                None => v.push(s.to_string()),
            }
        }
    }
    Ok(())
}
