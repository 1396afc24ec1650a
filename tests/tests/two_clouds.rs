//! Two clouds on one gateway: the second is refused with an error naming
//! both, and nothing of it is stored. Before the check the second cloud's
//! batch of a day the first had archived carried the same batch id, was
//! answered "already committed" with the first cloud's rows, and failed
//! on the hash for ever (that day stuck); a day the first had not archived
//! went into the same cold table, mixing two clouds' data.

use hotcold_core::schema::{Window, DAY_MS};
use hotcold_tests::data::{hash_json, ndjson, now_ms, trades, trades_schema};
use hotcold_tests::hot_cluster_checks::ALL;
use hotcold_tests::stack::StackOptions;
use hotcold_tests::{Cloud, Stack};

fn cold_hash(stack: &Stack) -> hotcold_core::ContentHash {
    let conn = rusqlite::Connection::open(stack.dir.path().join("nas/cold.db")).expect("cold.db");
    hotcold_sqlite::content_hash(&conn, &trades_schema(), ALL).expect("cold hash")
}

fn ledger_batches(stack: &Stack) -> Vec<String> {
    let conn = rusqlite::Connection::open(stack.dir.path().join("nas/cold.db")).expect("cold.db");
    let mut st = conn
        .prepare("SELECT batch_id FROM _hotcold_ledger ORDER BY batch_id")
        .expect("ledger");
    st.query_map([], |r| r.get(0))
        .expect("ledger")
        .collect::<Result<_, _>>()
        .expect("ledger")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_cloud_on_the_same_gateway_is_refused_and_stores_nothing() {
    let stack = Stack::start(StackOptions::default());
    let schema = trades_schema();
    let day = Window::day_of(now_ms() - 5 * DAY_MS);
    let first = trades(day.start, day.end, 3_000, 1);
    stack.cloud.ingest_all("trades", &first).await;
    let (s, r) = stack.cloud.archive().await;
    assert_eq!((s, &r["failed"]), (200, &serde_json::json!(0)), "{r:#}");
    let owner_batches = ledger_batches(&stack);
    assert_eq!(owner_batches.len(), 1);

    // Cloud B: its own data dir, the same gateway and certificates (an
    // operator who copied the config to a second machine).
    let cfg_a = std::fs::read_to_string(&stack.cloud.config).expect("cfg");
    let dir_a = stack.dir.path().join("cloud");
    let dir_b = stack.dir.path().join("cloud-b");
    let cfg_b = stack.dir.path().join("cloud-b.yaml");
    std::fs::write(
        &cfg_b,
        cfg_a.replace(
            &format!("data-dir: {}", dir_a.display()),
            &format!("data-dir: {}", dir_b.display()),
        ),
    )
    .expect("cfg b");
    let b = Cloud::start(cfg_b, stack.dir.path().join("cloud-b.log"), dir_b);
    // The same day (so the same batch id as A's) and the day after.
    let second = trades(day.start, day.end + DAY_MS, 2_000, 2);
    let (s, v) = b.ingest("trades", ndjson(&second)).await;
    assert_eq!(s, 200, "{v}");
    let (s, r) = b.archive().await;
    assert_eq!(s, 200, "{r:#}");
    let batches = r["batches"].as_array().expect("batches");
    // The first refusal stops the table's run: its later day waits.
    assert!(!batches.is_empty(), "{r:#}");
    for batch in batches {
        let e = batch["error"].as_str().unwrap_or("");
        assert!(
            e.contains("belongs to cloud c-") && e.contains("comes from cloud c-"),
            "the error names both clouds: {r:#}"
        );
        assert_eq!(batch["state"], "exported", "kept, not committed: {r:#}");
    }
    assert_eq!(
        b.hot_count(&schema, ALL),
        second.len() as u64,
        "B keeps every row hot"
    );
    assert_eq!(
        cold_hash(&stack),
        hash_json(&schema, &first),
        "cold holds A's rows, exactly"
    );
    assert_eq!(
        ledger_batches(&stack),
        owner_batches,
        "nothing of B's in the ledger"
    );
    let (_, health) = b.get("/health").await;
    let health: serde_json::Value = serde_json::from_str(&health).expect("health json");
    assert_eq!(health["status"], "degraded", "{health:#}");
    assert_eq!(
        health["components"]["batches"]["status"], "degraded",
        "the refused batch is named stuck: {health:#}"
    );

    // A goes on as before: its run is clean and its day answers whole.
    let (s, r) = stack.cloud.archive().await;
    assert_eq!((s, &r["failed"]), (200, &serde_json::json!(0)), "{r:#}");
    let rows = stack
        .cloud
        .query_rows(
            "trades",
            &format!("from={}&to={}&limit=1000000", day.start, day.end),
        )
        .await;
    assert_eq!(hash_json(&schema, &rows), hash_json(&schema, &first));
}
