//! `cloud.yaml`: HTTP, the hot store, the tables, retention, the link.

use hotcold_core::schema::TableSchema;
use hotcold_core::units::{ByteSize, Span};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

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
    pub archive: ArchiveConfig,
    pub ingest: IngestConfig,
    pub query: QueryConfig,
    pub schedule: ScheduleConfig,
    pub admin: AdminConfig,
    pub alerts: AlertsConfig,
    pub tables: Vec<TableSchema>,
    /// Files holding one table each (e.g. the presets in config/tables/),
    /// relative to this config file.
    pub table_files: Vec<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct HttpTls {
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum HotConfig {
    /// A SQLite file under `data-dir` (or `path`): the embedded default.
    Sqlite {
        #[serde(default)]
        path: Option<PathBuf>,
    },
    /// A ClickHouse server (any version from 18.16 on).
    #[serde(rename_all = "kebab-case")]
    Clickhouse {
        url: String,
        #[serde(default = "default_hot_database")]
        database: String,
        #[serde(default = "default_user")]
        user: String,
        #[serde(default)]
        password: String,
    },
}

fn default_hot_database() -> String {
    "hotcold_hot".into()
}

fn default_user() -> String {
    "default".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct LinkConfig {
    /// The gateway's QUIC address (its WireGuard address in production).
    pub gateway: SocketAddr,
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    /// The one gateway certificate accepted (`nas-gateway.pem` from
    /// `certs init`). Default: beside `ca`.
    pub peer_cert: Option<PathBuf>,
    pub chunk_size: ByteSize,
    pub connect_timeout: Span,
    /// How long one request (a batch transfer and commit) may take.
    pub request_timeout: Span,
    pub max_frame: ByteSize,
    /// Bytes per second on the link: `off`, a rate like `4MiB`, or a
    /// timetable like `"08:00,2MiB 23:00,off"` (UTC; see README).
    pub bwlimit: hotcold_core::bwlimit::BwLimit,
    /// The line's expected bandwidth and round trip, to size QUIC windows.
    pub bandwidth: ByteSize,
    pub rtt: Span,
    pub keep_alive: Span,
    /// A connection silent this long is dead (the NAS or the line is down).
    pub idle_timeout: Span,
    /// The longest wait between reconnect attempts.
    pub backoff_max: Span,
    /// How often the backlog (the offline queue) is retried.
    pub retry_interval: Span,
    /// Chunks sent but not yet acknowledged as stored by the gateway: what a
    /// cut can waste. Raise it for a long fat line (window = chunks × size).
    pub max_chunks_in_flight: usize,
    /// What the line carries beyond frame bytes, as a fraction of them:
    /// QUIC, UDP, IP and WireGuard headers (measured: 0.11 through
    /// WireGuard, 0.045 without). The limiter paces frames at
    /// bwlimit / (1 + wire-overhead), so the line stays within bwlimit.
    pub wire_overhead: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct ArchiveConfig {
    pub zstd_level: i32,
    /// Rows per encoded segment: bounds memory while exporting.
    pub segment_rows: usize,
    /// The most disk the spool (the offline queue) may use; past it, export
    /// stops and the rows wait in hot.
    pub spool_budget: ByteSize,
    /// How long a window committed to a cold store that does not fsync its
    /// inserts (ClickHouse 18.x) stays in hot before it is read back once
    /// more and purged: long enough for the NAS's kernel to have written
    /// the rows to disk (Linux writes dirty pages back within ~30 s).
    pub purge_grace: Span,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct IngestConfig {
    pub max_body: ByteSize,
    /// Ingest requests served at once; more get 503 at once (with
    /// Retry-After) instead of queueing without bound.
    pub max_concurrent: usize,
    /// The longest one ingest request may take, body upload included: a
    /// collector trickling its body cannot hold a permit for ever.
    pub max_time: Span,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct QueryConfig {
    /// The most rows one query may return.
    pub max_rows: u64,
    /// The widest time range one query may ask for.
    pub max_range: Span,
    /// Memory for cached cold answers (cold data does not change).
    pub cold_cache: ByteSize,
    /// How long a cached cold answer is reused: bounds staleness after the
    /// NAS drops expired partitions (cold retention), which the cloud does
    /// not hear about.
    pub cold_cache_ttl: Span,
    /// The most encoded bytes one cold answer may carry over the link.
    pub max_cold_bytes: ByteSize,
    /// The most time buckets one bars or aggregate request may span (per
    /// group): every bucket is folded before the limit cuts the answer.
    pub max_buckets: u64,
    /// How long a streamed answer waits for a client that stopped reading
    /// before it drops the query (and the hot store's read snapshot).
    pub stall_timeout: Span,
    /// Queries, bars and aggregates answered at once (each holds a hot read
    /// and maybe a cold stream until its body is sent); more get 503.
    pub max_concurrent: usize,
    /// The longest one query may take, answer sent included; past it the
    /// query gets 503 or its streamed answer is cut (aborted).
    pub max_time: Span,
}

impl Default for CloudConfig {
    fn default() -> Self {
        Self {
            http_listen: ([127, 0, 0, 1], 8080).into(),
            http_tls: None,
            http_header_timeout: Span(Duration::from_secs(10)),
            data_dir: "data/cloud".into(),
            hot: HotConfig::Sqlite { path: None },
            hot_retention: Span(Duration::from_secs(7 * 86_400)),
            link: LinkConfig::default(),
            archive: ArchiveConfig::default(),
            ingest: IngestConfig::default(),
            query: QueryConfig::default(),
            schedule: ScheduleConfig::default(),
            admin: AdminConfig::default(),
            alerts: AlertsConfig::default(),
            tables: Vec::new(),
            table_files: Vec::new(),
        }
    }
}

impl Default for LinkConfig {
    fn default() -> Self {
        Self {
            gateway: ([127, 0, 0, 1], 7443).into(),
            ca: "data/certs/ca.pem".into(),
            cert: "data/certs/cloud-service.pem".into(),
            key: "data/certs/cloud-service.key".into(),
            peer_cert: None,
            chunk_size: ByteSize(1 << 20),
            connect_timeout: Span(Duration::from_secs(10)),
            request_timeout: Span(Duration::from_secs(3600)),
            max_frame: ByteSize(32 << 20),
            bwlimit: hotcold_core::bwlimit::BwLimit::unlimited(),
            bandwidth: ByteSize(100 << 20),
            rtt: Span(Duration::from_millis(100)),
            keep_alive: Span(Duration::from_secs(5)),
            idle_timeout: Span(Duration::from_secs(30)),
            backoff_max: Span(Duration::from_secs(60)),
            retry_interval: Span(Duration::from_secs(30)),
            max_chunks_in_flight: 8,
            wire_overhead: 0.12,
        }
    }
}

impl Default for ArchiveConfig {
    fn default() -> Self {
        Self {
            zstd_level: 3,
            segment_rows: 65_536,
            spool_budget: ByteSize(10 << 30),
            purge_grace: Span(Duration::from_secs(300)),
        }
    }
}

/// Where alerts go and when they fire (see `alerts.rs`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct AlertsConfig {
    /// A URL that takes a JSON POST; no alerts without it.
    pub webhook: Option<String>,
    /// Alert when the NAS has been unreachable this long.
    pub link_down_after: Span,
    /// Alert when hot holds rows older than the retention plus this.
    pub hot_grace: Span,
    /// The same alert at most this often.
    pub repeat: Span,
    /// How often the conditions are checked.
    pub check_every: Span,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        Self {
            webhook: None,
            link_down_after: Span(Duration::from_secs(3600)),
            hot_grace: Span(Duration::from_secs(2 * 86_400)),
            repeat: Span(Duration::from_secs(6 * 3600)),
            check_every: Span(Duration::from_secs(60)),
        }
    }
}

/// Who may use which endpoints: one bearer token per role, each checked
/// in constant time (see `api/auth.rs`). The admin token also opens ingest
/// and query wherever those are protected.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct AdminConfig {
    /// The admin token (archive, status, verify, bwlimit, rehydrate);
    /// prefer `token-file` so it stays out of the config.
    pub token: Option<String>,
    /// A file whose first line is the admin token.
    pub token_file: Option<PathBuf>,
    /// The collectors' token for `POST /v1/ingest`.
    pub ingest_token: Option<String>,
    pub ingest_token_file: Option<PathBuf>,
    /// The analysts' token for queries, bars and aggregates.
    pub read_token: Option<String>,
    pub read_token_file: Option<PathBuf>,
    /// Require the admin token for ingest and query too, where they have no
    /// token of their own.
    pub protect_data: bool,
}

/// The tokens in force, read from their files.
#[derive(Debug, Clone, Default)]
pub struct ResolvedTokens {
    pub admin: Option<String>,
    pub ingest: Option<String>,
    pub read: Option<String>,
    pub protect_data: bool,
}

impl AdminConfig {
    pub fn resolve(&self) -> anyhow::Result<ResolvedTokens> {
        Ok(ResolvedTokens {
            admin: resolve_token("admin.token", &self.token, &self.token_file)?,
            ingest: resolve_token(
                "admin.ingest-token",
                &self.ingest_token,
                &self.ingest_token_file,
            )?,
            read: resolve_token("admin.read-token", &self.read_token, &self.read_token_file)?,
            protect_data: self.protect_data,
        })
    }
}

/// A token given inline or in a file (its first line); at least 16
/// characters, so a short guessable one is refused at start.
fn resolve_token(
    key: &str,
    inline: &Option<String>,
    file: &Option<PathBuf>,
) -> anyhow::Result<Option<String>> {
    let (t, from) = match (file, inline) {
        (Some(f), _) => {
            let t = std::fs::read_to_string(f)
                .map_err(|e| anyhow::anyhow!("{key}-file {}: {e}", f.display()))?;
            (
                t.lines().next().unwrap_or("").trim().to_string(),
                format!("{key}-file {}", f.display()),
            )
        }
        (None, Some(t)) => (t.clone(), key.to_string()),
        (None, None) => return Ok(None),
    };
    anyhow::ensure!(
        t.len() >= 16,
        "{from}: the token must be at least 16 characters"
    );
    Ok(Some(t))
}

/// When archive runs start by themselves (they can always be started by
/// hand: `cloud-service archive` or `POST /v1/admin/archive`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct ScheduleConfig {
    pub enabled: bool,
    /// Five-field cron, UTC: `0 2 * * *` is 02:00 UTC every night.
    pub cron: hotcold_core::cron::Cron,
    /// Continuous mode: a run every this long instead of the cron
    /// (small batches through the day).
    pub every: Option<Span>,
    /// A run taking longer is stopped; it resumes where it stopped next time.
    pub run_timeout: Span,
}

impl Default for ScheduleConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            cron: "0 2 * * *"
                .parse()
                .unwrap_or_else(|_| unreachable!("a valid constant")),
            every: None,
            run_timeout: Span(Duration::from_secs(6 * 3600)),
        }
    }
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            max_body: ByteSize(64 << 20),
            max_concurrent: 16,
            max_time: Span(Duration::from_secs(120)),
        }
    }
}

impl Default for QueryConfig {
    fn default() -> Self {
        Self {
            max_rows: 100_000_000,
            max_range: Span(Duration::from_secs(3660 * 86_400)),
            cold_cache: ByteSize(64 << 20),
            cold_cache_ttl: Span(Duration::from_secs(600)),
            max_cold_bytes: ByteSize(4 << 30),
            max_buckets: 1_000_000,
            stall_timeout: Span(Duration::from_secs(30)),
            max_concurrent: 32,
            max_time: Span(Duration::from_secs(600)),
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
        let o = self.link.wire_overhead;
        if !(0.0..=1.0).contains(&o) {
            return Err(format!(
                "link.wire-overhead: {o} is not a fraction from 0 to 1 (0.12 is 12%)"
            ));
        }
        let mut names = std::collections::HashSet::new();
        let ch_hot = matches!(self.hot, HotConfig::Clickhouse { .. });
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
            ("query.max-time", self.query.max_time),
        ] {
            if v.0.is_zero() {
                return Err(format!("{key}: must be more than 0"));
            }
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
}
