//! Folding partial rows into one row per (bucket, groups) key. The router
//! folds cold's partials then hot's, and SQLite folds its own rows into bars,
//! so the same fold decides every answer; that is why it works on a batch's
//! columns in place (a day of trades passes through it row by row) and why it
//! holds a bound on its keys: groups x buckets, not only buckets, is what
//! fills memory.
//!
//! [`bucket`] lives here because a fold's keys are its buckets: the stores'
//! SQL writes the same arithmetic, and the reference checks them against it.

use super::types::{AggPlan, Part};
use crate::batch::{Column, RowBatch};
use crate::schema::TableSchema;
use crate::value::Value;
use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};

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

/// A sortable group key: bucket and group values (never floats).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Key {
    I(i64),
    U(u64),
    B(bool),
    S(String),
    /// A float in a key cannot happen (planning refuses float groups);
    /// its bits keep the order total anyway.
    F(u64),
}

pub(super) fn key_of(v: &Value) -> Key {
    match v {
        Value::I64(x) => Key::I(*x),
        Value::U64(x) => Key::U(*x),
        Value::Bool(x) => Key::B(*x),
        Value::Str(x) => Key::S(x.clone()),
        Value::F64(x) => Key::F(x.to_bits()),
    }
}

/// Combines partial aggregate rows. Feed the parts in time order (cold,
/// then hot): a bucket seen twice keeps the first part's open and the
/// second's close.
///
/// Folding a day of trades into bars goes through here once per row, so a
/// row whose group already exists is folded from the batch's columns in
/// place: no row, key or string is allocated for it.
pub struct Merger {
    pub(super) parts: Vec<Part>,
    pub(super) key_len: usize,
    pub(super) rows: Vec<Vec<Value>>,
    /// For `add_timed`: the time of each group's open and close row.
    pub(super) times: Vec<(i64, i64)>,
    /// Hash of a row's key → indices into `rows` with that hash.
    pub(super) index: HashMap<u64, Vec<usize>>,
    /// At most this many rows (keys); past it the fold fails.
    pub(super) cap: u64,
}

fn hash_cell(c: &Column, i: usize, h: &mut impl Hasher) {
    match c {
        Column::I64(v) => v[i].hash(h),
        Column::U64(v) => v[i].hash(h),
        Column::F64(v) => v[i].to_bits().hash(h),
        Column::Bool(v) => v[i].hash(h),
        Column::Str(v) => v[i].hash(h),
    }
}

fn cell_eq(v: &Value, c: &Column, i: usize) -> bool {
    match (v, c) {
        (Value::I64(x), Column::I64(y)) => *x == y[i],
        (Value::U64(x), Column::U64(y)) => *x == y[i],
        (Value::F64(x), Column::F64(y)) => x.to_bits() == y[i].to_bits(),
        (Value::Bool(x), Column::Bool(y)) => *x == y[i],
        (Value::Str(x), Column::Str(y)) => *x == y[i],
        _ => false,
    }
}

/// How the cell compares with the value held (Greater: the cell is larger).
fn cell_cmp(v: &Value, c: &Column, i: usize) -> std::cmp::Ordering {
    use std::cmp::Ordering::Equal;
    match (v, c) {
        (Value::I64(x), Column::I64(y)) => y[i].cmp(x),
        (Value::U64(x), Column::U64(y)) => y[i].cmp(x),
        (Value::F64(x), Column::F64(y)) => y[i].partial_cmp(x).unwrap_or(Equal),
        (Value::Bool(x), Column::Bool(y)) => y[i].cmp(x),
        (Value::Str(x), Column::Str(y)) => y[i].as_str().cmp(x.as_str()),
        _ => Equal,
    }
}

fn cell_add(v: &mut Value, c: &Column, i: usize) {
    match (v, c) {
        (Value::I64(x), Column::I64(y)) => *x = x.saturating_add(y[i]),
        (Value::U64(x), Column::U64(y)) => *x = x.saturating_add(y[i]),
        (Value::F64(x), Column::F64(y)) => *x += y[i],
        _ => {}
    }
}

