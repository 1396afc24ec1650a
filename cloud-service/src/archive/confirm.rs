//! Step 5: the cloud compares the cold store's count and content hash with
//! its own, and only an equal answer moves the watermark (invariant 1).
//!
//! The watermark is what queries split on (invariant 3), so it moves in
//! window order only: a window confirmed while an older one still has rows
//! in hot waits, or those rows would fall below the watermark and vanish
//! from every answer. A commit that was not on disk yet is read back after
//! the purge grace first (`grace`).

use super::grace::Recheck;
use super::{ArchiveError, Archiver, Batch, RunState, Step};
use hotcold_core::schema::{TableSchema, Window};

impl Archiver {
    /// The step for `Committed`: compare, then `Confirmed` with the
    /// watermark at the window's end; a difference fails the batch and
    /// deletes nothing.
    pub(super) async fn confirm_batch(
        &self,
        b: &mut Batch<'_>,
        run: &mut RunState,
    ) -> Result<Step, ArchiveError> {
        let (hot, cold) = (b.rec.hot, b.rec.cold);
        if hot.is_none() || hot != cold {
            let msg = format!(
                "cold store holds {} but hot exported {}; nothing deleted",
                cold.map_or("nothing".into(), |c| c.to_string()),
                hot.map_or("nothing".into(), |c| c.to_string())
            );
            return self.fail(b, run, msg).await;
        }
        if !b.rec.durable {
            match self.recheck_after_grace(b.schema, &b.rec, run).await? {
                Recheck::Held(why) => {
                    run.report.held += 1;
                    // Later windows may still be delivered.
                    return Ok(run.wait(b, why));
                }
                Recheck::Unreachable(why) => return Ok(run.wait(b, why)),
                Recheck::Differs(msg) => return self.fail(b, run, msg).await,
                Recheck::Same => {}
            }
        }
        if !self.may_advance(b.schema, b.rec.window.start).await? {
            // An older window is still waiting; this one confirms after it.
            // Cold rows above the watermark are never read, so nothing
            // doubles; later windows may still be delivered meanwhile.
            let why = "waiting for an older window to be confirmed first".to_string();
            return Ok(run.wait(b, why));
        }
        let id = b.rec.batch_id.clone();
        self.journal(move |j| j.mark_confirmed(&id)).await?;
        crate::failpoint::hit("after-confirm");
        if let Some(c) = &self.cold_cache {
            c.invalidate(&b.rec.table, b.rec.window);
        }
        // Waits for queries that still use the old watermark.
        self.watermarks
            .advance(&b.rec.table, b.rec.window.end)
            .await;
        Ok(Step::Next)
    }

    /// The watermark may move to a window starting at `start` only if the hot
    /// store holds no row between the current watermark and `start`:
    /// otherwise those rows would fall below it and vanish from queries.
    pub(super) async fn may_advance(
        &self,
        schema: &TableSchema,
        start: i64,
    ) -> Result<bool, ArchiveError> {
        let t = schema.name.clone();
        let wm = self.journal(move |j| j.watermark(&t)).await?;
        let from = wm.unwrap_or(i64::MIN);
        if from >= start {
            return Ok(true);
        }
        let (s, w) = (schema.clone(), Window::new(from, start));
        let n = self
            .hot(move |h| {
                h.settle(&s, w)?;
                h.count(&s, w)
            })
            .await?;
        Ok(n == 0)
    }
}
