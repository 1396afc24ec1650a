//! One cell, and its conversion from and to JSON under a logical type.

use crate::schema::LogicalType;
use crate::time;

/// A cell in its physical form (see [`crate::PhysicalKind`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    I64(i64),
    U64(u64),
    F64(f64),
    Bool(bool),
    Str(String),
}

/// Why a JSON value does not fit a column; the caller adds the column name.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("expected {expected}, got {got}")]
pub struct ValueError {
    pub expected: String,
    pub got: String,
}

fn err(expected: impl Into<String>, got: &serde_json::Value) -> ValueError {
    ValueError::new(expected, got.to_string())
}

impl ValueError {
    /// `got` is the offending JSON text, cut at 60 bytes (on a character
    /// boundary) so a huge value does not fill the error.
    pub(crate) fn new(expected: impl Into<String>, mut got: String) -> Self {
        if got.len() > 60 {
            let cut = (0..=60)
                .rev()
                .find(|i| got.is_char_boundary(*i))
                .unwrap_or(0);
            got.truncate(cut);
            got.push('…');
        }
        ValueError {
            expected: expected.into(),
            got,
        }
    }
}

/// Parses a decimal literal ("-12.5", "3", "1e-3" is rejected) into an
/// integer scaled by 10^scale, exactly: no float rounding on the way.
pub fn parse_decimal(s: &str, scale: u8) -> Option<i64> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    if !int.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Extra fractional digits must be zeros, or precision would be lost.
    let scale = usize::from(scale);
    let (keep, rest) = frac.split_at(frac.len().min(scale));
    if !rest.bytes().all(|b| b == b'0') {
        return None;
    }
    let mut v: i128 = 0;
    for b in int.bytes().chain(keep.bytes()) {
        v = v.checked_mul(10)?.checked_add(i128::from(b - b'0'))?;
        if v > i128::from(i64::MAX) + 1 {
            return None;
        }
    }
    for _ in keep.len()..scale {
        v = v.checked_mul(10)?;
    }
    let v = if neg { -v } else { v };
    i64::try_from(v).ok()
}

/// What a decimal cell should have been, for the error when
/// [`parse_decimal`] refused `s`: the reason, not only the shape.
pub fn decimal_expected(s: &str, scale: u8) -> String {
    let m = format_decimal(i64::MAX, scale);
    if s.contains(['e', 'E']) {
        return format!(
            "a decimal({scale}) within -{m}..={m} with at most {scale} fractional digits"
        );
    }
    let body = s.trim_start_matches(['-', '+']);
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    if (int.is_empty() && frac.is_empty()) || !digits(int) || !digits(frac) {
        return format!("a decimal number like 12.5 (at most {scale} fractional digits)");
    }
    if frac.len() > usize::from(scale) && frac.bytes().skip(usize::from(scale)).any(|b| b != b'0') {
        return format!("at most {scale} fractional digits (more would be rounded away)");
    }
    format!("a decimal({scale}) within -{m}..={m} (a 64-bit integer of 10^-{scale} units)")
}

pub fn format_decimal(v: i64, scale: u8) -> String {
    if scale == 0 {
        return v.to_string();
    }
    let scale = usize::from(scale);
    let digits = v.unsigned_abs().to_string();
    let padded = format!("{digits:0>width$}", width = scale + 1);
    let (int, frac) = padded.split_at(padded.len() - scale);
    format!("{}{int}.{frac}", if v < 0 { "-" } else { "" })
}

/// "00", "01", ... "99": two digits per division when writing numbers.
const PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

