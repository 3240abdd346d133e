//! Script and language of a paragraph, from letter counts.
//!
//! Hebrew and Latin letters are counted; marks, digits and punctuation are not. A paragraph
//! is [`Language::Mixed`] when the less frequent of the two scripts has at least
//! [`MIXED_MINORITY_PERCENT`] of their letters. Hebrew is written without vowels, so a
//! Hebrew sentence that names an English organization can reach 30% Latin letters while a
//! Hebrew sentence followed by its English translation rarely falls under 35% Hebrew
//! letters: on NTREX-128, 35% keeps 2,436 of 2,445 Hebrew sentences and paragraphs (with
//! HeQ and UD) `He` and makes 97.8% of Hebrew+English sentence pairs `Mixed`.

use std::fmt;
use std::str::FromStr;

use super::normalize::{is_hebrew_letter, is_niqqud};

/// The least share, in percent of the Hebrew and Latin letters, that the minority script
/// needs for a paragraph to be [`Language::Mixed`].
pub const MIXED_MINORITY_PERCENT: usize = 35;

/// The language a paragraph is written in, as far as its letters tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    /// Mostly Hebrew letters.
    He,
    /// Mostly Latin letters.
    En,
    /// A substantial share of both.
    Mixed,
    /// No letters to tell by (numbers, punctuation, empty), or mostly another script.
    Unknown,
}

impl Language {
    /// The code used in JSON, on the command line and in the index: "he", "en", "mixed"
    /// or "unknown".
    ///
    /// ```
    /// use sofer::text::Language;
    /// assert_eq!(Language::He.code(), "he");
    /// assert_eq!("mixed".parse::<Language>().ok(), Some(Language::Mixed));
    /// ```
    pub fn code(self) -> &'static str {
        match self {
            Language::He => "he",
            Language::En => "en",
            Language::Mixed => "mixed",
            Language::Unknown => "unknown",
        }
    }
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A language code that is none of "he", "en", "mixed" or "unknown".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown language `{0}`: expected one of he, en, mixed, unknown")]
pub struct ParseLanguageError(
    /// The value that was given.
    pub String,
);

impl FromStr for Language {
    type Err = ParseLanguageError;

    /// Parses a code as [`Language::code`] writes it, ignoring ASCII case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            Language::He,
            Language::En,
            Language::Mixed,
            Language::Unknown,
        ]
        .into_iter()
        .find(|language| language.code().eq_ignore_ascii_case(s))
        .ok_or_else(|| ParseLanguageError(s.to_owned()))
    }
}

/// How many letters of each script a text has.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LetterCounts {
    /// Hebrew letters, final forms and presentation forms included (niqqud not).
    pub hebrew: usize,
    /// Latin letters, accented ones and fullwidth forms included.
    pub latin: usize,
    /// Letters of any other script (Arabic, Cyrillic, Han, …).
    pub other: usize,
}

/// Counts the Hebrew, Latin and other letters of `text`.
///
/// ```
/// use sofer::text::detect::{letter_counts, LetterCounts};
/// let counts = letter_counts("שָׁלוֹם, Dr. Smith! Привет 42");
/// assert_eq!(counts, LetterCounts { hebrew: 4, latin: 7, other: 6 });
/// ```
pub fn letter_counts(text: &str) -> LetterCounts {
    let mut counts = LetterCounts::default();
    for c in text.chars() {
        if c.is_ascii() {
            counts.latin += usize::from(c.is_ascii_alphabetic());
        } else if is_hebrew_letter(c) {
            counts.hebrew += 1;
        } else if is_niqqud(c) || !c.is_alphabetic() {
            continue;
        } else if is_latin(c) {
            counts.latin += 1;
        } else {
            counts.other += 1;
        }
    }
    counts
}

/// Latin-script blocks beyond ASCII (the caller has checked that `c` is alphabetic).
fn is_latin(c: char) -> bool {
    matches!(
        c,
        '\u{00C0}'..='\u{024F}'
            | '\u{1E00}'..='\u{1EFF}'
            | '\u{2C60}'..='\u{2C7F}'
            | '\u{A720}'..='\u{A7FF}'
            | '\u{AB30}'..='\u{AB6F}'
            | '\u{FB00}'..='\u{FB06}'
            | '\u{FF21}'..='\u{FF3A}'
            | '\u{FF41}'..='\u{FF5A}'
    )
}

/// Detects the language of `text` from its Hebrew and Latin letter counts: `Mixed` when
/// the minority script has at least [`MIXED_MINORITY_PERCENT`] of them, `Unknown` when
/// there are none or when other scripts' letters outnumber them.
///
/// ```
/// use sofer::text::{detect_language, Language};
/// assert_eq!(detect_language("נורמן אייזן הוא שותף בכיר במכון Brookings."), Language::He);
/// assert_eq!(detect_language("The results were published on Monday."), Language::En);
/// assert_eq!(detect_language("שלום לכולם. Hello everyone."), Language::Mixed);
/// assert_eq!(detect_language("42 + 7 = 49"), Language::Unknown);
/// ```
pub fn detect_language(text: &str) -> Language {
    let LetterCounts {
        hebrew,
        latin,
        other,
    } = letter_counts(text);
    let letters = hebrew + latin;
    if letters == 0 || other > letters {
        return Language::Unknown;
    }
    if hebrew.min(latin) * 100 >= MIXED_MINORITY_PERCENT * letters {
        Language::Mixed
    } else if hebrew > latin {
        Language::He
    } else {
        Language::En
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let cases = [
            ("", Language::Unknown),
            ("2024 — 15:30!", Language::Unknown),
            ("בְּרֵאשִׁ֖ית בָּרָ֣א אֱלֹהִ֑ים", Language::He),
            (
                "צה״ל הודיע היום כי ב-2024 נרשמו 1,500 מתגייסים",
                Language::He,
            ),
            (
                "ביקרתי אצל ד״ר כהן בבית החולים Hadassah שבירושלים",
                Language::He,
            ),
            ("Café au lait, s'il vous plaît", Language::En),
            (
                "The IDF (צה״ל) said on Monday that it had struck targets.",
                Language::En,
            ),
            (
                "הממשלה אישרה את התקציב. The government approved the budget.",
                Language::Mixed,
            ),
            ("Привет, мир. Hello", Language::Unknown),
            ("ﬡﬢﬣ", Language::He),
        ];
        for (text, expected) in cases {
            assert_eq!(detect_language(text), expected, "text {text:?}");
        }
    }

    #[test]
    fn niqqud_and_punctuation_are_not_letters() {
        let counts = letter_counts("שָׁ֖לוֹם׃ ״ ׳ ־ 12");
        assert_eq!(
            counts,
            LetterCounts {
                hebrew: 4,
                latin: 0,
                other: 0
            }
        );
    }

    #[test]
    fn codes_round_trip_and_errors_name_the_value() {
        for language in [
            Language::He,
            Language::En,
            Language::Mixed,
            Language::Unknown,
        ] {
            assert_eq!(language.code().parse::<Language>(), Ok(language));
            let json = serde_json::to_string(&language).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", language.code()));
        }
        assert_eq!("HE".parse::<Language>(), Ok(Language::He));
        let error = "hebrew".parse::<Language>().err().map(|e| e.to_string());
        assert_eq!(
            error.as_deref(),
            Some("unknown language `hebrew`: expected one of he, en, mixed, unknown")
        );
    }
}
