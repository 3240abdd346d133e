//! Grouped-query self-attention with rotary embeddings, as in Mistral/Mixtral
//! (transformers `MixtralAttention`; llama.cpp `build_attn` with NORM rope on the
//! GGUF's permuted q/k rows, hence the interleaved `rope_i`).

use super::linear::Linear;
use candle_core::{Device, Module, Result, Tensor};

use super::kv_cache::KvCache;

/// One attention block's projections and head layout.
#[derive(Debug, Clone)]
pub struct Attention {
    wq: Linear,
    wk: Linear,
    wv: Linear,
    wo: Linear,
    n_heads: usize,
    n_kv_heads: usize,
    head_dim: usize,
}

impl Attention {
    /// Builds the block from its four projections.
    pub fn new(
        wq: Linear,
        wk: Linear,
        wv: Linear,
        wo: Linear,
        n_heads: usize,
        n_kv_heads: usize,
        head_dim: usize,
    ) -> Self {
        Self {
            wq,
            wk,
            wv,
            wo,
            n_heads,
            n_kv_heads,
            head_dim,
        }
    }

    /// `x`: `(batch, seq, dim)` at positions `cache.len()..`; returns `(batch, seq, dim)`.
    pub fn forward(
        &self,
        x: &Tensor,
        layer: usize,
        cos: &Tensor,
        sin: &Tensor,
        cache: &mut KvCache,
    ) -> Result<Tensor> {
        let (b, seq, _) = x.dims3()?;
        let (h, kvh, hd) = (self.n_heads, self.n_kv_heads, self.head_dim);
        let n_rep = h / kvh;
        let start = cache.len();

        let heads = |w: &Linear, n: usize| -> Result<Tensor> {
            // (b, seq, n * hd) -> (b, n, seq, hd)
            w.forward(x)?
                .reshape((b, seq, n, hd))?
                .transpose(1, 2)?
                .contiguous()
        };
        let q = candle_nn::rotary_emb::rope_i(&heads(&self.wq, h)?, cos, sin)?;
        let k = candle_nn::rotary_emb::rope_i(&heads(&self.wk, kvh)?, cos, sin)?;
        let v = heads(&self.wv, kvh)?;
        let (k_all, v_all) = cache.append(layer, &k, &v)?; // (b, kvh, total, hd)
        let total = start + seq;

        // Query heads sharing a kv head are stacked along the row axis, so no kv copies:
        // (b, h, seq, hd) -> (b, kvh, n_rep * seq, hd).
        let q = q.reshape((b, kvh, n_rep * seq, hd))?;
        let scale = 1.0 / (hd as f64).sqrt();
        let mut scores = (q.matmul(&k_all.t()?)? * scale)?; // (b, kvh, n_rep * seq, total)
        if seq > 1 {
            let mask = causal_mask(n_rep, seq, start, total, x.device())?;
            scores = scores.broadcast_add(&mask)?;
        }
        let probs = candle_nn::ops::softmax_last_dim(&scores)?;
        let out = probs.matmul(&v_all)?; // (b, kvh, n_rep * seq, hd)
        let out = out
            .reshape((b, h, seq, hd))?
            .transpose(1, 2)?
            .reshape((b, seq, h * hd))?;
        self.wo.forward(&out)
    }
}

/// `(n_rep * seq, total)`: row `r` is query `r % seq` at position `start + r % seq`,
/// which may see keys `0..=start + r % seq`.
fn causal_mask(
    n_rep: usize,
    seq: usize,
    start: usize,
    total: usize,
    device: &Device,
) -> Result<Tensor> {
    let mut mask = Vec::with_capacity(n_rep * seq * total);
    for _ in 0..n_rep {
        for i in 0..seq {
            let visible = start + i + 1;
            mask.extend((0..total).map(|j| if j < visible { 0f32 } else { f32::NEG_INFINITY }));
        }
    }
    Tensor::from_vec(mask, (n_rep * seq, total), device)
}
