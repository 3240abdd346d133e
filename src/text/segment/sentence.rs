//! Sentence boundaries: UAX #29 proposes, Hebrew-aware rules dispose.
//!
//! UAX #29 is cut into pieces at every boundary it finds (plus after `…`, which it does
//! not treat as a terminator). Each gap between two pieces is then judged once, from a
//! few dozen bytes around it, so the whole pass stays linear in the text:
//!
//! - a blank line, a heading line, or a line that starts a list item always breaks;
//! - any other single line break is a soft wrap: it breaks only where a space would;
//! - `?` and `!` (and runs like `?!`) break, except before a Latin lowercase letter;
//! - a quotation followed by its attribution (`"Why?" she asked`, `„למה?“ שאלה`) does not
//!   break;
//! - an ellipsis (`...`, `…`) breaks only before a Latin capital: Hebrew has no capitals
//!   to tell a new sentence from a pause, and a pause is the commoner reading;
//! - a full stop (or a doubled one, a typo far more often than an ellipsis) breaks, except
//!   after titles and abbreviations (`Dr.`, `פרופ.`, `No. 5`), a list number at the start
//!   of a sentence or after a colon (`1. …`), when no space follows (`3.14`,
//!   `27.11.2026`, `ynet.co.il`, `a@b.com`), and after initials (`א.`, `J.`, `U.S.`,
//!   `איי. בי.`) unless a common sentence opener (`The`, `הוא`) or, after a spelled
//!   acronym, an opening quote follows.
//!
//! Closing quotes and brackets after a terminator (`."`, `.״`, `?”`, `.)`) stay with the
//! sentence they close.

use std::ops::Range;

use unicode_segmentation::UnicodeSegmentation;

use super::rules::{
    after_hyphen, attributes_quote, is_abbreviation, is_closer, is_enumerator, is_heading,
    is_initials, is_newline, is_opener, is_terminator, starts_list_item, starts_with_starter,
};
use super::runs::Shortened;

/// How far back from a boundary the rules look: longer words are never abbreviations.
const WINDOW: usize = 64;

/// Text between two candidate boundaries, trimmed of whitespace (never empty).
#[derive(Debug, Clone, Copy)]
struct Piece {
    start: usize,
    end: usize,
}

/// What is known about the line the current gap ends on.
#[derive(Debug, Clone, Copy)]
struct Line {
    start: usize,
    list_item: bool,
    in_item: bool,
    heading: bool,
}

impl Line {
    fn at(text: &str, start: usize, continues_item: bool) -> Self {
        let rest = &text[start..];
        let list_item = starts_list_item(rest);
        Line {
            start,
            list_item,
            in_item: list_item || continues_item,
            heading: is_heading(rest),
        }
    }
}

/// Byte ranges of the sentences of `text`, trimmed; see the module docs for the rules.
pub fn sentences(text: &str) -> Vec<Range<usize>> {
    let pieces = pieces(text);
    let mut out = Vec::new();
    let (Some(first), Some(last)) = (pieces.first(), pieces.last()) else {
        return out;
    };
    let mut line = Line::at(text, first.start, false);
    let mut sentence_start = first.start;
    for pair in pieces.windows(2) {
        let (prev, next) = (pair[0], pair[1]);
        if breaks(text, prev, next, sentence_start, &mut line) {
            out.push(sentence_start..prev.end);
            sentence_start = next.start;
        }
    }
    out.push(sentence_start..last.end);
    out
}

/// UAX #29 sentence pieces, also cut after `…` followed by a space, trimmed, with closing
/// quotes that UAX #29 leaves at the start of a piece (`״`) moved back to the one before.
fn pieces(text: &str) -> Vec<Piece> {
    let mut out = Vec::new();
    let shortened = Shortened::new(text);
    for (start, segment) in shortened.text.split_sentence_bound_indices() {
        let (start, end) = (
            shortened.original(start),
            shortened.original(start + segment.len()),
        );
        let segment = &text[start..end];
        let mut from = 0;
        for (i, ellipsis) in segment.match_indices('…') {
            let after = i + ellipsis.len();
            let rest = &segment[after..];
            let closers = rest.len() - rest.trim_start_matches(is_closer).len();
            if rest[closers..].starts_with(char::is_whitespace) {
                push_piece(text, start + from..start + after + closers, &mut out);
                from = after + closers;
            }
        }
        push_piece(text, start + from..start + segment.len(), &mut out);
    }
    out
}

