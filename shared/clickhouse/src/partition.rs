//! What a table's partition key says about time, read from the server.
//!
//! Windows are UTC; a partition key need not be. `toYYYYMMDD(toDateTime(
//! intDiv(ts, 1000)))` on a server in `America/New_York` cuts days at local
//! midnight, so the partition "20261101" holds hours of 2 November UTC too,
//! and dropping it for the UTC window of 1 November would delete rows that
//! were never archived. Real deployments also key by more than time
//! (`(toYYYYMM(ts), exchange)`). So a partition is dropped only where the key
//! proves that every row it can ever hold lies inside the window: a UTC day or
//! month bucket of the time column, alone or as one element of a tuple.
//! Every other key (none, a local-zone day, a hash, ...) is cleared by a
//! predicate delete instead. Pure text functions, tested without a server.

use hotcold_core::schema::Window;

/// The time buckets a key can be proven to cut at UTC boundaries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    Day,
    Month,
}

/// A table's partition key as the server prints it, and where (if
/// anywhere) in it a UTC bucket of the time column sits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionKey {
    /// `system.tables.partition_key`, unescaped; empty or `tuple()` for none.
    pub text: String,
    /// The element of the key's tuple (0 for a key that is not a tuple)
    /// that is a UTC day or month of the time column.
    pub utc_bucket: Option<(usize, Bucket)>,
}

/// Zone names that are UTC under another spelling.
pub fn is_utc(zone: &str) -> bool {
    matches!(
        zone.trim(),
        "UTC"
            | "Etc/UTC"
            | "UCT"
            | "Etc/UCT"
            | "Universal"
            | "Etc/Universal"
            | "Zulu"
            | "Etc/Zulu"
            | "GMT"
            | "Etc/GMT"
            | "GMT0"
            | "Etc/GMT0"
            | "Greenwich"
            | "Etc/Greenwich"
    )
}

impl PartitionKey {
    /// `key`: the partition key text; `time_type`: the time column's type as
    /// `system.columns` prints it; `server_tz`: `SELECT timezone()`.
    pub fn parse(key: &str, time_column: &str, time_type: &str, server_tz: &str) -> Self {
        let elems = split_tuple(key);
        let utc_bucket = elems
            .iter()
            .enumerate()
            .find_map(|(i, e)| bucket_of(e, time_column, time_type, server_tz).map(|b| (i, b)));
        Self {
            text: key.to_string(),
            utc_bucket,
        }
    }

    /// The UTC range that every row of the partition lies in, when the key
    /// proves one. `partition`: `system.parts.partition`, unescaped, e.g.
    /// `20261101` or `(202611,'binance')`.
    pub fn span(&self, partition: &str) -> Option<Window> {
        let (i, bucket) = self.utc_bucket?;
        let values = split_tuple(partition);
        let v = values.get(i)?.trim();
        let w = crate::partition_window(v)?;
        // The value's length must match the bucket, or it is not what the
        // key says it is.
        let want_len = match bucket {
            Bucket::Day => 8,
            Bucket::Month => 6,
        };
        (v.len() == want_len).then_some(w)
    }
}

/// The elements of a tuple expression or literal (`(a, f(b, c), 'x,y')` →
/// `a`, `f(b, c)`, `'x,y'`); a lone expression is one element.
pub fn split_tuple(s: &str) -> Vec<String> {
    let s = s.trim();
    let inner = match s.strip_prefix('(').and_then(|r| r.strip_suffix(')')) {
        Some(inner) if encloses_all(s) => inner,
        _ => return vec![s.to_string()],
    };
    let mut out = Vec::new();
    let mut cur = String::new();
    for (ch, depth, quoted) in scan(inner) {
        if ch == ',' && depth == 0 && !quoted {
            out.push(std::mem::take(&mut cur).trim().to_string());
        } else {
            cur.push(ch);
        }
    }
    out.push(cur.trim().to_string());
    out
}

/// Does the opening parenthesis at 0 close at the very end?
fn encloses_all(s: &str) -> bool {
    let chars = scan(s);
    let n = chars.len();
    let closes_early = chars
        .iter()
        .enumerate()
        .any(|(i, &(ch, depth, quoted))| ch == ')' && !quoted && depth == 1 && i + 1 < n);
    let balanced = chars.iter().fold(0i32, |d, &(ch, _, quoted)| match ch {
        '(' if !quoted => d + 1,
        ')' if !quoted => d - 1,
        _ => d,
    }) == 0;
    !closes_early && balanced
}

