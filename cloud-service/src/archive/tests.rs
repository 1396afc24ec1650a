//! The steps in-process, against the real parts they write: a SQLite hot
//! store, the journal's SQLite file and the spool, in a tempdir. The link
//! client is real too but never reached: these tests stop short of a
//! delivery (offline, a lost spool) or start after one, by writing the
//! gateway's answer into the journal as `transfer` would.

use super::*;
use crate::hot::sqlite::SqliteHot;
use hotcold_core::schema::{LogicalType, Window, DAY_MS};
use hotcold_core::{ContentHash, RowBatch, Value};
use std::collections::HashMap;

pub(super) struct Fixture {
    _dir: tempfile::TempDir,
    pub(super) archiver: Archiver,
    pub(super) schema: TableSchema,
}

fn fixture(purge_grace: Duration, spool_budget: u64) -> Fixture {
    fixture_with(None, purge_grace, spool_budget)
}

/// The parts in a tempdir; `link` is the NAS side (a real link client
/// that never reaches anyone when `None`).
pub(super) fn fixture_with(
    link: Option<Arc<dyn ColdLink>>,
    purge_grace: Duration,
    spool_budget: u64,
) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let schema = TableSchema::new(
        "trades",
        "ts",
        &[
            ("ts", LogicalType::TimestampMs),
            ("price", LogicalType::Float64),
        ],
    );
    let hot = SqliteHot::open(dir.path().join("hot.db")).unwrap();
    hot.ensure_table(&schema).unwrap();
    let certs = dir.path().join("certs");
    crate::certs::init(&certs, "steps").unwrap();
    let mut cfg = CloudConfig::default();
    cfg.link.ca = certs.join("ca.pem");
    cfg.link.cert = certs.join("cloud-service.pem");
    cfg.link.key = certs.join("cloud-service.key");
    let archiver = Archiver::new(ArchiverParts {
        cloud_id: super::new_cloud_id(),
        tables: vec![schema.clone()],
        hot: Arc::new(hot),
        journal: Journal::open(&dir.path().join("journal.db")).unwrap(),
        spool: Spool::open(dir.path().join("spool")).unwrap(),
        link: link.unwrap_or_else(|| {
            crate::link::LinkClient::new(cfg.link.clone(), &cfg.tls_files()).unwrap()
        }),
        gate: Arc::new(IngestGate::new(HashMap::new())),
        watermarks: Arc::new(Watermarks::new(HashMap::new())),
        settings: ArchiveSettings {
            spool_budget,
            purge_grace,
            ..ArchiveSettings::from_config(&cfg)
        },
        alerter: None,
        cold_cache: None,
    });
    Fixture {
        _dir: dir,
        archiver,
        schema,
    }
}

pub(super) fn day(d: i64) -> Window {
    Window::new(d * DAY_MS, (d + 1) * DAY_MS)
}

fn new_run() -> RunState {
    RunState {
        offline: None,
        report: ArchiveReport::default(),
    }
}

impl Fixture {
    pub(super) fn insert(&self, window: Window, n: i64) {
        let mut b = RowBatch::new(&self.schema);
        for i in 0..n {
            let ts = window.start + i * 1000;
            b.push_row(vec![Value::I64(ts), Value::F64(100.0 + i as f64)])
                .unwrap();
        }
        self.archiver.hot.insert(&self.schema, &b).unwrap();
    }

    pub(super) fn hot_rows(&self, window: Window) -> u64 {
        self.archiver.hot.count(&self.schema, window).unwrap()
    }

    pub(super) fn journal(&self) -> std::sync::MutexGuard<'_, Journal> {
        self.archiver.journal.lock().unwrap()
    }

    fn record(&self, id: &str) -> BatchRecord {
        self.journal().get(id).unwrap().unwrap()
    }

    fn planned(&self, window: Window) -> BatchRecord {
        let id = self.journal().plan("trades", window).unwrap();
        self.record(&id)
    }

    /// Runs one step on a batch as the dispatcher would.
    async fn step(&self, rec: BatchRecord, run: &mut RunState) -> (Step, Batch<'_>) {
        let mut b = Batch {
            schema: &self.schema,
            outcome: BatchOutcome::starting(&rec),
            rec,
        };
        let a = &self.archiver;
        let step = match b.rec.state {
            BatchState::Planned => a.export_batch(&mut b, run).await,
            BatchState::Exported => a.transfer_batch(&mut b, run).await,
            BatchState::Committed => a.confirm_batch(&mut b, run).await,
            BatchState::Confirmed => a.purge_batch(&mut b, run).await,
            s => panic!("no step for {s}"),
        }
        .unwrap();
        (step, b)
    }

    /// A batch exported for real, then the gateway's answer as `transfer`
    /// records it.
    async fn committed(&self, window: Window, cold: Option<ContentHash>, durable: bool) -> String {
        let (_, b) = self.step(self.planned(window), &mut new_run()).await;
        let id = b.rec.batch_id;
        let hot = self.record(&id).hot.unwrap();
        let cold = cold.unwrap_or(hot);
        self.journal()
            .mark_committed(&id, &cold, 10, durable)
            .unwrap();
        id
    }

    /// Runs the confirm step on a committed batch that must wait for
    /// `why`: nothing confirmed, no watermark.
    async fn confirm_waits(&self, id: &str, why: &str) -> RunState {
        let mut run = new_run();
        let (step, b) = self.step(self.record(id), &mut run).await;
        assert!(matches!(step, Step::Wait));
        let error = b.outcome.error.unwrap_or_default();
        assert!(error.contains(why), "{error}");
        assert_eq!(self.record(id).state, BatchState::Committed);
        assert_eq!(self.journal().watermark("trades").unwrap(), None);
        run
    }
}

