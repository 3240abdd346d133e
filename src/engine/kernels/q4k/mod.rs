//! Q4_K weights × f32 activations, tiled for prompt processing.
//!
//! The same machinery as [`super::q5k`] (Q4_K is Q5_K without the fifth bit `qh`), with
//! ggml's `Q4_K × Q8_K` float recipe, which differs from Q5_K's in the mins term: every
//! activation row is quantized to Q8_K once (bit-identical to candle's `BlockQ8K::from_float`),
//! and for each super-block of 256 values
//!
//! ```text
//! sumi_t = Σ_{s<8} scale_s · Σ_{i<4} q4[32s+4t+i] · q8[32s+4t+i]   (exact i32, t < 8)
//! mp_p   = min_2p · (bsum_4p + bsum_4p+1) + min_2p+1 · (bsum_4p+2 + bsum_4p+3)   (exact, p < 4)
//! acc_t  = fma(a.d · w.d, sumi_t, acc_t)                           (f32, fused, per t)
//! accm_p = fma(−a.d · w.dmin, mp_p, accm_p)                        (f32, fused, per p)
//! out    = hsum(acc_0..acc_7) + ((accm_0 + accm_2) + (accm_1 + accm_3))
//! hsum   = ((acc_4 + acc_0) + (acc_6 + acc_2)) + ((acc_5 + acc_1) + (acc_7 + acc_3))
//! ```
//!
//! That is, to the last bit, what ggml's AVX2 `ggml_vec_dot_q4_K_q8_K` (and candle's port
//! `avx::vec_dot_q4k_q8k`, behind `k_quants::matmul::<BlockQ4K>` on x86-64 with AVX2/FMA; its
//! `vec_dot_2`/`vec_dot_4` fall back to that per-row dot product there) computes: an 8-lane
//! `sumi` folded into 8 f32 lanes with `_mm256_fmadd_ps`, a 4-lane `acc_m` folded with
//! `_mm_fmadd_ps` from the `_mm_madd_epi16` of the mins and the per-32 activation sums, then
//! `hsum_float_8(acc)` plus `acc_m` reduced by `movehl`/`movehdup`. So every output keeps 12 f32
//! accumulators, and the scalar and AVX2 paths reproduce candle's results bit for bit. The
//! AVX-512 VNNI path keeps the same exact integer sums in another float order, twice as fast
//! ([`super::tile45_vnni`]); it agrees with candle to f32 rounding.
//!
//! Layout, unpacking, row blocks and threading are those of [`super::q5k`]: a tile is 16
//! weight rows × one super-block, unpacked once (lane = weight row, 4 consecutive 4-bit values
//! per 32-bit lane) and used against every activation row of the current row block.

// Lane-indexed loops mirror the vector lanes they compile to; iterator chains over several
// parallel arrays would obscure that.
#![allow(clippy::needless_range_loop)]

use super::tiling::{
    act_block, act_d, blocks_from_bytes, check_shapes, KernelPath, NR, Q8K_QS, QK,
};
use candle_core::quantized::k_quants::BlockQ4K;
use candle_core::Result;

/// A `BlockQ4K` is 144 bytes = 36 little-endian u32 words:
/// word 0 = d | dmin << 16, words 1..4 = scales, 4..36 = qs.
const Q4K_BYTES: usize = 144;
const Q4K_WORDS: usize = Q4K_BYTES / 4;
/// f32 accumulators per activation row of a tile: 8 vectors of `NR` lanes (`acc_t`, see the
/// module docs), then 4 for `accm_p`.
const FACC_ROW: usize = 12 * NR;

/// The paths the kernel runs on (shared by every format).
pub type Q4kPath = KernelPath;

use super::tile45::{run_items_generic, Ctx, Format, Kernel, Tile};

/// Below this many activation rows [`matmul_q4k`] hands the call to candle's row-at-a-time
/// kernel. At m = 1 the tiled kernel measured 0.74–0.94× candle on the (1024..3584)-sized
/// shapes here (2 cores, AVX-512 VNNI); from m = 2 it is 1.4–1.55× there, 1.7× at m = 3 and
/// ~2× from m = 5 (`examples/kernel_bench.rs`).
pub const MIN_TILED_ROWS: usize = 2;

/// `dst (m×n) = lhs (m×k) · weightsᵀ`, weights being `n` rows of `k/256` Q4_K blocks.
///
/// Equal to `candle_core::quantized::k_quants::matmul::<BlockQ4K>` to f32 rounding. Errors
/// (never panics) when `k` is not a multiple of 256 or a slice length does not match.
pub fn matmul_q4k(
    m: usize,
    k: usize,
    n: usize,
    lhs: &[f32],
    weights: &[BlockQ4K],
    dst: &mut [f32],
) -> Result<()> {
    check_shapes(m, k, n, lhs, weights, dst)?;
    if m < MIN_TILED_ROWS && k > 0 && n > 0 {
        if super::gemv::available() {
            return super::gemv::matmul(m, k, n, lhs, weights, dst, super::gemv::Format::Q4k);
        }
        return candle_core::quantized::k_quants::matmul::<BlockQ4K>((m, k, n), lhs, weights, dst);
    }
    matmul_q4k_with(Q4kPath::detect(), m, k, n, lhs, weights, dst)
}

