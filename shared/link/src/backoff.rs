//! Reconnect backoff: capped exponential with jitter, so the side that dials
//! (the cloud, or the NAS with `nas-dials`) neither hammers the home line
//! while the other is down nor waits longer than the cap.

use std::time::{Duration, Instant};

pub struct Backoff {
    base: Duration,
    cap: Duration,
    failures: u32,
    next_try: Option<Instant>,
}

impl Backoff {
    pub fn new(base: Duration, cap: Duration) -> Self {
        Self {
            base,
            cap,
            failures: 0,
            next_try: None,
        }
    }

    /// How long until the next attempt is allowed, if it is not yet.
    pub fn wait_left(&self, now: Instant) -> Option<Duration> {
        self.next_try
            .and_then(|t| t.checked_duration_since(now))
            .filter(|d| !d.is_zero())
    }

    /// Records a failed attempt and returns the delay before the next one.
    pub fn failed(&mut self, now: Instant, jitter: f64) -> Duration {
        let exp = self.base.saturating_mul(1u32 << self.failures.min(20));
        let delay = exp.min(self.cap).mul_f64(jitter.clamp(0.5, 1.5));
        self.failures = self.failures.saturating_add(1);
        self.next_try = Some(now + delay);
        delay
    }

    pub fn succeeded(&mut self) {
        self.failures = 0;
        self.next_try = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_caps_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
        let now = Instant::now();
        let d: Vec<_> = (0..8).map(|_| b.failed(now, 1.0)).collect();
        assert_eq!(d[0], Duration::from_millis(100));
        assert_eq!(d[1], Duration::from_millis(200));
        assert_eq!(d[7], Duration::from_secs(2));
        assert!(b.wait_left(now).is_some());
        b.succeeded();
        assert!(b.wait_left(now).is_none());
        let j = b.failed(now, 1.2);
        assert_eq!(j, Duration::from_millis(120));
    }
}
