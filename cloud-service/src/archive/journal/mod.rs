//! The archive journal: every step of every batch, the confirmed watermarks
//! and the ingest floors, in a SQLite file (WAL, full fsync).
//!
//! It is what makes a crash harmless (invariant 4): a step is recorded here
//! before the next step, which depends on it, starts, so a run resumes from
//! the states alone. The watermark and the floors live in the same file so
//! that a batch's state and the watermark it moves change in one
//! transaction. `state` holds the transitions and what each may leave;
//! `schema` the tables and their upgrades.

mod mirror;
mod repair;
mod schema;
mod state;

pub(crate) use mirror::{JournalMirror, MirrorWrite};

pub use state::BatchState;

use hotcold_core::schema::Window;
use hotcold_core::ContentHash;
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use std::collections::HashMap;
use std::path::Path;

#[derive(Debug, Clone, Serialize)]
pub(crate) struct BatchRecord {
    pub batch_id: String,
    pub table: String,
    pub window: Window,
    pub state: BatchState,
    pub hot: Option<ContentHash>,
    pub cold: Option<ContentHash>,
    pub bytes: u64,
    pub sent_bytes: u64,
    pub error: Option<String>,
    /// The gateway said the commit was on disk when it answered.
    pub durable: bool,
    /// When the gateway's commit answer arrived (epoch ms).
    pub committed_ms: Option<i64>,
}

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// SQLite refused a statement (disk full, locked, I/O).
    #[error("journal: {0}")]
    Sql(#[from] rusqlite::Error),
    /// The journal file could not be opened with our settings.
    #[error("journal: {0}")]
    Sqlite(#[from] hotcold_sqlite::SqliteError),
    /// A row holds what no version of ours writes.
    #[error("journal row is corrupt: {0}")]
    Corrupt(String),
    /// A transition was asked of a batch in a state it does not leave:
    /// nothing was written.
    #[error("batch {batch} is {found}, not {}: the journal was left as it was", state::one_of(.expected))]
    WrongState {
        batch: String,
        /// The states the transition may leave.
        expected: &'static [BatchState],
        found: BatchState,
    },
    /// A transition named a batch the journal does not hold.
    #[error("batch {0} is not in the journal")]
    UnknownBatch(String),
    /// The cluster's copy in ZooKeeper refused the change (lease lost,
    /// session down): the local change must not be trusted.
    #[error("cluster journal: {0}")]
    Mirror(String),
}

pub(crate) struct Journal {
    conn: Connection,
    /// The cluster edition's copy in ZooKeeper (`mirror.rs`); None alone.
    mirror: Option<std::sync::Arc<dyn JournalMirror>>,
}

impl Journal {
    pub(crate) fn open(path: &Path) -> Result<Self, JournalError> {
        let conn = hotcold_sqlite::open(path)?;
        schema::migrate(&conn)?;
        Ok(Self { conn, mirror: None })
    }

    /// This cloud's identity, made at the first start and kept with the
    /// journal (see `archive::new_cloud_id`).
    pub(crate) fn cloud_id(&self) -> Result<String, JournalError> {
        self.conn.execute(
            "INSERT OR IGNORE INTO meta (key, value) VALUES ('cloud_id', ?1)",
            [super::new_cloud_id()],
        )?;
        Ok(self
            .conn
            .query_row("SELECT value FROM meta WHERE key = 'cloud_id'", [], |r| {
                r.get(0)
            })?)
    }

    fn query(
        &self,
        where_sql: &str,
        p: impl rusqlite::Params,
    ) -> Result<Vec<BatchRecord>, JournalError> {
        let mut st = self.conn.prepare(&format!(
            "SELECT {} FROM batches {where_sql}",
            schema::COLUMNS
        ))?;
        let mut rows = st.query(p)?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            out.push(schema::record(r)?);
        }
        Ok(out)
    }

    pub(crate) fn get(&self, batch_id: &str) -> Result<Option<BatchRecord>, JournalError> {
        Ok(self
            .query("WHERE batch_id = ?1", [batch_id])?
            .into_iter()
            .next())
    }

    /// Batches of a table not yet purged nor failed, oldest window first.
    pub(crate) fn unfinished(&self, table: &str) -> Result<Vec<BatchRecord>, JournalError> {
        self.query(
            "WHERE table_name = ?1 AND state NOT IN ('purged', 'failed') ORDER BY t0, seq",
            [table],
        )
    }

    /// Failed batches of exactly this table and window: the ones a new
    /// batch for the window may replace in cold (see `Manifest::replaces`).
    pub(crate) fn failed_for(
        &self,
        table: &str,
        window: Window,
    ) -> Result<Vec<String>, JournalError> {
        Ok(self
            .query(
                "WHERE table_name = ?1 AND t0 = ?2 AND t1 = ?3 AND state = 'failed' ORDER BY seq",
                params![table, window.start, window.end],
            )?
            .into_iter()
            .map(|r| r.batch_id)
            .collect())
    }

    /// Batches whose cold copy was confirmed (confirmed or purged).
    pub(crate) fn confirmed(&self) -> Result<Vec<BatchRecord>, JournalError> {
        self.query(
            "WHERE state IN ('confirmed', 'purged') ORDER BY table_name, t0",
            [],
        )
    }

    /// Batches that cannot get on by themselves, for /health and alerts:
    /// failed ones no later batch of the same window got past (their rows
    /// stay hot until someone acts), and unfinished ones whose last attempt
    /// failed (retried, but failing now; the error clears when a step
    /// succeeds).
    pub(crate) fn stuck(&self) -> Result<Vec<BatchRecord>, JournalError> {
        self.query(
            "WHERE (state = 'failed' AND NOT EXISTS (SELECT 1 FROM batches b2 \
               WHERE b2.table_name = batches.table_name AND b2.t0 = batches.t0 \
               AND b2.t1 = batches.t1 AND b2.seq > batches.seq)) \
             OR (state NOT IN ('purged', 'failed') AND error IS NOT NULL) \
             ORDER BY seq LIMIT 100",
            [],
        )
    }

    /// Every batch of a table whose window overlaps `w`, oldest first (a
    /// later batch of the same window replaces an earlier failed one).
    pub(crate) fn overlapping(
        &self,
        table: &str,
        w: Window,
    ) -> Result<Vec<BatchRecord>, JournalError> {
        self.query(
            "WHERE table_name = ?1 AND t1 > ?2 AND t0 < ?3 ORDER BY seq",
            params![table, w.start, w.end],
        )
    }

    /// Every batch, oldest first (the cost report sums them).
    pub(crate) fn every_batch(&self) -> Result<Vec<BatchRecord>, JournalError> {
        self.query("ORDER BY seq", [])
    }

    pub(crate) fn recent(&self, n: u32) -> Result<Vec<BatchRecord>, JournalError> {
        self.query("ORDER BY seq DESC LIMIT ?1", [n])
    }

    /// Records a new batch for a window and raises the table's ingest floor
    /// to the window's end, in one transaction.
    pub(crate) fn plan(&mut self, table: &str, window: Window) -> Result<String, JournalError> {
        let tx = self.conn.transaction()?;
        let seq: i64 = tx.query_row("SELECT coalesce(max(seq), 0) + 1 FROM batches", [], |r| {
            r.get(0)
        })?;
        let batch_id = format!("{table}-{}-{}-{seq}", window.start, window.end);
        tx.execute(
            "INSERT INTO batches (batch_id, table_name, t0, t1, state, updated_ms) VALUES (?1, ?2, ?3, ?4, 'planned', ?5)",
            params![batch_id, table, window.start, window.end, crate::clock::now_ms()],
        )?;
        raise_floor_in(&tx, table, window.end)?;
        tx.commit()?;
        self.mirror(Some(&batch_id), Some(table), None)?;
        Ok(batch_id)
    }

    /// Batches waiting for delivery (the offline queue) and their bytes.
    pub(crate) fn backlog(&self) -> Result<(u64, u64), JournalError> {
        Ok(self.conn.query_row(
            "SELECT count(*), coalesce(sum(bytes), 0) FROM batches WHERE state IN ('planned', 'exported')",
            [],
            |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64)),
        )?)
    }

    /// Batches not yet purged nor failed, of every table: the work a
    /// resync pass has, including commits held for the purge grace.
    pub(crate) fn waiting(&self) -> Result<u64, JournalError> {
        Ok(self.conn.query_row(
            "SELECT count(*) FROM batches WHERE state NOT IN ('purged', 'failed')",
            [],
            |r| r.get::<_, i64>(0).map(|n| n as u64),
        )?)
    }

    /// Raises a table's ingest floor (never lowers it).
    pub(crate) fn raise_floor(&self, table: &str, floor: i64) -> Result<(), JournalError> {
        raise_floor_in(&self.conn, table, floor)?;
        self.mirror(None, Some(table), None)
    }

    /// Moves the watermark over a window that holds no rows in hot (and,
    /// below the ingest floor, never will).
    pub(crate) fn skip_empty(&self, table: &str, window: Window) -> Result<(), JournalError> {
        self.conn.execute(
            "INSERT INTO watermarks (table_name, watermark) VALUES (?1, ?2)
             ON CONFLICT(table_name) DO UPDATE SET watermark = max(watermark, excluded.watermark)",
            params![table, window.end],
        )?;
        self.mirror(None, None, Some(table))
    }

    /// Records a failed delivery attempt (retried later): its error and the
    /// bytes it sent, without changing the state.
    pub(crate) fn note_sent(
        &self,
        batch_id: &str,
        error: &str,
        sent: u64,
    ) -> Result<(), JournalError> {
        self.conn.execute(
            "UPDATE batches SET error = ?2, sent_bytes = sent_bytes + ?3, updated_ms = ?4 WHERE batch_id = ?1",
            params![batch_id, error, sent as i64, crate::clock::now_ms()],
        )?;
        self.mirror(Some(batch_id), None, None)
    }

    /// Records a transient error without changing the state (retried later).
    pub(crate) fn note_error(&self, batch_id: &str, error: &str) -> Result<(), JournalError> {
        self.conn.execute(
            "UPDATE batches SET error = ?2, updated_ms = ?3 WHERE batch_id = ?1",
            params![batch_id, error, crate::clock::now_ms()],
        )?;
        self.mirror(Some(batch_id), None, None)
    }

    pub(crate) fn watermarks(&self) -> Result<HashMap<String, i64>, JournalError> {
        let mut st = self
            .conn
            .prepare("SELECT table_name, watermark FROM watermarks")?;
        let v = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(v)
    }

    pub(crate) fn floors(&self) -> Result<HashMap<String, i64>, JournalError> {
        let mut st = self.conn.prepare("SELECT table_name, floor FROM floors")?;
        let v = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(v)
    }

    pub(crate) fn watermark(&self, table: &str) -> Result<Option<i64>, JournalError> {
        Ok(self
            .conn
            .query_row(
                "SELECT watermark FROM watermarks WHERE table_name = ?1",
                [table],
                |r| r.get(0),
            )
            .optional()?)
    }
}

