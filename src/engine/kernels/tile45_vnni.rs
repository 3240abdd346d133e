//! The AVX-512 VNNI prompt path of Q4_K and Q5_K: one `vpdpbusd` per 4 values × 16 weight
//! rows, one float scale per 32-value sub-block.
//!
//! The tiles are the shared [`Tile`]s of [`super::tile45`]; only the recipe differs from
//! ggml's. Per activation row and super-block:
//!
//! ```text
//! dot_s = Σ_{i<32} q[32s+i] · q8[32s+i]                         (exact i32, vpdpbusd)
//! msum  = Σ_{s<8} min_s · (bsum_{2s} + bsum_{2s+1})             (exact i32)
//! sb    = Σ_s f32(dot_s) · (w.d · scale_s)  −  w.dmin · f32(msum)   (f32, fused, s in order)
//! out  += a.d · sb                                              (f32, fused, block order)
//! ```
//!
//! ggml instead multiplies the scale in with `vpmaddubsw` + `vpmaddwd` and keeps 8 float lanes
//! per row, twice the multiply instructions per value. Every integer sum here is exact, so the
//! two recipes differ only in f32 rounding (a few ulps of each output); the engine's parity
//! checks against llama.cpp and transformers hold with either.

use super::tile45::{Ctx, Raw, Tile};
use super::tiling::{act_block, act_d, act_group, NR, Q8K_BYTES};
use std::arch::x86_64::*;

/// Activation rows per kernel call (two accumulators each stay in registers).
const MR: usize = 8;

/// Runs work items `range` of `ctx`, unpacking tiles with `prepare` (a format's
/// `prepare512`).
///
/// # Safety
/// The CPU must support AVX-512F, AVX-512BW, AVX-512 VNNI and FMA; `prepare` must be safe to
/// call on it.
#[inline(always)]
pub(super) unsafe fn run_items<const W: usize>(
    ctx: &Ctx,
    range: std::ops::Range<usize>,
    prepare: impl Fn(&Ctx, usize, usize, usize, &mut Raw<W>, &mut Tile),
) {
    let mut raw = Raw::<W>::zeroed();
    let mut tile = Tile::zeroed();
    let mut scales = Scales([[0.0; NR]; 8]);
    let mut facc = vec![0f32; ctx.row_block * NR];
    for item in range {
        let (r0, rows, c0, nc) = ctx.item(item);
        let facc = &mut facc[..rows * NR];
        facc.fill(0.0);
        for b in 0..ctx.kb {
            prepare(ctx, c0, nc, b, &mut raw, &mut tile);
            // SAFETY: forwarded from this function's contract.
            unsafe {
                sub_block_scales(&tile, &mut scales);
                let mut r = 0;
                while r + MR <= rows {
                    tile_rows::<MR>(&tile, &scales, ctx, r0 + r, b, &mut facc[r * NR..]);
                    r += MR;
                }
                match rows - r {
                    1 => tile_rows::<1>(&tile, &scales, ctx, r0 + r, b, &mut facc[r * NR..]),
                    2 => tile_rows::<2>(&tile, &scales, ctx, r0 + r, b, &mut facc[r * NR..]),
                    3 => tile_rows::<3>(&tile, &scales, ctx, r0 + r, b, &mut facc[r * NR..]),
                    4 => tile_rows::<4>(&tile, &scales, ctx, r0 + r, b, &mut facc[r * NR..]),
                    5 => tile_rows::<5>(&tile, &scales, ctx, r0 + r, b, &mut facc[r * NR..]),
                    6 => tile_rows::<6>(&tile, &scales, ctx, r0 + r, b, &mut facc[r * NR..]),
                    7 => tile_rows::<7>(&tile, &scales, ctx, r0 + r, b, &mut facc[r * NR..]),
                    _ => {}
                }
            }
        }
        for r in 0..rows {
            // SAFETY: `ctx.item` keeps rows below m and columns below n.
            unsafe { store_row(ctx.dst.0, ctx.n, r0 + r, c0, &facc[r * NR..r * NR + nc]) };
        }
    }
}

/// `w.d · scale_s` per sub-block and weight row.
#[repr(C, align(64))]
struct Scales([[f32; NR]; 8]);

