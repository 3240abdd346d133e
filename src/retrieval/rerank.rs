//! Re-ranking BM25 candidates by how much of the question they cover.
//!
//! BM25 adds up term scores, so a short passage that repeats two of the query's words can
//! beat the paragraph that contains all of them once. Coverage is the idf-weighted share
//! of query words a passage contains: fully when one of the word's prefix variants is
//! among the passage's keys, half when at least half of the word's n-grams are in it.

use std::collections::HashMap;

use tantivy::tokenizer::TextAnalyzer;

use super::analyzer::{prefix_cuts, PrefixRule};

/// Most n-grams of a query word that are tracked (one bit each).
const MAX_GRAMS: usize = 64;

/// The query's words, ready to be looked up in passages.
pub struct QueryWords {
    /// idf weight of each word.
    weights: Vec<f32>,
    /// Number of distinct n-grams of each word (at most [`MAX_GRAMS`]).
    gram_counts: Vec<usize>,
    /// Each key (a word or one of its prefix variants) → the words it stands for.
    keys: HashMap<String, Vec<usize>>,
    /// Each n-gram → the words and the bit of the gram within each.
    grams: HashMap<String, Vec<(usize, u32)>>,
}

impl QueryWords {
    /// `words` are analyzed (normalized, folded) query words with their idf.
    pub fn new(words: &[(String, f32)], prefix: Option<PrefixRule>, ngram: Option<usize>) -> Self {
        let mut keys: HashMap<String, Vec<usize>> = HashMap::new();
        let mut grams: HashMap<String, Vec<(usize, u32)>> = HashMap::new();
        let mut gram_counts = Vec::with_capacity(words.len());
        for (i, (word, _)) in words.iter().enumerate() {
            keys.entry(word.clone()).or_default().push(i);
            if let Some(rule) = prefix {
                for cut in prefix_cuts(word, rule) {
                    keys.entry(word[cut..].to_string()).or_default().push(i);
                }
            }
            let mut count = 0;
            if let Some(n) = ngram {
                let bounds: Vec<usize> = word
                    .char_indices()
                    .map(|(b, _)| b)
                    .chain([word.len()])
                    .collect();
                for window in bounds.windows(n + 1).take(MAX_GRAMS) {
                    let entry = grams
                        .entry(word[window[0]..window[n]].to_string())
                        .or_default();
                    if !entry.iter().any(|&(w, _)| w == i) {
                        entry.push((i, count as u32));
                        count += 1;
                    }
                }
            }
            gram_counts.push(count);
        }
        Self {
            weights: words.iter().map(|w| w.1).collect(),
            gram_counts,
            keys,
            grams,
        }
    }

    /// Whether there is anything to re-rank by.
    pub fn is_empty(&self) -> bool {
        self.weights.is_empty()
    }

    /// The coverage of `passage` in 0..=1, with `keys` the analyzer of the passage's
    /// words and prefix variants and `grams` that of its n-grams.
    pub fn coverage(
        &self,
        passage: &str,
        keys: &mut TextAnalyzer,
        grams: Option<&mut TextAnalyzer>,
    ) -> f32 {
        let total: f32 = self.weights.iter().sum();
        if total <= 0.0 {
            return 0.0;
        }
        let mut matched = vec![0.0f32; self.weights.len()];
        let mut stream = keys.token_stream(passage);
        while let Some(token) = stream.next() {
            for &word in self.keys.get(token.text.as_str()).into_iter().flatten() {
                matched[word] = 1.0;
            }
        }
        if let Some(grams) = grams.filter(|_| matched.iter().any(|&m| m < 1.0)) {
            let mut seen = vec![0u64; self.weights.len()];
            let mut stream = grams.token_stream(passage);
            while let Some(token) = stream.next() {
                for &(word, bit) in self.grams.get(token.text.as_str()).into_iter().flatten() {
                    seen[word] |= 1 << bit;
                }
            }
            for (word, bits) in seen.iter().enumerate() {
                let count = self.gram_counts[word];
                if matched[word] < 1.0 && count > 0 && 2 * bits.count_ones() as usize >= count {
                    matched[word] = 0.5;
                }
            }
        }
        matched
            .iter()
            .zip(&self.weights)
            .map(|(m, w)| m * w)
            .sum::<f32>()
            / total
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::retrieval::analyzer::{ngram_analyzer_name, register, PREFIX};

    fn analyzers() -> (TextAnalyzer, TextAnalyzer) {
        let manager = tantivy::tokenizer::TokenizerManager::default();
        register(&manager);
        let get = |name: &str| {
            manager
                .get(name)
                .unwrap_or_else(|| panic!("no analyzer {name}"))
        };
        (get(PREFIX), get(&ngram_analyzer_name(3)))
    }

    #[test]
    fn prefixed_words_count_fully_and_gram_matches_half() {
        let words = [
            ("בית".to_string(), 1.0),
            ("מלכ".to_string(), 1.0),
            ("ירושלימ".to_string(), 2.0),
        ];
        let query = QueryWords::new(&words, Some(PrefixRule::Grammar), Some(3));
        let (mut keys, mut grams) = analyzers();
        let full = query.coverage("ובבית המלך בירושלים", &mut keys, Some(&mut grams));
        assert!((full - 1.0).abs() < 1e-6, "{full}");
        let partial = query.coverage("ובבית המלכים", &mut keys, Some(&mut grams));
        assert!((partial - 0.375).abs() < 1e-6, "{partial}");
        assert_eq!(query.coverage("שום דבר", &mut keys, Some(&mut grams)), 0.0);
    }
}
