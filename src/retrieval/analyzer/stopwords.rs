//! Hebrew question words and the commonest function words, dropped from queries (never
//! from the index): a question's מה, מי or כמה says nothing about which passage answers
//! it, yet with BM25 it still rewards short passages that happen to contain it.

use crate::text::normalize::fold_final;

/// The list, in ordinary spelling (final letters are folded when compared).
pub const QUERY_STOP_WORDS: &[&str] = &[
    "מה",
    "מהו",
    "מהי",
    "מהם",
    "מהן",
    "מי",
    "מיהו",
    "מיהי",
    "מיהם",
    "איזה",
    "איזו",
    "אילו",
    "באיזה",
    "באיזו",
    "באילו",
    "לאיזה",
    "לאיזו",
    "מאיזה",
    "מאיזו",
    "מתי",
    "כמה",
    "בכמה",
    "האם",
    "איפה",
    "היכן",
    "כיצד",
    "איך",
    "מדוע",
    "למה",
    "של",
    "את",
    "על",
    "עם",
    "הוא",
    "היא",
    "הם",
    "הן",
    "זה",
    "זו",
    "זאת",
    "לא",
    "כי",
    "אשר",
    "גם",
    "או",
    "יש",
    "אם",
    "אל",
];

/// Whether the analyzed (normalized, final-folded) word `key` is a query stop word.
///
/// ```
/// use sofer::retrieval::analyzer::is_query_stop_word;
/// assert!(is_query_stop_word("מתי") && is_query_stop_word("מהמ"));
/// assert!(!is_query_stop_word("בית"));
/// ```
pub fn is_query_stop_word(key: &str) -> bool {
    QUERY_STOP_WORDS
        .iter()
        .any(|stop| stop.chars().map(fold_final).eq(key.chars()))
}
