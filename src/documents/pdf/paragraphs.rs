//! Lines in reading order → paragraphs: breaks from line spacing, indentation, font size
//! and list bullets; running headers, footers and page numbers dropped; each line put in
//! logical order and lines joined (hyphenation undone).

use super::lines::Segment;
use super::order::{brackets_balanced, final_letter_counts, visual_to_logical};
use crate::documents::{Direction, Paragraph, ParagraphKind};

/// A page's lines in reading order.
#[derive(Debug, Clone)]
pub struct PageLines {
    /// From 1.
    pub page: u32,
    /// Height of the displayed page.
    pub height: f32,
    /// Its lines (segments) in reading order.
    pub lines: Vec<Segment>,
    /// The page draws Hebrew in logical order left to right (it looks reversed there).
    pub drawn_logical: bool,
}

/// Whether a page's segments draw Hebrew in logical order: in what is drawn, more words
/// end with a final letter than start with one (visual producers give the opposite).
pub fn drawn_logical(segs: &[Segment]) -> bool {
    let (starts, ends) = segs.iter().fold((0, 0), |(s, e), l| {
        let (s2, e2) = final_letter_counts(&l.visual());
        (s + s2, e + e2)
    });
    ends > starts
}

const BULLETS: &[&str] = &[
    "•", "◦", "▪", "‣", "●", "○", "■", "□", "➢", "\u{f0b7}", "\u{f0a7}", "·", "–",
];

/// Removes running headers and footers: a top or bottom line that repeats (digits aside)
/// at the same height on most pages, or that is only a page number.
pub fn drop_furniture(pages: &mut [PageLines]) {
    let edge = |p: &PageLines| -> Vec<usize> {
        let mut ids: Vec<usize> = (0..p.lines.len()).collect();
        ids.sort_by(|&a, &b| y_of(p, b).total_cmp(&y_of(p, a)));
        let n = ids.len();
        let mut picked: Vec<usize> = ids.iter().take(2).copied().collect();
        picked.extend(ids.iter().skip(n.saturating_sub(2).max(2)).copied());
        picked
            .into_iter()
            .filter(|&i| {
                let y = y_of(p, i);
                y > 0.88 * p.height || y < 0.12 * p.height
            })
            .collect()
    };
    let key = |s: &Segment| -> String {
        s.visual()
            .chars()
            .filter(|c| !c.is_whitespace())
            .map(|c| if c.is_ascii_digit() { '#' } else { c })
            .collect()
    };
    let candidates: Vec<Vec<(usize, String, f32)>> = pages
        .iter()
        .map(|p| {
            edge(p)
                .into_iter()
                .filter_map(|i| p.lines.get(i).map(|s| (i, key(s), s.y)))
                .collect()
        })
        .collect();
    let n = pages.len();
    for (pi, page) in pages.iter_mut().enumerate() {
        let Some(mine) = candidates.get(pi) else {
            continue;
        };
        let mut drop: Vec<usize> = Vec::new();
        for (i, k, y) in mine {
            let repeats = candidates
                .iter()
                .filter(|c| c.iter().any(|(_, k2, y2)| k2 == k && (y - y2).abs() < 4.0))
                .count();
            let is_number = page
                .lines
                .get(*i)
                .is_some_and(|s| is_page_number(&s.visual()));
            if is_number || (repeats >= 2 && repeats * 2 > n) {
                drop.push(*i);
            }
        }
        drop.sort_unstable();
        drop.dedup();
        for i in drop.into_iter().rev() {
            if i < page.lines.len() {
                page.lines.remove(i);
            }
        }
    }
}

fn y_of(p: &PageLines, i: usize) -> f32 {
    p.lines.get(i).map_or(0.0, |s| s.y)
}

