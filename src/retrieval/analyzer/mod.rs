//! The Hebrew analyzer: a word tokenizer and one filter per file, chained into the
//! analyzers that the index's fields use and registered with tantivy by name.
//!
//! | analyzer | `ובבית` becomes | used by field |
//! |---|---|---|
//! | [`WORD`] | `ובבית` | `text_exact` |
//! | [`PREFIX`] | `ובבית`, `בבית`, `בית` | `text` (searched and highlighted) |
//! | `sofer_he_gram3` | `ובב`, `בבי`, `בית` | `text_gram` |
//!
//! Every analyzer starts the same way: words ([`HebrewWordTokenizer`]), very long words
//! dropped, normalized ([`HebrewNormalizer`]: NFKC, no niqqud, no geresh/gershayim, no
//! invisible characters, lowercase) and final letters folded ([`FinalLetterFolder`]).
//!
//! ```
//! use sofer::retrieval::analyzer::{analyzer_tokens, PREFIX};
//! assert_eq!(analyzer_tokens(PREFIX, "וּבַבַּיִת צה״ל"), ["ובבית", "בבית", "בית", "צהל"]);
//! ```

mod final_letters;
mod ngram;
mod normalize;
mod prefix;
mod stopwords;
mod tokenizer;

use tantivy::tokenizer::{RemoveLongFilter, TextAnalyzer, TokenizerManager};

pub use final_letters::FinalLetterFolder;
pub use ngram::WordNgrams;
pub use normalize::{normalize_word, HebrewNormalizer};
pub use prefix::{prefix_cuts, PrefixRule, PrefixVariants};
pub use stopwords::{is_query_stop_word, QUERY_STOP_WORDS};
pub use tokenizer::HebrewWordTokenizer;

/// Normalized, folded words: exact-form matches.
pub const WORD: &str = "sofer_he_word";
/// Words and their grammatical prefix variants.
pub const PREFIX: &str = "sofer_he_prefix";
/// Words and variants with any one to three prefix letters removed.
pub const PREFIX_ANY: &str = "sofer_he_prefix_any";
/// The smallest and largest n-gram sizes registered (`sofer_he_gram{n}`).
pub const NGRAM_SIZES: std::ops::RangeInclusive<usize> = 2..=6;
/// Longest word (in bytes, before normalization) that is indexed; longer runs are noise
/// such as base64 or URLs and would bloat the term dictionary.
const MAX_WORD_BYTES: usize = 120;

/// The registered name of the n-gram analyzer of size `n`.
pub fn ngram_analyzer_name(n: usize) -> String {
    format!("sofer_he_gram{n}")
}

/// The name of the prefix analyzer for `rule`.
pub fn prefix_analyzer_name(rule: PrefixRule) -> &'static str {
    match rule {
        PrefixRule::Grammar => PREFIX,
        PrefixRule::Any => PREFIX_ANY,
    }
}

fn words() -> tantivy::tokenizer::TextAnalyzerBuilder<impl tantivy::tokenizer::Tokenizer> {
    TextAnalyzer::builder(HebrewWordTokenizer::default())
        .filter(RemoveLongFilter::limit(MAX_WORD_BYTES))
        .filter(HebrewNormalizer)
        .filter(FinalLetterFolder)
}

/// Registers every Sofer analyzer with `manager`, next to tantivy's own.
pub fn register(manager: &TokenizerManager) {
    manager.register(WORD, words().build());
    for rule in [PrefixRule::Grammar, PrefixRule::Any] {
        let filter = PrefixVariants {
            rule,
            keep_original: true,
        };
        manager.register(prefix_analyzer_name(rule), words().filter(filter).build());
    }
    for n in NGRAM_SIZES {
        if let Ok(filter) = WordNgrams::new(n) {
            manager.register(&ngram_analyzer_name(n), words().filter(filter).build());
        }
    }
}

/// The tokens that the registered analyzer `name` makes of `text` (for docs, tests and
/// `sofer` debugging output); empty when no such analyzer exists.
pub fn analyzer_tokens(name: &str, text: &str) -> Vec<String> {
    let manager = TokenizerManager::default();
    register(&manager);
    let Some(mut analyzer) = manager.get(name) else {
        return Vec::new();
    };
    let mut stream = analyzer.token_stream(text);
    let mut out = Vec::new();
    while let Some(token) = stream.next() {
        out.push(token.text.clone());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn niqqud_in_document_matches_plain_query() {
        assert_eq!(analyzer_tokens(WORD, "שָׁלוֹם"), analyzer_tokens(WORD, "שלום"));
    }

    #[test]
    fn gershayim_look_alikes_give_one_key() {
        let want = analyzer_tokens(WORD, "צה\"ל");
        assert_eq!(want, ["צהל"]);
        assert_eq!(analyzer_tokens(WORD, "צה״ל"), want);
        assert_eq!(analyzer_tokens(WORD, "צה”ל"), want);
    }

    #[test]
    fn mixed_scripts_lowercase_latin_and_fold_hebrew() {
        assert_eq!(
            analyzer_tokens(WORD, "Google ו-Apple בעולם"),
            ["google", "ו", "apple", "בעולמ"]
        );
    }

    #[test]
    fn prefix_variants_reach_the_stem() {
        let tokens = analyzer_tokens(PREFIX, "ובבית הבית");
        assert!(
            tokens.iter().filter(|t| *t == "בית").count() == 2,
            "{tokens:?}"
        );
    }

    #[test]
    fn bidi_marks_and_zero_width_are_ignored() {
        assert_eq!(
            analyzer_tokens(WORD, "\u{200F}שלום\u{200B}"),
            analyzer_tokens(WORD, "שלום")
        );
    }

    #[test]
    fn unknown_analyzer_gives_nothing() {
        assert!(analyzer_tokens("nope", "שלום").is_empty());
    }
}
