//! Glossaries: term pairs a translation must use, their validation, and the check that
//! reports each term the translation did not use.

use serde::{Deserialize, Serialize};

use super::error::{Result, TaskError};

use std::collections::HashMap;

pub use crate::limits::MAX_GLOSSARY_ENTRIES as MAX_ENTRIES;
use crate::limits::MAX_GLOSSARY_TERM_CHARS;

/// One term pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GlossaryEntry {
    /// The term as it appears in the source text.
    pub source: String,
    /// The term the translation must use for it.
    pub target: String,
}

/// A glossary term that occurs in a segment's source but not in its translation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GlossaryViolation {
    /// The source term.
    pub source: String,
    /// The target term that is missing.
    pub target: String,
    /// The translated segment (paragraph) it concerns, from 0.
    pub segment: usize,
}

/// Checks and trims entries: both terms non-empty and at most [`MAX_GLOSSARY_TERM_CHARS`],
/// no source term twice (ignoring case). Linear in the glossary's size.
pub fn validate(entries: Vec<GlossaryEntry>) -> Result<Vec<GlossaryEntry>> {
    if entries.len() > MAX_ENTRIES {
        return Err(TaskError::invalid(
            "glossary",
            format!("has {} entries, more than {MAX_ENTRIES}", entries.len()),
        ));
    }
    let mut out: Vec<GlossaryEntry> = Vec::with_capacity(entries.len());
    let mut first: HashMap<String, usize> = HashMap::with_capacity(entries.len());
    for (i, e) in entries.into_iter().enumerate() {
        for (side, term) in [("source", &e.source), ("target", &e.target)] {
            if term.chars().count() > MAX_GLOSSARY_TERM_CHARS {
                return Err(TaskError::invalid(
                    format!("glossary[{i}].{side}"),
                    format!("is longer than {MAX_GLOSSARY_TERM_CHARS} characters"),
                ));
            }
        }
        let source = e.source.trim().to_string();
        let target = e.target.trim().to_string();
        if source.is_empty() {
            return Err(TaskError::invalid(
                format!("glossary[{i}].source"),
                "is empty",
            ));
        }
        if target.is_empty() {
            return Err(TaskError::invalid(
                format!("glossary[{i}].target"),
                "is empty",
            ));
        }
        if let Some(&j) = first.get(&source.to_lowercase()) {
            return Err(TaskError::invalid(
                format!("glossary[{i}].source"),
                format!("`{source}` duplicates glossary[{j}]"),
            ));
        }
        first.insert(source.to_lowercase(), i);
        out.push(GlossaryEntry { source, target });
    }
    Ok(out)
}

/// Reads a glossary file: one `source<TAB>target` pair a line; blank lines and lines
/// starting with `#` are skipped. Errors name the line as `glossary[line]`.
pub fn parse_tsv(text: &str) -> Result<Vec<GlossaryEntry>> {
    let mut entries = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let Some((source, target)) = line.split_once('\t') else {
            return Err(TaskError::invalid(
                format!("glossary line {}", n + 1),
                "must be `source<TAB>target`",
            ));
        };
        entries.push(GlossaryEntry {
            source: source.to_string(),
            target: target.to_string(),
        });
    }
    Ok(entries)
}

/// The entries whose source term occurs in `segment` (ignoring case).
pub fn relevant<'a>(glossary: &'a [GlossaryEntry], segment: &str) -> Vec<&'a GlossaryEntry> {
    let lower = segment.to_lowercase();
    glossary
        .iter()
        .filter(|e| lower.contains(&e.source.to_lowercase()))
        .collect()
}

/// The relevant entries whose target term is missing from `translation` (ignoring case;
/// a Hebrew term may carry prefixes, so containment is enough).
pub fn violations(
    relevant: &[&GlossaryEntry],
    translation: &str,
    segment: usize,
) -> Vec<GlossaryViolation> {
    let lower = translation.to_lowercase();
    relevant
        .iter()
        .filter(|e| !lower.contains(&e.target.to_lowercase()))
        .map(|e| GlossaryViolation {
            source: e.source.clone(),
            target: e.target.clone(),
            segment,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(s: &str, t: &str) -> GlossaryEntry {
        GlossaryEntry {
            source: s.into(),
            target: t.into(),
        }
    }

    #[test]
    fn empty_or_duplicate_terms_name_the_entry() {
        let err = validate(vec![entry("a", "b"), entry("  ", "c")]).unwrap_err();
        assert_eq!(err.field(), Some("glossary[1].source"));
        let err = validate(vec![entry("a", "")]).unwrap_err();
        assert_eq!(err.field(), Some("glossary[0].target"));
        let err = validate(vec![entry("Court", "x"), entry("court ", "y")]).unwrap_err();
        assert_eq!(err.field(), Some("glossary[1].source"));
        assert_eq!(
            validate(vec![entry(" a ", "b ")]).unwrap(),
            [entry("a", "b")]
        );
    }

    #[test]
    fn tsv_files_parse_and_bad_lines_are_named() {
        let got = parse_tsv("# terms\nבית משפט\tcourt\n\nכנסת\tKnesset\r\n").unwrap();
        assert_eq!(got, [entry("בית משפט", "court"), entry("כנסת", "Knesset")]);
        let err = parse_tsv("a\tb\nno tab here\n").unwrap_err();
        assert_eq!(err.field(), Some("glossary line 2"));
    }

    #[test]
    fn a_missing_target_term_is_a_violation() {
        let g = [entry("בית משפט", "court"), entry("כנסת", "Knesset")];
        let rel = relevant(&g, "בית המשפט העליון ובית משפט השלום");
        assert_eq!(rel.len(), 1);
        assert!(violations(&rel, "The Court ruled", 0).is_empty());
        let v = violations(&rel, "The tribunal ruled", 3);
        assert_eq!(
            v,
            [GlossaryViolation {
                source: "בית משפט".into(),
                target: "court".into(),
                segment: 3
            }]
        );
    }
}
