//! The AVX-512 kernels of [`super::gemv`]: ggml's AVX2 `vec_dot_qX_K_q8_K` (as candle ports
//! it in `quantized/avx.rs`) for two weight rows per 512-bit register, the low 256-bit half
//! for the first row and the high half for the second, two registers (four rows) per call.
//!
//! Every integer step is the AVX2 lane arithmetic (exact, per 128-bit lane), and every float
//! step is the same IEEE operation on the same lane values in the same order: `d = y.d · x.d`,
//! `fma(d, sumi, acc)` per block, the mins terms as candle accumulates them, then
//! `hsum_float_8` of each row's 8 lanes.

use super::gemv::{hsum_float_8, GROUP};
use std::arch::x86_64::*;

/// Byte offsets inside a `BlockQ8K`.
const Y_QS: usize = 4;
const Y_BSUMS: usize = 260;
const Y_BYTES: usize = 292;
/// Weight-row pairs per call.
const P: usize = GROUP / 2;

/// The 32 bytes at `a` in the low half, those at `b` in the high half.
#[inline(always)]
unsafe fn pair256(a: *const u8, b: *const u8) -> __m512i {
    unsafe {
        _mm512_inserti64x4::<1>(
            _mm512_castsi256_si512(_mm256_loadu_si256(a.cast())),
            _mm256_loadu_si256(b.cast()),
        )
    }
}

/// The 32 bytes at `a` in both halves.
#[inline(always)]
pub(super) unsafe fn bcast256(a: *const u8) -> __m512i {
    unsafe { _mm512_broadcast_i64x4(_mm256_loadu_si256(a.cast())) }
}

/// `a` in the low 8 lanes, `b` in the high 8.
#[inline(always)]
unsafe fn halves_ps(a: f32, b: f32) -> __m512 {
    _mm512_mask_blend_ps(0xFF00, _mm512_set1_ps(a), _mm512_set1_ps(b))
}

/// The two f16 at `p` as f32 (exact conversions).
#[inline(always)]
unsafe fn f16_pair(p: *const u8) -> (f32, f32) {
    unsafe {
        let h = _mm_cvtph_ps(_mm_cvtsi32_si128(std::ptr::read_unaligned(p.cast::<i32>())));
        (_mm_cvtss_f32(h), _mm_cvtss_f32(_mm_movehdup_ps(h)))
    }
}

/// The f16 at `p` as f32 (exact conversion).
#[inline(always)]
unsafe fn f16_at(p: *const u8) -> f32 {
    unsafe {
        let bits = std::ptr::read_unaligned(p.cast::<u16>());
        _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(bits as i32)))
    }
}

/// The f32 at `p`.
#[inline(always)]
unsafe fn f32_at(p: *const u8) -> f32 {
    unsafe { std::ptr::read_unaligned(p.cast::<f32>()) }
}

#[inline(always)]
unsafe fn u32_at(p: *const u8) -> u32 {
    unsafe { std::ptr::read_unaligned(p.cast::<u32>()) }
}

/// Q4_K/Q5_K scales (low 8 i16) and mins (high 8 i16), as candle's `utmp` unpacking.
#[inline(always)]
unsafe fn mins_and_scales(scales: *const u8) -> __m256i {
    const KMASK1: u32 = 0x3f3f3f3f;
    const KMASK2: u32 = 0x0f0f0f0f;
    const KMASK3: u32 = 0x03030303;
    unsafe {
        let (u0, u1, u2) = (u32_at(scales), u32_at(scales.add(4)), u32_at(scales.add(8)));
        let t3 = ((u2 >> 4) & KMASK2) | (((u1 >> 6) & KMASK3) << 4);
        let t1 = (u2 & KMASK2) | (((u0 >> 6) & KMASK3) << 4);
        let t2 = u1 & KMASK1;
        let t0 = u0 & KMASK1;
        _mm256_cvtepu8_epi16(_mm_set_epi32(t3 as i32, t2 as i32, t1 as i32, t0 as i32))
    }
}

/// `[lo, lo, hi, hi]` as 128-bit lanes.
#[inline(always)]
unsafe fn quad128(lo: __m128i, hi: __m128i) -> __m512i {
    _mm512_inserti64x4::<1>(
        _mm512_castsi256_si512(_mm256_broadcastsi128_si256(lo)),
        _mm256_broadcastsi128_si256(hi),
    )
}

