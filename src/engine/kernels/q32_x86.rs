//! The AVX-512 kernels of [`super::q32`]: activation quantization as llama.cpp's x86
//! `quantize_row_q8_0`/`quantize_row_q8_1`, and the dot products of four weight rows (two per
//! 512-bit register, a block's 32 values as bytes in each 256-bit half) with up to four
//! activation rows.

use super::gemv::hsum_float_8;
use super::gemv_x86::{bcast256, f16_at, halves_ps, pair256};
use super::q32::{Acts, Format, RowOut, ACTS, QK, ROWS};
use std::arch::x86_64::*;

/// f32 → f16 → f32, rounding to nearest even (ggml's `GGML_CPU_FP32_TO_FP16` with F16C).
#[inline(always)]
unsafe fn round_f16(x: f32) -> f32 {
    let h = _mm_cvtps_ph::<{ _MM_FROUND_TO_NEAREST_INT }>(_mm_set_ss(x));
    _mm_cvtss_f32(_mm_cvtph_ps(h))
}

/// One activation row to Q8_0 (and Q8_1's `s`, and the lane starts for `offset`).
///
/// # Safety
/// AVX-512F/BW/VNNI, AVX2, FMA and F16C; `out` holds `xs.len() / 32` blocks.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni,avx2,fma,f16c")]
pub(super) unsafe fn quantize_row(xs: &[f32], offset: i32, mut out: RowOut) {
    for (b, x) in xs.chunks_exact(QK).enumerate() {
        let (v0, v1) = unsafe { (_mm512_loadu_ps(x.as_ptr()), _mm512_loadu_ps(x.as_ptr().add(16))) };
        let max = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
        let d = max / 127.0;
        let id = _mm512_set1_ps(if max != 0.0 { 127.0 / max } else { 0.0 });
        const NEAREST: i32 = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;
        let q0 = _mm512_cvtps_epi32(_mm512_roundscale_ps::<NEAREST>(_mm512_mul_ps(v0, id)));
        let q1 = _mm512_cvtps_epi32(_mm512_roundscale_ps::<NEAREST>(_mm512_mul_ps(v1, id)));
        out.d[b] = unsafe { round_f16(d) };
        if let Some(s) = out.s.as_deref_mut() {
            let sum = _mm512_reduce_add_epi32(_mm512_add_epi32(q0, q1));
            s[b] = unsafe { round_f16(d * sum as f32) };
        }
        let qs = &mut out.qs[QK * b..QK * (b + 1)];
        // SAFETY: `qs` is 32 bytes: 16 saturated values from each register.
        unsafe {
            _mm_storeu_si128(qs.as_mut_ptr().cast(), _mm512_cvtsepi32_epi8(q0));
            _mm_storeu_si128(qs.as_mut_ptr().add(16).cast(), _mm512_cvtsepi32_epi8(q1));
        }
        if let Some(start) = out.start.as_deref_mut() {
            for (lane, quad) in start[b].iter_mut().zip(qs.chunks_exact(4)) {
                *lane = -offset * quad.iter().map(|&q| q as i32).sum::<i32>();
            }
        }
    }
}

/// How a format's blocks become bytes and scales.
pub(super) trait Fmt {
    const FORMAT: Format;
    /// Byte offset of the block's min `m` (formats with a min).
    const MIN_AT: usize = 2;

    /// Block values plus [`Format::offset`] as unsigned bytes, in value order: the block at
    /// `a` in the low half, the one at `b` in the high half.
    ///
    /// # Safety
    /// AVX-512F/BW; both pointers are to whole blocks.
    unsafe fn unpack(a: *const u8, b: *const u8) -> __m512i;
}

pub(super) struct Q4_0;
pub(super) struct Q4_1;
pub(super) struct Q5_0;
pub(super) struct Q5_1;
pub(super) struct Q8_0;

/// The 16 nibble bytes at `a` and `b` as 64 values: per block, low nibbles then high nibbles
/// (ggml's `bytes_from_nibbles_32`).
#[inline(always)]
unsafe fn nibbles(a: *const u8, b: *const u8) -> __m512i {
    unsafe {
        let (a, b) = (_mm_loadu_si128(a.cast()), _mm_loadu_si128(b.cast()));
        let v = _mm512_inserti64x4::<1>(
            _mm512_castsi256_si512(_mm256_set_m128i(a, a)),
            _mm256_set_m128i(b, b),
        );
        let shifts = _mm512_set_epi64(4, 4, 0, 0, 4, 4, 0, 0);
        _mm512_and_si512(_mm512_srlv_epi64(v, shifts), _mm512_set1_epi8(0x0F))
    }
}

/// `v` with bit 4 set in every byte whose bit is set in the blocks' `qh` words at `a`, `b`.
#[inline(always)]
unsafe fn fifth_bits(v: __m512i, a: *const u8, b: *const u8) -> __m512i {
    unsafe {
        let qa = std::ptr::read_unaligned(a.cast::<u32>()) as u64;
        let qb = std::ptr::read_unaligned(b.cast::<u32>()) as u64;
        _mm512_or_si512(v, _mm512_maskz_mov_epi8(qa | qb << 32, _mm512_set1_epi8(0x10)))
    }
}

