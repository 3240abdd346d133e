//! `sofer eval segmentation`: sentence-boundary precision, recall and F1 on the UD Hebrew
//! dev treebanks, for our segmenter and for plain UAX #29 in the same run.
//!
//! Each paragraph of a treebank (started by `# newpar`, `# newpar id = …` or `# newdoc`)
//! becomes one text: its sentences' `# text = …` lines joined by a single space. The gold
//! boundaries are the byte offsets where its sentences end, the last (trivial) one left
//! out; a predicted boundary counts when it falls on exactly that offset.

use std::io::Write;
use std::ops::Range;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde_json::json;
use unicode_segmentation::UnicodeSegmentation;

/// Flags of `sofer eval segmentation`.
#[derive(Debug, clap::Args)]
pub struct SegmentationArgs {
    /// The data folder whose `ud/*dev.conllu` files hold the gold sentences (and
    /// `parallel/ntrex128_eng_heb.jsonl`, if there, the NTREX news) [default: ./data/eval if
    /// there is one, else the repository's data/eval].
    #[arg(long, env = "SOFER_DATA", value_name = "DIR")]
    data: Option<PathBuf>,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
    /// Also print (to stderr) up to N of our false and up to N of our missed boundaries per
    /// file, in context.
    #[arg(long, value_name = "N", default_value_t = 0)]
    errors: usize,
}

/// Boundary counts of one segmenter on some paragraphs.
#[derive(Debug, Default, Clone, Copy)]
struct Score {
    tp: usize,
    fp: usize,
    fn_: usize,
}

impl Score {
    fn add(&mut self, other: Score) {
        self.tp += other.tp;
        self.fp += other.fp;
        self.fn_ += other.fn_;
    }

    fn precision(&self) -> f64 {
        ratio(self.tp, self.tp + self.fp)
    }

    fn recall(&self) -> f64 {
        ratio(self.tp, self.tp + self.fn_)
    }

    fn f1(&self) -> f64 {
        let (p, r) = (self.precision(), self.recall());
        if p + r == 0.0 {
            0.0
        } else {
            2.0 * p * r / (p + r)
        }
    }

    fn to_json(self) -> serde_json::Value {
        json!({
            "precision": self.precision(),
            "recall": self.recall(),
            "f1": self.f1(),
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn_,
        })
    }
}

