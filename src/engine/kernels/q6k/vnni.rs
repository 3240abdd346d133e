//! The AVX-512 VNNI prompt path of Q6_K: one `vpdpbusd` per 4 values × 16 weight rows, one
//! float scale per 16-value sub-block.
//!
//! A tile is 16 weight rows × one super-block with lane = weight row (as in
//! [`super::super::tile45`]): 64 vectors of 4 consecutive 6-bit values as unsigned bytes,
//! `w.d · scale_s` per sub-block, and the scales as i16 pairs. Per activation row and
//! super-block:
//!
//! ```text
//! dot_s = Σ_{i<16} q6[16s+i] · q8[16s+i]               (exact i32, q6 unsigned 0..63)
//! corr  = Σ_{s<16} scale_s · bsum_s                     (exact i32, the −32 offset)
//! sb    = Σ_s f32(dot_s) · (w.d · scale_s)  −  32·w.d · f32(corr)   (f32, fused, s in order)
//! out  += a.d · sb                                      (f32, fused, block order)
//! ```
//!
//! The integer sums are ggml's; the float order is not (ggml keeps 8 float lanes per row),
//! so results agree with candle's to f32 rounding.

use super::super::q8k::quantize_row;
use super::super::tile45_vnni::group_dots;
use super::super::tile_x86::{tile_blocks, transpose16};
use super::super::tiling::{
    act_block, act_d, as_bytes, quantize_acts, row_block_for, run_items, Ctx, KernelPath, SyncPtr,
    NR, Q8K_BSUMS, Q8K_BYTES, QK,
};
use super::{Q6K_BYTES, Q6K_D};
use candle_core::quantized::k_quants::BlockQ6K;
use std::arch::x86_64::*;

/// Activation rows per kernel call.
const MR: usize = 8;
/// 16-value sub-blocks per super-block.
const SUBS: usize = QK / 16;

/// `dst (m×n) = lhs (m×k) · weightsᵀ` for `k = kb·256`, shapes already checked.
///
/// # Safety
/// The CPU must support AVX-512F, AVX-512BW, AVX-512 VNNI and FMA.
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn matmul(
    m: usize,
    k: usize,
    n: usize,
    kb: usize,
    lhs: &[f32],
    weights: &[BlockQ6K],
    dst: &mut [f32],
    row_block: Option<usize>,
) {
    let parallel = m >= 8 && m * k >= 1 << 16;
    let quantize = |xs: &[f32], ys: &mut [_]| quantize_row(KernelPath::Avx512Vnni, xs, ys);
    let (acts, aux) = quantize_acts(m, k, kb, lhs, parallel, (), quantize, |_| ());
    let ctx = Ctx {
        m,
        n,
        kb,
        w: as_bytes(weights),
        acts: as_bytes(&acts),
        aux: &aux,
        row_block: row_block_for(m, kb, row_block),
        n_col_tiles: n.div_ceil(NR),
        dst: SyncPtr(dst.as_mut_ptr()),
    };
    // SAFETY: forwarded from this function's contract.
    run_items(&ctx, |range| unsafe { run_items_avx512(&ctx, range) });
}

/// 16 weight rows × one super-block, unpacked.
#[repr(C, align(64))]
struct Tile {
    /// `qs[g][lane]`: the 6-bit values k = 4g..4g+4 of weight row `lane`, one per byte.
    qs: [[u32; NR]; QK / 4],
    /// `w.d · scale_s` per sub-block.
    scales: [[f32; NR]; SUBS],
    /// `scale_2p | scale_2p+1 << 16` (i16 pairs, for `vpdpwssd` against the bsums).
    pairs: [[i32; NR]; SUBS / 2],
    /// `32 · w.d`.
    d32: [f32; NR],
}

