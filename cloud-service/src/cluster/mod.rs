//! The cluster edition: several `cloud-service` replicas share one hot
//! store; exactly one, the holder of a ZooKeeper lease, archives.
//!
//! `zk` holds the session and the layout, `lease` the election and the
//! fencing epoch, `registry` each replica's node and the floors and
//! watermarks every replica applies, `mirror` the journal's write-through
//! to ZooKeeper, `http` what the API refuses while a replica cannot know
//! the floor or the watermark. See ARCHITECTURE.md, "Cluster edition".

pub mod http;
mod lease;
mod mirror;
mod registry;
mod zk;

use crate::archive::Archiver;
use crate::cache::ColdCache;
use crate::config::ClusterConfig;
use crate::gate::IngestGate;
use crate::watermarks::Watermarks;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use tokio::sync::watch;

/// What this replica reports of itself in `/replicas/<id>`.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Seen {
    pub floors: HashMap<String, i64>,
    pub watermarks: HashMap<String, i64>,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct ReplicaNode {
    pub id: String,
    pub http: String,
    pub role: String,
    pub seen: Seen,
}

/// One replica's view of the cluster; shared by its tasks and the API.
pub struct Cluster {
    cfg: ClusterConfig,
    advertise: String,
    tables: Vec<String>,
    data_dir: PathBuf,
    /// The current session; replaced after an expiry.
    client: RwLock<Option<zk::Client>>,
    /// The session is connected (not Disconnected nor Expired).
    connected: AtomicBool,
    /// Floors and watermarks applied since the session last connected:
    /// until then ingest and queries are refused (503).
    synced: AtomicBool,
    /// Moves at every disconnect, so a sync that straddled one does not
    /// mark the replica synced.
    generation: std::sync::atomic::AtomicU64,
    /// The lease is held and the journal rebuilt: archive runs may start.
    held: watch::Sender<bool>,
    /// The `/epoch` version this leader's writes are fenced by.
    epoch: Mutex<Option<i32>>,
    /// A fenced write failed: the local journal is not to be trusted, so
    /// the lease is given up and the journal rebuilt at the next one.
    dirty: AtomicBool,
    /// Journal nodes known to exist (create vs set in a fenced write).
    known: Mutex<std::collections::HashSet<String>>,
    leader: Mutex<Option<String>>,
    /// Wakes the campaign when `/leader` changes.
    wake: tokio::sync::Notify,
    replicas: Mutex<Vec<ReplicaNode>>,
    seen: Mutex<Seen>,
    /// What this replica last wrote into its node, in which session.
    published: Mutex<Option<(zookeeper_client::SessionId, Vec<u8>)>>,
    gate: Arc<IngestGate>,
    watermarks: Arc<Watermarks>,
    cold_cache: Arc<ColdCache>,
    archiver: OnceLock<Arc<Archiver>>,
    rt: tokio::runtime::Handle,
}

/// What `start` builds from: the parts of the service the cluster drives.
pub struct Parts {
    pub data_dir: PathBuf,
    pub tables: Vec<String>,
    pub http_addr: String,
    pub gate: Arc<IngestGate>,
    pub watermarks: Arc<Watermarks>,
    pub cold_cache: Arc<ColdCache>,
}

impl Cluster {
    /// The cluster edition's part of `start`: None without `cluster:`.
    pub async fn join_if_configured(
        cfg: &crate::config::CloudConfig,
        gate: &Arc<IngestGate>,
        watermarks: &Arc<Watermarks>,
        cold_cache: &Arc<ColdCache>,
    ) -> anyhow::Result<Option<Arc<Self>>> {
        let Some(c) = cfg.cluster.clone() else {
            return Ok(None);
        };
        let scheme = if cfg.http_tls.is_some() {
            "https"
        } else {
            "http"
        };
        let parts = Parts {
            data_dir: cfg.data_dir.clone(),
            tables: cfg.tables.iter().map(|t| t.name.clone()).collect(),
            http_addr: format!("{scheme}://{}", cfg.http_listen),
            gate: gate.clone(),
            watermarks: watermarks.clone(),
            cold_cache: cold_cache.clone(),
        };
        Ok(Some(Self::join(c, parts).await?))
    }

