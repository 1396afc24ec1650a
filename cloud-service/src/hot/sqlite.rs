//! The SQLite hot store: one writer connection, and pooled readers for
//! scans (WAL lets readers run beside the writer).

use super::{HotError, HotStore};
use hotcold_core::query::Plan;
use hotcold_core::schema::{TableSchema, Window};
use hotcold_core::RowBatch;
use rusqlite::Connection;
use std::path::PathBuf;
use std::sync::Mutex;

pub(crate) struct SqliteHot {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: hotcold_sqlite::Readers,
}

impl SqliteHot {
    pub fn open(path: PathBuf) -> Result<Self, HotError> {
        let writer = hotcold_sqlite::open(&path)?;
        Ok(Self {
            readers: hotcold_sqlite::Readers::new(&path),
            path,
            writer: Mutex::new(writer),
        })
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

fn sql(e: rusqlite::Error) -> HotError {
    HotError::Sqlite(e.into())
}

impl HotStore for SqliteHot {
    fn ensure_table(&self, schema: &TableSchema) -> Result<(), HotError> {
        Ok(hotcold_sqlite::create_table(&*self.writer()?, schema)?)
    }

    fn insert(&self, schema: &TableSchema, batch: &RowBatch) -> Result<usize, HotError> {
        let mut w = self.writer()?;
        let tx = w.transaction().map_err(sql)?;
        let n = hotcold_sqlite::insert(&tx, schema, batch)?;
        tx.commit().map_err(sql)?;
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
        tx.commit().map_err(sql)?;
        Ok(n)
    }

    fn min_time(&self, schema: &TableSchema) -> Result<Option<i64>, HotError> {
        Ok(hotcold_sqlite::min_time(&self.reader()?, schema)?)
    }
}