/// # Safety
/// The CPU must support AVX-512F, AVX-512BW, AVX-512 VNNI and FMA.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni,avx2,fma")]
unsafe fn run_items_avx512(ctx: &Ctx<()>, range: std::ops::Range<usize>) {
    let mut tile = Box::new(Tile {
        qs: [[0; NR]; QK / 4],
        scales: [[0.0; NR]; SUBS],
        pairs: [[0; NR]; SUBS / 2],
        d32: [0.0; NR],
    });
    let mut facc = vec![0f32; ctx.row_block * NR];
    for item in range {
        let (r0, rows, c0, nc) = ctx.item(item);
        let facc = &mut facc[..rows * NR];
        facc.fill(0.0);
        for b in 0..ctx.kb {
            prepare(ctx, c0, nc, b, &mut tile);
            let mut r = 0;
            while r + MR <= rows {
                tile_rows::<MR>(&tile, ctx, r0 + r, b, &mut facc[r * NR..]);
                r += MR;
            }
            match rows - r {
                1 => tile_rows::<1>(&tile, ctx, r0 + r, b, &mut facc[r * NR..]),
                2 => tile_rows::<2>(&tile, ctx, r0 + r, b, &mut facc[r * NR..]),
                3 => tile_rows::<3>(&tile, ctx, r0 + r, b, &mut facc[r * NR..]),
                4 => tile_rows::<4>(&tile, ctx, r0 + r, b, &mut facc[r * NR..]),
                5 => tile_rows::<5>(&tile, ctx, r0 + r, b, &mut facc[r * NR..]),
                6 => tile_rows::<6>(&tile, ctx, r0 + r, b, &mut facc[r * NR..]),
                7 => tile_rows::<7>(&tile, ctx, r0 + r, b, &mut facc[r * NR..]),
                _ => {}
            }
        }
        for r in 0..rows {
            let out = &facc[r * NR..r * NR + nc];
            // SAFETY: row r0 + r < m and columns c0..c0+nc ≤ n lie inside the m×n `dst`;
            // each (row block, column tile) item runs exactly once, so no other thread
            // writes these elements while `dst` is borrowed by `matmul`.
            unsafe {
                let at = ctx.dst.0.add((r0 + r) * ctx.n + c0);
                std::ptr::copy_nonoverlapping(out.as_ptr(), at, nc);
            }
        }
    }
}

/// Unpacks super-block `b` of weight rows `c0..c0+nc` (lanes past `nc` repeat row c0).
///
/// ggml's layout: per 128-value half `h`, position 128h + 32j + l (j < 4, l < 32) has its
/// low nibble in `ql` byte 64h + 32(j & 1) + l (the high nibble when j ≥ 2) and its bits
/// 4–5 in bits 2j..2j+2 of `qh` byte 32h + l; scale `s` covers positions 16s..16s+16.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni,fma")]
fn prepare(ctx: &Ctx<()>, c0: usize, nc: usize, b: usize, tile: &mut Tile) {
    let blocks = tile_blocks::<_, Q6K_BYTES>(ctx, c0, nc, b);
    // words[w][lane] = little-endian word w (of 52: ql 0..32, qh 32..48, scales 48..52).
    let mut words = [_mm512_setzero_si512(); 52];
    for chunk in 0..4 {
        // SAFETY: chunks 0..3 read bytes 64c..64c+64 ≤ 192 and chunk 3 bytes 192..208 with a
        // 4-lane mask (masked-off lanes are not accessed): inside each 210-byte block.
        let mut m: [__m512i; 16] = std::array::from_fn(|r| unsafe {
            let p = blocks[r].as_ptr().add(64 * chunk);
            if chunk < 3 {
                _mm512_loadu_si512(p.cast())
            } else {
                _mm512_maskz_loadu_epi32(0x000F, p.cast())
            }
        });
        transpose16(&mut m);
        let n_words = if chunk < 3 { 16 } else { 4 };
        words[16 * chunk..16 * chunk + n_words].copy_from_slice(&m[..n_words]);
    }
    let m0f = _mm512_set1_epi32(0x0F0F_0F0F);
    let m30 = _mm512_set1_epi32(0x3030_3030);
    for g in 0..QK / 4 {
        let (h, j, l4) = (g / 32, (g / 8) % 4, g % 8);
        let ql = words[16 * h + 8 * (j & 1) + l4];
        let lo = if j >= 2 {
            _mm512_and_si512(_mm512_srli_epi32::<4>(ql), m0f)
        } else {
            _mm512_and_si512(ql, m0f)
        };
        let qh = words[32 + 8 * h + l4];
        // Bits 2j..2j+2 of each byte to bits 4..6.
        let hi = if j <= 2 {
            _mm512_sllv_epi32(qh, _mm512_set1_epi32(4 - 2 * j as i32))
        } else {
            _mm512_srli_epi32::<2>(qh)
        };
        let q = _mm512_ternarylogic_epi32::<0xF8>(lo, hi, m30); // lo | (hi & m30)
                                                                // SAFETY: `Tile` is `align(64)` and each row is 16 × 4 bytes: an aligned store.
        unsafe { _mm512_store_si512(tile.qs[g].as_mut_ptr().cast(), q) };
    }
    let d: [f32; NR] = std::array::from_fn(|lane| {
        let blk = blocks[lane];
        half::f16::from_bits(u16::from_le_bytes([blk[Q6K_D], blk[Q6K_D + 1]])).to_f32()
    });
    // SAFETY: `d` is 16 f32 (unaligned load); `Tile` rows are 64-byte aligned (stores).
    unsafe {
        let d = _mm512_loadu_ps(d.as_ptr());
        _mm512_store_ps(
            tile.d32.as_mut_ptr(),
            _mm512_mul_ps(d, _mm512_set1_ps(32.0)),
        );
        let scale = |s: usize| -> __m512i {
            let w = words[48 + s / 4];
            // Byte s % 4 of each lane, sign-extended.
            let up = _mm512_sllv_epi32(w, _mm512_set1_epi32(24 - 8 * (s % 4) as i32));
            _mm512_srai_epi32::<24>(up)
        };
        for p in 0..SUBS / 2 {
            let (lo, hi) = (scale(2 * p), scale(2 * p + 1));
            for (s, sc) in [(2 * p, lo), (2 * p + 1, hi)] {
                let f = _mm512_mul_ps(d, _mm512_cvtepi32_ps(sc));
                _mm512_store_ps(tile.scales[s].as_mut_ptr(), f);
            }
            let pair = _mm512_or_si512(
                _mm512_and_si512(lo, _mm512_set1_epi32(0xFFFF)),
                _mm512_slli_epi32::<16>(hi),
            );
            _mm512_store_si512(tile.pairs[p].as_mut_ptr().cast(), pair);
        }
    }
}

