//! `sofer eval classify`: a model's accuracy on labelled sentences with 1 and k votes, and
//! what the votes cost (prefills, wall time).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use sofer::tasks::{self, ClassifyRequest, LabelSpec, SamplingRequest, TaskRuntime};

use crate::cli::ModelArgs;

/// Flags of `sofer eval classify`.
#[derive(Debug, clap::Args)]
pub struct ClassifyEvalArgs {
    /// JSONL, one `{"text", "label"}` a line (an `id` is optional).
    #[arg(long)]
    data: PathBuf,
    #[command(flatten)]
    model: ModelArgs,
    /// The labels to choose from, comma-separated [default: the labels in --data].
    #[arg(long, value_delimiter = ',')]
    labels: Vec<String>,
    /// The vote counts to compare, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,5")]
    votes: Vec<usize>,
    /// Sampling temperature [default: classify's: greedy for 1 vote, 0.7 for more].
    #[arg(long)]
    temperature: Option<f32>,
    /// Seed of the sampler.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Only the first N examples.
    #[arg(long)]
    limit: Option<usize>,
    /// A folder of prompt files overriding the built-in ones.
    #[arg(long, value_name = "DIR")]
    prompts: Option<PathBuf>,
    /// One JSON object per vote count instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Deserialize)]
struct Example {
    text: String,
    label: String,
}

/// The outcome for one vote count.
#[derive(Debug, Serialize)]
struct Run {
    votes: usize,
    examples: usize,
    correct: usize,
    accuracy: f64,
    /// Examples with no winning label (every sample abstained).
    unlabelled: usize,
    /// Samples whose answer named no label, over all examples.
    abstentions: usize,
    prefills: usize,
    prompt_tokens: usize,
    completion_tokens: usize,
    wall_ms: f64,
}

/// Runs the evaluation.
pub fn run(args: ClassifyEvalArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        !args.votes.is_empty() && args.votes.iter().all(|&v| v > 0),
        "--votes needs positive vote counts"
    );
    let examples = read_examples(&args)?;
    let labels = if args.labels.is_empty() {
        let mut labels: Vec<String> = examples.iter().map(|e| e.label.clone()).collect();
        labels.sort();
        labels.dedup();
        labels
    } else {
        args.labels.clone()
    };
    let runtime = TaskRuntime::load(&args.model.engine_options(), args.prompts.as_deref())?;
    let ctx = runtime.context();
    let mut runs = Vec::new();
    for &votes in &args.votes {
        let mut run = Run {
            votes,
            examples: examples.len(),
            correct: 0,
            accuracy: 0.0,
            unlabelled: 0,
            abstentions: 0,
            prefills: 0,
            prompt_tokens: 0,
            completion_tokens: 0,
            wall_ms: 0.0,
        };
        let start = Instant::now();
        for example in &examples {
            let req = ClassifyRequest {
                text: example.text.clone(),
                labels: labels
                    .iter()
                    .map(|name| LabelSpec {
                        name: name.clone(),
                        description: None,
                    })
                    .collect(),
                votes: Some(votes),
                sampling: SamplingRequest {
                    temperature: args.temperature,
                    seed: Some(args.seed),
                    max_tokens: None,
                },
                ..ClassifyRequest::default()
            }
            .validate()?;
            let got = tasks::classify(&ctx, &req, &mut |_| true)?;
            match &got.label {
                Some(label) if label.eq_ignore_ascii_case(&example.label) => run.correct += 1,
                Some(_) => {}
                None => run.unlabelled += 1,
            }
            run.abstentions += got.abstentions;
            run.prefills += got.usage.prefills;
            run.prompt_tokens += got.usage.prompt_tokens;
            run.completion_tokens += got.usage.completion_tokens;
        }
        run.wall_ms = start.elapsed().as_secs_f64() * 1000.0;
        run.accuracy = run.correct as f64 / run.examples as f64;
        if args.json {
            println!("{}", serde_json::to_string(&run)?);
        }
        runs.push(run);
    }
    if !args.json {
        print_table(&runs);
    }
    Ok(())
}

fn read_examples(args: &ClassifyEvalArgs) -> anyhow::Result<Vec<Example>> {
    let text = crate::cli::read_document(Some(&args.data))?;
    let mut examples = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let example: Example = serde_json::from_str(line)
            .with_context(|| format!("{}:{}", args.data.display(), n + 1))?;
        examples.push(example);
    }
    examples.truncate(args.limit.unwrap_or(usize::MAX));
    anyhow::ensure!(!examples.is_empty(), "{}: no examples", args.data.display());
    Ok(examples)
}

fn print_table(runs: &[Run]) {
    println!("votes\taccuracy\tcorrect\tunlabelled\tabstentions\tprefills\twall s\tvs first");
    let base = runs.first().map_or(1.0, |r| r.wall_ms.max(1e-9));
    for r in runs {
        println!(
            "{}\t{:.3}\t{}/{}\t{}\t{}\t{}\t{:.1}\t{:.2}x",
            r.votes,
            r.accuracy,
            r.correct,
            r.examples,
            r.unlabelled,
            r.abstentions,
            r.prefills,
            r.wall_ms / 1000.0,
            r.wall_ms / base
        );
    }
}
