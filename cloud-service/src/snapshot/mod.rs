//! Snapshots of the cloud's tier: the hot store and the journal (with its
//! floors and watermarks) at one point, kept in `snapshot.dir`, and the
//! restore that turns one back into a data directory.
//!
//! `point.rs` fixes the point (the levels), `copy.rs` copies what it sees,
//! `restore.rs` goes the other way. The cold tier is the NAS's own
//! snapshot (`nas-gateway snapshot`): cold windows never change after
//! their commit, so the gateway's ledger is its manifest.

pub mod backup;
pub mod cli;
mod copy;
mod point;
pub mod reconcile;
pub mod restore;
pub mod restore_store;
#[cfg(test)]
mod tests;

use crate::api::AppState;
use crate::config::{CloudConfig, HotConfig};
use hotcold_core::schema::Window;
use hotcold_core::snapshot::{Level, Side, SnapshotManifest, FORMAT};
use hotcold_snapshot::{SnapshotStore, StoreError};
use std::path::PathBuf;
use std::sync::Arc;

pub use point::PointError;

#[derive(Debug, thiserror::Error)]
pub enum SnapshotFail {
    /// Not built for this edition (a ClickHouse hot store, a cluster).
    #[error("{0}")]
    Unsupported(String),
    #[error(transparent)]
    Point(#[from] PointError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("{0}")]
    HotSqlite(#[from] hotcold_sqlite::SqliteError),
    #[error("hot store: {0}")]
    Hot(#[from] crate::hot::HotError),
    #[error("{0}")]
    Io(String),
    /// A day read twice in one read transaction differed: a bug.
    #[error("table {table} window {window} changed inside one read transaction")]
    Changed { table: String, window: Window },
    #[error("snapshot task failed: {0}")]
    Task(String),
}

/// The hot SQLite file this config uses, or why snapshots cannot cover it.
pub fn hot_path(cfg: &CloudConfig) -> Result<PathBuf, SnapshotFail> {
    match hot_source(cfg)? {
        HotSource::Sqlite(p) => Ok(p),
        HotSource::Store => Err(SnapshotFail::Unsupported(
            "this needs a SQLite hot store".into(),
        )),
    }
}

/// How the hot store is copied: a SQLite file through a read transaction,
/// or a ClickHouse store through its own reads under a hold.
pub enum HotSource {
    Sqlite(PathBuf),
    Store,
}

pub fn hot_source(cfg: &CloudConfig) -> Result<HotSource, SnapshotFail> {
    if cfg.cluster.is_some() {
        return Err(SnapshotFail::Unsupported(
            "snapshots of the cluster edition are not built yet: its journal is in ZooKeeper"
                .into(),
        ));
    }
    Ok(match &cfg.hot {
        HotConfig::Sqlite { path, .. } => {
            HotSource::Sqlite(path.clone().unwrap_or_else(|| cfg.data_dir.join("hot.db")))
        }
        HotConfig::Clickhouse(_) => HotSource::Store,
    })
}

/// Takes a snapshot of a running service. Blocking work runs off the
/// async threads; at most one snapshot is written at a time (the store's
/// lock, across processes too). With `cold`, the NAS takes its snapshot
/// right after the cloud's point, and the manifest names it; a NAS that
/// cannot leaves the cloud's snapshot standing and says why in
/// `cold_error`.
pub async fn create(
    st: Arc<AppState>,
    level: Level,
    cold: bool,
) -> Result<(SnapshotManifest, Option<String>), SnapshotFail> {
    let hot = hot_source(&st.cfg)?;
    let (tx, rx) = tokio::sync::oneshot::channel();
    let (fixed_tx, fixed_rx) = tokio::sync::oneshot::channel();
    let cloud = {
        let st = st.clone();
        tokio::task::spawn_blocking(move || create_blocking(&st, level, &hot, fixed_tx, rx))
    };
    // The cold snapshot starts once the cloud's point is fixed (never
    // before: it must hold every batch the journal's copy calls committed),
    // while the cloud copies its own; both end before the manifest.
    let fixed = fixed_rx.await.is_ok();
    let (cold_ref, cold_error) = if cold && fixed {
        match st.cold.cold_snapshot().await {
            Ok(r) => (Some(r), None),
            Err(e) => (None, Some(e.to_string())),
        }
    } else {
        (None, None)
    };
    let _ = tx.send(cold_ref);
    let m = cloud
        .await
        .map_err(|e| SnapshotFail::Task(e.to_string()))??;
    Ok((m, cold_error))
}

type ColdRx = tokio::sync::oneshot::Receiver<Option<hotcold_core::frame::ColdSnapshotReply>>;

fn create_blocking(
    st: &AppState,
    level: Level,
    hot: &HotSource,
    fixed: tokio::sync::oneshot::Sender<()>,
    cold: ColdRx,
) -> Result<SnapshotManifest, SnapshotFail> {
    let cfg = &st.cfg;
    let store = SnapshotStore::open(&cfg.snapshot.dir)?;
    let _lock = store.lock()?;
    let base = store.latest()?;
    let hot = match hot {
        HotSource::Sqlite(p) => p,
        HotSource::Store => return create_from_store(st, level, &store, base, fixed, cold),
    };
    let p = point::fix_point(
        level,
        hot,
        &cfg.data_dir.join("journal.db"),
        &st.gate,
        &st.archiver.journal,
        cfg.snapshot.bounded_skew.0,
    )?;
    let _ = fixed.send(());
    let id = format!("{}-{level}", stamp(p.point_ms));
    let dir = store.begin(&id)?;
    let made = (|| {
        let journal = copy::journal(&p.journal, &dir)?;
        drop(p.journal);
        let copied = copy::hot_ranges(
            &p.hot,
            &cfg.tables,
            &store,
            base.as_ref(),
            cfg.snapshot.zstd_level,
            cfg.archive.segment_rows,
            &|_| {},
        )?;
        let cold = cold.blocking_recv().ok().flatten();
        let m = SnapshotManifest {
            format: FORMAT,
            id,
            side: Side::Cloud,
            level,
            point_ms: p.point_ms,
            pause_us: p.pause_us,
            skew_us: p.skew_us,
            base: base.map(|b| b.id),
            schemas: cfg.tables.clone(),
            ranges: copied.ranges,
            bytes_written: copied.bytes_written + journal.bytes,
            files: vec![journal],
            cold,
        };
        store.commit(&m)?;
        Ok::<_, SnapshotFail>(m)
    })();
    // A snapshot that failed half-way leaves no folder behind (its pool
    // files go with the next delete's sweep).
    let m = made.inspect_err(|_| {
        let _ = std::fs::remove_dir_all(&dir);
    })?;
    tracing::info!(id = %m.id, %level, rows = m.rows(), bytes_written = m.bytes_written, pause_us = m.pause_us, skew_us = m.skew_us, "snapshot taken");
    Ok(m)
}

/// A snapshot of a hot store without read transactions (ClickHouse): the
/// journal's read is fixed and held with the archive's steps (and, strict,
/// ingest) for as long as the hours are copied, so the copy is one state;
/// the pause is the copy's time, and is reported.
fn create_from_store(
    st: &AppState,
    level: Level,
    store: &SnapshotStore,
    base: Option<SnapshotManifest>,
    fixed: tokio::sync::oneshot::Sender<()>,
    cold: ColdRx,
) -> Result<SnapshotManifest, SnapshotFail> {
    let cfg = &st.cfg;
    let held = point::hold_for_copy(
        level,
        &cfg.data_dir.join("journal.db"),
        &st.gate,
        &st.archiver.journal,
    )?;
    let started = std::time::Instant::now();
    let point_ms = held.point_ms;
    let id = format!("{}-{level}", stamp(point_ms));
    let dir = store.begin(&id)?;
    let made = (|| {
        let journal = copy::journal(&held.journal, &dir)?;
        let copied = copy::store_ranges(
            st.hot.as_ref(),
            &cfg.tables,
            store,
            base.as_ref(),
            cfg.snapshot.zstd_level,
            cfg.archive.segment_rows,
        )?;
        Ok::<_, SnapshotFail>((journal, copied))
    })();
    let skew_us = started.elapsed().as_micros() as u64;
    let pause_us = held.release();
    // The cold half after the hold: its point is after the cloud's.
    let _ = fixed.send(());
    let made = made.and_then(|(journal, copied)| {
        let m = SnapshotManifest {
            format: FORMAT,
            id,
            side: Side::Cloud,
            level,
            point_ms,
            pause_us,
            skew_us,
            base: base.map(|b| b.id),
            schemas: cfg.tables.clone(),
            ranges: copied.ranges,
            bytes_written: copied.bytes_written + journal.bytes,
            files: vec![journal],
            cold: cold.blocking_recv().ok().flatten(),
        };
        store.commit(&m)?;
        Ok(m)
    });
    made.inspect_err(|_| {
        let _ = std::fs::remove_dir_all(&dir);
    })
}

/// `20261203T121530.123Z`: sorts by time, and is a plain file name.
pub fn stamp(ms: i64) -> String {
    let text = hotcold_core::time::format_timestamp_ms(ms);
    text.chars().filter(|c| !matches!(c, '-' | ':')).collect()
}

/// A manifest as the API and the CLI show it (without its ranges).
pub fn summary(m: &SnapshotManifest) -> serde_json::Value {
    serde_json::json!({
        "id": m.id,
        "side": m.side,
        "level": m.level,
        "point_ms": m.point_ms,
        "pause_us": m.pause_us,
        "skew_us": m.skew_us,
        "base": m.base,
        "tables": m.schemas.len(),
        "ranges": m.ranges.len(),
        "rows": m.rows(),
        "bytes": m.bytes(),
        "bytes_written": m.bytes_written,
        "cold": m.cold,
    })
}
