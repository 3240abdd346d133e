//! `sofer batch`: one task over many documents, resumable, shardable, with progress.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use sofer::batch::{self, BatchJob, BatchTask, Input, JobIdentity, OutputFile, Shard, TaskOptions};
use sofer::tasks::glossary::parse_tsv;
use sofer::tasks::{ClassifyMethod, TaskRuntime};

use super::index::IndexDir;
use super::ModelArgs;

/// Exit code of a job that finished with failed items or malformed input lines.
const EXIT_ITEMS_FAILED: i32 = 3;
/// How often progress is logged when stderr is not a terminal.
const LOG_EVERY: Duration = Duration::from_secs(10);

/// Flags of `sofer batch`.
#[derive(Debug, clap::Args)]
pub struct BatchArgs {
    /// summarize, translate or classify.
    #[arg(long)]
    task: BatchTask,
    /// JSONL ({"id", "text", "options"?} a line) or a folder of .txt/.md files.
    #[arg(long)]
    input: PathBuf,
    /// The output JSONL; an interrupted job resumes into it.
    #[arg(long)]
    output: PathBuf,
    #[command(flatten)]
    model: ModelArgs,
    /// Take shard i of N (0 <= i < N), a stable 1/N of the items by id.
    #[arg(long, value_name = "i/N")]
    shard: Option<Shard>,
    /// Items in flight at once.
    #[arg(long, default_value_t = 1)]
    concurrency: usize,
    /// Discard the output of an earlier, different job instead of refusing.
    #[arg(long)]
    restart: bool,
    /// A folder of prompt files overriding the built-in ones.
    #[arg(long, value_name = "DIR")]
    prompts: Option<PathBuf>,
    #[command(flatten)]
    index: IndexDir,
    /// classify: the labels, comma-separated.
    #[arg(long, value_delimiter = ',')]
    labels: Option<Vec<String>>,
    /// classify: a document may get several labels.
    #[arg(long)]
    multi_label: bool,
    /// classify: score or vote [default: vote when --votes is given, else score for labels
    /// of at most 16 tokens].
    #[arg(long)]
    method: Option<ClassifyMethod>,
    /// classify: samples to vote (1 to 32) [default: 5].
    #[arg(long)]
    votes: Option<usize>,
    /// classify, multi-label score: the least probability of a chosen label [default: 0.3].
    #[arg(long)]
    threshold: Option<f64>,
    /// translate: candidates per paragraph.
    #[arg(long)]
    candidates: Option<usize>,
    /// Sampling temperature, 0 to 2 [default: the task's].
    #[arg(long)]
    temperature: Option<f32>,
    /// Seed of the job: each item is seeded from it and its id [default: 0].
    #[arg(long)]
    seed: Option<u64>,
    /// Output budget of each generation call, in tokens.
    #[arg(long)]
    max_tokens: Option<usize>,
    /// translate: he or en [default: detected].
    #[arg(long = "source-lang")]
    source_lang: Option<String>,
    /// translate, summarize: he or en.
    #[arg(long = "target-lang")]
    target_lang: Option<String>,
    /// summarize: short, medium, long, or a number of words.
    #[arg(long)]
    length: Option<String>,
    /// summarize: paragraph or bullets.
    #[arg(long)]
    style: Option<String>,
    /// summarize: a question the summary should answer.
    #[arg(long)]
    focus: Option<String>,
    /// summarize: the largest map chunk in tokens.
    #[arg(long)]
    chunk_tokens: Option<usize>,
    /// translate: term pairs, one `source<TAB>target` a line.
    #[arg(long, value_name = "FILE")]
    glossary: Option<PathBuf>,
    /// The index collection for context, translation memory or examples.
    #[arg(long)]
    collection: Option<String>,
}

impl BatchArgs {
    fn options(&self) -> anyhow::Result<TaskOptions> {
        let glossary = match &self.glossary {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?;
                Some(parse_tsv(&text).with_context(|| format!("{}", path.display()))?)
            }
            None => None,
        };
        Ok(TaskOptions {
            labels: self.labels.clone(),
            multi_label: self.multi_label.then_some(true),
            method: self.method,
            votes: self.votes,
            threshold: self.threshold,
            candidates: self.candidates,
            temperature: self.temperature,
            seed: self.seed,
            max_tokens: self.max_tokens,
            source_lang: self.source_lang.clone(),
            target_lang: self.target_lang.clone(),
            length: self.length.clone(),
            style: self.style.clone(),
            focus: self.focus.clone(),
            chunk_tokens: self.chunk_tokens,
            glossary,
            collection: self.collection.clone(),
        })
    }

    fn runtime(&self) -> anyhow::Result<TaskRuntime> {
        super::load_runtime(
            &self.model,
            self.prompts.as_deref(),
            self.collection.as_deref(),
            &self.index,
        )
    }
}

