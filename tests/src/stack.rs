//! A pair on loopback for one test: certificates, both configs written
//! from [`StackOptions`], the gateway started first (its port pinned for
//! restarts), then the cloud pointed at it.

use crate::procs::{Cloud, Gateway};
use std::net::SocketAddr;
use std::path::Path;

/// Which cold store the gateway uses.
#[derive(Clone)]
pub enum ColdKind {
    Sqlite,
    ClickHouse {
        url: String,
        database: String,
    },
    /// A replicated cold store: one shard of replicas, `urls[0]` first.
    Replicas {
        urls: Vec<String>,
        cluster: String,
        database: String,
    },
}

#[derive(Clone)]
pub struct StackOptions {
    pub cold: ColdKind,
    pub hot_retention: String,
    pub gateway_env: Vec<(String, String)>,
    /// Environment of the cloud process (test hooks).
    pub cloud_env: Vec<(String, String)>,
    pub chunk_size: String,
    pub bwlimit: String,
    /// Short, so a killed gateway is noticed quickly in tests.
    pub idle_timeout: String,
    /// Long by default, so the background resync stays out of a test's way.
    pub retry_interval: String,
    pub spool_budget: String,
    /// `archive.purge-grace`: 0s by default, so a commit to ClickHouse 18.16
    /// (never fsynced) is read back and purged in the same run.
    pub purge_grace: String,
    /// ClickHouse as the hot store: (url, database). SQLite when `None`.
    pub hot_clickhouse: Option<(String, String)>,
    /// `hot.cluster`: the hot ClickHouse is this cluster (with `hot_clickhouse`).
    pub hot_cluster: Option<String>,
    /// `hot.failover`: more node URLs of that cluster.
    pub hot_failover: Vec<String>,
    /// The `tables:` list of cloud.yaml (YAML, indented by two); trades when `None`.
    pub tables_yaml: Option<String>,
    /// The `schedule:` section; disabled by default, so a nightly cron never
    /// fires in the middle of a test.
    pub schedule_yaml: String,
    /// More top-level cloud.yaml keys (e.g. `admin:`), as YAML.
    pub extra_yaml: String,
}

impl Default for StackOptions {
    fn default() -> Self {
        Self {
            cold: ColdKind::Sqlite,
            hot_retention: "2d".into(),
            gateway_env: Vec::new(),
            cloud_env: Vec::new(),
            chunk_size: "64KiB".into(),
            bwlimit: "off".into(),
            idle_timeout: "3s".into(),
            retry_interval: "1h".into(),
            spool_budget: "10GiB".into(),
            purge_grace: "0s".into(),
            hot_clickhouse: None,
            hot_cluster: None,
            hot_failover: Vec::new(),
            tables_yaml: None,
            schedule_yaml: "schedule:\n  enabled: false\n".into(),
            extra_yaml: String::new(),
        }
    }
}

/// A gateway and a cloud service in a temporary directory.
pub struct Stack {
    pub dir: tempfile::TempDir,
    pub gateway: Gateway,
    pub cloud: Cloud,
}

pub fn write_certs(dir: &Path) {
    cloud_service::certs::init(dir, "test").expect("certs");
}

