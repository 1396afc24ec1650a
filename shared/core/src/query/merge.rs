//! Folding partial rows into one row per (bucket, groups) key. The router
//! folds cold's partials then hot's, and SQLite folds its own rows into bars,
//! so the same fold decides every answer; that is why it works on a batch's
//! columns in place (a day of trades passes through it row by row) and why it
//! holds a bound on its keys: groups x buckets, not only buckets, is what
//! fills memory.
//!
//! [`bucket`] lives here because a fold's keys are its buckets: the stores'
//! SQL writes the same arithmetic, and the reference checks them against it.

use super::keys::{cell_eq, finish_hash, hash_column, KeyIndex};
use super::types::{AggPlan, Part};
use crate::batch::{Column, RowBatch};
use crate::schema::TableSchema;
use std::cmp::Ordering;

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

/// Combines partial aggregate rows. Feed the parts in time order (cold,
/// then hot): a bucket seen twice keeps the first part's open and the
/// second's close.
///
/// Folding a day of trades into bars goes through here once per row, so
/// the fold works on a batch's columns in place: a row whose key exists is
/// hashed, compared and folded into fixed-width cells, with no row, key or
/// string allocated for it. The folded rows are kept column by column too,
/// and [`Merger::finish`] sorts their numbers, not the rows.
pub struct Merger {
    parts: Vec<Part>,
    key_len: usize,
    /// The folded rows, column by column: key cells, then one cell per
    /// part; in the kinds of the first batch (the plan's output kinds).
    acc: Vec<Column>,
    /// For `add_timed`: the time of each key's open and close row.
    times: Vec<(i64, i64)>,
    index: KeyIndex,
    /// At most this many keys; past it the fold fails.
    cap: u64,
    /// Per batch, reused: each row's key number, or [`FRESH`].
    slots: Vec<usize>,
    hashes: Vec<u64>,
}

/// The row that made its key: its cells are the key's first values.
const FRESH: usize = usize::MAX;

/// One cell kind, as the fold compares and adds it.
trait Cell: Clone {
    /// How `self` compares with `held` (`None`: not comparable, a NaN).
    fn order(&self, held: &Self) -> Option<Ordering>;
    /// Sums: integers saturate, floats add; other kinds are not summed.
    fn add_to(&self, _held: &mut Self) {}
}

impl Cell for i64 {
    fn order(&self, held: &Self) -> Option<Ordering> {
        Some(self.cmp(held))
    }
    fn add_to(&self, held: &mut Self) {
        *held = held.saturating_add(*self);
    }
}

impl Cell for u64 {
    fn order(&self, held: &Self) -> Option<Ordering> {
        Some(self.cmp(held))
    }
    fn add_to(&self, held: &mut Self) {
        *held = held.saturating_add(*self);
    }
}

impl Cell for f64 {
    fn order(&self, held: &Self) -> Option<Ordering> {
        self.partial_cmp(held)
    }
    fn add_to(&self, held: &mut Self) {
        *held += *self;
    }
}

impl Cell for bool {
    fn order(&self, held: &Self) -> Option<Ordering> {
        Some(self.cmp(held))
    }
}

impl Cell for String {
    fn order(&self, held: &Self) -> Option<Ordering> {
        Some(self.as_str().cmp(held.as_str()))
    }
}

/// Runs `f` on a typed pair of columns of one kind (the held cells and the
/// batch's); columns of different kinds are never folded together.
macro_rules! typed {
    ($held:expr, $new:expr, $f:ident($($arg:expr),*)) => {
        match ($held, $new) {
            (Column::I64(h), Column::I64(n)) => $f(h, n, $($arg),*),
            (Column::U64(h), Column::U64(n)) => $f(h, n, $($arg),*),
            (Column::F64(h), Column::F64(n)) => $f(h, n, $($arg),*),
            (Column::Bool(h), Column::Bool(n)) => $f(h, n, $($arg),*),
            (Column::Str(h), Column::Str(n)) => $f(h, n, $($arg),*),
            _ => {}
        }
    };
}

/// The rows folded into a key that existed: (row, key).
fn folded(slots: &[usize]) -> impl Iterator<Item = (usize, usize)> + '_ {
    slots
        .iter()
        .enumerate()
        .filter(|(_, k)| **k != FRESH)
        .map(|(i, k)| (i, *k))
}

