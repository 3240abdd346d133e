//! [`super::q32`] against llama.cpp's x86 recipe written out in scalar Rust, against candle's
//! ports of ggml's AVX2 dot products (Q4_0, Q8_0), and against f32 products of the dequantized
//! weights.

use super::q32::{available, Format, Packed, QK};
use super::tests::rng;
use candle_core::quantized::k_quants::{
    BlockQ4_0, BlockQ4_1, BlockQ5_0, BlockQ5_1, BlockQ8_0, GgmlType,
};
use half::f16;

/// `n × k` weights of `B` from values in [-1, 1) scaled per row, as raw bytes.
fn weights<B: GgmlType>(n: usize, k: usize, seed: u64) -> (Vec<u8>, Vec<f32>) {
    let mut r = rng(seed);
    let w: Vec<f32> = (0..n * k)
        .map(|i| r() * (1.0 + (i / k % 5) as f32))
        .collect();
    let mut blocks = vec![B::zeros(); n * k / QK];
    B::from_float(&w, &mut blocks);
    let mut deq = vec![0f32; n * k];
    B::to_float(&blocks, &mut deq);
    // SAFETY: candle's block structs are `#[repr(C)]` plain data without padding.
    let bytes = unsafe {
        std::slice::from_raw_parts(
            blocks.as_ptr().cast::<u8>(),
            std::mem::size_of_val(&*blocks),
        )
    };
    (bytes.to_vec(), deq)
}

/// One activation block as llama.cpp's x86 `quantize_row_q8_1` makes it: (qs, d, s).
fn quantize_ref(x: &[f32]) -> ([i8; QK], f32, f32) {
    let max = x.iter().fold(0f32, |m, v| m.max(v.abs()));
    let d = max / 127.0;
    let id = if max != 0.0 { 127.0 / max } else { 0.0 };
    let ints: Vec<i32> = x
        .iter()
        .map(|v| (v * id).round_ties_even() as i32)
        .collect();
    let qs = std::array::from_fn(|i| ints[i].clamp(-128, 127) as i8);
    let sum: i32 = ints.iter().sum();
    let f = |v: f32| f16::from_f32(v).to_f32();
    (qs, f(d), f(d * sum as f32))
}

/// A weight block's (values, d, m) as ggml's `dequantize_row_*` reads it, values unscaled.
fn unpack_ref(format: Format, b: &[u8]) -> ([i32; QK], f32, f32) {
    let h = |at: usize| f16::from_le_bytes([b[at], b[at + 1]]).to_f32();
    let nib = |qs: &[u8], i: usize| (if i < 16 { qs[i] & 0xF } else { qs[i - 16] >> 4 }) as i32;
    let hi = |qh: &[u8], i: usize| ((u32::from_le_bytes(qh.try_into().unwrap()) >> i) & 1) as i32;
    let v = |f: &dyn Fn(usize) -> i32| std::array::from_fn(f);
    match format {
        Format::Q4_0 => (v(&|i| nib(&b[2..], i) - 8), h(0), 0.0),
        Format::Q4_1 => (v(&|i| nib(&b[4..], i)), h(0), h(2)),
        Format::Q5_0 => (
            v(&|i| (nib(&b[6..], i) | hi(&b[2..6], i) << 4) - 16),
            h(0),
            0.0,
        ),
        Format::Q5_1 => (v(&|i| nib(&b[8..], i) | hi(&b[4..8], i) << 4), h(0), h(2)),
        Format::Q8_0 => (v(&|i| b[2 + i] as i8 as i32), h(0), 0.0),
    }
}

/// ggml's AVX2 `ggml_vec_dot_*` in scalar: 8 lanes of 4 values, `fma(dw·da, lane, acc)` per
/// block, `hsum_float_8`, plus `Σ fma(m, s)` for the formats with a min.
fn dot_ref(format: Format, w: &[u8], x: &[f32]) -> f32 {
    let (mut acc, mut summs) = ([0f32; 8], 0f32);
    for (wb, xb) in w.chunks_exact(format.block_bytes()).zip(x.chunks_exact(QK)) {
        let (q, dw, mw) = unpack_ref(format, wb);
        let (a, da, s) = quantize_ref(xb);
        for (j, acc) in acc.iter_mut().enumerate() {
            let lane: i32 = (4 * j..4 * j + 4).map(|i| q[i] * a[i] as i32).sum();
            *acc = (dw * da).mul_add(lane as f32, *acc);
        }
        if format.has_min() {
            summs = mw.mul_add(s, summs);
        }
    }
    let r = [
        acc[4] + acc[0],
        acc[5] + acc[1],
        acc[6] + acc[2],
        acc[7] + acc[3],
    ];
    (r[0] + r[2]) + (r[1] + r[3]) + summs
}

fn acts(m: usize, k: usize, seed: u64) -> Vec<f32> {
    let mut r = rng(seed);
    let mut x: Vec<f32> = (0..m * k).map(|_| r() * 3.0).collect();
    if k >= 2 * QK {
        x[QK..2 * QK].fill(0.0); // an all-zero block
    }
    x
}

