//! Hebrew prefix letters (ו ה ב כ ל מ ש) are written joined to the word: ובבית is
//! "and in the house". This filter adds, at the same position, the word with up to three
//! leading prefix letters removed, so בית, הבית and ובבית share the key בית.
//!
//! [`PrefixRule::Grammar`] only removes sequences Hebrew allows (ו, then ש/כש/מש, then
//! one of ה ב כ ל מ or מה), which keeps fewer wrong variants than [`PrefixRule::Any`]
//! (e.g. שלום → לום is made by both, but לבנון → בנון, ון only by `Any`).

use tantivy::tokenizer::{Token, TokenFilter, TokenStream, Tokenizer};

use crate::text::normalize::is_hebrew_letter;

/// Which leading letter sequences count as prefixes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PrefixRule {
    /// Any one to three letters of ו ה ב כ ל מ ש.
    Any,
    /// Only the sequences that Hebrew grammar allows.
    Grammar,
}

/// Letters a stripped word must keep, so that `של` never becomes `ל`.
const MIN_REST_CHARS: usize = 2;

/// Prefix sequences of [`PrefixRule::Grammar`], at most three letters long.
const GRAMMAR_PREFIXES: &[&str] = &[
    "ו", "ש", "ה", "ב", "כ", "ל", "מ", "כש", "מש", "מה", "וש", "וה", "וב", "וכ", "ול", "ומ", "שה",
    "שב", "שכ", "של", "שמ", "כשה", "כשב", "כשל", "כשמ", "משה", "משב", "משל", "ומה", "וכש", "ומש",
    "שמה",
];

fn is_prefix_letter(c: char) -> bool {
    matches!(c, 'ו' | 'ה' | 'ב' | 'כ' | 'ל' | 'מ' | 'ש')
}

/// Byte offsets at which `word` may be cut to remove a prefix, shortest prefix first.
///
/// ```
/// use sofer::retrieval::analyzer::{prefix_cuts, PrefixRule};
/// let word = "ובבית";
/// let cuts = prefix_cuts(word, PrefixRule::Grammar);
/// let variants: Vec<&str> = cuts.iter().map(|&c| &word[c..]).collect();
/// assert_eq!(variants, ["בבית", "בית"]);
/// ```
pub fn prefix_cuts(word: &str, rule: PrefixRule) -> Vec<usize> {
    let mut cuts = Vec::new();
    push_prefix_cuts(word, rule, &mut cuts);
    cuts
}

fn push_prefix_cuts(word: &str, rule: PrefixRule, cuts: &mut Vec<usize>) {
    cuts.clear();
    for (i, c) in word.char_indices().take(3) {
        if !is_prefix_letter(c) {
            break;
        }
        let cut = i + c.len_utf8();
        let rest = &word[cut..];
        let rest_ok = rest
            .chars()
            .take(MIN_REST_CHARS)
            .filter(|&c| is_hebrew_letter(c))
            .count()
            == MIN_REST_CHARS;
        if !rest_ok {
            break;
        }
        if rule == PrefixRule::Any || GRAMMAR_PREFIXES.contains(&&word[..cut]) {
            cuts.push(cut);
        }
    }
}

/// The filter; `keep_original` chooses whether the unstripped word is emitted too.
#[derive(Clone, Copy)]
pub struct PrefixVariants {
    /// Which letter sequences are prefixes.
    pub rule: PrefixRule,
    /// Emit the word itself before its variants.
    pub keep_original: bool,
}

impl TokenFilter for PrefixVariants {
    type Tokenizer<T: Tokenizer> = PrefixVariantsFilter<T>;

    fn transform<T: Tokenizer>(self, tokenizer: T) -> PrefixVariantsFilter<T> {
        PrefixVariantsFilter {
            inner: tokenizer,
            config: self,
            word: String::new(),
            cuts: Vec::new(),
        }
    }
}

/// [`PrefixVariants`] applied to a tokenizer.
#[derive(Clone)]
pub struct PrefixVariantsFilter<T> {
    inner: T,
    config: PrefixVariants,
    word: String,
    cuts: Vec<usize>,
}