/// Appends [`format_decimal`]'s text to `out` without allocating: what an
/// answer writes for each decimal cell.
pub fn write_decimal(v: i64, scale: u8, out: &mut Vec<u8>) {
    // The digits of |v|, written from the end of the buffer.
    let mut buf = [b'0'; 20];
    let mut at = buf.len();
    let mut x = v.unsigned_abs();
    while x >= 100 {
        let d = (x % 100) as usize * 2;
        x /= 100;
        at -= 2;
        buf[at..at + 2].copy_from_slice(&PAIRS[d..d + 2]);
    }
    if x >= 10 {
        let d = x as usize * 2;
        at -= 2;
        buf[at..at + 2].copy_from_slice(&PAIRS[d..d + 2]);
    } else {
        at -= 1;
        buf[at] = b'0' + x as u8;
    }
    if v < 0 {
        out.push(b'-');
    }
    let scale = usize::from(scale);
    let digits = &buf[at..];
    if scale == 0 {
        out.extend_from_slice(digits);
        return;
    }
    // At least one digit before the point; zeros pad the fraction.
    if digits.len() > scale {
        let (int, frac) = digits.split_at(digits.len() - scale);
        out.extend_from_slice(int);
        out.push(b'.');
        out.extend_from_slice(frac);
    } else {
        out.extend_from_slice(b"0.");
        out.resize(out.len() + scale - digits.len(), b'0');
        out.extend_from_slice(digits);
    }
}

impl Value {
    /// Converts a JSON value to a cell of type `ty`, checking its range.
    pub fn from_json(ty: LogicalType, v: &serde_json::Value) -> Result<Value, ValueError> {
        use serde_json::Value as J;
        match ty {
            LogicalType::TimestampMs => match v {
                J::Number(n) => n
                    .as_i64()
                    .map(Value::I64)
                    .ok_or_else(|| err("integer milliseconds", v)),
                J::String(s) => time::parse_instant_ms(s)
                    .map(Value::I64)
                    .map_err(|e| ValueError::new(e.expected(), v.to_string())),
                _ => Err(err("a timestamp", v)),
            },
            LogicalType::Date => {
                let d = match v {
                    J::String(s) => match time::parse_day(s) {
                        Ok(d) => Some(d),
                        Err(time::TimeError::Malformed) => None,
                        Err(e) => return Err(ValueError::new(e.expected(), v.to_string())),
                    },
                    J::Number(n) => n.as_i64(),
                    _ => None,
                };
                let (lo, hi) = ty.i64_range();
                d.filter(|d| (lo..=hi).contains(d))
                    .map(Value::I64)
                    .ok_or_else(|| err("a date YYYY-MM-DD between 1970-01-01 and 2149-06-06", v))
            }
            LogicalType::Decimal { scale } => {
                let s = match v {
                    J::Number(n) => n.to_string(),
                    J::String(s) => s.clone(),
                    _ => {
                        return Err(err(
                            format!("a decimal with at most {scale} fractional digits"),
                            v,
                        ))
                    }
                };
                parse_decimal(&s, scale)
                    .map(Value::I64)
                    .ok_or_else(|| err(decimal_expected(&s, scale), v))
            }
            LogicalType::Int8 | LogicalType::Int16 | LogicalType::Int32 | LogicalType::Int64 => {
                let (lo, hi) = ty.i64_range();
                v.as_i64()
                    .filter(|x| (lo..=hi).contains(x))
                    .map(Value::I64)
                    .ok_or_else(|| err(format!("an integer in {lo}..={hi}"), v))
            }
            LogicalType::UInt8
            | LogicalType::UInt16
            | LogicalType::UInt32
            | LogicalType::UInt64 => {
                let hi = ty.u64_max();
                v.as_u64()
                    .filter(|x| *x <= hi)
                    .map(Value::U64)
                    .ok_or_else(|| err(format!("an integer in 0..={hi}"), v))
            }
            LogicalType::Float64 => match v.as_f64() {
                // -0.0 becomes 0.0: SQLite does not keep the sign of zero,
                // and the content hash must match across stores.
                Some(f) if f.is_finite() => Ok(Value::F64(if f == 0.0 { 0.0 } else { f })),
                _ => Err(err("a finite number", v)),
            },
            LogicalType::Bool => v
                .as_bool()
                .map(Value::Bool)
                .ok_or_else(|| err("true or false", v)),
            LogicalType::String | LogicalType::LcString => match v {
                J::String(s) => Ok(Value::Str(s.clone())),
                _ => Err(err("a string", v)),
            },
        }
    }