/// [`matmul_q4k`]'s decode path (AVX-512, one activation row at a time) forced for every
/// `m` (for tests and benchmarks). Errors when the CPU lacks it
/// ([`super::decode_path_available`]).
pub fn matmul_q4k_gemv(
    m: usize,
    k: usize,
    n: usize,
    lhs: &[f32],
    weights: &[BlockQ4K],
    dst: &mut [f32],
) -> Result<()> {
    super::gemv::matmul(m, k, n, lhs, weights, dst, super::gemv::Format::Q4k)
}

/// [`matmul_q4k`] on a chosen path, tiled for every `m` (for tests and benchmarks).
/// Errors when the CPU lacks the path's features.
pub fn matmul_q4k_with(
    path: Q4kPath,
    m: usize,
    k: usize,
    n: usize,
    lhs: &[f32],
    weights: &[BlockQ4K],
    dst: &mut [f32],
) -> Result<()> {
    matmul_inner(path, m, k, n, lhs, weights, dst, None)
}

/// Views raw Q4_K tensor bytes (e.g. `QTensor::data()` of a Q4K tensor, or a GGUF tensor's
/// bytes) as blocks. Errors if the length is not a whole number of 144-byte blocks or the
/// slice is not 2-byte aligned (`BlockQ4K` holds f16 fields).
pub fn q4k_blocks_from_bytes(bytes: &[u8]) -> Result<&[BlockQ4K]> {
    blocks_from_bytes(bytes)
}

#[allow(clippy::too_many_arguments)]
fn matmul_inner(
    path: Q4kPath,
    m: usize,
    k: usize,
    n: usize,
    lhs: &[f32],
    weights: &[BlockQ4K],
    dst: &mut [f32],
    row_block: Option<usize>,
) -> Result<()> {
    super::tile45::matmul(path, m, k, n, lhs, weights, dst, row_block, run_range)
}

/// The raw words of 16 blocks, transposed.
type Raw = super::tile45::Raw<Q4K_WORDS>;

/// This format's part of the shared driver.
pub(super) struct Fmt;

impl Format<Q4K_WORDS> for Fmt {
    const FACC_ROW: usize = FACC_ROW;

    /// Written lane-wise so it vectorizes.
    #[inline(always)]
    fn unpack(raw: &Raw, tile: &mut Tile) {
        unpack_meta(raw, tile);
        unpack_qs(raw, tile);
    }

    #[inline(always)]
    fn mins(f: &[f32], lane: usize) -> f32 {
        // `acc_m` reduced by `movehl`/`movehdup`, as candle.
        (f[8 * NR + lane] + f[10 * NR + lane]) + (f[9 * NR + lane] + f[11 * NR + lane])
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

/// The 4-bit values of [`unpack`].
#[inline(always)]
fn unpack_qs(raw: &Raw, tile: &mut Tile) {
    let r = &raw.0;
    // qs bytes 32j..32j+32 (words 4+8j..) hold k = 64j.. (low nibbles) and 64j+32.. (high).
    for j in 0..4 {
        for t in 0..8 {
            let q = &r[4 + 8 * j + t];
            let (lo, hi) = tile.qs.split_at_mut(16 * j + 8);
            let lo = &mut lo[16 * j + t];
            let hi = &mut hi[t];
            for lane in 0..NR {
                lo[lane] = q[lane] & 0x0F0F_0F0F;
                hi[lane] = (q[lane] >> 4) & 0x0F0F_0F0F;
            }
        }
    }
}

fn run_range(path: Q4kPath, ctx: &Ctx, range: std::ops::Range<usize>) {
    match path {
        Q4kPath::Scalar => run_scalar(ctx, range),
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `matmul_inner` checked `path.available()`, i.e. the CPU has AVX2 and FMA.
        Q4kPath::Avx2 => unsafe { x86::run_items_avx2(ctx, range) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `matmul_inner` checked `path.available()` (AVX-512F/BW/VNNI, FMA).
        Q4kPath::Avx512Vnni => unsafe { x86::run_items_avx512(ctx, range) },
        #[cfg(not(target_arch = "x86_64"))]
        _ => unreachable!("path availability is checked before dispatch"),
    }
}

fn run_scalar(ctx: &Ctx, range: std::ops::Range<usize>) {
    // SAFETY: `ScalarKernel` needs no target features.
    unsafe { run_items_generic::<Q4K_WORDS, ScalarKernel>(ctx, range) }
}

struct ScalarKernel;

impl Kernel<Q4K_WORDS> for ScalarKernel {
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
            for (p, &pair) in pairs.iter().enumerate() {
                for lane in 0..NR {
                    let mn = tile.mn[p][lane];
                    let mp = (mn & 0xFFFF) * (pair as i16 as i32) + (mn >> 16) * (pair >> 16);
                    // accm_p = fma(−a.d · w.dmin, mp_p, accm_p), as candle's `_mm_fmadd_ps`.
                    let acc = &mut out[(8 + p) * NR + lane];
                    *acc = (-(ad * tile.dmin[lane])).mul_add(mp as f32, *acc);
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86;

#[cfg(test)]
mod tests;
