//! The 2 x 2 ClickHouse cluster of `scripts/cluster.sh` for tests: where
//! it is, killing and restarting a node, and reading every node directly
//! (plain HTTP and TabSeparated, none of the product's cluster code).

use crate::clickhouse;
use hotcold_core::schema::{TableSchema, Window};
use hotcold_core::ContentHash;

/// The running cluster, from the environment scripts/test.sh sets:
/// `HOTCOLD_CLUSTER_URLS` (node URLs s1r1,s1r2,s2r1,s2r2, then the cold
/// pair's two when the script ran with `CLUSTER_COLD=1`),
/// `HOTCOLD_CLUSTER_DIR`, `HOTCOLD_CLUSTER_BASE_PORT`, `HOTCOLD_CLUSTER_NAME`.
pub struct TestCluster {
    pub urls: Vec<String>,
    /// The cold pair (nodes 5 and 6: cluster `NAME_cold`, one shard of two
    /// replicas), if started.
    pub cold: Vec<String>,
    pub name: String,
    dir: String,
    base_port: String,
}

impl TestCluster {
    /// The cluster, or `None` after saying SKIPPED and why; with
    /// `HOTCOLD_REQUIRE_CLUSTER=1` a missing cluster fails the test.
    pub fn from_env() -> Option<Self> {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let urls: Vec<String> = var("HOTCOLD_CLUSTER_URLS")
            .map(|u| u.split(',').map(str::to_string).collect())
            .unwrap_or_default();
        let (Some(dir), Some(base_port)) =
            (var("HOTCOLD_CLUSTER_DIR"), var("HOTCOLD_CLUSTER_BASE_PORT"))
        else {
            return skip("HOTCOLD_CLUSTER_DIR and HOTCOLD_CLUSTER_BASE_PORT are not set");
        };
        if urls.len() != 4 && urls.len() != 6 {
            return skip(
                "HOTCOLD_CLUSTER_URLS does not list the 4 nodes (or 6, with the cold pair)",
            );
        }
        let mut urls = urls;
        let cold = urls.split_off(4);
        Some(Self {
            urls,
            cold,
            name: var("HOTCOLD_CLUSTER_NAME").unwrap_or_else(|| "hotcold".into()),
            dir,
            base_port,
        })
    }

    /// Node `n` (1..=4: s1r1, s1r2, s2r1, s2r2)'s URL.
    pub fn url(&self, n: usize) -> &str {
        &self.urls[n - 1]
    }

    fn script(&self, args: &[&str]) -> String {
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/cluster.sh");
        let out = std::process::Command::new("bash")
            .arg(script)
            .args(args)
            .env("CLUSTER_BASE_PORT", &self.base_port)
            .env("CLUSTER_NAME", &self.name)
            .env("CLUSTER_COLD", if self.cold.is_empty() { "0" } else { "1" })
            .output()
            .expect("cluster.sh");
        assert!(
            out.status.success(),
            "cluster.sh {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The cold pair's cluster name and its two URLs, or `None` after
    /// saying SKIPPED and why (a failure with `HOTCOLD_REQUIRE_CLUSTER=1`).
    pub fn cold_pair(&self) -> Option<(String, [String; 2])> {
        match &self.cold[..] {
            [a, b] => Some((format!("{}_cold", self.name), [a.clone(), b.clone()])),
            _ => {
                skip("the cluster was started without its cold pair (CLUSTER_COLD=1)")?;
                None
            }
        }
    }

    /// SIGKILL of node `n` (1..=4 the hot nodes, 5 and 6 the cold pair).
    pub fn kill_node(&self, n: usize) {
        self.script(&["kill-node", &n.to_string(), &self.dir]);
    }

    /// Starts every node that is down (the script leaves running ones be).
    pub fn start_all(&self) {
        self.script(&["start", &self.dir]);
    }

    /// Rows of `schema`'s columns in `table` of node `n`, in window `w`.
    pub async fn node_hash(
        &self,
        n: usize,
        db: &str,
        table: &str,
        schema: &TableSchema,
        w: Window,
    ) -> anyhow::Result<ContentHash> {
        let mut s = schema.clone();
        s.name = table.to_string();
        clickhouse::window_hash(self.url(n), db, &s, w).await
    }

    /// What the hot tier holds, read from every node's shard table: the
    /// two replicas of each shard must hold the same rows, and the shards
    /// together are the answer.
    pub async fn hot_hash(
        &self,
        db: &str,
        local: &str,
        schema: &TableSchema,
        w: Window,
    ) -> anyhow::Result<ContentHash> {
        let mut total = ContentHash::default();
        for shard in [1, 3] {
            let a = self.node_hash(shard, db, local, schema, w).await?;
            let b = self.node_hash(shard + 1, db, local, schema, w).await?;
            anyhow::ensure!(
                a == b,
                "shard {}: replicas differ ({} and {} rows)",
                shard.div_ceil(2),
                a.rows,
                b.rows
            );
            total.merge(a);
        }
        Ok(total)
    }

    /// Waits until both replicas of every shard hold the same rows of the
    /// table (a restarted node fetching what it missed), up to `secs`.
    pub async fn wait_replicas_equal(
        &self,
        db: &str,
        local: &str,
        schema: &TableSchema,
        secs: u64,
    ) -> anyhow::Result<()> {
        let all = Window::new(i64::MIN, i64::MAX);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        loop {
            let r = self.hot_hash(db, local, schema, all).await;
            match r {
                Ok(_) => return Ok(()),
                Err(e) if std::time::Instant::now() > deadline => return Err(e),
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(250)).await,
            }
        }
    }
}

fn skip(why: &str) -> Option<TestCluster> {
    assert!(
        std::env::var("HOTCOLD_REQUIRE_CLUSTER").as_deref() != Ok("1"),
        "HOTCOLD_REQUIRE_CLUSTER=1 but there is no cluster: {why}"
    );
    eprintln!("SKIPPED: no ClickHouse cluster ({why}; run scripts/test.sh, which starts scripts/cluster.sh)");
    None
}
