//! Q6_K weights × f32 activations, tiled, bit-identical to candle.
//!
//! candle multiplies Q6_K weights one output element at a time (`k_quants::matmul::<BlockQ6K>`
//! → `vec_dot_q6k_q8k`, ggml's AVX2 `ggml_vec_dot_q6_K_q8_K`), so with `m` activation rows every
//! weight super-block is unpacked `m` times. This kernel unpacks a tile of 16 weight rows × one
//! super-block once and uses it against a block of activation rows, while reproducing candle's
//! float recipe exactly (results equal bit for bit):
//!
//! ```text
//! per activation row: Q8_K blocks from candle's own BlockQ8K::from_float
//! per super-block:    S[L] = Σ_{p : (p mod 32) / 4 = L} scale[p/16] · (q6_p − 32) · q8_p,  L < 8
//!                     (the exact i32 lanes of candle's `sumi`)
//!                     acc[L] = fma(a.d · f32(w.d), f32(S[L]), acc[L])        (f32, block order)
//! result:             ((acc0+acc4) + (acc2+acc6)) + ((acc1+acc5) + (acc3+acc7))   (hsum_float_8)
//! ```
//!
//! Every integer step is exact (no saturation anywhere, checked per instruction below), so only
//! the grouping of the integer sums into the 8 lanes `L` matters, and that is kept.
//!
//! Tile layout: per weight row, the 256 6-bit values as unsigned bytes in position order, and
//! one i32 per 4 positions holding that group's scale as i16 pair(s); plus `f32(w.d)`.
//! - AVX-512 VNNI: a 64-byte chunk of weight values (positions 64c..64c+64) goes through
//!   `vpdpbusd` with the activation bytes, starting from `−32·Σ₄ q8` (so each i32 is
//!   `Σ₄ (q6 − 32)·q8`, which fits i16), then `vpdpwssd` with the scale (low i16 only) adds
//!   `scale · that` into an accumulator whose i32 `i` belongs to lane `L = i mod 8`; one 256-bit
//!   half swap per block folds it to candle's 8 lanes. Two weight rows share each fold.
//! - AVX2: candle's own per-row sequence (`vpmaddubsw`, minus `32·q8` pairs, `vpmaddwd` with
//!   the scale in both i16 halves), but with the weight row unpacked once per tile.
//!
//! Work items are (row block, 16-column tile) pairs over candle's persistent barrier pool
//! (`candle_core::utils::barrier_pool()`; called from inside a pool worker it runs inline, so
//! pools never nest).

// Lane-indexed loops mirror the vector lanes they compile to.
#![allow(clippy::needless_range_loop)]

use super::tiling::{
    act_block, act_d, as_bytes, begin, blocks_from_bytes, check_shapes, quantize_acts, run_items,
    KernelPath, SyncPtr, NR, Q8K_QS, QK,
};
use candle_core::quantized::k_quants::{BlockQ6K, BlockQ8K, GgmlType};
use candle_core::Result;

/// candle's float accumulator lanes.
const LANES: usize = 8;
/// i32 groups of 4 values per super-block.
const GROUPS: usize = QK / 4;
/// A `BlockQ6K` is 210 bytes: ql (128) at 0, qh (64) at 128, scales (16 × i8) at 192, d (f16)
/// at 208.
const Q6K_BYTES: usize = 210;
const Q6K_QH: usize = 128;
const Q6K_SCALES: usize = 192;
const Q6K_D: usize = 208;
/// Largest row block: its f32 accumulators (rows × 16 × 8) stay within 16 KiB (L1).
const MAX_ROW_BLOCK: usize = 32;

/// The paths the kernel runs on (shared by every format).
pub type Q6kPath = KernelPath;

/// The matmul context of this format: per activation group of 4 the offset term, see
/// [`offsets`].
type Ctx<'a> = super::tiling::Ctx<'a, [i32; GROUPS]>;

/// Below this many activation rows [`matmul_q6k`] hands the call to candle's row-at-a-time
/// kernel (same bits either way).
pub const MIN_TILED_ROWS: usize = 3;

/// `dst (m×n) = lhs (m×k) · weightsᵀ`, weights being `n` rows of `k/256` Q6_K blocks.
///
/// Bit-identical to `candle_core::quantized::k_quants::matmul::<BlockQ6K>` on x86-64 CPUs with
/// AVX2 + FMA (candle's `vec_dot_q6k_q8k`), on every path. Errors (never panics) when `k` is
/// not a multiple of 256 or a slice length does not match.
pub fn matmul_q6k(
    m: usize,
    k: usize,
    n: usize,
    lhs: &[f32],
    weights: &[BlockQ6K],
    dst: &mut [f32],
) -> Result<()> {
    check_shapes(m, k, n, lhs, weights, dst)?;
    if m < MIN_TILED_ROWS && k > 0 && n > 0 {
        if super::gemv::available() {
            return super::gemv::matmul(m, k, n, lhs, weights, dst, super::gemv::Format::Q6k);
        }
        return candle_core::quantized::k_quants::matmul::<BlockQ6K>((m, k, n), lhs, weights, dst);
    }
    matmul_q6k_with(Q6kPath::detect(), m, k, n, lhs, weights, dst)
}

/// [`matmul_q6k`]'s decode path (AVX-512, one activation row at a time) forced for every
/// `m` (for tests and benchmarks). Errors when the CPU lacks it
/// ([`super::decode_path_available`]).
pub fn matmul_q6k_gemv(
    m: usize,
    k: usize,
    n: usize,
    lhs: &[f32],
    weights: &[BlockQ6K],
    dst: &mut [f32],
) -> Result<()> {
    super::gemv::matmul(m, k, n, lhs, weights, dst, super::gemv::Format::Q6k)
}