fn ratio(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// One gold paragraph: its text and where its sentences end (the last one left out).
#[derive(Debug)]
struct Paragraph {
    text: String,
    gold: Vec<usize>,
}

/// Scores of one treebank file (or other gold set).
#[derive(Debug)]
struct FileScore {
    name: String,
    paragraphs: usize,
    sentences: usize,
    ours: Score,
    uax29: Score,
}

impl FileScore {
    fn to_json(&self) -> serde_json::Value {
        json!({
            "file": self.name,
            "paragraphs": self.paragraphs,
            "sentences": self.sentences,
            "ours": self.ours.to_json(),
            "uax29": self.uax29.to_json(),
        })
    }
}

/// Runs the evaluation.
pub fn run(args: SegmentationArgs) -> anyhow::Result<()> {
    let data = super::data_dir(args.data)?;
    let mut errors = Vec::new();
    let mut files = Vec::new();
    for path in treebanks(&data)? {
        let source = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let name = path
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        files.push(evaluate(
            name,
            &parse_paragraphs(&source),
            args.errors,
            &mut errors,
        ));
    }
    let mut extra = Vec::new();
    let ntrex = data.join(NTREX);
    if ntrex.is_file() {
        let source = std::fs::read_to_string(&ntrex)
            .with_context(|| format!("reading {}", ntrex.display()))?;
        for language in ["heb", "eng"] {
            let documents = ntrex_documents(&source, language)
                .with_context(|| format!("reading {}", ntrex.display()))?;
            let name = format!("ntrex128 {language} (a paragraph a document)");
            extra.push(evaluate(name, &documents, args.errors, &mut errors));
        }
    }
    let mut ours = Score::default();
    let mut uax29 = Score::default();
    for file in &files {
        ours.add(file.ours);
        uax29.add(file.uax29);
    }
    let mut stdout = std::io::stdout().lock();
    if args.json {
        let report = json!({
            "files": files.iter().map(FileScore::to_json).collect::<Vec<_>>(),
            "ours": ours.to_json(),
            "uax29": uax29.to_json(),
            "extra": extra.iter().map(FileScore::to_json).collect::<Vec<_>>(),
        });
        writeln!(stdout, "{report}")?;
    } else {
        write!(stdout, "{}", table(&files, ours, uax29, &extra))?;
    }
    for error in errors {
        eprintln!("{error}");
    }
    Ok(())
}

/// Where the NTREX news documents are, an extra (harder) test that is not part of the UD
/// totals: a document's sentences, one a line in the source, joined into one paragraph.
const NTREX: &str = "parallel/ntrex128_eng_heb.jsonl";

/// Scores both segmenters on `paragraphs`, keeping up to `max_errors` of our false and
/// missed boundaries each.
fn evaluate(
    name: String,
    paragraphs: &[Paragraph],
    max_errors: usize,
    errors: &mut Vec<String>,
) -> FileScore {
    let mut file = FileScore {
        name,
        paragraphs: paragraphs.len(),
        sentences: paragraphs.iter().map(|p| p.gold.len() + 1).sum(),
        ours: Score::default(),
        uax29: Score::default(),
    };
    let (mut false_shown, mut missed_shown) = (0, 0);
    for paragraph in paragraphs {
        let predicted = ends(&sofer::text::sentences(&paragraph.text));
        file.ours.add(score(&paragraph.gold, &predicted));
        file.uax29.add(score(
            &paragraph.gold,
            &ends(&uax29_sentences(&paragraph.text)),
        ));
        for &at in predicted.iter().filter(|p| !paragraph.gold.contains(p)) {
            if false_shown < max_errors {
                false_shown += 1;
                errors.push(in_context("FP", &paragraph.text, at));
            }
        }
        for &at in paragraph.gold.iter().filter(|g| !predicted.contains(g)) {
            if missed_shown < max_errors {
                missed_shown += 1;
                errors.push(in_context("FN", &paragraph.text, at));
            }
        }
    }
    file
}

/// The documents of the NTREX JSONL file in one language (`eng` or `heb`), in file order.
fn ntrex_documents(source: &str, language: &str) -> anyhow::Result<Vec<Paragraph>> {
    let mut out = Vec::new();
    let mut current: Vec<String> = Vec::new();
    let mut current_doc = String::new();
    for (number, line) in source
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let record: serde_json::Value =
            serde_json::from_str(line).with_context(|| format!("line {}", number + 1))?;
        let doc = record["doc_id"].as_str().unwrap_or_default();
        let text = record[language].as_str().unwrap_or_default().trim();
        if doc != current_doc {
            flush(&mut current, &mut out);
            current_doc = doc.to_string();
        }
        if !text.is_empty() {
            current.push(text.to_string());
        }
    }
    flush(&mut current, &mut out);
    Ok(out)
}

/// The `*dev.conllu` files under `data/ud`, sorted; none is an error.
fn treebanks(data: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let dir = data.join("ud");
    let entries = std::fs::read_dir(&dir)
        .with_context(|| format!("reading {} (set --data or SOFER_DATA)", dir.display()))?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry
            .with_context(|| format!("listing {}", dir.display()))?
            .path();
        if path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().ends_with("dev.conllu"))
        {
            files.push(path);
        }
    }
    files.sort();
    anyhow::ensure!(
        !files.is_empty(),
        "no *dev.conllu files in {}",
        dir.display()
    );
    Ok(files)
}

/// The paragraphs of a CoNLL-U file, from its `# newdoc`, `# newpar` and `# text` lines.
fn parse_paragraphs(source: &str) -> Vec<Paragraph> {
    let mut out = Vec::new();
    let mut current: Vec<&str> = Vec::new();
    for line in source.lines() {
        let Some(comment) = line.strip_prefix('#') else {
            continue;
        };
        let comment = comment.trim();
        if let Some(text) = comment.strip_prefix("text =") {
            let text = text.trim();
            if !text.is_empty() {
                current.push(text);
            }
        } else if is_key(comment, "newpar") || is_key(comment, "newdoc") {
            flush(&mut current, &mut out);
        }
    }
    flush(&mut current, &mut out);
    out
}

/// Whether a comment is `key` or `key id = …` (and not, say, `newparagraph = …`).
fn is_key(comment: &str, key: &str) -> bool {
    comment
        .strip_prefix(key)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(char::is_whitespace))
}

