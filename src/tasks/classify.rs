//! Classify, two ways from one prompt: `score` computes each label's exact probability
//! from one prefill ([`LabelContinuations`]); `vote` samples k answers from one prefill,
//! reads them with [`LabelMatcher`] and tallies them ([`VoteTally`]).

use std::collections::{BTreeSet, HashMap};

use serde::Serialize;
use serde_json::json;

use super::answer::LabelMatcher;
use super::context::{Event, Output, Stopwatch, TaskContext, TokenizerCounter, Usage};
use super::error::{Result, TaskError};
use super::label_score::{LabelContinuations, LabelProbability, MAX_SCORED_LABEL_TOKENS};
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
/// Multi-label scoring chooses every label at least this probable when none is given.
pub const DEFAULT_THRESHOLD: f64 = 0.3;

/// How a label is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClassifyMethod {
    /// Each label's exact probability under the model, from one prefill.
    Score,
    /// k sampled answers, majority vote.
    Vote,
}

impl std::str::FromStr for ClassifyMethod {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "score" => Ok(Self::Score),
            "vote" => Ok(Self::Vote),
            other => Err(format!("unknown method `{other}` (score or vote)")),
        }
    }
}

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
    /// `score` or `vote`; default: `vote` when `votes` is given, else `score` when every
    /// label is at most 16 tokens, else `vote`.
    pub method: Option<ClassifyMethod>,
    /// Samples to vote (1 to 32, default 5); `vote` only.
    pub votes: Option<usize>,
    /// Multi-label `score`: the least probability a chosen label has (0 to 1, default 0.3).
    pub threshold: Option<f64>,
    /// Temperature (votes: default 0.7, greedy for one vote; score: default 1, the model's
    /// own distribution), seed, output budget.
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
    /// The method asked for; `None` picks by the labels' lengths.
    pub method: Option<ClassifyMethod>,
    /// Samples to vote.
    pub votes: usize,
    /// Multi-label `score`: the least probability of a chosen label.
    pub threshold: f64,
    /// The temperature labels are scored at.
    pub score_temperature: f32,
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
        let method = match (self.method, self.votes) {
            (Some(ClassifyMethod::Score), Some(_)) => {
                return Err(TaskError::invalid(
                    "votes",
                    "applies only to the vote method (the score method asked for)",
                ))
            }
            (None, Some(_)) => Some(ClassifyMethod::Vote),
            (method, _) => method,
        };
        let threshold = self.threshold.unwrap_or(DEFAULT_THRESHOLD);
        if !(threshold > 0.0 && threshold <= 1.0) {
            return Err(TaskError::invalid(
                "threshold",
                format!("must be above 0 and at most 1, got {threshold}"),
            ));
        }
        let score_temperature = self
            .sampling
            .temperature
            .filter(|&t| t > 0.0)
            .unwrap_or(1.0);
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
            method,
            votes,
            threshold,
            score_temperature,
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
    /// The method that chose.
    pub method: ClassifyMethod,
    /// The winning label (single-label), or the first chosen one (multi-label); `None`
    /// when every vote abstained or, multi-label, no label won a majority (vote) or
    /// reached the threshold (score).
    pub label: Option<String>,
    /// Every chosen label: the winner, or (multi-label) those named by over half the votes
    /// (vote) or at least as probable as the threshold (score).
    pub labels: Vec<String>,
    /// The winner's probability (score) or vote share (vote); multi-label: the least
    /// among those chosen.
    pub confidence: f64,
    /// Score: every label's probability, in request order (empty for vote).
    pub probabilities: Vec<LabelProbability>,
    /// Score: the model's probability of answering with one of the labels at all; vote:
    /// the share of votes that named a label.
    pub coverage: f64,
    /// Votes per label and abstentions (vote; no samples for score).
    pub tally: VoteTally,
    /// Votes whose answer named no label.
    pub abstentions: usize,
    /// The raw answer of every vote, in sample order (empty for score).
    pub answers: Vec<String>,
    /// Whether the document was cut to fit the context.
    pub truncated: bool,
    /// Labelled examples retrieved into the prompt.
    pub examples: usize,
    /// What it cost.
    pub usage: Usage,
}

