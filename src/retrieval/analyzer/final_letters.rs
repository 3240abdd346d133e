//! Folds the five final letter forms (ך ם ן ף ץ) into their base letters, so a key is
//! the same wherever the letter stands in the word (and prefix stripping or n-grams
//! never see two spellings of one letter).

use tantivy::tokenizer::{Token, TokenFilter, TokenStream, Tokenizer};

use crate::text::normalize::fold_final;

/// The final-letter folding filter.
#[derive(Clone, Copy, Default)]
pub struct FinalLetterFolder;

impl TokenFilter for FinalLetterFolder {
    type Tokenizer<T: Tokenizer> = FinalLetterFilter<T>;

    fn transform<T: Tokenizer>(self, tokenizer: T) -> FinalLetterFilter<T> {
        FinalLetterFilter {
            inner: tokenizer,
            buffer: String::new(),
        }
    }
}

/// [`FinalLetterFolder`] applied to a tokenizer.
#[derive(Clone)]
pub struct FinalLetterFilter<T> {
    inner: T,
    buffer: String,
}

impl<T: Tokenizer> Tokenizer for FinalLetterFilter<T> {
    type TokenStream<'a> = FinalLetterStream<'a, T::TokenStream<'a>>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> Self::TokenStream<'a> {
        FinalLetterStream {
            tail: self.inner.token_stream(text),
            buffer: &mut self.buffer,
        }
    }
}

/// The folded words of one text.
pub struct FinalLetterStream<'a, T> {
    tail: T,
    buffer: &'a mut String,
}

/// Whether `word` holds a final letter form (U+05DA, 05DD, 05DF, 05E3, 05E5).
fn has_final(word: &str) -> bool {
    word.chars().any(|c| fold_final(c) != c)
}

impl<T: TokenStream> TokenStream for FinalLetterStream<'_, T> {
    fn advance(&mut self) -> bool {
        if !self.tail.advance() {
            return false;
        }
        let token = self.tail.token_mut();
        if has_final(&token.text) {
            self.buffer.clear();
            self.buffer.extend(token.text.chars().map(fold_final));
            std::mem::swap(&mut token.text, self.buffer);
        }
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

    #[test]
    fn folds_every_final_form() {
        let mut analyzer = TextAnalyzer::builder(HebrewWordTokenizer::default())
            .filter(FinalLetterFolder)
            .build();
        let mut stream = analyzer.token_stream("מלך שלום אמן כסף ארץ abc");
        let mut got = Vec::new();
        while let Some(t) = stream.next() {
            got.push(t.text.clone());
        }
        assert_eq!(got, ["מלכ", "שלומ", "אמנ", "כספ", "ארצ", "abc"]);
    }
}
