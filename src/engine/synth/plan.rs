//! What a synthetic file holds: the model shape of each preset, the tensors with their
//! names, shapes and storage types (llama.cpp's quantization mixes), and the weight
//! matrices each tensor is generated from.

use candle_core::quantized::GgmlDType;

use super::{ExpertLayout, SynthPreset, SynthQuant};

/// Standard deviation of the small noise added to the norms' weights of 1.0.
const NORM_NOISE_STD: f32 = 0.02;

/// Per-group standard deviations of the random weights (as in `refs/README.md`).
#[derive(Debug, Clone, Copy)]
pub(super) struct Scales {
    /// `token_embd`.
    embed: f32,
    /// The router `ffn_gate_inp`.
    router: f32,
    /// `attn_q` and `attn_k`.
    query_key: f32,
    /// The experts' `ffn_down`.
    down: f32,
    /// `output` (the LM head).
    output: f32,
    /// Everything else: `attn_v`, `attn_output`, the experts' `ffn_gate` / `ffn_up`.
    other: f32,
}

/// The hyper-parameters of a preset (Mixtral architecture).
#[derive(Debug, Clone, Copy)]
pub(super) struct ModelShape {
    /// Hidden size.
    pub dim: usize,
    /// Expert MLP hidden size.
    pub ffn: usize,
    /// Decoder layers.
    pub layers: usize,
    /// Query heads.
    pub heads: usize,
    /// Key/value heads.
    pub kv_heads: usize,
    /// Experts per layer.
    pub experts: usize,
    /// Experts routed per token.
    pub experts_used: usize,
    /// Context length written to the metadata: the tiny model's is short, so tests reach
    /// it; the bench model's is Mixtral's.
    pub context: usize,
    /// RoPE frequency base.
    pub rope_base: f32,
    /// RMS-norm epsilon.
    pub rms_eps: f32,
    /// Weight scales.
    pub scales: Scales,
}

impl ModelShape {
    /// The shape of `preset`, with `layers` in place of its layer count when given.
    pub(super) fn of(preset: SynthPreset, layers: Option<usize>) -> Self {
        let moe = |dim, ffn, n_layers: usize, heads, kv_heads, context, scales| Self {
            dim,
            ffn,
            layers: layers.unwrap_or(n_layers),
            heads,
            kv_heads,
            experts: 8,
            experts_used: 2,
            context,
            rope_base: 1.0e6,
            rms_eps: 1.0e-5,
            scales,
        };
        // Weight scales shrink with the width (≈ 1/√dim) so activations stay in range.
        let real_size = Scales {
            embed: 0.05,
            router: 0.075,
            query_key: 0.0175,
            down: 0.0075,
            output: 0.0875,
            other: 0.005,
        };
        match preset {
            SynthPreset::Tiny => moe(
                256,
                512,
                2,
                8,
                2,
                4096,
                Scales {
                    embed: 0.05,
                    router: 0.30,
                    query_key: 0.07,
                    down: 0.04,
                    output: 0.35,
                    other: 0.02,
                },
            ),
            SynthPreset::Bench => moe(
                1024,
                3584,
                4,
                16,
                4,
                32768,
                Scales {
                    embed: 0.05,
                    router: 0.15,
                    query_key: 0.035,
                    down: 0.015,
                    output: 0.175,
                    other: 0.01,
                },
            ),
            SynthPreset::Mixtral => moe(4096, 14336, 2, 32, 8, 32768, real_size),
            SynthPreset::Mistral7b => Self {
                experts: 0,
                experts_used: 0,
                ..moe(4096, 14336, 2, 32, 8, 32768, real_size)
            },
        }
    }

    /// Per-head dimension.
    pub(super) fn head_dim(&self) -> usize {
        self.dim / self.heads
    }
}

