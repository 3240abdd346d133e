//! Matrix products against GGUF weights.
//!
//! Q4_K, Q5_K, Q6_K and Q8_0 weights are multiplied as stored, and the other 32-value block
//! types repacked in place at load, with activations quantized once per call to the type's
//! dot-product blocks exactly as ggml does: the K-quants through our tiled kernels
//! (`engine::kernels`, bit-identical to ggml's dot products); Q4_0, Q4_1, Q5_0, Q5_1 and Q8_0
//! through `kernels::q32` ([`Linear::Packed`], bit-identical too) on AVX-512 VNNI CPUs when
//! the rows come in fours, otherwise Q8_0 through candle's row kernel with Q8_0 activations
//! and the others through candle's `QMatMul`. candle's own x86 `QMatMul` would repack these
//! types into a second, interleaved copy kept beside the original (up to 2.4× the file in
//! RSS), and its repacked Q8_0 kernel quantizes activations to 256-wide Q8_K blocks, which
//! moves logits away from llama.cpp's on the same file. [`WeightKernels::Repacked`] opts back
//! into candle's repacked Q4_K/Q6_K kernels, trading memory for prompt speed. Every other
//! type goes through candle's `QMatMul` unchanged.

use std::cell::Cell;
use std::sync::Arc;

use candle_core::quantized::k_quants::{self, BlockQ4K, BlockQ5K, BlockQ6K, BlockQ8_0, GgmlType};
use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{CpuStorage, CustomOp1, Layout, Module, Result, Shape, Tensor};

use crate::engine::kernels::q32::Packed;
use crate::engine::kernels::{q4k, q5k, q6k, KernelPath};

/// Which kernels quantized weights use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum WeightKernels {
    /// Weights stay as the file stores them: resident memory ≈ the file's size.
    #[default]
    Compact,
    /// candle's repacked Q4_K/Q6_K copies (faster prompt processing, more memory).
    Repacked,
}

/// A weight matrix `(out, in)` applied as `x @ Wᵀ`.
#[derive(Debug, Clone)]
pub enum Linear {
    /// candle's quantized or dequantized matmul.
    Candle(QMatMul),
    /// Block dot products on the stored weights, activations quantized as ggml does.
    Compact(Arc<CompactMatmul>),
    /// A 32-value block type repacked at load for `kernels::q32`.
    Packed(Arc<Packed>),
    /// Float weights whose every output is one dot product in a fixed order, so a row's
    /// result never depends on how many rows came with it (see [`RowByRow`]).
    RowByRow(Arc<RowByRow>),
}

impl Linear {
    /// Chooses the kernel for the tensor's type. The tensor is shared, not copied (tied
    /// embeddings use one tensor as the embedding table and the output head).
    pub fn new(weights: Arc<QTensor>, kernels: WeightKernels) -> Result<Self> {
        let compact = weights.device().is_cpu()
            && match weights.dtype() {
                GgmlDType::Q8_0 | GgmlDType::Q5K => true,
                GgmlDType::Q4K | GgmlDType::Q6K => kernels == WeightKernels::Compact,
                _ => false,
            };
        if compact {
            Ok(Self::Compact(Arc::new(CompactMatmul(weights))))
        } else {
            Ok(Self::Candle(QMatMul::from_arc(weights)?))
        }
    }
}

impl Module for Linear {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        match self {
            Self::Candle(m) => m.forward(x),
            Self::Compact(op) => x.contiguous()?.apply_op1_no_bwd(op.as_ref()),
            Self::Packed(op) => x.contiguous()?.apply_op1_no_bwd(op.as_ref()),
            Self::RowByRow(op) => x.contiguous()?.apply_op1_no_bwd(op.as_ref()),
        }
    }
}

/// The weight tensor behind [`Linear::Compact`].
#[derive(Debug)]
pub struct CompactMatmul(Arc<QTensor>);

