//! The SQLite hot store: one writer connection, and pooled readers for
//! scans (WAL lets readers run beside the writer). Every write is marked
//! in the readers' commit sequence (`Commits::around`), which is what lets
//! a columnar answer read through several connections of one snapshot.

use super::{HotError, HotStore};
use hotcold_core::query::Plan;
use hotcold_core::schema::{TableSchema, Window};
use hotcold_core::RowBatch;
use hotcold_sqlite::Commits;
use rusqlite::Connection;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

pub(crate) struct SqliteHot {
    path: PathBuf,
    writer: Arc<Mutex<Connection>>,
    readers: Arc<hotcold_sqlite::Readers>,
    commits: Arc<Commits>,
    /// Connections a columnar answer reads through at once: one per core,
    /// up to 4 (the encoder and the socket need a core too, but a reader
    /// waiting on its channel takes none).
    columnar_readers: usize,
    /// The columnar copy's builder, if kept.
    copy: Option<Arc<super::sqlite_copy::Copy>>,
}

impl Drop for SqliteHot {
    fn drop(&mut self) {
        if let Some(c) = &self.copy {
            c.stop();
        }
    }
}

impl SqliteHot {
    pub fn open(path: PathBuf) -> Result<Self, HotError> {
        let writer = hotcold_sqlite::open(&path)?;
        // Checkpoints (copying the WAL into the database file, then an
        // fsync of it) ran inside whichever ingest commit crossed 1,000 WAL
        // pages. A thread of their own takes them off the ingest path and
        // onto the other core; commits still fsync the WAL, so durability
        // is unchanged.
        writer
            .pragma_update(None, "wal_autocheckpoint", 0)
            .map_err(sql)?;
        super::sqlite_keys::create(&writer)?;
        let checkpointer = hotcold_sqlite::open(&path)?;
        std::thread::Builder::new()
            .name("hot-checkpoint".into())
            .spawn(move || checkpoint_loop(&checkpointer))
            .map_err(|e| HotError::Other(format!("cannot start the checkpoint thread: {e}")))?;
        let readers = Arc::new(hotcold_sqlite::Readers::new(&path));
        Ok(Self {
            commits: readers.commits(),
            readers,
            path,
            writer: Arc::new(Mutex::new(writer)),
            columnar_readers: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
                .clamp(1, 4),
            copy: None,
        })
    }

    /// [`open`](Self::open), and the columnar copy of sealed hours kept
    /// by a builder thread (`hot.columnar-copy`, `sqlite_copy.rs`).
    pub fn open_with_copy(path: PathBuf) -> Result<Self, HotError> {
        let mut me = Self::open(path)?;
        let copy = super::sqlite_copy::Copy::start(
            me.path.clone(),
            me.writer.clone(),
            me.commits.clone(),
            me.readers.clone(),
        )
        .map_err(|e| HotError::Other(format!("cannot start the columnar copy builder: {e}")))?;
        me.copy = Some(copy);
        Ok(me)
    }

    fn writer(&self) -> Result<std::sync::MutexGuard<'_, Connection>, HotError> {
        self.writer
            .lock()
            .map_err(|_| HotError::Other("hot writer mutex poisoned".into()))
    }

    fn reader(&self) -> Result<Connection, HotError> {
        Ok(hotcold_sqlite::open(&self.path)?)
    }
}

/// How often what the WAL gained is copied back into the database file.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(200);

/// PASSIVE checkpoints: they never block a writer or a reader; a long
/// reader only delays the WAL's reuse, as with SQLite's own automatic
/// checkpoints. A pass with nothing new copies and syncs nothing. Runs for
/// the life of the process.
fn checkpoint_loop(conn: &Connection) {
    loop {
        std::thread::sleep(CHECKPOINT_EVERY);
        // (busy, WAL pages, pages checkpointed); a query error is logged
        // and the loop goes on (the next pass tries again).
        let r = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
            Ok((r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
        });
        match r {
            Ok((wal, done)) if done < wal => {
                tracing::debug!(wal, done, "hot WAL checkpoint incomplete (readers)");
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "hot WAL checkpoint failed"),
        }
    }
}

fn sql(e: rusqlite::Error) -> HotError {
    HotError::Sqlite(e.into())
}

impl HotStore for SqliteHot {
    fn ensure_table(&self, schema: &TableSchema) -> Result<(), HotError> {
        let w = self.writer()?;
        self.commits
            .around(|| hotcold_sqlite::create_table(&w, schema))?;
        if let Some(c) = &self.copy {
            c.add_table(schema);
        }
        Ok(())
    }

