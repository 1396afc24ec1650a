//! How much the line's round trip swings: the standard deviation of the
//! round-trip samples of the last seconds.
//!
//! A line whose round trip swings by hundreds of milliseconds (a shared
//! home line under a family's video calls, a congested Wi-Fi hop, a
//! bufferbloated router) makes QUIC's loss detection fire on packets that
//! were only late, so it resends what arrived and backs its window off:
//! goodput collapses while the link still looks "up". Deferring the archive
//! until the swing passes costs nothing (the batches wait in the spool);
//! grinding through it costs the family's line twice the bytes.
//!
//! Samples come from the driver (QUIC's smoothed round trip, read as
//! chunks go out and when the archive asks), with its clock in ms.

use super::Millis;
use std::collections::VecDeque;

/// Fewer samples than this say nothing of a spread.
pub const MIN_SAMPLES: usize = 8;
/// At most this many samples are kept (the oldest go first).
const MAX_SAMPLES: usize = 512;

/// Round-trip samples of the last `span` ms.
#[derive(Debug, Clone)]
pub struct RttSpread {
    span: Millis,
    /// (when, round trip in ms), oldest first.
    samples: VecDeque<(Millis, f64)>,
}

impl RttSpread {
    pub fn new(span: Millis) -> Self {
        Self {
            span,
            samples: VecDeque::new(),
        }
    }

    /// Records a round trip of `rtt_ms` seen at `at`. Nonsense (negative,
    /// not finite) and samples older than the newest are ignored.
    pub fn add(&mut self, at: Millis, rtt_ms: f64) {
        if !(rtt_ms.is_finite() && rtt_ms >= 0.0) {
            return;
        }
        if self.samples.back().is_some_and(|(t, _)| *t > at) {
            return;
        }
        self.samples.push_back((at, rtt_ms));
        if self.samples.len() > MAX_SAMPLES {
            self.samples.pop_front();
        }
        self.expire(at);
    }

    fn expire(&mut self, now: Millis) {
        while self
            .samples
            .front()
            .is_some_and(|(t, _)| now.saturating_sub(*t) > self.span)
        {
            self.samples.pop_front();
        }
    }

    /// The standard deviation (ms) of the samples within the span before
    /// `now`, and how many there were; `None` with fewer than
    /// [`MIN_SAMPLES`].
    pub fn spread(&self, now: Millis) -> Option<(f64, usize)> {
        let inside = || {
            self.samples
                .iter()
                .filter(move |(t, _)| now.saturating_sub(*t) <= self.span)
                .map(|(_, r)| *r)
        };
        let n = inside().count();
        if n < MIN_SAMPLES {
            return None;
        }
        let mean = inside().sum::<f64>() / n as f64;
        let var = inside().map(|r| (r - mean) * (r - mean)).sum::<f64>() / n as f64;
        Some((var.sqrt(), n))
    }

    /// Forgets every sample (another connection: what the last one saw
    /// says nothing of the line now).
    pub fn clear(&mut self) {
        self.samples.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_steady_line_has_no_spread_a_swinging_one_does() {
        let mut s = RttSpread::new(15_000);
        for i in 0..MIN_SAMPLES as u64 - 1 {
            s.add(i * 100, 40.0);
        }
        assert_eq!(s.spread(700), None, "too few samples");
        s.add(800, 40.0);
        assert_eq!(s.spread(800), Some((0.0, MIN_SAMPLES)));
        let mut w = RttSpread::new(15_000);
        for i in 0..100u64 {
            w.add(i * 100, if i % 2 == 0 { 20.0 } else { 420.0 });
        }
        let (sd, n) = w.spread(9_900).expect("spread");
        assert_eq!(n, 100);
        assert!((sd - 200.0).abs() < 1e-9, "{sd}");
        // Fifteen seconds later the swing has aged out.
        assert_eq!(w.spread(9_900 + 15_001), None);
    }

    #[test]
    fn old_and_nonsense_samples_are_ignored() {
        let mut s = RttSpread::new(1_000);
        s.add(5_000, 10.0);
        s.add(4_000, 900.0);
        s.add(5_001, f64::NAN);
        s.add(5_002, -3.0);
        s.add(5_003, f64::INFINITY);
        assert_eq!(s.samples.len(), 1);
        s.clear();
        assert_eq!(s.spread(5_000), None);
    }

    proptest! {
        #[test]
        fn spread_is_bounded_by_the_range(
            rtts in proptest::collection::vec(any::<f64>(), 0..700),
            step in 0u64..200,
        ) {
            let mut s = RttSpread::new(15_000);
            let mut kept = Vec::new();
            for (i, r) in rtts.iter().enumerate() {
                s.add(i as u64 * step, *r);
                if r.is_finite() && *r >= 0.0 {
                    kept.push(*r);
                }
            }
            prop_assert!(s.samples.len() <= MAX_SAMPLES);
            let now = rtts.len() as u64 * step;
            if let Some((sd, n)) = s.spread(now) {
                prop_assert!(n >= MIN_SAMPLES && n <= kept.len());
                let lo = kept.iter().cloned().fold(f64::INFINITY, f64::min);
                let hi = kept.iter().cloned().fold(0.0, f64::max);
                // Sums of huge finite values may overflow to infinity.
                if hi < 1e150 {
                    prop_assert!(sd.is_finite() && sd >= 0.0);
                    prop_assert!(sd <= (hi - lo) / 2.0 + 1e-6 * hi.max(1.0));
                }
            }
        }
    }
}
