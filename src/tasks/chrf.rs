//! chrF: the character n-gram F-score (Popović, 2015) exactly as sacrebleu 2.x computes it
//! (`CHRF()` defaults: character n-grams up to 6, no word n-grams, β = 2, whitespace removed,
//! case kept, "effective order" averaging). Translation uses it to pick the consensus of k
//! candidates (minimum Bayes risk) and `sofer eval chrf` to score translations.

use std::collections::HashMap;

/// The longest character n-gram counted (sacrebleu's `char_order`).
pub const CHAR_ORDER: usize = 6;
/// Recall weighs β² = 4 times as much as precision (sacrebleu's `beta` = 2).
const BETA_SQUARED: f64 = 4.0;

/// The character n-grams of one text, counted once so that it can be compared with many.
#[derive(Debug, Clone, Default)]
pub struct CharNgrams {
    /// Per order (1..=6): each n-gram and how often it occurs.
    counts: Vec<HashMap<Box<[char]>, u32>>,
}

impl CharNgrams {
    /// Counts the n-grams of `text` with all whitespace removed, as sacrebleu does.
    pub fn new(text: &str) -> Self {
        let chars: Vec<char> = text.chars().filter(|&c| !is_python_space(c)).collect();
        let counts = (1..=CHAR_ORDER)
            .map(|n| {
                let mut counts: HashMap<Box<[char]>, u32> = HashMap::new();
                for gram in chars.windows(n) {
                    *counts.entry(gram.into()).or_default() += 1;
                }
                counts
            })
            .collect();
        Self { counts }
    }
}

/// Hypothesis, reference and matching n-gram totals per order: what a score is computed
/// from, and what a corpus score sums over its sentences.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChrfStats {
    /// `[hypothesis n-grams, reference n-grams, matches]` for orders 1..=6.
    pub orders: [[u64; 3]; CHAR_ORDER],
}

impl ChrfStats {
    /// The statistics of `hypothesis` against `reference`.
    pub fn between(hypothesis: &CharNgrams, reference: &CharNgrams) -> Self {
        let mut orders = [[0u64; 3]; CHAR_ORDER];
        for (order, (hyp, refs)) in orders
            .iter_mut()
            .zip(hypothesis.counts.iter().zip(&reference.counts))
        {
            let mut matches = 0u64;
            let mut total = 0u64;
            for (gram, &count) in hyp {
                total += u64::from(count);
                if let Some(&in_ref) = refs.get(gram) {
                    matches += u64::from(count.min(in_ref));
                }
            }
            let ref_total: u64 = refs.values().map(|&c| u64::from(c)).sum();
            *order = [if refs.is_empty() { 0 } else { total }, ref_total, matches];
        }
        Self { orders }
    }

    /// Adds another sentence's statistics (for a corpus score).
    pub fn add(&mut self, other: &ChrfStats) {
        for (mine, theirs) in self.orders.iter_mut().zip(&other.orders) {
            for (a, b) in mine.iter_mut().zip(theirs) {
                *a += b;
            }
        }
    }

    /// The chrF score in [0, 100], with sacrebleu's arithmetic in sacrebleu's order so that
    /// the result is the same double.
    pub fn score(&self) -> f64 {
        let (mut avg_prec, mut avg_rec, mut effective_order) = (0.0f64, 0.0f64, 0u32);
        for &[hyp, reference, matches] in &self.orders {
            if hyp > 0 && reference > 0 {
                avg_prec += matches as f64 / hyp as f64;
                avg_rec += matches as f64 / reference as f64;
                effective_order += 1;
            }
        }
        if effective_order == 0 {
            return 0.0;
        }
        avg_prec /= f64::from(effective_order);
        avg_rec /= f64::from(effective_order);
        if avg_prec + avg_rec == 0.0 {
            return 0.0;
        }
        let mut score = (1.0 + BETA_SQUARED) * avg_prec * avg_rec;
        score /= BETA_SQUARED * avg_prec + avg_rec;
        100.0 * score
    }
}

/// chrF of one hypothesis against one reference (sacrebleu's `sentence_score`).
///
/// ```
/// use sofer::tasks::chrf::sentence_chrf;
/// assert_eq!(sentence_chrf("שלום עולם", "שלום עולם"), 100.0);
/// assert_eq!(sentence_chrf("", "שלום"), 0.0);
/// // sacrebleu 2.6.0: CHRF().sentence_score("שלום לעולם", ["שלום עולם"]).score
/// assert!((sentence_chrf("שלום לעולם", "שלום עולם") - 47.31585031815279).abs() < 1e-9);
/// ```
pub fn sentence_chrf(hypothesis: &str, reference: &str) -> f64 {
    ChrfStats::between(&CharNgrams::new(hypothesis), &CharNgrams::new(reference)).score()
}

/// chrF of a corpus: the statistics of every (hypothesis, reference) pair summed, then
/// scored (sacrebleu's `corpus_score` with one reference stream).
pub fn corpus_chrf<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> f64 {
    let mut total = ChrfStats::default();
    for (hypothesis, reference) in pairs {
        total.add(&ChrfStats::between(
            &CharNgrams::new(hypothesis),
            &CharNgrams::new(reference),
        ));
    }
    total.score()
}

/// Python's `str.split()` whitespace: Unicode White_Space plus the ASCII information
/// separators U+001C–U+001F.
fn is_python_space(c: char) -> bool {
    c.is_whitespace() || matches!(c, '\u{1C}'..='\u{1F}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whitespace_does_not_count() {
        assert_eq!(sentence_chrf("של ום\tעו\nלם", "שלום עולם"), 100.0);
    }

    #[test]
    fn a_reference_shorter_than_an_order_leaves_that_order_out() {
        // "אב" has no 3-grams: orders 3..6 are skipped, not scored as zero.
        assert_eq!(sentence_chrf("אב", "אב"), 100.0);
    }

    #[test]
    fn corpus_statistics_sum_before_scoring() {
        let pairs = [("שלום עולם", "שלום עולם"), ("a", "b")];
        let corpus = corpus_chrf(pairs);
        let mean = (sentence_chrf("שלום עולם", "שלום עולם") + sentence_chrf("a", "b")) / 2.0;
        assert!(corpus > mean, "{corpus} vs {mean}");
    }
}
