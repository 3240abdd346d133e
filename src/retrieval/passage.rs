//! Passages: the unit that is indexed and returned. A paragraph is one passage, or several
//! when it is longer than [`PASSAGE_WORDS`] words (cut by the text layer's chunker on
//! sentence, then word boundaries, with a little overlap).

use crate::text::{chunk, CharOffsets, ChunkOptions, TokenCounter};

use super::Document;

/// The most words a passage holds: about a long Wikipedia paragraph.
pub const PASSAGE_WORDS: usize = 200;
/// Words repeated from the end of one passage at the start of the next.
pub const OVERLAP_WORDS: usize = 20;
/// The most bytes a passage holds, for text without spaces (a URL list, a hex dump).
pub const MAX_PASSAGE_BYTES: usize = 16 * 1024;

/// Counts whitespace-separated words: retrieval passages are sized in words.
struct WordCount;

impl TokenCounter for WordCount {
    fn count(&self, text: &str) -> usize {
        text.split_whitespace().count()
    }
}

/// One passage of a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Passage<'a> {
    /// The paragraph it comes from, from 0.
    pub paragraph: usize,
    /// Its text, a slice of the paragraph.
    pub text: &'a str,
    /// Character offset of its start in the paragraph.
    pub char_start: usize,
    /// Character offset of its end (exclusive) in the paragraph.
    pub char_end: usize,
}

/// The passages of `doc`, in order; blank paragraphs give none.
pub fn passages(doc: &Document) -> Vec<Passage<'_>> {
    let options = ChunkOptions {
        max_tokens: PASSAGE_WORDS,
        overlap_tokens: OVERLAP_WORDS,
    };
    let mut out = Vec::new();
    for (index, paragraph) in doc.paragraphs.iter().enumerate() {
        let text = paragraph.as_str();
        let whole = std::iter::once(0..text.len()).collect::<Vec<_>>();
        let ranges = if WordCount.count(text) <= PASSAGE_WORDS {
            whole
        } else {
            match chunk(text, &WordCount, &options) {
                Ok(chunks) => chunks.into_iter().map(|c| c.range).collect(),
                Err(_) => whole,
            }
        };
        let offsets = CharOffsets::new(text);
        for range in ranges {
            let mut start = range.start;
            while start < range.end {
                let mut end = range.end.min(start + MAX_PASSAGE_BYTES);
                while !text.is_char_boundary(end) {
                    end -= 1;
                }
                let slice = &text[start..end];
                if !slice.trim().is_empty() {
                    out.push(Passage {
                        paragraph: index,
                        text: slice,
                        char_start: offsets.char_at(start),
                        char_end: offsets.char_at(end),
                    });
                }
                start = end;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_paragraphs_are_one_passage_each_with_char_offsets() {
        let doc = Document::from_text("d", "", "שלום עולם\n\nפסקה שנייה");
        let got = passages(&doc);
        assert_eq!(got.len(), 2);
        assert_eq!(
            (
                got[1].paragraph,
                got[1].text,
                got[1].char_start,
                got[1].char_end
            ),
            (1, "פסקה שנייה", 0, 10)
        );
    }

    #[test]
    fn long_paragraphs_are_split_and_cover_the_text() {
        let sentence = "המשפט הזה ארוך מספיק כדי למלא מקום. ";
        let doc = Document::from_text("d", "", &sentence.repeat(200));
        let got = passages(&doc);
        assert!(got.len() > 5, "{}", got.len());
        assert!(got
            .iter()
            .all(|p| p.text.split_whitespace().count() <= PASSAGE_WORDS));
        assert_eq!(got[0].char_start, 0);
        assert!(got.windows(2).all(|w| w[1].char_start <= w[0].char_end));
    }

    #[test]
    fn text_without_spaces_is_cut_at_the_byte_cap() {
        let doc = Document::from_text("d", "", &"א".repeat(MAX_PASSAGE_BYTES));
        let got = passages(&doc);
        assert_eq!(got.len(), 2);
        assert_eq!(got[1].char_start, MAX_PASSAGE_BYTES / 2);
    }
}