fn flush<S: AsRef<str>>(sentences: &mut Vec<S>, out: &mut Vec<Paragraph>) {
    if sentences.is_empty() {
        return;
    }
    let parts: Vec<&str> = sentences.iter().map(AsRef::as_ref).collect();
    let text = parts.join(" ");
    let mut gold = Vec::with_capacity(sentences.len());
    let mut end = 0;
    for sentence in sentences.iter() {
        end += sentence.as_ref().len();
        gold.push(end);
        end += 1;
    }
    gold.pop();
    out.push(Paragraph { text, gold });
    sentences.clear();
}

/// Plain UAX #29 sentences, trimmed, empty ones left out.
fn uax29_sentences(text: &str) -> Vec<Range<usize>> {
    text.split_sentence_bound_indices()
        .filter_map(|(start, s)| {
            let trimmed = s.trim();
            let lead = s.len() - s.trim_start().len();
            (!trimmed.is_empty()).then(|| start + lead..start + lead + trimmed.len())
        })
        .collect()
}

/// Predicted boundaries: where each sentence but the last ends.
fn ends(sentences: &[Range<usize>]) -> Vec<usize> {
    let mut ends: Vec<usize> = sentences.iter().map(|s| s.end).collect();
    ends.pop();
    ends
}

fn score(gold: &[usize], predicted: &[usize]) -> Score {
    let tp = predicted.iter().filter(|p| gold.contains(p)).count();
    Score {
        tp,
        fp: predicted.len() - tp,
        fn_: gold.len() - tp,
    }
}

/// A boundary at byte `at` of `text`, with 60 characters either side.
fn in_context(kind: &str, text: &str, at: usize) -> String {
    let before: Vec<char> = text[..at].chars().rev().take(60).collect();
    let before: String = before.into_iter().rev().collect();
    let after: String = text[at..].chars().take(60).collect();
    format!("{kind}: …{before} ‖ {after}…")
}

/// The scores as a table, one row per file and segmenter.
fn table(files: &[FileScore], ours: Score, uax29: Score, extra: &[FileScore]) -> String {
    let mut out = format!(
        "{:<44} {:>5} {:>5}  {:<6} {:>6} {:>6} {:>6} {:>5} {:>5} {:>5}\n",
        "file", "paras", "sents", "system", "P", "R", "F1", "tp", "fp", "fn"
    );
    let mut row = |name: &str, counts: Option<(usize, usize)>, system: &str, s: Score| {
        let (paragraphs, sentences) = counts.map_or((String::new(), String::new()), |(p, s)| {
            (p.to_string(), s.to_string())
        });
        out.push_str(&format!(
            "{name:<44} {paragraphs:>5} {sentences:>5}  {system:<6} {:>6.3} {:>6.3} {:>6.3} {:>5} {:>5} {:>5}\n",
            s.precision(),
            s.recall(),
            s.f1(),
            s.tp,
            s.fp,
            s.fn_
        ));
    };
    let paragraphs = files.iter().map(|f| f.paragraphs).sum();
    let sentences = files.iter().map(|f| f.sentences).sum();
    let totals = FileScore {
        name: "all UD".to_string(),
        paragraphs,
        sentences,
        ours,
        uax29,
    };
    for f in files.iter().chain([&totals]).chain(extra) {
        row(&f.name, Some((f.paragraphs, f.sentences)), "ours", f.ours);
        row("", None, "uax29", f.uax29);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "# newdoc id = d1\n# newpar\n# text = שלום.\n1\tשלום\n\n# text = ד\"ר כהן בא.\n\n# newpar id = 7\n# speaker = x\n# text = סוף.\n\n# newdoc id = d2\n# text = אחד.\n# text = שניים.\n";

    #[test]
    fn paragraphs_start_at_newpar_and_newdoc_in_both_styles() {
        let paragraphs = parse_paragraphs(SAMPLE);
        let texts: Vec<&str> = paragraphs.iter().map(|p| p.text.as_str()).collect();
        assert_eq!(texts, ["שלום. ד\"ר כהן בא.", "סוף.", "אחד. שניים."]);
        assert_eq!(paragraphs[0].gold, ["שלום.".len()]);
        assert!(paragraphs[1].gold.is_empty());
    }

    #[test]
    fn scores_count_exact_offsets() {
        let s = score(&[5, 10], &[5, 7]);
        assert_eq!((s.tp, s.fp, s.fn_), (1, 1, 1));
        assert!((s.f1() - 0.5).abs() < 1e-9);
        assert_eq!(Score::default().f1(), 0.0);
        assert!(!is_key("newparagraph = 3", "newpar"));
    }
}
