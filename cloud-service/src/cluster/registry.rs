//! Each replica's node (`/replicas/<id>`), the session it lives in, and the
//! floors and watermarks every replica applies and then reports.
//!
//! Why report what was applied: the leader exports a window only once every
//! live replica reports the raised floor (no replica can still take a row
//! into it) and purges only once every live replica reports the new
//! watermark (no replica still routes the window to hot). A replica whose
//! session expired has lost its node and no longer counts; a replica that
//! is merely disconnected refuses ingest and queries until it has synced
//! again (`http.rs`), so it cannot act on an old floor or watermark either.

use super::zk::{self, SessionState, ZkError};
use super::{Cluster, ReplicaNode, Seen};
use hotcold_core::schema::Window;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use zookeeper_client::{AddWatchMode, EventType, PersistentWatcher, WatchedEvent};

/// How often a replica reads the floors and watermarks without a watch
/// firing.
const SYNC_EVERY: Duration = Duration::from_millis(500);

/// Which of the two values a wait is about.
#[derive(Clone, Copy, Debug)]
pub(super) enum Applied {
    Floor,
    Watermark,
}

impl Cluster {
    fn node(&self) -> ReplicaNode {
        ReplicaNode {
            id: self.cfg.replica_id.clone(),
            http: self.advertise.clone(),
            role: self.role().to_string(),
            seen: self.seen.lock().unwrap_or_else(|p| p.into_inner()).clone(),
        }
    }

    fn node_json(&self) -> Vec<u8> {
        serde_json::to_vec(&self.node()).unwrap_or_default()
    }

    /// Creates this replica's ephemeral node; one that exists belongs to a
    /// live replica of the same id (a misconfiguration), so it is refused.
    pub(super) async fn register(&self) -> Result<(), String> {
        let c = self.client().ok_or("no ZooKeeper session")?;
        let p = self.path(&format!("replicas/{}", self.cfg.replica_id));
        match c.create(&p, &self.node_json(), &zk::ephemeral()).await {
            Ok(_) => Ok(()),
            Err(ZkError::NodeExists) => Err(format!(
                "cluster.replica-id {:?} is already in use by a live replica under {} (each replica needs its own id)",
                self.cfg.replica_id, self.cfg.root
            )),
            Err(e) => Err(format!("cluster: cannot register replica at {p}: {e}")),
        }
    }

    /// Reads the floors and watermarks, applies them, reports them.
    pub(super) async fn sync_once(&self) -> Result<(), String> {
        // A disconnect while this sync ran must leave the replica unsynced.
        let generation = self.generation.load(Ordering::SeqCst);
        let c = self.client().ok_or("no ZooKeeper session")?;
        let root = &self.cfg.root;
        let e = |e: ZkError| format!("cluster: reading floors and watermarks: {e}");
        let floors = zk::read_values(&c, root, "floors", &self.tables)
            .await
            .map_err(e)?;
        let marks = zk::read_values(&c, root, "watermarks", &self.tables)
            .await
            .map_err(e)?;
        for (t, f) in &floors {
            // The raise waits for ingests in flight (a write lock): after
            // it, no row below the floor can be stored by this replica.
            let (g, t, f) = (self.gate.clone(), t.clone(), *f);
            tokio::task::spawn_blocking(move || g.raise(&t, f))
                .await
                .map_err(|e| e.to_string())?;
        }
        let before = self.watermarks.read().await.clone();
        for (t, w) in &marks {
            let old = before.get(t).copied();
            if old.is_none_or(|o| o < *w) {
                self.cold_cache
                    .invalidate(t, Window::new(old.unwrap_or(i64::MIN), *w));
                // Waits for queries still reading by the old watermark.
                self.watermarks.advance(t, *w).await;
            }
        }
        let floors_now = self.gate.read().clone();
        let now = Seen {
            floors: floors_now,
            watermarks: self.watermarks.read().await.clone(),
        };
        *self.seen.lock().unwrap_or_else(|p| p.into_inner()) = now;
        let me = self.path(&format!("replicas/{}", self.cfg.replica_id));
        // Written only when it changed: every replica syncs on every
        // event, and an unchanged write would be load for nothing.
        let json = self.node_json();
        let last = (c.session_id(), json.clone());
        if self
            .published
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            != Some(&last)
        {
            c.set_data(&me, &json, None)
                .await
                .map_err(|e| format!("cluster: reporting to {me}: {e}"))?;
            *self.published.lock().unwrap_or_else(|p| p.into_inner()) = Some(last);
        }
        self.refresh_view(&c).await.map_err(e)?;
        if self.generation.load(Ordering::SeqCst) == generation {
            self.synced.store(true, Ordering::SeqCst);
        }
        Ok(())
    }

    /// The live replicas and the leader, for status and for 409s.
    async fn refresh_view(&self, c: &zk::Client) -> Result<(), ZkError> {
        let replicas = self.live_replicas(c).await?;
        let leader = match c.get_data(&self.path("leader")).await {
            Ok((d, _)) => serde_json::from_slice::<serde_json::Value>(&d)
                .ok()
                .and_then(|v| v["http"].as_str().map(str::to_string)),
            Err(ZkError::NoNode) => None,
            Err(e) => return Err(e),
        };
        *self.replicas.lock().unwrap_or_else(|p| p.into_inner()) = replicas;
        *self.leader.lock().unwrap_or_else(|p| p.into_inner()) = leader;
        Ok(())
    }

