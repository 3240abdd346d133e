//! A loaded engine: model, tokenizer and what `model inspect` reports about the file.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use candle_core::quantized::gguf_file::Value;
use candle_core::Device;
use serde::Serialize;

use super::config::ModelConfig;
use super::error::{EngineError, Result};
use super::generate::{
    CallSink, Completion, GenerationCall, GenerationParams, GenerationTimings, Generator,
    LiveCounters, Sink,
};
use super::gguf::{tensor_bytes, GgufFile};
use super::heap;
use super::model::expert_usage::ExpertUsageSnapshot;
use super::model::{ExpertLayout, Model, WeightKernels};
use super::scheduler::{Scheduler, SchedulerOptions, SchedulerStats};
use super::score::{self, ContinuationScores};
use super::tokenizer::Tokenizer;

/// Tensors of one storage type in a file.
#[derive(Debug, Clone, Default, Serialize)]
pub struct QuantShare {
    /// How many tensors.
    pub tensors: usize,
    /// Their bytes.
    pub bytes: u64,
}

/// What a GGUF file holds, as `sofer model inspect` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ModelInfo {
    /// The file.
    pub path: PathBuf,
    /// Its size in bytes.
    pub file_size: u64,
    /// The hyper-parameters.
    pub config: ModelConfig,
    /// The file type llama.cpp's quantizer recorded (`general.file_type`), by name.
    pub file_type: Option<String>,
    /// Tensor count and bytes per storage type (`Q5K`, `Q8_0`, `F32`, …).
    pub quant_mix: BTreeMap<String, QuantShare>,
    /// Tensors in the file.
    pub tensor_count: usize,
    /// Parameters (elements of all tensors).
    pub n_params: u64,
    /// Tensor bits per parameter over the whole file, as llama.cpp's loader reports BPW.
    pub bits_per_weight: f64,
    /// The tokenizer the file embeds (`llama`, `gpt2`, …), if any.
    pub tokenizer_model: Option<String>,
    /// Whether the experts are merged 3-D tensors or one tensor per expert.
    pub expert_layout: ExpertLayout,
}

impl ModelInfo {
    /// Reads the description of an open file.
    pub fn from_gguf(gguf: &GgufFile) -> Result<Self> {
        let config = ModelConfig::from_gguf(gguf)?;
        let mut quant_mix: BTreeMap<String, QuantShare> = BTreeMap::new();
        let mut n_params = 0u64;
        let mut tensor_count = 0;
        let mut data_bytes = 0u64;
        for (_, dtype, dims) in gguf.tensors() {
            let share = quant_mix.entry(format!("{dtype:?}")).or_default();
            share.tensors += 1;
            share.bytes += tensor_bytes(dtype, dims);
            data_bytes += tensor_bytes(dtype, dims);
            n_params += dims.iter().product::<usize>() as u64;
            tensor_count += 1;
        }
        let expert_layout = ExpertLayout::detect(gguf, &config)?;
        Ok(Self {
            path: gguf.path().to_path_buf(),
            file_size: gguf.file_size(),
            file_type: gguf.get_u32("general.file_type")?.map(file_type_name),
            tokenizer_model: gguf.get_str("tokenizer.ggml.model")?.map(str::to_string),
            config,
            quant_mix,
            tensor_count,
            n_params,
            bits_per_weight: data_bytes as f64 * 8.0 / n_params.max(1) as f64,
            expert_layout,
        })
    }

    /// The advice for a file quantized below Q5 (by its recorded file type: Q2–Q4; a file
    /// that records none, below [`ADVISED_BITS_PER_WEIGHT`]), for work that writes text
    /// (summaries, translations); `None` for Q5 and above.
    pub fn low_precision_advice(&self) -> Option<String> {
        let below_q5 = match &self.file_type {
            Some(t) => ["Q2", "Q3", "Q4", "IQ"].iter().any(|p| t.starts_with(p)),
            None => self.bits_per_weight < ADVISED_BITS_PER_WEIGHT,
        };
        below_q5.then(|| {
            format!(
                "{} is {} ({:.2} bits per weight): Q5 is the minimum for complex tasks such \
                 as summaries and translations, Q8_0 for critical ones; compare your files \
                 with `sofer eval compare`",
                self.path.display(),
                self.file_type.as_deref().unwrap_or("quantized"),
                self.bits_per_weight
            )
        })
    }
}