/// Adds tile × activation rows `row..row + R` (super-block `b`) into `facc` (`R × NR`).
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni,fma")]
fn tile_rows<const R: usize>(tile: &Tile, ctx: &Ctx<()>, row: usize, b: usize, facc: &mut [f32]) {
    let a: [&[u8; Q8K_BYTES]; R] = std::array::from_fn(|i| act_block(ctx, row + i, b));
    let facc = &mut facc[..R * NR];
    // SAFETY (loads/stores): `Tile` rows are 64-byte aligned 64-byte arrays (aligned loads);
    // `facc` holds R × NR f32, row r at r·NR (unaligned loads/stores).
    unsafe {
        let mut sb = [_mm512_setzero_ps(); R];
        for s in 0..SUBS {
            let dot = group_dots::<R, 4>(&tile.qs, 4 * s, &a);
            let sc = _mm512_load_ps(tile.scales[s].as_ptr());
            for r in 0..R {
                sb[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot[r]), sc, sb[r]);
            }
        }
        let d32 = _mm512_load_ps(tile.d32.as_ptr());
        for r in 0..R {
            let mut corr = _mm512_setzero_si512();
            for p in 0..SUBS / 2 {
                let at = Q8K_BSUMS + 4 * p;
                let bs = a[r][at..at + 4].try_into().expect("4 bytes");
                let pair = _mm512_load_si512(tile.pairs[p].as_ptr().cast());
                let bs = _mm512_set1_epi32(i32::from_le_bytes(bs));
                corr = _mm512_dpwssd_epi32(corr, pair, bs);
            }
            let v = _mm512_fnmadd_ps(d32, _mm512_cvtepi32_ps(corr), sb[r]);
            let o = facc.as_mut_ptr().add(r * NR);
            let ad = _mm512_set1_ps(act_d(a[r]));
            _mm512_storeu_ps(o, _mm512_fmadd_ps(v, ad, _mm512_loadu_ps(o)));
        }
    }
}
