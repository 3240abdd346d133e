//! `sofer model synth`: writes a deterministic random-weight Mixtral GGUF, laid out
//! exactly as llama.cpp's converter and quantizer write one (architecture `llama`, the
//! Mistral v1 SentencePiece vocabulary, llama.cpp's per-tensor quantization mixes), so
//! tests and benchmarks need no downloaded model.
//!
//! The weights depend only on the seed and each weight matrix's name; a merged
//! `ffn_*_exps` tensor is the concatenation of the same matrices that the per-expert
//! layout stores as `ffn_*.E`, so both layouts of one spec hold the same model.

mod encode;
mod plan;
mod rng;
mod writer;

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use self::plan::{ModelShape, TensorPlan};
use self::writer::{GgufWriter, Meta};
use super::error::{EngineError, Result};
use super::sp_model::{mistral_v1_pieces, SpPiece};

/// The model size to synthesize.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SynthPreset {
    /// dim 256, ffn 512, 2 layers, 8 heads / 2 kv heads, 8 experts top-2, context 4096
    /// (23 M params).
    Tiny,
    /// dim 1024, ffn 3584, 4 layers, 16 heads / 4 kv heads, 8 experts top-2, context 32768
    /// (428 M params).
    Bench,
    /// Mixtral-8x7B's dimensions (dim 4096, ffn 14336, 32 heads / 8 kv heads, 8 experts
    /// top-2, vocab 32000, rope base 1e6, context 32768) with 2 layers (3.1 G params).
    Mixtral,
    /// Mistral-7B's dimensions, dense (the DictaLM / Hebrew-Mistral class), with 2 layers
    /// (0.6 G params).
    Mistral7b,
}

impl FromStr for SynthPreset {
    type Err = EngineError;

    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "tiny" => Ok(Self::Tiny),
            "bench" => Ok(Self::Bench),
            "mixtral" => Ok(Self::Mixtral),
            "mistral-7b" => Ok(Self::Mistral7b),
            _ => Err(EngineError::InvalidParameter(format!(
                "`--preset` must be tiny, bench, mixtral or mistral-7b, not `{s}`"
            ))),
        }
    }
}

impl fmt::Display for SynthPreset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Tiny => "tiny",
            Self::Bench => "bench",
            Self::Mixtral => "mixtral",
            Self::Mistral7b => "mistral-7b",
        })
    }
}

/// The storage mix, named as llama.cpp names its file types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SynthQuant {
    /// Every tensor F32.
    F32,
    /// Weights F16; norms and router F32.
    F16,
    /// Weights Q8_0; norms and router F32.
    Q8_0,
    /// llama.cpp's pure mixes of a 32-value block type (`Q4_0` … `Q5_1`) or Q6_K: that type
    /// everywhere but a Q6_K output and (8 experts) Q8_0 `attn_k/v`.
    Q4_0,
    Q4_1,
    Q5_0,
    Q5_1,
    Q6K,
    /// llama.cpp's Q5_K_M mix (Q5_K with Q6_K output and some `ffn_down`, Q8_0 `attn_k/v`).
    Q5KM,
    /// llama.cpp's Q4_K_M mix (Q4_K with Q5_K `attn_output`, Q6_K output and some
    /// `ffn_down`, Q8_0 `attn_k/v`).
    Q4KM,
}

impl SynthQuant {
    /// Every value, in order of size.
    pub const ALL: [Self; 10] = [
        Self::F32,
        Self::F16,
        Self::Q8_0,
        Self::Q6K,
        Self::Q5_1,
        Self::Q5_0,
        Self::Q5KM,
        Self::Q4_1,
        Self::Q4_0,
        Self::Q4KM,
    ];

    /// llama.cpp's `llama_ftype` number, written as `general.file_type`.
    pub fn file_type(self) -> u32 {
        match self {
            Self::F32 => 0,
            Self::F16 => 1,
            Self::Q8_0 => 7,
            Self::Q4_0 => 2,
            Self::Q4_1 => 3,
            Self::Q5_0 => 8,
            Self::Q5_1 => 9,
            Self::Q6K => 18,
            Self::Q4KM => 15,
            Self::Q5KM => 17,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::F32 => "F32",
            Self::F16 => "F16",
            Self::Q8_0 => "Q8_0",
            Self::Q4_0 => "Q4_0",
            Self::Q4_1 => "Q4_1",
            Self::Q5_0 => "Q5_0",
            Self::Q5_1 => "Q5_1",
            Self::Q6K => "Q6_K",
            Self::Q5KM => "Q5_K_M",
            Self::Q4KM => "Q4_K_M",
        }
    }
}

