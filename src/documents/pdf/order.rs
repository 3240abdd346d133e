//! Visual → logical order for one line of text: the inverse of the Unicode bidi
//! algorithm's reordering for the cases documents hold (Hebrew runs with Latin words and
//! numbers inside), and the final-letter check that tells a reversed line.

use crate::text::bidi;
use unicode_bidi::{bidi_class, BidiClass};

/// The bidi class of a unit, simplified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    L,
    R,
    /// A number (digits, and separators or terminators that belong to it).
    En,
    Es,
    Et,
    Cs,
    /// White space and other neutrals.
    On,
}

fn class_of(unit: &str) -> Class {
    let c = unit
        .chars()
        .find(|&c| !matches!(bidi_class(c), BidiClass::NSM | BidiClass::BN))
        .unwrap_or(' ');
    match bidi_class(c) {
        BidiClass::L => Class::L,
        BidiClass::R | BidiClass::AL => Class::R,
        BidiClass::EN | BidiClass::AN => Class::En,
        BidiClass::ES => Class::Es,
        BidiClass::ET => Class::Et,
        BidiClass::CS => Class::Cs,
        _ => Class::On,
    }
}

/// The logical order of a line whose units (glyph clusters and spaces) are given left to
/// right as drawn. `rtl` is the paragraph's base direction; `mirror` swaps paired
/// brackets inside right-to-left runs (glyphs name their drawn shape).
pub fn visual_to_logical(units: &[&str], rtl: bool, mirror: bool) -> String {
    let levels = levels(units, rtl);
    let mut idx: Vec<usize> = (0..units.len()).collect();
    let max = levels.iter().copied().max().unwrap_or(0);
    let mut level = max;
    while level > 0 {
        let mut i = 0;
        while i < idx.len() {
            if levels.get(idx[i]).copied().unwrap_or(0) >= level {
                let start = i;
                while i < idx.len() && levels.get(idx[i]).copied().unwrap_or(0) >= level {
                    i += 1;
                }
                if let Some(run) = idx.get_mut(start..i) {
                    run.reverse();
                }
            } else {
                i += 1;
            }
        }
        level -= 1;
    }
    let mut out = String::new();
    for &i in &idx {
        let unit = units.get(i).copied().unwrap_or("");
        if mirror && levels.get(i).copied().unwrap_or(0) % 2 == 1 {
            out.extend(unit.chars().map(bidi::mirror));
        } else {
            out.push_str(unit);
        }
    }
    out
}

/// Embedding levels of visual units (0 = LTR base, 1 = RTL base, 2 = LTR inside RTL).
fn levels(units: &[&str], rtl: bool) -> Vec<u8> {
    let mut cls: Vec<Class> = units.iter().map(|u| class_of(u)).collect();
    let n = cls.len();
    // Separators between digits and terminators next to digits belong to the number.
    for i in 1..n.saturating_sub(1) {
        if matches!(cls[i], Class::Es | Class::Cs)
            && cls[i - 1] == Class::En
            && cls[i + 1] == Class::En
        {
            cls[i] = Class::En;
        }
    }
    for i in 0..n {
        if cls[i] == Class::Et {
            let mut j = i;
            while j < n && cls[j] == Class::Et {
                j += 1;
            }
            let touches = (i > 0 && cls[i - 1] == Class::En) || (j < n && cls[j] == Class::En);
            if touches {
                cls[i..j].iter_mut().for_each(|c| *c = Class::En);
            }
        }
    }
    // A number after Latin text (looking left, as Latin runs keep their order) is Latin.
    let mut last_strong = if rtl { Class::R } else { Class::L };
    let mut resolved = cls.clone();
    for i in 0..n {
        match cls[i] {
            Class::L | Class::R => last_strong = cls[i],
            Class::En if last_strong == Class::L => resolved[i] = Class::L,
            _ => {}
        }
    }
    // Neutrals take the direction of their neighbours when both agree, else the base.
    let strongish = |c: Class| match c {
        Class::L => Some(true),
        Class::R | Class::En => Some(false),
        _ => None,
    };
    let base_ltr = !rtl;
    let mut is_ltr: Vec<Option<bool>> = resolved.iter().map(|&c| strongish(c)).collect();
    let mut i = 0;
    while i < n {
        if is_ltr[i].is_some() {
            i += 1;
            continue;
        }
        let start = i;
        while i < n && is_ltr[i].is_none() {
            i += 1;
        }
        let before = if start == 0 {
            base_ltr
        } else {
            is_ltr[start - 1].unwrap_or(base_ltr)
        };
        let after = if i >= n {
            base_ltr
        } else {
            is_ltr[i].unwrap_or(base_ltr)
        };
        let dir = if before == after { before } else { base_ltr };
        is_ltr[start..i].iter_mut().for_each(|d| *d = Some(dir));
    }
    // A Latin run that ends an RTL line (it is drawn leftmost) keeps the punctuation drawn
    // on its right: the paragraph goes on in Latin on the next line (`Baden-` / `class`).
    if rtl && resolved.iter().find(|c| matches!(c, Class::L | Class::R)) == Some(&Class::L) {
        let mut i = 0;
        while i < n && is_ltr[i] != Some(true) {
            i += 1;
        }
        while i < n && is_ltr[i] == Some(true) {
            i += 1;
        }
        let opens_or_space =
            |u: &str| u.trim().is_empty() || u.chars().any(|c| "()[]{}<>".contains(c));
        let start = i;
        while i < n
            && matches!(resolved[i], Class::Es | Class::Cs | Class::On | Class::Et)
            && units.get(i).is_some_and(|u| !opens_or_space(u))
        {
            i += 1;
        }
        if i > start && units.get(i).is_none_or(|u| u.trim().is_empty()) {
            is_ltr[start..i].iter_mut().for_each(|d| *d = Some(true));
        }
    }
    (0..n)
        .map(|i| {
            let ltr = is_ltr[i].unwrap_or(base_ltr);
            match (rtl, resolved[i], ltr) {
                (true, _, true) => 2,
                (true, Class::En, _) => 2,
                (true, _, false) => 1,
                (false, Class::En, _) => 2,
                (false, _, true) => 0,
                (false, _, false) => 1,
            }
        })
        .collect()
}

