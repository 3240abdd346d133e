//! Feed-forward blocks: the SwiGLU MLP of dense models, and Mixtral's sparse mixture of
//! those MLPs (transformers `MixtralSparseMoeBlock`: softmax over all router logits, keep
//! the top-k, renormalize them to sum to one).

use std::sync::Arc;

use super::linear::Linear;
use candle_core::{bail, CpuStorage, InplaceOp2, Layout, Module, Result, Tensor};

use super::expert_usage::ExpertUsage;

/// `down(silu(gate(x)) * up(x))`.
#[derive(Debug, Clone)]
pub struct Mlp {
    gate: Linear,
    up: Linear,
    down: Linear,
}

impl Mlp {
    /// Builds the MLP from its three projections.
    pub fn new(gate: Linear, up: Linear, down: Linear) -> Self {
        Self { gate, up, down }
    }

    /// `x`: `(.., dim)` → `(.., dim)`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let gate = self.gate.forward(x)?;
        let up = self.up.forward(x)?;
        if gate.device().is_cpu() {
            // Two `(rows, ffn)` buffers alive instead of four.
            gate.inplace_op2(&up, &SiluTimes)?;
            drop(up);
            self.down.forward(&gate)
        } else {
            self.down.forward(&(gate.silu()? * up)?)
        }
    }
}

/// `gate ← silu(gate) · up` in place, with candle's `silu` formula (same bits).
struct SiluTimes;

impl InplaceOp2 for SiluTimes {
    fn name(&self) -> &'static str {
        "silu-times"
    }

    fn cpu_fwd(
        &self,
        s1: &mut CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<()> {
        let n = l1.shape().elem_count();
        let (CpuStorage::F32(gate), CpuStorage::F32(up)) = (s1, s2) else {
            bail!("silu-times: f32 tensors only");
        };
        if !l1.is_contiguous() || !l2.is_contiguous() || l2.shape().elem_count() != n {
            bail!("silu-times: gate {:?} and up {:?}", l1.shape(), l2.shape());
        }
        let gate = &mut gate[l1.start_offset()..l1.start_offset() + n];
        let up = &up[l2.start_offset()..l2.start_offset() + n];
        for (g, &u) in gate.iter_mut().zip(up) {
            *g = *g / (1.0 + (-*g).exp()) * u;
        }
        Ok(())
    }
}

/// A Mixtral MoE layer: a router and its experts. Both GGUF expert layouts load into this
/// one type (merged `_exps` tensors are split per expert at load time).
#[derive(Debug, Clone)]
pub struct SparseMoe {
    router: Linear,
    experts: Vec<Mlp>,
    top_k: usize,
    layer: usize,
    usage: Arc<ExpertUsage>,
}

impl SparseMoe {
    /// Builds the layer; `usage` receives per-expert token counts for `layer`.
    pub fn new(
        router: Linear,
        experts: Vec<Mlp>,
        top_k: usize,
        layer: usize,
        usage: Arc<ExpertUsage>,
    ) -> Self {
        Self {
            router,
            experts,
            top_k,
            layer,
            usage,
        }
    }

