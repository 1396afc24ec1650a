//! Writing a batch: cached prepared statements, values bound straight from
//! the columns, and no transaction of its own, so the caller decides what
//! commits together (an ingest request, or a whole batch on the cold side).
//!
//! Rows go in `ROWS_PER_STATEMENT` at a time (`VALUES (..), (..), ...`):
//! each statement execution has a fixed cost in SQLite (step, reset, the
//! VDBE program's setup), and sharing it over many rows was worth about
//! half of insert time for trades (see BENCHMARKS.md).

use crate::sql::cols;
use crate::Result;
use hotcold_core::batch::{Column, RowBatch};
use hotcold_core::schema::TableSchema;
use rusqlite::{CachedStatement, Connection};

/// Rows bound into one statement, fewer for a table so wide that SQLite's
/// 32,766 parameters would not hold them.
const ROWS_PER_STATEMENT: usize = 128;
const MAX_PARAMETERS: usize = 32_766;

fn statement<'c>(
    conn: &'c Connection,
    schema: &TableSchema,
    rows: usize,
) -> Result<CachedStatement<'c>> {
    let one = format!("({})", vec!["?"; schema.columns.len()].join(", "));
    let values = vec![one.as_str(); rows].join(", ");
    Ok(conn.prepare_cached(&format!(
        "INSERT INTO \"{}\" ({}) VALUES {values}",
        schema.name,
        cols(schema)
    ))?)
}

/// Binds row `i` at parameter offset `at` (0-based) of `stmt`.
fn bind_row(stmt: &mut CachedStatement<'_>, batch: &RowBatch, i: usize, at: usize) -> Result<()> {
    // No `Value` per cell and no copy of a string into an owned value
    // (SQLite copies the bytes it keeps).
    for (j, c) in batch.columns.iter().enumerate() {
        let p = at + j + 1;
        match c {
            Column::I64(v) => stmt.raw_bind_parameter(p, v[i])?,
            // u64 above i64::MAX is stored bit-cast and cast back on read.
            Column::U64(v) => stmt.raw_bind_parameter(p, v[i] as i64)?,
            Column::F64(v) => stmt.raw_bind_parameter(p, v[i])?,
            Column::Bool(v) => stmt.raw_bind_parameter(p, i64::from(v[i]))?,
            Column::Str(v) => stmt.raw_bind_parameter(p, v[i].as_str())?,
        }
    }
    Ok(())
}

/// Inserts a batch inside the caller's transaction (and gives the hours
/// it writes new versions: `sealed.rs`).
pub fn insert(conn: &Connection, schema: &TableSchema, batch: &RowBatch) -> Result<usize> {
    crate::sealed::touch_batch(conn, schema, batch)?;
    let n = batch.len();
    let width = schema.columns.len();
    let per = ROWS_PER_STATEMENT.min(MAX_PARAMETERS / width.max(1)).max(1);
    let whole = n / per * per;
    if whole > 0 {
        let mut stmt = statement(conn, schema, per)?;
        for start in (0..whole).step_by(per) {
            for k in 0..per {
                bind_row(&mut stmt, batch, start + k, k * width)?;
            }
            stmt.raw_execute()?;
        }
    }
    if whole < n {
        let mut stmt = statement(conn, schema, 1)?;
        for i in whole..n {
            bind_row(&mut stmt, batch, i, 0)?;
            stmt.raw_execute()?;
        }
    }
    Ok(n)
}
