//! The coverage map: for each day (or hour) of a table, the rows the hot
//! and cold tiers hold and what state the bucket is in, so an operator can
//! tell a day with no trading data from a day the pipeline dropped.
//!
//! Pure: the caller counts (hot store, cold store through the gateway) and
//! reads the journal; this decides. The rules, and why:
//! - A bucket below the watermark with no batch and no rows is `no_data`
//!   for certain: the archive planner only steps the watermark over days it
//!   found empty (`plan::windows`), so the watermark is the record.
//! - An archived (purged) window is `archived` only when the cold store's
//!   live count equals the count the batch recorded; anything else means
//!   rows left cold after the commit (deleted behind the gateway's back, a
//!   disk lost): a `gap`.
//! - A window the NAS's cold retention dropped is `expired` (its ledger
//!   entry says so), never a gap: its rows are gone on purpose.
//! - A bucket with no rows where the table normally has them (the median
//!   of its non-empty buckets in the range reaches `gap_min_rows`), between
//!   its first and last non-empty bucket, is flagged `suspected_gap`: a
//!   collector that stopped, not a market that did.

use crate::schema::Window;
use serde::Serialize;

/// How far a window's batch got, as the journal says (the latest batch for
/// the window counts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchPhase {
    /// Planned, exported, committed or confirmed: on its way.
    Archiving,
    /// Purged: cold holds the window, hot no longer does.
    Archived,
    /// Failed for good; its rows stay hot until someone acts.
    Failed,
    /// Archived, then dropped on purpose by the NAS's cold retention.
    Expired,
}

/// A window's latest batch, and the rows it recorded (its hot count).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchView {
    pub batch_id: String,
    pub window: Window,
    pub phase: BatchPhase,
    pub rows: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CellState {
    /// Rows in the hot store, not archived yet.
    Hot,
    /// A batch covering it is on its way to cold.
    Archiving,
    /// In cold, and cold's live count is the one the batch recorded.
    Archived,
    /// The batch covering it failed; its rows are still hot.
    Failed,
    /// Archived, but cold holds another count than the batch recorded.
    Gap,
    /// No rows anywhere (below the watermark: checked empty by the planner).
    NoData,
    /// Below the watermark, and the cold store could not be asked.
    Unknown,
    /// Dropped by cold retention (the ledger says so): gone on purpose.
    Expired,
}

/// One bucket's counts, as the caller found them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub window: Window,
    pub hot: u64,
    /// `None`: cold was not asked (above the watermark) or not reachable.
    pub cold: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cell {
    pub start: i64,
    pub end: i64,
    pub hot_rows: u64,
    pub cold_rows: Option<u64>,
    pub state: CellState,
    /// No rows, where the table normally has rows.
    pub suspected_gap: bool,
    /// The batch covering the bucket, if any.
    pub batch_id: Option<String>,
}

