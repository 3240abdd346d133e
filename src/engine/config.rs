//! Model hyper-parameters read from GGUF metadata, with no hidden limits: the context
//! length is whatever the file says.

use serde::Serialize;

use super::error::{EngineError, Result};
use super::gguf::GgufFile;

/// Architectures whose metadata prefix and tensor names follow llama.cpp's `llama` layout.
const SUPPORTED_ARCHITECTURES: [&str; 3] = ["llama", "mistral", "mixtral"];

/// The shape of a Llama-family model (dense or Mixtral mixture-of-experts).
#[derive(Debug, Clone, Serialize)]
pub struct ModelConfig {
    /// `general.architecture` as the file names it.
    pub architecture: String,
    /// `general.name`, when present.
    pub name: Option<String>,
    /// Hidden size.
    pub dim: usize,
    /// Number of transformer blocks.
    pub n_layers: usize,
    /// Query heads.
    pub n_heads: usize,
    /// Key/value heads (grouped-query attention when fewer than `n_heads`).
    pub n_kv_heads: usize,
    /// Size of one attention head.
    pub head_dim: usize,
    /// Hidden size of each feed-forward network (per expert for MoE).
    pub ffn_dim: usize,
    /// Experts per MoE layer; 0 for a dense model.
    pub n_experts: usize,
    /// Experts each token is routed to.
    pub n_experts_used: usize,
    /// Vocabulary size (rows of `token_embd`).
    pub vocab_size: usize,
    /// Maximum positions the model was trained for.
    pub context_length: usize,
    /// RoPE base frequency.
    pub rope_base: f32,
    /// RMSNorm epsilon.
    pub rms_eps: f64,
}

impl ModelConfig {
    /// Reads the configuration of `gguf`, checking every value it depends on.
    pub fn from_gguf(gguf: &GgufFile) -> Result<Self> {
        let architecture = gguf
            .get_str("general.architecture")?
            .ok_or_else(|| gguf.bad_metadata("general.architecture", "missing"))?
            .to_string();
        if !SUPPORTED_ARCHITECTURES.contains(&architecture.as_str()) {
            return Err(EngineError::UnsupportedArchitecture {
                path: gguf.path().to_path_buf(),
                arch: architecture,
            });
        }
        let key = |k: &str| format!("{architecture}.{k}");
        let required = |k: &str| -> Result<usize> {
            let k = key(k);
            match gguf.get_u32(&k)? {
                Some(v) if v > 0 => Ok(v as usize),
                Some(_) => Err(gguf.bad_metadata(&k, "must be > 0")),
                None => Err(gguf.bad_metadata(&k, "missing")),
            }
        };
        let dim = required("embedding_length")?;
        let n_layers = required("block_count")?;
        let n_heads = required("attention.head_count")?;
        let ffn_dim = required("feed_forward_length")?;
        let context_length = required("context_length")?;
        let n_kv_heads = match gguf.get_u32(&key("attention.head_count_kv"))? {
            Some(v) => v as usize,
            None => n_heads,
        };
        if n_kv_heads == 0 || n_heads % n_kv_heads != 0 {
            return Err(gguf.bad_metadata(
                &key("attention.head_count_kv"),
                format!("{n_kv_heads} does not divide head_count {n_heads}"),
            ));
        }
        let head_dim = match gguf.get_u32(&key("attention.key_length"))? {
            Some(v) => v as usize,
            None => dim / n_heads,
        };
        if head_dim == 0 || head_dim % 2 != 0 {
            return Err(gguf.bad_metadata(&key("attention.key_length"), "must be even and > 0"));
        }
        let n_experts = gguf.get_u32(&key("expert_count"))?.unwrap_or(0) as usize;
        let n_experts_used = gguf.get_u32(&key("expert_used_count"))?.unwrap_or(0) as usize;
        if n_experts > 1 && (n_experts_used == 0 || n_experts_used > n_experts) {
            return Err(gguf.bad_metadata(
                &key("expert_used_count"),
                format!("{n_experts_used} is not in 1..={n_experts}"),
            ));
        }
        let rope_base = gguf.get_f32(&key("rope.freq_base"))?.unwrap_or(10_000.0);
        let rms_eps = gguf
            .get_f32(&key("attention.layer_norm_rms_epsilon"))?
            .unwrap_or(1e-5) as f64;
        let (_, embd) = gguf.tensor_info("token_embd.weight")?;
        let vocab_size = match embd {
            [vocab, d] if *d == dim => *vocab,
            _ => {
                return Err(EngineError::BadTensorShape {
                    path: gguf.path().to_path_buf(),
                    tensor: "token_embd.weight".into(),
                    found: embd.to_vec(),
                    expected: vec![0, dim],
                })
            }
        };
        Ok(Self {
            name: gguf.get_str("general.name")?.map(str::to_string),
            architecture,
            dim,
            n_layers,
            n_heads,
            n_kv_heads,
            head_dim,
            ffn_dim,
            n_experts: if n_experts > 1 { n_experts } else { 0 },
            n_experts_used: if n_experts > 1 { n_experts_used } else { 0 },
            vocab_size,
            context_length,
            rope_base,
            rms_eps,
        })
    }

    /// Whether feed-forward layers are mixtures of experts.
    pub fn is_moe(&self) -> bool {
        self.n_experts > 1
    }
}
