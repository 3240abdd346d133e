//! Long runs shortened before UAX #29 sees them.
//!
//! `unicode-segmentation` looks ahead from every space after a full stop (rule SB8), so a
//! long run of spaces costs quadratic time. The sentence breaks of a text do not change
//! when a run of spaces, or of one repeated character (other than a line break), is cut
//! to its first few characters: UAX #29 treats `Sp+`, `Close+` and letters the same
//! however many there are. [`Shortened`] makes that copy and maps its offsets back.

use std::borrow::Cow;

/// Characters a run keeps.
const KEEP: usize = 8;

/// `text` with long runs cut, and the way back to the original offsets.
#[derive(Debug)]
pub(super) struct Shortened<'a> {
    /// The text UAX #29 should read.
    pub(super) text: Cow<'a, str>,
    /// `(offset in the copy where bytes were dropped, bytes dropped up to there)`, sorted.
    cuts: Vec<(usize, usize)>,
}

impl<'a> Shortened<'a> {
    /// Shortens the runs of `text` longer than [`KEEP`] characters.
    pub(super) fn new(text: &'a str) -> Self {
        let mut copy = String::new();
        let mut cuts = Vec::new();
        let mut copied = 0;
        let mut dropped = 0;
        let mut run_len = 0;
        let mut last: Option<char> = None;
        for (i, c) in text.char_indices() {
            let continues = last.is_some_and(|l| same_run(l, c));
            if !continues {
                run_len = 0;
            }
            run_len += 1;
            last = Some(c);
            if run_len == KEEP + 1 {
                copy.push_str(&text[copied..i]);
                copied = i;
            }
            let run_ends = text[i + c.len_utf8()..]
                .chars()
                .next()
                .is_none_or(|n| !same_run(c, n));
            if run_ends && run_len > KEEP {
                let end = i + c.len_utf8();
                dropped += end - copied;
                copied = end;
                cuts.push((copy.len(), dropped));
            }
        }
        if cuts.is_empty() {
            return Shortened {
                text: Cow::Borrowed(text),
                cuts,
            };
        }
        copy.push_str(&text[copied..]);
        Shortened {
            text: Cow::Owned(copy),
            cuts,
        }
    }

    /// The offset in the original text of offset `at` of the copy (the end of a run for
    /// the end of its kept part).
    pub(super) fn original(&self, at: usize) -> usize {
        let index = self.cuts.partition_point(|&(cut, _)| cut <= at);
        at + index.checked_sub(1).map_or(0, |i| self.cuts[i].1)
    }
}

fn same_run(a: char, b: char) -> bool {
    let space = |c: char| c.is_whitespace() && !super::rules::is_newline(c);
    (a == b && !super::rules::is_newline(a)) || (space(a) && space(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_borrowed_and_long_runs_are_cut() {
        let plain = Shortened::new("שלום.  עולם");
        assert!(matches!(plain.text, Cow::Borrowed(_)));
        assert_eq!(plain.original(5), 5);

        let text = format!("סוף.{}התחלה\n\n\n", " \t".repeat(10));
        let short = Shortened::new(&text);
        assert_eq!(short.text, format!("סוף.{}התחלה\n\n\n", " \t".repeat(4)));
        let start = "סוף.".len();
        assert_eq!(short.original(start + 8), start + 20);
        assert_eq!(short.original(start + 7), start + 7);
        assert_eq!(short.original(short.text.len()), text.len());
    }
}
