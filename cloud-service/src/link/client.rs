//! The link client: one QUIC connection to the gateway, opened on demand,
//! reopened after it drops (with capped exponential backoff and jitter), one
//! stream per request. What goes over a stream is in `deliver.rs` (a batch)
//! and `requests.rs` (rechecks, ledger questions, cold queries).
//!
//! With `link.direction: nas-dials` the gateway opens the connections
//! instead (`accept.rs`): the cloud listens, and a request waits up to
//! `connect-timeout` for the NAS to be connected. Everything above the
//! connection is the same.

use super::meter::Meter;
use super::pacer::Pacer;
use super::ClientError;
use crate::config::LinkConfig;
use hotcold_link::backoff::Backoff;
use hotcold_link::framed::FramedStream;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::Mutex;

pub struct LinkClient {
    pub(super) endpoint: quinn::Endpoint,
    pub(super) cfg: LinkConfig,
    /// The connection of archive transfers, read-backs and ledger
    /// questions.
    pub(super) conn: Mutex<Option<quinn::Connection>>,
    /// Cold queries' own connection: QUIC flow control is per connection,
    /// so readers that stop reading fill only this one's window and can
    /// never stall the archive.
    pub(super) query_conn: Mutex<Option<quinn::Connection>>,
    pub(super) backoff: std::sync::Mutex<Backoff>,
    pub pacer: Pacer,
    pub meter: Meter,
    /// Since when (epoch ms) the gateway has been unreachable, and why.
    pub(super) down: std::sync::Mutex<Option<(i64, String)>>,
    /// Streams cold queries may hold (see `QUERY_STREAMS`).
    pub(super) query_streams: tokio::sync::Semaphore,
    /// Bytes of cold answers received (their `Rows` frames), and those of
    /// them that prefetch asked for.
    pub query_bytes: std::sync::atomic::AtomicU64,
    pub prefetch_bytes: std::sync::atomic::AtomicU64,
    /// Bytes of hot backups sent (`backup.rs`).
    pub backup_bytes: std::sync::atomic::AtomicU64,
    /// `nas-dials`: woken when the NAS connects.
    pub(super) arrived: tokio::sync::Notify,
    /// `nas-dials`: when each recent connection (by `stable_id`) arrived.
    accepted: std::sync::Mutex<std::collections::HashMap<usize, Instant>>,
    /// The last goodput measured (bytes/s) and the QUIC loss counters at the
    /// last sample, for `line_sample`.
    pub(super) line: std::sync::Mutex<super::line::LineState>,
}

impl LinkClient {
    pub fn new(cfg: LinkConfig, tls: &hotcold_link::TlsFiles) -> anyhow::Result<Arc<Self>> {
        let tuning = hotcold_link::LinkTuning {
            bandwidth: cfg.bandwidth.0,
            rtt: cfg.rtt.0,
            keep_alive: cfg.keep_alive.0,
            idle_timeout: cfg.idle_timeout.0,
        };
        let listen = match (cfg.direction, cfg.listen) {
            (crate::config::Direction::NasDials, Some(addr)) => Some(addr),
            _ => None,
        };
        let endpoint = match listen {
            Some(addr) => hotcold_link::server_endpoint(addr, tls, &tuning)?,
            None => hotcold_link::client_endpoint(tls, &tuning)?,
        };
        let burst = cfg.chunk_size.0 as u32 + 64;
        let me = Arc::new(Self {
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
            query_bytes: Default::default(),
            backup_bytes: Default::default(),
            prefetch_bytes: Default::default(),
            arrived: tokio::sync::Notify::new(),
            accepted: Default::default(),
            line: Default::default(),
        });
        if listen.is_some() {
            me.mark_down(&me.waiting_reason());
            tokio::spawn(super::accept::accept_loop(me.clone()));
        }
        Ok(me)
    }

    /// Where the link's peer is: the gateway's address, or with
    /// `nas-dials` the address the cloud listens on.
    pub(super) fn peer_addr(&self) -> std::net::SocketAddr {
        self.cfg.listen.unwrap_or(self.cfg.gateway)
    }

