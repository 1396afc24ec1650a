//! Read connections kept between scans. Opening one per scan (the file, the
//! two pragmas, the schema parsed on the first statement) cost about as
//! much as a small query, and its cached statements were thrown away with
//! it. A pool keeps a few idle connections; each scan still runs in a read
//! transaction of its own, so the snapshot rules are unchanged.

use crate::columnar::{scan_columnar, ColumnarScan};
use crate::scan::scan_plan;
use crate::together::{begin_read, begin_together, Commits};
use crate::{open, SqliteError};
use hotcold_arrow::Columns;
use hotcold_core::query::Plan;
use hotcold_core::schema::{TableSchema, Window};
use hotcold_core::RowBatch;
use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Idle connections kept; more scans at once open (and then drop) their own.
const KEEP: usize = 4;

pub struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    /// The writer's commits, for scans that share one snapshot across
    /// connections (`together.rs`).
    commits: Arc<Commits>,
    /// Columnar scans that could not share a snapshot and read through
    /// one connection.
    alone: std::sync::atomic::AtomicU64,
    /// What columnar scans read from the columnar copy (`sealed.rs`).
    tally: crate::columnar::Tally,
}

impl Readers {
    pub fn new(path: &Path) -> Self {
        Self {
            path: path.to_path_buf(),
            idle: Mutex::new(Vec::new()),
            commits: Arc::default(),
            alone: Default::default(),
            tally: Default::default(),
        }
    }

    /// Columnar scans so far that read through one connection because a
    /// writer kept committing (`together.rs`).
    pub fn scans_alone(&self) -> u64 {
        self.alone.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Hours columnar scans so far read from the columnar copy.
    pub fn sealed_hours_read(&self) -> u64 {
        self.tally
            .sealed_hours
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Hours (table, start) whose copy scans found damaged since the last
    /// call (they read those hours' rows instead): for the builder to
    /// drop, so it builds them again.
    pub fn take_damaged(&self) -> Vec<(String, i64)> {
        std::mem::take(&mut *self.tally.damaged.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// The sequence every write to the file must be marked in
    /// ([`Commits::around`]) for [`scan_columnar`](Self::scan_columnar)'s
    /// readers to share a snapshot.
    pub fn commits(&self) -> Arc<Commits> {
        self.commits.clone()
    }

    fn take(&self) -> Result<Connection, SqliteError> {
        let pooled = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        match pooled {
            Some(c) => Ok(c),
            None => open(&self.path),
        }
    }

    fn give_back(&self, conn: Connection) {
        if conn.is_autocommit() {
            if let Ok(mut idle) = self.idle.lock() {
                if idle.len() < KEEP {
                    idle.push(conn);
                }
            }
        }
    }

    /// A plain row scan straight into Arrow columns, read by up to
    /// `readers` connections at once inside one snapshot (one connection
    /// when a writer commits without pause). Rows reach `f` in the plan's
    /// order, at most `scan.limit`; as with
    /// [`scan_snapshot`](Self::scan_snapshot), the snapshot is fixed before
    /// `f` first runs.
    pub fn scan_columnar<E: From<SqliteError>>(
        &self,
        scan: &ColumnarScan<'_>,
        readers: usize,
        f: impl FnMut(Columns) -> std::result::Result<(), E>,
    ) -> std::result::Result<u64, E> {
        let mut conns = Vec::with_capacity(readers.max(1));
        for _ in 0..readers.max(1) {
            conns.push(self.take()?);
        }
        if conns.len() > 1 && !begin_together(&conns, &self.commits)? {
            self.alone
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            for c in conns.drain(1..) {
                self.give_back(c);
            }
            begin_read(&conns[0])?;
        } else if conns.len() == 1 {
            begin_read(&conns[0])?;
        }
        let n = scan_columnar(&mut conns, scan, &self.tally, f);
        for conn in conns {
            if conn.execute_batch("COMMIT").is_ok() {
                self.give_back(conn);
            }
        }
        n
    }

    /// [`scan_snapshot`](crate::scan_snapshot) on a pooled connection: one
    /// read transaction, a consistent snapshot that neither waits for nor
    /// holds up the writer (WAL). The connection goes back to the pool
    /// only once its transaction has ended.
    pub fn scan_snapshot<E: From<SqliteError>>(
        &self,
        schema: &TableSchema,
        plan: &Plan,
        window: Window,
        limit: u64,
        segment_rows: usize,
        f: impl FnMut(RowBatch) -> std::result::Result<(), E>,
    ) -> std::result::Result<u64, E> {
        let conn = self.take()?;
        conn.execute_batch("BEGIN").map_err(SqliteError::from)?;
        let n = scan_plan(&conn, schema, plan, window, limit, segment_rows, f);
        if conn.execute_batch("COMMIT").is_ok() {
            self.give_back(conn);
        }
        n
    }
}
