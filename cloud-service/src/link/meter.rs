//! Bytes sent over the link: a total, and the rate over the last seconds for
//! progress and ETA.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct Meter {
    inner: Mutex<Inner>,
}

struct Inner {
    total: u64,
    /// (when, bytes) of recent sends, the last `span` only.
    recent: VecDeque<(Instant, u64)>,
    /// (minute start, epoch ms; bytes sent in it), the last hour only:
    /// the status page's chart of the rate against the limit.
    minutes: VecDeque<(i64, u64)>,
}

const MINUTE_MS: i64 = 60_000;
/// Minutes of history kept.
const HISTORY: usize = 60;

const SPAN: Duration = Duration::from_secs(10);

impl Default for Meter {
    fn default() -> Self {
        Self {
            inner: Mutex::new(Inner {
                total: 0,
                recent: VecDeque::new(),
                minutes: VecDeque::new(),
            }),
        }
    }
}

impl Meter {
    pub fn add(&self, bytes: u64) {
        let now = Instant::now();
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        g.total += bytes;
        g.recent.push_back((now, bytes));
        let minute = crate::clock::now_ms().div_euclid(MINUTE_MS) * MINUTE_MS;
        match g.minutes.back_mut() {
            Some((m, b)) if *m == minute => *b += bytes,
            _ => g.minutes.push_back((minute, bytes)),
        }
        while g.minutes.len() > HISTORY
            || g.minutes
                .front()
                .is_some_and(|(m, _)| *m <= minute - HISTORY as i64 * MINUTE_MS)
        {
            g.minutes.pop_front();
        }
        while g
            .recent
            .front()
            .is_some_and(|(t, _)| now.duration_since(*t) > SPAN)
        {
            g.recent.pop_front();
        }
    }

    /// The last hour, minute by minute up to `now_ms`'s minute: (minute
    /// start, bytes per second over it); a minute with nothing sent is 0.
    pub fn history(&self, now_ms: i64) -> Vec<(i64, f64)> {
        let g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let end = now_ms.div_euclid(MINUTE_MS) * MINUTE_MS;
        (0..HISTORY as i64)
            .rev()
            .map(|k| {
                let m = end - k * MINUTE_MS;
                let bytes = g
                    .minutes
                    .iter()
                    .find(|(t, _)| *t == m)
                    .map_or(0, |(_, b)| *b);
                (m, bytes as f64 / 60.0)
            })
            .collect()
    }

    pub fn total(&self) -> u64 {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).total
    }

    /// Bytes per second while sending, over the last ten seconds: the bytes
    /// over the span from the first send to the last (at least 50 ms), so
    /// neither the idle time before a transfer nor a short one's brevity
    /// dilutes it. A paced line measures its limit; an unpaced one its
    /// flow-control pace once the QUIC window is full. (bytes, rate); 0
    /// when idle.
    pub fn recent(&self) -> (u64, f64) {
        let now = Instant::now();
        let g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let mut inside = g
            .recent
            .iter()
            .filter(|(t, _)| now.duration_since(*t) <= SPAN)
            .peekable();
        let Some(&&(first, _)) = inside.peek() else {
            return (0, 0.0);
        };
        let (mut bytes, mut last) = (0u64, first);
        for (t, b) in inside {
            bytes += b;
            last = *t;
        }
        (
            bytes,
            bytes as f64 / last.duration_since(first).as_secs_f64().max(0.05),
        )
    }

    /// Bytes per second over the last ten seconds.
    pub fn rate(&self) -> f64 {
        let now = Instant::now();
        let g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let bytes: u64 = g
            .recent
            .iter()
            .filter(|(t, _)| now.duration_since(*t) <= SPAN)
            .map(|(_, b)| b)
            .sum();
        bytes as f64 / SPAN.as_secs_f64()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_is_the_last_hour_by_minute() {
        let m = Meter::default();
        m.add(6_000);
        m.add(1_200);
        let now = crate::clock::now_ms();
        let h = m.history(now);
        assert_eq!(h.len(), HISTORY);
        assert!(h.windows(2).all(|w| w[1].0 - w[0].0 == MINUTE_MS));
        assert_eq!(h[HISTORY - 1].0, now.div_euclid(MINUTE_MS) * MINUTE_MS);
        // The sends fell in the last minute or, across its start, the one
        // before: 7,200 bytes over them, 120 B/s for one minute.
        let sent: f64 = h[HISTORY - 2..].iter().map(|(_, r)| r * 60.0).sum();
        assert!((sent - 7_200.0).abs() < 1e-6, "{sent}");
        assert!(h[..HISTORY - 2].iter().all(|(_, r)| *r == 0.0));
    }
}
