//! Splits text into words: runs of letters, digits and combining marks.
//!
//! Niqqud and invisible characters (zero-width joiners, bidi marks) never end a word, and
//! a geresh or gershayim (or a look-alike quote) between two Hebrew letters belongs to the
//! word (`צה"ל`, `ג'ירפה`). Everything else — spaces, punctuation, maqaf, hyphens — ends it.
//! Token text is the original slice; the normalizer that follows makes it a key.

use tantivy::tokenizer::{Token, TokenStream, Tokenizer};

use crate::text::normalize::{is_geresh_like, is_hebrew_letter, is_invisible, is_niqqud};

/// The word tokenizer of the Hebrew analyzer.
#[derive(Clone, Default)]
pub struct HebrewWordTokenizer {
    token: Token,
}

/// The words of one text, in order.
pub struct HebrewWordStream<'a> {
    text: &'a str,
    cursor: usize,
    token: &'a mut Token,
}

impl Tokenizer for HebrewWordTokenizer {
    type TokenStream<'a> = HebrewWordStream<'a>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> HebrewWordStream<'a> {
        self.token.reset();
        HebrewWordStream {
            text,
            cursor: 0,
            token: &mut self.token,
        }
    }
}

fn starts_word(c: char) -> bool {
    c.is_alphanumeric()
}

impl HebrewWordStream<'_> {
    /// Whether `c`, met after `prev` inside a word at byte `at`, continues the word.
    fn continues(&self, prev: char, c: char, at: usize) -> bool {
        if c.is_alphanumeric() || is_niqqud(c) || is_invisible(c) {
            return true;
        }
        if is_geresh_like(c) {
            let next = self.text[at + c.len_utf8()..].chars().next();
            return is_hebrew_letter(prev) && next.is_some_and(is_hebrew_letter);
        }
        false
    }
}

impl TokenStream for HebrewWordStream<'_> {
    fn advance(&mut self) -> bool {
        let rest = &self.text[self.cursor..];
        let Some((lead, first)) = rest.char_indices().find(|&(_, c)| starts_word(c)) else {
            self.cursor = self.text.len();
            return false;
        };
        let start = self.cursor + lead;
        let body = start + first.len_utf8();
        let mut end = body;
        let mut prev = first;
        for (i, c) in self.text[body..].char_indices() {
            let at = body + i;
            if !self.continues(prev, c, at) {
                break;
            }
            if !is_niqqud(c) && !is_invisible(c) {
                prev = c;
            }
            end = at + c.len_utf8();
        }
        self.cursor = end;
        self.token.position = self.token.position.wrapping_add(1);
        self.token.offset_from = start;
        self.token.offset_to = end;
        self.token.text.clear();
        self.token.text.push_str(&self.text[start..end]);
        true
    }

    fn token(&self) -> &Token {
        self.token
    }

    fn token_mut(&mut self) -> &mut Token {
        self.token
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<(String, usize, usize)> {
        let mut tokenizer = HebrewWordTokenizer::default();
        let mut stream = tokenizer.token_stream(text);
        let mut out = Vec::new();
        while let Some(t) = stream.next() {
            out.push((t.text.clone(), t.offset_from, t.offset_to));
        }
        out
    }

    #[test]
    fn splits_on_spaces_punctuation_and_maqaf() {
        let got: Vec<String> = words("שלום, עולם! בית־ספר e-mail")
            .into_iter()
            .map(|w| w.0)
            .collect();
        assert_eq!(got, ["שלום", "עולם", "בית", "ספר", "e", "mail"]);
    }

    #[test]
    fn keeps_gershayim_and_geresh_inside_words() {
        let got: Vec<String> = words("צה\"ל וצה״ל ג'ירפה \"ציטוט\"")
            .into_iter()
            .map(|w| w.0)
            .collect();
        assert_eq!(got, ["צה\"ל", "וצה״ל", "ג'ירפה", "ציטוט"]);
    }

    #[test]
    fn niqqud_and_invisibles_do_not_split() {
        let text = "שָׁלוֹם a\u{200D}b";
        let got = words(text);
        assert_eq!(got[0].0, "שָׁלוֹם");
        assert_eq!(got[0].2, "שָׁלוֹם".len());
        assert_eq!(got[1].0, "a\u{200D}b");
    }

    #[test]
    fn offsets_are_bytes_into_the_text() {
        let text = "א, בב";
        assert_eq!(words(text), [("א".into(), 0, 2), ("בב".into(), 4, 8)]);
    }

    #[test]
    fn positions_count_from_zero() {
        let mut tokenizer = HebrewWordTokenizer::default();
        let mut stream = tokenizer.token_stream("אחד שתיים");
        assert!(stream.advance());
        assert_eq!(stream.token().position, 0);
        assert!(stream.advance());
        assert_eq!(stream.token().position, 1);
        assert!(!stream.advance());
    }
}
