//! Paragraphs and sentences: UAX #29 sentence boundaries corrected for Hebrew.
//!
//! | input | sentences |
//! |---|---|
//! | `צה"ל הודיע. ד"ר כהן הגיב.` | `צה"ל הודיע.` / `ד"ר כהן הגיב.` |
//! | `א. ב. יהושע כתב ספרים.` | one sentence (initials) |
//! | `Dr. Smith paid 3.14 on 27.11.2026.` | one sentence (title, decimal, date) |
//! | `הוא אמר: "די."  ואז הלך.` | `הוא אמר: "די."` / `ואז הלך.` |
//! | `השלבים:\n1. לשטוף\n2. לייבש` | `השלבים:` / `1. לשטוף` / `2. לייבש` |
//!
//! ```
//! use sofer::text::segment::{paragraphs, sentences};
//!
//! let text = "# כותרת\nפרופ׳ א. ב. יהושע כתב. ד\"ר כהן קרא.\n\nסוף.";
//! let paras: Vec<&str> = paragraphs(text).into_iter().map(|r| &text[r]).collect();
//! assert_eq!(paras, ["# כותרת", "פרופ׳ א. ב. יהושע כתב. ד\"ר כהן קרא.", "סוף."]);
//! let body = paras[1];
//! let found: Vec<&str> = sentences(body).into_iter().map(|r| &body[r]).collect();
//! assert_eq!(found, ["פרופ׳ א. ב. יהושע כתב.", "ד\"ר כהן קרא."]);
//! ```

mod rules;
mod runs;
mod sentence;

use std::ops::Range;

pub use sentence::sentences;

/// Byte ranges of the paragraphs of `text`, each trimmed of surrounding whitespace; empty
/// ones are left out. Paragraphs are separated by one or more blank (whitespace-only)
/// lines; a Markdown heading line (`# …`) is a paragraph of its own.
pub fn paragraphs(text: &str) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut at = 0;
    for line in text.split_inclusive(['\n', '\u{2029}']) {
        let end = at + line.len();
        if line.trim().is_empty() {
            push_trimmed(text, start..end, &mut out);
            start = end;
        } else if rules::is_heading(line) {
            push_trimmed(text, start..at, &mut out);
            push_trimmed(text, at..end, &mut out);
            start = end;
        } else if line.ends_with('\u{2029}') {
            push_trimmed(text, start..end, &mut out);
            start = end;
        }
        at = end;
    }
    push_trimmed(text, start..text.len(), &mut out);
    out
}

fn push_trimmed(text: &str, range: Range<usize>, out: &mut Vec<Range<usize>>) {
    let slice = &text[range.clone()];
    let lead = slice.len() - slice.trim_start().len();
    let trimmed = slice.trim();
    if !trimmed.is_empty() {
        out.push(range.start + lead..range.start + lead + trimmed.len());
    }
}

#[cfg(test)]
mod tests;
