//! Bandwidth limits: a fixed rate, `off`, or a timetable in the style of
//! rclone's `--bwlimit`, so the nightly run may use the whole line while the
//! day stays quiet for the family:
//!
//! ```text
//! 4MiB                                   always 4 MiB/s
//! 08:00,2MiB 23:00,off                   2 MiB/s from 08:00, unlimited from 23:00 (daily)
//! Mon-08:00,1MiB Sat-00:00,off           weekly: from Monday 08:00 until Saturday
//! ```
//!
//! Each entry holds from its time until the next entry's; before the first
//! entry of a day (or week), the last one still holds. Times are UTC.
//! Rates are bytes per second with binary units; `off` means unlimited.

use crate::units::ByteSize;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
/// Slower than this is a typo, not a limit.
pub const MIN_RATE: u64 = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// 0 = Monday; `None` for a daily entry.
    pub day: Option<u8>,
    pub minute: u16,
    /// Bytes per second; `None` is unlimited.
    pub rate: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BwLimit {
    entries: Vec<Entry>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("bandwidth limit entry {index} ({entry:?}): {reason}")]
pub struct BwLimitError {
    /// 1-based position of the bad entry.
    pub index: usize,
    pub entry: String,
    pub reason: String,
}

fn parse_rate(s: &str) -> Result<Option<u64>, String> {
    if s.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    let b: ByteSize = s
        .parse()
        .map_err(|e: crate::units::UnitError| e.reason.to_string())?;
    if b.0 < MIN_RATE {
        return Err(format!(
            "rate {b} is below the minimum of 1KiB per second (use off for no limit)"
        ));
    }
    Ok(Some(b.0))
}

fn parse_time(s: &str) -> Result<u16, String> {
    let (h, m) = s.split_once(':').ok_or("time must be HH:MM")?;
    if h.len() != 2 || m.len() != 2 {
        return Err("time must be HH:MM".into());
    }
    let (h, m): (u16, u16) = (
        h.parse().map_err(|_| "hour is not a number")?,
        m.parse().map_err(|_| "minute is not a number")?,
    );
    if h > 23 || m > 59 {
        return Err("time must be between 00:00 and 23:59".into());
    }
    Ok(h * 60 + m)
}

impl FromStr for BwLimit {
    type Err = BwLimitError;

    fn from_str(s: &str) -> Result<Self, BwLimitError> {
        let parts: Vec<&str> = s.split_whitespace().collect();
        let err = |i: usize, reason: String| BwLimitError {
            index: i + 1,
            entry: parts.get(i).unwrap_or(&"").to_string(),
            reason,
        };
        if parts.is_empty() {
            return Err(BwLimitError { index: 0, entry: String::new(), reason: "empty: write a rate like 4MiB, off, or a timetable like \"08:00,2MiB 23:00,off\"".into() });
        }
        if parts.len() > 1 && !s.contains(',') {
            // "4 MiB": one rate written with a space, not a timetable.
            let joined: String = parts.concat();
            let hint = if parse_rate(&joined).is_ok() {
                format!("a rate has no space: write {joined}")
            } else {
                "write one rate like 4MiB, off, or a timetable like \"08:00,2MiB 23:00,off\"".into()
            };
            return Err(BwLimitError {
                index: 1,
                entry: s.trim().to_string(),
                reason: hint,
            });
        }
        if parts.len() == 1 && !parts[0].contains(',') {
            let rate = parse_rate(parts[0]).map_err(|r| err(0, r))?;
            return Ok(BwLimit {
                entries: vec![Entry {
                    day: None,
                    minute: 0,
                    rate,
                }],
            });
        }
        let mut entries = Vec::with_capacity(parts.len());
        for (i, p) in parts.iter().enumerate() {
            let (when, rate) = p
                .split_once(',')
                .ok_or_else(|| err(i, "expected TIME,RATE like 08:00,2MiB".into()))?;
            let (day, time) = match when.split_once('-') {
                Some((d, t)) => {
                    let day = DAYS
                        .iter()
                        .position(|x| x.eq_ignore_ascii_case(d))
                        .ok_or_else(|| err(i, format!("unknown day {d:?}: use Mon..Sun")))?;
                    (Some(day as u8), t)
                }
                None => (None, when),
            };
            let minute = parse_time(time).map_err(|r| err(i, r))?;
            let rate = parse_rate(rate).map_err(|r| err(i, r))?;
            let e = Entry { day, minute, rate };
            if let Some(first) = entries.first() {
                let first: &Entry = first;
                if first.day.is_some() != e.day.is_some() {
                    return Err(err(
                        i,
                        "mixes daily and weekday entries: give every entry a day, or none".into(),
                    ));
                }
            }
            if entries
                .iter()
                .any(|x: &Entry| x.day == e.day && x.minute == e.minute)
            {
                return Err(err(i, "a second entry for the same time".into()));
            }
            entries.push(e);
        }
        entries.sort_by_key(|e| (e.day, e.minute));
        Ok(BwLimit { entries })
    }
}

impl fmt::Display for BwLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rate = |r: Option<u64>| r.map_or("off".to_string(), |r| ByteSize(r).to_string());
        if let [e] = self.entries.as_slice() {
            if e.day.is_none() && e.minute == 0 {
                return f.write_str(&rate(e.rate));
            }
        }
        let parts: Vec<String> = self
            .entries
            .iter()
            .map(|e| {
                let day = e
                    .day
                    .map_or(String::new(), |d| format!("{}-", DAYS[d as usize]));
                format!(
                    "{day}{:02}:{:02},{}",
                    e.minute / 60,
                    e.minute % 60,
                    rate(e.rate)
                )
            })
            .collect();
        f.write_str(&parts.join(" "))
    }
}

