//! Summarize: map (one summary per chunk of a [`ChunkPlan`] sized to the context) →
//! reduce (merge the summaries, in groups that fit, until one is left).

use std::ops::Range;

use serde::Serialize;
use serde_json::{json, Value};

use super::classify::collection;
use super::context::{Event, Output, Stopwatch, TaskContext, TokenizerCounter, Usage};
use super::error::{Result, TaskError};
use super::in_order::InOrder;
use super::plan::ChunkPlan;
use super::validate::{self, SamplingRequest, ValidSampling};
use crate::engine::{Completion, EngineError, GenerationCall, GenerationParams};
use crate::prompt::{Language, PromptKind};
use crate::retrieval::SearchQuery;
use crate::text::{detect_language, CharOffsets};

/// Temperature when the request names none (factual: 0.1–0.3).
pub const DEFAULT_TEMPERATURE: f32 = 0.2;
/// Allowed target lengths in words.
pub const TARGET_WORDS: std::ops::RangeInclusive<usize> = 10..=2000;
/// Tokens kept free besides prompt and output, for tokenization that is not additive.
const MARGIN: usize = 16;
/// Smallest map chunk worth planning, in tokens.
const MIN_CHUNK: usize = 32;
/// Passages retrieved as context for a retrieval-augmented summary.
const CONTEXT_PASSAGES: usize = 4;
/// Longest context passage given to the model, in characters.
const PASSAGE_CHARS: usize = 600;

/// How long a summary should be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SummaryLength {
    /// One or two sentences.
    Short,
    /// A few sentences.
    Medium,
    /// Every main point.
    Long,
    /// About this many words.
    Words(usize),
}

impl SummaryLength {
    /// Output tokens a summary of this length may take in `lang` (Hebrew costs about
    /// three times the tokens of English per word).
    fn max_tokens(self, lang: Language) -> usize {
        let per_word = match lang {
            Language::He => 6,
            Language::En => 2,
        };
        match self {
            SummaryLength::Short => 32 * per_word,
            SummaryLength::Medium => 80 * per_word,
            SummaryLength::Long => 200 * per_word,
            SummaryLength::Words(n) => n * per_word + 16,
        }
    }
}

/// A summary request as a caller gives it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SummarizeRequest {
    /// The document.
    pub text: String,
    /// "short", "medium" (default), "long", or a number of words (10 to 2000).
    pub length: Option<String>,
    /// "paragraph" (default) or "bullets".
    pub style: Option<String>,
    /// "he" or "en" (default: the document's language, Hebrew when unclear).
    pub output_language: Option<String>,
    /// A question the summary should answer.
    pub focus: Option<String>,
    /// Temperature (default 0.2), seed, output budget per step.
    pub sampling: SamplingRequest,
    /// A collection whose passages are given as context and cited by id.
    pub collection: Option<String>,
    /// The largest map chunk in tokens (default: as large as the context allows); smaller
    /// chunks cost less attention and give more detailed map summaries.
    pub chunk_tokens: Option<usize>,
}

/// A [`SummarizeRequest`] that passed validation.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidSummarizeRequest {
    /// The document (not empty).
    pub text: String,
    /// Target length.
    pub length: SummaryLength,
    /// Whether to write bullets.
    pub bullets: bool,
    /// Output language (also the instructions' language), when given.
    pub output_language: Option<Language>,
    /// The focus question, when not empty.
    pub focus: Option<String>,
    /// Sampler settings and output budget.
    pub sampling: ValidSampling,
    /// Context collection.
    pub collection: Option<String>,
    /// Cap on the map chunk size.
    pub chunk_tokens: Option<usize>,
}

impl SummarizeRequest {
    /// Checks every field; the error names the first bad one.
    pub fn validate(self) -> Result<ValidSummarizeRequest> {
        validate::non_empty_text("text", &self.text)?;
        let length = match self.length.as_deref().map(str::trim) {
            None | Some("medium") => SummaryLength::Medium,
            Some("short") => SummaryLength::Short,
            Some("long") => SummaryLength::Long,
            Some(other) => match other.parse::<usize>() {
                Ok(n) if TARGET_WORDS.contains(&n) => SummaryLength::Words(n),
                _ => {
                    return Err(TaskError::invalid(
                        "length",
                        format!(
                            "must be short, medium, long or a number of words from {} to {}, got `{other}`",
                            TARGET_WORDS.start(),
                            TARGET_WORDS.end()
                        ),
                    ))
                }
            },
        };
        let bullets = match self.style.as_deref().map(str::trim) {
            None | Some("paragraph") => false,
            Some("bullets") => true,
            Some(other) => {
                return Err(TaskError::invalid(
                    "style",
                    format!("must be paragraph or bullets, got `{other}`"),
                ))
            }
        };
        let output_language = match &self.output_language {
            Some(code) => Some(validate::language("output_language", code)?),
            None => None,
        };
        let focus = self
            .focus
            .map(|f| f.trim().to_string())
            .filter(|f| !f.is_empty());
        if focus.as_ref().is_some_and(|f| f.chars().count() > 1000) {
            return Err(TaskError::invalid(
                "focus",
                "is longer than 1000 characters",
            ));
        }
        if let Some(n) = self.chunk_tokens {
            validate::in_range("chunk_tokens", n, &(MIN_CHUNK..=1 << 20))?;
        }
        Ok(ValidSummarizeRequest {
            chunk_tokens: self.chunk_tokens,
            text: self.text,
            length,
            bullets,
            output_language,
            focus,
            sampling: self.sampling.validate(DEFAULT_TEMPERATURE)?,
            collection: collection("collection", self.collection)?,
        })
    }
}

