//! The archive run: steps 1-6 of ARCHITECTURE.md for every declared table.
//!
//! The files here follow one batch in the order its data flows: `plan`,
//! `export` (into the `spool`), `transfer`, `confirm` (with `grace` for a
//! commit that was not yet on disk), `purge`; the `journal` records each
//! step, `report` tells what a run did.
//!
//! Why a dispatcher: each state is in the journal before the step that
//! depends on it starts, so the state alone says what to do next. A run
//! interrupted anywhere resumes where it stopped by reading the state back
//! and calling the step for it; unfinished batches are driven first,
//! oldest window first, before new windows are planned.

mod confirm;
mod error;
mod export;
#[cfg(test)]
mod gateway_tests;
mod grace;
mod journal;
mod lease;
mod pipeline;
mod plan;
mod purge;
mod report;
mod spool;
#[cfg(test)]
mod tests;
mod transfer;

pub use error::ArchiveError;
pub(crate) use export::ExportSettings;
pub(crate) use journal::{BatchRecord, Journal, JournalMirror, MirrorWrite};
pub use journal::{BatchState, JournalError};
pub(crate) use lease::ArchiveLease;
pub(crate) use report::Counters;
pub use report::{ArchiveReport, BatchOutcome};
pub use spool::Spool;
pub use transfer::ColdLink;

use crate::alerts::Alerter;
use crate::cache::ColdCache;
use crate::config::CloudConfig;
use crate::gate::IngestGate;
use crate::hot::{HotError, HotStore};
use crate::watermarks::Watermarks;
use hotcold_core::schema::TableSchema;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How the archive behaves, from the configuration.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ArchiveSettings {
    /// The hot retention of tables that do not set their own.
    pub retention_ms: i64,
    pub export: ExportSettings,
    /// The spool's disk budget in bytes: export stops there.
    pub spool_budget: u64,
    /// How long a commit that was not on disk when it was answered waits
    /// before it is read back again and purged.
    pub purge_grace: Duration,
}

impl ArchiveSettings {
    pub(crate) fn from_config(cfg: &CloudConfig) -> Self {
        Self {
            retention_ms: cfg.hot_retention.0.as_millis() as i64,
            export: ExportSettings {
                chunk_size: cfg.link.chunk_size.0 as u32,
                zstd_level: cfg.archive.zstd_level,
                segment_rows: cfg.archive.segment_rows,
            },
            spool_budget: cfg.archive.spool_budget.0,
            purge_grace: cfg.archive.purge_grace.0,
        }
    }
}

/// What an archiver is made of, each part named where it is built.
pub(crate) struct ArchiverParts {
    pub tables: Vec<TableSchema>,
    pub hot: Arc<dyn HotStore>,
    pub journal: Journal,
    pub spool: Spool,
    pub link: Arc<dyn ColdLink>,
    pub gate: Arc<IngestGate>,
    pub watermarks: Arc<Watermarks>,
    pub settings: ArchiveSettings,
    /// Where failed batches and a full spool are reported.
    pub alerter: Option<Arc<Alerter>>,
    /// Cached cold answers over a window are dropped when it is confirmed.
    pub cold_cache: Option<Arc<ColdCache>>,
    /// This cloud's identity, sent in every manifest (`new_cloud_id`).
    pub cloud_id: String,
}

/// A fresh cloud identity: `c-` and 16 random hex digits. Made once per
/// cloud (kept in the journal, or in ZooKeeper for a cluster) and sent in
/// every manifest, so a gateway can tell a second cloud from the first and
/// refuse it: two clouds archive the same windows under the same batch ids.
pub(crate) fn new_cloud_id() -> String {
    format!("c-{:016x}", rand::random::<u64>())
}

pub struct Archiver {
    tables: Vec<TableSchema>,
    pub(crate) hot: Arc<dyn HotStore>,
    pub(crate) journal: Arc<Mutex<Journal>>,
    pub(crate) spool: Spool,
    link: Arc<dyn ColdLink>,
    gate: Arc<IngestGate>,
    watermarks: Arc<Watermarks>,
    pub(crate) settings: ArchiveSettings,
    alerter: Option<Arc<Alerter>>,
    cold_cache: Option<Arc<ColdCache>>,
    pub(crate) cloud_id: String,
    running: tokio::sync::Mutex<()>,
    /// Set from start until the reconcile after a restore is done: runs
    /// answer `AlreadyRunning` meanwhile, so nothing plans a window the
    /// cold ledger may already hold under another id.
    restore_hold: std::sync::atomic::AtomicBool,
    /// The last run's report and when it ended; the next scheduled start.
    last: Mutex<RunTimes>,
    pub(crate) counters: Counters,
    /// The cluster edition's leader lease (`lease.rs`); unset alone.
    lease: std::sync::OnceLock<Arc<dyn ArchiveLease>>,
}