/// The i16 pair (2i, 2i+1) shuffle of candle's `get_scale_shuffle_k4(i)`, per 128-bit lane.
#[inline(always)]
unsafe fn k4_shuffle() -> [__m512i; 8] {
    let mut out = [_mm512_setzero_si512(); 8];
    for (i, o) in out.iter_mut().enumerate() {
        *o = _mm512_set1_epi16((((2 * i + 1) << 8) | (2 * i)) as i16);
    }
    out
}

/// Prefetches, while block `b` of a group runs, the `b`-th `GROUP · bytes` slice of the next
/// group's weights (`next`, its `GROUP` rows being contiguous), so that the weights stream
/// from memory in one sequential pass. Prefetches never fault; addresses past the weights are
/// harmless.
#[inline(always)]
unsafe fn prefetch(next: *const u8, b: usize, bytes: usize) {
    let at = next.wrapping_add(b * GROUP * bytes);
    let mut off = 0;
    while off < GROUP * bytes {
        unsafe { _mm_prefetch::<_MM_HINT_T0>(at.wrapping_add(off).cast()) };
        off += 64;
    }
}

/// Stores the row results of `acc` (8 lanes per row) plus a per-row scalar term.
#[inline(always)]
unsafe fn finish(acc: &[__m512; P], extra: [f32; GROUP]) -> [f32; GROUP] {
    let mut out = [0f32; GROUP];
    for p in 0..P {
        let mut lanes = [0f32; 16];
        unsafe { _mm512_storeu_ps(lanes.as_mut_ptr(), acc[p]) };
        for h in 0..2 {
            out[2 * p + h] = hsum_float_8(&lanes[8 * h..8 * h + 8]) + extra[2 * p + h];
        }
    }
    out
}

/// Q4_K × Q8_K for four weight rows (candle's `vec_dot_q4k_q8k`).
///
/// # Safety
/// AVX-512F/BW, AVX2, FMA and F16C; every row in `rows` lies in `w` (`kb` blocks per row).
#[target_feature(enable = "avx512f,avx512bw,avx2,fma,f16c")]
pub(super) unsafe fn q4k(w: &[u8], kb: usize, rows: [usize; GROUP], acts: &[u8]) -> [f32; GROUP] {
    const BYTES: usize = 144;
    assert!(rows.iter().all(|&r| (r + 1) * kb * BYTES <= w.len()) && acts.len() >= kb * Y_BYTES);
    let m4 = _mm512_set1_epi8(0xF);
    let shuf = unsafe { k4_shuffle() };
    let mut acc = [_mm512_setzero_ps(); P];
    let mut acc_m = [_mm256_setzero_ps(); P];
    let wp = w.as_ptr();
    for b in 0..kb {
        // SAFETY (all pointer reads): the assert above bounds every block read here.
        unsafe {
            let y = acts.as_ptr().add(b * Y_BYTES);
            let yd = f32_at(y);
            let q8sums = _mm256_loadu_si256(y.add(Y_BSUMS).cast());
            let q8s = _mm_hadd_epi16(
                _mm256_castsi256_si128(q8sums),
                _mm256_extracti128_si256::<1>(q8sums),
            );
            let q8s = _mm256_broadcastsi128_si256(q8s);
            let x: [*const u8; GROUP] = std::array::from_fn(|i| wp.add((rows[i] * kb + b) * BYTES));
            prefetch(wp.wrapping_add((rows[0] + GROUP) * kb * BYTES), b, BYTES);
            let mut scales = [_mm512_setzero_si512(); P];
            let mut sumi = [_mm512_setzero_si512(); P];
            let mut vd = [_mm512_setzero_ps(); P];
            for p in 0..P {
                let (xa, xb) = (x[2 * p], x[2 * p + 1]);
                let ((da, dma), (db, dmb)) = (f16_pair(xa), f16_pair(xb));
                let (ma, mb) = (mins_and_scales(xa.add(4)), mins_and_scales(xb.add(4)));
                let mins = _mm256_inserti128_si256::<1>(
                    _mm256_castsi128_si256(_mm256_extracti128_si256::<1>(ma)),
                    _mm256_extracti128_si256::<1>(mb),
                );
                let prod = _mm256_madd_epi16(mins, q8s);
                let dmin =
                    _mm256_blend_ps::<0xF0>(_mm256_set1_ps(-yd * dma), _mm256_set1_ps(-yd * dmb));
                acc_m[p] = _mm256_fmadd_ps(dmin, _mm256_cvtepi32_ps(prod), acc_m[p]);
                scales[p] = quad128(_mm256_castsi256_si128(ma), _mm256_castsi256_si128(mb));
                vd[p] = halves_ps(yd * da, yd * db);
            }
            for j in 0..4 {
                let q8l = bcast256(y.add(Y_QS + 64 * j));
                let q8h = bcast256(y.add(Y_QS + 64 * j + 32));
                for p in 0..P {
                    let scale_l = _mm512_shuffle_epi8(scales[p], shuf[2 * j]);
                    let scale_h = _mm512_shuffle_epi8(scales[p], shuf[2 * j + 1]);
                    let q4bits = pair256(x[2 * p].add(16 + 32 * j), x[2 * p + 1].add(16 + 32 * j));
                    let q4l = _mm512_and_si512(q4bits, m4);
                    let q4h = _mm512_and_si512(_mm512_srli_epi16::<4>(q4bits), m4);
                    let p16l = _mm512_madd_epi16(scale_l, _mm512_maddubs_epi16(q4l, q8l));
                    let p16h = _mm512_madd_epi16(scale_h, _mm512_maddubs_epi16(q4h, q8h));
                    sumi[p] = _mm512_add_epi32(sumi[p], _mm512_add_epi32(p16l, p16h));
                }
            }
            for p in 0..P {
                acc[p] = _mm512_fmadd_ps(vd[p], _mm512_cvtepi32_ps(sumi[p]), acc[p]);
            }
        }
    }
    // acc_m: lane0 = (m0 + m2) + (m1 + m3) per row, as candle's movehl/movehdup reduction.
    let mut extra = [0f32; GROUP];
    for p in 0..P {
        let mut m = [0f32; 8];
        unsafe { _mm256_storeu_ps(m.as_mut_ptr(), acc_m[p]) };
        for h in 0..2 {
            let m = &m[4 * h..4 * h + 4];
            extra[2 * p + h] = (m[0] + m[2]) + (m[1] + m[3]);
        }
    }
    unsafe { finish(&acc, extra) }
}

