//! Every Q6_K path against candle's `k_quants::matmul`: bit for bit, or (AVX-512 VNNI) to f32
//! rounding.

use super::super::tests::{assert_expected, check_entry, check_path, rng, Expect};
use super::*;
use candle_core::quantized::k_quants::matmul;

fn weights(n: usize, k: usize, seed: u64) -> Vec<BlockQ6K> {
    super::super::tests::weights(n, k, seed, |i| 1.0 + ((i / 16) % 7) as f32)
}

#[test]
fn scalar_matches_candle_bits() {
    check_path(matmul_inner, weights, Q6kPath::Scalar, Expect::Bits, false);
}

#[test]
fn avx2_matches_candle_bits() {
    check_path(matmul_inner, weights, Q6kPath::Avx2, Expect::Bits, true);
}

#[test]
fn avx512_vnni_matches_candle_to_rounding() {
    check_path(
        matmul_inner,
        weights,
        Q6kPath::Avx512Vnni,
        Expect::Rounding,
        true,
    );
}

#[test]
fn default_entry_matches_candle() {
    let shapes = [(1, 512, 35), (2, 256, 16), (5, 1024, 7), (17, 512, 50)];
    let expect = if Q6kPath::detect() == Q6kPath::Avx512Vnni {
        Expect::Rounding
    } else {
        Expect::Bits
    };
    check_entry(matmul_q6k, weights, expect, &shapes);
}

fn bits(x: &[f32]) -> Vec<u32> {
    x.iter().map(|v| v.to_bits()).collect()
}

/// Extreme inputs: all-zero activation blocks, a single spike (values quantize to ±127 and
/// 0), large magnitudes, and weights with every scale extreme.
#[test]
fn edge_inputs_match_candle() {
    let (m, k, n) = (6, 768, 19);
    let mut r = rng(3);
    let mut w: Vec<f32> = (0..n * k).map(|_| r()).collect();
    for (i, v) in w.iter_mut().enumerate() {
        if (i / 16) % 5 == 0 {
            *v *= 1000.0; // very different scales inside one block
        }
        if (i / 256) % 3 == 1 {
            *v = -v.abs(); // one-signed blocks
        }
    }
    let mut blocks = vec![BlockQ6K::zeros(); n * k / QK];
    BlockQ6K::from_float(&w, &mut blocks);
    let mut lhs: Vec<f32> = (0..m * k).map(|_| r() * 1e4).collect();
    lhs[k..k + 256].fill(0.0); // row 1, block 0: zero
    for v in &mut lhs[2 * k..3 * k] {
        *v = if v.abs() > 9e3 { *v } else { 0.0 };
    }
    lhs[3 * k + 5] = 1e30;
    for path in [Q6kPath::Scalar, Q6kPath::Avx2, Q6kPath::Avx512Vnni] {
        if !path.available() {
            continue;
        }
        let mut want = vec![0f32; m * n];
        matmul::<BlockQ6K>((m, k, n), &lhs, &blocks, &mut want).unwrap();
        let mut got = vec![0f32; m * n];
        matmul_q6k_with(path, m, k, n, &lhs, &blocks, &mut got).unwrap();
        if path == Q6kPath::Avx512Vnni {
            assert_expected(&got, &want, Expect::Rounding, "Avx512Vnni");
        } else {
            assert_eq!(bits(&got), bits(&want), "{path:?}");
        }
    }
}

#[test]
fn unpack_paths_agree() {
    let w = weights(4, 512, 13);
    for block in &w {
        let blk: &[u8; Q6K_BYTES] = as_bytes(std::slice::from_ref(block)).try_into().unwrap();
        #[cfg(target_arch = "x86_64")]
        x86::unpack_avx2_matches(blk);
        // The portable unpacking reproduces candle's dequantization.
        let (mut q, mut sc) = ([0u8; QK], [0i32; GROUPS]);
        unpack_row_generic(blk, &mut q, &mut sc, ScaleFmt::Lo);
        let mut deq = vec![0f32; QK];
        BlockQ6K::to_float(std::slice::from_ref(block), &mut deq);
        let d = w_d(blk);
        for p in 0..QK {
            let want = d * (sc[p / 4] as i16 as f32) * (q[p] as i32 - 32) as f32;
            assert_eq!(deq[p], want, "position {p}");
        }
    }
}

#[test]
fn blocks_from_bytes_round_trip() {
    let w = weights(3, 512, 9);
    let bytes = as_bytes(&w);
    let back = q6k_blocks_from_bytes(bytes).unwrap();
    assert_eq!(back, &w[..]);
    assert!(q6k_blocks_from_bytes(&bytes[..209]).is_err());
    assert!(q6k_blocks_from_bytes(&bytes[1..211]).is_err());
}

#[test]
fn bad_shapes_are_errors() {
    let w = weights(2, 256, 1);
    let lhs = vec![0f32; 512];
    let mut dst = vec![0f32; 4];
    assert!(matmul_q6k(1, 255, 2, &lhs[..255], &w, &mut dst[..2]).is_err());
    assert!(matmul_q6k(1, 256, 2, &lhs[..200], &w, &mut dst[..2]).is_err());
    assert!(matmul_q6k(1, 256, 3, &lhs[..256], &w, &mut dst[..3]).is_err());
    assert!(matmul_q6k(2, 256, 2, &lhs, &w, &mut dst[..3]).is_err());
    assert!(matmul_q6k(usize::MAX, 256, 2, &lhs, &w, &mut dst).is_err());
    assert!(matmul_q6k(2, usize::MAX - 255, 2, &lhs, &w, &mut dst).is_err());
    // Empty shapes are fine.
    assert!(matmul_q6k(0, 256, 2, &[], &w, &mut []).is_ok());
    let mut zero = vec![1f32; 4];
    assert!(matmul_q6k_with(Q6kPath::Scalar, 2, 0, 2, &[], &[], &mut zero).is_ok());
    assert_eq!(zero, [0.0; 4]);
}
