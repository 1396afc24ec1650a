//! What the cluster tests (tests/tests/cluster_hot.rs) do again and again:
//! a pair with hot on the cluster, ingest that survives a dying replica,
//! and the check that every acknowledged row is in exactly one tier.

use crate::data::{hash_json, ndjson, trades_schema};
use crate::hot_cluster::TestCluster;
use crate::stack::{ColdKind, StackOptions};
use crate::{Cloud, Stack};
use hotcold_core::schema::{TableSchema, Window};
use serde_json::Value;
use std::time::{Duration, Instant};

/// Every instant.
pub const ALL: Window = Window {
    start: i64::MIN,
    end: i64::MAX,
};

/// Starts every node again when dropped, so a failed test that killed
/// one does not leave the next test a cluster with a node down.
pub struct Restarts<'a>(pub &'a TestCluster);

impl Drop for Restarts<'_> {
    fn drop(&mut self) {
        self.0.start_all();
    }
}

pub fn stack(tc: &TestCluster, db: &str) -> Stack {
    Stack::start(StackOptions {
        cold: ColdKind::Sqlite,
        hot_clickhouse: Some((tc.url(1).to_string(), db.to_string())),
        hot_cluster: Some(tc.name.clone()),
        hot_retention: "2d".into(),
        ..Default::default()
    })
}

/// Sends `rows` in requests of `per`; a request refused with a 5xx (a
/// replica just died) is sent again until it is taken: on a replicated
/// shard the blocks a first try already stored are dropped as duplicates.
pub async fn ingest_retrying(cloud: &Cloud, rows: &[Value], per: usize) -> usize {
    let mut retries = 0;
    for c in rows.chunks(per) {
        let body = ndjson(c);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (s, v) = cloud.ingest("trades", body.clone()).await;
            if s == 200 {
                assert_eq!(v["rows"].as_u64(), Some(c.len() as u64), "{v}");
                break;
            }
            assert!(s >= 500 && Instant::now() < deadline, "ingest: {s} {v}");
            retries += 1;
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
    retries
}

pub fn cold_hash(stack: &Stack, schema: &TableSchema, w: Window) -> hotcold_core::ContentHash {
    let path = stack.dir.path().join("nas/cold.db");
    let conn = rusqlite::Connection::open(path).expect("cold.db");
    hotcold_sqlite::content_hash(&conn, schema, w).expect("cold hash")
}

/// Every row of `rows` once across hot (each shard's replicas read
/// directly, equal) and cold, nothing else; hot holds nothing older than
/// the cutoff on any node, cold nothing newer.
pub async fn check_exactly_once(
    tc: &TestCluster,
    stack: &Stack,
    db: &str,
    local: &str,
    rows: &[Value],
    cutoff: i64,
) {
    let schema = trades_schema();
    let hot = tc.hot_hash(db, local, &schema, ALL).await.expect("hot");
    let mut both = hot;
    both.merge(cold_hash(stack, &schema, ALL));
    assert_eq!(
        both,
        hash_json(&schema, rows),
        "hot ({} rows) + cold together are exactly the acknowledged rows ({})",
        hot.rows,
        rows.len()
    );
    let old = tc
        .hot_hash(db, local, &schema, Window::new(i64::MIN, cutoff))
        .await
        .expect("hot old");
    assert_eq!(old.rows, 0, "hot keeps no archived window on any node");
    let recent = cold_hash(stack, &schema, Window::new(cutoff, i64::MAX));
    assert_eq!(recent.rows, 0, "cold holds nothing past the cutoff");
}

pub fn archive_ok(stack: &Stack, r: &(u16, Value)) {
    let errors = r.1["table_errors"].as_object().map_or(0, |m| m.len());
    if r.0 != 200 || r.1["failed"] != 0 || r.1["pending"] != 0 || errors != 0 {
        stack.dump_logs();
        panic!("archive: {} {:#}", r.0, r.1);
    }
}

/// `cloud-service serve` with hot on the cluster; its failure's stderr.
pub fn start_fails(tc: &TestCluster, db: &str, cluster: &str) -> String {
    let dir = tempfile::tempdir().expect("dir");
    crate::stack::write_certs(dir.path());
    let cfg = dir.path().join("cloud.yaml");
    std::fs::write(
        &cfg,
        format!(
            "http-listen: 127.0.0.1:0\ndata-dir: {d}/cloud\nhot:\n  kind: clickhouse\n  url: {url}\n  database: {db}\n  cluster: {cluster}\n\
             link:\n  gateway: 127.0.0.1:9\n  ca: {d}/ca.pem\n  cert: {d}/cloud-service.pem\n  key: {d}/cloud-service.key\n\
             schedule:\n  enabled: false\ntables:\n{t}",
            d = dir.path().display(),
            url = tc.url(1),
            t = crate::stack::trades_yaml()
        ),
    )
    .expect("cfg");
    let out = std::process::Command::new(crate::procs::bin("cloud-service"))
        .args(["serve", "-c"])
        .arg(&cfg)
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "must refuse to start: {err}");
    err
}
