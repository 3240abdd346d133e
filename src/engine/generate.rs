//! What generation is asked and answers (parameters, completions, streamed deltas), and
//! one sample's decoding state; the loop that runs samples is [`super::scheduler`].

use std::sync::atomic::AtomicU64;

use serde::Serialize;

use super::error::{EngineError, Result};
use super::model::Model;
use super::sampler::{sample, Rng, SamplingParams};
use super::score::ContinuationScores;
use super::stream::TextStream;
use super::tokenizer::Tokenizer;

/// What to generate and when to stop.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerationParams {
    /// How each next token is chosen.
    pub sampling: SamplingParams,
    /// Upper bound on generated tokens per sample.
    pub max_tokens: usize,
    /// Strings that end a sample; they are not part of its text.
    pub stop: Vec<String>,
    /// Keep going past the end-of-sequence token (reference comparisons need this).
    pub ignore_eos: bool,
    /// Record each generated token's log-probability and this many most likely
    /// alternatives (0 to [`MAX_TOP_LOGPROBS`]); `None` records nothing.
    pub logprobs: Option<usize>,
}

/// The most alternatives [`GenerationParams::logprobs`] may ask for (OpenAI's limit).
pub const MAX_TOP_LOGPROBS: usize = 20;

impl Default for GenerationParams {
    fn default() -> Self {
        Self {
            sampling: SamplingParams::default(),
            max_tokens: 256,
            stop: Vec::new(),
            ignore_eos: false,
            logprobs: None,
        }
    }
}

/// Why a sample ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// `max_tokens` reached.
    Length,
    /// The model produced its end-of-sequence token.
    Eos,
    /// A stop string appeared.
    Stop,
}

/// One finished sample.
#[derive(Debug, Clone, Serialize)]
pub struct Completion {
    /// Generated token ids (without the end-of-sequence token).
    pub ids: Vec<u32>,
    /// Their text, cut before any stop string.
    pub text: String,
    /// Why it ended.
    pub finish_reason: FinishReason,
    /// One entry per id when [`GenerationParams::logprobs`] asked for them.
    pub logprobs: Vec<TokenLogprob>,
}

/// A generated token's natural-log probability under the model (its raw distribution:
/// before temperature, penalties and truncation), and the most likely tokens there.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TokenLogprob {
    /// The token.
    pub token: u32,
    /// Its log-probability.
    pub logprob: f32,
    /// The most likely tokens and their log-probabilities, most likely first.
    pub top: Vec<(u32, f32)>,
}

impl TokenLogprob {
    /// The log-softmax of `logits` at `token`, with the `top` most likely tokens.
    pub fn of(logits: &[f32], token: u32, top: usize) -> Self {
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let sum: f64 = logits.iter().map(|&l| f64::from(l - max).exp()).sum();
        let log_z = f64::from(max) + sum.ln();
        let logprob = |id: u32| (f64::from(logits[id as usize]) - log_z) as f32;
        let mut ids: Vec<u32> = (0..logits.len() as u32).collect();
        let top = top.min(ids.len());
        let by_logit = |a: &u32, b: &u32| logits[*b as usize].total_cmp(&logits[*a as usize]);
        if top > 0 && top < ids.len() {
            ids.select_nth_unstable_by(top - 1, by_logit);
        }
        ids.truncate(top);
        ids.sort_by(by_logit);
        Self {
            token,
            logprob: logprob(token),
            top: ids.into_iter().map(|id| (id, logprob(id))).collect(),
        }
    }
}

/// Work counted as it happens (one atomic add per event), so other threads (metrics,
/// tests) see a generation's progress while it runs.
#[derive(Debug, Default)]
pub struct LiveCounters {
    /// Prompts processed.
    pub prefills: AtomicU64,
    /// Prompt tokens processed.
    pub prompt_tokens: AtomicU64,
    /// Of those, tokens whose keys and values came from the prefix cache.
    pub cached_prompt_tokens: AtomicU64,
    /// Decode steps.
    pub decode_steps: AtomicU64,
    /// Tokens generated over all samples.
    pub generated_tokens: AtomicU64,
}

/// Timings of one `generate_n` call, shared by its samples.
#[derive(Debug, Clone, Default, Serialize)]
pub struct GenerationTimings {
    /// Prompt tokens processed.
    pub prompt_tokens: usize,
    /// Of those, the leading tokens whose keys and values came from the prefix cache
    /// instead of being computed.
    pub cached_prompt_tokens: usize,
    /// Seconds spent on the prompt.
    pub prefill_secs: f64,
    /// Decode steps (each advances every live sample by one token).
    pub decode_steps: usize,
    /// Tokens generated over all samples.
    pub generated_tokens: usize,
    /// Seconds spent decoding.
    pub decode_secs: f64,
}

