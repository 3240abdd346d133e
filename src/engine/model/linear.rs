//! Matrix products against GGUF weights. Most types go through candle's `QMatMul`; Q8_0
//! goes through ggml's own scheme (activations quantized to Q8_0 blocks of 32) because
//! candle's x86 repacked Q8_0 kernel quantizes activations to 256-wide Q8_K blocks, which
//! moves logits away from llama.cpp's on the same file.

use std::sync::Arc;

use candle_core::quantized::k_quants::{self, BlockQ8_0};
use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{CpuStorage, CustomOp1, Layout, Module, Result, Shape, Tensor};

/// A weight matrix `(out, in)` applied as `x @ Wᵀ`.
#[derive(Debug, Clone)]
pub enum Linear {
    /// candle's quantized or dequantized matmul.
    Candle(QMatMul),
    /// Q8_0 weights with Q8_0-quantized activations, as ggml computes them.
    Q8_0(Arc<Q8_0Matmul>),
}

impl Linear {
    /// Chooses the kernel for the tensor's type.
    pub fn new(weights: QTensor) -> Result<Self> {
        if weights.dtype() == GgmlDType::Q8_0 && weights.device().is_cpu() {
            Ok(Self::Q8_0(Arc::new(Q8_0Matmul(weights))))
        } else {
            Ok(Self::Candle(QMatMul::from_qtensor(weights)?))
        }
    }
}

impl Module for Linear {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        match self {
            Self::Candle(m) => m.forward(x),
            Self::Q8_0(op) => x.contiguous()?.apply_op1_no_bwd(op.as_ref()),
        }
    }
}

/// The Q8_0 weight tensor behind [`Linear::Q8_0`].
#[derive(Debug)]
pub struct Q8_0Matmul(QTensor);

impl CustomOp1 for Q8_0Matmul {
    fn name(&self) -> &'static str {
        "q8_0-matmul"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let (n, k) = self.0.shape().dims2()?;
        let dims = layout.shape().dims();
        if dims.last() != Some(&k) {
            candle_core::bail!("q8_0 matmul: input {dims:?} does not end in {k}");
        }
        let m = layout.shape().elem_count() / k;
        let lhs = match storage {
            CpuStorage::F32(v) => &v[layout.start_offset()..layout.start_offset() + m * k],
            _ => candle_core::bail!("q8_0 matmul: input must be f32"),
        };
        let data = self.0.data()?;
        let block_bytes = std::mem::size_of::<BlockQ8_0>();
        if data.len() != n * k / 32 * block_bytes
            || !(data.as_ptr() as usize).is_multiple_of(std::mem::align_of::<BlockQ8_0>())
        {
            candle_core::bail!("q8_0 matmul: unexpected weight storage");
        }
        // SAFETY: the storage is candle's own Vec<BlockQ8_0> (length and alignment checked).
        let blocks = unsafe {
            std::slice::from_raw_parts(data.as_ptr() as *const BlockQ8_0, data.len() / block_bytes)
        };
        let mut dst = vec![0f32; m * n];
        k_quants::matmul((m, k, n), lhs, blocks, &mut dst)?;
        let mut out_dims = dims.to_vec();
        if let Some(last) = out_dims.last_mut() {
            *last = n;
        }
        Ok((CpuStorage::F32(dst), Shape::from(out_dims)))
    }
}
