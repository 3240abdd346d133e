//! Replaces each word by its character n-grams (ובבית → ובב, בבי, בית with n = 3), which
//! match a word whatever its prefixes and suffixes. Words shorter than n and words with
//! digits give no n-grams: the word fields already match them exactly.

use tantivy::tokenizer::{Token, TokenFilter, TokenStream, Tokenizer};

use crate::retrieval::RetrievalError;

/// The n-gram filter.
#[derive(Clone, Copy, Debug)]
pub struct WordNgrams {
    n: usize,
}

impl WordNgrams {
    /// N-grams of `n` characters; `n` must be 2 to 8.
    pub fn new(n: usize) -> Result<Self, RetrievalError> {
        if !(2..=8).contains(&n) {
            return Err(RetrievalError::InvalidArgument(format!(
                "n-gram size must be 2 to 8, got {n}"
            )));
        }
        Ok(Self { n })
    }
}

impl TokenFilter for WordNgrams {
    type Tokenizer<T: Tokenizer> = WordNgramsFilter<T>;

    fn transform<T: Tokenizer>(self, tokenizer: T) -> WordNgramsFilter<T> {
        WordNgramsFilter {
            inner: tokenizer,
            n: self.n,
            word: String::new(),
            bounds: Vec::new(),
        }
    }
}

/// [`WordNgrams`] applied to a tokenizer.
#[derive(Clone)]
pub struct WordNgramsFilter<T> {
    inner: T,
    n: usize,
    word: String,
    bounds: Vec<usize>,
}

impl<T: Tokenizer> Tokenizer for WordNgramsFilter<T> {
    type TokenStream<'a> = WordNgramsStream<'a, T::TokenStream<'a>>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> Self::TokenStream<'a> {
        self.bounds.clear();
        WordNgramsStream {
            tail: self.inner.token_stream(text),
            n: self.n,
            word: &mut self.word,
            bounds: &mut self.bounds,
            next: 0,
        }
    }
}

/// The n-grams of the words of one text.
pub struct WordNgramsStream<'a, T> {
    tail: T,
    n: usize,
    word: &'a mut String,
    /// Byte offsets of the word's character starts, plus its length.
    bounds: &'a mut Vec<usize>,
    next: usize,
}

impl<T: TokenStream> TokenStream for WordNgramsStream<'_, T> {
    fn advance(&mut self) -> bool {
        while self.next + self.n >= self.bounds.len() {
            if !self.tail.advance() {
                return false;
            }
            let text = &self.tail.token().text;
            self.bounds.clear();
            self.next = 0;
            if text.bytes().any(|b| b.is_ascii_digit()) {
                continue;
            }
            self.bounds.extend(text.char_indices().map(|(i, _)| i));
            self.bounds.push(text.len());
            self.word.clear();
            self.word.push_str(text);
        }
        let (from, to) = (self.bounds[self.next], self.bounds[self.next + self.n]);
        self.next += 1;
        let token = self.tail.token_mut();
        token.text.clear();
        token.text.push_str(&self.word[from..to]);
        true
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

    fn grams(text: &str, n: usize) -> Vec<String> {
        let filter = WordNgrams::new(n).unwrap_or_else(|e| panic!("{e}"));
        let mut analyzer = TextAnalyzer::builder(HebrewWordTokenizer::default())
            .filter(filter)
            .build();
        let mut stream = analyzer.token_stream(text);
        let mut out = Vec::new();
        while let Some(t) = stream.next() {
            out.push(t.text.clone());
        }
        out
    }

    #[test]
    fn table() {
        assert_eq!(grams("ובבית", 3), ["ובב", "בבי", "בית"]);
        assert_eq!(grams("בית", 3), ["בית"]);
        assert_eq!(grams("של ab 2024 בית", 3), ["בית"]);
        assert_eq!(grams("ובבית", 4), ["ובבי", "בבית"]);
    }

    #[test]
    fn rejects_sizes_outside_two_to_eight() {
        assert!(WordNgrams::new(1).is_err());
        assert!(WordNgrams::new(9).is_err());
    }
}
