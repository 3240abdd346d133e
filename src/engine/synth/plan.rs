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
    /// The shape of `preset`.
    pub(super) fn of(preset: SynthPreset) -> Self {
        let common = |dim, ffn, layers, heads, kv_heads, context, scales| Self {
            dim,
            ffn,
            layers,
            heads,
            kv_heads,
            experts: 8,
            experts_used: 2,
            context,
            rope_base: 1.0e6,
            rms_eps: 1.0e-5,
            scales,
        };
        match preset {
            SynthPreset::Tiny => common(
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
            SynthPreset::Bench => common(
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

/// The storage type llama.cpp's quantizer picks for `role` in `layer` (for a model with
/// 8 experts, where `attn_k`/`attn_v` go to Q8_0).
fn dtype_for(quant: SynthQuant, role: Role, layer: usize, layers: usize) -> GgmlDType {
    use GgmlDType::*;
    if matches!(role, Role::Norm | Role::Router) {
        return F32;
    }
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
            Role::AttnK | Role::AttnV => Q8_0,
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
                Role::AttnK | Role::AttnV => Q8_0,
                Role::AttnOut => Q5K,
                Role::FfnDown if use_more_bits(layer, layers) => Q6K,
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
    let kv_dim = shape.kv_heads * shape.head_dim();
    // A tensor made of one matrix: its rows are all dimensions but the innermost.
    let single = |key: String, role: Role, layer: usize, dims: Vec<usize>, std: f32| {
        let cols = dims.last().copied().unwrap_or(1);
        let rows = dims.iter().product::<usize>() / cols.max(1);
        let mean = if role == Role::Norm { 1.0 } else { 0.0 };
        TensorPlan {
            name: format!("{key}.weight"),
            shape: dims,
            dtype: dtype_for(quant, role, layer, shape.layers),
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
        ];
        for (name, role, dims, std) in dense {
            out.push(single(format!("{p}.{name}"), role, l, dims, std));
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
                    dtype: dtype_for(quant, role, l, shape.layers),
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
        let shape = ModelShape::of(SynthPreset::Tiny);
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
            dtype_for(SynthQuant::Q4KM, Role::FfnDown, 1, 2),
            GgmlDType::Q6K
        );
        assert_eq!(
            dtype_for(SynthQuant::Q4KM, Role::FfnDown, 0, 2),
            GgmlDType::Q4K
        );
        assert_eq!(
            dtype_for(SynthQuant::Q5KM, Role::FfnUp, 1, 2),
            GgmlDType::Q5K
        );
        assert_eq!(
            dtype_for(SynthQuant::Q8_0, Role::Router, 0, 2),
            GgmlDType::F32
        );
    }
}