/// Raises a table's ingest floor to `floor`, never lowering it, in the
/// caller's connection or transaction.
pub(super) fn raise_floor_in(
    conn: &rusqlite::Connection,
    table: &str,
    floor: i64,
) -> Result<(), JournalError> {
    conn.execute(
        "INSERT INTO floors (table_name, floor) VALUES (?1, ?2)
         ON CONFLICT(table_name) DO UPDATE SET floor = max(floor, excluded.floor)",
        params![table, floor],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cloud_id_is_made_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.db");
        let first = Journal::open(&path).unwrap().cloud_id().unwrap();
        hotcold_core::manifest::check_cloud_id(&first).unwrap();
        assert_eq!(Journal::open(&path).unwrap().cloud_id().unwrap(), first);
        let other = tempfile::tempdir().unwrap();
        let second = Journal::open(&other.path().join("journal.db"))
            .unwrap()
            .cloud_id()
            .unwrap();
        assert_ne!(first, second, "another cloud, another id");
    }

    #[test]
    fn states_and_watermarks_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.db");
        let mut j = Journal::open(&path).unwrap();
        let w = Window::new(0, 86_400_000);
        let id = j.plan("trades", w).unwrap();
        j.mark_exported(&id, &ContentHash { rows: 3, sum: 9 }, 100)
            .unwrap();
        j.mark_committed(&id, &ContentHash { rows: 3, sum: 9 }, 120, false)
            .unwrap();
        let c = j.get(&id).unwrap().unwrap();
        assert!(!c.durable && c.committed_ms.is_some());
        j.mark_confirmed(&id).unwrap();
        drop(j);
        let j = Journal::open(&path).unwrap();
        let r = j.get(&id).unwrap().unwrap();
        assert_eq!(r.state, BatchState::Confirmed);
        assert_eq!(r.hot, Some(ContentHash { rows: 3, sum: 9 }));
        assert_eq!(j.watermark("trades").unwrap(), Some(86_400_000));
        assert_eq!(j.floors().unwrap().get("trades"), Some(&86_400_000));
        assert_eq!(j.unfinished("trades").unwrap().len(), 1);
        j.mark_purged(&id).unwrap();
        assert!(j.unfinished("trades").unwrap().is_empty());
    }
}
