//! Re-ranking BM25 candidates by how much of the question they cover, and how closely.
//!
//! BM25 adds up term scores, so a short passage that repeats two of the query's words can
//! beat the paragraph that contains all of them once. Two idf-weighted shares of the
//! query are measured in each candidate (see [`Match`]): the words it contains (fully
//! when one of the word's prefix variants is among the passage's keys, half when at least
//! half of the word's n-grams are in it), and the query's neighbouring word pairs that
//! stand close together in it.

use std::collections::HashMap;

use tantivy::tokenizer::TextAnalyzer;

use super::analyzer::{prefix_cuts, PrefixRule};

/// Most n-grams of a query word that are tracked (one bit each).
const MAX_GRAMS: usize = 64;

/// The query's words, ready to be looked up in passages.
pub struct QueryWords {
    /// idf weight of each word.
    weights: Vec<f32>,
    /// Weight of each pair of neighbouring words (word i and i + 1).
    pair_weights: Vec<f32>,
    /// Number of distinct n-grams of each word (at most [`MAX_GRAMS`]).
    gram_counts: Vec<usize>,
    /// Each key (a word or one of its prefix variants) → the words it stands for.
    keys: HashMap<String, Vec<usize>>,
    /// Each n-gram → the words and the bit of the gram within each.
    grams: HashMap<String, Vec<(usize, u32)>>,
}

/// How a passage matches the query: idf-weighted shares, each in 0..=1.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Match {
    /// Share of the query's words found (a prefix variant fully, n-grams half).
    pub coverage: f32,
    /// Share of the query's neighbouring word pairs found within the proximity window.
    pub proximity: f32,
}

impl QueryWords {
    /// `words` are analyzed (normalized, folded) query words with their idf, in query
    /// order.
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
            pair_weights: words.windows(2).map(|p| p[0].1.min(p[1].1)).collect(),
            gram_counts,
            keys,
            grams,
        }
    }

    /// Whether there is anything to re-rank by.
    pub fn is_empty(&self) -> bool {
        self.weights.is_empty()
    }

    /// How `passage` matches, with `keys` the analyzer of the passage's words and prefix
    /// variants (a word's variants at its position) and
    /// `grams` that of its n-grams; a word pair counts as close when its words stand at
    /// most `window` words apart.
    pub fn measure(
        &self,
        passage: &str,
        keys: &mut TextAnalyzer,
        grams: Option<&mut TextAnalyzer>,
        window: usize,
    ) -> Match {
        let total: f32 = self.weights.iter().sum();
        if total <= 0.0 {
            return Match::default();
        }
        let n = self.weights.len();
        let mut matched = vec![0.0f32; n];
        let mut pairs = vec![false; self.pair_weights.len()];
        let mut last_seen: Vec<Option<usize>> = vec![None; n];
        let mut stream = keys.token_stream(passage);
        while let Some(token) = stream.next() {
            let position = token.position;
            for &word in self.keys.get(token.text.as_str()).into_iter().flatten() {
                matched[word] = 1.0;
                let close = |other: usize| {
                    last_seen[other].is_some_and(|p| p < position && position - p <= window)
                };
                if word > 0 && close(word - 1) {
                    pairs[word - 1] = true;
                }
                if word + 1 < n && close(word + 1) {
                    pairs[word] = true;
                }
                last_seen[word] = Some(position);
            }
        }
        if let Some(grams) = grams.filter(|_| matched.iter().any(|&m| m < 1.0)) {
            let mut seen = vec![0u64; n];
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
        let share = |weights: &[f32], value: &dyn Fn(usize) -> f32| {
            let total: f32 = weights.iter().sum();
            if total <= 0.0 {
                return 0.0;
            }
            weights
                .iter()
                .enumerate()
                .map(|(i, w)| value(i) * w)
                .sum::<f32>()
                / total
        };
        Match {
            coverage: share(&self.weights, &|i| matched[i]),
            proximity: share(&self.pair_weights, &|i| f32::from(u8::from(pairs[i]))),
        }
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

    fn words(list: &[(&str, f32)]) -> Vec<(String, f32)> {
        list.iter().map(|&(w, f)| (w.to_string(), f)).collect()
    }

    #[test]
    fn prefixed_words_count_fully_and_gram_matches_half() {
        let words = words(&[("בית", 1.0), ("מלכ", 1.0), ("ירושלימ", 2.0)]);
        let query = QueryWords::new(&words, Some(PrefixRule::Grammar), Some(3));
        let (mut keys, mut grams) = analyzers();
        let mut coverage = |text| query.measure(text, &mut keys, Some(&mut grams), 2).coverage;
        let full = coverage("ובבית המלך בירושלים");
        assert!((full - 1.0).abs() < 1e-6, "{full}");
        let partial = coverage("ובבית המלכים");
        assert!((partial - 0.375).abs() < 1e-6, "{partial}");
        assert_eq!(coverage("שום דבר"), 0.0);
    }

    #[test]
    fn neighbouring_query_words_count_when_close() {
        let words = words(&[("מלכ", 1.0), ("ישראל", 1.0), ("ירושלימ", 1.0)]);
        let query = QueryWords::new(&words, Some(PrefixRule::Grammar), None);
        let (mut keys, _) = analyzers();
        let mut proximity = |text, window| query.measure(text, &mut keys, None, window).proximity;
        assert!((proximity("ישראל ומלך ישבו בירושלים", 1) - 0.5).abs() < 1e-6);
        assert!((proximity("ישראל ומלך ישבו בירושלים", 2) - 0.5).abs() < 1e-6);
        assert!((proximity("ישראל ומלך ישבו בירושלים", 3) - 1.0).abs() < 1e-6);
        assert_eq!(proximity("מלך אחד ושני ישראל", 2), 0.0);
        assert_eq!(proximity("ירושלים ומלך", 2), 0.0);
        assert_eq!(proximity("מלך", 2), 0.0);
    }
}
