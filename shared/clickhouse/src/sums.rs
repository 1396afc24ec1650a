//! Exact sums where the server groups (statistics, and every aggregation
//! on 22+): ClickHouse's `sum` of an `Int64` or `UInt64` wraps without a
//! word, and narrowing an exact decimal sum back to `Decimal64` fails the
//! query ("Decimal convert overflow", a 500 to the user).
//!
//! So a sum of a 64-bit column is taken as `Decimal128` (18.16 has no
//! `Int128`, but sums a `Decimal64` into a `Decimal(38, s)`, and takes
//! `toDecimal128(x, 0)` of any integer): 38 digits hold the sum of more
//! rows than a table has. The server sends it as text, the one way an
//! 18.16 server writes a 128-bit value that every version reads alike, and
//! [`narrow`] parses it as an i128 and narrows it to the answer's type, or
//! refuses the answer naming the column (a 400). Narrower integers are
//! summed as before: they would need 2^31 rows in one group to wrap.
//! Folded bars (`fold.rs`) do not come here: the fold checks its adds.

use crate::{ChError, Result};
use hotcold_core::batch::{Column, RowBatch};
use hotcold_core::query::{narrow_i64, narrow_u64, AggPlan, Part, SumOverflow};
use hotcold_core::schema::{LogicalType, PhysicalKind, TableSchema};

/// Whether a sum of `ty` is taken exactly (as text) here.
pub(crate) fn exact(ty: Option<LogicalType>) -> bool {
    matches!(
        ty,
        Some(LogicalType::Int64 | LogicalType::UInt64 | LogicalType::Decimal { .. })
    )
}

/// The select expression of an exact sum of column `c` of type `ty`.
pub(crate) fn sum_sql(c: &str, ty: LogicalType) -> String {
    match ty {
        LogicalType::Decimal { .. } => format!("toString(sum({c}))"),
        _ => format!("toString(sum(toDecimal128({c}, 0)))"),
    }
}

/// What the server sends for `output` (the plan's partial schema): exact
/// sums as strings. `None` when there are none (the output as it is).
pub(crate) fn wire_schema(
    schema: &TableSchema,
    a: &AggPlan,
    output: &TableSchema,
) -> Option<TableSchema> {
    let k = output.columns.len() - a.parts.len();
    let mut wire = output.clone();
    let mut any = false;
    for (p, c) in a.parts.iter().zip(&mut wire.columns[k..]) {
        if let Part::Sum(src) = p {
            if exact(schema.column(src).map(|(_, d)| d.ty)) {
                c.ty = LogicalType::String;
                any = true;
            }
        }
    }
    any.then_some(wire)
}

/// A decimal's text (`-12.5`, `3`, `0.00000001`) as an integer scaled by
/// 10^scale, exactly.
fn parse_scaled(text: &str, scale: u8) -> Option<i128> {
    let (neg, digits) = match text.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, text),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if int.is_empty() || frac.len() > usize::from(scale) {
        return None;
    }
    let all = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if !all(int) || !all(frac) {
        return None;
    }
    let pad = 10i128.checked_pow(u32::from(scale) - frac.len() as u32)?;
    let mut v: i128 = format!("{int}{frac}").parse().ok()?;
    v = v.checked_mul(pad)?;
    Some(if neg { -v } else { v })
}

/// The decoded wire batch turned into the output's kinds: each exact sum
/// narrowed, or the error naming its column.
pub(crate) fn narrow(
    schema: &TableSchema,
    a: &AggPlan,
    output: &TableSchema,
    mut wire: RowBatch,
) -> Result<RowBatch> {
    let k = output.columns.len() - a.parts.len();
    for (j, p) in a.parts.iter().enumerate() {
        let Part::Sum(src) = p else { continue };
        let Some((_, d)) = schema.column(src) else {
            continue;
        };
        let (Some(Column::Str(texts)), Some(def)) =
            (wire.columns.get(k + j), output.columns.get(k + j))
        else {
            continue;
        };
        let scale = match d.ty {
            LogicalType::Decimal { scale } => scale,
            _ => 0,
        };
        let mut exact = Vec::with_capacity(texts.len());
        for t in texts {
            exact.push(
                parse_scaled(t, scale)
                    .ok_or_else(|| ChError::Decode(format!("sum of {src}: {t:?}")))?,
            );
        }
        let narrowed = match def.ty.physical() {
            PhysicalKind::U64 => Column::U64(
                exact
                    .iter()
                    .map(|v| narrow_u64(*v, src, d.ty))
                    .collect::<std::result::Result<_, SumOverflow>>()?,
            ),
            _ => Column::I64(
                exact
                    .iter()
                    .map(|v| narrow_i64(*v, src, d.ty))
                    .collect::<std::result::Result<_, SumOverflow>>()?,
            ),
        };
        wire.columns[k + j] = narrowed;
    }
    Ok(wire)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_text_parses_exactly() {
        assert_eq!(parse_scaled("-12.5", 2), Some(-1250));
        assert_eq!(parse_scaled("3", 0), Some(3));
        assert_eq!(parse_scaled("0.00000001", 8), Some(1));
        assert_eq!(
            parse_scaled("184467440737095516150", 0),
            Some(184_467_440_737_095_516_150)
        );
        assert_eq!(parse_scaled("1.234", 2), None);
        assert_eq!(parse_scaled("1e5", 0), None);
        assert_eq!(parse_scaled("", 0), None);
    }
}
