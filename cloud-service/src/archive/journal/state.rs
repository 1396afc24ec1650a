//! A batch's states and the only ways from one to the next.
//!
//! Each transition names the states it may leave and is refused from any
//! other, in the same statement that writes the new state, so no other
//! writer can slip in between the check and the write. A step driven twice
//! (a resumed crash, two code paths, a bug) then gets an error instead of
//! rewriting what the journal holds: a purged batch never turns failed and
//! planned again over a window whose hot rows are gone, a confirmed one
//! never falls back to committed.

use super::schema::{hash_text, parse_state};
use super::{Journal, JournalError};
use hotcold_core::ContentHash;
use rusqlite::{params, Connection, OptionalExtension, ToSql};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BatchState {
    /// Window chosen, ingest floor raised; nothing exported yet.
    Planned,
    /// Spool file and manifest written; hot count and hash recorded.
    Exported,
    /// The gateway answered with the cold count and hash.
    Committed,
    /// Cold matched hot; the watermark moved past the window.
    Confirmed,
    /// Hot rows deleted, spool dropped: done.
    Purged,
    /// Cold did not match, or a step failed for good; nothing was deleted.
    Failed,
}

/// The states a batch can still leave: everything but done and failed.
pub(super) const UNFINISHED: &[BatchState] = &[
    BatchState::Planned,
    BatchState::Exported,
    BatchState::Committed,
    BatchState::Confirmed,
];

impl BatchState {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            BatchState::Planned => "planned",
            BatchState::Exported => "exported",
            BatchState::Committed => "committed",
            BatchState::Confirmed => "confirmed",
            BatchState::Purged => "purged",
            BatchState::Failed => "failed",
        }
    }

    pub(super) fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "planned" => BatchState::Planned,
            "exported" => BatchState::Exported,
            "committed" => BatchState::Committed,
            "confirmed" => BatchState::Confirmed,
            "purged" => BatchState::Purged,
            "failed" => BatchState::Failed,
            _ => return None,
        })
    }
}

impl std::fmt::Display for BatchState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `planned or exported`, for an error's text.
pub(super) fn one_of(states: &[BatchState]) -> String {
    let names: Vec<&str> = states.iter().map(|s| s.as_str()).collect();
    names.join(" or ")
}

/// Moves a batch from one of `from` to `to` and sets `extra` (`, col =
/// ?4, ...` over `p`; `?3` is now), or writes nothing and says why.
pub(super) fn transition(
    conn: &Connection,
    batch_id: &str,
    from: &'static [BatchState],
    to: BatchState,
    extra: &str,
    p: &[&dyn ToSql],
) -> Result<(), JournalError> {
    let (to_text, now) = (to.as_str(), crate::clock::now_ms());
    let mut all: Vec<&dyn ToSql> = vec![&batch_id, &to_text, &now];
    all.extend_from_slice(p);
    // The names are ours (`as_str`), never input: safe to write inline.
    let allowed: Vec<String> = from.iter().map(|s| format!("'{}'", s.as_str())).collect();
    let changed = conn.execute(
        &format!(
            "UPDATE batches SET state = ?2, updated_ms = ?3 {extra} WHERE batch_id = ?1 AND state IN ({})",
            allowed.join(", ")
        ),
        all.as_slice(),
    )?;
    if changed == 1 {
        return Ok(());
    }
    let found: Option<String> = conn
        .query_row(
            "SELECT state FROM batches WHERE batch_id = ?1",
            [batch_id],
            |r| r.get(0),
        )
        .optional()?;
    match found {
        None => Err(JournalError::UnknownBatch(batch_id.to_string())),
        Some(s) => Err(JournalError::WrongState {
            batch: batch_id.to_string(),
            expected: from,
            found: parse_state(&s)?,
        }),
    }
}

impl Journal {
    /// Planned -> Exported: the spool holds the batch; hot's count and hash
    /// are recorded. Also from Exported: a spool that lost the files (a
    /// replaced disk) is written again, and the hash with it.
    pub(crate) fn mark_exported(
        &self,
        batch_id: &str,
        hot: &ContentHash,
        bytes: u64,
    ) -> Result<(), JournalError> {
        transition(
            &self.conn,
            batch_id,
            &[BatchState::Planned, BatchState::Exported],
            BatchState::Exported,
            ", hot = ?4, bytes = ?5, error = NULL",
            &[&hash_text(hot), &(bytes as i64)],
        )?;
        self.mirror(Some(batch_id), None, None)
    }

