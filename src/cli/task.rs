//! `sofer summarize|translate|classify`: the tasks as one-shot commands.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use anyhow::Context;
use sofer::tasks::glossary::parse_tsv;
use sofer::tasks::{
    self, ClassifyMethod, ClassifyRequest, Event, LabelSpec, SamplingRequest, SummarizeRequest,
    TaskRuntime, TranslateRequest,
};
use sofer::text::bidi;

use super::index::IndexDir;
use super::{Input, ModelArgs};

/// Flags every task command shares.
#[derive(Debug, clap::Args)]
pub struct TaskArgs {
    /// The document (DOCX, ODT, PDF, HTML or text); `-` or nothing for stdin.
    input: Option<PathBuf>,
    #[command(flatten)]
    model: ModelArgs,
    /// A folder of prompt files overriding the built-in ones.
    #[arg(long, value_name = "DIR")]
    prompts: Option<PathBuf>,
    /// Sampling temperature, 0 to 2 [default: the task's].
    #[arg(long)]
    temperature: Option<f32>,
    /// Seed of the sampler; the same seed gives the same output.
    #[arg(long)]
    seed: Option<u64>,
    /// Output budget of each generation call, in tokens.
    #[arg(long)]
    max_tokens: Option<usize>,
    /// A collection of the retrieval index: context passages (summarize), translation
    /// memory (translate) or labelled examples (classify).
    #[arg(long)]
    collection: Option<String>,
    #[command(flatten)]
    index: IndexDir,
    /// Print the full result as one JSON object (text or label, tally, usage).
    #[arg(long)]
    json: bool,
}

/// Flags of `sofer summarize`.
#[derive(Debug, clap::Args)]
pub struct SummarizeArgs {
    #[command(flatten)]
    task: TaskArgs,
    /// short, medium, long, or a number of words.
    #[arg(long)]
    length: Option<String>,
    /// paragraph or bullets.
    #[arg(long)]
    style: Option<String>,
    /// The summary's language, he or en [default: the document's].
    #[arg(long = "target-lang")]
    target_lang: Option<String>,
    /// A question the summary should answer.
    #[arg(long)]
    focus: Option<String>,
    /// The largest map chunk in tokens [default: as much as the context allows].
    #[arg(long)]
    chunk_tokens: Option<usize>,
}

/// Flags of `sofer translate`.
#[derive(Debug, clap::Args)]
pub struct TranslateArgs {
    #[command(flatten)]
    task: TaskArgs,
    /// he or en [default: detected].
    #[arg(long = "source-lang")]
    source_lang: Option<String>,
    /// he or en [default: the other one].
    #[arg(long = "target-lang")]
    target_lang: Option<String>,
    /// Candidates per paragraph; more than one picks the chrF consensus.
    #[arg(long)]
    candidates: Option<usize>,
    /// Term pairs that must be used, one `source<TAB>target` a line.
    #[arg(long, value_name = "FILE")]
    glossary: Option<PathBuf>,
    /// Write the translation to FILE instead of stdout: a DOCX or HTML input is rebuilt
    /// in its own format when FILE has its extension, anything else is written as text.
    #[arg(long, short, value_name = "FILE")]
    output: Option<PathBuf>,
}

/// Flags of `sofer classify`.
#[derive(Debug, clap::Args)]
pub struct ClassifyArgs {
    #[command(flatten)]
    task: TaskArgs,
    /// The labels, comma-separated.
    #[arg(long, value_delimiter = ',', required = true)]
    labels: Vec<String>,
    /// score (each label's exact probability, one prefill) or vote (k samples) [default:
    /// vote when --votes is given, else score for labels of at most 16 tokens].
    #[arg(long)]
    method: Option<ClassifyMethod>,
    /// Samples to vote (1 to 32) [default: 5].
    #[arg(long)]
    votes: Option<usize>,
    /// A document may get several labels.
    #[arg(long)]
    multi_label: bool,
    /// Multi-label score: the least probability of a chosen label [default: 0.3].
    #[arg(long)]
    threshold: Option<f64>,
}

impl TaskArgs {
    /// Loads the model and prompts, and the index when a collection is named.
    fn load(&self) -> anyhow::Result<TaskRuntime> {
        super::load_runtime(
            &self.model,
            self.prompts.as_deref(),
            self.collection.as_deref(),
            &self.index,
        )
    }

    /// [`Self::load`], warning once when the file is below 5 bits per weight (summaries
    /// and translations lose quality there).
    fn load_for_text(&self) -> anyhow::Result<TaskRuntime> {
        let runtime = self.load()?;
        if let Some(advice) = runtime.engine().info().low_precision_advice() {
            tracing::warn!("{advice}");
        }
        Ok(runtime)
    }

    fn read_input(&self) -> anyhow::Result<Input> {
        super::read_input(self.input.as_deref())
    }

    fn sampling(&self) -> SamplingRequest {
        SamplingRequest {
            temperature: self.temperature,
            seed: self.seed,
            max_tokens: self.max_tokens,
        }
    }
}

/// Streams a task's text to stdout: as it comes when piped; on a terminal, a line holding
/// right-to-left text is shown once complete, in display order.
struct Printer {
    terminal: bool,
    line: String,
    printed: usize,
}

impl Printer {
    fn new() -> Self {
        Self {
            terminal: std::io::stdout().is_terminal(),
            line: String::new(),
            printed: 0,
        }
    }

