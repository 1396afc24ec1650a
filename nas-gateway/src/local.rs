//! The gateway inside the cloud's process: the standalone edition, for one
//! machine that keeps both tiers (a NAS with an SSD volume for hot and disks
//! for cold, or a laptop). No link, no certificates, no second program; the
//! same staging (each chunk checked against the manifest's BLAKE3 hash as it
//! is copied in), the same exactly-once commit and ledger, the same
//! read-back the cloud compares before it purges, the same cold queries,
//! the same background committer and retention.
//!
//! The cloud reaches it through `InProcess`, an object-safe face over
//! `Gateway<S>` for whichever cold store the config names.

use crate::cold::{clickhouse::ClickHouseCold, sqlite::SqliteCold, ColdStore};
use crate::config::ColdConfig;
use crate::gateway::{Gateway, RequestError};
use crate::requests::Outcome;
use futures::future::BoxFuture;
use hotcold_core::frame::{ColdQuery, CommitReply, LedgerRecord, QueryEnd, Recheck};
use hotcold_core::manifest::Manifest;
use hotcold_core::units::{ByteSize, Span};
use hotcold_core::RowBatch;
use serde::Deserialize;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::mpsc;

/// The `cold:` section of a standalone `cloud.yaml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct LocalConfig {
    /// Staging and the SQLite cold store live here (put it on the big disks).
    pub data_dir: PathBuf,
    pub store: ColdConfig,
    pub cold_retention: Span,
    pub retention_every: Span,
    pub commit_retry: Span,
    pub staging_budget: ByteSize,
    pub staging_expiry: Span,
}

impl Default for LocalConfig {
    fn default() -> Self {
        let nas = crate::config::NasConfig::default();
        Self {
            data_dir: "data/cold".into(),
            store: nas.cold,
            cold_retention: nas.cold_retention,
            retention_every: nas.retention_every,
            commit_retry: nas.commit_retry,
            staging_budget: nas.staging_budget,
            staging_expiry: nas.staging_expiry,
        }
    }
}

/// Reads one chunk of a batch from wherever the cloud keeps it (its spool).
pub type ChunkFn = Arc<dyn Fn(usize) -> std::io::Result<Vec<u8>> + Send + Sync>;

/// What the cloud asks of an in-process gateway. Errors are the texts the
/// link would have carried in its `Error` frame.
pub trait InProcess: Send + Sync {
    /// Stages the chunks staging lacks, then commits: the offer of the link
    /// protocol without the wire.
    fn deliver(&self, m: Manifest, chunks: ChunkFn) -> BoxFuture<'_, Result<Outcome, String>>;
    fn recheck(&self, r: Recheck) -> BoxFuture<'_, Result<CommitReply, String>>;
    fn ledger(&self, ids: Vec<String>) -> BoxFuture<'_, Result<Vec<LedgerRecord>, String>>;
    fn ledger_after(
        &self,
        q: hotcold_core::frame::LedgerAfter,
    ) -> BoxFuture<'_, Result<Vec<LedgerRecord>, String>>;
    /// A snapshot of the cold store into the snapshot directory `dir`
    /// (the standalone edition's half of a snapshot).
    fn snapshot(
        &self,
        dir: std::path::PathBuf,
    ) -> BoxFuture<'_, Result<hotcold_core::frame::ColdSnapshotReply, String>>;
    /// Restores snapshot `id` of `dir` into the cold store (which must not
    /// hold its windows under other batches); the rows restored.
    fn restore_snapshot(
        &self,
        dir: std::path::PathBuf,
        id: String,
    ) -> BoxFuture<'_, Result<u64, String>>;
    /// Streams the answer's batches into `out` (no byte bound: that one
    /// protects the link, and there is none).
    fn query(
        &self,
        q: ColdQuery,
        out: mpsc::Sender<RowBatch>,
    ) -> BoxFuture<'_, Result<QueryEnd, String>>;
}

fn text(e: RequestError) -> String {
    e.to_string()
}

