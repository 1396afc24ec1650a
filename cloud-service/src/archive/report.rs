//! What a run reports: per batch and in all, the totals kept for /metrics,
//! and the alerts a finished run raises.
//!
//! The report is the operator's view of a run (`/v1/admin/archive`), so it
//! says why each batch stopped where it did; the alerts go out from the
//! finished report, not from inside the steps, so one run alerts once per
//! batch however many steps it took.

use super::journal::{BatchRecord, BatchState};
use super::Archiver;
use crate::alerts::Alerter;
use hotcold_core::schema::Window;
use serde::Serialize;
use std::sync::Arc;

/// One batch's outcome in a run.
#[derive(Debug, Clone, Serialize)]
pub struct BatchOutcome {
    pub batch_id: String,
    pub table: String,
    pub window: Window,
    pub rows: u64,
    pub bytes: u64,
    pub bytes_sent: u64,
    /// The chunk size of the batch's export (0 when it was not sent).
    pub chunk_size: u32,
    pub state: BatchState,
    pub error: Option<String>,
}

impl BatchOutcome {
    /// A batch as the run finds it, before any step.
    pub(super) fn starting(rec: &BatchRecord) -> Self {
        Self {
            batch_id: rec.batch_id.clone(),
            table: rec.table.clone(),
            window: rec.window,
            rows: rec.hot.map_or(0, |h| h.rows),
            bytes: rec.bytes,
            bytes_sent: 0,
            chunk_size: 0,
            state: rec.state,
            error: None,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ArchiveReport {
    /// The cutoff of the global hot retention; `cutoffs` has each table's.
    pub cutoff_ms: i64,
    pub cutoffs: std::collections::BTreeMap<String, i64>,
    pub duration_ms: u64,
    pub batches: Vec<BatchOutcome>,
    pub rows_archived: u64,
    pub bytes_exported: u64,
    pub bytes_sent: u64,
    pub failed: usize,
    /// Windows still waiting (link down, failures); their rows stay hot.
    pub pending: usize,
    /// Bytes in the spool after the run (the offline queue).
    pub spool_bytes: u64,
    /// The spool budget stopped export; rows wait in hot.
    pub spool_full: bool,
    /// Why the NAS side could not be reached, if it could not.
    pub offline: Option<String>,
    /// Committed windows whose purge waits for `archive.purge-grace` (the
    /// cold store does not fsync its inserts); their rows stay hot.
    pub held: usize,
    /// Tables whose run stopped on an error, with the error. Other tables
    /// went on: one table's failure never stops the rest.
    pub table_errors: std::collections::BTreeMap<String, String>,
}

/// Totals since start, for /metrics.
#[derive(Default)]
pub(crate) struct Counters {
    pub runs: std::sync::atomic::AtomicU64,
    pub rows: std::sync::atomic::AtomicU64,
    pub bytes_exported: std::sync::atomic::AtomicU64,
    pub batches_failed: std::sync::atomic::AtomicU64,
    pub batches_purged: std::sync::atomic::AtomicU64,
}

impl Archiver {
    /// Adds a finished run to the totals, keeps it as the last run, and
    /// sends the alerts it calls for.
    pub(super) fn record(&self, report: &ArchiveReport) {
        use std::sync::atomic::Ordering::Relaxed;
        let c = &self.counters;
        c.runs.fetch_add(1, Relaxed);
        c.rows.fetch_add(report.rows_archived, Relaxed);
        c.bytes_exported.fetch_add(report.bytes_exported, Relaxed);
        c.batches_failed.fetch_add(report.failed as u64, Relaxed);
        c.batches_purged.fetch_add(
            report
                .batches
                .iter()
                .filter(|b| b.state == BatchState::Purged)
                .count() as u64,
            Relaxed,
        );
        let now = crate::clock::now_ms();
        self.last.lock().unwrap_or_else(|p| p.into_inner()).0 = Some((now, report.clone()));
        if let Some(alerter) = &self.alerter {
            tokio::spawn(send_alerts(alerter.clone(), report.clone()));
        }
    }
}

/// `batch_failed` for each failed batch and each table that stopped on an
/// error, `spool_full` when the budget stopped export.
async fn send_alerts(alerter: Arc<Alerter>, report: ArchiveReport) {
    for b in report
        .batches
        .iter()
        .filter(|b| b.state == BatchState::Failed)
    {
        let detail = serde_json::json!({ "table": b.table, "window": b.window, "error": b.error });
        alerter.send("batch_failed", &b.batch_id, detail).await;
    }
    for (table, error) in &report.table_errors {
        let detail = serde_json::json!({ "table": table, "error": error });
        alerter.send("batch_failed", table, detail).await;
    }
    if report.spool_full {
        let detail = serde_json::json!({ "spool_bytes": report.spool_bytes });
        alerter.send("spool_full", "spool", detail).await;
    }
}