/// The last run (ended at, report) and the next scheduled start.
type RunTimes = (Option<(i64, ArchiveReport)>, Option<i64>);

/// What one run has learnt so far, and its report.
struct RunState {
    /// Set once the NAS side is unreachable: later batches only export.
    offline: Option<String>,
    report: ArchiveReport,
}

impl RunState {
    /// The batch waits for a later run (or pass), for `why`; its rows stay
    /// in hot, and later windows of the table may still go on.
    fn wait(&mut self, b: &mut Batch<'_>, why: String) -> Step {
        b.outcome.error = Some(why);
        self.report.pending += 1;
        Step::Wait
    }
}

/// One batch as `drive` carries it from step to step: its journal record
/// as last read back, and what the report will say of it.
struct Batch<'a> {
    schema: &'a TableSchema,
    rec: BatchRecord,
    outcome: BatchOutcome,
}

/// What a step leaves the dispatcher to do.
enum Step {
    /// The journal holds the batch's next state: read it back, go on.
    Next,
    /// The batch waits; the table's later batches may go on.
    Wait,
    /// The batch failed or is blocked: the table stops for this run.
    Halt,
}

impl Archiver {
    pub(crate) fn new(p: ArchiverParts) -> Self {
        Self {
            tables: p.tables,
            hot: p.hot,
            journal: Arc::new(Mutex::new(p.journal)),
            spool: p.spool,
            link: p.link,
            gate: p.gate,
            watermarks: p.watermarks,
            settings: p.settings,
            alerter: p.alerter,
            cold_cache: p.cold_cache,
            cloud_id: p.cloud_id,
            running: tokio::sync::Mutex::new(()),
            restore_hold: Default::default(),
            last: Mutex::new((None, None)),
            counters: Counters::default(),
            lease: std::sync::OnceLock::new(),
        }
    }

