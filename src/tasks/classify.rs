//! Classify: k votes sampled from one prefill, read by [`LabelMatcher`], tallied by
//! [`VoteTally`]; the label is the majority, its confidence the vote share.

use std::collections::{BTreeSet, HashMap};

use serde::Serialize;
use serde_json::json;

use super::answer::LabelMatcher;
use super::context::{Event, Output, Stopwatch, TaskContext, TokenizerCounter, Usage};
use super::error::{Result, TaskError};
use super::validate::{self, SamplingRequest, ValidSampling, SAMPLES};
use super::vote::VoteTally;
use crate::engine::GenerationParams;
use crate::prompt::{Language, PromptKind};
use crate::retrieval::SearchQuery;
use crate::text::{chunk, detect_language, ChunkOptions};

use crate::limits::MAX_LABEL_DESCRIPTION_CHARS;
pub use crate::limits::{MAX_LABELS, MAX_LABEL_CHARS};
/// Votes when the request names none.
pub const DEFAULT_VOTES: usize = 5;
/// Temperature of the votes when the request names none (a single vote is greedy).
pub const DEFAULT_TEMPERATURE: f32 = 0.7;
/// Labelled examples retrieved for few-shot prompts.
const EXAMPLES: usize = 4;

/// One label a document may get.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct LabelSpec {
    /// The name the model answers with and the result reports.
    pub name: String,
    /// What the label means, shown to the model.
    pub description: Option<String>,
}

/// A classification request as a caller gives it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClassifyRequest {
    /// The document.
    pub text: String,
    /// The labels to choose from (1 to 64, distinct ignoring case and punctuation).
    pub labels: Vec<LabelSpec>,
    /// Whether a document may get several labels.
    pub multi_label: bool,
    /// Samples to vote (1 to 32, default 5).
    pub votes: Option<usize>,
    /// Temperature (default 0.7, greedy for one vote), seed, output budget.
    pub sampling: SamplingRequest,
    /// Language of the instructions, "he" or "en" (default: the document's).
    pub language: Option<String>,
    /// A collection of labelled examples (documents with `labels`) for few-shot prompts.
    pub collection: Option<String>,
}

/// A [`ClassifyRequest`] that passed validation.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidClassifyRequest {
    /// The document (not empty).
    pub text: String,
    /// Distinct labels, trimmed.
    pub labels: Vec<LabelSpec>,
    /// Whether several labels may be chosen.
    pub multi_label: bool,
    /// Samples to vote.
    pub votes: usize,
    /// Sampler settings and output budget.
    pub sampling: ValidSampling,
    /// Instruction language, when given.
    pub language: Option<Language>,
    /// Collection of labelled examples.
    pub collection: Option<String>,
}

