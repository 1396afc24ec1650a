//! Byte planes of residuals: which columns are sparse, how narrow planes
//! are packed several values a byte, and reading them back.

use super::*;

/// Whether a bitmap of the non-zero residuals and planes of those alone
/// look cheaper than planes of all: a size that changes in a third of its
/// book's snapshots costs its planes a third of the time, not a bit a
/// plane every row.
pub(super) fn is_sparse(r: &[u64]) -> bool {
    let stride = stride(r.len());
    let sample: Vec<u64> = r.iter().step_by(stride).copied().collect();
    let nonzero: Vec<u64> = sample.iter().copied().filter(|&x| x != 0).collect();
    let p = nonzero.len() as f64 / sample.len().max(1) as f64;
    if p > 0.5 {
        return false;
    }
    let bitmap = if p == 0.0 {
        0.0
    } else {
        -p * p.log2() - (1.0 - p) * (1.0 - p).log2()
    };
    bitmap + p * plane_bits(&nonzero) < 0.9 * plane_bits(&sample)
}

/// Bits a plane's bytes are packed to: a plane of dictionary ids 0..3 or of
/// a residual's top bit takes 2 or 1, so zstd's Huffman, which spends at
/// least a bit a byte, sees 4 or 8 values a byte.
pub(super) fn width(max: u8) -> u32 {
    match max {
        0..=1 => 1,
        2..=3 => 2,
        4..=15 => 4,
        _ => 8,
    }
}

pub(super) fn pack(plane: &[u8], w: u32, out: &mut Vec<u8>) {
    out.clear();
    if w == 8 {
        out.extend_from_slice(plane);
        return;
    }
    let per = (8 / w) as usize;
    out.extend(plane.chunks(per).map(|c| {
        c.iter()
            .enumerate()
            .fold(0u8, |b, (j, &x)| b | x << (j as u32 * w))
    }));
}

/// Reads `planes` byte planes of `u.len()` values into `u`.
pub(super) fn read_planes(
    r: &mut Reader<'_>,
    planes: usize,
    u: &mut [u64],
    un: &mut Unpacker,
    budget: &mut Budget,
) -> Result<(), DecodeError> {
    for k in 0..planes {
        let w = u32::from(r.u8()?);
        if !matches!(w, 1 | 2 | 4 | 8) {
            return Err(DecodeError::Corrupt("bad plane width"));
        }
        let per = (8 / w) as usize;
        let plane = un.get(r, u.len().div_ceil(per), budget)?;
        if w == 8 {
            for (x, &b) in u.iter_mut().zip(plane.iter()) {
                *x |= u64::from(b) << (8 * k);
            }
        } else {
            let mask = (1u8 << w) - 1;
            for (c, &b) in u.chunks_mut(per).zip(plane.iter()) {
                for (j, x) in c.iter_mut().enumerate() {
                    *x |= u64::from(b >> (j as u32 * w) & mask) << (8 * k);
                }
            }
        }
    }
    Ok(())
}