/// Q5_K × Q8_K for four weight rows (candle's `vec_dot_q5k_q8k`).
///
/// # Safety
/// As [`q4k`].
#[target_feature(enable = "avx512f,avx512bw,avx2,fma,f16c")]
pub(super) unsafe fn q5k(w: &[u8], kb: usize, rows: [usize; GROUP], acts: &[u8]) -> [f32; GROUP] {
    const BYTES: usize = 176;
    assert!(rows.iter().all(|&r| (r + 1) * kb * BYTES <= w.len()) && acts.len() >= kb * Y_BYTES);
    let m4 = _mm512_set1_epi8(0xF);
    let mone = _mm512_set1_epi8(1);
    let shuf = unsafe { k4_shuffle() };
    let mut acc = [_mm512_setzero_ps(); P];
    let mut summs = [0f32; GROUP];
    let wp = w.as_ptr();
    for b in 0..kb {
        // SAFETY (all pointer reads): the assert above bounds every block read here.
        unsafe {
            let y = acts.as_ptr().add(b * Y_BYTES);
            let yd = f32_at(y);
            let q8sums = _mm256_loadu_si256(y.add(Y_BSUMS).cast());
            let q8s = _mm_hadd_epi16(
                _mm256_castsi256_si128(q8sums),
                _mm256_extracti128_si256::<1>(q8sums),
            );
            let x: [*const u8; GROUP] = std::array::from_fn(|i| wp.add((rows[i] * kb + b) * BYTES));
            prefetch(wp.wrapping_add((rows[0] + GROUP) * kb * BYTES), b, BYTES);
            let mut scales = [_mm512_setzero_si512(); P];
            let mut hbits = [_mm512_setzero_si512(); P];
            let mut sumi = [_mm512_setzero_si512(); P];
            let mut vd = [_mm512_setzero_ps(); P];
            for p in 0..P {
                let mut sc = [_mm_setzero_si128(); 2];
                let mut d = [0f32; 2];
                for h in 0..2 {
                    let i = 2 * p + h;
                    let (dx, dmx) = f16_pair(x[i]);
                    let ms = mins_and_scales(x[i].add(4));
                    let prod = _mm_madd_epi16(_mm256_extracti128_si256::<1>(ms), q8s);
                    // The exact i32 sum of the four lanes (wrapping, as `_mm_hadd_epi32`).
                    let s = _mm_extract_epi32::<0>(prod)
                        .wrapping_add(_mm_extract_epi32::<1>(prod))
                        .wrapping_add(
                            _mm_extract_epi32::<2>(prod).wrapping_add(_mm_extract_epi32::<3>(prod)),
                        );
                    summs[i] += -yd * dmx * s as f32;
                    sc[h] = _mm256_castsi256_si128(ms);
                    d[h] = yd * dx;
                }
                scales[p] = quad128(sc[0], sc[1]);
                vd[p] = halves_ps(d[0], d[1]);
                hbits[p] = pair256(x[2 * p].add(16), x[2 * p + 1].add(16));
            }
            for j in 0..4 {
                let q8_0 = bcast256(y.add(Y_QS + 64 * j));
                let q8_1 = bcast256(y.add(Y_QS + 64 * j + 32));
                for p in 0..P {
                    let scale_0 = _mm512_shuffle_epi8(scales[p], shuf[2 * j]);
                    let scale_1 = _mm512_shuffle_epi8(scales[p], shuf[2 * j + 1]);
                    let q5bits = pair256(x[2 * p].add(48 + 32 * j), x[2 * p + 1].add(48 + 32 * j));
                    let sh0 = _mm_cvtsi32_si128(2 * j as i32);
                    let sh1 = _mm_cvtsi32_si128(2 * j as i32 + 1);
                    let h0 = _mm512_and_si512(_mm512_srl_epi16(hbits[p], sh0), mone);
                    let h1 = _mm512_and_si512(_mm512_srl_epi16(hbits[p], sh1), mone);
                    let q5_0 =
                        _mm512_add_epi8(_mm512_and_si512(q5bits, m4), _mm512_slli_epi16::<4>(h0));
                    let q5_1 = _mm512_add_epi8(
                        _mm512_and_si512(_mm512_srli_epi16::<4>(q5bits), m4),
                        _mm512_slli_epi16::<4>(h1),
                    );
                    let p16_0 = _mm512_madd_epi16(scale_0, _mm512_maddubs_epi16(q5_0, q8_0));
                    let p16_1 = _mm512_madd_epi16(scale_1, _mm512_maddubs_epi16(q5_1, q8_1));
                    sumi[p] = _mm512_add_epi32(sumi[p], _mm512_add_epi32(p16_0, p16_1));
                }
            }
            for p in 0..P {
                acc[p] = _mm512_fmadd_ps(vd[p], _mm512_cvtepi32_ps(sumi[p]), acc[p]);
            }
        }
    }
    unsafe { finish(&acc, summs) }
}

