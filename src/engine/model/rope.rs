//! Rotary position embeddings computed for the positions a forward pass needs: no table,
//! so no cap on the context length.

use candle_core::{Device, Result, Tensor};

/// Inverse frequencies of the rotary embedding, `base^(-2i/head_dim)`.
#[derive(Debug, Clone)]
pub struct Rope {
    inv_freq: Vec<f64>,
}

impl Rope {
    /// Rotary embedding for heads of `head_dim` with base frequency `base`.
    pub fn new(head_dim: usize, base: f32) -> Self {
        let inv_freq = (0..head_dim / 2)
            .map(|i| 1.0 / (base as f64).powf(2.0 * i as f64 / head_dim as f64))
            .collect();
        Self { inv_freq }
    }

    /// `(cos, sin)`, each `(seq_len, head_dim / 2)`, for positions `start..start + seq_len`.
    pub fn cos_sin(
        &self,
        start: usize,
        seq_len: usize,
        device: &Device,
    ) -> Result<(Tensor, Tensor)> {
        let half = self.inv_freq.len();
        let mut cos = Vec::with_capacity(seq_len * half);
        let mut sin = Vec::with_capacity(seq_len * half);
        for pos in start..start + seq_len {
            for f in &self.inv_freq {
                let angle = pos as f64 * f;
                cos.push(angle.cos() as f32);
                sin.push(angle.sin() as f32);
            }
        }
        Ok((
            Tensor::from_vec(cos, (seq_len, half), device)?,
            Tensor::from_vec(sin, (seq_len, half), device)?,
        ))
    }
}
