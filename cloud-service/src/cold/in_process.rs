//! The standalone edition's cold tier: `nas_gateway::local` in this
//! process. A delivery copies the spooled chunks into the gateway's staging
//! (each checked against the manifest's hash on the way in) and commits
//! them; the answer is the cold store's own count and content hash, which
//! the archive compares with hot before any purge, exactly as over the link.

use super::ColdQueries;
use crate::archive::{ColdLink, Spool};
use crate::link::{ClientError, Delivery};
use futures::future::BoxFuture;
use hotcold_core::frame::{ColdQuery, LedgerRecord, QueryEnd, Recheck};
use hotcold_core::manifest::Manifest;
use hotcold_core::schema::{TableSchema, Window};
use hotcold_core::{ContentHash, RowBatch};
use nas_gateway::local::{InProcess, Local};
use nas_gateway::requests::Outcome;
use std::sync::Arc;
use tokio::sync::mpsc;

pub struct InProcessCold {
    local: Local,
    /// Where the cold tier's snapshots go: `snapshot.dir/cold`.
    snapshots: std::path::PathBuf,
}

impl InProcessCold {
    pub async fn start(
        cfg: &nas_gateway::local::LocalConfig,
        snapshots: std::path::PathBuf,
    ) -> anyhow::Result<Arc<Self>> {
        Ok(Arc::new(Self {
            local: nas_gateway::local::start(cfg).await?,
            snapshots,
        }))
    }

    fn gw(&self) -> &dyn InProcess {
        self.local.gateway.as_ref()
    }
}

impl ColdQueries for InProcessCold {
    fn query<'a>(
        &'a self,
        q: ColdQuery,
        _output: &'a TableSchema,
        out: mpsc::Sender<RowBatch>,
    ) -> BoxFuture<'a, Result<QueryEnd, ClientError>> {
        Box::pin(async move { self.gw().query(q, out).await.map_err(ClientError::Refused) })
    }

    fn ledger<'a>(
        &'a self,
        ids: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<LedgerRecord>, ClientError>> {
        Box::pin(async move {
            // In pieces, as over the link: the gateway answers at most
            // MAX_LEDGER_QUERY ids at a time.
            let mut out = Vec::new();
            for part in ids.chunks(hotcold_core::frame::MAX_LEDGER_QUERY) {
                out.extend(
                    self.gw()
                        .ledger(part.to_vec())
                        .await
                        .map_err(ClientError::Refused)?,
                );
            }
            Ok(out)
        })
    }

    fn cold_snapshot(
        &self,
    ) -> BoxFuture<'_, Result<hotcold_core::frame::ColdSnapshotReply, ClientError>> {
        Box::pin(async move {
            self.gw()
                .snapshot(self.snapshots.clone())
                .await
                .map_err(ClientError::Refused)
        })
    }

    fn ledger_after<'a>(
        &'a self,
        table: &'a str,
        after: i64,
    ) -> BoxFuture<'a, Result<Vec<LedgerRecord>, ClientError>> {
        Box::pin(async move {
            self.gw()
                .ledger_after(hotcold_core::frame::LedgerAfter {
                    table: table.to_string(),
                    after,
                })
                .await
                .map_err(ClientError::Refused)
        })
    }
}

impl ColdLink for InProcessCold {
    fn deliver<'a>(
        &'a self,
        spool: &'a Spool,
        manifest: &'a Manifest,
        // Nothing crosses a line: the bytes sent over the link stay 0.
        _sent: &'a mut u64,
    ) -> BoxFuture<'a, Result<Delivery, ClientError>> {
        Box::pin(async move {
            let (sp, m) = (spool.clone(), manifest.clone());
            let chunks: nas_gateway::local::ChunkFn = Arc::new(move |i| sp.read_chunk(&m, i));
            match self.gw().deliver(manifest.clone(), chunks).await {
                Ok(Outcome::Committed(r)) => Ok(Delivery {
                    cold: r.cold,
                    durable: r.durable,
                    bytes_sent: 0,
                    chunks_sent: manifest.chunks.len() as u64,
                }),
                Ok(Outcome::Stored(r)) => Err(ClientError::StoredNotCommitted(r.reason)),
                Err(e) => Err(ClientError::Refused(e)),
            }
        })
    }

    fn recheck<'a>(
        &'a self,
        batch_id: &'a str,
        schema: &'a TableSchema,
        window: Window,
    ) -> BoxFuture<'a, Result<ContentHash, ClientError>> {
        Box::pin(async move {
            self.gw()
                .recheck(Recheck {
                    batch_id: batch_id.to_string(),
                    schema: schema.clone(),
                    window,
                })
                .await
                .map(|r| r.cold)
                .map_err(ClientError::Refused)
        })
    }
}