/// High, low, max, min: the cell replaces the held one if it is `want`.
fn extreme<T: Cell>(held: &mut [T], new: &[T], slots: &[usize], want: Ordering) {
    for (i, k) in folded(slots) {
        if new[i].order(&held[k]) == Some(want) {
            held[k].clone_from(&new[i]);
        }
    }
}

fn sum<T: Cell>(held: &mut [T], new: &[T], slots: &[usize]) {
    for (i, k) in folded(slots) {
        new[i].add_to(&mut held[k]);
    }
}

/// Close of partials in time order: the later part's close wins.
fn last<T: Cell>(held: &mut [T], new: &[T], slots: &[usize]) {
    for (i, k) in folded(slots) {
        held[k].clone_from(&new[i]);
    }
}

/// Open (`open`) or close of single rows in any order: the first or last
/// row by (time, price), the price settling ties in time.
fn by_time<T: Cell>(
    held: &mut [T],
    new: &[T],
    slots: &[usize],
    ts: &[i64],
    times: &mut [(i64, i64)],
    open: bool,
) {
    for (i, k) in folded(slots) {
        let t = ts.get(i).copied().unwrap_or(0);
        let c = new[i].order(&held[k]);
        let (open_t, close_t) = times[k];
        let wins = if open {
            t < open_t || (t == open_t && c == Some(Ordering::Less))
        } else {
            t > close_t || (t == close_t && c == Some(Ordering::Greater))
        };
        if wins {
            held[k].clone_from(&new[i]);
            if open {
                times[k].0 = t;
            } else {
                times[k].1 = t;
            }
        }
    }
}

/// A batch being folded: its columns, and how a row that makes a new key
/// gives its cells (copied from a borrowed batch, moved out of an owned
/// one: that row is never read again).
trait Rows {
    fn columns(&self) -> &[Column];
    fn give(&mut self, held: &mut [Column], i: usize);
}

impl Rows for &RowBatch {
    fn columns(&self) -> &[Column] {
        &self.columns
    }
    fn give(&mut self, held: &mut [Column], i: usize) {
        for (h, n) in held.iter_mut().zip(&self.columns) {
            match (h, n) {
                (Column::I64(h), Column::I64(n)) => h.push(n[i]),
                (Column::U64(h), Column::U64(n)) => h.push(n[i]),
                (Column::F64(h), Column::F64(n)) => h.push(n[i]),
                (Column::Bool(h), Column::Bool(n)) => h.push(n[i]),
                (Column::Str(h), Column::Str(n)) => h.push(n[i].clone()),
                _ => {}
            }
        }
    }
}

struct Owned(RowBatch);

impl Rows for Owned {
    fn columns(&self) -> &[Column] {
        &self.0.columns
    }
    fn give(&mut self, held: &mut [Column], i: usize) {
        for (h, n) in held.iter_mut().zip(&mut self.0.columns) {
            match (h, n) {
                (Column::I64(h), Column::I64(n)) => h.push(n[i]),
                (Column::U64(h), Column::U64(n)) => h.push(n[i]),
                (Column::F64(h), Column::F64(n)) => h.push(n[i]),
                (Column::Bool(h), Column::Bool(n)) => h.push(n[i]),
                (Column::Str(h), Column::Str(n)) => h.push(std::mem::take(&mut n[i])),
                _ => {}
            }
        }
    }
}

/// How key `a` compares with key `b` in one key column (floats by their
/// bits: a total order, and planning keeps floats out of keys anyway).
fn key_cmp(c: &Column, a: usize, b: usize) -> Ordering {
    match c {
        Column::I64(v) => v[a].cmp(&v[b]),
        Column::U64(v) => v[a].cmp(&v[b]),
        Column::F64(v) => v[a].to_bits().cmp(&v[b].to_bits()),
        Column::Bool(v) => v[a].cmp(&v[b]),
        Column::Str(v) => v[a].cmp(&v[b]),
    }
}

/// The cells at `order`, in that order (each index at most once).
fn gather(c: Column, order: &[usize]) -> Column {
    match c {
        Column::I64(v) => Column::I64(order.iter().map(|&i| v[i]).collect()),
        Column::U64(v) => Column::U64(order.iter().map(|&i| v[i]).collect()),
        Column::F64(v) => Column::F64(order.iter().map(|&i| v[i]).collect()),
        Column::Bool(v) => Column::Bool(order.iter().map(|&i| v[i]).collect()),
        Column::Str(mut v) => {
            Column::Str(order.iter().map(|&i| std::mem::take(&mut v[i])).collect())
        }
    }
}

