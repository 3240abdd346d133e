//! Translate Hebrew ⇄ English paragraph by paragraph (separators, and paragraphs without
//! letters, copied through), with a glossary, translation memory, and k candidates per
//! paragraph reduced to one by chrF consensus.

use std::ops::Range;

use serde::Serialize;
use serde_json::json;

use super::classify::collection;
use super::consensus::{mbr, Consensus};
use super::context::{Event, Output, Stopwatch, TaskContext, TokenizerCounter, Usage};
use super::error::{Result, TaskError};
use super::glossary::{self, GlossaryEntry, GlossaryViolation};
use super::validate::{self, SamplingRequest, ValidSampling, SAMPLES};
use crate::engine::{EngineError, GenerationParams};
use crate::prompt::{Language, PromptKind};
use crate::retrieval::SearchQuery;
use crate::text::{chunk, detect_language, letter_counts, paragraphs, ChunkOptions};

/// Temperature for one candidate when the request names none.
pub const TEMPERATURE_ONE: f32 = 0.1;
/// Temperature for k > 1 candidates when the request names none.
pub const TEMPERATURE_MANY: f32 = 0.6;
/// Tokens kept free besides prompt and output.
const MARGIN: usize = 16;
/// Translation-memory examples per segment.
const MEMORY_EXAMPLES: usize = 2;

/// A translation request as a caller gives it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TranslateRequest {
    /// The text.
    pub text: String,
    /// "he" or "en" (default: detected).
    pub source_language: Option<String>,
    /// "he" or "en" (default: the other one).
    pub target_language: Option<String>,
    /// Terms the translation must use.
    pub glossary: Vec<GlossaryEntry>,
    /// Candidates per paragraph (1 to 32, default 1); more than one → chrF consensus.
    pub candidates: Option<usize>,
    /// Temperature (default 0.1, or 0.6 for several candidates), seed, output budget.
    pub sampling: SamplingRequest,
    /// A translation-memory collection: documents whose text is a source segment and whose
    /// `translation` field is its translation.
    pub collection: Option<String>,
}

/// A [`TranslateRequest`] that passed validation.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidTranslateRequest {
    /// The text (not empty).
    pub text: String,
    /// Its language.
    pub source: Language,
    /// The language to translate into (not the source).
    pub target: Language,
    /// Trimmed, distinct glossary entries.
    pub glossary: Vec<GlossaryEntry>,
    /// Candidates per paragraph.
    pub candidates: usize,
    /// Sampler settings and output budget.
    pub sampling: ValidSampling,
    /// Translation-memory collection.
    pub collection: Option<String>,
}

impl TranslateRequest {
    /// Checks every field; the error names the first bad one.
    pub fn validate(self) -> Result<ValidTranslateRequest> {
        validate::non_empty_text("text", &self.text)?;
        let source = match &self.source_language {
            Some(code) => validate::language("source_language", code)?,
            None => match detect_language(&self.text) {
                crate::text::Language::He => Language::He,
                crate::text::Language::En => Language::En,
                other => {
                    return Err(TaskError::invalid(
                        "source_language",
                        format!("could not be detected (the text is {other}); give he or en"),
                    ))
                }
            },
        };
        let target = match &self.target_language {
            Some(code) => validate::language("target_language", code)?,
            None if source == Language::He => Language::En,
            None => Language::He,
        };
        if source == target {
            return Err(TaskError::invalid(
                "target_language",
                format!("unknown language pair {source}→{target} (supported: he→en, en→he)"),
            ));
        }
        let candidates = validate::in_range("candidates", self.candidates.unwrap_or(1), &SAMPLES)?;
        let default_temperature = if candidates == 1 {
            TEMPERATURE_ONE
        } else {
            TEMPERATURE_MANY
        };
        Ok(ValidTranslateRequest {
            text: self.text,
            source,
            target,
            glossary: glossary::validate(self.glossary)?,
            candidates,
            sampling: self.sampling.validate(default_temperature)?,
            collection: collection("collection", self.collection)?,
        })
    }
}