#[tokio::test]
async fn export_spools_the_window_and_records_its_hash() {
    let fx = fixture(Duration::ZERO, u64::MAX);
    fx.insert(day(0), 100);
    fx.insert(day(1), 5);
    let mut run = new_run();
    let (step, b) = fx.step(fx.planned(day(0)), &mut run).await;
    assert!(matches!(step, Step::Next));
    let rec = fx.record(&b.rec.batch_id);
    assert_eq!(rec.state, BatchState::Exported);
    let manifest = fx.archiver.spool.manifest(&rec.batch_id).unwrap().unwrap();
    assert_eq!(rec.hot, Some(manifest.content));
    assert_eq!(manifest.content.rows, 100, "only the window's rows");
    assert_eq!(rec.bytes, manifest.total_len);
    assert_eq!(
        (b.outcome.rows, run.report.bytes_exported),
        (100, rec.bytes)
    );
}

#[tokio::test]
async fn offline_the_batch_waits_in_the_spool() {
    let fx = fixture(Duration::ZERO, u64::MAX);
    fx.insert(day(0), 10);
    let (_, b) = fx.step(fx.planned(day(0)), &mut new_run()).await;
    let mut run = new_run();
    run.offline = Some("gateway unreachable".into());
    let (step, b) = fx.step(fx.record(&b.rec.batch_id), &mut run).await;
    assert!(matches!(step, Step::Wait));
    assert_eq!(b.outcome.error.as_deref(), Some("gateway unreachable"));
    assert_eq!((run.report.pending, run.report.bytes_sent), (1, 0));
    assert_eq!(fx.record(&b.rec.batch_id).state, BatchState::Exported);
    assert!(fx
        .archiver
        .spool
        .manifest(&b.rec.batch_id)
        .unwrap()
        .is_some());
    assert_eq!(fx.hot_rows(day(0)), 10);
}

#[tokio::test]
async fn a_spool_that_lost_the_batch_exports_it_again() {
    let fx = fixture(Duration::ZERO, u64::MAX);
    fx.insert(day(0), 10);
    let (_, b) = fx.step(fx.planned(day(0)), &mut new_run()).await;
    let id = b.rec.batch_id;
    fx.archiver.spool.remove(&id).unwrap();
    let (step, _) = fx.step(fx.record(&id), &mut new_run()).await;
    assert!(matches!(step, Step::Next));
    let m = fx.archiver.spool.manifest(&id).unwrap().unwrap();
    let rec = fx.record(&id);
    assert_eq!(
        (rec.state, rec.hot),
        (BatchState::Exported, Some(m.content))
    );
}

#[tokio::test]
async fn a_matching_durable_commit_confirms_and_moves_the_watermark() {
    let fx = fixture(Duration::from_secs(3600), u64::MAX);
    fx.insert(day(0), 10);
    let id = fx.committed(day(0), None, true).await;
    let (step, _) = fx.step(fx.record(&id), &mut new_run()).await;
    assert!(matches!(step, Step::Next));
    assert_eq!(fx.record(&id).state, BatchState::Confirmed);
    assert_eq!(fx.journal().watermark("trades").unwrap(), Some(day(0).end));
    let wm = fx.archiver.watermarks.read().await.get("trades").copied();
    assert_eq!(wm, Some(day(0).end));
    assert_eq!(fx.hot_rows(day(0)), 10, "confirm deletes nothing");
}

