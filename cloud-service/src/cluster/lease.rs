//! The archiver lease: whoever creates the ephemeral `/leader` node leads,
//! and bumps `/epoch` in the same multi; the version it gets back fences
//! every write it makes afterwards (`mirror.rs`). Its session lapsing
//! deletes `/leader`; the next leader's bump then makes every write of the
//! old one fail, whatever the old one still believes.

use super::zk::{self, ZkError};
use super::Cluster;
use crate::archive::{ArchiveLease, Journal};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use zookeeper_client::{MultiWriteError, MultiWriteResult};

/// The campaign's fallback tick; a watch on `/leader` wakes it sooner.
const CAMPAIGN_EVERY: Duration = Duration::from_millis(500);

impl Cluster {
    /// Stops archiving now (the run in progress is dropped: `under_lease`).
    pub(super) fn drop_lease(&self, why: &str) {
        *self.epoch.lock().unwrap_or_else(|p| p.into_inner()) = None;
        if self.held.send_replace(false) {
            tracing::warn!(why, "archiver lease lost");
        }
    }

    pub(super) async fn campaign_loop(self: Arc<Self>) {
        loop {
            tokio::select! {
                () = self.wake.notified() => {}
                () = tokio::time::sleep(CAMPAIGN_EVERY) => {}
            }
            if !self.synced() {
                continue;
            }
            if self.is_leader() {
                if self.dirty.swap(false, Ordering::SeqCst) {
                    self.resign("a fenced write failed; the local journal is discarded")
                        .await;
                    tokio::time::sleep(Duration::from_secs(1)).await;
                } else if let Err(e) = self.verify_lease().await {
                    self.drop_lease(&e);
                }
                continue;
            }
            match self.try_lead().await {
                Ok(true) => {}
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "cluster: campaign for the lease failed"),
            }
        }
    }

    fn leader_data(&self) -> Vec<u8> {
        serde_json::to_vec(
            &serde_json::json!({ "id": self.cfg.replica_id, "http": self.advertise }),
        )
        .unwrap_or_default()
    }

    /// Creates `/leader` and bumps `/epoch` at once; on success rebuilds the
    /// local journal from ZooKeeper before the first run may start.
    async fn try_lead(self: &Arc<Self>) -> Result<bool, String> {
        let c = self.client().ok_or("no ZooKeeper session")?;
        let (leader, epoch) = (self.path("leader"), self.path("epoch"));
        let mut w = c.new_multi_writer();
        let id = self.cfg.replica_id.as_bytes();
        w.add_create(&leader, &self.leader_data(), &zk::ephemeral())
            .map_err(|e| e.to_string())?;
        w.add_set_data(&epoch, id, None)
            .map_err(|e| e.to_string())?;
        let version = match w.commit().await {
            Ok(results) => match results.get(1) {
                Some(MultiWriteResult::SetData { stat }) => stat.version,
                other => return Err(format!("unexpected multi answer {other:?}")),
            },
            Err(MultiWriteError::OperationFailed {
                index: 0,
                source: ZkError::NodeExists,
            }) => {
                // Our own node from before a short disconnect: the epoch may
                // have moved on meanwhile, so give it up and campaign again.
                if let Ok(Some(stat)) = c.check_stat(&leader).await {
                    if stat.ephemeral_owner == c.session_id().0 {
                        let _ = c.delete(&leader, Some(stat.version)).await;
                    }
                }
                return Ok(false);
            }
            Err(e) => return Err(e.to_string()),
        };
        *self.epoch.lock().unwrap_or_else(|p| p.into_inner()) = Some(version);
        match self.rebuild(&c, version).await {
            Ok(n) => {
                self.held.send_replace(true);
                tracing::info!(
                    epoch = version,
                    batches = n,
                    "archiver lease taken; journal rebuilt from ZooKeeper"
                );
                Ok(true)
            }
            Err(e) => {
                self.resign(&e).await;
                Err(e)
            }
        }
    }

    /// A fresh local journal from ZooKeeper's, swapped into the archiver.
    /// Each lease gets its own file, so the last lease's copy (possibly
    /// ahead of ZooKeeper after a refused write) is never reused.
    async fn rebuild(self: &Arc<Self>, c: &zk::Client, epoch: i32) -> Result<usize, String> {
        let e = |e: ZkError| format!("cluster: reading the journal: {e}");
        let ids = c.list_children(&self.path("journal")).await.map_err(e)?;
        let mut batches = Vec::with_capacity(ids.len());
        for id in &ids {
            let (d, _) = c
                .get_data(&self.path(&format!("journal/{id}")))
                .await
                .map_err(e)?;
            batches.push(d);
        }
        let root = &self.cfg.root;
        let floors = zk::read_values(c, root, "floors", &self.tables)
            .await
            .map_err(e)?;
        let marks = zk::read_values(c, root, "watermarks", &self.tables)
            .await
            .map_err(e)?;
        let dir = self.data_dir.join("cluster");
        let path = dir.join(format!("journal-epoch-{epoch}.db"));
        let (mirror, known) = (self.mirror(), ids.clone());
        let archiver = self.archiver.get().ok_or("no archiver")?.clone();
        let spool = archiver.spool.clone();
        let j = tokio::task::spawn_blocking(move || {
            // Spool files of batches another leader finished since this
            // replica last led: the spool is only a cache, and these are
            // never read again.
            for (id, b) in ids.iter().zip(&batches) {
                let purged = serde_json::from_slice::<serde_json::Value>(b)
                    .is_ok_and(|v| v["state"] == "purged");
                if purged {
                    let _ = spool.remove(id);
                }
            }
            std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            // Copies of earlier leases: never read again.
            for f in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                let _ = std::fs::remove_file(f.path());
            }
            let mut j = Journal::open(&path).map_err(|e| e.to_string())?;
            j.import(&batches, &floors, &marks)
                .map_err(|e| e.to_string())?;
            j.set_mirror(mirror);
            Ok::<_, String>(j)
        })
        .await
        .map_err(|e| e.to_string())??;
        let n = known.len();
        *self.known.lock().unwrap_or_else(|p| p.into_inner()) = known.into_iter().collect();
        archiver.replace_journal(j).await;
        Ok(n)
    }

    /// Gives the lease up: deletes `/leader` if it is still ours.
    async fn resign(&self, why: &str) {
        self.drop_lease(why);
        if let Some(c) = self.client() {
            if let Ok(Some(stat)) = c.check_stat(&self.path("leader")).await {
                if stat.ephemeral_owner == c.session_id().0 {
                    let _ = c.delete(&self.path("leader"), Some(stat.version)).await;
                }
            }
        }
    }

    /// The lease is still ours: connected, `/leader` owned by this session
    /// and `/epoch` at the version we set.
    pub(super) async fn verify_lease(&self) -> Result<(), String> {
        if !self.connected.load(Ordering::SeqCst) {
            return Err("ZooKeeper session not connected".into());
        }
        let mine = (*self.epoch.lock().unwrap_or_else(|p| p.into_inner())).ok_or("no lease")?;
        let c = self.client().ok_or("no ZooKeeper session")?;
        let leader = c
            .check_stat(&self.path("leader"))
            .await
            .map_err(|e| format!("reading /leader: {e}"))?;
        if leader.map(|s| s.ephemeral_owner) != Some(c.session_id().0) {
            return Err("/leader is no longer this replica's".into());
        }
        let epoch = c
            .check_stat(&self.path("epoch"))
            .await
            .map_err(|e| format!("reading /epoch: {e}"))?;
        if epoch.map(|s| s.version) != Some(mine) {
            return Err("/epoch moved on: another replica leads".into());
        }
        Ok(())
    }
}

impl ArchiveLease for Cluster {
    fn may_archive(&self) -> Result<(), String> {
        if self.is_leader() && self.synced() {
            return Ok(());
        }
        Err(match self.leader() {
            Some(l) => format!("the leader is {l}"),
            None => "no leader is elected yet".into(),
        })
    }

    fn held(&self) -> tokio::sync::watch::Receiver<bool> {
        self.held.subscribe()
    }
}
