//! Fixing the snapshot's point: one read transaction on the journal and
//! one on the hot store, opened so that together they are a state the
//! service could have crashed in (which every restart already recovers).
//!
//! The journal is read first, and at every level under the journal's
//! mutex, which every archive step's state change takes: the journal
//! cannot move between the two reads (a few microseconds of the archive's
//! time, never ingest's). The archive's one write to hot outside that
//! mutex is a purge's delete, between Confirmed and Purged: a read after
//! it finds a confirmed window empty, which a restart treats as purged.
//! Ingest between the reads lands in windows the journal has not planned.
//! So every level is a state the service could have crashed in; they
//! differ in ingest: strict holds it (an ingest request's rows commit
//! together, so it is in or out whole anyway, but after strict no request
//! acknowledged before the point is missing and none that started after
//! is there), bounded bounds the time between the reads, eventual does
//! not.

use crate::archive::Journal;
use crate::gate::IngestGate;
use hotcold_core::snapshot::Level;
use rusqlite::Connection;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Two open read transactions and how they were fixed.
pub(crate) struct Point {
    pub hot: Connection,
    pub journal: Connection,
    pub point_ms: i64,
    pub pause_us: u64,
    pub skew_us: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum PointError {
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("{0}")]
    Open(#[from] hotcold_sqlite::SqliteError),
    /// Bounded: every try took longer between the two reads than allowed.
    #[error("a bounded snapshot needs the journal's and the hot store's reads within {bound_us} µs of each other; {tries} tries took at best {best_us} µs (a loaded disk?); try again, or take a strict snapshot")]
    Skew {
        bound_us: u64,
        best_us: u64,
        tries: u32,
    },
    #[error("the journal's lock is poisoned")]
    Poisoned,
    /// A store without read transactions (ClickHouse) is read hour by
    /// hour: its reads cannot be brought within a bound.
    #[error("a ClickHouse hot store has no read transaction to hold, so its hours cannot be read within snapshot.bounded-skew of each other; take a strict snapshot (ingest held while it copies) or an eventual one")]
    NoReadTransaction,
}

/// The journal's read, with ingest (strict) and the archive's steps held
/// until `release`: for a hot store that is copied under the hold.
pub(crate) struct Held<'a> {
    pub journal: Connection,
    pub point_ms: i64,
    asked: Instant,
    gate: Option<std::sync::RwLockWriteGuard<'a, std::collections::HashMap<String, i64>>>,
    lock: std::sync::MutexGuard<'a, Journal>,
}

impl Held<'_> {
    /// Lets ingest and the archive go on; the pause ingest saw (0 unless
    /// strict), microseconds.
    pub fn release(self) -> u64 {
        let pause = self
            .gate
            .as_ref()
            .map_or(0, |_| micros(self.asked.elapsed()));
        drop(self.lock);
        drop(self.gate);
        pause
    }
}

pub(crate) fn hold_for_copy<'a>(
    level: Level,
    journal_path: &Path,
    gate: &'a IngestGate,
    journal: &'a Mutex<Journal>,
) -> Result<Held<'a>, PointError> {
    if level == Level::Bounded {
        return Err(PointError::NoReadTransaction);
    }
    let j = open(journal_path)?;
    let asked = Instant::now();
    let gate = (level == Level::Strict).then(|| gate.hold());
    let lock = journal.lock().map_err(|_| PointError::Poisoned)?;
    let point_ms = crate::clock::now_ms();
    fix(&j)?;
    Ok(Held {
        journal: j,
        point_ms,
        asked,
        gate,
        lock,
    })
}

/// Tries of a bounded snapshot before it gives up.
const BOUNDED_TRIES: u32 = 5;

fn open(path: &Path) -> Result<Connection, PointError> {
    Ok(hotcold_sqlite::open(path)?)
}

/// Starts the read transaction: from the first read on, the connection
/// sees the database as it was then (WAL), whatever writers do after.
fn fix(c: &Connection) -> Result<(), PointError> {
    c.execute_batch("BEGIN")?;
    c.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
        r.get::<_, i64>(0)
    })?;
    Ok(())
}

fn micros(d: Duration) -> u64 {
    d.as_micros().min(u128::from(u64::MAX)) as u64
}

pub(crate) fn fix_point(
    level: Level,
    hot_path: &Path,
    journal_path: &Path,
    gate: &IngestGate,
    journal: &Mutex<Journal>,
    bound: Duration,
) -> Result<Point, PointError> {
    let mut best = u64::MAX;
    for _ in 0..BOUNDED_TRIES {
        let (j, h) = (open(journal_path)?, open(hot_path)?);
        let asked = Instant::now();
        // Strict: ingest waits at the gate (for the requests in flight to
        // commit first, then new ones wait on it) while the reads fix.
        let held = (level == Level::Strict).then(|| gate.hold());
        let lock = journal.lock().map_err(|_| PointError::Poisoned)?;
        let point_ms = crate::clock::now_ms();
        fix(&j)?;
        let first = Instant::now();
        fix(&h)?;
        let skew = first.elapsed();
        drop(lock);
        let pause_us = if held.is_some() {
            micros(asked.elapsed())
        } else {
            0
        };
        drop(held);
        let (pause_us, skew_us) = (pause_us, micros(skew));
        let point = Point {
            hot: h,
            journal: j,
            point_ms,
            pause_us,
            skew_us,
        };
        if level != Level::Bounded || Duration::from_micros(skew_us) <= bound {
            return Ok(point);
        }
        best = best.min(skew_us);
    }
    Err(PointError::Skew {
        bound_us: micros(bound),
        best_us: best,
        tries: BOUNDED_TRIES,
    })
}