    /// `cloud-dials` or `nas-dials`, for status pages.
    pub fn direction(&self) -> &'static str {
        if self.nas_dials() {
            "nas-dials"
        } else {
            "cloud-dials"
        }
    }

    pub(super) fn nas_dials(&self) -> bool {
        self.cfg.direction == crate::config::Direction::NasDials
    }

    pub(super) fn waiting_reason(&self) -> String {
        format!(
            "waiting for the NAS to connect (link.direction: nas-dials; listening on UDP {})",
            self.peer_addr()
        )
    }

    /// `nas-dials`: the connection in `slot` once the NAS has opened it,
    /// waiting up to `connect-timeout`.
    async fn wait_for_nas(
        &self,
        slot: &Mutex<Option<quinn::Connection>>,
    ) -> Result<quinn::Connection, ClientError> {
        let deadline = tokio::time::Instant::now() + self.cfg.connect_timeout.0;
        loop {
            let arrived = self.arrived.notified();
            tokio::pin!(arrived);
            arrived.as_mut().enable();
            if let Some(c) = slot.lock().await.as_ref() {
                if c.close_reason().is_none() {
                    return Ok(c.clone());
                }
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                let reason = self.waiting_reason();
                self.mark_down(&reason);
                return Err(ClientError::Unreachable {
                    addr: self.peer_addr(),
                    reason,
                });
            }
        }
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
    pub(crate) fn down_since(&self) -> Option<(i64, String)> {
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
        if self.nas_dials() {
            return self.wait_for_nas(slot).await;
        }
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
            let conn = match tokio::time::timeout(self.cfg.connect_timeout.0, connecting).await {
                Err(_) => return Err(format!("no answer within {}", self.cfg.connect_timeout)),
                Ok(r) => r.map_err(|e| e.to_string())?,
            };
            hotcold_link::version::check(&conn, "gateway")?;
            Ok(conn)
        };
        match attempt.await {
            Ok(conn) => {
                self.backoff
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .succeeded();
                *self.down.lock().unwrap_or_else(|p| p.into_inner()) = None;
                if std::ptr::eq(slot, &self.conn) {
                    self.note_connected();
                }
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

    /// Drops the connections after a request that `started` then failed
    /// on one, so the next request reconnects instead of waiting for the
    /// idle timeout. With `nas-dials` a connection the NAS opened after the
    /// request started is kept: it replaced the one that failed (the NAS
    /// dialled again), and closing it would only make the NAS dial again.
    pub(super) async fn forget(&self, reason: &str, started: Instant) {
        let mut dropped = false;
        for slot in [&self.conn, &self.query_conn] {
            let mut g = slot.lock().await;
            let fresh = g.as_ref().is_some_and(|c| {
                c.close_reason().is_none() && self.arrived_after(c.stable_id(), started)
            });
            if fresh {
                continue;
            }
            if let Some(c) = g.take() {
                c.close(0u32.into(), b"request failed");
                dropped = true;
            }
        }
        if dropped || !self.nas_dials() {
            self.mark_down(reason);
        }
    }

    /// `nas-dials`: did the connection `id` arrive after `t`?
    fn arrived_after(&self, id: usize, t: Instant) -> bool {
        self.accepted
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&id)
            .is_some_and(|at| *at > t)
    }

    /// `nas-dials`: records when connection `id` arrived (the last few).
    pub(super) fn note_arrival(&self, id: usize) {
        let mut m = self.accepted.lock().unwrap_or_else(|p| p.into_inner());
        if m.len() > 16 {
            let oldest = m.iter().min_by_key(|(_, at)| **at).map(|(k, _)| *k);
            if let Some(k) = oldest {
                m.remove(&k);
            }
        }
        m.insert(id, Instant::now());
    }

    /// Records that the gateway could not be reached (keeps the first time).
    pub(super) fn mark_down(&self, reason: &str) {
        let now = crate::clock::now_ms();
        let mut down = self.down.lock().unwrap_or_else(|p| p.into_inner());
        let since = down.as_ref().map_or(now, |(t, _)| *t);
        *down = Some((since, reason.to_string()));
    }

    pub(super) async fn stream(&self) -> Result<FramedStream, ClientError> {
        self.stream_on(&self.conn).await
    }

    pub(super) async fn stream_on(
        &self,
        slot: &Mutex<Option<quinn::Connection>>,
    ) -> Result<FramedStream, ClientError> {
        let conn = self.connection(slot).await?;
        let (send, recv) = conn.open_bi().await.map_err(|e| ClientError::Unreachable {
            addr: self.peer_addr(),
            reason: e.to_string(),
        })?;
        Ok(FramedStream::new(send, recv, self.cfg.max_frame.0 as usize))
    }

    /// Bounds a request by `request-timeout`, and drops a connection that
    /// failed under it, so the next request reconnects at once instead of
    /// waiting for the idle timeout.
    pub(super) async fn guarded<T>(
        &self,
        request: impl std::future::Future<Output = Result<T, ClientError>>,
    ) -> Result<T, ClientError> {
        let t = self.cfg.request_timeout.0;
        let started = Instant::now();
        let r = match tokio::time::timeout(t, request).await {
            Ok(r) => r,
            Err(_) => Err(ClientError::Timeout(t)),
        };
        if let Err(e @ (ClientError::Link(_) | ClientError::Timeout(_))) = &r {
            self.forget(&e.to_string(), started).await;
        }
        r
    }
}
