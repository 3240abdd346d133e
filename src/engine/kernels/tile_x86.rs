//! x86 tile machinery shared by the Q4_K and Q5_K kernels: gathering a tile's 16 weight
//! blocks (with prefetch of the next super-block) and the in-register word transposes that
//! put one weight row per vector lane.

use super::tiling::{Ctx, NR};
use std::arch::x86_64::*;

/// Transposes 16 rows × 16 words (`rows[r]` = word c of row r) into 16 columns × 16 rows.
#[inline]
#[target_feature(enable = "avx512f")]
pub(super) fn transpose16(rows: &mut [__m512i; 16]) {
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
pub(super) fn tile_blocks<'a, A, const BYTES: usize>(
    ctx: &Ctx<'a, A>,
    c0: usize,
    nc: usize,
    b: usize,
) -> [&'a [u8; BYTES]; NR] {
    if b + 1 < ctx.kb {
        for lane in 0..nc {
            let at = ((c0 + lane) * ctx.kb + b + 1) * BYTES;
            let next = &ctx.w[at..at + BYTES];
            for off in [0, 64, 128, BYTES - 1] {
                // SAFETY: prefetching is a hint with no memory effects (SSE, baseline on
                // x86-64); the address is inside `next`.
                unsafe { _mm_prefetch::<_MM_HINT_T0>(next.as_ptr().add(off).cast()) };
            }
        }
    }
    std::array::from_fn(|lane| {
        let row = c0 + if lane < nc { lane } else { 0 };
        let at = (row * ctx.kb + b) * BYTES;
        ctx.w[at..at + BYTES]
            .try_into()
            .expect("a slice of BYTES bytes converts")
    })
}

/// Transposes 8 rows × 8 words into 8 columns × 8 rows.
#[inline]
#[target_feature(enable = "avx2")]
pub(super) fn transpose8(r: &mut [__m256i; 8]) {
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

/// The AVX2 and AVX-512 VNNI kernels of a Q4_K/Q5_K-style format (see [`super::tile45`]),
/// expanded in the format's `x86` module: `run_items_avx2` (ggml's float order: the driver of
/// `tile45` with `Avx2Kernel`, whose `rows` run the module's `tile256::<MR>` four rows at a
/// time after its `prepare256`) and `run_items_avx512` ([`super::tile45_vnni`] after the
/// module's `prepare512`).
macro_rules! tile45_kernels {
    ($words:ident) => {
        /// # Safety
        /// The CPU must support AVX2 and FMA.
        #[target_feature(enable = "avx2,fma")]
        pub(super) unsafe fn run_items_avx2(ctx: &Ctx, range: std::ops::Range<usize>) {
            // SAFETY: forwarded from this function's contract.
            unsafe { run_items_generic::<$words, Avx2Kernel>(ctx, range) }
        }

        /// # Safety
        /// The CPU must support AVX-512F, AVX-512BW, AVX-512 VNNI and FMA.
        #[target_feature(enable = "avx512f,avx512bw,avx512vnni,avx2,fma")]
        pub(super) unsafe fn run_items_avx512(ctx: &Ctx, range: std::ops::Range<usize>) {
            // SAFETY: forwarded from this function's contract; `prepare512` needs the same
            // features.
            unsafe {
                super::super::tile45_vnni::run_items::<$words>(
                    ctx,
                    range,
                    |ctx, c0, nc, b, raw, tile| prepare512(ctx, c0, nc, b, raw, tile),
                )
            }
        }

        pub(super) struct Avx2Kernel;

        impl Kernel<$words> for Avx2Kernel {
            type F = super::Fmt;

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
            unsafe fn rows(
                tile: &Tile,
                ctx: &Ctx,
                r0: usize,
                rows: usize,
                b: usize,
                facc: &mut [f32],
            ) {
                macro_rules! call {
                    ($mr:literal, $r:expr) => {{
                        let r = $r;
                        let a: [&[u8; Q8K_BYTES]; $mr] =
                            std::array::from_fn(|i| act_block(ctx, r0 + r + i, b));
                        let p: [[i32; 4]; $mr] =
                            std::array::from_fn(|i| ctx.aux[(r0 + r + i) * ctx.kb + b]);
                        // SAFETY: the caller guarantees the kernel's target features.
                        unsafe {
                            tile256::<$mr>(
                                tile,
                                a,
                                p,
                                &mut facc[r * FACC_ROW..(r + $mr) * FACC_ROW],
                            )
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
    };
}
pub(super) use tile45_kernels;