    /// Exported -> Committed: the gateway answered with its cold count and
    /// hash, and whether its store had them on disk.
    pub(crate) fn mark_committed(
        &self,
        batch_id: &str,
        cold: &ContentHash,
        sent_bytes: u64,
        durable: bool,
    ) -> Result<(), JournalError> {
        transition(
            &self.conn,
            batch_id,
            &[BatchState::Exported],
            BatchState::Committed,
            ", cold = ?4, sent_bytes = sent_bytes + ?5, durable = ?6, committed_ms = ?3, error = NULL",
            &[&hash_text(cold), &(sent_bytes as i64), &i64::from(durable)],
        )?;
        self.mirror(Some(batch_id), None, None)
    }

    /// Committed -> Confirmed, and the table's watermark to the batch's
    /// window end, in one transaction: queries read the window from cold
    /// from now on. The window is the batch's own, read in the same
    /// transaction, so no caller can move the watermark elsewhere.
    pub(crate) fn mark_confirmed(&mut self, batch_id: &str) -> Result<(), JournalError> {
        let tx = self.conn.transaction()?;
        transition(
            &tx,
            batch_id,
            &[BatchState::Committed],
            BatchState::Confirmed,
            "",
            &[],
        )?;
        tx.execute(
            "INSERT INTO watermarks (table_name, watermark)
             SELECT table_name, t1 FROM batches WHERE batch_id = ?1
             ON CONFLICT(table_name) DO UPDATE SET watermark = max(watermark, excluded.watermark)",
            params![batch_id],
        )?;
        tx.commit()?;
        let table = self.table_of(batch_id)?;
        self.mirror(Some(batch_id), None, table.as_deref())
    }

    /// Confirmed -> Purged: hot no longer holds the window, the spool no
    /// longer holds the batch.
    pub(crate) fn mark_purged(&self, batch_id: &str) -> Result<(), JournalError> {
        transition(
            &self.conn,
            batch_id,
            &[BatchState::Confirmed],
            BatchState::Purged,
            "",
            &[],
        )?;
        self.mirror(Some(batch_id), None, None)
    }

