//! Grouped-query self-attention with rotary embeddings, as in Mistral/Mixtral
//! (transformers `MixtralAttention`; llama.cpp `build_attn` with NORM rope on the
//! GGUF's permuted q/k rows, hence the interleaved `rope_i`).

use super::linear::Linear;
use crate::engine::kernels::attention::{causal_attention, Dims, Segment};
use candle_core::{bail, CpuStorage, Device, Layout, Module, Result, Storage, Tensor};

use super::kv_cache::KvCache;
use super::rope::Rope;

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
        let out = self.attend(&q, &k, &v, layer, cache)?;
        self.wo.forward(&out)
    }

    /// The new rows of several sequences, one after another in `x` (`(1, rows, dim)`):
    /// projections over all rows at once; rotary positions, cache writes and attention per
    /// sequence, `parts[i]` (first row, rows) over `caches[i]`, each a one-row cache.
    pub fn forward_parts(
        &self,
        x: &Tensor,
        layer: usize,
        parts: &[(usize, usize)],
        caches: &mut [&mut KvCache],
        rope: &Rope,
    ) -> Result<Tensor> {
        let (h, kvh, hd) = (self.n_heads, self.n_kv_heads, self.head_dim);
        let (q_all, k_all, v_all) = (
            self.wq.forward(x)?,
            self.wk.forward(x)?,
            self.wv.forward(x)?,
        );
        let mut outs = Vec::with_capacity(parts.len());
        for (&(first, rows), cache) in parts.iter().zip(caches.iter_mut()) {
            let heads = |t: &Tensor, n: usize| -> Result<Tensor> {
                t.narrow(1, first, rows)?
                    .reshape((1, rows, n, hd))?
                    .transpose(1, 2)?
                    .contiguous()
            };
            let (cos, sin) = rope.cos_sin(cache.len(), rows, x.device())?;
            let q = candle_nn::rotary_emb::rope_i(&heads(&q_all, h)?, &cos, &sin)?;
            let k = candle_nn::rotary_emb::rope_i(&heads(&k_all, kvh)?, &cos, &sin)?;
            let v = heads(&v_all, kvh)?;
            outs.push(self.attend(&q, &k, &v, layer, cache)?);
        }
        self.wo.forward(&Tensor::cat(&outs, 1)?)
    }

    /// Writes `k`, `v` (`(b, kvh, seq, hd)`) into `cache` and attends `q` (`(b, h, seq, hd)`)
    /// over everything cached: `(b, seq, h · hd)`.
    fn attend(
        &self,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        layer: usize,
        cache: &mut KvCache,
    ) -> Result<Tensor> {
        let start = cache.len();
        let segments = cache.append(layer, k, v)?; // each (b, kvh, len, hd)
        if q.device().is_cpu() {
            // Tiled, online softmax: no score matrix or mask is ever materialized.
            self.tiled(q, &segments)
        } else {
            let (ks, vs): (Vec<Tensor>, Vec<Tensor>) = segments.into_iter().unzip();
            let (k_all, v_all) = (Tensor::cat(&ks, 2)?, Tensor::cat(&vs, 2)?);
            self.materialized(q, &k_all, &v_all, start)
        }
    }

    /// `kernels::attention` over the cache's segments, read in place.
    fn tiled(&self, q: &Tensor, segments: &[(Tensor, Tensor)]) -> Result<Tensor> {
        let (b, h, seq, hd) = q.dims4()?;
        let q = q.contiguous()?;
        let (qs, ql) = q.storage_and_layout();
        let guards: Vec<_> = segments
            .iter()
            .map(|(k, v)| (k.storage_and_layout(), v.storage_and_layout()))
            .collect();
        let mut parts = Vec::with_capacity(guards.len());
        for ((ks, kl), (vs, vl)) in &guards {
            let (_, kvh, len, _) = kl.shape().dims4()?;
            let rows_contiguous = kl.stride()[2..] == [hd, 1];
            if kvh != self.n_kv_heads || kl.shape() != vl.shape() {
                bail!(
                    "attention: q {:?}, k {:?}, v {:?}",
                    ql.shape(),
                    kl.shape(),
                    vl.shape()
                );
            }
            if !rows_contiguous || kl.stride() != vl.stride() {
                bail!("attention: strides {:?} / {:?}", kl.stride(), vl.stride());
            }
            parts.push(Segment {
                k: f32s(ks, kl)?,
                v: f32s(vs, vl)?,
                len,
                kv_head_stride: kl.stride()[1],
                kv_batch_stride: kl.stride()[0],
            });
        }
        let dims = Dims {
            batch: b,
            heads: h,
            kv_heads: self.n_kv_heads,
            head_dim: hd,
            seq,
            total: parts.iter().map(|p| p.len).sum(),
            scale: 1.0 / (hd as f32).sqrt(),
        };
        let q = &f32s(&qs, ql)?[..b * h * seq * hd];
        let mut out = vec![0f32; q.len()];
        causal_attention(q, &parts, dims, &mut out)?;
        Tensor::from_vec(out, (b, seq, h * hd), &Device::Cpu)
    }

    /// Attention through whole score matrices (devices without the tiled kernel).
    fn materialized(&self, q: &Tensor, k: &Tensor, v: &Tensor, start: usize) -> Result<Tensor> {
        let (b, h, seq, hd) = q.dims4()?;
        let kvh = self.n_kv_heads;
        let n_rep = h / kvh;
        let total = start + seq;
        // Query heads sharing a kv head are stacked along the row axis, so no kv copies:
        // (b, h, seq, hd) -> (b, kvh, n_rep * seq, hd).
        let q = q.reshape((b, kvh, n_rep * seq, hd))?;
        let scale = 1.0 / (hd as f64).sqrt();
        let mut scores = (q.matmul(&k.t()?)? * scale)?; // (b, kvh, n_rep * seq, total)
        if seq > 1 {
            let mask = causal_mask(n_rep, seq, start, total, q.device())?;
            scores = scores.broadcast_add(&mask)?;
        }
        let probs = candle_nn::ops::softmax_last_dim(&scores)?;
        probs
            .matmul(v)? // (b, kvh, n_rep * seq, hd)
            .reshape((b, h, seq, hd))?
            .transpose(1, 2)?
            .reshape((b, seq, h * hd))
    }
}

/// The f32 values of a CPU tensor's storage from its layout's offset on.
fn f32s<'a>(s: &'a Storage, l: &Layout) -> Result<&'a [f32]> {
    match s {
        Storage::Cpu(CpuStorage::F32(v)) => Ok(&v[l.start_offset()..]),
        _ => bail!("attention: f32 tensors on the CPU only"),
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
