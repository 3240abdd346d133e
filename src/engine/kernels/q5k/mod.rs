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
//! and all paths, the scalar one included, reproduce candle's results bit for bit. (Parity with
//! llama.cpp's logits hinges on this: a random MoE's router has near-ties that a last-bit
//! difference can flip.)
//!
//! Layout: a *tile* is `NR` = 16 weight rows × one super-block, unpacked once into 64
//! vectors of 16 lanes × 4 bytes (lane = weight row, the 4 bytes = 4 consecutive k values as
//! 5-bit unsigned ints), plus per-lane scales, mins, `d` and `dmin`. A tile is then used against
//! every activation row of the current row block: each 4-byte group of an activation row is
//! broadcast and multiplied into all 16 weight rows at once (`vpmaddubsw` + `vpdpwssd` on
//! AVX-512 VNNI, `vpmaddubsw` + `vpmaddwd` on AVX2; the i16 multiply-add also applies the
//! sub-block scale, keeping the per-t group sums apart). Unpacking transposes the 16 blocks' 44 words in
//! registers (16×16 `vpermt2d` / 8×8 unpack transposes), so lane = weight row.
//!
//! Work items are (row block, 16-column tile) pairs, spread over candle's persistent barrier
//! pool (`candle_core::utils::barrier_pool()`, the same threads as candle's own matmuls; a call
//! from inside a pool worker runs inline, so pools never nest). Row blocks keep a block's
//! quantized activations within ~1 MiB (L2).

// Lane-indexed loops mirror the vector lanes they compile to; iterator chains over several
// parallel arrays would obscure that.
#![allow(clippy::needless_range_loop)]

use super::q8k::{bsum_pairs, quantize_row};
use super::tiling::{
    act_block, act_d, as_bytes, begin, blocks_from_bytes, check_shapes, quantize_acts, run_items,
    word, KernelPath, SyncPtr, NR, Q8K_BYTES, Q8K_QS, QK,
};
use candle_core::quantized::k_quants::BlockQ5K;
use candle_core::Result;

/// A `BlockQ5K` is 176 bytes = 44 little-endian u32 words:
/// word 0 = d | dmin << 16, words 1..4 = scales, 4..12 = qh, 12..44 = qs.
const Q5K_BYTES: usize = 176;
const Q5K_WORDS: usize = Q5K_BYTES / 4;
/// Largest row block (rows of activations sharing one unpacked tile).
const MAX_ROW_BLOCK: usize = 512;
/// Quantized activations of one row block should stay in L2 (2 MiB per core here).
const ROW_BLOCK_BYTES: usize = 1 << 20;
/// f32 accumulators per activation row of a tile: 8 vectors of `NR` lanes (`acc_t`, see the
/// module docs), then one for `summs`.
const FACC_ROW: usize = 9 * NR;

/// The paths the kernel runs on (shared by every format).
pub type Q5kPath = KernelPath;

/// The matmul context of this format: the per-block activation sums as i16 pairs.
type Ctx<'a> = super::tiling::Ctx<'a, [i32; 4]>;

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
    let Some(kb) = begin(path, m, k, n, lhs, weights, dst)? else {
        return Ok(());
    };
    // Quantize the activations once (rows in parallel), plus the per-32 activation sums as
    // i16 pairs for the mins term.
    let parallel = m >= 8 && m * k >= 1 << 16;
    let quantize = |xs: &[f32], ys: &mut [_]| quantize_row(path, xs, ys);
    let (acts, bsp) = quantize_acts(m, k, kb, lhs, parallel, [0i32; 4], quantize, bsum_pairs);

    // Row blocks small enough that their quantized activations stay in L2.
    let row_bytes = kb * Q8K_BYTES;
    let mut rb = row_block
        .unwrap_or(ROW_BLOCK_BYTES / row_bytes)
        .clamp(1, MAX_ROW_BLOCK);
    if row_block.is_none() {
        rb = rb.max(16);
        let n_rb = m.div_ceil(rb);
        rb = m.div_ceil(n_rb).next_multiple_of(8).min(MAX_ROW_BLOCK);
    }
    let n_ct = n.div_ceil(NR);

    let ctx = Ctx {
        m,
        n,
        kb,
        w: as_bytes(weights),
        acts: as_bytes(&acts),
        aux: &bsp,
        row_block: rb,
        n_col_tiles: n_ct,
        dst: SyncPtr(dst.as_mut_ptr()),
    };
    run_items(&ctx, |range| run_range(path, &ctx, range));
    Ok(())
}

/// 16 weight rows × one super-block, unpacked.
#[repr(C, align(64))]
struct Tile {
    /// `qs[g][lane]`: the 5-bit values k = 4g..4g+4 of weight row `lane`, one per byte.
    qs: [[u32; NR]; 64],
    /// `sc[s][lane]`: 6-bit scale of sub-block s (k = 32s..32s+32), in both i16 halves (for
    /// `vpmaddwd`/`vpdpwssd` against i16 pairs).
    sc: [[i32; NR]; 8],
    /// `mn[p][lane]`: 6-bit mins of sub-blocks 2p (low i16) and 2p+1 (high i16).
    mn: [[i32; NR]; 4],
    d: [f32; NR],
    dmin: [f32; NR],
}

