//! Test hooks for fault tests of the cluster edition: the archive pauses at
//! a named point so a test can kill -9 the leader exactly there.
//!
//! `HOTCOLD_TEST_FAILPOINTS` names a file read at every point (so a test
//! can arm and disarm it while the process runs), one `point=ms` a line:
//! `export` (spool file open, hot not yet read), `transfer` (just before
//! the delivery), `committed` (commit recorded, not yet confirmed),
//! `purge` (hot rows deleted, batch not yet marked purged). Only with the
//! `test-hooks` feature; a release build has none.

/// Pauses at `point` if the file arms it, after saying so in the log.
#[cfg(feature = "test-hooks")]
pub(crate) fn pause_blocking(point: &str) {
    if let Some(d) = armed(point) {
        tracing::warn!(point, ms = d.as_millis() as u64, "failpoint pause");
        std::thread::sleep(d);
    }
}

#[cfg(feature = "test-hooks")]
pub(crate) async fn pause(point: &str) {
    if let Some(d) = armed(point) {
        tracing::warn!(point, ms = d.as_millis() as u64, "failpoint pause");
        tokio::time::sleep(d).await;
    }
}

#[cfg(feature = "test-hooks")]
fn armed(point: &str) -> Option<std::time::Duration> {
    let file = std::env::var("HOTCOLD_TEST_FAILPOINTS").ok()?;
    let text = std::fs::read_to_string(file).ok()?;
    text.lines()
        .filter_map(|l| l.trim().split_once('='))
        .find(|(p, _)| *p == point)
        .and_then(|(_, ms)| ms.trim().parse().ok())
        .map(std::time::Duration::from_millis)
}

#[cfg(not(feature = "test-hooks"))]
pub(crate) fn pause_blocking(_point: &str) {}

#[cfg(not(feature = "test-hooks"))]
pub(crate) async fn pause(_point: &str) {}