impl Merger {
    pub fn new(plan: &AggPlan) -> Self {
        Self {
            parts: plan.parts.clone(),
            key_len: plan.key_len(),
            rows: Vec::new(),
            times: Vec::new(),
            index: HashMap::new(),
            cap: plan.max_groups,
        }
    }

    pub fn add(&mut self, b: &RowBatch) -> Result<(), TooManyGroups> {
        self.fold(b, None)
    }

    /// Room for one more key, or the error naming the bound.
    pub(super) fn room(&self) -> Result<(), TooManyGroups> {
        if self.rows.len() as u64 >= self.cap {
            return Err(TooManyGroups { max: self.cap });
        }
        Ok(())
    }

    /// Folds single rows (count 1, open = close = the row's price) with
    /// each row's time, in any order: open and close go to the first and
    /// last row by (time, price), so a store can stream rows in time order
    /// alone, without sorting ties by price.
    pub fn add_timed(&mut self, b: &RowBatch, ts: &[i64]) -> Result<(), TooManyGroups> {
        self.fold(b, Some(ts))
    }

    fn fold(&mut self, b: &RowBatch, ts: Option<&[i64]>) -> Result<(), TooManyGroups> {
        let k = self.key_len;
        for i in 0..b.len() {
            let t = ts.and_then(|t| t.get(i).copied()).unwrap_or(0);
            let mut h = DefaultHasher::new();
            for c in &b.columns[..k] {
                hash_cell(c, i, &mut h);
            }
            let h = h.finish();
            let found = self.index.get(&h).and_then(|ixs| {
                ixs.iter().copied().find(|&ix| {
                    self.rows[ix][..k]
                        .iter()
                        .zip(&b.columns[..k])
                        .all(|(v, c)| cell_eq(v, c, i))
                })
            });
            let Some(ix) = found else {
                self.room()?;
                self.rows.push(b.row(i));
                self.times.push((t, t));
                self.index.entry(h).or_default().push(self.rows.len() - 1);
                continue;
            };
            let have = &mut self.rows[ix];
            let (open_t, close_t) = self.times[ix];
            for (j, p) in self.parts.iter().enumerate() {
                let (old, col) = (&mut have[k + j], &b.columns[k + j]);
                match p {
                    // Untimed: partials come in time order; the first open
                    // stays, the last close wins.
                    Part::Open(_) if ts.is_none() => {}
                    Part::Close(_) if ts.is_none() => {
                        if let Some(v) = col.get(i) {
                            *old = v;
                        }
                    }
                    Part::Open(_) => {
                        let c = cell_cmp(old, col, i);
                        if t < open_t || (t == open_t && c == std::cmp::Ordering::Less) {
                            if let Some(v) = col.get(i) {
                                *old = v;
                            }
                            self.times[ix].0 = t;
                        }
                    }
                    Part::Close(_) => {
                        let c = cell_cmp(old, col, i);
                        if t > close_t || (t == close_t && c == std::cmp::Ordering::Greater) {
                            if let Some(v) = col.get(i) {
                                *old = v;
                            }
                            self.times[ix].1 = t;
                        }
                    }
                    Part::High(_) | Part::Max(_) => {
                        if cell_cmp(old, col, i) == std::cmp::Ordering::Greater {
                            if let Some(v) = col.get(i) {
                                *old = v;
                            }
                        }
                    }
                    Part::Low(_) | Part::Min(_) => {
                        if cell_cmp(old, col, i) == std::cmp::Ordering::Less {
                            if let Some(v) = col.get(i) {
                                *old = v;
                            }
                        }
                    }
                    Part::Sum(_) | Part::Count => cell_add(old, col, i),
                }
            }
        }
        Ok(())
    }

    /// The merged rows in key order (newest bucket first if `descending`),
    /// at most `limit`; true if more were there.
    pub fn finish(self, schema: &TableSchema, descending: bool, limit: u64) -> (RowBatch, bool) {
        let k = self.key_len;
        let total = self.rows.len() as u64;
        let mut keyed: Vec<(Vec<Key>, Vec<Value>)> = self
            .rows
            .into_iter()
            .map(|r| (r[..k].iter().map(key_of).collect(), r))
            .collect();
        keyed.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        if descending {
            keyed.reverse();
        }
        let n = usize::try_from(limit)
            .unwrap_or(usize::MAX)
            .min(keyed.len());
        let mut out = RowBatch::with_capacity(schema, n);
        for (_, row) in keyed.into_iter().take(n) {
            let _ = out.push_row(row);
        }
        (out, total > limit)
    }
}