/// How one paragraph was translated.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Segment {
    /// Byte range of the paragraph in the source text.
    pub range: Range<usize>,
    /// Byte range of its translation (or copy) in the translated text.
    pub output: Range<usize>,
    /// Whether it went through the model (false: copied, it has no letters).
    pub translated: bool,
    /// The consensus over its candidates (k > 1 only).
    pub consensus: Option<Consensus>,
    /// Translation-memory examples given with it.
    pub memory: usize,
}

/// The outcome of a translation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Translation {
    /// The translation, with the source's paragraph separators.
    pub text: String,
    /// Source and target languages.
    pub source_language: Language,
    /// The language translated into.
    pub target_language: Language,
    /// With k > 1: the k whole-text candidates (candidate i = sample i of every paragraph).
    pub candidates: Option<Vec<String>>,
    /// One entry per paragraph.
    pub segments: Vec<Segment>,
    /// Glossary terms the chosen translation did not use.
    pub glossary_violations: Vec<GlossaryViolation>,
    /// What it cost.
    pub usage: Usage,
}

impl Translation {
    /// The translation of each paragraph (the copy of one without letters), in order.
    pub fn paragraphs(&self) -> Vec<String> {
        self.segments
            .iter()
            .map(|s| self.text[s.output.clone()].to_string())
            .collect()
    }
}

/// Translates `req.text` paragraph by paragraph; the chosen text streams to `output`.
pub fn translate(
    ctx: &TaskContext<'_>,
    req: &ValidTranslateRequest,
    output: &mut Output<'_>,
) -> Result<Translation> {
    let clock = Stopwatch::start();
    let mut usage = Usage::default();
    let k = req.candidates;
    let paras = paragraphs(&req.text);
    let mut text = String::new();
    let mut candidates = vec![String::new(); k];
    let mut segments = Vec::with_capacity(paras.len());
    let mut violations = Vec::new();
    let mut at = 0;
    for (i, range) in paras.iter().enumerate() {
        let separator = &req.text[at..range.start];
        at = range.end;
        emit(output, separator)?;
        text.push_str(separator);
        candidates.iter_mut().for_each(|c| c.push_str(separator));
        let source = &req.text[range.clone()];
        let letters = letter_counts(source);
        if letters.hebrew + letters.latin == 0 || source.starts_with("```") {
            emit(output, source)?;
            let start = text.len();
            text.push_str(source);
            candidates.iter_mut().for_each(|c| c.push_str(source));
            segments.push(Segment {
                range: range.clone(),
                output: start..text.len(),
                translated: false,
                consensus: None,
                memory: 0,
            });
            continue;
        }
        if !output(Event::Step {
            name: "translate",
            done: i,
            total: paras.len(),
        }) {
            return Err(EngineError::Cancelled.into());
        }
        let terms = glossary::relevant(&req.glossary, source);
        let examples = memory(ctx, req, source)?;
        let pieces = translate_paragraph(ctx, req, source, &terms, &examples, output, &mut usage)?;
        let consensus =
            (k > 1).then(|| mbr(&pieces.iter().map(|p| p.join(" ")).collect::<Vec<_>>()));
        let chosen_index = consensus.as_ref().map_or(0, |c| c.chosen);
        let chosen = pieces
            .get(chosen_index)
            .map(|p| p.join(" "))
            .unwrap_or_default();
        if k > 1 {
            emit(output, &chosen)?;
        }
        violations.extend(glossary::violations(&terms, &chosen, i));
        for (c, p) in candidates.iter_mut().zip(&pieces) {
            c.push_str(&p.join(" "));
        }
        let start = text.len();
        text.push_str(&chosen);
        usage.chunks += 1;
        segments.push(Segment {
            range: range.clone(),
            output: start..text.len(),
            translated: true,
            consensus,
            memory: examples.len(),
        });
    }
    let tail = &req.text[at..];
    emit(output, tail)?;
    text.push_str(tail);
    candidates.iter_mut().for_each(|c| c.push_str(tail));
    usage.ms = clock.ms();
    Ok(Translation {
        text,
        source_language: req.source,
        target_language: req.target,
        candidates: (k > 1).then_some(candidates),
        segments,
        glossary_violations: violations,
        usage,
    })
}

/// Sends streamed text, failing with `Cancelled` when the caller says stop.
fn emit(output: &mut Output<'_>, text: &str) -> Result<()> {
    if text.is_empty() || output(Event::Text(text)) {
        Ok(())
    } else {
        Err(EngineError::Cancelled.into())
    }
}