#[tokio::test]
async fn a_differing_commit_fails_and_deletes_nothing() {
    let fx = fixture(Duration::ZERO, u64::MAX);
    fx.insert(day(0), 10);
    let short = ContentHash { rows: 9, sum: 1 };
    let id = fx.committed(day(0), Some(short), true).await;
    let mut run = new_run();
    let (step, b) = fx.step(fx.record(&id), &mut run).await;
    assert!(matches!(step, Step::Halt));
    let rec = fx.record(&id);
    assert_eq!(rec.state, BatchState::Failed);
    assert!(rec.error.unwrap().contains("nothing deleted"));
    assert_eq!(
        (b.outcome.state, run.report.failed),
        (BatchState::Failed, 1)
    );
    assert_eq!(fx.journal().watermark("trades").unwrap(), None);
    assert_eq!(fx.hot_rows(day(0)), 10);
}

#[tokio::test]
async fn a_commit_not_on_disk_is_held_for_the_grace() {
    let fx = fixture(Duration::from_secs(3600), u64::MAX);
    fx.insert(day(0), 10);
    let id = fx.committed(day(0), None, false).await;
    let run = fx.confirm_waits(&id, "held until").await;
    assert_eq!((run.report.held, run.report.pending), (1, 1));
}

#[tokio::test]
async fn an_older_window_still_in_hot_holds_the_watermark() {
    let fx = fixture(Duration::ZERO, u64::MAX);
    fx.insert(day(0), 3);
    fx.insert(day(1), 10);
    let id = fx.committed(day(1), None, true).await;
    let run = fx.confirm_waits(&id, "older window").await;
    assert_eq!((run.report.held, run.report.pending), (0, 1));
}

#[tokio::test]
async fn drive_takes_a_committed_batch_to_purged_and_only_its_window() {
    let fx = fixture(Duration::ZERO, u64::MAX);
    fx.insert(day(0), 10);
    fx.insert(day(1), 4);
    let id = fx.committed(day(0), None, true).await;
    let mut run = new_run();
    let keep_going = fx
        .archiver
        .drive(&fx.schema, fx.record(&id), &mut run)
        .await
        .unwrap();
    assert!(keep_going);
    assert_eq!(fx.record(&id).state, BatchState::Purged);
    assert_eq!(run.report.batches.len(), 1);
    assert_eq!(run.report.batches[0].state, BatchState::Purged);
    assert_eq!(run.report.rows_archived, 10);
    assert_eq!((fx.hot_rows(day(0)), fx.hot_rows(day(1))), (0, 4));
    assert!(fx.archiver.spool.manifest(&id).unwrap().is_none());
}

#[tokio::test]
async fn an_empty_window_moves_the_watermark_without_a_batch() {
    let fx = fixture(Duration::ZERO, u64::MAX);
    let planned = fx.archiver.plan_batch(&fx.schema, day(0)).await.unwrap();
    assert!(matches!(planned, plan::Planned::Empty));
    assert_eq!(fx.journal().watermark("trades").unwrap(), Some(day(0).end));
    assert!(fx.journal().unfinished("trades").unwrap().is_empty());
}

#[tokio::test]
async fn a_full_spool_stops_planning_and_says_so() {
    let fx = fixture(Duration::ZERO, 0);
    fx.insert(day(0), 10);
    let planned = fx.archiver.plan_batch(&fx.schema, day(0)).await.unwrap();
    assert!(matches!(planned, plan::Planned::SpoolFull));
    assert!(fx.journal().unfinished("trades").unwrap().is_empty());
    assert_eq!(fx.hot_rows(day(0)), 10);
}

#[tokio::test]
async fn preview_plans_nothing() {
    let fx = fixture(Duration::ZERO, u64::MAX);
    fx.insert(day(0), 10);
    let now = 30 * DAY_MS;
    let p = fx.archiver.preview(now).await.unwrap();
    let t = &p["tables"]["trades"];
    assert_eq!(t["new_windows"][0]["rows"], 10);
    let retention = fx.archiver.settings.retention_ms;
    assert_eq!(t["cutoff_ms"], plan::cutoff(now, retention));
    assert!(fx.journal().floors().unwrap().is_empty(), "no floor raised");
    assert!(fx.journal().unfinished("trades").unwrap().is_empty());
}

/// A run dropped while one of its blocking steps runs (a request the
/// client gave up on) leaves that step going; the next run must not start
/// its own steps until it ended, or both would write one spool file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_waits_for_the_blocking_steps_of_a_dropped_one() {
    let (entered_tx, entered_rx) = std::sync::mpsc::channel::<()>();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let step = tokio::spawn(blocking(move || {
        let _ = entered_tx.send(());
        let _ = release_rx.recv();
        Ok(())
    }));
    tokio::task::spawn_blocking(move || entered_rx.recv())
        .await
        .unwrap()
        .unwrap();
    // The run awaiting the step is dropped; its thread goes on.
    step.abort();
    let next = tokio::spawn(after_earlier_steps());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !next.is_finished(),
        "the next run started while a step of the dropped one still ran"
    );
    release_tx.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), next)
        .await
        .expect("the next run starts once the step ended")
        .unwrap();
}
