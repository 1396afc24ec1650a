//! Step 1: which windows to archive, and a batch in the journal for each.
//!
//! The window arithmetic is pure so that it can be property-tested: a gap
//! or an overlap between windows would lose or double rows. The dry run
//! (`preview`) asks the same questions as a real plan through the same
//! functions, so what it shows is what a run would do.

use super::journal::BatchRecord;
use super::{ArchiveError, Archiver};
use hotcold_core::schema::{TableSchema, Window};

/// The cutoff for a retention: the start of the day that holds `now - retention`.
/// Windows ending at or before it are old enough to archive.
pub(super) fn cutoff(now_ms: i64, retention_ms: i64) -> i64 {
    Window::day_of(now_ms.saturating_sub(retention_ms)).start
}

/// The day windows holding rows, from the watermark up to the cutoff,
/// oldest first; `first_at` gives the first row's time at or after a time.
/// Windows below the watermark are archived already.
///
/// It steps from one day with rows to the next instead of walking every
/// day: a single row sent in seconds instead of milliseconds (1970) once
/// cost one query per empty day, 20,000 of them, on every run. Empty days
/// between need no batch; the watermark steps over them when the next
/// window is confirmed (`may_advance` finds no row below it).
pub(super) fn windows<E>(
    watermark: Option<i64>,
    cutoff: i64,
    mut first_at: impl FnMut(i64) -> Result<Option<i64>, E>,
) -> Result<Vec<Window>, E> {
    let mut out = Vec::new();
    let mut t = watermark.unwrap_or(i64::MIN);
    while let Some(first) = first_at(t)? {
        let w = Window::day_of(first);
        if w.end > cutoff || w.end <= t {
            break;
        }
        out.push(w);
        t = w.end;
    }
    Ok(out)
}

/// A table's work in a run, in the order it is driven.
pub(super) enum Work {
    /// A window no batch covers yet.
    New(Window),
    /// A batch an earlier run (or pass) left unfinished.
    Existing(Box<BatchRecord>),
}

/// What planning a new window gave.
pub(super) enum Planned {
    /// A batch in the journal, ready for export.
    Batch(Box<BatchRecord>),
    /// The window holds no rows: nothing to archive.
    Empty,
    /// The spool is at its budget: the table exports no more this run.
    SpoolFull,
}

impl Archiver {
    /// The cutoff of a table's own hot retention, or of the global one.
    pub(super) fn table_cutoff(&self, schema: &TableSchema, now_ms: i64) -> i64 {
        let retention = schema
            .hot_retention
            .map_or(self.settings.retention_ms, |r| r.0.as_millis() as i64);
        cutoff(now_ms, retention)
    }

    /// Windows below `cutoff` that no unfinished batch covers yet.
    async fn new_windows(
        &self,
        schema: &TableSchema,
        cutoff: i64,
        unfinished: &[BatchRecord],
    ) -> Result<Vec<Window>, ArchiveError> {
        let t = schema.name.clone();
        let wm = self.journal(move |j| j.watermark(&t)).await?;
        let s = schema.clone();
        let due = self
            .hot(move |h| windows(wm, cutoff, |t| h.min_time(&s, t)))
            .await?;
        Ok(due
            .into_iter()
            .filter(|w| !unfinished.iter().any(|r| r.window == *w))
            .collect())
    }

    /// A table's work: its unfinished batches and, with a cutoff, the new
    /// windows below it, oldest window first.
    pub(super) async fn work(
        &self,
        schema: &TableSchema,
        cutoff: Option<i64>,
    ) -> Result<Vec<Work>, ArchiveError> {
        let table = schema.name.clone();
        let t = table.clone();
        let unfinished = self.journal(move |j| j.unfinished(&t)).await?;
        let mut work: Vec<Work> = Vec::new();
        if let Some(cutoff) = cutoff {
            // Close the door first: from here on no row older than the cutoff
            // enters hot, so what we count and export below stays complete.
            let t = table.clone();
            self.journal(move |j| j.raise_floor(&t, cutoff)).await?;
            self.gate.raise(&table, cutoff);
            let new = self.new_windows(schema, cutoff, &unfinished).await?;
            work.extend(new.into_iter().map(Work::New));
        }
        work.extend(unfinished.into_iter().map(|r| Work::Existing(Box::new(r))));
        // Oldest window first: the watermark can only move in order.
        work.sort_by_key(|w| match w {
            Work::New(win) => (win.start, 1),
            Work::Existing(r) => (r.window.start, 0),
        });
        Ok(work)
    }