    fn push(&mut self, text: &str) -> std::io::Result<()> {
        let mut out = std::io::stdout().lock();
        if !self.terminal {
            out.write_all(text.as_bytes())?;
            return out.flush();
        }
        for piece in text.split_inclusive('\n') {
            self.line.push_str(piece);
            let done = self.line.ends_with('\n');
            let rest = &self.line[self.printed..];
            if done {
                write!(out, "{}", bidi::visual(rest))?;
                self.line.clear();
                self.printed = 0;
            } else if !self.line.chars().any(is_rtl) {
                out.write_all(rest.as_bytes())?;
                self.printed = self.line.len();
            }
        }
        out.flush()
    }

    fn finish(&mut self) -> std::io::Result<()> {
        if !self.line.is_empty() || self.terminal {
            self.push("\n")?;
        }
        Ok(())
    }
}

fn is_rtl(c: char) -> bool {
    matches!(c, '\u{0590}'..='\u{08FF}' | '\u{FB1D}'..='\u{FDFF}' | '\u{FE70}'..='\u{FEFF}')
}

/// Runs a task, streaming its text unless `--json`, then prints the JSON result.
fn run_task<R: serde::Serialize>(
    json: bool,
    task: impl FnOnce(&mut dyn FnMut(Event<'_>) -> bool) -> Result<R, sofer::tasks::TaskError>,
) -> anyhow::Result<R> {
    let mut printer = Printer::new();
    let mut failed: Option<std::io::Error> = None;
    let result = task(&mut |event| match event {
        Event::Text(text) if !json => match printer.push(text) {
            Ok(()) => true,
            Err(e) => {
                failed = Some(e);
                false
            }
        },
        _ => true,
    });
    if let Some(e) = failed {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        return Err(e.into());
    }
    let result = result?;
    if json {
        println!("{}", serde_json::to_string_pretty(&result)?);
    } else {
        printer.finish()?;
    }
    Ok(result)
}

/// Runs `sofer summarize`.
pub fn summarize(args: SummarizeArgs) -> anyhow::Result<()> {
    let req = SummarizeRequest {
        text: args.task.read_input()?.text,
        length: args.length,
        style: args.style,
        output_language: args.target_lang,
        focus: args.focus,
        chunk_tokens: args.chunk_tokens,
        sampling: args.task.sampling(),
        collection: args.task.collection.clone(),
    }
    .validate()?;
    let runtime = args.task.load_for_text()?;
    let ctx = runtime.context();
    run_task(args.task.json, |out| tasks::summarize(&ctx, &req, out))?;
    Ok(())
}

/// Runs `sofer translate`.
pub fn translate(args: TranslateArgs) -> anyhow::Result<()> {
    let glossary = match &args.glossary {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            parse_tsv(&text).with_context(|| format!("{}", path.display()))?
        }
        None => Vec::new(),
    };
    let input = args.task.read_input()?;
    let req = TranslateRequest {
        text: input.text.clone(),
        source_language: args
            .source_lang
            .or_else(|| input.document.declared_language().map(String::from)),
        target_language: args.target_lang,
        glossary,
        candidates: args.candidates,
        sampling: args.task.sampling(),
        collection: args.task.collection.clone(),
    }
    .validate()?;
    let runtime = args.task.load_for_text()?;
    let ctx = runtime.context();
    let result = match &args.output {
        Some(path) => {
            let result = tasks::translate(&ctx, &req, &mut |_| true)?;
            super::output::write_translation(&input, &result, path)?;
            if args.task.json {
                println!("{}", serde_json::to_string_pretty(&result)?);
            }
            result
        }
        None => run_task(args.task.json, |out| tasks::translate(&ctx, &req, out))?,
    };
    if !args.task.json {
        for v in &result.glossary_violations {
            eprintln!(
                "glossary: paragraph {}: `{}` should be translated as `{}`",
                v.segment + 1,
                v.source,
                v.target
            );
        }
    }
    Ok(())
}

/// Runs `sofer classify`.
pub fn classify(args: ClassifyArgs) -> anyhow::Result<()> {
    let req = ClassifyRequest {
        text: args.task.read_input()?.text,
        labels: args
            .labels
            .iter()
            .map(|name| LabelSpec {
                name: name.clone(),
                description: None,
            })
            .collect(),
        multi_label: args.multi_label,
        method: args.method,
        votes: args.votes,
        threshold: args.threshold,
        sampling: args.task.sampling(),
        language: None,
        collection: args.task.collection.clone(),
    }
    .validate()?;
    let runtime = args.task.load()?;
    let ctx = runtime.context();
    let result = run_task(args.task.json, |out| tasks::classify(&ctx, &req, out))?;
    if !args.task.json {
        let labels = if result.labels.is_empty() {
            "(none)".to_string()
        } else {
            result.labels.join(",")
        };
        match result.method {
            ClassifyMethod::Score => {
                let all: Vec<String> = result
                    .probabilities
                    .iter()
                    .map(|p| format!("{} {:.3}", p.label, p.probability))
                    .collect();
                println!(
                    "{labels}\t{:.2}\t({}; coverage {:.3})",
                    result.confidence,
                    all.join(", "),
                    result.coverage
                );
            }
            ClassifyMethod::Vote => {
                let votes = result.tally.samples;
                let won = (result.confidence * votes as f64).round() as usize;
                println!(
                    "{labels}\t{:.2}\t({won}/{votes} votes, {} abstentions)",
                    result.confidence, result.abstentions
                );
            }
        }
    }
    Ok(())
}
