//! What every task runs with: a generator, the tokenizer and chat format of its model,
//! the prompt templates, and optionally a retriever; plus the usage it reports.

use std::time::Instant;

use serde::Serialize;

use super::error::{Result, TaskError};
use crate::engine::generate::Step;
use crate::engine::tokenizer::Tokenizer;
use crate::engine::{Completion, ContinuationScores, GenerationParams, Generator, TokenLogprob};
use crate::prompt::{ChatFormat, EncodeOptions, Language, PromptKind, PromptSet, Role};
use crate::retrieval::Retriever;
use crate::text::{EstimatedTokens, TokenCounter};

/// Something a running task tells its caller.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Event<'a> {
    /// Newly final text of the task's answer, in order (the streamed output).
    Text(&'a str),
    /// A token of one of several samples streamed side by side (raw completions): its
    /// newly final text (possibly empty) and, when asked for, its log-probability.
    Choice {
        /// The sample (0-based).
        index: usize,
        /// Newly final text.
        text: &'a str,
        /// The token's log-probability.
        logprob: Option<&'a TokenLogprob>,
    },
    /// One step of a multi-step task is about to run (`map` 3 of 12, `reduce`, …).
    Step {
        /// The step's name: "map", "reduce", "translate", "classify".
        name: &'static str,
        /// Steps of this name done so far.
        done: usize,
        /// Steps of this name planned.
        total: usize,
    },
    /// A token was generated that is not streamed (a map step, a vote); lets the caller
    /// cancel within one token.
    Token,
    /// Part of a prompt was processed (`done` of `total` tokens); lets the caller cancel
    /// a long prompt within a fraction of a chunk.
    Prompt {
        /// Prompt tokens processed.
        done: usize,
        /// The prompt's tokens.
        total: usize,
    },
}

/// Receives a task's events; returning `false` cancels the task.
pub type Output<'a> = dyn FnMut(Event<'_>) -> bool + 'a;

/// What a task cost.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Usage {
    /// Prompt tokens over all generation calls.
    pub prompt_tokens: usize,
    /// Of those, the tokens whose keys and values the engine reused from its prefix cache
    /// (instructions and system prompts shared with earlier calls) instead of computing.
    pub cached_prompt_tokens: usize,
    /// Generated tokens over all calls and samples.
    pub completion_tokens: usize,
    /// Pieces the document was cut into (map chunks, translated segments; 1 otherwise).
    pub chunks: usize,
    /// Generation calls, each one prefill (k samples of one call share it).
    pub prefills: usize,
    /// Wall time of the task in milliseconds.
    pub ms: u64,
}

/// Counts tokens with the model's tokenizer (the estimate if it fails on some text).
#[derive(Clone, Copy)]
pub struct TokenizerCounter<'a>(pub &'a Tokenizer);

impl TokenCounter for TokenizerCounter<'_> {
    fn count(&self, text: &str) -> usize {
        match self.0.encode(text, false) {
            Ok(ids) => ids.len(),
            Err(_) => EstimatedTokens.count(text),
        }
    }
}

/// The model, prompts and retrieval a task runs with.
#[derive(Clone, Copy)]
pub struct TaskContext<'a> {
    /// Produces the text (the engine, or a scripted fake in unit tests).
    pub generator: &'a dyn Generator,
    /// The model's tokenizer, for prompts and token budgets.
    pub tokenizer: &'a Tokenizer,
    /// How the model wants conversations laid out.
    pub format: &'a ChatFormat,
    /// The task templates.
    pub prompts: &'a PromptSet,
    /// The model's context length in tokens (prompt plus output).
    pub context_length: usize,
    /// Where context passages, translation memory and labelled examples come from.
    pub retriever: Option<&'a dyn Retriever>,
}

