//! Bidirectional text helpers (`unicode-bidi`): paragraph direction, isolating LTR runs
//! inside RTL text, and visual reordering for terminals.

use unicode_bidi::{
    bidi_class, get_base_direction, BidiClass, BidiDataSource, HardcodedBidiData, ParagraphBidiInfo,
};
use unicode_segmentation::UnicodeSegmentation;

/// First strong isolate: opens an isolated run whose direction its content decides.
const FSI: char = '\u{2068}';
/// Pop directional isolate: closes the run [`FSI`] opened.
const PDI: char = '\u{2069}';
/// Left-to-right mark: class L, but invisible, so it starts no run of its own.
const LRM: char = '\u{200E}';

/// The base direction of a paragraph.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Left to right: English, or a paragraph without strong characters.
    Ltr,
    /// Right to left: Hebrew (or Arabic) decides the paragraph.
    Rtl,
}

/// The direction of the first paragraph of `text`: that of its first strong character,
/// skipping isolated runs (UAX #9 P2), and left to right when it has none (P3).
///
/// ```
/// use sofer::text::bidi::{paragraph_direction, Direction};
/// assert_eq!(paragraph_direction("2024: שלום world"), Direction::Rtl);
/// assert_eq!(paragraph_direction("\u{2068}Sofer\u{2069} הוא שירות"), Direction::Rtl);
/// assert_eq!(paragraph_direction("Sofer הוא שירות"), Direction::Ltr);
/// assert_eq!(paragraph_direction("123 ..."), Direction::Ltr);
/// ```
pub fn paragraph_direction(text: &str) -> Direction {
    match get_base_direction(text) {
        unicode_bidi::Direction::Rtl => Direction::Rtl,
        _ => Direction::Ltr,
    }
}

/// Wraps each left-to-right run of every right-to-left paragraph in FSI … PDI, so that
/// Latin words, numbers, code and URLs keep their order when the text is pasted into a
/// right-to-left context. A run goes from its first to its last L or EN character (with
/// currency and percent signs attached to a number); the spaces and punctuation around it
/// stay outside. Left-to-right paragraphs and text already inside isolates or embeddings
/// are copied unchanged, so applying it twice changes nothing more.
///
/// ```
/// use sofer::text::bidi::isolate_ltr_runs;
/// assert_eq!(
///     isolate_ltr_runs("הרץ cargo test --lib עכשיו."),
///     "הרץ \u{2068}cargo test --lib\u{2069} עכשיו."
/// );
/// assert_eq!(isolate_ltr_runs("ערך (INR>1.5) תקין"), "ערך (\u{2068}INR>1.5\u{2069}) תקין");
/// assert_eq!(isolate_ltr_runs("Run it (עכשיו)."), "Run it (עכשיו).");
/// ```
pub fn isolate_ltr_runs(text: &str) -> String {
    if text.is_ascii() {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len() + 16);
    for paragraph in paragraphs(text) {
        if paragraph_direction(paragraph) == Direction::Rtl {
            isolate_paragraph(paragraph, &mut out);
        } else {
            out.push_str(paragraph);
        }
    }
    out
}

/// `text` split after each paragraph separator (class B: newline, carriage return, U+2029…).
fn paragraphs(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let end = rest
            .char_indices()
            .find(|&(_, c)| class_of(c) == BidiClass::B)
            .map_or(rest.len(), |(at, c)| at + c.len_utf8());
        let (paragraph, tail) = rest.split_at(end);
        rest = tail;
        Some(paragraph)
    })
}

/// An LTR run being collected: its byte range, and whether it ends in a number.
struct Run {
    start: usize,
    end: usize,
    numeric: bool,
}

