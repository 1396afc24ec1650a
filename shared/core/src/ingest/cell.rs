//! One JSON token into its column, under the column's logical type, with
//! the same rules as [`crate::Value::from_json`] (ranges checked, floats
//! bit-exact, -0.0 stored as 0.0) but without building a `Value`.

use super::json::Token;
use crate::batch::Column;
use crate::schema::LogicalType;
use crate::time;
use crate::value::{parse_decimal, ValueError};

fn err(expected: impl Into<String>, got: &Token<'_>) -> ValueError {
    ValueError::new(expected, got.to_json())
}

/// A JSON number's text as an exact decimal scaled by 10^scale. Unlike
/// [`parse_decimal`] (for strings) it takes an exponent, because JSON
/// writers use one (Python writes 0.00001 as `1e-05`); every digit still
/// counts, so no float rounding happens on the way.
pub fn decimal_from_number(text: &str, scale: u8) -> Option<i64> {
    let (mantissa, exp) = match text.find(['e', 'E']) {
        Some(at) => (&text[..at], text[at + 1..].parse::<i32>().ok()?),
        None => return parse_decimal(text, scale),
    };
    let (neg, body) = match mantissa.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, mantissa),
    };
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    // Move the point by `exp` places, in text, then parse as usual.
    let digits = format!("{int}{frac}");
    let point = i64::try_from(int.len()).ok()? + i64::from(exp);
    // Past ±40 places either every digit is a zero or the value is out of
    // range; bounding it keeps the text small for any exponent.
    if !(-40..=40).contains(&point) && digits.bytes().any(|b| b != b'0') {
        return None;
    }
    let point = point.clamp(-40, 40);
    let shifted = if point <= 0 {
        format!("0.{}{digits}", "0".repeat(point.unsigned_abs() as usize))
    } else if point as usize >= digits.len() {
        format!("{digits}{}", "0".repeat(point as usize - digits.len()))
    } else {
        let (a, b) = digits.split_at(point as usize);
        format!("{a}.{b}")
    };
    parse_decimal(&format!("{}{shifted}", if neg { "-" } else { "" }), scale)
}

/// A time that is not one the column can keep, saying why (the forms
/// taken, the digits past the millisecond, the zone or offset).
fn time_err(e: &time::TimeError, got: &Token<'_>) -> ValueError {
    ValueError::new(e.expected(), got.to_json())
}

fn integer(text: &str) -> Option<i64> {
    text.parse().ok()
}

/// Appends `tok` to `col`, which holds values of type `ty`.
pub fn push(col: &mut Column, ty: LogicalType, tok: &Token<'_>) -> Result<(), ValueError> {
    use LogicalType as L;
    match (col, ty) {
        (Column::I64(c), L::TimestampMs) => {
            let v = match tok {
                Token::Num(n) => integer(n).ok_or_else(|| err("integer milliseconds", tok))?,
                Token::Str(s) => time::parse_instant_ms(s).map_err(|e| time_err(&e, tok))?,
                _ => return Err(err("a timestamp", tok)),
            };
            c.push(v);
        }
        (Column::I64(c), L::Date) => {
            let d = match tok {
                Token::Str(s) => match time::parse_day(s) {
                    Ok(d) => Some(d),
                    Err(time::TimeError::Malformed) => None,
                    Err(e) => return Err(time_err(&e, tok)),
                },
                Token::Num(n) => integer(n),
                _ => None,
            };
            let (lo, hi) = ty.i64_range();
            let d = d
                .filter(|d| (lo..=hi).contains(d))
                .ok_or_else(|| err("a date YYYY-MM-DD between 1970-01-01 and 2149-06-06", tok))?;
            c.push(d);
        }
        (Column::I64(c), L::Decimal { scale }) => {
            let (v, text) = match tok {
                Token::Num(n) => (decimal_from_number(n, scale), *n),
                Token::Str(s) => (parse_decimal(s, scale), &**s),
                _ => (None, ""),
            };
            c.push(v.ok_or_else(|| err(crate::value::decimal_expected(text, scale), tok))?);
        }
        (Column::I64(c), L::Int8 | L::Int16 | L::Int32 | L::Int64) => {
            let (lo, hi) = ty.i64_range();
            let v = match tok {
                Token::Num(n) => integer(n).filter(|x| (lo..=hi).contains(x)),
                _ => None,
            };
            c.push(v.ok_or_else(|| err(format!("an integer in {lo}..={hi}"), tok))?);
        }
        (Column::U64(c), L::UInt8 | L::UInt16 | L::UInt32 | L::UInt64) => {
            let hi = ty.u64_max();
            let v = match tok {
                Token::Num(n) => n.parse::<u64>().ok().filter(|x| *x <= hi),
                _ => None,
            };
            c.push(v.ok_or_else(|| err(format!("an integer in 0..={hi}"), tok))?);
        }
        (Column::F64(c), L::Float64) => {
            let v = match tok {
                Token::Num(n) => n.parse::<f64>().ok().filter(|f| f.is_finite()),
                _ => None,
            };
            let v = v.ok_or_else(|| err("a finite number", tok))?;
            // SQLite does not keep the sign of zero; the hash must match.
            c.push(if v == 0.0 { 0.0 } else { v });
        }
        (Column::Bool(c), L::Bool) => match tok {
            Token::Bool(b) => c.push(*b),
            _ => return Err(err("true or false", tok)),
        },
        (Column::Str(c), L::String | L::LcString) => match tok {
            Token::Str(s) => c.push(s.to_string()),
            _ => return Err(err("a string", tok)),
        },
        (col, _) => {
            return Err(ValueError {
                expected: format!("a {ty} column"),
                got: format!(
                    "a {:?} column (internal: batch and schema disagree)",
                    col.kind()
                ),
            })
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn decimals_from_numbers_take_exponents_exactly() {
        assert_eq!(decimal_from_number("1e-05", 8), Some(1_000));
        assert_eq!(decimal_from_number("1.5E2", 2), Some(15_000));
        assert_eq!(decimal_from_number("-2.5e-1", 1), None);
        assert_eq!(decimal_from_number("-2.5e-1", 2), Some(-25));
        assert_eq!(decimal_from_number("1e-9", 8), None);
        assert_eq!(decimal_from_number("0e999999", 8), Some(0));
        assert_eq!(decimal_from_number("1e999999", 8), None);
        assert_eq!(
            decimal_from_number("92233720368.54775807", 8),
            Some(i64::MAX)
        );
        assert_eq!(
            decimal_from_number("12345678901.12345678", 8),
            Some(1_234_567_890_112_345_678)
        );
    }

    proptest! {
        /// An exponent only moves the point: `D e K` equals D with the
        /// point moved K places, for any split of the same digits.
        #[test]
        fn an_exponent_moves_the_point(v in any::<i64>(), scale in 0u8..=18, k in 0u8..=6) {
            let plain = crate::value::format_decimal(v, scale);
            // Write the same value as mantissa × 10^k.
            let m = crate::value::format_decimal(v, scale + k);
            if scale + k <= 18 {
                let text = format!("{m}e{k}");
                prop_assert_eq!(decimal_from_number(&text, scale), parse_decimal(&plain, scale));
            }
        }
    }
}