impl FromStr for SynthQuant {
    type Err = EngineError;

    fn from_str(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|q| q.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                EngineError::InvalidParameter(format!(
                    "`--quant` must be one of F32, F16, Q8_0, Q6_K, Q5_1, Q5_0, Q5_K_M, Q4_1, \
                     Q4_0, Q4_K_M, not `{s}`"
                ))
            })
    }
}

impl fmt::Display for SynthQuant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How the experts' weights are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpertLayout {
    /// One 3-D `blk.N.ffn_{gate,up,down}_exps.weight` per layer (current llama.cpp).
    Merged,
    /// 2-D `blk.N.ffn_{gate,up,down}.E.weight` per expert (the legacy layout candle reads).
    PerExpert,
}

impl FromStr for ExpertLayout {
    type Err = EngineError;

    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "merged" => Ok(Self::Merged),
            "per-expert" => Ok(Self::PerExpert),
            _ => Err(EngineError::InvalidParameter(format!(
                "`--layout` must be merged or per-expert, not `{s}`"
            ))),
        }
    }
}

impl fmt::Display for ExpertLayout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Merged => "merged",
            Self::PerExpert => "per-expert",
        })
    }
}

/// Everything that determines a synthetic file: the same spec gives the same bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SynthSpec {
    /// Model size.
    pub preset: SynthPreset,
    /// Seed of every weight.
    pub seed: u64,
    /// Storage mix.
    pub quant: SynthQuant,
    /// Expert tensor layout.
    pub layout: ExpertLayout,
    /// Layers in place of the preset's count.
    pub layers: Option<usize>,
}

impl SynthSpec {
    /// The tiny model every test and example uses: seed 1234, merged experts (the files
    /// `tests/fixtures/engine/` holds references for).
    pub const fn tiny(quant: SynthQuant) -> Self {
        Self {
            preset: SynthPreset::Tiny,
            seed: 1234,
            quant,
            layout: ExpertLayout::Merged,
            layers: None,
        }
    }
}

/// What [`synthesize`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SynthReport {
    /// The file written.
    pub path: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
    /// Parameters (elements of all tensors).
    pub n_params: u64,
    /// Number of tensors.
    pub tensors: usize,
}

/// Writes the model `spec` describes to `out`, through `OUT.tmp` renamed at the end, so
/// `out` is either absent, as before, or complete.
pub fn synthesize(spec: &SynthSpec, out: &Path) -> Result<SynthReport> {
    let file_name = out.file_name().ok_or_else(|| {
        EngineError::InvalidParameter(format!("`--out` {} is not a file path", out.display()))
    })?;
    let mut tmp_name = file_name.to_owned();
    tmp_name.push(".tmp");
    let tmp = out.with_file_name(tmp_name);

    let pieces = mistral_v1_pieces()?;
    if spec.layers == Some(0) {
        return Err(EngineError::InvalidParameter(
            "`--layers` must be at least 1".into(),
        ));
    }
    let shape = ModelShape::of(spec.preset, spec.layers);
    let tensors = plan::tensors(&shape, pieces.len(), spec.quant, spec.layout);
    let metadata = metadata(spec, &shape, pieces);

    let written = write_file(&tmp, spec.seed, &metadata, &tensors).and_then(|bytes| {
        std::fs::rename(&tmp, out).map_err(|source| writer::io_error(out, source))?;
        Ok(bytes)
    });
    let bytes = match written {
        Ok(bytes) => bytes,
        Err(err) => {
            // Best effort: the error being returned matters more than a leftover temp file.
            let _ = std::fs::remove_file(&tmp);
            return Err(err);
        }
    };
    let n_params = tensors.iter().map(|t| t.elems() as u64).sum();
    tracing::info!(path = %out.display(), bytes, n_params, "synthesized {} {}", spec.preset, spec.quant);
    Ok(SynthReport {
        path: out.to_owned(),
        bytes,
        n_params,
        tensors: tensors.len(),
    })
}