    /// Runs a blocking journal operation off the async threads.
    async fn journal<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Journal) -> Result<T, JournalError> + Send + 'static,
    ) -> Result<T, ArchiveError> {
        let j = self.journal.clone();
        blocking(move || {
            let mut g = j
                .lock()
                .map_err(|_| ArchiveError::Task("journal mutex poisoned".into()))?;
            Ok(f(&mut g)?)
        })
        .await
    }

    async fn hot<T: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn HotStore) -> Result<T, HotError> + Send + 'static,
    ) -> Result<T, ArchiveError> {
        let h = self.hot.clone();
        blocking(move || Ok(f(h.as_ref())?)).await
    }

    /// Archives every window older than the hot retention, for every table.
    /// Never two runs at once: a second caller gets `AlreadyRunning`.
    pub async fn run(&self, now_ms: i64) -> Result<ArchiveReport, ArchiveError> {
        let _running = self
            .running
            .try_lock()
            .map_err(|_| ArchiveError::AlreadyRunning)?;
        if self.restore_hold.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(ArchiveError::AlreadyRunning);
        }
        after_earlier_steps().await;
        self.check_lease()?;
        self.under_lease(self.run_locked(Some(now_ms))).await
    }

    /// Holds every run off until `release_restore_hold` (see `restore_hold`).
    pub(crate) fn hold_for_restore(&self, on: bool) {
        self.restore_hold
            .store(on, std::sync::atomic::Ordering::SeqCst);
    }

    /// Holds off every archive run (and resync) while the guard lives:
    /// reconcile changes the journal under it. `AlreadyRunning` if a run
    /// is going on now.
    pub(crate) fn exclusive(&self) -> Result<tokio::sync::MutexGuard<'_, ()>, ArchiveError> {
        self.running
            .try_lock()
            .map_err(|_| ArchiveError::AlreadyRunning)
    }

    /// Resync: drives the batches already planned (the offline queue),
    /// oldest window first, without planning new ones.
    pub async fn drain(&self) -> Result<ArchiveReport, ArchiveError> {
        let _running = self
            .running
            .try_lock()
            .map_err(|_| ArchiveError::AlreadyRunning)?;
        if self.restore_hold.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(ArchiveError::AlreadyRunning);
        }
        after_earlier_steps().await;
        self.check_lease()?;
        self.under_lease(self.run_locked(None)).await
    }

    /// With `now_ms`, plans new windows older than each table's retention;
    /// without, only drives what is already planned.
    async fn run_locked(&self, now_ms: Option<i64>) -> Result<ArchiveReport, ArchiveError> {
        let started = Instant::now();
        let mut run = RunState {
            offline: None,
            report: ArchiveReport {
                cutoff_ms: now_ms.map_or(0, |n| plan::cutoff(n, self.settings.retention_ms)),
                ..Default::default()
            },
        };
        for schema in self.tables.clone() {
            let cutoff = now_ms.map(|n| self.table_cutoff(&schema, n));
            if let Some(c) = cutoff {
                run.report.cutoffs.insert(schema.name.clone(), c);
            }
            // One table's failure (a server refusing a statement, an
            // unreadable partition key) is reported and the others go on.
            if let Err(e) = self.run_table(&schema, cutoff, &mut run).await {
                tracing::error!(table = %schema.name, error = %e, "archive of the table stopped");
                run.report
                    .table_errors
                    .insert(schema.name.clone(), e.to_string());
                run.report.failed += 1;
            }
        }
        let mut report = run.report;
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

    /// The last run (ended at, report), if any since start.
    pub fn last_run(&self) -> Option<(i64, ArchiveReport)> {
        self.last
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .0
            .clone()
    }

    pub(crate) fn next_run(&self) -> Option<i64> {
        self.last.lock().unwrap_or_else(|p| p.into_inner()).1
    }

    pub(crate) fn set_next_run(&self, at: Option<i64>) {
        self.last.lock().unwrap_or_else(|p| p.into_inner()).1 = at;
    }

    /// Drives one batch towards `Purged`, one step per state, each in its
    /// step's file. Returns false when the table should stop for this run
    /// (a failed or blocked batch), true otherwise.
    async fn drive(
        &self,
        schema: &TableSchema,
        rec: BatchRecord,
        run: &mut RunState,
    ) -> Result<bool, ArchiveError> {
        let outcome = BatchOutcome::starting(&rec);
        let mut b = Batch {
            schema,
            rec,
            outcome,
        };
        let keep_going = loop {
            let step = match b.rec.state {
                BatchState::Planned => self.export_batch(&mut b, run).await?,
                BatchState::Exported => self.transfer_batch(&mut b, run).await?,
                BatchState::Committed => self.confirm_batch(&mut b, run).await?,
                BatchState::Confirmed => self.purge_batch(&mut b, run).await?,
                BatchState::Purged => break true,
                BatchState::Failed => break false,
            };
            match step {
                Step::Next => {
                    b.rec = self.reload(&b.rec.batch_id).await?;
                    b.outcome.state = b.rec.state;
                }
                Step::Wait => break true,
                Step::Halt => break false,
            }
        };
        if b.outcome.state != BatchState::Failed {
            b.outcome.state = b.rec.state;
        }
        run.report.batches.push(b.outcome);
        Ok(keep_going)
    }

    /// Marks a batch failed for good: journal first, then the report. Hot
    /// keeps every row of it; the window is planned again next run.
    async fn fail(
        &self,
        b: &mut Batch<'_>,
        run: &mut RunState,
        msg: String,
    ) -> Result<Step, ArchiveError> {
        tracing::error!(batch = %b.rec.batch_id, "{msg}");
        let (i, m) = (b.rec.batch_id.clone(), msg.clone());
        self.journal(move |j| j.mark_failed(&i, &m)).await?;
        b.outcome.error = Some(msg);
        b.outcome.state = BatchState::Failed;
        run.report.failed += 1;
        Ok(Step::Halt)
    }

    async fn reload(&self, id: &str) -> Result<BatchRecord, ArchiveError> {
        let i = id.to_string();
        self.journal(move |j| {
            j.get(&i)?
                .ok_or_else(|| JournalError::Corrupt(format!("batch {i} vanished")))
        })
        .await
    }
}

/// Blocking steps in flight. A run dropped half-way (its request cancelled
/// by the client, its time limit, a lost lease) cannot stop a step already
/// on a blocking thread: an export keeps writing its spool file. Each step
/// holds a read guard until it ends, and a run takes the write side once
/// before its first step, so it starts only after every step of an earlier
/// run has finished: two runs never write one spool file at once.
static IN_FLIGHT: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

/// Waits until no blocking step of an earlier run is still going.
async fn after_earlier_steps() {
    drop(IN_FLIGHT.write().await);
}

/// Runs blocking work (SQLite, the spool's files) off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ArchiveError> + Send + 'static,
) -> Result<T, ArchiveError> {
    let step = IN_FLIGHT.read().await;
    tokio::task::spawn_blocking(move || {
        let _step = step;
        f()
    })
    .await
    .map_err(|e| ArchiveError::Task(e.to_string()))?
}