/// Writes an RTL paragraph to `out` with its LTR runs isolated.
fn isolate_paragraph(paragraph: &str, out: &mut String) {
    use BidiClass::{AL, EN, ET, L, NSM, PDF, R};

    let mut writer = RunWriter {
        paragraph,
        out,
        copied: 0,
    };
    let mut depth = 0usize;
    let mut run: Option<Run> = None;
    // Start of the ET characters (currency, percent) just before this character.
    let mut signs: Option<usize> = None;
    for (at, c) in paragraph.char_indices() {
        let end = at + c.len_utf8();
        let class = class_of(c);
        if depth > 0 {
            if opens_isolate_or_embedding(class) {
                depth += 1;
            } else if matches!(class, BidiClass::PDI | PDF) {
                depth -= 1;
            }
            continue;
        }
        let mut next_signs = None;
        match class {
            _ if opens_isolate_or_embedding(class) => {
                writer.flush(run.take(), at);
                depth = 1;
            }
            L | EN if is_ltr_strong(c) => {
                let numeric = class == EN;
                match run.as_mut() {
                    Some(open) => {
                        open.end = end;
                        open.numeric = numeric;
                    }
                    None => {
                        let start = signs.filter(|_| numeric).unwrap_or(at);
                        run = Some(Run {
                            start,
                            end,
                            numeric,
                        });
                    }
                }
            }
            ET => match run.as_mut() {
                Some(open) if open.numeric && open.end == at => open.end = end,
                _ => next_signs = Some(signs.unwrap_or(at)),
            },
            NSM => {
                if let Some(open) = run.as_mut().filter(|open| open.end == at) {
                    open.end = end;
                }
            }
            R | AL | BidiClass::PDI | PDF => writer.flush(run.take(), at),
            _ => {}
        }
        signs = next_signs;
    }
    writer.flush(run.take(), paragraph.len());
    writer.finish();
}

fn opens_isolate_or_embedding(class: BidiClass) -> bool {
    use BidiClass::{FSI as Fsi, LRE, LRI, LRO, RLE, RLI, RLO};
    matches!(class, LRI | RLI | Fsi | LRE | RLE | LRO | RLO)
}

/// Copies a paragraph to `out`, wrapping the runs it is given in FSI … PDI.
struct RunWriter<'a> {
    paragraph: &'a str,
    out: &'a mut String,
    /// How much of `paragraph` is in `out` already.
    copied: usize,
}

impl RunWriter<'_> {
    /// Wraps `run`, whose neutrals reach up to `limit`. A bracket is never isolated apart
    /// from its partner: a run takes in the closing brackets among the neutrals after it
    /// that match its open ones, and is cut at the brackets it cannot pair.
    fn flush(&mut self, run: Option<Run>, limit: usize) {
        let Some(Run { start, mut end, .. }) = run else {
            return;
        };
        let mut open: Vec<(usize, char)> = Vec::new();
        let mut cuts: Vec<usize> = Vec::new();
        for (i, c) in self.paragraph[start..end].char_indices() {
            match bracket(c) {
                Some((opening, true)) => open.push((start + i, opening)),
                Some((opening, false)) => match open.iter().rposition(|&(_, o)| o == opening) {
                    Some(k) => cuts.extend(open.drain(k..).skip(1).map(|(at, _)| at)),
                    None => cuts.push(start + i),
                },
                None => {}
            }
        }
        let neutrals = end;
        for (i, c) in self.paragraph[neutrals..limit].char_indices() {
            let Some((opening, is_open)) = bracket(c) else {
                continue;
            };
            if is_open || open.last().map(|&(_, o)| o) != Some(opening) {
                break;
            }
            open.pop();
            end = neutrals + i + c.len_utf8();
        }
        cuts.extend(open.iter().map(|&(at, _)| at));
        cuts.sort_unstable();
        let mut from = start;
        for cut in cuts {
            self.wrap(from, cut, from != start, true);
            let bracket_len = self.paragraph[cut..]
                .chars()
                .next()
                .map_or(0, char::len_utf8);
            from = cut + bracket_len;
        }
        self.wrap(from, end, from != start, false);
    }

    /// Wraps `start..end`; a side that a cut made is first trimmed to the run's first
    /// (last) LTR character, and a piece without one is left as it is.
    fn wrap(&mut self, start: usize, end: usize, cut_before: bool, cut_after: bool) {
        let piece = &self.paragraph[start..end];
        if !piece.chars().any(is_ltr_strong) {
            return;
        }
        let first = match piece.find(|c: char| is_run_edge(c, false)) {
            Some(first) if cut_before => first,
            Some(_) => 0,
            None => return,
        };
        let last = match piece
            .char_indices()
            .rev()
            .find(|&(_, c)| is_run_edge(c, true))
        {
            Some((last, c)) if cut_after => last + c.len_utf8(),
            Some(_) => piece.len(),
            None => return,
        };
        let (start, end) = (start + first, start + last);
        self.out.push_str(&self.paragraph[self.copied..start]);
        self.out.push(FSI);
        self.out.push_str(&self.paragraph[start..end]);
        self.out.push(PDI);
        self.copied = end;
    }

    fn finish(self) {
        self.out.push_str(&self.paragraph[self.copied..]);
    }
}

/// `bidi_class`, with the letters, digits and spaces of Hebrew and English text answered
/// without a table search.
fn class_of(c: char) -> BidiClass {
    match c {
        'א'..='ת' => BidiClass::R,
        'a'..='z' | 'A'..='Z' => BidiClass::L,
        '0'..='9' => BidiClass::EN,
        ' ' => BidiClass::WS,
        _ => bidi_class(c),
    }
}