    /// Connects, checks the root, registers this replica and applies the
    /// floors and watermarks, all before the service answers anything:
    /// ZooKeeper unreachable, a root that is not ours, or a replica id in
    /// use is an error here.
    pub async fn join(cfg: ClusterConfig, p: Parts) -> anyhow::Result<Arc<Self>> {
        let client = zk::connect(&cfg).await.map_err(anyhow::Error::msg)?;
        zk::prepare(&client, &cfg.root, &p.tables)
            .await
            .map_err(anyhow::Error::msg)?;
        let c = Arc::new(Self {
            advertise: cfg.advertise.clone().unwrap_or(p.http_addr),
            cfg,
            tables: p.tables,
            data_dir: p.data_dir,
            client: RwLock::new(Some(client)),
            connected: AtomicBool::new(true),
            synced: AtomicBool::new(false),
            generation: Default::default(),
            held: watch::channel(false).0,
            epoch: Mutex::new(None),
            dirty: AtomicBool::new(false),
            known: Mutex::new(Default::default()),
            leader: Mutex::new(None),
            wake: tokio::sync::Notify::new(),
            replicas: Mutex::new(Vec::new()),
            seen: Mutex::new(Seen::default()),
            published: Mutex::new(None),
            gate: p.gate,
            watermarks: p.watermarks,
            cold_cache: p.cold_cache,
            archiver: OnceLock::new(),
            rt: tokio::runtime::Handle::current(),
        });
        c.register().await.map_err(anyhow::Error::msg)?;
        c.sync_once().await.map_err(anyhow::Error::msg)?;
        Ok(c)
    }

    /// Starts the session watcher, the sync loop and the campaign.
    pub fn run(self: &Arc<Self>, archiver: Arc<Archiver>) -> Vec<tokio::task::JoinHandle<()>> {
        let _ = self.archiver.set(archiver.clone());
        archiver.set_lease(self.clone());
        let (a, b, c) = (self.clone(), self.clone(), self.clone());
        vec![
            tokio::spawn(supervise("session", move || a.clone().session_loop())),
            tokio::spawn(supervise("sync", move || b.clone().sync_loop())),
            tokio::spawn(supervise("campaign", move || c.clone().campaign_loop())),
        ]
    }

    pub(crate) fn client(&self) -> Option<zk::Client> {
        self.client
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn path(&self, rel: &str) -> String {
        zk::path(&self.cfg.root, rel)
    }

    /// The identity every replica of this cluster archives under; `mine`
    /// (this replica's journal's) if it is the first to say.
    pub async fn cloud_id(&self, mine: &str) -> anyhow::Result<String> {
        let c = self
            .client()
            .ok_or_else(|| anyhow::anyhow!("no ZooKeeper session for the cloud id"))?;
        zk::cloud_id(&c, &self.cfg.root, mine)
            .await
            .map_err(anyhow::Error::msg)
    }

    /// Ingest and queries may be answered: the floors and watermarks in
    /// force are known.
    pub fn synced(&self) -> bool {
        self.connected.load(Ordering::SeqCst) && self.synced.load(Ordering::SeqCst)
    }

    pub fn is_leader(&self) -> bool {
        *self.held.borrow()
    }

    pub fn role(&self) -> &'static str {
        if !self.connected.load(Ordering::SeqCst) {
            "disconnected"
        } else if self.is_leader() {
            "leader"
        } else {
            "follower"
        }
    }

    /// The leader's HTTP address: this replica's own while it leads, else
    /// what `/leader` said at the last sync.
    pub fn leader(&self) -> Option<String> {
        if self.is_leader() {
            return Some(self.advertise.clone());
        }
        self.leader
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// For `/health` and `/v1/admin/status`.
    pub fn status(&self) -> serde_json::Value {
        let replicas = self
            .replicas
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        serde_json::json!({
            "replica_id": self.cfg.replica_id,
            "http": self.advertise,
            "role": self.role(),
            "synced": self.synced(),
            "leader": self.leader(),
            "epoch": *self.epoch.lock().unwrap_or_else(|p| p.into_inner()),
            "replicas": replicas,
            "root": self.cfg.root,
        })
    }
}

/// Runs a loop again if it panics (the ZooKeeper client has panicked on a
/// watcher after its session closed): a replica whose sync loop died would
/// otherwise stay unsynced, or worse, never apply a floor again.
async fn supervise<F, Fut>(name: &'static str, start: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    loop {
        if let Err(e) = tokio::spawn(start()).await {
            tracing::error!(task = name, error = %e, "cluster task died; restarting it");
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
}
