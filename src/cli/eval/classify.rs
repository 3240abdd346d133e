//! `sofer eval classify`: a model's accuracy, macro-F1 and calibration on labelled
//! sentences, by score and by 1 and k votes, and what each method costs.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use sofer::batch::item_seed;
use sofer::tasks::{
    self, Classification, ClassifyMethod, ClassifyRequest, LabelMatcher, LabelSpec,
    SamplingRequest, TaskRuntime,
};

use super::metrics::{self, Outcome, Scores};

/// The data set name `--data` takes for the repository's Hebrew sentiment comments.
const HEBREW_SENTIMENT: &str = "hebrew-sentiment";
/// Its labels, by the file's label number (0 positive, 1 negative, 2 neutral).
const HEBREW_SENTIMENT_LABELS: [&str; 3] = ["חיובי", "שלילי", "ניטרלי"];

/// Flags of `sofer eval classify`.
#[derive(Debug, clap::Args)]
pub struct ClassifyEvalArgs {
    /// JSONL, one `{"text", "label"}` a line (an `id` is optional), or `hebrew-sentiment`:
    /// the repository's 846 Hebrew comments (OnlpLab) with Hebrew label names.
    #[arg(long)]
    data: String,
    /// The labels to choose from, comma-separated [default: the labels in --data].
    #[arg(long, value_delimiter = ',')]
    labels: Vec<String>,
    /// The methods to compare, comma-separated: score, vote.
    #[arg(long, value_delimiter = ',', default_value = "score,vote")]
    method: Vec<ClassifyMethod>,
    /// The vote counts of the vote method, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,5")]
    votes: Vec<usize>,
    /// Sampling temperature [default: classify's: greedy for 1 vote, 0.7 for more; 1 for
    /// score].
    #[arg(long)]
    temperature: Option<f32>,
    /// Seed of the sampler; example i is seeded from it and i.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Only the first N examples.
    #[arg(long)]
    limit: Option<usize>,
    #[command(flatten)]
    common: super::TaskEvalFlags,
}

#[derive(Deserialize)]
struct Example {
    text: String,
    label: String,
}

/// The outcome of one method (and vote count).
#[derive(Debug, Serialize)]
struct Run {
    method: ClassifyMethod,
    /// Samples per example (vote); 0 for score.
    votes: usize,
    examples: usize,
    correct: usize,
    #[serde(flatten)]
    scores: Scores,
    /// Examples with no label chosen (every vote abstained).
    unlabelled: usize,
    /// Votes whose answer named no label, over all examples.
    abstentions: usize,
    prefills: usize,
    prompt_tokens: usize,
    completion_tokens: usize,
    wall_ms: f64,
    /// The process's peak resident memory when the run ended.
    peak_rss_bytes: u64,
}

/// Runs the evaluation.
pub fn run(args: ClassifyEvalArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        !args.method.is_empty(),
        "--method needs score, vote or both"
    );
    anyhow::ensure!(
        !args.method.contains(&ClassifyMethod::Vote)
            || (!args.votes.is_empty() && args.votes.iter().all(|&v| v > 0)),
        "--votes needs positive vote counts"
    );
    let (examples, default_labels) = read_examples(&args)?;
    let labels = if args.labels.is_empty() {
        default_labels
    } else {
        args.labels.clone()
    };
    let matcher = LabelMatcher::new(&labels);
    let gold: Vec<usize> = examples
        .iter()
        .enumerate()
        .map(|(i, e)| {
            matcher.single(&e.label).with_context(|| {
                format!(
                    "{}: example {} has label `{}`, which is not among {labels:?}",
                    args.data,
                    i + 1,
                    e.label
                )
            })
        })
        .collect::<anyhow::Result<_>>()?;
    let runtime = args.common.runtime()?;
    let mut plan: Vec<(ClassifyMethod, usize)> = Vec::new();
    for &method in &args.method {
        match method {
            ClassifyMethod::Score => plan.push((method, 0)),
            ClassifyMethod::Vote => plan.extend(args.votes.iter().map(|&v| (method, v))),
        }
    }
    let mut runs = Vec::new();
    for (method, votes) in plan {
        let run = evaluate(&args, &runtime, &examples, &gold, &labels, method, votes)?;
        if args.common.json {
            println!("{}", serde_json::to_string(&run)?);
        }
        runs.push(run);
    }
    if !args.common.json {
        print_table(&runs);
    }
    Ok(())
}