/// The map over `buckets` (in time order). `batches` are the latest batch
/// of each window (windows are days; a bucket lies in at most one);
/// `cold_reachable` is false when the cold store could not be asked.
pub fn classify(
    buckets: &[Counts],
    batches: &[BatchView],
    watermark: Option<i64>,
    cold_reachable: bool,
    gap_min_rows: u64,
) -> Vec<Cell> {
    let total = |c: &Counts| c.hot + c.cold.unwrap_or(0);
    let typical = typical_rows(buckets);
    let first = buckets.iter().position(|c| total(c) > 0);
    let last = buckets.iter().rposition(|c| total(c) > 0);
    // Per batch: whether cold's live count over its window equals the
    // count it recorded (summed over the window's buckets): `None` when
    // that cannot be told, because the buckets do not cover the whole
    // window or cold was not asked about one of them.
    let verified: Vec<Option<bool>> = batches
        .iter()
        .map(|b| {
            let inside: Vec<&Counts> = buckets
                .iter()
                .filter(|c| b.window.contains(c.window.start))
                .collect();
            let covered: i64 = inside.iter().map(|c| c.window.end - c.window.start).sum();
            let cold: Option<u64> = inside.iter().map(|c| c.cold).sum();
            match cold {
                Some(n) if covered == b.window.end - b.window.start => Some(b.rows == Some(n)),
                _ => None,
            }
        })
        .collect();
    buckets
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let below = watermark.is_some_and(|wm| c.window.end <= wm);
            let batch = batches
                .iter()
                .position(|b| b.window.contains(c.window.start));
            let state = match batch.map(|k| (&batches[k], verified[k])) {
                Some((b, _)) if b.phase == BatchPhase::Failed => CellState::Failed,
                Some((b, _)) if b.phase == BatchPhase::Archiving => CellState::Archiving,
                Some((b, _)) if b.phase == BatchPhase::Expired => CellState::Expired,
                Some(_) if !cold_reachable => CellState::Unknown,
                Some((_, Some(true))) => CellState::Archived,
                Some((_, Some(false))) => CellState::Gap,
                Some((_, None)) => CellState::Unknown,
                None if below && !cold_reachable => CellState::Unknown,
                // No batch, yet cold holds rows: written there by other
                // means (an older journal, the operator's own loads).
                None if c.cold.unwrap_or(0) > 0 => CellState::Archived,
                None if c.hot > 0 => CellState::Hot,
                None => CellState::NoData,
            };
            let inside = first.is_some_and(|f| f <= i) && last.is_some_and(|l| i <= l);
            let suspected_gap = total(c) == 0
                && inside
                && typical >= gap_min_rows
                && !matches!(state, CellState::Unknown | CellState::Expired);
            Cell {
                start: c.window.start,
                end: c.window.end,
                hot_rows: c.hot,
                cold_rows: c.cold,
                state,
                suspected_gap,
                batch_id: batch.map(|k| batches[k].batch_id.clone()),
            }
        })
        .collect()
}

