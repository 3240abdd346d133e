//! Token-budget chunking: a document is cut on paragraph, then sentence, then word
//! boundaries into chunks that each cost at most a given number of tokens.
//!
//! The document is first cut into *units*: its sentences ([`super::sentences`] within each
//! of [`super::paragraphs`]); a sentence over the budget is cut between words (at
//! whitespace, so an acronym such as צה"ל or a URL stays whole), and only a single word
//! over the budget is cut between grapheme clusters. Units are then packed greedily, and a
//! chunk that would end inside a paragraph ends at the paragraph's start instead when that
//! leaves the chunk at least half full. Every chunk's cost is checked with the counter on
//! its exact text, so the budget holds even where token counts are not additive.

use std::ops::Range;

use unicode_segmentation::UnicodeSegmentation;

use super::{paragraphs, sentences, CharOffsets};

/// Counts the tokens a text costs: the engine's tokenizer, or an estimate.
pub trait TokenCounter {
    /// Tokens of `text`.
    fn count(&self, text: &str) -> usize;
}

/// An estimate for when no tokenizer is at hand, fitted to the Mistral v1 tokenizer on the
/// UD Hebrew and NTREX texts: a Hebrew letter ≈ 1 token, a Latin letter ≈ ¼, a digit or a
/// punctuation mark ≈ 1, plus ½ per word. It errs high (mean 1.13× the real count), so
/// chunks planned with it usually fit the model.
#[derive(Debug, Clone, Copy, Default)]
pub struct EstimatedTokens;

impl TokenCounter for EstimatedTokens {
    fn count(&self, text: &str) -> usize {
        let mut quarters = 0usize;
        let mut in_word = false;
        for c in text.chars() {
            if c.is_whitespace() {
                in_word = false;
                continue;
            }
            if !in_word {
                quarters += 2;
                in_word = true;
            }
            quarters += if c.is_ascii_alphabetic() { 1 } else { 4 };
        }
        quarters.div_ceil(4)
    }
}

/// How to chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkOptions {
    /// The most tokens a chunk may cost.
    pub max_tokens: usize,
    /// At most this many tokens of a chunk's end are repeated at the start of the next, so
    /// that no sentence loses its context; 0 for none.
    pub overlap_tokens: usize,
}

/// One chunk of a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// Byte range into the original text.
    pub range: Range<usize>,
    /// Character range into the original text, for callers outside Rust.
    pub chars: Range<usize>,
    /// Tokens the chunk's text costs, as the counter counts it.
    pub tokens: usize,
}

/// Why a document could not be chunked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChunkError {
    /// A budget that no text fits.
    #[error("`max_tokens` must be at least 1")]
    ZeroBudget,
    /// An overlap that leaves no room for new text.
    #[error("`overlap_tokens` ({overlap}) must be smaller than `max_tokens` ({max})")]
    OverlapTooLarge {
        /// The overlap asked for.
        overlap: usize,
        /// The budget.
        max: usize,
    },
    /// A single character that costs more than the whole budget.
    #[error("the text at character {at} costs {tokens} tokens, more than `max_tokens` ({max})")]
    BudgetTooSmall {
        /// Character offset of the indivisible piece.
        at: usize,
        /// What it costs.
        tokens: usize,
        /// The budget.
        max: usize,
    },
}

/// A piece that is never cut further: a sentence, or a word or grapheme of an overlong one.
#[derive(Debug, Clone)]
struct Unit {
    range: Range<usize>,
    tokens: usize,
    starts_paragraph: bool,
}

/// Splits `text` into chunks of at most `options.max_tokens` tokens each, in order.
///
/// ```
/// use sofer::text::{chunk, ChunkOptions, EstimatedTokens};
///
/// let text = "שלום עולם. מה שלומך?\n\nפסקה שנייה.";
/// let options = ChunkOptions { max_tokens: 12, overlap_tokens: 0 };
/// let chunks = chunk(text, &EstimatedTokens, &options).unwrap();
/// let texts: Vec<&str> = chunks.iter().map(|c| &text[c.range.clone()]).collect();
/// assert_eq!(texts, ["שלום עולם.", "מה שלומך?", "פסקה שנייה."]);
/// ```
pub fn chunk(
    text: &str,
    counter: &dyn TokenCounter,
    options: &ChunkOptions,
) -> Result<Vec<Chunk>, ChunkError> {
    let max = options.max_tokens;
    if max == 0 {
        return Err(ChunkError::ZeroBudget);
    }
    if options.overlap_tokens >= max {
        return Err(ChunkError::OverlapTooLarge {
            overlap: options.overlap_tokens,
            max,
        });
    }
    let units = units(text, counter, max)?;
    let chars = CharOffsets::new(text);
    let mut chunks = Vec::new();
    let (mut start, mut done) = (0, 0);
    while start < units.len() {
        let mut end = pack(text, &units, start, done + 1, counter, max);
        if end <= done {
            start = done;
            end = pack(text, &units, start, done + 1, counter, max);
        }
        let range = units[start].range.start..units[end - 1].range.end;
        chunks.push(Chunk {
            chars: chars.char_at(range.start)..chars.char_at(range.end),
            tokens: counter.count(&text[range.clone()]),
            range,
        });
        if end == units.len() {
            break;
        }
        done = end;
        start = overlap_start(text, &units, start..end, counter, options);
    }
    Ok(chunks)
}