/// A cold store's config lines (`kind: ...` and the rest), each indented
/// by `indent`.
pub fn cold_store_yaml(cold: &ColdKind, indent: &str) -> String {
    let lines = match cold {
        ColdKind::Sqlite => vec!["kind: sqlite".to_string()],
        ColdKind::ClickHouse { url, database } => vec![
            "kind: clickhouse".into(),
            format!("url: {url}"),
            format!("database: {database}"),
        ],
        ColdKind::Replicas {
            urls,
            cluster,
            database,
        } => vec![
            "kind: clickhouse".into(),
            format!("url: {}", urls[0]),
            format!("failover: [{}]", urls[1..].join(", ")),
            format!("cluster: {cluster}"),
            format!("database: {database}"),
        ],
    };
    lines
        .iter()
        .map(|l| format!("{indent}{l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn gateway_yaml(dir: &Path, listen: &str, certs: &Path, cold: &ColdKind) -> String {
    let cold = cold_store_yaml(cold, "  ");
    format!(
        "listen: {listen}\ndata-dir: {}\ntls:\n  ca: {c}/ca.pem\n  cert: {c}/nas-gateway.pem\n  key: {c}/nas-gateway.key\ncold:\n{cold}\ncommit-retry: 1s\nhttp-listen: 127.0.0.1:0\nsnapshot-dir: {}\n",
        dir.join("nas").display(),
        dir.join("nas-snapshots").display(),
        c = certs.display()
    )
}

pub fn cloud_yaml(dir: &Path, gateway: SocketAddr, certs: &Path, o: &StackOptions) -> String {
    let hot = match &o.hot_clickhouse {
        None => "hot:\n  kind: sqlite\n".to_string(),
        Some((url, db)) => format!("hot:\n  kind: clickhouse\n  url: {url}\n  database: {db}\n"),
    };
    let hot = match &o.hot_cluster {
        Some(c) => format!("{hot}  cluster: {c}\n"),
        None => hot,
    };
    let hot = if o.hot_failover.is_empty() {
        hot
    } else {
        format!("{hot}  failover: [{}]\n", o.hot_failover.join(", "))
    };
    format!(
        "http-listen: 127.0.0.1:0\ndata-dir: {}\n{hot}hot-retention: {}\nlink:\n  gateway: {gateway}\n  ca: {c}/ca.pem\n  cert: {c}/cloud-service.pem\n  key: {c}/cloud-service.key\n  chunk-size: {}\n  connect-timeout: 2s\n  keep-alive: 500ms\n  idle-timeout: {}\n  backoff-max: 1s\n  retry-interval: {}\n  bwlimit: \"{}\"\narchive:\n  spool-budget: {}\n  purge-grace: {}\n{}{}tables:\n{}",
        dir.join("cloud").display(),
        o.hot_retention,
        o.chunk_size,
        o.idle_timeout,
        o.retry_interval,
        o.bwlimit,
        o.spool_budget,
        o.purge_grace,
        o.schedule_yaml,
        o.extra_yaml,
        o.tables_yaml.clone().unwrap_or_else(trades_yaml),
        c = certs.display()
    )
}

/// The `tables:` list with the trades preset only (the default).
pub fn trades_yaml() -> String {
    serde_yaml::to_string(&vec![crate::data::trades_schema()]).unwrap_or_default()
}

impl Stack {
    pub fn start(opts: StackOptions) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let certs = dir.path().join("certs");
        write_certs(&certs);
        let gcfg = dir.path().join("nas.yaml");
        std::fs::write(
            &gcfg,
            gateway_yaml(dir.path(), "127.0.0.1:0", &certs, &opts.cold),
        )
        .expect("write nas.yaml");
        let gateway = Gateway::start(gcfg, dir.path().join("nas.log"), opts.gateway_env.clone());
        // Restarts must come back on the same port: pin it in the config.
        std::fs::write(
            &gateway.config,
            gateway_yaml(dir.path(), &gateway.addr.to_string(), &certs, &opts.cold),
        )
        .expect("pin port");
        let ccfg = dir.path().join("cloud.yaml");
        std::fs::write(&ccfg, cloud_yaml(dir.path(), gateway.addr, &certs, &opts))
            .expect("write cloud.yaml");
        let cloud = Cloud::start_with_env(
            ccfg,
            dir.path().join("cloud.log"),
            dir.path().join("cloud"),
            &opts.cloud_env,
        );
        Self {
            dir,
            gateway,
            cloud,
        }
    }

    /// Prints both logs: call when a test is about to fail.
    pub fn dump_logs(&self) {
        for p in [
            &self.gateway.log,
            &self.gateway.log.with_extension("restart.log"),
            &self.cloud.log,
        ] {
            eprintln!(
                "==== {} ====\n{}",
                p.display(),
                std::fs::read_to_string(p).unwrap_or_default()
            );
        }
    }
}
