//! The two programs as real child processes on loopback.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Where cargo put the workspace's binaries: beside this test executable
/// (or one level up from `deps/`). `scripts/test.sh` builds them first.
/// `HOTCOLD_BIN_DIR` points elsewhere (the operator build, without hooks).
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let mut dir = exe.parent().expect("exe dir").to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    if let Some(d) = std::env::var_os("HOTCOLD_BIN_DIR") {
        dir = PathBuf::from(d);
    }
    let p = dir.join(name);
    assert!(
        p.exists(),
        "{} is missing: run `cargo build --workspace --bins` (scripts/test.sh does)",
        p.display()
    );
    p
}

/// Spawns `bin serve -c config`, waits for its "listening on ADDR" line.
fn spawn(name: &str, config: &Path, log: &Path, env: &[(String, String)]) -> (Child, String) {
    spawn_in(None, name, config, log, env)
}

/// The same, inside a network namespace (`ip netns exec` execs, so the
/// child is the program itself and signals reach it).
pub fn spawn_in(
    netns: Option<&str>,
    name: &str,
    config: &Path,
    log: &Path,
    env: &[(String, String)],
) -> (Child, String) {
    let logf = std::fs::File::create(log).expect("log file");
    let mut cmd = match netns {
        None => Command::new(bin(name)),
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns]).arg(bin(name));
            c
        }
    };
    cmd.arg("serve")
        .arg("-c")
        .arg(config)
        .stdout(Stdio::piped())
        .stderr(logf)
        .env("RUST_LOG", "info");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut http = String::new();
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(addr) = line.split("health and metrics on ").nth(1) {
                http = addr.trim().to_string();
            }
            if let Some(addr) = line.split("listening on ").nth(1) {
                // "ADDR" or "ADDR HTTP" when the program printed an HTTP side first.
                let _ = tx.send(format!("{} {http}", addr.trim()).trim().to_string());
            }
        }
    });
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(addr) => (child, addr),
        Err(_) => {
            let _ = child.kill();
            let text = std::fs::read_to_string(log).unwrap_or_default();
            panic!("{name} did not start; its log:\n{text}");
        }
    }
}

/// Peak resident memory (VmHWM) of a running child, in bytes.
pub fn peak_rss(child: &Child) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

pub fn signal(child: &Child, sig: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(child.id().to_string())
        .stderr(Stdio::null())
        .status();
}

pub struct Gateway {
    pub child: Option<Child>,
    pub addr: SocketAddr,
    /// Base URL of its /health and /metrics (empty if disabled).
    pub http: String,
    pub config: PathBuf,
    pub log: PathBuf,
    pub env: Vec<(String, String)>,
}

impl Gateway {
    pub fn start(config: PathBuf, log: PathBuf, env: Vec<(String, String)>) -> Self {
        Self::start_in(None, config, log, env)
    }

    /// Starts it inside a network namespace (restarts stay on the host).
    pub fn start_in(
        netns: Option<&str>,
        config: PathBuf,
        log: PathBuf,
        env: Vec<(String, String)>,
    ) -> Self {
        let (child, line) = spawn_in(netns, "nas-gateway", &config, &log, &env);
        let (addr, http) = line.split_once(' ').unwrap_or((line.as_str(), ""));
        let addr = addr.parse().expect("gateway addr");
        Self {
            child: Some(child),
            addr,
            http: http.to_string(),
            config,
            log,
            env,
        }
    }

    /// Starts the gateway again with the same config and port.
    pub fn restart(&mut self, env: Vec<(String, String)>) {
        self.kill("KILL");
        let (child, line) = spawn(
            "nas-gateway",
            &self.config,
            &self.log.with_extension("restart.log"),
            &env,
        );
        let (addr, http) = line.split_once(' ').unwrap_or((line.as_str(), ""));
        assert_eq!(
            addr.parse::<SocketAddr>().ok(),
            Some(self.addr),
            "restarted gateway on another port"
        );
        self.http = http.to_string();
        self.child = Some(child);
        self.env = env;
    }

    /// Kills with a real signal (`KILL`, `TERM`) and waits for the exit.
    pub fn kill(&mut self, sig: &str) {
        if let Some(mut c) = self.child.take() {
            signal(&c, sig);
            let _ = c.wait();
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.kill("KILL");
    }
}

pub struct Cloud {
    pub child: Option<Child>,
    pub url: String,
    pub config: PathBuf,
    pub log: PathBuf,
    pub data_dir: PathBuf,
    http: reqwest::Client,
}

impl Cloud {
    pub fn start(config: PathBuf, log: PathBuf, data_dir: PathBuf) -> Self {
        Self::start_with_env(config, log, data_dir, &[])
    }

    pub fn start_with_env(
        config: PathBuf,
        log: PathBuf,
        data_dir: PathBuf,
        env: &[(String, String)],
    ) -> Self {
        Self::start_in(None, config, log, data_dir, env)
    }

    /// Starts it inside a network namespace.
    pub fn start_in(
        netns: Option<&str>,
        config: PathBuf,
        log: PathBuf,
        data_dir: PathBuf,
        env: &[(String, String)],
    ) -> Self {
        let (child, url) = spawn_in(netns, "cloud-service", &config, &log, env);
        Self {
            child: Some(child),
            url,
            config,
            log,
            data_dir,
            http: reqwest::Client::new(),
        }
    }

    pub fn kill(&mut self, sig: &str) {
        if let Some(mut c) = self.child.take() {
            signal(&c, sig);
            let _ = c.wait();
        }
    }

