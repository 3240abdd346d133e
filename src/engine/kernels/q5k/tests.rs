//! Bit-exactness of every Q5_K path against candle's `k_quants::matmul`.

use super::*;

super::super::tests::tile45_tests! {
    block: BlockQ5K,
    path: Q5kPath,
    entry: matmul_q5k,
    entry_with: matmul_q5k_with,
    from_bytes: q5k_blocks_from_bytes,
    words: Q5K_WORDS,
}