impl TaskContext<'_> {
    /// Tokens `text` costs.
    pub fn count(&self, text: &str) -> usize {
        TokenizerCounter(self.tokenizer).count(text)
    }

    /// Renders a task prompt to the ids the engine sees.
    pub fn prompt<V: Serialize>(
        &self,
        kind: PromptKind,
        lang: Language,
        vars: &V,
    ) -> Result<Vec<u32>> {
        let messages = self.prompts.render(kind, lang, vars)?;
        let options = EncodeOptions::for_task(&messages);
        let rendered = self.format.encode(self.tokenizer, &messages, options)?;
        Ok(rendered.ids)
    }

    /// The answer prefix a task prompt ends with (the template's `answer`, e.g. `Label:`),
    /// when it has one.
    pub fn answer<V: Serialize>(
        &self,
        kind: PromptKind,
        lang: Language,
        vars: &V,
    ) -> Result<Option<String>> {
        let messages = self.prompts.render(kind, lang, vars)?;
        Ok(messages
            .last()
            .filter(|m| m.role == Role::Assistant)
            .map(|m| m.content.clone()))
    }

    /// Fails with [`TaskError::DoesNotFit`] unless `prompt_tokens + max_tokens` fits.
    pub fn check_fits(&self, prompt_tokens: usize, max_tokens: usize, what: &str) -> Result<()> {
        if prompt_tokens + max_tokens > self.context_length {
            return Err(TaskError::DoesNotFit {
                context: self.context_length,
                detail: format!(
                    "{what}: a prompt of {prompt_tokens} tokens plus {max_tokens} output tokens"
                ),
            });
        }
        Ok(())
    }

    /// Runs `n` samples of `prompt` from one prefill, adding their cost to `usage`.
    /// With `stream`, sample 0's text goes to `output` as [`Event::Text`]; otherwise every
    /// token is reported as [`Event::Token`] so the caller can still cancel.
    pub fn generate(
        &self,
        prompt: &[u32],
        params: &GenerationParams,
        n: usize,
        stream: bool,
        output: &mut Output<'_>,
        usage: &mut Usage,
    ) -> Result<Vec<Completion>> {
        let mut sink = |step: Step<'_>| match step {
            Step::Prompt { done, total } => output(Event::Prompt { done, total }),
            Step::Token(_) if !stream => output(Event::Token),
            Step::Token(delta) if delta.sample == 0 && !delta.text.is_empty() => {
                output(Event::Text(delta.text))
            }
            Step::Token(_) => true,
        };
        self.run(prompt, params, n, &mut sink, usage)
    }

    /// Runs `n` samples of `prompt` from one prefill, adding their cost to `usage`; every
    /// token of every sample goes to `output` as [`Event::Choice`].
    pub fn generate_choices(
        &self,
        prompt: &[u32],
        params: &GenerationParams,
        n: usize,
        output: &mut Output<'_>,
        usage: &mut Usage,
    ) -> Result<Vec<Completion>> {
        let mut sink = |step: Step<'_>| match step {
            Step::Prompt { done, total } => output(Event::Prompt { done, total }),
            Step::Token(delta) => output(Event::Choice {
                index: delta.sample,
                text: delta.text,
                logprob: delta.logprob,
            }),
        };
        self.run(prompt, params, n, &mut sink, usage)
    }

    /// `n` samples of `prompt` through `sink`, their cost added to `usage`.
    fn run(
        &self,
        prompt: &[u32],
        params: &GenerationParams,
        n: usize,
        sink: &mut dyn FnMut(Step<'_>) -> bool,
        usage: &mut Usage,
    ) -> Result<Vec<Completion>> {
        let (completions, cached) = self.generator.generate_n_reusing(prompt, params, n, sink)?;
        usage.prefills += 1;
        usage.prompt_tokens += prompt.len();
        usage.cached_prompt_tokens += cached;
        usage.completion_tokens += completions.iter().map(|c| c.ids.len()).sum::<usize>();
        Ok(completions)
    }

    /// The log-probability of each continuation after `prompt` from one prefill, adding
    /// its cost to `usage`; the prompt's progress goes to `output` so the caller can cancel.
    pub fn score(
        &self,
        prompt: &[u32],
        continuations: &[Vec<u32>],
        temperature: f32,
        output: &mut Output<'_>,
        usage: &mut Usage,
    ) -> Result<ContinuationScores> {
        let mut sink = |step: Step<'_>| match step {
            Step::Prompt { done, total } => output(Event::Prompt { done, total }),
            Step::Token(_) => output(Event::Token),
        };
        let scores = self
            .generator
            .score(prompt, continuations, temperature, &mut sink)?;
        usage.prefills += 1;
        usage.prompt_tokens += prompt.len();
        Ok(scores)
    }
}

/// Measures a task's wall time into [`Usage::ms`].
pub(crate) struct Stopwatch(Instant);

impl Stopwatch {
    /// Starts now.
    pub(crate) fn start() -> Self {
        Self(Instant::now())
    }

    /// Milliseconds since the start.
    pub(crate) fn ms(&self) -> u64 {
        self.0.elapsed().as_millis() as u64
    }
}