impl CustomOp1 for CompactMatmul {
    fn name(&self) -> &'static str {
        "compact-qmatmul"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let (n, k) = self.0.shape().dims2()?;
        let (lhs, m) = input_rows(storage, layout, k)?;
        let data = self.0.data()?;
        let mut dst = vec![0f32; m * n];
        match self.0.dtype() {
            GgmlDType::Q8_0 => matmul::<BlockQ8_0>(&data, (m, k, n), lhs, &mut dst)?,
            GgmlDType::Q4K => {
                let blocks = blocks::<BlockQ4K>(&data, k, n)?;
                if tiled_for_every_row() {
                    q4k::matmul_q4k_with(KernelPath::detect(), m, k, n, lhs, blocks, &mut dst)?
                } else {
                    q4k::matmul_q4k(m, k, n, lhs, blocks, &mut dst)?
                }
            }
            GgmlDType::Q6K => {
                let blocks = blocks::<BlockQ6K>(&data, k, n)?;
                if tiled_for_every_row() {
                    q6k::matmul_q6k_with(KernelPath::detect(), m, k, n, lhs, blocks, &mut dst)?
                } else {
                    q6k::matmul_q6k(m, k, n, lhs, blocks, &mut dst)?
                }
            }
            GgmlDType::Q5K => {
                let blocks = blocks::<BlockQ5K>(&data, k, n)?;
                if tiled_for_every_row() {
                    q5k::matmul_q5k_with(KernelPath::detect(), m, k, n, lhs, blocks, &mut dst)?
                } else {
                    q5k::matmul_q5k(m, k, n, lhs, blocks, &mut dst)?
                }
            }
            other => candle_core::bail!("qmatmul: no compact kernel for {other:?}"),
        }
        Ok((CpuStorage::F32(dst), output_shape(layout, n)))
    }
}

impl CustomOp1 for Packed {
    fn name(&self) -> &'static str {
        "packed-qmatmul"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let (n, k) = self.shape();
        let (lhs, m) = input_rows(storage, layout, k)?;
        let mut dst = vec![0f32; m * n];
        self.matmul(m, lhs, &mut dst)?;
        Ok((CpuStorage::F32(dst), output_shape(layout, n)))
    }
}

/// An `(n, k)` f32 matrix applied one dot product at a time. For the MoE router: a BLAS
/// product's per-row result changes in its last bits with the number of rows (its blocking
/// does), and near-equal router probabilities then pick other experts, so a prompt computed
/// in other chunks, beside other sequences or after a reused prefix would diverge. The
/// router is `n_experts × dim`, too small for the order to cost anything.
#[derive(Debug)]
pub struct RowByRow {
    weights: Vec<f32>,
    n: usize,
    k: usize,
}

impl RowByRow {
    /// `weights`: `n` rows of `k` values.
    pub fn new(weights: Vec<f32>, n: usize, k: usize) -> Result<Self> {
        if weights.len() != n * k {
            candle_core::bail!("row-by-row matmul: {} values for {n} × {k}", weights.len());
        }
        Ok(Self { weights, n, k })
    }
}

impl CustomOp1 for RowByRow {
    fn name(&self) -> &'static str {
        "row-by-row-matmul"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let (lhs, m) = input_rows(storage, layout, self.k)?;
        let mut dst = Vec::with_capacity(m * self.n);
        for x in lhs.chunks_exact(self.k) {
            dst.extend(self.weights.chunks_exact(self.k).map(|w| dot(x, w)));
        }
        Ok((CpuStorage::F32(dst), output_shape(layout, self.n)))
    }
}

/// `Σ a·b` in 16 interleaved partial sums, added up in order.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    const LANES: usize = 16;
    let mut acc = [0f32; LANES];
    let (xs, ys) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: f32 = xs
        .remainder()
        .iter()
        .zip(ys.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in xs.zip(ys) {
        for i in 0..LANES {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}

thread_local! {
    static TILED_FOR_EVERY_ROW: Cell<bool> = const { Cell::new(false) };
}

fn tiled_for_every_row() -> bool {
    TILED_FOR_EVERY_ROW.with(Cell::get)
}

/// Runs `f` (a forward pass, on this thread) with the K-quant products on their tiled path
/// whatever their row count when `tiled`. The one-row decode path rounds differently, and
/// inside a step an expert may get one row or many depending on what else the step
/// carries; so that a prompt's rows give the same bits however it was cut into steps (or
/// after a reused prefix), the steps that carry prompt tokens run every product tiled.
pub fn with_rows_tiled<T>(tiled: bool, f: impl FnOnce() -> T) -> T {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            TILED_FOR_EVERY_ROW.with(|c| c.set(self.0));
        }
    }
    let _restore = Restore(TILED_FOR_EVERY_ROW.with(|c| c.replace(tiled)));
    f()
}

