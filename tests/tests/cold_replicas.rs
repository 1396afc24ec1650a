//! The replicated cold store: the gateway on scripts/cluster.sh's cold pair
//! (nodes 5 and 6: one shard of two replicas, `cold.url` node 5,
//! `cold.failover` node 6), every replica read directly with plain SQL.
//!
//! - The replica the gateway talks to is killed: it commits through the
//!   other, and a cold query answers whole. Back, the killed one catches
//!   up: both hold every archived row once and the same ledger. Then the
//!   other is killed, and the gateway turns back to the first.
//! - A replica killed in the middle of archive runs and started again: once
//!   the runs settle, every acknowledged row is once in hot or cold, on
//!   both replicas, and no window is in the ledger twice.
//!
//! The tests share the pair, so they take turns (`TURN`). Days are
//! archived in phases by restarting the cloud with a shorter hot retention.

use hotcold_core::schema::{TableSchema, Window, DAY_MS};
use hotcold_core::ContentHash;
use hotcold_tests::clickhouse;
use hotcold_tests::data::{hash_json, now_ms, trades, trades_schema};
use hotcold_tests::hot_cluster::TestCluster;
use hotcold_tests::hot_cluster_checks::{archive_ok, Restarts, ALL};
use hotcold_tests::stack::{ColdKind, StackOptions};
use hotcold_tests::{Cloud, Stack};
use serde_json::Value;
use std::time::{Duration, Instant};

static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn table(name: &str) -> TableSchema {
    let mut s = trades_schema();
    s.name = name.into();
    s
}

fn pair_stack(
    cluster: &str,
    urls: &[String; 2],
    db: &str,
    hot_retention: &str,
    bwlimit: &str,
) -> Stack {
    pair_stack_with(cluster, urls, db, hot_retention, bwlimit, Vec::new())
}

fn pair_stack_with(
    cluster: &str,
    urls: &[String; 2],
    db: &str,
    hot_retention: &str,
    bwlimit: &str,
    gateway_env: Vec<(String, String)>,
) -> Stack {
    Stack::start(StackOptions {
        gateway_env,
        bwlimit: bwlimit.into(),
        cold: ColdKind::Replicas {
            urls: urls.to_vec(),
            cluster: cluster.to_string(),
            database: db.to_string(),
        },
        hot_retention: hot_retention.into(),
        ..Default::default()
    })
}

/// Restarts the cloud with another hot retention: each phase of a test
/// archives the days the shorter retention lets go.
fn retain(stack: &mut Stack, from: &str, to: &str) {
    let cfg = std::fs::read_to_string(&stack.cloud.config).expect("cfg");
    let (old, new) = (
        format!("hot-retention: {from}"),
        format!("hot-retention: {to}"),
    );
    assert!(cfg.contains(&old), "{cfg}");
    std::fs::write(&stack.cloud.config, cfg.replace(&old, &new)).expect("cfg");
    stack.cloud.kill("TERM");
    let (config, log, data) = (
        stack.cloud.config.clone(),
        stack.cloud.log.clone(),
        stack.cloud.data_dir.clone(),
    );
    stack.cloud = Cloud::start(config, log, data);
}

/// What replica `url` holds of a table (its shard-local table).
async fn replica_hash(url: &str, db: &str, name: &str) -> anyhow::Result<ContentHash> {
    let s = table(&format!("{name}_local"));
    clickhouse::window_hash(url, db, &s, ALL).await
}

/// The replica's ledger: (entries, distinct batch ids, distinct windows).
async fn ledger(url: &str, db: &str) -> (u64, u64, u64) {
    let t = clickhouse::sql(
        url,
        &format!(
            "SELECT count(), uniqExact(batch_id), uniqExact(t0, t1) FROM {db}._hotcold_ledger FINAL"
        ),
    )
    .await
    .expect("ledger");
    let v: Vec<u64> = t
        .split_whitespace()
        .map(|x| x.parse().expect("count"))
        .collect();
    (v[0], v[1], v[2])
}

