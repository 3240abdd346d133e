//! Q5_K weights × f32 activations, tiled for prompt processing.
//!
//! The math is ggml's `Q5_K × Q8_K` dot product, unchanged: every activation row is quantized
//! to Q8_K once (bit-identical to candle's `BlockQ8K::from_float`, candle's port of ggml's
//! `quantize_row_q8_K`, but vectorized), and for each super-block of 256 values
//!
//! ```text
//! sumi_t = Σ_{s<8} scale_s · Σ_{i<4} q5[32s+4t+i] · q8[32s+4t+i]   (exact i32, t < 8)
//! msum   = Σ_{s<8} min_s · (bsum_{2s} + bsum_{2s+1})               (exact i32)
//! acc_t  = fma(a.d · w.d, sumi_t, acc_t)                           (f32, fused, per t)
//! summs  = summs + (−a.d · w.dmin) · msum                          (f32, two roundings)
//! out    = hsum(acc_0..acc_7) + summs
//! hsum   = ((acc_4 + acc_0) + (acc_6 + acc_2)) + ((acc_5 + acc_1) + (acc_7 + acc_3))
//! ```
//!
//! That is, to the last bit, what ggml's AVX2 `ggml_vec_dot_q5_K_q8_K` (and candle's port
//! `avx::vec_dot_q5k_q8k`, behind `k_quants::matmul::<BlockQ5K>` on x86-64 with AVX2/FMA)
//! computes: its `sumi` vector has 8 i32 lanes, lane t holding bytes 4t..4t+4 of every 32-value
//! sub-block, each lane is multiplied into its own f32 accumulator with `_mm256_fmadd_ps` per
//! super-block, and `hsum_float_8` adds the 8 lanes in the order above. So every output keeps 8
//! integer group sums per super-block (one per t) and 9 f32 accumulators (8 lanes + `summs`),
//! and the scalar and AVX2 paths reproduce candle's results bit for bit. The AVX-512 VNNI path
//! keeps the same exact integer sums but one float scale per sub-block
//! ([`super::tile45_vnni`]): half the multiply instructions, results within f32 rounding of
//! candle's (max relative error ~2e-6 here), and the engine's parity checks against llama.cpp
//! unchanged.
//!
//! Layout: a *tile* is `NR` = 16 weight rows × one super-block, unpacked once into 64
//! vectors of 16 lanes × 4 bytes (lane = weight row, the 4 bytes = 4 consecutive k values as
//! 5-bit unsigned ints), plus per-lane scales, mins, `d` and `dmin`. A tile is then used against
//! every activation row of the current row block: each 4-byte group of an activation row is
//! broadcast and multiplied into all 16 weight rows at once (`vpmaddubsw` + `vpdpwssd` on
//! AVX-512 VNNI, `vpmaddubsw` + `vpmaddwd` on AVX2; the i16 multiply-add also applies the
//! sub-block scale, keeping the per-t group sums apart; the AVX-512 VNNI path instead sums each
//! sub-block with `vpdpbusd`). Unpacking transposes the 16 blocks' 44 words in
//! registers (16×16 `vpermt2d` / 8×8 unpack transposes), so lane = weight row.
//!
//! Work items are (row block, 16-column tile) pairs, spread over candle's persistent barrier
//! pool (`candle_core::utils::barrier_pool()`, the same threads as candle's own matmuls; a call
//! from inside a pool worker runs inline, so pools never nest). Row blocks keep a block's
//! quantized activations within ~1 MiB (L2).

// Lane-indexed loops mirror the vector lanes they compile to; iterator chains over several
// parallel arrays would obscure that.
#![allow(clippy::needless_range_loop)]

use super::tiling::{
    act_block, act_d, blocks_from_bytes, check_shapes, KernelPath, NR, Q8K_QS, QK,
};
use candle_core::quantized::k_quants::BlockQ5K;
use candle_core::Result;

/// A `BlockQ5K` is 176 bytes = 44 little-endian u32 words:
/// word 0 = d | dmin << 16, words 1..4 = scales, 4..12 = qh, 12..44 = qs.
const Q5K_BYTES: usize = 176;
const Q5K_WORDS: usize = Q5K_BYTES / 4;
/// f32 accumulators per activation row of a tile: 8 vectors of `NR` lanes (`acc_t`, see the
/// module docs), then one for `summs`.
const FACC_ROW: usize = 9 * NR;

/// The paths the kernel runs on (shared by every format).
pub type Q5kPath = KernelPath;

use super::tile45::{run_items_generic, Ctx, Format, Kernel, Tile};

/// Below this many activation rows [`matmul_q5k`] hands the call to candle's row-at-a-time
/// kernel. At m = 1 the tiled kernel measured 1.0–1.15× candle on most shapes here but 0.72× on
/// Mixtral-8x7B's (14336, 4096) (memory-bound, 16 strided weight streams); from m = 2 it is
/// ≥ 1.6× everywhere.
pub const MIN_TILED_ROWS: usize = 2;