/// Output tokens a translation of `tokens` source tokens may take.
fn output_budget(req: &ValidTranslateRequest, tokens: usize) -> usize {
    let ratio = match req.target {
        Language::He => 4,
        Language::En => 1,
    };
    req.sampling.max_tokens.unwrap_or(tokens * ratio + 32)
}

/// The k candidates of one paragraph, each as its pieces (one unless the paragraph had to
/// be cut to fit the context).
fn translate_paragraph(
    ctx: &TaskContext<'_>,
    req: &ValidTranslateRequest,
    source: &str,
    terms: &[&GlossaryEntry],
    examples: &[serde_json::Value],
    output: &mut Output<'_>,
    usage: &mut Usage,
) -> Result<Vec<Vec<String>>> {
    let vars = |text: &str| {
        json!({
            "text": text,
            "source_language": req.source.code(),
            "target_language": req.target.code(),
            "glossary": terms,
            "examples": examples,
        })
    };
    let overhead = ctx
        .prompt(PromptKind::Translate, req.target, &vars(""))?
        .len();
    let tokens = ctx.count(source);
    let pieces: Vec<&str> =
        if overhead + tokens + output_budget(req, tokens) + MARGIN <= ctx.context_length {
            vec![source]
        } else {
            let ratio = output_budget(req, 1).saturating_sub(32).max(1);
            let room = ctx.context_length.saturating_sub(overhead + MARGIN + 32);
            let budget = match req.sampling.max_tokens {
                Some(max) => room.saturating_sub(max),
                None => room / (1 + ratio),
            };
            if budget == 0 {
                return Err(TaskError::DoesNotFit {
                    context: ctx.context_length,
                    detail: format!("the translate prompt alone takes {overhead} tokens"),
                });
            }
            let options = ChunkOptions {
                max_tokens: budget,
                overlap_tokens: 0,
            };
            chunk(source, &TokenizerCounter(ctx.tokenizer), &options)?
                .into_iter()
                .map(|c| &source[c.range])
                .collect()
        };
    let mut out = vec![Vec::with_capacity(pieces.len()); req.candidates];
    for (n, piece) in pieces.iter().enumerate() {
        if n > 0 && req.candidates == 1 {
            emit(output, " ")?;
        }
        let prompt = ctx.prompt(PromptKind::Translate, req.target, &vars(piece))?;
        let max_tokens = output_budget(req, ctx.count(piece));
        ctx.check_fits(prompt.len(), max_tokens, "translate")?;
        let params = GenerationParams {
            sampling: req.sampling.params.clone(),
            max_tokens,
            ..Default::default()
        };
        let stream = req.candidates == 1;
        let completions = ctx.generate(&prompt, &params, req.candidates, stream, output, usage)?;
        for (o, c) in out.iter_mut().zip(completions) {
            o.push(one_block(&c.text));
        }
    }
    Ok(out)
}

/// A paragraph's translation as one block: trimmed, without blank lines, so the
/// translation keeps the source's paragraph structure even when a model adds some.
fn one_block(text: &str) -> String {
    text.trim()
        .lines()
        .filter(|line| !line.trim().is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Translation-memory examples for one segment: similar source passages of the
/// collection that carry a translation into the target language.
fn memory(
    ctx: &TaskContext<'_>,
    req: &ValidTranslateRequest,
    source: &str,
) -> Result<Vec<serde_json::Value>> {
    let (Some(retriever), Some(collection)) = (ctx.retriever, &req.collection) else {
        return Ok(Vec::new());
    };
    let language = match req.source {
        Language::He => crate::text::Language::He,
        Language::En => crate::text::Language::En,
    };
    let hits = retriever.retrieve(&SearchQuery {
        text: source.chars().take(1000).collect(),
        collection: collection.clone(),
        language: Some(language),
        k: MEMORY_EXAMPLES,
    })?;
    Ok(hits
        .into_iter()
        .filter_map(|h| {
            let target = h.translation?;
            (!target.trim().is_empty()).then(|| json!({"source": h.text, "target": target}))
        })
        .collect())
}

#[cfg(test)]
#[path = "translate_tests.rs"]
mod tests;
