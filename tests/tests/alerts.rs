//! Alerts reach a real webhook (an HTTP server in this test) from real
//! failures: a batch whose cold copy was altered, hot rows older than their
//! retention plus grace, and a gateway that stays away.

use hotcold_core::schema::{Window, DAY_MS};
use hotcold_tests::data::{ndjson, now_ms, trades};
use hotcold_tests::stack::StackOptions;
use hotcold_tests::Stack;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

type Inbox = Arc<Mutex<Vec<serde_json::Value>>>;

async fn webhook() -> (String, Inbox) {
    let inbox: Inbox = Arc::default();
    let i2 = inbox.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: axum::Json<serde_json::Value>| {
            let i = i2.clone();
            async move {
                i.lock().expect("inbox").push(body.0);
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/hook"), inbox)
}

async fn wait_for(inbox: &Inbox, kind: &str) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(a) = inbox
            .lock()
            .expect("inbox")
            .iter()
            .find(|a| a["kind"] == kind)
        {
            return a.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no {kind} alert; got {:?}",
            inbox.lock().expect("inbox")
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_failures_reach_the_webhook() {
    let (url, inbox) = webhook().await;
    let tamper = "UPDATE trades SET symbol = 'TAMPERED' WHERE trade_id % 50 = 0";
    let mut stack = Stack::start(StackOptions {
        gateway_env: vec![(nas_gateway::failpoint::ENV.to_string(), format!("after-insert=sql:{tamper}"))],
        extra_yaml: format!("alerts:\n  webhook: {url}\n  link-down-after: 1s\n  hot-grace: 1d\n  check-every: 300ms\n"),
        ..Default::default()
    });
    let now = now_ms();
    let start = Window::day_of(now - 6 * DAY_MS).start;
    let (s, b) = stack
        .cloud
        .ingest("trades", ndjson(&trades(start, now, 5_000, 9)))
        .await;
    assert_eq!(s, 200, "{b}");

    // Rows older than 2 days of retention plus 1 day of grace sit in hot.
    let old = wait_for(&inbox, "hot_too_old").await;
    assert_eq!(old["subject"], "trades", "{old}");

    // A cold copy altered before the read-back: the batch fails, and says so.
    let (s, r) = stack.cloud.archive().await;
    assert_eq!(s, 200);
    assert_eq!(r["failed"], 1, "{r:#}");
    let failed = wait_for(&inbox, "batch_failed").await;
    assert!(
        failed["detail"]["error"]
            .as_str()
            .unwrap_or("")
            .contains("nothing deleted"),
        "{failed}"
    );
    assert_eq!(failed["source"], "cloud-service");
    // The batch cannot get on by itself: /health says so (not "healthy"),
    // from the journal, and an alert names it.
    let stuck = wait_for(&inbox, "batch_stuck").await;
    assert_eq!(stuck["detail"]["state"], "failed", "{stuck}");
    let (code, h) = stack.cloud.get("/health").await;
    assert_eq!(code, 200, "degraded is still 200 for a load balancer: {h}");
    let h: serde_json::Value = serde_json::from_str(&h).expect("json");
    assert_eq!(h["status"], "degraded", "{h:#}");
    assert_eq!(h["components"]["batches"]["status"], "degraded", "{h:#}");
    assert!(
        h["components"]["batches"]["detail"]["stuck"][0]["why"]
            .as_str()
            .unwrap_or("")
            .contains("failed for good"),
        "{h:#}"
    );

    // The gateway goes away for longer than link-down-after.
    stack.gateway.kill("KILL");
    // (The failed window is planned again, and its delivery finds no one.)
    let (s, r) = stack.cloud.archive().await;
    assert_eq!(s, 200, "{r}");
    assert!(r["offline"].is_string(), "{r:#}");
    let down = wait_for(&inbox, "link_down").await;
    assert!(down["detail"]["since"].is_string(), "{down}");
    // Repeats are suppressed within alerts.repeat (6 h by default).
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let n = inbox
        .lock()
        .expect("inbox")
        .iter()
        .filter(|a| a["kind"] == "link_down")
        .count();
    assert_eq!(n, 1, "the same alert must not repeat every check");
    // After a restart (the last run's report is gone) the journal still
    // knows: the new batch of that window is failing to be delivered.
    stack.cloud.kill("KILL");
    stack.cloud = hotcold_tests::Cloud::start_with_env(
        stack.cloud.config.clone(),
        stack.dir.path().join("cloud-restart.log"),
        stack.cloud.data_dir.clone(),
        &[],
    );
    let h: serde_json::Value =
        serde_json::from_str(&stack.cloud.get("/health").await.1).expect("json");
    let stuck = h["components"]["batches"]["detail"]["stuck"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        stuck.iter().any(|b| b["state"] == "exported"
            && b["why"]
                .as_str()
                .unwrap_or("")
                .contains("last attempt failed")),
        "{h:#}"
    );
    assert!(
        stuck.iter().all(|b| b["state"] != "failed"),
        "the failed batch was replaced by a new one of its window: {h:#}"
    );
}
