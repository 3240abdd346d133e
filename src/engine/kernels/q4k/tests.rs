//! Bit-exactness of every Q4_K path against candle's `k_quants::matmul`.

use super::*;

super::super::tests::tile45_tests! {
    block: BlockQ4K,
    path: Q4kPath,
    entry: matmul_q4k,
    entry_with: matmul_q4k_with,
    from_bytes: q4k_blocks_from_bytes,
    words: Q4K_WORDS,
}
