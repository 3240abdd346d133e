//! Normalization for analysis: NFC, optional niqqud/cantillation removal, one form for
//! geresh/gershayim look-alikes, maqaf and hyphens, and no invisible controls.
//!
//! The original text is never changed in place: callers keep it for display and offsets.
//!
//! | input | output | rule |
//! |---|---|---|
//! | `צה"ל`, `צה''ל`, `צה”ל` | `צה״ל` | a double quote (or two single ones) between Hebrew letters is gershayim U+05F4 |
//! | `ג'ירפה`, `וכו’` | `ג׳ירפה`, `וכו׳` | a single quote after a Hebrew letter is geresh U+05F3 |
//! | `בית־ספר`, `בית‐ספר` | `בית-ספר` | maqaf and hyphen look-alikes become ASCII `-` |
//! | `1990–2000` | `1990-2000` | an en dash joining two letters or digits is a hyphen |
//! | `כן – לא`, `כן—לא` | unchanged | spaced en dashes and all em dashes are punctuation |
//! | `שָׁלוֹם` | `שלום` | niqqud and cantillation, with [`NormalizeOptions::strip_niqqud`] |
//! | `ﬡﬢ`, `ﭏ` | `אד`, `אל` | wide letters and the alef-lamed ligature become plain letters |
//!
//! The single hyphen form is ASCII `-`, not maqaf: it is what people type on a keyboard
//! (Hebrew layouts have no maqaf key), so queries and documents meet on it. Pointed
//! presentation forms (`שׁ` U+FB2A) are decomposed by NFC itself. A single quote that closes
//! a quotation right after a Hebrew letter (`'שלום'`) also becomes geresh: the text
//! alone cannot tell it from `גב'`.

use std::borrow::Cow;

use unicode_normalization::{is_nfc_quick, IsNormalized, UnicodeNormalization};

/// Geresh, the form every single-quote look-alike after a Hebrew letter takes.
const GERESH: char = '\u{05F3}';
/// Gershayim, the form every double-quote look-alike between Hebrew letters takes.
const GERSHAYIM: char = '\u{05F4}';

/// What [`normalize`] changes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NormalizeOptions {
    /// Remove niqqud and cantillation marks (U+0591–U+05C7 combining marks), so pointed
    /// and unpointed spellings of a word compare equal.
    pub strip_niqqud: bool,
}

/// Niqqud or cantillation mark (U+0591–U+05C7 minus the punctuation maqaf/paseq/sof pasuq/nun hafukha).
///
/// ```
/// use sofer::text::normalize::is_niqqud;
/// assert!(is_niqqud('\u{05B8}')); // qamats
/// assert!(is_niqqud('\u{0596}')); // tipeha (cantillation)
/// assert!(!is_niqqud('\u{05BE}')); // maqaf is punctuation
/// assert!(!is_niqqud('א'));
/// ```
#[inline]
pub fn is_niqqud(c: char) -> bool {
    matches!(c, '\u{0591}'..='\u{05C7}')
        && !matches!(c, '\u{05BE}' | '\u{05C0}' | '\u{05C3}' | '\u{05C6}')
}

/// Hebrew letter (U+05D0–U+05EA, U+05F0–U+05F2 ligatures, and FB1D–FB4F presentation forms).
///
/// The presentation block's varika mark (U+FB1E) and alternative plus sign (U+FB29) are
/// not letters and are left out.
///
/// ```
/// use sofer::text::normalize::is_hebrew_letter;
/// assert!(is_hebrew_letter('ש') && is_hebrew_letter('ך') && is_hebrew_letter('\u{FB2A}'));
/// assert!(!is_hebrew_letter('a') && !is_hebrew_letter('\u{05B8}') && !is_hebrew_letter('״'));
/// ```
#[inline]
pub fn is_hebrew_letter(c: char) -> bool {
    matches!(c, '\u{05D0}'..='\u{05EA}' | '\u{05F0}'..='\u{05F2}')
        || (matches!(c, '\u{FB1D}'..='\u{FB4F}') && !matches!(c, '\u{FB1E}' | '\u{FB29}'))
}

