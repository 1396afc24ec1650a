//! Delivering one batch: the protocol's sending state machine
//! (`hotcold_core::transfer::Sender`) driven over one QUIC stream, chunks
//! read from a [`ChunkSource`] and paced by the bandwidth limit.

use super::client::LinkClient;
use super::ClientError;
use hotcold_core::frame::Frame;
use hotcold_core::manifest::Manifest;
use hotcold_core::transfer::{Millis, Outcome, SendAction, Sender, Step};
use hotcold_core::ContentHash;
use hotcold_link::framed::FramedStream;

/// Where a transfer's chunks come from: the link knows chunks, not the
/// archive's spool. Reads block (files), so a source is cloned into a
/// blocking task.
pub trait ChunkSource: Clone + Send + Sync + 'static {
    fn read_chunk(&self, manifest: &Manifest, index: usize) -> std::io::Result<Vec<u8>>;
}

/// What a transfer and commit achieved.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub cold: ContentHash,
    /// The gateway says the rows were on disk before it answered.
    pub durable: bool,
    pub bytes_sent: u64,
    pub chunks_sent: u64,
}

/// Bytes released by the pacer at a time.
pub(super) const PACE_SLICE: usize = 16 << 10;

impl LinkClient {
    /// Steps 3 and 4: offers the manifest, sends the chunks the gateway
    /// lacks, paced by the bandwidth limit, and waits for its commit answer.
    /// `sent` counts the bytes written, also when the delivery fails.
    pub async fn deliver(
        &self,
        source: &impl ChunkSource,
        manifest: &Manifest,
        sent: &mut u64,
    ) -> Result<Delivery, ClientError> {
        self.guarded(self.deliver_inner(source, manifest, sent))
            .await
    }

    async fn deliver_inner(
        &self,
        source: &impl ChunkSource,
        manifest: &Manifest,
        sent: &mut u64,
    ) -> Result<Delivery, ClientError> {
        let mut s = self.stream().await?;
        let t0 = tokio::time::Instant::now();
        let now = || t0.elapsed().as_millis() as Millis;
        let silence = self.cfg.request_timeout.0.as_millis() as Millis;
        let mut tx = Sender::new(manifest, self.cfg.max_chunks_in_flight, silence);
        let mut actions = vec![tx.start(manifest, now())];
        let start = s.bytes_sent;
        loop {
            for a in actions.drain(..) {
                match a {
                    SendAction::Frame(f) => s.write_frame(&f).await?,
                    SendAction::Chunk(i) => {
                        // A line that goes bad mid-batch (a family's video
                        // call starting) stops the send here, not after
                        // the batch: the gateway keeps what arrived.
                        if let Some(why) = self.defer_reason_now() {
                            return Err(ClientError::Deferred(why));
                        }
                        self.send_chunk(&mut s, source, manifest, i).await?
                    }
                }
                *sent = s.bytes_sent - start;
            }
            // A deadline past what an Instant can hold is no deadline.
            let far = t0 + std::time::Duration::from_secs(365 * 86_400);
            let deadline = t0
                .checked_add(std::time::Duration::from_millis(tx.deadline()))
                .unwrap_or(far)
                .min(far);
            let frame = match tokio::time::timeout_at(deadline, s.expect_frame()).await {
                Ok(f) => f?,
                Err(_) => {
                    tx.tick(now())?;
                    continue;
                }
            };
            match tx.on_frame(frame, now())? {
                Step::Act(next) => actions = next,
                Step::Done(Outcome::Committed(r)) => {
                    let _ = s.finish();
                    *sent = s.bytes_sent - start;
                    return Ok(Delivery {
                        cold: r.cold,
                        durable: r.durable,
                        bytes_sent: *sent,
                        chunks_sent: tx.chunks_sent,
                    });
                }
                Step::Done(Outcome::Stored(r)) => {
                    return Err(ClientError::StoredNotCommitted(r.reason))
                }
            }
        }
    }

    /// Reads chunk `i` from the source and writes it, paced a slice at a
    /// time: a whole chunk at once would overrun router (and loopback)
    /// buffers and cost retransmissions.
    async fn send_chunk(
        &self,
        s: &mut FramedStream,
        source: &impl ChunkSource,
        manifest: &Manifest,
        i: u32,
    ) -> Result<(), ClientError> {
        let (src, m) = (source.clone(), manifest.clone());
        let data = tokio::task::spawn_blocking(move || src.read_chunk(&m, i as usize))
            .await
            .map_err(|e| ClientError::Protocol(e.to_string()))??;
        let bytes = Frame::Chunk { index: i, data }.to_bytes();
        for slice in bytes.chunks(PACE_SLICE) {
            self.pacer.wait(slice.len()).await;
            s.write_raw(slice).await?;
            self.meter.add(slice.len() as u64);
            self.sample_rtt().await;
        }
        Ok(())
    }
}
