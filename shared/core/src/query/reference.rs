//! A reference aggregation over plain rows, for tests: the stores' SQL
//! (SQLite's fold, ClickHouse's GROUP BY) is checked against it over the same
//! rows. It folds one whole row at a time with plain comparisons, not the
//! column-wise fold the stores and the router run, so a mistake in that fast
//! path shows up as a difference instead of being shared by both sides.
//!
//! Compiled for core's own tests and behind the `reference` feature, which
//! crates enable in their `[dev-dependencies]` only: nothing in production
//! aggregates this way.

use super::merge::{bucket, key_of, Merger, TooManyGroups};
use super::types::{AggPlan, Part, Plan};
use crate::batch::RowBatch;
use crate::schema::TableSchema;
use crate::value::Value;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

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
    // A reference: no bound on the keys, so adding never fails.
    let mut m = Merger::new(&AggPlan {
        max_groups: u64::MAX,
        ..a.clone()
    });
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
        let _ = m.add_row(out);
    }
    m.finish(&plan.output, false, u64::MAX).0
}

fn cmp_values(a: &Value, b: &Value) -> std::cmp::Ordering {
    match (a, b) {
        (Value::F64(x), Value::F64(y)) => x.total_cmp(y),
        _ => key_of(a).cmp(&key_of(b)),
    }
}

impl Merger {
    /// Folds one whole partial row (the reference's way: no columns, no
    /// timed ties), with the same bound on keys as the batch fold.
    pub(crate) fn add_row(&mut self, row: Vec<Value>) -> Result<(), TooManyGroups> {
        let k = self.key_len;
        let mut h = DefaultHasher::new();
        for v in &row[..k] {
            hash_value(v, &mut h);
        }
        let h = h.finish();
        let found = self.index.get(&h).and_then(|ixs| {
            ixs.iter()
                .copied()
                .find(|&ix| self.rows[ix][..k] == row[..k])
        });
        let Some(ix) = found else {
            self.room()?;
            self.rows.push(row);
            self.times.push((0, 0));
            self.index.entry(h).or_default().push(self.rows.len() - 1);
            return Ok(());
        };
        let have = &mut self.rows[ix];
        for (j, p) in self.parts.iter().enumerate() {
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
        Ok(())
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

fn hash_value(v: &Value, h: &mut impl Hasher) {
    match v {
        Value::I64(x) => x.hash(h),
        Value::U64(x) => x.hash(h),
        Value::F64(x) => x.to_bits().hash(h),
        Value::Bool(x) => x.hash(h),
        Value::Str(x) => x.hash(h),
    }
}
