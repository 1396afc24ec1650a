//! The background committer: batches whose chunks all arrived while the
//! cold store was down wait in staging; this commits them once it is back,
//! and removes what nobody finished within `staging-expiry`.

use crate::cold::ColdStore;
use crate::commit::{commit, CommitError};
use crate::gateway::Gateway;
use std::sync::Arc;

/// Commits staged batches whose chunks are all there (the cold store was
/// down when they arrived), every `interval`.
pub async fn committer<S: ColdStore>(gw: Arc<Gateway<S>>, interval: std::time::Duration) {
    loop {
        tokio::time::sleep(interval).await;
        for id in gw.staging.expire(|id| gw.is_busy(id)) {
            tracing::warn!(batch = %id, "staged batch untouched past staging-expiry; removed");
        }
        let manifests = match gw.staging.manifests() {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(error = %e, "cannot list staging");
                continue;
            }
        };
        for m in manifests {
            let Some(_guard) = gw.claim(&m.batch_id) else {
                continue;
            };
            let Ok(staged) = gw.staging.batch(&m) else {
                continue;
            };
            let h = staged.clone_handle();
            let complete = tokio::task::spawn_blocking(move || h.missing())
                .await
                .ok()
                .and_then(Result::ok)
                .is_some_and(|v| v.is_empty());
            if !complete {
                continue;
            }
            match commit(&gw.store, &staged, gw.limits).await {
                Ok(cold) => {
                    tracing::info!(batch = %m.batch_id, cold = %cold, "committed from staging");
                    let _ = gw.staging.remove(&m.batch_id);
                }
                // Undecodable for good (over a limit, or corrupt past its
                // hashes): retrying cannot help. Dropped from staging; the
                // cloud keeps the rows hot and is told when it offers again.
                Err(
                    e @ (CommitError::Decode { .. }
                    | CommitError::Conflict { .. }
                    | CommitError::OtherCloud { .. }),
                ) => {
                    tracing::error!(batch = %m.batch_id, error = %e, "staged batch can never be committed; dropped from staging");
                    let _ = gw.staging.remove(&m.batch_id);
                }
                Err(e) => {
                    tracing::debug!(batch = %m.batch_id, error = %e, "staged batch still not committed")
                }
            }
        }
    }
}
