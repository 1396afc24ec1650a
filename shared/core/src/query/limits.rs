//! The two ways an aggregation is refused as the client's to fix rather
//! than failed: too many keys to hold, or a sum whose exact value does not
//! fit the 64-bit type it is answered in. Both travel between the gateway
//! and the cloud as text (the link carries errors as messages), so each
//! can be recognised, and a sum's error rebuilt, from its message.
//!
//! Why a refusal and not a wider answer: a sum is answered in the column's
//! 64-bit type (decimals keep their scale) by every store and format, and
//! no wire kind or output format has 128 bits. A wrapped, saturated or
//! store-failed (500) sum was the alternative; a 400 that names the column
//! and what to do is the honest one.

use crate::schema::LogicalType;
use std::fmt;

/// An aggregation had more distinct (bucket, groups) keys than its bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the answer has more than {max} groups x buckets (query.max-buckets): use a longer interval, a shorter range or fewer groups")]
pub struct TooManyGroups {
    pub max: u64,
}

impl TooManyGroups {
    /// Whether `text` is this error as a peer reported it (the gateway
    /// sends its errors as text): the bound, not a failure.
    pub fn is_message(text: &str) -> bool {
        text.contains("groups x buckets (query.max-buckets)")
    }
}

/// The exact sum of `column` in one answer row lies outside the range of
/// the type the sum is answered in (`int64` or `uint64`, or the decimal of
/// the column's scale in an `int64`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SumOverflow {
    pub column: String,
    /// The column's type, as declared.
    pub ty: LogicalType,
}

const HEAD: &str = "the sum of column ";
const MARK: &str = ") overflows: its exact value in one answer row is outside ";

impl SumOverflow {
    pub fn new(column: &str, ty: LogicalType) -> Self {
        Self {
            column: column.to_string(),
            ty,
        }
    }

    /// This error as a peer reported it, found in the peer's text.
    pub fn from_message(text: &str) -> Option<Self> {
        let mark = text.find(MARK)?;
        let start = text[..mark].rfind(HEAD)? + HEAD.len();
        let (column, ty) = text[start..mark].split_once(" (")?;
        Some(Self::new(column, ty.parse().ok()?))
    }

    /// The range a sum of this type is answered in, as the user writes it.
    fn range(&self) -> String {
        use LogicalType::*;
        match self.ty {
            UInt8 | UInt16 | UInt32 | UInt64 => format!("0 to {}", u64::MAX),
            Decimal { scale } => {
                let show = |v: i128| {
                    let d = 10i128.pow(u32::from(scale));
                    let sign = if v < 0 { "-" } else { "" };
                    let (i, f) = (v.abs() / d, v.abs() % d);
                    match scale {
                        0 => format!("{sign}{i}"),
                        s => format!("{sign}{i}.{f:0w$}", w = usize::from(s)),
                    }
                };
                format!(
                    "{} to {}",
                    show(i128::from(i64::MIN)),
                    show(i128::from(i64::MAX))
                )
            }
            _ => format!("{} to {}", i64::MIN, i64::MAX),
        }
    }
}

impl fmt::Display for SumOverflow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{HEAD}{} ({}{MARK}{}, the range a sum of {} is answered in, so nothing was answered rather than a wrong number: ask for a narrower range (from/to) or finer groups (a shorter interval or more group_by)",
            self.column,
            self.ty,
            self.range(),
            self.ty
        )
    }
}

impl std::error::Error for SumOverflow {}

/// Why a fold stopped: both are the client's to fix (a 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FoldError {
    #[error(transparent)]
    TooManyGroups(#[from] TooManyGroups),
    #[error(transparent)]
    Overflow(#[from] SumOverflow),
}

/// An exact sum narrowed to the answer's signed 64 bits, or the error
/// naming the column.
pub fn narrow_i64(sum: i128, column: &str, ty: LogicalType) -> Result<i64, SumOverflow> {
    i64::try_from(sum).map_err(|_| SumOverflow::new(column, ty))
}

/// An exact sum narrowed to the answer's unsigned 64 bits.
pub fn narrow_u64(sum: i128, column: &str, ty: LogicalType) -> Result<u64, SumOverflow> {
    u64::try_from(sum).map_err(|_| SumOverflow::new(column, ty))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_overflow_names_column_type_range_and_remedy_and_survives_the_link() {
        let e = SumOverflow::new("px", LogicalType::Decimal { scale: 8 });
        let m = e.to_string();
        for want in [
            "sum of column px (decimal(8))",
            "-92233720368.54775808 to 92233720368.54775807",
            "narrower range",
            "finer groups",
        ] {
            assert!(m.contains(want), "{want} not in {m}");
        }
        // As the gateway's refusal wraps it, and as it comes back.
        let wrapped = format!("clickhouse: {e}");
        assert_eq!(SumOverflow::from_message(&wrapped), Some(e));
        let u = SumOverflow::new("trade_id", LogicalType::UInt64);
        assert!(u.to_string().contains("0 to 18446744073709551615"));
        assert_eq!(SumOverflow::from_message(&u.to_string()), Some(u));
        assert_eq!(SumOverflow::from_message("sum of column x overflows"), None);
        assert!(narrow_i64(i128::from(i64::MAX) + 1, "a", LogicalType::Int64).is_err());
        assert_eq!(
            narrow_u64(i128::from(u64::MAX), "a", LogicalType::UInt64),
            Ok(u64::MAX)
        );
        assert!(narrow_u64(-1, "a", LogicalType::UInt64).is_err());
    }
}
