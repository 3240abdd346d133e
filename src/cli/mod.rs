//! Command definitions (clap) and their dispatch.

mod batch;
mod bench;
mod client;
mod eval;
mod index;
mod input;
mod model;
mod npy;
mod output;
mod prompt;
mod serve;
mod task;
mod text;
mod tokenizer;

use std::path::{Path, PathBuf};

use anyhow::Context;

use clap::{Parser, Subcommand};

pub use input::{index_paragraphs, read_document, read_input, Input};

/// Sofer: Hebrew-first summarization, translation and classification on a local Mixtral.
#[derive(Debug, Parser)]
#[command(name = "sofer", version, about)]
pub struct Cli {
    /// More log output (-v info, -vv debug); `RUST_LOG` overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Inspect, run and synthesize GGUF models.
    Model {
        #[command(subcommand)]
        command: model::ModelCommand,
    },
    /// Measure prefill and decode speed, k-sample cost and peak memory.
    Bench(bench::BenchArgs),
    /// Summarize a document (long ones map-reduce over chunks).
    Summarize(task::SummarizeArgs),
    /// Translate a document Hebrew ⇄ English, paragraph by paragraph.
    Translate(task::TranslateArgs),
    /// Classify a document into given labels: each label's exact probability, or votes.
    Classify(task::ClassifyArgs),
    /// Serve the gRPC API and, with --http-listen, HTTP/JSON, the OpenAI API and a web page.
    Serve(serve::ServeArgs),
    /// Call a running server (wait for health, ingest, summarize, translate, classify).
    Client {
        #[command(subcommand)]
        command: client::ClientCommand,
    },
    /// Print the SHA-256 of an API key for the server's configuration.
    HashKey(serve::HashKeyArgs),
    /// Run a task over many documents (JSONL or a folder): resumable, shardable.
    Batch(batch::BatchArgs),
    /// Add, count and delete documents in the retrieval index.
    Index {
        #[command(subcommand)]
        command: index::IndexCommand,
    },
    /// Search the retrieval index.
    Search(index::SearchArgs),
    /// Look at what the text layer does to a document: sentences, normalization, chunks.
    Text {
        #[command(subcommand)]
        command: text::TextCommand,
    },
    /// Render conversations and task prompts to the ids the engine sees.
    Prompt {
        #[command(subcommand)]
        command: prompt::PromptCommand,
    },
    /// Measure quality: classify, translate, summarize, compare files, segmentation,
    /// retrieval, chrF.
    Eval {
        #[command(subcommand)]
        command: eval::EvalCommand,
    },
    /// What a model's tokenizer costs on Hebrew and English text.
    Tokenizer {
        #[command(subcommand)]
        command: tokenizer::TokenizerCommand,
    },
}

/// Where a model comes from, shared by the commands that load one.
#[derive(Debug, clap::Args)]
pub struct ModelArgs {
    /// The GGUF model file.
    #[arg(long, env = "SOFER_MODEL")]
    pub model: PathBuf,
    /// A tokenizer.json to use instead of the tokenizer embedded in the GGUF.
    #[arg(long)]
    pub tokenizer: Option<PathBuf>,
    /// Keep candle's repacked copies of Q4_K/Q6_K weights: faster prompts, up to ~2x memory.
    #[arg(long)]
    pub repack: bool,
    /// MiB of keys and values kept for prompt prefixes that later prompts start with (the
    /// instructions every chunk or paragraph repeats); 0 turns prefix reuse off.
    #[arg(long, default_value_t = 256, env = "SOFER_PREFIX_CACHE_MIB")]
    pub prefix_cache_mib: usize,
    /// MiB of keys and values the running sequences may hold (the chunks or paragraphs a
    /// task runs side by side); past it, generations wait for room.
    #[arg(long, default_value_t = 4096, env = "SOFER_KV_CACHE_MIB")]
    pub kv_cache_mib: usize,
    /// Sequences (samples decoding, prompts in progress) the engine runs at once; one
    /// caller's calls (a document's chunks or paragraphs) take at most three quarters.
    #[arg(long, default_value_t = 32, env = "SOFER_MAX_SEQUENCES", value_parser = clap::value_parser!(u16).range(1..))]
    pub max_sequences: u16,
}

impl ModelArgs {
    /// Engine options for these flags.
    pub fn engine_options(&self) -> sofer::engine::EngineOptions {
        sofer::engine::EngineOptions {
            model: self.model.clone(),
            tokenizer_json: self.tokenizer.clone(),
            weight_kernels: if self.repack {
                sofer::engine::model::WeightKernels::Repacked
            } else {
                sofer::engine::model::WeightKernels::Compact
            },
            scheduler: sofer::engine::scheduler::SchedulerOptions {
                prefix_cache_bytes: self.prefix_cache_mib.saturating_mul(1 << 20),
                kv_cache_bytes: self.kv_cache_mib.saturating_mul(1 << 20),
                ..sofer::engine::scheduler::SchedulerOptions::for_sequences(
                    self.max_sequences.into(),
                )
            },
        }
    }
}

/// Loads the model and prompts, and the index when a task names a collection.
pub fn load_runtime(
    model: &ModelArgs,
    prompts: Option<&Path>,
    collection: Option<&str>,
    index: &index::IndexDir,
) -> anyhow::Result<sofer::tasks::TaskRuntime> {
    let options = model.engine_options();
    let runtime = sofer::tasks::TaskRuntime::load(&options, prompts)
        .with_context(|| format!("loading {}", options.model.display()))?;
    if collection.is_none() {
        return Ok(runtime);
    }
    let dir = index.resolve()?;
    let opened = sofer::retrieval::RetrievalIndex::open(&dir)
        .with_context(|| format!("opening index {}", dir.display()))?;
    Ok(runtime.with_index(opened))
}

/// The process's peak resident set (`VmHWM`), 0 where /proc is unavailable.
pub fn peak_rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// Sets up `tracing` to stderr.
pub fn init_logging(verbose: u8) {
    // lopdf warns about every oddity of a PDF it still reads; our reader's own errors say
    // what matters.
    let default = match verbose {
        0 => "warn,lopdf=error",
        1 => "info,lopdf=error",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

/// Runs the parsed command.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Model { command } => model::run(command),
        Command::Bench(args) => bench::run(args),
        Command::Summarize(args) => task::summarize(args),
        Command::Translate(args) => task::translate(args),
        Command::Classify(args) => task::classify(args),
        Command::Serve(args) => serve::run(args),
        Command::HashKey(args) => serve::hash(args),
        Command::Client { command } => client::run(command),
        Command::Batch(args) => batch::run(args),
        Command::Index { command } => index::run(command),
        Command::Search(args) => index::search(args),
        Command::Text { command } => text::run(command),
        Command::Prompt { command } => prompt::run(command),
        Command::Eval { command } => eval::run(command),
        Command::Tokenizer { command } => tokenizer::run(command),
    }
}
