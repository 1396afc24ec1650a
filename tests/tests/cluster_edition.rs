//! The cluster edition whole, as the issue draws it: ZooKeeper, four hot
//! ClickHouse 18.16 servers as 2 shards x 2 replicas (scripts/cluster.sh,
//! in Asia/Kolkata and America/New_York), three `cloud-service` replicas
//! taking ingest and leasing the archive in that same ZooKeeper, a gateway
//! with a ClickHouse cold store (America/New_York).
//! A seeded chaos run while rows stream in through every replica and every
//! replica is asked to archive: kill -9 of the leader, of a follower, and
//! of a hot ClickHouse node. Afterwards, read without the product's code
//! (plain SQL on every hot node and on the cold ClickHouse): every
//! acknowledged row exactly once across hot and cold, both replicas of
//! each shard equal, no window in the ledger twice, one leader, and the
//! same watermark on every replica.
//!
//! `HOTCOLD_CLUSTER_CHAOS_FAULTS` (6 in the suite) sets the number of
//! faults, `HOTCOLD_SEED` replays a run.

use hotcold_core::schema::{Window, DAY_MS};
use hotcold_tests::cluster::ClusterStack;
use hotcold_tests::cluster_checks::*;
use hotcold_tests::data::{now_ms, trades_schema};
use hotcold_tests::hot_cluster::TestCluster;
use hotcold_tests::stack::{ColdKind, StackOptions};
use rand::{Rng, SeedableRng};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The hot cluster and its ZooKeeper, or SKIPPED (a failure when the suite
/// requires the cluster).
fn parts() -> Option<(TestCluster, String)> {
    let tc = TestCluster::from_env()?;
    let zk = std::env::var("HOTCOLD_CLUSTER_ZOOKEEPER")
        .ok()
        .filter(|z| !z.is_empty());
    match zk {
        Some(zk) => Some((tc, zk)),
        None => {
            assert!(
                std::env::var("HOTCOLD_REQUIRE_CLUSTER").as_deref() != Ok("1"),
                "HOTCOLD_REQUIRE_CLUSTER=1 but HOTCOLD_CLUSTER_ZOOKEEPER is not set"
            );
            eprintln!("SKIPPED: HOTCOLD_CLUSTER_ZOOKEEPER unset (run scripts/test.sh)");
            None
        }
    }
}

#[derive(Debug, Clone, Copy)]
/// What a chaos step kills (kill -9 / SIGKILL each time).
enum Kill {
    Leader,
    Follower,
    HotNode(usize),
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeded_chaos_over_the_whole_cluster() {
    let Some((tc, zk)) = parts() else { return };
    let seed: u64 = std::env::var("HOTCOLD_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    let faults: usize = std::env::var("HOTCOLD_CLUSTER_CHAOS_FAULTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(6);
    println!("cluster chaos: seed {seed} (HOTCOLD_SEED={seed} replays it), {faults} faults");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let db = hotcold_tests::clickhouse::unique_db("edition");
    // The NAS's cold store: the suite's single ClickHouse (America/New_York).
    let cold_url = hotcold_tests::clickhouse::url().expect("the cold ClickHouse");
    let cold_db = hotcold_tests::clickhouse::unique_db("edition_cold");
    let hot = StackOptions {
        cold: ColdKind::ClickHouse {
            url: cold_url.clone(),
            database: cold_db.clone(),
        },
        hot_clickhouse: Some((tc.url(1).to_string(), db.clone())),
        hot_cluster: Some(tc.name.clone()),
        hot_failover: (2..=4).map(|n| tc.url(n).to_string()).collect(),
        ..Default::default()
    };
    let mut cs = ClusterStack::with_hot(3, hot, |_| zk.clone(), "4s");
    for r in &mut cs.replicas {
        r.start();
    }
    cs.one_leader(Duration::from_secs(60)).await;

    let days = 5;
    let acked = Arc::new(Mutex::new(Vec::new()));
    ingest_old_days(&cs, days, &acked).await;
    let urls: Vec<String> = cs.replicas.iter().map(|r| r.url.clone()).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let refused409 = Arc::new(AtomicU64::new(0));
    let ingester = ingest_meanwhile(urls.clone(), acked.clone(), stop.clone());
    drive_archives(urls, stop.clone(), refused409.clone());

    let t0 = Instant::now();
    let mut done = Vec::new();
    for _ in 0..faults {
        tokio::time::sleep(Duration::from_millis(rng.gen_range(1_000..4_000))).await;
        let fault = match rng.gen_range(0..3) {
            0 => Kill::Leader,
            1 => Kill::Follower,
            _ => Kill::HotNode(rng.gen_range(1..=4)),
        };
        let at = t0.elapsed();
        match fault {
            Kill::Leader | Kill::Follower => {
                let (leader, _) = cs.one_leader(Duration::from_secs(60)).await;
                let victim = match fault {
                    Kill::Leader => leader,
                    _ => (leader + 1 + rng.gen_range(0..2)) % 3,
                };
                cs.replicas[victim].kill9();
                if matches!(fault, Kill::Leader) {
                    let (next, took) = cs.one_leader(SESSION * 4).await;
                    assert_ne!(next, victim, "a killed leader cannot lead");
                    println!(
                        "{at:?}: killed leader {} -> {} leads after {took:?}",
                        cs.replicas[victim].id, cs.replicas[next].id
                    );
                } else {
                    println!("{at:?}: killed follower {}", cs.replicas[victim].id);
                }
                restart_after_expiry(&mut cs, victim).await;
            }
            Kill::HotNode(n) => {
                tc.kill_node(n);
                let down = Duration::from_millis(rng.gen_range(2_000..6_000));
                println!("{at:?}: killed hot ClickHouse node {n} for {down:?}");
                tokio::time::sleep(down).await;
                tc.start_all();
            }
        }
        done.push(fault);
    }

    // Everything back; the last old day archived everywhere.
    tc.start_all();
    let last_end = Window::day_of(now_ms() - 3 * DAY_MS).end;
    wait_archived(&cs, last_end, Duration::from_secs(240)).await;
    stop.store(true, Ordering::SeqCst);
    let refused = ingester.await.expect("ingester");
    tokio::time::sleep(Duration::from_millis(500)).await;
    tc.wait_replicas_equal(&db, "trades_local", &trades_schema(), 120)
        .await
        .expect("both replicas of each shard hold the same rows");
    let acked = acked.lock().expect("acked").clone();
    check_exactly_once(&cs, &acked).await;
    assert_eq!(
        cs.ledger_windows().await,
        days as usize,
        "one ledger entry a day"
    );
    assert_eq!(cs.leaders().await.len(), 1, "one leader at the end");
    println!(
        "cluster chaos: seed {seed}, faults {done:?} in {:?}; {} rows acknowledged, {refused} ingest requests refused meanwhile, {} archive requests refused by followers",
        t0.elapsed(),
        acked.len(),
        refused409.load(Ordering::SeqCst)
    );
    let _ =
        hotcold_tests::clickhouse::sql(&cold_url, &format!("DROP DATABASE IF EXISTS {cold_db}"))
            .await;
    let _ = hotcold_tests::clickhouse::sql(
        tc.url(1),
        &format!("DROP DATABASE IF EXISTS {db} ON CLUSTER {}", tc.name),
    )
    .await;
}
