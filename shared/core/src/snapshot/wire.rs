//! The payloads of the link's snapshot frames (`frame.rs` frames them):
//! the hot backup's offer answer and reply, the NAS's cold snapshot, and
//! the ledger read reconcile makes after a restore.

use serde::{Deserialize, Serialize};

/// One file of a hot backup the gateway lacks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupNeed {
    pub file: String,
    /// Bytes of it the gateway kept from an earlier, cut transfer: the
    /// cloud sends from there (resume).
    pub have: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupReply {
    pub id: String,
    /// Bytes received for this snapshot (resumed parts not counted twice).
    pub bytes_received: u64,
    /// Snapshots the gateway removed by its `snapshot-keep`.
    #[serde(default)]
    pub removed: Vec<String>,
}

/// The ledger's entries of `table` whose window ends after `after`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerAfter {
    pub table: String,
    pub after: i64,
}

/// The NAS's snapshot of its cold store, as the cloud records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColdSnapshotReply {
    pub id: String,
    pub windows: u64,
    pub rows: u64,
    pub bytes: u64,
    pub bytes_written: u64,
}