/// Q6_K × Q8_K for four weight rows (candle's `vec_dot_q6k_q8k`).
///
/// # Safety
/// As [`q4k`].
#[target_feature(enable = "avx512f,avx512bw,avx2,fma,f16c")]
pub(super) unsafe fn q6k(w: &[u8], kb: usize, rows: [usize; GROUP], acts: &[u8]) -> [f32; GROUP] {
    const BYTES: usize = 210;
    assert!(rows.iter().all(|&r| (r + 1) * kb * BYTES <= w.len()) && acts.len() >= kb * Y_BYTES);
    let m4 = _mm512_set1_epi8(0xF);
    let m2 = _mm512_set1_epi8(3);
    let m32s = _mm512_set1_epi8(32);
    let mut acc = [_mm512_setzero_ps(); P];
    let wp = w.as_ptr();
    for b in 0..kb {
        // SAFETY (all pointer reads): the assert above bounds every block read here.
        unsafe {
            let y = acts.as_ptr().add(b * Y_BYTES);
            let yd = f32_at(y);
            let x: [*const u8; GROUP] = std::array::from_fn(|i| wp.add((rows[i] * kb + b) * BYTES));
            prefetch(wp.wrapping_add((rows[0] + GROUP) * kb * BYTES), b, BYTES);
            let mut scales = [_mm256_setzero_si256(); P];
            let mut sumi = [_mm512_setzero_si512(); P];
            let mut vd = [_mm512_setzero_ps(); P];
            for p in 0..P {
                let (xa, xb) = (x[2 * p], x[2 * p + 1]);
                scales[p] = _mm256_inserti128_si256::<1>(
                    _mm256_castsi128_si256(_mm_loadu_si128(xa.add(192).cast())),
                    _mm_loadu_si128(xb.add(192).cast()),
                );
                let da = f16_at(xa.add(208));
                let db = f16_at(xb.add(208));
                vd[p] = halves_ps(yd * da, yd * db);
            }
            for j in 0..2 {
                let q8: [__m512i; 4] =
                    std::array::from_fn(|i| bcast256(y.add(Y_QS + 128 * j + 32 * i)));
                let q8s: [__m512i; 4] = std::array::from_fn(|i| _mm512_maddubs_epi16(m32s, q8[i]));
                for p in 0..P {
                    let (xa, xb) = (x[2 * p], x[2 * p + 1]);
                    // candle's get_scale_shuffle(4j + i): scale byte 2(4j+i) ×8, then 2(4j+i)+1 ×8.
                    let scale: [__m512i; 4] = std::array::from_fn(|i| {
                        let s = 2 * (4 * j + i) as u16;
                        let ctrl = _mm256_set1_epi64x((0x0101_0101_0101_0101u64 * s as u64) as i64);
                        let ctrl = _mm256_unpacklo_epi64(
                            ctrl,
                            _mm256_set1_epi64x((0x0101_0101_0101_0101u64 * (s as u64 + 1)) as i64),
                        );
                        _mm512_cvtepi8_epi16(_mm256_shuffle_epi8(scales[p], ctrl))
                    });
                    let q4bits1 = pair256(xa.add(64 * j), xb.add(64 * j));
                    let q4bits2 = pair256(xa.add(64 * j + 32), xb.add(64 * j + 32));
                    let q4bits_h = pair256(xa.add(128 + 32 * j), xb.add(128 + 32 * j));
                    let q4h_0 = _mm512_slli_epi16::<4>(_mm512_and_si512(q4bits_h, m2));
                    let q4h_1 = _mm512_slli_epi16::<4>(_mm512_and_si512(
                        _mm512_srli_epi16::<2>(q4bits_h),
                        m2,
                    ));
                    let q4h_2 = _mm512_slli_epi16::<4>(_mm512_and_si512(
                        _mm512_srli_epi16::<4>(q4bits_h),
                        m2,
                    ));
                    let q4h_3 = _mm512_slli_epi16::<4>(_mm512_and_si512(
                        _mm512_srli_epi16::<6>(q4bits_h),
                        m2,
                    ));
                    let q4_0 = _mm512_or_si512(_mm512_and_si512(q4bits1, m4), q4h_0);
                    let q4_1 = _mm512_or_si512(_mm512_and_si512(q4bits2, m4), q4h_1);
                    let q4_2 = _mm512_or_si512(
                        _mm512_and_si512(_mm512_srli_epi16::<4>(q4bits1), m4),
                        q4h_2,
                    );
                    let q4_3 = _mm512_or_si512(
                        _mm512_and_si512(_mm512_srli_epi16::<4>(q4bits2), m4),
                        q4h_3,
                    );
                    let q4 = [q4_0, q4_1, q4_2, q4_3];
                    let p16: [__m512i; 4] = std::array::from_fn(|i| {
                        let p = _mm512_sub_epi16(_mm512_maddubs_epi16(q4[i], q8[i]), q8s[i]);
                        _mm512_madd_epi16(scale[i], p)
                    });
                    sumi[p] = _mm512_add_epi32(sumi[p], _mm512_add_epi32(p16[0], p16[1]));
                    sumi[p] = _mm512_add_epi32(sumi[p], _mm512_add_epi32(p16[2], p16[3]));
                }
            }
            for p in 0..P {
                acc[p] = _mm512_fmadd_ps(vd[p], _mm512_cvtepi32_ps(sumi[p]), acc[p]);
            }
        }
    }
    unsafe { finish(&acc, [0.0; GROUP]) }
}