/// Each character with the bracket depth before it and whether it belongs
/// to a quoted string (quotes included; `\'` escapes inside one).
fn scan(s: &str) -> Vec<(char, i32, bool)> {
    let (mut depth, mut quote, mut escaped) = (0i32, false, false);
    let mut out = Vec::with_capacity(s.len());
    for ch in s.chars() {
        if quote {
            out.push((ch, depth, true));
            if escaped {
                escaped = false;
            } else if ch == '\\' {
                escaped = true;
            } else if ch == '\'' {
                quote = false;
            }
            continue;
        }
        out.push((ch, depth, ch == '\''));
        match ch {
            '\'' => quote = true,
            '(' | '[' => depth += 1,
            ')' | ']' => depth -= 1,
            _ => {}
        }
    }
    out
}

/// Is `expr` a UTC day or month of the time column?
fn bucket_of(expr: &str, ts: &str, time_type: &str, server_tz: &str) -> Option<Bucket> {
    let e: String = expr.chars().filter(|c| !c.is_whitespace()).collect();
    let (bucket, arg) = if let Some(r) = e.strip_prefix("toYYYYMMDD(") {
        (Bucket::Day, r.strip_suffix(')')?)
    } else if let Some(r) = e.strip_prefix("toYYYYMM(") {
        (Bucket::Month, r.strip_suffix(')')?)
    } else {
        return None;
    };
    // `f(x, 'Zone')`: the zone given wins over the column's and the server's.
    let (x, zone) = match split_last_zone(arg) {
        Some((x, z)) => (x, Some(z)),
        None => (arg, None),
    };
    let tz_of_x = if x == ts {
        column_zone(time_type)
    } else {
        datetime_of_ms(x, ts)
    }?
    .unwrap_or_else(|| server_tz.to_string());
    let zone = zone.unwrap_or(tz_of_x);
    is_utc(&zone).then_some(bucket)
}