impl<T: Tokenizer> Tokenizer for PrefixVariantsFilter<T> {
    type TokenStream<'a> = PrefixVariantsStream<'a, T::TokenStream<'a>>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> Self::TokenStream<'a> {
        self.cuts.clear();
        PrefixVariantsStream {
            tail: self.inner.token_stream(text),
            config: self.config,
            word: &mut self.word,
            cuts: &mut self.cuts,
            next: 0,
        }
    }
}

/// Words and their prefix variants, variants right after their word.
pub struct PrefixVariantsStream<'a, T> {
    tail: T,
    config: PrefixVariants,
    word: &'a mut String,
    cuts: &'a mut Vec<usize>,
    next: usize,
}

impl<T: TokenStream> PrefixVariantsStream<'_, T> {
    fn emit_next_cut(&mut self) {
        let cut = self.cuts[self.next];
        self.next += 1;
        let token = self.tail.token_mut();
        token.text.clear();
        token.text.push_str(&self.word[cut..]);
    }
}

impl<T: TokenStream> TokenStream for PrefixVariantsStream<'_, T> {
    fn advance(&mut self) -> bool {
        if self.next < self.cuts.len() {
            self.emit_next_cut();
            return true;
        }
        loop {
            if !self.tail.advance() {
                return false;
            }
            let text = &self.tail.token().text;
            push_prefix_cuts(text, self.config.rule, self.cuts);
            self.next = 0;
            if self.cuts.is_empty() {
                if self.config.keep_original {
                    return true;
                }
                continue;
            }
            self.word.clear();
            self.word.push_str(text);
            if !self.config.keep_original {
                self.emit_next_cut();
            }
            return true;
        }
    }

    fn token(&self) -> &Token {
        self.tail.token()
    }

    fn token_mut(&mut self) -> &mut Token {
        self.tail.token_mut()
    }
}

#[cfg(test)]
mod tests {
    use tantivy::tokenizer::TextAnalyzer;

    use super::*;
    use crate::retrieval::analyzer::HebrewWordTokenizer;

    fn variants(text: &str, rule: PrefixRule, keep_original: bool) -> Vec<(String, usize)> {
        let mut analyzer = TextAnalyzer::builder(HebrewWordTokenizer::default())
            .filter(PrefixVariants {
                rule,
                keep_original,
            })
            .build();
        let mut stream = analyzer.token_stream(text);
        let mut out = Vec::new();
        while let Some(t) = stream.next() {
            out.push((t.text.clone(), t.position));
        }
        out
    }

    fn texts(text: &str, rule: PrefixRule) -> Vec<String> {
        variants(text, rule, true)
            .into_iter()
            .map(|v| v.0)
            .collect()
    }

    #[test]
    fn table() {
        let g = PrefixRule::Grammar;
        assert_eq!(texts("ובבית", g), ["ובבית", "בבית", "בית"]);
        assert_eq!(texts("הבית", g), ["הבית", "בית"]);
        assert_eq!(texts("כשהמלך", g), ["כשהמלך", "שהמלך", "המלך", "מלך"]);
        assert_eq!(texts("של", g), ["של"]);
        assert_eq!(texts("לבנון", g), ["לבנון", "בנון"]);
        assert_eq!(texts("לבנון", PrefixRule::Any), ["לבנון", "בנון", "נון"]);
        assert_eq!(texts("מה", g), ["מה"]);
        assert_eq!(texts("house", g), ["house"]);
    }

    #[test]
    fn variants_share_the_word_position() {
        let got = variants("הבית שלנו", PrefixRule::Grammar, true);
        let want = [("הבית", 0), ("בית", 0), ("שלנו", 1), ("לנו", 1), ("נו", 1)];
        assert_eq!(got, want.map(|(t, p)| (t.to_string(), p)));
    }

    #[test]
    fn without_original_only_variants_remain() {
        let got: Vec<String> = variants("הבית גדול", PrefixRule::Grammar, false)
            .into_iter()
            .map(|v| v.0)
            .collect();
        assert_eq!(got, ["בית"]);
    }
}