/// A piece of streamed output: sample `sample` produced `token`, and `text` became final.
#[derive(Debug)]
pub struct Delta<'a> {
    /// Which sample (0-based).
    pub sample: usize,
    /// The token just generated.
    pub token: u32,
    /// Newly final text (may be empty while a character or a stop string is pending).
    pub text: &'a str,
    /// The token's log-probability, when the request asked for them (not for the
    /// end-of-sequence token, which is not part of the output).
    pub logprob: Option<&'a TokenLogprob>,
}

/// What the engine reports while it works.
#[derive(Debug)]
pub enum Step<'a> {
    /// `done` of the prompt's `total` tokens are processed; reported between the layers
    /// of every prompt chunk, so a cancelled request stops within a fraction of a chunk.
    Prompt {
        /// Prompt tokens whose chunks are complete.
        done: usize,
        /// The prompt's tokens.
        total: usize,
    },
    /// A token was generated.
    Token(Delta<'a>),
}

/// Receives the engine's steps; returning `false` cancels the whole request.
pub type Sink<'a> = dyn FnMut(Step<'_>) -> bool + 'a;

/// One generation of several submitted together ([`Generator::generate_many`]).
#[derive(Debug, Clone, PartialEq)]
pub struct GenerationCall {
    /// The prompt's ids.
    pub prompt: Vec<u32>,
    /// What to generate.
    pub params: GenerationParams,
    /// Samples from the one prefill.
    pub n: usize,
}

/// What [`Generator::generate_many`] reports: a step of one call, or one call's end.
#[derive(Debug)]
pub enum CallStep<'a> {
    /// Call `call` made progress.
    Step {
        /// The call (its index among those submitted).
        call: usize,
        /// What it did.
        step: Step<'a>,
    },
    /// Call `call` finished.
    Done {
        /// The call.
        call: usize,
        /// Its samples.
        completions: Vec<Completion>,
        /// Its leading prompt tokens that came from a prefix cache.
        cached_prompt_tokens: usize,
    },
}

/// Receives [`CallStep`]s; returning `false` cancels every call still running.
pub type CallSink<'a> = dyn FnMut(CallStep<'_>) -> bool + 'a;

/// What tasks rely on: text from token ids, one sample or many from one prefill.
pub trait Generator {
    /// One sample.
    fn generate(
        &self,
        prompt: &[u32],
        params: &GenerationParams,
        sink: &mut Sink<'_>,
    ) -> Result<Completion> {
        let mut all = self.generate_n(prompt, params, 1, sink)?;
        all.pop().ok_or(EngineError::Cancelled)
    }

    /// `n` samples; the prompt is processed once and the samples decode as one batch.
    fn generate_n(
        &self,
        prompt: &[u32],
        params: &GenerationParams,
        n: usize,
        sink: &mut Sink<'_>,
    ) -> Result<Vec<Completion>>;

    /// Like [`Generator::generate_n`], also saying how many leading prompt tokens came from
    /// a prefix cache instead of being computed (0 for generators without one).
    fn generate_n_reusing(
        &self,
        prompt: &[u32],
        params: &GenerationParams,
        n: usize,
        sink: &mut Sink<'_>,
    ) -> Result<(Vec<Completion>, usize)> {
        Ok((self.generate_n(prompt, params, n, sink)?, 0))
    }

    /// Independent calls at once: a generator that batches (the engine's scheduler) runs
    /// them side by side; this default runs them one after another. Each call's steps and
    /// its end go to `sink`, tagged with its index; the ends may come in any order. The
    /// first error, or `sink` returning `false`, stops the calls still running.
    fn generate_many(&self, calls: &[GenerationCall], sink: &mut CallSink<'_>) -> Result<()> {
        generate_one_by_one(self, calls, 0..calls.len(), sink)
    }

    /// The log-probability of each continuation after `prompt` at `temperature`, from one
    /// prefill (see [`super::score`]). Generators that cannot score say so.
    fn score(
        &self,
        prompt: &[u32],
        continuations: &[Vec<u32>],
        temperature: f32,
        sink: &mut Sink<'_>,
    ) -> Result<ContinuationScores> {
        let _ = (prompt, continuations, temperature, sink);
        Err(EngineError::InvalidParameter(
            "this generator cannot score continuations; use the vote method".into(),
        ))
    }
}

/// Runs `calls` one after another in the order `order` names them, reporting each as
/// [`Generator::generate_many`] does.
pub(crate) fn generate_one_by_one<G: Generator + ?Sized>(
    generator: &G,
    calls: &[GenerationCall],
    order: impl Iterator<Item = usize>,
    sink: &mut CallSink<'_>,
) -> Result<()> {
    for call in order {
        let c = &calls[call];
        let mut steps = |step: Step<'_>| sink(CallStep::Step { call, step });
        let (completions, cached_prompt_tokens) =
            generator.generate_n_reusing(&c.prompt, &c.params, c.n, &mut steps)?;
        let done = CallStep::Done {
            call,
            completions,
            cached_prompt_tokens,
        };
        if !sink(done) {
            return Err(EngineError::Cancelled);
        }
    }
    Ok(())
}

