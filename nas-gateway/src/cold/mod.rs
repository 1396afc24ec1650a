//! The cold store: where the NAS keeps years of history.
//!
//! Two implementations: ClickHouse (production) and SQLite (quick start).
//! Both keep a ledger of committed batches beside the data, which is what
//! makes a commit idempotent: a batch in the ledger is never inserted again.

pub mod clickhouse;
mod clickhouse_ledger;
pub mod sqlite;

use hotcold_core::query::Plan;
use hotcold_core::schema::{TableSchema, Window};
use hotcold_core::{ContentHash, RowBatch};
use std::future::Future;
use tokio::sync::mpsc;

#[derive(Debug, thiserror::Error)]
pub enum ColdError {
    #[error("clickhouse: {0}")]
    ClickHouse(#[source] Box<hotcold_clickhouse::ChError>),
    #[error(transparent)]
    Sqlite(#[from] hotcold_sqlite::SqliteError),
    #[error("table {table}: column {column} is {found} in the cold store but declared {declared}")]
    SchemaMismatch {
        table: String,
        column: String,
        found: String,
        declared: String,
    },
    #[error("cold store returned bad data: {0}")]
    Decode(String),
    #[error("cold store task failed: {0}")]
    Task(String),
}

/// A committed batch as the ledger remembers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEntry {
    pub batch_id: String,
    pub table: String,
    pub window: Window,
    pub content: ContentHash,
}

/// What the committer and the query service need of a cold store.
pub trait ColdStore: Send + Sync + 'static {
    /// Creates the table (and the ledger) or checks that the existing one
    /// has the declared columns and types.
    fn ensure_table(
        &self,
        schema: &TableSchema,
    ) -> impl Future<Output = Result<(), ColdError>> + Send;

    fn ledger_get(
        &self,
        batch_id: &str,
    ) -> impl Future<Output = Result<Option<LedgerEntry>, ColdError>> + Send;

    /// Every ledger entry, oldest commit first.
    fn ledger_list(&self) -> impl Future<Output = Result<Vec<LedgerEntry>, ColdError>> + Send;

    /// The schema a table was last created or checked with.
    fn schema_of(
        &self,
        table: &str,
    ) -> impl Future<Output = Result<Option<TableSchema>, ColdError>> + Send;

    fn ledger_put(&self, entry: &LedgerEntry)
        -> impl Future<Output = Result<(), ColdError>> + Send;

    fn window_count(
        &self,
        schema: &TableSchema,
        window: Window,
    ) -> impl Future<Output = Result<u64, ColdError>> + Send;

    /// Removes every row of the window, and returns once they are gone.
    fn delete_window(
        &self,
        schema: &TableSchema,
        window: Window,
    ) -> impl Future<Output = Result<(), ColdError>> + Send;

    /// Inserts every batch received until the channel closes.
    fn insert_stream(
        &self,
        schema: &TableSchema,
        rows: mpsc::Receiver<RowBatch>,
    ) -> impl Future<Output = Result<u64, ColdError>> + Send;

    /// Streams what the plan asks of the window: rows in its order, or
    /// partial aggregate rows in key order; at most `limit`.
    fn query(
        &self,
        schema: &TableSchema,
        plan: &Plan,
        window: Window,
        limit: u64,
        out: mpsc::Sender<RowBatch>,
    ) -> impl Future<Output = Result<u64, ColdError>> + Send;

    /// The store's own count and content hash of the window, from its rows.
    fn content_hash(
        &self,
        schema: &TableSchema,
        window: Window,
    ) -> impl Future<Output = Result<ContentHash, ColdError>> + Send {
        hash_by_query(self, schema, window)
    }

    /// Partitions of the data tables: (table, partition id, time range).
    fn partitions(
        &self,
    ) -> impl Future<Output = Result<Vec<(String, String, Window)>, ColdError>> + Send;

    /// Records every ledger entry of `table` whose window lies inside
    /// `window` as expired by cold retention (before its partition is
    /// dropped), so scrub no longer expects its rows; returns how many
    /// entries that window holds. Idempotent. The entries stay readable: a
    /// window that expired was committed, and the cloud's journal says so.
    fn ledger_expire(
        &self,
        table: &str,
        window: Window,
    ) -> impl Future<Output = Result<u64, ColdError>> + Send;

    /// The batch ids recorded as expired.
    fn expired_batches(
        &self,
    ) -> impl Future<Output = Result<std::collections::HashSet<String>, ColdError>> + Send;

    /// Removes one whole partition (cold retention).
    fn drop_partition(
        &self,
        table: &str,
        partition: &str,
        window: Window,
    ) -> impl Future<Output = Result<(), ColdError>> + Send;

    /// Are rows on disk once `insert_stream` returns? "Committed" tells the
    /// cloud, which holds its purge for a grace period where they are not.
    fn fsyncs_inserts(
        &self,
        schema: &TableSchema,
    ) -> impl Future<Output = Result<bool, ColdError>> + Send;

    /// The cloud the store takes batches from: the first that claimed it
    /// (earliest claim, then the smaller id), or `None` before any did.
    fn owner(&self) -> impl Future<Output = Result<Option<String>, ColdError>> + Send;

    /// Records a cloud's claim on the store; the owner stays whoever
    /// claimed first (`owner` decides, so two racing claims agree).
    fn claim_owner(
        &self,
        cloud: &str,
        at_ms: i64,
    ) -> impl Future<Output = Result<(), ColdError>> + Send;

    /// Each replica of a replicated store and, if it does not answer, why;
    /// empty for a store of one server or file.
    fn replicas(&self) -> impl Future<Output = Vec<(String, Option<String>)>> + Send {
        async { Vec::new() }
    }

    /// Runs one statement; used by the test-only failpoints.
    fn execute(&self, sql: &str) -> impl Future<Output = Result<(), ColdError>> + Send;
}

/// A window's count and content hash, from the rows its query streams.
pub async fn hash_by_query<S: ColdStore + ?Sized>(
    store: &S,
    schema: &TableSchema,
    window: Window,
) -> Result<ContentHash, ColdError> {
    let (tx, mut rx) = mpsc::channel(2);
    let hashing = async move {
        let mut h = ContentHash::default();
        while let Some(b) = rx.recv().await {
            h.add_batch(&b);
        }
        h
    };
    let plan = Plan::rows(schema);
    let (read, h) = tokio::join!(store.query(schema, &plan, window, u64::MAX, tx), hashing);
    read?;
    Ok(h)
}
