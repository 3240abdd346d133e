//! The Llama-family transformer (dense Mistral/Llama and Mixtral MoE) on quantized GGUF
//! weights. Structure follows transformers' `modeling_mixtral.py`; tensor names are the
//! GGUF file's own.

mod attention;
mod embedding;
pub mod expert_usage;
mod feed_forward;
pub mod kv_cache;
mod linear;
mod rope;
mod sequences;

use std::sync::Arc;

use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{DType, Device, Module, Tensor};

use super::config::ModelConfig;
use super::error::{EngineError, Result};
use super::gguf::GgufFile;
use crate::engine::kernels::q32::{Format, Packed};
use attention::Attention;
use embedding::{Embeddings, FileRows};
use expert_usage::ExpertUsage;
use feed_forward::{Mlp, SparseMoe};
pub use kv_cache::{KvCache, SHARE_ALIGN};
pub use linear::WeightKernels;
use linear::{Linear, RowByRow};
use rope::Rope;
pub use sequences::SequenceStep;

/// Prompt tokens processed per forward pass; bounds the activation buffers (a 7B-shaped
/// feed-forward holds two `chunk × 14336` f32 buffers: 28 MiB at 256), and with the checks
/// between layers, how long a cancelled prompt keeps computing. 256 runs as fast as 512 on
/// every benchmark row (docs/benchmarks.md) at half the activation memory.
const PREFILL_CHUNK: usize = 256;

/// How a GGUF file stores Mixtral experts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExpertLayout {
    /// No experts: a dense model.
    Dense,
    /// One 3-D tensor per projection, `blk.N.ffn_gate_exps.weight` (llama.cpp since 2024).
    Merged,
    /// One 2-D tensor per expert, `blk.N.ffn_gate.E.weight` (older files).
    PerExpert,
}

impl ExpertLayout {
    /// How `gguf` stores the experts `config` calls for (`MissingTensor` when neither way).
    pub fn detect(gguf: &GgufFile, config: &ModelConfig) -> Result<Self> {
        if !config.is_moe() {
            Ok(Self::Dense)
        } else if gguf.has_tensor("blk.0.ffn_gate_exps.weight") {
            Ok(Self::Merged)
        } else if gguf.has_tensor("blk.0.ffn_gate.0.weight") {
            Ok(Self::PerExpert)
        } else {
            Err(EngineError::MissingTensor {
                path: gguf.path().to_path_buf(),
                tensor: "blk.0.ffn_gate_exps.weight".into(),
            })
        }
    }
}

enum FeedForward {
    Dense(Mlp),
    Moe(SparseMoe),
}

struct Block {
    attn_norm: Tensor,
    attn: Attention,
    ffn_norm: Tensor,
    ffn: FeedForward,
}

/// A loaded model, ready for forward passes.
pub struct Model {
    config: ModelConfig,
    layout: ExpertLayout,
    embed: Embeddings,
    blocks: Vec<Block>,
    norm: Tensor,
    output: Linear,
    rope: Rope,
    usage: Arc<ExpertUsage>,
    device: Device,
}

