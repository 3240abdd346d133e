//! A cross-script "sound key": the consonant skeleton of a Hebrew or a Latin word, so a
//! name spelled in Hebrew in a question (סיילוס, אפיסטמה, אפל ווטצ) meets the same name in
//! Latin letters in a passage (Cylus, Epistema, Apple Watch).
//!
//! Both scripts map their consonants to one coarse class each and drop vowels (Latin
//! a e i o u y h, Hebrew א ה ע י and ו inside a word); repeated classes collapse:
//!
//! | class | Latin | Hebrew |
//! |---|---|---|
//! | `B` | b v w | ב, ו at the start or doubled (וו) |
//! | `P` | p f ph | פ |
//! | `K` | k q ck, c before a o u or a consonant, x (as `KS`) | כ ק ח |
//! | `S` | s z sh, c before e i y | ס ש ז |
//! | `C` | ch (tch as `TC`) tz | צ |
//! | `T` | t th | ט ת |
//! | `G` | g j | ג |
//! | `D L M N R` | d l m n r | ד ל מ נ ר |
//!
//! Keys of words shorter than three letters, of words holding digits or other letters,
//! and keys shorter than two classes are not made: they would collide too often.
//!
//! ```
//! use sofer::retrieval::analyzer::sound_key;
//! assert_eq!(sound_key("סיילוס"), sound_key("cylus"));
//! assert_eq!(sound_key("אפיסטמה"), sound_key("epistema"));
//! assert_ne!(sound_key("שלומ"), sound_key("apple"));
//! ```

/// Which alphabet a word is written in, for [`sound_key`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Script {
    /// Hebrew letters only.
    Hebrew,
    /// Latin letters (a to z, lowercase) only.
    Latin,
}

/// Shortest word, in letters, that gets a key.
const MIN_LETTERS: usize = 3;
/// Shortest key, in classes, that is made.
const MIN_KEY: usize = 2;
/// Longest word, in letters, that gets a key (longer runs are not names).
const MAX_LETTERS: usize = 40;

/// The script of an analyzed (lowercased, final-letter folded or not) word, when it is
/// all Hebrew or all lowercase Latin letters.
pub fn script_of(word: &str) -> Option<Script> {
    let mut chars = word.chars();
    let first = chars.next()?;
    let script = if is_hebrew(first) {
        Script::Hebrew
    } else if first.is_ascii_lowercase() {
        Script::Latin
    } else {
        return None;
    };
    let same = |c: char| match script {
        Script::Hebrew => is_hebrew(c),
        Script::Latin => c.is_ascii_lowercase(),
    };
    chars.all(same).then_some(script)
}

fn is_hebrew(c: char) -> bool {
    ('\u{05D0}'..='\u{05EA}').contains(&c)
}

/// The sound key of `word` (a lowercase Latin or a Hebrew word, as the analyzer leaves
/// it), with its script; `None` for other words and for too short ones.
pub fn sound_key_with_script(word: &str) -> Option<(String, Script)> {
    let script = script_of(word)?;
    let letters = word.chars().count();
    if !(MIN_LETTERS..=MAX_LETTERS).contains(&letters) {
        return None;
    }
    let mut key = String::with_capacity(letters);
    match script {
        Script::Hebrew => hebrew_key(word, &mut key),
        Script::Latin => latin_key(word.as_bytes(), &mut key),
    }
    (key.len() >= MIN_KEY).then_some((key, script))
}

/// The sound key of `word`; see [`sound_key_with_script`].
pub fn sound_key(word: &str) -> Option<String> {
    sound_key_with_script(word).map(|(key, _)| key)
}

fn push(key: &mut String, class: char) {
    if !key.ends_with(class) {
        key.push(class);
    }
}

