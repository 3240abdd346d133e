//! Test helpers shared by the kernels' bit-exactness tests.

use candle_core::quantized::k_quants::GgmlType;

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
