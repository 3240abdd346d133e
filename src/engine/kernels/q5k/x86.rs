//! The AVX2 and AVX-512 VNNI paths of the Q5_K kernel: tile preparation and the
//! per-tile multiply-adds.

use super::super::tile_x86::{tile_blocks, transpose16, transpose8};
use super::super::tiling::{act_block, act_d, act_group, Q8K_BYTES};
use super::{run_items_generic, Ctx, Kernel, Raw, Tile, FACC_ROW, NR, Q5K_BYTES, Q5K_WORDS};
use std::arch::x86_64::*;

super::super::tile_x86::tile45_kernels!(Q5K_WORDS);

/// AVX2 tile preparation: 8×8 transposes of the raw words, then the portable unpack
/// (compiled here for AVX2).
#[inline]
#[target_feature(enable = "avx2,fma")]
fn prepare256(ctx: &Ctx, c0: usize, nc: usize, b: usize, raw: &mut Raw, tile: &mut Tile) {
    let blocks = tile_blocks::<_, Q5K_BYTES>(ctx, c0, nc, b);
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
pub(super) fn prepare512(
    ctx: &Ctx,
    c0: usize,
    nc: usize,
    b: usize,
    raw: &mut Raw,
    tile: &mut Tile,
) {
    let blocks = tile_blocks::<_, Q5K_BYTES>(ctx, c0, nc, b);
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
        let st = |dst: &mut [u32; NR], v: __m512i| _mm512_store_si512(dst.as_mut_ptr().cast(), v);
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
                    let lo =
                        _mm512_ternarylogic_epi32::<0xF8>(_mm512_and_si512(q, m0f), $lo(h[t]), m10);
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
                let m = _mm256_mul_ps(_mm256_mul_ps(ad[r], dmw), _mm256_cvtepi32_ps(msum[r][h]));
                _mm256_storeu_ps(o, _mm256_sub_ps(_mm256_loadu_ps(o), m));
            }
        }
    }
}
