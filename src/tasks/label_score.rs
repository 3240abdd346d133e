//! Classify by score: the tokens each label continues the prompt's answer prefix with, and
//! the model's exact distribution over the labels from their scored continuations.
//!
//! A label is scored in every spelling the vote method would read as it: as written,
//! lower case, capitalized and upper case, each with and without a leading space
//! (` Positive` and `positive` are different tokens, and models write any of them). The
//! spellings are distinct outcomes, so their probabilities add up.

use std::collections::HashMap;

use serde::Serialize;

use super::error::{Result, TaskError};
use crate::engine::tokenizer::Tokenizer;

/// Labels longer than this (in tokens) make the default method `vote`.
pub const MAX_SCORED_LABEL_TOKENS: usize = 16;

/// One label's probability of being the answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LabelProbability {
    /// The label, as the request named it.
    pub label: String,
    /// Its probability among the labels (the probabilities of all labels sum to 1).
    pub probability: f64,
    /// Natural log of the model's probability that the answer starts with this label
    /// (not renormalized).
    pub logprob: f64,
}

/// The continuations to score and the label each one spells.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelContinuations {
    /// Token ids of each continuation.
    pub ids: Vec<Vec<u32>>,
    /// `owner[i]` is the index of the label continuation `i` spells.
    pub owner: Vec<usize>,
    /// Labels none of whose spellings can be scored: they merge with the answer prefix
    /// into tokens of their own.
    pub unscorable: Vec<usize>,
    labels: usize,
}

impl LabelContinuations {
    /// The ids of every label after `answer` (the prompt's answer prefix, e.g. `Label:`).
    /// A label whose tokens cannot be told from another label's is an error naming both.
    pub fn new(tokenizer: &Tokenizer, answer: &str, labels: &[&str]) -> Result<Self> {
        let base = tokenizer.encode(answer, false)?;
        let mut ids: Vec<Vec<u32>> = Vec::new();
        let mut owner = Vec::new();
        let mut unscorable = Vec::new();
        let mut spelled_by: HashMap<Vec<u32>, usize> = HashMap::new();
        for (i, label) in labels.iter().enumerate() {
            let mut found = false;
            let spaced = !answer.ends_with(char::is_whitespace);
            for variant in spellings(label, spaced) {
                let full = tokenizer.encode(&format!("{answer}{variant}"), false)?;
                let Some(rest) = full.strip_prefix(base.as_slice()).filter(|r| !r.is_empty())
                else {
                    continue;
                };
                found = true;
                match spelled_by.get(rest) {
                    Some(&j) if j == i => continue,
                    Some(&j) => {
                        return Err(TaskError::invalid(
                            format!("labels[{i}].name"),
                            format!(
                                "`{label}` has the same tokens as labels[{j}] `{}`: the model \
                                 cannot tell them apart",
                                labels[j]
                            ),
                        ))
                    }
                    None => {}
                }
                spelled_by.insert(rest.to_vec(), i);
                ids.push(rest.to_vec());
                owner.push(i);
            }
            if !found {
                unscorable.push(i);
            }
        }
        Ok(Self {
            ids,
            owner,
            unscorable,
            labels: labels.len(),
        })
    }

    /// The most tokens any continuation has.
    pub fn longest(&self) -> usize {
        self.ids.iter().map(Vec::len).max().unwrap_or(0)
    }

    /// Each label's probability from the continuations' log-probabilities, and the
    /// coverage: the model's total probability of answering with one of the labels.
    pub fn distribution(&self, names: &[&str], logprobs: &[f64]) -> (Vec<LabelProbability>, f64) {
        let mut per_label = vec![f64::NEG_INFINITY; self.labels];
        for (&label, &lp) in self.owner.iter().zip(logprobs) {
            per_label[label] = log_add(per_label[label], lp);
        }
        let log_total = per_label
            .iter()
            .fold(f64::NEG_INFINITY, |a, &b| log_add(a, b));
        let probabilities = names
            .iter()
            .zip(&per_label)
            .map(|(name, &lp)| LabelProbability {
                label: name.to_string(),
                probability: if log_total.is_finite() {
                    (lp - log_total).exp()
                } else {
                    1.0 / self.labels as f64
                },
                logprob: lp,
            })
            .collect();
        (probabilities, log_total.exp())
    }
}