/// `x, 'Zone'` → (`x`, `Zone`), the zone being a plain quoted name.
fn split_last_zone(arg: &str) -> Option<(&str, String)> {
    let body = arg.strip_suffix('\'')?;
    let open = body.rfind('\'')?;
    let zone = &body[open + 1..];
    let x = body[..open].strip_suffix(',')?;
    (!zone.is_empty()
        && zone
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/_+-".contains(c)))
    .then(|| (x, zone.to_string()))
}

/// `toDateTime(intDiv(ts,1000))` (→ Some(None): the server's zone) or
/// `toDateTime(intDiv(ts,1000),'Zone')` (→ Some(Some(Zone))) over an Int64 of
/// milliseconds.
fn datetime_of_ms(x: &str, ts: &str) -> Option<Option<String>> {
    let inner = x.strip_prefix("toDateTime(")?.strip_suffix(')')?;
    let secs = format!("intDiv({ts},1000)");
    if inner == secs {
        return Some(None);
    }
    let (rest, zone) = split_last_zone(inner)?;
    (rest == secs).then_some(Some(zone))
}

/// The zone of a date-time column type: `DateTime64(3, 'UTC')` →
/// Some(Some(UTC)); `DateTime64(3)` or `DateTime` → Some(None) (the
/// server's); any other type → None.
fn column_zone(ty: &str) -> Option<Option<String>> {
    let t: String = ty.chars().filter(|c| !c.is_whitespace()).collect();
    if t == "DateTime" {
        return Some(None);
    }
    let inner = t
        .strip_prefix("DateTime64(")
        .or_else(|| t.strip_prefix("DateTime("))?
        .strip_suffix(')')?;
    if let Some((_, zone)) = split_last_zone(inner) {
        return Some(Some(zone));
    }
    // DateTime('Zone'): the zone alone; DateTime64(3): none.
    match inner.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')) {
        Some(z) => Some(Some(z.to_string())),
        None => inner.bytes().all(|b| b.is_ascii_digit()).then_some(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::strategy::Strategy;

    fn key(k: &str, ty: &str, tz: &str) -> PartitionKey {
        PartitionKey::parse(k, "ts", ty, tz)
    }

    #[test]
    fn keys_we_create_are_utc_buckets() {
        let k = key(
            "toYYYYMMDD(toDateTime(intDiv(ts, 1000), 'UTC'))",
            "Int64",
            "America/New_York",
        );
        assert_eq!(k.utc_bucket, Some((0, Bucket::Day)));
        let w = k.span("20261101").unwrap();
        assert_eq!(
            hotcold_core::time::format_timestamp_ms(w.start),
            "2026-11-01T00:00:00.000Z"
        );
        let m = key(
            "toYYYYMM(ts, 'UTC')",
            "DateTime64(3, 'Asia/Kolkata')",
            "Asia/Kolkata",
        );
        assert_eq!(m.utc_bucket, Some((0, Bucket::Month)));
        let m = key("toYYYYMM(ts)", "DateTime64(3, 'UTC')", "Asia/Kolkata");
        assert_eq!(m.utc_bucket, Some((0, Bucket::Month)));
    }

    #[test]
    fn local_zone_keys_are_not() {
        for (k, ty, tz) in [
            (
                "toYYYYMMDD(toDateTime(intDiv(ts, 1000)))",
                "Int64",
                "America/New_York",
            ),
            ("toYYYYMMDD(ts)", "DateTime64(3)", "Asia/Shanghai"),
            ("toYYYYMMDD(ts)", "DateTime64(3, 'Asia/Kolkata')", "UTC"),
            (
                "toYYYYMMDD(ts, 'Asia/Kolkata')",
                "DateTime64(3, 'UTC')",
                "UTC",
            ),
            (
                "toYYYYMMDD(toDateTime(intDiv(ts, 1000), 'Europe/Paris'))",
                "Int64",
                "UTC",
            ),
            (
                "toYYYYMMDD(toDateTime(intDiv(other, 1000), 'UTC'))",
                "Int64",
                "UTC",
            ),
            ("intDiv(ts, 86400000)", "Int64", "UTC"),
            ("toYYYYMMDD(ts)", "Int64", "UTC"),
            ("tuple()", "Int64", "UTC"),
            ("", "Int64", "UTC"),
        ] {
            assert_eq!(key(k, ty, tz).utc_bucket, None, "{k} {ty} {tz}");
        }
        // On a UTC server the zone-less form is a UTC day.
        assert_eq!(
            key("toYYYYMMDD(toDateTime(intDiv(ts, 1000)))", "Int64", "UTC").utc_bucket,
            Some((0, Bucket::Day))
        );
    }

    #[test]
    fn tuple_keys_find_their_time_element() {
        let k = key(
            "(exchange, toYYYYMM(toDateTime(intDiv(ts, 1000), 'UTC')))",
            "Int64",
            "Asia/Shanghai",
        );
        assert_eq!(k.utc_bucket, Some((1, Bucket::Month)));
        let w = k.span("('o\\'k, (x)',202611)").unwrap();
        assert_eq!(
            hotcold_core::time::format_timestamp_ms(w.end),
            "2026-12-01T00:00:00.000Z"
        );
        assert_eq!(
            k.span("('binance',20261101)"),
            None,
            "a day where a month belongs"
        );
        assert_eq!(k.span("garbage"), None);
        assert_eq!(
            split_tuple("(toYYYYMM(toDateTime(intDiv(ts, 1000))), exchange)"),
            vec!["toYYYYMM(toDateTime(intDiv(ts, 1000)))", "exchange"]
        );
        assert_eq!(split_tuple("(a) + (b)"), vec!["(a) + (b)"]);
    }

    proptest::proptest! {
        /// Whatever a server prints, reading it never panics, and a tuple
        /// of plain elements splits back into them.
        #[test]
        fn any_text_is_read_without_panic(key in ".{0,80}", value in ".{0,80}") {
            let k = PartitionKey::parse(&key, "ts", "Int64", "UTC");
            let _ = k.span(&value);
            let _ = split_tuple(&value);
        }

        #[test]
        fn tuples_split_into_their_elements(
            elems in proptest::collection::vec(
                proptest::prop_oneof![
                    "[a-z0-9]{1,6}",
                    // A string literal: commas, brackets and escaped quotes inside.
                    proptest::collection::vec(proptest::prop_oneof!["[a-z,() ]", proptest::strategy::Just("\\'".to_string())], 0..6)
                        .prop_map(|parts| format!("'{}'", parts.concat())),
                ],
                2..5,
            )
        ) {
            let text = format!("({})", elems.join(", "));
            proptest::prop_assert_eq!(split_tuple(&text), elems);
        }
    }
}
