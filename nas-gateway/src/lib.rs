//! `nas-gateway`: receives archive batches over the QUIC link, verifies and
//! stages them, commits them to the cold store exactly once, and answers
//! cold queries.

pub mod backup;
pub mod cold;
pub mod commit;
pub mod committer;
pub mod config;
mod dial;
pub mod export;
pub mod failpoint;
#[cfg(test)]
mod fixture;
pub mod gateway;
pub mod http;
pub mod local;
mod receive;
pub mod requests;
pub mod retention;
pub mod scrub;
pub mod server;
pub mod snapshot;
pub mod snapshot_cli;
pub mod staging;

use anyhow::Context;
use cold::{clickhouse::ClickHouseCold, sqlite::SqliteCold, ColdStore};
use config::{ColdConfig, NasConfig};
use std::net::SocketAddr;
use std::sync::Arc;

/// The cold store a config names, opened (for commands that work on it
/// without running the link).
pub enum AnyCold {
    Sqlite(SqliteCold),
    ClickHouse(Box<ClickHouseCold>),
}

pub async fn open_cold(cfg: &NasConfig) -> anyhow::Result<AnyCold> {
    Ok(match &cfg.cold {
        ColdConfig::Sqlite { path } => {
            let path = path.clone().unwrap_or_else(|| cfg.data_dir.join("cold.db"));
            AnyCold::Sqlite(
                SqliteCold::open(&path)
                    .with_context(|| format!("cold store {}", path.display()))?,
            )
        }
        ColdConfig::Clickhouse(c) => AnyCold::ClickHouse(Box::new(
            ClickHouseCold::connect(c)
                .await
                .with_context(|| format!("cold store ClickHouse at {}", c.url))?,
        )),
    })
}

/// What `serve` would refuse, checked without starting anything: the
/// config's values and the certificates and keys it would load.
/// `check-config` runs this and `start` runs it first.
pub fn preflight(cfg: &NasConfig) -> anyhow::Result<()> {
    cfg.validate().map_err(|e| anyhow::anyhow!("config: {e}"))?;
    let crypto = match cfg.dial {
        Some(_) => hotcold_link::tls::client_crypto(&cfg.tls_files()).map(|_| ()),
        None => hotcold_link::tls::server_crypto(&cfg.tls_files()).map(|_| ()),
    };
    crypto.map_err(|e| {
        anyhow::anyhow!(
            "tls: the certificates in tls.ca, tls.cert, tls.key (and peer-cert) cannot be used: {e} (cloud-service certs init makes them)"
        )
    })?;
    Ok(())
}

/// A started gateway: where it listens, and the task serving it.
pub struct Running {
    pub addr: SocketAddr,
    /// Where `/health` and `/metrics` answer, if enabled.
    pub http_addr: Option<SocketAddr>,
    pub task: tokio::task::JoinHandle<()>,
}

/// Opens the cold store and the staging area, binds the link and serves it
/// until `shutdown` resolves.
pub async fn start(
    cfg: NasConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<Running> {
    preflight(&cfg)?;
    std::fs::create_dir_all(&cfg.data_dir)
        .with_context(|| format!("cannot create data dir {}", cfg.data_dir.display()))?;
    match open_cold(&cfg).await? {
        AnyCold::Sqlite(store) => start_with(cfg, store, shutdown).await,
        AnyCold::ClickHouse(store) => start_with(cfg, *store, shutdown).await,
    }
}

async fn start_with<S: ColdStore>(
    cfg: NasConfig,
    store: S,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<Running> {
    let staging = staging::Staging::open(
        cfg.data_dir.join("staging"),
        cfg.staging_budget.0,
        cfg.staging_expiry.0,
    )?;
    let tuning = hotcold_link::LinkTuning {
        keep_alive: cfg.keep_alive.0,
        ..Default::default()
    };
    let endpoint = match cfg.dial {
        Some(_) => hotcold_link::client_endpoint(&cfg.tls_files(), &tuning)?,
        None => hotcold_link::server_endpoint(cfg.listen, &cfg.tls_files(), &tuning)?,
    };
    let addr = endpoint.local_addr()?;
    let backups = backup::Backups::open(&cfg.snapshot_dir, cfg.snapshot_keep)
        .with_context(|| format!("snapshot-dir {}", cfg.snapshot_dir.display()))?;
    let gw = Arc::new(
        gateway::Gateway::new(store, staging, cfg.max_frame.0 as usize).with_backups(backups),
    );
    let committer = tokio::spawn(committer::committer(gw.clone(), cfg.commit_retry.0));
    let retention = tokio::spawn(retention::run(
        gw.clone(),
        cfg.cold_retention.0,
        cfg.retention_every.0,
    ));
    let (http_addr, http) = match cfg.http_listen {
        Some(at) => {
            let listener = tokio::net::TcpListener::bind(at)
                .await
                .with_context(|| format!("cannot bind HTTP {at}"))?;
            let addr = listener.local_addr()?;
            let app = http::router(gw.clone());
            (
                Some(addr),
                Some(tokio::spawn(
                    async move { axum::serve(listener, app).await },
                )),
            )
        }
        None => (None, None),
    };
    let dial = cfg.dial.clone();
    let task = tokio::spawn(async move {
        match dial {
            Some(cloud) => dial::dial(endpoint, cloud, gw, shutdown).await,
            None => server::serve(endpoint, gw, shutdown).await,
        }
        committer.abort();
        retention.abort();
        if let Some(h) = http {
            h.abort();
        }
    });
    Ok(Running {
        addr,
        http_addr,
        task,
    })
}