fn check<B: GgmlType>(format: Format, m: usize, n: usize, k: usize) {
    let (w, deq) = weights::<B>(n, k, (m * 13 + n * 7 + k) as u64);
    let x = acts(m, k, (m + n + k) as u64);
    let mut got = vec![f32::NAN; m * n];
    let packed = Packed::new(format, n, k, w.clone()).unwrap();
    packed.matmul(m, &x, &mut got).unwrap();
    let row_bytes = k / QK * format.block_bytes();
    let scale = deq.iter().map(|v| v.abs()).sum::<f32>() / deq.len() as f32 * 3.0;
    for i in 0..m {
        for j in 0..n {
            let (wr, xr) = (
                &w[j * row_bytes..(j + 1) * row_bytes],
                &x[i * k..(i + 1) * k],
            );
            let want = dot_ref(format, wr, xr);
            let g = got[i * n + j];
            assert_eq!(
                g.to_bits(),
                want.to_bits(),
                "{format:?} m={m} n={n} k={k} ({i},{j}): {g} vs {want}"
            );
            // And close to the f32 product of the dequantized weights (8-bit activations).
            let exact: f32 = deq[j * k..(j + 1) * k]
                .iter()
                .zip(xr)
                .map(|(a, b)| a * b)
                .sum();
            let tol = 0.02 * scale * (k as f32).sqrt();
            assert!(
                (g - exact).abs() <= tol,
                "{format:?} ({i},{j}): {g} vs f32 {exact}"
            );
        }
    }
    // Rows read back from the packed layout are candle's dequantization of the file's rows.
    let mut row = vec![0f32; k];
    for j in [0, n / 2, n - 1] {
        packed.dequantize_row(j, &mut row).unwrap();
        let want = &deq[j * k..(j + 1) * k];
        assert!(
            row.iter()
                .zip(want)
                .all(|(a, b)| a.to_bits() == b.to_bits()),
            "{format:?} row {j}"
        );
    }
    assert!(packed.dequantize_row(n, &mut row).is_err());
}

fn check_all<B: GgmlType>(format: Format) {
    if !available() {
        return;
    }
    for (m, n, k) in [
        (1, 4, 32),
        (1, 8, 64),
        (1, 36, 576),
        (2, 8, 64),
        (3, 16, 64),
        (4, 20, 96),
        (5, 12, 576),
        (6, 8, 128),
        (7, 8, 64),
    ] {
        check::<B>(format, m, n, k);
    }
    check::<B>(format, 37, 72, 1024); // several row blocks and tiles, over the pool
}

#[test]
fn q4_0_matches_ggml() {
    check_all::<BlockQ4_0>(Format::Q4_0);
}

#[test]
fn q4_1_matches_ggml() {
    check_all::<BlockQ4_1>(Format::Q4_1);
}

#[test]
fn q5_0_matches_ggml() {
    check_all::<BlockQ5_0>(Format::Q5_0);
}

#[test]
fn q5_1_matches_ggml() {
    check_all::<BlockQ5_1>(Format::Q5_1);
}

#[test]
fn q8_0_matches_ggml() {
    check_all::<BlockQ8_0>(Format::Q8_0);
}

/// Candle's `vec_dot` for Q4_0 and Q8_0 is its port of ggml's AVX2 code: fed our activation
/// blocks it gives our results bit for bit (an anchor for the order `dot_ref` writes out).
#[test]
fn q4_0_and_q8_0_equal_candles_avx2_port() {
    if !available() || !super::KernelPath::Avx2.available() {
        return;
    }
    fn run<B: GgmlType<VecDotType = BlockQ8_0>>(format: Format) {
        let (n, k) = (12, 320);
        let (w, _) = weights::<B>(n, k, 5);
        let x = acts(1, k, 6);
        let mut got = vec![0f32; n];
        let packed = Packed::new(format, n, k, w.clone()).unwrap();
        packed.matmul(1, &x, &mut got).unwrap();
        let mut ys = vec![BlockQ8_0::zeros(); k / QK];
        for (y, xb) in ys.iter_mut().zip(x.chunks_exact(QK)) {
            let (qs, d, _) = quantize_ref(xb);
            let mut bytes = f16::from_f32(d).to_le_bytes().to_vec();
            bytes.extend(qs.iter().map(|&q| q as u8));
            // SAFETY: BlockQ8_0 is `#[repr(C)]` {f16, [i8; 32]}, 34 bytes, any bit pattern.
            unsafe {
                std::ptr::copy_nonoverlapping(bytes.as_ptr(), (y as *mut BlockQ8_0).cast(), 34)
            };
        }
        let blocks: Vec<B> = w
            .chunks_exact(format.block_bytes())
            .map(|b| {
                let mut blk = B::zeros();
                // SAFETY: as above, for B's own block layout.
                unsafe {
                    std::ptr::copy_nonoverlapping(b.as_ptr(), (&mut blk as *mut B).cast(), b.len())
                };
                blk
            })
            .collect();
        for (j, g) in got.iter().enumerate() {
            let want = B::vec_dot(k, &blocks[j * k / QK..(j + 1) * k / QK], &ys);
            assert_eq!(
                g.to_bits(),
                want.to_bits(),
                "{format:?} row {j}: {g} vs {want}"
            );
        }
    }
    run::<BlockQ4_0>(Format::Q4_0);
    run::<BlockQ8_0>(Format::Q8_0);
}

/// Bad shapes are errors, not panics.
#[test]
fn shape_errors() {
    let w = vec![0u8; 4 * 18];
    assert!(
        Packed::new(Format::Q4_0, 4, 33, w.clone()).is_err(),
        "k not whole blocks"
    );
    assert!(
        Packed::new(Format::Q4_0, 2, 64, w.clone()).is_err(),
        "rows not whole groups"
    );
    assert!(
        Packed::new(Format::Q4_0, 4, 32, w[1..].to_vec()).is_err(),
        "short bytes"
    );
    if !available() {
        return;
    }
    let packed = Packed::new(Format::Q4_0, 4, 32, w).unwrap();
    assert!(packed.matmul(1, &[0.0; 31], &mut [0.0; 4]).is_err());
    assert!(packed.matmul(1, &[0.0; 32], &mut [0.0; 3]).is_err());
    let mut dst = [f32::NAN; 4];
    packed.matmul(1, &[0.0; 32], &mut dst).unwrap();
    assert_eq!(dst, [0.0; 4]);
}
