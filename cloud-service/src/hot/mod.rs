//! The hot store: recent rows, fast to query, the source of every archive.

pub mod clickhouse;
mod clickhouse_keys;
pub mod keys;
pub mod sqlite;
mod sqlite_copy;
mod sqlite_keys;

use hotcold_core::query::Plan;
use hotcold_core::schema::{TableSchema, Window};
use hotcold_core::RowBatch;

#[derive(Debug, thiserror::Error)]
pub enum HotError {
    #[error(transparent)]
    Sqlite(#[from] hotcold_sqlite::SqliteError),
    /// Purge found another row count than the confirmed batch had: rows
    /// arrived in the window after export. Nothing was deleted.
    #[error("table {table} window {window}: {found} rows in the hot store, {expected} were archived; nothing deleted")]
    PurgeMismatch {
        table: String,
        window: Window,
        found: u64,
        expected: u64,
    },
    #[error(transparent)]
    TooManyGroups(#[from] hotcold_core::query::TooManyGroups),
    /// A sum's exact value does not fit the type it is answered in.
    #[error(transparent)]
    Overflow(#[from] hotcold_core::query::SumOverflow),
    #[error("clickhouse: {0}")]
    ClickHouse(#[from] hotcold_clickhouse::ChError),
    /// The spool could not take an exported segment (disk full, ...).
    #[error("spool write: {0}")]
    Spool(#[source] std::io::Error),
    /// A blocking task of the store died (it panicked or was cancelled).
    #[error("hot store task failed: {0}")]
    Task(String),
    #[error("{0}")]
    Other(String),
}

impl From<hotcold_core::query::FoldError> for HotError {
    fn from(e: hotcold_core::query::FoldError) -> Self {
        use hotcold_core::query::FoldError;
        match e {
            FoldError::TooManyGroups(e) => e.into(),
            FoldError::Overflow(e) => e.into(),
        }
    }
}

impl HotError {
    /// A bound the request ran into (the client's to fix), not a failure:
    /// too many groups, or a sum that does not fit its answer.
    pub(crate) fn is_limit(&self) -> bool {
        use hotcold_clickhouse::ChError;
        use hotcold_sqlite::SqliteError;
        matches!(
            self,
            HotError::TooManyGroups(_)
                | HotError::Overflow(_)
                | HotError::Sqlite(SqliteError::TooManyGroups(_) | SqliteError::Overflow(_))
                | HotError::ClickHouse(ChError::TooManyGroups(_) | ChError::Overflow(_))
        )
    }
}

/// Synchronous by design: callers run it in `spawn_blocking`.
pub trait HotStore: Send + Sync + 'static {
    fn ensure_table(&self, schema: &TableSchema) -> Result<(), HotError>;
    fn insert(&self, schema: &TableSchema, batch: &RowBatch) -> Result<usize, HotError>;
    /// One request's rows, handed over a piece at a time by `next` (so
    /// writing can start while the rest is still being parsed), stored
    /// together or not at all: they commit only once `next` returns
    /// `Ok(None)`, and an error from `next` stores none of them.
    ///
    /// This default gathers the pieces and inserts once; a store that can
    /// hold a transaction open writes each piece as it comes.
    fn insert_pieces(
        &self,
        schema: &TableSchema,
        next: &mut dyn FnMut() -> Result<Option<RowBatch>, HotError>,
    ) -> Result<usize, HotError> {
        let mut all = RowBatch::new(schema);
        while let Some(b) = next()? {
            all.extend_from(b)
                .map_err(|i| HotError::Other(format!("piece of another shape (column {i})")))?;
        }
        self.insert(schema, &all)
    }
    /// Streams what the plan asks of the window (rows in its order, or
    /// partial aggregate rows in key order), `segment_rows` at a time.
    ///
    /// By the time `f` first runs, the store has fixed what it reads (an
    /// SQLite read transaction; the parts a ClickHouse SELECT started on),
    /// so a purge after that cannot change the answer. The router relies on
    /// this to let go of the watermark early.
    fn scan(
        &self,
        schema: &TableSchema,
        plan: &Plan,
        window: Window,
        limit: u64,
        segment_rows: usize,
        f: &mut dyn FnMut(RowBatch) -> Result<(), HotError>,
    ) -> Result<u64, HotError>;
    /// A plain row plan's rows (no aggregate) straight into the Arrow
    /// columns `cols` of a columnar answer, with `scan`'s order, limit and
    /// snapshot rule. `None`: this store has no such read, and the caller
    /// scans rows instead.
    #[allow(clippy::too_many_arguments)]
    fn scan_columns(
        &self,
        _schema: &TableSchema,
        _plan: &Plan,
        _cols: &[usize],
        _window: Window,
        _limit: u64,
        _batch_rows: usize,
        _f: &mut dyn FnMut(hotcold_arrow::Columns) -> Result<(), HotError>,
    ) -> Option<Result<u64, HotError>> {
        None
    }
    fn count(&self, schema: &TableSchema, window: Window) -> Result<u64, HotError>;
    /// Returns once a scan or count of the window sees every row the store
    /// has acknowledged: on a cluster, once every reachable replica holds
    /// the same rows of it. The archive calls it before the counts it acts
    /// on (an empty window, rows below the watermark) and before export, so
    /// it never exports (and then purges) fewer rows than the window holds,
    /// nor steps over rows. One store in one place is always settled.
    fn settle(&self, _schema: &TableSchema, _window: Window) -> Result<(), HotError> {
        Ok(())
    }
    /// Deletes the window's rows if exactly `expected` are there, atomically.
    fn purge(&self, schema: &TableSchema, window: Window, expected: u64) -> Result<u64, HotError>;
    /// The first row's time at or after `from` (`i64::MIN`: the oldest).
    fn min_time(&self, schema: &TableSchema, from: i64) -> Result<Option<i64>, HotError>;

    /// The request stored under an idempotency key, if any (`keys.rs`).
    fn find_key(&self, key: &str) -> Result<Option<keys::KeyRecord>, HotError>;

    /// `insert_pieces`, once per key: if `key` is already stored, nothing
    /// is read from `next` and the earlier record is returned.
    fn insert_once(
        &self,
        schema: &TableSchema,
        key: &keys::KeyRecord,
        next: &mut dyn FnMut() -> Result<Option<RowBatch>, HotError>,
    ) -> Result<keys::Once, HotError>;

    /// Forgets keys stored before `before_ms` (`ingest.idempotency-ttl`).
    fn prune_keys(&self, before_ms: i64) -> Result<u64, HotError>;

    /// Bytes the hot store takes on disk for these tables (the cost
    /// report); `None` when the store cannot say.
    fn disk_bytes(&self, _tables: &[&str]) -> Result<Option<u64>, HotError> {
        Ok(None)
    }

    /// How the columnar copy of sealed hours stands, if the store keeps
    /// one (the SQLite store with `hot.columnar-copy`).
    fn copy_stats(&self) -> Option<CopyStats> {
        None
    }
}

/// The columnar copy's builder, as of its last pass.
#[derive(Debug, Clone, Copy)]
pub struct CopyStats {
    pub parts_built: u64,
    /// Sealed hours still without a current copy (0 once caught up), or
    /// `u64::MAX` before the first pass.
    pub pending_hours: u64,
    /// Hours columnar answers read from the copy instead of the rows.
    pub hours_read: u64,
}