/// `dst (m×n) = lhs (m×k) · weightsᵀ`, weights being `n` rows of `k/256` Q5_K blocks.
///
/// Equal to `candle_core::quantized::k_quants::matmul::<BlockQ5K>` to f32 rounding. Errors
/// (never panics) when `k` is not a multiple of 256 or a slice length does not match.
pub fn matmul_q5k(
    m: usize,
    k: usize,
    n: usize,
    lhs: &[f32],
    weights: &[BlockQ5K],
    dst: &mut [f32],
) -> Result<()> {
    check_shapes(m, k, n, lhs, weights, dst)?;
    if m < MIN_TILED_ROWS && k > 0 && n > 0 {
        if super::gemv::available() {
            return super::gemv::matmul(m, k, n, lhs, weights, dst, super::gemv::Format::Q5k);
        }
        return candle_core::quantized::k_quants::matmul::<BlockQ5K>((m, k, n), lhs, weights, dst);
    }
    matmul_q5k_with(Q5kPath::detect(), m, k, n, lhs, weights, dst)
}

/// [`matmul_q5k`]'s decode path (AVX-512, one activation row at a time) forced for every
/// `m` (for tests and benchmarks). Errors when the CPU lacks it
/// ([`super::decode_path_available`]).
pub fn matmul_q5k_gemv(
    m: usize,
    k: usize,
    n: usize,
    lhs: &[f32],
    weights: &[BlockQ5K],
    dst: &mut [f32],
) -> Result<()> {
    super::gemv::matmul(m, k, n, lhs, weights, dst, super::gemv::Format::Q5k)
}

/// [`matmul_q5k`] on a chosen path, tiled for every `m` (for tests and benchmarks).
/// Errors when the CPU lacks the path's features.
pub fn matmul_q5k_with(
    path: Q5kPath,
    m: usize,
    k: usize,
    n: usize,
    lhs: &[f32],
    weights: &[BlockQ5K],
    dst: &mut [f32],
) -> Result<()> {
    matmul_inner(path, m, k, n, lhs, weights, dst, None)
}

/// Views raw Q5_K tensor bytes (e.g. `QTensor::data()` of a Q5K tensor, or a GGUF tensor's
/// bytes) as blocks. Errors if the length is not a whole number of 176-byte blocks or the
/// slice is not 2-byte aligned (`BlockQ5K` holds f16 fields).
pub fn q5k_blocks_from_bytes(bytes: &[u8]) -> Result<&[BlockQ5K]> {
    blocks_from_bytes(bytes)
}

#[allow(clippy::too_many_arguments)]
fn matmul_inner(
    path: Q5kPath,
    m: usize,
    k: usize,
    n: usize,
    lhs: &[f32],
    weights: &[BlockQ5K],
    dst: &mut [f32],
    row_block: Option<usize>,
) -> Result<()> {
    super::tile45::matmul(path, m, k, n, lhs, weights, dst, row_block, run_range)
}

/// The raw words of 16 blocks, transposed.
type Raw = super::tile45::Raw<Q5K_WORDS>;

/// This format's part of the shared driver.
pub(super) struct Fmt;

impl Format<Q5K_WORDS> for Fmt {
    const FACC_ROW: usize = FACC_ROW;

    /// Written lane-wise so it vectorizes.
    #[inline(always)]
    fn unpack(raw: &Raw, tile: &mut Tile) {
        unpack_meta(raw, tile);
        unpack_qs(raw, tile);
    }

    #[inline(always)]
    fn mins(f: &[f32], lane: usize) -> f32 {
        // `summs`.
        f[8 * NR + lane]
    }
}

/// `d`, `dmin`, scales and mins of [`unpack`].
#[inline(always)]
fn unpack_meta(raw: &Raw, tile: &mut Tile) {
    const KMASK1: u32 = 0x3f3f_3f3f;
    const KMASK2: u32 = 0x0f0f_0f0f;
    const KMASK3: u32 = 0x0303_0303;
    let r = &raw.0;
    for lane in 0..NR {
        let dd = r[0][lane];
        tile.d[lane] = half::f16::from_bits(dd as u16).to_f32();
        tile.dmin[lane] = half::f16::from_bits((dd >> 16) as u16).to_f32();
    }
    for lane in 0..NR {
        // ggml's 6-bit scale/min unpacking (get_scale_min_k4), on whole words.
        let (u0, u1, u2) = (r[1][lane], r[2][lane], r[3][lane]);
        let sc_lo = u0 & KMASK1;
        let sc_hi = (u2 & KMASK2) | (((u0 >> 6) & KMASK3) << 4);
        let mn_lo = u1 & KMASK1;
        let mn_hi = ((u2 >> 4) & KMASK2) | (((u1 >> 6) & KMASK3) << 4);
        let both = |x: u32| (x | (x << 16)) as i32;
        for s in 0..4 {
            tile.sc[s][lane] = both((sc_lo >> (8 * s)) & 0xFF);
            tile.sc[s + 4][lane] = both((sc_hi >> (8 * s)) & 0xFF);
        }
        tile.mn[0][lane] = ((mn_lo & 0xFF) | ((mn_lo & 0xFF00) << 8)) as i32;
        tile.mn[1][lane] = (((mn_lo >> 16) & 0xFF) | ((mn_lo >> 24) << 16)) as i32;
        tile.mn[2][lane] = ((mn_hi & 0xFF) | ((mn_hi & 0xFF00) << 8)) as i32;
        tile.mn[3][lane] = (((mn_hi >> 16) & 0xFF) | ((mn_hi >> 24) << 16)) as i32;
    }
}

