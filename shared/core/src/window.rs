//! The time windows the whole pipeline works in: half-open ranges of
//! milliseconds, archived a UTC day at a time.

use serde::{Deserialize, Serialize};
use std::fmt;

/// One day in milliseconds: the default archive window and partition.
pub const DAY_MS: i64 = 86_400_000;

/// A half-open time range `[start, end)` in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Window {
    pub start: i64,
    pub end: i64,
}

impl Window {
    pub fn new(start: i64, end: i64) -> Self {
        Self { start, end }
    }

    pub fn is_empty(&self) -> bool {
        self.start >= self.end
    }

    pub fn contains(&self, ts: i64) -> bool {
        self.start <= ts && ts < self.end
    }

    /// Does `other` lie wholly inside this window?
    pub fn covers(&self, other: &Window) -> bool {
        self.start <= other.start && other.end <= self.end
    }

    /// The day-aligned window holding `ts`.
    pub fn day_of(ts: i64) -> Self {
        let start = ts.div_euclid(DAY_MS) * DAY_MS;
        Self {
            start,
            end: start + DAY_MS,
        }
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}, {})", self.start, self.end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_windows() {
        assert_eq!(Window::day_of(0), Window::new(0, DAY_MS));
        assert_eq!(Window::day_of(-1), Window::new(-DAY_MS, 0));
        assert_eq!(Window::day_of(DAY_MS + 5), Window::new(DAY_MS, 2 * DAY_MS));
    }
}