/// Final-form letter folded to its regular form (ך→כ ם→מ ן→נ ף→פ ץ→צ); other chars unchanged.
///
/// ```
/// use sofer::text::normalize::fold_final;
/// let folded: String = "שלום".chars().map(fold_final).collect();
/// assert_eq!(folded, "שלומ");
/// ```
#[inline]
pub fn fold_final(c: char) -> char {
    match c {
        'ך' => 'כ',
        'ם' => 'מ',
        'ן' => 'נ',
        'ף' => 'פ',
        'ץ' => 'צ',
        other => other,
    }
}

/// Bidi control or zero-width character, invisible and meaningless for analysis.
///
/// LRM/RLM, the embeddings and overrides (U+202A–U+202E), the isolates (U+2066–U+2069),
/// the Arabic letter mark, zero-width space/non-joiner/joiner, word joiner, BOM and soft
/// hyphen.
///
/// ```
/// use sofer::text::normalize::is_invisible;
/// assert!(is_invisible('\u{200F}') && is_invisible('\u{2068}') && is_invisible('\u{00AD}'));
/// assert!(!is_invisible(' ') && !is_invisible('\u{05BE}'));
/// ```
#[inline]
pub fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'
            | '\u{2066}'..='\u{2069}'
            | '\u{061C}'
            | '\u{FEFF}'
            | '\u{00AD}'
    )
}

/// Geresh/gershayim or one of their look-alikes (apostrophes and quotes).
///
/// ```
/// use sofer::text::normalize::is_geresh_like;
/// assert!("'\"׳״’‘”“`´".chars().all(is_geresh_like));
/// assert!(!is_geresh_like('-') && !is_geresh_like('י'));
/// ```
#[inline]
pub fn is_geresh_like(c: char) -> bool {
    is_single_quote_like(c) || is_double_quote_like(c)
}

fn is_single_quote_like(c: char) -> bool {
    matches!(
        c,
        '\'' | '\u{05F3}'
            | '\u{2018}'
            | '\u{2019}'
            | '\u{201B}'
            | '`'
            | '\u{00B4}'
            | '\u{02B9}'
            | '\u{02BC}'
            | '\u{2032}'
            | '\u{FF07}'
    )
}

fn is_double_quote_like(c: char) -> bool {
    matches!(
        c,
        '"' | '\u{05F4}' | '\u{201C}' | '\u{201D}' | '\u{201F}' | '\u{2033}' | '\u{FF02}'
    )
}

/// Maqaf and the hyphen look-alikes that always mean "hyphen".
fn is_hyphen_like(c: char) -> bool {
    matches!(
        c,
        '\u{05BE}' | '\u{2010}' | '\u{2011}' | '\u{2012}' | '\u{2212}' | '\u{FE63}' | '\u{FF0D}'
    )
}

/// Returns the normalized form of `text`: NFC, no invisible characters, one form for
/// geresh, gershayim and hyphens, plain letters for presentation forms, and without niqqud
/// and cantillation when `options.strip_niqqud` is set. Idempotent.
///
/// ```
/// use sofer::text::{normalize, NormalizeOptions};
/// let keep = NormalizeOptions::default();
/// let strip = NormalizeOptions { strip_niqqud: true };
/// assert_eq!(normalize("צה\"ל ו\u{200F}ארה''ב", &keep), "צה״ל וארה״ב");
/// assert_eq!(normalize("בְּרֵאשִׁ֖ית בָּרָ֣א", &strip), "בראשית ברא");
/// assert_eq!(normalize("בית־ספר", &keep), "בית-ספר");
/// ```
pub fn normalize(text: &str, options: &NormalizeOptions) -> String {
    if text.is_ascii() {
        return text.to_owned();
    }
    unify(&compose(text, options.strip_niqqud))
}

/// NFC without invisible characters (and niqqud, when `strip`). Removal happens before
/// composition: removing a mark afterwards could unblock a composition and leave text
/// that is no longer NFC.
fn compose(text: &str, strip: bool) -> Cow<'_, str> {
    let removes = |c: char| is_invisible(c) || (strip && is_niqqud(c));
    let (mut removing, mut decomposing) = (false, false);
    for c in text.chars().filter(|c| !c.is_ascii()) {
        removing |= removes(c);
        decomposing |= strip && matches!(c, '\u{FB1D}'..='\u{FB4F}');
    }
    if decomposing {
        // Presentation forms carry niqqud that only decomposition exposes.
        let bare = text.chars().filter(|&c| !is_invisible(c)).nfd();
        return Cow::Owned(bare.filter(|&c| !is_niqqud(c)).nfc().collect());
    }
    let kept = if removing {
        Cow::Owned(text.chars().filter(|&c| !removes(c)).collect())
    } else {
        Cow::Borrowed(text)
    };
    if is_nfc_quick(kept.chars()) == IsNormalized::Yes {
        kept
    } else {
        Cow::Owned(kept.nfc().collect())
    }
}

