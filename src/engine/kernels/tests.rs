//! Test helpers shared by the kernels' bit-exactness tests.

use super::tiling::KernelPath;
use candle_core::quantized::k_quants::{matmul, GgmlType};
use candle_core::Result;

/// A small xorshift generator of values in [-1, 1).
pub(super) fn rng(seed: u64) -> impl FnMut() -> f32 {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
}

/// `n × k` random weights in format `B`, each value scaled by `scale(i)`.
pub(super) fn weights<B: GgmlType>(
    n: usize,
    k: usize,
    seed: u64,
    scale: impl Fn(usize) -> f32,
) -> Vec<B> {
    let mut r = rng(seed);
    let w: Vec<f32> = (0..n * k).map(|i| r() * scale(i)).collect();
    let mut blocks = vec![B::zeros(); n * k / 256];
    B::from_float(&w, &mut blocks);
    blocks
}

/// A format's tiled matmul with an optional forced row block (its `matmul_inner`).
pub(super) type Tiled<B> =
    fn(KernelPath, usize, usize, usize, &[f32], &[B], &mut [f32], Option<usize>) -> Result<()>;

/// A format's public entry point (`matmul_q4k` and the like).
pub(super) type Entry<B> = fn(usize, usize, usize, &[f32], &[B], &mut [f32]) -> Result<()>;

/// Largest |ours − candle| relative to max(|candle|, mean |candle|) (a result near zero
/// from cancellation is judged against the matrix's scale).
fn max_rel_err(ours: &[f32], theirs: &[f32]) -> f32 {
    let mean = theirs.iter().map(|x| x.abs()).sum::<f32>() / theirs.len().max(1) as f32;
    ours.iter()
        .zip(theirs)
        .map(|(a, b)| (a - b).abs() / b.abs().max(mean).max(f32::MIN_POSITIVE))
        .fold(0.0, f32::max)
}

/// `ours` equals candle's `k_quants::matmul` bit for bit. Candle reaches ggml's AVX2 dot
/// products (the order we reproduce) only on x86-64 with AVX2 + FMA; elsewhere it runs its
/// generic `vec_dot_unopt`, which sums in another order, so there we can only check
/// agreement to f32 rounding.
pub(super) fn assert_matches(ours: &[f32], theirs: &[f32], what: &str) {
    if cfg!(target_arch = "x86_64") && KernelPath::Avx2.available() {
        let bad = ours
            .iter()
            .zip(theirs)
            .position(|(a, b)| a.to_bits() != b.to_bits());
        if let Some(i) = bad {
            panic!(
                "{what}: element {i} of {}: {} (ours) != {} (candle), max rel err {}",
                ours.len(),
                ours[i],
                theirs[i],
                max_rel_err(ours, theirs)
            );
        }
    } else {
        let err = max_rel_err(ours, theirs);
        assert!(err <= 1e-5, "{what}: max rel err {err}");
    }
}

/// One m×k×n product of `tiled` on `path` against candle's.
fn check<B: GgmlType>(
    tiled: Tiled<B>,
    weights: fn(usize, usize, u64) -> Vec<B>,
    path: KernelPath,
    (m, k, n): (usize, usize, usize),
    row_block: Option<usize>,
) {
    let w = weights(n, k, (m * 31 + k * 7 + n) as u64);
    let mut r = rng(m as u64 + 99);
    let lhs: Vec<f32> = (0..m * k).map(|_| r() * 3.0).collect();
    let mut want = vec![0f32; m * n];
    matmul::<B>((m, k, n), &lhs, &w, &mut want).unwrap();
    let mut got = vec![f32::NAN; m * n];
    tiled(path, m, k, n, &lhs, &w, &mut got, row_block).unwrap();
    let what = format!("{path:?} m={m} k={k} n={n} rb={row_block:?}");
    assert_matches(&got, &want, &what);
}

/// Ragged shapes: column tiles and row blocks that do not divide evenly.
const SHAPES: &[(usize, usize, usize)] = &[
    (1, 256, 1),
    (1, 512, 17),
    (2, 256, 16),
    (3, 768, 33),
    (5, 256, 7),
    (8, 1024, 64),
    (9, 512, 48),
    (13, 256, 47),
    (16, 1024, 20),
    (31, 512, 35),
    (64, 256, 40),
    (70, 768, 20),
    (70, 1024, 31),
];

/// The grid every format's every path must match candle on: [`SHAPES`], then every m × k × n
/// of the grid below (those over 2^24 multiply-adds only when `full`: the scalar path is
/// slow), then several row blocks, including a ragged last one.
pub(super) fn check_path<B: GgmlType>(
    tiled: Tiled<B>,
    weights: fn(usize, usize, u64) -> Vec<B>,
    path: KernelPath,
    full: bool,
) {
    if !path.available() {
        eprintln!("skipping {path:?}: not supported by this CPU");
        return;
    }
    for &shape in SHAPES {
        check(tiled, weights, path, shape, None);
    }
    for k in [256, 1024] {
        for m in [1, 2, 3, 5, 8, 17, 64, 256] {
            for n in [1, 7, 16, 33, 1024] {
                if full || m * n * k <= 1 << 24 {
                    check(tiled, weights, path, (m, k, n), None);
                }
            }
        }
    }
    check(tiled, weights, path, (37, 512, 33), Some(8));
    check(tiled, weights, path, (37, 512, 33), Some(16));
}

/// `entry` (which picks its own path) against candle on `shapes`.
pub(super) fn check_entry<B: GgmlType>(
    entry: Entry<B>,
    weights: fn(usize, usize, u64) -> Vec<B>,
    shapes: &[(usize, usize, usize)],
) {
    for &(m, k, n) in shapes {
        let w = weights(n, k, 5);
        let mut r = rng(7);
        let lhs: Vec<f32> = (0..m * k).map(|_| r()).collect();
        let mut want = vec![0f32; m * n];
        matmul::<B>((m, k, n), &lhs, &w, &mut want).unwrap();
        let mut got = vec![0f32; m * n];
        entry(m, k, n, &lhs, &w, &mut got).unwrap();
        assert_matches(&got, &want, &format!("entry m={m} k={k} n={n}"));
    }
}