/// What a tensor is, which decides its storage type and weight scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    TokenEmbd,
    Output,
    Norm,
    Router,
    AttnQ,
    AttnK,
    AttnV,
    AttnOut,
    FfnGate,
    FfnUp,
    FfnDown,
}

/// One 2-D weight matrix, the unit of generation: its values depend only on the seed,
/// `key` and the chunk index, so a merged expert tensor and its per-expert slices are
/// made of the same matrices.
#[derive(Debug, Clone)]
pub(super) struct Matrix {
    /// Stream name (`blk.0.ffn_up.3`), independent of the expert layout.
    pub key: String,
    /// Rows (outer dimension).
    pub rows: usize,
    /// Columns (ggml's `ne0`, contiguous; whole quantization blocks).
    pub cols: usize,
    /// Mean of the values (1.0 for norms).
    pub mean: f32,
    /// Standard deviation of the values.
    pub std: f32,
}

/// One tensor of the output file.
#[derive(Debug, Clone)]
pub(super) struct TensorPlan {
    /// GGUF tensor name.
    pub name: String,
    /// Shape in candle order (outermost first).
    pub shape: Vec<usize>,
    /// Storage type.
    pub dtype: GgmlDType,
    /// The matrices whose bytes, concatenated, are the tensor's data.
    pub parts: Vec<Matrix>,
}

impl TensorPlan {
    /// Element count.
    pub(super) fn elems(&self) -> usize {
        self.shape.iter().product()
    }

    /// Size of the tensor's data in bytes.
    pub(super) fn bytes(&self) -> usize {
        self.elems() / self.dtype.block_size() * self.dtype.type_size()
    }
}

/// llama.cpp's `use_more_bits`: the layers whose `ffn_down` gets Q6_K in the `_M` mixes.
fn use_more_bits(layer: usize, layers: usize) -> bool {
    layer < layers / 8 || layer >= 7 * layers / 8 || (layer - layers / 8) % 3 == 2
}

/// The storage type llama.cpp's quantizer picks for `role` in `layer` (`llama_tensor_get_type`;
/// `moe`: a model with 8 experts, where `attn_k`/`attn_v` go to Q8_0).
fn dtype_for(quant: SynthQuant, role: Role, layer: usize, layers: usize, moe: bool) -> GgmlDType {
    use GgmlDType::*;
    if matches!(role, Role::Norm | Role::Router) {
        return F32;
    }
    let more_bits = use_more_bits(layer, layers);
    match quant {
        SynthQuant::F32 => F32,
        SynthQuant::F16 => F16,
        SynthQuant::Q8_0 => Q8_0,
        SynthQuant::Q4_0
        | SynthQuant::Q4_1
        | SynthQuant::Q5_0
        | SynthQuant::Q5_1
        | SynthQuant::Q6K => match role {
            Role::Output => Q6K,
            Role::AttnK | Role::AttnV if moe => Q8_0,
            _ => match quant {
                SynthQuant::Q4_0 => Q4_0,
                SynthQuant::Q4_1 => Q4_1,
                SynthQuant::Q5_0 => Q5_0,
                SynthQuant::Q5_1 => Q5_1,
                _ => Q6K,
            },
        },
        SynthQuant::Q5KM | SynthQuant::Q4KM => {
            let base = if quant == SynthQuant::Q5KM { Q5K } else { Q4K };
            match role {
                Role::Output => Q6K,
                Role::AttnK | Role::AttnV if moe => Q8_0,
                Role::AttnV if more_bits => Q6K,
                Role::AttnOut if moe && quant == SynthQuant::Q4KM => Q5K,
                Role::FfnDown if more_bits => Q6K,
                _ => base,
            }
        }
    }
}