    fn insert(&self, schema: &TableSchema, batch: &RowBatch) -> Result<usize, HotError> {
        let mut w = self.writer()?;
        let tx = w.transaction().map_err(sql)?;
        let n = hotcold_sqlite::insert(&tx, schema, batch)?;
        self.commits.around(|| tx.commit()).map_err(sql)?;
        Ok(n)
    }

    fn insert_pieces(
        &self,
        schema: &TableSchema,
        next: &mut dyn FnMut() -> Result<Option<RowBatch>, HotError>,
    ) -> Result<usize, HotError> {
        let mut w = self.writer()?;
        // Dropping the transaction on any early return rolls it back.
        let tx = w.transaction().map_err(sql)?;
        let mut n = 0;
        while let Some(b) = next()? {
            n += hotcold_sqlite::insert(&tx, schema, &b)?;
        }
        self.commits.around(|| tx.commit()).map_err(sql)?;
        Ok(n)
    }

    fn scan(
        &self,
        schema: &TableSchema,
        plan: &Plan,
        window: Window,
        limit: u64,
        segment_rows: usize,
        f: &mut dyn FnMut(RowBatch) -> Result<(), HotError>,
    ) -> Result<u64, HotError> {
        self.readers
            .scan_snapshot(schema, plan, window, limit, segment_rows, f)
    }

    fn scan_columns(
        &self,
        schema: &TableSchema,
        plan: &Plan,
        cols: &[usize],
        window: Window,
        limit: u64,
        batch_rows: usize,
        f: &mut dyn FnMut(hotcold_arrow::Columns) -> Result<(), HotError>,
    ) -> Option<Result<u64, HotError>> {
        let scan = hotcold_sqlite::ColumnarScan {
            schema,
            plan,
            cols,
            window,
            limit,
            batch_rows,
            sealed: self.copy.as_ref().is_some_and(|c| c.serves(&schema.name)),
        };
        Some(self.readers.scan_columnar(&scan, self.columnar_readers, f))
    }

    fn count(&self, schema: &TableSchema, window: Window) -> Result<u64, HotError> {
        Ok(hotcold_sqlite::count(&self.reader()?, schema, window)?)
    }

    fn purge(&self, schema: &TableSchema, window: Window, expected: u64) -> Result<u64, HotError> {
        let mut w = self.writer()?;
        let tx = w.transaction().map_err(sql)?;
        let found = hotcold_sqlite::count(&tx, schema, window)?;
        if found != expected {
            return Err(HotError::PurgeMismatch {
                table: schema.name.clone(),
                window,
                found,
                expected,
            });
        }
        let n = hotcold_sqlite::delete_window(&tx, schema, window)? as u64;
        self.commits.around(|| tx.commit()).map_err(sql)?;
        Ok(n)
    }

    fn min_time(&self, schema: &TableSchema, from: i64) -> Result<Option<i64>, HotError> {
        Ok(hotcold_sqlite::min_time(&self.reader()?, schema, from)?)
    }

    fn find_key(&self, key: &str) -> Result<Option<super::keys::KeyRecord>, HotError> {
        super::sqlite_keys::find(&self.reader()?, key)
    }

    fn insert_once(
        &self,
        schema: &TableSchema,
        key: &super::keys::KeyRecord,
        next: &mut dyn FnMut() -> Result<Option<RowBatch>, HotError>,
    ) -> Result<super::keys::Once, HotError> {
        let mut w = self.writer()?;
        // Dropping the transaction on any early return rolls it back,
        // the key with the rows.
        let tx = w.transaction().map_err(sql)?;
        let once = super::sqlite_keys::insert_once(&tx, schema, key, next)?;
        self.commits.around(|| tx.commit()).map_err(sql)?;
        Ok(once)
    }

    fn prune_keys(&self, before_ms: i64) -> Result<u64, HotError> {
        let w = self.writer()?;
        self.commits
            .around(|| super::sqlite_keys::prune(&w, before_ms))
    }

    /// The database file and its WAL: every table's rows, their index and
    /// the ingest keys, which is what the cloud disk holds for them.
    fn copy_stats(&self) -> Option<super::CopyStats> {
        self.copy
            .as_ref()
            .map(|c| c.stats(self.readers.sealed_hours_read()))
    }

    fn disk_bytes(&self, _tables: &[&str]) -> Result<Option<u64>, HotError> {
        let mut wal = self.path.clone().into_os_string();
        wal.push("-wal");
        let size = |p: &std::path::Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        Ok(Some(size(&self.path) + size(std::path::Path::new(&wal))))
    }
}
