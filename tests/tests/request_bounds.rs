//! What one request may cost, beyond its rows and bytes: its time (a
//! trickled ingest body, a streamed answer read too slowly), the keys an
//! aggregation folds (groups x buckets, not only buckets), and what a
//! failure on our side tells the caller (a reference, never the inside).

use hotcold_tests::data::{ndjson, now_ms, trades, trades_schema};
use hotcold_tests::rawhttp::{addr, read_to_close};
use hotcold_tests::stack::{ColdKind, StackOptions};
use hotcold_tests::Stack;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickled_ingest_body_is_cut_at_ingest_max_time() {
    let stack = Stack::start(StackOptions {
        extra_yaml: "ingest:\n  max-time: 1s\n  max-concurrent: 1\n".into(),
        ..Default::default()
    });
    let now = now_ms();
    let body = ndjson(&trades(now - 60_000, now, 100, 1));
    let mut c = tokio::net::TcpStream::connect(addr(&stack.cloud.url))
        .await
        .expect("connect");
    c.write_all(
        format!(
            "POST /v1/ingest/trades HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-ndjson\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    )
    .await
    .expect("head");
    // Half the body, then nothing more.
    c.write_all(&body.as_bytes()[..body.len() / 2])
        .await
        .expect("half");
    let t = Instant::now();
    let (got, _) = read_to_close(&mut c, Duration::from_secs(5)).await;
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 503"), "{text}");
    assert!(text.contains("ingest.max-time"), "{text}");
    assert!(t.elapsed() < Duration::from_secs(4), "{:?}", t.elapsed());
    // Nothing of the half body was stored, and the one permit is back.
    let w = hotcold_core::Window::new(now - 60_000, now + 1);
    assert_eq!(stack.cloud.hot_count(&trades_schema(), w), 0);
    assert_eq!(stack.cloud.ingest("trades", body).await.0, 200);
    assert_eq!(stack.cloud.hot_count(&trades_schema(), w), 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streamed_answer_is_cut_at_query_max_time() {
    let stack = Stack::start(StackOptions {
        extra_yaml: "query:\n  max-time: 2s\n  stall-timeout: 1h\n  max-concurrent: 1\n".into(),
        ..Default::default()
    });
    let now = now_ms();
    let start = now - 3_600_000;
    let rows = trades(start, now, 200_000, 2);
    stack.cloud.ingest_all("trades", &rows).await;
    let mut c = tokio::net::TcpStream::connect(addr(&stack.cloud.url))
        .await
        .expect("connect");
    c.write_all(
        format!(
            "GET /v1/query/trades?from={start}&to={} HTTP/1.1\r\nHost: x\r\n\r\n",
            now + 1
        )
        .as_bytes(),
    )
    .await
    .expect("query");
    let mut first = [0u8; 4096];
    let n = c.read(&mut first).await.expect("first bytes");
    let head = String::from_utf8_lossy(&first[..n]).to_string();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains("x-hotcold-streamed: true"), "{head}");
    // The reader stops; the stall timeout is an hour, so only the time
    // limit can end the answer.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (rest, closed) = read_to_close(&mut c, Duration::from_secs(10)).await;
    assert!(closed, "the answer was not cut at query.max-time");
    // Aborted, not finished: a chunked body ends with a zero-length chunk.
    assert!(!rest.ends_with(b"0\r\n\r\n"), "the cut answer looks whole");
    let lines = rest.iter().filter(|b| **b == b'\n').count();
    assert!(lines < rows.len(), "all {} rows arrived anyway", rows.len());
    // Its permit is back: the next query is served.
    let (s, _, _) = stack
        .cloud
        .query("trades", &format!("from={start}&to={}&limit=5", now + 1))
        .await;
    assert_eq!(s, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_times_buckets_are_bounded_not_only_buckets() {
    let stack = Stack::start(StackOptions {
        extra_yaml: "query:\n  max-buckets: 1000\n".into(),
        ..Default::default()
    });
    let now = now_ms();
    let start = now - 86_400_000;
    let rows = trades(start, now, 20_000, 3);
    for c in rows.chunks(10_000) {
        assert_eq!(stack.cloud.ingest("trades", ndjson(c)).await.0, 200);
    }
    let range = format!("from={start}&to={}", now + 1);
    // 24 buckets x 12 symbol/exchange groups: well inside the bound.
    let (s, _, b) = stack
        .cloud
        .ask("bars", "trades", &format!("{range}&interval=1h"))
        .await;
    assert_eq!(s, 200, "{b}");
    // 24 buckets, but one group per trade: 20,000 keys to fold.
    for (endpoint, q) in [
        ("bars", format!("{range}&interval=1h&group_by=trade_id")),
        (
            "aggregate",
            format!("{range}&interval=1h&group_by=trade_id&agg=count,sum:amount"),
        ),
        ("aggregate", format!("{range}&group_by=trade_id")),
    ] {
        let path = format!("{endpoint}?{q}");
        let (s, _, b) = stack.cloud.ask(endpoint, "trades", &q).await;
        assert_eq!(s, 400, "{path}: {b}");
        assert!(b.contains("query.max-buckets"), "{path}: {b}");
        assert!(b.contains("groups x buckets"), "{path}: {b}");
    }
    assert_eq!(stack.cloud.get("/health").await.0, 200);

    // The same bound on the NAS's fold: bars over an archived day.
    let old_day = hotcold_core::Window::day_of(now - 4 * 86_400_000);
    let old = trades(old_day.start, old_day.end, 5_000, 7);
    assert_eq!(stack.cloud.ingest("trades", ndjson(&old)).await.0, 200);
    let (s, r) = stack.cloud.archive().await;
    assert_eq!((s, &r["failed"]), (200, &serde_json::json!(0)), "{r:#}");
    assert_eq!(
        stack.cloud.hot_count(&trades_schema(), old_day),
        0,
        "the day is cold"
    );
    let cold = format!("from={}&to={}", old_day.start, old_day.end);
    let (s, h, b) = stack
        .cloud
        .ask(
            "bars",
            "trades",
            &format!("{cold}&interval=1h&group_by=trade_id"),
        )
        .await;
    assert_eq!(s, 400, "{b}");
    assert!(b.contains("query.max-buckets"), "{b}");
    assert!(!h.contains_key("x-hotcold-missing"), "{h:?}");
    let (s, _, b) = stack
        .cloud
        .ask("bars", "trades", &format!("{cold}&interval=1h"))
        .await;
    assert_eq!(s, 200, "{b}");
}

/// ClickHouse 18.x folds bars itself (the gateway's cold store and the
/// ClickHouse hot store): the same bound holds there and is the client's
/// 400, hot and cold.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clickhouse_bars_folds_are_bounded_hot_and_cold() {
    let Some(url) = hotcold_tests::clickhouse::url() else {
        return;
    };
    let stack = Stack::start(StackOptions {
        cold: ColdKind::ClickHouse {
            url: url.clone(),
            database: hotcold_tests::clickhouse::unique_db("bounds_cold"),
        },
        hot_clickhouse: Some((url, hotcold_tests::clickhouse::unique_db("bounds_hot"))),
        extra_yaml: "query:\n  max-buckets: 1000\n".into(),
        ..Default::default()
    });
    let now = now_ms();
    let old_day = hotcold_core::Window::day_of(now - 4 * 86_400_000);
    let new_day = hotcold_core::Window::day_of(now - 86_400_000);
    for (day, seed) in [(old_day, 7), (new_day, 8)] {
        let rows = trades(day.start, day.end, 5_000, seed);
        assert_eq!(stack.cloud.ingest("trades", ndjson(&rows)).await.0, 200);
    }
    let (s, r) = stack.cloud.archive().await;
    assert_eq!((s, &r["failed"]), (200, &serde_json::json!(0)), "{r:#}");
    for (which, day) in [("cold", old_day), ("hot", new_day)] {
        let range = format!("from={}&to={}", day.start, day.end);
        let (s, h, b) = stack
            .cloud
            .ask(
                "bars",
                "trades",
                &format!("{range}&interval=1h&group_by=trade_id"),
            )
            .await;
        assert_eq!(s, 400, "{which}: {b}");
        assert!(b.contains("query.max-buckets"), "{which}: {b}");
        assert!(!h.contains_key("x-hotcold-missing"), "{which}: {h:?}");
        let (s, _, b) = stack
            .cloud
            .ask("bars", "trades", &format!("{range}&interval=1h"))
            .await;
        assert_eq!(s, 200, "{which}: {b}");
        assert_eq!(b.lines().count(), 24 * 12, "{which}: {b}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_inside_answers_with_a_reference_not_its_text() {
    let stack = Stack::start(StackOptions::default());
    let now = now_ms();
    assert_eq!(
        stack
            .cloud
            .ingest("trades", ndjson(&trades(now - 60_000, now, 100, 4)))
            .await
            .0,
        200
    );
    // The hot table disappears behind the service's back.
    let conn = rusqlite::Connection::open(stack.cloud.data_dir.join("hot.db")).expect("hot.db");
    conn.execute_batch("DROP TABLE trades").expect("drop");
    drop(conn);
    let (s, _, body) = stack
        .cloud
        .query("trades", &format!("from={}&to={}", now - 60_000, now + 1))
        .await;
    assert_eq!(s, 500, "{body}");
    for inside in ["no such table", "sqlite", "SELECT", "hot.db", "/tmp"] {
        assert!(
            !body.contains(inside),
            "the answer echoes {inside:?}: {body}"
        );
    }
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    let msg = v["error"].as_str().unwrap_or_default();
    let r = msg
        .split("reference ")
        .nth(1)
        .and_then(|s| s.split(':').next())
        .unwrap_or_else(|| panic!("no reference in {msg}"));
    // The log has the cause under that reference.
    let log = std::fs::read_to_string(&stack.cloud.log).expect("log");
    let line = log
        .lines()
        .find(|l| l.contains(r))
        .unwrap_or_else(|| panic!("reference {r} not in the log"));
    assert!(line.contains("no such table"), "{line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_over_ingest_max_body_is_refused_naming_the_limit() {
    let stack = Stack::start(StackOptions {
        extra_yaml: "ingest:\n  max-body: 4KiB\n".into(),
        ..Default::default()
    });
    let now = now_ms();
    let rows = trades(now - 60_000, now, 200, 6);
    let (s, v) = stack.cloud.ingest("trades", ndjson(&rows)).await;
    assert_eq!(s, 413, "{v}");
    let msg = v["error"].as_str().unwrap_or_default();
    assert!(msg.contains("ingest.max-body (4KiB)"), "{v}");
    let w = hotcold_core::Window::new(now - 60_000, now + 1);
    assert_eq!(stack.cloud.hot_count(&trades_schema(), w), 0);
    assert_eq!(
        stack.cloud.ingest("trades", ndjson(&rows[..5])).await.0,
        200
    );
}
