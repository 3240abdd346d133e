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
use super::in_order::InOrder;
use super::validate::{self, SamplingRequest, ValidSampling, SAMPLES};
use crate::engine::{Completion, EngineError, GenerationCall, GenerationParams};
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
/// A glossary of at most this many prompt tokens (and an eighth of the context) is listed
/// whole in every paragraph's prompt, in the start all paragraphs share, which the engine's
/// prefix cache computes once. A longer one lists in each paragraph only its own terms.
const SHARED_GLOSSARY_TOKENS: usize = 512;

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

/// Translates `req.text` paragraph by paragraph, the paragraphs side by side in the
/// engine's batch; the chosen text streams to `output` in order.
pub fn translate(
    ctx: &TaskContext<'_>,
    req: &ValidTranslateRequest,
    output: &mut Output<'_>,
) -> Result<Translation> {
    let clock = Stopwatch::start();
    let mut usage = Usage::default();
    let paras = paragraphs(&req.text);
    let mut plans = Vec::with_capacity(paras.len());
    let mut calls = Vec::new();
    let mut owners = Vec::new();
    let shared_terms = shared_glossary(ctx, req)?;
    for (i, range) in paras.iter().enumerate() {
        let source = &req.text[range.clone()];
        let letters = letter_counts(source);
        if letters.hebrew + letters.latin == 0 || source.starts_with("```") {
            plans.push(Plan::Copy);
            continue;
        }
        let terms = glossary::relevant(&req.glossary, source);
        let examples = memory(ctx, req, source)?;
        let first = calls.len();
        let listed = shared_terms.as_deref().unwrap_or(&terms);
        calls.extend(paragraph_calls(ctx, req, source, listed, &examples)?);
        owners.extend((first..calls.len()).map(|c| (i, c - first)));
        plans.push(Plan::Translate {
            terms,
            memory: examples.len(),
            calls: first..calls.len(),
        });
    }
    let mut doc = Assembly::new(req, &paras, &plans);
    let stream = req.candidates == 1;
    ctx.generate_in_order(
        &calls,
        stream,
        output,
        &mut usage,
        &mut |at, output| match at {
            InOrder::Start(call) => match owners[call] {
                (p, 0) => doc.open(p, output),
                _ if stream => emit(output, " "),
                _ => Ok(()),
            },
            InOrder::Done(call, completions) => {
                doc.piece_done(owners[call].0, call, completions, output)
            }
        },
    )?;
    doc.copy_until(paras.len(), output)?;
    let Assembly {
        mut text,
        mut candidates,
        segments,
        violations,
        at,
        ..
    } = doc;
    let tail = &req.text[at..];
    emit(output, tail)?;
    text.push_str(tail);
    candidates.iter_mut().for_each(|c| c.push_str(tail));
    usage.chunks = segments.iter().filter(|s| s.translated).count();
    usage.ms = clock.ms();
    let k = req.candidates;
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

/// What becomes of one paragraph.
enum Plan<'a> {
    /// Copied through: it has no letters, or it is code.
    Copy,
    /// Translated by the calls `calls` (one per piece), with these terms and examples.
    Translate {
        terms: Vec<&'a GlossaryEntry>,
        memory: usize,
        calls: Range<usize>,
    },
}

/// The translated document, built and streamed in paragraph order as the calls end.
struct Assembly<'r> {
    req: &'r ValidTranslateRequest,
    paras: &'r [Range<usize>],
    plans: &'r [Plan<'r>],
    text: String,
    candidates: Vec<String>,
    segments: Vec<Segment>,
    violations: Vec<GlossaryViolation>,
    /// The source up to here is emitted.
    at: usize,
    /// The paragraph being translated: each candidate's pieces so far.
    pieces: Vec<Vec<String>>,
}

