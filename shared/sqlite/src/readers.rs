//! Read connections kept between scans. Opening one per scan (the file, the
//! two pragmas, the schema parsed on the first statement) cost about as
//! much as a small query, and its cached statements were thrown away with
//! it. A pool keeps a few idle connections; each scan still runs in a read
//! transaction of its own, so the snapshot rules are unchanged.

use crate::scan::scan_plan;
use crate::{open, SqliteError};
use hotcold_core::query::Plan;
use hotcold_core::schema::{TableSchema, Window};
use hotcold_core::RowBatch;
use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Idle connections kept; more scans at once open (and then drop) their own.
const KEEP: usize = 4;

pub struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl Readers {
    pub fn new(path: &Path) -> Self {
        Self {
            path: path.to_path_buf(),
            idle: Mutex::new(Vec::new()),
        }
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
        let pooled = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        let conn = match pooled {
            Some(c) => c,
            None => open(&self.path)?,
        };
        conn.execute_batch("BEGIN").map_err(SqliteError::from)?;
        let n = scan_plan(&conn, schema, plan, window, limit, segment_rows, f);
        if conn.execute_batch("COMMIT").is_ok() {
            if let Ok(mut idle) = self.idle.lock() {
                if idle.len() < KEEP {
                    idle.push(conn);
                }
            }
        }
        n
    }
}