/// Waits until both replicas hold the same rows of `name` and the same
/// ledger.
async fn wait_equal(urls: &[String; 2], db: &str, name: &str) {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let a = replica_hash(&urls[0], db, name).await;
        let b = replica_hash(&urls[1], db, name).await;
        let same = matches!((&a, &b), (Ok(a), Ok(b)) if a == b)
            && ledger(&urls[0], db).await == ledger(&urls[1], db).await;
        if same {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the replicas still differ after 90 s: {a:?} / {b:?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Every acknowledged row once across hot (the cloud's SQLite file) and
/// cold, on each replica; each archived window once in each ledger.
async fn check_exactly_once(
    stack: &Stack,
    urls: &[String; 2],
    db: &str,
    name: &str,
    rows: &[Value],
) {
    let schema = table(name);
    let hot = {
        let conn = rusqlite::Connection::open(stack.dir.path().join("cloud/hot.db")).expect("hot");
        hotcold_sqlite::content_hash(&conn, &schema, ALL).expect("hot hash")
    };
    for url in urls {
        let cold = replica_hash(url, db, name).await.expect("replica");
        let mut both = hot;
        both.merge(cold);
        assert_eq!(
            both,
            hash_json(&schema, rows),
            "replica {url}, {name}: hot ({} rows) + cold ({} rows) are exactly the {} acknowledged rows",
            hot.rows,
            cold.rows,
            rows.len()
        );
        let (_, ids, windows) = ledger(url, db).await;
        assert_eq!(
            ids, windows,
            "replica {url}: one batch per window in the ledger"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_commits_while_a_cold_replica_is_down() {
    let Some(tc) = TestCluster::from_env() else {
        return;
    };
    let Some((cluster, urls)) = tc.cold_pair() else {
        return;
    };
    let _turn = TURN.lock().await;
    let _restarts = Restarts(&tc);
    let db = clickhouse::unique_db("cold_pair");
    let mut stack = pair_stack(&cluster, &urls, &db, "11d", "off");
    let day = |k: i64| Window::day_of(now_ms() - k * DAY_MS);
    let rows = |from: i64, to: i64, seed: u64| trades(day(from).start, day(to).end, 6_000, seed);
    let [a, b, c] = [rows(14, 12, 1), rows(11, 10, 2), rows(9, 8, 3)];
    let all: Vec<Value> = [&a, &b, &c].into_iter().flatten().cloned().collect();
    stack.cloud.ingest_all("trades", &all).await;
    let archived = |stack: &Stack, r: (u16, Value), rows: &[Value]| {
        archive_ok(stack, &r);
        assert_eq!(r.1["rows_archived"], rows.len(), "{:#}", r.1);
    };

    // Both replicas up: days 14 to 12 go.
    archived(&stack, stack.cloud.archive().await, &a);
    wait_equal(&urls, &db, "trades").await;

    // The replica the gateway talks to dies: it goes on with the other.
    tc.kill_node(5);
    retain(&mut stack, "11d", "9d");
    archived(&stack, stack.cloud.archive().await, &b);
    assert!(
        turned_away(&stack),
        "the gateway never turned from the killed replica"
    );
    let (s, h) = stack.cloud.get("/health").await;
    assert_eq!(s, 200, "{h}");
    let h: Value = reqwest::get(format!("{}/health", stack.gateway.http))
        .await
        .expect("gateway health")
        .json()
        .await
        .expect("json");
    assert_eq!(h["status"], "degraded", "{h:#}");
    let r = &h["components"]["cold_replicas"];
    assert_eq!(r["down"], 1, "{h:#}");
    assert_eq!(r["replicas"][0]["url"], urls[0].as_str(), "{h:#}");
    assert_eq!(r["replicas"][0]["status"], "unhealthy", "{h:#}");
    assert_eq!(r["replicas"][1]["status"], "healthy", "{h:#}");
    let answered = stack
        .cloud
        .query_rows(
            "trades",
            &format!("from={}&to={}&limit=1000000", day(14).start, day(8).end),
        )
        .await;
    let schema = table("trades");
    assert_eq!(
        hash_json(&schema, &answered),
        hash_json(&schema, &all),
        "a query answers every row, the archived ones from the replica that is up"
    );
    let ab = a.len() + b.len();
    assert_eq!(
        replica_hash(&urls[1], &db, "trades")
            .await
            .expect("node 6")
            .rows,
        ab as u64
    );

    // Back, it catches up from the replication log.
    tc.start_all();
    wait_equal(&urls, &db, "trades").await;
    check_exactly_once(&stack, &urls, &db, "trades", &all).await;

    // Now the other one dies: the gateway turns back to the first.
    tc.kill_node(6);
    retain(&mut stack, "9d", "7d");
    archived(&stack, stack.cloud.archive().await, &c);
    tc.start_all();
    wait_equal(&urls, &db, "trades").await;
    check_exactly_once(&stack, &urls, &db, "trades", &all).await;
    assert_eq!(ledger(&urls[0], &db).await.0, 7, "seven days archived");
}

/// Did the gateway log turning from a replica that does not answer?
fn turned_away(stack: &Stack) -> bool {
    std::fs::read_to_string(&stack.gateway.log)
        .unwrap_or_default()
        .contains("ClickHouse node does not answer; trying the next")
}

/// Runs archives until one ends clean with nothing left in hot (every
/// row of these tests is older than the hot retention).
async fn archive_until_done(stack: &Stack) {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let (s, r) = stack.cloud.archive_when_idle().await;
        let errors = r["table_errors"].as_object().map_or(0, |m| m.len());
        let clean = s == 200 && r["failed"] == 0 && r["pending"] == 0 && errors == 0;
        if clean && stack.cloud.hot_count(&trades_schema(), ALL) == 0 {
            return;
        }
        if Instant::now() > deadline {
            stack.dump_logs();
            panic!("the archive did not settle in 5 minutes: {s} {r:#}");
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cold_replica_killed_during_archive_runs_loses_and_doubles_nothing() {
    let Some(tc) = TestCluster::from_env() else {
        return;
    };
    let Some((cluster, urls)) = tc.cold_pair() else {
        return;
    };
    let _turn = TURN.lock().await;
    let _restarts = Restarts(&tc);
    let db = clickhouse::unique_db("cold_pair_kill");
    let stack = pair_stack(&cluster, &urls, &db, "2d", "256KiB");
    let now = now_ms();
    let rows = trades(
        Window::day_of(now - 9 * DAY_MS).start,
        Window::day_of(now - 4 * DAY_MS).end,
        240_000,
        11,
    );
    stack.cloud.ingest_all("trades", &rows).await;
    // The link at 256 KiB/s makes the run take about 9 s (6 batches of
    // 370 KB): the kill lands in some batch's transfer, insert, read-back
    // or ledger write, and the replica is down for the next batches.
    let url = format!("{}/v1/admin/archive", stack.cloud.url);
    let run = tokio::spawn(async move {
        let r = reqwest::Client::new().post(url).send().await?;
        Ok::<_, reqwest::Error>((r.status().as_u16(), r.text().await?))
    });
    tokio::time::sleep(Duration::from_millis(3_000)).await;
    tc.kill_node(5);
    tokio::time::sleep(Duration::from_secs(4)).await;
    tc.start_all();
    let first = run.await.expect("archive task");
    eprintln!("the run the kill hit: {first:?}");
    assert!(
        turned_away(&stack),
        "the gateway never turned from the killed replica"
    );
    archive_until_done(&stack).await;
    wait_equal(&urls, &db, "trades").await;
    check_exactly_once(&stack, &urls, &db, "trades", &rows).await;
}

/// The gateway dies after a batch's rows are in the replicated table and
/// before its ledger entry. Started again, it clears the window and
/// inserts the same rows again: the replicas must not drop that insert as
/// a block they already saw (they keep the ids of their last 100 blocks,
/// across a delete), or the read-back would fail the batch for good.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_inserted_again_after_a_crash_is_not_dropped_as_a_duplicate() {
    let Some(tc) = TestCluster::from_env() else {
        return;
    };
    let Some((cluster, urls)) = tc.cold_pair() else {
        return;
    };
    let _turn = TURN.lock().await;
    let db = clickhouse::unique_db("cold_pair_again");
    let env = vec![(
        "NAS_GATEWAY_FAILPOINTS".to_string(),
        "after-insert=abort".to_string(),
    )];
    let mut stack = pair_stack_with(&cluster, &urls, &db, "2d", "off", env);
    let now = now_ms();
    let day = Window::day_of(now - 5 * DAY_MS);
    let rows = trades(day.start, day.end, 20_000, 21);
    stack.cloud.ingest_all("trades", &rows).await;
    let (s, r) = stack.cloud.archive().await;
    assert_eq!(s, 200, "{r:#}");
    assert_eq!(
        r["rows_archived"], 0,
        "the gateway died in the commit: {r:#}"
    );
    // The rows are in cold, the ledger does not know them.
    assert_eq!(
        replica_hash(&urls[0], &db, "trades")
            .await
            .expect("node 5")
            .rows,
        rows.len() as u64
    );
    assert_eq!(ledger(&urls[0], &db).await.0, 0);
    stack.gateway.restart(Vec::new());
    archive_until_done(&stack).await;
    wait_equal(&urls, &db, "trades").await;
    check_exactly_once(&stack, &urls, &db, "trades", &rows).await;
}
