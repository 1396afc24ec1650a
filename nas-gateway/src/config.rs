//! `nas.yaml`: where the gateway listens, keeps staging, and its cold store.

use hotcold_core::units::{ByteSize, Span};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct NasConfig {
    /// UDP address of the QUIC link (inside the WireGuard tunnel in production).
    pub listen: SocketAddr,
    /// The cloud's QUIC address, `host:port` (a name is looked up at each
    /// attempt, so a changed address is followed): the gateway dials out to
    /// it and keeps the connection up (the cloud's `link.direction:
    /// nas-dials`), so nothing needs to be reachable at home; `listen` is
    /// then unused.
    pub dial: Option<String>,
    /// How often a dialled connection sends a keep-alive: well under the
    /// NAT's UDP timeout (often 30 s) so the home router keeps the mapping.
    pub keep_alive: Span,
    /// Staging area and the SQLite cold store live here.
    pub data_dir: PathBuf,
    pub tls: TlsConfig,
    pub cold: ColdConfig,
    /// The largest frame accepted from the network.
    pub max_frame: ByteSize,
    /// How often batches staged while the cold store was down are retried.
    pub commit_retry: Span,
    /// TCP address of `/health` and `/metrics`; leave out to disable.
    pub http_listen: Option<SocketAddr>,
    /// Cold data older than this is dropped, a whole partition at a time.
    pub cold_retention: Span,
    /// How often retention is enforced.
    pub retention_every: Span,
    /// The most disk staging may use; a batch that would pass it is
    /// refused until staged ones are committed or expire.
    pub staging_budget: ByteSize,
    /// A staged batch nothing has written for this long is removed (the
    /// cloud sends it again if it still wants it).
    pub staging_expiry: Span,
    /// Where `nas-gateway snapshot` keeps snapshots of the cold store (put
    /// it on another disk or volume than the cold store's).
    pub snapshot_dir: PathBuf,
    /// The cloud's hot backups kept in `snapshot-dir/cloud`: the newest
    /// this many (older ones are deleted as each new one is kept).
    pub snapshot_keep: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct TlsConfig {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    /// The one client certificate accepted: the cloud's
    /// (`cloud-service.pem` from `certs init`). Default: beside `ca`.
    pub peer_cert: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum ColdConfig {
    /// A SQLite file: for a quick start, no server needed.
    Sqlite {
        #[serde(default)]
        path: Option<PathBuf>,
    },
    /// A ClickHouse server over HTTP: the production cold store.
    Clickhouse(hotcold_clickhouse::Connection),
}

/// The smallest `max-frame`: a frame of the smallest chunk the cloud may
/// send (`link.chunk-size` 64KiB in practice) plus its header.
const MIN_MAX_FRAME: u64 = 65 << 10;

/// The cold ClickHouse database when the config names none.
pub(crate) const DEFAULT_COLD_DATABASE: &str = "hotcold";

impl Default for NasConfig {
    fn default() -> Self {
        Self {
            listen: ([127, 0, 0, 1], 7443).into(),
            dial: None,
            keep_alive: Span(std::time::Duration::from_secs(5)),
            data_dir: "data/nas".into(),
            tls: TlsConfig::default(),
            cold: ColdConfig::Sqlite { path: None },
            max_frame: ByteSize(32 << 20),
            commit_retry: Span(std::time::Duration::from_secs(10)),
            http_listen: Some(([127, 0, 0, 1], 7080).into()),
            cold_retention: Span(std::time::Duration::from_secs(5 * 365 * 86_400)),
            retention_every: Span(std::time::Duration::from_secs(86_400)),
            staging_budget: ByteSize(20 << 30),
            staging_expiry: Span(std::time::Duration::from_secs(7 * 86_400)),
            snapshot_dir: "data/nas-snapshots".into(),
            snapshot_keep: 48,
        }
    }
}

impl Default for TlsConfig {
    fn default() -> Self {
        Self {
            ca: "data/certs/ca.pem".into(),
            cert: "data/certs/nas-gateway.pem".into(),
            key: "data/certs/nas-gateway.key".into(),
            peer_cert: None,
        }
    }
}

impl NasConfig {
    /// Reads a YAML file; relative paths in it are taken from the current
    /// directory, like every other command-line tool.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let (cfg, _from): (NasConfig, String) = hotcold_core::layers::read(
            path,
            &hotcold_core::layers::World {
                read_file: &|p| std::fs::read_to_string(p),
                vars: std::env::vars().collect(),
            },
        )
        .map_err(|e| anyhow::anyhow!(e))?;
        cfg.validate()
            .map_err(|e| anyhow::anyhow!("config {}: {e}", path.display()))?;
        Ok(cfg)
    }

    /// Checks what serde cannot: value ranges that would make `serve`
    /// fail or never commit.
    pub fn validate(&self) -> Result<(), String> {
        if self.snapshot_keep == 0 {
            return Err(
                "snapshot-keep: 0 would delete every hot backup as it is kept; give 1 or more"
                    .into(),
            );
        }
        if self.max_frame.0 < MIN_MAX_FRAME {
            return Err(format!(
                "max-frame: {} cannot hold a chunk; it must be at least {} and more than the cloud's link.chunk-size (default 1MiB)",
                self.max_frame,
                ByteSize(MIN_MAX_FRAME)
            ));
        }
        if let Some(d) = &self.dial {
            let port = d
                .rsplit_once(':')
                .and_then(|(h, p)| (!h.is_empty()).then_some(p));
            if port
                .and_then(|p| p.parse::<u16>().ok())
                .is_none_or(|p| p == 0)
            {
                return Err(format!(
                    "dial: {d:?} is not host:port (the cloud's address and its link.listen port, e.g. vm.example.net:7443)"
                ));
            }
        }
        if self.keep_alive.0.is_zero() || self.keep_alive.0 >= std::time::Duration::from_secs(25) {
            return Err(format!(
                "keep-alive: {} must be more than 0 and under 25s (home routers drop an idle UDP mapping after 30s or so)",
                self.keep_alive
            ));
        }
        if self.staging_budget.0 == 0 {
            return Err("staging-budget: must be more than 0".into());
        }
        for (key, v) in [
            ("commit-retry", self.commit_retry),
            ("retention-every", self.retention_every),
            ("cold-retention", self.cold_retention),
            ("staging-expiry", self.staging_expiry),
        ] {
            if v.0.is_zero() {
                return Err(format!("{key}: must be more than 0"));
            }
        }
        Ok(())
    }

    pub fn tls_files(&self) -> hotcold_link::TlsFiles {
        hotcold_link::TlsFiles {
            ca: self.tls.ca.clone(),
            cert: self.tls.cert.clone(),
            key: self.tls.key.clone(),
            peer: Some(
                self.tls
                    .peer_cert
                    .clone()
                    .unwrap_or_else(|| self.tls.ca.with_file_name("cloud-service.pem")),
            ),
        }
    }
}
