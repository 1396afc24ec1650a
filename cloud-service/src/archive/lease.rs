//! What the archive asks of the cluster edition's leader lease: may this
//! replica archive now, and a signal the moment it may no longer (session
//! disconnected or expired, lease gone). Alone, there is no lease and the
//! in-process lock is all there is.

use super::{ArchiveError, Archiver, Journal};

pub(crate) trait ArchiveLease: Send + Sync {
    /// Ok while this replica holds the lease; else who leads, for a 409.
    fn may_archive(&self) -> Result<(), String>;
    /// Changes whenever the lease is gained or lost.
    fn held(&self) -> tokio::sync::watch::Receiver<bool>;
}

impl Archiver {
    pub(crate) fn set_lease(&self, lease: std::sync::Arc<dyn ArchiveLease>) {
        let _ = self.lease.set(lease);
    }

    /// Refuses a run on a replica that does not lead.
    pub(super) fn check_lease(&self) -> Result<(), ArchiveError> {
        match self.lease.get() {
            None => Ok(()),
            Some(l) => l.may_archive().map_err(ArchiveError::NotLeader),
        }
    }

    /// Runs `f` (a whole run) but drops it the moment the lease is lost:
    /// a leader that may have been replaced must not take one more step.
    /// What it dropped is in ZooKeeper's journal as far as it got; steps
    /// already on blocking threads finish, and the purge among them checks
    /// the lease itself first.
    pub(super) async fn under_lease<T>(
        &self,
        f: impl std::future::Future<Output = Result<T, ArchiveError>>,
    ) -> Result<T, ArchiveError> {
        let Some(l) = self.lease.get() else {
            return f.await;
        };
        let mut held = l.held();
        let lost = async move {
            while *held.borrow_and_update() {
                if held.changed().await.is_err() {
                    break;
                }
            }
        };
        tokio::select! {
            r = f => r,
            () = lost => Err(ArchiveError::NotLeader("the lease was lost during the run; it stopped".into())),
        }
    }

    /// A new leader's working copy of the journal (rebuilt from ZooKeeper):
    /// swapped in only between runs.
    pub(crate) async fn replace_journal(&self, j: Journal) {
        let _running = self.running.lock().await;
        *self.journal.lock().unwrap_or_else(|p| p.into_inner()) = j;
    }
}