/// One form for geresh, gershayim, hyphens and presentation letters; copies untouched
/// stretches of `text` whole.
fn unify(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    // The last character written that is not a mark, as written.
    let mut prev_base: Option<char> = None;
    let mut chars = text.char_indices();
    while let Some((at, c)) = chars.next() {
        let end = at + c.len_utf8();
        match replacement(c, prev_base, &text[end..]) {
            Some((with, pair)) => {
                out.push_str(&text[copied..at]);
                out.push_str(with);
                copied = end + pair;
                if pair > 0 {
                    chars.next();
                }
                prev_base = with.chars().next_back();
            }
            None if !is_niqqud(c) => prev_base = Some(c),
            None => {}
        }
    }
    out.push_str(&text[copied..]);
    out
}

/// What `c` becomes, after `prev_base` and before `rest`, and how many bytes of `rest`
/// the replacement swallows (the second quote of `''`); `None` keeps `c`.
fn replacement(c: char, prev_base: Option<char>, rest: &str) -> Option<(&'static str, usize)> {
    if matches!(c, 'א'..='ת' | 'a'..='z' | 'A'..='Z' | '0'..='9' | ' ') {
        return None;
    }
    let next = rest.chars().next();
    let after_letter = prev_base.is_some_and(is_hebrew_letter);
    if is_double_quote_like(c) {
        let between = after_letter && next.is_some_and(is_hebrew_letter);
        return (between && c != GERSHAYIM).then_some(("\u{05F4}", 0));
    }
    if is_single_quote_like(c) {
        if !after_letter {
            return None;
        }
        if let Some(second) = next.filter(|&n| is_single_quote_like(n)) {
            let after_pair = rest[second.len_utf8()..].chars().next();
            if after_pair.is_some_and(is_hebrew_letter) {
                return Some(("\u{05F4}", second.len_utf8()));
            }
        }
        return (c != GERESH).then_some(("\u{05F3}", 0));
    }
    if is_hyphen_like(c) {
        return Some(("-", 0));
    }
    if c == '\u{2013}' {
        let joins =
            prev_base.is_some_and(char::is_alphanumeric) && next.is_some_and(char::is_alphanumeric);
        return joins.then_some(("-", 0));
    }
    plain_letter(c).map(|letter| (letter, 0))
}

