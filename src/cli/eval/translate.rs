//! `sofer eval translate`: corpus chrF (sacrebleu's) of the model's translations of NTREX-128
//! news against the human references, per document and overall, with 1 and k candidates,
//! how well a glossary built from the references is kept, and the speed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use sofer::batch::item_seed;
use sofer::tasks::chrf::corpus_chrf;
use sofer::tasks::{self, GlossaryEntry, SamplingRequest, TaskRuntime, TranslateRequest};

/// The data set name `--data` takes for the repository's NTREX-128 English–Hebrew news.
const NTREX: &str = "ntrex";

/// Flags of `sofer eval translate`.
#[derive(Debug, clap::Args)]
pub struct TranslateEvalArgs {
    /// `ntrex` (the repository's NTREX-128 English–Hebrew news, 1,997 sentences in 123
    /// documents) or a JSONL file of `{"doc_id"?, "eng", "heb"}` lines.
    #[arg(long, default_value = NTREX)]
    data: String,
    /// he-en or en-he.
    #[arg(long, default_value = "he-en")]
    direction: Direction,
    /// Candidates per paragraph to compare, comma-separated (more than 1: chrF consensus).
    #[arg(long, value_delimiter = ',', default_value = "1")]
    candidates: Vec<usize>,
    /// Only the first N sentences (the document of the N-th ends with it).
    #[arg(long)]
    limit: Option<usize>,
    /// Output budget of each paragraph, in tokens [default: translate's].
    #[arg(long)]
    max_tokens: Option<usize>,
    /// Seed of the sampler; each document is seeded from it and its id.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Write each run's translations and the references (one sentence a line) here, as
    /// `hyp-<candidates>.txt` and `ref.txt`, for scoring with other tools.
    #[arg(long, value_name = "DIR")]
    save: Option<PathBuf>,
    #[command(flatten)]
    common: super::TaskEvalFlags,
}

/// Which way to translate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Hebrew to English.
    HeEn,
    /// English to Hebrew.
    EnHe,
}

impl std::str::FromStr for Direction {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "he-en" => Ok(Self::HeEn),
            "en-he" => Ok(Self::EnHe),
            other => Err(format!("unknown direction `{other}` (he-en or en-he)")),
        }
    }
}

#[derive(Deserialize)]
struct Pair {
    #[serde(default)]
    doc_id: String,
    eng: String,
    heb: String,
}

/// One document: its sentences in the source and reference languages.
struct Doc {
    id: String,
    sources: Vec<String>,
    references: Vec<String>,
}

/// The outcome of one candidate count.
#[derive(Debug, Serialize)]
struct Run {
    direction: &'static str,
    candidates: usize,
    documents: usize,
    sentences: usize,
    /// Corpus chrF2 over every sentence.
    chrf: f64,
    /// Corpus chrF2 of each document's sentences.
    per_document: BTreeMap<String, f64>,
    /// Glossary terms (carried over from source to reference) the translation kept,
    /// over the terms given.
    glossary_kept: usize,
    glossary_terms: usize,
    prompt_tokens: usize,
    completion_tokens: usize,
    /// Generated tokens per second of wall time.
    tokens_per_s: f64,
    wall_ms: f64,
    /// The process's peak resident memory when the run ended.
    peak_rss_bytes: u64,
}

/// Runs the evaluation.
pub fn run(args: TranslateEvalArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        !args.candidates.is_empty() && args.candidates.iter().all(|&c| c > 0),
        "--candidates needs positive counts"
    );
    let docs = read_docs(&args)?;
    let runtime = args.common.runtime()?;
    if let Some(dir) = &args.save {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let refs: Vec<&str> = docs
            .iter()
            .flat_map(|d| d.references.iter().map(String::as_str))
            .collect();
        write_lines(&dir.join("ref.txt"), &refs)?;
    }
    let mut runs = Vec::new();
    for &k in &args.candidates {
        let (run, hyps) = evaluate(&args, &runtime, &docs, k)?;
        if let Some(dir) = &args.save {
            // One line each; chrF ignores whitespace, so the score stays the same.
            let hyps: Vec<String> = hyps.iter().map(|h| h.replace(['\n', '\r'], " ")).collect();
            let hyps: Vec<&str> = hyps.iter().map(String::as_str).collect();
            write_lines(&dir.join(format!("hyp-{k}.txt")), &hyps)?;
        }
        if args.common.json {
            println!("{}", serde_json::to_string(&run)?);
        }
        runs.push(run);
    }
    if !args.common.json {
        println!(
            "direction\tcandidates\tchrF2\tdocuments\tsentences\tglossary kept\ttokens/s\twall s"
        );
        for r in &runs {
            println!(
                "{}\t{}\t{:.2}\t{}\t{}\t{}/{}\t{:.1}\t{:.1}",
                r.direction,
                r.candidates,
                r.chrf,
                r.documents,
                r.sentences,
                r.glossary_kept,
                r.glossary_terms,
                r.tokens_per_s,
                r.wall_ms / 1000.0
            );
        }
    }
    Ok(())
}