    /// Records a batch for a new window, unless the window is empty or the
    /// spool is full.
    pub(super) async fn plan_batch(
        &self,
        schema: &TableSchema,
        window: Window,
    ) -> Result<Planned, ArchiveError> {
        let table = schema.name.clone();
        let s = schema.clone();
        // Settled: on a cluster a lagging replica could show an empty
        // window that is not, and the watermark would step over its rows.
        let n = self
            .hot(move |h| {
                h.settle(&s, window)?;
                h.count(&s, window)
            })
            .await?;
        if n == 0 {
            // Nothing to move; the watermark may step over it only if
            // nothing older is still waiting.
            if self.may_advance(schema, window.start).await? {
                let t = table.clone();
                self.journal(move |j| j.skip_empty(&t, window)).await?;
                self.watermarks.advance(&table, window.end).await;
            }
            return Ok(Planned::Empty);
        }
        let budget = self.settings.spool_budget;
        if self.spool.bytes() >= budget {
            tracing::error!(table = %table, spool_bytes = self.spool.bytes(), budget, "spool budget reached: export stops, rows stay in hot");
            return Ok(Planned::SpoolFull);
        }
        let id = self.journal(move |j| j.plan(&table, window)).await?;
        let rec = self.reload(&id).await?;
        Ok(Planned::Batch(Box::new(rec)))
    }

    /// What a run now would do, without doing any of it (not even raising
    /// the ingest floor): the batches waiting, and the new windows with their
    /// hot row counts.
    pub async fn preview(&self, now_ms: i64) -> Result<serde_json::Value, ArchiveError> {
        let mut tables = serde_json::Map::new();
        for schema in self.tables.clone() {
            let cutoff = self.table_cutoff(&schema, now_ms);
            let t = schema.name.clone();
            let unfinished = self.journal(move |j| j.unfinished(&t)).await?;
            let mut new = Vec::new();
            for w in self.new_windows(&schema, cutoff, &unfinished).await? {
                let s = schema.clone();
                let rows = self.hot(move |h| h.count(&s, w)).await?;
                if rows > 0 {
                    new.push(serde_json::json!({ "window": w, "rows": rows }));
                }
            }
            let waiting: Vec<_> = unfinished.iter().map(|r| serde_json::json!({ "batch_id": r.batch_id, "window": r.window, "state": r.state })).collect();
            tables.insert(
                schema.name.clone(),
                serde_json::json!({ "cutoff_ms": cutoff, "waiting": waiting, "new_windows": new }),
            );
        }
        Ok(serde_json::json!({ "dry_run": true, "tables": tables }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hotcold_core::schema::DAY_MS;
    use proptest::prelude::*;

    /// The first of `rows` (sorted) at or after `t`.
    fn first_at(rows: &[i64]) -> impl FnMut(i64) -> Result<Option<i64>, ()> + '_ {
        move |t| Ok(rows.iter().copied().find(|r| *r >= t))
    }

    proptest! {
        /// Every row from the watermark to below the cutoff lies in exactly
        /// one window; windows are whole UTC days, each holding a row, in
        /// order, never below the watermark or past the cutoff.
        #[test]
        fn windows_hold_every_due_row_once(
            wm_days in proptest::option::of(-5i64..50),
            mut rows in proptest::collection::vec(-10 * DAY_MS..60 * DAY_MS, 0..40),
            cut_days in -5i64..80,
        ) {
            rows.sort_unstable();
            let c = cut_days * DAY_MS;
            let wm = wm_days.map(|d| d * DAY_MS);
            let ws = windows(wm, c, first_at(&rows)).unwrap();
            for pair in ws.windows(2) {
                prop_assert!(pair[0].end <= pair[1].start);
            }
            for w in &ws {
                prop_assert_eq!(w.end - w.start, DAY_MS);
                prop_assert_eq!(*w, Window::day_of(w.start));
                prop_assert!(w.end <= c);
                if let Some(wm) = wm { prop_assert!(w.start >= wm); }
                prop_assert!(rows.iter().any(|r| w.contains(*r)));
            }
            for r in &rows {
                let due = Window::day_of(*r).end <= c && wm.is_none_or(|wm| *r >= wm);
                prop_assert_eq!(ws.iter().filter(|w| w.contains(*r)).count(), usize::from(due), "row {}", r);
            }
        }
    }

    #[test]
    fn nothing_to_do_without_rows() {
        assert!(windows(None, 10 * DAY_MS, first_at(&[]))
            .unwrap()
            .is_empty());
        assert_eq!(
            windows(None, 3 * DAY_MS, first_at(&[DAY_MS + 5, 2 * DAY_MS]))
                .unwrap()
                .len(),
            2
        );
    }

    #[test]
    fn a_stray_old_row_costs_one_step_not_one_per_day() {
        let rows = [0, 20_000 * DAY_MS + 5];
        let mut asked = 0;
        let ws = windows(None, 20_001 * DAY_MS, |t| {
            asked += 1;
            Ok::<_, ()>(rows.iter().copied().find(|r| *r >= t))
        })
        .unwrap();
        assert_eq!(ws, vec![Window::day_of(0), Window::day_of(20_000 * DAY_MS)]);
        assert_eq!(asked, 3);
    }
}
