//! Replica faults on the hot cluster, beyond `cluster_hot.rs`'s kill -9:
//!
//! - a block only a killed replica holds stops the archive (the other
//!   replica has it queued to fetch) until that replica is back: no window
//!   is exported without it and then purged;
//! - the node the service talks to dies: with `failover` the service goes
//!   on through the next node.
//!
//! The tests share one cluster, so they take turns (`TURN`).

use hotcold_core::schema::DAY_MS;
use hotcold_tests::clickhouse::{self, u64s};
use hotcold_tests::data::{now_ms, trades, trades_schema};
use hotcold_tests::hot_cluster::TestCluster;
use hotcold_tests::hot_cluster_checks::{
    archive_ok, check_exactly_once, ingest_retrying, stack, Restarts,
};
use hotcold_tests::stack::ColdKind;
use std::time::Instant;

static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A block acknowledged on one replica only, that replica killed before
/// the other fetched it: the archive must not export (and then purge)
/// the window without those rows. It waits, names the lagging replica,
/// and archives everything once the dead one is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_part_only_a_dead_replica_holds_stops_the_archive() {
    let Some(tc) = TestCluster::from_env() else {
        return;
    };
    let _turn = TURN.lock().await;
    let _restarts = Restarts(&tc);
    let db = clickhouse::unique_db("cluster_lag");
    let stack = stack(&tc, &db);
    let now = now_ms();
    let first = trades(now - 5 * DAY_MS, now - 3 * DAY_MS, 3_000, 6);
    ingest_retrying(&stack.cloud, &first, 1_000).await;
    tc.wait_replicas_equal(&db, "trades_local", &trades_schema(), 30)
        .await
        .expect("replicas");
    // Shard 2's replicas stop fetching: its next block stays on the one
    // replica the Distributed table wrote it to.
    for n in [3, 4] {
        clickhouse::sql(tc.url(n), &format!("SYSTEM STOP FETCHES {db}.trades_local"))
            .await
            .expect("stop fetches");
    }
    let second = trades(now - 5 * DAY_MS, now - 3 * DAY_MS, 2_000, 7);
    ingest_retrying(&stack.cloud, &second, 2_000).await;
    let count = |n: usize| {
        let db = db.clone();
        let url = tc.url(n).to_string();
        async move { u64s(&url, &format!("SELECT count() FROM {db}.trades_local")).await[0] }
    };
    let (c3, c4) = (count(3).await, count(4).await);
    assert_ne!(c3, c4, "the block is on one replica of shard 2 only");
    let (holder, other) = if c3 > c4 { (3, 4) } else { (4, 3) };
    tc.kill_node(holder);
    clickhouse::sql(
        tc.url(other),
        &format!("SYSTEM START FETCHES {db}.trades_local"),
    )
    .await
    .expect("start fetches");
    let t = Instant::now();
    let (s, r) = stack.cloud.archive().await;
    let err = r["table_errors"]["trades"]
        .as_str()
        .unwrap_or("")
        .to_string();
    println!(
        "lag: archive with the holder down answered in {:?}: {err}",
        t.elapsed()
    );
    assert_eq!(s, 200, "{r}");
    assert!(
        err.contains("replicas do not agree") && err.contains("parts to fetch"),
        "the archive names the lagging replica: {r:#}"
    );
    assert_eq!(r["rows_archived"], 0, "nothing archived: {r:#}");
    let mut all = first.clone();
    all.extend(second.iter().cloned());
    tc.start_all();
    tc.wait_replicas_equal(&db, "trades_local", &trades_schema(), 60)
        .await
        .expect("the holder is back and the other fetches from it");
    let r = stack.cloud.archive_when_idle().await;
    archive_ok(&stack, &r);
    let cutoff = r.1["cutoff_ms"].as_i64().expect("cutoff");
    check_exactly_once(&tc, &stack, &db, "trades_local", &all, cutoff).await;
}

/// The node the service talks to dies: with `failover` the service turns
/// to the next node of the cluster, and ingest, queries and the archive go
/// on; the dead node catches up after its restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_entry_node_dying_fails_over_to_the_next() {
    let Some(tc) = TestCluster::from_env() else {
        return;
    };
    let _turn = TURN.lock().await;
    let _restarts = Restarts(&tc);
    let db = clickhouse::unique_db("cluster_failover");
    let stack = hotcold_tests::Stack::start(hotcold_tests::stack::StackOptions {
        cold: ColdKind::Sqlite,
        hot_clickhouse: Some((tc.url(1).to_string(), db.clone())),
        hot_cluster: Some(tc.name.clone()),
        hot_failover: vec![tc.url(2).to_string(), tc.url(3).to_string()],
        hot_retention: "2d".into(),
        ..Default::default()
    });
    let now = now_ms();
    let before = trades(now - 5 * DAY_MS, now - 60_000, 6_000, 8);
    ingest_retrying(&stack.cloud, &before, 1_000).await;
    tc.wait_replicas_equal(&db, "trades_local", &trades_schema(), 30)
        .await
        .expect("replicas");
    tc.kill_node(1);
    let after = trades(now - 5 * DAY_MS, now - 60_000, 3_000, 9);
    let t = Instant::now();
    let retries = ingest_retrying(&stack.cloud, &after, 1_000).await;
    println!(
        "failover: node 1 down, {} rows ingested in {:?} ({retries} retries)",
        after.len(),
        t.elapsed()
    );
    assert_eq!(
        retries, 0,
        "a refused connection is retried on the next node, unseen"
    );
    let mut all = before.clone();
    all.extend(after.iter().cloned());
    let got = stack
        .cloud
        .query_rows(
            "trades",
            &format!("from={}&to={}&require_complete=true", now - 6 * DAY_MS, now),
        )
        .await;
    assert_eq!(got.len(), all.len(), "queries answer through the next node");
    let t = Instant::now();
    let r = stack.cloud.archive().await;
    println!("failover: archive with node 1 down took {:?}", t.elapsed());
    archive_ok(&stack, &r);
    let cutoff = r.1["cutoff_ms"].as_i64().expect("cutoff");
    tc.start_all();
    tc.wait_replicas_equal(&db, "trades_local", &trades_schema(), 60)
        .await
        .expect("node 1 catches up");
    check_exactly_once(&tc, &stack, &db, "trades_local", &all, cutoff).await;
}