/// (words starting with a final letter, words ending with one), over Hebrew words of two
/// letters or more. The finals ך ם ן ף ץ only end a word, so more starts than ends says
/// the text is reversed.
pub fn final_letter_counts(text: &str) -> (usize, usize) {
    let is_final = |c: char| matches!(c, 'ך' | 'ם' | 'ן' | 'ף' | 'ץ');
    let (mut starts, mut ends) = (0, 0);
    for word in text.split(|c: char| !('\u{5d0}'..='\u{5ea}').contains(&c)) {
        let mut chars = word.chars();
        let (Some(first), Some(last)) = (chars.next(), chars.next_back()) else {
            continue;
        };
        starts += usize::from(is_final(first));
        ends += usize::from(is_final(last));
    }
    (starts, ends)
}

/// Whether brackets in a logical line nest: no closer before its opener.
pub fn brackets_balanced(text: &str) -> bool {
    let mut depth: i32 = 0;
    for c in text.chars() {
        match c {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => {
                depth -= 1;
                if depth < 0 {
                    return false;
                }
            }
            _ => {}
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Draws a logical RTL string the way a visual producer does: the bidi algorithm's
    /// display order, split into one unit per char.
    fn draw(logical: &str, rtl: bool) -> Vec<String> {
        let level = if rtl {
            Some(unicode_bidi::Level::rtl())
        } else {
            Some(unicode_bidi::Level::ltr())
        };
        let info = unicode_bidi::BidiInfo::new(logical, level);
        let para = &info.paragraphs[0];
        let (levels, runs) = info.visual_runs(para, para.range.clone());
        let mut out = Vec::new();
        for run in runs {
            let odd = levels[run.start].is_rtl();
            let chars: Vec<char> = logical[run].chars().collect();
            let chars: Vec<char> = if odd {
                chars.into_iter().rev().map(bidi::mirror).collect()
            } else {
                chars
            };
            out.extend(chars.into_iter().map(String::from));
        }
        out
    }

    fn round_trip(logical: &str, rtl: bool) -> String {
        let units = draw(logical, rtl);
        let refs: Vec<&str> = units.iter().map(String::as_str).collect();
        visual_to_logical(&refs, rtl, true)
    }

    #[test]
    fn hebrew_only() {
        assert_eq!(round_trip("שלום עולם ומלואו", true), "שלום עולם ומלואו");
        let units: Vec<&str> = vec!["ם", "ו", "ל", "ש"];
        assert_eq!(visual_to_logical(&units, true, true), "שלום");
    }

    #[test]
    fn numbers_latin_and_prefixes() {
        for s in [
            "שילם 3.14 ש\"ח ל-Microsoft ב-2026",
            "הריבית עלתה ב-15% השנה",
            "הישיבה נקבעה ל-27.11.2026 בשעה 10:30",
            "הוא עובד ב-Microsoft Word כבר 5 שנים",
            "מערכת Windows 10 הושקה",
            "סכום של 1,000,000 ש\"ח.",
        ] {
            assert_eq!(round_trip(s, true), s);
        }
    }

    #[test]
    fn parentheses_mirror() {
        for s in [
            "הוא (כלומר, הוא) הלך",
            "רמות נמוכות (INR>1.5) או רמות",
            "[הערה] סוף.",
        ] {
            assert_eq!(round_trip(s, true), s);
        }
    }

    #[test]
    fn hebrew_inside_english() {
        for s in [
            "The word שלום means peace.",
            "Call it עירוי פלזמה today, 3 times",
            "Plain English, (really) 3.14.",
        ] {
            assert_eq!(round_trip(s, false), s);
        }
    }

    #[test]
    fn latin_line_end_keeps_its_hyphen() {
        let units: Vec<&str> = vec!["B", "a", "d", "e", "n", "-", " ", "ג", "ו", "ס", "מ"];
        assert_eq!(visual_to_logical(&units, true, true), "מסוג Baden-");
        let units: Vec<&str> = vec!["H", "I", "V", "-", "ב"];
        assert_eq!(visual_to_logical(&units, true, true), "ב-HIV");
    }

    #[test]
    fn finals_tell_reversed_lines() {
        assert_eq!(final_letter_counts("שלום לכם אנשים טובים"), (0, 4));
        assert_eq!(final_letter_counts("םיבוט םישנא םכל םולש"), (4, 0));
        assert_eq!(final_letter_counts("hello"), (0, 0));
    }

    #[test]
    fn brackets() {
        assert!(brackets_balanced("a (b) [c]"));
        assert!(!brackets_balanced("a )b( c"));
    }
}
