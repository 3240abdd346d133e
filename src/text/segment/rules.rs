//! The small facts about punctuation, abbreviations and list markers that the sentence
//! splitter consults. Hand-written tables: each entry is a word that, followed by a full
//! stop, rarely ends a sentence.

use std::borrow::Cow;

/// Characters that end a sentence.
pub(super) fn is_terminator(c: char) -> bool {
    matches!(c, '.' | '?' | '!' | '…' | '‼' | '⁇' | '⁈' | '⁉' | '؟')
}

/// Characters that close a quotation or a parenthesis; after a terminator they stay with
/// the sentence it ends. Hebrew writes `״` and `׳` (and ASCII `"` `'`) on both sides of a
/// quote, and `„ ”` in either order, so they all count as closing right after a terminator.
pub(super) fn is_closer(c: char) -> bool {
    matches!(
        c,
        '"' | '\'' | '״' | '׳' | '”' | '’' | '„' | '“' | '»' | '«' | '›' | ')' | ']' | '}'
    )
}

/// Characters that may open a word: quotes and brackets, stripped before looking at it.
pub(super) fn is_opener(c: char) -> bool {
    matches!(
        c,
        '"' | '\'' | '״' | '“' | '„' | '«' | '‹' | '(' | '[' | '{'
    )
}