/// `label` as written, lower case, capitalized and upper case (distinct ones only), each
/// with a leading space first when `spaced`.
fn spellings(label: &str, spaced: bool) -> Vec<String> {
    let lower = label.to_lowercase();
    let mut capitalized: String = lower.chars().take(1).flat_map(char::to_uppercase).collect();
    capitalized.extend(lower.chars().skip(1));
    let mut cases: Vec<String> = Vec::new();
    for case in [label.to_string(), lower, capitalized, label.to_uppercase()] {
        if !cases.contains(&case) {
            cases.push(case);
        }
    }
    let mut out = Vec::new();
    for case in cases {
        if spaced {
            out.push(format!(" {case}"));
        }
        out.push(case);
    }
    out
}

/// `ln(e^a + e^b)` without overflow.
fn log_add(a: f64, b: f64) -> f64 {
    let (hi, lo) = if a >= b { (a, b) } else { (b, a) };
    if lo == f64::NEG_INFINITY {
        hi
    } else {
        hi + (lo - hi).exp().ln_1p()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tasks::testing::Fixture;

    #[test]
    fn each_label_gets_every_case_with_and_without_a_space() {
        assert_eq!(
            spellings("positive", true),
            [
                " positive",
                "positive",
                " Positive",
                "Positive",
                " POSITIVE",
                "POSITIVE"
            ]
        );
        assert_eq!(spellings("חיובי", false), ["חיובי"]);
        let fx = Fixture::load();
        let c = LabelContinuations::new(&fx.tokenizer, "Label:", &["positive", "negative"])
            .expect("continuations");
        assert_eq!(c.owner, [0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1]);
        let text = |i: usize| fx.tokenizer.decode(&c.ids[i]);
        assert_eq!(text(0).trim(), "positive");
        assert_eq!(text(2).trim(), "Positive");
        assert_ne!(
            c.ids[0], c.ids[1],
            "with and without a space are different tokens"
        );
    }

    #[test]
    fn labels_the_tokenizer_cannot_tell_apart_are_an_error_naming_both() {
        use candle_core::quantized::gguf_file::Value;
        // A SentencePiece vocabulary without byte pieces: every unknown letter is `<unk>`.
        let pieces = [
            ("<unk>", 2),
            ("<s>", 3),
            ("</s>", 3),
            ("\u{2581}", 1),
            ("a", 1),
            (":", 1),
        ];
        let md = std::collections::HashMap::from([
            (
                "tokenizer.ggml.model".to_string(),
                Value::String("llama".into()),
            ),
            (
                "tokenizer.ggml.tokens".into(),
                Value::Array(pieces.iter().map(|p| Value::String(p.0.into())).collect()),
            ),
            (
                "tokenizer.ggml.scores".into(),
                Value::Array(pieces.iter().map(|_| Value::F32(-1.0)).collect()),
            ),
            (
                "tokenizer.ggml.token_type".into(),
                Value::Array(pieces.iter().map(|p| Value::I32(p.1)).collect()),
            ),
        ]);
        let tokenizer = Tokenizer::from_gguf_metadata(&md).expect("toy vocabulary");
        let err = LabelContinuations::new(&tokenizer, "a:", &["aש", "aת"]).unwrap_err();
        assert_eq!(err.field(), Some("labels[1].name"), "{err}");
        let text = err.to_string();
        assert!(
            text.contains("aת") && text.contains("labels[0] `aש`"),
            "{text}"
        );
    }

    #[test]
    fn probabilities_sum_to_one_and_coverage_is_the_raw_mass() {
        let fx = Fixture::load();
        let c = LabelContinuations::new(&fx.tokenizer, "Label:", &["a", "b"]).unwrap();
        assert_eq!(
            c.owner,
            [0, 0, 0, 0, 1, 1, 1, 1],
            "a, A, b, B with and without a space"
        );
        let none = f64::NEG_INFINITY;
        let lp = [
            0.05f64.ln(),
            0.05f64.ln(),
            0.1f64.ln(),
            none,
            0.2f64.ln(),
            none,
            none,
            none,
        ];
        let (dist, coverage) = c.distribution(&["a", "b"], &lp);
        assert!((coverage - 0.4).abs() < 1e-12, "{coverage}");
        assert!((dist[0].probability - 0.5).abs() < 1e-12);
        assert!((dist[1].probability - 0.5).abs() < 1e-12);
        assert!((dist[0].logprob - 0.2f64.ln()).abs() < 1e-12);
    }
}
