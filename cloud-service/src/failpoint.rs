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