/// Writes header and data of the whole file to `path`; returns its size.
fn write_file(
    path: &Path,
    seed: u64,
    metadata: &[(&str, Meta)],
    tensors: &[TensorPlan],
) -> Result<u64> {
    let mut w = GgufWriter::create(path)?;
    w.header(metadata, tensors)?;
    for tensor in tensors {
        let start = w.position();
        for part in &tensor.parts {
            encode::write_matrix(&mut w, seed, part, tensor.dtype)?;
        }
        let written = w.position() - start;
        if written != tensor.bytes() {
            return Err(EngineError::Malformed {
                path: w.path().to_owned(),
                detail: format!(
                    "internal error: tensor `{}` wrote {written} bytes, expected {}",
                    tensor.name,
                    tensor.bytes()
                ),
            });
        }
        w.align()?;
    }
    w.finish()
}

/// The metadata llama.cpp's converter writes for a Mixtral (architecture `llama`).
fn metadata(
    spec: &SynthSpec,
    shape: &ModelShape,
    pieces: Vec<SpPiece>,
) -> Vec<(&'static str, Meta)> {
    let u32_of = |n: usize| Meta::U32(u32::try_from(n).unwrap_or(u32::MAX));
    let head_dim = shape.head_dim();
    let vocab = pieces.len();
    let mut tokens = Vec::with_capacity(vocab);
    let mut scores = Vec::with_capacity(vocab);
    let mut kinds = Vec::with_capacity(vocab);
    for p in pieces {
        tokens.push(p.piece);
        scores.push(p.score);
        kinds.push(p.kind);
    }
    vec![
        ("general.architecture", Meta::Str("llama".into())),
        ("general.type", Meta::Str("model".into())),
        (
            "general.name",
            Meta::Str(format!("Sofer synth {}", spec.preset)),
        ),
        ("llama.block_count", u32_of(shape.layers)),
        ("llama.context_length", u32_of(shape.context)),
        ("llama.embedding_length", u32_of(shape.dim)),
        ("llama.feed_forward_length", u32_of(shape.ffn)),
        ("llama.attention.head_count", u32_of(shape.heads)),
        ("llama.attention.head_count_kv", u32_of(shape.kv_heads)),
        ("llama.rope.freq_base", Meta::F32(shape.rope_base)),
        (
            "llama.attention.layer_norm_rms_epsilon",
            Meta::F32(shape.rms_eps),
        ),
        ("llama.expert_count", u32_of(shape.experts)),
        ("llama.expert_used_count", u32_of(shape.experts_used)),
    ]
    .into_iter()
    // A dense model has no expert keys (llama.cpp reads their absence as 0).
    .filter(|(key, _)| shape.experts > 0 || !key.starts_with("llama.expert"))
    .chain([
        ("llama.attention.key_length", u32_of(head_dim)),
        ("llama.attention.value_length", u32_of(head_dim)),
        ("llama.vocab_size", u32_of(vocab)),
        ("llama.rope.dimension_count", u32_of(head_dim)),
        ("tokenizer.ggml.model", Meta::Str("llama".into())),
        ("tokenizer.ggml.pre", Meta::Str("default".into())),
        ("tokenizer.ggml.tokens", Meta::StrArray(tokens)),
        ("tokenizer.ggml.scores", Meta::F32Array(scores)),
        ("tokenizer.ggml.token_type", Meta::I32Array(kinds)),
        ("tokenizer.ggml.bos_token_id", Meta::U32(1)),
        ("tokenizer.ggml.eos_token_id", Meta::U32(2)),
        ("tokenizer.ggml.unknown_token_id", Meta::U32(0)),
        ("tokenizer.ggml.add_bos_token", Meta::Bool(true)),
        ("tokenizer.ggml.add_eos_token", Meta::Bool(false)),
        ("general.quantization_version", Meta::U32(2)),
        ("general.file_type", Meta::U32(spec.quant.file_type())),
        ("general.alignment", u32_of(writer::ALIGNMENT)),
    ])
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_print() {
        for q in SynthQuant::ALL {
            assert_eq!(q.to_string().parse::<SynthQuant>().ok(), Some(q));
            assert_eq!(
                q.to_string().to_lowercase().parse::<SynthQuant>().ok(),
                Some(q)
            );
        }
        assert_eq!(
            "bench".parse::<SynthPreset>().ok(),
            Some(SynthPreset::Bench)
        );
        assert_eq!(
            "per-expert".parse::<ExpertLayout>().ok(),
            Some(ExpertLayout::PerExpert)
        );
        assert!(matches!(
            "q3_k".parse::<SynthQuant>(),
            Err(EngineError::InvalidParameter(_))
        ));
        assert!("huge".parse::<SynthPreset>().is_err());
        assert!("split".parse::<ExpertLayout>().is_err());
    }
}
