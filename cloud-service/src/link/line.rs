//! What the line did lately, as the link client measures it, and what the
//! archive does with it: the chunk size of the next export
//! (`hotcold_core::transfer::adapt`) and whether to defer sending on a line
//! that loses too many packets (`link.defer-loss`) or whose round trip
//! swings too much (`link.defer-rtt-spread`).

use super::LinkClient;
use hotcold_core::transfer::rtt_spread::RttSpread;
use std::time::{Duration, Instant};

/// How long a loss or round-trip measurement speaks for the line.
const LOSS_FRESH: Duration = Duration::from_secs(15);
/// Round trips are sampled at most this often while chunks go out.
const RTT_EVERY: Duration = Duration::from_millis(100);

pub(super) struct LineState {
    goodput: f64,
    /// (lost, sent) packets of the connection at the last sample, and its id.
    packets: Option<(usize, u64, u64)>,
    loss: f64,
    /// When `loss` was measured: an old measurement says nothing of the
    /// line now (a deferred archive sends nothing to measure).
    loss_at: Option<Instant>,
    /// Since when (epoch ms) and why archive runs defer.
    deferred: Option<(i64, String)>,
    /// The chunk size the last export was given.
    chunk: u32,
    /// QUIC's smoothed round trip, sampled as chunks go out and when the
    /// archive asks, on the clock of `origin`; and the connection it is of.
    rtt: RttSpread,
    rtt_conn: Option<usize>,
    rtt_at: Option<Instant>,
    origin: Instant,
    /// Whether the archive connection was ever open, and when it was
    /// opened again after dying (a cut) lately.
    connected_once: bool,
    cuts: std::collections::VecDeque<u64>,
}

impl Default for LineState {
    fn default() -> Self {
        Self {
            goodput: 0.0,
            packets: None,
            loss: 0.0,
            loss_at: None,
            deferred: None,
            chunk: 0,
            rtt: RttSpread::new(LOSS_FRESH.as_millis() as u64),
            rtt_conn: None,
            rtt_at: None,
            origin: Instant::now(),
            connected_once: false,
            cuts: Default::default(),
        }
    }
}

impl LineState {
    fn now_ms(&self) -> u64 {
        self.origin.elapsed().as_millis() as u64
    }

    fn recent_cuts(&self) -> usize {
        let now = self.now_ms();
        self.cuts
            .iter()
            .filter(|t| now.saturating_sub(**t) <= hotcold_core::transfer::adapt::CUTS_FRESH_MS)
            .count()
    }

    /// Records one round trip of connection `id` (a new connection
    /// starts the samples over).
    fn note_rtt(&mut self, id: usize, rtt: Duration) {
        if self.rtt_conn != Some(id) {
            self.rtt.clear();
            self.rtt_conn = Some(id);
        }
        let now = self.now_ms();
        self.rtt.add(now, rtt.as_secs_f64() * 1000.0);
        self.rtt_at = Some(Instant::now());
    }
}

impl LinkClient {
    /// What the line did lately: goodput over the last seconds (or the last
    /// one measured, when idle since), the round trip, and the packet loss
    /// since the previous sample (kept when too few packets went by).
    pub async fn line_sample(&self) -> hotcold_core::transfer::adapt::LineSample {
        let (rtt, stats) = {
            let g = self.conn.lock().await;
            match g.as_ref().filter(|c| c.close_reason().is_none()) {
                Some(c) => {
                    let s = c.stats();
                    (
                        Some(c.rtt()),
                        Some((c.stable_id(), s.path.lost_packets, s.path.sent_packets)),
                    )
                }
                None => (None, None),
            }
        };
        // Less than this is too short a burst to tell the line's pace
        // (it went into QUIC's send window at memory speed).
        const ENOUGH: u64 = 256 << 10;
        let (bytes, rate) = self.meter.recent();
        let mut l = self.line.lock().unwrap_or_else(|p| p.into_inner());
        if bytes >= ENOUGH {
            l.goodput = rate;
        }
        if let (Some(r), Some((id, ..))) = (rtt, stats) {
            l.note_rtt(id, r);
        }
        if let Some((id, lost, sent)) = stats {
            match l.packets {
                Some((was, lost0, sent0)) if was == id && sent >= sent0 + 100 => {
                    l.loss = lost.saturating_sub(lost0) as f64 / (sent - sent0) as f64;
                    l.loss_at = Some(Instant::now());
                    l.packets = Some((id, lost, sent));
                }
                Some((was, ..)) if was == id => {}
                // Another connection: what the last one lost (a cut, a
                // killed peer) says nothing of the line now.
                _ => {
                    l.packets = Some((id, lost, sent));
                    l.loss = 0.0;
                    l.loss_at = None;
                }
            }
        }
        let fresh = l.loss_at.is_some_and(|t| t.elapsed() <= LOSS_FRESH);
        hotcold_core::transfer::adapt::LineSample {
            goodput: l.goodput,
            rtt_ms: rtt.map_or(0.0, |r| r.as_secs_f64() * 1000.0),
            loss: if fresh { l.loss } else { 0.0 },
        }
    }

    /// Why archive runs should not send now: the line lost more than
    /// `link.defer-loss` of its packets lately. Sending on would mostly
    /// resend; the batch waits in the spool and a later run (or the resync
    /// every `retry-interval`) tries again once the loss has passed.
    ///
    /// Likewise a round trip that swings by more than
    /// `link.defer-rtt-spread` (standard deviation over the last seconds):
    /// QUIC takes late packets for lost ones there, resends what arrived
    /// and shrinks its window.
    pub async fn defer_reason(&self) -> Option<String> {
        let loss = self.line_sample().await.loss;
        self.judge(loss)
    }