impl ClassifyRequest {
    /// Checks every field; the error names the first bad one.
    pub fn validate(self) -> Result<ValidClassifyRequest> {
        validate::non_empty_text("text", &self.text)?;
        if self.labels.is_empty() {
            return Err(TaskError::invalid("labels", "must name at least one label"));
        }
        if self.labels.len() > MAX_LABELS {
            return Err(TaskError::invalid(
                "labels",
                format!("has {} labels, more than {MAX_LABELS}", self.labels.len()),
            ));
        }
        let mut seen: HashMap<String, usize> = HashMap::new();
        let mut labels = Vec::with_capacity(self.labels.len());
        for (i, spec) in self.labels.into_iter().enumerate() {
            let field = format!("labels[{i}].name");
            let name = spec.name.trim().to_string();
            let key = LabelMatcher::key(&name);
            if key.is_empty() {
                return Err(TaskError::invalid(field, "has no letters or digits"));
            }
            if name.chars().count() > MAX_LABEL_CHARS {
                return Err(TaskError::invalid(
                    field,
                    format!("is longer than {MAX_LABEL_CHARS} characters"),
                ));
            }
            if let Some(j) = seen.insert(key, i) {
                return Err(TaskError::invalid(
                    field,
                    format!("`{name}` duplicates labels[{j}] (ignoring case and punctuation)"),
                ));
            }
            let description = spec
                .description
                .map(|d| d.trim().to_string())
                .filter(|d| !d.is_empty());
            if description
                .as_ref()
                .is_some_and(|d| d.chars().count() > MAX_LABEL_DESCRIPTION_CHARS)
            {
                return Err(TaskError::invalid(
                    format!("labels[{i}].description"),
                    format!("is longer than {MAX_LABEL_DESCRIPTION_CHARS} characters"),
                ));
            }
            labels.push(LabelSpec { name, description });
        }
        let votes = validate::in_range("votes", self.votes.unwrap_or(DEFAULT_VOTES), &SAMPLES)?;
        let default_temperature = if votes == 1 { 0.0 } else { DEFAULT_TEMPERATURE };
        let sampling = self.sampling.validate(default_temperature)?;
        let language = match &self.language {
            Some(code) => Some(validate::language("language", code)?),
            None => None,
        };
        let collection = collection("collection", self.collection)?;
        Ok(ValidClassifyRequest {
            text: self.text,
            labels,
            multi_label: self.multi_label,
            votes,
            sampling,
            language,
            collection,
        })
    }
}

/// A trimmed, non-empty collection name, when given.
pub(crate) fn collection(field: &str, name: Option<String>) -> Result<Option<String>> {
    match name.map(|c| c.trim().to_string()) {
        Some(c) if c.is_empty() => Err(TaskError::invalid(field, "is empty")),
        other => Ok(other),
    }
}

/// The outcome of a classification.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Classification {
    /// The winning label (single-label), or the first chosen one (multi-label); `None`
    /// when every vote abstained or, multi-label, no label won a majority.
    pub label: Option<String>,
    /// Every chosen label: the winner, or (multi-label) those named by over half the votes.
    pub labels: Vec<String>,
    /// The vote share of the winner (multi-label: the least share among those chosen).
    pub confidence: f64,
    /// Votes per label and abstentions.
    pub tally: VoteTally,
    /// Votes whose answer named no label.
    pub abstentions: usize,
    /// The raw answer of every vote, in sample order.
    pub answers: Vec<String>,
    /// Whether the document was cut to fit the context.
    pub truncated: bool,
    /// Labelled examples retrieved into the prompt.
    pub examples: usize,
    /// What it cost.
    pub usage: Usage,
}

