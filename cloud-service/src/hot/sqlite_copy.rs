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
/// Parts stored per writer transaction: one commit (an fsync) for a few
/// parts, while ingest still waits at most for these few.
const PARTS_PER_COMMIT: usize = 8;

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
    /// returned handle's store is dropped ([`Copy::stop`]). `readers` is
    /// the store's pool, whose scans report damaged parts.
    pub(crate) fn start(
        path: PathBuf,
        writer: Arc<Mutex<Connection>>,
        commits: Arc<Commits>,
        readers: Arc<hotcold_sqlite::Readers>,
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
                    let w = Writer {
                        conn: &writer,
                        commits: &commits,
                    };
                    if let Some(r) = &reader {
                        // After an error the reader may be left inside a
                        // transaction (an old snapshot): a new one.
                        if !shared.pass(r, &w, &readers) {
                            reader = None;
                        }
                    }
                    // A table added, the store dropped, or the next look.
                    let _ = woken.recv_timeout(EVERY);
                }
            })?;
        Ok(me)
    }

    /// Where the builder stands; `hours_read` is the readers' count.
    pub(crate) fn stats(&self, hours_read: u64) -> super::CopyStats {
        super::CopyStats {
            parts_built: self.parts_built.load(Ordering::Relaxed),
            pending_hours: self.pending_hours.load(Ordering::Relaxed),
            hours_read,
        }
    }

    /// Whether answers may read `table`'s copy (checked since start).
    pub(crate) fn serves(&self, table: &str) -> bool {
        let ready = self.ready.lock().unwrap_or_else(|p| p.into_inner());
        ready.iter().any(|t| t == table)
    }

    pub(crate) fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.wake.lock().unwrap_or_else(|p| p.into_inner()).send(());
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
    /// again (the rows are in the row table whatever happens here). False
    /// after an error.
    fn pass(&self, reader: &Connection, w: &Writer<'_>, readers: &hotcold_sqlite::Readers) -> bool {
        let tables = self
            .tables
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let mut clean = true;
        // Hours answers found damaged: dropped, so they are built again.
        for (table, t0) in readers.take_damaged() {
            let Some(schema) = tables.iter().find(|s| s.name == table) else {
                continue;
            };
            tracing::warn!(
                table,
                t0,
                "columnar copy: a damaged part (read from the rows); building the hour again"
            );
            if let Err(e) = w.write(|tx| sealed::drop_copies(tx, schema, &[t0])) {
                tracing::warn!(table, error = %e, "columnar copy: cannot drop a damaged hour");
                clean = false;
            }
        }
        if tables.is_empty() {
            // Before the first table: nothing is caught up yet.
            return clean;
        }
        let mut left = 0u64;
        for schema in &tables {
            if self.stop.load(Ordering::Relaxed) {
                return clean;
            }
            match self.table(reader, w, schema) {
                Ok((n, ok)) => {
                    left += n;
                    clean &= ok;
                }
                Err(e) => {
                    left += 1;
                    clean = false;
                    tracing::warn!(table = %schema.name, error = %e, "columnar copy: pass failed");
                }
            }
        }
        self.pending_hours.store(left, Ordering::Relaxed);
        clean
    }

    /// One table: checked (once), then every pending hour built. Hours
    /// left, and false if an hour failed (it is tried again next pass;
    /// the others go on).
    fn table(
        &self,
        reader: &Connection,
        w: &Writer<'_>,
        schema: &TableSchema,
    ) -> Result<(u64, bool), hotcold_sqlite::SqliteError> {
        if !self.serves(&schema.name) {
            // Rows an older binary wrote into copied hours (no versions):
            // their copies go before any is served.
            let off = sealed::miscounted(reader, schema)?;
            if !off.is_empty() {
                w.write(|tx| sealed::drop_copies(tx, schema, &off))?;
                tracing::warn!(table = %schema.name, hours = off.len(), "columnar copy: copies that no longer match their rows dropped");
            }
            // Rows of a file written before versions: once per table.
            let hours = sealed::hours_with_rows(reader, schema)?;
            let n = w.write(|tx| sealed::adopt_hours(tx, schema, &hours))?;
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
        let (mut left, mut clean) = (work.len() as u64, true);
        for (t0, version) in work {
            if self.stop.load(Ordering::Relaxed) {
                break;
            }
            match self.hour(reader, w, schema, t0, version) {
                Ok(whole) => {
                    tracing::debug!(table = %schema.name, t0, whole, "columnar copy of an hour");
                    left -= u64::from(whole);
                }
                Err(e) => {
                    clean = false;
                    tracing::warn!(table = %schema.name, t0, error = %e, "columnar copy: an hour failed");
                    break;
                }
            }
        }
        Ok((left, clean))
    }

    /// Builds hour `t0`, storing [`PARTS_PER_COMMIT`] parts per commit;
    /// false if a write overtook it.
    fn hour(
        &self,
        reader: &Connection,
        w: &Writer<'_>,
        schema: &TableSchema,
        t0: i64,
        version: i64,
    ) -> Result<bool, hotcold_sqlite::SqliteError> {
        let mut held: Vec<sealed::Part> = Vec::with_capacity(PARTS_PER_COMMIT);
        let store = |held: &mut Vec<sealed::Part>| -> Result<bool, hotcold_sqlite::SqliteError> {
            let n = held.len() as u64;
            let fresh = w.write(|tx| {
                for p in held.iter() {
                    // One transaction sees one version: the first part
                    // is refused (stale) or all are stored.
                    if !sealed::store_part(tx, schema, p)? {
                        return Ok(false);
                    }
                }
                Ok(true)
            })?;
            held.clear();
            if fresh {
                self.parts_built.fetch_add(n, Ordering::Relaxed);
            }
            Ok(fresh)
        };
        let whole = sealed::build_hour(reader, schema, t0, version, &mut |part| {
            held.push(part);
            if held.len() < PARTS_PER_COMMIT {
                return Ok(true);
            }
            store(&mut held)
        })?;
        Ok(whole && (held.is_empty() || store(&mut held)?))
    }
}

/// The store's writer, for the builder's short transactions.
struct Writer<'a> {
    conn: &'a Mutex<Connection>,
    commits: &'a Commits,
}

impl Writer<'_> {
    /// `f` in a transaction of its own, committed (marked in `commits`)
    /// unless it fails.
    fn write<T>(
        &self,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T, hotcold_sqlite::SqliteError>,
    ) -> Result<T, hotcold_sqlite::SqliteError> {
        let mut c = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        let tx = c.transaction()?;
        let out = f(&tx)?;
        self.commits.around(|| tx.commit())?;
        Ok(out)
    }
}
