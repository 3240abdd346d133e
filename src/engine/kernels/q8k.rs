//! Activation quantization to Q8_K, bit-identical to candle's `BlockQ8K::from_float`
//! (ggml's `quantize_row_q8_K`) but vectorized, shared by the Q4_K and Q5_K kernels.

use super::tiling::{KernelPath, Q8K_BSUMS, Q8K_BYTES, Q8K_QS, QK};
use candle_core::quantized::k_quants::BlockQ8K;

/// Quantizes one activation row to Q8_K, bit-identical to `BlockQ8K::from_float`, but
/// compiled for the path's vector width (candle's scalar loop calls libm `roundf` per value).
pub(super) fn quantize_row(path: KernelPath, xs: &[f32], ys: &mut [BlockQ8K]) {
    match path {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the caller checked `path.available()`.
        KernelPath::Avx2 | KernelPath::Avx512Vnni => unsafe { x86::quantize_row_avx2(xs, ys) },
        _ => quantize_row_generic(xs, ys),
    }
}

/// ggml's `quantize_row_q8_K` as candle writes it: scale by −127/max (max = the first value
/// of largest magnitude), round half away from zero, clamp to i8; bsums per 16.
#[inline(always)]
fn quantize_row_generic(xs: &[f32], ys: &mut [BlockQ8K]) {
    quantize_row_with(xs, ys, |iscale, x, q| {
        for (q, &v) in q.iter_mut().zip(x) {
            *q = (iscale * v).round().clamp(-128.0, 127.0) as i8;
        }
    })
}

/// The Q8_K block loop around a conversion `convert(iscale, x, q)` that must compute
/// `q[i] = clamp(round_half_away(iscale · x[i]), -128, 127)`.
#[inline(always)]
fn quantize_row_with(
    xs: &[f32],
    ys: &mut [BlockQ8K],
    convert: impl Fn(f32, &[f32; QK], &mut [i8; QK]),
) {
    // SAFETY: `BlockQ8K` is `#[repr(C)]` (f32, [i8; 256], [i16; 16]) without padding, and
    // every bit pattern is a valid value of each field, so writing arbitrary bytes is sound.
    let bytes = unsafe {
        std::slice::from_raw_parts_mut(ys.as_mut_ptr().cast::<u8>(), std::mem::size_of_val(ys))
    };
    for (x, y) in xs.chunks_exact(QK).zip(bytes.chunks_exact_mut(Q8K_BYTES)) {
        let x: &[f32; QK] = x.try_into().expect("chunks_exact(QK) yields QK values");
        // Eight running maxima (vectorizes); NaNs are skipped, as in candle's `amax < |x|`.
        let mut lanes = [0f32; 8];
        for c in x.chunks_exact(8) {
            for (m, &v) in lanes.iter_mut().zip(c) {
                if v.abs() > *m {
                    *m = v.abs();
                }
            }
        }
        let amax = lanes.iter().fold(0f32, |m, &v| if v > m { v } else { m });
        let max = x.iter().copied().find(|v| v.abs() == amax).unwrap_or(0.0);
        if amax == 0.0 || max == 0.0 {
            y.fill(0);
            continue;
        }
        let iscale = -127f32 / max;
        let mut q = [0i8; QK];
        convert(iscale, x, &mut q);
        y[..4].copy_from_slice(&(1.0 / iscale).to_le_bytes());
        for (dst, src) in y[Q8K_QS..Q8K_QS + QK].iter_mut().zip(&q) {
            *dst = *src as u8;
        }
        for (j, grp) in q.chunks_exact(16).enumerate() {
            let sum: i32 = grp.iter().map(|&v| v as i32).sum();
            y[Q8K_BSUMS + 2 * j..Q8K_BSUMS + 2 * j + 2]
                .copy_from_slice(&(sum as i16).to_le_bytes());
        }
    }
}

/// The 8 per-32 sums of a Q8_K block (bsums[2s] + bsums[2s+1], |x| ≤ 32·128 fits i16), packed
/// as 4 words of two i16 each (low half = even sub-block).
pub(super) fn bsum_pairs(blk: &[u8]) -> [i32; 4] {
    let bsum =
        |i: usize| i16::from_le_bytes([blk[Q8K_BSUMS + 2 * i], blk[Q8K_BSUMS + 2 * i + 1]]) as i32;
    let mut out = [0i32; 4];
    for (p, o) in out.iter_mut().enumerate() {
        let lo = bsum(4 * p) + bsum(4 * p + 1);
        let hi = bsum(4 * p + 2) + bsum(4 * p + 3);
        *o = ((lo as u32 & 0xFFFF) | ((hi as u32) << 16)) as i32;
    }
    out
}