/// The end (exclusive) of the chunk that starts at unit `start`; a preferred paragraph break
/// is taken only at `min_end` or later, so that an overlapping chunk still adds new text.
fn pack(
    text: &str,
    units: &[Unit],
    start: usize,
    min_end: usize,
    counter: &dyn TokenCounter,
    max: usize,
) -> usize {
    let mut end = start;
    let mut sum = 0;
    while end < units.len() && sum + units[end].tokens <= max {
        sum += units[end].tokens;
        end += 1;
    }
    end = end.max(start + 1);
    if end < units.len() {
        let half = max / 2;
        let mut prefix = 0;
        let mut best = None;
        for (i, unit) in units.iter().enumerate().take(end).skip(start) {
            if i > start && i >= min_end && unit.starts_paragraph && prefix >= half {
                best = Some(i);
            }
            prefix += unit.tokens;
        }
        end = best.unwrap_or(end);
    }
    while end > start + 1 {
        let range = units[start].range.start..units[end - 1].range.end;
        if counter.count(&text[range]) <= max {
            break;
        }
        end -= 1;
    }
    end
}

/// Where the chunk after `chunk` begins: back from its end by as many whole units as fit
/// in the overlap budget (counted on their exact text), while leaving room for the next unit.
fn overlap_start(
    text: &str,
    units: &[Unit],
    chunk: Range<usize>,
    counter: &dyn TokenCounter,
    options: &ChunkOptions,
) -> usize {
    let (start, end) = (chunk.start, chunk.end);
    let mut next = end;
    let mut carried = 0;
    while next > start + 1 {
        let added = carried + units[next - 1].tokens;
        if added > options.overlap_tokens || added + units[end].tokens > options.max_tokens {
            break;
        }
        carried = added;
        next -= 1;
    }
    while next < end {
        let shared = units[next].range.start..units[end - 1].range.end;
        if counter.count(&text[shared]) <= options.overlap_tokens {
            break;
        }
        next += 1;
    }
    next
}

/// Cuts `text` into units no larger than `max` tokens each.
fn units(text: &str, counter: &dyn TokenCounter, max: usize) -> Result<Vec<Unit>, ChunkError> {
    let mut out = Vec::new();
    for paragraph in paragraphs(text) {
        let mut starts_paragraph = true;
        for sentence in sentences(&text[paragraph.clone()]) {
            let range = paragraph.start + sentence.start..paragraph.start + sentence.end;
            let tokens = counter.count(&text[range.clone()]);
            if tokens <= max {
                out.push(Unit {
                    range,
                    tokens,
                    starts_paragraph,
                });
            } else {
                split_words(text, range, counter, max, starts_paragraph, &mut out)?;
            }
            starts_paragraph = false;
        }
    }
    Ok(out)
}

/// Cuts an overlong sentence at whitespace, and an overlong word between graphemes.
fn split_words(
    text: &str,
    sentence: Range<usize>,
    counter: &dyn TokenCounter,
    max: usize,
    mut starts_paragraph: bool,
    out: &mut Vec<Unit>,
) -> Result<(), ChunkError> {
    for (offset, word) in words(&text[sentence.clone()]) {
        let range = sentence.start + offset..sentence.start + offset + word.len();
        let tokens = counter.count(word);
        if tokens <= max {
            out.push(Unit {
                range,
                tokens,
                starts_paragraph,
            });
        } else {
            for (g_offset, grapheme) in word.grapheme_indices(true) {
                let start = range.start + g_offset;
                let tokens = counter.count(grapheme);
                if tokens > max {
                    let at = text[..start].chars().count();
                    return Err(ChunkError::BudgetTooSmall { at, tokens, max });
                }
                out.push(Unit {
                    range: start..start + grapheme.len(),
                    tokens,
                    starts_paragraph,
                });
                starts_paragraph = false;
            }
        }
        starts_paragraph = false;
    }
    Ok(())
}