    /// `x`: `(batch, seq, dim)` → `(batch, seq, dim)`; `check` runs before each expert
    /// (an error stops the pass: a cancelled prompt stops within one expert's share).
    pub fn forward(
        &self,
        x: &Tensor,
        check: &mut dyn FnMut() -> crate::engine::Result<()>,
    ) -> crate::engine::Result<Tensor> {
        let (b, seq, dim) = x.dims3()?;
        let x = x.reshape((b * seq, dim))?;
        let probs = candle_nn::ops::softmax_last_dim(&self.router.forward(&x)?)?;
        let routes = route(&probs.to_vec2::<f32>()?, self.top_k);

        // Each row sums its experts' weighted outputs in expert order (as transformers'
        // index_add_ loop does), on the host: one pass instead of a copy of `out` per expert.
        let mut out = vec![0f32; b * seq * dim];
        for (e, expert) in self.experts.iter().enumerate() {
            let (rows, weights) = &routes[e];
            if rows.is_empty() {
                continue;
            }
            check()?;
            self.usage.record(self.layer, e, rows.len() as u64);
            let rows_t = Tensor::new(rows.as_slice(), x.device())?;
            let y = expert
                .forward(&x.index_select(&rows_t, 0)?)? // (n_e, dim)
                .flatten_all()?
                .to_vec1::<f32>()?;
            for ((&row, &w), y) in rows.iter().zip(weights).zip(y.chunks_exact(dim)) {
                let dst = &mut out[row as usize * dim..(row as usize + 1) * dim];
                for (d, &v) in dst.iter_mut().zip(y) {
                    *d += v * w;
                }
            }
        }
        Ok(Tensor::from_vec(out, (b, seq, dim), x.device())?)
    }
}

/// For each expert, the rows routed to it and their renormalized weights.
fn route(probs: &[Vec<f32>], top_k: usize) -> Vec<(Vec<u32>, Vec<f32>)> {
    let n_experts = probs.first().map_or(0, Vec::len);
    let mut routes = vec![(Vec::new(), Vec::new()); n_experts];
    let mut order: Vec<usize> = Vec::with_capacity(n_experts);
    for (row, p) in probs.iter().enumerate() {
        order.clear();
        order.extend(0..n_experts);
        // Highest probability first; ties keep the lower expert index, like torch.topk.
        order.sort_by(|&a, &b| p[b].total_cmp(&p[a]).then(a.cmp(&b)));
        let chosen = &order[..top_k.min(n_experts)];
        let sum: f32 = chosen.iter().map(|&e| p[e]).sum();
        for &e in chosen {
            routes[e].0.push(row as u32);
            routes[e].1.push(p[e] / sum);
        }
    }
    routes
}

#[cfg(test)]
mod tests {
    use super::{route, SiluTimes};
    use candle_core::{Device, Tensor};

    #[test]
    fn silu_times_in_place_has_candles_bits() {
        let gate: Vec<f32> = (0..999)
            .map(|i| ((i * 37 % 199) as f32 - 99.0) * 0.173)
            .collect();
        let mut gate_edges = gate.clone();
        gate_edges.extend([0.0, -0.0, 88.8, -88.8, 1e-30, f32::MAX, f32::MIN]);
        let up: Vec<f32> = (0..gate_edges.len())
            .map(|i| (i % 13) as f32 * 0.41 - 2.0)
            .collect();
        let dev = Device::Cpu;
        let g = Tensor::new(gate_edges.as_slice(), &dev).unwrap();
        let u = Tensor::new(up.as_slice(), &dev).unwrap();
        let expected = (g.silu().unwrap() * &u).unwrap().to_vec1::<f32>().unwrap();
        g.inplace_op2(&u, &SiluTimes).unwrap();
        let got = g.to_vec1::<f32>().unwrap();
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&got), bits(&expected));
        // Mismatched lengths are an error, not a partial write.
        let short = Tensor::new(&up[..3], &dev).unwrap();
        assert!(g.inplace_op2(&short, &SiluTimes).is_err());
    }

    #[test]
    fn routes_top_two_and_renormalizes() {
        let probs = vec![vec![0.1, 0.6, 0.2, 0.1], vec![0.4, 0.1, 0.1, 0.4]];
        let r = route(&probs, 2);
        assert_eq!(r[1].0, vec![0]);
        assert!((r[1].1[0] - 0.75).abs() < 1e-6);
        assert_eq!(r[2].0, vec![0]);
        // A tie between experts 0 and 3 keeps both, equally weighted.
        assert_eq!(r[0].0, vec![1]);
        assert_eq!(r[3].0, vec![1]);
        assert!((r[3].1[0] - 0.5).abs() < 1e-6);
    }
}
