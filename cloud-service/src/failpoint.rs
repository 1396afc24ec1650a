//! Test-only failpoints, so fault tests can kill the cloud at an exact
//! commit point of an archive batch. Set `CLOUD_SERVICE_FAILPOINTS` to
//! `name=abort;;name=abort`; `abort` dies like SIGKILL (no cleanup, no
//! flush). Names, in the order a batch meets them:
//! `after-export` (journal says Exported, spool written),
//! `after-commit` (journal says Committed, the cold store has the window),
//! `after-confirm` (journal says Confirmed, watermark advanced),
//! `during-purge` (hot rows deleted, journal not yet Purged).
//!
//! Compiled in only with the `test-hooks` feature, which the test harness
//! enables: in the binaries users build every failpoint is a no-op
//! whatever the environment says (tests/tests/operator_build.rs proves it).
//!
//! Pauses, for the cluster edition's tests (a leader killed with SIGKILL
//! while it waits at a step, by the test's hand): `HOTCOLD_TEST_FAILPOINTS`
//! names a file read at every point (so a test can arm and disarm it while
//! the process runs), one `point=ms` a line: `export` (spool file open,
//! hot not yet read), `transfer` (just before the delivery), `committed`
//! (commit recorded, not yet confirmed), `purge` (hot rows deleted, batch
//! not yet marked purged).

pub const ENV: &str = "CLOUD_SERVICE_FAILPOINTS";

#[cfg(not(feature = "test-hooks"))]
pub fn hit(_name: &str) {}

#[cfg(feature = "test-hooks")]
pub fn hit(name: &str) {
    use std::collections::HashMap;
    use std::sync::OnceLock;
    static P: OnceLock<HashMap<String, String>> = OnceLock::new();
    let points = P.get_or_init(|| {
        std::env::var(ENV)
            .unwrap_or_default()
            .split(";;")
            .filter_map(|e| e.split_once('='))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect()
    });
    if points.get(name).is_some_and(|a| a == "abort") {
        tracing::warn!(failpoint = name, "failpoint hit");
        std::process::abort();
    }
}

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
