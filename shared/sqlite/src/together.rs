//! Several connections reading one snapshot. In WAL mode a read
//! transaction sees the database as of its first read; two connections
//! that begin theirs with no commit in between see the same rows, so a
//! scan split across them is as consistent as one connection's (an
//! archive purge cannot land between two halves of one answer).
//!
//! SQLite cannot say whether two connections hold the same snapshot
//! (short of its optional `sqlite3_snapshot_*` calls, not built here), so
//! the writer says when it commits: [`Commits`] is a sequence lock, odd
//! while a commit runs. Readers note it (even), begin every transaction,
//! and look again: unchanged means no commit began or ended between the
//! first begin and the last. Every write to the file must go through
//! [`Commits::around`]; the hot store has one writer connection, and its
//! every write does.

use crate::SqliteError;
use rusqlite::Connection;
use std::sync::atomic::{AtomicU64, Ordering};

/// Tries before a scan gives up on sharing a snapshot and reads through
/// one connection (a writer committing without pause): with the waits
/// between them, at most about 25 ms.
const TRIES: usize = 8;

/// The writer's commit sequence: even when no commit runs.
#[derive(Debug, Default)]
pub struct Commits(AtomicU64);

impl Commits {
    /// Runs `f`, a commit or any statement that changes the file, marked
    /// (odd) while it runs.
    pub fn around<T>(&self, f: impl FnOnce() -> T) -> T {
        /// Ends the mark even if `f` panics: an odd count left behind
        /// would send every later scan to one connection.
        struct Done<'a>(&'a AtomicU64);
        impl Drop for Done<'_> {
            fn drop(&mut self) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        self.0.fetch_add(1, Ordering::SeqCst);
        let _done = Done(&self.0);
        f()
    }

    fn now(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// Begins a read transaction on every connection, all of one snapshot.
/// False: a commit kept landing in between, and none is open.
pub(crate) fn begin_together(conns: &[Connection], commits: &Commits) -> Result<bool, SqliteError> {
    for attempt in 0..TRIES {
        let before = commits.now();
        if before % 2 == 1 {
            // A commit (an fsync) is running: give it a moment.
            std::thread::sleep(std::time::Duration::from_micros(200 << attempt.min(5)));
            continue;
        }
        for c in conns {
            begin_read(c)?;
        }
        if commits.now() == before {
            return Ok(true);
        }
        for c in conns {
            c.execute_batch("ROLLBACK")?;
        }
    }
    Ok(false)
}

/// BEGIN, and the first read that fixes the transaction's snapshot (BEGIN
/// alone reads nothing).
pub(crate) fn begin_read(c: &Connection) -> Result<(), SqliteError> {
    c.execute_batch("BEGIN")?;
    c.query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(()))?;
    Ok(())
}