/// The 5-bit values of [`unpack`].
#[inline(always)]
fn unpack_qs(raw: &Raw, tile: &mut Tile) {
    let r = &raw.0;
    // qs bytes 32j..32j+32 hold k = 64j.. (low nibbles) and 64j+32.. (high nibbles); bit 2j
    // (low) / 2j+1 (high) of qh[l] is the fifth bit of position l of that 32-run.
    for j in 0..4 {
        for t in 0..8 {
            let (q, h) = (&r[12 + 8 * j + t], &r[4 + t]);
            let (lo, hi) = tile.qs.split_at_mut(16 * j + 8);
            let lo = &mut lo[16 * j + t];
            let hi = &mut hi[t];
            for lane in 0..NR {
                lo[lane] = (q[lane] & 0x0F0F_0F0F) | (((h[lane] >> (2 * j)) & 0x0101_0101) << 4);
                hi[lane] = ((q[lane] >> 4) & 0x0F0F_0F0F)
                    | (((h[lane] >> (2 * j + 1)) & 0x0101_0101) << 4);
            }
        }
    }
}

fn run_range(path: Q5kPath, ctx: &Ctx, range: std::ops::Range<usize>) {
    match path {
        Q5kPath::Scalar => run_scalar(ctx, range),
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `matmul_inner` checked `path.available()`, i.e. the CPU has AVX2 and FMA.
        Q5kPath::Avx2 => unsafe { x86::run_items_avx2(ctx, range) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `matmul_inner` checked `path.available()` (AVX-512F/BW/VNNI, FMA).
        Q5kPath::Avx512Vnni => unsafe { x86::run_items_avx512(ctx, range) },
        #[cfg(not(target_arch = "x86_64"))]
        _ => unreachable!("path availability is checked before dispatch"),
    }
}

fn run_scalar(ctx: &Ctx, range: std::ops::Range<usize>) {
    // SAFETY: `ScalarKernel` needs no target features.
    unsafe { run_items_generic::<Q5K_WORDS, ScalarKernel>(ctx, range) }
}

struct ScalarKernel;

impl Kernel<Q5K_WORDS> for ScalarKernel {
    type F = Fmt;

    unsafe fn rows(tile: &Tile, ctx: &Ctx, r0: usize, rows: usize, b: usize, facc: &mut [f32]) {
        for r in 0..rows {
            let a = act_block(ctx, r0 + r, b);
            let ad = act_d(a);
            let aq = &a[Q8K_QS..Q8K_QS + QK];
            let pairs = ctx.aux[(r0 + r) * ctx.kb + b];
            let out = &mut facc[r * FACC_ROW..(r + 1) * FACC_ROW];
            for t in 0..8 {
                let mut sumi = [0i32; NR];
                for s in 0..8 {
                    let g = 8 * s + t;
                    let av: [i32; 4] = std::array::from_fn(|e| aq[4 * g + e] as i8 as i32);
                    for (lane, sumi) in sumi.iter_mut().enumerate() {
                        let w = tile.qs[g][lane].to_le_bytes();
                        let dot = (0..4).map(|e| w[e] as i32 * av[e]).sum::<i32>();
                        *sumi += dot * (tile.sc[s][lane] & 0xFFFF);
                    }
                }
                for lane in 0..NR {
                    let acc = &mut out[t * NR + lane];
                    *acc = (ad * tile.d[lane]).mul_add(sumi[lane] as f32, *acc);
                }
            }
            for lane in 0..NR {
                let mut msum = 0i32;
                for (p, &pair) in pairs.iter().enumerate() {
                    let mn = tile.mn[p][lane];
                    msum += (mn & 0xFFFF) * (pair as i16 as i32) + (mn >> 16) * (pair >> 16);
                }
                // summs += (−a.d · w.dmin) · msum, as a separate multiply and add.
                out[8 * NR + lane] -= (ad * tile.dmin[lane]) * msum as f32;
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86;

#[cfg(test)]
mod tests;
