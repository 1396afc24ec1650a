//! Test-only failpoints, so fault tests can stop the gateway at an exact step
//! of a commit. Set `NAS_GATEWAY_FAILPOINTS` to `name=action;;name=action` (`;;` because SQL holds `;`) where
//! action is `abort` (die like SIGKILL, no cleanup) or `sql:<statement>`
//! (run a statement on the cold store, e.g. to alter a committed row).
//! Names: `before-insert`, `after-insert`, `after-ledger`. Unset in
//! production: then every failpoint is a no-op.

use crate::cold::ColdStore;
use std::collections::HashMap;
use std::sync::OnceLock;

pub const ENV: &str = "NAS_GATEWAY_FAILPOINTS";

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
