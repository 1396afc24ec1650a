//! The journal's tables, and how a row becomes a [`BatchRecord`].
//!
//! A journal outlives the program that wrote it: an operator upgrades the
//! cloud with batches in flight. So opening a journal adds what an older
//! version lacked instead of refusing it, and each addition says what the
//! old rows mean under the new column.

use super::{BatchRecord, BatchState, JournalError};
use hotcold_core::schema::Window;
use hotcold_core::ContentHash;
use rusqlite::Connection;

/// The columns [`record`] reads, in its order.
pub(super) const COLUMNS: &str =
    "batch_id, table_name, t0, t1, state, hot, cold, bytes, sent_bytes, error, durable, committed_ms";

/// Creates the tables of a new journal and upgrades an old one.
pub(super) fn migrate(conn: &Connection) -> Result<(), JournalError> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS batches (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            batch_id TEXT NOT NULL UNIQUE, table_name TEXT NOT NULL,
            t0 INTEGER NOT NULL, t1 INTEGER NOT NULL, state TEXT NOT NULL,
            hot TEXT, cold TEXT, bytes INTEGER NOT NULL DEFAULT 0,
            sent_bytes INTEGER NOT NULL DEFAULT 0, error TEXT,
            updated_ms INTEGER NOT NULL);
         CREATE TABLE IF NOT EXISTS watermarks (table_name TEXT PRIMARY KEY, watermark INTEGER NOT NULL);
         CREATE TABLE IF NOT EXISTS floors (table_name TEXT PRIMARY KEY, floor INTEGER NOT NULL);
         CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);",
    )?;
    // Journals from before durable commits: their committed batches are
    // taken as not durable, which only holds their purge for the grace.
    let has_durable: bool = conn.query_row(
        "SELECT count(*) FROM pragma_table_info('batches') WHERE name = 'durable'",
        [],
        |r| r.get::<_, i64>(0).map(|n| n > 0),
    )?;
    if !has_durable {
        conn.execute_batch(
            "ALTER TABLE batches ADD COLUMN durable INTEGER NOT NULL DEFAULT 0;
             ALTER TABLE batches ADD COLUMN committed_ms INTEGER;",
        )?;
    }
    Ok(())
}

/// One row of `SELECT {COLUMNS} FROM batches`.
pub(super) fn record(r: &rusqlite::Row<'_>) -> Result<BatchRecord, JournalError> {
    let state: String = r.get(4)?;
    Ok(BatchRecord {
        state: parse_state(&state)?,
        batch_id: r.get(0)?,
        table: r.get(1)?,
        window: Window::new(r.get(2)?, r.get(3)?),
        hot: parse_hash(r.get(5)?)?,
        cold: parse_hash(r.get(6)?)?,
        bytes: r.get::<_, i64>(7)? as u64,
        sent_bytes: r.get::<_, i64>(8)? as u64,
        error: r.get(9)?,
        durable: r.get::<_, i64>(10)? != 0,
        committed_ms: r.get(11)?,
    })
}

/// A state as the journal spells it; anything else is a corrupt row.
pub(super) fn parse_state(s: &str) -> Result<BatchState, JournalError> {
    BatchState::parse(s).ok_or_else(|| JournalError::Corrupt(format!("state {s:?}")))
}

/// A content hash as the journal keeps it: its one text form.
pub(super) fn hash_text(h: &ContentHash) -> String {
    h.to_string()
}

fn parse_hash(s: Option<String>) -> Result<Option<ContentHash>, JournalError> {
    s.map(|s| s.parse().map_err(JournalError::Corrupt))
        .transpose()
}
