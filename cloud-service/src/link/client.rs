//! The link client: one QUIC connection to the gateway, opened on demand,
//! reopened after it drops (with capped exponential backoff and jitter), one
//! stream per request. Chunks are paced by the bandwidth limit.

use super::backoff::Backoff;
use super::meter::Meter;
use super::pacer::Pacer;
use crate::archive::Spool;
use crate::config::LinkConfig;
use hotcold_core::codec::{decode_segment, DecodeLimits};
use hotcold_core::frame::{ColdQuery, Frame, QueryEnd};
use hotcold_core::manifest::Manifest;
use hotcold_core::schema::TableSchema;
use hotcold_core::{ContentHash, RowBatch};
use hotcold_link::framed::{FramedStream, LinkError};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::Mutex;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("gateway unreachable at {addr}: {reason}")]
    Unreachable {
        addr: std::net::SocketAddr,
        reason: String,
    },
    #[error(transparent)]
    Link(#[from] LinkError),
    #[error("gateway refused: {0}")]
    Refused(String),
    #[error("gateway sent an unexpected frame: {0}")]
    Protocol(String),
    #[error("spool: {0}")]
    Spool(#[from] std::io::Error),
    #[error("decoding cold rows: {0}")]
    Decode(String),
    #[error("link request timed out after {0:?}")]
    Timeout(std::time::Duration),
    /// No stream left for this kind of request now.
    #[error("{0}")]
    Busy(String),
    /// Every chunk arrived and was verified, but the cold store could not
    /// take the batch now; the gateway keeps it staged.
    #[error("stored on the NAS but not committed: {0}")]
    StoredNotCommitted(String),
}

impl ClientError {
    /// What a query's caller is told: the kind of failure, without the
    /// gateway's or the cold store's own text (that goes to the log).
    pub fn public(&self) -> String {
        match self {
            ClientError::Unreachable { .. } | ClientError::Link(_) => {
                "the NAS gateway is unreachable".into()
            }
            ClientError::Refused(_) => "the NAS gateway could not answer".into(),
            ClientError::Protocol(_) | ClientError::Decode(_) => {
                "the NAS gateway's answer was not understood".into()
            }
            ClientError::Spool(_) | ClientError::StoredNotCommitted(_) => {
                "the cold part failed".into()
            }
            ClientError::Timeout(d) => format!("the NAS gateway did not answer within {d:?}"),
            ClientError::Busy(m) => m.clone(),
        }
    }

    /// Errors that mean "the NAS side is not there right now": worth
    /// retrying later, and a reason to keep spooling (the offline queue).
    pub fn is_offline(&self) -> bool {
        matches!(
            self,
            ClientError::Unreachable { .. }
                | ClientError::Link(_)
                | ClientError::Timeout(_)
                | ClientError::StoredNotCommitted(_)
        )
    }
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
const PACE_SLICE: usize = 16 << 10;

pub struct LinkClient {
    endpoint: quinn::Endpoint,
    cfg: LinkConfig,
    /// The connection of archive transfers, read-backs and ledger
    /// questions.
    conn: Mutex<Option<quinn::Connection>>,
    /// Cold queries' own connection: QUIC flow control is per connection,
    /// so readers that stop reading fill only this one's window and can
    /// never stall the archive.
    query_conn: Mutex<Option<quinn::Connection>>,
    backoff: std::sync::Mutex<Backoff>,
    pub pacer: Pacer,
    pub meter: Meter,
    /// Since when (epoch ms) the gateway has been unreachable, and why.
    down: std::sync::Mutex<Option<(i64, String)>>,
    /// Streams cold queries may hold (see `QUERY_STREAMS`).
    query_streams: tokio::sync::Semaphore,
}

impl LinkClient {
    pub fn new(cfg: LinkConfig, tls: &hotcold_link::TlsFiles) -> anyhow::Result<Arc<Self>> {
        let tuning = hotcold_link::LinkTuning {
            bandwidth: cfg.bandwidth.0,
            rtt: cfg.rtt.0,
            keep_alive: cfg.keep_alive.0,
            idle_timeout: cfg.idle_timeout.0,
        };
        let endpoint = hotcold_link::client_endpoint(tls, &tuning)?;
        let burst = cfg.chunk_size.0 as u32 + 64;
        Ok(Arc::new(Self {
            endpoint,
            pacer: Pacer::new(cfg.bwlimit.clone(), burst, cfg.wire_overhead),
            backoff: std::sync::Mutex::new(Backoff::new(
                std::time::Duration::from_millis(500),
                cfg.backoff_max.0,
            )),
            meter: Meter::default(),
            cfg,
            conn: Mutex::new(None),
            query_conn: Mutex::new(None),
            down: std::sync::Mutex::new(None),
            query_streams: tokio::sync::Semaphore::new(hotcold_link::endpoint::QUERY_STREAMS),
        }))
    }

    /// QUIC's own counters for the current connection (packets lost and
    /// sent, UDP bytes sent), for diagnosing a line.
    pub async fn quic_stats(&self) -> Option<(u64, u64, u64)> {
        let g = self.conn.lock().await;
        g.as_ref().map(|c| {
            let s = c.stats();
            (s.path.lost_packets, s.path.sent_packets, s.udp_tx.bytes)
        })
    }

    /// QUIC's smoothed round-trip time on the open connection.
    pub async fn rtt(&self) -> Option<std::time::Duration> {
        self.conn
            .lock()
            .await
            .as_ref()
            .filter(|c| c.close_reason().is_none())
            .map(|c| c.rtt())
    }

    /// Since when the gateway has been unreachable (epoch ms) and the last
    /// reason; `None` while the last attempt to reach it worked.
    pub fn down_since(&self) -> Option<(i64, String)> {
        self.down.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// True while a connection is open.
    pub async fn connected(&self) -> bool {
        self.conn
            .lock()
            .await
            .as_ref()
            .is_some_and(|c| c.close_reason().is_none())
    }

    async fn connection(
        &self,
        slot: &Mutex<Option<quinn::Connection>>,
    ) -> Result<quinn::Connection, ClientError> {
        let mut guard = slot.lock().await;
        if let Some(c) = guard.as_ref() {
            if c.close_reason().is_none() {
                return Ok(c.clone());
            }
        }
        let addr = self.cfg.gateway;
        let unreachable = |reason: String| ClientError::Unreachable { addr, reason };
        if let Some(left) = self
            .backoff
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .wait_left(Instant::now())
        {
            return Err(unreachable(format!(
                "backing off; next attempt in {:.1}s",
                left.as_secs_f64()
            )));
        }
        let attempt = async {
            let connecting = self
                .endpoint
                .connect(addr, hotcold_link::SERVER_NAME)
                .map_err(|e| e.to_string())?;
            match tokio::time::timeout(self.cfg.connect_timeout.0, connecting).await {
                Err(_) => Err(format!("no answer within {}", self.cfg.connect_timeout)),
                Ok(r) => r.map_err(|e| e.to_string()),
            }
        };
        match attempt.await {
            Ok(conn) => {
                self.backoff
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .succeeded();
                *self.down.lock().unwrap_or_else(|p| p.into_inner()) = None;
                *guard = Some(conn.clone());
                Ok(conn)
            }
            Err(reason) => {
                let jitter = 0.8 + rand::random::<f64>() * 0.4;
                let delay = self
                    .backoff
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .failed(Instant::now(), jitter);
                tracing::warn!(%addr, %reason, retry_in_s = delay.as_secs_f64(), "gateway unreachable");
                self.mark_down(&reason);
                Err(unreachable(reason))
            }
        }
    }

    /// Drops a connection that failed mid-request, so the next request
    /// reconnects instead of waiting for the idle timeout.
    async fn forget(&self, reason: &str) {
        self.mark_down(reason);
        for slot in [&self.conn, &self.query_conn] {
            if let Some(c) = slot.lock().await.take() {
                c.close(0u32.into(), b"request failed");
            }
        }
    }

    /// Records that the gateway could not be reached (keeps the first time).
    fn mark_down(&self, reason: &str) {
        let now = crate::clock::now_ms();
        let mut down = self.down.lock().unwrap_or_else(|p| p.into_inner());
        let since = down.as_ref().map_or(now, |(t, _)| *t);
        *down = Some((since, reason.to_string()));
    }

    async fn stream(&self) -> Result<FramedStream, ClientError> {
        self.stream_on(&self.conn).await
    }

    async fn stream_on(
        &self,
        slot: &Mutex<Option<quinn::Connection>>,
    ) -> Result<FramedStream, ClientError> {
        let conn = self.connection(slot).await?;
        let (send, recv) = conn.open_bi().await.map_err(|e| ClientError::Unreachable {
            addr: self.cfg.gateway,
            reason: e.to_string(),
        })?;
        Ok(FramedStream::new(send, recv, self.cfg.max_frame.0 as usize))
    }

    /// Steps 3 and 4: offers the manifest, sends the chunks the gateway
    /// lacks, paced by the bandwidth limit, and waits for its commit answer.
    /// `sent` counts the bytes written, also when the delivery fails.
    pub async fn deliver(
        &self,
        spool: &Spool,
        manifest: &Manifest,
        sent: &mut u64,
    ) -> Result<Delivery, ClientError> {
        self.guarded(self.deliver_inner(spool, manifest, sent))
            .await
    }

    /// Bounds a request by `request-timeout`, and drops a connection that
    /// failed under it, so the next request reconnects at once instead of
    /// waiting for the idle timeout.
    async fn guarded<T>(
        &self,
        request: impl std::future::Future<Output = Result<T, ClientError>>,
    ) -> Result<T, ClientError> {
        let t = self.cfg.request_timeout.0;
        let r = match tokio::time::timeout(t, request).await {
            Ok(r) => r,
            Err(_) => Err(ClientError::Timeout(t)),
        };
        if let Err(e @ (ClientError::Link(_) | ClientError::Timeout(_))) = &r {
            self.forget(&e.to_string()).await;
        }
        r
    }

    async fn deliver_inner(
        &self,
        spool: &Spool,
        manifest: &Manifest,
        sent: &mut u64,
    ) -> Result<Delivery, ClientError> {
        let mut s = self.stream().await?;
        s.write_frame(&Frame::Offer(Box::new(manifest.clone())))
            .await?;
        let window = self.cfg.max_chunks_in_flight.max(1);
        let mut chunks_sent = 0u64;
        let mut rounds = 0;
        let mut in_flight = 0usize;
        let start = s.bytes_sent;
        loop {
            *sent = s.bytes_sent - start;
            match s.expect_frame().await? {
                Frame::Need(missing) => {
                    rounds += 1;
                    if rounds > 5 {
                        return Err(ClientError::Protocol(
                            "gateway keeps rejecting chunks".into(),
                        ));
                    }
                    for i in missing {
                        let i = i as usize;
                        if i >= manifest.chunks.len() {
                            return Err(ClientError::Protocol(format!(
                                "gateway asked for chunk {i} of {}",
                                manifest.chunks.len()
                            )));
                        }
                        // Keep at most `window` chunks unacknowledged: after a
                        // cut, at most that much was sent in vain.
                        while in_flight >= window {
                            match s.expect_frame().await? {
                                Frame::Ack { .. } => in_flight -= 1,
                                Frame::Error(m) => return Err(ClientError::Refused(m)),
                                other => {
                                    return Err(ClientError::Protocol(
                                        format!("{other:?}").chars().take(200).collect(),
                                    ))
                                }
                            }
                        }
                        let (sp, m) = (spool.clone(), manifest.clone());
                        let data = tokio::task::spawn_blocking(move || sp.read_chunk(&m, i))
                            .await
                            .map_err(|e| ClientError::Protocol(e.to_string()))??;
                        let bytes = Frame::Chunk {
                            index: i as u32,
                            data,
                        }
                        .to_bytes();
                        // Paced a slice at a time: a whole chunk at once would
                        // overrun router (and loopback) buffers and cost
                        // retransmissions.
                        for slice in bytes.chunks(PACE_SLICE) {
                            self.pacer.wait(slice.len()).await;
                            s.write_raw(slice).await?;
                            self.meter.add(slice.len() as u64);
                        }
                        *sent = s.bytes_sent - start;
                        chunks_sent += 1;
                        in_flight += 1;
                    }
                    s.write_frame(&Frame::Sent).await?;
                }
                Frame::Ack { .. } => in_flight = in_flight.saturating_sub(1),
                Frame::Committed(r) if r.batch_id == manifest.batch_id => {
                    let _ = s.finish();
                    *sent = s.bytes_sent - start;
                    return Ok(Delivery {
                        cold: r.cold,
                        durable: r.durable,
                        bytes_sent: *sent,
                        chunks_sent,
                    });
                }
                Frame::Stored(r) if r.batch_id == manifest.batch_id => {
                    return Err(ClientError::StoredNotCommitted(r.reason))
                }
                Frame::Error(m) => return Err(ClientError::Refused(m)),
                other => {
                    return Err(ClientError::Protocol(
                        format!("{other:?}").chars().take(200).collect(),
                    ))
                }
            }
        }
    }

    /// What the cold store holds of a committed window now: its count and
    /// content hash, read back again (before a purge held for the grace
    /// period).
    pub async fn recheck(
        &self,
        batch_id: &str,
        schema: &hotcold_core::schema::TableSchema,
        window: hotcold_core::schema::Window,
    ) -> Result<ContentHash, ClientError> {
        self.guarded(async {
            let mut s = self.stream().await?;
            s.write_frame(&Frame::Recheck(hotcold_core::frame::Recheck {
                batch_id: batch_id.to_string(),
                schema: schema.clone(),
                window,
            }))
            .await?;
            let _ = s.finish();
            match s.expect_frame().await? {
                Frame::Committed(r) if r.batch_id == batch_id => Ok(r.cold),
                Frame::Error(m) => Err(ClientError::Refused(m)),
                other => Err(ClientError::Protocol(
                    format!("{other:?}").chars().take(200).collect(),
                )),
            }
        })
        .await
    }

    /// The gateway's ledger entries for these batches (absent ones left out).
    pub async fn ledger(
        &self,
        ids: &[String],
    ) -> Result<Vec<hotcold_core::frame::LedgerRecord>, ClientError> {
        self.guarded(self.ledger_inner(ids)).await
    }

    async fn ledger_inner(
        &self,
        ids: &[String],
    ) -> Result<Vec<hotcold_core::frame::LedgerRecord>, ClientError> {
        let mut out = Vec::new();
        for part in ids.chunks(hotcold_core::frame::MAX_LEDGER_QUERY) {
            let mut s = self.stream().await?;
            s.write_frame(&Frame::LedgerQuery(part.to_vec())).await?;
            let _ = s.finish();
            match s.expect_frame().await? {
                Frame::LedgerEntries(e) => out.extend(e),
                Frame::Error(m) => return Err(ClientError::Refused(m)),
                other => {
                    return Err(ClientError::Protocol(
                        format!("{other:?}").chars().take(200).collect(),
                    ))
                }
            }
        }
        Ok(out)
    }

    /// Streams the cold answer to `q` into `out`, batch by batch, decoded
    /// with `output` (the plan's output schema). Each frame must come within
    /// `request-timeout`; the whole answer may take longer, as a year of
    /// rows would.
    pub async fn query(
        &self,
        q: ColdQuery,
        output: &TableSchema,
        out: tokio::sync::mpsc::Sender<RowBatch>,
    ) -> Result<QueryEnd, ClientError> {
        let Ok(_stream) = self.query_streams.try_acquire() else {
            return Err(ClientError::Busy(format!(
                "all {} cold query streams of the link are in use; the rest are kept for the archive",
                hotcold_link::endpoint::QUERY_STREAMS
            )));
        };
        let r = self.query_inner(q, output, out).await;
        if let Err(e @ (ClientError::Link(_) | ClientError::Timeout(_))) = &r {
            self.forget(&e.to_string()).await;
        }
        r
    }

    async fn query_inner(
        &self,
        q: ColdQuery,
        output: &TableSchema,
        out: tokio::sync::mpsc::Sender<RowBatch>,
    ) -> Result<QueryEnd, ClientError> {
        let t = self.cfg.request_timeout.0;
        let mut s = match tokio::time::timeout(t, self.stream_on(&self.query_conn)).await {
            Ok(s) => s?,
            Err(_) => return Err(ClientError::Timeout(t)),
        };
        let limit = q.limit;
        s.write_frame(&Frame::Query(q)).await?;
        let _ = s.finish();
        let limits = DecodeLimits::default();
        let mut rows = 0u64;
        loop {
            let frame = match tokio::time::timeout(t, s.expect_frame()).await {
                Ok(f) => f?,
                Err(_) => return Err(ClientError::Timeout(t)),
            };
            match frame {
                Frame::Rows(body) => {
                    let b = decode_segment(output, &body, &limits)
                        .map_err(|e| ClientError::Decode(e.to_string()))?;
                    rows += b.len() as u64;
                    if rows > limit {
                        return Err(ClientError::Protocol(format!(
                            "gateway sent more than the {limit} rows asked for"
                        )));
                    }
                    if out.send(b).await.is_err() {
                        // The asker left; dropping the stream stops the gateway.
                        return Ok(QueryEnd {
                            rows,
                            truncated: true,
                        });
                    }
                }
                Frame::End(end) => return Ok(end),
                Frame::Error(m) => return Err(ClientError::Refused(m)),
                other => {
                    return Err(ClientError::Protocol(
                        format!("{other:?}").chars().take(200).collect(),
                    ))
                }
            }
        }
    }
}
