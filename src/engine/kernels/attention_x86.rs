//! The AVX-512 body of [`super::attention`]'s per-row tile step, for head dims of 16·HV: the
//! tile's 64 scores and the rows' running outputs stay in registers, and `R` query rows share
//! every key and value load.

// Lane-indexed loops mirror the registers they compile to.
#![allow(clippy::needless_range_loop)]

use super::attention::{exp, Tile, KT};
use std::arch::x86_64::*;

/// One query row's running softmax state: output accumulator, max, sum.
pub(super) type RowState<'a> = (&'a mut [f32], &'a mut f32, &'a mut f32);

/// [`super::attention`]'s `row_tile` for `R` rows at once and `head_dim = 16·HV`; row `i`
/// sees `seen[i]` (≥ 1) keys of the tile.
///
/// # Safety
/// The CPU must support AVX-512F/BW, AVX2 and FMA; each `q[i]` and state's accumulator holds
/// 16·HV values, `t.kt` 16·HV × KT and `t.values` at least max(`seen`) rows of 16·HV.
#[target_feature(enable = "avx512f,avx512bw,avx2,fma")]
pub(super) unsafe fn rows_tile<const HV: usize, const R: usize>(
    q: [&[f32]; R],
    seen: [usize; R],
    t: Tile,
    mut states: [RowState; R],
) {
    let hd = 16 * HV;
    let q: [&[f32]; R] = std::array::from_fn(|i| &q[i][..hd]);
    let kt = &t.kt[..hd * KT];
    let most = seen.iter().copied().max().unwrap_or(0);
    let values = &t.values[..most * hd];
    // Keys past `seen` are masked out of the max and get probability 0.
    let mask = |i: usize, c: usize| -> __mmask16 {
        let n = seen[i].saturating_sub(16 * c).min(16);
        ((1u32 << n) - 1) as __mmask16
    };
    // SAFETY (loads/stores): every offset below stays inside the slices just bounded.
    unsafe {
        let mut s = [[_mm512_setzero_ps(); KT / 16]; R];
        for d in 0..hd {
            let k: [__m512; KT / 16] =
                std::array::from_fn(|c| _mm512_loadu_ps(kt.as_ptr().add(d * KT + 16 * c)));
            for i in 0..R {
                let qb = _mm512_set1_ps(q[i][d]);
                for c in 0..KT / 16 {
                    s[i][c] = _mm512_fmadd_ps(qb, k[c], s[i][c]);
                }
            }
        }
        let scale = _mm512_set1_ps(t.scale);
        let mut p = [[0f32; KT]; R];
        let mut corr = [_mm512_setzero_ps(); R];
        for (i, (_, max, sum)) in states.iter_mut().enumerate() {
            let mut m = _mm512_set1_ps(f32::NEG_INFINITY);
            for c in 0..KT / 16 {
                s[i][c] = _mm512_mul_ps(s[i][c], scale);
                m = _mm512_mask_max_ps(m, mask(i, c), m, s[i][c]);
            }
            let new_max = max.max(_mm512_reduce_max_ps(m));
            let correction = exp(**max - new_max);
            let nm = _mm512_set1_ps(new_max);
            let mut total = _mm512_setzero_ps();
            for c in 0..KT / 16 {
                let e = _mm512_maskz_mov_ps(mask(i, c), exp16(_mm512_sub_ps(s[i][c], nm)));
                total = _mm512_add_ps(total, e);
                _mm512_storeu_ps(p[i].as_mut_ptr().add(16 * c), e);
            }
            **max = new_max;
            **sum = **sum * correction + _mm512_reduce_add_ps(total);
            corr[i] = _mm512_set1_ps(correction);
        }
        let mut a = [[_mm512_setzero_ps(); HV]; R];
        for (i, (acc, _, _)) in states.iter().enumerate() {
            for h in 0..HV {
                a[i][h] = _mm512_mul_ps(_mm512_loadu_ps(acc.as_ptr().add(16 * h)), corr[i]);
            }
        }
        for j in 0..most {
            let row = values.as_ptr().add(j * hd);
            let v: [__m512; HV] = std::array::from_fn(|h| _mm512_loadu_ps(row.add(16 * h)));
            for i in 0..R {
                let pb = _mm512_set1_ps(p[i][j]);
                for h in 0..HV {
                    a[i][h] = _mm512_fmadd_ps(pb, v[h], a[i][h]);
                }
            }
        }
        for (i, (acc, _, _)) in states.into_iter().enumerate() {
            for h in 0..HV {
                _mm512_storeu_ps(acc.as_mut_ptr().add(16 * h), a[i][h]);
            }
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
