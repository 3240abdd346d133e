//! The real-producer document fixtures (`tests/fixtures/documents/`, made by
//! `scripts/make_document_fixtures.py`) and how extracted text is scored against them.

use std::collections::HashSet;
use std::path::PathBuf;

/// The fixture folder.
pub fn dir() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/documents"
    ))
}

/// One fixture of the manifest.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Fixture {
    /// Path relative to [`dir`].
    pub file: String,
    /// The source text it was made from (`<source>.expected.json`).
    pub source: String,
    /// The tool that made it.
    pub producer: String,
    /// Whether its content stream holds Hebrew in logical or visual order (PDF).
    #[serde(default)]
    pub stream_order: String,
}

/// Every fixture that is a good document (not under `bad/`).
pub fn good_fixtures() -> Vec<Fixture> {
    let manifest = std::fs::read_to_string(dir().join("manifest.json")).expect("manifest.json");
    let all: Vec<Fixture> = serde_json::from_str(&manifest).expect("manifest.json is a list");
    all.into_iter()
        .filter(|f| {
            !f.file.starts_with("bad/") && f.source != "none" && !f.source.starts_with("long_")
        })
        .collect()
}

/// The paragraphs the fixture's source has, as `(kind, text)`.
pub fn expected(source: &str) -> Vec<(String, String)> {
    let path = dir().join(format!("{source}.expected.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let paragraphs: Vec<serde_json::Value> = serde_json::from_str(&text).expect("a list");
    paragraphs
        .into_iter()
        .map(|p| {
            (
                p["kind"].as_str().unwrap_or("body").to_string(),
                p["text"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// The whitespace words of `paragraphs`.
pub fn words<S: AsRef<str>>(paragraphs: &[S]) -> Vec<String> {
    paragraphs
        .iter()
        .flat_map(|p| {
            p.as_ref()
                .split_whitespace()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Words of `source` found in order in `extracted` (longest common subsequence), over the
/// words of `source`.
pub fn word_accuracy(source: &[String], extracted: &[String]) -> f64 {
    if source.is_empty() {
        return 1.0;
    }
    let mut previous = vec![0u32; extracted.len() + 1];
    let mut row = vec![0u32; extracted.len() + 1];
    for s in source {
        for (j, e) in extracted.iter().enumerate() {
            row[j + 1] = if s == e {
                previous[j] + 1
            } else {
                row[j].max(previous[j + 1])
            };
        }
        std::mem::swap(&mut previous, &mut row);
    }
    f64::from(previous[extracted.len()]) / source.len() as f64
}

/// Extracted Hebrew words that are not in the source but whose reversal is: text read in
/// the wrong order.
pub fn reversed_words(source: &[String], extracted: &[String]) -> Vec<String> {
    let known: HashSet<&str> = source.iter().map(String::as_str).collect();
    extracted
        .iter()
        .filter(|w| {
            let hebrew = w
                .chars()
                .filter(|c| ('\u{05D0}'..='\u{05EA}').contains(c))
                .count();
            hebrew >= 2
                && !known.contains(w.as_str())
                && known.contains(w.chars().rev().collect::<String>().as_str())
        })
        .cloned()
        .collect()
}

/// F1 of the paragraph starts of `extracted` against those of `source`, both as positions in
/// the source's words (extracted starts mapped through the longest common subsequence).
pub fn paragraph_f1<S: AsRef<str>, T: AsRef<str>>(source: &[S], extracted: &[T]) -> f64 {
    let starts = |paragraphs: &[&str]| -> (Vec<String>, Vec<usize>) {
        let mut words = Vec::new();
        let mut starts = Vec::new();
        for p in paragraphs {
            starts.push(words.len());
            words.extend(p.split_whitespace().map(str::to_string));
        }
        (words, starts)
    };
    let source: Vec<&str> = source.iter().map(AsRef::as_ref).collect();
    let extracted: Vec<&str> = extracted.iter().map(AsRef::as_ref).collect();
    let (sw, ss) = starts(&source);
    let (ew, es) = starts(&extracted);
    // Longest common subsequence table, then the word pairs it matches.
    let (n, m) = (sw.len(), ew.len());
    let mut table = vec![0u32; (n + 1) * (m + 1)];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            table[i * (m + 1) + j] = if sw[i] == ew[j] {
                table[(i + 1) * (m + 1) + j + 1] + 1
            } else {
                table[(i + 1) * (m + 1) + j].max(table[i * (m + 1) + j + 1])
            };
        }
    }
    let mut to_source = vec![None; m];
    let (mut i, mut j) = (0, 0);
    while i < n && j < m {
        if sw[i] == ew[j] {
            to_source[j] = Some(i);
            i += 1;
            j += 1;
        } else if table[(i + 1) * (m + 1) + j] >= table[i * (m + 1) + j + 1] {
            i += 1;
        } else {
            j += 1;
        }
    }
    let expected: HashSet<usize> = ss.into_iter().collect();
    let found: HashSet<usize> = es
        .into_iter()
        .filter_map(|j| to_source.get(j).copied().flatten())
        .collect();
    let hits = found.intersection(&expected).count() as f64;
    if hits == 0.0 {
        return 0.0;
    }
    let (precision, recall) = (hits / found.len() as f64, hits / expected.len() as f64);
    2.0 * precision * recall / (precision + recall)
}
