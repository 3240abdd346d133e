//! Q6_K weights × f32 activations, tiled; bit-identical to candle on the scalar and AVX2 paths.
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
//! - AVX-512 VNNI ([`vnni`]): not this recipe. One `vpdpbusd` per 4 values of 16 weight rows
//!   (lane = weight row) and one float scale per 16-value sub-block, the same exact integer
//!   sums in another float order: results within f32 rounding of candle's.
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
/// AVX2 + FMA (candle's `vec_dot_q6k_q8k`) for `m` below [`MIN_TILED_ROWS`] and on the scalar
/// and AVX2 paths; within f32 rounding of it on the AVX-512 VNNI path. Errors (never panics) when `k` is
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
    #[cfg(target_arch = "x86_64")]
    if path == Q6kPath::Avx512Vnni {
        // SAFETY: `begin` checked `path.available()` (AVX-512F/BW/VNNI, AVX2, FMA).
        unsafe { vnni::matmul(m, k, n, kb, lhs, weights, dst, row_block) };
        return Ok(());
    }
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
        Q6kPath::Avx512Vnni => unreachable!("matmul_inner runs the AVX-512 VNNI path itself"),
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
mod vnni;
#[cfg(target_arch = "x86_64")]
mod x86;

#[cfg(test)]
mod tests;
