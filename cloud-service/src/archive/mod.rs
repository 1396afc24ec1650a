//! The archive run: steps 1-6 of ARCHITECTURE.md for every declared table.
//!
//! Each batch is driven through its states by [`Archiver::drive`], and each
//! state is in the journal before the step that depends on it starts, so a
//! run interrupted anywhere resumes where it stopped: unfinished batches are
//! driven first, oldest window first, before new windows are planned.

pub mod export;
mod grace;
pub(crate) mod journal;
pub mod plan;
mod report;
mod spool;

use grace::Recheck;
pub(crate) use journal::Journal;
pub use journal::{BatchState, JournalError};
pub use report::{ArchiveReport, BatchOutcome, Counters};
pub use spool::Spool;

use crate::gate::IngestGate;
use crate::hot::{HotError, HotStore};
use crate::link::LinkClient;
use crate::watermarks::Watermarks;
use export::ExportSettings;
use hotcold_core::schema::{TableSchema, Window};
use journal::BatchRecord;
use std::sync::{Arc, Mutex};
use std::time::Instant;

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error(transparent)]
    Hot(#[from] HotError),
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("spool: {0}")]
    Spool(#[from] std::io::Error),
    #[error("an archive run is already in progress")]
    AlreadyRunning,
    #[error("internal: {0}")]
    Task(String),
}

/// What one run has learnt so far.
struct RunState {
    /// Set once the NAS side is unreachable: later batches only export.
    offline: Option<String>,
}

enum Work {
    New(Window),
    Existing(Box<BatchRecord>),
}

pub struct Archiver {
    pub tables: Vec<TableSchema>,
    pub hot: Arc<dyn HotStore>,
    pub(crate) journal: Arc<Mutex<Journal>>,
    pub spool: Spool,
    pub link: Arc<LinkClient>,
    pub gate: Arc<IngestGate>,
    pub watermarks: Arc<Watermarks>,
    pub retention_ms: i64,
    pub export: ExportSettings,
    /// The spool's disk budget in bytes.
    pub budget: u64,
    /// How long a commit that was not on disk when it was answered waits
    /// before it is read back again and purged.
    pub purge_grace: std::time::Duration,
    running: tokio::sync::Mutex<()>,
    /// The last run's report and when it ended; the next scheduled start.
    last: Mutex<RunTimes>,
    pub counters: Counters,
    /// Where failed batches and a full spool are reported.
    pub alerter: std::sync::OnceLock<Arc<crate::alerts::Alerter>>,
    /// Cached cold answers over a window are dropped when it is confirmed.
    pub cold_cache: std::sync::OnceLock<Arc<crate::cache::ColdCache>>,
}

/// The last run (ended at, report) and the next scheduled start.
type RunTimes = (Option<(i64, ArchiveReport)>, Option<i64>);