    /// Sends `Authorization: Bearer <token>` with every request from here on.
    pub fn with_token(mut self, token: &str) -> Self {
        let mut h = reqwest::header::HeaderMap::new();
        if let Ok(v) = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}")) {
            h.insert(reqwest::header::AUTHORIZATION, v);
        }
        self.http = reqwest::Client::builder()
            .default_headers(h)
            .build()
            .expect("http client");
        self
    }

    pub async fn ingest(
        &self,
        table: &str,
        body: impl Into<reqwest::Body>,
    ) -> (u16, serde_json::Value) {
        let r = self
            .http
            .post(format!("{}/v1/ingest/{table}", self.url))
            .body(body)
            .send()
            .await
            .expect("ingest request");
        let s = r.status().as_u16();
        (s, r.json().await.unwrap_or(serde_json::Value::Null))
    }

    pub async fn archive(&self) -> (u16, serde_json::Value) {
        let r = self
            .http
            .post(format!("{}/v1/admin/archive", self.url))
            .send()
            .await
            .expect("archive request");
        let s = r.status().as_u16();
        (s, r.json().await.unwrap_or(serde_json::Value::Null))
    }

    /// Runs an archive, waiting out a run already in progress (the
    /// background resync or the scheduler), which answers 409.
    pub async fn archive_when_idle(&self) -> (u16, serde_json::Value) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let (s, r) = self.archive().await;
            if s != 409 || std::time::Instant::now() > deadline {
                return (s, r);
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }

    /// GET a query; returns status, headers and body text.
    pub async fn query(
        &self,
        table: &str,
        params: &str,
    ) -> (u16, reqwest::header::HeaderMap, String) {
        self.ask("query", table, params).await
    }

    /// The rows a query answers as NDJSON; anything but a 200 panics with
    /// the status and the body.
    pub async fn query_rows(&self, table: &str, params: &str) -> Vec<serde_json::Value> {
        let (s, _, body) = self.query(table, params).await;
        assert_eq!(s, 200, "query {table}?{params}: {body}");
        crate::data::parse_ndjson(&body)
    }

    /// GET `/v1/{endpoint}/{table}?{params}` (query, bars, aggregate).
    pub async fn ask(
        &self,
        endpoint: &str,
        table: &str,
        params: &str,
    ) -> (u16, reqwest::header::HeaderMap, String) {
        let r = self
            .http
            .get(format!("{}/v1/{endpoint}/{table}?{params}", self.url))
            .send()
            .await
            .expect("query request");
        let s = r.status().as_u16();
        let h = r.headers().clone();
        (s, h, r.text().await.unwrap_or_default())
    }

    pub async fn status(&self) -> serde_json::Value {
        let (s, body) = self.get("/v1/admin/status").await;
        assert_eq!(s, 200, "{body}");
        serde_json::from_str(&body).expect("status JSON")
    }

    pub async fn put(&self, path: &str, body: &str) -> (u16, serde_json::Value) {
        let r = self
            .http
            .put(format!("{}{path}", self.url))
            .body(body.to_string())
            .send()
            .await
            .expect("put");
        let s = r.status().as_u16();
        (s, r.json().await.unwrap_or(serde_json::Value::Null))
    }

    /// POST with no body; returns status and JSON.
    pub async fn post(&self, path: &str) -> (u16, serde_json::Value) {
        let r = self
            .http
            .post(format!("{}{path}", self.url))
            .send()
            .await
            .expect("post");
        let s = r.status().as_u16();
        (s, r.json().await.unwrap_or(serde_json::Value::Null))
    }

    pub async fn get(&self, path: &str) -> (u16, String) {
        let r = self
            .http
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .expect("get");
        let s = r.status().as_u16();
        (s, r.text().await.unwrap_or_default())
    }

    /// Rows the hot SQLite file holds in a window, read from the file itself.
    pub fn hot_count(&self, schema: &hotcold_core::TableSchema, w: hotcold_core::Window) -> u64 {
        let conn = rusqlite::Connection::open(self.data_dir.join("hot.db")).expect("hot.db");
        hotcold_sqlite::count(&conn, schema, w).expect("count")
    }
}

impl Drop for Cloud {
    fn drop(&mut self) {
        self.kill("KILL");
    }
}

/// Which cold store the gateway uses.
#[derive(Clone)]
pub enum ColdKind {
    Sqlite,
    ClickHouse { url: String, database: String },
}

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

pub fn gateway_yaml(dir: &Path, listen: &str, certs: &Path, cold: &ColdKind) -> String {
    let cold = match cold {
        ColdKind::Sqlite => "  kind: sqlite".to_string(),
        ColdKind::ClickHouse { url, database } => {
            format!("  kind: clickhouse\n  url: {url}\n  database: {database}")
        }
    };
    format!(
        "listen: {listen}\ndata-dir: {}\ntls:\n  ca: {c}/ca.pem\n  cert: {c}/nas-gateway.pem\n  key: {c}/nas-gateway.key\ncold:\n{cold}\ncommit-retry: 1s\nhttp-listen: 127.0.0.1:0\n",
        dir.join("nas").display(),
        c = certs.display()
    )
}

pub fn cloud_yaml(dir: &Path, gateway: SocketAddr, certs: &Path, o: &StackOptions) -> String {
    let hot = match &o.hot_clickhouse {
        None => "hot:\n  kind: sqlite\n".to_string(),
        Some((url, db)) => format!("hot:\n  kind: clickhouse\n  url: {url}\n  database: {db}\n"),
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