/// One map chunk and what the model made of it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChunkSummary {
    /// Character range into the document.
    pub chars: Range<usize>,
    /// Tokens the chunk's text costs.
    pub tokens: usize,
    /// Indices of the document's paragraphs it holds.
    pub paragraphs: Range<usize>,
    /// Its summary.
    pub summary: String,
}

/// A passage given to the model as context.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Citation {
    /// The id the model cites it by: `doc_id#passage_id`.
    pub id: String,
    /// The document it comes from.
    pub doc_id: String,
    /// Its number in the document.
    pub passage_id: u64,
    /// The document's title.
    pub title: String,
    /// Whether the summary cites it (`[id]`).
    pub cited: bool,
}

/// The outcome of summarizing.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// The summary.
    pub text: String,
    /// Its language.
    pub language: Language,
    /// The map chunks, in document order (one when the document fits a single prompt).
    pub chunks: Vec<ChunkSummary>,
    /// Token budget of every map chunk.
    pub chunk_budget: usize,
    /// Reduce rounds (0 when one chunk was summarized directly).
    pub reduce_rounds: usize,
    /// Passages given as context (retrieval-augmented summaries).
    pub citations: Vec<Citation>,
    /// What it cost.
    pub usage: Usage,
}

/// Summarizes `req.text`; the final step's text streams to `output`.
pub fn summarize(
    ctx: &TaskContext<'_>,
    req: &ValidSummarizeRequest,
    output: &mut Output<'_>,
) -> Result<Summary> {
    let clock = Stopwatch::start();
    let mut usage = Usage::default();
    let lang = req
        .output_language
        .unwrap_or(match detect_language(&req.text) {
            crate::text::Language::En => Language::En,
            _ => Language::He,
        });
    let max_tokens = req
        .sampling
        .max_tokens
        .unwrap_or_else(|| req.length.max_tokens(lang));
    let params = GenerationParams {
        sampling: req.sampling.params.clone(),
        max_tokens,
        ..Default::default()
    };
    let (context, mut citations) = retrieve_context(ctx, req)?;
    let vars = |key: &str, value: Value| {
        let (length, words) = match req.length {
            SummaryLength::Words(n) => ("medium", Some(n)),
            SummaryLength::Short => ("short", None),
            SummaryLength::Medium => ("medium", None),
            SummaryLength::Long => ("long", None),
        };
        json!({
            "length": length,
            "target_words": words,
            "style": if req.bullets { "bullets" } else { "paragraph" },
            "output_language": lang.code(),
            "focus": req.focus,
            "context": context,
            key: value,
        })
    };
    let overhead = ctx
        .prompt(PromptKind::SummarizeMap, lang, &vars("document", json!("")))?
        .len();
    let room = ctx
        .context_length
        .saturating_sub(overhead + max_tokens + MARGIN);
    let budget = req.chunk_tokens.map_or(room, |cap| cap.min(room));
    if budget < MIN_CHUNK {
        return Err(TaskError::DoesNotFit {
            context: ctx.context_length,
            detail: format!(
                "the summary prompt takes {overhead} tokens and the output {max_tokens}, leaving {budget} for the document"
            ),
        });
    }
    let plan = ChunkPlan::new(&req.text, &TokenizerCounter(ctx.tokenizer), budget)?;
    usage.chunks = plan.chunks.len();
    let offsets = CharOffsets::new(&req.text);
    let single = plan.chunks.len() == 1;
    let mut calls = Vec::with_capacity(plan.chunks.len());
    for c in &plan.chunks {
        let document = &req.text[c.range.clone()];
        let prompt = ctx.prompt(
            PromptKind::SummarizeMap,
            lang,
            &vars("document", json!(document)),
        )?;
        ctx.check_fits(prompt.len(), max_tokens, "map step")?;
        calls.push(call(prompt, &params));
    }
    let mut chunks = Vec::with_capacity(plan.chunks.len());
    let total = plan.chunks.len();
    ctx.generate_in_order(&calls, single, output, &mut usage, &mut |at, output| {
        match at {
            InOrder::Start(done) => step(output, "map", done, total)?,
            InOrder::Done(i, out) => {
                let c = &plan.chunks[i];
                chunks.push(ChunkSummary {
                    chars: offsets.char_at(c.range.start)..offsets.char_at(c.range.end),
                    tokens: c.tokens,
                    paragraphs: c.paragraphs.clone(),
                    summary: first_text(out),
                });
            }
        }
        Ok(())
    })?;
    let mut summaries: Vec<String> = chunks.iter().map(|c| c.summary.clone()).collect();
    let mut reduce_rounds = 0;
    while !single && !summaries.is_empty() {
        reduce_rounds += 1;
        let groups = group_summaries(ctx, lang, &summaries, max_tokens, &|s| {
            vars("summaries", json!(s))
        })?;
        let last = groups.len() == 1;
        let calls = groups
            .iter()
            .map(|group| {
                let prompt = ctx.prompt(
                    PromptKind::SummarizeReduce,
                    lang,
                    &vars("summaries", json!(summaries[group.clone()])),
                )?;
                Ok(call(prompt, &params))
            })
            .collect::<Result<Vec<_>>>()?;
        let mut next = Vec::with_capacity(groups.len());
        let total = groups.len();
        ctx.generate_in_order(&calls, last, output, &mut usage, &mut |at, output| {
            match at {
                InOrder::Start(done) => step(output, "reduce", done, total)?,
                InOrder::Done(_, out) => next.push(first_text(out)),
            }
            Ok(())
        })?;
        summaries = next;
        if last {
            break;
        }
    }
    let text = summaries.pop().unwrap_or_default();
    for c in &mut citations {
        c.cited = text.contains(&format!("[{}]", c.id));
    }
    usage.ms = clock.ms();
    Ok(Summary {
        text,
        language: lang,
        chunks,
        chunk_budget: budget,
        reduce_rounds,
        citations,
        usage,
    })
}

