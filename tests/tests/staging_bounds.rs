//! Staging is bounded: a batch that would pass `staging-budget` is refused
//! (naming the budget) and stages nothing; a batch a cloud began and never
//! finished is removed after `staging-expiry`.

use hotcold_core::frame::Frame;
use hotcold_core::schema::{Window, DAY_MS};
use hotcold_tests::data::{now_ms, trades};
use hotcold_tests::rawlink::{manifest_for, offer, start_gateway};
use std::time::Duration;

async fn gateway(
    dir: &std::path::Path,
    budget: u64,
    expiry: Duration,
) -> (nas_gateway::Running, hotcold_link::TlsFiles) {
    start_gateway(dir, |cfg| {
        cfg.staging_budget = hotcold_core::units::ByteSize(budget);
        cfg.staging_expiry = hotcold_core::units::Span(expiry);
        cfg.commit_retry = hotcold_core::units::Span(Duration::from_millis(300));
    })
    .await
}

fn staged(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir.join("nas/staging")).map_or(0, |d| d.count())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_over_the_staging_budget_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (gw, tls) = gateway(dir.path(), 64 << 10, Duration::from_secs(3600)).await;
    let w = Window::day_of(now_ms() - 10 * DAY_MS);
    let (m, data) = manifest_for("trades-big-1", &trades(w.start, w.end, 40_000, 7), w);
    assert!(m.total_len > 64 << 10, "{} bytes", m.total_len);
    match offer(&tls, gw.addr, &m, &data, None).await {
        Some(Frame::Error(e)) => assert!(e.contains("staging-budget"), "{e}"),
        f => panic!("a batch over the budget got {f:?}"),
    }
    assert_eq!(staged(dir.path()), 0, "nothing staged");
    // A small one still goes through.
    let (m, data) = manifest_for("trades-small-1", &trades(w.start, w.end, 200, 8), w);
    assert!(matches!(
        offer(&tls, gw.addr, &m, &data, None).await,
        Some(Frame::Committed(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abandoned_batch_expires() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (gw, tls) = gateway(dir.path(), 1 << 30, Duration::from_secs(1)).await;
    let w = Window::day_of(now_ms() - 10 * DAY_MS);
    let (m, data) = manifest_for("trades-abandoned-1", &trades(w.start, w.end, 40_000, 9), w);
    assert!(m.chunks.len() > 2, "{} chunks", m.chunks.len());
    assert!(offer(&tls, gw.addr, &m, &data, Some(1)).await.is_none());
    assert_eq!(staged(dir.path()), 1, "the begun batch is staged");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while staged(dir.path()) > 0 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(staged(dir.path()), 0, "expired after staging-expiry");
}
