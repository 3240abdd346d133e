//! `sofer eval compare`: one evaluation over several model files (one model at several
//! quantization levels, say) in one table, quality beside speed and memory. Each file is
//! evaluated in its own `sofer eval` process, so each peak memory is that file's alone.

use std::path::PathBuf;
use std::process::Command;

use anyhow::Context;
use serde_json::Value;
use sofer::engine::gguf::GgufFile;
use sofer::engine::ModelInfo;

/// Flags of `sofer eval compare`.
#[derive(Debug, clap::Args)]
pub struct CompareArgs {
    /// The model files, comma-separated.
    #[arg(long, value_delimiter = ',', required = true)]
    models: Vec<PathBuf>,
    /// The evaluation to run on each: classify, translate or summarize.
    #[arg(long)]
    task: Task,
    /// One JSON object per run (the evaluation's own, with `model` and `bits_per_weight`).
    #[arg(long)]
    json: bool,
    /// The evaluation's own flags, after `--` (e.g. `-- --data hebrew-sentiment --limit 50`).
    #[arg(last = true)]
    args: Vec<String>,
}

/// An evaluation `compare` runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Task {
    /// `sofer eval classify`.
    Classify,
    /// `sofer eval translate`.
    Translate,
    /// `sofer eval summarize`.
    Summarize,
}

impl Task {
    fn name(self) -> &'static str {
        match self {
            Task::Classify => "classify",
            Task::Translate => "translate",
            Task::Summarize => "summarize",
        }
    }

    /// The columns of its runs: (header, key in the run's JSON).
    fn columns(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Task::Classify => &[
                ("method", "method"),
                ("votes", "votes"),
                ("accuracy", "accuracy"),
                ("macro-F1", "macro_f1"),
                ("Brier", "brier"),
                ("ECE", "ece"),
            ],
            Task::Translate => &[
                ("candidates", "candidates"),
                ("chrF2", "chrf"),
                ("glossary kept", "glossary_kept"),
                ("tokens/s", "tokens_per_s"),
            ],
            Task::Summarize => &[
                ("chrF2", "chrf"),
                ("ROUGE-L", "rouge_l"),
                ("length ok", "length_compliance"),
                ("supported (proxy)", "supported_sentences"),
            ],
        }
    }
}

/// Runs the comparison.
pub fn run(args: CompareArgs) -> anyhow::Result<()> {
    let me = std::env::current_exe().context("finding the sofer executable")?;
    if !args.json {
        let headers: Vec<&str> = args.task.columns().iter().map(|c| c.0).collect();
        println!(
            "model\tfile type\tbits/weight\tfile MiB\t{}\twall s\tpeak RSS MiB",
            headers.join("\t")
        );
    }
    for model in &args.models {
        let info = GgufFile::open(model)
            .and_then(|g| ModelInfo::from_gguf(&g))
            .with_context(|| format!("reading {}", model.display()))?;
        let output = Command::new(&me)
            .args(["eval", args.task.name(), "--json", "--model"])
            .arg(model)
            .args(&args.args)
            .output()
            .with_context(|| format!("running sofer eval {}", args.task.name()))?;
        anyhow::ensure!(
            output.status.success(),
            "sofer eval {} on {} failed: {}",
            args.task.name(),
            model.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        );
        for line in String::from_utf8_lossy(&output.stdout).lines() {
            let mut run: Value = serde_json::from_str(line)
                .with_context(|| format!("reading the evaluation's output: {line}"))?;
            if args.json {
                run["model"] = Value::from(model.display().to_string());
                run["bits_per_weight"] = Value::from(info.bits_per_weight);
                println!("{run}");
                continue;
            }
            let cells: Vec<String> = args
                .task
                .columns()
                .iter()
                .map(|(_, key)| cell(&run[*key]))
                .collect();
            println!(
                "{}\t{}\t{:.2}\t{:.1}\t{}\t{:.1}\t{:.0}",
                model.file_name().map_or_else(
                    || model.display().to_string(),
                    |n| n.to_string_lossy().into_owned()
                ),
                info.file_type.as_deref().unwrap_or("-"),
                info.bits_per_weight,
                info.file_size as f64 / 1048576.0,
                cells.join("\t"),
                run["wall_ms"].as_f64().unwrap_or(0.0) / 1000.0,
                run["peak_rss_bytes"].as_f64().unwrap_or(0.0) / 1048576.0
            );
        }
    }
    Ok(())
}

fn cell(value: &Value) -> String {
    match value {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        Value::Number(n) if n.is_u64() || n.is_i64() => n.to_string(),
        Value::Number(n) => format!("{:.3}", n.as_f64().unwrap_or(0.0)),
        other => other.to_string(),
    }
}