/// The end-of-job summary, printed as one JSON line on stdout.
#[derive(Debug, serde::Serialize)]
struct Summary {
    input_items: usize,
    bad_lines: usize,
    shard: String,
    shard_items: usize,
    already_done: usize,
    succeeded: usize,
    failed: usize,
    failed_total: usize,
    seconds: f64,
    items_per_second: f64,
    output: PathBuf,
}

/// Runs `sofer batch`.
pub fn run(args: BatchArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.concurrency >= 1, "--concurrency must be at least 1");
    let options = args.options()?;
    if args.task == BatchTask::Classify {
        anyhow::ensure!(
            options.labels.as_ref().is_some_and(|l| !l.is_empty()),
            "--task classify needs --labels"
        );
    }
    let input = Input::scan(&args.input)?;
    for bad in &input.bad_lines {
        eprintln!("{}: skipped: {}", input.place(bad.line), bad.reason);
    }
    let shard = args.shard.unwrap_or_default();
    let in_shard: Vec<_> = input
        .items
        .iter()
        .filter(|i| shard.contains(&i.id))
        .collect();
    let identity = JobIdentity::new(
        args.task,
        options.clone(),
        shard,
        input.digest.clone(),
        &args.model.model,
    );
    let (mut output, recovered) = OutputFile::open(&args.output, &identity, args.restart, true)?;
    let pending: Vec<_> = in_shard
        .iter()
        .copied()
        .filter(|i| !recovered.done.contains(&i.id))
        .collect();
    let already_done = in_shard.len() - pending.len();
    if already_done > 0 {
        eprintln!(
            "resuming: {already_done} of {} items already in {}",
            in_shard.len(),
            args.output.display()
        );
    }
    let started = Instant::now();
    let counts = if pending.is_empty() {
        batch::RunCounts::default()
    } else {
        let runtime = args.runtime()?;
        if args.task != BatchTask::Classify {
            if let Some(advice) = runtime.engine().info().low_precision_advice() {
                tracing::warn!("{advice}");
            }
        }
        let job = BatchJob {
            runtime: &runtime,
            task: args.task,
            options,
            concurrency: args.concurrency,
        };
        let mut progress = Reporter::new(pending.len());
        let counts = batch::run(&job, &input, &pending, &mut output, &mut |record| {
            progress.item(record.error.is_some())
        })?;
        progress.finish();
        counts
    };
    drop(output);
    let seconds = started.elapsed().as_secs_f64();
    let summary = Summary {
        input_items: input.items.len(),
        bad_lines: input.bad_lines.len(),
        shard: shard.to_string(),
        shard_items: in_shard.len(),
        already_done,
        succeeded: counts.succeeded,
        failed: counts.failed,
        failed_total: recovered.failed + counts.failed,
        seconds,
        items_per_second: (counts.succeeded + counts.failed) as f64 / seconds.max(1e-9),
        output: args.output.clone(),
    };
    println!("{}", serde_json::to_string(&summary)?);
    if summary.failed_total > 0 || summary.bad_lines > 0 {
        eprintln!(
            "batch finished with {} failed items and {} malformed input lines (see the `error` field in {})",
            summary.failed_total,
            summary.bad_lines,
            args.output.display()
        );
        std::process::exit(EXIT_ITEMS_FAILED);
    }
    Ok(())
}

/// Progress: a bar on a terminal, a log line every [`LOG_EVERY`] otherwise.
struct Reporter {
    bar: Option<ProgressBar>,
    total: usize,
    done: usize,
    failed: usize,
    started: Instant,
    logged: Instant,
}

impl Reporter {
    fn new(total: usize) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(total as u64);
            let style = ProgressStyle::with_template(
                "{bar:40} {pos}/{len} items  {per_sec}  ETA {eta}  {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            bar
        });
        Self {
            bar,
            total,
            done: 0,
            failed: 0,
            started: Instant::now(),
            logged: Instant::now(),
        }
    }

    fn item(&mut self, failed: bool) {
        self.done += 1;
        self.failed += usize::from(failed);
        if let Some(bar) = &self.bar {
            bar.inc(1);
            if failed {
                bar.set_message(format!("{} failed", self.failed));
            }
        } else if self.logged.elapsed() >= LOG_EVERY {
            self.logged = Instant::now();
            self.log();
        }
    }

    fn log(&self) {
        let elapsed = self.started.elapsed().as_secs_f64();
        let rate = self.done as f64 / elapsed.max(1e-9);
        let eta = (self.total - self.done) as f64 / rate.max(1e-9);
        eprintln!(
            "batch: {}/{} items ({} failed), {rate:.2} items/s, ETA {eta:.0} s",
            self.done, self.total, self.failed
        );
    }

    fn finish(&self) {
        match &self.bar {
            Some(bar) => bar.finish(),
            None => self.log(),
        }
    }
}