    /// Renders a cell as JSON. Decimals become strings so no digit is lost.
    pub fn to_json(&self, ty: LogicalType) -> serde_json::Value {
        use serde_json::Value as J;
        match (self, ty) {
            (Value::I64(v), LogicalType::Decimal { scale }) => J::String(format_decimal(*v, scale)),
            (Value::I64(v), LogicalType::Date) => J::String(time::format_date(*v)),
            (Value::I64(v), _) => J::from(*v),
            (Value::U64(v), _) => J::from(*v),
            (Value::F64(v), _) => serde_json::Number::from_f64(*v)
                .map(J::Number)
                .unwrap_or(J::Null),
            (Value::Bool(v), _) => J::Bool(*v),
            (Value::Str(s), _) => J::String(s.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn decimals_are_exact() {
        assert_eq!(parse_decimal("42000.12345678", 8), Some(4_200_012_345_678));
        assert_eq!(parse_decimal("-0.5", 2), Some(-50));
        assert_eq!(parse_decimal("1.123", 2), None);
        assert_eq!(parse_decimal("1.120", 2), Some(112));
        assert_eq!(parse_decimal("1e5", 2), None);
        assert_eq!(parse_decimal("", 2), None);
        assert_eq!(parse_decimal("99999999999999999999", 0), None);
        assert_eq!(parse_decimal("-9223372036854775808", 0), Some(i64::MIN));
        assert_eq!(format_decimal(-50, 2), "-0.50");
        assert_eq!(format_decimal(i64::MIN, 18), "-9.223372036854775808");
    }

    #[test]
    fn json_conversions_check_ranges() {
        assert!(Value::from_json(LogicalType::Int8, &json!(200)).is_err());
        assert!(Value::from_json(LogicalType::UInt64, &json!(-1)).is_err());
        assert!(Value::from_json(LogicalType::Float64, &json!("x")).is_err());
        assert_eq!(
            Value::from_json(LogicalType::Float64, &json!(-0.0)),
            Ok(Value::F64(0.0))
        );
        assert_eq!(
            Value::from_json(LogicalType::TimestampMs, &json!("1970-01-01T00:00:01.5Z")),
            Ok(Value::I64(1500))
        );
        assert_eq!(
            Value::from_json(LogicalType::Date, &json!("1970-01-02")),
            Ok(Value::I64(1))
        );
    }

    proptest! {
        /// The writer gives the formatter's text, digit for digit.
        #[test]
        fn written_decimals_equal_formatted(v in prop_oneof![any::<i64>(), -100_000i64..100_000], scale in 0u8..=18) {
            let mut out = Vec::new();
            write_decimal(v, scale, &mut out);
            prop_assert_eq!(String::from_utf8(out).unwrap(), format_decimal(v, scale));
        }

        /// Ingest must not move a float by an ulp: JSON text in, same bits out
        /// (serde_json's default parser is only best-effort; we enable
        /// `float_roundtrip`).
        #[test]
        fn floats_survive_json_text(f in any::<f64>().prop_filter("finite", |f| f.is_finite())) {
            let text = serde_json::to_string(&f).unwrap();
            let parsed: serde_json::Value = serde_json::from_str(&text).unwrap();
            let expected = if f == 0.0 { 0.0 } else { f };
            prop_assert_eq!(Value::from_json(LogicalType::Float64, &parsed), Ok(Value::F64(expected)));
        }

        #[test]
        fn decimal_round_trip(v in any::<i64>(), scale in 0u8..=18) {
            prop_assert_eq!(parse_decimal(&format_decimal(v, scale), scale), Some(v));
        }
    }
}
