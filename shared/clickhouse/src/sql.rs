//! SQL text for queries: literals for filter values, the SELECT of a
//! [`Plan`], and the scan an aggregation is folded from on older servers. ClickHouse 18.16 has no server-side parameters, so values are
//! written as literals here, and only here; every byte of a string is
//! escaped so a value can never end its quote.

use crate::types::Flavor;
use hotcold_core::query::{AggPlan, Part, Plan};
use hotcold_core::schema::{LogicalType, TableSchema, Window};
use hotcold_core::value::format_decimal;
use hotcold_core::Value;

/// A ClickHouse string literal: backslash escapes for the quote, the
/// backslash and every control byte; other UTF-8 passes unchanged.
pub fn quote_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for ch in s.chars() {
        match ch {
            '\'' => out.push_str("\\'"),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02X}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// A TabSeparated field as written: backslash escapes undone.
pub fn unescape_tsv(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match it.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('0') => out.push('\0'),
            Some('b') => out.push('\u{8}'),
            Some('f') => out.push('\u{c}'),
            Some(o) => out.push(o),
            None => out.push('\\'),
        }
    }
    out
}

/// The literal of a typed value for a column of type `ty`.
pub fn literal(flavor: Flavor, ty: LogicalType, v: &Value) -> String {
    match (v, ty) {
        (Value::Str(s), _) => quote_string(s),
        (Value::I64(x), LogicalType::Decimal { scale }) => {
            format!("toDecimal64('{}', {scale})", format_decimal(*x, scale))
        }
        (Value::I64(x), LogicalType::Date) => {
            format!("toDate('{}')", hotcold_core::time::format_date(*x))
        }
        (Value::I64(x), LogicalType::TimestampMs) if flavor == Flavor::Modern => {
            format!("fromUnixTimestamp64Milli(toInt64({x}), 'UTC')")
        }
        (Value::I64(x), _) => x.to_string(),
        (Value::U64(x), _) => x.to_string(),
        (Value::Bool(b), _) if flavor == Flavor::Modern => b.to_string(),
        (Value::Bool(b), _) => u8::from(*b).to_string(),
        // Planning refuses float filters; a literal would still be exact.
        (Value::F64(f), _) => format!("{f:?}"),
    }
}

/// The milliseconds of the time column as an Int64 expression.
pub fn time_ms(flavor: Flavor, schema: &TableSchema) -> String {
    match flavor {
        Flavor::Legacy => schema.time_column.clone(),
        Flavor::Modern => format!("toUnixTimestamp64Milli({})", schema.time_column),
    }
}

fn filters(flavor: Flavor, plan: &Plan) -> String {
    let mut sql = String::new();
    for (c, vals) in &plan.filters {
        let lits: Vec<String> = vals.iter().map(|v| literal(flavor, c.ty, v)).collect();
        sql.push_str(&format!(" AND {} IN ({})", c.name, lits.join(", ")));
    }
    sql
}

/// The SELECT of a plan over `db.table`, for `window` (already a clause).
pub fn select(
    flavor: Flavor,
    db: &str,
    schema: &TableSchema,
    plan: &Plan,
    window: &str,
    limit: u64,
) -> String {
    let limit = if limit == u64::MAX {
        String::new()
    } else {
        format!(" LIMIT {limit}")
    };
    let dir = if plan.descending { "DESC" } else { "ASC" };
    let f = filters(flavor, plan);
    match &plan.agg {
        None => {
            let cols: Vec<&str> = schema.columns.iter().map(|c| c.name.as_str()).collect();
            format!(
                "SELECT {} FROM {db}.{} WHERE {window}{f} ORDER BY {} {dir}{limit}",
                cols.join(", "),
                schema.name,
                schema.time_column
            )
        }
        Some(a) => aggregate(flavor, db, schema, a, &format!("{window}{f}"), dir, &limit),
    }
}

/// The scan an aggregation is folded from on 18.x-21.x (`fold.rs`): the
/// `scan` columns of the window's filtered rows, the time first (as Int64
/// milliseconds), in time order only if `ordered`.
pub fn scan_select(
    flavor: Flavor,
    db: &str,
    schema: &TableSchema,
    plan: &Plan,
    scan: &TableSchema,
    window: &str,
    ordered: bool,
) -> String {
    let ts = time_ms(flavor, schema);
    let cols: Vec<&str> = scan.columns[1..].iter().map(|c| c.name.as_str()).collect();
    let rest = if cols.is_empty() {
        String::new()
    } else {
        format!(", {}", cols.join(", "))
    };
    let order = if ordered {
        format!(" ORDER BY {}", schema.time_column)
    } else {
        String::new()
    };
    format!(
        "SELECT {ts}{rest} FROM {db}.{} WHERE {window}{}{order}",
        schema.name,
        filters(flavor, plan)
    )
}

