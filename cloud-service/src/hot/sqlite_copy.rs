//! The builder of the SQLite hot store's columnar copy of sealed hours
//! (`hotcold_sqlite::sealed`): a thread that, every few seconds, copies
//! each hour that ended a while ago and has no current copy, a part at a
//! time. It reads through a connection of its own (one snapshot per hour)
//! and stores each part through the writer in a short transaction of its
//! own, refused if a write touched the hour since it was read; so ingest
//! waits at most one part's store, and a copy is never of other rows.

use hotcold_core::schema::TableSchema;
use hotcold_sqlite::{sealed, Commits};
use rusqlite::Connection;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long after its end an hour is copied: late rows of the last hour
/// mostly arrive within this (a later one drops the copy and it is built
/// again, which costs time, never rows).
const SEAL_AFTER_MS: i64 = 5 * 60_000;
/// How often the builder looks for work.
const EVERY: Duration = Duration::from_secs(5);

/// What the store and its builder share.
pub(crate) struct Copy {
    pub(crate) tables: Mutex<Vec<TableSchema>>,
    stop: AtomicBool,
    /// Parts stored since start, and hours left after the last pass.
    parts_built: AtomicU64,
    pending_hours: AtomicU64,
    /// Tables whose copy was checked against their rows since start
    /// (`sealed::miscounted`): only theirs is served.
    ready: Mutex<Vec<String>>,
    /// Wakes the builder early (a table was added).
    wake: Mutex<std::sync::mpsc::Sender<()>>,
}

impl Copy {
    /// Starts the builder over the file at `path`; it ends when the
    /// returned handle's store is dropped ([`Copy::stop`]).
    pub(crate) fn start(
        path: PathBuf,
        writer: Arc<Mutex<Connection>>,
        commits: Arc<Commits>,
    ) -> std::io::Result<Arc<Self>> {
        let (wake, woken) = std::sync::mpsc::channel();
        let me = Arc::new(Self {
            tables: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
            parts_built: AtomicU64::new(0),
            pending_hours: AtomicU64::new(u64::MAX),
            ready: Mutex::new(Vec::new()),
            wake: Mutex::new(wake),
        });
        let shared = me.clone();
        std::thread::Builder::new()
            .name("hot-columnar-copy".into())
            .spawn(move || {
                let mut reader = None;
                while !shared.stop.load(Ordering::Relaxed) {
                    if reader.is_none() {
                        reader = hotcold_sqlite::open(&path)
                            .map_err(|e| tracing::warn!(error = %e, "columnar copy: no reader"))
                            .ok();
                    }
                    if let Some(r) = &reader {
                        shared.pass(r, &writer, &commits);
                    }
                    // A table added, or the next look.
                    let _ = woken.recv_timeout(EVERY);
                }
            })?;
        Ok(me)
    }

    pub(crate) fn stats(&self) -> super::CopyStats {
        super::CopyStats {
            parts_built: self.parts_built.load(Ordering::Relaxed),
            pending_hours: self.pending_hours.load(Ordering::Relaxed),
            hours_read: 0,
        }
    }

    /// Whether answers may read `table`'s copy (checked since start).
    pub(crate) fn serves(&self, table: &str) -> bool {
        let ready = self.ready.lock().unwrap_or_else(|p| p.into_inner());
        ready.iter().any(|t| t == table)
    }

    pub(crate) fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    /// Registers (or updates) a table to copy.
    pub(crate) fn add_table(&self, schema: &TableSchema) {
        let mut t = self.tables.lock().unwrap_or_else(|p| p.into_inner());
        t.retain(|s| s.name != schema.name);
        t.push(schema.clone());
        drop(t);
        let _ = self.wake.lock().unwrap_or_else(|p| p.into_inner()).send(());
    }

    /// One look at every table; errors are logged and the next pass tries
    /// again (the rows are in the row table whatever happens here).
    fn pass(&self, reader: &Connection, writer: &Mutex<Connection>, commits: &Commits) {
        let tables = self
            .tables
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if tables.is_empty() {
            // Before the first table: nothing is caught up yet.
            return;
        }
        let mut left = 0u64;
        for schema in &tables {
            if self.stop.load(Ordering::Relaxed) {
                return;
            }
            match self.table(reader, writer, commits, schema) {
                Ok(n) => left += n,
                Err(e) => {
                    left += 1;
                    tracing::warn!(table = %schema.name, error = %e, "columnar copy: pass failed");
                }
            }
        }
        self.pending_hours.store(left, Ordering::Relaxed);
    }

    fn table(
        &self,
        reader: &Connection,
        writer: &Mutex<Connection>,
        commits: &Commits,
        schema: &TableSchema,
    ) -> Result<u64, hotcold_sqlite::SqliteError> {
        let lock = || writer.lock().unwrap_or_else(|p| p.into_inner());
        if !self.serves(&schema.name) {
            // Rows an older binary wrote into copied hours (no versions):
            // their copies go before any is served.
            let off = sealed::miscounted(reader, schema)?;
            if !off.is_empty() {
                let mut w = lock();
                let tx = w.transaction()?;
                sealed::drop_copies(&tx, schema, &off)?;
                commits.around(|| tx.commit())?;
                tracing::warn!(table = %schema.name, hours = off.len(), "columnar copy: copies that no longer match their rows dropped");
            }
            // Rows of a file written before versions: once per table.
            let hours = sealed::hours_with_rows(reader, schema)?;
            let mut w = lock();
            let tx = w.transaction()?;
            let n = sealed::adopt_hours(&tx, schema, &hours)?;
            commits.around(|| tx.commit())?;
            drop(w);
            if n > 0 {
                tracing::info!(table = %schema.name, hours = n, "columnar copy: hours of an older file adopted");
            }
            self.ready
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(schema.name.clone());
        }
        let sealed_before = crate::clock::now_ms() - SEAL_AFTER_MS;
        let work = sealed::pending(reader, schema, sealed_before)?;
        let mut left = work.len() as u64;
        for (t0, version) in work {
            if self.stop.load(Ordering::Relaxed) {
                break;
            }
            let whole = sealed::build_hour(reader, schema, t0, version, &mut |part| {
                let mut w = lock();
                let tx = w.transaction()?;
                if !sealed::store_part(&tx, schema, &part)? {
                    return Ok(false);
                }
                commits.around(|| tx.commit())?;
                self.parts_built.fetch_add(1, Ordering::Relaxed);
                Ok(true)
            })?;
            tracing::debug!(table = %schema.name, t0, whole, "columnar copy of an hour");
            left -= u64::from(whole);
        }
        Ok(left)
    }
}
