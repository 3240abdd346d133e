//! The AVX-512 body of [`super::attention`]'s per-row tile step, for head dims of 16·HV: the
//! tile's 64 scores and the row's running output stay in registers.

use super::attention::{exp, Tile, KT};
use std::arch::x86_64::*;

/// [`super::attention`]'s `row_tile` for `head_dim = 16·HV`.
///
/// # Safety
/// The CPU must support AVX-512F/BW, AVX2 and FMA; `q` and `acc` hold 16·HV values,
/// `t.kt` 16·HV × KT and `t.values` at least `t.seen` rows of 16·HV.
#[target_feature(enable = "avx512f,avx512bw,avx2,fma")]
pub(super) unsafe fn row_tile<const HV: usize>(
    q: &[f32],
    t: Tile,
    (acc, max, sum): (&mut [f32], &mut f32, &mut f32),
) {
    let hd = 16 * HV;
    let (q, acc, kt) = (&q[..hd], &mut acc[..hd], &t.kt[..hd * KT]);
    let values = &t.values[..t.seen * hd];
    // SAFETY (loads/stores): every offset below stays inside the slices just bounded.
    unsafe {
        let mut s = [_mm512_setzero_ps(); KT / 16];
        for (d, &x) in q.iter().enumerate() {
            let qb = _mm512_set1_ps(x);
            for (c, s) in s.iter_mut().enumerate() {
                *s = _mm512_fmadd_ps(qb, _mm512_loadu_ps(kt.as_ptr().add(d * KT + 16 * c)), *s);
            }
        }
        // Keys past `seen` are masked out of the max and get probability 0.
        let mask = |c: usize| -> __mmask16 {
            let n = t.seen.saturating_sub(16 * c).min(16);
            ((1u32 << n) - 1) as __mmask16
        };
        let scale = _mm512_set1_ps(t.scale);
        let mut m = _mm512_set1_ps(f32::NEG_INFINITY);
        for (c, s) in s.iter_mut().enumerate() {
            *s = _mm512_mul_ps(*s, scale);
            m = _mm512_mask_max_ps(m, mask(c), m, *s);
        }
        let new_max = max.max(_mm512_reduce_max_ps(m));
        let correction = exp(*max - new_max);
        *max = new_max;
        let nm = _mm512_set1_ps(new_max);
        let mut p = [0f32; KT];
        let mut total = _mm512_setzero_ps();
        for (c, s) in s.iter().enumerate() {
            let e = _mm512_maskz_mov_ps(mask(c), exp16(_mm512_sub_ps(*s, nm)));
            total = _mm512_add_ps(total, e);
            _mm512_storeu_ps(p.as_mut_ptr().add(16 * c), e);
        }
        *sum = *sum * correction + _mm512_reduce_add_ps(total);
        let corr = _mm512_set1_ps(correction);
        let mut a: [__m512; HV] =
            std::array::from_fn(|h| _mm512_mul_ps(_mm512_loadu_ps(acc.as_ptr().add(16 * h)), corr));
        for (j, &pj) in p.iter().enumerate().take(t.seen) {
            let pb = _mm512_set1_ps(pj);
            let row = values.as_ptr().add(j * hd);
            for (h, a) in a.iter_mut().enumerate() {
                *a = _mm512_fmadd_ps(pb, _mm512_loadu_ps(row.add(16 * h)), *a);
            }
        }
        for (h, a) in a.iter().enumerate() {
            _mm512_storeu_ps(acc.as_mut_ptr().add(16 * h), *a);
        }
    }
}

/// [`exp`] on 16 lanes (the same polynomial; n rounded to nearest even).
#[inline]
#[target_feature(enable = "avx512f,fma")]
fn exp16(x: __m512) -> __m512 {
    let x = _mm512_max_ps(x, _mm512_set1_ps(-87.0));
    let n = _mm512_roundscale_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(
        _mm512_mul_ps(x, _mm512_set1_ps(std::f32::consts::LOG2_E)),
    );
    let r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693_145_75), x);
    let r = _mm512_fnmadd_ps(n, _mm512_set1_ps(1.428_606_8e-6), r);
    let c = |v: f32| _mm512_set1_ps(v);
    let mut poly = _mm512_fmadd_ps(c(1.987_569_2e-4), r, c(1.398_199_9e-3));
    poly = _mm512_fmadd_ps(poly, r, c(8.333_452e-3));
    poly = _mm512_fmadd_ps(poly, r, c(4.166_579_6e-2));
    poly = _mm512_fmadd_ps(poly, r, c(1.666_666_5e-1));
    poly = _mm512_fmadd_ps(poly, r, c(0.5));
    let p = _mm512_add_ps(_mm512_fmadd_ps(poly, _mm512_mul_ps(r, r), r), c(1.0));
    let bits = _mm512_slli_epi32::<23>(_mm512_add_epi32(
        _mm512_cvtps_epi32(n),
        _mm512_set1_epi32(127),
    ));
    _mm512_mul_ps(p, _mm512_castsi512_ps(bits))
}