/// One sample of `prompt`.
fn call(prompt: Vec<u32>, params: &GenerationParams) -> GenerationCall {
    GenerationCall {
        prompt,
        params: params.clone(),
        n: 1,
    }
}

/// The first sample's text, trimmed.
fn first_text(out: Vec<Completion>) -> String {
    out.into_iter()
        .next()
        .map(|c| c.text.trim().to_string())
        .unwrap_or_default()
}

/// Reports a step, failing with `Cancelled` when the caller says stop.
fn step(output: &mut Output<'_>, name: &'static str, done: usize, total: usize) -> Result<()> {
    if output(Event::Step { name, done, total }) {
        Ok(())
    } else {
        Err(EngineError::Cancelled.into())
    }
}

/// Consecutive groups of summaries whose reduce prompt fits with `max_tokens` of output;
/// fails when two summaries cannot share one prompt (no progress would be made).
fn group_summaries(
    ctx: &TaskContext<'_>,
    lang: Language,
    summaries: &[String],
    max_tokens: usize,
    vars: &dyn Fn(&[String]) -> Value,
) -> Result<Vec<Range<usize>>> {
    let fits = |range: Range<usize>| -> Result<bool> {
        let prompt = ctx.prompt(PromptKind::SummarizeReduce, lang, &vars(&summaries[range]))?;
        Ok(prompt.len() + max_tokens + MARGIN <= ctx.context_length)
    };
    if fits(0..summaries.len())? {
        #[allow(clippy::single_range_in_vec_init)]
        return Ok(vec![0..summaries.len()]);
    }
    let mut groups = Vec::new();
    let mut start = 0;
    while start < summaries.len() {
        let mut end = start + 1;
        while end < summaries.len() && fits(start..end + 1)? {
            end += 1;
        }
        groups.push(start..end);
        start = end;
    }
    if groups.len() == summaries.len() {
        return Err(TaskError::DoesNotFit {
            context: ctx.context_length,
            detail: format!(
                "two summaries of up to {max_tokens} tokens do not fit one reduce prompt; lower `max_tokens`"
            ),
        });
    }
    Ok(groups)
}

/// Context passages for a retrieval-augmented summary, as template variables and as
/// citations.
fn retrieve_context(
    ctx: &TaskContext<'_>,
    req: &ValidSummarizeRequest,
) -> Result<(Vec<Value>, Vec<Citation>)> {
    let (Some(retriever), Some(collection)) = (ctx.retriever, &req.collection) else {
        return Ok((Vec::new(), Vec::new()));
    };
    let query = match &req.focus {
        Some(f) => f.clone(),
        None => req.text.chars().take(1000).collect(),
    };
    let hits = retriever.retrieve(&SearchQuery {
        text: query,
        collection: collection.clone(),
        language: None,
        k: CONTEXT_PASSAGES,
    })?;
    let mut vars = Vec::with_capacity(hits.len());
    let mut citations = Vec::with_capacity(hits.len());
    for hit in hits {
        let id = format!("{}#{}", hit.doc_id, hit.passage_id);
        let text: String = hit.text.chars().take(PASSAGE_CHARS).collect();
        vars.push(json!({"id": id, "text": text}));
        citations.push(Citation {
            id,
            doc_id: hit.doc_id,
            passage_id: hit.passage_id,
            title: hit.title,
            cited: false,
        });
    }
    Ok((vars, citations))
}

#[cfg(test)]
#[path = "summarize_tests.rs"]
mod tests;
