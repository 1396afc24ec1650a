//! Adaptive chunks: each batch is exported with a chunk size from the
//! line's recent goodput, round trip and loss (`transfer::adapt`), within
//! `link.chunk-min..=link.chunk-size`. On a line limited to 128 KiB/s the
//! first batches (exported ahead of the first send, nothing measured yet)
//! get the largest, 1 MiB, and the later ones about a second of the line;
//! on an unlimited loopback line they stay at the largest. Every row
//! arrives exactly once either way.

use hotcold_core::schema::{Window, DAY_MS};
use hotcold_tests::data::{hash_json, now_ms, trades, trades_schema};
use hotcold_tests::hot_cluster_checks::ALL;
use hotcold_tests::stack::StackOptions;
use hotcold_tests::Stack;

async fn archive_days(bwlimit: &str, days: i64, rows_per_day: usize) -> Vec<u64> {
    let stack = Stack::start(StackOptions {
        chunk_size: "1MiB".into(),
        bwlimit: bwlimit.into(),
        ..Default::default()
    });
    let first = Window::day_of(now_ms() - (days + 3) * DAY_MS);
    let rows = trades(
        first.start,
        first.start + days * DAY_MS,
        rows_per_day * days as usize,
        5,
    );
    stack.cloud.ingest_all("trades", &rows).await;
    let (s, r) = stack.cloud.archive().await;
    assert_eq!((s, &r["failed"]), (200, &serde_json::json!(0)), "{r:#}");
    assert_eq!(r["rows_archived"], rows.len(), "{r:#}");
    let conn = rusqlite::Connection::open(stack.dir.path().join("nas/cold.db")).expect("cold.db");
    let cold = hotcold_sqlite::content_hash(&conn, &trades_schema(), ALL).expect("cold");
    assert_eq!(cold, hash_json(&trades_schema(), &rows), "every row once");
    let status = stack.cloud.status().await;
    let metrics = stack.cloud.get("/metrics").await.1;
    assert!(metrics.contains("hotcold_link_chunk_bytes"), "{metrics}");
    let sizes: Vec<u64> = r["batches"]
        .as_array()
        .expect("batches")
        .iter()
        .map(|b| b["chunk_size"].as_u64().expect("chunk_size"))
        .collect();
    eprintln!(
        "bwlimit {bwlimit}: chunk sizes {sizes:?}, status {}",
        status["link"]
    );
    sizes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_line_gets_small_chunks_a_fast_one_large() {
    let slow = archive_days("128KiB", 7, 14_000).await;
    assert_eq!(
        slow[0],
        1 << 20,
        "nothing measured before the first: {slow:?}"
    );
    assert!(
        slow[5..].iter().all(|c| *c <= 256 << 10),
        "about a second of a 128 KiB/s line once it was measured: {slow:?}"
    );
    let fast = archive_days("off", 3, 40_000).await;
    assert!(fast.iter().all(|c| *c == 1 << 20), "{fast:?}");
}
