//! `archive --dry-run` changes nothing; `verify` checks every confirmed
//! batch against the gateway's ledger and names the ones that are missing or
//! disagree (here the cold ledger is altered on disk).

use hotcold_core::schema::{Window, DAY_MS};
use hotcold_tests::data::{ndjson, now_ms, trades, trades_schema};
use hotcold_tests::stack::StackOptions;
use hotcold_tests::Stack;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_changes_nothing_and_verify_finds_ledger_damage() {
    let stack = Stack::start(StackOptions::default());
    let c = &stack.cloud;
    let now = now_ms();
    let start = Window::day_of(now - 6 * DAY_MS).start;
    let rows = trades(start, now, 12_000, 12);
    assert_eq!(c.ingest("trades", ndjson(&rows)).await.0, 200);

    let r = reqwest::Client::new()
        .post(format!("{}/v1/admin/archive?dry_run=true", c.url))
        .send()
        .await
        .expect("dry run");
    assert_eq!(r.status(), 200);
    let preview: serde_json::Value = r.json().await.expect("json");
    let new = preview["tables"]["trades"]["new_windows"]
        .as_array()
        .expect("windows")
        .len();
    assert_eq!(new, 4, "{preview:#}");
    assert_eq!(
        c.hot_count(&trades_schema(), Window::new(i64::MIN, i64::MAX)),
        rows.len() as u64
    );
    // Not even the ingest floor moved: an old row is still welcome.
    assert_eq!(
        c.ingest("trades", ndjson(&trades(start, start + 1000, 1, 99)))
            .await
            .0,
        200
    );

    let (s, r) = c.archive().await;
    assert_eq!(s, 200, "{r}");
    let (s, body) = c.get("/v1/admin/verify").await;
    assert_eq!(s, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(
        (v["ok"].as_bool(), v["checked"].as_u64()),
        (Some(true), Some(4)),
        "{v:#}"
    );

    // Damage the cold ledger: one entry altered, one removed.
    let conn = rusqlite::Connection::open(stack.dir.path().join("nas/cold.db")).expect("cold.db");
    let ids: Vec<String> = conn
        .prepare("SELECT batch_id FROM _hotcold_ledger ORDER BY batch_id")
        .and_then(|mut st| st.query_map([], |r| r.get(0))?.collect())
        .expect("ids");
    conn.execute(
        "UPDATE _hotcold_ledger SET sum = '00000000000000000000000000000001' WHERE batch_id = ?1",
        [&ids[0]],
    )
    .expect("alter");
    conn.execute("DELETE FROM _hotcold_ledger WHERE batch_id = ?1", [&ids[1]])
        .expect("delete");
    let (_, body) = c.get("/v1/admin/verify").await;
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["ok"], false, "{v:#}");
    assert_eq!(v["mismatched"][0]["batch_id"], ids[0].as_str(), "{v:#}");
    assert_eq!(v["missing"][0]["batch_id"], ids[1].as_str(), "{v:#}");

    // The CLI says so with its exit code.
    let out = std::process::Command::new(hotcold_tests::procs::bin("cloud-service"))
        .args(["verify", "--url", &c.url])
        .output()
        .expect("cli");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("disagrees"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
