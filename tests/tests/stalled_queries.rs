//! Seventy cold queries whose readers never read: on one shared QUIC
//! connection they took every stream and filled the connection's flow
//! control window, and the archive hung. Cold queries now have a
//! connection of their own (and at most 64 streams on it; more answer with
//! the cold range missing at once), so the archive finishes.

use hotcold_core::schema::{Window, DAY_MS};
use hotcold_tests::data::{ndjson, now_ms, trades};
use hotcold_tests::Stack;
use hotcold_tests::{procs::Cloud, stack::StackOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_cold_queries_leave_streams_for_the_archive() {
    let mut stack = Stack::start(StackOptions {
        hot_retention: "6d".into(),
        extra_yaml: "query:\n  max-concurrent: 200\n  stall-timeout: 1h\n".into(),
        ..Default::default()
    });
    let now = now_ms();
    let start = Window::day_of(now - 9 * DAY_MS).start;
    let rows = trades(start, Window::day_of(now - 3 * DAY_MS).end, 900_000, 3);
    for c in rows.chunks(50_000) {
        assert_eq!(stack.cloud.ingest("trades", ndjson(c)).await.0, 200);
    }
    let (s, r) = stack.cloud.archive().await;
    assert_eq!((s, &r["failed"]), (200, &serde_json::json!(0)), "{r:#}");
    let cold_until = r["cutoff_ms"].as_i64().expect("cutoff");

    // The next runs may archive up to two days ago. The connect timeout
    // goes back to its default (10 s; the test stack's is 2 s): what this
    // test proves is that stalled streams leave the archive a stream, and
    // on a loaded 2-core CI machine the archive connection's handshake,
    // beside a query connection retransmitting its burst into the cloud's
    // UDP buffer, once took longer than 2 s (four batches pending).
    let cfg = std::fs::read_to_string(&stack.cloud.config).expect("cfg");
    std::fs::write(
        &stack.cloud.config,
        cfg.replace("hot-retention: 6d", "hot-retention: 2d")
            .replace("connect-timeout: 2s", "connect-timeout: 10s"),
    )
    .expect("cfg");
    stack.cloud.kill("TERM");
    let (config, log, data) = (
        stack.cloud.config.clone(),
        stack.cloud.log.clone(),
        stack.cloud.data_dir.clone(),
    );
    stack.cloud = Cloud::start(config, log, data);

    let addr = stack
        .cloud
        .url
        .split("://")
        .nth(1)
        .unwrap_or_default()
        .to_string();
    let mut stalled = Vec::new();
    for i in 0..70 {
        let mut c = tokio::net::TcpStream::connect(&addr)
            .await
            .expect("connect");
        // Every cold day: more than a stream window and the channels hold,
        // so the stream stays open while nobody reads.
        let from = start + i % 1000;
        c.write_all(
            format!("GET /v1/query/trades?from={from}&to={cold_until} HTTP/1.1\r\nHost: x\r\n\r\n")
                .as_bytes(),
        )
        .await
        .expect("query");
        stalled.push(c);
    }
    // Let them start, fill what buffers they can, and stall.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let mut buf = [0u8; 512];
    let mut answering = 0;
    for c in &mut stalled {
        if matches!(tokio::time::timeout(std::time::Duration::from_millis(20), c.read(&mut buf)).await, Ok(Ok(n)) if n > 0)
        {
            answering += 1;
        }
    }
    eprintln!("70 queries stalled, {answering} had begun to answer");
    let t = std::time::Instant::now();
    let Ok((s, r)) =
        tokio::time::timeout(std::time::Duration::from_secs(120), stack.cloud.archive()).await
    else {
        stack.dump_logs();
        panic!("the archive found no stream free within 120 s");
    };
    if s != 200 || r["failed"] != 0 || r["pending"] != 0 {
        stack.dump_logs();
        panic!("the archive under 70 stalled cold queries: {s} {r:#}");
    }
    assert!(r["rows_archived"].as_u64().unwrap_or(0) > 0, "{r:#}");
    println!(
        "archive with 70 stalled cold queries: {:.1} s, {} rows",
        t.elapsed().as_secs_f64(),
        r["rows_archived"]
    );
    drop(stalled);
}
