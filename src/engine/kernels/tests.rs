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

/// How closely a path must reproduce candle's `k_quants::matmul`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Expect {
    /// Bit for bit (the paths that keep ggml's AVX2 float order).
    Bits,
    /// To f32 rounding: the same exact integer sums, another float order.
    Rounding,
}

/// Largest relative error a [`Expect::Rounding`] path may show against candle.
const ROUNDING: f32 = 1e-5;

/// `ours` against candle's `k_quants::matmul` as `expect` says.
pub(super) fn assert_expected(ours: &[f32], theirs: &[f32], expect: Expect, what: &str) {
    match expect {
        Expect::Bits => assert_matches(ours, theirs, what),
        Expect::Rounding => {
            let err = max_rel_err(ours, theirs);
            assert!(err <= ROUNDING, "{what}: max rel err {err} > {ROUNDING}");
        }
    }
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
        assert!(err <= ROUNDING, "{what}: max rel err {err}");
    }
}

/// One m×k×n product of `tiled` on `path` against candle's.
fn check<B: GgmlType>(
    tiled: Tiled<B>,
    weights: fn(usize, usize, u64) -> Vec<B>,
    path: KernelPath,
    expect: Expect,
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
    assert_expected(&got, &want, expect, &what);
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
    expect: Expect,
    full: bool,
) {
    if !path.available() {
        eprintln!("skipping {path:?}: not supported by this CPU");
        return;
    }
    for &shape in SHAPES {
        check(tiled, weights, path, expect, shape, None);
    }
    for k in [256, 1024] {
        for m in [1, 2, 3, 5, 8, 17, 64, 256] {
            for n in [1, 7, 16, 33, 1024] {
                if full || m * n * k <= 1 << 24 {
                    check(tiled, weights, path, expect, (m, k, n), None);
                }
            }
        }
    }
    check(tiled, weights, path, expect, (37, 512, 33), Some(8));
    check(tiled, weights, path, expect, (37, 512, 33), Some(16));
}

/// `entry` (which picks its own path) against candle on `shapes`.
pub(super) fn check_entry<B: GgmlType>(
    entry: Entry<B>,
    weights: fn(usize, usize, u64) -> Vec<B>,
    expect: Expect,
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
        assert_expected(&got, &want, expect, &format!("entry m={m} k={k} n={n}"));
    }
}