    /// [`defer_reason`](Self::defer_reason) without taking a new sample:
    /// the loss last measured and the round trips sampled as chunks go
    /// out. Asked before every chunk, so it must not move the loss
    /// measurement's baseline (a sample per chunk would measure loss over
    /// a hundred packets, noise).
    pub(super) fn defer_reason_now(&self) -> Option<String> {
        self.judge(self.recent_loss())
    }

    fn judge(&self, loss: f64) -> Option<String> {
        let limit = self.cfg.defer_loss;
        let spread = self.rtt_spread();
        let mut l = self.line.lock().unwrap_or_else(|p| p.into_inner());
        let swing = match (spread, self.cfg.defer_rtt_spread) {
            (Some(sd), Some(max)) if sd > max.0 => Some((sd, max)),
            _ => None,
        };
        let why = if loss > limit && limit < 1.0 {
            format!(
                "the line lost {:.0}% of its packets lately (link.defer-loss {:.0}%): archiving deferred, tried again in a later run",
                loss * 100.0,
                limit * 100.0
            )
        } else if let Some((sd, max)) = swing {
            format!(
                "the line's round trip swung by {:.0} ms lately (standard deviation; link.defer-rtt-spread {max}): archiving deferred, tried again in a later run",
                sd.as_secs_f64() * 1000.0,
            )
        } else {
            if l.deferred.take().is_some() {
                tracing::info!(
                    loss,
                    rtt_spread_ms = spread.map(|d| d.as_secs_f64() * 1000.0),
                    "the line has settled; archiving goes on"
                );
            }
            return None;
        };
        let since = l
            .deferred
            .as_ref()
            .map_or_else(crate::clock::now_ms, |(t, _)| *t);
        if l.deferred.is_none() {
            tracing::warn!(reason = %why, "archive deferred");
        }
        l.deferred = Some((since, why.clone()));
        Some(why)
    }

    /// Since when and why archiving is deferred, if it is.
    pub fn deferred(&self) -> Option<(i64, String)> {
        self.line
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .deferred
            .clone()
    }

    /// How much the round trip swung lately (the standard deviation of
    /// the samples of the last seconds); `None` with too few recent ones
    /// (an idle or deferred link sends nothing to sample).
    pub fn rtt_spread(&self) -> Option<Duration> {
        let l = self.line.lock().unwrap_or_else(|p| p.into_inner());
        if l.rtt_at.is_none_or(|t| t.elapsed() > LOSS_FRESH) {
            return None;
        }
        let (sd, _) = l.rtt.spread(l.now_ms())?;
        Some(Duration::from_secs_f64(sd / 1000.0))
    }

    /// Samples the open connection's round trip while chunks go out, at
    /// most every `RTT_EVERY`.
    pub(super) async fn sample_rtt(&self) {
        {
            let l = self.line.lock().unwrap_or_else(|p| p.into_inner());
            if l.rtt_at.is_some_and(|t| t.elapsed() < RTT_EVERY) {
                return;
            }
        }
        let seen = {
            let g = self.conn.lock().await;
            g.as_ref()
                .filter(|c| c.close_reason().is_none())
                .map(|c| (c.stable_id(), c.rtt()))
        };
        if let Some((id, rtt)) = seen {
            self.line
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .note_rtt(id, rtt);
        }
    }

    /// The loss of the last sample (0 when none is recent).
    pub fn recent_loss(&self) -> f64 {
        let l = self.line.lock().unwrap_or_else(|p| p.into_inner());
        if l.loss_at.is_some_and(|t| t.elapsed() <= LOSS_FRESH) {
            l.loss
        } else {
            0.0
        }
    }

    /// The chunk size for the next export: adaptive within
    /// `chunk-min..=chunk-size`, or the configured one.
    pub async fn next_chunk_size(&self) -> u32 {
        use hotcold_core::transfer::adapt;
        let max = self.cfg.chunk_size.0 as u32;
        let min = (self.cfg.chunk_min.0 as u32).min(max);
        let size = if self.cfg.adaptive_chunks {
            adapt::chunk_for(&self.line_sample().await, min, max)
        } else {
            max
        };
        let mut l = self.line.lock().unwrap_or_else(|p| p.into_inner());
        let size = if self.cfg.adaptive_chunks {
            adapt::after_cuts(size, l.recent_cuts(), min)
        } else {
            size
        };
        l.chunk = size;
        size
    }

    /// The archive connection is open (again): a reopening after the first
    /// is a cut of the line, which shrinks the next chunks for a while.
    pub(super) fn note_connected(&self) {
        let mut l = self.line.lock().unwrap_or_else(|p| p.into_inner());
        if std::mem::replace(&mut l.connected_once, true) {
            let now = l.now_ms();
            l.cuts.push_back(now);
            if l.cuts.len() > 16 {
                l.cuts.pop_front();
            }
        }
    }

    /// Cuts of the line lately (see `note_connected`).
    pub fn recent_cuts(&self) -> usize {
        self.line
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .recent_cuts()
    }

    /// The chunk size the last export was given (0 before any).
    pub fn last_chunk_size(&self) -> u32 {
        self.line.lock().unwrap_or_else(|p| p.into_inner()).chunk
    }
}
