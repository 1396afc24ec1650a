//! Why an archive run (or one of its steps) stopped.

use super::JournalError;
use crate::hot::HotError;

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// The hot store refused a read, a count or a purge.
    #[error(transparent)]
    Hot(#[from] HotError),
    /// The journal could not record a step, or refused one.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// The spool's disk refused a write, a read or a removal.
    #[error("spool: {0}")]
    Spool(#[from] std::io::Error),
    /// `run` or `drain` while another run holds the archiver.
    #[error("an archive run is already in progress")]
    AlreadyRunning,
    /// Cluster edition: another replica holds the archiver lease (or this
    /// one just lost it).
    #[error("this replica does not lead the archive: {0}")]
    NotLeader(String),
    /// A blocking task panicked or a mutex was poisoned.
    #[error("internal: {0}")]
    Task(String),
}
