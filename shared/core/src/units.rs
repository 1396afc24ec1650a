//! Typed config values: byte sizes and durations with unambiguous units, so a
//! bad value is an error at load time, never a surprise at run time.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("{input:?}: {reason}")]
pub struct UnitError {
    pub input: String,
    pub reason: &'static str,
}

fn split_number(s: &str) -> Option<(u64, &str)> {
    let s = s.trim();
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let n = s[..end].parse().ok()?;
    Some((n, s[end..].trim()))
}

/// A size in bytes, written with a binary suffix: `512`, `64KiB`, `2MiB`, `1GiB`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ByteSize(pub u64);

impl FromStr for ByteSize {
    type Err = UnitError;

    fn from_str(s: &str) -> Result<Self, UnitError> {
        let e = |reason| UnitError {
            input: s.to_string(),
            reason,
        };
        let (n, unit) = split_number(s).ok_or_else(|| {
            e("expected a whole number with an optional unit B, KiB, MiB, GiB or TiB")
        })?;
        let mult: u64 = match unit {
            "" | "B" => 1,
            "KiB" => 1 << 10,
            "MiB" => 1 << 20,
            "GiB" => 1 << 30,
            "TiB" => 1 << 40,
            "KB" | "MB" | "GB" | "TB" | "kB" | "k" | "M" | "G" => {
                return Err(e(
                    "ambiguous unit: write KiB, MiB, GiB or TiB (powers of 1024)",
                ))
            }
            _ => return Err(e("unknown unit: use B, KiB, MiB, GiB or TiB")),
        };
        n.checked_mul(mult)
            .map(ByteSize)
            .ok_or_else(|| e("too large"))
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let units = [
            (1u64 << 40, "TiB"),
            (1 << 30, "GiB"),
            (1 << 20, "MiB"),
            (1 << 10, "KiB"),
        ];
        for (m, u) in units {
            if self.0 >= m && self.0.is_multiple_of(m) {
                return write!(f, "{}{u}", self.0 / m);
            }
        }
        write!(f, "{}B", self.0)
    }
}

/// A duration written as `500ms`, `30s`, `15m`, `12h`, `7d` or `5y` (365 days a year).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Span(pub Duration);

impl FromStr for Span {
    type Err = UnitError;

    fn from_str(s: &str) -> Result<Self, UnitError> {
        let e = |reason| UnitError {
            input: s.to_string(),
            reason,
        };
        let (n, unit) =
            split_number(s).ok_or_else(|| e("expected a number with a unit ms, s, m, h or d"))?;
        let ms: u64 = match unit {
            "ms" => 1,
            "s" => 1000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "y" => 365 * 86_400_000,
            "" => return Err(e("missing unit: write ms, s, m, h, d or y")),
            _ => return Err(e("unknown unit: use ms, s, m, h, d or y")),
        };
        n.checked_mul(ms)
            .map(|ms| Span(Duration::from_millis(ms)))
            .ok_or_else(|| e("too large"))
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        for (m, u) in [
            (86_400_000, "d"),
            (3_600_000, "h"),
            (60_000, "m"),
            (1000, "s"),
        ] {
            if ms >= m && ms.is_multiple_of(m) {
                return write!(f, "{}{u}", ms / m);
            }
        }
        write!(f, "{ms}ms")
    }
}

macro_rules! serde_via_str {
    ($t:ty) => {
        impl Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                #[derive(Deserialize)]
                #[serde(untagged)]
                enum Raw {
                    N(u64),
                    S(String),
                }
                match Raw::deserialize(d)? {
                    Raw::N(n) => n.to_string().parse().map_err(serde::de::Error::custom),
                    Raw::S(s) => s.parse().map_err(serde::de::Error::custom),
                }
            }
        }
    };
}
serde_via_str!(ByteSize);
serde_via_str!(Span);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn sizes() {
        assert_eq!("64KiB".parse(), Ok(ByteSize(65536)));
        assert_eq!("2 MiB".parse(), Ok(ByteSize(2 << 20)));
        assert_eq!("100".parse(), Ok(ByteSize(100)));
        assert!("2MB"
            .parse::<ByteSize>()
            .unwrap_err()
            .reason
            .contains("ambiguous"));
        assert!("x".parse::<ByteSize>().is_err());
        assert!("7d".parse::<Span>().is_ok());
        assert!("7"
            .parse::<Span>()
            .unwrap_err()
            .reason
            .contains("missing unit"));
    }

    proptest! {
        #[test]
        fn display_round_trips(n in any::<u32>()) {
            let b = ByteSize(u64::from(n) * 1024);
            prop_assert_eq!(b.to_string().parse::<ByteSize>(), Ok(b));
            let s = Span(Duration::from_millis(u64::from(n)));
            prop_assert_eq!(s.to_string().parse::<Span>(), Ok(s));
        }
    }
}
