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
mod x86 {
    use super::super::tiling::{act_block, act_d, act_group, Q8K_BYTES};
    use super::{run_items_generic, Ctx, Kernel, Raw, Tile, FACC_ROW, NR, Q5K_BYTES};
    use std::arch::x86_64::*;

    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn run_items_avx2(ctx: &Ctx, range: std::ops::Range<usize>) {
        // SAFETY: forwarded from this function's contract.
        unsafe { run_items_generic::<Avx2Kernel>(ctx, range) }
    }

    /// # Safety
    /// The CPU must support AVX-512F, AVX-512BW, AVX-512 VNNI and FMA.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni,avx2,fma")]
    pub(super) unsafe fn run_items_avx512(ctx: &Ctx, range: std::ops::Range<usize>) {
        // SAFETY: forwarded from this function's contract.
        unsafe { run_items_generic::<Avx512Kernel>(ctx, range) }
    }

    struct Avx512Kernel;

    /// `MR` activation rows × 16 weight rows × one super-block.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni,fma")]
    fn tile512<const MR: usize>(
        tile: &Tile,
        a: [&[u8; Q8K_BYTES]; MR],
        pairs: [[i32; 4]; MR],
        out: &mut [f32],
    ) {
        let out = &mut out[..MR * FACC_ROW];
        // SAFETY (all loads/stores in this function): `Tile` is `#[repr(C, align(64))]` and
        // each of its rows is 16 × 4 = 64 bytes, so `tile.qs[g]`, `tile.sc[s]`, `tile.mn[p]`,
        // `tile.d`, `tile.dmin` are 64-byte aligned 64-byte arrays (aligned loads are fine);
        // `out` holds MR × FACC_ROW f32, vector t of row r at r·FACC_ROW + 16t (t ≤ 8),
        // accessed with unaligned loads/stores.
        unsafe {
            let dw = _mm512_load_ps(tile.d.as_ptr());
            let ad: [__m512; MR] = std::array::from_fn(|r| _mm512_set1_ps(act_d(a[r])));
            for t in 0..8 {
                // sumi_t = Σ_s scale_s · (4-byte group 8s + t): the i16 pair sums of
                // `vpmaddubsw` (u5 × i8 pairs ≤ 2·31·128 < 2^15: no saturation) times the scale
                // in both halves, added by `vpdpwssd`.
                let mut acc = [_mm512_setzero_si512(); MR];
                for s in 0..8 {
                    let g = 8 * s + t;
                    let w = _mm512_load_si512(tile.qs[g].as_ptr().cast());
                    let sc = _mm512_load_si512(tile.sc[s].as_ptr().cast());
                    for r in 0..MR {
                        let av = _mm512_set1_epi32(act_group(a[r], g));
                        let p = _mm512_maddubs_epi16(w, av);
                        acc[r] = _mm512_dpwssd_epi32(acc[r], p, sc);
                    }
                }
                for r in 0..MR {
                    let o = out.as_mut_ptr().add(r * FACC_ROW + t * NR);
                    // candle's `d = a.d · w.d` (an f32 product), per weight row.
                    let d = _mm512_mul_ps(ad[r], dw);
                    let x = _mm512_cvtepi32_ps(acc[r]);
                    let f = _mm512_fmadd_ps(d, x, _mm512_loadu_ps(o));
                    _mm512_storeu_ps(o, f);
                }
            }
            let mut msum = [_mm512_setzero_si512(); MR];
            for p in 0..4 {
                let mn = _mm512_load_si512(tile.mn[p].as_ptr().cast());
                for r in 0..MR {
                    msum[r] = _mm512_dpwssd_epi32(msum[r], mn, _mm512_set1_epi32(pairs[r][p]));
                }
            }
            let dmw = _mm512_load_ps(tile.dmin.as_ptr());
            for r in 0..MR {
                // summs += (−a.d · w.dmin) · msum: separate multiply and add, as candle.
                let o = out.as_mut_ptr().add(r * FACC_ROW + 8 * NR);
                let m = _mm512_mul_ps(_mm512_mul_ps(ad[r], dmw), _mm512_cvtepi32_ps(msum[r]));
                _mm512_storeu_ps(o, _mm512_sub_ps(_mm512_loadu_ps(o), m));
            }
        }
    }