/// Bits per weight below which summarize and translate warn on a file that records no file
/// type: "Q5 as the minimum for complex tasks".
pub const ADVISED_BITS_PER_WEIGHT: f64 = 5.0;

/// llama.cpp's `llama_ftype` names.
fn file_type_name(id: u32) -> String {
    let name = match id {
        0 => "F32",
        1 => "F16",
        2 => "Q4_0",
        3 => "Q4_1",
        7 => "Q8_0",
        8 => "Q5_0",
        9 => "Q5_1",
        10 => "Q2_K",
        11 => "Q3_K_S",
        12 => "Q3_K_M",
        13 => "Q3_K_L",
        14 => "Q4_K_S",
        15 => "Q4_K_M",
        16 => "Q5_K_S",
        17 => "Q5_K_M",
        18 => "Q6_K",
        32 => "BF16",
        other => return format!("type {other}"),
    };
    name.to_string()
}

/// Where the engine's model and tokenizer come from.
#[derive(Debug, Clone, Default)]
pub struct EngineOptions {
    /// The GGUF model file.
    pub model: PathBuf,
    /// A `tokenizer.json` to use instead of the one embedded in the GGUF.
    pub tokenizer_json: Option<PathBuf>,
    /// Which kernels quantized weights use (memory vs prompt speed).
    pub weight_kernels: WeightKernels,
    /// How many sequences generate at once, and prompt tokens per batched step.
    pub scheduler: SchedulerOptions,
}

/// A model and its tokenizer, loaded and ready to generate.
pub struct Engine {
    info: ModelInfo,
    model: Arc<Model>,
    tokenizer: Arc<Tokenizer>,
    /// Every generation runs through it, batched with whatever else runs.
    scheduler: Scheduler,
    /// The file's metadata less its arrays (chat template, special-token ids, names).
    metadata: HashMap<String, Value>,
    /// Work done since loading, so callers (tests, metrics) can see that k samples took
    /// one prefill, and watch a generation as it runs.
    counters: Arc<LiveCounters>,
}

/// A snapshot of [`Engine::counters`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct EngineCounters {
    /// Prompts processed (one per `generate`/`generate_n` call, whatever its n).
    pub prefills: u64,
    /// Prompt tokens processed over all prefills.
    pub prompt_tokens: u64,
    /// Of those, tokens whose keys and values came from the prefix cache.
    pub cached_prompt_tokens: u64,
    /// Decode steps (each advances every live sample by one token).
    pub decode_steps: u64,
    /// Tokens generated over all samples.
    pub generated_tokens: u64,
}

impl Engine {
    /// Loads the model file (and tokenizer) on the CPU.
    pub fn load(options: &EngineOptions) -> Result<Self> {
        let mut gguf = GgufFile::open(&options.model)?;
        let info = ModelInfo::from_gguf(&gguf)?;
        let tokenizer = match &options.tokenizer_json {
            Some(path) => Tokenizer::from_tokenizer_json(path)?,
            None => Tokenizer::from_gguf_metadata(gguf.metadata())?,
        };
        if tokenizer.vocab_size() > info.config.vocab_size {
            return Err(EngineError::Tokenizer(format!(
                "the tokenizer has {} tokens but the model's embedding has only {} rows",
                tokenizer.vocab_size(),
                info.config.vocab_size
            )));
        }
        gguf.drop_array_metadata();
        let model = Model::load(
            &gguf,
            info.config.clone(),
            options.weight_kernels,
            &Device::Cpu,
        )?;
        let metadata = gguf.metadata().clone();
        drop(gguf);
        heap::return_freed_memory();
        let (model, tokenizer) = (Arc::new(model), Arc::new(tokenizer));
        let counters = Arc::new(LiveCounters::default());
        let scheduler = Scheduler::start(
            model.clone(),
            tokenizer.clone(),
            counters.clone(),
            options.scheduler,
        )?;
        tracing::info!(
            path = %options.model.display(),
            arch = %info.config.architecture,
            layers = info.config.n_layers,
            experts = info.config.n_experts,
            context = info.config.context_length,
            "model loaded"
        );
        Ok(Self {
            info,
            model,
            tokenizer,
            scheduler,
            metadata,
            counters,
        })
    }

