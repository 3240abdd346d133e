//! `sofer eval summarize`: summaries scored against reference summaries (chrF, ROUGE-L F1)
//! where the data has them; without references, length compliance and a faithfulness
//! proxy (the share of summary sentences whose content words all but rarely occur in the
//! source), labelled as the proxy it is.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use sofer::batch::item_seed;
use sofer::tasks::chrf::corpus_chrf;
use sofer::tasks::{self, SamplingRequest, SummarizeRequest};
use sofer::text::normalize::{fold_final, is_niqqud};
use sofer::text::sentences;

/// The data set name `--data` takes for the repository's UD Hebrew documents.
const HE_UD: &str = "he-ud";
/// A summary sentence counts as supported when this share of its content words is in the
/// source.
const SUPPORTED: f64 = 0.8;
/// Hebrew one-letter prefixes (ו ה ב ל מ ש כ) a word may carry in one text and not the other.
const PREFIXES: [char; 7] = ['ו', 'ה', 'ב', 'ל', 'מ', 'ש', 'כ'];

/// Flags of `sofer eval summarize`.
#[derive(Debug, clap::Args)]
pub struct SummarizeEvalArgs {
    /// JSONL of `{"text", "summary"?}` lines (`summary`: a reference), or `he-ud`: the
    /// repository's UD Hebrew documents (no references).
    #[arg(long)]
    data: String,
    /// short, medium, long, or a number of words.
    #[arg(long, default_value = "short")]
    length: String,
    /// Only the first N documents.
    #[arg(long)]
    limit: Option<usize>,
    /// Seed of the sampler; document i is seeded from it and i.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    #[command(flatten)]
    common: super::TaskEvalFlags,
}

#[derive(Deserialize)]
struct Doc {
    text: String,
    #[serde(default)]
    summary: Option<String>,
}

#[derive(Deserialize)]
struct UdDoc {
    paragraphs: Vec<String>,
}

/// What the summaries scored.
#[derive(Debug, Serialize)]
struct Report {
    documents: usize,
    /// Documents with a reference summary.
    with_reference: usize,
    /// Corpus chrF2 against the references (absent without references).
    chrf: Option<f64>,
    /// Mean ROUGE-L F1 (word LCS) against the references.
    rouge_l: Option<f64>,
    /// Share of summaries whose word count is within the length asked for.
    length_compliance: f64,
    /// The range of words counted as compliant.
    length_words: (usize, usize),
    /// Proxy, not a faithfulness measure: the share of summary sentences at least 80 % of
    /// whose content words occur in the source.
    supported_sentences: f64,
    mean_words: f64,
    prompt_tokens: usize,
    completion_tokens: usize,
    wall_ms: f64,
    /// The process's peak resident memory at the end.
    peak_rss_bytes: u64,
}

/// Runs the evaluation.
pub fn run(args: SummarizeEvalArgs) -> anyhow::Result<()> {
    let docs = read_docs(&args)?;
    let (low, high) = length_words(&args.length)?;
    let runtime = args.common.runtime()?;
    let ctx = runtime.context();
    let mut pairs: Vec<(String, String)> = Vec::new();
    let (mut compliant, mut words, mut supported, mut summary_sentences) = (0, 0, 0, 0);
    let (mut prompt_tokens, mut completion_tokens) = (0, 0);
    let mut rouge = Vec::new();
    let start = Instant::now();
    for (i, doc) in docs.iter().enumerate() {
        let req = SummarizeRequest {
            text: doc.text.clone(),
            length: Some(args.length.clone()),
            sampling: SamplingRequest {
                seed: Some(item_seed(args.seed, &i.to_string())),
                ..Default::default()
            },
            ..Default::default()
        }
        .validate()
        .with_context(|| format!("document {}", i + 1))?;
        let got = tasks::summarize(&ctx, &req, &mut |_| true)?;
        let n = got.text.split_whitespace().count();
        words += n;
        compliant += usize::from((low..=high).contains(&n));
        let source = content_words(&doc.text);
        for range in sentences(&got.text) {
            let sentence = content_words(&got.text[range]);
            if sentence.is_empty() {
                continue;
            }
            summary_sentences += 1;
            let found = sentence.iter().filter(|w| in_source(w, &source)).count();
            supported += usize::from(found as f64 >= SUPPORTED * sentence.len() as f64);
        }
        prompt_tokens += got.usage.prompt_tokens;
        completion_tokens += got.usage.completion_tokens;
        if let Some(reference) = &doc.summary {
            rouge.push(rouge_l(&got.text, reference));
            pairs.push((got.text, reference.clone()));
        }
    }
    let n = docs.len() as f64;
    let report = Report {
        documents: docs.len(),
        with_reference: pairs.len(),
        chrf: (!pairs.is_empty())
            .then(|| corpus_chrf(pairs.iter().map(|(h, r)| (h.as_str(), r.as_str())))),
        rouge_l: (!rouge.is_empty()).then(|| rouge.iter().sum::<f64>() / rouge.len() as f64),
        length_compliance: compliant as f64 / n,
        length_words: (low, high),
        supported_sentences: supported as f64 / summary_sentences.max(1) as f64,
        mean_words: words as f64 / n,
        prompt_tokens,
        completion_tokens,
        wall_ms: start.elapsed().as_secs_f64() * 1000.0,
        peak_rss_bytes: crate::cli::peak_rss_bytes(),
    };
    if args.common.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        let opt = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.3}"));
        println!("documents\treferences\tchrF2\tROUGE-L\tlength ok\tsupported sentences (proxy)\tmean words\twall s");
        println!(
            "{}\t{}\t{}\t{}\t{:.3}\t{:.3}\t{:.1}\t{:.1}",
            report.documents,
            report.with_reference,
            opt(report.chrf),
            opt(report.rouge_l),
            report.length_compliance,
            report.supported_sentences,
            report.mean_words,
            report.wall_ms / 1000.0
        );
    }
    Ok(())
}

