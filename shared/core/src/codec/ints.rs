//! Integers in HCS2, and everything held as one: float bit patterns, string
//! lengths, dictionary ids.
//!
//! A column is turned into residuals by one of five transforms, chosen per
//! column by estimating each on a sample (the order-0 entropy of the byte
//! planes it would give): the values themselves, deltas, deltas of deltas
//! (timestamps at a steady rate), the distance from a line (a steady rate
//! with jitter: snapshots every 100 ms), or the delta against the previous
//! row of the same group (the same exchange and symbol: the price of one book, the
//! sequence of one feed, where rows of many books interleave). Residuals
//! are divided by their common divisor (scaled decimals move by whole ticks
//! and lots), mapped to unsigned (plain: minus the minimum; deltas: zigzag,
//! minus the minimum) and cut into byte planes, each its own stream, so
//! zstd sees bytes of one significance at a time and the high planes of
//! small residuals are all zero; a plane whose bytes are all below 16 is
//! packed 2, 4 or 8 values a byte. When most residuals are zero (a book's
//! best size, unchanged in most of its snapshots) a bitmap says which are
//! not and the planes hold only those.
//!
//! `[u8 transform][varint first values, 0 to 2][varint slope, if linear]
//!  [varint base][varint divisor]
//!  [u8 planes, | 0x80 if sparse][bitmap stream, if sparse]
//!  [per plane: u8 bits a value (1, 2, 4, 8), stream]`

use super::limits::Budget;
use super::stream::{Packer, Unpacker};
use super::varint::{put_u64, unzigzag, zigzag, Reader};
use super::DecodeError;
use estimate::{choose, entropy, plane_bits, stride};

mod estimate;
mod planes;
use planes::{is_sparse, pack, read_planes, width};

/// How rows are grouped (see `segment.rs`): a key per row, every key below
/// `count` (the product of the key columns' dictionary sizes, at most
/// 4,096), which is what lets the users index by key.
pub(super) struct Groups {
    pub(super) key: Vec<u32>,
    pub(super) count: usize,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Transform {
    Plain = 0,
    Delta = 1,
    Delta2 = 2,
    GroupDelta = 3,
    Linear = 4,
}

impl Transform {
    fn from_u8(b: u8) -> Option<Self> {
        Some(match b {
            0 => Self::Plain,
            1 => Self::Delta,
            2 => Self::Delta2,
            3 => Self::GroupDelta,
            4 => Self::Linear,
            _ => return None,
        })
    }

    /// Residuals mapped by subtracting the minimum rather than zigzag: the
    /// values themselves, and a line's residuals (all on one side of it).
    fn offset_mapped(self) -> bool {
        matches!(self, Self::Plain | Self::Linear)
    }