/// The raw words of 16 blocks, transposed: `raw[word][lane]`.
#[repr(C, align(64))]
struct Raw([[u32; NR]; Q5K_WORDS]);

/// Gathers super-block `b` of weight rows `c0..c0+nc` (lanes past `nc` zero).
#[inline(always)]
fn fill_raw(w: &[u8], kb: usize, c0: usize, nc: usize, b: usize, raw: &mut Raw) {
    for lane in 0..NR {
        if lane < nc {
            let at = ((c0 + lane) * kb + b) * Q5K_BYTES;
            let blk = &w[at..at + Q5K_BYTES];
            for (u, words) in raw.0.iter_mut().enumerate() {
                words[lane] = word(blk, 4 * u);
            }
        } else {
            for words in raw.0.iter_mut() {
                words[lane] = 0;
            }
        }
    }
}

/// Unpacks transposed raw words into a tile; written lane-wise so it vectorizes.
#[inline(always)]
fn unpack(raw: &Raw, tile: &mut Tile) {
    unpack_meta(raw, tile);
    unpack_qs(raw, tile);
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
        Q5kPath::Scalar => run_scalar::<ScalarKernel>(ctx, range),
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

/// A kernel: accumulates the products of one tile with rows `r0..r0+rows` (super-block `b`)
/// into `facc` (`rows × FACC_ROW`: per row, `acc_0..acc_7` then `summs`, `NR` lanes each).
trait Kernel {
    /// Unpacks super-block `b` of weight rows `c0..c0+nc` into `tile` (`raw` is scratch).
    ///
    /// # Safety
    /// The CPU must support the kernel's target features.
    #[inline(always)]
    unsafe fn prepare(ctx: &Ctx, c0: usize, nc: usize, b: usize, raw: &mut Raw, tile: &mut Tile) {
        fill_raw(ctx.w, ctx.kb, c0, nc, b, raw);
        unpack(raw, tile);
    }

    /// # Safety
    /// The CPU must support the kernel's target features.
    unsafe fn rows(tile: &Tile, ctx: &Ctx, r0: usize, rows: usize, b: usize, facc: &mut [f32]);
}

/// The driver loop, inlined into a target-feature wrapper per path so that the unpack code is
/// compiled for that path's vector width too.
///
/// # Safety
/// The CPU must support `K`'s target features.
#[inline(always)]
unsafe fn run_items_generic<K: Kernel>(ctx: &Ctx, range: std::ops::Range<usize>) {
    let mut raw = Raw([[0; NR]; Q5K_WORDS]);
    let mut tile = Tile {
        qs: [[0; NR]; 64],
        sc: [[0; NR]; 8],
        mn: [[0; NR]; 4],
        d: [0.0; NR],
        dmin: [0.0; NR],
    };
    let mut facc = vec![0f32; ctx.row_block * FACC_ROW];
    for item in range {
        let (r0, rows, c0, nc) = ctx.item(item);
        let facc = &mut facc[..rows * FACC_ROW];
        facc.fill(0.0);
        for b in 0..ctx.kb {
            // SAFETY: forwarded from this function's contract.
            unsafe {
                K::prepare(ctx, c0, nc, b, &mut raw, &mut tile);
                K::rows(&tile, ctx, r0, rows, b, facc);
            }
        }
        let mut out = [0f32; NR];
        for r in 0..rows {
            let f = &facc[r * FACC_ROW..(r + 1) * FACC_ROW];
            let acc = |t: usize, lane: usize| f[t * NR + lane];
            for (lane, o) in out.iter_mut().enumerate() {
                // candle's `hsum_float_8(acc) + summs`, in its order.
                let u0 = (acc(4, lane) + acc(0, lane)) + (acc(6, lane) + acc(2, lane));
                let u1 = (acc(5, lane) + acc(1, lane)) + (acc(7, lane) + acc(3, lane));
                *o = (u0 + u1) + acc(8, lane);
            }
            let out = &out[..nc];
            // SAFETY: row r0 + r < m and columns c0..c0+nc < n, so the range lies inside the
            // m×n `dst`; each (row block, column tile) item is run exactly once, so no other
            // thread writes these elements while `dst` is borrowed by `matmul_inner`.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    out.as_ptr(),
                    ctx.dst.0.add((r0 + r) * ctx.n + c0),
                    nc,
                );
            }
        }
    }
}

fn run_scalar<K: Kernel>(ctx: &Ctx, range: std::ops::Range<usize>) {
    // SAFETY: only called with `ScalarKernel`, which needs no target features.
    unsafe { run_items_generic::<K>(ctx, range) }
}

struct ScalarKernel;

impl Kernel for ScalarKernel {
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