    /// Transposes 16 rows × 16 words (`rows[r]` = word c of row r) into 16 columns × 16 rows.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn transpose16(rows: &mut [__m512i; 16]) {
        // Four block-swap levels (8, 4, 2, 1): M'[r][c] = M[r^b][c^b] where bit b of r and c
        // differ. Each level is a separate monomorphized call so that its loop unrolls and the
        // rows stay in registers.
        level::<8>(rows);
        level::<4>(rows);
        level::<2>(rows);
        level::<1>(rows);
    }

    /// One block-swap level of [`transpose16`]. `vpermt2d` index: 0..16 picks from `a`
    /// (row r), 16..32 from `bb` (row r+B).
    #[inline(always)]
    fn level<const B: usize>(rows: &mut [__m512i; 16]) {
        let lo: [i32; 16] = std::array::from_fn(|c| {
            if c & B == 0 {
                c as i32
            } else {
                16 + (c ^ B) as i32
            }
        });
        let hi: [i32; 16] = std::array::from_fn(|c| {
            if c & B != 0 {
                16 + c as i32
            } else {
                (c ^ B) as i32
            }
        });
        // SAFETY: loading 16 i32 from 16-element arrays; callers run with AVX-512F (this is
        // only inlined into `transpose16`, which requires it).
        unsafe {
            let lo = _mm512_loadu_si512(lo.as_ptr().cast());
            let hi = _mm512_loadu_si512(hi.as_ptr().cast());
            for r in 0..16 {
                if r & B == 0 {
                    let (a, bb) = (rows[r], rows[r + B]);
                    rows[r] = _mm512_permutex2var_epi32(a, lo, bb);
                    rows[r + B] = _mm512_permutex2var_epi32(a, hi, bb);
                }
            }
        }
    }

    /// The 16 blocks of a tile (lanes past `nc` repeat row c0: valid memory, outputs never
    /// stored), after prefetching the same rows' next super-block (16 strided streams are more
    /// than the hardware prefetchers follow well).
    #[inline(always)]
    fn tile_blocks<'a>(ctx: &Ctx<'a>, c0: usize, nc: usize, b: usize) -> [&'a [u8; Q5K_BYTES]; NR] {
        if b + 1 < ctx.kb {
            for lane in 0..nc {
                let at = ((c0 + lane) * ctx.kb + b + 1) * Q5K_BYTES;
                let next = &ctx.w[at..at + Q5K_BYTES];
                for off in [0, 64, 128, Q5K_BYTES - 1] {
                    // SAFETY: prefetching is a hint with no memory effects (SSE, baseline on
                    // x86-64); the address is inside `next`.
                    unsafe { _mm_prefetch::<_MM_HINT_T0>(next.as_ptr().add(off).cast()) };
                }
            }
        }
        std::array::from_fn(|lane| {
            let row = c0 + if lane < nc { lane } else { 0 };
            let at = (row * ctx.kb + b) * Q5K_BYTES;
            ctx.w[at..at + Q5K_BYTES]
                .try_into()
                .expect("a slice of Q5K_BYTES converts")
        })
    }

    /// Transposes 8 rows × 8 words into 8 columns × 8 rows.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn transpose8(r: &mut [__m256i; 8]) {
        let t: [__m256i; 8] = std::array::from_fn(|i| {
            let (a, b) = (r[2 * (i / 2)], r[2 * (i / 2) + 1]);
            if i % 2 == 0 {
                _mm256_unpacklo_epi32(a, b)
            } else {
                _mm256_unpackhi_epi32(a, b)
            }
        });
        // u[4g + 0..4] from t[4g + {0,2}] (lo/hi) and t[4g + {1,3}] (lo/hi).
        let u: [__m256i; 8] = std::array::from_fn(|i| {
            let g = 4 * (i / 4);
            let (a, b) = if i % 4 < 2 {
                (t[g], t[g + 2])
            } else {
                (t[g + 1], t[g + 3])
            };
            if i % 2 == 0 {
                _mm256_unpacklo_epi64(a, b)
            } else {
                _mm256_unpackhi_epi64(a, b)
            }
        });
        for c in 0..4 {
            r[c] = _mm256_permute2x128_si256::<0x20>(u[c], u[c + 4]);
            r[c + 4] = _mm256_permute2x128_si256::<0x31>(u[c], u[c + 4]);
        }
    }

    /// AVX2 tile preparation: 8×8 transposes of the raw words, then the portable unpack
    /// (compiled here for AVX2).
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn prepare256(ctx: &Ctx, c0: usize, nc: usize, b: usize, raw: &mut Raw, tile: &mut Tile) {
        let blocks = tile_blocks(ctx, c0, nc, b);
        for h in 0..2 {
            for chunk in 0..6 {
                // SAFETY: chunks 0..5 read words 8c..8c+8 (bytes 32c..32c+32 ≤ 160), chunk 5
                // reads words 40..44 (bytes 160..176) with a 16-byte load: inside each block.
                let mut m: [__m256i; 8] = std::array::from_fn(|i| unsafe {
                    let p = blocks[8 * h + i].as_ptr().add(32 * chunk);
                    if chunk < 5 {
                        _mm256_loadu_si256(p.cast())
                    } else {
                        _mm256_zextsi128_si256(_mm_loadu_si128(p.cast()))
                    }
                });
                transpose8(&mut m);
                let words = if chunk < 5 { 8 } else { 4 };
                for (i, v) in m.iter().enumerate().take(words) {
                    // SAFETY: `raw.0[w]` is a 64-byte aligned row of 16 u32, so lanes 8h..8h+8
                    // are a 32-byte aligned in-bounds half; w = 8·chunk + i < 44.
                    unsafe {
                        _mm256_store_si256(raw.0[8 * chunk + i].as_mut_ptr().add(8 * h).cast(), *v)
                    };
                }
            }
        }
        super::unpack_meta(raw, tile);
        unpack_qs_avx2(raw, tile);
    }

    /// The 5-bit values (see `unpack_qs`), 8 lanes at a time.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn unpack_qs_avx2(raw: &Raw, tile: &mut Tile) {
        let m0f = _mm256_set1_epi32(0x0F0F_0F0F);
        let m10 = _mm256_set1_epi32(0x1010_1010);
        for half in 0..2 {
            // SAFETY: rows of `Raw` and `Tile` are 64-byte aligned 16 × u32 arrays, so lanes
            // 8·half..8·half+8 are an aligned, in-bounds 32-byte half.
            unsafe {
                let ld = |u: usize| _mm256_load_si256(raw.0[u].as_ptr().add(8 * half).cast());
                let h: [__m256i; 8] = std::array::from_fn(|t| ld(4 + t));
                macro_rules! run {
                    ($j:literal, $lo:expr, $hi:expr) => {
                        for t in 0..8 {
                            let q = ld(12 + 8 * $j + t);
                            let lo = _mm256_or_si256(
                                _mm256_and_si256(q, m0f),
                                _mm256_and_si256($lo(h[t]), m10),
                            );
                            let hi = _mm256_or_si256(
                                _mm256_and_si256(_mm256_srli_epi32::<4>(q), m0f),
                                _mm256_and_si256($hi(h[t]), m10),
                            );
                            let dst = tile.qs[16 * $j + t].as_mut_ptr().add(8 * half);
                            _mm256_store_si256(dst.cast(), lo);
                            let dst = tile.qs[16 * $j + 8 + t].as_mut_ptr().add(8 * half);
                            _mm256_store_si256(dst.cast(), hi);
                        }
                    };
                }
                run!(
                    0,
                    |x| _mm256_slli_epi32::<4>(x),
                    |x| _mm256_slli_epi32::<3>(x)
                );
                run!(
                    1,
                    |x| _mm256_slli_epi32::<2>(x),
                    |x| _mm256_slli_epi32::<1>(x)
                );
                run!(2, |x| x, |x| _mm256_srli_epi32::<1>(x));
                run!(
                    3,
                    |x| _mm256_srli_epi32::<2>(x),
                    |x| _mm256_srli_epi32::<3>(x)
                );
            }
        }
    }

    /// Gathers super-block `b` of 16 weight rows as transposed words and unpacks them.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni,fma")]
    fn prepare512(ctx: &Ctx, c0: usize, nc: usize, b: usize, raw: &mut Raw, tile: &mut Tile) {
        let blocks = tile_blocks(ctx, c0, nc, b);
        for chunk in 0..3 {
            // SAFETY: each block is 176 bytes = 44 words; chunks 0 and 1 read words 0..32
            // (128 bytes) in full, chunk 2 reads words 32..44 with a 12-lane mask (masked-off
            // lanes are not accessed, so nothing past the block is touched).
            let mut m: [__m512i; 16] = std::array::from_fn(|r| unsafe {
                let p = blocks[r].as_ptr().add(64 * chunk);
                if chunk < 2 {
                    _mm512_loadu_si512(p.cast())
                } else {
                    _mm512_maskz_loadu_epi32(0x0FFF, p.cast())
                }
            });
            transpose16(&mut m);
            let words = if chunk < 2 { 16 } else { 12 };
            for (i, v) in m.iter().enumerate().take(words) {
                // SAFETY: `raw.0[16·chunk + i]` is a 64-byte aligned row of 16 u32 (Raw is
                // `align(64)`), and 16·chunk + i < 44.
                unsafe { _mm512_store_si512(raw.0[16 * chunk + i].as_mut_ptr().cast(), *v) };
            }
        }
        // SAFETY: aligned 64-byte loads/stores of `Raw` and `Tile` rows (both `align(64)`, each
        // row 16 × 4 bytes), plus a 32-byte unaligned store into `tile.d`/`tile.dmin` halves.
        unsafe {
            let ld = |u: usize| _mm512_load_si512(raw.0[u].as_ptr().cast());
            let st =
                |dst: &mut [u32; NR], v: __m512i| _mm512_store_si512(dst.as_mut_ptr().cast(), v);
            let dd = ld(0);
            _mm512_store_ps(
                tile.d.as_mut_ptr(),
                _mm512_cvtph_ps(_mm512_cvtepi32_epi16(dd)),
            );
            _mm512_store_ps(
                tile.dmin.as_mut_ptr(),
                _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32::<16>(dd))),
            );
            let (u0, u1, u2) = (ld(1), ld(2), ld(3));
            let k1 = _mm512_set1_epi32(0x3f3f_3f3f);
            let k2 = _mm512_set1_epi32(0x0f0f_0f0f);
            let k3 = _mm512_set1_epi32(0x0303_0303);
            let ff = _mm512_set1_epi32(0xFF);
            let sc_lo = _mm512_and_si512(u0, k1);
            let sc_hi = _mm512_or_si512(
                _mm512_and_si512(u2, k2),
                _mm512_slli_epi32::<4>(_mm512_and_si512(_mm512_srli_epi32::<6>(u0), k3)),
            );
            let mn_lo = _mm512_and_si512(u1, k1);
            let mn_hi = _mm512_or_si512(
                _mm512_and_si512(_mm512_srli_epi32::<4>(u2), k2),
                _mm512_slli_epi32::<4>(_mm512_and_si512(_mm512_srli_epi32::<6>(u1), k3)),
            );
            let byte = |x: __m512i, s: u32| {
                _mm512_and_si512(_mm512_srl_epi32(x, _mm_cvtsi32_si128(8 * s as i32)), ff)
            };
            // Scales in both i16 halves.
            let both = |x: __m512i| _mm512_or_si512(x, _mm512_slli_epi32::<16>(x));
            for s in 0..4u32 {
                let (lo, hi) = (both(byte(sc_lo, s)), both(byte(sc_hi, s)));
                _mm512_store_si512(tile.sc[s as usize].as_mut_ptr().cast(), lo);
                _mm512_store_si512(tile.sc[s as usize + 4].as_mut_ptr().cast(), hi);
            }
            // Mins as i16 pairs: bytes (0,1) → (lo, hi) halves, bytes (2,3) likewise.
            let m_b2 = _mm512_set1_epi32(0x00FF_0000);
            let pair01 = |x: __m512i| {
                _mm512_or_si512(
                    _mm512_and_si512(x, ff),
                    _mm512_and_si512(_mm512_slli_epi32::<8>(x), m_b2),
                )
            };
            let pair23 = |x: __m512i| pair01(_mm512_srli_epi32::<16>(x));
            _mm512_store_si512(tile.mn[0].as_mut_ptr().cast(), pair01(mn_lo));
            _mm512_store_si512(tile.mn[1].as_mut_ptr().cast(), pair23(mn_lo));
            _mm512_store_si512(tile.mn[2].as_mut_ptr().cast(), pair01(mn_hi));
            _mm512_store_si512(tile.mn[3].as_mut_ptr().cast(), pair23(mn_hi));

            // 5-bit values: low/high nibbles of qs plus bit 2j / 2j+1 of qh, moved to bit 4.
            let m0f = k2;
            let m10 = _mm512_set1_epi32(0x1010_1010);
            let h: [__m512i; 8] = std::array::from_fn(|t| ld(4 + t));
            macro_rules! run {
                ($j:literal, $lo:expr, $hi:expr) => {
                    for t in 0..8 {
                        let q = ld(12 + 8 * $j + t);
                        let lo = _mm512_ternarylogic_epi32::<0xF8>(
                            _mm512_and_si512(q, m0f),
                            $lo(h[t]),
                            m10,
                        );
                        let hi = _mm512_ternarylogic_epi32::<0xF8>(
                            _mm512_and_si512(_mm512_srli_epi32::<4>(q), m0f),
                            $hi(h[t]),
                            m10,
                        );
                        st(&mut tile.qs[16 * $j + t], lo);
                        st(&mut tile.qs[16 * $j + 8 + t], hi);
                    }
                };
            }
            run!(
                0,
                |x| _mm512_slli_epi32::<4>(x),
                |x| _mm512_slli_epi32::<3>(x)
            );
            run!(
                1,
                |x| _mm512_slli_epi32::<2>(x),
                |x| _mm512_slli_epi32::<1>(x)
            );
            run!(2, |x| x, |x| _mm512_srli_epi32::<1>(x));
            run!(
                3,
                |x| _mm512_srli_epi32::<2>(x),
                |x| _mm512_srli_epi32::<3>(x)
            );
        }
    }

    /// # Safety
    /// The CPU must support AVX-512F/BW/VNNI and FMA.
    #[cfg(test)]
    pub(super) unsafe fn prepare_avx512(
        ctx: &Ctx,
        c0: usize,
        nc: usize,
        b: usize,
        raw: &mut Raw,
        tile: &mut Tile,
    ) {
        // SAFETY: forwarded from this function's contract.
        unsafe { prepare512(ctx, c0, nc, b, raw, tile) }
    }

    impl Kernel for Avx512Kernel {
        #[inline(always)]
        unsafe fn prepare(
            ctx: &Ctx,
            c0: usize,
            nc: usize,
            b: usize,
            raw: &mut Raw,
            tile: &mut Tile,
        ) {
            // SAFETY: the caller guarantees AVX-512F/BW/VNNI and FMA.
            unsafe { prepare512(ctx, c0, nc, b, raw, tile) }
        }

        #[inline(always)]
        unsafe fn rows(tile: &Tile, ctx: &Ctx, r0: usize, rows: usize, b: usize, facc: &mut [f32]) {
            macro_rules! call {
                ($mr:literal, $r:expr) => {{
                    let r = $r;
                    let a: [&[u8; Q8K_BYTES]; $mr] =
                        std::array::from_fn(|i| act_block(ctx, r0 + r + i, b));
                    let p: [[i32; 4]; $mr] =
                        std::array::from_fn(|i| ctx.aux[(r0 + r + i) * ctx.kb + b]);
                    // SAFETY: the caller guarantees AVX-512F/BW/VNNI and FMA.
                    unsafe {
                        tile512::<$mr>(tile, a, p, &mut facc[r * FACC_ROW..(r + $mr) * FACC_ROW])
                    }
                }};
            }
            let mut r = 0;
            while r + 8 <= rows {
                call!(8, r);
                r += 8;
            }
            match rows - r {
                1 => call!(1, r),
                2 => call!(2, r),
                3 => call!(3, r),
                4 => call!(4, r),
                5 => call!(5, r),
                6 => call!(6, r),
                7 => call!(7, r),
                _ => {}
            }
        }
    }

    struct Avx2Kernel;

    /// `MR` activation rows × 16 weight rows (two 8-lane halves) × one super-block.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn tile256<const MR: usize>(
        tile: &Tile,
        a: [&[u8; Q8K_BYTES]; MR],
        pairs: [[i32; 4]; MR],
        out: &mut [f32],
    ) {
        let out = &mut out[..MR * FACC_ROW];
        // SAFETY (all loads/stores in this function): `Tile` is `#[repr(C, align(64))]` with
        // 64-byte rows, so each 8-lane half (`.as_ptr().add(8)`) is 32-byte aligned and in
        // bounds; `out` holds MR × FACC_ROW f32, half h of vector t of row r at
        // r·FACC_ROW + 16t + 8h (t ≤ 8), accessed with unaligned loads/stores.
        unsafe {
            let ad: [__m256; MR] = std::array::from_fn(|r| _mm256_set1_ps(act_d(a[r])));
            for t in 0..8 {
                // sumi_t = Σ_s scale_s · (4-byte group 8s + t), see `tile512`.
                let mut acc = [[_mm256_setzero_si256(); 2]; MR];
                for s in 0..8 {
                    let g = 8 * s + t;
                    let w0 = _mm256_load_si256(tile.qs[g].as_ptr().cast());
                    let w1 = _mm256_load_si256(tile.qs[g].as_ptr().add(8).cast());
                    let sc0 = _mm256_load_si256(tile.sc[s].as_ptr().cast());
                    let sc1 = _mm256_load_si256(tile.sc[s].as_ptr().add(8).cast());
                    for r in 0..MR {
                        let av = _mm256_set1_epi32(act_group(a[r], g));
                        // u5 × i8 pair sums are ≤ 2·31·128 < 2^15: no saturation.
                        let p0 = _mm256_maddubs_epi16(w0, av);
                        let p1 = _mm256_maddubs_epi16(w1, av);
                        acc[r][0] = _mm256_add_epi32(acc[r][0], _mm256_madd_epi16(p0, sc0));
                        acc[r][1] = _mm256_add_epi32(acc[r][1], _mm256_madd_epi16(p1, sc1));
                    }
                }
                for h in 0..2 {
                    let dw = _mm256_load_ps(tile.d.as_ptr().add(8 * h));
                    for r in 0..MR {
                        let o = out.as_mut_ptr().add(r * FACC_ROW + t * NR + 8 * h);
                        let d = _mm256_mul_ps(ad[r], dw);
                        let x = _mm256_cvtepi32_ps(acc[r][h]);
                        _mm256_storeu_ps(o, _mm256_fmadd_ps(d, x, _mm256_loadu_ps(o)));
                    }
                }
            }
            let mut msum = [[_mm256_setzero_si256(); 2]; MR];
            for p in 0..4 {
                for h in 0..2 {
                    let mn = _mm256_load_si256(tile.mn[p].as_ptr().add(8 * h).cast());
                    for r in 0..MR {
                        let bs = _mm256_set1_epi32(pairs[r][p]);
                        msum[r][h] = _mm256_add_epi32(msum[r][h], _mm256_madd_epi16(mn, bs));
                    }
                }
            }
            for h in 0..2 {
                let dmw = _mm256_load_ps(tile.dmin.as_ptr().add(8 * h));
                for r in 0..MR {
                    // summs += (−a.d · w.dmin) · msum: separate multiply and add, as candle.
                    let o = out.as_mut_ptr().add(r * FACC_ROW + 8 * NR + 8 * h);
                    let m =
                        _mm256_mul_ps(_mm256_mul_ps(ad[r], dmw), _mm256_cvtepi32_ps(msum[r][h]));
                    _mm256_storeu_ps(o, _mm256_sub_ps(_mm256_loadu_ps(o), m));
                }
            }
        }
    }

    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[cfg(test)]
    pub(super) unsafe fn prepare_avx2(
        ctx: &Ctx,
        c0: usize,
        nc: usize,
        b: usize,
        raw: &mut Raw,
        tile: &mut Tile,
    ) {
        // SAFETY: forwarded from this function's contract.
        unsafe { prepare256(ctx, c0, nc, b, raw, tile) }
    }

    impl Kernel for Avx2Kernel {
        #[inline(always)]
        unsafe fn prepare(
            ctx: &Ctx,
            c0: usize,
            nc: usize,
            b: usize,
            raw: &mut Raw,
            tile: &mut Tile,
        ) {
            // SAFETY: the caller guarantees AVX2 and FMA.
            unsafe { prepare256(ctx, c0, nc, b, raw, tile) }
        }

        #[inline(always)]
        unsafe fn rows(tile: &Tile, ctx: &Ctx, r0: usize, rows: usize, b: usize, facc: &mut [f32]) {
            macro_rules! call {
                ($mr:literal, $r:expr) => {{
                    let r = $r;
                    let a: [&[u8; Q8K_BYTES]; $mr] =
                        std::array::from_fn(|i| act_block(ctx, r0 + r + i, b));
                    let p: [[i32; 4]; $mr] =
                        std::array::from_fn(|i| ctx.aux[(r0 + r + i) * ctx.kb + b]);
                    // SAFETY: the caller guarantees AVX2 and FMA.
                    unsafe {
                        tile256::<$mr>(tile, a, p, &mut facc[r * FACC_ROW..(r + $mr) * FACC_ROW])
                    }
                }};
            }
            let mut r = 0;
            while r + 4 <= rows {
                call!(4, r);
                r += 4;
            }
            match rows - r {
                1 => call!(1, r),
                2 => call!(2, r),
                3 => call!(3, r),
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::rng;
    use super::*;
    use candle_core::quantized::k_quants::matmul;

    fn weights(n: usize, k: usize, seed: u64) -> Vec<BlockQ5K> {
        super::super::tests::weights(n, k, seed, |_| 1.0)
    }

    /// Largest |ours − candle| relative to max(|candle|, mean |candle|) (a result near zero
    /// from cancellation is judged against the matrix's scale).
    fn max_rel_err(ours: &[f32], theirs: &[f32]) -> f32 {
        let mean = theirs.iter().map(|x| x.abs()).sum::<f32>() / theirs.len().max(1) as f32;
        ours.iter()
            .zip(theirs)
            .map(|(a, b)| (a - b).abs() / b.abs().max(mean).max(f32::MIN_POSITIVE))
            .fold(0.0, f32::max)
    }

    /// `ours` equals candle's `matmul::<BlockQ5K>` bit for bit. Candle reaches ggml's AVX2 dot
    /// product (the order we reproduce) only on x86-64 with AVX2 + FMA; elsewhere it runs its
    /// generic `vec_dot_unopt`, which sums in another order, so there we can only check
    /// agreement to f32 rounding.
    fn assert_matches(ours: &[f32], theirs: &[f32], what: &str) {
        if cfg!(target_arch = "x86_64") && Q5kPath::Avx2.available() {
            let bad = ours
                .iter()
                .zip(theirs)
                .position(|(a, b)| a.to_bits() != b.to_bits());
            if let Some(i) = bad {
                panic!(
                    "{what}: element {i} of {}: {} (ours) != {} (candle), max rel err {}",
                    ours.len(),
                    ours[i],
                    theirs[i],
                    max_rel_err(ours, theirs)
                );
            }
        } else {
            let err = max_rel_err(ours, theirs);
            assert!(err <= 1e-5, "{what}: max rel err {err}");
        }
    }

    fn check(path: Q5kPath, m: usize, k: usize, n: usize, row_block: Option<usize>) {
        let w = weights(n, k, (m * 31 + k * 7 + n) as u64);
        let mut r = rng(m as u64 + 99);
        let lhs: Vec<f32> = (0..m * k).map(|_| r() * 3.0).collect();
        let mut want = vec![0f32; m * n];
        matmul::<BlockQ5K>((m, k, n), &lhs, &w, &mut want).unwrap();
        let mut got = vec![f32::NAN; m * n];
        matmul_inner(path, m, k, n, &lhs, &w, &mut got, row_block).unwrap();
        assert_matches(
            &got,
            &want,
            &format!("{path:?} m={m} k={k} n={n} rb={row_block:?}"),
        );
    }

    const SHAPES: &[(usize, usize, usize)] = &[
        (1, 256, 1),
        (1, 512, 17),
        (2, 256, 16),
        (3, 768, 33),
        (5, 256, 7),
        (8, 1024, 64),
        (9, 512, 48),
        (13, 256, 47),
        (16, 1024, 20),
        (31, 512, 35),
        (64, 256, 40),
        (70, 1024, 31),
    ];

    fn check_path(path: Q5kPath) {
        if !path.available() {
            eprintln!("skipping {path:?}: not supported by this CPU");
            return;
        }
        for &(m, k, n) in SHAPES {
            check(path, m, k, n, None);
        }
        for m in [1, 2, 17, 64, 256] {
            for n in [1, 7, 16, 33, 1024] {
                check(path, m, 256, n, None);
            }
        }
        // Several row blocks, including a ragged last one.
        check(path, 37, 512, 33, Some(8));
        check(path, 37, 512, 33, Some(16));
    }

    #[test]
    fn scalar_matches_candle() {
        check_path(Q5kPath::Scalar);
    }

    #[test]
    fn avx2_matches_candle() {
        check_path(Q5kPath::Avx2);
    }

    #[test]
    fn avx512_vnni_matches_candle() {
        check_path(Q5kPath::Avx512Vnni);
    }

    #[test]
    fn default_entry_matches_candle() {
        for &(m, k, n) in &[
            (1, 512, 35),
            (1, 256, 1024),
            (2, 256, 7),
            (4, 256, 16),
            (17, 512, 50),
        ] {
            let w = weights(n, k, 5);
            let mut r = rng(7);
            let lhs: Vec<f32> = (0..m * k).map(|_| r()).collect();
            let mut want = vec![0f32; m * n];
            matmul::<BlockQ5K>((m, k, n), &lhs, &w, &mut want).unwrap();
            let mut got = vec![0f32; m * n];
            matmul_q5k(m, k, n, &lhs, &w, &mut got).unwrap();
            assert_matches(&got, &want, &format!("matmul_q5k m={m} k={k} n={n}"));
        }
    }

    fn empty_tile() -> Tile {
        Tile {
            qs: [[0; NR]; 64],
            sc: [[0; NR]; 8],
            mn: [[0; NR]; 4],
            d: [0.0; NR],
            dmin: [0.0; NR],
        }
    }

    /// Each path's tile unpacking equals the portable one, including a ragged column tile.
    #[test]
    fn prepare_paths_agree() {
        let (n, k) = (21, 512);
        let w = weights(n, k, 3);
        let bsp = [[0i32; 4]; 0];
        let ctx = Ctx {
            m: 0,
            n,
            kb: k / QK,
            w: as_bytes(&w),
            acts: &[],
            aux: &bsp,
            row_block: 1,
            n_col_tiles: n.div_ceil(NR),
            dst: SyncPtr(std::ptr::null_mut()),
        };
        let mut raw = Raw([[0; NR]; Q5K_WORDS]);
        for (c0, nc) in [(0, 16), (16, 5)] {
            for b in 0..k / QK {
                let mut want = empty_tile();
                fill_raw(ctx.w, ctx.kb, c0, nc, b, &mut raw);
                unpack(&raw, &mut want);
                let mut tiles = vec![];
                #[cfg(target_arch = "x86_64")]
                if Q5kPath::Avx512Vnni.available() {
                    let mut t = empty_tile();
                    // SAFETY: the features were just checked.
                    unsafe { x86::prepare_avx512(&ctx, c0, nc, b, &mut raw, &mut t) };
                    tiles.push(t);
                }
                #[cfg(target_arch = "x86_64")]
                if Q5kPath::Avx2.available() {
                    let mut t = empty_tile();
                    // SAFETY: the features were just checked.
                    unsafe { x86::prepare_avx2(&ctx, c0, nc, b, &mut raw, &mut t) };
                    tiles.push(t);
                }
                for t in tiles {
                    for lane in 0..nc {
                        let col = |x: &[[u32; NR]]| x.iter().map(|r| r[lane]).collect::<Vec<_>>();
                        let coli = |x: &[[i32; NR]]| x.iter().map(|r| r[lane]).collect::<Vec<_>>();
                        assert_eq!(col(&t.qs), col(&want.qs), "qs lane {lane} b {b}");
                        assert_eq!(coli(&t.sc), coli(&want.sc), "sc lane {lane}");
                        assert_eq!(coli(&t.mn), coli(&want.mn), "mn lane {lane}");
                        assert_eq!(t.d[lane], want.d[lane]);
                        assert_eq!(t.dmin[lane], want.dmin[lane]);
                    }
                }
            }
        }
    }

    #[test]
    fn blocks_from_bytes_round_trip() {
        let w = weights(3, 512, 9);
        let bytes = as_bytes(&w);
        let back = q5k_blocks_from_bytes(bytes).unwrap();
        assert_eq!(back, &w[..]);
        assert!(q5k_blocks_from_bytes(&bytes[..175]).is_err());
        assert!(q5k_blocks_from_bytes(&bytes[1..177]).is_err());
    }

    #[test]
    fn bad_shapes_are_errors() {
        let w = weights(2, 256, 1);
        let lhs = vec![0f32; 256];
        let mut dst = vec![0f32; 2];
        assert!(matmul_q5k(1, 255, 2, &lhs[..255], &w, &mut dst).is_err());
        assert!(matmul_q5k(1, 256, 2, &lhs[..200], &w, &mut dst).is_err());
        assert!(matmul_q5k(1, 256, 3, &lhs, &w, &mut dst).is_err());
        assert!(matmul_q5k(1, 256, 2, &lhs, &w, &mut dst[..1]).is_err());
        assert!(matmul_q5k(usize::MAX, 256, 2, &lhs, &w, &mut dst).is_err());
        // Empty shapes are fine.
        assert!(matmul_q5k(0, 256, 2, &[], &w, &mut []).is_ok());
        let mut zero = vec![1f32; 2];
        assert!(matmul_q5k_with(Q5kPath::Scalar, 1, 0, 2, &[], &[], &mut zero).is_ok());
        assert_eq!(zero, [0.0, 0.0]);
    }
}
