//! The hot tier on a ClickHouse cluster (2 shards x 2 replicas, servers in
//! Asia/Kolkata and America/New_York, from scripts/cluster.sh):
//!
//! - rows ingested over several days through the HTTP API are archived to
//!   a gateway and purged, and every row is then in exactly one tier, read
//!   straight from every node's shard table and from the cold file;
//! - an existing Distributed table over the operator's own replicated
//!   tables (a local-zone month key, so purge is a mutation) is adopted;
//! - kill -9 of a replica while ingest and an archive run: both go on
//!   through the other replica, nothing acknowledged is lost or doubled,
//!   and the replica catches up after its restart;
//! - bad cluster configs stop the start with the problem named, purging
//!   nothing; a cold store on a cluster is refused.
//!
//! The tests share one cluster, so they take turns (`TURN`); more replica
//! faults are in `cluster_replica_faults.rs`.

use hotcold_core::schema::DAY_MS;
use hotcold_tests::clickhouse::{self, u64s};
use hotcold_tests::data::{hash_json, ndjson, now_ms, trades, trades_schema};
use hotcold_tests::hot_cluster::TestCluster;
use hotcold_tests::hot_cluster_checks::{
    archive_ok, check_exactly_once, ingest_retrying, stack, start_fails, Restarts,
};
use hotcold_tests::stack::ColdKind;
use serde_json::Value;
use std::time::{Duration, Instant};

