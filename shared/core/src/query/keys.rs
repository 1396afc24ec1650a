//! The fold's key index: which (bucket, groups) key a row belongs to, found
//! from the batch's columns in place. A row whose key exists costs a hash and
//! a comparison of its key cells; nothing is allocated for it. Keys are
//! numbered in the order they first appear; their cells live in the
//! [`Merger`](super::Merger)'s columns, not here.
//!
//! Open addressing over `u32` key numbers with the full hash kept beside each
//! key, so a probe compares cells only when the hashes match and a resize
//! rehashes nothing.

use crate::batch::Column;

const EMPTY: u32 = u32::MAX;
const K: u64 = 0x9e37_79b9_7f4a_7c15;

/// Mixes one 64-bit word into a running hash.
fn mix(h: u64, x: u64) -> u64 {
    (h.rotate_left(26) ^ x).wrapping_mul(K)
}

/// Adds each cell of `c` to its row's running hash: a string's bytes 8 at
/// a time, then its length.
pub(super) fn hash_column(c: &Column, hashes: &mut [u64]) {
    match c {
        Column::I64(v) => hashes
            .iter_mut()
            .zip(v)
            .for_each(|(h, x)| *h = mix(*h, *x as u64)),
        Column::U64(v) => hashes.iter_mut().zip(v).for_each(|(h, x)| *h = mix(*h, *x)),
        Column::F64(v) => hashes
            .iter_mut()
            .zip(v)
            .for_each(|(h, x)| *h = mix(*h, x.to_bits())),
        Column::Bool(v) => hashes
            .iter_mut()
            .zip(v)
            .for_each(|(h, x)| *h = mix(*h, u64::from(*x))),
        Column::Str(v) => hashes.iter_mut().zip(v).for_each(|(h, s)| {
            let mut chunks = s.as_bytes().chunks_exact(8);
            for w in &mut chunks {
                let mut b = [0u8; 8];
                b.copy_from_slice(w);
                *h = mix(*h, u64::from_le_bytes(b));
            }
            let mut b = [0u8; 8];
            b[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
            *h = mix(mix(*h, u64::from_le_bytes(b)), s.len() as u64);
        }),
    }
}

/// The final scramble, so the low bits a table slot uses depend on all bits.
pub(super) fn finish_hash(h: u64) -> u64 {
    let h = (h ^ (h >> 33)).wrapping_mul(0xff51_afd7_ed55_8ccd);
    let h = (h ^ (h >> 33)).wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// Whether cell `a` of `x` equals cell `b` of `y` (floats by their bits, as
/// a key compares them).
pub(super) fn cell_eq(x: &Column, a: usize, y: &Column, b: usize) -> bool {
    match (x, y) {
        (Column::I64(x), Column::I64(y)) => x[a] == y[b],
        (Column::U64(x), Column::U64(y)) => x[a] == y[b],
        (Column::F64(x), Column::F64(y)) => x[a].to_bits() == y[b].to_bits(),
        (Column::Bool(x), Column::Bool(y)) => x[a] == y[b],
        (Column::Str(x), Column::Str(y)) => x[a] == y[b],
        _ => false,
    }
}

/// Key numbers by hash. The caller says whether a candidate key equals the
/// row looked up; the index only knows hashes.
#[derive(Default)]
pub(super) struct KeyIndex {
    slots: Vec<u32>,
    /// The hash of each key, by key number.
    hashes: Vec<u64>,
}

impl KeyIndex {
    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    /// The key with hash `h` that `same` accepts, else `None` (and the key
    /// is not added: call [`KeyIndex::insert`] for that).
    pub fn find(&self, h: u64, mut same: impl FnMut(usize) -> bool) -> Option<usize> {
        if self.slots.is_empty() {
            return None;
        }
        let mask = self.slots.len() - 1;
        let mut at = h as usize & mask;
        loop {
            let k = self.slots[at];
            if k == EMPTY {
                return None;
            }
            if self.hashes[k as usize] == h && same(k as usize) {
                return Some(k as usize);
            }
            at = (at + 1) & mask;
        }
    }

    /// Adds a key known to be absent; its number is the count of keys
    /// before it. The caller bounds the count below `u32::MAX`.
    pub fn insert(&mut self, h: u64) -> usize {
        if (self.hashes.len() + 1) * 2 > self.slots.len() {
            self.grow();
        }
        let k = self.hashes.len();
        self.hashes.push(h);
        self.place(k);
        k
    }

    fn place(&mut self, k: usize) {
        let mask = self.slots.len() - 1;
        let mut at = self.hashes[k] as usize & mask;
        while self.slots[at] != EMPTY {
            at = (at + 1) & mask;
        }
        // Below u32::MAX: the Merger refuses more keys than that.
        self.slots[at] = k as u32;
    }

    fn grow(&mut self) {
        let n = (self.slots.len() * 2).max(64);
        self.slots = vec![EMPTY; n];
        for k in 0..self.hashes.len() {
            self.place(k);
        }
    }
}
