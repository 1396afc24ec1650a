//! The fold's cells: how each kind compares and adds, and the typed loops
//! that fold one column of a batch into the held cells of its keys.

use std::cmp::Ordering;

/// The row that made its key: its cells are the key's first values.
pub(super) const FRESH: usize = usize::MAX;

/// One cell kind, as the fold compares and adds it.
pub(super) trait Cell: Clone {
    /// How `self` compares with `held` (`None`: not comparable, a NaN).
    fn order(&self, held: &Self) -> Option<Ordering>;
    /// Sums: adds `self` to `held`, wrapping, and returns the carry out
    /// of 64 bits (+1 past the top, -1 past the bottom). The fold counts
    /// carries per key, so an integer sum is exact in any order and is
    /// refused only if its total does not fit (never a wrap or a
    /// saturation). Floats add; other kinds are not summed.
    fn add_to(&self, _held: &mut Self) -> i8 {
        0
    }
}

impl Cell for i64 {
    fn order(&self, held: &Self) -> Option<Ordering> {
        Some(self.cmp(held))
    }
    fn add_to(&self, held: &mut Self) -> i8 {
        let (v, over) = held.overflowing_add(*self);
        *held = v;
        // Only adding a negative can pass the bottom; no branch.
        i8::from(over) * (((*self >> 63) as i8) * 2 + 1)
    }
}

impl Cell for u64 {
    fn order(&self, held: &Self) -> Option<Ordering> {
        Some(self.cmp(held))
    }
    fn add_to(&self, held: &mut Self) -> i8 {
        let (v, over) = held.overflowing_add(*self);
        *held = v;
        i8::from(over)
    }
}

impl Cell for f64 {
    fn order(&self, held: &Self) -> Option<Ordering> {
        self.partial_cmp(held)
    }
    fn add_to(&self, held: &mut Self) -> i8 {
        *held += *self;
        0
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

/// The rows folded into a key that existed: (row, key).
pub(super) fn folded(slots: &[usize]) -> impl Iterator<Item = (usize, usize)> + '_ {
    slots
        .iter()
        .enumerate()
        .filter(|(_, k)| **k != FRESH)
        .map(|(i, k)| (i, *k))
}

/// High, low, max, min: the cell replaces the held one if it is `want`.
pub(super) fn extreme<T: Cell>(held: &mut [T], new: &[T], slots: &[usize], want: Ordering) {
    for (i, k) in folded(slots) {
        if new[i].order(&held[k]) == Some(want) {
            held[k].clone_from(&new[i]);
        }
    }
}

/// Sums and counts; each key's carries out of 64 bits are added up in
/// `carries` (grown only when one happens, which is almost never). The held
/// cell plus carries x 2^64 is the exact sum.
pub(super) fn sum<T: Cell>(held: &mut [T], new: &[T], slots: &[usize], carries: &mut Vec<i64>) {
    for (i, k) in folded(slots) {
        let c = new[i].add_to(&mut held[k]);
        if c != 0 {
            if carries.len() <= k {
                carries.resize(k + 1, 0);
            }
            carries[k] += i64::from(c);
        }
    }
}

/// Close of partials in time order: the later part's close wins.
pub(super) fn last<T: Cell>(held: &mut [T], new: &[T], slots: &[usize]) {
    for (i, k) in folded(slots) {
        held[k].clone_from(&new[i]);
    }
}

/// Open (`open`) or close of single rows in any order: the first or last
/// row by (time, price), the price settling ties in time.
pub(super) fn by_time<T: Cell>(
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
