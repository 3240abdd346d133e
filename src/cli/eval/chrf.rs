//! `sofer eval chrf`: corpus chrF of a translation against a reference, as sacrebleu scores it.

use std::path::{Path, PathBuf};

use sofer::tasks::chrf::{corpus_chrf, sentence_chrf};

/// Flags of `sofer eval chrf`.
#[derive(Debug, clap::Args)]
pub struct ChrfArgs {
    /// The translation to score, one segment a line.
    #[arg(long)]
    hyp: PathBuf,
    /// The reference translation, line-aligned with --hyp.
    #[arg(long = "ref")]
    reference: PathBuf,
    /// Also print each line's sentence chrF.
    #[arg(long)]
    sentences: bool,
    /// One JSON object: {"chrf", "lines", "sentences"?}.
    #[arg(long)]
    json: bool,
}

/// Runs the evaluation.
pub fn run(args: ChrfArgs) -> anyhow::Result<()> {
    let hyp = read_lines(&args.hyp)?;
    let reference = read_lines(&args.reference)?;
    anyhow::ensure!(
        hyp.len() == reference.len(),
        "{} has {} lines but {} has {}",
        args.hyp.display(),
        hyp.len(),
        args.reference.display(),
        reference.len()
    );
    let pairs: Vec<(&str, &str)> = hyp
        .iter()
        .map(String::as_str)
        .zip(reference.iter().map(String::as_str))
        .collect();
    let corpus = corpus_chrf(pairs.iter().copied());
    let sentences: Vec<f64> = if args.sentences {
        pairs.iter().map(|(h, r)| sentence_chrf(h, r)).collect()
    } else {
        Vec::new()
    };
    if args.json {
        let mut out = serde_json::json!({ "chrf": corpus, "lines": pairs.len() });
        if args.sentences {
            out["sentences"] = serde_json::json!(sentences);
        }
        println!("{out}");
    } else {
        for (i, score) in sentences.iter().enumerate() {
            println!("{}\t{score:.4}", i + 1);
        }
        println!("chrF2 = {corpus:.4} ({} lines)", pairs.len());
    }
    Ok(())
}

fn read_lines(path: &Path) -> anyhow::Result<Vec<String>> {
    let text = crate::cli::read_document(Some(path))?;
    Ok(text.lines().map(str::to_string).collect())
}
