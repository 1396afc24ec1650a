//! UTC calendar arithmetic for timestamps and dates, without a time zone
//! database: market data is UTC by convention and so is everything here.

/// Days since 1970-01-01 for a proleptic Gregorian date (Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (i64::from(m) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The calendar date of a day number.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn digits(s: &str) -> Option<i64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Parses `YYYY-MM-DD` into a day number.
pub fn parse_date(s: &str) -> Option<i64> {
    let mut it = s.split('-');
    let (y, m, d) = (it.next()?, it.next()?, it.next()?);
    if it.next().is_some() || y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return None;
    }
    let (y, m, d) = (digits(y)?, digits(m)? as u32, digits(d)? as u32);
    if !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) {
        return None;
    }
    Some(days_from_civil(y, m, d))
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Parses a UTC instant into epoch milliseconds: `YYYY-MM-DD`,
/// `YYYY-MM-DDTHH:MM:SS[.fff]Z` (or with a space instead of `T`).
pub fn parse_timestamp_ms(s: &str) -> Option<i64> {
    if s.len() == 10 {
        return parse_date(s).map(|d| d * 86_400_000);
    }
    let s = s.strip_suffix('Z').or_else(|| s.strip_suffix("+00:00"))?;
    let (date, time) = s.split_at_checked(10)?;
    let time = time.strip_prefix('T').or_else(|| time.strip_prefix(' '))?;
    let days = parse_date(date)?;
    let (hms, frac) = match time.split_once('.') {
        Some((a, b)) => (a, Some(b)),
        None => (time, None),
    };
    let mut it = hms.split(':');
    let (h, mi, se) = (it.next()?, it.next()?, it.next()?);
    if it.next().is_some() || h.len() != 2 || mi.len() != 2 || se.len() != 2 {
        return None;
    }
    let (h, mi, se) = (digits(h)?, digits(mi)?, digits(se)?);
    if h > 23 || mi > 59 || se > 59 {
        return None;
    }
    let ms = match frac {
        None => 0,
        Some(f) if (1..=3).contains(&f.len()) => digits(f)? * 10_i64.pow(3 - f.len() as u32),
        Some(_) => return None,
    };
    Some(days * 86_400_000 + ((h * 60 + mi) * 60 + se) * 1000 + ms)
}

/// Why an ingested text is not a time its column can keep. The caller
/// names the column.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    /// Neither a date, a date and time, nor a number.
    #[error("not a time (epoch milliseconds, 2026-11-20 10:00:00.123, or RFC 3339 such as 2026-11-20T18:00:00.123+08:00)")]
    Malformed,
    /// More fractional digits than milliseconds, not all zeros: keeping the
    /// rest would change the value, so it is refused rather than rounded.
    #[error("{0} fractional digits: the column keeps milliseconds, and digits past the third must be zeros")]
    TooPrecise(usize),
    /// A zone name: there is no time zone database here, only offsets.
    #[error("unknown time zone {0:?}: give Z, UTC or an offset such as +08:00")]
    UnknownZone(String),
    /// Offset text that is not `+HH:MM`, `+HHMM` or `+HH` in range.
    #[error("malformed UTC offset {0:?}: use Z, +HH:MM or -HH:MM")]
    BadOffset(String),
    /// A date column given a time that is not the start of a UTC day.
    #[error("a date's time part must be midnight UTC (00:00:00), not {0}")]
    NotMidnight(String),
}

impl TimeError {
    /// What was expected instead, for an error of the form "expected ...,
    /// got ...".
    pub fn expected(&self) -> String {
        match self {
            TimeError::Malformed => "epoch milliseconds, 2026-11-20 10:00:00.123 (UTC) or RFC 3339 such as 2026-11-20T18:00:00.123+08:00".into(),
            other => format!("a time the column can keep ({other})"),
        }
    }
}

