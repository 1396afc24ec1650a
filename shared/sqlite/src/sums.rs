//! Exact sums and unsigned extremes where SQLite's own aggregates run (the
//! GROUP BY of `sql.rs`, taken when a float is summed; every other
//! aggregation is folded in `fold.rs`, where the fold counts carries).
//!
//! SQLite holds a `uint64` above `i64::MAX` bit-cast, as a negative
//! integer, so its `max` and `min` order those values below every other
//! one, and its `sum` fails the whole statement ("integer overflow", a 500)
//! as soon as a running total leaves 64 bits. So:
//!
//! - a sum of a 64-bit column is taken in two halves, `x = hi * 2^32 + lo`
//!   with both halves below 2^32 in size, whose sums cannot overflow for
//!   fewer than 2^31 rows in one group; the reader joins them as an i128
//!   and narrows it to the answer's type, or refuses the answer by naming
//!   the column (`SumOverflow`, a 400). Narrower integers are summed whole:
//!   they would need 2^31 rows to overflow.
//! - the max of a `uint64` is the greatest of the negative (bit-cast) cells
//!   if there is one, else the greatest cell; the min the least of the
//!   non-negative cells if there is one, else the least. Within one sign
//!   the bit-cast order is the unsigned order, so that is exact.

use crate::SqliteError;
use hotcold_core::batch::{Column, RowBatch};
use hotcold_core::query::{narrow_i64, narrow_u64, AggPlan, Part};
use hotcold_core::schema::{LogicalType, TableSchema};

/// How one partial column is read from the SELECT's columns.
#[derive(Debug, Clone)]
pub(crate) enum Read {
    /// One select column, as the output kind says.
    Plain(usize),
    /// A sum in halves: select columns `hi` and `hi + 1`.
    Halves {
        hi: usize,
        column: String,
        ty: LogicalType,
    },
}

fn ty_of(schema: &TableSchema, c: &str) -> Option<LogicalType> {
    schema.column(c).map(|(_, d)| d.ty)
}

fn wide(ty: Option<LogicalType>) -> bool {
    matches!(
        ty,
        Some(LogicalType::Int64 | LogicalType::UInt64 | LogicalType::Decimal { .. })
    )
}

/// The select expressions of one part, after `at` select columns.
pub(crate) fn part_sql(schema: &TableSchema, p: &Part, at: usize) -> (Vec<String>, Read) {
    let one = |e: String| (vec![e], Read::Plain(at));
    let unsigned = |c: &str| ty_of(schema, c) == Some(LogicalType::UInt64);
    match p {
        Part::Sum(c) if wide(ty_of(schema, c)) => {
            let x = format!("\"{c}\"");
            let (hi, lo) = if unsigned(c) {
                (
                    format!("sum(({x} >> 32) & 4294967295)"),
                    format!("sum({x} & 4294967295)"),
                )
            } else {
                (
                    format!("sum({x} / 4294967296)"),
                    format!("sum({x} % 4294967296)"),
                )
            };
            let ty = ty_of(schema, c).unwrap_or(LogicalType::Int64);
            let read = Read::Halves {
                hi: at,
                column: c.clone(),
                ty,
            };
            (vec![hi, lo], read)
        }
        Part::Sum(c) => one(format!("sum(\"{c}\")")),
        // Open and close always take the fold (`fold.rs`); they are here
        // only to keep the match total.
        Part::High(c) | Part::Max(c) | Part::Close(c) if unsigned(c) => one(format!(
            "coalesce(max(CASE WHEN \"{c}\" < 0 THEN \"{c}\" END), max(\"{c}\"))"
        )),
        Part::Low(c) | Part::Min(c) | Part::Open(c) if unsigned(c) => one(format!(
            "coalesce(min(CASE WHEN \"{c}\" >= 0 THEN \"{c}\" END), min(\"{c}\"))"
        )),
        Part::High(c) | Part::Max(c) | Part::Close(c) => one(format!("max(\"{c}\")")),
        Part::Low(c) | Part::Min(c) | Part::Open(c) => one(format!("min(\"{c}\")")),
        Part::Count => one("count(*)".to_string()),
    }
}

/// Every part's select expressions after `keys` key columns, and how each
/// partial column (keys included) is read back.
pub(crate) fn parts_sql(
    schema: &TableSchema,
    a: &AggPlan,
    keys: usize,
) -> (Vec<String>, Vec<Read>) {
    let mut exprs = Vec::new();
    let mut reads: Vec<Read> = (0..keys).map(Read::Plain).collect();
    for p in &a.parts {
        let (e, r) = part_sql(schema, p, keys + exprs.len());
        exprs.extend(e);
        reads.push(r);
    }
    (exprs, reads)
}

/// Reads one result row into `batch` (of the output's kinds) by `reads`.
pub(crate) fn read_row(
    row: &rusqlite::Row<'_>,
    reads: &[Read],
    batch: &mut RowBatch,
) -> Result<(), SqliteError> {
    for (c, r) in batch.columns.iter_mut().zip(reads) {
        match (r, c) {
            (Read::Halves { hi, column, ty }, c) => {
                let h: i64 = row.get(*hi)?;
                let l: i64 = row.get(*hi + 1)?;
                let exact = i128::from(h) * (1i128 << 32) + i128::from(l);
                match c {
                    Column::U64(v) => v.push(narrow_u64(exact, column, *ty)?),
                    Column::I64(v) => v.push(narrow_i64(exact, column, *ty)?),
                    // The plan gives 64-bit sums integer kinds.
                    _ => {}
                }
            }
            (Read::Plain(i), Column::I64(v)) => v.push(row.get(*i)?),
            // u64 above i64::MAX is stored bit-cast and cast back here.
            (Read::Plain(i), Column::U64(v)) => v.push(row.get::<_, i64>(*i)? as u64),
            (Read::Plain(i), Column::F64(v)) => v.push(row.get(*i)?),
            (Read::Plain(i), Column::Bool(v)) => v.push(row.get::<_, i64>(*i)? != 0),
            (Read::Plain(i), Column::Str(v)) => v.push(row.get(*i)?),
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "sums_tests.rs"]
mod tests;
