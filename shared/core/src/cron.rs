//! Five-field cron expressions (`minute hour day-of-month month day-of-week`),
//! evaluated in UTC: `0 2 * * *` is 02:00 UTC every day. Fields take `*`,
//! numbers, ranges `a-b`, lists `a,b` and steps `*/n` or `a-b/n`; day of
//! week is 0-7 (0 and 7 are Sunday). As in classic cron, when both day
//! fields are restricted a day matches if either does.

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    text: String,
    minutes: u64,
    hours: u32,
    dom: u32,
    months: u16,
    dow: u8,
    dom_any: bool,
    dow_any: bool,
}

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("cron {expr:?}: {field} field {value:?}: {reason}")]
pub struct CronError {
    pub expr: String,
    pub field: &'static str,
    pub value: String,
    pub reason: String,
}

const FIELDS: [(&str, u32, u32); 5] = [
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day-of-month", 1, 31),
    ("month", 1, 12),
    ("day-of-week", 0, 7),
];

fn parse_field(s: &str, lo: u32, hi: u32) -> Result<u64, String> {
    let mut bits = 0u64;
    for part in s.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, st)) => (
                r,
                st.parse::<u32>()
                    .ok()
                    .filter(|s| *s > 0)
                    .ok_or("step must be a number above 0")?,
            ),
            None => (part, 1),
        };
        let (a, b) = if range == "*" {
            (lo, hi)
        } else if let Some((a, b)) = range.split_once('-') {
            (
                a.parse().map_err(|_| format!("{a:?} is not a number"))?,
                b.parse().map_err(|_| format!("{b:?} is not a number"))?,
            )
        } else {
            let v: u32 = range
                .parse()
                .map_err(|_| format!("{range:?} is not a number"))?;
            (v, if step > 1 { hi } else { v })
        };
        if a < lo || b > hi || a > b {
            return Err(format!("{a}-{b} is outside {lo}-{hi}"));
        }
        let mut v = a;
        while v <= b {
            bits |= 1 << v;
            v += step;
        }
    }
    Ok(bits)
}

impl FromStr for Cron {
    type Err = CronError;

    fn from_str(expr: &str) -> Result<Self, CronError> {
        let parts: Vec<&str> = expr.split_whitespace().collect();
        if parts.len() != 5 {
            return Err(CronError {
                expr: expr.into(),
                field: "expression",
                value: expr.into(),
                reason: format!("has {} fields; write minute hour day-of-month month day-of-week, e.g. \"0 2 * * *\"", parts.len()),
            });
        }
        let mut bits = [0u64; 5];
        for (i, ((name, lo, hi), p)) in FIELDS.iter().zip(&parts).enumerate() {
            bits[i] = parse_field(p, *lo, *hi).map_err(|reason| CronError {
                expr: expr.into(),
                field: name,
                value: (*p).into(),
                reason,
            })?;
        }
        let mut dow = bits[4] as u8;
        if dow & (1 << 7) != 0 {
            dow = (dow | 1) & 0x7f;
        }
        Ok(Cron {
            text: parts.join(" "),
            minutes: bits[0],
            hours: bits[1] as u32,
            dom: bits[2] as u32,
            months: bits[3] as u16,
            dow,
            dom_any: parts[2] == "*",
            dow_any: parts[4] == "*",
        })
    }
}

impl fmt::Display for Cron {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl serde::Serialize for Cron {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Cron {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        <String as serde::Deserialize>::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

impl Cron {
    /// Does the minute starting at `ms` (UTC epoch milliseconds) match?
    pub fn matches(&self, ms: i64) -> bool {
        let days = ms.div_euclid(86_400_000);
        let rem = ms.rem_euclid(86_400_000);
        let (minute, hour) = ((rem / 60_000 % 60) as u32, (rem / 3_600_000) as u32);
        let (_, month, day) = crate::time::civil_from_days(days);
        let weekday = ((days + 4).rem_euclid(7)) as u32; // 1970-01-01 was a Thursday (4, Sunday = 0)
        let dom_ok = self.dom & (1 << day) != 0;
        let dow_ok = self.dow & (1 << weekday) != 0;
        let day_ok = match (self.dom_any, self.dow_any) {
            (true, true) => true,
            (true, false) => dow_ok,
            (false, true) => dom_ok,
            (false, false) => dom_ok || dow_ok,
        };
        self.minutes & (1 << minute) != 0
            && self.hours & (1 << hour) != 0
            && self.months & (1 << month) != 0
            && day_ok
    }