static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archive_from_the_cluster_keeps_every_row_once() {
    let Some(tc) = TestCluster::from_env() else {
        return;
    };
    let _turn = TURN.lock().await;
    let db = clickhouse::unique_db("cluster_hot");
    let stack = stack(&tc, &db);
    let now = now_ms();
    let rows = trades(now - 5 * DAY_MS, now - 60_000, 12_000, 1);
    ingest_retrying(&stack.cloud, &rows, 2_000).await;
    // A request sent again (a client retrying after a lost answer) is
    // stored once: it splits into the same block per shard, and a
    // replicated shard drops a block it already has.
    let (s, v) = stack.cloud.ingest("trades", ndjson(&rows[..2_000])).await;
    assert_eq!(s, 200, "{v}");
    // The rows went to both shards, and both replicas of each have them.
    tc.wait_replicas_equal(&db, "trades_local", &trades_schema(), 30)
        .await
        .expect("replicas");
    for n in [1, 3] {
        let c = u64s(tc.url(n), &format!("SELECT count() FROM {db}.trades_local")).await;
        assert!(c[0] > 3_000, "node {n} holds {c:?} rows: sharded");
    }
    let r = stack.cloud.archive().await;
    archive_ok(&stack, &r);
    let cutoff = r.1["cutoff_ms"].as_i64().expect("cutoff");
    let batches = r.1["batches"].as_array().map_or(0, Vec::len);
    assert!(batches >= 3, "several day windows archived: {:#}", r.1);
    check_exactly_once(&tc, &stack, &db, "trades_local", &rows, cutoff).await;
    // The service answers across hot and cold, every row once.
    let got = stack
        .cloud
        .query_rows(
            "trades",
            &format!("from={}&to={}&require_complete=true", now - 6 * DAY_MS, now),
        )
        .await;
    assert_eq!(
        hash_json(&trades_schema(), &got),
        hash_json(&trades_schema(), &rows)
    );
    println!(
        "cluster archive: {} rows, {} archived, cutoff {cutoff}",
        rows.len(),
        r.1["rows_archived"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_existing_distributed_table_over_replicated_tables_is_adopted() {
    let Some(tc) = TestCluster::from_env() else {
        return;
    };
    let _turn = TURN.lock().await;
    let db = clickhouse::unique_db("cluster_adopt");
    let c = &tc.name;
    // The operator's own layout: another local name and ZooKeeper path, a
    // month key in the servers' local zones (so purge cannot drop a
    // partition and deletes by predicate) and a random sharding key.
    for ddl in [
        format!("CREATE DATABASE {db} ON CLUSTER {c}"),
        format!(
            "CREATE TABLE {db}.ticks_shard ON CLUSTER {c} (ts Int64, exchange String, symbol String, trade_id UInt64, \
             price Decimal(18, 8), amount Decimal(18, 8), buyer_maker UInt8) \
             ENGINE = ReplicatedMergeTree('/ops/{{shard}}/{db}/ticks', '{{replica}}') \
             PARTITION BY toYYYYMM(toDateTime(intDiv(ts, 1000))) ORDER BY (symbol, ts)"
        ),
        format!(
            "CREATE TABLE {db}.trades ON CLUSTER {c} AS {db}.ticks_shard ENGINE = Distributed({c}, {db}, ticks_shard, rand())"
        ),
    ] {
        clickhouse::sql(tc.url(1), &ddl).await.expect("operator ddl");
    }
    let stack = stack(&tc, &db);
    let now = now_ms();
    let rows = trades(now - 4 * DAY_MS, now - 60_000, 4_000, 2);
    ingest_retrying(&stack.cloud, &rows, 1_000).await;
    let r = stack.cloud.archive().await;
    archive_ok(&stack, &r);
    let cutoff = r.1["cutoff_ms"].as_i64().expect("cutoff");
    tc.wait_replicas_equal(&db, "ticks_shard", &trades_schema(), 30)
        .await
        .expect("replicas");
    check_exactly_once(&tc, &stack, &db, "ticks_shard", &rows, cutoff).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_replica_loses_nothing_and_catches_up() {
    let Some(tc) = TestCluster::from_env() else {
        return;
    };
    let _turn = TURN.lock().await;
    let _restarts = Restarts(&tc);
    let db = clickhouse::unique_db("cluster_kill");
    let stack = stack(&tc, &db);
    let now = now_ms();
    // Old days (to archive) first; then recent rows (above any cutoff, so
    // the ingest floor takes them) while the archive runs and a replica
    // of shard 2 dies.
    let old = trades(now - 5 * DAY_MS, now - 2 * DAY_MS - 3_600_000, 9_000, 3);
    let recent = trades(now - DAY_MS, now - 60_000, 9_000, 4);
    ingest_retrying(&stack.cloud, &old, 1_500).await;
    let started = Instant::now();
    let (ingest, archive, killed) = tokio::join!(
        ingest_retrying(&stack.cloud, &recent, 500),
        async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            stack.cloud.archive().await
        },
        async {
            tokio::time::sleep(Duration::from_millis(500)).await;
            tc.kill_node(4);
            started.elapsed()
        }
    );
    println!(
        "kill: node 4 killed {killed:?} in; {ingest} ingest retries; first archive {} {}",
        archive.0, archive.1
    );
    // While it is down: ingest goes on through the other replica of its
    // shard, and queries answer from it.
    let during = trades(now - DAY_MS, now - 60_000, 3_000, 5);
    let t = Instant::now();
    let retries = ingest_retrying(&stack.cloud, &during, 300).await;
    println!(
        "kill: {} rows ingested with node 4 down in {:?} ({retries} retries)",
        during.len(),
        t.elapsed()
    );
    let mut all: Vec<Value> = old.clone();
    all.extend(recent.iter().cloned());
    all.extend(during.iter().cloned());
    let got = stack
        .cloud
        .query_rows(
            "trades",
            &format!("from={}&to={}&require_complete=true", now - 6 * DAY_MS, now),
        )
        .await;
    // Rows of a block the dead replica took and its peer had not fetched
    // yet are out of reach until it is back (no quorum: see
    // ARCHITECTURE.md); every other row is answered, none twice.
    let ids = |rows: &[Value]| -> Vec<u64> {
        let mut v: Vec<u64> = rows.iter().filter_map(|r| r["trade_id"].as_u64()).collect();
        v.sort_unstable();
        v
    };
    let (got_ids, all_ids) = (ids(&got), ids(&all));
    let mut seen = got_ids.clone();
    seen.dedup();
    assert_eq!(seen.len(), got_ids.len(), "no row twice during the outage");
    assert!(
        got_ids.iter().all(|i| all_ids.binary_search(i).is_ok()),
        "only acknowledged rows"
    );
    let unreachable = all_ids.len() - got_ids.len();
    assert!(
        unreachable < during.len() + recent.len(),
        "queries answer during the outage ({unreachable} rows out of reach)"
    );
    println!(
        "kill: a query during the outage answered {} rows; {unreachable} only on the dead replica",
        got.len()
    );
    let behind = u64s(tc.url(3), &format!("SELECT count() FROM {db}.trades_local")).await[0];
    tc.start_all();
    let t = Instant::now();
    tc.wait_replicas_equal(&db, "trades_local", &trades_schema(), 60)
        .await
        .expect("the restarted replica catches up");
    println!(
        "kill: node 4 restarted and holds shard 2's {behind} rows after {:?}",
        t.elapsed()
    );
    // Whatever the first run could not finish, a second run does.
    let r = stack.cloud.archive_when_idle().await;
    archive_ok(&stack, &r);
    let cutoff = r.1["cutoff_ms"].as_i64().expect("cutoff");
    tc.wait_replicas_equal(&db, "trades_local", &trades_schema(), 60)
        .await
        .expect("replicas equal after purge");
    check_exactly_once(&tc, &stack, &db, "trades_local", &all, cutoff).await;
    let got = stack
        .cloud
        .query_rows(
            "trades",
            &format!("from={}&to={}&require_complete=true", now - 6 * DAY_MS, now),
        )
        .await;
    assert_eq!(
        hash_json(&trades_schema(), &got),
        hash_json(&trades_schema(), &all),
        "after the restart a query answers every row once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_cluster_configs_are_named_at_start() {
    let Some(tc) = TestCluster::from_env() else {
        return;
    };
    let _turn = TURN.lock().await;
    let _restarts = Restarts(&tc);
    let c = &tc.name;
    let db = clickhouse::unique_db("cluster_bad");
    let e = start_fails(&tc, &db, "nosuch");
    assert!(
        e.contains("cluster nosuch is not in the server's remote_servers") && e.contains(c),
        "{e}"
    );
    // A plain table where the cluster wants a Distributed one, holding
    // rows of long-archivable days: named, and nothing purged.
    let url = tc.url(1);
    let old_day = now_ms() - 20 * DAY_MS;
    let ddl = |engine: &str, name: &str| {
        format!(
            "CREATE TABLE {db}.{name} ON CLUSTER {c} (ts Int64, exchange String, symbol String, trade_id UInt64, \
             price Decimal(18, 8), amount Decimal(18, 8), buyer_maker UInt8) ENGINE = {engine} ORDER BY ts"
        )
    };
    clickhouse::sql(url, &format!("CREATE DATABASE {db} ON CLUSTER {c}"))
        .await
        .expect("db");
    clickhouse::sql(url, &ddl("MergeTree()", "trades"))
        .await
        .expect("plain");
    let rows = hotcold_tests::data::bools_as_u8(&trades(old_day, old_day + DAY_MS, 100, 5));
    clickhouse::insert_tsv(url, &db, &trades_schema(), &rows)
        .await
        .expect("rows");
    let e = start_fails(&tc, &db, c);
    assert!(
        e.contains(&format!("{db}.trades")) && e.contains("is a MergeTree table, not Distributed"),
        "{e}"
    );
    let count = |t: &'static str| {
        let db = db.clone();
        async move { u64s(url, &format!("SELECT count() FROM {db}.{t}")).await[0] }
    };
    assert_eq!(count("trades").await, 100, "nothing purged");
    // A Distributed table over local tables that are not replicated.
    clickhouse::sql(url, &format!("DROP TABLE {db}.trades ON CLUSTER {c}"))
        .await
        .expect("drop");
    clickhouse::sql(url, &ddl("MergeTree()", "trades_local"))
        .await
        .expect("local");
    clickhouse::sql(
        url,
        &format!("CREATE TABLE {db}.trades ON CLUSTER {c} AS {db}.trades_local ENGINE = Distributed({c}, {db}, trades_local, cityHash64(ts))"),
    )
    .await
    .expect("distributed");
    clickhouse::insert_tsv(url, &db, &trades_schema(), &rows)
        .await
        .expect("rows");
    let e = start_fails(&tc, &db, c);
    assert!(
        e.contains("trades_local") && e.contains("is a MergeTree table, not Replicated"),
        "{e}"
    );
    // Inserted through the Distributed table without sync, so forwarded
    // later, each row to one node only (nothing replicates these tables):
    // the nodes' local tables together hold all 100, read one by one.
    let on_nodes = || async {
        let mut n = 0;
        for i in 1..=4 {
            n += u64s(tc.url(i), &format!("SELECT count() FROM {db}.trades_local")).await[0];
        }
        n
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while on_nodes().await < 100 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(on_nodes().await, 100, "nothing purged");
    // A cold store on a cluster of two shards: refused (its ledger lives on
    // one shard of replicas), not half done.
    let dir = tempfile::tempdir().expect("dir");
    let certs = dir.path().join("certs");
    hotcold_tests::stack::write_certs(&certs);
    let cold = ColdKind::ClickHouse {
        url: url.to_string(),
        database: db.clone(),
    };
    let yaml = hotcold_tests::stack::gateway_yaml(dir.path(), "127.0.0.1:0", &certs, &cold)
        .replace(
            &format!("  database: {db}\n"),
            &format!("  database: {db}\n  cluster: {c}\n"),
        );
    let nas = dir.path().join("nas.yaml");
    std::fs::write(&nas, yaml).expect("nas.yaml");
    let out = std::process::Command::new(hotcold_tests::procs::bin("nas-gateway"))
        .args(["serve", "-c"])
        .arg(&nas)
        .output()
        .expect("run");
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && e.contains("it has 2 shards"),
        "{e}"
    );
    // A node that does not answer.
    tc.kill_node(4);
    let e = start_fails(&tc, &clickhouse::unique_db("cluster_down"), c);
    tc.start_all();
    assert!(
        e.contains("1 of 4 nodes unreachable") && e.contains("shard 2 replica 2"),
        "{e}"
    );
}
