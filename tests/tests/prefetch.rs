//! Cold prefetch through a bandwidth-limited link: a query asked while its
//! days were hot is remembered; after the archive run moves them to the
//! NAS, prefetch fetches their cold part into the cache within the link's
//! limit (its bytes over its time stay under the limit, give or take the
//! QUIC window the gateway may send ahead), and the same query asked again
//! is answered from the cache (a prefetch hit in /metrics) with every row.
//! When the answer has gone stale, lifting the limit (a timetable's quiet
//! period) warms it again.

use hotcold_core::schema::{Window, DAY_MS};
use hotcold_tests::data::{hash_json, ndjson, now_ms, trades, trades_schema};
use hotcold_tests::stack::StackOptions;
use hotcold_tests::Stack;

/// The link's limit in this test, bytes per second.
const LIMIT: f64 = 512.0 * 1024.0;
/// What the gateway may send before the limit holds it back: one stream's
/// flow-control window (1.25 MB at this link's tuning; see shared/link).
const AHEAD: f64 = 1_250_000.0;

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no metric {name}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_asked_again_after_archiving_is_served_from_prefetch() {
    let stack = Stack::start(StackOptions {
        bwlimit: "512KiB".into(),
        // Answers go stale after 15 s, so the test can see prefetch warm
        // one again when the limit is lifted.
        extra_yaml: "query:\n  cold-cache: 512MiB\n  cold-cache-ttl: 15s\n".into(),
        ..Default::default()
    });
    let d0 = Window::day_of(now_ms() - 6 * DAY_MS).start;
    let rows = trades(d0, d0 + 3 * DAY_MS, 300_000, 7);
    for chunk in rows.chunks(100_000) {
        assert_eq!(stack.cloud.ingest("trades", ndjson(chunk)).await.0, 200);
    }
    let q = format!("from={d0}&to={}", d0 + 3 * DAY_MS);
    let (s, h, first) = stack.cloud.query("trades", &q).await;
    assert_eq!(s, 200);
    assert!(
        h.get("x-hotcold-watermark").is_none(),
        "all hot before the run"
    );
    let first: Vec<serde_json::Value> = first
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(first.len(), rows.len());

    let (s, r) = stack.cloud.archive().await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["rows_archived"], rows.len() as u64, "{r:#}");
    // The run's end starts prefetch (checked every second).
    let mut report = serde_json::Value::Null;
    for _ in 0..120 {
        let st = stack.cloud.status().await;
        if st["prefetch"]["report"]["warmed"].as_u64().unwrap_or(0) >= 1 {
            report = st["prefetch"]["report"].clone();
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    assert_eq!(
        report["warmed"], 1,
        "prefetch never warmed the query: {report}"
    );
    assert_eq!(report["rows"], rows.len() as u64);
    let (_, m) = stack.cloud.get("/metrics").await;
    let bytes = metric(&m, "hotcold_link_prefetch_bytes_total");
    let secs = report["secs"].as_f64().unwrap();
    eprintln!(
        "prefetch: {bytes:.0} bytes in {secs:.2} s = {:.0} B/s against a limit of {LIMIT:.0}",
        bytes / secs
    );
    assert!(
        bytes > 2.0 * AHEAD,
        "the answer should dwarf the window: {bytes}"
    );
    assert!(
        bytes <= LIMIT * secs * 1.05 + AHEAD,
        "prefetch took {bytes} bytes in {secs} s: over the {LIMIT} B/s limit"
    );
    assert_eq!(metric(&m, "hotcold_cold_prefetched_total"), 1.0);

    // Asked again: from the cache, every row as before.
    let t = std::time::Instant::now();
    let (s, h, again) = stack.cloud.query("trades", &q).await;
    assert_eq!(s, 200);
    assert_eq!(
        h.get("x-hotcold-cache").map(|v| v.to_str().unwrap()),
        Some("hit")
    );
    let again: Vec<serde_json::Value> = again
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    eprintln!(
        "the replay took {:?} (the link would need {secs:.1} s)",
        t.elapsed()
    );
    let schema = trades_schema();
    assert_eq!(hash_json(&schema, &again), hash_json(&schema, &rows));
    let (_, m) = stack.cloud.get("/metrics").await;
    assert_eq!(metric(&m, "hotcold_cold_prefetch_hits_total"), 1.0);
    assert!(metric(&m, "hotcold_cold_cache_hit_ratio") > 0.0);

    // Once the answer is stale, lifting the limit (as a timetable's quiet
    // period would) warms it again, now at the line's own pace.
    let first_at = stack.cloud.status().await["prefetch"]["at"].clone();
    tokio::time::sleep(std::time::Duration::from_secs(16)).await;
    let (s, b) = stack.cloud.put("/v1/admin/bwlimit", "off").await;
    assert_eq!(s, 200, "{b}");
    let mut st = serde_json::Value::Null;
    for _ in 0..40 {
        st = stack.cloud.status().await;
        if st["prefetch"]["at"] != first_at {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    assert_ne!(
        st["prefetch"]["at"], first_at,
        "no prefetch when the limit lifted"
    );
    assert_eq!(st["prefetch"]["report"]["warmed"], 1, "{st:#}");
    let (_, m) = stack.cloud.get("/metrics").await;
    assert_eq!(metric(&m, "hotcold_cold_prefetched_total"), 2.0);
    let (_, h, _) = stack.cloud.query("trades", &q).await;
    assert_eq!(
        h.get("x-hotcold-cache").map(|v| v.to_str().unwrap()),
        Some("hit")
    );
}