/// The plain letters of the Hebrew presentation forms that NFC leaves alone: the wide
/// letters used for justification and the alef-lamed ligature.
fn plain_letter(c: char) -> Option<&'static str> {
    Some(match c {
        '\u{FB20}' => "ע",
        '\u{FB21}' => "א",
        '\u{FB22}' => "ד",
        '\u{FB23}' => "ה",
        '\u{FB24}' => "כ",
        '\u{FB25}' => "ל",
        '\u{FB26}' => "ם",
        '\u{FB27}' => "ר",
        '\u{FB28}' => "ת",
        '\u{FB4F}' => "אל",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEEP: NormalizeOptions = NormalizeOptions {
        strip_niqqud: false,
    };
    const STRIP: NormalizeOptions = NormalizeOptions { strip_niqqud: true };

    #[test]
    fn table() {
        let cases: &[(&str, NormalizeOptions, &str)] = &[
            ("", KEEP, ""),
            (
                "plain ASCII - \"quoted\" it's",
                KEEP,
                "plain ASCII - \"quoted\" it's",
            ),
            ("בְּרֵאשִׁ֖ית בָּרָ֣א אֱלֹהִ֑ים", STRIP, "בראשית ברא אלהים"),
            ("וַיֹּ֣אמֶר אֱלֹהִ֑ים יְהִ֣י א֑וֹר׃", STRIP, "ויאמר אלהים יהי אור׃"),
            ("צה\"ל", KEEP, "צה״ל"),
            ("ארה״ב", KEEP, "ארה״ב"),
            ("ארה”ב ודו“ח", KEEP, "ארה״ב ודו״ח"),
            ("צה''ל", KEEP, "צה״ל"),
            ("צה′′ל", KEEP, "צה״ל"),
            ("גב' כהן", KEEP, "גב׳ כהן"),
            ("וכו'.", KEEP, "וכו׳."),
            ("ג'ירפה צ’יפס ז`אנר ג´ז", KEEP, "ג׳ירפה צ׳יפס ז׳אנר ג׳ז"),
            ("אמר \"שלום\" ויצא", KEEP, "אמר \"שלום\" ויצא"),
            ("don't \"x\"", KEEP, "don't \"x\""),
            (
                "בית־ספר בית‐ספר תל‑אביב −5 ＡＢ－Ｃ",
                KEEP,
                "בית-ספר בית-ספר תל-אביב -5 ＡＢ-Ｃ",
            ),
            ("1990–2000 כן – לא כן—לא", KEEP, "1990-2000 כן – לא כן—לא"),
            ("– רשימה", KEEP, "– רשימה"),
            (
                "\u{200F}שלום\u{200E} \u{2067}abc\u{2069} x\u{200B}y\u{FEFF}\u{00AD}",
                KEEP,
                "שלום abc xy",
            ),
            ("\u{202B}ב\u{202C}ד\u{061C}", KEEP, "בד"),
            (
                "\u{FB2A}\u{FB2B}\u{FB4B}",
                KEEP,
                "\u{05E9}\u{05C1}\u{05E9}\u{05C2}\u{05D5}\u{05B9}",
            ),
            ("\u{FB2A}לום \u{FB1D}", STRIP, "שלום י"),
            ("\u{FB21}\u{FB22}\u{FB23} \u{FB4F}", KEEP, "אדה אל"),
            ("e\u{0301}", KEEP, "é"),
            ("ש\u{05C2}\u{05B8}", KEEP, "ש\u{05B8}\u{05C2}"),
            ("ג\u{05BC}'", KEEP, "ג\u{05BC}׳"),
            ("פסוק׀ פסוק׃ ׆", STRIP, "פסוק׀ פסוק׃ ׆"),
        ];
        for (input, options, expected) in cases {
            assert_eq!(normalize(input, options), *expected, "input {input:?}");
        }
    }

    #[test]
    fn invisible_between_letters_does_not_hide_gershayim() {
        assert_eq!(normalize("צה\u{200E}\"\u{200F}ל", &KEEP), "צה״ל");
    }

    #[test]
    fn mark_removal_does_not_leave_text_unnormalized() {
        // U+0592 (ccc 230) blocks the composition of e + U+0301 until it is stripped.
        let once = normalize("e\u{0592}\u{0301}", &STRIP);
        assert_eq!(once, "é");
        assert_eq!(normalize(&once, &STRIP), once);
    }

    #[test]
    fn predicates() {
        assert!(('\u{0591}'..='\u{05C7}')
            .filter(|c| !matches!(c, '\u{05BE}' | '\u{05C0}' | '\u{05C3}' | '\u{05C6}'))
            .all(is_niqqud));
        assert!(!is_niqqud('\u{0590}') && !is_niqqud('\u{05C8}'));
        assert!(('א'..='ת').all(is_hebrew_letter));
        assert!(!is_hebrew_letter('\u{05BE}') && !is_hebrew_letter('\u{FB1E}'));
        assert_eq!(
            "ךםןףץא".chars().map(fold_final).collect::<String>(),
            "כמנפצא"
        );
        assert!(!is_invisible('a') && !is_invisible('\u{2070}'));
    }

    proptest::proptest! {
        #[test]
        fn idempotent(text in "[ -~אבגהלםשת\u{05B0}-\u{05C7}\u{0591}\u{0301}\u{0592}'\"׳״’”–—\u{2010}\u{200B}-\u{200F}\u{2066}-\u{2069}\u{FB1D}-\u{FB4F}é]{0,24}", strip: bool) {
            let options = NormalizeOptions { strip_niqqud: strip };
            let once = normalize(&text, &options);
            proptest::prop_assert_eq!(normalize(&once, &options), once);
        }

        #[test]
        fn idempotent_on_any_text(text in "\\PC{0,32}", strip: bool) {
            let options = NormalizeOptions { strip_niqqud: strip };
            let once = normalize(&text, &options);
            proptest::prop_assert_eq!(normalize(&once, &options), once);
        }
    }
}
