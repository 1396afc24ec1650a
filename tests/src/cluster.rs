//! The cluster edition on loopback: one ZooKeeper (the suite's), one hot
//! ClickHouse shared by several `cloud-service` replicas, one gateway with
//! a SQLite cold store, each replica a real process with its own data dir,
//! port and failpoint file (`cloud-service/src/failpoint.rs`).

use crate::procs::{Cloud, Gateway};
use crate::stack::{cloud_yaml, gateway_yaml, write_certs, ColdKind, StackOptions};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The suite's ZooKeeper (`HOTCOLD_ZOOKEEPER`, host:port, set by
/// scripts/test.sh). Without it the cluster tests say SKIPPED, unless
/// `HOTCOLD_REQUIRE_ZOOKEEPER=1`, where its absence is a failure.
pub fn zookeeper() -> Option<String> {
    match std::env::var("HOTCOLD_ZOOKEEPER") {
        Ok(z) if !z.is_empty() => Some(z),
        _ => {
            assert!(
                std::env::var("HOTCOLD_REQUIRE_ZOOKEEPER").as_deref() != Ok("1"),
                "HOTCOLD_REQUIRE_ZOOKEEPER=1 but HOTCOLD_ZOOKEEPER is not set"
            );
            eprintln!("SKIPPED: no ZooKeeper (set HOTCOLD_ZOOKEEPER, or run scripts/test.sh)");
            None
        }
    }
}

