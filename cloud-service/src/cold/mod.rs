//! Where the cold tier is, as the router, rehydrate and the admin endpoints
//! see it: a NAS over the QUIC link (the pair), or a gateway inside this
//! process (the standalone edition, `in_process.rs`). The archive reaches
//! the same two through `archive::ColdLink`.

mod in_process;

pub use in_process::InProcessCold;

use crate::link::{ClientError, LinkClient};
use futures::future::BoxFuture;
use hotcold_core::frame::{ColdQuery, LedgerRecord, QueryEnd};
use hotcold_core::schema::TableSchema;
use hotcold_core::RowBatch;
use tokio::sync::mpsc;

/// The cold tier's reads.
pub trait ColdQueries: Send + Sync {
    /// Streams the cold answer to `q` into `out`, decoded in `output` (the
    /// plan's output schema).
    fn query<'a>(
        &'a self,
        q: ColdQuery,
        output: &'a TableSchema,
        out: mpsc::Sender<RowBatch>,
    ) -> BoxFuture<'a, Result<QueryEnd, ClientError>>;

    /// The ledger's entries for these batches (absent ones left out).
    fn ledger<'a>(
        &'a self,
        ids: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<LedgerRecord>, ClientError>>;
}

impl ColdQueries for LinkClient {
    fn query<'a>(
        &'a self,
        q: ColdQuery,
        output: &'a TableSchema,
        out: mpsc::Sender<RowBatch>,
    ) -> BoxFuture<'a, Result<QueryEnd, ClientError>> {
        Box::pin(LinkClient::query(self, q, output, out))
    }

    fn ledger<'a>(
        &'a self,
        ids: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<LedgerRecord>, ClientError>> {
        Box::pin(LinkClient::ledger(self, ids))
    }
}
