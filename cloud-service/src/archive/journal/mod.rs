//! The archive journal: every step of every batch, the confirmed watermarks
//! and the ingest floors, in a SQLite file (WAL, full fsync). A step is
//! recorded here before the next step, which depends on it, starts.

use hotcold_core::schema::Window;
use hotcold_core::ContentHash;
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use std::collections::HashMap;
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BatchState {
    /// Window chosen, ingest floor raised; nothing exported yet.
    Planned,
    /// Spool file and manifest written; hot count and hash recorded.
    Exported,
    /// The gateway answered with the cold count and hash.
    Committed,
    /// Cold matched hot; the watermark moved past the window.
    Confirmed,
    /// Hot rows deleted, spool dropped: done.
    Purged,
    /// Cold did not match, or a step failed for good; nothing was deleted.
    Failed,
}

impl BatchState {
    fn as_str(self) -> &'static str {
        match self {
            BatchState::Planned => "planned",
            BatchState::Exported => "exported",
            BatchState::Committed => "committed",
            BatchState::Confirmed => "confirmed",
            BatchState::Purged => "purged",
            BatchState::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "planned" => BatchState::Planned,
            "exported" => BatchState::Exported,
            "committed" => BatchState::Committed,
            "confirmed" => BatchState::Confirmed,
            "purged" => BatchState::Purged,
            "failed" => BatchState::Failed,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct BatchRecord {
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
    #[error("journal: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("journal: {0}")]
    Sqlite(#[from] hotcold_sqlite::SqliteError),
    #[error("journal row is corrupt: {0}")]
    Corrupt(String),
}

pub struct Journal {
    conn: Connection,
}

fn hash_text(h: &ContentHash) -> String {
    format!("{}:{:032x}", h.rows, h.sum)
}

fn parse_hash(s: Option<String>) -> Result<Option<ContentHash>, JournalError> {
    let Some(s) = s else { return Ok(None) };
    let (rows, sum) = s
        .split_once(':')
        .ok_or_else(|| JournalError::Corrupt(s.clone()))?;
    Ok(Some(ContentHash {
        rows: rows.parse().map_err(|_| JournalError::Corrupt(s.clone()))?,
        sum: u128::from_str_radix(sum, 16).map_err(|_| JournalError::Corrupt(s.clone()))?,
    }))
}

const COLUMNS: &str =
    "batch_id, table_name, t0, t1, state, hot, cold, bytes, sent_bytes, error, durable, committed_ms";

impl Journal {
    pub fn open(path: &Path) -> Result<Self, JournalError> {
        let conn = hotcold_sqlite::open(path)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS batches (
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                batch_id TEXT NOT NULL UNIQUE, table_name TEXT NOT NULL,
                t0 INTEGER NOT NULL, t1 INTEGER NOT NULL, state TEXT NOT NULL,
                hot TEXT, cold TEXT, bytes INTEGER NOT NULL DEFAULT 0,
                sent_bytes INTEGER NOT NULL DEFAULT 0, error TEXT,
                updated_ms INTEGER NOT NULL);
             CREATE TABLE IF NOT EXISTS watermarks (table_name TEXT PRIMARY KEY, watermark INTEGER NOT NULL);
             CREATE TABLE IF NOT EXISTS floors (table_name TEXT PRIMARY KEY, floor INTEGER NOT NULL);",
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
        Ok(Self { conn })
    }

    fn record(r: &rusqlite::Row<'_>) -> Result<BatchRecord, JournalError> {
        let state: String = r.get(4)?;
        Ok(BatchRecord {
            state: BatchState::parse(&state)
                .ok_or_else(|| JournalError::Corrupt(format!("state {state:?}")))?,
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

    fn query(
        &self,
        where_sql: &str,
        p: impl rusqlite::Params,
    ) -> Result<Vec<BatchRecord>, JournalError> {
        let mut st = self
            .conn
            .prepare(&format!("SELECT {COLUMNS} FROM batches {where_sql}"))?;
        let mut rows = st.query(p)?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            out.push(Self::record(r)?);
        }
        Ok(out)
    }

    pub fn get(&self, batch_id: &str) -> Result<Option<BatchRecord>, JournalError> {
        Ok(self
            .query("WHERE batch_id = ?1", [batch_id])?
            .into_iter()
            .next())
    }

    /// Batches of a table not yet purged nor failed, oldest window first.
    pub fn unfinished(&self, table: &str) -> Result<Vec<BatchRecord>, JournalError> {
        self.query(
            "WHERE table_name = ?1 AND state NOT IN ('purged', 'failed') ORDER BY t0, seq",
            [table],
        )
    }

    /// Failed batches of exactly this table and window: the ones a new
    /// batch for the window may replace in cold (see `Manifest::replaces`).
    pub fn failed_for(&self, table: &str, window: Window) -> Result<Vec<String>, JournalError> {
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
    pub fn confirmed(&self) -> Result<Vec<BatchRecord>, JournalError> {
        self.query(
            "WHERE state IN ('confirmed', 'purged') ORDER BY table_name, t0",
            [],
        )
    }

    pub fn recent(&self, n: u32) -> Result<Vec<BatchRecord>, JournalError> {
        self.query("ORDER BY seq DESC LIMIT ?1", [n])
    }

    /// Records a new batch for a window and raises the table's ingest floor
    /// to the window's end, in one transaction.
    pub fn plan(&mut self, table: &str, window: Window) -> Result<String, JournalError> {
        let tx = self.conn.transaction()?;
        let seq: i64 = tx.query_row("SELECT coalesce(max(seq), 0) + 1 FROM batches", [], |r| {
            r.get(0)
        })?;
        let batch_id = format!("{table}-{}-{}-{seq}", window.start, window.end);
        tx.execute(
            "INSERT INTO batches (batch_id, table_name, t0, t1, state, updated_ms) VALUES (?1, ?2, ?3, ?4, 'planned', ?5)",
            params![batch_id, table, window.start, window.end, crate::clock::now_ms()],
        )?;
        tx.execute(
            "INSERT INTO floors (table_name, floor) VALUES (?1, ?2)
             ON CONFLICT(table_name) DO UPDATE SET floor = max(floor, excluded.floor)",
            params![table, window.end],
        )?;
        tx.commit()?;
        Ok(batch_id)
    }

    fn set(
        &self,
        batch_id: &str,
        state: BatchState,
        extra: &str,
        p: &[&dyn rusqlite::ToSql],
    ) -> Result<(), JournalError> {
        let mut all: Vec<&dyn rusqlite::ToSql> = vec![&batch_id];
        let st = state.as_str();
        let now = crate::clock::now_ms();
        all.push(&st);
        all.push(&now);
        all.extend_from_slice(p);
        self.conn.execute(
            &format!("UPDATE batches SET state = ?2, updated_ms = ?3 {extra} WHERE batch_id = ?1"),
            all.as_slice(),
        )?;
        Ok(())
    }

    pub fn exported(
        &self,
        batch_id: &str,
        hot: &ContentHash,
        bytes: u64,
    ) -> Result<(), JournalError> {
        self.set(
            batch_id,
            BatchState::Exported,
            ", hot = ?4, bytes = ?5, error = NULL",
            &[&hash_text(hot), &(bytes as i64)],
        )
    }

    /// Batches waiting for delivery (the offline queue) and their bytes.
    pub fn backlog(&self) -> Result<(u64, u64), JournalError> {
        Ok(self.conn.query_row(
            "SELECT count(*), coalesce(sum(bytes), 0) FROM batches WHERE state IN ('planned', 'exported')",
            [],
            |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64)),
        )?)
    }

    pub fn committed(
        &self,
        batch_id: &str,
        cold: &ContentHash,
        sent_bytes: u64,
        durable: bool,
    ) -> Result<(), JournalError> {
        self.set(
            batch_id,
            BatchState::Committed,
            ", cold = ?4, sent_bytes = sent_bytes + ?5, durable = ?6, committed_ms = ?3",
            &[&hash_text(cold), &(sent_bytes as i64), &i64::from(durable)],
        )
    }

    /// Batches not yet purged nor failed, of every table: the work a
    /// resync pass has, including commits held for the purge grace.
    pub fn waiting(&self) -> Result<u64, JournalError> {
        Ok(self.conn.query_row(
            "SELECT count(*) FROM batches WHERE state NOT IN ('purged', 'failed')",
            [],
            |r| r.get::<_, i64>(0).map(|n| n as u64),
        )?)
    }

    /// Marks the batch confirmed and moves the watermark to the window's end,
    /// in one transaction: queries read the window from cold from now on.
    pub fn confirm(
        &mut self,
        batch_id: &str,
        table: &str,
        window: Window,
    ) -> Result<(), JournalError> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "UPDATE batches SET state = 'confirmed', updated_ms = ?2 WHERE batch_id = ?1",
            params![batch_id, crate::clock::now_ms()],
        )?;
        tx.execute(
            "INSERT INTO watermarks (table_name, watermark) VALUES (?1, ?2)
             ON CONFLICT(table_name) DO UPDATE SET watermark = max(watermark, excluded.watermark)",
            params![table, window.end],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Raises a table's ingest floor (never lowers it).
    pub fn raise_floor(&self, table: &str, floor: i64) -> Result<(), JournalError> {
        self.conn.execute(
            "INSERT INTO floors (table_name, floor) VALUES (?1, ?2)
             ON CONFLICT(table_name) DO UPDATE SET floor = max(floor, excluded.floor)",
            params![table, floor],
        )?;
        Ok(())
    }

    /// Moves the watermark over a window that holds no rows in hot (and,
    /// below the ingest floor, never will).
    pub fn skip_empty(&self, table: &str, window: Window) -> Result<(), JournalError> {
        self.conn.execute(
            "INSERT INTO watermarks (table_name, watermark) VALUES (?1, ?2)
             ON CONFLICT(table_name) DO UPDATE SET watermark = max(watermark, excluded.watermark)",
            params![table, window.end],
        )?;
        Ok(())
    }

    pub fn purged(&self, batch_id: &str) -> Result<(), JournalError> {
        self.set(batch_id, BatchState::Purged, "", &[])
    }

    pub fn failed(&self, batch_id: &str, error: &str) -> Result<(), JournalError> {
        self.set(batch_id, BatchState::Failed, ", error = ?4", &[&error])
    }

    /// Records a failed delivery attempt (retried later): its error and the
    /// bytes it sent, without changing the state.
    pub fn note_sent(&self, batch_id: &str, error: &str, sent: u64) -> Result<(), JournalError> {
        self.conn.execute(
            "UPDATE batches SET error = ?2, sent_bytes = sent_bytes + ?3, updated_ms = ?4 WHERE batch_id = ?1",
            params![batch_id, error, sent as i64, crate::clock::now_ms()],
        )?;
        Ok(())
    }

    /// Records a transient error without changing the state (retried later).
    pub fn note_error(&self, batch_id: &str, error: &str) -> Result<(), JournalError> {
        self.conn.execute(
            "UPDATE batches SET error = ?2, updated_ms = ?3 WHERE batch_id = ?1",
            params![batch_id, error, crate::clock::now_ms()],
        )?;
        Ok(())
    }

    pub fn watermarks(&self) -> Result<HashMap<String, i64>, JournalError> {
        let mut st = self
            .conn
            .prepare("SELECT table_name, watermark FROM watermarks")?;
        let v = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(v)
    }

    pub fn floors(&self) -> Result<HashMap<String, i64>, JournalError> {
        let mut st = self.conn.prepare("SELECT table_name, floor FROM floors")?;
        let v = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(v)
    }

    pub fn watermark(&self, table: &str) -> Result<Option<i64>, JournalError> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_and_watermarks_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.db");
        let mut j = Journal::open(&path).unwrap();
        let w = Window::new(0, 86_400_000);
        let id = j.plan("trades", w).unwrap();
        j.exported(&id, &ContentHash { rows: 3, sum: 9 }, 100)
            .unwrap();
        j.committed(&id, &ContentHash { rows: 3, sum: 9 }, 120, false)
            .unwrap();
        let c = j.get(&id).unwrap().unwrap();
        assert!(!c.durable && c.committed_ms.is_some());
        j.confirm(&id, "trades", w).unwrap();
        drop(j);
        let j = Journal::open(&path).unwrap();
        let r = j.get(&id).unwrap().unwrap();
        assert_eq!(r.state, BatchState::Confirmed);
        assert_eq!(r.hot, Some(ContentHash { rows: 3, sum: 9 }));
        assert_eq!(j.watermark("trades").unwrap(), Some(86_400_000));
        assert_eq!(j.floors().unwrap().get("trades"), Some(&86_400_000));
        assert_eq!(j.unfinished("trades").unwrap().len(), 1);
        j.purged(&id).unwrap();
        assert!(j.unfinished("trades").unwrap().is_empty());
    }
}