/// The tensors of a synthetic file, in file order.
pub(super) fn tensors(
    shape: &ModelShape,
    vocab: usize,
    quant: SynthQuant,
    layout: ExpertLayout,
) -> Vec<TensorPlan> {
    let s = shape.scales;
    let (d, f, n_exp) = (shape.dim, shape.ffn, shape.experts);
    let moe = n_exp == 8;
    let kv_dim = shape.kv_heads * shape.head_dim();
    // A tensor made of one matrix: its rows are all dimensions but the innermost.
    let single = |key: String, role: Role, layer: usize, dims: Vec<usize>, std: f32| {
        let cols = dims.last().copied().unwrap_or(1);
        let rows = dims.iter().product::<usize>() / cols.max(1);
        let mean = if role == Role::Norm { 1.0 } else { 0.0 };
        TensorPlan {
            name: format!("{key}.weight"),
            shape: dims,
            dtype: dtype_for(quant, role, layer, shape.layers, moe),
            parts: vec![Matrix {
                key,
                rows,
                cols,
                mean,
                std,
            }],
        }
    };

    let mut out = vec![single(
        "token_embd".into(),
        Role::TokenEmbd,
        0,
        vec![vocab, d],
        s.embed,
    )];
    for l in 0..shape.layers {
        let p = format!("blk.{l}");
        let dense = [
            ("attn_norm", Role::Norm, vec![d], NORM_NOISE_STD),
            ("attn_q", Role::AttnQ, vec![d, d], s.query_key),
            ("attn_k", Role::AttnK, vec![kv_dim, d], s.query_key),
            ("attn_v", Role::AttnV, vec![kv_dim, d], s.other),
            ("attn_output", Role::AttnOut, vec![d, d], s.other),
            ("ffn_norm", Role::Norm, vec![d], NORM_NOISE_STD),
            ("ffn_gate_inp", Role::Router, vec![n_exp, d], s.router),
            ("ffn_gate", Role::FfnGate, vec![f, d], s.other),
            ("ffn_up", Role::FfnUp, vec![f, d], s.other),
            ("ffn_down", Role::FfnDown, vec![d, f], s.down),
        ];
        for (name, role, dims, std) in dense {
            // A dense model has one feed-forward block and no router; a MoE one its experts.
            let keep = match role {
                Role::Router => n_exp > 0,
                Role::FfnGate | Role::FfnUp | Role::FfnDown => n_exp == 0,
                _ => true,
            };
            if keep {
                out.push(single(format!("{p}.{name}"), role, l, dims, std));
            }
        }
        if n_exp == 0 {
            continue;
        }
        let experts = [
            ("ffn_gate", Role::FfnGate, f, d, s.other),
            ("ffn_up", Role::FfnUp, f, d, s.other),
            ("ffn_down", Role::FfnDown, d, f, s.down),
        ];
        for (kind, role, rows, cols, std) in experts {
            let key = |e: usize| format!("{p}.{kind}.{e}");
            match layout {
                ExpertLayout::Merged => out.push(TensorPlan {
                    name: format!("{p}.{kind}_exps.weight"),
                    shape: vec![n_exp, rows, cols],
                    dtype: dtype_for(quant, role, l, shape.layers, moe),
                    parts: (0..n_exp)
                        .map(|e| Matrix {
                            key: key(e),
                            rows,
                            cols,
                            mean: 0.0,
                            std,
                        })
                        .collect(),
                }),
                ExpertLayout::PerExpert => {
                    out.extend((0..n_exp).map(|e| single(key(e), role, l, vec![rows, cols], std)));
                }
            }
        }
    }
    out.push(single(
        "output_norm".into(),
        Role::Norm,
        0,
        vec![d],
        NORM_NOISE_STD,
    ));
    out.push(single(
        "output".into(),
        Role::Output,
        0,
        vec![vocab, d],
        s.output,
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiny_has_the_reference_parameter_count() {
        let shape = ModelShape::of(SynthPreset::Tiny, None);
        let plan = tensors(&shape, 32000, SynthQuant::F16, ExpertLayout::Merged);
        let params: usize = plan.iter().map(TensorPlan::elems).sum();
        assert_eq!(params, 23_008_512);
        assert_eq!(plan.len(), 3 + 2 * 10);
    }

    #[test]
    fn down_projection_gets_more_bits_like_llama_cpp() {
        // tiny (2 layers): only layer 1; bench (4 layers): layers 2 and 3.
        assert_eq!(
            (0..2).filter(|&l| use_more_bits(l, 2)).collect::<Vec<_>>(),
            vec![1]
        );
        assert_eq!(
            (0..4).filter(|&l| use_more_bits(l, 4)).collect::<Vec<_>>(),
            vec![2, 3]
        );
        assert_eq!(
            dtype_for(SynthQuant::Q4KM, Role::FfnDown, 1, 2, true),
            GgmlDType::Q6K
        );
        assert_eq!(
            dtype_for(SynthQuant::Q4KM, Role::FfnDown, 0, 2, true),
            GgmlDType::Q4K
        );
        assert_eq!(
            dtype_for(SynthQuant::Q5KM, Role::FfnUp, 1, 2, true),
            GgmlDType::Q5K
        );
        assert_eq!(
            dtype_for(SynthQuant::Q8_0, Role::Router, 0, 2, true),
            GgmlDType::F32
        );
    }

    #[test]
    fn real_size_presets_have_mixtral_and_mistral_shapes() {
        let mixtral = ModelShape::of(SynthPreset::Mixtral, None);
        let plan = tensors(&mixtral, 32000, SynthQuant::Q5KM, ExpertLayout::Merged);
        let params: usize = plan.iter().map(TensorPlan::elems).sum();
        // Embedding + output (2 × 32000 × 4096) + per layer attention (2 × 4096² + 2 × 4096 ×
        // 1024), router, 8 × 3 × 4096 × 14336 experts and two norms, plus the final norm.
        let layer = 2 * 4096 * 4096 + 2 * 4096 * 1024 + 8 * 4096 + 8 * 3 * 4096 * 14336 + 2 * 4096;
        assert_eq!(params, 2 * 32000 * 4096 + 2 * layer + 4096);
        let find = |plan: &[TensorPlan], name: &str| {
            plan.iter()
                .find(|t| t.name == name)
                .cloned()
                .unwrap_or_else(|| panic!("{name}"))
        };
        assert_eq!(
            find(&plan, "blk.1.ffn_up_exps.weight").shape,
            vec![8, 14336, 4096]
        );
        assert_eq!(find(&plan, "blk.0.attn_v.weight").dtype, GgmlDType::Q8_0);

        let dense = ModelShape::of(SynthPreset::Mistral7b, Some(3));
        assert_eq!((dense.layers, dense.experts), (3, 0));
        let plan = tensors(&dense, 32000, SynthQuant::Q5KM, ExpertLayout::Merged);
        assert!(plan
            .iter()
            .all(|t| !t.name.contains("ffn_gate_inp") && !t.name.contains("exps")));
        assert_eq!(
            find(&plan, "blk.2.ffn_down.weight").shape,
            vec![4096, 14336]
        );
        // llama.cpp's dense Q5_K_M: Q6_K attn_v and ffn_down where `use_more_bits`, the rest Q5_K.
        assert_eq!(find(&plan, "blk.2.attn_v.weight").dtype, GgmlDType::Q6K);
        assert_eq!(find(&plan, "blk.1.attn_v.weight").dtype, GgmlDType::Q5K);
        assert_eq!(find(&plan, "blk.1.attn_k.weight").dtype, GgmlDType::Q5K);
        assert_eq!(find(&plan, "blk.2.ffn_down.weight").dtype, GgmlDType::Q6K);
        assert_eq!(find(&plan, "blk.0.ffn_down.weight").dtype, GgmlDType::Q5K);
        assert_eq!(
            find(&plan, "blk.1.attn_output.weight").dtype,
            GgmlDType::Q5K
        );
    }
}
