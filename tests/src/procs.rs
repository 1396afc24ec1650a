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

/// CPU seconds (user + system) a process has used so far, from /proc.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses.
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// The pid of the process listening on `url`'s TCP port (the ClickHouse
/// server a bench talks to), for its CPU time; from `ss`.
pub fn listener_pid(url: &str) -> Option<u32> {
    let port = url.rsplit(':').next()?.trim_end_matches('/');
    let out = Command::new("ss")
        .args(["-Hltnp", &format!("sport = :{port}")])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let at = text.find("pid=")? + 4;
    text[at..]
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
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

    /// `n` trades spread evenly over `[from, to)`, sent in requests of
    /// 100,000 (seed `first_seed + i` for request `i`), timed: the benches'
    /// way to fill the hot store.
    pub async fn ingest_spread(
        &self,
        from: i64,
        to: i64,
        n: usize,
        first_seed: u64,
    ) -> anyhow::Result<()> {
        let chunk = 100_000;
        let t = std::time::Instant::now();
        let span = (to - from) / n.div_ceil(chunk).max(1) as i64;
        for (i, start) in (0..n).step_by(chunk).enumerate() {
            let a = from + i as i64 * span;
            let rows = crate::data::trades(
                a,
                (a + span).min(to),
                chunk.min(n - start),
                first_seed + i as u64,
            );
            let (s, b) = self.ingest("trades", crate::data::ndjson(&rows)).await;
            anyhow::ensure!(s == 200, "ingest: {b}");
        }
        println!("ingested {n} trades in {:.1}s", t.elapsed().as_secs_f64());
        Ok(())
    }

    /// POSTs `rows` in requests of 50,000; any answer but 200 panics.
    pub async fn ingest_all(&self, table: &str, rows: &[serde_json::Value]) {
        for c in rows.chunks(50_000) {
            let (s, v) = self.ingest(table, crate::data::ndjson(c)).await;
            assert_eq!(s, 200, "ingest {table}: {v}");
        }
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

    /// GET `/v1/{endpoint}/{table}?{params}` with the body as bytes (the
    /// Arrow and Parquet answers).
    pub async fn ask_bytes(
        &self,
        endpoint: &str,
        table: &str,
        params: &str,
    ) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
        let r = self
            .http
            .get(format!("{}/v1/{endpoint}/{table}?{params}", self.url))
            .send()
            .await
            .expect("query request");
        let s = r.status().as_u16();
        let h = r.headers().clone();
        (
            s,
            h,
            r.bytes().await.map(|b| b.to_vec()).unwrap_or_default(),
        )
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
