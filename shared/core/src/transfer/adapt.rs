//! The chunk size of the next batch, from what the line did lately.
//!
//! A chunk is the unit a cut costs (the gateway acknowledges whole chunks;
//! the in-flight window is counted in them) and the unit of per-chunk work
//! (a BLAKE3 check, a staged file, an acknowledgement round trip). On a
//! slow or lossy line small chunks keep what a cut wastes to a few seconds
//! of the line; on a fast one large chunks keep the per-chunk work out of
//! the way. So a chunk aims at about one second of the measured goodput
//! (at least four round trips of it), shrinks with packet loss, and stays
//! within the configured bounds. No measurement yet: the largest.

/// What the line did lately.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LineSample {
    /// Bytes per second delivered; 0 when nothing was sent lately.
    pub goodput: f64,
    /// Smoothed round trip in milliseconds; 0 when unknown.
    pub rtt_ms: f64,
    /// Share of packets lost, 0 to 1.
    pub loss: f64,
}

/// How long a chunk should take on the line, at least.
const TARGET_SECS: f64 = 1.0;
/// Round trips a chunk should span, at least.
const TARGET_RTTS: f64 = 4.0;

/// The chunk size for `line` within `min..=max` (a power of two unless a
/// bound is not one).
pub fn chunk_for(line: &LineSample, min: u32, max: u32) -> u32 {
    let (min, max) = (min.min(max), max.max(min));
    if !(line.goodput.is_finite() && line.goodput > 0.0) {
        return max;
    }
    let rtt = if line.rtt_ms.is_finite() {
        line.rtt_ms.max(0.0)
    } else {
        0.0
    };
    let secs = TARGET_SECS.max(TARGET_RTTS * rtt / 1000.0);
    let loss = if line.loss.is_finite() {
        line.loss.clamp(0.0, 1.0)
    } else {
        0.0
    };
    // 1 % loss halves the chunk, 3 % and more keep a tenth of it.
    let keep = (1.0 - (loss * 50.0).min(0.9)).max(0.1);
    let want = line.goodput * secs * keep;
    if want >= f64::from(max) {
        return max;
    }
    if want <= f64::from(min) {
        return min;
    }
    // Round down to a power of two.
    let p = 1u32 << (31 - (want as u32).leading_zeros());
    p.clamp(min, max)
}

/// How long a cut (a connection that died and was opened again) counts
/// against the chunk size.
pub const CUTS_FRESH_MS: u64 = 5 * 60 * 1000;

/// `size` after `cuts` recent cuts of the line: halved for each (at most
/// four times), not below `min`. A cut costs every chunk in flight, and
/// goodput and loss say nothing of cuts: on a line cut every few seconds
/// (bench_line) fixed 64 KiB chunks resent 1.8 % and adaptive ones, sized
/// from goodput alone, 5.1 %.
pub fn after_cuts(size: u32, cuts: usize, min: u32) -> u32 {
    (size >> cuts.min(4)).max(min.min(size))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_recent_cut_halves_the_chunk_down_to_the_minimum() {
        assert_eq!(after_cuts(MAX, 0, MIN), MAX);
        assert_eq!(after_cuts(MAX, 1, MIN), MAX / 2);
        assert_eq!(after_cuts(MAX, 3, MIN), MAX / 8);
        assert_eq!(after_cuts(MAX, 40, MIN), MAX / 16);
        assert_eq!(after_cuts(128 << 10, 3, MIN), MIN);
        assert_eq!(after_cuts(MIN, 2, 4 * MIN), MIN, "never above the size");
    }
    use proptest::prelude::*;

    const MIN: u32 = 64 << 10;
    const MAX: u32 = 4 << 20;

    #[test]
    fn slow_lines_get_small_chunks_fast_ones_large() {
        let at = |goodput: f64, loss: f64| {
            chunk_for(
                &LineSample {
                    goodput,
                    rtt_ms: 30.0,
                    loss,
                },
                MIN,
                MAX,
            )
        };
        assert_eq!(at(0.0, 0.0), MAX, "nothing measured yet");
        assert_eq!(at(256.0 * 1024.0, 0.0), 256 << 10);
        assert_eq!(at(100e6, 0.0), MAX);
        assert_eq!(at(10_000.0, 0.0), MIN);
        assert!(at(1e6, 0.02) < at(1e6, 0.0), "loss shrinks it");
        // A long round trip: at least four of them per chunk.
        let far = chunk_for(
            &LineSample {
                goodput: 256.0 * 1024.0,
                rtt_ms: 600.0,
                loss: 0.0,
            },
            MIN,
            MAX,
        );
        assert_eq!(far, 512 << 10);
    }

    proptest! {
        #[test]
        fn within_bounds_and_monotone(
            g in 0.0f64..1e9, rtt in 0.0f64..5000.0, loss in 0.0f64..1.0,
            more in 0.0f64..1e9, worse in 0.0f64..1.0,
            min_exp in 12u32..20, span in 0u32..6,
        ) {
            let (min, max) = (1u32 << min_exp, 1u32 << (min_exp + span));
            let line = LineSample { goodput: g, rtt_ms: rtt, loss };
            let c = chunk_for(&line, min, max);
            prop_assert!((min..=max).contains(&c));
            if g > 0.0 {
                let faster = chunk_for(&LineSample { goodput: g + more, ..line }, min, max);
                prop_assert!(faster >= c);
                let lossier = chunk_for(&LineSample { loss: (loss + worse).min(1.0), ..line }, min, max);
                prop_assert!(lossier <= c);
            }
        }

        #[test]
        fn nonsense_samples_never_panic(g in any::<f64>(), rtt in any::<f64>(), loss in any::<f64>()) {
            let c = chunk_for(&LineSample { goodput: g, rtt_ms: rtt, loss }, MIN, MAX);
            prop_assert!((MIN..=MAX).contains(&c));
        }
    }
}