/// The median row count of the non-empty buckets (0 if none): what the
/// table normally holds per bucket, robust to one huge or tiny day.
pub fn typical_rows(buckets: &[Counts]) -> u64 {
    let mut n: Vec<u64> = buckets
        .iter()
        .map(|c| c.hot + c.cold.unwrap_or(0))
        .filter(|&n| n > 0)
        .collect();
    if n.is_empty() {
        return 0;
    }
    n.sort_unstable();
    n[n.len() / 2]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::DAY_MS;
    use proptest::prelude::*;

    fn day(k: i64) -> Window {
        Window::new(k * DAY_MS, (k + 1) * DAY_MS)
    }

    fn counts(k: i64, hot: u64, cold: Option<u64>) -> Counts {
        Counts {
            window: day(k),
            hot,
            cold,
        }
    }

    fn batch(k: i64, phase: BatchPhase, rows: u64) -> BatchView {
        BatchView {
            batch_id: format!("b{k}"),
            window: day(k),
            phase,
            rows: Some(rows),
        }
    }

    #[test]
    fn each_state_from_the_journal_and_the_counts() {
        // Days 0-4 below the watermark (5 days), 5-6 above.
        let buckets = [
            counts(0, 0, Some(900)), // archived, verified
            counts(1, 0, Some(0)),   // archived, cold lost it all: gap
            counts(2, 0, Some(0)),   // no batch, planner found it empty
            counts(3, 900, Some(0)), // failed batch: rows still hot
            counts(4, 0, Some(450)), // archived, half of it gone: gap
            counts(5, 900, None),    // hot
            counts(6, 0, None),      // nothing yet
        ];
        let batches = [
            batch(0, BatchPhase::Archived, 900),
            batch(1, BatchPhase::Archived, 900),
            batch(3, BatchPhase::Failed, 900),
            batch(4, BatchPhase::Archived, 900),
        ];
        let cells = classify(&buckets, &batches, Some(5 * DAY_MS), true, 100);
        let states: Vec<CellState> = cells.iter().map(|c| c.state).collect();
        use CellState::*;
        assert_eq!(states, [Archived, Gap, NoData, Failed, Gap, Hot, NoData]);
        let suspected: Vec<bool> = cells.iter().map(|c| c.suspected_gap).collect();
        // Days 1 and 2 hold nothing between days with 900 rows; day 6 is
        // past the last row, so not suspected.
        assert_eq!(suspected, [false, true, true, false, false, false, false]);
        assert_eq!(cells[0].batch_id.as_deref(), Some("b0"));
        assert_eq!(cells[2].batch_id, None);
    }

    #[test]
    fn a_window_cold_retention_dropped_is_expired_not_a_gap() {
        let buckets = [
            counts(0, 0, Some(0)),
            counts(1, 0, Some(900)),
            counts(2, 900, None),
        ];
        let batches = [
            batch(0, BatchPhase::Expired, 900),
            batch(1, BatchPhase::Archived, 900),
        ];
        let cells = classify(&buckets, &batches, Some(2 * DAY_MS), true, 1);
        assert_eq!(cells[0].state, CellState::Expired);
        assert!(!cells[0].suspected_gap);
        assert_eq!(cells[1].state, CellState::Archived);
    }

    #[test]
    fn a_quiet_table_raises_no_suspicion_and_an_unreachable_cold_is_unknown() {
        let buckets = [
            counts(0, 0, Some(3)),
            counts(1, 0, Some(0)),
            counts(2, 3, None),
        ];
        let cells = classify(&buckets, &[], Some(2 * DAY_MS), true, 100);
        assert!(
            cells.iter().all(|c| !c.suspected_gap),
            "3 rows a day is below 100"
        );
        let buckets = [counts(0, 0, None), counts(1, 5, None)];
        let batches = [batch(0, BatchPhase::Archived, 7)];
        let cells = classify(&buckets, &batches, Some(DAY_MS), false, 1);
        assert_eq!(cells[0].state, CellState::Unknown);
        assert_eq!(cells[1].state, CellState::Hot);
    }

    #[test]
    fn hour_buckets_are_verified_against_their_day_batch() {
        let hour = DAY_MS / 24;
        let buckets: Vec<Counts> = (0..24)
            .map(|h| Counts {
                window: Window::new(h * hour, (h + 1) * hour),
                hot: 0,
                cold: Some(if h == 5 { 0 } else { 10 }),
            })
            .collect();
        let ok = classify(
            &buckets,
            &[batch(0, BatchPhase::Archived, 230)],
            Some(DAY_MS),
            true,
            5,
        );
        assert!(ok.iter().all(|c| c.state == CellState::Archived));
        assert!(ok[5].suspected_gap && !ok[4].suspected_gap);
        let bad = classify(
            &buckets,
            &[batch(0, BatchPhase::Archived, 240)],
            Some(DAY_MS),
            true,
            5,
        );
        assert!(bad.iter().all(|c| c.state == CellState::Gap));
    }

    #[test]
    fn a_day_only_partly_asked_or_not_asked_in_cold_is_unknown_not_a_gap() {
        let hour = DAY_MS / 24;
        // Hours 12-23 of an archived day of 240 rows, 10 an hour.
        let half: Vec<Counts> = (12..24)
            .map(|h| Counts {
                window: Window::new(h * hour, (h + 1) * hour),
                hot: 0,
                cold: Some(10),
            })
            .collect();
        let b = [batch(0, BatchPhase::Archived, 240)];
        let cells = classify(&half, &b, Some(DAY_MS), true, 5);
        assert!(
            cells.iter().all(|c| c.state == CellState::Unknown),
            "{cells:?}"
        );
        // A purged day the cold count did not cover (the watermark moved
        // past it after cold was asked).
        let cells = classify(&[counts(0, 0, None)], &b, Some(DAY_MS), true, 5);
        assert_eq!(cells[0].state, CellState::Unknown);
    }

    proptest! {
        /// Whatever the counts: a bucket with rows is never no_data, an
        /// empty one never hot, and only empty buckets are suspected.
        #[test]
        fn states_agree_with_the_counts(
            rows in proptest::collection::vec((0u64..5, 0u64..5, any::<bool>()), 1..40),
            wm in 0i64..40,
            min in 0u64..4,
        ) {
            let buckets: Vec<Counts> = rows
                .iter()
                .enumerate()
                .map(|(k, &(h, c, asked))| counts(k as i64, h, asked.then_some(c)))
                .collect();
            let cells = classify(&buckets, &[], Some(wm * DAY_MS), true, min);
            prop_assert_eq!(cells.len(), buckets.len());
            for (c, b) in cells.iter().zip(&buckets) {
                let total = b.hot + b.cold.unwrap_or(0);
                if total > 0 {
                    prop_assert!(c.state != CellState::NoData && !c.suspected_gap);
                } else {
                    prop_assert!(c.state != CellState::Hot);
                }
            }
        }
    }
}
