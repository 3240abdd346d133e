//! The AVX-512 kernels of [`super::q32`]: activation quantization as llama.cpp's x86
//! `quantize_row_q8_0`/`quantize_row_q8_1`, and the dot products of four weight rows (two per
//! 512-bit register, a block's 32 values as bytes in each 256-bit half) with up to four
//! activation rows.

use super::gemv::hsum_float_8;
use super::gemv_x86::bcast256;
use super::q32::{Acts, Format, RowOut, ACTS, QK, ROWS};
use std::arch::x86_64::*;

/// How far ahead of the block in use a weight row is prefetched, in bytes.
const PREFETCH: usize = 1024;

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
        let (v0, v1) = unsafe {
            (
                _mm512_loadu_ps(x.as_ptr()),
                _mm512_loadu_ps(x.as_ptr().add(16)),
            )
        };
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

/// Where a format's fields sit in a packed group block (see [`super::q32::Packed`]), and how
/// its quants become bytes.
pub(super) trait Fmt {
    const FORMAT: Format;
    /// Byte offset of the four rows' mins (formats with a min).
    const MINS: usize = 8;

    /// The four rows' block values plus [`Format::offset`] as unsigned bytes, in value
    /// order: rows 0 and 1 in the first register (low and high half), rows 2 and 3 in the
    /// second.
    ///
    /// # Safety
    /// AVX-512F/BW; `g` points to a whole packed group block.
    unsafe fn unpack(g: *const u8) -> [__m512i; 2];
}

pub(super) struct Q4_0;
pub(super) struct Q4_1;
pub(super) struct Q5_0;
pub(super) struct Q5_1;
pub(super) struct Q8_0;

/// The four rows' 16 nibble bytes at `qs` as 4 × 32 values: per row, low nibbles then high
/// nibbles (ggml's `bytes_from_nibbles_32`).
#[inline(always)]
unsafe fn nibbles(qs: *const u8) -> [__m512i; 2] {
    unsafe {
        let v = _mm512_loadu_si512(qs.cast());
        let shifts = _mm512_set_epi64(4, 4, 0, 0, 4, 4, 0, 0);
        let mask = _mm512_set1_epi8(0x0F);
        // 128-bit lanes [row 0, row 0, row 1, row 1] and [row 2, row 2, row 3, row 3].
        let lo = _mm512_shuffle_i64x2::<0x50>(v, v);
        let hi = _mm512_shuffle_i64x2::<0xFA>(v, v);
        [
            _mm512_and_si512(_mm512_srlv_epi64(lo, shifts), mask),
            _mm512_and_si512(_mm512_srlv_epi64(hi, shifts), mask),
        ]
    }
}

/// `v` with bit 4 set in every byte whose bit is set in the four rows' `qh` words at `qh`.
#[inline(always)]
unsafe fn fifth_bits(v: [__m512i; 2], qh: *const u8) -> [__m512i; 2] {
    unsafe {
        let bit = _mm512_set1_epi8(0x10);
        let pair = |h: usize| std::ptr::read_unaligned(qh.add(8 * h).cast::<u64>());
        [
            _mm512_or_si512(v[0], _mm512_maskz_mov_epi8(pair(0), bit)),
            _mm512_or_si512(v[1], _mm512_maskz_mov_epi8(pair(1), bit)),
        ]
    }
}

impl Fmt for Q4_0 {
    const FORMAT: Format = Format::Q4_0;
    #[inline(always)]
    unsafe fn unpack(g: *const u8) -> [__m512i; 2] {
        unsafe { nibbles(g.add(8)) }
    }
}

impl Fmt for Q4_1 {
    const FORMAT: Format = Format::Q4_1;
    #[inline(always)]
    unsafe fn unpack(g: *const u8) -> [__m512i; 2] {
        unsafe { nibbles(g.add(16)) }
    }
}

impl Fmt for Q5_0 {
    const FORMAT: Format = Format::Q5_0;
    #[inline(always)]
    unsafe fn unpack(g: *const u8) -> [__m512i; 2] {
        unsafe { fifth_bits(nibbles(g.add(24)), g.add(8)) }
    }
}

impl Fmt for Q5_1 {
    const FORMAT: Format = Format::Q5_1;
    #[inline(always)]
    unsafe fn unpack(g: *const u8) -> [__m512i; 2] {
        unsafe { fifth_bits(nibbles(g.add(32)), g.add(16)) }
    }
}

impl Fmt for Q8_0 {
    const FORMAT: Format = Format::Q8_0;
    #[inline(always)]
    unsafe fn unpack(g: *const u8) -> [__m512i; 2] {
        let flip = _mm512_set1_epi8(-128);
        unsafe {
            [
                _mm512_xor_si512(_mm512_loadu_si512(g.add(8).cast()), flip),
                _mm512_xor_si512(_mm512_loadu_si512(g.add(72).cast()), flip),
            ]
        }
    }
}

/// The four f16 at `p` widened, per row pair: the first row's in the low 8 lanes, the
/// second's in the high 8.
#[inline(always)]
unsafe fn scales(p: *const u8) -> [__m512; 2] {
    unsafe {
        let four = _mm512_castps128_ps512(_mm_cvtph_ps(_mm_loadl_epi64(p.cast())));
        let first = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
        let second = _mm512_set_epi32(3, 3, 3, 3, 3, 3, 3, 3, 2, 2, 2, 2, 2, 2, 2, 2);
        [
            _mm512_permutexvar_ps(first, four),
            _mm512_permutexvar_ps(second, four),
        ]
    }
}

/// Dot products of the four weight rows of packed group `group` (of `w`) with activation
/// rows `rows` of `acts`, in ggml's order per (weight row, activation row) pair.
///
/// # Safety
/// AVX-512F/BW/VNNI, AVX2, FMA and F16C; `group` is a group of `w` (`acts.kb` packed blocks
/// of `F`), every row one of `acts`.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni,avx2,fma,f16c")]
pub(super) unsafe fn tile<F: Fmt, const R: usize>(
    w: &[u8],
    acts: &Acts,
    group: usize,
    rows: [usize; R],
) -> [[f32; ROWS]; R] {
    const { assert!(R <= ACTS && ROWS == 4) };
    let format = F::FORMAT;
    let (kb, bytes) = (acts.kb, ROWS * format.block_bytes());
    let base = w.as_ptr().wrapping_add(group * kb * bytes);
    let mut acc = [[_mm512_setzero_ps(); 2]; R];
    let mut mins = [[_mm512_setzero_ps(); 2]; R];
    for b in 0..kb {
        // SAFETY (this block): every pointer is inside `w` or `acts` by the contract;
        // prefetches never fault.
        unsafe {
            let g = base.add(b * bytes);
            if R < ACTS {
                // A few activation rows (decode rows, an expert's share of them) stream the
                // weights from memory.
                _mm_prefetch::<_MM_HINT_T0>(g.wrapping_add(PREFETCH).cast());
            }
            let q = F::unpack(g);
            let dw = scales(g);
            let mw = if format.has_min() {
                scales(g.add(F::MINS))
            } else {
                dw
            };
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
                o[2 * h + half] = if format.has_min() {
                    sum + m[8 * half]
                } else {
                    sum
                };
            }
        }
    }
    out
}
