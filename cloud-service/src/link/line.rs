//! What the line did lately, as the link client measures it, and what the
//! archive does with it: the chunk size of the next export
//! (`hotcold_core::transfer::adapt`) and whether to defer sending on a line
//! that loses too many packets (`link.defer-loss`).

use super::LinkClient;
use std::time::Instant;

/// How long a loss measurement speaks for the line.
const LOSS_FRESH: std::time::Duration = std::time::Duration::from_secs(15);

#[derive(Default)]
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
    pub async fn defer_reason(&self) -> Option<String> {
        let sample = self.line_sample().await;
        let limit = self.cfg.defer_loss;
        let mut l = self.line.lock().unwrap_or_else(|p| p.into_inner());
        if sample.loss <= limit || limit >= 1.0 {
            if l.deferred.take().is_some() {
                tracing::info!(
                    loss = sample.loss,
                    "the line's loss has passed; archiving goes on"
                );
            }
            return None;
        }
        let why = format!(
            "the line lost {:.0}% of its packets lately (link.defer-loss {:.0}%): archiving deferred, tried again in a later run",
            sample.loss * 100.0,
            limit * 100.0
        );
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
        let max = self.cfg.chunk_size.0 as u32;
        let size = if self.cfg.adaptive_chunks {
            let min = (self.cfg.chunk_min.0 as u32).min(max);
            hotcold_core::transfer::adapt::chunk_for(&self.line_sample().await, min, max)
        } else {
            max
        };
        self.line.lock().unwrap_or_else(|p| p.into_inner()).chunk = size;
        size
    }

    /// The chunk size the last export was given (0 before any).
    pub fn last_chunk_size(&self) -> u32 {
        self.line.lock().unwrap_or_else(|p| p.into_inner()).chunk
    }
}