impl Merger {
    pub fn new(plan: &AggPlan) -> Self {
        Self {
            parts: plan.parts.clone(),
            key_len: plan.key_len(),
            acc: Vec::new(),
            times: Vec::new(),
            index: KeyIndex::default(),
            cap: plan.max_groups,
            slots: Vec::new(),
            hashes: Vec::new(),
        }
    }

    pub fn add(&mut self, b: &RowBatch) -> Result<(), TooManyGroups> {
        self.fold(b, None)
    }

    /// [`Merger::add`] of a batch the caller is done with: the cells of new
    /// keys are moved, not copied.
    pub fn add_owned(&mut self, b: RowBatch) -> Result<(), TooManyGroups> {
        self.fold(Owned(b), None)
    }

    /// Room for one more key, or the error naming the bound (key numbers
    /// are `u32`, a bound of its own far above any memory).
    fn room(&self) -> Result<(), TooManyGroups> {
        let n = self.index.len();
        if n as u64 >= self.cap || n >= (u32::MAX - 1) as usize {
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

    /// Two passes over the batch: each row's key (new keys take the row's
    /// cells), then each part's column folded into the keys' cells.
    fn fold(&mut self, mut b: impl Rows, ts: Option<&[i64]>) -> Result<(), TooManyGroups> {
        let (k, n) = (self.key_len, b.columns().first().map_or(0, Column::len));
        if n == 0 {
            return Ok(());
        }
        if self.acc.is_empty() {
            self.acc = b
                .columns()
                .iter()
                .map(|c| Column::new(c.kind(), 0))
                .collect();
        }
        // Stores and decoders produce the plan's output kinds, so a batch
        // of other kinds cannot come; it would not be folded.
        let width = k + self.parts.len();
        if b.columns().len() != width
            || self.acc.len() != width
            || self
                .acc
                .iter()
                .zip(b.columns())
                .any(|(a, c)| a.kind() != c.kind())
        {
            debug_assert!(false, "a batch of other kinds than the fold's");
            return Ok(());
        }
        self.hashes.clear();
        self.hashes.resize(n, 0);
        for c in &b.columns()[..k] {
            hash_column(c, &mut self.hashes);
        }
        self.slots.clear();
        for i in 0..n {
            let h = finish_hash(self.hashes[i]);
            let (acc, cols) = (&self.acc, b.columns());
            let same = |key: usize| (0..k).all(|c| cell_eq(&acc[c], key, &cols[c], i));
            if let Some(key) = self.index.find(h, same) {
                self.slots.push(key);
                continue;
            }
            self.room()?;
            self.index.insert(h);
            b.give(&mut self.acc, i);
            let t = ts.map_or(0, |t| t.get(i).copied().unwrap_or(0));
            self.times.push((t, t));
            self.slots.push(FRESH);
        }
        let (slots, times) = (&self.slots[..], &mut self.times[..]);
        for (j, p) in self.parts.iter().enumerate() {
            let (held, new) = (&mut self.acc[k + j], &b.columns()[k + j]);
            match (p, ts) {
                // Untimed: partials come in time order; the first open
                // stays, the last close wins.
                (Part::Open(_), None) => {}
                (Part::Close(_), None) => typed!(held, new, last(slots)),
                (Part::Open(_), Some(ts)) => typed!(held, new, by_time(slots, ts, times, true)),
                (Part::Close(_), Some(ts)) => typed!(held, new, by_time(slots, ts, times, false)),
                (Part::High(_) | Part::Max(_), _) => {
                    typed!(held, new, extreme(slots, Ordering::Greater))
                }
                (Part::Low(_) | Part::Min(_), _) => {
                    typed!(held, new, extreme(slots, Ordering::Less))
                }
                (Part::Sum(_) | Part::Count, _) => typed!(held, new, sum(slots)),
            }
        }
        Ok(())
    }

    /// The merged rows in key order (newest bucket first if `descending`),
    /// at most `limit`; true if more were there.
    pub fn finish(self, schema: &TableSchema, descending: bool, limit: u64) -> (RowBatch, bool) {
        let total = self.index.len();
        let keys = &self.acc[..self.key_len.min(self.acc.len())];
        let mut order: Vec<usize> = (0..total).collect();
        // Keys are distinct, so an unstable sort gives the one order.
        order.sort_unstable_by(|&a, &b| {
            keys.iter()
                .map(|c| key_cmp(c, a, b))
                .find(|o| o.is_ne())
                .unwrap_or(Ordering::Equal)
        });
        if descending {
            order.reverse();
        }
        let n = usize::try_from(limit).unwrap_or(usize::MAX).min(total);
        order.truncate(n);
        let cut = total as u64 > limit;
        let fits = self.acc.len() == schema.columns.len()
            && self
                .acc
                .iter()
                .zip(&schema.columns)
                .all(|(a, c)| a.kind() == c.ty.physical());
        if !fits {
            // Nothing was folded (or, never, rows of other kinds).
            return (RowBatch::new(schema), cut);
        }
        let columns = self.acc.into_iter().map(|c| gather(c, &order)).collect();
        (RowBatch { columns }, cut)
    }
}

/// The start of the bucket holding `ts`: buckets are aligned to the epoch
/// (UTC), also before it. (Wrapping only within one interval of
/// `i64::MIN`, where no bucket start exists.)
pub fn bucket(ts: i64, interval_ms: i64) -> i64 {
    ts.wrapping_sub(ts.rem_euclid(interval_ms))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::aggregate_rows;
    use crate::query::fixtures::{bars, schema};
    use crate::query::{Aggregate, Func, QuerySpec};
    use crate::value::Value;
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
            // The router's way: batches it is done with are moved in.
            m.add_owned(aggregate_rows(&s, &p, &hot)).unwrap();
            let (merged, _) = m.finish(&p.output, false, u64::MAX);
            prop_assert_eq!(p.finish(&merged), p.finish(&whole));
        }

        /// Single rows folded with their times in any order, in batches of
        /// any size (no groups, one group, several), equal the reference's
        /// one pass over the rows sorted by (time, price); descending order
        /// and a limit cut the same sorted keys.
        #[test]
        fn timed_rows_in_any_order_equal_the_reference(
            rows in proptest::collection::vec(row_strategy(), 0..300),
            seed in any::<u64>(),
            chunk in 1usize..70,
            iv in 1i64..20,
            groups in 0usize..2,
            descending in any::<bool>(),
            limit in 0u64..400,
        ) {
            let s = schema();
            // Coarse times: many rows share one, as trades do.
            let rows: Vec<Vec<Value>> = rows.into_iter().map(|mut r| {
                if let Value::I64(t) = r[0] { r[0] = Value::I64(t / 700 * 700); }
                r
            }).collect();
            let mut spec = bars(iv * 1000);
            if let Some(Aggregate::Bars { group_by, .. }) = spec.aggregate.as_mut() {
                group_by.truncate(groups);
            }
            let p = spec.plan(&s).unwrap();
            let a = p.agg.as_ref().unwrap();
            let mut order: Vec<usize> = (0..rows.len()).collect();
            let mut x = seed | 1;
            for i in (1..order.len()).rev() {
                x ^= x << 13; x ^= x >> 7; x ^= x << 17;
                order.swap(i, (x % (i as u64 + 1)) as usize);
            }
            let mut m = Merger::new(a);
            for c in order.chunks(chunk) {
                let mut b = RowBatch::new(&p.output);
                let mut ts = Vec::new();
                for &i in c {
                    let one = aggregate_rows(&s, &p, &rows[i..=i]);
                    b.push_row(one.row(0)).unwrap();
                    ts.push(match rows[i][0] { Value::I64(t) => t, _ => 0 });
                }
                m.add_timed(&b, &ts).unwrap();
            }
            let (got, cut) = m.finish(&p.output, descending, limit);
            let whole = aggregate_rows(&s, &p, &rows);
            let mut want: Vec<Vec<Value>> = (0..whole.len()).map(|i| whole.row(i)).collect();
            if descending { want.reverse(); }
            prop_assert_eq!(cut, want.len() as u64 > limit);
            want.truncate(limit as usize);
            let got: Vec<Vec<Value>> = (0..got.len()).map(|i| got.row(i)).collect();
            prop_assert_eq!(got, want);
        }
    }
}