/// The bit-exactness tests of a Q4_K/Q5_K-style format (see [`super::tile45`]), expanded in
/// the format's `tests` module (`use super::*;` there resolves every name).
macro_rules! tile45_tests {
    (
        block: $block:ty,
        path: $path:ident,
        entry: $entry:ident,
        entry_with: $entry_with:ident,
        from_bytes: $from_bytes:ident,
        words: $words:ident $(,)?
    ) => {
        use super::super::tests::{check_entry, check_path, Expect};
        use super::super::tile45::{fill_raw, Format, Kernel, Raw};
        use super::super::tiling::{as_bytes, SyncPtr};

        fn weights(n: usize, k: usize, seed: u64) -> Vec<$block> {
            super::super::tests::weights(n, k, seed, |_| 1.0)
        }

        #[test]
        fn scalar_matches_candle() {
            check_path(matmul_inner, weights, $path::Scalar, Expect::Bits, true);
        }

        #[test]
        fn avx2_matches_candle() {
            check_path(matmul_inner, weights, $path::Avx2, Expect::Bits, true);
        }

        #[test]
        fn avx512_vnni_matches_candle_to_rounding() {
            check_path(
                matmul_inner,
                weights,
                $path::Avx512Vnni,
                Expect::Rounding,
                true,
            );
        }

        #[test]
        fn default_entry_matches_candle() {
            let shapes = [
                (1, 512, 35),
                (1, 256, 1024),
                (2, 256, 7),
                (4, 256, 16),
                (17, 512, 50),
            ];
            let expect = if $path::detect() == $path::Avx512Vnni {
                Expect::Rounding
            } else {
                Expect::Bits
            };
            check_entry($entry, weights, expect, &shapes);
        }

        /// Each path's tile unpacking equals the portable one, including a ragged column tile.
        #[test]
        fn prepare_paths_agree() {
            let (n, k) = (21, 512);
            let w = weights(n, k, 3);
            let bsp = [[0i32; 4]; 0];
            let ctx = Ctx {
                m: 0,
                n,
                kb: k / QK,
                w: as_bytes(&w),
                acts: &[],
                aux: &bsp,
                row_block: 1,
                n_col_tiles: n.div_ceil(NR),
                dst: SyncPtr(std::ptr::null_mut()),
            };
            let mut raw = Raw::<$words>::zeroed();
            for (c0, nc) in [(0, 16), (16, 5)] {
                for b in 0..k / QK {
                    let mut want = Tile::zeroed();
                    fill_raw(ctx.w, ctx.kb, c0, nc, b, &mut raw);
                    <Fmt as Format<$words>>::unpack(&raw, &mut want);
                    let mut tiles = vec![];
                    #[cfg(target_arch = "x86_64")]
                    if $path::Avx512Vnni.available() {
                        let mut t = Tile::zeroed();
                        // SAFETY: the features were just checked.
                        unsafe { x86::prepare512(&ctx, c0, nc, b, &mut raw, &mut t) };
                        tiles.push(t);
                    }
                    #[cfg(target_arch = "x86_64")]
                    if $path::Avx2.available() {
                        let mut t = Tile::zeroed();
                        // SAFETY: the features were just checked.
                        unsafe {
                            <x86::Avx2Kernel as Kernel<$words>>::prepare(
                                &ctx, c0, nc, b, &mut raw, &mut t,
                            )
                        };
                        tiles.push(t);
                    }
                    for t in tiles {
                        for lane in 0..nc {
                            let col =
                                |x: &[[u32; NR]]| x.iter().map(|r| r[lane]).collect::<Vec<_>>();
                            let coli =
                                |x: &[[i32; NR]]| x.iter().map(|r| r[lane]).collect::<Vec<_>>();
                            assert_eq!(col(&t.qs), col(&want.qs), "qs lane {lane} b {b}");
                            assert_eq!(coli(&t.sc), coli(&want.sc), "sc lane {lane}");
                            assert_eq!(coli(&t.mn), coli(&want.mn), "mn lane {lane}");
                            assert_eq!(t.d[lane], want.d[lane]);
                            assert_eq!(t.dmin[lane], want.dmin[lane]);
                        }
                    }
                }
            }
        }

        #[test]
        fn blocks_from_bytes_round_trip() {
            let w = weights(3, 512, 9);
            let bytes = as_bytes(&w);
            let back = $from_bytes(bytes).unwrap();
            assert_eq!(back, &w[..]);
            let size = 4 * $words;
            assert!($from_bytes(&bytes[..size - 1]).is_err());
            assert!($from_bytes(&bytes[1..size + 1]).is_err());
        }

        #[test]
        fn bad_shapes_are_errors() {
            let w = weights(2, 256, 1);
            let lhs = vec![0f32; 256];
            let mut dst = vec![0f32; 2];
            assert!($entry(1, 255, 2, &lhs[..255], &w, &mut dst).is_err());
            assert!($entry(1, 256, 2, &lhs[..200], &w, &mut dst).is_err());
            assert!($entry(1, 256, 3, &lhs, &w, &mut dst).is_err());
            assert!($entry(1, 256, 2, &lhs, &w, &mut dst[..1]).is_err());
            assert!($entry(usize::MAX, 256, 2, &lhs, &w, &mut dst).is_err());
            // Empty shapes are fine.
            assert!($entry(0, 256, 2, &[], &w, &mut []).is_ok());
            let mut zero = vec![1f32; 2];
            assert!($entry_with($path::Scalar, 1, 0, 2, &[], &[], &mut zero).is_ok());
            assert_eq!(zero, [0.0, 0.0]);
        }
    };
}
pub(super) use tile45_tests;
