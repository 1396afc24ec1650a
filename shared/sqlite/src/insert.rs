//! Writing a batch: one cached prepared statement, bound values, and no
//! transaction of its own, so the caller decides what commits together (an
//! ingest request, or a whole batch on the cold side).

use crate::sql::cols;
use crate::Result;
use hotcold_core::batch::{Column, RowBatch};
use hotcold_core::schema::TableSchema;
use rusqlite::Connection;

/// Inserts a batch inside the caller's transaction.
pub fn insert(conn: &Connection, schema: &TableSchema, batch: &RowBatch) -> Result<usize> {
    let marks = vec!["?"; schema.columns.len()].join(", ");
    let mut stmt = conn.prepare_cached(&format!(
        "INSERT INTO \"{}\" ({}) VALUES ({marks})",
        schema.name,
        cols(schema)
    ))?;
    let mut vals: Vec<rusqlite::types::Value> = Vec::with_capacity(schema.columns.len());
    for i in 0..batch.len() {
        vals.clear();
        for c in &batch.columns {
            vals.push(match c {
                Column::I64(v) => rusqlite::types::Value::Integer(v[i]),
                // u64 above i64::MAX is stored bit-cast and cast back on read.
                Column::U64(v) => rusqlite::types::Value::Integer(v[i] as i64),
                Column::F64(v) => rusqlite::types::Value::Real(v[i]),
                Column::Bool(v) => rusqlite::types::Value::Integer(i64::from(v[i])),
                Column::Str(v) => rusqlite::types::Value::Text(v[i].clone()),
            });
        }
        stmt.execute(rusqlite::params_from_iter(vals.iter()))?;
    }
    Ok(batch.len())
}