impl Model {
    /// Loads every tensor `config` calls for from `gguf`, checking names, types and shapes.
    pub fn load(
        gguf: &GgufFile,
        config: ModelConfig,
        kernels: WeightKernels,
        device: &Device,
    ) -> Result<Self> {
        let loader = Loader {
            gguf,
            device,
            kernels,
        };
        let c = &config;
        let (dim, hd) = (c.dim, c.head_dim);
        let layout = ExpertLayout::detect(gguf, c)?;
        let usage = Arc::new(ExpertUsage::new(c.n_layers, c.n_experts));

        let table = |loader: &Loader| -> Result<Arc<QTensor>> {
            Ok(Arc::new(
                loader.qtensor("token_embd.weight", &[c.vocab_size, dim])?,
            ))
        };
        let (embed, output) = if gguf.has_tensor("output.weight") {
            let output = loader.matmul("output.weight", &[c.vocab_size, dim])?;
            let embed = if device.is_cpu() {
                loader.check("token_embd.weight", &[c.vocab_size, dim])?;
                let rows = FileRows::open(gguf, "token_embd.weight", c.vocab_size, dim)?;
                Embeddings::File(Arc::new(rows))
            } else {
                Embeddings::Table(table(&loader)?)
            };
            (embed, output)
        } else {
            // Tied embeddings (SmolLM2 and others): the output head is the embedding table,
            // held once.
            match loader.matmul("token_embd.weight", &[c.vocab_size, dim])? {
                Linear::Packed(packed) => (
                    Embeddings::Packed(Arc::clone(&packed)),
                    Linear::Packed(packed),
                ),
                _ => {
                    let table = table(&loader)?;
                    (
                        Embeddings::Table(Arc::clone(&table)),
                        Linear::new(table, kernels)?,
                    )
                }
            }
        };
        let mut blocks = Vec::with_capacity(c.n_layers);
        for i in 0..c.n_layers {
            let p = format!("blk.{i}");
            let attn = Attention::new(
                loader.matmul(&format!("{p}.attn_q.weight"), &[c.n_heads * hd, dim])?,
                loader.matmul(&format!("{p}.attn_k.weight"), &[c.n_kv_heads * hd, dim])?,
                loader.matmul(&format!("{p}.attn_v.weight"), &[c.n_kv_heads * hd, dim])?,
                loader.matmul(&format!("{p}.attn_output.weight"), &[dim, c.n_heads * hd])?,
                c.n_heads,
                c.n_kv_heads,
                hd,
            );
            let ffn = match layout {
                ExpertLayout::Dense => FeedForward::Dense(Mlp::new(
                    loader.matmul(&format!("{p}.ffn_gate.weight"), &[c.ffn_dim, dim])?,
                    loader.matmul(&format!("{p}.ffn_up.weight"), &[c.ffn_dim, dim])?,
                    loader.matmul(&format!("{p}.ffn_down.weight"), &[dim, c.ffn_dim])?,
                )),
                ExpertLayout::Merged | ExpertLayout::PerExpert => {
                    let experts = (0..c.n_experts)
                        .map(|e| loader.expert(&p, e, layout, c))
                        .collect::<Result<Vec<_>>>()?;
                    FeedForward::Moe(SparseMoe::new(
                        loader.router(&format!("{p}.ffn_gate_inp.weight"), &[c.n_experts, dim])?,
                        experts,
                        c.n_experts_used,
                        i,
                        usage.clone(),
                    ))
                }
            };
            blocks.push(Block {
                attn_norm: loader.vector(&format!("{p}.attn_norm.weight"), dim)?,
                attn,
                ffn_norm: loader.vector(&format!("{p}.ffn_norm.weight"), dim)?,
                ffn,
            });
        }
        Ok(Self {
            norm: loader.vector("output_norm.weight", dim)?,
            rope: Rope::new(hd, c.rope_base),
            embed,
            blocks,
            output,
            layout,
            usage,
            device: device.clone(),
            config,
        })
    }

    /// The model's hyper-parameters.
    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// How the file stored its experts.
    pub fn expert_layout(&self) -> ExpertLayout {
        self.layout
    }

    /// Tokens routed to each expert so far.
    pub fn expert_usage(&self) -> &ExpertUsage {
        &self.usage
    }

    /// The device the weights live on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Bytes of keys and values one sequence's cache holds per position (f32, every layer).
    pub fn kv_bytes_per_position(&self) -> usize {
        let c = &self.config;
        2 * c.n_layers * c.n_kv_heads * c.head_dim * std::mem::size_of::<f32>()
    }

    /// An empty cache for `batch` sequences of up to `capacity` positions.
    pub fn new_cache(&self, batch: usize, capacity: usize) -> Result<KvCache> {
        let c = &self.config;
        Ok(KvCache::new(
            c.n_layers,
            batch,
            c.n_kv_heads,
            c.head_dim,
            capacity,
            &self.device,
        )?)
    }

    /// Runs `tokens` (`batch` rows of equal length) through the model after what `cache`
    /// holds. Returns logits `(batch, vocab)` of the last position, or with
    /// `all_positions` `(batch, seq, vocab)`. Long inputs are processed in chunks.
    pub fn forward(
        &self,
        tokens: &[Vec<u32>],
        cache: &mut KvCache,
        all_positions: bool,
    ) -> Result<Tensor> {
        self.forward_checked(tokens, cache, all_positions, &mut |_| true)
    }

