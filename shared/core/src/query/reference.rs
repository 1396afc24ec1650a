//! A reference aggregation over plain rows, for tests: the stores' SQL
//! (SQLite's fold, ClickHouse's GROUP BY) is checked against it over the same
//! rows. It folds one whole row at a time with plain comparisons, not the
//! column-wise fold the stores and the router run, so a mistake in that fast
//! path shows up as a difference instead of being shared by both sides.
//!
//! Compiled for core's own tests and behind the `reference` feature, which
//! crates enable in their `[dev-dependencies]` only: nothing in production
//! aggregates this way.

use super::merge::bucket;
use super::types::{Part, Plan};
use crate::batch::RowBatch;
use crate::schema::TableSchema;
use crate::value::Value;
use std::collections::HashMap;

/// A sortable group key: bucket and group values (never floats).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Key {
    I(i64),
    U(u64),
    B(bool),
    S(String),
    /// A float in a key cannot happen (planning refuses float groups);
    /// its bits keep the order total anyway.
    F(u64),
}

fn key_of(v: &Value) -> Key {
    match v {
        Value::I64(x) => Key::I(*x),
        Value::U64(x) => Key::U(*x),
        Value::Bool(x) => Key::B(*x),
        Value::Str(x) => Key::S(x.clone()),
        Value::F64(x) => Key::F(x.to_bits()),
    }
}

/// A reference implementation over plain rows (used to test the stores'
/// SQL): partial aggregate rows of `rows`, which must be the table's rows
/// already filtered to the window and filters.
pub fn aggregate_rows(schema: &TableSchema, plan: &Plan, rows: &[Vec<Value>]) -> RowBatch {
    let Some(a) = &plan.agg else {
        let mut b = RowBatch::new(schema);
        for r in rows {
            let _ = b.push_row(r.clone());
        }
        return b;
    };
    let idx = |n: &str| schema.column(n).map_or(0, |(i, _)| i);
    let ti = schema.time_index();
    // Sorting by (time, price) makes open and close well defined.
    let price_i = a.parts.iter().find_map(|p| match p {
        Part::Open(c) => Some(idx(c)),
        _ => None,
    });
    let mut sorted: Vec<&Vec<Value>> = rows.iter().collect();
    sorted.sort_by(|x, y| {
        let t = key_of(&x[ti]).cmp(&key_of(&y[ti]));
        t.then_with(|| match price_i {
            Some(p) => cmp_values(&x[p], &y[p]),
            None => std::cmp::Ordering::Equal,
        })
    });
    let k = a.key_len();
    // A reference: no bound on the keys, and its own plain storage, so
    // nothing of the stores' fold is shared with what checks it.
    let mut folded: Vec<Vec<Value>> = Vec::new();
    let mut index: HashMap<Vec<Key>, usize> = HashMap::new();
    for r in sorted {
        let mut out: Vec<Value> = Vec::new();
        if let (Some(iv), Value::I64(ts)) = (a.interval_ms, &r[ti]) {
            out.push(Value::I64(bucket(*ts, iv)));
        }
        for g in &a.group_by {
            out.push(r[idx(&g.name)].clone());
        }
        for p in &a.parts {
            out.push(match p {
                Part::Open(c)
                | Part::High(c)
                | Part::Low(c)
                | Part::Close(c)
                | Part::Min(c)
                | Part::Max(c) => r[idx(c)].clone(),
                Part::Sum(c) => match &r[idx(c)] {
                    Value::I64(v) => Value::I64(*v),
                    Value::U64(v) => Value::U64(*v),
                    Value::F64(v) => Value::F64(*v),
                    other => other.clone(),
                },
                Part::Count => Value::U64(1),
            });
        }
        let key: Vec<Key> = out[..k].iter().map(key_of).collect();
        match index.get(&key) {
            None => {
                index.insert(key, folded.len());
                folded.push(out);
            }
            Some(&ix) => fold_row(&a.parts, k, &mut folded[ix], &out),
        }
    }
    let mut keyed: Vec<(Vec<Key>, Vec<Value>)> = folded
        .into_iter()
        .map(|r| (r[..k].iter().map(key_of).collect(), r))
        .collect();
    keyed.sort_by(|x, y| x.0.cmp(&y.0));
    let mut out = RowBatch::new(&plan.output);
    for (_, row) in keyed {
        let _ = out.push_row(row);
    }
    out
}

fn cmp_values(a: &Value, b: &Value) -> std::cmp::Ordering {
    match (a, b) {
        (Value::F64(x), Value::F64(y)) => x.total_cmp(y),
        _ => key_of(a).cmp(&key_of(b)),
    }
}

/// Folds one whole row, later in (time, price) order, into the row held.
fn fold_row(parts: &[Part], k: usize, have: &mut [Value], row: &[Value]) {
    for (j, p) in parts.iter().enumerate() {
        let (old, new) = (&have[k + j], &row[k + j]);
        let v = match p {
            Part::Open(_) => old.clone(),
            Part::Close(_) => new.clone(),
            Part::High(_) | Part::Max(_) => pick(old, new, true),
            Part::Low(_) | Part::Min(_) => pick(old, new, false),
            Part::Sum(_) | Part::Count => add(old, new),
        };
        have[k + j] = v;
    }
}

fn pick(a: &Value, b: &Value, want_max: bool) -> Value {
    let greater = match (a, b) {
        (Value::I64(x), Value::I64(y)) => y > x,
        (Value::U64(x), Value::U64(y)) => y > x,
        (Value::F64(x), Value::F64(y)) => y > x,
        (Value::Str(x), Value::Str(y)) => y > x,
        (Value::Bool(x), Value::Bool(y)) => y > x,
        _ => false,
    };
    let less = a != b && !greater;
    if (want_max && greater) || (!want_max && less) {
        b.clone()
    } else {
        a.clone()
    }
}

fn add(a: &Value, b: &Value) -> Value {
    match (a, b) {
        (Value::I64(x), Value::I64(y)) => Value::I64(x.saturating_add(*y)),
        (Value::U64(x), Value::U64(y)) => Value::U64(x.saturating_add(*y)),
        (Value::F64(x), Value::F64(y)) => Value::F64(x + y),
        _ => a.clone(),
    }
}
