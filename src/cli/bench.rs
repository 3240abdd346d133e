//! `sofer bench`: prefill and decode throughput, k samples vs one, peak memory.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use serde::Serialize;

use sofer::engine::sampler::SamplingParams;
use sofer::engine::{Engine, GenerationParams};

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    #[command(flatten)]
    model: super::ModelArgs,
    /// Prompt length for the prefill measurement.
    #[arg(long, default_value_t = 256)]
    prompt_tokens: usize,
    /// Tokens to decode.
    #[arg(long, default_value_t = 128)]
    gen_tokens: usize,
    /// Also time k samples from one prefill against one sample.
    #[arg(long)]
    n: Option<usize>,
    /// Worker threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Timed repetitions; the median is reported.
    #[arg(long, default_value_t = 3)]
    repetitions: usize,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Serialize)]
struct BenchReport {
    engine: &'static str,
    model: PathBuf,
    repack: bool,
    threads: usize,
    prompt_tokens: usize,
    gen_tokens: usize,
    prefill_tok_s: f64,
    decode_tok_s: f64,
    peak_rss_bytes: u64,
    file_bytes: u64,
    kv_cache_bytes: u64,
    /// Seconds from the file's path to a loaded engine.
    load_s: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    n: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    single_sample_wall_s: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    k_samples_wall_s: Option<f64>,
}

pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    if let Some(t) = args.threads {
        anyhow::ensure!(t > 0, "`--threads` must be at least 1");
        // Read by candle's thread pools when they start, which is after this point.
        std::env::set_var("CANDLE_NUM_THREADS", t.to_string());
        std::env::set_var("RAYON_NUM_THREADS", t.to_string());
    }
    anyhow::ensure!(
        args.prompt_tokens > 0,
        "`--prompt-tokens` must be at least 1"
    );
    anyhow::ensure!(args.repetitions > 0, "`--repetitions` must be at least 1");
    let load_start = Instant::now();
    // Every repetition runs the same prompt: a prefix cache would serve it instead of
    // measuring the prefill.
    let mut options = args.model.engine_options();
    options.scheduler.prefix_cache_bytes = 0;
    let engine = Engine::load(&options)?;
    let load_s = load_start.elapsed().as_secs_f64();
    let vocab = engine.info().config.vocab_size as u32;
    // A fixed, varied prompt of ordinary tokens (ids past the byte and control pieces).
    let prompt: Vec<u32> = (0..args.prompt_tokens as u32)
        .map(|i| {
            if i == 0 {
                1
            } else {
                300 + (i * 7919) % (vocab - 300)
            }
        })
        .collect();
    let greedy = GenerationParams {
        max_tokens: args.gen_tokens,
        ignore_eos: true,
        ..Default::default()
    };
    let mut no_sink = |_: sofer::engine::generate::Step<'_>| true;

    // Warm-up: first-touch allocations and any lazy weight preparation.
    engine.generate_n_timed(
        &prompt[..prompt.len().min(16)],
        &GenerationParams {
            max_tokens: 4,
            ..greedy.clone()
        },
        1,
        &mut no_sink,
    )?;

    let mut prefill = Vec::new();
    let mut decode = Vec::new();
    for _ in 0..args.repetitions {
        let (_, t) = engine.generate_n_timed(&prompt, &greedy, 1, &mut no_sink)?;
        prefill.push(t.prompt_tokens as f64 / t.prefill_secs);
        if t.decode_steps > 0 {
            // The first generated token comes from the prefill's logits.
            decode.push(t.decode_steps as f64 / t.decode_secs);
        }
    }

    let (mut single, mut k_wall) = (None, None);
    if let Some(k) = args.n {
        anyhow::ensure!(k > 0, "`--n` must be at least 1");
        let sampled = GenerationParams {
            sampling: SamplingParams {
                temperature: 0.7,
                seed: 1,
                ..Default::default()
            },
            ..greedy.clone()
        };
        let time = |n: usize,
                    sink: &mut dyn FnMut(sofer::engine::generate::Step<'_>) -> bool|
         -> anyhow::Result<f64> {
            let t0 = Instant::now();
            engine.generate_n_timed(&prompt, &sampled, n, sink)?;
            Ok(t0.elapsed().as_secs_f64())
        };
        single = Some(median(
            (0..args.repetitions)
                .map(|_| time(1, &mut no_sink))
                .collect::<anyhow::Result<_>>()?,
        ));
        k_wall = Some(median(
            (0..args.repetitions)
                .map(|_| time(k, &mut no_sink))
                .collect::<anyhow::Result<_>>()?,
        ));
    }

    let report = BenchReport {
        engine: "sofer",
        model: args.model.model.clone(),
        repack: args.model.repack,
        threads: args
            .threads
            .unwrap_or_else(candle_core::utils::get_num_threads),
        prompt_tokens: args.prompt_tokens,
        gen_tokens: args.gen_tokens,
        prefill_tok_s: median(prefill),
        decode_tok_s: median(decode),
        peak_rss_bytes: super::peak_rss_bytes(),
        file_bytes: engine.info().file_size,
        kv_cache_bytes: {
            let c = &engine.info().config;
            // f32 keys and values of one sequence, for every layer and kv head.
            (c.n_layers
                * 2
                * c.n_kv_heads
                * c.head_dim
                * 4
                * (args.prompt_tokens + args.gen_tokens)) as u64
        },
        load_s,
        n: args.n,
        single_sample_wall_s: single,
        k_samples_wall_s: k_wall,
    };
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string(&report)?)?;
    } else {
        writeln!(out, "model           {}", report.model.display())?;
        writeln!(out, "threads         {}", report.threads)?;
        writeln!(out, "load            {:.2} s", report.load_s)?;
        writeln!(
            out,
            "prefill         {:.1} tok/s ({} tokens)",
            report.prefill_tok_s, report.prompt_tokens
        )?;
        writeln!(
            out,
            "decode          {:.1} tok/s ({} tokens)",
            report.decode_tok_s, report.gen_tokens
        )?;
        writeln!(
            out,
            "peak RSS        {:.1} MiB (file {:.1} MiB)",
            report.peak_rss_bytes as f64 / 1048576.0,
            report.file_bytes as f64 / 1048576.0
        )?;
        if let (Some(k), Some(s), Some(kw)) = (
            report.n,
            report.single_sample_wall_s,
            report.k_samples_wall_s,
        ) {
            writeln!(
                out,
                "{k} samples      {kw:.3} s vs 1 sample {s:.3} s ({:.2}x)",
                kw / s
            )?;
        }
    }
    Ok(())
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}
