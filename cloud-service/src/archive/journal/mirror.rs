//! The cluster edition's hook into the journal: every change is written
//! through to ZooKeeper (fenced by the leader's epoch) before the change
//! returns Ok, and a new leader rebuilds a fresh local journal from there.
//!
//! Why a hook and not a second journal: the SQL transitions (`state.rs`)
//! stay the one place that decides what a batch may do next; the mirror
//! only copies what they wrote. The local file is the leader's working
//! copy, ZooKeeper the truth: a write that ZooKeeper refused makes the
//! change an error, the run stops, and the local copy is thrown away at the
//! next lease. The single-process edition has no mirror.

use super::schema::{hash_text, record, COLUMNS};
use super::{BatchRecord, Journal, JournalError};
use rusqlite::{params, OptionalExtension};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;

/// What one journal change wrote, as ZooKeeper keeps it.
#[derive(Debug, Default)]
pub(crate) struct MirrorWrite {
    /// `/journal/<batch_id>`: the batch's record as JSON ([`MirroredBatch`]).
    pub batch: Option<(String, Vec<u8>)>,
    /// `/floors/<table>`.
    pub floor: Option<(String, i64)>,
    /// `/watermarks/<table>`.
    pub watermark: Option<(String, i64)>,
}

/// Blocking (the journal runs on blocking threads).
pub(crate) trait JournalMirror: Send + Sync {
    /// Writes `w` fenced by the lease; Ok only once ZooKeeper holds it (and,
    /// for a floor or a watermark, once every live replica applied it).
    fn write(&self, w: &MirrorWrite) -> Result<(), String>;
    /// Before an export (`floor`: the window's end) or a purge
    /// (`watermark`): every live replica applied it, and the lease is still
    /// ours with the session connected.
    fn check_lease(
        &self,
        table: &str,
        floor: Option<i64>,
        watermark: Option<i64>,
    ) -> Result<(), String>;
}

/// A batch's record in `/journal/<batch_id>`: the journal row, with its
/// sequence number, so a rebuilt journal numbers new batches after it.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MirroredBatch {
    pub seq: i64,
    pub batch_id: String,
    pub table: String,
    pub t0: i64,
    pub t1: i64,
    pub state: String,
    pub hot: Option<String>,
    pub cold: Option<String>,
    pub bytes: u64,
    pub sent_bytes: u64,
    pub error: Option<String>,
    pub durable: bool,
    pub committed_ms: Option<i64>,
    pub updated_ms: i64,
}

impl MirroredBatch {
    fn of(seq: i64, updated_ms: i64, r: &BatchRecord) -> Self {
        Self {
            seq,
            batch_id: r.batch_id.clone(),
            table: r.table.clone(),
            t0: r.window.start,
            t1: r.window.end,
            state: r.state.as_str().to_string(),
            hot: r.hot.as_ref().map(hash_text),
            cold: r.cold.as_ref().map(hash_text),
            bytes: r.bytes,
            sent_bytes: r.sent_bytes,
            error: r.error.clone(),
            durable: r.durable,
            committed_ms: r.committed_ms,
            updated_ms,
        }
    }
}

impl Journal {
    pub(crate) fn set_mirror(&mut self, m: Arc<dyn JournalMirror>) {
        self.mirror = Some(m);
    }

    /// Copies what a change wrote to the mirror, if there is one: the
    /// batch's row, the table's floor, the table's watermark.
    pub(super) fn mirror(
        &self,
        batch: Option<&str>,
        floor: Option<&str>,
        watermark: Option<&str>,
    ) -> Result<(), JournalError> {
        let Some(m) = &self.mirror else {
            return Ok(());
        };
        let mut w = MirrorWrite::default();
        if let Some(id) = batch {
            let (seq, updated, rec) = self.row(id)?;
            let json = serde_json::to_vec(&MirroredBatch::of(seq, updated, &rec))
                .map_err(|e| JournalError::Corrupt(e.to_string()))?;
            w.batch = Some((id.to_string(), json));
        }
        if let Some(t) = floor {
            if let Some(f) = self.floors()?.get(t) {
                w.floor = Some((t.to_string(), *f));
            }
        }
        if let Some(t) = watermark {
            if let Some(v) = self.watermark(t)? {
                w.watermark = Some((t.to_string(), v));
            }
        }
        m.write(&w).map_err(JournalError::Mirror)
    }

    /// A batch's watermark table: the one `mark_confirmed` moves.
    pub(super) fn table_of(&self, batch_id: &str) -> Result<Option<String>, JournalError> {
        Ok(self
            .conn
            .query_row(
                "SELECT table_name FROM batches WHERE batch_id = ?1",
                [batch_id],
                |r| r.get(0),
            )
            .optional()?)
    }

    fn row(&self, batch_id: &str) -> Result<(i64, i64, BatchRecord), JournalError> {
        let mut st = self.conn.prepare(&format!(
            "SELECT {COLUMNS}, seq, updated_ms FROM batches WHERE batch_id = ?1"
        ))?;
        let mut rows = st.query([batch_id])?;
        let r = rows
            .next()?
            .ok_or_else(|| JournalError::UnknownBatch(batch_id.to_string()))?;
        Ok((r.get(12)?, r.get(13)?, record(r)?))
    }

    /// Errors unless the mirror (if any) says the lease is still held.
    pub(crate) fn check_lease(
        &self,
        table: &str,
        floor: Option<i64>,
        watermark: Option<i64>,
    ) -> Result<(), JournalError> {
        match &self.mirror {
            None => Ok(()),
            Some(m) => m
                .check_lease(table, floor, watermark)
                .map_err(JournalError::Mirror),
        }
    }

    /// Fills an empty journal with what ZooKeeper holds (a new leader's
    /// working copy), in one transaction.
    pub(crate) fn import(
        &mut self,
        batches: &[Vec<u8>],
        floors: &HashMap<String, i64>,
        watermarks: &HashMap<String, i64>,
    ) -> Result<usize, JournalError> {
        let tx = self.conn.transaction()?;
        for b in batches {
            let m: MirroredBatch = serde_json::from_slice(b)
                .map_err(|e| JournalError::Corrupt(format!("ZooKeeper journal entry: {e}")))?;
            super::schema::parse_state(&m.state)?;
            tx.execute(
                "INSERT INTO batches (seq, batch_id, table_name, t0, t1, state, hot, cold, bytes, sent_bytes, error, updated_ms, durable, committed_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
                params![
                    m.seq, m.batch_id, m.table, m.t0, m.t1, m.state, m.hot, m.cold,
                    m.bytes as i64, m.sent_bytes as i64, m.error, m.updated_ms,
                    i64::from(m.durable), m.committed_ms
                ],
            )?;
        }
        for (t, f) in floors {
            tx.execute(
                "INSERT INTO floors (table_name, floor) VALUES (?1, ?2)",
                params![t, f],
            )?;
        }
        for (t, w) in watermarks {
            tx.execute(
                "INSERT INTO watermarks (table_name, watermark) VALUES (?1, ?2)",
                params![t, w],
            )?;
        }
        tx.commit()?;
        Ok(batches.len())
    }
}