/// One sample as it decodes: its tokens, streamed text, random stream and end.
pub(crate) struct SampleState {
    ids: Vec<u32>,
    seen: Vec<u32>,
    stream: TextStream,
    rng: Rng,
    finish: Option<FinishReason>,
    logprobs: Vec<TokenLogprob>,
}

/// What one [`SampleState::step`] produced.
pub(crate) struct Sampled {
    pub token: u32,
    /// Where the newly final text lies in the sample's text.
    pub text: std::ops::Range<usize>,
    /// Whether the token is the end-of-sequence token (not part of the output).
    pub eos: bool,
}

impl SampleState {
    /// Sample `index` of a request for `prompt` (its own random stream of `seed`).
    pub fn new(prompt: &[u32], seed: u64, index: usize) -> Self {
        Self {
            ids: Vec::new(),
            seen: prompt.to_vec(),
            stream: TextStream::default(),
            rng: Rng::new(seed, index as u64),
            finish: None,
            logprobs: Vec::new(),
        }
    }

    /// Chooses the next token from `logits` (modified in place), extends the text and
    /// decides whether the sample ends here.
    pub fn step(
        &mut self,
        logits: &mut [f32],
        params: &GenerationParams,
        tokenizer: &Tokenizer,
        eos: Option<u32>,
    ) -> Sampled {
        let raw = params.logprobs.map(|_| logits.to_vec());
        let token = sample(logits, &self.seen, &params.sampling, &mut self.rng);
        let before = self.stream.emitted();
        let is_eos = Some(token) == eos;
        if let (Some(raw), Some(top), false) = (raw, params.logprobs, is_eos) {
            self.logprobs.push(TokenLogprob::of(&raw, token, top));
        }
        if is_eos {
            self.finish = Some(FinishReason::Eos);
            self.stream.finish();
        } else {
            self.ids.push(token);
            self.seen.push(token);
            self.stream
                .update(tokenizer.decode(&self.ids), &params.stop);
            if self.stream.stopped() {
                self.finish = Some(FinishReason::Stop);
            } else if self.ids.len() >= params.max_tokens {
                self.finish = Some(FinishReason::Length);
                self.stream.finish();
            }
        }
        Sampled {
            token,
            text: before..self.stream.emitted(),
            eos: is_eos,
        }
    }

    /// The streamed piece of `s`, as a [`Delta`] of sample `sample`.
    pub fn delta(&self, sample: usize, s: &Sampled) -> Delta<'_> {
        Delta {
            sample,
            token: s.token,
            text: &self.stream.text()[s.text.clone()],
            logprob: self.logprobs.last().filter(|_| !s.eos),
        }
    }

    /// Whether the sample has ended.
    pub fn finished(&self) -> bool {
        self.finish.is_some()
    }

    /// The finished sample.
    pub fn into_completion(self) -> Completion {
        Completion {
            text: self.stream.text().to_string(),
            ids: self.ids,
            finish_reason: self.finish.unwrap_or(FinishReason::Length),
            logprobs: self.logprobs,
        }
    }
}

/// Checks a request before any work: sampling parameters, `n`, an empty prompt, the
/// logprob count and the context. `Ok(Some(..))` answers it without the model (`max_tokens`
/// 0: `n` empty completions).
pub(crate) fn check_request(
    model: &Model,
    prompt: &[u32],
    params: &GenerationParams,
    n: usize,
) -> Result<Option<Vec<Completion>>> {
    params
        .sampling
        .validate()
        .map_err(EngineError::InvalidParameter)?;
    if n == 0 {
        return Err(EngineError::InvalidParameter(
            "`n` must be at least 1".into(),
        ));
    }
    if prompt.is_empty() {
        return Err(EngineError::InvalidParameter(
            "the prompt has no tokens".into(),
        ));
    }
    if params.logprobs.is_some_and(|k| k > MAX_TOP_LOGPROBS) {
        return Err(EngineError::InvalidParameter(format!(
            "`top_logprobs` must be at most {MAX_TOP_LOGPROBS}"
        )));
    }
    let context = model.config().context_length;
    if prompt.len() + params.max_tokens > context {
        return Err(EngineError::ContextOverflow {
            prompt_tokens: prompt.len(),
            max_tokens: params.max_tokens,
            context,
        });
    }
    model.check_vocab(prompt.iter())?;
    if params.max_tokens == 0 {
        let empty = Completion {
            ids: Vec::new(),
            text: String::new(),
            finish_reason: FinishReason::Length,
            logprobs: Vec::new(),
        };
        return Ok(Some(vec![empty; n]));
    }
    Ok(None)
}