/// Parses an ingested instant into epoch milliseconds, in the forms
/// collectors send: epoch milliseconds as text, `YYYY-MM-DD` (midnight),
/// ClickHouse's text `YYYY-MM-DD HH:MM:SS[.fff]` (no zone: UTC, as
/// ClickHouse writes a UTC `DateTime64`), RFC 3339 with `Z` or any offset
/// (`T` or a space between date and time, either case). Digits past the
/// millisecond must be zeros.
pub fn parse_instant_ms(s: &str) -> Result<i64, TimeError> {
    if let Ok(ms) = s.parse::<i64>() {
        return Ok(ms);
    }
    if s.len() == 10 {
        return parse_date(s)
            .map(|d| d * 86_400_000)
            .ok_or(TimeError::Malformed);
    }
    let (date, rest) = s.split_at_checked(10).ok_or(TimeError::Malformed)?;
    let days = parse_date(date).ok_or(TimeError::Malformed)?;
    let rest = rest
        .strip_prefix(['T', 't', ' '])
        .ok_or(TimeError::Malformed)?;
    let (hms, mut rest) = rest.split_at_checked(8).ok_or(TimeError::Malformed)?;
    let b = hms.as_bytes();
    if b[2] != b':' || b[5] != b':' {
        return Err(TimeError::Malformed);
    }
    let (h, mi, se) = (
        digits(&hms[0..2]).ok_or(TimeError::Malformed)?,
        digits(&hms[3..5]).ok_or(TimeError::Malformed)?,
        digits(&hms[6..8]).ok_or(TimeError::Malformed)?,
    );
    if h > 23 || mi > 59 || se > 59 {
        return Err(TimeError::Malformed);
    }
    let mut ms = 0;
    if let Some(f) = rest.strip_prefix('.') {
        let n = f.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return Err(TimeError::Malformed);
        }
        let (frac, after) = f.split_at(n);
        if frac.bytes().skip(3).any(|d| d != b'0') {
            return Err(TimeError::TooPrecise(n));
        }
        let kept = &frac[..n.min(3)];
        ms = digits(kept).ok_or(TimeError::Malformed)? * 10_i64.pow(3 - kept.len() as u32);
        rest = after;
    }
    let offset_ms = offset_ms(rest)?;
    Ok(days * 86_400_000 + ((h * 60 + mi) * 60 + se) * 1000 + ms - offset_ms)
}

/// The offset east of UTC that `zone` (what follows the time) names.
fn offset_ms(zone: &str) -> Result<i64, TimeError> {
    match zone {
        "" | "Z" | "z" | "UTC" | " UTC" => return Ok(0),
        _ => {}
    }
    let Some(sign) = zone.strip_prefix(['+', '-']).map(|_| zone.as_bytes()[0]) else {
        let name = zone.trim();
        return Err(if name.starts_with(|c: char| c.is_ascii_alphabetic()) {
            TimeError::UnknownZone(name.to_string())
        } else {
            TimeError::BadOffset(zone.to_string())
        });
    };
    let bad = || TimeError::BadOffset(zone.to_string());
    let body = &zone[1..];
    let (h, m) = match body.len() {
        2 => (body, "00"),
        4 => body.split_at_checked(2).ok_or_else(bad)?,
        5 if body.as_bytes()[2] == b':' => (&body[..2], &body[3..]),
        _ => return Err(bad()),
    };
    let (h, m) = (digits(h).ok_or_else(bad)?, digits(m).ok_or_else(bad)?);
    if h > 23 || m > 59 {
        return Err(bad());
    }
    let ms = (h * 60 + m) * 60_000;
    Ok(if sign == b'-' { -ms } else { ms })
}

/// Parses an ingested date into a day number: `YYYY-MM-DD`, or any form
/// [`parse_instant_ms`] takes whose instant is a UTC midnight (a date
/// column written from a midnight `DateTime`); another time is refused,
/// since keeping only its date would change the value.
pub fn parse_day(s: &str) -> Result<i64, TimeError> {
    if let Some(d) = parse_date(s) {
        return Ok(d);
    }
    if s.len() <= 10 {
        return Err(TimeError::Malformed);
    }
    let ms = parse_instant_ms(s)?;
    if ms.rem_euclid(86_400_000) != 0 {
        return Err(TimeError::NotMidnight(format_timestamp_ms(ms)));
    }
    Ok(ms.div_euclid(86_400_000))
}

/// Formats epoch milliseconds as `YYYY-MM-DDTHH:MM:SS.fffZ`.
pub fn format_timestamp_ms(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let rem = ms.rem_euclid(86_400_000);
    let (y, m, d) = civil_from_days(days);
    let (h, mi, s, f) = (
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1000 % 60,
        rem % 1000,
    );
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{f:03}Z")
}

pub fn format_date(days: i64) -> String {
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
#[path = "time_tests.rs"]
mod tests;
