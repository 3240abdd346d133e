//! The token embedding table: candle's quantized table, or (tied embeddings whose type
//! `kernels::q32` repacks) the output head's packed matrix read row by row, so the file's
//! largest tensor is held once.

use std::sync::Arc;

use candle_core::quantized::QTensor;
use candle_core::{Result, Tensor};

use crate::engine::kernels::q32::Packed;

#[derive(Debug, Clone)]
pub enum Embeddings {
    Table(Arc<QTensor>),
    Packed(Arc<Packed>),
}

impl Embeddings {
    /// The rows of `ids` (`(batch, seq)` u32) as `(batch, seq, dim)` f32.
    pub fn forward(&self, ids: &Tensor) -> Result<Tensor> {
        let packed = match self {
            Self::Table(table) => return table.embedding(ids),
            Self::Packed(packed) => packed,
        };
        let (batch, seq) = ids.dims2()?;
        let (_, dim) = packed.shape();
        let flat = ids.flatten_all()?.to_vec1::<u32>()?;
        let mut out = vec![0f32; flat.len() * dim];
        for (&id, row) in flat.iter().zip(out.chunks_exact_mut(dim)) {
            packed.dequantize_row(id as usize, row)?;
        }
        Tensor::from_vec(out, (batch, seq, dim), ids.device())
    }
}