impl<S: ColdStore> InProcess for Gateway<S> {
    fn deliver(&self, m: Manifest, chunks: ChunkFn) -> BoxFuture<'_, Result<Outcome, String>> {
        Box::pin(async move { deliver(self, m, chunks).await.map_err(text) })
    }

    fn recheck(&self, r: Recheck) -> BoxFuture<'_, Result<CommitReply, String>> {
        Box::pin(async move { Gateway::recheck(self, r).await.map_err(text) })
    }

    fn ledger(&self, ids: Vec<String>) -> BoxFuture<'_, Result<Vec<LedgerRecord>, String>> {
        Box::pin(async move { self.ledger_records(ids).await.map_err(text) })
    }

    fn ledger_after(
        &self,
        q: hotcold_core::frame::LedgerAfter,
    ) -> BoxFuture<'_, Result<Vec<LedgerRecord>, String>> {
        Box::pin(async move { Gateway::ledger_after(self, q).await.map_err(text) })
    }

    fn snapshot(
        &self,
        dir: std::path::PathBuf,
    ) -> BoxFuture<'_, Result<hotcold_core::frame::ColdSnapshotReply, String>> {
        Box::pin(async move {
            let snaps = hotcold_snapshot::SnapshotStore::open(&dir).map_err(|e| e.to_string())?;
            let m = crate::snapshot::create(&self.store, &snaps, |_, _| {})
                .await
                .map_err(|e| e.to_string())?;
            Ok(crate::snapshot::reply(&m))
        })
    }

    fn restore_snapshot(
        &self,
        dir: std::path::PathBuf,
        id: String,
    ) -> BoxFuture<'_, Result<u64, String>> {
        Box::pin(async move {
            let snaps = hotcold_snapshot::SnapshotStore::open(&dir).map_err(|e| e.to_string())?;
            let r = crate::snapshot::restore(&self.store, &snaps, &id, |_, _| {})
                .await
                .map_err(|e| e.to_string())?;
            Ok(r.rows)
        })
    }

    fn query(
        &self,
        q: ColdQuery,
        out: mpsc::Sender<RowBatch>,
    ) -> BoxFuture<'_, Result<QueryEnd, String>> {
        Box::pin(async move {
            let p = self.prepare_query(&q).await.map_err(text)?;
            let read = self
                .store
                .query(&q.schema, &p.plan, q.window, q.limit, out)
                .await;
            let rows = self.finish_query(&p, read).map_err(text)?;
            Ok(QueryEnd {
                rows,
                truncated: rows >= q.limit,
            })
        })
    }
}

async fn deliver<S: ColdStore>(
    gw: &Gateway<S>,
    m: Manifest,
    chunks: ChunkFn,
) -> Result<Outcome, RequestError> {
    let refuse = |e: &dyn std::fmt::Display| RequestError::Refused(e.to_string());
    m.validate()
        .map_err(|e| RequestError::Refused(format!("bad manifest: {e}")))?;
    let Some(_guard) = gw.claim(&m.batch_id) else {
        return Err(RequestError::Refused(format!(
            "batch {} is already being committed",
            m.batch_id
        )));
    };
    // As on the link: an unreadable ledger (cold store down) must not stop
    // staging; the commit then answers `Stored`.
    let already = matches!(gw.store.ledger_get(&m.batch_id).await, Ok(Some(_)));
    let staged = gw.staging.batch(&m).map_err(|e| refuse(&e))?;
    if !already {
        let h = staged.clone_handle();
        tokio::task::spawn_blocking(move || {
            for i in h.missing().map_err(|e| e.to_string())? {
                let data = chunks(i as usize)
                    .map_err(|e| format!("reading chunk {i} from the spool: {e}"))?;
                // Checked against the manifest's hash, as a received chunk is.
                h.write_chunk(i, &data).map_err(|e| e.to_string())?;
            }
            Ok::<(), String>(())
        })
        .await
        .map_err(|e| refuse(&e))?
        .map_err(RequestError::Refused)?;
    }
    gw.commit_staged(&m, &staged).await
}

/// A started in-process gateway; dropping it stops its background tasks.
pub struct Local {
    pub gateway: Arc<dyn InProcess>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Local {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Opens the cold store and staging under `cfg.data_dir` and starts the
/// committer and retention, as `nas-gateway serve` does without the link.
pub async fn start(cfg: &LocalConfig) -> anyhow::Result<Local> {
    use anyhow::Context;
    std::fs::create_dir_all(&cfg.data_dir)
        .with_context(|| format!("cannot create cold data dir {}", cfg.data_dir.display()))?;
    match &cfg.store {
        ColdConfig::Sqlite { path } => {
            let path = path.clone().unwrap_or_else(|| cfg.data_dir.join("cold.db"));
            let store = SqliteCold::open(&path)
                .with_context(|| format!("cold store {}", path.display()))?;
            start_with(cfg, store)
        }
        ColdConfig::Clickhouse(c) => {
            let store = ClickHouseCold::connect(c)
                .await
                .with_context(|| format!("cold store ClickHouse at {}", c.url))?;
            start_with(cfg, store)
        }
    }
}

fn start_with<S: ColdStore>(cfg: &LocalConfig, store: S) -> anyhow::Result<Local> {
    let staging = crate::staging::Staging::open(
        cfg.data_dir.join("staging"),
        cfg.staging_budget.0,
        cfg.staging_expiry.0,
    )?;
    // No frames cross a wire here; the bound only has to admit a manifest.
    let gw = Arc::new(Gateway::new(store, staging, usize::MAX));
    let tasks = vec![
        tokio::spawn(crate::committer::committer(gw.clone(), cfg.commit_retry.0)),
        tokio::spawn(crate::retention::run(
            gw.clone(),
            cfg.cold_retention.0,
            cfg.retention_every.0,
        )),
    ];
    Ok(Local { gateway: gw, tasks })
}