/// The whitespace-separated words of `text` with their byte offsets.
fn words(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.split_whitespace()
        .map(move |word| (word.as_ptr() as usize - text.as_ptr() as usize, word))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts<'a>(text: &'a str, chunks: &[Chunk]) -> Vec<&'a str> {
        chunks.iter().map(|c| &text[c.range.clone()]).collect()
    }

    fn words_counter() -> impl TokenCounter {
        struct Words;
        impl TokenCounter for Words {
            fn count(&self, text: &str) -> usize {
                text.split_whitespace().count()
            }
        }
        Words
    }

    #[test]
    fn a_short_document_is_one_chunk() {
        let text = "  צה\"ל הודיע היום.\n\nפסקה שנייה.  ";
        let options = ChunkOptions {
            max_tokens: 100,
            overlap_tokens: 0,
        };
        let chunks = chunk(text, &words_counter(), &options).unwrap();
        assert_eq!(texts(text, &chunks), ["צה\"ל הודיע היום.\n\nפסקה שנייה."]);
        assert_eq!(chunks[0].tokens, 5);
        assert_eq!(chunks[0].chars, 2..31);
    }

    #[test]
    fn paragraph_boundaries_are_preferred_over_sentences() {
        let text = "אחת שתיים. שלוש ארבע.\n\nחמש שש. שבע שמונה. תשע עשר.";
        let options = ChunkOptions {
            max_tokens: 6,
            overlap_tokens: 0,
        };
        let chunks = chunk(text, &words_counter(), &options).unwrap();
        assert_eq!(
            texts(text, &chunks),
            ["אחת שתיים. שלוש ארבע.", "חמש שש. שבע שמונה. תשע עשר."]
        );
    }

    #[test]
    fn an_overlong_sentence_is_cut_between_words_never_inside_an_acronym() {
        let text = "ארה״ב וצה\"ל ד\"ר כהן אמרו משהו ארוך מאוד";
        let options = ChunkOptions {
            max_tokens: 3,
            overlap_tokens: 0,
        };
        let chunks = chunk(text, &words_counter(), &options).unwrap();
        assert_eq!(
            texts(text, &chunks),
            ["ארה״ב וצה\"ל ד\"ר", "כהן אמרו משהו", "ארוך מאוד"]
        );
    }

    #[test]
    fn overlap_repeats_whole_sentences_within_its_budget() {
        let text = "אחת שתיים. שלוש ארבע. חמש שש. שבע שמונה.";
        let options = ChunkOptions {
            max_tokens: 4,
            overlap_tokens: 2,
        };
        let chunks = chunk(text, &words_counter(), &options).unwrap();
        assert_eq!(
            texts(text, &chunks),
            [
                "אחת שתיים. שלוש ארבע.",
                "שלוש ארבע. חמש שש.",
                "חמש שש. שבע שמונה."
            ]
        );
    }

    #[test]
    fn an_overlapping_chunk_always_adds_text_past_the_previous_one() {
        let text = "שלום שלום שלום שלום. e-mail מס׳ ובבית Tel\n\nשלום שלום שלום שלום שלום שלום.";
        let options = ChunkOptions {
            max_tokens: 25,
            overlap_tokens: 12,
        };
        let chunks = chunk(text, &EstimatedTokens, &options).unwrap();
        for pair in chunks.windows(2) {
            assert!(
                pair[0].range.end < pair[1].range.end,
                "{:?}",
                texts(text, &chunks)
            );
        }
        assert_eq!(chunks.last().unwrap().range.end, text.len());
    }

    #[test]
    fn an_overlong_word_is_cut_between_graphemes() {
        let text = "שָׁלוֹם";
        struct Letters;
        impl TokenCounter for Letters {
            fn count(&self, text: &str) -> usize {
                text.graphemes(true).count()
            }
        }
        let options = ChunkOptions {
            max_tokens: 2,
            overlap_tokens: 0,
        };
        let chunks = chunk(text, &Letters, &options).unwrap();
        assert_eq!(texts(text, &chunks), ["שָׁל", "וֹם"]);
    }

    #[test]
    fn bad_budgets_are_typed_errors() {
        let text = "שלום";
        let zero = ChunkOptions {
            max_tokens: 0,
            overlap_tokens: 0,
        };
        assert_eq!(
            chunk(text, &EstimatedTokens, &zero),
            Err(ChunkError::ZeroBudget)
        );
        let overlap = ChunkOptions {
            max_tokens: 4,
            overlap_tokens: 4,
        };
        assert!(matches!(
            chunk(text, &EstimatedTokens, &overlap),
            Err(ChunkError::OverlapTooLarge { .. })
        ));
        let tiny = ChunkOptions {
            max_tokens: 1,
            overlap_tokens: 0,
        };
        assert!(matches!(
            chunk("!!", &EstimatedTokens, &tiny),
            Err(ChunkError::BudgetTooSmall {
                at: 0,
                tokens: 2,
                max: 1
            })
        ));
    }

    #[test]
    fn empty_and_blank_documents_have_no_chunks() {
        let options = ChunkOptions {
            max_tokens: 5,
            overlap_tokens: 0,
        };
        assert!(chunk("", &EstimatedTokens, &options).unwrap().is_empty());
        assert!(chunk(" \n\n \t", &EstimatedTokens, &options)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn the_estimate_counts_hebrew_letters_and_latin_words() {
        assert_eq!(EstimatedTokens.count("שלום"), 5);
        assert_eq!(EstimatedTokens.count("hello world"), 4);
        assert_eq!(EstimatedTokens.count(""), 0);
    }
}