/// Classifies `req.text`: one prompt, `req.votes` samples from one prefill, majority vote.
pub fn classify(
    ctx: &TaskContext<'_>,
    req: &ValidClassifyRequest,
    output: &mut Output<'_>,
) -> Result<Classification> {
    let clock = Stopwatch::start();
    let mut usage = Usage {
        chunks: 1,
        ..Usage::default()
    };
    let lang = req.language.unwrap_or(match detect_language(&req.text) {
        crate::text::Language::He => Language::He,
        _ => Language::En,
    });
    let names: Vec<&str> = req.labels.iter().map(|l| l.name.as_str()).collect();
    let matcher = LabelMatcher::new(&names);
    let examples = retrieve_examples(ctx, req, &matcher)?;
    let longest = names.iter().map(|n| ctx.count(n)).max().unwrap_or(1);
    let default_max = if req.multi_label {
        (names.iter().map(|n| ctx.count(n) + 2).sum::<usize>() + 8).min(256)
    } else {
        longest + 8
    };
    let max_tokens = req.sampling.max_tokens.unwrap_or(default_max);
    let vars = |document: &str| {
        json!({
            "document": document,
            "labels": req.labels,
            "multi_label": req.multi_label,
            "examples": examples,
        })
    };
    let mut document = req.text.as_str();
    let mut prompt = ctx.prompt(PromptKind::Classify, lang, &vars(document))?;
    let truncated = prompt.len() + max_tokens > ctx.context_length;
    if truncated {
        let overhead = ctx.prompt(PromptKind::Classify, lang, &vars(""))?.len();
        let budget = ctx
            .context_length
            .checked_sub(overhead + max_tokens + 8)
            .filter(|&b| b > 0)
            .ok_or_else(|| TaskError::DoesNotFit {
                context: ctx.context_length,
                detail: format!("the classify prompt alone takes {overhead} tokens"),
            })?;
        let options = ChunkOptions {
            max_tokens: budget,
            overlap_tokens: 0,
        };
        let first = chunk(document, &TokenizerCounter(ctx.tokenizer), &options)?;
        if let Some(c) = first.first() {
            document = &document[c.range.clone()];
        }
        prompt = ctx.prompt(PromptKind::Classify, lang, &vars(document))?;
    }
    ctx.check_fits(prompt.len(), max_tokens, "classify")?;
    if !output(Event::Step {
        name: "classify",
        done: 0,
        total: 1,
    }) {
        return Err(crate::engine::EngineError::Cancelled.into());
    }
    let params = GenerationParams {
        sampling: req.sampling.params.clone(),
        max_tokens,
        stop: Vec::new(),
        ignore_eos: false,
    };
    let completions = ctx.generate(&prompt, &params, req.votes, false, output, &mut usage)?;
    let answers: Vec<String> = completions.into_iter().map(|c| c.text).collect();
    let choices: Vec<BTreeSet<usize>> = answers
        .iter()
        .map(|a| {
            if req.multi_label {
                matcher.multi(a)
            } else {
                matcher.single(a).into_iter().collect()
            }
        })
        .collect();
    let tally = VoteTally::multi(&names, &choices);
    let chosen: Vec<(String, f64)> = if req.multi_label {
        tally
            .majority()
            .iter()
            .map(|l| (l.label.clone(), l.share))
            .collect()
    } else {
        tally
            .winner()
            .map(|l| (l.label.clone(), l.share))
            .into_iter()
            .collect()
    };
    let confidence = chosen
        .iter()
        .map(|c| c.1)
        .fold(None, |m: Option<f64>, s| Some(m.map_or(s, |m| m.min(s))));
    usage.ms = clock.ms();
    Ok(Classification {
        label: chosen.first().map(|c| c.0.clone()),
        labels: chosen.into_iter().map(|c| c.0).collect(),
        confidence: confidence.unwrap_or(0.0),
        abstentions: tally.abstentions,
        tally,
        answers,
        truncated,
        examples: examples.len(),
        usage,
    })
}

/// Few-shot examples from the labelled collection: passages similar to the document whose
/// labels include labels of this request.
fn retrieve_examples(
    ctx: &TaskContext<'_>,
    req: &ValidClassifyRequest,
    matcher: &LabelMatcher,
) -> Result<Vec<serde_json::Value>> {
    let (Some(retriever), Some(collection)) = (ctx.retriever, &req.collection) else {
        return Ok(Vec::new());
    };
    let query: String = req.text.chars().take(1000).collect();
    let hits = retriever.retrieve(&SearchQuery {
        text: query,
        collection: collection.clone(),
        language: None,
        k: EXAMPLES * 2,
    })?;
    Ok(hits
        .into_iter()
        .filter_map(|hit| {
            let mut named: Vec<usize> = hit
                .labels
                .iter()
                .filter_map(|label| matcher.single(label))
                .collect();
            named.sort_unstable();
            named.dedup();
            let labels: Vec<&str> = named.iter().map(|&i| req.labels[i].name.as_str()).collect();
            (!labels.is_empty() && hit.text.trim() != req.text.trim())
                .then(|| json!({"text": hit.text, "labels": labels}))
        })
        .take(EXAMPLES)
        .collect())
}

#[cfg(test)]
#[path = "classify_tests.rs"]
mod tests;