    /// What the file holds.
    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    /// The tokenizer.
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// The file's metadata without its array values (the vocabulary went into the tokenizer).
    pub fn metadata(&self) -> &HashMap<String, Value> {
        &self.metadata
    }

    /// The scheduler's gauges: sequences running and waiting, steps run.
    pub fn scheduler_stats(&self) -> SchedulerStats {
        self.scheduler.stats()
    }

    /// The model (for forward passes outside generation, e.g. logits dumps).
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// The model file.
    pub fn path(&self) -> &Path {
        &self.info.path
    }

    /// Logits `[ids.len()][vocab]` at every position of `ids`.
    pub fn logits(&self, ids: &[u32]) -> Result<Vec<Vec<f32>>> {
        let mut cache = self.model.new_cache(1, ids.len())?;
        let logits = self.model.forward(&[ids.to_vec()], &mut cache, true)?;
        Ok(logits.squeeze(0)?.to_vec2::<f32>()?)
    }

    /// Tokens routed to each expert since loading (or the last reset).
    pub fn expert_usage(&self) -> ExpertUsageSnapshot {
        self.model.expert_usage().snapshot()
    }

    /// Prefills, prompt tokens, decode steps and generated tokens since loading.
    pub fn counters(&self) -> EngineCounters {
        let c = &self.counters;
        EngineCounters {
            prefills: c.prefills.load(Ordering::Relaxed),
            prompt_tokens: c.prompt_tokens.load(Ordering::Relaxed),
            cached_prompt_tokens: c.cached_prompt_tokens.load(Ordering::Relaxed),
            decode_steps: c.decode_steps.load(Ordering::Relaxed),
            generated_tokens: c.generated_tokens.load(Ordering::Relaxed),
        }
    }

    /// Like [`Generator::generate_n`], also returning prefill/decode timings.
    pub fn generate_n_timed(
        &self,
        prompt: &[u32],
        params: &GenerationParams,
        n: usize,
        sink: &mut Sink<'_>,
    ) -> Result<(Vec<Completion>, GenerationTimings)> {
        self.scheduler.generate(prompt, params, n, sink)
    }
}

impl Generator for Engine {
    fn generate_n(
        &self,
        prompt: &[u32],
        params: &GenerationParams,
        n: usize,
        sink: &mut Sink<'_>,
    ) -> Result<Vec<Completion>> {
        self.generate_n_timed(prompt, params, n, sink)
            .map(|(c, _)| c)
    }

    fn generate_n_reusing(
        &self,
        prompt: &[u32],
        params: &GenerationParams,
        n: usize,
        sink: &mut Sink<'_>,
    ) -> Result<(Vec<Completion>, usize)> {
        self.generate_n_timed(prompt, params, n, sink)
            .map(|(c, t)| (c, t.cached_prompt_tokens))
    }

    fn generate_many(&self, calls: &[GenerationCall], sink: &mut CallSink<'_>) -> Result<()> {
        self.scheduler.generate_many(calls, sink)
    }

    fn score(
        &self,
        prompt: &[u32],
        continuations: &[Vec<u32>],
        temperature: f32,
        sink: &mut Sink<'_>,
    ) -> Result<ContinuationScores> {
        score::score_continuations(
            &self.model,
            prompt,
            continuations,
            temperature,
            sink,
            &self.counters,
        )
    }
}

#[cfg(test)]
mod tests {
    /// The service shares one loaded engine between threads.
    #[test]
    fn engine_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<super::Engine>();
    }
}
