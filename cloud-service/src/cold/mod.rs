//! Where the cold tier is, as the router, rehydrate and the admin endpoints
//! see it: a NAS over the QUIC link (the pair), or a gateway inside this
//! process (the standalone edition, `in_process.rs`). The archive reaches
//! the same two through `archive::ColdLink`.

mod in_process;

pub use in_process::InProcessCold;

use crate::link::{ClientError, LinkClient};
use anyhow::Context;
use futures::future::BoxFuture;
use hotcold_core::frame::{ColdQuery, ColdSnapshotReply, LedgerRecord, QueryEnd};
use hotcold_core::schema::TableSchema;
use hotcold_core::RowBatch;
use std::sync::Arc;
use tokio::sync::mpsc;

/// The cold tier as the service uses it.
pub struct ColdTier {
    /// The QUIC link to the NAS; none in the standalone edition.
    pub link: Option<Arc<LinkClient>>,
    /// Delivery and read-back, for the archive.
    pub archive: Arc<dyn crate::archive::ColdLink>,
    /// Cold reads, for the router, rehydrate and verify.
    pub queries: Arc<dyn ColdQueries>,
}

impl ColdTier {
    /// The pair reaches its cold tier over the link; the standalone
    /// edition (`cold:` in the config) runs it in this process, with no
    /// link and no certificates.
    pub async fn open(cfg: &crate::config::CloudConfig) -> anyhow::Result<Self> {
        Ok(match &cfg.cold {
            None => {
                let link = LinkClient::new(cfg.link.clone(), &cfg.tls_files()).context("link")?;
                Self {
                    link: Some(link.clone()),
                    archive: link.clone(),
                    queries: link,
                }
            }
            Some(c) => {
                let local = InProcessCold::start(c, cfg.snapshot.dir.join("cold"))
                    .await
                    .context("cold tier (standalone)")?;
                tracing::info!(data_dir = %c.data_dir.display(), "standalone: cold tier in this process");
                Self {
                    link: None,
                    archive: local.clone(),
                    queries: local,
                }
            }
        })
    }
}

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

    /// The ledger's entries of a table whose window ends after `after`,
    /// oldest first, at most `MAX_LEDGER_QUERY` at a time.
    fn ledger_after<'a>(
        &'a self,
        table: &'a str,
        after: i64,
    ) -> BoxFuture<'a, Result<Vec<LedgerRecord>, ClientError>>;

    /// Asks the cold tier for a snapshot of itself now (the NAS's half of a
    /// snapshot of the pair).
    fn cold_snapshot(&self) -> BoxFuture<'_, Result<ColdSnapshotReply, ClientError>>;

    /// `query` within the link's bandwidth limit (prefetch); the
    /// standalone edition has no line, so no limit.
    fn query_paced<'a>(
        &'a self,
        q: ColdQuery,
        output: &'a TableSchema,
        out: mpsc::Sender<RowBatch>,
    ) -> BoxFuture<'a, Result<QueryEnd, ClientError>> {
        self.query(q, output, out)
    }
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

    fn ledger_after<'a>(
        &'a self,
        table: &'a str,
        after: i64,
    ) -> BoxFuture<'a, Result<Vec<LedgerRecord>, ClientError>> {
        Box::pin(LinkClient::ledger_after(self, table, after))
    }

    fn cold_snapshot(&self) -> BoxFuture<'_, Result<ColdSnapshotReply, ClientError>> {
        Box::pin(LinkClient::cold_snapshot(self))
    }

    fn query_paced<'a>(
        &'a self,
        q: ColdQuery,
        output: &'a TableSchema,
        out: mpsc::Sender<RowBatch>,
    ) -> BoxFuture<'a, Result<QueryEnd, ClientError>> {
        Box::pin(LinkClient::query_paced(self, q, output, out))
    }
}
