//! Reading a label out of a model's answer: exact names, ignoring case, whitespace and
//! punctuation, with the Hebrew and English forms of common labels, and the Hebrew
//! definite article or conjunction prefixed.

use std::collections::BTreeSet;

use crate::text::normalize::{fold_final, is_niqqud};

/// Common labels in their English and Hebrew forms: a label written in either matches an
/// answer in any form of its row.
const BILINGUAL: &[&[&str]] = &[
    &["positive", "חיובי", "חיובית"],
    &["negative", "שלילי", "שלילית"],
    &["neutral", "ניטרלי", "נייטרלי", "ניטרלית", "נייטרלית"],
    &["mixed", "מעורב", "מעורבת"],
    &["yes", "כן"],
    &["no", "לא"],
    &["true", "נכון", "אמת"],
    &["false", "לא נכון", "שקר"],
    &["other", "אחר", "אחרת"],
    &["spam", "ספאם", "דואר זבל"],
    &["sports", "sport", "ספורט"],
    &["politics", "פוליטיקה"],
    &["economy", "business", "כלכלה"],
    &["health", "בריאות"],
    &["science", "מדע"],
    &["technology", "טכנולוגיה"],
    &["culture", "תרבות"],
];

/// Words that introduce the answer rather than being it ("Label: positive").
const LEAD_INS: &[&str] = &["label", "labels", "answer", "תווית", "תוויות", "תשובה"];

/// The words of `text`: letters and digits, lower-cased, niqqud dropped, Hebrew final
/// letters folded; everything else separates words.
pub fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    for c in text.chars() {
        if is_niqqud(c) {
            continue;
        }
        if c.is_alphanumeric() {
            word.extend(c.to_lowercase().map(fold_final));
        } else if !word.is_empty() {
            out.push(std::mem::take(&mut word));
        }
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

/// Matches answers against a fixed set of labels.
#[derive(Debug, Clone)]
pub struct LabelMatcher {
    /// Per label (by index), the word sequences that name it.
    forms: Vec<Vec<Vec<String>>>,
}

impl LabelMatcher {
    /// A matcher for `labels` (names as the request gives them).
    pub fn new<S: AsRef<str>>(labels: &[S]) -> Self {
        let forms = labels
            .iter()
            .map(|label| {
                let own = words(label.as_ref());
                let mut forms = vec![own.clone()];
                for row in BILINGUAL {
                    if row.iter().any(|f| words(f) == own) {
                        forms.extend(row.iter().map(|f| words(f)));
                    }
                }
                forms.retain(|f| !f.is_empty());
                forms.sort();
                forms.dedup();
                forms
            })
            .collect();
        Self { forms }
    }

    /// The key two label names share when they would be indistinguishable in an answer.
    pub fn key(label: &str) -> String {
        words(label).join(" ")
    }

    /// The one label `answer` names, by index: the whole first line naming a label, or
    /// exactly one label named inside it. `None` (an abstention) when it names none or
    /// several.
    pub fn single(&self, answer: &str) -> Option<usize> {
        let line = answer.lines().find(|l| !l.trim().is_empty())?;
        let mut ws = words(line);
        if ws.len() > 1 && LEAD_INS.contains(&ws[0].as_str()) {
            ws.remove(0);
        }
        if let Some(i) = self.forms.iter().position(|f| f.contains(&ws)) {
            return Some(i);
        }
        let found = self.mentioned(&ws);
        match found.len() {
            1 => found.into_iter().next(),
            _ => None,
        }
    }

    /// The labels a multi-label answer names (pieces split at commas, semicolons, slashes
    /// and line breaks), by index; empty when it names none.
    pub fn multi(&self, answer: &str) -> BTreeSet<usize> {
        answer
            .split([',', ';', '/', '|', '\n', '،'])
            .filter_map(|piece| self.single(piece))
            .collect()
    }

    /// Labels whose form occurs as consecutive words of `ws` (a Hebrew word may carry the
    /// prefix ה or ו).
    fn mentioned(&self, ws: &[String]) -> BTreeSet<usize> {
        let bare: Vec<String> = ws.iter().map(|w| strip_prefix(w)).collect();
        let mut found = BTreeSet::new();
        for (i, forms) in self.forms.iter().enumerate() {
            for form in forms {
                let hit = |seq: &[String]| seq.windows(form.len()).any(|win| win == &form[..]);
                if hit(ws) || hit(&bare) {
                    found.insert(i);
                }
            }
        }
        // A label whose form lies inside another found label's form ("no" in "no spam")
        // is not a separate mention.
        let longest: Vec<usize> = found.iter().copied().collect();
        longest
            .iter()
            .copied()
            .filter(|&i| {
                !longest.iter().any(|&j| {
                    j != i
                        && self.forms[j].iter().any(|fj| {
                            self.forms[i].iter().any(|fi| {
                                fi.len() < fj.len() && fj.windows(fi.len()).any(|w| w == &fi[..])
                            })
                        })
                })
            })
            .collect()
    }
}

/// `word` without a leading Hebrew definite article or conjunction, when what is left is
/// at least two letters.
fn strip_prefix(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some('ה' | 'ו') if chars.clone().count() >= 2 => chars.collect(),
        _ => word.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(labels: &[&str]) -> LabelMatcher {
        LabelMatcher::new(labels)
    }

    #[test]
    fn exact_case_and_punctuation_insensitive() {
        let m = m(&["positive", "negative"]);
        assert_eq!(m.single("positive"), Some(0));
        assert_eq!(m.single("  NEGATIVE.\n"), Some(1));
        assert_eq!(m.single("**Positive**"), Some(0));
        assert_eq!(m.single("Label: negative"), Some(1));
        assert_eq!(m.single("The sentiment is positive."), Some(0));
    }

    #[test]
    fn hebrew_and_english_forms_match() {
        let m = m(&["positive", "negative"]);
        assert_eq!(m.single("חיובי"), Some(0));
        assert_eq!(m.single("שלילית."), Some(1));
        let he = LabelMatcher::new(&["חיובי", "שלילי"]);
        assert_eq!(he.single("Negative"), Some(1));
        assert_eq!(he.single("התשובה: החיובי"), Some(0));
        let niqqud = LabelMatcher::new(&["ספורט", "כלכלה"]);
        assert_eq!(niqqud.single("כַּלְכָּלָה"), Some(1));
    }

    #[test]
    fn unparseable_or_ambiguous_answers_abstain() {
        let m = m(&["positive", "negative"]);
        assert_eq!(m.single(""), None);
        assert_eq!(m.single("I cannot tell."), None);
        assert_eq!(m.single("positive or negative"), None);
    }

    #[test]
    fn multi_word_labels_and_nested_forms() {
        let m = m(&["science fiction", "fiction", "no"]);
        assert_eq!(m.single("Science-Fiction"), Some(0));
        assert_eq!(m.single("it is science fiction"), Some(0));
        assert_eq!(m.single("fiction"), Some(1));
    }

    #[test]
    fn multi_label_answers_split_on_commas() {
        let m = m(&["sports", "politics", "health"]);
        let got: Vec<usize> = m.multi("Politics, health; nonsense").into_iter().collect();
        assert_eq!(got, [1, 2]);
        assert!(m.multi("nothing here").is_empty());
    }
}
