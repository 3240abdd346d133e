//! The m < `MIN_TILED_ROWS` (token decode) path for Q4_K, Q5_K and Q6_K: one activation row
//! against every weight row, bit-identical to candle's `k_quants::matmul::<BlockQxK>`.
//!
//! Candle runs ggml's AVX2 `ggml_vec_dot_qX_K_q8_K` one weight row at a time. On AVX-512 CPUs
//! this path runs the same recipe for two weight rows per 512-bit register (and two registers
//! at once): each 256-bit half does exactly the AVX2 lane arithmetic of one weight row
//! (`vpmaddubsw`/`vpmaddwd`/`vpshufb` work per 128-bit lane in both widths, and every integer
//! sum is exact), keeps that row's own f32 accumulators with the same fused multiply-adds in the
//! same order, and ends with candle's `hsum_float_8` reduction, written out in scalar f32. The
//! activation row is quantized to Q8_K once (bit-identical to `BlockQ8K::from_float`) and shared
//! by every weight row. The kernels themselves live in [`super::gemv_x86`].

use super::q8k::quantize_row;
use super::tiling::{as_bytes, begin, Block, KernelPath, SyncPtr};
use candle_core::quantized::k_quants::{BlockQ8K, GgmlType};
use candle_core::Result;

/// Weight rows per work item of the kernels (two 512-bit registers of two rows each).
pub(super) const GROUP: usize = 4;
/// Below this many weight blocks (n · k/256) a call runs on the caller's thread alone.
const MIN_PARALLEL_BLOCKS: usize = 256;

/// The formats of this path.
#[derive(Clone, Copy, Debug)]
pub(super) enum Format {
    Q4k,
    Q5k,
    Q6k,
}

/// A format's kernel: `out[i] = dot(weight row rows[i], acts)` for `i < GROUP`, where `w` is
/// the format's weight bytes (`kb` blocks per row) and `acts` the `kb` Q8_K blocks' bytes.
///
/// # Safety
/// The CPU must support [`available`]; every `rows[i]` must be a row of `w`.
pub(super) type Kernel =
    unsafe fn(w: &[u8], kb: usize, rows: [usize; GROUP], acts: &[u8]) -> [f32; GROUP];

/// Whether this CPU runs the AVX-512 decode path (AVX-512F/BW, AVX2, FMA, F16C).
pub fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        is_x86_feature_detected!("avx512f")
            && is_x86_feature_detected!("avx512bw")
            && is_x86_feature_detected!("avx2")
            && is_x86_feature_detected!("fma")
            && is_x86_feature_detected!("f16c")
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// `dst (m×n) = lhs (m×k) · weightsᵀ` one activation row at a time through `format`'s kernel.
/// Errors when the CPU lacks [`available`]'s features or the shapes do not match.
pub(super) fn matmul<B: Block>(
    m: usize,
    k: usize,
    n: usize,
    lhs: &[f32],
    weights: &[B],
    dst: &mut [f32],
    format: Format,
) -> Result<()> {
    // `begin` checks the shapes; AVX2 is part of `available()`.
    let Some(kb) = begin(KernelPath::Avx2, m, k, n, lhs, weights, dst)? else {
        return Ok(());
    };
    if !available() {
        candle_core::bail!(
            "matmul_{}: this CPU cannot run the AVX-512 decode path",
            B::NAME
        );
    }
    #[cfg(target_arch = "x86_64")]
    let kernel: Kernel = match format {
        Format::Q4k => super::gemv_x86::q4k,
        Format::Q5k => super::gemv_x86::q5k,
        Format::Q6k => super::gemv_x86::q6k,
    };
    #[cfg(not(target_arch = "x86_64"))]
    let kernel: Kernel = {
        let _ = format;
        unreachable!("available() is false off x86-64")
    };
    let w = as_bytes(weights);
    let mut acts = vec![BlockQ8K::zeros(); kb];
    for row in 0..m {
        quantize_row(KernelPath::Avx2, &lhs[row * k..(row + 1) * k], &mut acts);
        let a = as_bytes(&acts);
        let out = SyncPtr(dst[row * n..(row + 1) * n].as_mut_ptr());
        let groups = n.div_ceil(GROUP);
        let run = |range: std::ops::Range<usize>| {
            let out = &out;
            for g in range {
                let r0 = g * GROUP;
                let cnt = GROUP.min(n - r0);
                // Rows past the end repeat the last row; their results are dropped.
                let rows = std::array::from_fn(|i| r0 + i.min(cnt - 1));
                // SAFETY: `available()` was checked; every row is < n, and `w` holds n rows
                // of kb blocks (checked by `begin`).
                let res = unsafe { kernel(w, kb, rows, a) };
                for (i, v) in res.iter().take(cnt).enumerate() {
                    // SAFETY: r0 + i < n lies in this row of dst; every group is handed to
                    // exactly one call, so no two writers share an element.
                    unsafe { *out.0.add(r0 + i) = *v };
                }
            }
        };
        if n * kb < MIN_PARALLEL_BLOCKS {
            run(0..groups);
        } else {
            candle_core::utils::barrier_pool().execute_chunked(groups, run);
        }
    }
    Ok(())
}