/// An L or EN character other than LRM: what an isolated run is made around.
fn is_ltr_strong(c: char) -> bool {
    matches!(class_of(c), BidiClass::L | BidiClass::EN) && c != LRM
}

/// Whether `c` may begin (or, with `at_end`, end) an isolated run: an LTR letter, a
/// digit or a sign attached to one, an opening (closing) bracket, or a mark at the end.
fn is_run_edge(c: char, at_end: bool) -> bool {
    match class_of(c) {
        BidiClass::L | BidiClass::EN => c != LRM,
        BidiClass::ET => true,
        BidiClass::NSM => at_end,
        _ => bracket(c).is_some_and(|(_, is_open)| is_open != at_end),
    }
}

/// The normalized opening bracket of a paired bracket, and whether `c` opens.
fn bracket(c: char) -> Option<(char, bool)> {
    HardcodedBidiData
        .bidi_matched_opening_bracket(c)
        .map(|b| (b.opening, b.is_open))
}

/// `text` in display order, line by line, for a terminal without bidi support: each
/// line's levels come from its own first strong character (UAX #9 P2/P3), right-to-left
/// runs are reversed grapheme by grapheme (niqqud stays on its letter), their brackets
/// mirrored (L4), and bidi controls left out.
///
/// ```
/// use sofer::text::bidi::visual;
/// assert_eq!(visual("ערך (INR>1.5) תקין"), "ןיקת (INR>1.5) ךרע");
/// assert_eq!(visual("Hello שלום!\nשלום world"), "Hello םולש!\nworld םולש");
/// ```
pub fn visual(text: &str) -> String {
    if text.is_ascii() {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    for paragraph in paragraphs(text) {
        let separator = paragraph
            .chars()
            .next_back()
            .filter(|&c| class_of(c) == BidiClass::B)
            .map_or(0, char::len_utf8);
        let (line, separator) = paragraph.split_at(paragraph.len() - separator);
        if line.is_ascii() {
            out.push_str(line);
        } else {
            let info = ParagraphBidiInfo::new(line, None);
            let (levels, runs) = info.visual_runs(0..line.len());
            for run in runs {
                let run_text = &line[run.clone()];
                if levels[run.start].is_rtl() {
                    for grapheme in run_text.graphemes(true).rev() {
                        push_mirrored(grapheme, &mut out);
                    }
                } else {
                    out.extend(run_text.chars().filter(|&c| !is_bidi_control(c)));
                }
            }
        }
        out.push_str(separator);
    }
    out
}

fn push_mirrored(grapheme: &str, out: &mut String) {
    for c in grapheme.chars().filter(|&c| !is_bidi_control(c)) {
        out.push(mirror(c));
    }
}

/// Explicit formatting characters, which rule X9 removes before display.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200E}' | '\u{200F}' | '\u{061C}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// The mirrored glyph of a paired bracket or comparison sign (Bidi_Mirroring_Glyph, the
/// part of it that Hebrew and English text uses); other characters unchanged.
pub fn mirror(c: char) -> char {
    match c {
        '(' => ')',
        ')' => '(',
        '[' => ']',
        ']' => '[',
        '{' => '}',
        '}' => '{',
        '<' => '>',
        '>' => '<',
        '«' => '»',
        '»' => '«',
        '‹' => '›',
        '›' => '‹',
        '≤' => '≥',
        '≥' => '≤',
        '⁅' => '⁆',
        '⁆' => '⁅',
        '⟨' => '⟩',
        '⟩' => '⟨',
        '⟦' => '⟧',
        '⟧' => '⟦',
        '（' => '）',
        '）' => '（',
        '［' => '］',
        '］' => '［',
        '｛' => '｝',
        '｝' => '｛',
        '＜' => '＞',
        '＞' => '＜',
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn isolates_table() {
        let cases = [
            ("", ""),
            ("plain English (no change)", "plain English (no change)"),
            ("English first, אחר כך עברית", "English first, אחר כך עברית"),
            (
                "שלום Dr. Smith, מה שלומך?",
                "שלום \u{2068}Dr. Smith\u{2069}, מה שלומך?",
            ),
            ("בשנת 2024 נולד", "בשנת \u{2068}2024\u{2069} נולד"),
            (
                "המחיר ₪100 או 50%.",
                "המחיר \u{2068}₪100\u{2069} או \u{2068}50%\u{2069}.",
            ),
            (
                "ראו https://example.com/a?b=1 כאן",
                "ראו \u{2068}https://example.com/a?b=1\u{2069} כאן",
            ),
            (
                "מילה Café\u{0301} מילה",
                "מילה \u{2068}Café\u{0301}\u{2069} מילה",
            ),
            (
                "עם \u{2066}abc\u{2069} ו-\u{202A}x y\u{202C} זהו",
                "עם \u{2066}abc\u{2069} ו-\u{202A}x y\u{202C} זהו",
            ),
            ("שלום\u{200E} עולם", "שלום\u{200E} עולם"),
            (
                "English line\nשורה עם word\n",
                "English line\nשורה עם \u{2068}word\u{2069}\n",
            ),
            (
                "הפונקציה f(x, y) מחזירה",
                "הפונקציה \u{2068}f(x, y)\u{2069} מחזירה",
            ),
            (
                "שלום (abc) def.",
                "שלום (\u{2068}abc\u{2069}) \u{2068}def\u{2069}.",
            ),
            (
                "ש abc (def ש)",
                "ש \u{2068}abc\u{2069} (\u{2068}def\u{2069} ש)",
            ),
            ("ש a[0] (b]", "ש \u{2068}a[0]\u{2069} (\u{2068}b\u{2069}]"),
            ("ש a (() b", "ש \u{2068}a\u{2069} (\u{2068}() b\u{2069}"),
        ];
        for (input, expected) in cases {
            assert_eq!(isolate_ltr_runs(input), expected, "input {input:?}");
        }
    }

    #[test]
    fn isolating_twice_changes_nothing() {
        let text = "המודל Mixtral 8x7B רץ על H100 (80GB) ב-2024.";
        let once = isolate_ltr_runs(text);
        assert_eq!(
            once,
            "המודל \u{2068}Mixtral 8x7B\u{2069} רץ על \u{2068}H100 (80GB)\u{2069} ב-\u{2068}2024\u{2069}."
        );
        assert_eq!(isolate_ltr_runs(&once), once);
    }

    #[test]
    fn visual_table() {
        let cases = [
            ("", ""),
            ("no rtl here", "no rtl here"),
            ("שלום", "םולש"),
            ("שלום, עולם!", "!םלוע ,םולש"),
            ("המחיר [30] ש\"ח", "ח\"ש [30] ריחמה"),
            (
                "\u{05E9}\u{05C1}\u{05B8}\u{05DC}\u{05D5}\u{05B9}\u{05DD}",
                "\u{05DD}\u{05D5}\u{05B9}\u{05DC}\u{05E9}\u{05C1}\u{05B8}",
            ),
            ("\u{2067}שלום\u{2069} world", "םולש world"),
            ("שורה\r\nשנייה\n", "הרוש\r\nהיינש\n"),
            ("a < b, אם א < ב", "a < b, ב > א םא"),
        ];
        for (input, expected) in cases {
            assert_eq!(visual(input), expected, "input {input:?}");
        }
    }

    #[test]
    fn direction_of_isolate_and_rtl_mark() {
        assert_eq!(paragraph_direction("\u{200F}Sofer"), Direction::Rtl);
        assert_eq!(paragraph_direction(""), Direction::Ltr);
        assert_eq!(
            paragraph_direction("\u{2067}שלום\u{2069} world"),
            Direction::Ltr
        );
    }

    proptest::proptest! {
        #[test]
        fn isolate_is_idempotent_and_only_adds_isolates(text in "[ -~אבגשלום\u{05B8}\u{0301}\u{2066}-\u{2069}\u{202A}-\u{202E}\u{200E}\u{200F}₪%\n]{0,32}") {
            let once = isolate_ltr_runs(&text);
            proptest::prop_assert_eq!(isolate_ltr_runs(&once), once.clone());
            let stripped: String = once.chars().filter(|&c| c != FSI && c != PDI).collect();
            let original: String = text.chars().filter(|&c| c != FSI && c != PDI).collect();
            proptest::prop_assert_eq!(stripped, original);
        }

        #[test]
        fn visual_keeps_every_visible_character(text in "[ -~אבגשלום\u{05B8}\u{2066}-\u{2069}\n]{0,32}") {
            let either = |c: char| c.min(mirror(c));
            let mut shown: Vec<char> = visual(&text).chars().map(either).collect();
            let mut visible: Vec<char> =
                text.chars().filter(|&c| !is_bidi_control(c)).map(either).collect();
            shown.sort_unstable();
            visible.sort_unstable();
            proptest::prop_assert_eq!(shown, visible);
        }
    }
}