fn hebrew_key(word: &str, key: &mut String) {
    let mut chars = word.chars().peekable();
    let mut first = true;
    while let Some(c) = chars.next() {
        let class = match c {
            'ו' if first => Some('B'),
            'ו' if chars.peek() == Some(&'ו') => {
                chars.next();
                Some('B')
            }
            'ב' => Some('B'),
            'פ' | 'ף' => Some('P'),
            'כ' | 'ך' | 'ק' | 'ח' => Some('K'),
            'ס' | 'ש' | 'ז' => Some('S'),
            'צ' | 'ץ' => Some('C'),
            'ט' | 'ת' => Some('T'),
            'ג' => Some('G'),
            'ד' => Some('D'),
            'ל' => Some('L'),
            'מ' | 'ם' => Some('M'),
            'נ' | 'ן' => Some('N'),
            'ר' => Some('R'),
            _ => None,
        };
        if let Some(class) = class {
            push(key, class);
        }
        first = false;
    }
}

fn latin_key(word: &[u8], key: &mut String) {
    let at = |i: usize| word.get(i).copied().unwrap_or(0);
    let mut i = 0;
    while i < word.len() {
        let (class, width): (&str, usize) = match (at(i), at(i + 1)) {
            (b't', b'c') if at(i + 2) == b'h' => ("TC", 3),
            (b's', b'c') if at(i + 2) == b'h' => ("S", 3),
            (b'c', b'h') => ("C", 2),
            (b't', b'z') => ("C", 2),
            (b'c', b'k') => ("K", 2),
            (b'p', b'h') => ("P", 2),
            (b't', b'h') => ("T", 2),
            (b's', b'h') => ("S", 2),
            (b'c', b'e' | b'i' | b'y') => ("S", 1),
            (b'c' | b'k' | b'q', _) => ("K", 1),
            (b'x', _) => ("KS", 1),
            (b'b' | b'v' | b'w', _) => ("B", 1),
            (b'p' | b'f', _) => ("P", 1),
            (b's' | b'z', _) => ("S", 1),
            (b't', _) => ("T", 1),
            (b'g' | b'j', _) => ("G", 1),
            (b'd', _) => ("D", 1),
            (b'l', _) => ("L", 1),
            (b'm', _) => ("M", 1),
            (b'n', _) => ("N", 1),
            (b'r', _) => ("R", 1),
            _ => ("", 1),
        };
        for class in class.chars() {
            push(key, class);
        }
        i += width;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn same(hebrew: &str, latin: &str) {
        let (h, l) = (sound_key(hebrew), sound_key(latin));
        assert!(h.is_some() && h == l, "{hebrew} {h:?} != {latin} {l:?}");
    }

    #[test]
    fn names_meet_across_scripts() {
        same("סיילוס", "cylus");
        same("אפיסטמה", "epistema");
        same("אפל", "apple");
        same("ווטצ", "watch");
        same("גוגל", "google");
        same("פייסבוק", "facebook");
        same("מיקרוסופט", "microsoft");
        same("טוויטר", "twitter");
        same("אמזונ", "amazon");
        same("סמסונג", "samsung");
    }

    #[test]
    fn unrelated_words_differ() {
        let pairs = [
            ("שלומ", "apple"),
            ("ממשלה", "google"),
            ("ירושלימ", "watch"),
            ("ספר", "microsoft"),
            ("בית", "cylus"),
        ];
        for (hebrew, latin) in pairs {
            assert_ne!(sound_key(hebrew), sound_key(latin), "{hebrew} {latin}");
        }
    }

    #[test]
    fn short_mixed_and_digit_words_get_no_key() {
        assert_eq!(sound_key("ab"), None);
        assert_eq!(sound_key("אב"), None);
        assert_eq!(sound_key("aie"), None);
        assert_eq!(sound_key("abc1"), None);
        assert_eq!(sound_key("abcשלומ"), None);
        assert_eq!(sound_key("ABC"), None);
        assert_eq!(sound_key(""), None);
    }

    #[test]
    fn scripts_are_told_apart() {
        assert_eq!(script_of("שלומ"), Some(Script::Hebrew));
        assert_eq!(script_of("watch"), Some(Script::Latin));
        assert_eq!(script_of("w1"), None);
        assert_eq!(
            sound_key_with_script("אפל").map(|k| k.1),
            Some(Script::Hebrew)
        );
    }
}