    /// The first matching minute strictly after `ms`, within five years.
    pub fn next_after(&self, ms: i64) -> Option<i64> {
        let mut t = (ms.div_euclid(60_000) + 1) * 60_000;
        let end = t + 5 * 366 * 86_400_000;
        while t < end {
            if self.matches(t) {
                return Some(t);
            }
            // Skip whole days whose date cannot match.
            let day_start = t.div_euclid(86_400_000) * 86_400_000;
            if !self.matches_day(day_start) {
                t = day_start + 86_400_000;
                continue;
            }
            t += 60_000;
        }
        None
    }

    fn matches_day(&self, day_start: i64) -> bool {
        (0..24).any(|h| self.hours & (1 << h) != 0) && {
            let c = Cron {
                minutes: u64::MAX,
                hours: u32::MAX,
                ..self.clone()
            };
            c.matches(day_start)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MIN: i64 = 60_000;
    // 2026-11-22 00:00 UTC, a Sunday.
    const SUN: i64 = 20_779 * 86_400_000;

    #[test]
    fn nightly_and_friends() {
        let c: Cron = "0 2 * * *".parse().unwrap();
        assert_eq!(c.next_after(SUN), Some(SUN + 120 * MIN));
        assert_eq!(
            c.next_after(SUN + 120 * MIN),
            Some(SUN + 86_400_000 + 120 * MIN)
        );
        let every15: Cron = "*/15 * * * *".parse().unwrap();
        assert_eq!(every15.next_after(SUN + MIN), Some(SUN + 15 * MIN));
        let weekdays: Cron = "30 1 * * 1-5".parse().unwrap();
        assert_eq!(
            weekdays.next_after(SUN),
            Some(SUN + 86_400_000 + 90 * MIN),
            "Monday 01:30"
        );
        let sunday7: Cron = "0 0 * * 7".parse().unwrap();
        assert!(sunday7.matches(SUN));
        let feb30: Cron = "0 0 30 2 *".parse().unwrap();
        assert_eq!(feb30.next_after(SUN), None);
    }

    #[test]
    fn errors_name_the_field() {
        let e = "0 25 * * *".parse::<Cron>().unwrap_err();
        assert_eq!((e.field, e.value.as_str()), ("hour", "25"));
        assert_eq!("* * * *".parse::<Cron>().unwrap_err().field, "expression");
        assert_eq!("*/0 * * * *".parse::<Cron>().unwrap_err().field, "minute");
        assert_eq!("0 0 * jan *".parse::<Cron>().unwrap_err().field, "month");
    }

    proptest! {
        /// next_after agrees with a minute-by-minute search.
        #[test]
        fn next_matches_brute_force(m in 0u32..60, h in 0u32..24, dow in proptest::option::of(0u32..7), step in 1u32..30, t in 0i64..(400 * 86_400_000)) {
            let expr = format!("{m}/{step} {h} * * {}", dow.map_or("*".to_string(), |d| d.to_string()));
            let c: Cron = expr.parse().unwrap();
            let next = c.next_after(t).unwrap();
            prop_assert!(next > t && c.matches(next));
            let mut probe = (t.div_euclid(MIN) + 1) * MIN;
            while probe < next {
                prop_assert!(!c.matches(probe), "{} matched {} before {}", expr, probe, next);
                probe += MIN;
            }
        }

        #[test]
        fn junk_never_panics(s in ".{0,40}") {
            let _ = s.parse::<Cron>();
        }
    }
}
