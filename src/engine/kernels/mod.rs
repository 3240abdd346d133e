//! Hand-written CPU kernels for the quantized formats candle has no fast path for.
//!
//! - [`q5k`]: Q5_K weights × f32 activations (quantized to Q8_K), the matmul behind every
//!   projection of a Q5_K_M GGUF. Candle runs Q5_K one activation row at a time; this kernel
//!   unpacks each weight super-block once and uses it against many activation rows.
//! - [`q4k`]: the same for Q4_K (Q4_K_M GGUFs), with Q4_K's own float recipe for the mins.
//! - [`q6k`]: the same for Q6_K (output projections, some `ffn_down` experts).
//! - `gemv`: the decode path (m below `MIN_TILED_ROWS`) of all three on AVX-512 CPUs: ggml's
//!   AVX2 dot product for two weight rows per 512-bit register, weights prefetched as one
//!   sequential stream. Elsewhere those calls go to candle's row-at-a-time kernel.
//!
//! - [`q32`]: the 32-value block formats (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0) on AVX-512 VNNI CPUs,
//!   prompt and decode alike, bit-identical to llama.cpp's x86 dot products.
//!
//! - [`attention`]: causal grouped-query attention in 64-key tiles with an online softmax.
//!
//! The K-quant decode kernels, and the scalar and AVX2 prompt kernels, give results
//! bit-identical to ggml's AVX2 dot products (and candle's ports of them). The AVX-512 VNNI
//! prompt kernels of Q4_K/Q5_K (`tile45_vnni`) keep ggml's exact integer sums in another float
//! order (one `vpdpbusd` per 4 values, one float scale per sub-block): twice as fast, within f32
//! rounding of ggml, and the engine's parity checks against llama.cpp hold unchanged. The
//! model runs every step that carries prompt tokens on the tiled paths, however few rows a
//! product gets, so that a prompt rounds the same however it is batched.

pub mod attention;
#[cfg(target_arch = "x86_64")]
mod attention_x86;
mod gemv;
#[cfg(target_arch = "x86_64")]
mod gemv_x86;
pub mod q32;
#[cfg(test)]
mod q32_tests;
#[cfg(target_arch = "x86_64")]
mod q32_x86;
pub mod q4k;
pub mod q5k;
pub mod q6k;
mod q8k;
#[cfg(test)]
mod tests;
mod tile45;
#[cfg(target_arch = "x86_64")]
mod tile45_vnni;
#[cfg(target_arch = "x86_64")]
mod tile_x86;
mod tiling;

pub use gemv::available as decode_path_available;
pub use tiling::KernelPath;
