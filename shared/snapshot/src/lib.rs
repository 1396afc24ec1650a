//! A snapshot directory on disk, used by both programs: the pool of range
//! files every snapshot shares, and one folder per snapshot with its
//! manifest (and on the cloud, the journal's copy).
//!
//! ```text
//! <dir>/pool/<table>.<start>.<end>.<rows>.<hash>.seg
//! <dir>/<id>/manifest.json      written last: no manifest, no snapshot
//! <dir>/<id>/journal.db
//! ```
//!
//! The format of the manifest and the names are in `hotcold_core::snapshot`;
//! this crate only reads and writes files, and checks what it reads.

mod range;
mod store;

pub use range::{read_range, RangeWriter};
pub use store::{hash_file, Listed, SnapshotStore, StoreError, StoreLock, Verified, MANIFEST};
#[cfg(test)]
mod tests;
