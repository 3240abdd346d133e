//! Bit-exactness of every Q4_K path against candle's `k_quants::matmul`.

use super::super::tests::{check_entry, check_path};
use super::*;

fn weights(n: usize, k: usize, seed: u64) -> Vec<BlockQ4K> {
    super::super::tests::weights(n, k, seed, |_| 1.0)
}

#[test]
fn scalar_matches_candle() {
    check_path(matmul_inner, weights, Q4kPath::Scalar, true);
}

#[test]
fn avx2_matches_candle() {
    check_path(matmul_inner, weights, Q4kPath::Avx2, true);
}

#[test]
fn avx512_vnni_matches_candle() {
    check_path(matmul_inner, weights, Q4kPath::Avx512Vnni, true);
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
    check_entry(matmul_q4k, weights, &shapes);
}

fn empty_tile() -> Tile {
    Tile {
        qs: [[0; NR]; 64],
        sc: [[0; NR]; 8],
        mn: [[0; NR]; 4],
        d: [0.0; NR],
        dmin: [0.0; NR],
    }
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
    let mut raw = Raw([[0; NR]; Q4K_WORDS]);
    for (c0, nc) in [(0, 16), (16, 5)] {
        for b in 0..k / QK {
            let mut want = empty_tile();
            fill_raw(ctx.w, ctx.kb, c0, nc, b, &mut raw);
            unpack(&raw, &mut want);
            let mut tiles = vec![];
            #[cfg(target_arch = "x86_64")]
            if Q4kPath::Avx512Vnni.available() {
                let mut t = empty_tile();
                // SAFETY: the features were just checked.
                unsafe { x86::prepare_avx512(&ctx, c0, nc, b, &mut raw, &mut t) };
                tiles.push(t);
            }
            #[cfg(target_arch = "x86_64")]
            if Q4kPath::Avx2.available() {
                let mut t = empty_tile();
                // SAFETY: the features were just checked.
                unsafe { x86::prepare_avx2(&ctx, c0, nc, b, &mut raw, &mut t) };
                tiles.push(t);
            }
            for t in tiles {
                for lane in 0..nc {
                    let col = |x: &[[u32; NR]]| x.iter().map(|r| r[lane]).collect::<Vec<_>>();
                    let coli = |x: &[[i32; NR]]| x.iter().map(|r| r[lane]).collect::<Vec<_>>();
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
    let back = q4k_blocks_from_bytes(bytes).unwrap();
    assert_eq!(back, &w[..]);
    assert!(q4k_blocks_from_bytes(&bytes[..143]).is_err());
    assert!(q4k_blocks_from_bytes(&bytes[1..145]).is_err());
}

#[test]
fn bad_shapes_are_errors() {
    let w = weights(2, 256, 1);
    let lhs = vec![0f32; 256];
    let mut dst = vec![0f32; 2];
    assert!(matmul_q4k(1, 255, 2, &lhs[..255], &w, &mut dst).is_err());
    assert!(matmul_q4k(1, 256, 2, &lhs[..200], &w, &mut dst).is_err());
    assert!(matmul_q4k(1, 256, 3, &lhs, &w, &mut dst).is_err());
    assert!(matmul_q4k(1, 256, 2, &lhs, &w, &mut dst[..1]).is_err());
    assert!(matmul_q4k(usize::MAX, 256, 2, &lhs, &w, &mut dst).is_err());
    // Empty shapes are fine.
    assert!(matmul_q4k(0, 256, 2, &[], &w, &mut []).is_ok());
    let mut zero = vec![1f32; 2];
    assert!(matmul_q4k_with(Q4kPath::Scalar, 1, 0, 2, &[], &[], &mut zero).is_ok());
    assert_eq!(zero, [0.0, 0.0]);
}
