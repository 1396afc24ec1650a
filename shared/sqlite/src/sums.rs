//! Exact sums and unsigned extremes where SQLite's own aggregates run (the
//! GROUP BY of `sql.rs`, taken when a float is summed; every other
//! aggregation is folded in `fold.rs`, where the fold counts carries).
//!
//! SQLite holds a `uint64` above `i64::MAX` bit-cast, as a negative
//! integer, so its `max` and `min` order those values below every other
//! one, and its `sum` fails the whole statement ("integer overflow", a 500)
//! as soon as a running total leaves 64 bits. So:
//!
//! - a sum of an integer wider than 16 bits is taken in 16-bit pieces,
//!   `x = p3 * 2^48 + p2 * 2^32 + p1 * 2^16 + p0` (two pieces for 32-bit
//!   types), every piece below 2^16 in size, and the reader joins the
//!   pieces' sums as an i128 and narrows it to the answer's type, or
//!   refuses the answer by naming the column (`SumOverflow`, a 400). Why
//!   16 bits: a piece's sum cannot overflow for any group a SQLite file can
//!   hold. A file has at most 2^48 bytes (4294967294 pages of 64 KiB) and a
//!   row costs more than 2 (its cell pointer alone is 2), so a group has
//!   fewer than 2^47 rows and a piece's sum stays below 2^47 * 2^16 = 2^63.
//!   Halves (32-bit pieces) overflowed past 2^31 rows in one group.
//!   8- and 16-bit integers are summed whole, being one piece already.
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
    /// A sum in `n` 16-bit pieces: select columns `at..at + n`, the least
    /// significant first.
    Pieces {
        at: usize,
        n: u32,
        column: String,
        ty: LogicalType,
    },
}

/// The bits of one piece of a split sum.
const PIECE_BITS: u32 = 16;

fn ty_of(schema: &TableSchema, c: &str) -> Option<LogicalType> {
    schema.column(c).map(|(_, d)| d.ty)
}

/// How many 16-bit pieces a sum of `ty` is taken in: 1 is whole.
fn pieces(ty: Option<LogicalType>) -> u32 {
    use LogicalType::*;
    match ty {
        Some(Int32 | UInt32) => 2,
        Some(Int64 | UInt64 | Decimal { .. }) => 4,
        _ => 1,
    }
}

/// The select expressions of one part, after `at` select columns.
pub(crate) fn part_sql(schema: &TableSchema, p: &Part, at: usize) -> (Vec<String>, Read) {
    let one = |e: String| (vec![e], Read::Plain(at));
    let unsigned = |c: &str| ty_of(schema, c) == Some(LogicalType::UInt64);
    match p {
        Part::Sum(c) if pieces(ty_of(schema, c)) > 1 => {
            let n = pieces(ty_of(schema, c));
            let x = format!("\"{c}\"");
            let exprs = (0..n)
                .map(|j| {
                    let shifted = match j * PIECE_BITS {
                        0 => x.clone(),
                        bits => format!("({x} >> {bits})"),
                    };
                    // The top piece of a signed value keeps its sign (SQLite's
                    // >> shifts arithmetically); a bit-cast uint64's is masked.
                    if j + 1 < n || unsigned(c) {
                        format!("sum({shifted} & 65535)")
                    } else {
                        format!("sum({shifted})")
                    }
                })
                .collect();
            let ty = ty_of(schema, c).unwrap_or(LogicalType::Int64);
            let read = Read::Pieces {
                at,
                n,
                column: c.clone(),
                ty,
            };
            (exprs, read)
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
            (Read::Pieces { at, n, column, ty }, c) => {
                let mut exact = 0i128;
                for j in 0..*n {
                    let piece: i64 = row.get(*at + j as usize)?;
                    exact += i128::from(piece) * (1i128 << (j * PIECE_BITS));
                }
                match c {
                    Column::U64(v) => v.push(narrow_u64(exact, column, *ty)?),
                    Column::I64(v) => v.push(narrow_i64(exact, column, *ty)?),
                    // The plan gives integer sums integer kinds.
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