    /// Any unfinished state -> Failed, with why. Never from Purged (its hot
    /// rows are gone: a new batch for the window would find none) nor from
    /// Failed (the first error is the one to keep).
    pub(crate) fn mark_failed(&self, batch_id: &str, error: &str) -> Result<(), JournalError> {
        transition(
            &self.conn,
            batch_id,
            UNFINISHED,
            BatchState::Failed,
            ", error = ?4",
            &[&error],
        )?;
        self.mirror(Some(batch_id), None, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hotcold_core::schema::Window;

    const HASH: ContentHash = ContentHash { rows: 3, sum: 9 };
    const DAY: Window = Window {
        start: 0,
        end: 86_400_000,
    };

    /// A journal in a real SQLite file, and a batch in each state.
    fn batches() -> (tempfile::TempDir, Journal, Vec<(BatchState, String)>) {
        let dir = tempfile::tempdir().unwrap();
        let mut j = Journal::open(&dir.path().join("journal.db")).unwrap();
        let mut out = Vec::new();
        for (i, target) in [
            BatchState::Planned,
            BatchState::Exported,
            BatchState::Committed,
            BatchState::Confirmed,
            BatchState::Purged,
            BatchState::Failed,
        ]
        .into_iter()
        .enumerate()
        {
            let id = j.plan(&format!("t{i}"), DAY).unwrap();
            let forward = match target {
                BatchState::Planned | BatchState::Failed => 0,
                BatchState::Exported => 1,
                BatchState::Committed => 2,
                BatchState::Confirmed => 3,
                BatchState::Purged => 4,
            };
            if forward >= 1 {
                j.mark_exported(&id, &HASH, 10).unwrap();
            }
            if forward >= 2 {
                j.mark_committed(&id, &HASH, 10, true).unwrap();
            }
            if forward >= 3 {
                j.mark_confirmed(&id).unwrap();
            }
            if forward >= 4 {
                j.mark_purged(&id).unwrap();
            }
            if target == BatchState::Failed {
                j.mark_failed(&id, "cold differs").unwrap();
            }
            assert_eq!(j.get(&id).unwrap().unwrap().state, target);
            out.push((target, id));
        }
        (dir, j, out)
    }

    type Mark = fn(&mut Journal, &str) -> Result<(), JournalError>;

    /// Each transition, the states it may leave and the state it enters.
    fn transitions() -> Vec<(&'static str, Mark, &'static [BatchState], BatchState)> {
        vec![
            (
                "mark_exported",
                (|j: &mut Journal, id: &str| j.mark_exported(id, &HASH, 10)) as Mark,
                &[BatchState::Planned, BatchState::Exported],
                BatchState::Exported,
            ),
            (
                "mark_committed",
                (|j: &mut Journal, id: &str| j.mark_committed(id, &HASH, 10, true)) as Mark,
                &[BatchState::Exported],
                BatchState::Committed,
            ),
            (
                "mark_confirmed",
                (|j: &mut Journal, id: &str| j.mark_confirmed(id)) as Mark,
                &[BatchState::Committed],
                BatchState::Confirmed,
            ),
            (
                "mark_purged",
                (|j: &mut Journal, id: &str| j.mark_purged(id)) as Mark,
                &[BatchState::Confirmed],
                BatchState::Purged,
            ),
            (
                "mark_failed",
                (|j: &mut Journal, id: &str| j.mark_failed(id, "late")) as Mark,
                UNFINISHED,
                BatchState::Failed,
            ),
        ]
    }

    #[test]
    fn each_transition_leaves_only_its_own_states() {
        for (name, mark, from, to) in transitions() {
            let (_dir, mut j, batches) = batches();
            for (state, id) in &batches {
                let before = j.get(id).unwrap().unwrap();
                let wm_before = j.watermark(&before.table).unwrap();
                let r = mark(&mut j, id);
                let after = j.get(id).unwrap().unwrap();
                if from.contains(state) {
                    r.unwrap_or_else(|e| panic!("{name} from {state}: {e}"));
                    assert_eq!(after.state, to, "{name} from {state}");
                    continue;
                }
                match r {
                    Err(JournalError::WrongState {
                        batch,
                        expected,
                        found,
                    }) => {
                        assert_eq!(&batch, id, "{name} from {state}");
                        assert_eq!(expected, from, "{name} from {state}");
                        assert_eq!(found, *state, "{name} from {state}");
                    }
                    other => panic!("{name} from {state} gave {other:?}"),
                }
                // Refused means nothing written: not the state, not a
                // column, not the watermark.
                assert_eq!(format!("{after:?}"), format!("{before:?}"), "{name}");
                assert_eq!(j.watermark(&before.table).unwrap(), wm_before, "{name}");
            }
        }
    }

    #[test]
    fn a_refused_transition_names_the_batch_and_both_states() {
        let (_dir, j, batches) = batches();
        let (_, purged) = &batches[4];
        let e = j.mark_failed(purged, "too late").unwrap_err();
        let text = e.to_string();
        assert!(text.contains(purged.as_str()), "{text}");
        assert!(text.contains("is purged"), "{text}");
        assert!(
            text.contains("planned or exported or committed or confirmed"),
            "{text}"
        );
        // The purged batch is not offered as one a new batch may replace.
        assert!(j.failed_for("t4", DAY).unwrap().is_empty());
    }

    #[test]
    fn confirm_moves_the_watermark_to_its_own_window_only() {
        let (_dir, mut j, batches) = batches();
        let (_, exported) = &batches[1];
        assert!(j.mark_confirmed(exported).is_err());
        assert_eq!(j.watermark("t1").unwrap(), None);
        let (_, committed) = &batches[2];
        j.mark_confirmed(committed).unwrap();
        assert_eq!(j.watermark("t2").unwrap(), Some(DAY.end));
        assert_eq!(j.watermark("t1").unwrap(), None);
    }

    #[test]
    fn an_unknown_batch_is_an_error_not_a_silent_no_op() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = Journal::open(&dir.path().join("journal.db")).unwrap();
        for (name, mark, _, _) in transitions() {
            match mark(&mut j, "no-such-batch") {
                Err(JournalError::UnknownBatch(b)) => assert_eq!(b, "no-such-batch"),
                other => panic!("{name}: {other:?}"),
            }
        }
        assert!(j.watermarks().unwrap().is_empty());
    }
}
