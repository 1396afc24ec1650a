//! Exact sums where the server groups (statistics, and every aggregation
//! on 22+): ClickHouse's `sum` of an `Int64` or `UInt64` wraps without a
//! word, and narrowing an exact decimal sum back to `Decimal64` fails the
//! query ("Decimal convert overflow", a 500 to the user).
//!
//! So a sum of a 64-bit column is taken as `Decimal128` (18.16 has no
//! `Int128`, but sums a `Decimal64` into a `Decimal(38, s)` by itself, and
//! takes `toDecimal128(x, 0)` of any integer): 38 digits hold the sum of
//! more rows than a table has. Per group, the server compares it with the
//! answer type's bounds, sends it narrowed (0 where it does not fit, so the
//! narrowing cannot throw) and, after the parts, one flag per such sum:
//! [`narrow`] refuses the answer naming the column when a flag is set (a
//! 400). Why not the sum as text: a `toString` per group cost stats ~20 %
//! (bench_query, cold stats p50 31 -> 38 ms); the compares and the byte
//! cost 1-2 ms at most, within this machine's noise.
//! Narrower integers are summed the same way: ClickHouse sums them into 64
//! bits, which 2^32 extreme rows in one group would wrap, silently. Folded
//! bars (`fold.rs`) do not come here: the fold counts its carries.

use crate::Result;
use hotcold_core::batch::{Column, RowBatch};
use hotcold_core::query::{AggPlan, Part, SumOverflow};
use hotcold_core::schema::{ColumnDef, LogicalType, TableSchema};

/// Whether a sum of `ty` is taken exactly (with a flag) here.
pub(crate) fn exact(ty: Option<LogicalType>) -> bool {
    use LogicalType::*;
    matches!(
        ty,
        Some(Int8 | Int16 | Int32 | Int64 | UInt8 | UInt16 | UInt32 | UInt64 | Decimal { .. })
    )
}

/// A raw 64-bit bound as a decimal literal of `scale` digits.
fn literal(raw: i128, scale: u8) -> String {
    let d = 10i128.pow(u32::from(scale));
    let sign = if raw < 0 { "-" } else { "" };
    let (i, f) = (raw.abs() / d, raw.abs() % d);
    match scale {
        0 => format!("'{sign}{i}'"),
        s => format!("'{sign}{i}.{f:0w$}'", w = usize::from(s)),
    }
}

/// The select expressions of an exact sum of column `c` of type `ty`: the
/// sum narrowed to its answer type, and its out-of-range flag.
pub(crate) fn sum_sql(c: &str, ty: LogicalType) -> (String, String) {
    let (sum, scale, lo, hi, to) = match ty {
        LogicalType::Decimal { scale } => (
            format!("sum({c})"),
            scale,
            i128::from(i64::MIN),
            i128::from(i64::MAX),
            format!("toDecimal64({{}}, {scale})"),
        ),
        LogicalType::UInt8 | LogicalType::UInt16 | LogicalType::UInt32 | LogicalType::UInt64 => (
            format!("sum(toDecimal128({c}, 0))"),
            0,
            0,
            i128::from(u64::MAX),
            "toUInt64({})".to_string(),
        ),
        _ => (
            format!("sum(toDecimal128({c}, 0))"),
            0,
            i128::from(i64::MIN),
            i128::from(i64::MAX),
            "toInt64({})".to_string(),
        ),
    };
    let over = format!(
        "({sum} < toDecimal128({}, {scale}) OR {sum} > toDecimal128({}, {scale}))",
        literal(lo, scale),
        literal(hi, scale)
    );
    let kept = format!("if({over}, toDecimal128(0, {scale}), {sum})");
    (to.replace("{}", &kept), over)
}

/// What the server sends for `output` (the plan's partial schema): one
/// flag after the parts per exact sum. `None` when there are none.
pub(crate) fn wire_schema(
    schema: &TableSchema,
    a: &AggPlan,
    output: &TableSchema,
) -> Option<TableSchema> {
    let mut wire = output.clone();
    for (j, src) in exact_sums(schema, a) {
        wire.columns.push(ColumnDef {
            name: format!("_over{j}_{src}"),
            ty: LogicalType::Bool,
        });
    }
    (wire.columns.len() > output.columns.len()).then_some(wire)
}

/// The parts summed exactly, with their source columns, in order.
fn exact_sums<'a>(schema: &TableSchema, a: &'a AggPlan) -> Vec<(usize, &'a str)> {
    a.parts
        .iter()
        .enumerate()
        .filter_map(|(j, p)| match p {
            Part::Sum(c) if exact(schema.column(c).map(|(_, d)| d.ty)) => Some((j, c.as_str())),
            _ => None,
        })
        .collect()
}

/// The decoded wire batch as the output: refused, naming the column, if a
/// sum's flag says it does not fit; else without the flags.
pub(crate) fn narrow(
    schema: &TableSchema,
    a: &AggPlan,
    output: &TableSchema,
    mut wire: RowBatch,
) -> Result<RowBatch> {
    let n = output.columns.len();
    for (f, (_, src)) in exact_sums(schema, a).into_iter().enumerate() {
        if let Some(Column::Bool(over)) = wire.columns.get(n + f) {
            if over.iter().any(|o| *o) {
                let ty = schema.column(src).map_or(LogicalType::Int64, |(_, d)| d.ty);
                return Err(SumOverflow::new(src, ty).into());
            }
        }
    }
    wire.columns.truncate(n);
    Ok(wire)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_are_the_answer_types() {
        assert_eq!(literal(i128::from(i64::MAX), 8), "'92233720368.54775807'");
        assert_eq!(literal(i128::from(i64::MIN), 8), "'-92233720368.54775808'");
        assert_eq!(literal(i128::from(u64::MAX), 0), "'18446744073709551615'");
        let (v, over) = sum_sql("px", LogicalType::Decimal { scale: 2 });
        assert!(
            v.starts_with("toDecimal64(if((sum(px) < toDecimal128('-92233720368547758.08', 2)"),
            "{v}"
        );
        assert!(
            over.contains("sum(px) > toDecimal128('92233720368547758.07', 2)"),
            "{over}"
        );
    }
}
