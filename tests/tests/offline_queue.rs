//! The offline queue and resync: with the gateway down through several
//! archive runs, export fills the spool up to its budget and stops, hot keeps
//! every row; when the gateway returns, the background resync drains the
//! backlog oldest first, and later runs finish the rest, ending with the
//! same cold contents and an empty spool.

use hotcold_core::schema::{Window, DAY_MS};
use hotcold_tests::data::{hash_json, ndjson, now_ms, trades, trades_schema};
use hotcold_tests::stack::StackOptions;
use hotcold_tests::Stack;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spool_fills_to_budget_while_offline_then_drains() {
    let budget: u64 = 400 << 10;
    let opts = StackOptions {
        spool_budget: "400KiB".into(),
        retry_interval: "1s".into(),
        ..Default::default()
    };
    let mut stack = Stack::start(opts);
    let schema = trades_schema();
    let now = now_ms();
    let start = Window::day_of(now - 9 * DAY_MS).start;
    // About 150 KB per day window on the wire: the budget holds two or three.
    let rows = trades(start, now, 120_000, 5);
    for part in rows.chunks(40_000) {
        let (s, b) = stack.cloud.ingest("trades", ndjson(part)).await;
        assert_eq!(s, 200, "{b}");
    }
    stack.gateway.kill("KILL");

    let mut largest_batch = 0;
    for run in 0..3 {
        let (s, r) = stack.cloud.archive().await;
        assert_eq!(s, 200, "{r}");
        assert!(
            r["offline"].is_string(),
            "run {run}: the gateway is down: {r:#}"
        );
        assert_eq!(r["rows_archived"], 0);
        for b in r["batches"].as_array().into_iter().flatten() {
            largest_batch = largest_batch.max(b["bytes"].as_u64().unwrap_or(0));
        }
        let spool = r["spool_bytes"].as_u64().unwrap_or(0);
        println!(
            "offline run {run}: spool {spool} B of a {budget} B budget, spool_full {}",
            r["spool_full"]
        );
        assert!(spool > 0);
        assert!(
            spool <= budget + largest_batch,
            "spool {spool} B is past the budget {budget} B plus one batch"
        );
        assert_eq!(r["spool_full"], true, "{r:#}");
        // Hot keeps every row, however old.
        assert_eq!(
            stack
                .cloud
                .hot_count(&schema, Window::new(i64::MIN, i64::MAX)),
            rows.len() as u64
        );
    }
    let backlog = stack.cloud.status().await["backlog"]["batches"]
        .as_u64()
        .unwrap_or(0);
    assert!(backlog >= 2, "backlog {backlog}");

    // The gateway returns: the background resync drains the queue.
    stack.gateway.restart(Vec::new());
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let st = stack.cloud.status().await;
        if st["backlog"]["batches"] == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "backlog did not drain: {st:#}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // Later runs archive what did not fit in the spool. The resync's own
    // run may still be finishing: wait for it.
    let (s, r) = stack.cloud.archive_when_idle().await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["failed"], 0, "{r:#}");
    let cutoff = r["cutoff_ms"].as_i64().expect("cutoff");
    let archived: Vec<_> = rows
        .iter()
        .filter(|x| x["ts"].as_i64() < Some(cutoff))
        .cloned()
        .collect();
    let conn = rusqlite::Connection::open(stack.dir.path().join("nas/cold.db")).expect("cold.db");
    let cold = hotcold_sqlite::content_hash(&conn, &schema, Window::new(i64::MIN, i64::MAX))
        .expect("hash");
    assert_eq!(
        cold,
        hash_json(&schema, &archived),
        "cold contents after the drain"
    );
    assert_eq!(
        stack
            .cloud
            .hot_count(&schema, Window::new(i64::MIN, cutoff)),
        0
    );
    assert_eq!(r["spool_bytes"], 0, "{r:#}");
    assert_eq!(
        std::fs::read_dir(stack.dir.path().join("cloud/spool"))
            .expect("spool dir")
            .count(),
        0
    );

    // Every row exactly once across hot and cold.
    let (s, _, body) = stack
        .cloud
        .query("trades", &format!("from={start}&to={}", now + 1))
        .await;
    assert_eq!(s, 200);
    let got: Vec<serde_json::Value> = body
        .lines()
        .map(|l| serde_json::from_str(l).expect("line"))
        .collect();
    assert_eq!(hash_json(&schema, &got), hash_json(&schema, &rows));
}
