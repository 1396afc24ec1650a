//! Steps 3 and 4 as the cloud sees them: a spooled batch goes over the link
//! and the gateway answers with what its cold store now holds.
//!
//! This file holds the archive's only calls into the link client (marked
//! below: the delivery, and the read-back that `grace` asks for), so a
//! change of the link protocol meets the archive here alone. A delivery that fails leaves the batch exported in the spool
//! with every row still in hot: it is only ever retried, never lost.

use super::journal::BatchRecord;
use super::spool::Spool;
use super::{blocking, ArchiveError, Archiver, Batch, RunState, Step};
use crate::link::{ClientError, Delivery, LinkClient};
use futures::future::BoxFuture;
use hotcold_core::manifest::Manifest;
use hotcold_core::schema::{TableSchema, Window};
use hotcold_core::ContentHash;

/// What the archive needs of the NAS: deliver a spooled batch (and hear
/// the commit), and read a committed window back. The QUIC link client is
/// the one the service uses; the archive's own tests give an in-memory
/// gateway (`archive/gateway_tests.rs`).
pub trait ColdLink: Send + Sync {
    fn deliver<'a>(
        &'a self,
        spool: &'a Spool,
        manifest: &'a Manifest,
        sent: &'a mut u64,
    ) -> BoxFuture<'a, Result<Delivery, ClientError>>;

    fn recheck<'a>(
        &'a self,
        batch_id: &'a str,
        schema: &'a TableSchema,
        window: Window,
    ) -> BoxFuture<'a, Result<ContentHash, ClientError>>;

    /// The chunk size for the next export; `configured` unless the link
    /// adapts it to the line.
    fn chunk_size(&self, configured: u32) -> BoxFuture<'_, u32> {
        Box::pin(async move { configured })
    }

    /// Why sending should wait now (a line losing too many packets).
    fn defer_reason(&self) -> BoxFuture<'_, Option<String>> {
        Box::pin(async { None })
    }
}

impl ColdLink for LinkClient {
    fn deliver<'a>(
        &'a self,
        spool: &'a Spool,
        manifest: &'a Manifest,
        sent: &'a mut u64,
    ) -> BoxFuture<'a, Result<Delivery, ClientError>> {
        Box::pin(LinkClient::deliver(self, spool, manifest, sent))
    }

    fn recheck<'a>(
        &'a self,
        batch_id: &'a str,
        schema: &'a TableSchema,
        window: Window,
    ) -> BoxFuture<'a, Result<ContentHash, ClientError>> {
        Box::pin(LinkClient::recheck(self, batch_id, schema, window))
    }

    fn chunk_size(&self, _configured: u32) -> BoxFuture<'_, u32> {
        Box::pin(self.next_chunk_size())
    }

    fn defer_reason(&self) -> BoxFuture<'_, Option<String>> {
        Box::pin(LinkClient::defer_reason(self))
    }
}

impl Archiver {
    /// The step for `Exported`: deliver, then `Committed` with the cold
    /// count and hash. While the NAS is unreachable the batch waits in the
    /// spool (the offline queue) and later windows only export.
    pub(super) async fn transfer_batch(
        &self,
        b: &mut Batch<'_>,
        run: &mut RunState,
    ) -> Result<Step, ArchiveError> {
        if let Some(why) = run.offline.clone() {
            return Ok(run.wait(b, why));
        }
        if let Some(why) = self.link.defer_reason().await {
            run.offline = Some(why.clone());
            return Ok(run.wait(b, why));
        }
        let (sp, i) = (self.spool.clone(), b.rec.batch_id.clone());
        let Some(manifest) = blocking(move || Ok(sp.manifest(&i)?)).await? else {
            // The spool lost it (disk replaced?): export again.
            tracing::warn!(batch = %b.rec.batch_id, "spool has no manifest; exporting again");
            self.export_to_spool(b).await?;
            return Ok(Step::Next);
        };
        b.outcome.chunk_size = manifest.chunk_size;
        crate::failpoint::pause("transfer").await;
        let mut sent = 0u64;
        // Link client: the delivery (offer, chunks, commit answer).
        let delivered = self.link.deliver(&self.spool, &manifest, &mut sent).await;
        b.outcome.bytes_sent += sent;
        run.report.bytes_sent += sent;
        let id = b.rec.batch_id.clone();
        match delivered {
            Ok(d) => {
                let (cold, durable) = (d.cold, d.durable);
                self.journal(move |j| j.mark_committed(&id, &cold, sent, durable))
                    .await?;
                crate::failpoint::hit("after-commit");
                crate::failpoint::pause("committed").await;
                Ok(Step::Next)
            }
            Err(e) => {
                // The batch stays exported in the spool and hot keeps its
                // rows; it is retried later.
                tracing::warn!(batch = %id, error = %e, "delivery failed; will retry");
                let msg = e.to_string();
                let m = msg.clone();
                self.journal(move |j| j.note_sent(&id, &m, sent)).await?;
                // Pending either way; only an unreachable NAS lets the
                // table's later windows go on (into the spool).
                let step = run.wait(b, msg.clone());
                if !e.is_offline() {
                    return Ok(Step::Halt);
                }
                run.offline = Some(msg);
                Ok(step)
            }
        }
    }

    /// What the cold store holds of a committed window now, read back
    /// again (for `grace`).
    pub(super) async fn read_back(
        &self,
        schema: &TableSchema,
        rec: &BatchRecord,
    ) -> Result<ContentHash, ClientError> {
        // Link client: the read-back of a committed window.
        self.link.recheck(&rec.batch_id, schema, rec.window).await
    }
}
