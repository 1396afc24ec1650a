//! `cloud-service`: HTTP ingest and queries over hot and cold data, and the
//! nightly archive of old windows to the NAS over the QUIC link.

pub mod alerts;
pub mod api;
pub mod archive;
pub mod cache;
pub mod certs;
pub mod clock;
pub mod cluster;
pub mod cold;
pub mod config;
pub mod failpoint;
pub mod gate;
pub mod hot;
mod http_refusals;
pub mod http_server;
pub mod link;
pub mod router;
pub mod scheduler;
pub mod snapshot;
pub mod watermarks;

use anyhow::Context;
use config::{CloudConfig, HotConfig};
use std::net::SocketAddr;
use std::sync::Arc;

pub struct Running {
    pub http_addr: SocketAddr,
    pub state: Arc<api::AppState>,
    pub task: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// What `serve` would refuse, checked without starting anything: the
/// config's values, the tokens and where they may be exposed, and every
/// certificate and key it would load. `check-config` runs this and `start`
/// runs it first, so the two cannot disagree.
pub fn preflight(cfg: &CloudConfig) -> anyhow::Result<()> {
    cfg.validate().map_err(|e| anyhow::anyhow!("config: {e}"))?;
    cfg.admin
        .resolve()?
        .check_exposure(cfg.http_listen)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    if cfg.cold.is_none() {
        let files = cfg.tls_files();
        let crypto = match cfg.link.direction {
            config::Direction::CloudDials => hotcold_link::tls::client_crypto(&files).map(|_| ()),
            config::Direction::NasDials => hotcold_link::tls::server_crypto(&files).map(|_| ()),
        };
        crypto.map_err(|e| {
            anyhow::anyhow!(
                "link: the certificates in link.ca, link.cert, link.key (and peer-cert) cannot be used: {e} (cloud-service certs init makes them)"
            )
        })?;
    }
    if let Some(t) = &cfg.http_tls {
        http_server::tls_config(&t.cert, &t.key).context("http-tls")?;
    }
    Ok(())
}

/// Opens the stores, journal and spool, and serves HTTP until `shutdown`.
pub async fn start(
    mut cfg: CloudConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<Running> {
    preflight(&cfg)?;
    let tokens = cfg.admin.resolve()?;
    tokens
        .check_exposure(cfg.http_listen)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let open = tokens.open_roles();
    if !open.is_empty() {
        tracing::warn!(?open, "endpoints without a token (fine on loopback only)");
    }
    std::fs::create_dir_all(&cfg.data_dir)
        .with_context(|| format!("cannot create data dir {}", cfg.data_dir.display()))?;
    snapshot::restore::check_finished(&cfg)?;
    let hot: Arc<dyn hot::HotStore> = match &cfg.hot {
        HotConfig::Sqlite {
            path,
            columnar_copy,
        } => {
            let path = path.clone().unwrap_or_else(|| cfg.data_dir.join("hot.db"));
            let open = if *columnar_copy {
                hot::sqlite::SqliteHot::open_with_copy
            } else {
                hot::sqlite::SqliteHot::open
            };
            Arc::new(open(path.clone()).with_context(|| format!("hot store {}", path.display()))?)
        }
        HotConfig::Clickhouse(c) => {
            let nodes = hotcold_clickhouse::Nodes::connect(c, config::DEFAULT_HOT_DATABASE)
                .await
                .with_context(|| format!("hot store ClickHouse at {}", c.url))?;
            let tables = nodes.current().clone();
            // Tables named without columns take them from the server.
            for t in cfg.tables.iter_mut().filter(|t| t.columns.is_empty()) {
                let found = tables.describe(&t.name, &t.time_column).await?;
                tracing::info!(table = %t.name, columns = found.columns.len(), "schema read from the hot ClickHouse table");
                t.columns = found.columns;
                t.validate()
                    .with_context(|| format!("table {} as read from ClickHouse", t.name))?;
            }
            Arc::new(hot::clickhouse::ClickHouseHot::new(nodes))
        }
    };
    {
        // Blocking: the ClickHouse hot store drives its client from here.
        let (h, tables) = (hot.clone(), cfg.tables.clone());
        tokio::task::spawn_blocking(move || {
            for t in &tables {
                h.ensure_table(t)
                    .with_context(|| format!("hot table {}", t.name))?;
            }
            Ok::<_, anyhow::Error>(())
        })
        .await??;
    }
    let journal = archive::Journal::open(&cfg.data_dir.join("journal.db")).context("journal")?;
    // Cluster edition: the floors and watermarks come from ZooKeeper
    // (`cluster::Cluster::join`), never from a local file.
    let local = cfg.cluster.is_none();
    let gate = Arc::new(gate::IngestGate::new(if local {
        journal.floors()?
    } else {
        Default::default()
    }));
    let watermarks = Arc::new(watermarks::Watermarks::new(if local {
        journal.watermarks()?
    } else {
        Default::default()
    }));
    let spool = archive::Spool::open(cfg.data_dir.join("spool")).context("spool")?;
    let cold::ColdTier {
        link,
        archive: cold_link,
        queries: cold,
    } = cold::ColdTier::open(&cfg).await?;
    let alerter = Arc::new(alerts::Alerter::new(cfg.alerts.clone()));
    let cold_cache = Arc::new(cache::ColdCache::new(
        cfg.query.cold_cache.0,
        cfg.query.cold_cache_ttl.0,
    ));
    let cluster =
        cluster::Cluster::join_if_configured(&cfg, &gate, &watermarks, &cold_cache).await?;
    let mine = journal.cloud_id().context("journal: cloud id")?;
    let cloud_id = match &cluster {
        Some(c) => c.cloud_id(&mine).await?,
        None => mine,
    };
    tracing::info!(cloud_id, "archiving as");
    let archiver = Arc::new(archive::Archiver::new(archive::ArchiverParts {
        cloud_id,
        tables: cfg.tables.clone(),
        hot: hot.clone(),
        journal,
        spool,
        link: cold_link,
        gate: gate.clone(),
        watermarks: watermarks.clone(),
        settings: archive::ArchiveSettings::from_config(&cfg),
        alerter: Some(alerter.clone()),
        cold_cache: Some(cold_cache.clone()),
    }));
    let cluster_tasks = cluster
        .as_ref()
        .map(|c| c.run(archiver.clone()))
        .unwrap_or_default();
    let resync = tokio::spawn(resync_loop(archiver.clone(), cfg.link.retry_interval.0));
    let schedule = tokio::spawn(scheduler::run(archiver.clone(), cfg.schedule.clone()));
    let keys = tokio::spawn(prune_keys_loop(hot.clone(), cfg.ingest.idempotency_ttl.0));
    let watch = tokio::spawn(alert_loop(
        alerter,
        archiver.clone(),
        link.clone(),
        cfg.clone(),
    ));
    let state = Arc::new(api::AppState {
        tables: cfg
            .tables
            .iter()
            .map(|t| (t.name.clone(), t.clone()))
            .collect(),
        cfg: cfg.clone(),
        router: router::Router {
            hot: hot.clone(),
            cold: cold.clone(),
            watermarks: watermarks.clone(),
            cache: cold_cache,
            demand: Default::default(),
        },
        hot,
        gate,
        watermarks,
        link,
        cold,
        archiver,
        counters: Default::default(),
        tokens,
        cluster,
        backup: Default::default(),
    });
    if cfg.data_dir.join(snapshot::reconcile::MARKER).exists() {
        tracing::warn!(
            "restored from a snapshot: archive runs wait for the reconcile with the cold ledger"
        );
        state.archiver.hold_for_restore(true);
    }
    let reconcile = tokio::spawn(snapshot::reconcile::after_restore(state.clone()));
    let prefetch = tokio::spawn(prefetch_loop(state.clone()));
    let backup = tokio::spawn(snapshot::backup::run_loop(state.clone()));
    let listener = tokio::net::TcpListener::bind(cfg.http_listen)
        .await
        .with_context(|| format!("cannot bind HTTP {}", cfg.http_listen))?;
    let http_addr = listener.local_addr()?;
    let app = api::router(state.clone());
    let tls = match &cfg.http_tls {
        Some(t) => Some(http_server::tls_config(&t.cert, &t.key)?),
        None => None,
    };
    let header_timeout = cfg.http_header_timeout.0;
    let task = tokio::spawn(async move {
        let r = http_server::serve(listener, app, tls, header_timeout, shutdown).await;
        resync.abort();
        schedule.abort();
        keys.abort();
        watch.abort();
        prefetch.abort();
        backup.abort();
        reconcile.abort();
        cluster_tasks.iter().for_each(|t| t.abort());
        r
    });
    Ok(Running {
        http_addr,
        state,
        task,
    })
}

/// Resync: while batches wait in the spool (the NAS was unreachable), retry
/// them every `interval`, oldest first, paced by the bandwidth limit. The
/// link's backoff keeps an unreachable NAS from being hammered.
async fn resync_loop(archiver: Arc<archive::Archiver>, interval: std::time::Duration) {
    loop {
        tokio::time::sleep(interval).await;
        let j = archiver.journal.clone();
        let backlog = tokio::task::spawn_blocking(move || {
            j.lock()
                .map_err(|_| ())
                .and_then(|j| j.waiting().map_err(|_| ()))
        })
        .await
        .unwrap_or(Err(()));
        if !matches!(backlog, Ok(n) if n > 0) {
            continue;
        }
        match archiver.drain().await {
            Ok(r) if !r.batches.is_empty() => tracing::info!(
                batches = r.batches.len(),
                pending = r.pending,
                "resync pass"
            ),
            Ok(_)
            | Err(archive::ArchiveError::AlreadyRunning)
            | Err(archive::ArchiveError::NotLeader(_)) => {}
            Err(e) => tracing::error!(error = %e, "resync failed"),
        }
    }
}

/// Forgets idempotency keys older than `ingest.idempotency-ttl`, hourly
/// (and once at start, for a service that was down for a while).
async fn prune_keys_loop(hot: Arc<dyn hot::HotStore>, ttl: std::time::Duration) {
    loop {
        let before = clock::now_ms() - ttl.as_millis() as i64;
        let h = hot.clone();
        match tokio::task::spawn_blocking(move || h.prune_keys(before)).await {
            Ok(Ok(n)) if n > 0 => tracing::info!(forgotten = n, "idempotency keys past their ttl"),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "cannot forget old idempotency keys"),
            Err(e) => tracing::warn!(error = %e, "idempotency key pruning stopped"),
        }
        tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
    }
}

/// Checks the conditions that no single request notices: the NAS away for
/// too long, hot rows older than their retention plus grace.
/// Cold prefetch (`router/prefetch.rs`), after each archive run (its
/// commits invalidated what they covered, and the watermark moved) and
/// when the bandwidth timetable enters an unlimited period.
async fn prefetch_loop(state: Arc<api::AppState>) {
    let top = state.cfg.query.prefetch;
    if top == 0 {
        return;
    }
    let limited = || state.link.as_ref().map(|l| l.pacer.rate_now().is_some());
    let mut last_run = state.archiver.last_run().map(|(at, _)| at);
    let mut was_limited = limited();
    loop {
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        let (run, moved) = match state.archiver.last_run() {
            // A run that archived nothing moved no watermark and
            // invalidated nothing: what was warm still is.
            Some((at, r)) => (Some(at), r.rows_archived > 0),
            None => (None, false),
        };
        let now_limited = limited();
        let after_run = run != last_run && moved;
        let quiet_began = was_limited == Some(true) && now_limited == Some(false);
        last_run = run;
        was_limited = now_limited;
        let reason = if after_run {
            "after an archive run"
        } else if quiet_began {
            "the bandwidth timetable turned unlimited"
        } else {
            continue;
        };
        let r = state.router.prefetch(top).await;
        tracing::info!(
            reason,
            warmed = r.warmed,
            rows = r.rows,
            skipped = r.skipped,
            dropped = r.dropped,
            "cold prefetch"
        );
    }
}

async fn alert_loop(
    alerter: Arc<alerts::Alerter>,
    archiver: Arc<archive::Archiver>,
    link: Option<Arc<link::LinkClient>>,
    cfg: CloudConfig,
) {
    if alerter.config().webhook.is_none() {
        return;
    }
    let a = alerter.config().clone();
    loop {
        tokio::time::sleep(a.check_every.0).await;
        let now = clock::now_ms();
        if let Some((since, reason)) = link.as_ref().and_then(|l| l.down_since()) {
            if now - since >= a.link_down_after.0.as_millis() as i64 {
                let detail = serde_json::json!({ "since": hotcold_core::time::format_timestamp_ms(since), "reason": reason });
                alerter
                    .send("link_down", &cfg.link.gateway.to_string(), detail)
                    .await;
            }
        }
        let j = archiver.journal.clone();
        let stuck = tokio::task::spawn_blocking(move || j.lock().ok()?.stuck().ok())
            .await
            .ok()
            .flatten()
            .unwrap_or_default();
        for r in &stuck {
            alerter
                .send("batch_stuck", &r.batch_id, api::admin::stuck_detail(r))
                .await;
        }
        for t in &cfg.tables {
            let retention = t.hot_retention.map_or(cfg.hot_retention.0, |r| r.0);
            let limit = now - (retention + a.hot_grace.0).as_millis() as i64;
            let (h, s) = (archiver.hot.clone(), t.clone());
            let oldest = tokio::task::spawn_blocking(move || h.min_time(&s, i64::MIN))
                .await
                .ok()
                .and_then(Result::ok)
                .flatten();
            if let Some(oldest) = oldest.filter(|o| *o < limit) {
                let detail = serde_json::json!({ "oldest": hotcold_core::time::format_timestamp_ms(oldest), "retention": cfg.hot_retention.to_string() });
                alerter.send("hot_too_old", &t.name, detail).await;
            }
        }
    }
}