    /// [`Model::forward`], asking `go_on(tokens done)` before every layer and the
    /// feed-forward half of every layer: `false` stops with [`EngineError::Cancelled`]
    /// (the cache is then unusable).
    pub fn forward_checked(
        &self,
        tokens: &[Vec<u32>],
        cache: &mut KvCache,
        all_positions: bool,
        go_on: &mut dyn FnMut(usize) -> bool,
    ) -> Result<Tensor> {
        let batch = tokens.len();
        let seq = tokens.first().map_or(0, Vec::len);
        if batch == 0 || seq == 0 || tokens.iter().any(|t| t.len() != seq) {
            return Err(EngineError::InvalidParameter(
                "forward needs at least one token per row and rows of equal length".into(),
            ));
        }
        self.check_vocab(tokens.iter().flatten())?;
        if cache.len() + seq > cache.capacity() {
            return Err(EngineError::ContextOverflow {
                prompt_tokens: cache.len() + seq,
                max_tokens: 0,
                context: cache.capacity(),
            });
        }
        let mut outputs = Vec::new();
        let mut start = 0;
        while start < seq {
            let len = PREFILL_CHUNK.min(seq - start);
            let chunk: Vec<u32> = tokens
                .iter()
                .flat_map(|t| t[start..start + len].iter().copied())
                .collect();
            let ids = Tensor::from_vec(chunk, (batch, len), &self.device)?;
            let last = start + len == seq;
            let mut check = || {
                if go_on(start) {
                    Ok(())
                } else {
                    Err(EngineError::Cancelled)
                }
            };
            let want = match (all_positions, last) {
                (true, _) => Outputs::All,
                (false, true) => Outputs::Last,
                (false, false) => Outputs::None,
            };
            let out = linear::with_rows_tiled(batch * len > 1, || {
                self.forward_chunk(&ids, cache, want, &mut check)
            })?;
            if let Some(logits) = out {
                outputs.push(logits);
            }
            start += len;
        }
        if all_positions {
            Ok(Tensor::cat(&outputs, 1)?)
        } else {
            Ok(outputs.remove(0))
        }
    }

    /// An id past the vocabulary is an error that names it.
    pub(crate) fn check_vocab<'a>(&self, mut ids: impl Iterator<Item = &'a u32>) -> Result<()> {
        match ids.find(|&&t| t as usize >= self.config.vocab_size) {
            Some(bad) => Err(EngineError::InvalidParameter(format!(
                "token id {bad} is outside the vocabulary of {} tokens",
                self.config.vocab_size
            ))),
            None => Ok(()),
        }
    }

    /// One chunk through every layer; the logits `want` asks for. The last layer's
    /// feed-forward runs only on the rows whose logits are wanted (as llama.cpp does): the
    /// other rows' keys and values are already in the cache, and nothing reads their output.
    fn forward_chunk(
        &self,
        ids: &Tensor,
        cache: &mut KvCache,
        want: Outputs,
        check: &mut dyn FnMut() -> Result<()>,
    ) -> Result<Option<Tensor>> {
        let (_, seq) = ids.dims2()?;
        let eps = self.config.rms_eps as f32;
        let (cos, sin) = self.rope.cos_sin(cache.len(), seq, &self.device)?;
        let mut x = self.embed.forward(ids)?; // (b, seq, dim)
        let n_layers = self.blocks.len();
        for (i, block) in self.blocks.iter().enumerate() {
            check()?;
            let h = candle_nn::ops::rms_norm(&x, &block.attn_norm, eps)?;
            x = (x + block.attn.forward(&h, i, &cos, &sin, cache)?)?;
            if i + 1 == n_layers {
                match want {
                    Outputs::All => {}
                    Outputs::Last => x = x.narrow(1, seq - 1, 1)?,
                    Outputs::None => break,
                }
            }
            check()?;
            let h = candle_nn::ops::rms_norm(&x, &block.ffn_norm, eps)?;
            let h = match &block.ffn {
                FeedForward::Dense(mlp) => mlp.forward(&h)?,
                FeedForward::Moe(moe) => moe.forward(&h, check)?,
            };
            x = (x + h)?;
        }
        cache.advance(seq);
        if want == Outputs::None {
            return Ok(None);
        }
        let x = candle_nn::ops::rms_norm(&x, &self.norm, eps)?;
        let logits = self.output.forward(&x)?;
        Ok(Some(match want {
            Outputs::Last => logits.squeeze(1)?,
            _ => logits,
        }))
    }
}