fn aggregate(
    flavor: Flavor,
    db: &str,
    schema: &TableSchema,
    a: &AggPlan,
    wher: &str,
    dir: &str,
    limit: &str,
) -> String {
    let ts = time_ms(flavor, schema);
    let ty = |c: &str| schema.column(c).map(|(_, d)| d.ty);
    let mut keys = Vec::new();
    if let Some(iv) = a.interval_ms {
        keys.push(format!("{} AS _k", bucket_sql(&ts, iv)));
    }
    for (i, g) in a.group_by.iter().enumerate() {
        keys.push(format!("{} AS _g{i}", g.name));
    }
    let key_names: Vec<String> = (0..keys.len())
        .map(|i| {
            if a.interval_ms.is_some() && i == 0 {
                "_k".to_string()
            } else {
                format!("_g{}", i - usize::from(a.interval_ms.is_some()))
            }
        })
        .collect();
    let mut cols = keys;
    let mut flags = Vec::new();
    for p in &a.parts {
        cols.push(match p {
            // Ties in time are broken by price, as every store does.
            Part::Open(c) => format!("argMin({c}, ({ts}, {c}))"),
            Part::Close(c) => format!("argMax({c}, ({ts}, {c}))"),
            Part::High(c) | Part::Max(c) => format!("max({c})"),
            Part::Low(c) | Part::Min(c) => format!("min({c})"),
            // Sums come back as the 64-bit type the plan declares; those
            // of 64-bit columns summed exactly, with a flag sent after the
            // parts saying whether the sum fits (`sums.rs`).
            Part::Sum(c) => match ty(c) {
                Some(t) if crate::sums::exact(Some(t)) => {
                    let (value, over) = crate::sums::sum_sql(c, t);
                    flags.push(over);
                    value
                }
                Some(LogicalType::Decimal { scale }) => format!("toDecimal64(sum({c}), {scale})"),
                Some(LogicalType::Float64) => format!("sum({c})"),
                Some(
                    LogicalType::UInt8
                    | LogicalType::UInt16
                    | LogicalType::UInt32
                    | LogicalType::UInt64,
                ) => format!("toUInt64(sum({c}))"),
                _ => format!("toInt64(sum({c}))"),
            },
            Part::Count => "count()".to_string(),
        });
    }
    cols.extend(flags);
    let group = if key_names.is_empty() {
        " HAVING count() > 0".to_string()
    } else {
        let order: Vec<String> = key_names.iter().map(|k| format!("{k} {dir}")).collect();
        format!(
            " GROUP BY {} ORDER BY {}",
            key_names.join(", "),
            order.join(", ")
        )
    };
    format!(
        "SELECT {} FROM {db}.{} WHERE {wher}{group}{limit}",
        cols.join(", "),
        schema.name
    )
}

/// The start of the bucket holding each row, as
/// [`hotcold_core::query::bucket`] computes it, over an Int64 millisecond
/// expression; `%` truncates toward zero, hence the double mod. Typed Int64
/// throughout: ClickHouse narrows `x % 60000` to Int32 and the rest of the
/// expression then wraps.
fn bucket_sql(ts: &str, iv: i64) -> String {
    format!("({ts} - ((({ts}) % toInt64({iv})) + toInt64({iv})) % toInt64({iv}))")
}

/// `time >= from` in the flavor's time type; `i64::MIN` is every row
/// (no conversion of an instant no DateTime64 can hold).
pub fn since_clause(flavor: Flavor, schema: &TableSchema, from: i64) -> String {
    let ts = &schema.time_column;
    match flavor {
        _ if from == i64::MIN => "1".into(),
        Flavor::Legacy => format!("{ts} >= {from}"),
        Flavor::Modern => format!("{ts} >= fromUnixTimestamp64Milli(toInt64({from}), 'UTC')"),
    }
}

/// The window clause in the flavor's time type.
pub fn window_clause(flavor: Flavor, schema: &TableSchema, w: Window) -> String {
    let ts = &schema.time_column;
    match flavor {
        Flavor::Legacy => format!("{ts} >= {} AND {ts} < {}", w.start, w.end),
        Flavor::Modern => format!(
            "{ts} >= fromUnixTimestamp64Milli(toInt64({}), 'UTC') AND {ts} < fromUnixTimestamp64Milli(toInt64({}), 'UTC')",
            w.start, w.end
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn literals_escape_what_would_end_them() {
        assert_eq!(quote_string("a'b"), "'a\\'b'");
        assert_eq!(quote_string("a\\'"), "'a\\\\\\''");
        assert_eq!(quote_string("x\ny\0"), "'x\\x0Ay\\x00'");
        assert_eq!(quote_string("ü€"), "'ü€'");
        assert_eq!(
            literal(
                Flavor::Legacy,
                LogicalType::Decimal { scale: 2 },
                &Value::I64(-150)
            ),
            "toDecimal64('-1.50', 2)"
        );
        assert_eq!(
            literal(Flavor::Modern, LogicalType::Bool, &Value::Bool(true)),
            "true"
        );
    }

    proptest! {
        /// Whatever the string, the literal is one token: it starts and ends
        /// with a quote, and every quote inside is escaped.
        #[test]
        fn a_string_never_ends_its_literal_early(s in ".*") {
            let q = quote_string(&s);
            let inner = &q[1..q.len() - 1];
            let mut escaped = false;
            for ch in inner.chars() {
                if escaped { escaped = false; continue; }
                match ch {
                    '\\' => escaped = true,
                    '\'' => prop_assert!(false, "bare quote in {q}"),
                    c => prop_assert!((c as u32) >= 0x20 && c as u32 != 0x7f),
                }
            }
            prop_assert!(!escaped);
        }
    }
}