impl<'r> Assembly<'r> {
    fn new(
        req: &'r ValidTranslateRequest,
        paras: &'r [Range<usize>],
        plans: &'r [Plan<'r>],
    ) -> Self {
        Self {
            req,
            paras,
            plans,
            text: String::new(),
            candidates: vec![String::new(); req.candidates],
            segments: Vec::with_capacity(paras.len()),
            violations: Vec::new(),
            at: 0,
            pieces: vec![Vec::new(); req.candidates],
        }
    }

    /// Emits the separator before paragraph `p`.
    fn separator(&mut self, p: usize, output: &mut Output<'_>) -> Result<()> {
        let range = &self.paras[p];
        let separator = &self.req.text[self.at..range.start];
        self.at = range.end;
        emit(output, separator)?;
        self.text.push_str(separator);
        self.candidates
            .iter_mut()
            .for_each(|c| c.push_str(separator));
        Ok(())
    }

    /// Emits the copied paragraphs before paragraph `p` (every translated one before it
    /// is done).
    fn copy_until(&mut self, p: usize, output: &mut Output<'_>) -> Result<()> {
        for q in self.segments.len()..p {
            self.separator(q, output)?;
            let range = self.paras[q].clone();
            let source = &self.req.text[range.clone()];
            emit(output, source)?;
            let start = self.text.len();
            self.text.push_str(source);
            self.candidates.iter_mut().for_each(|c| c.push_str(source));
            self.segments.push(Segment {
                range,
                output: start..self.text.len(),
                translated: false,
                consensus: None,
                memory: 0,
            });
        }
        Ok(())
    }

    /// Paragraph `p` is next to stream.
    fn open(&mut self, p: usize, output: &mut Output<'_>) -> Result<()> {
        self.copy_until(p, output)?;
        self.separator(p, output)?;
        if output(Event::Step {
            name: "translate",
            done: p,
            total: self.paras.len(),
        }) {
            Ok(())
        } else {
            Err(EngineError::Cancelled.into())
        }
    }

    /// Call `call`, a piece of paragraph `p`, is done; after its last piece the paragraph's
    /// candidates are reduced to one and it joins the text.
    fn piece_done(
        &mut self,
        p: usize,
        call: usize,
        completions: Vec<Completion>,
        output: &mut Output<'_>,
    ) -> Result<()> {
        for (o, c) in self.pieces.iter_mut().zip(completions) {
            o.push(one_block(&c.text));
        }
        let Plan::Translate {
            terms,
            memory,
            calls,
        } = &self.plans[p]
        else {
            return Ok(());
        };
        if call + 1 < calls.end {
            return Ok(());
        }
        let pieces = std::mem::replace(&mut self.pieces, vec![Vec::new(); self.req.candidates]);
        let joined: Vec<String> = pieces.iter().map(|p| p.join(" ")).collect();
        let k = self.req.candidates;
        let consensus = (k > 1).then(|| mbr(&joined));
        let chosen = joined
            .get(consensus.as_ref().map_or(0, |c| c.chosen))
            .cloned()
            .unwrap_or_default();
        if k > 1 {
            emit(output, &chosen)?;
        }
        self.violations
            .extend(glossary::violations(terms, &chosen, p));
        for (c, j) in self.candidates.iter_mut().zip(&joined) {
            c.push_str(j);
        }
        let start = self.text.len();
        self.text.push_str(&chosen);
        self.segments.push(Segment {
            range: self.paras[p].clone(),
            output: start..self.text.len(),
            translated: true,
            consensus,
            memory: *memory,
        });
        Ok(())
    }
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

/// The whole glossary, when it is short enough to list in every paragraph's prompt.
fn shared_glossary<'r>(
    ctx: &TaskContext<'_>,
    req: &'r ValidTranslateRequest,
) -> Result<Option<Vec<&'r GlossaryEntry>>> {
    if req.glossary.is_empty() {
        return Ok(None);
    }
    let all: Vec<&GlossaryEntry> = req.glossary.iter().collect();
    let tokens = |terms: &[&GlossaryEntry]| -> Result<usize> {
        let vars = prompt_vars(req, "", terms, &[]);
        Ok(ctx.prompt(PromptKind::Translate, req.target, &vars)?.len())
    };
    let listed = tokens(&all)?.saturating_sub(tokens(&[])?);
    let room = SHARED_GLOSSARY_TOKENS.min(ctx.context_length / 8);
    Ok((listed <= room).then_some(all))
}

fn prompt_vars(
    req: &ValidTranslateRequest,
    text: &str,
    terms: &[&GlossaryEntry],
    examples: &[serde_json::Value],
) -> serde_json::Value {
    json!({
        "text": text,
        "source_language": req.source.code(),
        "target_language": req.target.code(),
        "glossary": terms,
        "examples": examples,
    })
}

/// The calls that translate one paragraph: one per piece (one piece unless the paragraph
/// had to be cut to fit the context), each with the k candidates.
fn paragraph_calls(
    ctx: &TaskContext<'_>,
    req: &ValidTranslateRequest,
    source: &str,
    terms: &[&GlossaryEntry],
    examples: &[serde_json::Value],
) -> Result<Vec<GenerationCall>> {
    let vars = |text: &str| prompt_vars(req, text, terms, examples);
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
    pieces
        .iter()
        .map(|piece| {
            let prompt = ctx.prompt(PromptKind::Translate, req.target, &vars(piece))?;
            let max_tokens = output_budget(req, ctx.count(piece));
            ctx.check_fits(prompt.len(), max_tokens, "translate")?;
            Ok(GenerationCall {
                prompt,
                params: GenerationParams {
                    sampling: req.sampling.params.clone(),
                    max_tokens,
                    ..Default::default()
                },
                n: req.candidates,
            })
        })
        .collect()
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