impl BwLimit {
    pub fn unlimited() -> Self {
        BwLimit {
            entries: vec![Entry {
                day: None,
                minute: 0,
                rate: None,
            }],
        }
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The rate in force at `ms` (UTC epoch milliseconds); `None` is unlimited.
    pub fn rate_at(&self, ms: i64) -> Option<u64> {
        let days = ms.div_euclid(86_400_000);
        let minute = (ms.rem_euclid(86_400_000) / 60_000) as u16;
        // 1970-01-01 was a Thursday (index 3).
        let weekday = (days + 3).rem_euclid(7) as u8;
        let weekly = self.entries.first().is_some_and(|e| e.day.is_some());
        let now = if weekly {
            (Some(weekday), minute)
        } else {
            (None, minute)
        };
        self.entries
            .iter()
            .rev()
            .find(|e| (e.day, e.minute) <= now)
            .or_else(|| self.entries.last())
            .and_then(|e| e.rate)
    }
}

impl Serialize for BwLimit {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for BwLimit {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_rate_with_a_space_says_how_to_write_it() {
        let e = "4 MiB"
            .parse::<super::BwLimit>()
            .expect_err("space")
            .to_string();
        assert!(e.contains("write 4MiB"), "{e}");
        let e = "fast please"
            .parse::<super::BwLimit>()
            .expect_err("words")
            .to_string();
        assert!(e.contains("timetable"), "{e}");
        assert!("4MiB".parse::<super::BwLimit>().is_ok());
        assert!("08:00,2MiB 23:00,off".parse::<super::BwLimit>().is_ok());
    }

    use super::*;
    use proptest::prelude::*;

    const DAY: i64 = 86_400_000;
    const MON_2026_11_16: i64 = 20_773 * DAY;

    #[test]
    fn examples() {
        let b: BwLimit = "08:00,2MiB 23:00,off".parse().unwrap();
        assert_eq!(
            b.rate_at(7 * 3_600_000),
            None,
            "before 08:00 the 23:00 entry still holds"
        );
        assert_eq!(b.rate_at(8 * 3_600_000), Some(2 << 20));
        assert_eq!(b.rate_at(23 * 3_600_000), None);
        let w: BwLimit = "Mon-08:00,1MiB Sat-00:00,off".parse().unwrap();
        assert_eq!(w.rate_at(MON_2026_11_16 + 9 * 3_600_000), Some(1 << 20));
        assert_eq!(w.rate_at(MON_2026_11_16 + 5 * DAY), None, "Saturday");
        assert_eq!(
            w.rate_at(MON_2026_11_16 + 3_600_000),
            None,
            "Monday 01:00: Saturday's entry holds"
        );
        assert_eq!("4MiB".parse::<BwLimit>().unwrap().rate_at(0), Some(4 << 20));
        assert_eq!("off".parse::<BwLimit>().unwrap().rate_at(0), None);
    }

    #[test]
    fn errors_point_at_the_entry() {
        let e = "08:00,2MiB 25:00,1MiB".parse::<BwLimit>().unwrap_err();
        assert_eq!((e.index, e.entry.as_str()), (2, "25:00,1MiB"));
        let e = "08:00,2MB".parse::<BwLimit>().unwrap_err();
        assert!(e.reason.contains("ambiguous"), "{e}");
        let e = "08:00,2MiB Mon-09:00,off".parse::<BwLimit>().unwrap_err();
        assert_eq!(e.index, 2);
        assert!("Xyz-08:00,1MiB"
            .parse::<BwLimit>()
            .unwrap_err()
            .reason
            .contains("unknown day"));
        assert!("08:00".parse::<BwLimit>().is_err());
        assert!("".parse::<BwLimit>().is_err());
        assert!("100"
            .parse::<BwLimit>()
            .unwrap_err()
            .reason
            .contains("minimum"));
    }

    fn entry(weekly: bool) -> impl Strategy<Value = Entry> {
        (0u8..7, 0u16..1440, proptest::option::of(1u64..1 << 20)).prop_map(move |(d, m, r)| Entry {
            day: weekly.then_some(d),
            minute: m,
            rate: r.map(|r| r * 1024),
        })
    }

    proptest! {
        #[test]
        fn display_parse_round_trip_and_reference(weekly in any::<bool>(), es in proptest::collection::vec(entry(false), 1..6), ws in proptest::collection::vec(entry(true), 1..6), t in 0i64..(4000 * DAY)) {
            let mut entries = if weekly { ws } else { es };
            entries.sort_by_key(|e| (e.day, e.minute));
            entries.dedup_by_key(|e| (e.day, e.minute));
            let b = BwLimit { entries: entries.clone() };
            let text = b.to_string();
            let back: BwLimit = text.parse().unwrap();
            prop_assert_eq!(back.rate_at(t), b.rate_at(t), "{}", text);
            // Reference: walk back minute by minute to the latest entry.
            let mut probe = t - t.rem_euclid(60_000);
            let expected = loop {
                let days = probe.div_euclid(DAY);
                let minute = (probe.rem_euclid(DAY) / 60_000) as u16;
                let wd = ((days + 3).rem_euclid(7)) as u8;
                if let Some(e) = entries.iter().find(|e| e.minute == minute && (e.day.is_none() || e.day == Some(wd))) {
                    break e.rate;
                }
                probe -= 60_000;
            };
            prop_assert_eq!(b.rate_at(t), expected);
        }

        #[test]
        fn junk_never_panics(s in ".{0,60}") {
            let _ = s.parse::<BwLimit>();
        }
    }
}