fn evaluate(
    args: &ClassifyEvalArgs,
    runtime: &TaskRuntime,
    examples: &[Example],
    gold: &[usize],
    labels: &[String],
    method: ClassifyMethod,
    votes: usize,
) -> anyhow::Result<Run> {
    let ctx = runtime.context();
    let mut outcomes = Vec::with_capacity(examples.len());
    let mut run = Run {
        method,
        votes,
        examples: examples.len(),
        correct: 0,
        scores: metrics::score(&[], labels.len()),
        unlabelled: 0,
        abstentions: 0,
        prefills: 0,
        prompt_tokens: 0,
        completion_tokens: 0,
        wall_ms: 0.0,
        peak_rss_bytes: 0,
    };
    let start = Instant::now();
    for (i, (example, &gold)) in examples.iter().zip(gold).enumerate() {
        let req = ClassifyRequest {
            text: example.text.clone(),
            labels: labels
                .iter()
                .map(|name| LabelSpec {
                    name: name.clone(),
                    description: None,
                })
                .collect(),
            method: Some(method),
            votes: (method == ClassifyMethod::Vote).then_some(votes),
            sampling: SamplingRequest {
                temperature: args.temperature,
                // Each example its own seed: with one seed for all, every example's votes
                // reuse the same random draws, and the votes' errors stop being
                // independent (measured: +4 of 40 on SmolLM2 from that alone).
                seed: Some(item_seed(args.seed, &i.to_string())),
                max_tokens: None,
            },
            ..ClassifyRequest::default()
        }
        .validate()?;
        let got = tasks::classify(&ctx, &req, &mut |_| true)?;
        let outcome = outcome(&got, labels, gold);
        run.correct += usize::from(outcome.predicted == Some(gold));
        run.unlabelled += usize::from(outcome.predicted.is_none());
        run.abstentions += got.abstentions;
        run.prefills += got.usage.prefills;
        run.prompt_tokens += got.usage.prompt_tokens;
        run.completion_tokens += got.usage.completion_tokens;
        outcomes.push(outcome);
    }
    run.wall_ms = start.elapsed().as_secs_f64() * 1000.0;
    run.scores = metrics::score(&outcomes, labels.len());
    run.peak_rss_bytes = crate::cli::peak_rss_bytes();
    Ok(run)
}

/// The prediction and distribution of one classification, by label index.
fn outcome(got: &Classification, labels: &[String], gold: usize) -> Outcome {
    let index = |name: &str| labels.iter().position(|l| l == name);
    let probabilities = match got.method {
        ClassifyMethod::Score => got.probabilities.iter().map(|p| p.probability).collect(),
        ClassifyMethod::Vote => got.tally.labels.iter().map(|l| l.share).collect(),
    };
    Outcome {
        gold,
        predicted: got.label.as_deref().and_then(index),
        probabilities,
    }
}

/// The examples and the labels they use (sorted; `hebrew-sentiment`: its three names).
fn read_examples(args: &ClassifyEvalArgs) -> anyhow::Result<(Vec<Example>, Vec<String>)> {
    let (mut examples, labels) = if args.data == HEBREW_SENTIMENT {
        let dir = args.common.data_dir()?;
        let examples = read_sentiment_tsv(&dir.join("sentiment/onlp_clean_token_dev.tsv"))?;
        let labels = HEBREW_SENTIMENT_LABELS.map(str::to_string).to_vec();
        (examples, labels)
    } else {
        let path = PathBuf::from(&args.data);
        anyhow::ensure!(
            path.is_file() || args.data == "-",
            "--data {}: no such file, and not a data set name (known: {HEBREW_SENTIMENT})",
            args.data
        );
        let examples = read_jsonl(&path)?;
        let mut labels: Vec<String> = examples.iter().map(|e| e.label.clone()).collect();
        labels.sort();
        labels.dedup();
        (examples, labels)
    };
    examples.truncate(args.limit.unwrap_or(usize::MAX));
    anyhow::ensure!(!examples.is_empty(), "{}: no examples", args.data);
    Ok((examples, labels))
}

fn read_jsonl(path: &std::path::Path) -> anyhow::Result<Vec<Example>> {
    let text = crate::cli::read_document(Some(path))?;
    let mut examples = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let example: Example =
            serde_json::from_str(line).with_context(|| format!("{}:{}", path.display(), n + 1))?;
        examples.push(example);
    }
    Ok(examples)
}

/// `comment<TAB>label` under a header line, labels 0/1/2.
fn read_sentiment_tsv(path: &std::path::Path) -> anyhow::Result<Vec<Example>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    text.lines()
        .enumerate()
        .skip(1)
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(n, line)| {
            let (comment, label) = line
                .rsplit_once('\t')
                .with_context(|| format!("{}:{}: no tab", path.display(), n + 1))?;
            let label: usize = label
                .trim()
                .parse()
                .ok()
                .filter(|&l| l < HEBREW_SENTIMENT_LABELS.len())
                .with_context(|| format!("{}:{}: label `{label}`", path.display(), n + 1))?;
            Ok(Example {
                text: comment.to_string(),
                label: HEBREW_SENTIMENT_LABELS[label].to_string(),
            })
        })
        .collect()
}

fn print_table(runs: &[Run]) {
    println!(
        "method\taccuracy\tmacro-F1\tBrier\tECE\tcorrect\tunlabelled\tabstentions\tprefills\twall s\tvs vote-1"
    );
    let base = runs
        .iter()
        .find(|r| r.method == ClassifyMethod::Vote && r.votes == 1)
        .or(runs.first())
        .map_or(1.0, |r| r.wall_ms.max(1e-9));
    for r in runs {
        let name = match r.method {
            ClassifyMethod::Score => "score".to_string(),
            ClassifyMethod::Vote => format!("vote-{}", r.votes),
        };
        println!(
            "{name}\t{:.3}\t{:.3}\t{:.3}\t{:.3}\t{}/{}\t{}\t{}\t{}\t{:.1}\t{:.2}x",
            r.scores.accuracy,
            r.scores.macro_f1,
            r.scores.brier,
            r.scores.ece,
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
