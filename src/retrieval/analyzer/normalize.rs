//! Turns a word into its search form: compatibility-composed (NFKC), without niqqud,
//! cantillation, geresh/gershayim or invisible characters, and lowercased.
//!
//! Words made only of Hebrew letters and ASCII (almost all of them) take a fast path
//! that lowercases in place; the rest go through Unicode decomposition once.

use tantivy::tokenizer::{Token, TokenFilter, TokenStream, Tokenizer};
use unicode_normalization::UnicodeNormalization;

use crate::text::normalize::{is_geresh_like, is_invisible, is_niqqud};

/// The normalizing filter; words that normalize to nothing (a lone mark) are dropped.
#[derive(Clone, Copy, Default)]
pub struct HebrewNormalizer;

impl TokenFilter for HebrewNormalizer {
    type Tokenizer<T: Tokenizer> = HebrewNormalizerFilter<T>;

    fn transform<T: Tokenizer>(self, tokenizer: T) -> HebrewNormalizerFilter<T> {
        HebrewNormalizerFilter {
            inner: tokenizer,
            buffer: String::new(),
            scratch: String::new(),
        }
    }
}

/// [`HebrewNormalizer`] applied to a tokenizer.
#[derive(Clone)]
pub struct HebrewNormalizerFilter<T> {
    inner: T,
    buffer: String,
    scratch: String,
}

impl<T: Tokenizer> Tokenizer for HebrewNormalizerFilter<T> {
    type TokenStream<'a> = HebrewNormalizerStream<'a, T::TokenStream<'a>>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> Self::TokenStream<'a> {
        HebrewNormalizerStream {
            tail: self.inner.token_stream(text),
            buffer: &mut self.buffer,
            scratch: &mut self.scratch,
        }
    }
}

/// The normalized words of one text.
pub struct HebrewNormalizerStream<'a, T> {
    tail: T,
    buffer: &'a mut String,
    scratch: &'a mut String,
}

fn drops(c: char) -> bool {
    is_niqqud(c) || is_invisible(c) || is_geresh_like(c)
}

/// Writes the search form of `word` into `out`, using `scratch` for the decomposed form
/// (both cleared first, both reused across words).
pub fn normalize_word(word: &str, scratch: &mut String, out: &mut String) {
    scratch.clear();
    out.clear();
    for c in word.nfkd().filter(|&c| !drops(c)) {
        scratch.extend(c.to_lowercase());
    }
    out.extend(scratch.nfc());
}

impl<T: TokenStream> TokenStream for HebrewNormalizerStream<'_, T> {
    fn advance(&mut self) -> bool {
        loop {
            if !self.tail.advance() {
                return false;
            }
            let token = self.tail.token_mut();
            if token
                .text
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || ('\u{05D0}'..='\u{05EA}').contains(&c))
            {
                token.text.make_ascii_lowercase();
                return true;
            }
            normalize_word(&token.text, self.scratch, self.buffer);
            if self.buffer.is_empty() {
                continue;
            }
            std::mem::swap(&mut token.text, self.buffer);
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
    use super::*;

    fn norm(word: &str) -> String {
        let (mut scratch, mut out) = (String::new(), String::new());
        normalize_word(word, &mut scratch, &mut out);
        out
    }

    #[test]
    fn table() {
        let cases = [
            ("שָׁלוֹם", "שלום"),
            ("בְּרֵאשִׁית", "בראשית"),
            ("צה\"ל", "צהל"),
            ("צה״ל", "צהל"),
            ("ג׳ירפה", "גירפה"),
            ("a\u{200D}b\u{200F}", "ab"),
            ("Café", "café"),
            ("\u{FB2A}לום", "שלום"),
            ("ＡＢＣ", "abc"),
            ("\u{05B8}", ""),
        ];
        for (input, want) in cases {
            assert_eq!(norm(input), want, "{input}");
        }
    }
}