fn evaluate(
    args: &TranslateEvalArgs,
    runtime: &TaskRuntime,
    docs: &[Doc],
    candidates: usize,
) -> anyhow::Result<(Run, Vec<String>)> {
    let ctx = runtime.context();
    let (source_language, target_language, direction) = match args.direction {
        Direction::HeEn => ("he", "en", "he-en"),
        Direction::EnHe => ("en", "he", "en-he"),
    };
    let mut run = Run {
        direction,
        candidates,
        documents: docs.len(),
        sentences: 0,
        chrf: 0.0,
        per_document: BTreeMap::new(),
        glossary_kept: 0,
        glossary_terms: 0,
        prompt_tokens: 0,
        completion_tokens: 0,
        tokens_per_s: 0.0,
        wall_ms: 0.0,
        peak_rss_bytes: 0,
    };
    let mut hyps = Vec::new();
    let start = Instant::now();
    for doc in docs {
        let glossary = carried_terms(&doc.sources, &doc.references);
        let req = TranslateRequest {
            text: doc.sources.join("\n\n"),
            source_language: Some(source_language.into()),
            target_language: Some(target_language.into()),
            glossary: glossary.clone(),
            candidates: Some(candidates),
            sampling: SamplingRequest {
                temperature: None,
                seed: Some(item_seed(args.seed, &doc.id)),
                max_tokens: args.max_tokens,
            },
            collection: None,
        }
        .validate()
        .with_context(|| format!("document {}", doc.id))?;
        let got = tasks::translate(&ctx, &req, &mut |_| true)?;
        let outputs = got.paragraphs();
        anyhow::ensure!(
            outputs.len() == doc.sources.len(),
            "document {}: {} sentences came back as {} paragraphs",
            doc.id,
            doc.sources.len(),
            outputs.len()
        );
        let pairs = outputs
            .iter()
            .map(String::as_str)
            .zip(doc.references.iter().map(String::as_str));
        run.per_document.insert(doc.id.clone(), corpus_chrf(pairs));
        run.glossary_terms += glossary.len();
        run.glossary_kept += glossary
            .iter()
            .filter(|e| got.text.contains(&e.target))
            .count();
        run.prompt_tokens += got.usage.prompt_tokens;
        run.completion_tokens += got.usage.completion_tokens;
        run.sentences += outputs.len();
        hyps.extend(outputs);
    }
    run.wall_ms = start.elapsed().as_secs_f64() * 1000.0;
    run.tokens_per_s = run.completion_tokens as f64 / (run.wall_ms / 1000.0).max(1e-9);
    let refs = docs.iter().flat_map(|d| d.references.iter());
    run.chrf = corpus_chrf(
        hyps.iter()
            .map(String::as_str)
            .zip(refs.map(String::as_str)),
    );
    Ok((run, hyps))
}

/// The glossary a document's references give: words written the same in a source sentence
/// and its reference (names and acronyms kept in Latin letters, numbers), which the
/// translation must carry over unchanged.
fn carried_terms(sources: &[String], references: &[String]) -> Vec<GlossaryEntry> {
    let mut terms: Vec<String> = Vec::new();
    for (source, reference) in sources.iter().zip(references) {
        let in_reference: Vec<&str> = words(reference).collect();
        for word in words(source) {
            let term = word.to_string();
            if word.chars().count() >= 2 && in_reference.contains(&word) && !terms.contains(&term) {
                terms.push(term);
            }
        }
    }
    terms
        .into_iter()
        .map(|t| GlossaryEntry {
            source: t.clone(),
            target: t,
        })
        .collect()
}

fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty() && w.chars().all(|c| c.is_ascii_alphanumeric()))
        .filter(|w| {
            w.chars()
                .any(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        })
}

fn read_docs(args: &TranslateEvalArgs) -> anyhow::Result<Vec<Doc>> {
    let path = if args.data == NTREX {
        args.common
            .data_dir()?
            .join("parallel/ntrex128_eng_heb.jsonl")
    } else {
        let path = PathBuf::from(&args.data);
        anyhow::ensure!(
            path.is_file(),
            "--data {}: no such file, and not a data set name (known: {NTREX})",
            args.data
        );
        path
    };
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let mut docs: Vec<Doc> = Vec::new();
    let limit = args.limit.unwrap_or(usize::MAX);
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        if docs.iter().map(|d| d.sources.len()).sum::<usize>() >= limit {
            break;
        }
        let pair: Pair =
            serde_json::from_str(line).with_context(|| format!("{}:{}", path.display(), n + 1))?;
        anyhow::ensure!(
            !pair.eng.trim().is_empty() && !pair.heb.trim().is_empty(),
            "{}:{}: an empty sentence",
            path.display(),
            n + 1
        );
        let (source, reference) = match args.direction {
            Direction::HeEn => (pair.heb, pair.eng),
            Direction::EnHe => (pair.eng, pair.heb),
        };
        match docs.last_mut() {
            Some(doc) if doc.id == pair.doc_id => {
                doc.sources.push(source);
                doc.references.push(reference);
            }
            _ => docs.push(Doc {
                id: pair.doc_id,
                sources: vec![source],
                references: vec![reference],
            }),
        }
    }
    anyhow::ensure!(!docs.is_empty(), "{}: no sentence pairs", path.display());
    Ok(docs)
}

fn write_lines(path: &Path, lines: &[&str]) -> anyhow::Result<()> {
    let mut text = lines.join("\n");
    text.push('\n');
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn carried_terms_are_latin_names_and_numbers_in_both_sentences() {
        let sources = [
            "כמה חברי פרלמנט נחרדו מההצעה ל- MWPs ב-2019 (Member of the Welsh Parliament)."
                .to_string(),
        ];
        let references = ["Some AMs were appalled at the MWPs idea in 2019.".to_string()];
        let terms: Vec<String> = carried_terms(&sources, &references)
            .into_iter()
            .map(|e| e.source)
            .collect();
        assert_eq!(terms, ["MWPs", "2019"]);
    }
}
