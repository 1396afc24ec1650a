//! Step 6: the window leaves the hot store and the batch leaves the spool.
//!
//! It runs only from `Confirmed`, after the cold store's own count and
//! hash matched (invariant 1), and after the watermark moved, so queries
//! already read the window from cold. The hot store counts the window
//! again inside its delete and refuses a count other than the exported
//! one: a row that slipped in is never deleted unseen.

use super::{blocking, ArchiveError, Archiver, Batch, RunState, Step};
use crate::hot::HotError;

impl Archiver {
    /// The step for `Confirmed`: delete from hot, drop the spool files,
    /// then `Purged`.
    pub(super) async fn purge_batch(
        &self,
        b: &mut Batch<'_>,
        run: &mut RunState,
    ) -> Result<Step, ArchiveError> {
        if let Some(d) = test_pause_before_purge() {
            tokio::time::sleep(d).await;
        }
        let (s, w, expected) = (
            b.schema.clone(),
            b.rec.window,
            b.rec.hot.map_or(0, |h| h.rows),
        );
        // Cluster edition: never delete on a lease that may have passed to
        // another replica (a session that lapsed while this one paused).
        let (t, end) = (b.rec.table.clone(), b.rec.window.end);
        self.journal(move |j| j.check_lease(&t, None, Some(end)))
            .await?;
        match self.hot(move |h| h.purge(&s, w, expected)).await {
            Ok(n) => tracing::info!(batch = %b.rec.batch_id, rows = n, "window purged from hot"),
            // A purge that deleted the window and then died before the
            // journal said Purged (a crash, a leader killed): the window is
            // empty. Only our purge removes rows below the floor, and cold
            // holds the window verified (the batch is Confirmed), so the
            // step is done.
            Err(ArchiveError::Hot(HotError::PurgeMismatch { found: 0, .. })) => {
                tracing::info!(batch = %b.rec.batch_id, "window already purged from hot before a restart or a new leader");
            }
            Err(ArchiveError::Hot(e @ HotError::PurgeMismatch { .. })) => {
                return self.fail(b, run, e.to_string()).await;
            }
            Err(e) => return Err(e),
        }
        crate::failpoint::hit("during-purge");
        crate::failpoint::pause("purge").await;
        let (sp, i) = (self.spool.clone(), b.rec.batch_id.clone());
        blocking(move || Ok(sp.remove(&i)?)).await?;
        let i = b.rec.batch_id.clone();
        self.journal(move |j| j.mark_purged(&i)).await?;
        run.report.rows_archived += expected;
        Ok(Step::Next)
    }
}

/// A test hook: `HOTCOLD_TEST_PAUSE_BEFORE_PURGE_MS` holds each confirmed
/// batch that long before its purge, so tests can query in the state
/// between confirm and purge (watermark advanced, hot rows still there).
/// Only with the `test-hooks` feature (the harness enables it).
#[cfg(not(feature = "test-hooks"))]
fn test_pause_before_purge() -> Option<std::time::Duration> {
    None
}

#[cfg(feature = "test-hooks")]
fn test_pause_before_purge() -> Option<std::time::Duration> {
    static PAUSE: std::sync::OnceLock<Option<std::time::Duration>> = std::sync::OnceLock::new();
    *PAUSE.get_or_init(|| {
        std::env::var("HOTCOLD_TEST_PAUSE_BEFORE_PURGE_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .map(std::time::Duration::from_millis)
    })
}
