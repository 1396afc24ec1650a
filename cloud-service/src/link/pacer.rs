//! Paces bytes onto the link with governor: one cell per byte, a burst of at
//! most one frame (a chunk plus its header), at the rate the bandwidth limit
//! (fixed or timetable) gives for the current time. The limit can be
//! replaced at run time (admin API); the next frame picks it up.

use crate::clock::now_ms;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use hotcold_core::bwlimit::BwLimit;
use std::num::NonZeroU32;
use std::sync::RwLock;

pub struct Pacer {
    limit: RwLock<BwLimit>,
    /// Header bytes on the wire per frame byte (see link.wire-overhead).
    overhead: f64,
    burst: NonZeroU32,
    /// The limiter for the rate in force, rebuilt when the rate changes.
    /// A tokio mutex: frames from all streams queue here, one at a time.
    limiter: tokio::sync::Mutex<Option<(u64, DefaultDirectRateLimiter)>>,
}

impl Pacer {
    /// `burst` is the largest frame: one chunk and its frame header.
    pub fn new(limit: BwLimit, burst: u32, overhead: f64) -> Self {
        Self {
            limit: RwLock::new(limit),
            overhead: overhead.clamp(0.0, 1.0),
            burst: NonZeroU32::new(burst.max(1)).unwrap_or(NonZeroU32::MIN),
            limiter: tokio::sync::Mutex::new(None),
        }
    }

    pub fn limit(&self) -> BwLimit {
        self.limit.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub(crate) fn set_limit(&self, limit: BwLimit) {
        *self.limit.write().unwrap_or_else(|p| p.into_inner()) = limit;
    }

    /// The rate in force now, bytes per second; `None` is unlimited.
    pub(crate) fn rate_now(&self) -> Option<u64> {
        self.limit
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .rate_at(now_ms())
    }

    /// Waits until `bytes` may be sent.
    pub async fn wait(&self, bytes: usize) {
        let Some(rate) = self.rate_now() else { return };
        // Frame bytes, leaving room on the line for the headers.
        let rate = ((rate as f64 / (1.0 + self.overhead)) as u64).max(1);
        let rate32 =
            NonZeroU32::new(rate.min(u64::from(u32::MAX)) as u32).unwrap_or(NonZeroU32::MIN);
        let mut guard = self.limiter.lock().await;
        if guard.as_ref().map(|(r, _)| *r) != Some(rate) {
            // A new rate starts with an empty bucket: no burst on a change.
            let limiter =
                RateLimiter::direct(Quota::per_second(rate32).allow_burst(self.burst.min(rate32)));
            let _ = limiter.check_n(self.burst.min(rate32));
            *guard = Some((rate, limiter));
        }
        let Some((_, limiter)) = guard.as_ref() else {
            return;
        };
        let max = self.burst.min(rate32).get() as usize;
        let mut left = bytes;
        while left > 0 {
            let n = left.min(max);
            // n <= burst, so the limiter can always grant it eventually.
            let _ = limiter
                .until_n_ready(NonZeroU32::new(n as u32).unwrap_or(NonZeroU32::MIN))
                .await;
            left -= n;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[tokio::test]
    async fn paces_to_the_rate_and_follows_changes() {
        let p = Pacer::new("64KiB".parse().unwrap(), 16 << 10, 0.0);
        let t = Instant::now();
        for _ in 0..8 {
            p.wait(16 << 10).await;
        }
        // 128 KiB at 64 KiB/s, starting from an empty bucket: about 2 s.
        let secs = t.elapsed().as_secs_f64();
        assert!(secs > 1.5, "128 KiB at 64 KiB/s took only {secs:.2}s");
        p.set_limit(BwLimit::unlimited());
        let t = Instant::now();
        p.wait(100 << 20).await;
        assert!(t.elapsed().as_secs_f64() < 0.5, "unlimited must not wait");
    }
}