#[cfg(target_arch = "x86_64")]
pub(super) mod x86 {
    use super::BlockQ8K;
    use std::arch::x86_64::*;

    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn quantize_row_avx2(xs: &[f32], ys: &mut [BlockQ8K]) {
        super::quantize_row_with(xs, ys, |iscale, x, q| convert_avx2(iscale, x, q))
    }

    /// `q[i] = clamp(round_half_away(iscale · x[i]), -128, 127)`, 32 values per step.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn convert_avx2(iscale: f32, x: &[f32; 256], q: &mut [i8; 256]) {
        let vs = _mm256_set1_ps(iscale);
        let sign = _mm256_set1_ps(-0.0);
        let half = _mm256_set1_ps(0.5);
        let one = _mm256_set1_ps(1.0);
        let (lo, hi) = (_mm256_set1_ps(-128.0), _mm256_set1_ps(127.0));
        let order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
        for c in 0..8 {
            let iv: [__m256i; 4] = std::array::from_fn(|u| {
                // SAFETY: 32c + 8u + 8 ≤ 256 floats.
                let v = _mm256_mul_ps(vs, unsafe {
                    _mm256_loadu_ps(x.as_ptr().add(32 * c + 8 * u))
                });
                // Round half away from zero exactly: t = trunc(v); v − t is exact here.
                let t = _mm256_round_ps::<{ _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC }>(v);
                let frac = _mm256_andnot_ps(sign, _mm256_sub_ps(v, t));
                let step = _mm256_or_ps(_mm256_and_ps(v, sign), one);
                let up = _mm256_and_ps(_mm256_cmp_ps::<_CMP_GE_OQ>(frac, half), step);
                let r = _mm256_min_ps(_mm256_max_ps(_mm256_add_ps(t, up), lo), hi);
                // NaN → 0, as Rust's saturating `as i8` does.
                let r = _mm256_and_ps(r, _mm256_cmp_ps::<_CMP_ORD_Q>(v, v));
                _mm256_cvttps_epi32(r)
            });
            // i32 → i16 → i8 packs work per 128-bit lane; `order` restores value order.
            let a = _mm256_packs_epi32(iv[0], iv[1]);
            let b = _mm256_packs_epi32(iv[2], iv[3]);
            let bytes = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(a, b), order);
            // SAFETY: 32 bytes at 32c ≤ 224 lie inside `q`.
            unsafe { _mm256_storeu_si256(q.as_mut_ptr().add(32 * c).cast(), bytes) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::rng;
    use super::super::tiling::as_bytes;
    use super::*;
    use candle_core::quantized::k_quants::GgmlType;

    /// Our Q8_K quantizer is bit-identical to candle's on every path.
    #[test]
    fn quantize_matches_candle() {
        let k = 256 * 6;
        let mut r = rng(11);
        let mut xs: Vec<f32> = (0..k).map(|_| r() * 5.0).collect();
        xs[256..512].fill(0.0); // all-zero block
        for (i, v) in xs[512..768].iter_mut().enumerate() {
            *v = (i as f32 - 127.0) * 0.5; // exact halves after scaling: ties
        }
        xs[800] = 9.0; // equal magnitudes, first one (positive) wins
        xs[900] = -9.0;
        xs[1100] = -7.5;
        xs[1200] = 7.5;
        xs[1300] = f32::NAN; // skipped by the max search, quantized to 0
        xs[1400] = f32::INFINITY; // block of an infinite max: every value scaled by -0
        xs[1401] = f32::NEG_INFINITY;
        let mut want = vec![BlockQ8K::zeros(); k / QK];
        BlockQ8K::from_float(&xs, &mut want);
        for path in [KernelPath::Scalar, KernelPath::Avx2, KernelPath::Avx512Vnni] {
            if !path.available() {
                continue;
            }
            let mut got = vec![BlockQ8K::zeros(); k / QK];
            quantize_row(path, &xs, &mut got);
            assert_eq!(as_bytes(&got), as_bytes(&want), "{path:?}");
        }
    }
}
