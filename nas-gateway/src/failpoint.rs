//! Test-only failpoints, so fault tests can stop the gateway at an exact step
//! of a commit. Set `NAS_GATEWAY_FAILPOINTS` to `name=action;;name=action` (`;;` because SQL holds `;`) where
//! action is `abort` (die like SIGKILL, no cleanup) or `sql:<statement>`
//! (run a statement on the cold store, e.g. to alter a committed row).
//! Names: `before-insert`, `after-insert`, `after-ledger`, and in blocking
//! code (`abort_at`, `abort` only) `export-before-place`.
//!
//! Compiled in only with the `test-hooks` feature, which the test harness
//! enables (a statement hook is arbitrary SQL on the cold store): in the
//! binaries users build (`cargo build --release`, the Dockerfile) every
//! failpoint is a no-op whatever the environment says.

use crate::cold::ColdStore;
#[cfg(feature = "test-hooks")]
use std::collections::HashMap;
#[cfg(feature = "test-hooks")]
use std::sync::OnceLock;

pub const ENV: &str = "NAS_GATEWAY_FAILPOINTS";

#[cfg(feature = "test-hooks")]
fn points() -> &'static HashMap<String, String> {
    static P: OnceLock<HashMap<String, String>> = OnceLock::new();
    P.get_or_init(|| {
        std::env::var(ENV)
            .unwrap_or_default()
            .split(";;")
            .filter_map(|e| e.split_once('='))
            .map(|(k, v)| (k.trim().to_string(), v.to_string()))
            .collect()
    })
}

/// A failpoint in blocking code: dies there when set to `abort`.
#[cfg(not(feature = "test-hooks"))]
pub fn abort_at(_name: &str) {}

#[cfg(feature = "test-hooks")]
pub fn abort_at(name: &str) {
    if points().get(name).is_some_and(|a| a == "abort") {
        tracing::warn!(failpoint = name, "failpoint hit");
        std::process::abort();
    }
}

#[cfg(not(feature = "test-hooks"))]
pub async fn hit<S: ColdStore>(_name: &str, _store: &S) {}

#[cfg(feature = "test-hooks")]
pub async fn hit<S: ColdStore>(name: &str, store: &S) {
    let Some(action) = points().get(name) else {
        return;
    };
    tracing::warn!(failpoint = name, action = %action, "failpoint hit");
    if action == "abort" {
        std::process::abort();
    }
    if let Some(sql) = action.strip_prefix("sql:") {
        if let Err(e) = store.execute(sql).await {
            tracing::error!(failpoint = name, error = %e, "failpoint statement failed");
        }
    }
}
