//! Folding partial rows into one row per (bucket, groups) key. The router
//! folds cold's partials then hot's, and SQLite folds its own rows into bars,
//! so the same fold decides every answer; that is why it works on a batch's
//! columns in place (a day of trades passes through it row by row) and why it
//! holds a bound on its keys: groups x buckets, not only buckets, is what
//! fills memory.
//!
//! [`bucket`] lives here because a fold's keys are its buckets: the stores'
//! SQL writes the same arithmetic, and the reference checks them against it.

use super::fold_cells::{by_time, extreme, last, sum, FRESH};
use super::keys::{cell_eq, finish_hash, hash_column, KeyIndex};
use super::limits::{FoldError, SumOverflow, TooManyGroups};
use super::types::{AggPlan, Part};
use crate::batch::{Column, RowBatch};
use crate::schema::{LogicalType, TableSchema};
use std::cmp::Ordering;

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
    /// The declared type of each part's column, to name in an overflow.
    types: Vec<LogicalType>,
    /// Per part, per key: the carries of its sum out of 64 bits (empty
    /// until one happens). Not all zero at the end: the sum does not fit.
    carries: Vec<Vec<i64>>,
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
            types: plan.part_types.clone(),
            carries: vec![Vec::new(); plan.parts.len()],
            key_len: plan.key_len(),
            acc: Vec::new(),
            times: Vec::new(),
            index: KeyIndex::default(),
            cap: plan.max_groups,
            slots: Vec::new(),
            hashes: Vec::new(),
        }
    }

    pub fn add(&mut self, b: &RowBatch) -> Result<(), FoldError> {
        self.fold(b, None)
    }

    /// [`Merger::add`] of a batch the caller is done with: the cells of new
    /// keys are moved, not copied.
    pub fn add_owned(&mut self, b: RowBatch) -> Result<(), FoldError> {
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
    pub fn add_timed(&mut self, b: &RowBatch, ts: &[i64]) -> Result<(), FoldError> {
        self.fold(b, Some(ts))
    }

    /// Two passes over the batch: each row's key (new keys take the row's
    /// cells), then each part's column folded into the keys' cells.
    fn fold(&mut self, mut b: impl Rows, ts: Option<&[i64]>) -> Result<(), FoldError> {
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
                (Part::Sum(_) | Part::Count, _) => {
                    let carries = &mut self.carries[j];
                    match (held, new) {
                        (Column::I64(h), Column::I64(n)) => sum(h, n, slots, carries),
                        (Column::U64(h), Column::U64(n)) => sum(h, n, slots, carries),
                        (Column::F64(h), Column::F64(n)) => sum(h, n, slots, carries),
                        _ => {}
                    }
                }
            }
        }
        Ok(())
    }

    /// The merged rows in key order (newest bucket first if `descending`),
    /// at most `limit`; true if more were there. A sum whose exact value
    /// does not fit its 64 bits (in any key, shown or not) refuses it all.
    pub fn finish(
        self,
        schema: &TableSchema,
        descending: bool,
        limit: u64,
    ) -> Result<(RowBatch, bool), SumOverflow> {
        if let Some(j) = self.carries.iter().position(|c| c.iter().any(|n| *n != 0)) {
            let col = self.parts[j].column().unwrap_or("count");
            let ty = self.types.get(j).copied().unwrap_or(LogicalType::UInt64);
            return Err(SumOverflow::new(col, ty));
        }
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
            return Ok((RowBatch::new(schema), cut));
        }
        let columns = self.acc.into_iter().map(|c| gather(c, &order)).collect();
        Ok((RowBatch { columns }, cut))
    }
}

/// The start of the bucket holding `ts`: buckets are aligned to the epoch
/// (UTC), also before it. (Wrapping only within one interval of
/// `i64::MIN`, where no bucket start exists.)
pub fn bucket(ts: i64, interval_ms: i64) -> i64 {
    ts.wrapping_sub(ts.rem_euclid(interval_ms))
}

#[cfg(test)]
#[path = "merge_tests.rs"]
mod tests;