/// The contiguous f32 input of a matmul op as `m` rows of `k` values.
fn input_rows<'a>(
    storage: &'a CpuStorage,
    layout: &Layout,
    k: usize,
) -> Result<(&'a [f32], usize)> {
    let dims = layout.shape().dims();
    if dims.last() != Some(&k) {
        candle_core::bail!("qmatmul: input {dims:?} does not end in {k}");
    }
    let m = layout.shape().elem_count() / k;
    match storage {
        CpuStorage::F32(v) => Ok((&v[layout.start_offset()..layout.start_offset() + m * k], m)),
        _ => candle_core::bail!("qmatmul: input must be f32"),
    }
}

/// The input's shape with its last dimension `n`.
fn output_shape(layout: &Layout, n: usize) -> Shape {
    let mut dims = layout.shape().dims().to_vec();
    if let Some(last) = dims.last_mut() {
        *last = n;
    }
    Shape::from(dims)
}

fn matmul<T: GgmlType>(
    data: &[u8],
    mkn: (usize, usize, usize),
    lhs: &[f32],
    dst: &mut [f32],
) -> Result<()> {
    let (_, k, n) = mkn;
    k_quants::matmul(mkn, lhs, blocks::<T>(data, k, n)?, dst)
}

/// The weight bytes of an `(n, k)` tensor as its blocks.
fn blocks<T: GgmlType>(data: &[u8], k: usize, n: usize) -> Result<&[T]> {
    let block_bytes = std::mem::size_of::<T>();
    if data.len() != n * k / T::BLCK_SIZE * block_bytes
        || !(data.as_ptr() as usize).is_multiple_of(std::mem::align_of::<T>())
    {
        candle_core::bail!("qmatmul: unexpected {:?} weight storage", T::DTYPE);
    }
    // SAFETY: `data` is the byte view of candle's own `Vec<T>` for this tensor; its length
    // and alignment were checked above, and the blocks are plain old data.
    Ok(unsafe { std::slice::from_raw_parts(data.as_ptr() as *const T, data.len() / block_bytes) })
}

#[cfg(test)]
mod tests {
    use super::RowByRow;
    use candle_core::{Device, Module, Tensor};

    /// Each row's outputs are the same bits whatever rows come with it, and the dot
    /// products of an f64 reference to f32 rounding.
    #[test]
    fn row_by_row_outputs_do_not_depend_on_the_other_rows() {
        let (n, k, m) = (8, 300, 5);
        let w: Vec<f32> = (0..n * k)
            .map(|i| ((i * 31 % 97) as f32 - 48.0) / 97.0)
            .collect();
        let x: Vec<f32> = (0..m * k)
            .map(|i| ((i * 17 % 89) as f32 - 44.0) / 89.0)
            .collect();
        let op =
            super::Linear::RowByRow(std::sync::Arc::new(RowByRow::new(w.clone(), n, k).unwrap()));
        let all = Tensor::from_vec(x.clone(), (m, k), &Device::Cpu).unwrap();
        let all = op.forward(&all).unwrap().to_vec2::<f32>().unwrap();
        for (r, got) in all.iter().enumerate() {
            let one = Tensor::from_slice(&x[r * k..(r + 1) * k], (1, k), &Device::Cpu).unwrap();
            let alone = op
                .forward(&one)
                .unwrap()
                .to_vec2::<f32>()
                .unwrap()
                .remove(0);
            assert_eq!(&alone, got, "row {r}");
            for (j, &v) in got.iter().enumerate() {
                let want: f64 = (0..k)
                    .map(|i| x[r * k + i] as f64 * w[j * k + i] as f64)
                    .sum();
                assert!(
                    (v as f64 - want).abs() < 1e-4,
                    "row {r} col {j}: {v} vs {want}"
                );
            }
        }
        assert!(RowByRow::new(vec![0.0; 5], 2, 3).is_err());
    }
}