/// Line separators (UAX #29 `Sep`, with CR).
pub(super) fn is_newline(c: char) -> bool {
    matches!(c, '\n' | '\r' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

/// Titles and abbreviations that a full stop follows inside a sentence: `Dr. Smith`,
/// `e.g. this`, `פרופ. כהן`. Compared after geresh/gershayim are folded to ASCII.
const ABBREVIATIONS: &[&str] = &[
    "Mr", "Mrs", "Ms", "Mx", "Dr", "Prof", "St", "Sr", "Jr", "Mt", "Ft", "Gen", "Col", "Maj",
    "Capt", "Lt", "Sgt", "Cmdr", "Adm", "Rev", "Hon", "Gov", "Sen", "Rep", "Pres", "Supt",
    "Messrs", "Mme", "Mlle", "Dept", "Det", "Insp", "Sens", "Reps", "Gens", "Univ", "approx", "vs",
    "cf", "viz", "e.g", "i.e", "ca", "פרופ", "ד\"ר", "עו\"ד", "רו\"ח", "רח", "כנ\"ל", "עמ", "ע\"י",
    "ע\"ש", "בע\"מ",
];

/// Abbreviations that a full stop follows inside a sentence when a number comes next:
/// `No. 5`, `pp. 12-14`, `עמ. 3`.
const BEFORE_NUMBER: &[&str] = &[
    "No", "Nos", "no", "nos", "Nr", "nr", "p", "pp", "Fig", "fig", "Figs", "Vol", "vol", "Ch",
    "ch", "Chap", "Sec", "sec", "Sect", "Art", "art", "Eq", "eq", "Ref", "ref", "Tab", "Ex", "ex",
    "Para", "para", "Op", "op", "Jan", "Feb", "Apr", "Jun", "Jul", "Aug", "Sep", "Sept", "Oct",
    "Nov", "Dec", "ס", "סע", "פס", "מס", "כרך", "פרק",
];

/// Whether `word` (with its full stop removed) is a title or abbreviation, also behind up
/// to three Hebrew prefix letters (`וגב`, `שבעמ`); `before_number` says whether a digit
/// follows the full stop.
pub(super) fn is_abbreviation(word: &str, before_number: bool) -> bool {
    let folded = fold(word);
    let word = folded.trim_end_matches('\'');
    let found = std::iter::once(word)
        .chain(strip_prefixes(word))
        .any(|w| ABBREVIATIONS.contains(&w) || (before_number && BEFORE_NUMBER.contains(&w)));
    found
}

/// The word after a Hebrew prefix joined by a hyphen or maqaf: `ב-Dr` → `Dr`, `ו-J` → `J`.
pub(super) fn after_hyphen(word: &str) -> &str {
    word.rsplit(['-', '־']).next().unwrap_or(word)
}

/// Latin letters as Hebrew spells them when it writes English initials (`איי. פי.` for
/// A.P., `בי.בי.סי.` for BBC): those that are no Hebrew word.
const LETTER_NAMES: &[&str] = &[
    "איי",
    "סי",
    "ג'י",
    "אייץ'",
    "ג'יי",
    "קיי",
    "קיו",
    "אר",
    "אס",
    "טי",
    "יו",
    "וי",
    "דאבליו",
    "אקס",
    "וואי",
    "זד",
    "זי",
];

/// Latin letter names that are also Hebrew words (`די` "enough", `אם` "if"): initials only
/// next to other initials.
const AMBIGUOUS_LETTER_NAMES: &[&str] = &["בי", "די", "אי", "אף", "אל", "אם", "אן", "או", "פי"];

/// Verbs that attribute a quotation (`„…?“ שאלה.`), alone or after a pronoun.
const SPEECH_VERBS: &[&str] = &[
    "אמר",
    "אמרה",
    "אמרו",
    "שאל",
    "שאלה",
    "שאלו",
    "ענה",
    "ענתה",
    "ענו",
    "השיב",
    "השיבה",
    "הוסיף",
    "הוסיפה",
    "כתב",
    "כתבה",
    "תהה",
    "תהתה",
    "צעק",
    "צעקה",
    "קרא",
    "קראה",
    "טען",
    "טענה",
    "הסביר",
    "הסבירה",
    "ציין",
    "ציינה",
    "דיווח",
    "דיווחה",
    "דיווחו",
    "סיפר",
    "סיפרה",
    "אומר",
    "אומרת",
    "שואל",
    "שואלת",
    "מסר",
    "מסרה",
];

/// Pronouns that may stand between a quotation and its speech verb.
const PRONOUNS: &[&str] = &["הוא", "היא", "הם", "הן", "אני", "אנחנו"];

/// Folds geresh and gershayim to the ASCII apostrophe and quote the tables are written with.
fn fold(word: &str) -> Cow<'_, str> {
    if !word.contains(['״', '“', '”', '׳', '‘', '’']) {
        return Cow::Borrowed(word);
    }
    word.chars()
        .map(|c| match c {
            '״' | '“' | '”' => '"',
            '׳' | '‘' | '’' => '\'',
            c => c,
        })
        .collect()
}

fn is_letter(piece: &str, ambiguous_too: bool) -> bool {
    let mut chars = piece.chars();
    if matches!((chars.next(), chars.next()), (Some(c), None) if c.is_alphabetic()) {
        return true;
    }
    let piece = fold(piece);
    LETTER_NAMES.contains(&piece.as_ref())
        || (ambiguous_too && AMBIGUOUS_LETTER_NAMES.contains(&piece.as_ref()))
}

/// Initials and dotted acronyms: `J`, `א`, `U.S`, `איי`, `בבי.בי.סי` — every dot-separated
/// piece one letter or a Hebrew spelling of a Latin letter's name; `chained` says whether
/// other initials are next to it, which lets ambiguous names (`בי`) and a Hebrew prefix
/// count.
pub(super) fn is_initials(word: &str, chained: bool) -> bool {
    let dotted = word.contains('.');
    let mut pieces = word.split('.');
    let Some(first) = pieces.next() else {
        return false;
    };
    let first_ok = is_letter(first, chained || dotted)
        || ((chained || dotted)
            && strip_prefixes(first)
                .any(|rest| rest.chars().nth(1).is_some() && is_letter(rest, true)));
    first_ok && pieces.all(|piece| is_letter(piece, true))
}

/// `word` without one, two and three leading Hebrew prefix letters (ו, ה, ב, כ, ל, מ, ש).
fn strip_prefixes(word: &str) -> impl Iterator<Item = &str> {
    let mut rest = word;
    std::iter::from_fn(move || {
        let next = rest.strip_prefix(['ו', 'ה', 'ב', 'כ', 'ל', 'מ', 'ש'])?;
        rest = next;
        Some(next)
    })
    .take(3)
}

/// Whether `text` (what follows a quotation) begins by attributing it: a Latin lowercase
/// letter (`"Why?" she asked`) or a Hebrew speech verb, perhaps after a pronoun.
pub(super) fn attributes_quote(text: &str) -> bool {
    if text.chars().next().is_some_and(|c| c.is_ascii_lowercase()) {
        return true;
    }
    let mut words = text.split_whitespace();
    match words.next().map(bare_word) {
        Some(word) if SPEECH_VERBS.contains(&word) => true,
        Some(word) if PRONOUNS.contains(&word) => words.next().is_some_and(|verb| {
            verb.ends_with(['.', ',']) && SPEECH_VERBS.contains(&bare_word(verb))
        }),
        _ => false,
    }
}

fn bare_word(word: &str) -> &str {
    word.trim_end_matches([',', '.'])
}

/// Words that begin sentences and never continue a name: after initials they show that
/// the initials ended the sentence (`grade A. The data`, `סעיף א. הוא`).
const SENTENCE_STARTERS: &[&str] = &[
    "The",
    "A",
    "An",
    "He",
    "She",
    "It",
    "They",
    "We",
    "This",
    "That",
    "These",
    "Those",
    "There",
    "However",
    "But",
    "In",
    "On",
    "At",
    "For",
    "If",
    "When",
    "While",
    "After",
    "Its",
    "His",
    "Her",
    "Their",
    "Our",
    "הוא",
    "היא",
    "הם",
    "הן",
    "זה",
    "זו",
    "זאת",
    "אבל",
    "אך",
    "לכן",
    "אולם",
    "בנוסף",
    "כמו",
    "גם",
    "כך",
    "כאשר",
    "אם",
    "לאחר",
    "בעוד",
    "יש",
    "אין",
];

/// Whether `text` (what follows a full stop) begins with a word from [`SENTENCE_STARTERS`].
pub(super) fn starts_with_starter(text: &str) -> bool {
    text.split_whitespace()
        .next()
        .map(|w| w.trim_end_matches([',', '.', ':', ';']))
        .is_some_and(|w| SENTENCE_STARTERS.contains(&w))
}

/// The label of an enumerated item: `12`, `iv`, `א`, `יא`, `b` (without its `.` or `)`).
pub(super) fn is_enumerator(label: &str) -> bool {
    let count = label.chars().count();
    let all = |f: fn(char) -> bool| !label.is_empty() && label.chars().all(f);
    (all(|c| c.is_ascii_digit()) && count <= 3)
        || (all(is_hebrew_letter) && count <= 2)
        || (all(|c| c.is_ascii_alphabetic()) && count == 1)
        || (all(|c| matches!(c, 'i' | 'v' | 'x' | 'I' | 'V' | 'X')) && count <= 4)
}

/// Hebrew letters (without points or punctuation).
pub(super) fn is_hebrew_letter(c: char) -> bool {
    ('\u{05D0}'..='\u{05EA}').contains(&c)
}

/// Whether `line` (from its start, leading spaces allowed) begins a list item: a bullet
/// (`-`, `*`, `•`, `–`), or an enumerator followed by `.` or `)` (`1.`, `2)`, `א.`, `iv)`),
/// or one in parentheses (`(א)`, `(3)`), then whitespace.
pub(super) fn starts_list_item(line: &str) -> bool {
    let line = line.trim_start();
    let mut chars = line.char_indices();
    let Some((_, first)) = chars.next() else {
        return false;
    };
    let followed_by_space = |at: usize| line[at..].chars().next().is_some_and(char::is_whitespace);
    if matches!(first, '-' | '*' | '•' | '–' | '·' | '▪' | '◦' | '‣' | '+') {
        return followed_by_space(first.len_utf8());
    }
    let (body, closers): (&str, &[char]) = match line.strip_prefix('(') {
        Some(rest) => (rest, &[')']),
        None => (line, &['.', ')']),
    };
    let label_len = body
        .char_indices()
        .take(5)
        .find(|&(_, c)| closers.contains(&c))
        .map(|(i, _)| i);
    match label_len {
        Some(len) if is_enumerator(&body[..len]) => {
            let end = line.len() - body.len() + len + 1;
            followed_by_space(end)
        }
        _ => false,
    }
}

/// Whether `line` is a Markdown ATX heading: up to three spaces, one to six `#`, then a
/// space or the end of the line.
pub(super) fn is_heading(line: &str) -> bool {
    let indent = line.len() - line.trim_start_matches(' ').len();
    let rest = &line[indent..];
    let hashes = rest.len() - rest.trim_start_matches('#').len();
    indent <= 3
        && (1..=6).contains(&hashes)
        && rest[hashes..]
            .chars()
            .next()
            .is_none_or(char::is_whitespace)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_items_are_recognized_in_hebrew_and_english() {
        for line in [
            "- פריט",
            "* item",
            "• נקודה",
            "1. ראשון",
            "12) second",
            "א. אחד",
            "יא) שתים עשרה",
            "(א) סעיף",
            "(3) three",
            "  iv. four",
            "b) bee",
        ] {
            assert!(starts_list_item(line), "{line}");
        }
        for line in [
            "-5 מעלות",
            "3.14 הוא פי",
            "שלום עולם",
            "1990. אז",
            "ארה\"ב. כן",
            "(הערה) טקסט",
            "",
            "-",
        ] {
            assert!(!starts_list_item(line), "{line}");
        }
    }

    #[test]
    fn headings_need_a_space_after_the_hashes() {
        assert!(is_heading("# כותרת"));
        assert!(is_heading("### Title"));
        assert!(is_heading("#"));
        assert!(!is_heading("#hashtag"));
        assert!(!is_heading("    # code"));
        assert!(!is_heading("####### seven"));
    }

    #[test]
    fn abbreviations_fold_geresh_and_gershayim() {
        assert!(is_abbreviation("ד״ר", false));
        assert!(is_abbreviation("ד\"ר", false));
        assert!(is_abbreviation("פרופ׳", false));
        assert!(is_abbreviation("No", true));
        assert!(is_abbreviation("ולפרופ", false) && is_abbreviation("ובעמ", false));
        assert!(!is_abbreviation("גב", false) && !is_abbreviation("מס", false));
        assert_eq!(after_hyphen("ו-J"), "J");
        assert!(!is_abbreviation("No", false));
        assert!(!is_abbreviation("שלום", false));
        assert!(is_initials("J", false) && is_initials("א", false) && is_initials("U.S", false));
        assert!(!is_initials("US", false) && !is_initials("3", false) && !is_initials("", false));
        assert!(
            is_initials("איי", false)
                && is_initials("בבי.בי.סי", false)
                && is_initials("ג׳יי", false)
        );
        assert!(!is_initials("די", false) && is_initials("די", true) && is_initials("הבי", true));
        assert!(!is_initials("באר", false) && !is_initials("שלום", true));
    }

    #[test]
    fn attributions_follow_quotes() {
        assert!(attributes_quote("she asked."));
        assert!(attributes_quote("שאלה מרטין."));
        assert!(attributes_quote("הוא אמר."));
        assert!(!attributes_quote("הוא הלך."));
        assert!(!attributes_quote("הוא ציין שקים בא."));
        assert!(attributes_quote("היא תהתה. אחר כך"));
        assert!(starts_with_starter("The data") && starts_with_starter("הוא, כמובן"));
        assert!(!starts_with_starter("Tolkien") && !starts_with_starter("יהושע"));
        assert!(!attributes_quote("She left."));
        assert!(!attributes_quote(""));
    }
}