/// [`matmul_q6k`] on a chosen path, tiled for every `m` (for tests and benchmarks).
/// Errors when the CPU lacks the path's features.
pub fn matmul_q6k_with(
    path: Q6kPath,
    m: usize,
    k: usize,
    n: usize,
    lhs: &[f32],
    weights: &[BlockQ6K],
    dst: &mut [f32],
) -> Result<()> {
    matmul_inner(path, m, k, n, lhs, weights, dst, None)
}

/// Views raw Q6_K tensor bytes (e.g. `QTensor::data()` of a Q6K tensor) as blocks. Errors if
/// the length is not a whole number of 210-byte blocks or the slice is not 2-byte aligned
/// (`BlockQ6K` holds an f16).
pub fn q6k_blocks_from_bytes(bytes: &[u8]) -> Result<&[BlockQ6K]> {
    blocks_from_bytes(bytes)
}

#[allow(clippy::too_many_arguments)]
fn matmul_inner(
    path: Q6kPath,
    m: usize,
    k: usize,
    n: usize,
    lhs: &[f32],
    weights: &[BlockQ6K],
    dst: &mut [f32],
    row_block: Option<usize>,
) -> Result<()> {
    let Some(kb) = begin(path, m, k, n, lhs, weights, dst)? else {
        return Ok(());
    };
    // Quantize the activations with candle's own quantizer (so `a.d` and `q8` are its bits),
    // plus per group of 4 values the offset term the path's kernel needs.
    let parallel = m >= 4 && m * k >= 1 << 15;
    let quantize = |xs: &[f32], ys: &mut [BlockQ8K]| BlockQ8K::from_float(xs, ys);
    let (acts, aux) = quantize_acts(m, k, kb, lhs, parallel, [0i32; GROUPS], quantize, |blk| {
        offsets(path, blk)
    });

    let rb = match row_block {
        Some(rb) => rb.clamp(1, MAX_ROW_BLOCK),
        None => m.div_ceil(m.div_ceil(MAX_ROW_BLOCK)),
    };
    let n_ct = n.div_ceil(NR);
    let ctx = Ctx {
        m,
        n,
        kb,
        w: as_bytes(weights),
        acts: as_bytes(&acts),
        aux: &aux,
        row_block: rb,
        n_col_tiles: n_ct,
        dst: SyncPtr(dst.as_mut_ptr()),
    };
    run_items(&ctx, |range| run_range(path, &ctx, range));
    Ok(())
}

/// The per-group offset terms of one Q8_K block for the path's kernel:
/// - AVX2: candle's `q8s = maddubs(32, q8)` as i16 pairs, `32·(q0+q1) | 32·(q2+q3) << 16`;
/// - otherwise `−32·(q0+q1+q2+q3)` (|x| ≤ 16384).
fn offsets(path: Q6kPath, blk: &[u8]) -> [i32; GROUPS] {
    let q = |i: usize| blk[Q8K_QS + i] as i8 as i32;
    std::array::from_fn(|g| {
        let (a, b, c, d) = (q(4 * g), q(4 * g + 1), q(4 * g + 2), q(4 * g + 3));
        if path == Q6kPath::Avx2 {
            ((32 * (a + b)) & 0xFFFF) | ((32 * (c + d)) << 16)
        } else {
            -32 * (a + b + c + d)
        }
    })
}

/// 16 weight rows × one super-block, unpacked.
#[repr(C, align(64))]
struct Tile {
    /// `q[row][p]`: the 6-bit value at position p (0..64, unsigned).
    q: [[u8; QK]; NR],
    /// Scales as i16 pairs, see [`ScaleFmt`].
    sc: [[i32; GROUPS]; NR],
    /// `f32(w.d)`.
    d: [f32; NR],
}

impl Tile {
    fn zeroed() -> Box<Self> {
        Box::new(Tile {
            q: [[0; QK]; NR],
            sc: [[0; GROUPS]; NR],
            d: [0.0; NR],
        })
    }
}

/// The block of weight row `row`, super-block `b`.
#[inline(always)]
fn w_block<'a>(ctx: &Ctx<'a>, row: usize, b: usize) -> &'a [u8; Q6K_BYTES] {
    let at = (row * ctx.kb + b) * Q6K_BYTES;
    ctx.w[at..at + Q6K_BYTES]
        .try_into()
        .expect("a slice of Q6K_BYTES converts")
}

#[inline(always)]
fn w_d(blk: &[u8; Q6K_BYTES]) -> f32 {
    half::f16::from_bits(u16::from_le_bytes([blk[Q6K_D], blk[Q6K_D + 1]])).to_f32()
}

/// How a tile stores a row's scales (`scale(g)` = the scale of positions 4g..4g+4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ScaleFmt {
    /// `sc[g] = scale(g)` in the low i16, high i16 zero (scalar).
    Lo,
    /// `sc[g] = scale(g)` in both i16 halves (AVX2: `vpmaddwd` against i16 pairs).
    Both,
    /// `sc[16h + i] = scale(32h + i) | scale(32h + 16 + i) << 16` for h < 2 (AVX-512: one
    /// `vpdpwssd` scales two 64-value chunks whose i32 `i` share a lane); `sc[32..]` unused.
    Packed,
}