/// Fills `scales` from a tile's `d` and 6-bit scales (low i16 of `sc`).
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni,fma")]
fn sub_block_scales(tile: &Tile, scales: &mut Scales) {
    // SAFETY: `Tile` and `Scales` are `align(64)` with 64-byte rows: aligned loads/stores.
    unsafe {
        let d = _mm512_load_ps(tile.d.as_ptr());
        let low = _mm512_set1_epi32(0xFFFF);
        for s in 0..8 {
            let sc = _mm512_and_si512(_mm512_load_si512(tile.sc[s].as_ptr().cast()), low);
            let f = _mm512_mul_ps(d, _mm512_cvtepi32_ps(sc));
            _mm512_store_ps(scales.0[s].as_mut_ptr(), f);
        }
    }
}

/// Adds tile × activation rows `row..row + R` (super-block `b`) into `facc` (`R × NR`).
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni,fma")]
fn tile_rows<const R: usize>(
    tile: &Tile,
    scales: &Scales,
    ctx: &Ctx,
    row: usize,
    b: usize,
    facc: &mut [f32],
) {
    let a: [&[u8; Q8K_BYTES]; R] = std::array::from_fn(|i| act_block(ctx, row + i, b));
    let facc = &mut facc[..R * NR];
    // SAFETY (loads/stores): `Tile` and `Scales` are `align(64)` with 64-byte rows (aligned
    // loads); `facc` holds R × NR f32, row r at r·NR (unaligned loads/stores).
    unsafe {
        let mut sb = [_mm512_setzero_ps(); R];
        for s in 0..8 {
            let dot = group_dots::<R, 8>(&tile.qs, 8 * s, &a);
            let sc = _mm512_load_ps(scales.0[s].as_ptr());
            for r in 0..R {
                sb[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot[r]), sc, sb[r]);
            }
        }
        let dmin = _mm512_load_ps(tile.dmin.as_ptr());
        for r in 0..R {
            let pairs = ctx.aux[(row + r) * ctx.kb + b];
            let mut msum = _mm512_setzero_si512();
            for (p, &pair) in pairs.iter().enumerate() {
                let mn = _mm512_load_si512(tile.mn[p].as_ptr().cast());
                msum = _mm512_dpwssd_epi32(msum, mn, _mm512_set1_epi32(pair));
            }
            let v = _mm512_fnmadd_ps(dmin, _mm512_cvtepi32_ps(msum), sb[r]);
            let o = facc.as_mut_ptr().add(r * NR);
            let ad = _mm512_set1_ps(act_d(a[r]));
            _mm512_storeu_ps(o, _mm512_fmadd_ps(v, ad, _mm512_loadu_ps(o)));
        }
    }
}

/// `dot[r] = Σ_{g0 ≤ g < g0+G} Σ_{i<4} w[g][lane][i] · a[r].q8[4g + i]` per lane (exact i32):
/// one `vpdpbusd` per group of 4 values and row, each weight register used for all `R` rows.
/// Weights are the unsigned operand (6 bits at most), activations the signed one.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
pub(super) fn group_dots<const R: usize, const G: usize>(
    qs: &[[u32; NR]],
    g0: usize,
    a: &[&[u8; Q8K_BYTES]; R],
) -> [__m512i; R] {
    let mut dot = [_mm512_setzero_si512(); R];
    for (g, row) in qs.iter().enumerate().skip(g0).take(G) {
        // SAFETY: each row of `qs` is 16 u32 = 64 bytes; the tiles holding them are
        // `align(64)`, so this is an aligned in-bounds load.
        let w = unsafe { _mm512_load_si512(row.as_ptr().cast()) };
        for r in 0..R {
            let av = _mm512_set1_epi32(act_group(a[r], g));
            dot[r] = _mm512_dpbusd_epi32(dot[r], w, av);
        }
    }
    dot
}

/// Writes one output row's columns `c0..c0 + out.len()`.
///
/// # Safety
/// `dst` is the m×n output of the running matmul, `row < m`, `c0 + out.len() ≤ n`.
unsafe fn store_row(dst: *mut f32, n: usize, row: usize, c0: usize, out: &[f32]) {
    // SAFETY: `row < m` and `c0 + out.len() ≤ n`, so the range lies inside the m×n `dst`;
    // each (row block, column tile) item is run exactly once, so no other thread writes
    // these elements while `dst` is borrowed by the matmul.
    unsafe { std::ptr::copy_nonoverlapping(out.as_ptr(), dst.add(row * n + c0), out.len()) };
}
