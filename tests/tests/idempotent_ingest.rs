//! Idempotent ingest: a request retried with the same `Idempotency-Key`
//! (after a timeout, or racing its original) is stored once, also across a
//! kill -9 and restart; the same key with another body is a 422 that
//! stores nothing; a key past `ingest.idempotency-ttl` is forgotten. On the
//! SQLite hot store and on ClickHouse (a server in America/New_York).

use hotcold_core::schema::{Window, DAY_MS};
use hotcold_tests::clickhouse;
use hotcold_tests::data::{hash_json, ndjson, now_ms, trades, trades_schema};
use hotcold_tests::stack::StackOptions;
use hotcold_tests::{Cloud, Stack};
use std::time::Duration;

async fn post(c: &Cloud, key: &str, body: &str) -> (u16, serde_json::Value) {
    let r = reqwest::Client::new()
        .post(format!("{}/v1/ingest/trades", c.url))
        .header("idempotency-key", key)
        .body(body.to_string())
        .send()
        .await
        .expect("send");
    let code = r.status().as_u16();
    (code, r.json().await.unwrap_or(serde_json::Value::Null))
}

async fn count(c: &Cloud, w: Window) -> usize {
    c.query_rows("trades", &format!("from={}&to={}", w.start, w.end))
        .await
        .len()
}

async fn retries_store_once(mut stack: Stack) {
    let day = Window::day_of(now_ms() - DAY_MS);
    let rows = trades(day.start, day.end, 4_000, 9);
    let (first, second) = rows.split_at(2_000);
    let (a, b) = (ndjson(first), ndjson(second));

    let (code, v) = post(&stack.cloud, "batch-0001", &a).await;
    assert_eq!((code, v["rows"].as_u64()), (200, Some(2_000)), "{v}");
    let (code, v) = post(&stack.cloud, "batch-0001", &a).await;
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["replayed"], true, "{v}");
    assert_eq!(v["rows"], 2_000, "the first request's answer");
    assert_eq!(count(&stack.cloud, day).await, 2_000);

    // The same key with other rows is a client bug: refused, named.
    let (code, v) = post(&stack.cloud, "batch-0001", &b).await;
    assert_eq!(code, 422, "{v}");
    assert!(
        v["error"].as_str().unwrap_or("").contains("batch-0001"),
        "{v}"
    );
    assert_eq!(count(&stack.cloud, day).await, 2_000);

    // Four copies racing each other: one is stored, the rest replay.
    let sends = (0..4).map(|_| post(&stack.cloud, "batch-0002", &b));
    let answers = futures::future::join_all(sends).await;
    assert!(answers.iter().all(|(c, _)| *c == 200), "{answers:?}");
    let stored = answers
        .iter()
        .filter(|(_, v)| v["replayed"] != true)
        .count();
    assert_eq!(
        stored, 1,
        "exactly one of the racing copies stored: {answers:?}"
    );
    assert_eq!(count(&stack.cloud, day).await, 4_000);

    // The key is as durable as the rows: kill -9, restart, retry.
    stack.cloud.kill("KILL");
    stack.cloud = Cloud::start(
        stack.cloud.config.clone(),
        stack.dir.path().join("cloud-restart.log"),
        stack.cloud.data_dir.clone(),
    );
    let (code, v) = post(&stack.cloud, "batch-0002", &b).await;
    assert_eq!(
        (code, v["replayed"].clone()),
        (200, serde_json::json!(true)),
        "{v}"
    );
    let got = stack
        .cloud
        .query_rows("trades", &format!("from={}&to={}", day.start, day.end))
        .await;
    assert_eq!(
        hash_json(&trades_schema(), &got),
        hash_json(&trades_schema(), &rows)
    );

    let (code, v) = post(&stack.cloud, "a key with spaces", &a).await;
    assert_eq!(code, 400, "{v}");
    assert!(
        v["error"]
            .as_str()
            .unwrap_or("")
            .contains("Idempotency-Key"),
        "{v}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_hot_stores_a_retried_request_once() {
    retries_store_once(Stack::start(StackOptions::default())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clickhouse_hot_stores_a_retried_request_once() {
    let Some(url) = clickhouse::url() else {
        println!("SKIPPED: no ClickHouse (HOTCOLD_CLICKHOUSE_URL unset)");
        return;
    };
    let db = clickhouse::unique_db("idem");
    retries_store_once(Stack::start(StackOptions {
        hot_clickhouse: Some((url.clone(), db.clone())),
        ..Default::default()
    }))
    .await;
    let _ = clickhouse::sql(&url, &format!("DROP DATABASE IF EXISTS {db}")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_past_its_ttl_is_forgotten() {
    let mut stack = Stack::start(StackOptions {
        extra_yaml: "ingest:\n  idempotency-ttl: 1s\n".into(),
        ..Default::default()
    });
    let day = Window::day_of(now_ms() - DAY_MS);
    let body = ndjson(&trades(day.start, day.end, 100, 4));
    assert_eq!(post(&stack.cloud, "k1", &body).await.0, 200);
    assert_eq!(post(&stack.cloud, "k1", &body).await.1["replayed"], true);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // Keys are pruned at start and hourly: a restart prunes now.
    stack.cloud.kill("KILL");
    stack.cloud = Cloud::start(
        stack.cloud.config.clone(),
        stack.dir.path().join("cloud-restart.log"),
        stack.cloud.data_dir.clone(),
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (code, v) = post(&stack.cloud, "k1", &body).await;
    assert_eq!(code, 200, "{v}");
    assert_ne!(
        v["replayed"], true,
        "forgotten after the ttl: stored again, {v}"
    );
    assert_eq!(count(&stack.cloud, day).await, 200);
}
