//! The AVX2 path of the Q6_K kernel (ggml's float order): tile preparation and the per-tile
//! multiply-adds. The AVX-512 VNNI path is [`super::vnni`].

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

/// Unpacks one block (see `unpack_row_generic`), 32 values per step; scales as `fmt`.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn unpack_row_avx2(blk: &[u8; Q6K_BYTES], q: &mut [u8; QK], sc: &mut [i32; GROUPS], fmt: ScaleFmt) {
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

/// The AVX2 unpacking equals the portable one (both scale formats).
#[cfg(test)]
pub(super) fn unpack_avx2_matches(blk: &[u8; Q6K_BYTES]) {
    if !super::Q6kPath::Avx2.available() {
        return;
    }
    for fmt in [ScaleFmt::Lo, ScaleFmt::Both] {
        let (mut q0, mut s0) = ([0u8; QK], [0i32; GROUPS]);
        let (mut q1, mut s1) = ([0u8; QK], [0i32; GROUPS]);
        super::unpack_row_generic(blk, &mut q0, &mut s0, fmt);
        // SAFETY: AVX2 and FMA were just checked.
        unsafe { unpack_row_avx2(blk, &mut q1, &mut s1, fmt) };
        assert_eq!(q0, q1);
        assert_eq!(s0, s1, "{fmt:?}");
    }
}