fn push_piece(text: &str, range: Range<usize>, out: &mut Vec<Piece>) {
    let slice = &text[range.clone()];
    let mut start = range.start + (slice.len() - slice.trim_start().len());
    let end = range.end - (slice.len() - slice.trim_end().len());
    if let Some(prev) = out.last_mut() {
        if prev.end == range.start && start < end {
            let body = &text[start..end];
            let closers = body.len() - body.trim_start_matches(is_closer).len();
            let rest = &body[closers..];
            if closers > 0 && rest.chars().next().is_none_or(char::is_whitespace) {
                prev.end = start + closers;
                start += closers + (rest.len() - rest.trim_start().len());
            }
        }
    }
    if start < end {
        out.push(Piece { start, end });
    }
}

/// Whether a sentence ends between `prev` and `next`; `line` is updated when the gap
/// holds a line break.
fn breaks(text: &str, prev: Piece, next: Piece, sentence_start: usize, line: &mut Line) -> bool {
    let gap = &text[prev.end..next.start];
    let newlines = line_breaks(gap);
    let ended = *line;
    if newlines > 0 {
        let indented = gap
            .rsplit(is_newline)
            .next()
            .is_some_and(|indent| !indent.is_empty());
        *line = Line::at(text, next.start, indented && ended.in_item);
        if newlines > 1 || ended.heading || line.heading || line.list_item {
            return true;
        }
        if ended.in_item && !indented {
            return true;
        }
    }
    let next_text = &text[next.start..];
    if gap.is_empty() && next_text.chars().next().is_some_and(char::is_alphanumeric) {
        return false;
    }
    let window_start =
        ceil_char_boundary(text, prev.end.saturating_sub(WINDOW).max(sentence_start));
    let window = &text[window_start..prev.end];
    let core = window.trim_end_matches(is_closer);
    let body = core.trim_end_matches(is_terminator);
    let run = &core[body.len()..];
    if run.is_empty() {
        return newlines == 0;
    }
    let quoted = core.len() < window.len() || body.ends_with(is_closer);
    if quoted && attributes_quote(next_text) {
        return false;
    }
    if run.contains(|c: char| c != '.' && c != '…') {
        return !next_text.starts_with(|c: char| c.is_ascii_lowercase());
    }
    let after = next_text.trim_start_matches(is_opener).chars().next();
    if run.contains('…') || run.len() > 2 {
        return after.is_some_and(|c| c.is_ascii_uppercase());
    }
    let word_at = body.rfind(char::is_whitespace).map_or(0, |i| i + 1);
    if word_at == 0 && window_start > sentence_start {
        return true;
    }
    let opened = &body[word_at..];
    let word = opened.trim_start_matches(is_opener);
    let word_pos = window_start + word_at + (opened.len() - word.len());
    let before_number = after.is_some_and(|c| c.is_ascii_digit());
    let bare = after_hyphen(word);
    let follows_initials = body[..word_at]
        .split_whitespace()
        .next_back()
        .and_then(|token| token.strip_suffix('.'))
        .is_some_and(|token| is_initials(after_hyphen(token.trim_start_matches(is_opener)), false));
    let chained = follows_initials
        || next_text
            .split_whitespace()
            .next()
            .and_then(|token| token.trim_end_matches([',', ';', ':']).strip_suffix('.'))
            .is_some_and(|token| token.len() <= WINDOW && is_initials(token, true));
    if is_abbreviation(bare, before_number) {
        return false;
    }
    if is_initials(bare, chained) {
        let opens_quote = next_text.starts_with(is_opener) && bare.chars().count() > 1;
        return opens_quote || starts_with_starter(next_text);
    }
    let lead = text[sentence_start.max(ended.start)..word_pos].trim_end();
    let at_start = lead.is_empty() || lead.ends_with(':');
    let numeral = word
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, 'i' | 'v' | 'x' | 'I' | 'V' | 'X'));
    let list_label = ended.list_item && lead.is_empty() && ended.start >= sentence_start;
    !(at_start && is_enumerator(word) && (numeral || list_label))
}

/// Number of line breaks in whitespace `gap` (CR LF counts once, U+2029 as a blank line).
fn line_breaks(gap: &str) -> usize {
    let mut count = 0;
    let mut chars = gap.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' if chars.peek() == Some(&'\n') => {}
            '\u{2029}' => count += 2,
            c if is_newline(c) => count += 1,
            _ => {}
        }
    }
    count
}

/// The smallest char boundary of `text` at or above `at`.
fn ceil_char_boundary(text: &str, mut at: usize) -> usize {
    while !text.is_char_boundary(at) {
        at += 1;
    }
    at
}
