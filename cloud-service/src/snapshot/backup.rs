//! The hot backup: a strict snapshot every `snapshot.backup-every`, sent
//! to the NAS over the link (`link/backup.rs`), so a lost cloud disk loses
//! only the rows since the last one. The last outcome is in status and
//! `/metrics` (its age), and on the status page.

use super::SnapshotFail;
use crate::api::AppState;
use hotcold_core::snapshot::Level;
use hotcold_snapshot::SnapshotStore;
use serde::Serialize;
use std::sync::{Arc, Mutex};

/// The last backup's outcome, for status.
#[derive(Debug, Clone, Default, Serialize)]
pub struct BackupStatus {
    /// When the NAS last confirmed a backup (ms since the epoch).
    pub last_ok_ms: Option<i64>,
    pub last_id: Option<String>,
    /// Rows and bytes of that snapshot; bytes sent for it.
    pub rows: u64,
    pub bytes: u64,
    pub bytes_sent: u64,
    pub last_error: Option<String>,
    pub last_error_ms: Option<i64>,
}

#[derive(Default)]
pub struct BackupState(Mutex<BackupStatus>);

impl BackupState {
    pub fn get(&self) -> BackupStatus {
        self.0.lock().map(|s| s.clone()).unwrap_or_default()
    }

    fn set(&self, f: impl FnOnce(&mut BackupStatus)) {
        if let Ok(mut s) = self.0.lock() {
            f(&mut s);
        }
    }
}

/// Takes a strict snapshot, sends it to the NAS and prunes old local
/// snapshots. Returns the snapshot's summary with the NAS's answer.
pub async fn run_once(st: Arc<AppState>) -> Result<serde_json::Value, SnapshotFail> {
    let Some(link) = st.link.clone() else {
        return Err(SnapshotFail::Unsupported(
            "no link: the standalone edition keeps both tiers here, so there is no NAS to back up to".into(),
        ));
    };
    let r = async {
        let (m, _) = super::create(st.clone(), Level::Strict, false).await?;
        let dir = st.cfg.snapshot.dir.clone();
        let store = SnapshotStore::open(&dir)?;
        let sent = link.backup(&store, &m).await;
        // Pruned whether or not the NAS took it: a NAS away for days must
        // not fill the cloud's disk with hourly snapshots.
        let keep = st.cfg.snapshot.keep;
        let pruned = tokio::task::spawn_blocking(move || prune(&dir, keep))
            .await
            .map_err(|e| SnapshotFail::Task(e.to_string()))??;
        let reply = sent
            .map_err(|e| SnapshotFail::Io(format!("sending snapshot {} to the NAS: {e}", m.id)))?;
        Ok::<_, SnapshotFail>((m, reply, pruned))
    }
    .await;
    match r {
        Ok((m, reply, pruned)) => {
            st.backup.set(|s| {
                s.last_ok_ms = Some(crate::clock::now_ms());
                s.last_id = Some(m.id.clone());
                s.rows = m.rows();
                s.bytes = m.bytes();
                s.bytes_sent = reply.bytes_received;
            });
            let mut v = super::summary(&m);
            v["bytes_sent"] = reply.bytes_received.into();
            v["nas_removed"] = serde_json::json!(reply.removed);
            v["local_removed"] = serde_json::json!(pruned);
            Ok(v)
        }
        Err(e) => {
            st.backup.set(|s| {
                s.last_error = Some(e.to_string());
                s.last_error_ms = Some(crate::clock::now_ms());
            });
            Err(e)
        }
    }
}

/// Deletes the oldest local snapshots beyond `keep`.
fn prune(dir: &std::path::Path, keep: usize) -> Result<Vec<String>, SnapshotFail> {
    let store = SnapshotStore::open(dir)?;
    let done: Vec<String> = store
        .list()?
        .into_iter()
        .filter(|l| l.manifest.is_ok())
        .map(|l| l.id)
        .collect();
    let mut removed = Vec::new();
    for id in done.iter().take(done.len().saturating_sub(keep)) {
        store.delete(id)?;
        removed.push(id.clone());
    }
    Ok(removed)
}

/// Every `snapshot.backup-every`, a backup; a failed one is tried again at
/// the next tick (the gateway kept what arrived, so it resumes).
pub async fn run_loop(st: Arc<AppState>) {
    let every = st.cfg.snapshot.backup_every.0;
    if every.is_zero() || st.link.is_none() || super::hot_source(&st.cfg).is_err() {
        return;
    }
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await; // the first tick is now: let the service settle first
    loop {
        tick.tick().await;
        match run_once(st.clone()).await {
            Ok(v) => {
                tracing::info!(id = %v["id"], sent = %v["bytes_sent"], "hot backup sent to the NAS")
            }
            Err(e) => tracing::warn!(error = %e, "hot backup failed; trying again next time"),
        }
    }
}