    /// Values stored whole in the header before the residuals start.
    fn first_values(self, rows: usize) -> usize {
        let n = match self {
            Self::Plain | Self::GroupDelta => 0,
            Self::Delta | Self::Linear => 1,
            Self::Delta2 => 2,
        };
        n.min(rows)
    }
}

/// A plane this close to 8 bits a byte is stored without trying zstd.
const INCOMPRESSIBLE_BITS: f64 = 7.9;
/// Set in the planes byte: a bitmap of the non-zero values comes first,
/// and the planes hold only those.
const SPARSE: u8 = 0x80;
/// Larger common divisors are not looked for: ticks and lots are small,
/// and the division stays exact in i64.
const MAX_DIVISOR: u64 = 1 << 32;

/// The slope of a steady series (rows at a fixed rate with jitter), per
/// row with 16 fractional bits: from the means of its first and last
/// quarters, so one row's jitter does not tilt the line.
fn slope(v: &[u64]) -> i64 {
    let n = v.len();
    let q = n / 4;
    if q == 0 {
        return 0;
    }
    let sum = |s: &[u64]| s.iter().map(|&x| i128::from(x as i64)).sum::<i128>();
    let rise = (sum(&v[n - q..]) - sum(&v[..q])) << 16;
    let run = (q * (n - q)) as i128;
    (rise / run).clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

/// Row `i` on the line from `v0` with `slope`; wrapping, the same on both
/// sides.
fn predict(v0: u64, slope: i64, i: usize) -> u64 {
    v0.wrapping_add(((i as i128 * i128::from(slope)) >> 16) as u64)
}

/// The residual of row `i` under `t`, as an i64 bit pattern.
fn residual(t: Transform, v: &[u64], i: usize, slope: i64) -> u64 {
    match t {
        Transform::Linear => v[i].wrapping_sub(predict(v[0], slope, i)),
        Transform::Plain | Transform::GroupDelta => v[i],
        Transform::Delta => v[i].wrapping_sub(v[i - 1]),
        Transform::Delta2 => v[i]
            .wrapping_sub(v[i - 1])
            .wrapping_sub(v[i - 1].wrapping_sub(v[i - 2])),
    }
}

/// Residuals of every row from `first` on; GroupDelta against the previous
/// row of the row's group (the previous row of any group for a group's
/// first row, 0 for row 0).
fn residuals(t: Transform, v: &[u64], groups: Option<&Groups>, slope: i64, out: &mut Vec<u64>) {
    out.clear();
    let first = t.first_values(v.len());
    match (t, groups) {
        (Transform::GroupDelta, Some(g)) => {
            let mut last: Vec<Option<u64>> = vec![None; g.count];
            let mut prev = 0u64;
            for (&x, &k) in v.iter().zip(&g.key) {
                let slot = &mut last[k as usize];
                out.push(x.wrapping_sub(slot.unwrap_or(prev)));
                *slot = Some(x);
                prev = x;
            }
        }
        _ => out.extend((first..v.len()).map(|i| residual(t, v, i, slope))),
    }
}

/// Maps residuals to what the planes hold; returns (base, divisor).
fn to_unsigned(t: Transform, r: &mut [u64]) -> (u64, u64) {
    if t.offset_mapped() {
        let min = r.iter().map(|&x| x as i64).min().unwrap_or(0);
        r.iter_mut()
            .for_each(|x| *x = (*x as i64).wrapping_sub(min) as u64);
        let g = divisor(r.iter().copied());
        if g > 1 {
            r.iter_mut().for_each(|x| *x /= g);
        }
        (zigzag(min), g)
    } else {
        let g = divisor(r.iter().map(|&x| (x as i64).unsigned_abs()));
        // g <= 2^32 divides every residual exactly, so q * g gives r back.
        let gi = g as i64;
        r.iter_mut().for_each(|x| *x = zigzag((*x as i64) / gi));
        let base = r.iter().copied().min().unwrap_or(0);
        r.iter_mut().for_each(|x| *x -= base);
        (base, g)
    }
}

/// The greatest common divisor of the values if it is at most MAX_DIVISOR,
/// else 1. Stops at the first value that makes it 1.
fn divisor(values: impl Iterator<Item = u64>) -> u64 {
    let mut g = 0u64;
    for x in values {
        if x == 0 || (g != 0 && x % g == 0) {
            continue;
        }
        g = gcd(g, x);
        if g == 1 {
            return 1;
        }
    }
    if g == 0 || g > MAX_DIVISOR {
        1
    } else {
        g
    }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Encodes integer bit patterns (I64 as u64, floats as their bits).
pub(super) fn encode(v: &[u64], groups: Option<&Groups>, p: &mut Packer, out: &mut Vec<u8>) {
    let mut r = std::mem::take(&mut p.residuals);
    let mut plane = std::mem::take(&mut p.plane);
    let mut packed = std::mem::take(&mut p.packed);
    let slope = slope(v);
    let t = choose(v, groups, slope, &mut r);
    residuals(t, v, groups, slope, &mut r);
    let (base, g) = to_unsigned(t, &mut r);
    out.push(t as u8);
    for &x in &v[..t.first_values(v.len())] {
        put_u64(out, x);
    }
    if t == Transform::Linear {
        put_u64(out, zigzag(slope));
    }
    put_u64(out, base);
    put_u64(out, g);
    let max = r.iter().copied().max().unwrap_or(0);
    let planes = (64 - max.leading_zeros()).div_ceil(8) as usize;
    let sparse = planes > 0 && is_sparse(&r);
    out.push(planes as u8 | if sparse { SPARSE } else { 0 });
    if sparse {
        plane.clear();
        plane.extend(r.iter().map(|&x| u8::from(x != 0)));
        pack(&plane, 1, &mut packed);
        p.put(out, &packed, true);
        r.retain(|&x| x != 0);
    }
    for k in 0..planes {
        plane.clear();
        plane.extend(r.iter().map(|&x| (x >> (8 * k)) as u8));
        let w = width(plane.iter().copied().max().unwrap_or(0));
        out.push(w as u8);
        pack(&plane, w, &mut packed);
        let stride = stride(packed.len());
        let mut h = [0u32; 256];
        let mut n = 0;
        for &b in packed.iter().step_by(stride) {
            h[b as usize] += 1;
            n += 1;
        }
        p.put(out, &packed, entropy(&h, n) < INCOMPRESSIBLE_BITS);
    }
    (p.residuals, p.plane, p.packed) = (r, plane, packed);
}

/// Decodes `rows` integers; charges their 8 bytes each and, until the caller
/// releases them, the planes it decompressed.
pub(super) fn decode(
    r: &mut Reader<'_>,
    rows: usize,
    groups: Option<&Groups>,
    un: &mut Unpacker,
    budget: &mut Budget,
) -> Result<Vec<u64>, DecodeError> {
    let t = Transform::from_u8(r.u8()?).ok_or(DecodeError::Corrupt("unknown integer transform"))?;
    let first = t.first_values(rows);
    let mut firsts = [0u64; 2];
    for f in firsts.iter_mut().take(first) {
        *f = r.varint()?;
    }
    let slope = if t == Transform::Linear {
        unzigzag(r.varint()?)
    } else {
        0
    };
    let base = r.varint()?;
    let g = r.varint()?;
    if g == 0 || g > MAX_DIVISOR {
        return Err(DecodeError::Corrupt("integer divisor out of range"));
    }
    let flags = r.u8()?;
    let planes = usize::from(flags & !SPARSE);
    if planes > 8 {
        return Err(DecodeError::Corrupt("more than 8 byte planes"));
    }
    let groups = match (t, groups) {
        (Transform::GroupDelta, None) => {
            return Err(DecodeError::Corrupt("group delta without key columns"))
        }
        (Transform::GroupDelta, Some(g)) => Some(g),
        _ => None,
    };
    budget.take_each(rows, 8)?;
    let mut v = vec![0u64; rows];
    v[..first].copy_from_slice(&firsts[..first]);
    let u = &mut v[first..];
    if flags & SPARSE != 0 {
        let bitmap = un.get(r, u.len().div_ceil(8), budget)?;
        let bit = |i: usize| bitmap[i / 8] >> (i % 8) & 1 == 1;
        let nonzero = (0..u.len()).filter(|&i| bit(i)).count();
        budget.take_each(nonzero, 8)?;
        let mut values = vec![0u64; nonzero];
        read_planes(r, planes, &mut values, un, budget)?;
        let mut next = values.into_iter();
        for (i, x) in u.iter_mut().enumerate() {
            if bit(i) {
                *x = next.next().unwrap_or(0);
            }
        }
    } else {
        read_planes(r, planes, u, un, budget)?;
    }
    // Back from unsigned to residuals, wrapping: any bytes give some values.
    if t.offset_mapped() {
        let min = unzigzag(base) as u64;
        u.iter_mut()
            .for_each(|x| *x = min.wrapping_add(x.wrapping_mul(g)));
    } else {
        u.iter_mut().for_each(|x| {
            *x = unzigzag(x.wrapping_add(base)).wrapping_mul(g as i64) as u64;
        });
    }
    match t {
        Transform::Plain => {}
        Transform::Linear => {
            for (i, x) in u.iter_mut().enumerate() {
                *x = x.wrapping_add(predict(firsts[0], slope, i + 1));
            }
        }
        Transform::Delta => {
            let mut prev = firsts[0];
            for x in u.iter_mut() {
                prev = prev.wrapping_add(*x);
                *x = prev;
            }
        }
        Transform::Delta2 => {
            let (mut prev, mut d) = (firsts[1], firsts[1].wrapping_sub(firsts[0]));
            for x in u.iter_mut() {
                d = d.wrapping_add(*x);
                prev = prev.wrapping_add(d);
                *x = prev;
            }
        }
        Transform::GroupDelta => {
            let g = groups.ok_or(DecodeError::Corrupt("group delta without key columns"))?;
            if g.key.len() != rows {
                return Err(DecodeError::Corrupt("group keys differ from rows"));
            }
            let mut last: Vec<Option<u64>> = vec![None; g.count];
            let mut prev = 0u64;
            for (x, &k) in u.iter_mut().zip(&g.key) {
                let slot = last
                    .get_mut(k as usize)
                    .ok_or(DecodeError::Corrupt("group key out of range"))?;
                *x = slot.unwrap_or(prev).wrapping_add(*x);
                *slot = Some(*x);
                prev = *x;
            }
        }
    }
    Ok(v)
}
