//! Declared tables in a SQLite file: the hot store of the quick start and the
//! cold store of a NAS without ClickHouse share this code.
//!
//! Every function takes a connection; callers own threads and locking
//! (`Readers`, a small pool of read connections, is the one exception).
//! Rows are read back in the physical kinds of [`hotcold_core::RowBatch`], so
//! the content hash computed from them compares across stores.
//!
//! The files follow a table's life: `open` (durability), `ddl` (create and
//! check), `insert`, `scan` (rows and aggregates out, through the SELECTs
//! of `sql`; aggregates folded from an ordered scan in `fold`; `readers`
//! for the connections), `window` (what archiving asks of one window:
//! count, hash, delete). The functions are re-exported here, the one public surface.

mod columnar;
mod ddl;
mod fold;
mod insert;
mod open;
mod readers;
mod scan;
pub mod sealed;
mod sql;
mod sums;
mod together;
mod window;

#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod group_tests;

pub use columnar::ColumnarScan;
pub use ddl::create_table;
pub use insert::insert;
pub use open::open;
pub use readers::Readers;
pub use scan::{scan, scan_snapshot};
pub use together::Commits;
pub use window::{content_hash, count, delete_window, min_time};

#[derive(Debug, thiserror::Error)]
pub enum SqliteError {
    #[error("sqlite: {0}")]
    Sql(#[from] rusqlite::Error),
    /// An existing table's column has another type than declared.
    #[error("table {table}: column {column} is {found} in the store but declared {declared}")]
    SchemaMismatch {
        table: String,
        column: String,
        found: String,
        declared: String,
    },
    /// An existing table lacks a declared column.
    #[error("table {table}: column {column} is declared but missing in the store")]
    MissingColumn { table: String, column: String },
    /// An aggregation folded more keys than its plan allows.
    #[error(transparent)]
    TooManyGroups(#[from] hotcold_core::query::TooManyGroups),
    /// A sum's exact value does not fit the type it is answered in.
    #[error(transparent)]
    Overflow(#[from] hotcold_core::query::SumOverflow),
    /// A cell that does not fit its column's Arrow type (a columnar scan).
    #[error(transparent)]
    Encode(#[from] hotcold_arrow::EncodeError),
    /// A reader thread of a columnar scan ended without a word (it
    /// panicked): the answer is incomplete, never cut silently.
    #[error("a reader of the columnar scan stopped before {0}")]
    Reader(String),
    /// A part of the columnar copy that does not read back (its hash,
    /// its layout): the answer fails rather than serve other rows.
    #[error("table {table}, hour {t0}: {error}")]
    Part {
        table: String,
        t0: i64,
        error: hotcold_arrow::sealed_part::PartError,
    },
}

impl From<hotcold_core::query::FoldError> for SqliteError {
    fn from(e: hotcold_core::query::FoldError) -> Self {
        use hotcold_core::query::FoldError;
        match e {
            FoldError::TooManyGroups(e) => e.into(),
            FoldError::Overflow(e) => e.into(),
        }
    }
}

pub type Result<T> = std::result::Result<T, SqliteError>;
