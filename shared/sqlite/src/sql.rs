//! The SELECTs a [`Plan`] becomes on SQLite (and the quoted column list the
//! INSERT shares). Names are quoted; values are never written into the text
//! but bound as parameters (`?`), which is why SQLite needs no literal
//! escaping where ClickHouse does. The window is always `?1` and `?2`.

use crate::sums::{parts_sql, Read};
use hotcold_core::query::{AggPlan, Plan};
use hotcold_core::schema::{LogicalType, TableSchema};
use hotcold_core::Value;

pub(crate) fn cols(schema: &TableSchema) -> String {
    schema
        .columns
        .iter()
        .map(|c| format!("\"{}\"", c.name))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Every row of the window, in time order (ties in insertion order), at most
/// `?` (the last bind).
pub(crate) fn rows_sql(schema: &TableSchema, filters: &str, dir: &str) -> String {
    let ts = &schema.time_column;
    format!(
        "SELECT {} FROM \"{}\" WHERE \"{ts}\" >= ?1 AND \"{ts}\" < ?2{filters} ORDER BY \"{ts}\" {dir}, rowid {dir} LIMIT ?",
        cols(schema),
        schema.name,
    )
}

/// The rows of one time range `[?1, ?2)` in time order (ties in insertion
/// order), only the columns `cols` (indices into the schema, in output
/// order), at most `?` (the last bind): one chunk of a columnar scan.
pub(crate) fn chunk_sql(schema: &TableSchema, cols: &[usize], filters: &str, dir: &str) -> String {
    let ts = &schema.time_column;
    let names: Vec<String> = cols
        .iter()
        .filter_map(|&c| schema.columns.get(c))
        .map(|c| format!("\"{}\"", c.name))
        .collect();
    format!(
        "SELECT {} FROM \"{}\" WHERE \"{ts}\" >= ?1 AND \"{ts}\" < ?2{filters} ORDER BY \"{ts}\" {dir}, rowid {dir} LIMIT ?",
        names.join(", "),
        schema.name,
    )
}

/// `AND "col" IN (?, ..)` for each filter, and the values to bind.
pub(crate) fn filter_sql(plan: &Plan, binds: &mut Vec<rusqlite::types::Value>) -> String {
    let mut sql = String::new();
    for (c, vals) in &plan.filters {
        let marks = vec!["?"; vals.len()].join(", ");
        sql.push_str(&format!(" AND \"{}\" IN ({marks})", c.name));
        binds.extend(vals.iter().map(bind));
    }
    sql
}

fn bind(v: &Value) -> rusqlite::types::Value {
    use rusqlite::types::Value as S;
    match v {
        Value::I64(x) => S::Integer(*x),
        Value::U64(x) => S::Integer(*x as i64),
        Value::F64(x) => S::Real(*x),
        Value::Bool(x) => S::Integer(i64::from(*x)),
        Value::Str(x) => S::Text(x.clone()),
    }
}

/// The start of the bucket holding each row, as
/// [`hotcold_core::query::bucket`] computes it, over an integer-millisecond
/// expression; `%` truncates toward zero in SQLite, hence the double mod.
fn bucket_sql(ts_expr: &str, interval_ms: i64) -> String {
    format!("({ts_expr} - ((({ts_expr}) % {interval_ms}) + {interval_ms}) % {interval_ms})")
}

/// The window's rows in time-index order (ties in index order), only the
/// columns named: what a fold reads (`fold.rs`).
pub(crate) fn ordered_rows_sql(schema: &TableSchema, cols: &[String], filters: &str) -> String {
    let ts = &schema.time_column;
    let cols: Vec<String> = cols.iter().map(|c| format!("\"{c}\"")).collect();
    format!(
        "SELECT {} FROM \"{}\" WHERE \"{ts}\" >= ?1 AND \"{ts}\" < ?2{filters} ORDER BY \"{ts}\"",
        cols.join(", "),
        schema.name
    )
}

/// Statistics SQLite adds itself (sums of floats, see `fold::folds`): one
/// plain GROUP BY over the window, and how its columns are read back
/// (integer sums come in 16-bit pieces, see `sums.rs`).
pub(crate) fn aggregate_sql(
    schema: &TableSchema,
    a: &AggPlan,
    filters: &str,
    dir: &str,
) -> (String, Vec<Read>) {
    let ts = format!("\"{}\"", schema.time_column);
    let mut keys = Vec::new();
    // The ORDER BY terms: a uint64 key above i64::MAX is held bit-cast,
    // below zero, so its order is the sign's (non-negative first), then the
    // value's (within one sign the bit-cast order is the unsigned one).
    let mut order = Vec::new();
    if let Some(iv) = a.interval_ms {
        keys.push((bucket_sql(&ts, iv), "_k".to_string()));
        order.push(format!("_k {dir}"));
    }
    for (i, g) in a.group_by.iter().enumerate() {
        let name = format!("_g{i}");
        if g.ty == LogicalType::UInt64 {
            order.push(format!("(\"{}\" < 0) {dir}", g.name));
        }
        order.push(format!("{name} {dir}"));
        keys.push((format!("\"{}\"", g.name), name));
    }
    let (parts, reads) = parts_sql(schema, a, keys.len());
    let cols: Vec<String> = keys
        .iter()
        .map(|(e, n)| format!("{e} AS {n}"))
        .chain(parts)
        .collect();
    // Without keys an empty window still makes one row (count 0): HAVING
    // drops it, as ClickHouse's does.
    let group = if keys.is_empty() {
        " HAVING count(*) > 0".to_string()
    } else {
        let names: Vec<&str> = keys.iter().map(|(_, n)| n.as_str()).collect();
        format!(
            " GROUP BY {} ORDER BY {}",
            names.join(", "),
            order.join(", ")
        )
    };
    let sql = format!(
        "SELECT {} FROM \"{}\" WHERE {ts} >= ?1 AND {ts} < ?2{filters}{group} LIMIT ?",
        cols.join(", "),
        schema.name,
    );
    (sql, reads)
}