/// `scripts/zookeeper.sh CMD` on the suite's server (its dir and port from
/// `HOTCOLD_ZOOKEEPER_DIR` and the address), for the restart test.
pub fn zookeeper_script(cmd: &str) {
    let zk = std::env::var("HOTCOLD_ZOOKEEPER").unwrap_or_default();
    let port = zk.rsplit(':').next().unwrap_or("").to_string();
    let dir = std::env::var("HOTCOLD_ZOOKEEPER_DIR").expect("HOTCOLD_ZOOKEEPER_DIR");
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/zookeeper.sh");
    let out = std::process::Command::new("bash")
        .arg(script)
        .arg(cmd)
        .arg(dir)
        .env("ZOOKEEPER_PORT", port)
        .output()
        .expect("zookeeper.sh");
    assert!(
        out.status.success(),
        "zookeeper.sh {cmd}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

pub struct Replica {
    pub id: String,
    pub url: String,
    pub config: PathBuf,
    pub dir: PathBuf,
    pub failpoints: PathBuf,
    pub cloud: Option<Cloud>,
    starts: u32,
}

impl Replica {
    pub fn log(&self, n: u32) -> PathBuf {
        self.dir.join(format!("cloud.{n}.log"))
    }

    /// Every log this replica wrote, oldest start first.
    pub fn logs(&self) -> String {
        (0..self.starts)
            .map(|n| std::fs::read_to_string(self.log(n)).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n")
    }

    pub fn start(&mut self) {
        let env = vec![(
            "HOTCOLD_TEST_FAILPOINTS".to_string(),
            self.failpoints.display().to_string(),
        )];
        let log = self.log(self.starts);
        self.starts += 1;
        self.cloud = Some(Cloud::start_with_env(
            self.config.clone(),
            log,
            self.dir.join("cloud"),
            &env,
        ));
    }

    pub fn kill9(&mut self) {
        if let Some(mut c) = self.cloud.take() {
            c.kill("KILL");
        }
    }

    pub fn alive(&self) -> bool {
        self.cloud.is_some()
    }

    /// Arms the failpoint file (`point=ms` lines); "" disarms.
    pub fn arm(&self, text: &str) {
        std::fs::write(&self.failpoints, text).expect("failpoints");
    }

    /// `/health`'s cluster part, or None if the replica does not answer.
    pub async fn cluster(&self) -> Option<serde_json::Value> {
        self.cloud.as_ref()?;
        let r = reqwest::Client::new()
            .get(format!("{}/health", self.url))
            .timeout(Duration::from_secs(2))
            .send()
            .await
            .ok()?;
        let v: serde_json::Value = r.json().await.ok()?;
        Some(v["components"]["cluster"]["detail"].clone()).filter(|d| !d.is_null())
    }

    pub async fn role(&self) -> Option<String> {
        Some(self.cluster().await?["role"].as_str()?.to_string())
    }

    /// POSTs NDJSON; the status, or None when nothing answered.
    pub async fn ingest(&self, body: String) -> Option<u16> {
        self.cloud.as_ref()?;
        reqwest::Client::new()
            .post(format!("{}/v1/ingest/trades", self.url))
            .body(body)
            .timeout(Duration::from_secs(20))
            .send()
            .await
            .ok()
            .map(|r| r.status().as_u16())
    }

    pub async fn post_archive(&self) -> Option<(u16, serde_json::Value)> {
        self.cloud.as_ref()?;
        let r = reqwest::Client::new()
            .post(format!("{}/v1/admin/archive", self.url))
            .timeout(Duration::from_secs(120))
            .send()
            .await
            .ok()?;
        let s = r.status().as_u16();
        Some((s, r.json().await.unwrap_or_default()))
    }
}

pub struct ClusterStack {
    pub dir: tempfile::TempDir,
    pub gateway: Gateway,
    pub replicas: Vec<Replica>,
    pub ch_url: String,
    pub hot_db: String,
    pub root: String,
    /// The gateway's cold store (SQLite unless `with_hot` named ClickHouse).
    pub cold: ColdKind,
}

impl ClusterStack {
    /// `n` replicas, replica `i` reaching ZooKeeper at `zk(i)`, none started.
    pub fn new(n: usize, ch_url: &str, zk: impl Fn(usize) -> String, session: &str) -> Self {
        let hot_db = crate::clickhouse::unique_db("cluster_hot");
        let hot = StackOptions {
            hot_clickhouse: Some((ch_url.to_string(), hot_db)),
            ..Default::default()
        };
        Self::with_hot(n, hot, zk, session)
    }

    /// As `new`, with the hot store `hot` names (`hot_clickhouse` and, for
    /// a ClickHouse cluster, `hot_cluster` and `hot_failover`).
    pub fn with_hot(
        n: usize,
        hot: StackOptions,
        zk: impl Fn(usize) -> String,
        session: &str,
    ) -> Self {
        let (ch_url, hot_db) = hot.hot_clickhouse.clone().expect("a ClickHouse hot store");
        let ch_url = ch_url.as_str();
        let dir = tempfile::tempdir().expect("tempdir");
        let certs = dir.path().join("certs");
        write_certs(&certs);
        let gcfg = dir.path().join("nas.yaml");
        let cold = hot.cold.clone();
        std::fs::write(
            &gcfg,
            gateway_yaml(dir.path(), "127.0.0.1:0", &certs, &cold),
        )
        .expect("nas.yaml");
        let gateway = Gateway::start(gcfg, dir.path().join("nas.log"), Vec::new());
        let root = format!(
            "/hotcold/test-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        );
        let replicas = (0..n)
            .map(|i| {
                let id = format!("r{i}");
                let rdir = dir.path().join(&id);
                std::fs::create_dir_all(&rdir).expect("replica dir");
                let port = free_port();
                let url = format!("http://127.0.0.1:{port}");
                let opts = StackOptions {
                    extra_yaml: format!(
                        "cluster:\n  zookeeper: {}\n  root: {root}\n  replica-id: {id}\n  session-timeout: {session}\n  advertise: {url}\n",
                        zk(i)
                    ),
                    ..hot.clone()
                };
                let yaml = cloud_yaml(&rdir, gateway.addr, &certs, &opts)
                    .replace("http-listen: 127.0.0.1:0", &format!("http-listen: 127.0.0.1:{port}"));
                let config = rdir.join("cloud.yaml");
                std::fs::write(&config, yaml).expect("cloud.yaml");
                let failpoints = rdir.join("failpoints");
                std::fs::write(&failpoints, "").expect("failpoints");
                Replica { id, url, config, dir: rdir, failpoints, cloud: None, starts: 0 }
            })
            .collect();
        Self {
            dir,
            gateway,
            replicas,
            ch_url: ch_url.to_string(),
            hot_db,
            root,
            cold,
        }
    }

    /// The replicas that say they lead.
    pub async fn leaders(&self) -> Vec<usize> {
        let mut out = Vec::new();
        for (i, r) in self.replicas.iter().enumerate() {
            if r.role().await.as_deref() == Some("leader") {
                out.push(i);
            }
        }
        out
    }

    /// Waits until exactly one replica leads; returns it and how long.
    pub async fn one_leader(&self, limit: Duration) -> (usize, Duration) {
        let t = Instant::now();
        loop {
            let l = self.leaders().await;
            assert!(l.len() <= 1, "two leaders at once: {l:?}");
            if let [i] = l[..] {
                return (i, t.elapsed());
            }
            if t.elapsed() > limit {
                self.dump_logs();
                panic!("no leader within {limit:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Trade ids in the hot ClickHouse table, read over plain HTTP.
    pub async fn hot_ids(&self) -> Vec<u64> {
        crate::clickhouse::u64s(
            &self.ch_url,
            &format!("SELECT trade_id FROM {}.trades", self.hot_db),
        )
        .await
    }

    fn cold_file(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(self.dir.path().join("nas/cold.db")).expect("cold.db")
    }

    /// Runs `select` on a cold ClickHouse, or `None` for a SQLite cold store;
    /// an absent table (nothing committed yet) reads as no rows.
    async fn cold_ch(&self, table: &str, select: &str) -> Option<Vec<u64>> {
        let ColdKind::ClickHouse { url, database } = &self.cold else {
            return None;
        };
        let exists =
            crate::clickhouse::u64s(url, &format!("EXISTS TABLE {database}.{table}")).await;
        if exists != [1] {
            return Some(Vec::new());
        }
        Some(crate::clickhouse::u64s(url, &select.replace("{db}", database)).await)
    }

    /// Trade ids in the gateway's cold store, read from its file or over
    /// ClickHouse's own HTTP.
    pub async fn cold_ids(&self) -> Vec<u64> {
        if let Some(v) = self
            .cold_ch("trades", "SELECT trade_id FROM {db}.trades")
            .await
        {
            return v;
        }
        let c = self.cold_file();
        let mut st = match c.prepare("SELECT trade_id FROM trades") {
            Ok(st) => st,
            Err(_) => return Vec::new(),
        };
        st.query_map([], |r| r.get::<_, i64>(0))
            .expect("cold read")
            .map(|v| v.expect("cold row") as u64)
            .collect()
    }

    /// How many windows the gateway's ledger holds more than once.
    pub async fn ledger_twice(&self) -> u64 {
        let q = "SELECT count() FROM (SELECT t0, t1 FROM {db}._hotcold_ledger FINAL GROUP BY table_name, t0, t1 HAVING count() > 1)";
        if let Some(v) = self.cold_ch("_hotcold_ledger", q).await {
            return v.first().copied().unwrap_or(0);
        }
        self.cold_file()
            .query_row(
                "SELECT count(*) FROM (SELECT 1 FROM _hotcold_ledger GROUP BY table_name, t0, t1 HAVING count(*) > 1)",
                [],
                |r| r.get::<_, i64>(0),
            )
            .unwrap_or(0) as u64
    }

    pub async fn ledger_windows(&self) -> usize {
        let q = "SELECT count() FROM {db}._hotcold_ledger FINAL";
        if let Some(v) = self.cold_ch("_hotcold_ledger", q).await {
            return v.first().copied().unwrap_or(0) as usize;
        }
        self.cold_file()
            .query_row("SELECT count(*) FROM _hotcold_ledger", [], |r| {
                r.get::<_, i64>(0)
            })
            .unwrap_or(0) as usize
    }

    /// Each live replica's watermarks, from its own status.
    pub async fn watermarks(&self) -> Vec<(String, serde_json::Value)> {
        let mut out = Vec::new();
        for r in self.replicas.iter().filter(|r| r.alive()) {
            if let Some(c) = &r.cloud {
                out.push((r.id.clone(), c.status().await["watermarks"].clone()));
            }
        }
        out
    }

    pub fn dump_logs(&self) {
        for r in &self.replicas {
            let text = r.logs();
            let tail: Vec<&str> = text.lines().rev().take(60).collect();
            eprintln!("==== {} (last 60 lines) ====", r.id);
            for l in tail.into_iter().rev() {
                eprintln!("{l}");
            }
        }
        eprintln!(
            "==== gateway ====\n{}",
            std::fs::read_to_string(&self.gateway.log).unwrap_or_default()
        );
    }
}

/// Runs `cloud-service serve -c config` expecting it to refuse to start;
/// returns what it printed (its error), or panics if it kept running.
pub async fn start_fails(config: &std::path::Path) -> String {
    let run = tokio::process::Command::new(crate::procs::bin("cloud-service"))
        .arg("serve")
        .arg("-c")
        .arg(config)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(40), run)
        .await
        .expect("cloud-service kept running with a bad cluster config")
        .expect("run cloud-service");
    assert!(!out.status.success(), "it started");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
