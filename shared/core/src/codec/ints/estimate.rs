//! Choosing an integer column's transform: each candidate is estimated on
//! a sample by the order-0 entropy of the byte planes it would give.

use super::*;

/// At most this many residuals are looked at to choose a transform.
pub(super) const SAMPLE: usize = 2048;

/// The stride of a sample of `n` values: SAMPLE of a big column, a quarter
/// (at least 256) of a small one, where choosing would otherwise cost more
/// than encoding.
pub(super) fn stride(n: usize) -> usize {
    let size = (n / 4).clamp(256, SAMPLE);
    n.div_ceil(size).max(1)
}

/// Bits a value the planes of `sample` would take, order-0 per plane.
pub(super) fn plane_bits(sample: &[u64]) -> f64 {
    let all = sample.iter().fold(0u64, |m, &x| m | x);
    let planes = (64 - all.leading_zeros()).div_ceil(8) as usize;
    let mut hist = [[0u32; 256]; 8];
    for &x in sample {
        for (p, h) in hist.iter_mut().enumerate().take(planes) {
            h[((x >> (8 * p)) & 0xff) as usize] += 1;
        }
    }
    hist[..planes]
        .iter()
        .map(|h| entropy(h, sample.len()))
        .sum()
}

/// `c * log2(c)` for the counts of a sample, computed once.
fn c_log2_c(c: u32) -> f64 {
    static TABLE: std::sync::OnceLock<Vec<f64>> = std::sync::OnceLock::new();
    let t = TABLE.get_or_init(|| {
        (0..=SAMPLE as u32)
            .map(|c| {
                if c == 0 {
                    0.0
                } else {
                    f64::from(c) * f64::from(c).log2()
                }
            })
            .collect()
    });
    t.get(c as usize)
        .copied()
        .unwrap_or_else(|| f64::from(c) * f64::from(c).log2())
}

/// Order-0 entropy in bits a byte of a histogram of `n` bytes.
pub(super) fn entropy(h: &[u32; 256], n: usize) -> f64 {
    if n == 0 || h[0] as usize == n {
        return 0.0;
    }
    let sum: f64 = h.iter().filter(|&&c| c > 0).map(|&c| c_log2_c(c)).sum();
    (n as f64).log2() - sum / n as f64
}

/// The transform whose sample of residuals looks cheapest.
pub(super) fn choose(
    v: &[u64],
    groups: Option<&Groups>,
    slope: i64,
    scratch: &mut Vec<u64>,
) -> Transform {
    let mut candidates = vec![Transform::Plain];
    if v.len() > 2 {
        candidates.extend([Transform::Delta, Transform::Delta2]);
    }
    if v.len() >= 16 {
        candidates.push(Transform::Linear);
    }
    if groups.is_some_and(|g| g.count > 1) {
        candidates.push(Transform::GroupDelta);
    }
    let mut best = (f64::INFINITY, Transform::Plain);
    let mut sample = Vec::with_capacity(SAMPLE.min(v.len()));
    for t in candidates {
        sample.clear();
        if t == Transform::GroupDelta {
            residuals(t, v, groups, slope, scratch);
            let stride = stride(scratch.len());
            sample.extend(scratch.iter().step_by(stride).copied());
        } else {
            let first = t.first_values(v.len());
            let stride = stride(v.len() - first);
            sample.extend(
                (first..v.len())
                    .step_by(stride)
                    .map(|i| residual(t, v, i, slope)),
            );
        }
        if t.offset_mapped() {
            let min = sample.iter().map(|&x| x as i64).min().unwrap_or(0);
            sample
                .iter_mut()
                .for_each(|x| *x = (*x as i64).wrapping_sub(min) as u64);
        } else {
            sample.iter_mut().for_each(|x| *x = zigzag(*x as i64));
        }
        let bits = plane_bits(&sample);
        if bits < best.0 {
            best = (bits, t);
        }
    }
    best.1
}