/// "12", "- 12 -", "עמוד 3", "Page 3 of 10", "3 / 10", "3 מתוך 10" (in either order).
fn is_page_number(text: &str) -> bool {
    let words = ["עמוד", "דומע", "עמ'", "page", "of", "מתוך", "ךותמ", "p."];
    let mut digits = false;
    let mut count = 0;
    for token in text.split_whitespace() {
        count += 1;
        let t = token.trim_matches(|c: char| "-–—/|.()[]".contains(c));
        if t.is_empty() || words.contains(&t.to_lowercase().as_str()) {
            continue;
        }
        if t.chars().all(|c| c.is_ascii_digit() || c == '/') {
            digits = true;
            continue;
        }
        return false;
    }
    digits && count <= 5
}

struct Draft<'a> {
    page: u32,
    /// The page draws Hebrew in logical order left to right (it looks reversed).
    drawn_logical: bool,
    lines: Vec<&'a Segment>,
    /// It starts with a list marker (a bullet glyph or number, drawn or separate).
    bullet: bool,
    /// Its first line's first unit is a bullet glyph to drop.
    strip_glyph: bool,
    /// Where in `lines` its current column (or page) starts: indentation is measured there.
    column_from: usize,
}

/// Builds the paragraphs of a document from its pages' lines.
pub fn paragraphs(pages: &[PageLines]) -> Vec<Paragraph> {
    let body = body_size(pages);
    let mut drafts: Vec<Draft> = Vec::new();
    for page in pages {
        let pitch = typical_pitch(&page.lines);
        let drawn_logical = page.drawn_logical;
        let mut pending_bullet = false;
        let mut prev: Option<&Segment> = None;
        for (k, line) in page.lines.iter().enumerate() {
            let same_row_next = page
                .lines
                .get(k + 1)
                .is_some_and(|n| (n.y - line.y).abs() < 0.3 * line.size);
            if same_row_next && is_marker(line.visual().trim()) {
                pending_bullet = true;
                continue;
            }
            let glyph = starts_with_bullet(line, drawn_logical);
            let numbered = {
                let units: Vec<&str> = line.units.iter().map(String::as_str).collect();
                let text = logical_line(&units, rtl_line(line), drawn_logical);
                let mut words = text.split_whitespace();
                words.next().is_some_and(is_marker) && words.next().is_some()
            };
            let bullet = glyph || numbered || std::mem::take(&mut pending_bullet);
            let new = match (prev, drafts.last()) {
                (Some(p), Some(d)) => bullet || breaks(p, line, d, pitch, body),
                (None, Some(d)) => bullet || !runs_on(d, line, body),
                _ => true,
            };
            if new {
                drafts.push(Draft {
                    page: page.page,
                    drawn_logical,
                    lines: Vec::new(),
                    bullet,
                    strip_glyph: glyph,
                    column_from: 0,
                });
            }
            if let Some(d) = drafts.last_mut() {
                let jumped = prev.is_none_or(|p| p.y - line.y < -2.0 * p.size.max(line.size));
                if !new && jumped {
                    d.column_from = d.lines.len();
                }
                d.lines.push(line);
            }
            prev = Some(line);
        }
    }
    let texts: Vec<Vec<String>> = drafts.iter().map(logical_lines).collect();
    let spaced = prefix_hyphen_spaced(&texts);
    drafts
        .iter()
        .zip(texts)
        .filter_map(|(d, t)| finish(d, t, body, spaced))
        .collect()
}

fn breaks(prev: &Segment, cur: &Segment, draft: &Draft, pitch: f32, body: f32) -> bool {
    let size = prev.size.max(cur.size);
    let dy = prev.y - cur.y;
    if dy < -2.0 * size {
        // Up to the top of the next column: as at a page break.
        return !runs_on(draft, cur, body);
    }
    if dy < 0.5 * size || dy > (pitch + 0.3) * size {
        return true;
    }
    // A change of size is a new paragraph when it is large, or when one side is larger
    // than the body text (a heading a point larger); a line of Latin in a smaller font
    // inside a Hebrew paragraph is not.
    let change = (prev.size - cur.size).abs() / size;
    if change > 0.15 || (change > 0.05 && size > 1.04 * body) {
        return true;
    }
    if cur.x1 < prev.x0 || cur.x0 > prev.x1 {
        return true;
    }
    let rtl = rtl_line(cur);
    let column = draft.lines.get(draft.column_from..).unwrap_or_default();
    let indent = if rtl {
        let right = column
            .iter()
            .map(|s| s.x1)
            .fold(f32::NEG_INFINITY, f32::max);
        right - cur.x1
    } else {
        let left = column.iter().map(|s| s.x0).fold(f32::INFINITY, f32::min);
        cur.x0 - left
    };
    indent > 1.0 * cur.size && column.len() >= 2
}