impl Fmt for Q4_0 {
    const FORMAT: Format = Format::Q4_0;
    #[inline(always)]
    unsafe fn unpack(a: *const u8, b: *const u8) -> __m512i {
        unsafe { nibbles(a.add(2), b.add(2)) }
    }
}

impl Fmt for Q4_1 {
    const FORMAT: Format = Format::Q4_1;
    #[inline(always)]
    unsafe fn unpack(a: *const u8, b: *const u8) -> __m512i {
        unsafe { nibbles(a.add(4), b.add(4)) }
    }
}

impl Fmt for Q5_0 {
    const FORMAT: Format = Format::Q5_0;
    #[inline(always)]
    unsafe fn unpack(a: *const u8, b: *const u8) -> __m512i {
        unsafe { fifth_bits(nibbles(a.add(6), b.add(6)), a.add(2), b.add(2)) }
    }
}

impl Fmt for Q5_1 {
    const FORMAT: Format = Format::Q5_1;
    #[inline(always)]
    unsafe fn unpack(a: *const u8, b: *const u8) -> __m512i {
        unsafe { fifth_bits(nibbles(a.add(8), b.add(8)), a.add(4), b.add(4)) }
    }
}

impl Fmt for Q8_0 {
    const FORMAT: Format = Format::Q8_0;
    #[inline(always)]
    unsafe fn unpack(a: *const u8, b: *const u8) -> __m512i {
        unsafe { _mm512_xor_si512(pair256(a.add(2), b.add(2)), _mm512_set1_epi8(-128)) }
    }
}

/// The f16 at byte `at` of each block in `p`, per row pair: the first row's in the low 8
/// lanes, the second's in the high 8.
#[inline(always)]
unsafe fn scales(p: [*const u8; ROWS], at: usize) -> [__m512; 2] {
    unsafe {
        [
            halves_ps(f16_at(p[0].add(at)), f16_at(p[1].add(at))),
            halves_ps(f16_at(p[2].add(at)), f16_at(p[3].add(at))),
        ]
    }
}

/// Dot products of weight rows `cols` (of `w`) with activation rows `rows` of `acts`, in
/// ggml's order per (weight row, activation row) pair.
///
/// # Safety
/// AVX-512F/BW/VNNI, AVX2, FMA and F16C; every column is a row of `w` (`acts.kb` blocks of
/// `F`), every row one of `acts`.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni,avx2,fma,f16c")]
pub(super) unsafe fn tile<F: Fmt, const R: usize>(
    w: &[u8],
    acts: &Acts,
    cols: [usize; ROWS],
    rows: [usize; R],
) -> [[f32; ROWS]; R] {
    const { assert!(R <= ACTS && ROWS == 4) };
    let format = F::FORMAT;
    let (kb, bytes) = (acts.kb, format.block_bytes());
    let wp: [*const u8; ROWS] = cols.map(|c| w.as_ptr().wrapping_add(c * kb * bytes));
    let mut acc = [[_mm512_setzero_ps(); 2]; R];
    let mut mins = [[_mm512_setzero_ps(); 2]; R];
    for b in 0..kb {
        let at = b * bytes;
        // SAFETY (this block): every pointer is inside `w` or `acts` by the contract.
        unsafe {
            let p: [*const u8; ROWS] = wp.map(|p| p.add(at));
            let q = [F::unpack(p[0], p[1]), F::unpack(p[2], p[3])];
            let dw = scales(p, 0);
            let mw = if format.has_min() { scales(p, F::MIN_AT) } else { dw };
            for (i, &r) in rows.iter().enumerate() {
                let ab = r * kb + b;
                let a = bcast256(acts.qs.as_ptr().add(ab * QK).cast());
                let da = _mm512_set1_ps(*acts.d.get_unchecked(ab));
                let start = if format.offset() != 0 {
                    bcast256(acts.start.as_ptr().add(ab).cast())
                } else {
                    _mm512_setzero_si512()
                };
                for h in 0..2 {
                    let dot = _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(start, q[h], a));
                    acc[i][h] = _mm512_fmadd_ps(_mm512_mul_ps(dw[h], da), dot, acc[i][h]);
                    if format.has_min() {
                        let s = _mm512_set1_ps(*acts.s.get_unchecked(ab));
                        mins[i][h] = _mm512_fmadd_ps(mw[h], s, mins[i][h]);
                    }
                }
            }
        }
    }
    let mut out = [[0f32; ROWS]; R];
    for (o, (acc, mins)) in out.iter_mut().zip(acc.iter().zip(&mins)) {
        for h in 0..2 {
            let (mut lanes, mut m) = ([0f32; 16], [0f32; 16]);
            // SAFETY: 16 floats each.
            unsafe {
                _mm512_storeu_ps(lanes.as_mut_ptr(), acc[h]);
                _mm512_storeu_ps(m.as_mut_ptr(), mins[h]);
            }
            for half in 0..2 {
                let sum = hsum_float_8(&lanes[8 * half..8 * half + 8]);
                o[2 * h + half] = if format.has_min() { sum + m[8 * half] } else { sum };
            }
        }
    }
    out
}