/// Candle's `hsum_float_8` (ggml's), in scalar f32: `((x4+x0)+(x6+x2)) + ((x5+x1)+(x7+x3))`.
#[inline(always)]
pub(super) fn hsum_float_8(x: &[f32]) -> f32 {
    let r = [x[4] + x[0], x[5] + x[1], x[6] + x[2], x[7] + x[3]];
    (r[0] + r[2]) + (r[1] + r[3])
}

#[cfg(test)]
mod tests {
    use super::super::tests::weights;
    use super::super::{q4k, q5k, q6k};
    use super::*;
    use candle_core::quantized::k_quants::{matmul as candle_matmul, BlockQ4K, BlockQ5K, BlockQ6K};

    type Entry<B> = fn(usize, usize, usize, &[f32], &[B], &mut [f32]) -> Result<()>;

    /// The forced decode path, and the public entry point where it takes the decode path
    /// (m < 2; from 2 rows it tiles, tested with the tiled kernels), equal candle bit for bit.
    fn check<B: GgmlType + Block>(forced: Entry<B>, auto: Entry<B>, m: usize, n: usize, k: usize) {
        let w = weights::<B>(n, k, (n * 31 + k) as u64, |i| 1.0 + (i % 7) as f32);
        let mut r = super::super::tests::rng((m * 7 + n + k) as u64);
        let lhs: Vec<f32> = (0..m * k).map(|_| r() * 3.0).collect();
        let mut want = vec![0f32; m * n];
        candle_matmul::<B>((m, k, n), &lhs, &w, &mut want).unwrap();
        for (what, f) in [("forced", forced), ("auto", auto)] {
            if (what == "forced" && !available()) || (what == "auto" && m >= 2) {
                continue;
            }
            let mut got = vec![f32::NAN; m * n];
            f(m, k, n, &lhs, &w, &mut got).unwrap();
            for (i, (g, e)) in got.iter().zip(&want).enumerate() {
                assert_eq!(
                    g.to_bits(),
                    e.to_bits(),
                    "{} {what} m={m} n={n} k={k} i={i}: {g} vs {e}",
                    B::NAME
                );
            }
        }
    }

    fn check_all<B: GgmlType + Block>(forced: Entry<B>, auto: Entry<B>) {
        for k in [256, 1024, 3584] {
            for n in [1, 7, 16, 33, 1024, 3584] {
                check::<B>(forced, auto, 1, n, k);
            }
        }
        check::<B>(forced, auto, 2, 9, 512);
        check::<B>(forced, auto, 3, 5, 0);
        check::<B>(forced, auto, 0, 5, 256);
    }

    #[test]
    fn q4k_decode_matches_candle() {
        check_all::<BlockQ4K>(q4k::matmul_q4k_gemv, q4k::matmul_q4k);
    }

    #[test]
    fn q5k_decode_matches_candle() {
        check_all::<BlockQ5K>(q5k::matmul_q5k_gemv, q5k::matmul_q5k);
    }

    #[test]
    fn q6k_decode_matches_candle() {
        check_all::<BlockQ6K>(q6k::matmul_q6k_gemv, q6k::matmul_q6k);
    }
}