/// Whether `first`, a page's or a column's first line, goes on with `draft`, the previous
/// page's or column's last paragraph: body text of the same size after a line that ends
/// no sentence.
fn runs_on(draft: &Draft, first: &Segment, body: f32) -> bool {
    let Some(last) = draft.lines.last() else {
        return false;
    };
    let same_size = (last.size - first.size).abs() <= 0.05 * last.size.max(first.size);
    if !same_size || last.size > 1.04 * body {
        return false;
    }
    let units: Vec<&str> = last.units.iter().map(String::as_str).collect();
    let text = logical_line(&units, rtl_line(last), draft.drawn_logical);
    let end = text
        .trim_end()
        .trim_end_matches(['"', '\'', '”', '’', '״', ')', ']', '»', '«']);
    // " - - -" ends an interrupted speech in Knesset protocols; a hyphen right after a
    // letter is a word going on.
    !(end.ends_with(['.', '!', '?', ':', '׃', '…', ';', '—']) || end.ends_with(" -"))
}

fn rtl_line(s: &Segment) -> bool {
    let (r, l) = strong_counts(s.units.iter().map(String::as_str));
    r > l
}

fn strong_counts<'a>(units: impl Iterator<Item = &'a str>) -> (usize, usize) {
    let (mut r, mut l) = (0, 0);
    for u in units {
        for c in u.chars() {
            if ('\u{590}'..='\u{8ff}').contains(&c) || ('\u{fb1d}'..='\u{fdff}').contains(&c) {
                r += 1;
            } else if c.is_alphabetic() {
                l += 1;
            }
        }
    }
    (r, l)
}

/// The baseline-to-baseline distance most lines of a page keep, in ems.
fn typical_pitch(lines: &[Segment]) -> f32 {
    let mut pitches: Vec<f32> = lines
        .windows(2)
        .filter_map(|w| {
            let (a, b) = (w.first()?, w.get(1)?);
            let dy = a.y - b.y;
            let em = a.size.max(b.size);
            ((a.size - b.size).abs() < 0.1 * em && dy > 0.8 * em && dy < 3.0 * em)
                .then_some(dy / em)
        })
        .collect();
    pitches.sort_by(f32::total_cmp);
    pitches.get(pitches.len() / 3).copied().unwrap_or(1.25)
}

fn body_size(pages: &[PageLines]) -> f32 {
    let mut sizes: Vec<(f32, usize)> = pages
        .iter()
        .flat_map(|p| p.lines.iter())
        .map(|s| (s.size, s.units.len()))
        .collect();
    sizes.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total: usize = sizes.iter().map(|s| s.1).sum();
    let mut acc = 0;
    for (size, n) in &sizes {
        acc += n;
        if acc * 2 >= total {
            return *size;
        }
    }
    10.0
}

/// A list marker: a bullet, or a number like `1.`, `3.1.`, `2)` (either way round).
fn is_marker(text: &str) -> bool {
    if BULLETS.contains(&text) {
        return true;
    }
    let is_punct = |c: char| matches!(c, '.' | ')' | '(');
    let framed =
        text.chars().next().is_some_and(is_punct) || text.chars().next_back().is_some_and(is_punct);
    let groups: Vec<&str> = text.split(is_punct).filter(|g| !g.is_empty()).collect();
    framed
        && !groups.is_empty()
        && groups
            .iter()
            .all(|g| g.len() <= 2 && g.chars().all(|c| c.is_ascii_digit()))
}

