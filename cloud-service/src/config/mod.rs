//! `cloud.yaml`: HTTP, the hot store, the tables, retention, the link.

use hotcold_core::schema::TableSchema;
use hotcold_core::units::Span;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

mod api;
mod archive;
mod cluster;
mod cost;
mod hot;
mod snapshot;

pub use api::{AdminConfig, IngestConfig, QueryConfig, ResolvedTokens};
pub use archive::{AlertsConfig, ArchiveConfig, Direction, LinkConfig, ScheduleConfig};
pub use cluster::ClusterConfig;
pub use cost::CostConfig;
pub use hot::HotConfig;
pub(crate) use hot::DEFAULT_HOT_DATABASE;
pub use snapshot::SnapshotConfig;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct CloudConfig {
    pub http_listen: SocketAddr,
    /// HTTPS instead of HTTP: a PEM certificate (chain) and its key
    /// (`cloud-service certs https` makes a self-signed pair).
    pub http_tls: Option<HttpTls>,
    /// How long a client may take to deliver a request's headers (and the
    /// TLS handshake) before its connection is closed.
    pub http_header_timeout: Span,
    /// Journal, spool and the SQLite hot store live here.
    pub data_dir: PathBuf,
    pub hot: HotConfig,
    /// Rows newer than this stay hot; older windows are archived.
    pub hot_retention: Span,
    pub link: LinkConfig,
    /// The standalone edition: the cold tier in this process (no NAS, no
    /// link, no certificates). When set, `link` is not used.
    pub cold: Option<nas_gateway::local::LocalConfig>,
    pub archive: ArchiveConfig,
    pub ingest: IngestConfig,
    pub query: QueryConfig,
    pub schedule: ScheduleConfig,
    pub admin: AdminConfig,
    pub alerts: AlertsConfig,
    /// Prices for the cost report.
    pub cost: CostConfig,
    /// Where snapshots are kept (`cloud-service snapshot`).
    pub snapshot: SnapshotConfig,
    pub tables: Vec<TableSchema>,
    /// Files holding one table each (e.g. the presets in config/tables/),
    /// relative to this config file.
    pub table_files: Vec<PathBuf>,
    /// Several replicas with one archiver leader (ZooKeeper); alone if unset.
    pub cluster: Option<ClusterConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct HttpTls {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Default for CloudConfig {
    fn default() -> Self {
        Self {
            http_listen: ([127, 0, 0, 1], 8080).into(),
            http_tls: None,
            http_header_timeout: Span(Duration::from_secs(10)),
            data_dir: "data/cloud".into(),
            hot: HotConfig::Sqlite {
                path: None,
                columnar_copy: true,
            },
            hot_retention: Span(Duration::from_secs(7 * 86_400)),
            link: LinkConfig::default(),
            cold: None,
            archive: ArchiveConfig::default(),
            ingest: IngestConfig::default(),
            query: QueryConfig::default(),
            schedule: ScheduleConfig::default(),
            admin: AdminConfig::default(),
            alerts: AlertsConfig::default(),
            cost: CostConfig::default(),
            snapshot: SnapshotConfig::default(),
            tables: Vec::new(),
            table_files: Vec::new(),
            cluster: None,
        }
    }
}

impl CloudConfig {
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let (mut cfg, from): (CloudConfig, String) = hotcold_core::layers::read(
            path,
            &hotcold_core::layers::World {
                read_file: &|p| std::fs::read_to_string(p),
                vars: std::env::vars().collect(),
            },
        )
        .map_err(|e| anyhow::anyhow!(e))?;
        let base = path.parent().unwrap_or(Path::new("."));
        for (i, f) in cfg.table_files.iter().enumerate() {
            let p = base.join(f);
            let t = std::fs::read_to_string(&p).map_err(|e| {
                anyhow::anyhow!(
                    "config {}: table-files[{i}]: cannot read {}: {e}",
                    path.display(),
                    p.display()
                )
            })?;
            let table: TableSchema =
                serde_yaml::from_str(&t).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?;
            cfg.tables.push(table);
        }
        cfg.validate()
            .map_err(|e| anyhow::anyhow!("config {from}: {e}"))?;
        Ok(cfg)
    }

    /// Checks what serde cannot: table schemas and value ranges.
    pub fn validate(&self) -> Result<(), String> {
        self.cost.validate()?;
        self.snapshot.validate()?;
        if let Some(c) = &self.cluster {
            c.validate()?;
            // Every replica must read and purge the same hot rows.
            if !matches!(self.hot, HotConfig::Clickhouse(_)) {
                return Err("cluster: needs hot.kind: clickhouse, a hot store every replica shares (a SQLite file is one replica's own)".into());
            }
            if self.cold.is_some() {
                return Err("cluster: the in-process cold tier (cold:) is one process's own; replicas archive to a nas-gateway over the link".into());
            }
        }
        let o = self.link.wire_overhead;
        if !(0.0..=1.0).contains(&o) {
            return Err(format!(
                "link.wire-overhead: {o} is not a fraction from 0 to 1 (0.12 is 12%)"
            ));
        }
        if self.tables.is_empty() {
            return Err(
                "tables: none declared; list every table the service stores here or in table-files (presets in config/tables/)".into(),
            );
        }
        for (key, v) in [
            ("ingest.max-body", self.ingest.max_body.0),
            ("ingest.max-concurrent", self.ingest.max_concurrent as u64),
            ("query.max-concurrent", self.query.max_concurrent as u64),
            ("query.max-rows", self.query.max_rows),
            ("query.max-buckets", self.query.max_buckets),
        ] {
            if v == 0 {
                return Err(format!("{key}: must be more than 0"));
            }
        }
        let mut names = std::collections::HashSet::new();
        let ch_hot = matches!(self.hot, HotConfig::Clickhouse(_));
        for (i, t) in self.tables.iter().enumerate() {
            if t.columns.is_empty() {
                if !ch_hot {
                    return Err(format!(
                        "tables[{i}]: table {} declares no columns; columns may be left out only with hot.kind: clickhouse, where they are read from the existing table",
                        t.name
                    ));
                }
                hotcold_core::schema::check_name(&t.name)
                    .map_err(|e| format!("tables[{i}]: {e}"))?;
                hotcold_core::schema::check_name(&t.time_column)
                    .map_err(|e| format!("tables[{i}]: {e}"))?;
            } else {
                t.validate().map_err(|e| format!("tables[{i}]: {e}"))?;
            }
            reserved_name(&t.name).map_err(|e| format!("tables[{i}]: {e}"))?;
            if !names.insert(&t.name) {
                return Err(format!("tables[{i}]: table {} is declared twice", t.name));
            }
        }
        let cs = self.link.chunk_size.0;
        if !(u64::from(hotcold_core::manifest::MIN_CHUNK_SIZE)
            ..=u64::from(hotcold_core::manifest::MAX_CHUNK_SIZE))
            .contains(&cs)
        {
            return Err(format!(
                "link.chunk-size: {} is outside 4KiB..=16MiB",
                self.link.chunk_size
            ));
        }
        if !(1..=22).contains(&self.archive.zstd_level) {
            return Err(format!(
                "archive.zstd-level: {} is outside 1..=22",
                self.archive.zstd_level
            ));
        }
        if self.archive.segment_rows == 0 || self.archive.segment_rows > 1 << 20 {
            return Err(format!(
                "archive.segment-rows: {} is outside 1..=1048576",
                self.archive.segment_rows
            ));
        }
        for (key, v) in [
            ("link.idle-timeout", self.link.idle_timeout),
            ("link.keep-alive", self.link.keep_alive),
            ("link.retry-interval", self.link.retry_interval),
            ("ingest.max-time", self.ingest.max_time),
            ("ingest.idempotency-ttl", self.ingest.idempotency_ttl),
            ("query.max-time", self.query.max_time),
        ] {
            if v.0.is_zero() {
                return Err(format!("{key}: must be more than 0"));
            }
        }
        let d = self.link.defer_loss;
        if !(d > 0.0 && d <= 1.0) {
            return Err(format!(
                "link.defer-loss: {d} is not a share of packets above 0 and at most 1 (0.2 is 20%; 1 never defers)"
            ));
        }
        if self.link.defer_rtt_spread.is_some_and(|s| s.0.is_zero()) {
            return Err(
                "link.defer-rtt-spread: must be more than 0 (e.g. 150ms; leave it out to never defer on a swinging round trip)".into(),
            );
        }
        match (self.link.direction, self.link.listen) {
            (archive::Direction::NasDials, None) => {
                return Err("link.listen: direction nas-dials needs the UDP address the cloud listens on for its gateway (e.g. 0.0.0.0:7443)".into())
            }
            (archive::Direction::NasDials, Some(_)) if self.cluster.is_some() => {
                return Err("link.direction: nas-dials does not work with cluster: every replica would listen, but the NAS dials one address; use cloud-dials (the leader dials the gateway)".into())
            }
            (archive::Direction::CloudDials, Some(l)) => {
                return Err(format!(
                    "link.listen ({l}) is for direction nas-dials; with cloud-dials the cloud dials link.gateway"
                ))
            }
            _ => {}
        }
        if self.link.keep_alive >= self.link.idle_timeout {
            return Err(format!(
                "link.keep-alive ({}) must be shorter than link.idle-timeout ({})",
                self.link.keep_alive, self.link.idle_timeout
            ));
        }
        if self.hot_retention.0.is_zero() {
            return Err("hot-retention: must be more than 0".into());
        }
        if let Some(c) = &self.cold {
            for (key, v) in [
                ("cold.commit-retry", c.commit_retry),
                ("cold.retention-every", c.retention_every),
                ("cold.cold-retention", c.cold_retention),
            ] {
                if v.0.is_zero() {
                    return Err(format!("{key}: must be more than 0"));
                }
            }
        }
        Ok(())
    }

    pub fn tls_files(&self) -> hotcold_link::TlsFiles {
        hotcold_link::TlsFiles {
            ca: self.link.ca.clone(),
            cert: self.link.cert.clone(),
            key: self.link.key.clone(),
            peer: Some(
                self.link
                    .peer_cert
                    .clone()
                    .unwrap_or_else(|| self.link.ca.with_file_name("nas-gateway.pem")),
            ),
        }
    }
}

/// The suffix of rehydrate's copies of archived days (`T__rehydrated`).
pub(crate) const REHYDRATED_SUFFIX: &str = "__rehydrated";

/// Table names the stores keep for themselves: SQLite's own catalog
/// (`sqlite_*`), ours (`_hotcold*`), and rehydrate's copies (`T__rehydrated`).
/// `serve` would fail or clash on them, so the config refuses them.
fn reserved_name(name: &str) -> Result<(), String> {
    let lower = name.to_ascii_lowercase();
    if lower.starts_with("sqlite_") {
        return Err(format!(
            "table name {name}: names starting with sqlite_ are SQLite's own"
        ));
    }
    if lower.starts_with("_hotcold") {
        return Err(format!("table name {name}: names starting with _hotcold are the product's own (ledger, journal)"));
    }
    if lower.ends_with(REHYDRATED_SUFFIX) {
        return Err(format!(
            "table name {name}: names ending in {} are rehydrate's copies of archived days",
            REHYDRATED_SUFFIX
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shipped configs and every preset in config/tables/ load and validate.
    #[test]
    fn shipped_configs_and_presets_load() {
        let dir = tempfile::tempdir().unwrap();
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config");
        CloudConfig::load(&root.join("cloud.yaml")).unwrap();
        let presets: Vec<_> = std::fs::read_dir(root.join("tables"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert!(presets.len() >= 6);
        let files: Vec<String> = presets
            .iter()
            .map(|p| format!("\"{}\"", p.display()))
            .collect();
        let yaml = format!("table-files: [{}]\n", files.join(", "));
        let path = dir.path().join("c.yaml");
        std::fs::write(&path, yaml).unwrap();
        let cfg = CloudConfig::load(&path).unwrap();
        assert_eq!(cfg.tables.len(), presets.len());
        std::fs::write(&path, "table-files: [nope.yaml]\n").unwrap();
        let e = CloudConfig::load(&path).unwrap_err().to_string();
        assert!(
            e.contains("table-files[0]") && e.contains("nope.yaml"),
            "{e}"
        );
        std::fs::write(&path, "tables: []\nhot-retenion: 3d\n").unwrap();
        let e = CloudConfig::load(&path).unwrap_err().to_string();
        assert!(
            e.contains("hot-retenion"),
            "a typo in a key is an error: {e}"
        );
    }

    /// `link.defer-rtt-spread` takes a span above zero; zero is refused
    /// with the key named (absent is how it is off).
    #[test]
    fn a_zero_rtt_spread_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config");
        let shipped = std::fs::read_to_string(root.join("cloud.yaml")).unwrap();
        let path = dir.path().join("c.yaml");
        let with =
            |v: &str| shipped.replacen("link:\n", &format!("link:\n  defer-rtt-spread: {v}\n"), 1);
        std::fs::write(&path, with("150ms")).unwrap();
        let cfg = CloudConfig::load(&path).unwrap();
        assert_eq!(
            cfg.link.defer_rtt_spread.map(|s| s.0),
            Some(std::time::Duration::from_millis(150))
        );
        assert_eq!(
            CloudConfig::default().link.defer_rtt_spread.map(|s| s.0),
            None
        );
        std::fs::write(&path, with("0s")).unwrap();
        let e = CloudConfig::load(&path).unwrap_err().to_string();
        assert!(e.contains("link.defer-rtt-spread"), "{e}");
    }
}