/// The words a summary of `length` may have: short 1–60, medium 20–150, long 60–400, a
/// number n of words n/2–3n/2.
fn length_words(length: &str) -> anyhow::Result<(usize, usize)> {
    Ok(match length.trim() {
        "short" => (1, 60),
        "medium" => (20, 150),
        "long" => (60, 400),
        n => {
            let n: usize = n
                .parse()
                .ok()
                .with_context(|| format!("--length `{n}`: short, medium, long or a number"))?;
            (n.div_ceil(2), n + n / 2)
        }
    })
}

/// Lower-cased words of three letters or more, niqqud dropped and final letters folded.
fn content_words(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_alphanumeric() || is_niqqud(c)))
        .map(|w| {
            w.chars()
                .filter(|&c| !is_niqqud(c))
                .map(fold_final)
                .flat_map(char::to_lowercase)
                .collect::<String>()
        })
        .filter(|w| w.chars().count() >= 3)
        .collect()
}

fn in_source(word: &str, source: &[String]) -> bool {
    let strip = |w: &str| -> Option<String> {
        let mut chars = w.chars();
        chars
            .next()
            .filter(|c| PREFIXES.contains(c))
            .map(|_| chars.collect())
    };
    source.iter().any(|s| {
        s == word || strip(s).as_deref() == Some(word) || strip(word).as_deref() == Some(s)
    })
}

/// ROUGE-L F1 over lower-cased words: the longest common subsequence's precision and
/// recall, harmonic mean.
fn rouge_l(hypothesis: &str, reference: &str) -> f64 {
    let h: Vec<String> = hypothesis
        .split_whitespace()
        .map(str::to_lowercase)
        .collect();
    let r: Vec<String> = reference
        .split_whitespace()
        .map(str::to_lowercase)
        .collect();
    if h.is_empty() || r.is_empty() {
        return 0.0;
    }
    let mut row = vec![0usize; r.len() + 1];
    for hw in &h {
        let mut diagonal = 0;
        for (j, rw) in r.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = if hw == rw {
                diagonal + 1
            } else {
                above.max(row[j])
            };
            diagonal = above;
        }
    }
    let lcs = row[r.len()] as f64;
    if lcs == 0.0 {
        return 0.0;
    }
    let (p, rec) = (lcs / h.len() as f64, lcs / r.len() as f64);
    2.0 * p * rec / (p + rec)
}

fn read_docs(args: &SummarizeEvalArgs) -> anyhow::Result<Vec<Doc>> {
    let (path, ud) = if args.data == HE_UD {
        let dir = args.common.data_dir()?;
        (dir.join("hebrew/he_ud_docs.jsonl"), true)
    } else {
        let path = PathBuf::from(&args.data);
        anyhow::ensure!(
            path.is_file(),
            "--data {}: no such file, and not a data set name (known: {HE_UD})",
            args.data
        );
        (path, false)
    };
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let mut docs = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let at = || format!("{}:{}", path.display(), n + 1);
        let doc = if ud {
            let d: UdDoc = serde_json::from_str(line).with_context(at)?;
            Doc {
                text: d.paragraphs.join("\n\n"),
                summary: None,
            }
        } else {
            serde_json::from_str(line).with_context(at)?
        };
        docs.push(doc);
    }
    docs.truncate(args.limit.unwrap_or(usize::MAX));
    anyhow::ensure!(!docs.is_empty(), "{}: no documents", args.data);
    Ok(docs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rouge_l_is_the_lcs_f1() {
        assert_eq!(rouge_l("the cat sat", "the cat sat"), 1.0);
        // LCS "the sat" = 2; P 2/3, R 2/4 → F1 4/7.
        let f = rouge_l("the cat sat", "the dog then sat");
        assert!((f - 4.0 / 7.0).abs() < 1e-12, "{f}");
        assert_eq!(rouge_l("", "x"), 0.0);
    }

    #[test]
    fn hebrew_words_match_across_prefixes_niqqud_and_final_letters() {
        let source = content_words("הַמֶּמְשָׁלָה אישרה את התקציב השנה");
        assert!(in_source("ממשלה", &source), "{source:?}");
        assert!(in_source(&content_words("והתקציב")[0], &source));
        assert!(!in_source("מלחמה", &source));
        assert_eq!(content_words("שלום"), ["שלומ"]);
    }

    #[test]
    fn lengths_name_a_word_range_and_bad_ones_are_errors() {
        assert_eq!(length_words("short").unwrap(), (1, 60));
        assert_eq!(length_words("40").unwrap(), (20, 60));
        assert!(length_words("tiny").is_err());
    }
}
