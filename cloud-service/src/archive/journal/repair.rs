//! The two journal writes reconcile makes after a restore (see
//! `snapshot/reconcile.rs`), and only it: adopting a batch the cold store
//! committed after the snapshot's point, and sending again a batch the
//! restored cold store does not hold.

use super::schema::hash_text;
use super::state::{transition, BatchState};
use super::{Journal, JournalError};
use hotcold_core::schema::Window;
use hotcold_core::ContentHash;
use rusqlite::params;

impl Journal {
    /// Records a batch the gateway's ledger holds and the journal does not
    /// (committed after the restored snapshot's point) as committed, with
    /// the restored hot store's count and hash equal to the ledger's; the
    /// next run confirms it and purges the window. Raises the table's
    /// ingest floor to its end, as planning it did.
    pub(crate) fn adopt(
        &mut self,
        batch_id: &str,
        table: &str,
        window: Window,
        content: &ContentHash,
    ) -> Result<(), JournalError> {
        let tx = self.conn.transaction()?;
        let now = crate::clock::now_ms();
        tx.execute(
            "INSERT INTO batches (batch_id, table_name, t0, t1, state, hot, cold, updated_ms, durable, committed_ms, error)
             VALUES (?1, ?2, ?3, ?4, 'committed', ?5, ?5, ?6, 1, ?6, 'adopted from the cold ledger after a restore')",
            params![batch_id, table, window.start, window.end, hash_text(content), now],
        )?;
        super::raise_floor_in(&tx, table, window.end)?;
        tx.commit()?;
        self.mirror(Some(batch_id), Some(table), None)
    }

    /// Committed or Confirmed -> Exported, the cold answer forgotten: the
    /// restored cold store lacks the batch, so it is sent again (its spool
    /// file is written anew from hot, as after a lost spool).
    pub(crate) fn redeliver(&self, batch_id: &str) -> Result<(), JournalError> {
        transition(
            &self.conn,
            batch_id,
            &[BatchState::Committed, BatchState::Confirmed],
            BatchState::Exported,
            ", cold = NULL, durable = 0, error = ?4",
            &[&"sent again: the restored cold store lacks it"],
        )?;
        self.mirror(Some(batch_id), None, None)
    }
}
