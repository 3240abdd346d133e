//! `sofer model …`: inspect, tokenize, logits, generate, synth.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Subcommand;
use serde_json::json;

use super::ModelArgs;
use sofer::engine::generate::Step;
use sofer::engine::gguf::GgufFile;
use sofer::engine::sampler::SamplingParams;
use sofer::engine::synth::{self, SynthSpec};
use sofer::engine::tokenizer::Tokenizer;
use sofer::engine::{Engine, GenerationParams, Generator, ModelInfo};

#[derive(Debug, Subcommand)]
pub enum ModelCommand {
    /// Architecture, dimensions, experts, context, quantization mix and tokenizer of a file.
    Inspect {
        /// The GGUF model file.
        file: PathBuf,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Token ids of a text (with BOS when the model adds it).
    Tokenize {
        #[command(flatten)]
        model: ModelArgs,
        /// The text to tokenize.
        #[arg(long)]
        text: String,
        /// Parse control-token strings such as `<s>` in the text as control tokens.
        #[arg(long)]
        special: bool,
        /// Print JSON (`ids` and `pieces`).
        #[arg(long)]
        json: bool,
    },
    /// Float32 logits `[n_tokens, vocab]` at every position, written as NumPy .npy.
    Logits {
        #[command(flatten)]
        model: ModelArgs,
        #[command(flatten)]
        input: PromptInput,
        /// Output .npy file.
        #[arg(long)]
        out: PathBuf,
    },
    /// Generate a continuation (one or several samples from one prefill).
    Generate {
        #[command(flatten)]
        model: ModelArgs,
        #[command(flatten)]
        input: PromptInput,
        /// Maximum new tokens per sample.
        #[arg(long, default_value_t = 128)]
        max_tokens: usize,
        /// 0 = greedy.
        #[arg(long, default_value_t = 0.0)]
        temperature: f32,
        /// Nucleus sampling threshold in (0, 1].
        #[arg(long, default_value_t = 1.0)]
        top_p: f32,
        /// Keep only the k most likely tokens (0 = all).
        #[arg(long, default_value_t = 0)]
        top_k: usize,
        /// Penalty (> 1) for tokens already seen.
        #[arg(long, default_value_t = 1.0)]
        repetition_penalty: f32,
        /// Random seed: the same seed and settings give the same output.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Samples to draw from one prompt prefill.
        #[arg(long, default_value_t = 1)]
        n: usize,
        /// A string that ends a sample (repeatable).
        #[arg(long)]
        stop: Vec<String>,
        /// Do not stop at the end-of-sequence token.
        #[arg(long)]
        ignore_eos: bool,
        /// Print one JSON object with prompt ids and each sample's ids and text.
        #[arg(long)]
        json: bool,
    },
    /// Write a deterministic random-weight Mixtral/Mistral GGUF (Mistral v1 tokenizer embedded).
    Synth {
        /// `tiny` (dim 256, 2 layers), `bench` (dim 1024, 4 layers), `mixtral` (Mixtral-8x7B's
        /// dimensions, 2 layers) or `mistral-7b` (Mistral-7B's, dense, 2 layers).
        #[arg(long, default_value = "tiny")]
        preset: synth::SynthPreset,
        /// Layers in place of the preset's count.
        #[arg(long)]
        layers: Option<usize>,
        /// Seed of the weights.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// F32, F16, Q8_0, Q6_K, Q5_1, Q5_0, Q5_K_M, Q4_1, Q4_0 or Q4_K_M.
        #[arg(long, default_value = "Q5_K_M")]
        quant: synth::SynthQuant,
        /// `merged` (3-D expert tensors) or `per-expert` (legacy).
        #[arg(long, default_value = "merged")]
        layout: synth::ExpertLayout,
        /// Output .gguf file.
        #[arg(long)]
        out: PathBuf,
    },
}

/// A prompt given as text or as token ids.
#[derive(Debug, clap::Args)]
#[group(required = true, multiple = false)]
pub struct PromptInput {
    /// Comma-separated token ids, used as they are.
    #[arg(long, value_delimiter = ',')]
    ids: Option<Vec<u32>>,
    /// Text, tokenized with the model's tokenizer (BOS added when the model wants it).
    #[arg(long, alias = "prompt")]
    text: Option<String>,
}

impl PromptInput {
    fn ids(&self, tokenizer: &Tokenizer) -> anyhow::Result<Vec<u32>> {
        match (&self.ids, &self.text) {
            (Some(ids), _) => Ok(ids.clone()),
            (None, Some(text)) => Ok(tokenizer.encode(text, tokenizer.add_bos_default())?),
            (None, None) => bail!("give --ids or --text"),
        }
    }
}

fn load(model: &ModelArgs) -> anyhow::Result<Engine> {
    Ok(Engine::load(&model.engine_options())?)
}

pub fn run(command: ModelCommand) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match command {
        ModelCommand::Inspect { file, json } => {
            let gguf = GgufFile::open(&file)?;
            let info = ModelInfo::from_gguf(&gguf)?;
            let tokenizer = Tokenizer::from_gguf_metadata(gguf.metadata());
            if json {
                let mut v = serde_json::to_value(&info)?;
                v["tokenizer"] = match &tokenizer {
                    Ok(t) => json!({"kind": t.kind().to_string(), "vocab_size": t.vocab_size(),
                        "bos_id": t.bos_id(), "eos_id": t.eos_id()}),
                    Err(e) => json!({"error": e.to_string()}),
                };
                writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
            } else {
                print_info(
                    &mut out,
                    &info,
                    tokenizer.as_ref().map_err(|e| e.to_string()),
                )?;
            }
        }
        ModelCommand::Tokenize {
            model,
            text,
            special,
            json,
        } => {
            let tokenizer = match &model.tokenizer {
                Some(path) => Tokenizer::from_tokenizer_json(path)?,
                None => Tokenizer::from_gguf_metadata(GgufFile::open(&model.model)?.metadata())?,
            };
            let bos = tokenizer.add_bos_default();
            let ids = if special {
                tokenizer.encode_with_special(&text, bos)?
            } else {
                tokenizer.encode(&text, bos)?
            };
            if json {
                let pieces: Vec<_> = ids.iter().map(|&i| tokenizer.id_to_piece(i)).collect();
                writeln!(out, "{}", json!({"ids": ids, "pieces": pieces}))?;
            } else {
                let ids: Vec<String> = ids.iter().map(u32::to_string).collect();
                writeln!(out, "{}", ids.join(","))?;
            }
        }
        ModelCommand::Logits {
            model,
            input,
            out: path,
        } => {
            let engine = load(&model)?;
            let ids = input.ids(engine.tokenizer())?;
            let logits = engine.logits(&ids)?;
            let file =
                File::create(&path).with_context(|| format!("cannot create {}", path.display()))?;
            super::npy::write_f32_matrix(BufWriter::new(file), &logits)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        ModelCommand::Generate {
            model,
            input,
            max_tokens,
            temperature,
            top_p,
            top_k,
            repetition_penalty,
            seed,
            n,
            stop,
            ignore_eos,
            json,
        } => {
            let engine = load(&model)?;
            let prompt = input.ids(engine.tokenizer())?;
            let params = GenerationParams {
                sampling: SamplingParams {
                    temperature,
                    top_p,
                    top_k,
                    repetition_penalty,
                    seed,
                },
                max_tokens,
                stop,
                ignore_eos,
                logprobs: None,
            };
            let stream_text = !json && n == 1;
            let mut write_err = None;
            let completions = engine.generate_n(&prompt, &params, n, &mut |step| {
                let Step::Token(d) = step else { return true };
                if stream_text && !d.text.is_empty() {
                    if let Err(e) = write!(out, "{}", d.text).and_then(|_| out.flush()) {
                        write_err = Some(e);
                        return false;
                    }
                }
                true
            });
            if let Some(e) = write_err {
                return Err(e.into());
            }
            let completions = completions?;
            if json {
                let samples: Vec<_> = completions
                    .iter()
                    .map(
                        |c| json!({"ids": c.ids, "text": c.text, "finish_reason": c.finish_reason}),
                    )
                    .collect();
                writeln!(out, "{}", json!({"prompt_ids": prompt, "samples": samples}))?;
            } else if stream_text {
                writeln!(out)?;
            } else {
                for (i, c) in completions.iter().enumerate() {
                    writeln!(out, "--- sample {i} ({:?})\n{}", c.finish_reason, c.text)?;
                }
            }
        }
        ModelCommand::Synth {
            preset,
            layers,
            seed,
            quant,
            layout,
            out: path,
        } => {
            let spec = SynthSpec {
                preset,
                seed,
                quant,
                layout,
                layers,
            };
            let report = synth::synthesize(&spec, &path)?;
            writeln!(
                out,
                "wrote {} ({} bytes, {} tensors, {} parameters)",
                report.path.display(),
                report.bytes,
                report.tensors,
                report.n_params
            )?;
        }
    }
    Ok(())
}

fn print_info(
    out: &mut impl Write,
    info: &ModelInfo,
    tokenizer: Result<&Tokenizer, String>,
) -> std::io::Result<()> {
    let c = &info.config;
    writeln!(
        out,
        "file:          {} ({} bytes)",
        info.path.display(),
        info.file_size
    )?;
    writeln!(
        out,
        "architecture:  {} ({})",
        c.architecture,
        c.name.as_deref().unwrap_or("unnamed")
    )?;
    writeln!(
        out,
        "dimensions:    dim {}, ffn {}, {} layers, {} heads, {} kv heads, head dim {}",
        c.dim, c.ffn_dim, c.n_layers, c.n_heads, c.n_kv_heads, c.head_dim
    )?;
    if c.is_moe() {
        writeln!(
            out,
            "experts:       {} per layer, top-{} ({:?} layout)",
            c.n_experts, c.n_experts_used, info.expert_layout
        )?;
    } else {
        writeln!(out, "experts:       none (dense)")?;
    }
    writeln!(
        out,
        "context:       {} tokens, rope base {}, rms eps {:e}",
        c.context_length, c.rope_base, c.rms_eps
    )?;
    writeln!(
        out,
        "parameters:    {} in {} tensors",
        info.n_params, info.tensor_count
    )?;
    writeln!(
        out,
        "file type:     {}, {:.2} bits per weight",
        info.file_type.as_deref().unwrap_or("not recorded"),
        info.bits_per_weight
    )?;
    for (dtype, share) in &info.quant_mix {
        writeln!(
            out,
            "  {dtype:<6} {:>4} tensors {:>12} bytes",
            share.tensors, share.bytes
        )?;
    }
    match tokenizer {
        Ok(t) => writeln!(
            out,
            "tokenizer:     {}, {} tokens, vocab rows {}",
            t.kind(),
            t.vocab_size(),
            c.vocab_size
        )?,
        Err(e) => writeln!(out, "tokenizer:     unusable: {e}")?,
    }
    Ok(())
}