/// The nesting level a number marker says: `3.1.` is 2.
fn marker_level(text: &str) -> u8 {
    let groups = text
        .split(|c: char| !c.is_ascii_digit())
        .filter(|g| !g.is_empty())
        .count();
    u8::try_from(groups.clamp(1, 9)).unwrap_or(1)
}

fn starts_with_bullet(s: &Segment, drawn_logical: bool) -> bool {
    let first = s.units.first().map(String::as_str);
    let last = s.units.last().map(String::as_str);
    let is_bullet = |u: Option<&str>| u.is_some_and(|u| BULLETS.contains(&u));
    if rtl_line(s) && !drawn_logical {
        is_bullet(last)
    } else {
        is_bullet(first)
    }
}

/// One line in logical order, for a paragraph of direction `rtl`, on a page that draws
/// (`drawn_logical`) or does not draw its Hebrew in logical order. The line's own final
/// letters overrule the page where they clearly disagree.
pub fn logical_line(units: &[&str], rtl: bool, drawn_logical: bool) -> String {
    let drawn: String = units.concat();
    let (starts, ends) = final_letter_counts(&drawn);
    let line_says_logical = ends > starts + 1 || (!drawn_logical && ends > starts);
    let line_says_visual = starts > ends + 1;
    if (drawn_logical && !line_says_visual) || line_says_logical {
        return drawn;
    }
    let mut text = visual_to_logical(units, rtl, true);
    if !brackets_balanced(&text) {
        let plain = visual_to_logical(units, rtl, false);
        if brackets_balanced(&plain) {
            text = plain;
        }
    }
    text
}

/// A draft's lines in logical order, in the paragraph's direction.
fn logical_lines(d: &Draft) -> Vec<String> {
    let (r, l) = strong_counts(
        d.lines
            .iter()
            .flat_map(|s| s.units.iter().map(String::as_str)),
    );
    let rtl = r > 0 && 2 * r >= l;
    let mut out = Vec::with_capacity(d.lines.len());
    for (k, line) in d.lines.iter().enumerate() {
        let mut units: Vec<&str> = line.units.iter().map(String::as_str).collect();
        if k == 0 && d.strip_glyph {
            let drop = if rtl_line(line) && !d.drawn_logical {
                units.len().saturating_sub(1)
            } else {
                0
            };
            if drop < units.len() {
                units.remove(drop);
            }
        }
        out.push(logical_line(&units, rtl, d.drawn_logical));
    }
    out
}

/// Whether the document writes a Hebrew prefix apart from what follows it (`ב- 2014`)
/// rather than attached (`ב-2014`), by the majority inside lines.
fn prefix_hyphen_spaced(texts: &[Vec<String>]) -> bool {
    let (mut apart, mut attached) = (0, 0);
    for line in texts.iter().flatten() {
        let words: Vec<&str> = line.split_whitespace().collect();
        for (k, w) in words.iter().enumerate() {
            let Some(stem) = w.strip_suffix('-') else {
                if let Some((stem, rest)) = w.split_once('-') {
                    if is_prefix(stem) && rest.chars().next().is_some_and(|c| !is_hebrew(c)) {
                        attached += 1;
                    }
                }
                continue;
            };
            if is_prefix(stem) && k + 1 < words.len() {
                apart += 1;
            }
        }
    }
    apart > attached
}

/// One to three of the Hebrew prefix letters ו ה ב כ ל מ ש.
fn is_prefix(stem: &str) -> bool {
    let n = stem.chars().count();
    (1..=3).contains(&n) && stem.chars().all(|c| "והבכלמש".contains(c))
}