/// Portable unpacking of one block: ggml's Q6_K layout (per 128-value half `h`, `ql` bytes
/// 64h.. hold the low nibbles of positions 128h + 0..32 / 32..64 (low nibble) and
/// 64..96 / 96..128 (high nibble); `qh` byte 32h + l holds their bits 4–5 in bit pairs 0..4).
#[inline(always)]
fn unpack_row_generic(
    blk: &[u8; Q6K_BYTES],
    q: &mut [u8; QK],
    sc: &mut [i32; GROUPS],
    fmt: ScaleFmt,
) {
    for h in 0..2 {
        for l in 0..32 {
            let (ql0, ql1) = (blk[64 * h + l], blk[64 * h + 32 + l]);
            let qh = blk[Q6K_QH + 32 * h + l];
            q[128 * h + l] = (ql0 & 0xF) | ((qh & 3) << 4);
            q[128 * h + 32 + l] = (ql1 & 0xF) | (((qh >> 2) & 3) << 4);
            q[128 * h + 64 + l] = (ql0 >> 4) | (((qh >> 4) & 3) << 4);
            q[128 * h + 96 + l] = (ql1 >> 4) | (((qh >> 6) & 3) << 4);
        }
    }
    let scale = |g: usize| (blk[Q6K_SCALES + g / 4] as i8 as i32) & 0xFFFF;
    for g in 0..GROUPS {
        sc[g] = match fmt {
            ScaleFmt::Lo => scale(g),
            ScaleFmt::Both => scale(g) | (scale(g) << 16),
            ScaleFmt::Packed if g < GROUPS / 2 => {
                let (h, i) = (g / 16, g % 16);
                scale(32 * h + i) | (scale(32 * h + 16 + i) << 16)
            }
            ScaleFmt::Packed => 0,
        };
    }
}