/// The start of the bucket holding `ts`: buckets are aligned to the epoch
/// (UTC), also before it.
pub fn bucket(ts: i64, interval_ms: i64) -> i64 {
    ts - ts.rem_euclid(interval_ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::aggregate_rows;
    use crate::query::fixtures::{bars, schema};
    use crate::query::{Aggregate, Func, QuerySpec};
    use proptest::prelude::*;

    #[test]
    fn a_fold_stops_at_its_bound_of_keys() {
        let s = schema();
        let mut p = bars(1000).plan(&s).unwrap();
        let a = p.agg.as_mut().unwrap();
        a.max_groups = 3;
        let rows: Vec<Vec<Value>> = (0..5)
            .map(|i| {
                vec![
                    Value::I64(i * 1000),
                    Value::Str("A".into()),
                    Value::I64(100),
                    Value::F64(1.0),
                ]
            })
            .collect();
        let partials = aggregate_rows(&s, &p, &rows);
        let mut m = Merger::new(p.agg.as_ref().unwrap());
        let err = m.add(&partials).unwrap_err();
        assert_eq!(err, TooManyGroups { max: 3 });
        assert!(TooManyGroups::is_message(&format!("refused: {err}")));
        assert!(!TooManyGroups::is_message("query.max-buckets"));
        assert!(err.to_string().contains("query.max-buckets"), "{err}");
        // Three keys fit: the same rows in three buckets fold.
        let mut m = Merger::new(p.agg.as_ref().unwrap());
        let three = aggregate_rows(&s, &p, &rows[..3]);
        m.add(&three).unwrap();
        m.add(&three).unwrap();
        assert_eq!(m.finish(&p.output, false, 10).0.len(), 3);
    }

    #[test]
    fn buckets_align_before_the_epoch_too() {
        assert_eq!(bucket(-1, 1000), -1000);
        assert_eq!(bucket(-1000, 1000), -1000);
        assert_eq!(bucket(999, 1000), 0);
    }

    fn row_strategy() -> impl Strategy<Value = Vec<Value>> {
        (-50_000i64..50_000, 0..3u8, -500i64..500, 0..64u32).prop_map(|(ts, s, px, q)| {
            vec![
                Value::I64(ts),
                Value::Str(["a", "b", "é"][s as usize].into()),
                Value::I64(px),
                // Eighths add exactly, so sums do not depend on order.
                Value::F64(f64::from(q) / 8.0),
            ]
        })
    }

    proptest! {
        /// Splitting the rows at any time W and merging the two parts'
        /// partials equals aggregating all rows at once.
        #[test]
        fn merging_at_any_split_equals_one_pass(
            rows in proptest::collection::vec(row_strategy(), 0..200),
            w in -60_000i64..60_000,
            iv in 1i64..20,
            stats in any::<bool>(),
        ) {
            let s = schema();
            let spec = if stats {
                QuerySpec { aggregate: Some(Aggregate::Stats {
                    interval_ms: Some(iv * 1000),
                    group_by: vec!["sym".into()],
                    funcs: ["count", "sum:qty", "min:px", "max:px", "avg:px"].iter().map(|f| Func::parse(f).unwrap()).collect(),
                }), ..Default::default() }
            } else { bars(iv * 1000) };
            let p = spec.plan(&s).unwrap();
            let a = p.agg.as_ref().unwrap();
            let whole = aggregate_rows(&s, &p, &rows);
            let (cold, hot): (Vec<_>, Vec<_>) = rows.iter().cloned().partition(|r| matches!(r[0], Value::I64(t) if t < w));
            let mut m = Merger::new(a);
            m.add(&aggregate_rows(&s, &p, &cold)).unwrap();
            m.add(&aggregate_rows(&s, &p, &hot)).unwrap();
            let (merged, _) = m.finish(&p.output, false, u64::MAX);
            prop_assert_eq!(p.finish(&merged), p.finish(&whole));
        }
    }
}
