//! Crash-proof, idempotent commits (invariant 2): the gateway dies like
//! SIGKILL (abort, no cleanup) at each point of a commit — before the insert,
//! after the insert but before the ledger, after the ledger but before the
//! reply — then restarts. After the next archive run the cold store holds
//! exactly one copy of the window, with hot's count and content hash.

use hotcold_core::schema::{Window, DAY_MS};
use hotcold_tests::clickhouse;
use hotcold_tests::data::{hash_json, ndjson, now_ms, trades, trades_schema};
use hotcold_tests::stack::{ColdKind, StackOptions};
use hotcold_tests::Stack;
use std::time::{Duration, Instant};

async fn crash_at(point: &str, cold: ColdKind) -> (Stack, Vec<serde_json::Value>, Window) {
    let env = vec![(
        nas_gateway::failpoint::ENV.to_string(),
        format!("{point}=abort"),
    )];
    let mut stack = Stack::start(StackOptions {
        cold,
        gateway_env: env,
        ..Default::default()
    });
    let day = Window::day_of(now_ms() - 4 * DAY_MS);
    let rows = trades(day.start, day.end, 30_000, 13);
    let (s, b) = stack.cloud.ingest("trades", ndjson(&rows)).await;
    assert_eq!(s, 200, "{b}");

    let (s, r) = stack.cloud.archive().await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(
        r["rows_archived"], 0,
        "{point}: the gateway should have died: {r:#}"
    );
    // Wait until the gateway process is gone (it aborted).
    let child = stack.gateway.child.as_mut().expect("child");
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().ok().flatten().is_none() {
        assert!(
            Instant::now() < deadline,
            "{point}: the gateway did not die"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        stack.cloud.hot_count(&trades_schema(), day),
        rows.len() as u64,
        "{point}: hot must keep its rows"
    );

    stack.gateway.restart(Vec::new());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (s, r) = stack.cloud.archive().await;
        assert_eq!(s, 200, "{r}");
        assert_eq!(r["failed"], 0, "{point}: {r:#}");
        if r["rows_archived"].as_u64() == Some(rows.len() as u64) {
            break;
        }
        assert!(Instant::now() < deadline, "{point}: no recovery: {r:#}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert_eq!(stack.cloud.hot_count(&trades_schema(), day), 0);
    (stack, rows, day)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clickhouse_commit_survives_a_crash_at_every_step() {
    let Some(url) = clickhouse::url() else { return };
    let schema = trades_schema();
    for point in ["before-insert", "after-insert", "after-ledger"] {
        let db = clickhouse::unique_db("crash");
        let (_stack, rows, day) = crash_at(
            point,
            ColdKind::ClickHouse {
                url: url.clone(),
                database: db.clone(),
            },
        )
        .await;
        let cold = clickhouse::window_hash(&url, &db, &schema, Window::new(i64::MIN, i64::MAX))
            .await
            .expect("cold");
        assert_eq!(
            cold,
            hash_json(&schema, &rows),
            "{point}: cold must hold exactly one copy"
        );
        let ledger = clickhouse::sql(
            &url,
            &format!("SELECT count(DISTINCT batch_id) FROM {db}._hotcold_ledger"),
        )
        .await
        .expect("ledger");
        assert_eq!(ledger.trim(), "1", "{point}: one batch in the ledger");
        println!(
            "{point}: {} rows in {day}, exactly once after the crash",
            cold.rows
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_commit_survives_a_crash_at_every_step() {
    let schema = trades_schema();
    for point in ["before-insert", "after-insert", "after-ledger"] {
        let (stack, rows, _) = crash_at(point, ColdKind::Sqlite).await;
        let conn =
            rusqlite::Connection::open(stack.dir.path().join("nas/cold.db")).expect("cold.db");
        let cold = hotcold_sqlite::content_hash(&conn, &schema, Window::new(i64::MIN, i64::MAX))
            .expect("hash");
        assert_eq!(cold, hash_json(&schema, &rows), "{point}");
    }
}