/// Classifies `req.text`: one prompt, then the labels scored or `req.votes` samples voted,
/// from one prefill either way.
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
    let answer = ctx
        .answer(PromptKind::Classify, lang, &vars(document))?
        .unwrap_or_default();
    // The labels' tokens when they are to be scored: asked for, or by default when short.
    let scored = match req.method {
        Some(ClassifyMethod::Vote) => None,
        Some(ClassifyMethod::Score) => {
            let c = LabelContinuations::new(ctx.tokenizer, &answer, &names)?;
            if let Some(&i) = c.unscorable.first() {
                return Err(TaskError::invalid(
                    format!("labels[{i}].name"),
                    format!(
                        "`{}` merges with the answer prefix `{answer}` into other tokens and \
                         cannot be scored; use the vote method",
                        names[i]
                    ),
                ));
            }
            Some(c)
        }
        None => Some(LabelContinuations::new(ctx.tokenizer, &answer, &names)?)
            .filter(|c| c.unscorable.is_empty() && c.longest() <= MAX_SCORED_LABEL_TOKENS),
    };
    let mut outcome = match scored {
        Some(c) => {
            let scores = ctx.score(&prompt, &c.ids, req.score_temperature, output, &mut usage)?;
            by_score(req, &names, &c, &scores.logprobs)
        }
        None => {
            let params = GenerationParams {
                sampling: req.sampling.params.clone(),
                max_tokens,
                ..Default::default()
            };
            let completions =
                ctx.generate(&prompt, &params, req.votes, false, output, &mut usage)?;
            let answers: Vec<String> = completions.into_iter().map(|c| c.text).collect();
            by_vote(req, &names, &matcher, answers)
        }
    };
    usage.ms = clock.ms();
    outcome.truncated = truncated;
    outcome.examples = examples.len();
    outcome.usage = usage;
    Ok(outcome)
}

/// The labels at least as probable as the threshold (multi-label) or the most probable one.
fn by_score(
    req: &ValidClassifyRequest,
    names: &[&str],
    continuations: &LabelContinuations,
    logprobs: &[f64],
) -> Classification {
    let (probabilities, coverage) = continuations.distribution(names, logprobs);
    let chosen: Vec<&LabelProbability> = if req.multi_label {
        probabilities
            .iter()
            .filter(|p| p.probability >= req.threshold)
            .collect()
    } else {
        probabilities
            .iter()
            .fold(None, |best: Option<&LabelProbability>, p| match best {
                Some(b) if b.probability >= p.probability => Some(b),
                _ => Some(p),
            })
            .into_iter()
            .collect()
    };
    let confidence = chosen
        .iter()
        .map(|p| p.probability)
        .fold(None, |m: Option<f64>, s| Some(m.map_or(s, |m| m.min(s))));
    Classification {
        method: ClassifyMethod::Score,
        label: chosen.first().map(|p| p.label.clone()),
        labels: chosen.iter().map(|p| p.label.clone()).collect(),
        confidence: confidence.unwrap_or(0.0),
        coverage,
        tally: VoteTally::multi(names, &[]),
        abstentions: 0,
        answers: Vec::new(),
        probabilities,
        truncated: false,
        examples: 0,
        usage: Usage::default(),
    }
}

/// The majority of the votes' answers.
fn by_vote(
    req: &ValidClassifyRequest,
    names: &[&str],
    matcher: &LabelMatcher,
    answers: Vec<String>,
) -> Classification {
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
    let tally = VoteTally::multi(names, &choices);
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
    let coverage = if tally.samples == 0 {
        0.0
    } else {
        1.0 - tally.abstentions as f64 / tally.samples as f64
    };
    Classification {
        method: ClassifyMethod::Vote,
        label: chosen.first().map(|c| c.0.clone()),
        labels: chosen.into_iter().map(|c| c.0).collect(),
        confidence: confidence.unwrap_or(0.0),
        probabilities: Vec::new(),
        coverage,
        abstentions: tally.abstentions,
        tally,
        answers,
        truncated: false,
        examples: 0,
        usage: Usage::default(),
    }
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
