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
}

const SPAN: Duration = Duration::from_secs(10);

impl Default for Meter {
    fn default() -> Self {
        Self {
            inner: Mutex::new(Inner {
                total: 0,
                recent: VecDeque::new(),
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
        while g
            .recent
            .front()
            .is_some_and(|(t, _)| now.duration_since(*t) > SPAN)
        {
            g.recent.pop_front();
        }
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
