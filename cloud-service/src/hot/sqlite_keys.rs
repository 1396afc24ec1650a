//! Idempotency keys in the SQLite hot store: a table of their own in the
//! same file, written in the rows' own transaction.

use super::keys::{KeyRecord, Once};
use super::HotError;
use rusqlite::{params, Connection, OptionalExtension};

fn sql(e: rusqlite::Error) -> HotError {
    HotError::Sqlite(e.into())
}

pub(super) fn create(conn: &Connection) -> Result<(), HotError> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS _hotcold_ingest_keys (
            key TEXT PRIMARY KEY, table_name TEXT NOT NULL, rows INTEGER NOT NULL,
            body_hash TEXT NOT NULL, at_ms INTEGER NOT NULL);
         CREATE INDEX IF NOT EXISTS _hotcold_ingest_keys_at ON _hotcold_ingest_keys (at_ms);",
    )
    .map_err(sql)
}

pub(super) fn find(conn: &Connection, key: &str) -> Result<Option<KeyRecord>, HotError> {
    conn.query_row(
        "SELECT key, table_name, rows, body_hash, at_ms FROM _hotcold_ingest_keys WHERE key = ?1",
        [key],
        |r| {
            Ok(KeyRecord {
                key: r.get(0)?,
                table: r.get(1)?,
                rows: r.get::<_, i64>(2)? as u64,
                body_hash: r.get(3)?,
                at_ms: r.get(4)?,
            })
        },
    )
    .optional()
    .map_err(sql)
}

/// Inside the caller's transaction: the key is checked and recorded there,
/// so the rows and their key commit together or not at all.
pub(super) fn insert_once(
    tx: &rusqlite::Transaction<'_>,
    schema: &hotcold_core::schema::TableSchema,
    key: &KeyRecord,
    next: &mut dyn FnMut() -> Result<Option<hotcold_core::RowBatch>, HotError>,
) -> Result<Once, HotError> {
    if let Some(r) = find(tx, &key.key)? {
        return Ok(Once::Replayed(r));
    }
    let mut n = 0;
    while let Some(b) = next()? {
        n += hotcold_sqlite::insert(tx, schema, &b)?;
    }
    tx.execute(
        "INSERT INTO _hotcold_ingest_keys (key, table_name, rows, body_hash, at_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![key.key, key.table, n as i64, key.body_hash, key.at_ms],
    )
    .map_err(sql)?;
    Ok(Once::Stored(n))
}

pub(super) fn prune(conn: &Connection, before_ms: i64) -> Result<u64, HotError> {
    conn.execute(
        "DELETE FROM _hotcold_ingest_keys WHERE at_ms < ?1",
        [before_ms],
    )
    .map(|n| n as u64)
    .map_err(sql)
}