/// Which positions of a chunk need logits.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Outputs {
    All,
    Last,
    /// None: a prompt chunk before the last.
    None,
}

/// Reads tensors from a GGUF file, checking each against the shape the config implies.
struct Loader<'a> {
    gguf: &'a GgufFile,
    device: &'a Device,
    kernels: WeightKernels,
}

impl Loader<'_> {
    fn check(&self, name: &str, expected: &[usize]) -> Result<GgmlDType> {
        let (dtype, dims) = self.gguf.tensor_info(name)?;
        if dims != expected {
            return Err(EngineError::BadTensorShape {
                path: self.gguf.path().to_path_buf(),
                tensor: name.to_string(),
                found: dims.to_vec(),
                expected: expected.to_vec(),
            });
        }
        if matches!(dtype, GgmlDType::Q8_1 | GgmlDType::Q8K) {
            return Err(EngineError::UnsupportedQuantization {
                path: self.gguf.path().to_path_buf(),
                tensor: name.to_string(),
                dtype: format!("{dtype:?}"),
            });
        }
        Ok(dtype)
    }

    fn qtensor(&self, name: &str, expected: &[usize]) -> Result<QTensor> {
        self.check(name, expected)?;
        self.gguf.tensor(name, self.device)
    }

    fn matmul(&self, name: &str, expected: &[usize]) -> Result<Linear> {
        self.check(name, expected)?;
        self.linear(name, None, expected)
    }

    /// A weight matrix `rows × cols` (`shape`), the whole tensor or slice `slice` of it:
    /// repacked for `kernels::q32` when its type and shape allow, else candle's tensor.
    fn linear(&self, name: &str, slice: Option<usize>, shape: &[usize]) -> Result<Linear> {
        let (dtype, _) = self.gguf.tensor_info(name)?;
        let (n, k) = (shape[0], shape[1]);
        if let Some(format) = Format::of(dtype).filter(|_| self.device.is_cpu()) {
            if Packed::supports(dtype, n) {
                let bytes = self.gguf.raw_tensor(name, slice)?;
                return Ok(Linear::Packed(Arc::new(Packed::new(format, n, k, bytes)?)));
            }
        }
        let t = match slice {
            Some(index) => self.gguf.tensor_slice(name, index, self.device)?,
            None => self.gguf.tensor(name, self.device)?,
        };
        Ok(Linear::new(Arc::new(t), self.kernels)?)
    }

    /// The MoE router: float weights go row by row ([`RowByRow`]), so the experts a token
    /// picks never depend on the rest of the batch; quantized ones as any matrix.
    fn router(&self, name: &str, expected: &[usize]) -> Result<Linear> {
        let (dtype, _) = self.gguf.tensor_info(name)?;
        let float = matches!(dtype, GgmlDType::F32 | GgmlDType::F16 | GgmlDType::BF16);
        if !float || !self.device.is_cpu() {
            return self.matmul(name, expected);
        }
        let weights = self
            .qtensor(name, expected)?
            .dequantize(self.device)?
            .to_dtype(DType::F32)?
            .flatten_all()?
            .to_vec1::<f32>()?;
        Ok(Linear::RowByRow(Arc::new(RowByRow::new(
            weights,
            expected[0],
            expected[1],
        )?)))
    }

    fn vector(&self, name: &str, len: usize) -> Result<Tensor> {
        Ok(self
            .qtensor(name, &[len])?
            .dequantize(self.device)?
            .to_dtype(DType::F32)?)
    }

    fn expert(&self, p: &str, e: usize, layout: ExpertLayout, c: &ModelConfig) -> Result<Mlp> {
        let (n, dim, ffn) = (c.n_experts, c.dim, c.ffn_dim);
        let one = |proj: &str, rows: usize, cols: usize| -> Result<Linear> {
            if layout == ExpertLayout::Merged {
                let name = format!("{p}.ffn_{proj}_exps.weight");
                self.check(&name, &[n, rows, cols])?;
                self.linear(&name, Some(e), &[rows, cols])
            } else {
                self.matmul(&format!("{p}.ffn_{proj}.{e}.weight"), &[rows, cols])
            }
        };
        Ok(Mlp::new(
            one("gate", ffn, dim)?,
            one("up", ffn, dim)?,
            one("down", dim, ffn)?,
        ))
    }
}