impl Archiver {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        tables: Vec<TableSchema>,
        hot: Arc<dyn HotStore>,
        journal: Arc<Mutex<Journal>>,
        spool: Spool,
        link: Arc<LinkClient>,
        gate: Arc<IngestGate>,
        watermarks: Arc<Watermarks>,
        retention_ms: i64,
        export: ExportSettings,
        budget: u64,
        purge_grace: std::time::Duration,
    ) -> Self {
        Self {
            budget,
            purge_grace,
            tables,
            hot,
            journal,
            spool,
            link,
            gate,
            watermarks,
            retention_ms,
            export,
            running: tokio::sync::Mutex::new(()),
            last: Mutex::new((None, None)),
            counters: Counters::default(),
            alerter: std::sync::OnceLock::new(),
            cold_cache: std::sync::OnceLock::new(),
        }
    }

    /// Runs a blocking journal operation off the async threads.
    async fn journal<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Journal) -> Result<T, JournalError> + Send + 'static,
    ) -> Result<T, ArchiveError> {
        let j = self.journal.clone();
        tokio::task::spawn_blocking(move || {
            let mut g = j
                .lock()
                .map_err(|_| ArchiveError::Task("journal mutex poisoned".into()))?;
            Ok(f(&mut g)?)
        })
        .await
        .map_err(|e| ArchiveError::Task(e.to_string()))?
    }

    async fn hot<T: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn HotStore) -> Result<T, HotError> + Send + 'static,
    ) -> Result<T, ArchiveError> {
        let h = self.hot.clone();
        tokio::task::spawn_blocking(move || Ok(f(h.as_ref())?))
            .await
            .map_err(|e| ArchiveError::Task(e.to_string()))?
    }

    /// Archives every window older than the hot retention, for every table.
    /// Never two runs at once: a second caller gets `AlreadyRunning`.
    pub async fn run(&self, now_ms: i64) -> Result<ArchiveReport, ArchiveError> {
        let _running = self
            .running
            .try_lock()
            .map_err(|_| ArchiveError::AlreadyRunning)?;
        self.run_locked(Some(now_ms)).await
    }

    /// Resync: drives the batches already planned (the offline queue),
    /// oldest window first, without planning new ones.
    pub async fn drain(&self) -> Result<ArchiveReport, ArchiveError> {
        let _running = self
            .running
            .try_lock()
            .map_err(|_| ArchiveError::AlreadyRunning)?;
        self.run_locked(None).await
    }

    /// With `now_ms`, plans new windows older than each table's retention;
    /// without, only drives what is already planned.
    async fn run_locked(&self, now_ms: Option<i64>) -> Result<ArchiveReport, ArchiveError> {
        let started = Instant::now();
        let mut report = ArchiveReport {
            cutoff_ms: now_ms.map_or(0, |n| plan::cutoff(n, self.retention_ms)),
            ..Default::default()
        };
        let mut run = RunState { offline: None };
        for schema in self.tables.clone() {
            let retention = schema
                .hot_retention
                .map_or(self.retention_ms, |r| r.0.as_millis() as i64);
            let cutoff = now_ms.map(|n| plan::cutoff(n, retention));
            if let Some(c) = cutoff {
                report.cutoffs.insert(schema.name.clone(), c);
            }
            // One table's failure (a server refusing a statement, an
            // unreadable partition key) is reported and the others go on.
            if let Err(e) = self.run_table(&schema, cutoff, &mut run, &mut report).await {
                tracing::error!(table = %schema.name, error = %e, "archive of the table stopped");
                report
                    .table_errors
                    .insert(schema.name.clone(), e.to_string());
                report.failed += 1;
            }
        }
        report.duration_ms = started.elapsed().as_millis() as u64;
        report.spool_bytes = self.spool.bytes();
        report.offline = run.offline;
        self.record(&report);
        tracing::info!(
            batches = report.batches.len(),
            rows = report.rows_archived,
            bytes_sent = report.bytes_sent,
            failed = report.failed,
            pending = report.pending,
            spool_bytes = report.spool_bytes,
            ms = report.duration_ms,
            "archive run finished"
        );
        Ok(report)
    }

    /// What a run now would do, without doing any of it (not even raising
    /// the ingest floor): the batches waiting, and the new windows with their
    /// hot row counts.
    pub async fn preview(&self, now_ms: i64) -> Result<serde_json::Value, ArchiveError> {
        let mut tables = serde_json::Map::new();
        for schema in self.tables.clone() {
            let retention = schema
                .hot_retention
                .map_or(self.retention_ms, |r| r.0.as_millis() as i64);
            let cutoff = plan::cutoff(now_ms, retention);
            let t = schema.name.clone();
            let (unfinished, wm) = self
                .journal(move |j| Ok((j.unfinished(&t)?, j.watermark(&t)?)))
                .await?;
            let s = schema.clone();
            let min_time = self.hot(move |h| h.min_time(&s)).await?;
            let mut new = Vec::new();
            for w in plan::windows(wm, min_time, cutoff) {
                if unfinished.iter().any(|r| r.window == w) {
                    continue;
                }
                let s = schema.clone();
                let rows = self.hot(move |h| h.count(&s, w)).await?;
                if rows > 0 {
                    new.push(serde_json::json!({ "window": w, "rows": rows }));
                }
            }
            let waiting: Vec<_> = unfinished.iter().map(|r| serde_json::json!({ "batch_id": r.batch_id, "window": r.window, "state": r.state })).collect();
            tables.insert(
                schema.name.clone(),
                serde_json::json!({ "cutoff_ms": cutoff, "waiting": waiting, "new_windows": new }),
            );
        }
        Ok(serde_json::json!({ "dry_run": true, "tables": tables }))
    }

    /// The last run (ended at, report), if any since start.
    pub fn last_run(&self) -> Option<(i64, ArchiveReport)> {
        self.last
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .0
            .clone()
    }

    pub fn next_run(&self) -> Option<i64> {
        self.last.lock().unwrap_or_else(|p| p.into_inner()).1
    }

    pub fn set_next_run(&self, at: Option<i64>) {
        self.last.lock().unwrap_or_else(|p| p.into_inner()).1 = at;
    }

    /// Is a run in progress now?
    pub fn is_running(&self) -> bool {
        self.running.try_lock().is_err()
    }

    async fn run_table(
        &self,
        schema: &TableSchema,
        cutoff: Option<i64>,
        run: &mut RunState,
        report: &mut ArchiveReport,
    ) -> Result<(), ArchiveError> {
        let table = schema.name.clone();
        let mut work: Vec<Work> = Vec::new();
        let t = table.clone();
        let unfinished = self.journal(move |j| j.unfinished(&t)).await?;
        if let Some(cutoff) = cutoff {
            // Close the door first: from here on no row older than the cutoff
            // enters hot, so what we count and export below stays complete.
            let t = table.clone();
            self.journal(move |j| j.raise_floor(&t, cutoff)).await?;
            self.gate.raise(&table, cutoff);
            let t = table.clone();
            let wm = self.journal(move |j| j.watermark(&t)).await?;
            let s = schema.clone();
            let min_time = self.hot(move |h| h.min_time(&s)).await?;
            for window in plan::windows(wm, min_time, cutoff) {
                if !unfinished.iter().any(|r| r.window == window) {
                    work.push(Work::New(window));
                }
            }
        }
        work.extend(unfinished.into_iter().map(|r| Work::Existing(Box::new(r))));
        // Oldest window first: the watermark can only move in order.
        work.sort_by_key(|w| match w {
            Work::New(win) => (win.start, 1),
            Work::Existing(r) => (r.window.start, 0),
        });

        for item in work {
            let rec = match item {
                Work::Existing(rec) => *rec,
                Work::New(window) => {
                    let s = schema.clone();
                    if self.hot(move |h| h.count(&s, window)).await? == 0 {
                        // Nothing to move; the watermark may step over it
                        // only if nothing older is still waiting.
                        if self.may_advance(schema, window.start).await? {
                            let t = table.clone();
                            self.journal(move |j| j.skip_empty(&t, window)).await?;
                            self.watermarks.advance(&table, window.end).await;
                        }
                        continue;
                    }
                    if self.spool.bytes() >= self.budget {
                        tracing::error!(table = %table, spool_bytes = self.spool.bytes(), budget = self.budget, "spool budget reached: export stops, rows stay in hot");
                        report.spool_full = true;
                        return Ok(());
                    }
                    let t = table.clone();
                    self.journal(move |j| {
                        let id = j.plan(&t, window)?;
                        j.get(&id)?
                            .ok_or_else(|| JournalError::Corrupt(format!("batch {id} vanished")))
                    })
                    .await?
                }
            };
            if !self.drive(schema, rec, run, report).await? && run.offline.is_none() {
                // A failed or blocked batch stops this table; while offline
                // we keep exporting into the spool instead.
                break;
            }
        }
        Ok(())
    }

    /// The watermark may move to a window starting at `start` only if the hot
    /// store holds no row between the current watermark and `start`:
    /// otherwise those rows would fall below it and vanish from queries.
    async fn may_advance(&self, schema: &TableSchema, start: i64) -> Result<bool, ArchiveError> {
        let t = schema.name.clone();
        let wm = self.journal(move |j| j.watermark(&t)).await?;
        let from = wm.unwrap_or(i64::MIN);
        if from >= start {
            return Ok(true);
        }
        let s = schema.clone();
        Ok(self
            .hot(move |h| h.count(&s, Window::new(from, start)))
            .await?
            == 0)
    }

    /// Drives one batch towards `Purged`. Returns false when the table should
    /// stop for this run (a failed or blocked batch), true otherwise. While
    /// the link is down it only exports, so the batch waits in the spool.
    async fn drive(
        &self,
        schema: &TableSchema,
        mut rec: BatchRecord,
        run: &mut RunState,
        report: &mut ArchiveReport,
    ) -> Result<bool, ArchiveError> {
        let id = rec.batch_id.clone();
        let mut outcome = BatchOutcome {
            batch_id: id.clone(),
            table: rec.table.clone(),
            window: rec.window,
            rows: rec.hot.map_or(0, |h| h.rows),
            bytes: rec.bytes,
            bytes_sent: 0,
            state: rec.state,
            error: None,
        };
        let keep_going = loop {
            match rec.state {
                BatchState::Planned => {
                    let manifest = self.export(schema, &rec).await?;
                    outcome.rows = manifest.content.rows;
                    outcome.bytes = manifest.total_len;
                    report.bytes_exported += manifest.total_len;
                }
                BatchState::Exported if run.offline.is_some() => {
                    outcome.error = run.offline.clone();
                    report.pending += 1;
                    break true;
                }
                BatchState::Exported => {
                    let sp = self.spool.clone();
                    let i = id.clone();
                    let manifest = tokio::task::spawn_blocking(move || sp.manifest(&i))
                        .await
                        .map_err(|e| ArchiveError::Task(e.to_string()))??;
                    let Some(manifest) = manifest else {
                        // The spool lost it (disk replaced?): export again.
                        tracing::warn!(batch = %id, "spool has no manifest; exporting again");
                        self.export(schema, &rec).await?;
                        rec = self.reload(&id).await?;
                        continue;
                    };
                    let mut sent = 0u64;
                    let delivered = self.link.deliver(&self.spool, &manifest, &mut sent).await;
                    outcome.bytes_sent += sent;
                    report.bytes_sent += sent;
                    match delivered {
                        Ok(d) => {
                            let (i, cold, durable) = (id.clone(), d.cold, d.durable);
                            self.journal(move |j| j.mark_committed(&i, &cold, sent, durable))
                                .await?;
                        }
                        Err(e) => {
                            // The batch stays exported in the spool and hot
                            // keeps its rows; it is retried later.
                            tracing::warn!(batch = %id, error = %e, "delivery failed; will retry");
                            let (i, msg) = (id.clone(), e.to_string());
                            self.journal(move |j| j.note_sent(&i, &msg, sent)).await?;
                            outcome.error = Some(e.to_string());
                            report.pending += 1;
                            if e.is_offline() {
                                run.offline = Some(e.to_string());
                                break true;
                            }
                            break false;
                        }
                    }
                }
                BatchState::Committed => {
                    let (hot, cold) = (rec.hot, rec.cold);
                    if hot.is_some() && hot == cold {
                        if !rec.durable {
                            match self.recheck_after_grace(schema, &rec, run).await? {
                                Recheck::Held(why) => {
                                    outcome.error = Some(why);
                                    report.pending += 1;
                                    report.held += 1;
                                    // Later windows may still be delivered.
                                    break true;
                                }
                                Recheck::Unreachable(why) => {
                                    outcome.error = Some(why);
                                    report.pending += 1;
                                    break true;
                                }
                                Recheck::Differs(msg) => {
                                    self.fail(&mut outcome, report, msg).await?;
                                    break false;
                                }
                                Recheck::Same => {}
                            }
                        }
                        if !self.may_advance(schema, rec.window.start).await? {
                            // An older window is still waiting; this one
                            // confirms after it. Cold rows above the
                            // watermark are never read, so nothing doubles;
                            // later windows may still be delivered meanwhile.
                            outcome.error =
                                Some("waiting for an older window to be confirmed first".into());
                            report.pending += 1;
                            break true;
                        }
                        let i = id.clone();
                        self.journal(move |j| j.mark_confirmed(&i)).await?;
                        if let Some(c) = self.cold_cache.get() {
                            c.invalidate(&rec.table, rec.window);
                        }
                        // Waits for queries that still use the old watermark.
                        self.watermarks.advance(&rec.table, rec.window.end).await;
                    } else {
                        let msg = format!(
                            "cold store holds {} but hot exported {}; nothing deleted",
                            cold.map_or("nothing".into(), |c| c.to_string()),
                            hot.map_or("nothing".into(), |c| c.to_string())
                        );
                        self.fail(&mut outcome, report, msg).await?;
                        break false;
                    }
                }
                BatchState::Confirmed => {
                    if let Some(d) = test_pause_before_purge() {
                        tokio::time::sleep(d).await;
                    }
                    let (s, w, expected) =
                        (schema.clone(), rec.window, rec.hot.map_or(0, |h| h.rows));
                    match self.hot(move |h| h.purge(&s, w, expected)).await {
                        Ok(_) => {}
                        Err(ArchiveError::Hot(e @ HotError::PurgeMismatch { .. })) => {
                            self.fail(&mut outcome, report, e.to_string()).await?;
                            break false;
                        }
                        Err(e) => return Err(e),
                    }
                    let sp = self.spool.clone();
                    let i = id.clone();
                    tokio::task::spawn_blocking(move || sp.remove(&i))
                        .await
                        .map_err(|e| ArchiveError::Task(e.to_string()))??;
                    let i = id.clone();
                    self.journal(move |j| j.mark_purged(&i)).await?;
                    report.rows_archived += expected;
                }
                BatchState::Purged => break true,
                BatchState::Failed => break false,
            }
            rec = self.reload(&id).await?;
            outcome.state = rec.state;
        };
        if outcome.state != BatchState::Failed {
            outcome.state = rec.state;
        }
        report.batches.push(outcome);
        Ok(keep_going)
    }

    /// Marks a batch failed for good: journal first, then the report. Hot
    /// keeps every row of it; the window is planned again next run.
    async fn fail(
        &self,
        outcome: &mut BatchOutcome,
        report: &mut ArchiveReport,
        msg: String,
    ) -> Result<(), ArchiveError> {
        tracing::error!(batch = %outcome.batch_id, "{msg}");
        let (i, m) = (outcome.batch_id.clone(), msg.clone());
        self.journal(move |j| j.mark_failed(&i, &m)).await?;
        outcome.error = Some(msg);
        outcome.state = BatchState::Failed;
        report.failed += 1;
        Ok(())
    }

    async fn reload(&self, id: &str) -> Result<BatchRecord, ArchiveError> {
        let i = id.to_string();
        self.journal(move |j| {
            j.get(&i)?
                .ok_or_else(|| JournalError::Corrupt(format!("batch {i} vanished")))
        })
        .await
    }

    async fn export(
        &self,
        schema: &TableSchema,
        rec: &BatchRecord,
    ) -> Result<hotcold_core::Manifest, ArchiveError> {
        let (hot, spool, s, w, id) = (
            self.hot.clone(),
            self.spool.clone(),
            schema.clone(),
            rec.window,
            rec.batch_id.clone(),
        );
        let settings = ExportSettings {
            chunk_size: self.export.chunk_size,
            zstd_level: self.export.zstd_level,
            segment_rows: self.export.segment_rows,
        };
        // A window planned again after a failure may replace that failed
        // batch's cold copy, and only that.
        let (t, fw) = (rec.table.clone(), rec.window);
        let replaces = self.journal(move |j| j.failed_for(&t, fw)).await?;
        let manifest = tokio::task::spawn_blocking(move || {
            export::export(hot.as_ref(), &spool, &s, w, &id, replaces, &settings)
        })
        .await
        .map_err(|e| ArchiveError::Task(e.to_string()))??;
        let (i, h, b) = (rec.batch_id.clone(), manifest.content, manifest.total_len);
        self.journal(move |j| j.mark_exported(&i, &h, b)).await?;
        Ok(manifest)
    }
}

/// A test hook: `HOTCOLD_TEST_PAUSE_BEFORE_PURGE_MS` holds each confirmed
/// batch that long before its purge, so tests can query in the state
/// between confirm and purge (watermark advanced, hot rows still there).
/// Only with the `test-hooks` feature (the harness enables it).
#[cfg(not(feature = "test-hooks"))]
fn test_pause_before_purge() -> Option<std::time::Duration> {
    None
}

#[cfg(feature = "test-hooks")]
fn test_pause_before_purge() -> Option<std::time::Duration> {
    static PAUSE: std::sync::OnceLock<Option<std::time::Duration>> = std::sync::OnceLock::new();
    *PAUSE.get_or_init(|| {
        std::env::var("HOTCOLD_TEST_PAUSE_BEFORE_PURGE_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .map(std::time::Duration::from_millis)
    })
}