    async fn live_replicas(&self, c: &zk::Client) -> Result<Vec<ReplicaNode>, ZkError> {
        let mut out = Vec::new();
        for id in c.list_children(&self.path("replicas")).await? {
            match c.get_data(&self.path(&format!("replicas/{id}"))).await {
                Ok((d, _)) => {
                    if let Ok(n) = serde_json::from_slice::<ReplicaNode>(&d) {
                        out.push(n);
                    }
                }
                // Expired between the list and the read: not live.
                Err(ZkError::NoNode) => {}
                Err(e) => return Err(e),
            }
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    /// Waits until every live replica reports `table`'s floor or watermark
    /// at `value` or above. A replica cut off from ZooKeeper stops counting
    /// when its session expires; the wait gives it that long and a margin.
    pub(super) async fn wait_applied(
        &self,
        what: Applied,
        table: &str,
        value: i64,
    ) -> Result<(), String> {
        let limit = self.cfg.session_timeout.0 * 2 + Duration::from_secs(2);
        let started = Instant::now();
        loop {
            let c = self.client().ok_or("no ZooKeeper session")?;
            let replicas = self
                .live_replicas(&c)
                .await
                .map_err(|e| format!("cluster: reading replicas: {e}"))?;
            let behind: Vec<&str> = replicas
                .iter()
                .filter(|r| {
                    let seen = match what {
                        Applied::Floor => &r.seen.floors,
                        Applied::Watermark => &r.seen.watermarks,
                    };
                    seen.get(table).is_none_or(|v| *v < value)
                })
                .map(|r| r.id.as_str())
                .collect();
            if behind.is_empty() {
                return Ok(());
            }
            if started.elapsed() > limit {
                return Err(format!(
                    "replicas {behind:?} did not apply {what:?} {value} of {table} within {limit:?}"
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Applies floors and watermarks as they change: persistent watches
    /// on `/floors`, `/watermarks` and `/leader` wake every replica at once;
    /// the timer is the fallback, and refreshes the replica list.
    pub(super) async fn sync_loop(self: Arc<Self>) {
        loop {
            let Some(c) = self.client() else {
                tokio::time::sleep(SYNC_EVERY).await;
                continue;
            };
            let session = c.session_id();
            let mut floors = c
                .watch(&self.path("floors"), AddWatchMode::PersistentRecursive)
                .await
                .ok();
            let mut marks = c
                .watch(&self.path("watermarks"), AddWatchMode::PersistentRecursive)
                .await
                .ok();
            let mut leader = c
                .watch(&self.path("leader"), AddWatchMode::Persistent)
                .await
                .ok();
            let watching = floors.is_some() && marks.is_some() && leader.is_some();
            loop {
                let event = tokio::select! {
                    e = changed(&mut floors) => Some(e),
                    e = changed(&mut marks) => Some(e),
                    e = changed(&mut leader) => {
                        // `/leader` changed (deleted: its session lapsed):
                        // campaign now, not at the next tick.
                        self.wake.notify_one();
                        Some(e)
                    }
                    () = tokio::time::sleep(SYNC_EVERY) => None,
                };
                if let Some(e) = event.filter(|e| e.event_type == EventType::Session) {
                    // After a terminal state the watchers are closed (the
                    // client panics on the next read): new ones, with the
                    // next session.
                    let live = matches!(
                        e.session_state,
                        SessionState::Disconnected
                            | SessionState::SyncConnected
                            | SessionState::ConnectedReadOnly
                    );
                    tokio::time::sleep(SYNC_EVERY).await;
                    if !live {
                        break;
                    }
                }
                if self.client().map(|c| c.session_id()) != Some(session) {
                    break;
                }
                if self.connected.load(Ordering::SeqCst) {
                    if let Err(e) = self.sync_once().await {
                        tracing::warn!(error = %e, "cluster sync failed; retrying");
                    }
                }
                if !watching {
                    break;
                }
            }
        }
    }

    /// Follows the session: a disconnect refuses ingest and queries and
    /// stops archiving at once; an expiry starts a new session.
    pub(super) async fn session_loop(self: Arc<Self>) {
        loop {
            let Some(c) = self.client() else {
                return;
            };
            let mut w = c.state_watcher();
            loop {
                match w.changed().await {
                    SessionState::Disconnected => {
                        tracing::warn!("ZooKeeper disconnected: refusing ingest and queries, archiving stopped");
                        self.generation.fetch_add(1, Ordering::SeqCst);
                        self.connected.store(false, Ordering::SeqCst);
                        self.synced.store(false, Ordering::SeqCst);
                        self.drop_lease("session disconnected");
                    }
                    SessionState::SyncConnected => {
                        tracing::info!("ZooKeeper reconnected; syncing");
                        self.connected.store(true, Ordering::SeqCst);
                    }
                    SessionState::ConnectedReadOnly => {}
                    _ => break,
                }
            }
            tracing::warn!("ZooKeeper session expired: starting a new one");
            self.generation.fetch_add(1, Ordering::SeqCst);
            self.connected.store(false, Ordering::SeqCst);
            self.synced.store(false, Ordering::SeqCst);
            self.drop_lease("session expired");
            loop {
                match zk::connect(&self.cfg).await {
                    Ok(c) => {
                        *self.client.write().unwrap_or_else(|p| p.into_inner()) = Some(c);
                        match self.register().await {
                            Ok(()) => break,
                            Err(e) => tracing::warn!(error = %e, "re-registering"),
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "reconnecting to ZooKeeper"),
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            self.connected.store(true, Ordering::SeqCst);
        }
    }
}

async fn changed(w: &mut Option<PersistentWatcher>) -> WatchedEvent {
    match w {
        Some(w) => w.changed().await,
        None => std::future::pending().await,
    }
}