fn run_range(path: Q6kPath, ctx: &Ctx, range: std::ops::Range<usize>) {
    match path {
        Q6kPath::Scalar => run_scalar::<ScalarKernel>(ctx, range),
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `matmul_inner` checked `path.available()`, i.e. the CPU has AVX2 and FMA.
        Q6kPath::Avx2 => unsafe { x86::run_items_avx2(ctx, range) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `matmul_inner` checked `path.available()` (AVX-512F/BW/VNNI, AVX2, FMA).
        Q6kPath::Avx512Vnni => unsafe { x86::run_items_avx512(ctx, range) },
        #[cfg(not(target_arch = "x86_64"))]
        _ => unreachable!("path availability is checked before dispatch"),
    }
}

/// A kernel: unpacks tiles and adds a tile's products with activation rows into the f32
/// lane accumulators.
trait Kernel {
    /// Unpacks super-block `b` of weight rows `c0..c0+nc` into `tile` (rows past `nc` keep
    /// stale but valid data; their results are never stored).
    ///
    /// # Safety
    /// The CPU must support the kernel's target features.
    unsafe fn prepare(ctx: &Ctx, c0: usize, nc: usize, b: usize, tile: &mut Tile);

    /// `facc[(r·NR + c)·8 + L] = fma(d, S[L], …)` for rows `r0..r0+rows`, columns `0..nc`.
    ///
    /// # Safety
    /// The CPU must support the kernel's target features.
    #[allow(clippy::too_many_arguments)]
    unsafe fn rows(
        tile: &Tile,
        ctx: &Ctx,
        r0: usize,
        rows: usize,
        nc: usize,
        b: usize,
        facc: &mut [f32],
    );
}

/// The driver loop, inlined into a target-feature wrapper per path.
///
/// # Safety
/// The CPU must support `K`'s target features.
#[inline(always)]
unsafe fn run_items_generic<K: Kernel>(ctx: &Ctx, range: std::ops::Range<usize>) {
    let mut tile = Tile::zeroed();
    let mut facc = vec![0f32; ctx.row_block * NR * LANES];
    for item in range.clone() {
        let (r0, rows, c0, nc) = ctx.item(item);
        let facc = &mut facc[..rows * NR * LANES];
        facc.fill(0.0);
        // The next item's weight rows (one contiguous run), prefetched a slice per super-block
        // so that they arrive while this tile is computed.
        let next = (item + 1 < range.end).then(|| {
            let ct = (item + 1) % ctx.n_col_tiles;
            let (c0, nc) = (ct * NR, NR.min(ctx.n - ct * NR));
            &ctx.w[c0 * ctx.kb * Q6K_BYTES..(c0 + nc) * ctx.kb * Q6K_BYTES]
        });
        for b in 0..ctx.kb {
            match next {
                Some(next) => {
                    let part = next.len().div_ceil(ctx.kb);
                    let lo = (b * part).min(next.len());
                    prefetch(&next[lo..((b + 1) * part).min(next.len())]);
                }
                // The first item of a range: at least the same rows' next super-block.
                None if b + 1 < ctx.kb => {
                    for c in 0..nc {
                        prefetch(w_block(ctx, c0 + c, b + 1));
                    }
                }
                None => {}
            }
            // SAFETY: forwarded from this function's contract.
            unsafe {
                K::prepare(ctx, c0, nc, b, &mut tile);
                K::rows(&tile, ctx, r0, rows, nc, b, facc);
            }
        }
        for r in 0..rows {
            for c in 0..nc {
                let a = &facc[(r * NR + c) * LANES..(r * NR + c + 1) * LANES];
                // candle's hsum_float_8: (hi128 + lo128), then (x0 + x2, x1 + x3), then sum.
                let v = ((a[0] + a[4]) + (a[2] + a[6])) + ((a[1] + a[5]) + (a[3] + a[7]));
                // SAFETY: row r0 + r < m and column c0 + c < n, so the element lies inside
                // the m×n `dst`; each (row block, column tile) item is run exactly once, so no
                // other thread writes it while `dst` is borrowed by `matmul_inner`.
                unsafe { *ctx.dst.0.add((r0 + r) * ctx.n + c0 + c) = v };
            }
        }
    }
}

/// Prefetch hint for every cache line of `bytes`.
#[inline(always)]
fn prefetch(bytes: &[u8]) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        for off in (0..bytes.len()).step_by(64) {
            // SAFETY: prefetching is a hint without memory effects (SSE, baseline on x86-64);
            // the address lies inside `bytes`.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(bytes.as_ptr().add(off).cast()) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = bytes;
}

fn run_scalar<K: Kernel>(ctx: &Ctx, range: std::ops::Range<usize>) {
    // SAFETY: only called with `ScalarKernel`, which needs no target features.
    unsafe { run_items_generic::<K>(ctx, range) }
}

struct ScalarKernel;

impl Kernel for ScalarKernel {
    unsafe fn prepare(ctx: &Ctx, c0: usize, nc: usize, b: usize, tile: &mut Tile) {
        for c in 0..nc {
            let blk = w_block(ctx, c0 + c, b);
            unpack_row_generic(blk, &mut tile.q[c], &mut tile.sc[c], ScaleFmt::Lo);
            tile.d[c] = w_d(blk);
        }
    }

    unsafe fn rows(
        tile: &Tile,
        ctx: &Ctx,
        r0: usize,
        rows: usize,
        nc: usize,
        b: usize,
        facc: &mut [f32],
    ) {
        for r in 0..rows {
            let a = act_block(ctx, r0 + r, b);
            let ad = act_d(a);
            let aq = &a[Q8K_QS..Q8K_QS + QK];
            let off = &ctx.aux[(r0 + r) * ctx.kb + b];
            for c in 0..nc {
                let (q, sc) = (&tile.q[c], &tile.sc[c]);
                let mut s = [0i32; LANES];
                for g in 0..GROUPS {
                    // Σ₄ (q − 32)·q8 = Σ₄ q·q8 − 32·Σ₄ q8.
                    let dot: i32 = (0..4)
                        .map(|e| q[4 * g + e] as i32 * aq[4 * g + e] as i8 as i32)
                        .sum::<i32>()
                        + off[g];
                    s[g % LANES] += (sc[g] as i16 as i32) * dot;
                }
                let d = ad * tile.d[c];
                let out = &mut facc[(r * NR + c) * LANES..(r * NR + c + 1) * LANES];
                for l in 0..LANES {
                    out[l] = d.mul_add(s[l] as f32, out[l]);
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::super::tiling::{act_block, act_d, Q8K_BYTES, Q8K_QS};
    use super::{
        run_items_generic, w_block, w_d, Ctx, Kernel, ScaleFmt, Tile, GROUPS, LANES, NR, Q6K_BYTES,
        Q6K_QH, Q6K_SCALES, QK,
    };
    use std::arch::x86_64::*;

    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn run_items_avx2(ctx: &Ctx, range: std::ops::Range<usize>) {
        // SAFETY: forwarded from this function's contract.
        unsafe { run_items_generic::<Avx2Kernel>(ctx, range) }
    }

    /// # Safety
    /// The CPU must support AVX-512F, AVX-512BW, AVX-512 VNNI, AVX2 and FMA.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni,avx2,fma")]
    pub(super) unsafe fn run_items_avx512(ctx: &Ctx, range: std::ops::Range<usize>) {
        // SAFETY: forwarded from this function's contract.
        unsafe { run_items_generic::<Avx512Kernel>(ctx, range) }
    }

    /// Unpacks one block (see `unpack_row_generic`), 32 values per step; scales as `fmt`.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn unpack_row_avx2(
        blk: &[u8; Q6K_BYTES],
        q: &mut [u8; QK],
        sc: &mut [i32; GROUPS],
        fmt: ScaleFmt,
    ) {
        let m4 = _mm256_set1_epi8(0xF);
        let m3 = _mm256_set1_epi8(3);
        // SAFETY: all loads read inside the 210-byte block (ql: 64h + 0..64 ≤ 128, qh:
        // 128 + 32h + 0..32 ≤ 192, scales: 192..208); stores write 32 bytes at 128h + 32t
        // ≤ 224 of the 256-byte `q` and 8 i32 at 8o ≤ 56 of the 64-element `sc`.
        unsafe {
            let p = blk.as_ptr();
            for h in 0..2 {
                let ql0 = _mm256_loadu_si256(p.add(64 * h).cast());
                let ql1 = _mm256_loadu_si256(p.add(64 * h + 32).cast());
                let qh = _mm256_loadu_si256(p.add(Q6K_QH + 32 * h).cast());
                // Bit pairs of qh moved to bits 4–5; shifts are per 16 bits, the masks drop
                // what crosses a byte boundary.
                let h0 = _mm256_slli_epi16::<4>(_mm256_and_si256(qh, m3));
                let h1 = _mm256_slli_epi16::<4>(_mm256_and_si256(_mm256_srli_epi16::<2>(qh), m3));
                let h2 = _mm256_slli_epi16::<4>(_mm256_and_si256(_mm256_srli_epi16::<4>(qh), m3));
                let h3 = _mm256_slli_epi16::<4>(_mm256_and_si256(_mm256_srli_epi16::<6>(qh), m3));
                let v = [
                    _mm256_or_si256(_mm256_and_si256(ql0, m4), h0),
                    _mm256_or_si256(_mm256_and_si256(ql1, m4), h1),
                    _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16::<4>(ql0), m4), h2),
                    _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16::<4>(ql1), m4), h3),
                ];
                for (t, v) in v.into_iter().enumerate() {
                    _mm256_storeu_si256(q.as_mut_ptr().add(128 * h + 32 * t).cast(), v);
                }
            }
            let s8 = _mm_loadu_si128(p.add(Q6K_SCALES).cast());
            let lo16 = _mm256_set1_epi32(0xFFFF);
            // Scales 8h..8h+8 as i32 (h < 2), low i16 only.
            let s = [
                _mm256_and_si256(_mm256_cvtepi8_epi32(s8), lo16),
                _mm256_and_si256(_mm256_cvtepi8_epi32(_mm_srli_si128::<8>(s8)), lo16),
            ];
            let spread = |x: __m256i, i: i32| {
                let idx = _mm256_setr_epi32(i, i, i, i, i + 1, i + 1, i + 1, i + 1);
                _mm256_permutevar8x32_epi32(x, idx)
            };
            if fmt == ScaleFmt::Packed {
                unpack_scales_packed(blk, sc);
            } else {
                let s = s.map(|x| {
                    if fmt == ScaleFmt::Both {
                        _mm256_or_si256(x, _mm256_slli_epi32::<16>(x))
                    } else {
                        x
                    }
                });
                // Group i32 8o + j holds scale 2o + j/4.
                for o in 0..8 {
                    let v = spread(s[o / 4], 2 * (o as i32 % 4));
                    _mm256_storeu_si256(sc.as_mut_ptr().add(8 * o).cast(), v);
                }
            }
        }
    }

    /// The `Packed` scales of one block (see `ScaleFmt`).
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn unpack_scales_packed(blk: &[u8; Q6K_BYTES], sc: &mut [i32; GROUPS]) {
        // SAFETY: reads the 16 scale bytes 192..208 of the block; stores 8 i32 at
        // 16h + 8u ≤ 24 of the 64-element `sc`.
        unsafe {
            let s8 = _mm_loadu_si128(blk.as_ptr().add(Q6K_SCALES).cast());
            let lo16 = _mm256_set1_epi32(0xFFFF);
            // Scales 8h..8h+8 as i32 (h < 2), low i16 only.
            let s = [
                _mm256_and_si256(_mm256_cvtepi8_epi32(s8), lo16),
                _mm256_and_si256(_mm256_cvtepi8_epi32(_mm_srli_si128::<8>(s8)), lo16),
            ];
            // i32 t < 4 of `pair[h]`: scale 8h + t | scale 8h + 4 + t << 16; then
            // sc[16h + 8u + j] = pair[h][2u + j/4].
            let up = _mm256_setr_epi32(4, 5, 6, 7, 4, 5, 6, 7);
            for h in 0..2 {
                let pair = _mm256_or_si256(
                    s[h],
                    _mm256_slli_epi32::<16>(_mm256_permutevar8x32_epi32(s[h], up)),
                );
                for u in 0..2 {
                    let i = 2 * u as i32;
                    let idx = _mm256_setr_epi32(i, i, i, i, i + 1, i + 1, i + 1, i + 1);
                    let v = _mm256_permutevar8x32_epi32(pair, idx);
                    _mm256_storeu_si256(sc.as_mut_ptr().add(16 * h + 8 * u).cast(), v);
                }
            }
        }
    }

    /// Pointer to the activation value at position `p` of a Q8_K block.
    #[inline(always)]
    fn act_ptr(a: &[u8; Q8K_BYTES], p: usize) -> *const u8 {
        a[Q8K_QS + p..].as_ptr()
    }

    struct Avx2Kernel;

    /// `MR` activation rows × `nc` weight rows × one super-block, candle's AVX2 sequence.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn rows256<const MR: usize>(
        tile: &Tile,
        a: [&[u8; Q8K_BYTES]; MR],
        off: [&[i32; GROUPS]; MR],
        nc: usize,
        facc: &mut [f32],
    ) {
        let facc = &mut facc[..MR * NR * LANES];
        // SAFETY (all loads/stores): `tile.q[c]` (256 B) and `tile.sc[c]` (64 i32) are read at
        // 32k / 8k for k < 8, in bounds; activation bytes 4 + 32k..4 + 32k + 32 ≤ 260 of the
        // 292-byte block; `off[r]` i32 8k..8k+8 ≤ 64; `facc` holds MR × 16 × 8 f32 and is
        // accessed at (r·16 + c)·8 with c < nc ≤ 16, 8 floats. All unaligned accesses.
        unsafe {
            for c in 0..nc {
                let mut acc = [_mm256_setzero_si256(); MR];
                for k in 0..8 {
                    let w = _mm256_loadu_si256(tile.q[c].as_ptr().add(32 * k).cast());
                    let s = _mm256_loadu_si256(tile.sc[c].as_ptr().add(8 * k).cast());
                    for r in 0..MR {
                        let av = _mm256_loadu_si256(act_ptr(a[r], 32 * k).cast());
                        let q8s = _mm256_loadu_si256(off[r].as_ptr().add(8 * k).cast());
                        // u6 × i8 pairs ≤ 2·63·128 < 2^15 and the difference with 32·(q0+q1)
                        // is within ±8192: exact i16.
                        let p = _mm256_sub_epi16(_mm256_maddubs_epi16(w, av), q8s);
                        acc[r] = _mm256_add_epi32(acc[r], _mm256_madd_epi16(p, s));
                    }
                }
                for r in 0..MR {
                    let d = _mm256_set1_ps(act_d(a[r]) * tile.d[c]);
                    let o = facc.as_mut_ptr().add((r * NR + c) * LANES);
                    let f = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(acc[r]), _mm256_loadu_ps(o));
                    _mm256_storeu_ps(o, f);
                }
            }
        }
    }

    /// Calls `rows$w::<MR>` over `rows` activation rows in groups of `$max`.
    macro_rules! row_groups {
        ($f:ident, $max:literal, $tile:expr, $ctx:expr, $r0:expr, $rows:expr, $nc:expr, $b:expr, $facc:expr) => {{
            let (tile, ctx, r0, rows, nc, b, facc) = ($tile, $ctx, $r0, $rows, $nc, $b, $facc);
            macro_rules! call {
                ($mr:literal, $r:expr) => {{
                    let r = $r;
                    let a: [&[u8; Q8K_BYTES]; $mr] =
                        std::array::from_fn(|i| act_block(ctx, r0 + r + i, b));
                    let off: [&[i32; GROUPS]; $mr] =
                        std::array::from_fn(|i| &ctx.aux[(r0 + r + i) * ctx.kb + b]);
                    let facc = &mut facc[r * NR * LANES..(r + $mr) * NR * LANES];
                    // SAFETY: the caller guarantees the kernel's target features.
                    unsafe { $f::<$mr>(tile, a, off, nc, facc) }
                }};
            }
            let mut r = 0;
            while r + $max <= rows {
                call!($max, r);
                r += $max;
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
        }};
    }

    impl Kernel for Avx2Kernel {
        #[inline(always)]
        unsafe fn prepare(ctx: &Ctx, c0: usize, nc: usize, b: usize, tile: &mut Tile) {
            for c in 0..nc {
                let blk = w_block(ctx, c0 + c, b);
                // SAFETY: the caller guarantees AVX2 and FMA.
                unsafe { unpack_row_avx2(blk, &mut tile.q[c], &mut tile.sc[c], ScaleFmt::Both) };
                tile.d[c] = w_d(blk);
            }
        }

        #[inline(always)]
        unsafe fn rows(
            tile: &Tile,
            ctx: &Ctx,
            r0: usize,
            rows: usize,
            nc: usize,
            b: usize,
            facc: &mut [f32],
        ) {
            row_groups!(rows256, 8, tile, ctx, r0, rows, nc, b, facc)
        }
    }

    struct Avx512Kernel;

    /// [`unpack_row_avx2`] with the 6-bit values built 64 at a time (scales as `Packed`).
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni,avx2,fma")]
    fn unpack_row_avx512(blk: &[u8; Q6K_BYTES], q: &mut [u8; QK], sc: &mut [i32; GROUPS]) {
        let m0f = _mm512_set1_epi8(0x0F);
        let m30 = _mm512_set1_epi8(0x30);
        // SAFETY: loads read ql bytes 64h..64h+64 ≤ 128 and qh bytes 128 + 32h..+32 ≤ 192 of
        // the 210-byte block; stores write 64 bytes at 128h + 64u ≤ 192 of the 256-byte `q`.
        unsafe {
            let p = blk.as_ptr();
            for h in 0..2 {
                let ql = _mm512_loadu_si512(p.add(64 * h).cast());
                let qh = _mm256_loadu_si256(p.add(Q6K_QH + 32 * h).cast());
                // Positions 128h + 0..32 use qh bits 0–1, + 32..64 bits 2–3 (low nibbles of
                // ql); + 64..96 bits 4–5, + 96..128 bits 6–7 (high nibbles).
                let qhx =
                    _mm512_inserti64x4::<1>(_mm512_castsi256_si512(qh), _mm256_srli_epi16::<2>(qh));
                let lo = _mm512_or_si512(
                    _mm512_and_si512(ql, m0f),
                    _mm512_and_si512(_mm512_slli_epi16::<4>(qhx), m30),
                );
                let hi = _mm512_or_si512(
                    _mm512_and_si512(_mm512_srli_epi16::<4>(ql), m0f),
                    _mm512_and_si512(qhx, m30),
                );
                _mm512_storeu_si512(q.as_mut_ptr().add(128 * h).cast(), lo);
                _mm512_storeu_si512(q.as_mut_ptr().add(128 * h + 64).cast(), hi);
            }
        }
        unpack_scales_packed(blk, sc);
    }

    /// `MR` activation rows × `nc` weight rows (in pairs) × one super-block.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni,avx2,fma")]
    fn rows512<const MR: usize>(
        tile: &Tile,
        a: [&[u8; Q8K_BYTES]; MR],
        off: [&[i32; GROUPS]; MR],
        nc: usize,
        facc: &mut [f32],
    ) {
        let facc = &mut facc[..MR * NR * LANES];
        // SAFETY (all loads/stores): `tile.q[c]` (256 B) and `tile.sc[c]` (64 i32) are read at
        // 128h + 64u / 16h (h, u < 2) with c ≤ 15, in bounds; activation bytes 4 + 128h + 64u
        // .. + 64 ≤ 260 of the 292-byte block; `off[r]` i32 32h + 16u.. + 16 ≤ 64; `facc` holds
        // MR × 16 × 8 f32, accessed 16 floats at (r·16 + 2cp)·8 with 2cp + 1 ≤ 15. All
        // unaligned accesses.
        unsafe {
            for cp in 0..nc.div_ceil(2) {
                let (c0, c1) = (2 * cp, 2 * cp + 1);
                let mut acc = [[_mm512_setzero_si512(); 2]; MR];
                let odd16 = 0xAAAA_AAAA;
                for h in 0..2 {
                    // Chunks 2h (positions 128h..+64) and 2h + 1 (128h + 64..+64).
                    let wq = |c: usize, u: usize| {
                        _mm512_loadu_si512(tile.q[c].as_ptr().add(128 * h + 64 * u).cast())
                    };
                    let (w0a, w0b, w1a, w1b) = (wq(c0, 0), wq(c0, 1), wq(c1, 0), wq(c1, 1));
                    let s0 = _mm512_loadu_si512(tile.sc[c0].as_ptr().add(16 * h).cast());
                    let s1 = _mm512_loadu_si512(tile.sc[c1].as_ptr().add(16 * h).cast());
                    for r in 0..MR {
                        let ava = _mm512_loadu_si512(act_ptr(a[r], 128 * h).cast());
                        let avb = _mm512_loadu_si512(act_ptr(a[r], 128 * h + 64).cast());
                        let na = _mm512_loadu_si512(off[r].as_ptr().add(32 * h).cast());
                        let nb = _mm512_loadu_si512(off[r].as_ptr().add(32 * h + 16).cast());
                        // −32·Σ₄q8 + Σ₄ q6·q8 = Σ₄ (q6 − 32)·q8 ∈ [−16256, 16384]: exact, and
                        // its low i16 is the whole value. The two chunks' i32 `i` (same lane
                        // L = i mod 8) go into one i32 as an i16 pair, and vpdpwssd with the
                        // packed (scale, scale) pair adds both scaled values exactly.
                        let pack = |da: __m512i, db: __m512i| {
                            _mm512_mask_blend_epi16(odd16, da, _mm512_slli_epi32::<16>(db))
                        };
                        let p0 = pack(
                            _mm512_dpbusd_epi32(na, w0a, ava),
                            _mm512_dpbusd_epi32(nb, w0b, avb),
                        );
                        let p1 = pack(
                            _mm512_dpbusd_epi32(na, w1a, ava),
                            _mm512_dpbusd_epi32(nb, w1b, avb),
                        );
                        acc[r][0] = _mm512_dpwssd_epi32(acc[r][0], p0, s0);
                        acc[r][1] = _mm512_dpwssd_epi32(acc[r][1], p1, s1);
                    }
                }
                // [d(c0) × 8, d(c1) × 8]
                let wd = _mm512_insertf32x8::<1>(
                    _mm512_castps256_ps512(_mm256_set1_ps(tile.d[c0])),
                    _mm256_set1_ps(tile.d[c1]),
                );
                for r in 0..MR {
                    // i32 i and i + 8 both belong to lane L = i mod 8: fold the two rows'
                    // halves into [S_c0[0..8], S_c1[0..8]].
                    let [x0, x1] = acc[r];
                    let s = _mm512_add_epi32(
                        _mm512_shuffle_i64x2::<0x44>(x0, x1),
                        _mm512_shuffle_i64x2::<0xEE>(x0, x1),
                    );
                    let d = _mm512_mul_ps(_mm512_set1_ps(act_d(a[r])), wd);
                    let o = facc.as_mut_ptr().add((r * NR + c0) * LANES);
                    let f = _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(s), _mm512_loadu_ps(o));
                    _mm512_storeu_ps(o, f);
                }
            }
        }
    }

    impl Kernel for Avx512Kernel {
        #[inline(always)]
        unsafe fn prepare(ctx: &Ctx, c0: usize, nc: usize, b: usize, tile: &mut Tile) {
            for c in 0..nc {
                let blk = w_block(ctx, c0 + c, b);
                // SAFETY: the caller guarantees AVX-512F/BW/VNNI, AVX2 and FMA.
                unsafe { unpack_row_avx512(blk, &mut tile.q[c], &mut tile.sc[c]) };
                tile.d[c] = w_d(blk);
            }
        }

        #[inline(always)]
        unsafe fn rows(
            tile: &Tile,
            ctx: &Ctx,
            r0: usize,
            rows: usize,
            nc: usize,
            b: usize,
            facc: &mut [f32],
        ) {
            row_groups!(rows512, 8, tile, ctx, r0, rows, nc, b, facc)
        }
    }

    /// The AVX2 unpacking equals the portable one (both scale formats).
    #[cfg(test)]
    pub(super) fn unpack_avx2_matches(blk: &[u8; Q6K_BYTES]) {
        if !super::Q6kPath::Avx2.available() {
            return;
        }
        for fmt in [ScaleFmt::Lo, ScaleFmt::Both, ScaleFmt::Packed] {
            let (mut q0, mut s0) = ([0u8; QK], [0i32; GROUPS]);
            let (mut q1, mut s1) = ([0u8; QK], [0i32; GROUPS]);
            super::unpack_row_generic(blk, &mut q0, &mut s0, fmt);
            // SAFETY: AVX2 and FMA were just checked.
            unsafe { unpack_row_avx2(blk, &mut q1, &mut s1, fmt) };
            assert_eq!(q0, q1);
            assert_eq!(s0[..32], s1[..32], "{fmt:?}");
            if fmt != ScaleFmt::Packed {
                assert_eq!(s0, s1, "{fmt:?}");
            }
        }
        if super::Q6kPath::Avx512Vnni.available() {
            let (mut q0, mut s0) = ([0u8; QK], [0i32; GROUPS]);
            let (mut q1, mut s1) = ([0u8; QK], [0i32; GROUPS]);
            super::unpack_row_generic(blk, &mut q0, &mut s0, ScaleFmt::Packed);
            // SAFETY: the AVX-512 path's features were just checked.
            unsafe { unpack_row_avx512(blk, &mut q1, &mut s1) };
            assert_eq!(q0, q1);
            assert_eq!(s0[..32], s1[..32]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::rng;
    use super::*;
    use candle_core::quantized::k_quants::matmul;

    fn weights(n: usize, k: usize, seed: u64) -> Vec<BlockQ6K> {
        super::super::tests::weights(n, k, seed, |i| 1.0 + ((i / 16) % 7) as f32)
    }

    fn bits(x: &[f32]) -> Vec<u32> {
        x.iter().map(|v| v.to_bits()).collect()
    }

    fn check(path: Q6kPath, m: usize, k: usize, n: usize, row_block: Option<usize>) {
        let w = weights(n, k, (m * 31 + k * 7 + n) as u64);
        let mut r = rng(m as u64 + 99);
        let lhs: Vec<f32> = (0..m * k).map(|_| r() * 3.0).collect();
        let mut want = vec![0f32; m * n];
        matmul::<BlockQ6K>((m, k, n), &lhs, &w, &mut want).unwrap();
        let mut got = vec![f32::NAN; m * n];
        matmul_inner(path, m, k, n, &lhs, &w, &mut got, row_block).unwrap();
        if bits(&got) != bits(&want) {
            let i = (0..m * n).find(|&i| got[i].to_bits() != want[i].to_bits());
            panic!(
                "{path:?} m={m} k={k} n={n} rb={row_block:?}: first difference at {i:?}: {:?}",
                i.map(|i| (got[i], want[i]))
            );
        }
    }

    fn check_path(path: Q6kPath, big: bool) {
        if !path.available() {
            eprintln!("skipping {path:?}: not supported by this CPU");
            return;
        }
        let ms: &[usize] = if big {
            &[1, 2, 3, 5, 8, 17, 64, 256]
        } else {
            &[1, 2, 3, 5, 8, 17, 64]
        };
        for &m in ms {
            for k in [256, 1024] {
                for n in [1, 7, 16, 33, 1024] {
                    if !big && m * n * k > 1 << 24 {
                        continue;
                    }
                    check(path, m, k, n, None);
                }
            }
        }
        // Several row blocks, including a ragged last one.
        check(path, 37, 512, 33, Some(8));
        check(path, 37, 512, 33, Some(16));
        check(path, 70, 768, 20, None);
    }

    #[test]
    fn scalar_matches_candle_bits() {
        check_path(Q6kPath::Scalar, false);
    }

    #[test]
    fn avx2_matches_candle_bits() {
        check_path(Q6kPath::Avx2, true);
    }

    #[test]
    fn avx512_vnni_matches_candle_bits() {
        check_path(Q6kPath::Avx512Vnni, true);
    }

    #[test]
    fn default_entry_matches_candle_bits() {
        for &(m, k, n) in &[(1, 512, 35), (2, 256, 16), (5, 1024, 7), (17, 512, 50)] {
            let w = weights(n, k, 5);
            let mut r = rng(7);
            let lhs: Vec<f32> = (0..m * k).map(|_| r()).collect();
            let mut want = vec![0f32; m * n];
            matmul::<BlockQ6K>((m, k, n), &lhs, &w, &mut want).unwrap();
            let mut got = vec![0f32; m * n];
            matmul_q6k(m, k, n, &lhs, &w, &mut got).unwrap();
            assert_eq!(bits(&got), bits(&want), "m={m} k={k} n={n}");
        }
    }

    /// Extreme inputs: all-zero activation blocks, a single spike (values quantize to ±127 and
    /// 0), large magnitudes, and weights with every scale extreme.
    #[test]
    fn edge_inputs_match_candle_bits() {
        let (m, k, n) = (6, 768, 19);
        let mut r = rng(3);
        let mut w: Vec<f32> = (0..n * k).map(|_| r()).collect();
        for (i, v) in w.iter_mut().enumerate() {
            if (i / 16) % 5 == 0 {
                *v *= 1000.0; // very different scales inside one block
            }
            if (i / 256) % 3 == 1 {
                *v = -v.abs(); // one-signed blocks
            }
        }
        let mut blocks = vec![BlockQ6K::zeros(); n * k / QK];
        BlockQ6K::from_float(&w, &mut blocks);
        let mut lhs: Vec<f32> = (0..m * k).map(|_| r() * 1e4).collect();
        lhs[k..k + 256].fill(0.0); // row 1, block 0: zero
        for v in &mut lhs[2 * k..3 * k] {
            *v = if v.abs() > 9e3 { *v } else { 0.0 };
        }
        lhs[3 * k + 5] = 1e30;
        for path in [Q6kPath::Scalar, Q6kPath::Avx2, Q6kPath::Avx512Vnni] {
            if !path.available() {
                continue;
            }
            let mut want = vec![0f32; m * n];
            matmul::<BlockQ6K>((m, k, n), &lhs, &blocks, &mut want).unwrap();
            let mut got = vec![0f32; m * n];
            matmul_q6k_with(path, m, k, n, &lhs, &blocks, &mut got).unwrap();
            assert_eq!(bits(&got), bits(&want), "{path:?}");
        }
    }

    #[test]
    fn unpack_paths_agree() {
        let w = weights(4, 512, 13);
        for block in &w {
            let blk: &[u8; Q6K_BYTES] = as_bytes(std::slice::from_ref(block)).try_into().unwrap();
            #[cfg(target_arch = "x86_64")]
            x86::unpack_avx2_matches(blk);
            // The portable unpacking reproduces candle's dequantization.
            let (mut q, mut sc) = ([0u8; QK], [0i32; GROUPS]);
            unpack_row_generic(blk, &mut q, &mut sc, ScaleFmt::Lo);
            let mut deq = vec![0f32; QK];
            BlockQ6K::to_float(std::slice::from_ref(block), &mut deq);
            let d = w_d(blk);
            for p in 0..QK {
                let want = d * (sc[p / 4] as i16 as f32) * (q[p] as i32 - 32) as f32;
                assert_eq!(deq[p], want, "position {p}");
            }
        }
    }

    #[test]
    fn blocks_from_bytes_round_trip() {
        let w = weights(3, 512, 9);
        let bytes = as_bytes(&w);
        let back = q6k_blocks_from_bytes(bytes).unwrap();
        assert_eq!(back, &w[..]);
        assert!(q6k_blocks_from_bytes(&bytes[..209]).is_err());
        assert!(q6k_blocks_from_bytes(&bytes[1..211]).is_err());
    }

    #[test]
    fn bad_shapes_are_errors() {
        let w = weights(2, 256, 1);
        let lhs = vec![0f32; 512];
        let mut dst = vec![0f32; 4];
        assert!(matmul_q6k(1, 255, 2, &lhs[..255], &w, &mut dst[..2]).is_err());
        assert!(matmul_q6k(1, 256, 2, &lhs[..200], &w, &mut dst[..2]).is_err());
        assert!(matmul_q6k(1, 256, 3, &lhs[..256], &w, &mut dst[..3]).is_err());
        assert!(matmul_q6k(2, 256, 2, &lhs, &w, &mut dst[..3]).is_err());
        assert!(matmul_q6k(usize::MAX, 256, 2, &lhs, &w, &mut dst).is_err());
        assert!(matmul_q6k(2, usize::MAX - 255, 2, &lhs, &w, &mut dst).is_err());
        // Empty shapes are fine.
        assert!(matmul_q6k(0, 256, 2, &[], &w, &mut []).is_ok());
        let mut zero = vec![1f32; 4];
        assert!(matmul_q6k_with(Q6kPath::Scalar, 2, 0, 2, &[], &[], &mut zero).is_ok());
        assert_eq!(zero, [0.0; 4]);
    }
}
