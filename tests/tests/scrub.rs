//! `nas-gateway scrub` re-reads every committed cold window and checks it
//! against the ledger: clean after an archive, and after a row is altered in
//! the cold store it exits 1 naming exactly the altered window.

use hotcold_core::schema::{Window, DAY_MS};
use hotcold_tests::clickhouse;
use hotcold_tests::data::{ndjson, now_ms, trades};
use hotcold_tests::Stack;
use hotcold_tests::{
    procs::bin,
    stack::{ColdKind, StackOptions},
};
use std::process::Command;

fn scrub(stack: &Stack, json: bool) -> (i32, String) {
    let mut cmd = Command::new(bin("nas-gateway"));
    cmd.arg("scrub").arg("-c").arg(&stack.gateway.config);
    if json {
        cmd.arg("--json");
    }
    let out = cmd.output().expect("nas-gateway scrub");
    if !out.stderr.is_empty() {
        eprintln!("scrub stderr: {}", String::from_utf8_lossy(&out.stderr));
    }
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

async fn scrub_finds_the_altered_window(cold: ColdKind, alter: impl FnOnce(i64) -> String) {
    let stack = Stack::start(StackOptions {
        cold: cold.clone(),
        ..Default::default()
    });
    let start = Window::day_of(now_ms() - 6 * DAY_MS).start;
    let rows = trades(start, start + 3 * DAY_MS, 9_000, 21);
    assert_eq!(stack.cloud.ingest("trades", ndjson(&rows)).await.0, 200);
    let (s, r) = stack.cloud.archive().await;
    assert_eq!(s, 200, "{r}");

    let (code, out) = scrub(&stack, false);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("3 windows, 9000 rows checked; 3 match"),
        "{out}"
    );

    // One row of the middle day changes under the gateway's feet.
    let victim = rows
        .iter()
        .filter_map(|r| r["ts"].as_i64())
        .find(|t| *t >= start + DAY_MS)
        .expect("a row on day 2");
    let sql = alter(victim);
    match &cold {
        ColdKind::ClickHouse { url, .. } => {
            clickhouse::sql(url, &sql).await.expect("alter");
            // ALTER UPDATE is a mutation: wait for it to be applied.
            for _ in 0..100 {
                let (_, out) = scrub(&stack, false);
                if out.contains("do not") && !out.contains("0 do not") {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
        ColdKind::Sqlite => {
            let conn =
                rusqlite::Connection::open(stack.dir.path().join("nas/cold.db")).expect("cold.db");
            conn.execute(&sql, []).expect("alter");
        }
        ColdKind::Replicas { .. } => unreachable!("scrub runs on one cold server here"),
    }
    let (code, out) = scrub(&stack, true);
    assert_eq!(code, 1, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("json report");
    assert_eq!(v["windows"], 3);
    assert_eq!(v["ok"], 2);
    let bad = v["mismatched"].as_array().expect("mismatched");
    assert_eq!(bad.len(), 1, "{v:#}");
    assert_eq!(bad[0]["window"]["start"], start + DAY_MS);
    assert!(
        bad[0]["reason"]
            .as_str()
            .unwrap_or("")
            .contains("content differs"),
        "{v:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrub_on_sqlite_cold() {
    scrub_finds_the_altered_window(ColdKind::Sqlite, |ts| {
        format!("UPDATE trades SET amount = amount + 1 WHERE ts = {ts}")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrub_on_clickhouse_cold() {
    let Some(url) = clickhouse::url() else {
        return;
    };
    let db = clickhouse::unique_db("scrub");
    let d = db.clone();
    scrub_finds_the_altered_window(ColdKind::ClickHouse { url, database: db }, move |ts| {
        format!("ALTER TABLE {d}.trades UPDATE buyer_maker = 1 - buyer_maker WHERE ts = {ts}")
    })
    .await;
}