fn finish(d: &Draft, lines: Vec<String>, body: f32, spaced: bool) -> Option<Paragraph> {
    let mut text = String::new();
    for line in &lines {
        join(&mut text, line.trim(), spaced);
    }
    let mut words: Vec<&str> = text.split_whitespace().collect();
    let mut bullet = d.bullet;
    let mut level = 1;
    if words.len() > 1 && words.first().is_some_and(|w| is_marker(w)) {
        level = words.first().map_or(1, |w| marker_level(w));
        words.remove(0);
        bullet = true;
    }
    let text = words.join(" ");
    if text.is_empty() {
        return None;
    }
    let size = d.lines.iter().map(|s| s.size).fold(0.0, f32::max);
    let kind = if bullet {
        ParagraphKind::ListItem { level }
    } else if size > 1.25 * body && d.lines.len() <= 3 {
        ParagraphKind::Heading {
            level: if size > 1.6 * body { 1 } else { 2 },
        }
    } else {
        ParagraphKind::Body
    };
    let direction = match text.chars().find(|c| c.is_alphabetic()) {
        Some(c)
            if ('\u{590}'..='\u{8ff}').contains(&c) || ('\u{fb1d}'..='\u{fdff}').contains(&c) =>
        {
            Direction::Rtl
        }
        _ => Direction::Ltr,
    };
    Some(Paragraph {
        kind,
        text,
        direction,
        page: Some(d.page),
    })
}

/// Appends a line to a paragraph: a Latin word hyphenated at the line end is rejoined,
/// a Hebrew word broken after a maqaf or hyphen runs on without a space, except a lone
/// prefix (`ב-` before Latin or digits) in a document that writes those apart.
fn join(text: &mut String, line: &str, prefix_spaced: bool) {
    if line.is_empty() {
        return;
    }
    let mut tail = text.chars().rev();
    let last = tail.next();
    let before = tail.next();
    let next = line.chars().next();
    match (before, last, next) {
        (Some(b), Some('-' | '\u{ad}'), Some(n))
            if b.is_alphabetic() && !is_hebrew(b) && n.is_lowercase() =>
        {
            text.pop();
            let word = text.rsplit(char::is_whitespace).next().unwrap_or("");
            if word.contains('-') {
                text.push('-');
            }
        }
        (_, Some('\u{ad}'), _) => {
            text.pop();
        }
        (Some(b), Some('־'), Some(_)) if is_hebrew(b) => {}
        (Some(b), Some('-'), Some(n)) if is_hebrew(b) => {
            let stem: String = text
                .trim_end_matches('-')
                .chars()
                .rev()
                .take_while(|c| is_hebrew(*c))
                .collect();
            if prefix_spaced && is_prefix(&stem) && !is_hebrew(n) {
                text.push(' ');
            }
        }
        (_, Some(_), _) => text.push(' '),
        _ => {}
    }
    text.push_str(line);
}

fn is_hebrew(c: char) -> bool {
    ('\u{5d0}'..='\u{5ea}').contains(&c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_lines() {
        let mut t = String::from("the infor-");
        join(&mut t, "mation age", false);
        assert_eq!(t, "the information age");
        let mut t = String::from("הוא עבד ב-");
        join(&mut t, "2014", true);
        assert_eq!(t, "הוא עבד ב- 2014");
        let mut t = String::from("הוא עבד ב-");
        join(&mut t, "2014", false);
        assert_eq!(t, "הוא עבד ב-2014");
        let mut t = String::from("בן-");
        join(&mut t, "גוריון", true);
        assert_eq!(t, "בן-גוריון");
        let mut t = String::from("תל־");
        join(&mut t, "אביב", false);
        assert_eq!(t, "תל־אביב");
        let mut t = String::from("Baden-Wuerttemberg-");
        join(&mut t, "class.", false);
        assert_eq!(t, "Baden-Wuerttemberg-class.");
        let mut t = String::from("well-");
        join(&mut t, "Known", false);
        assert_eq!(t, "well- Known");
    }

    #[test]
    fn page_numbers() {
        for s in [
            "12",
            "- 12 -",
            "עמוד 3",
            "Page 3 of 10",
            "3 / 10",
            "3 ךותמ 10",
        ] {
            assert!(is_page_number(s), "{s}");
        }
        assert!(!is_page_number("שנת 2026"));
    }

    #[test]
    fn markers() {
        for s in ["1.", ".1", "3.1.", "2)", "(4)", "•"] {
            assert!(is_marker(s), "{s}");
        }
        for s in ["2.2", "3.14", "2014.", "א"] {
            assert!(!is_marker(s), "{s}");
        }
    }
}
