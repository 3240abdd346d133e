//! Continuous batching: one thread owns the model and every running sequence (TEI's model
//! thread, vLLM's scheduler loop). Requests join between steps. Each step runs one decode
//! row for every running sample and up to [`SchedulerOptions::step_tokens`] prompt tokens
//! of the requests still in their prompt, all through one [`Model::forward_sequences`];
//! finished and cancelled requests leave at once. A long prompt therefore delays running
//! samples by one chunk per step, never by the whole prompt.
//!
//! Callers stay synchronous ([`Scheduler::generate`] blocks, feeding the request's sink
//! from the events the loop sends), so every task, the CLI and the service share it.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use serde::Serialize;

mod batch_loop;
use batch_loop::Loop;

use super::error::{EngineError, Result};
use super::generate::{
    check_request, CallSink, CallStep, Completion, Delta, GenerationCall, GenerationParams,
    GenerationTimings, LiveCounters, Sink, Step, TokenLogprob,
};
use super::model::Model;
use super::tokenizer::Tokenizer;

/// How much the loop runs at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchedulerOptions {
    /// Samples decoding or prompts in progress at once; more requests wait their turn.
    pub max_sequences: usize,
    /// Prompt tokens per step, over all requests in their prompt.
    pub step_tokens: usize,
    /// Prompt tokens per step while more than one caller is in the batch (each step is one
    /// token of their samples, or the wait of a request that arrives).
    pub step_tokens_shared: usize,
    /// Sequences one caller's parallel calls ([`Scheduler::generate_many`]: the chunks of
    /// a summary, the paragraphs of a translation) keep in the batch at once, so a long
    /// document leaves room for other callers.
    pub sequences_per_caller: usize,
    /// Bytes of keys and values the running sequences may hold; past it, requests wait
    /// (a request alone always runs).
    pub kv_cache_bytes: usize,
    /// Bytes of keys and values kept for prompt prefixes that later prompts may start
    /// with ([`PrefixCache`]); 0 turns prefix reuse off.
    pub prefix_cache_bytes: usize,
}

impl Default for SchedulerOptions {
    fn default() -> Self {
        Self {
            max_sequences: 32,
            step_tokens: 256,
            step_tokens_shared: 16,
            sequences_per_caller: 24,
            kv_cache_bytes: 4 << 30,
            prefix_cache_bytes: 256 << 20,
        }
    }
}

impl SchedulerOptions {
    /// The defaults with `max_sequences` at once, one caller taking up to three quarters of
    /// them (all of them when there is only one).
    pub fn for_sequences(max_sequences: usize) -> Self {
        let max_sequences = max_sequences.max(1);
        Self {
            max_sequences,
            sequences_per_caller: (max_sequences - max_sequences / 4).max(1),
            ..Self::default()
        }
    }
}

/// The loop's state as gauges and totals (read by metrics and `GetModelInfo`).
#[derive(Debug, Default)]
pub struct SchedulerGauges {
    running: AtomicUsize,
    waiting: AtomicUsize,
    steps: AtomicU64,
    batched_rows: AtomicU64,
    kv_bytes: AtomicUsize,
    kv_budget: AtomicUsize,
    prefix_blocks: AtomicUsize,
    prefix_bytes: AtomicUsize,
}

/// A snapshot of [`SchedulerGauges`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SchedulerStats {
    /// Sequences in the batch now (samples decoding, prompts being processed).
    pub running: usize,
    /// Requests waiting for room in the batch.
    pub waiting: usize,
    /// Steps run since loading.
    pub steps: u64,
    /// Sequence rows over all steps (÷ steps: the mean batch).
    pub batched_rows: u64,
    /// Bytes of keys and values the running sequences hold.
    pub kv_bytes: usize,
    /// The most they may hold ([`SchedulerOptions::kv_cache_bytes`]).
    pub kv_budget_bytes: usize,
    /// Prompt-prefix blocks kept for reuse.
    pub prefix_blocks: usize,
    /// Their keys and values, in bytes.
    pub prefix_bytes: usize,
}

impl SchedulerGauges {
    /// The current values.
    pub fn snapshot(&self) -> SchedulerStats {
        SchedulerStats {
            running: self.running.load(Ordering::Relaxed),
            waiting: self.waiting.load(Ordering::Relaxed),
            steps: self.steps.load(Ordering::Relaxed),
            batched_rows: self.batched_rows.load(Ordering::Relaxed),
            kv_bytes: self.kv_bytes.load(Ordering::Relaxed),
            kv_budget_bytes: self.kv_budget.load(Ordering::Relaxed),
            prefix_blocks: self.prefix_blocks.load(Ordering::Relaxed),
            prefix_bytes: self.prefix_bytes.load(Ordering::Relaxed),
        }
    }
}

/// What the loop tells a waiting caller.
enum Event {
    Prompt {
        done: usize,
        total: usize,
    },
    Token {
        sample: usize,
        token: u32,
        text: String,
        logprob: Option<TokenLogprob>,
    },
    Done(Result<(Vec<Completion>, GenerationTimings)>),
}

/// Where a request's events go: the caller's channel, tagged with the call's index.
#[derive(Clone)]
struct Reply {
    call: usize,
    events: Sender<(usize, Event)>,
}

impl Reply {
    /// Sends `event`; `false` when the caller has gone.
    fn send(&self, event: Event) -> bool {
        self.events.send((self.call, event)).is_ok()
    }
}

struct Request {
    prompt: Vec<u32>,
    params: GenerationParams,
    n: usize,
    reply: Reply,
    cancelled: Arc<AtomicBool>,
    /// Which [`Scheduler::run`] sent it: a caller's requests are one document's calls.
    caller: u64,
}

impl Request {
    /// Positions its cache holds: the prompt and every sample's output.
    fn capacity(&self) -> usize {
        self.prompt.len() + self.params.max_tokens
    }
}

/// What a call's caller hears from [`Scheduler::run`].
enum Heard<'a> {
    Step(Step<'a>),
    Done(Vec<Completion>, GenerationTimings),
}

/// The handle callers hold; dropping it ends the loop once its requests are done.
pub struct Scheduler {
    submit: Option<Sender<Request>>,
    thread: Option<JoinHandle<()>>,
    gauges: Arc<SchedulerGauges>,
    model: Arc<Model>,
    sequences_per_caller: usize,
    callers: AtomicU64,
}

/// How often a waiting caller checks that the loop still runs.
const ALIVE_CHECK: Duration = Duration::from_secs(1);

impl Scheduler {
    /// Starts the loop on its own thread.
    pub fn start(
        model: Arc<Model>,
        tokenizer: Arc<Tokenizer>,
        counters: Arc<LiveCounters>,
        options: SchedulerOptions,
    ) -> Result<Self> {
        let (submit, requests) = channel();
        let gauges = Arc::new(SchedulerGauges::default());
        gauges
            .kv_budget
            .store(options.kv_cache_bytes, Ordering::Relaxed);
        let looped = Loop::new(model.clone(), tokenizer, counters, options, gauges.clone());
        let thread = std::thread::Builder::new()
            .name("sofer-scheduler".into())
            .spawn(move || looped.run(&requests))
            .map_err(|e| EngineError::Batch(format!("cannot start the scheduler thread: {e}")))?;
        Ok(Self {
            submit: Some(submit),
            thread: Some(thread),
            gauges,
            model,
            sequences_per_caller: options.sequences_per_caller.max(1),
            callers: AtomicU64::new(0),
        })
    }

    /// The loop's gauges.
    pub fn stats(&self) -> SchedulerStats {
        self.gauges.snapshot()
    }

    /// `n` samples of `prompt`, batched with whatever else runs; blocks until they are done.
    /// `sink` sees the prompt's progress and every token; returning `false` cancels (the
    /// loop drops the request at its next layer boundary).
    pub fn generate(
        &self,
        prompt: &[u32],
        params: &GenerationParams,
        n: usize,
        sink: &mut Sink<'_>,
    ) -> Result<(Vec<Completion>, GenerationTimings)> {
        let call = GenerationCall {
            prompt: prompt.to_vec(),
            params: params.clone(),
            n,
        };
        let mut answer = None;
        self.run(std::slice::from_ref(&call), &mut |_, heard| match heard {
            Heard::Step(step) => sink(step),
            Heard::Done(completions, timings) => {
                answer = Some((completions, timings));
                true
            }
        })?;
        answer.ok_or(EngineError::Cancelled)
    }

    /// Independent calls side by side in the batch, at most
    /// [`SchedulerOptions::sequences_per_caller`] sequences at a time (the next call joins
    /// as one ends, the calls with the most output tokens first); blocks until all are done.
    /// See [`super::Generator::generate_many`].
    pub fn generate_many(&self, calls: &[GenerationCall], sink: &mut CallSink<'_>) -> Result<()> {
        self.run(calls, &mut |call, heard| match heard {
            Heard::Step(step) => sink(CallStep::Step { call, step }),
            Heard::Done(completions, timings) => sink(CallStep::Done {
                call,
                completions,
                cached_prompt_tokens: timings.cached_prompt_tokens,
            }),
        })
    }

    /// Submits `calls` within the caller's window and passes on what the loop says, until
    /// every call is answered, one fails, or `heard` returns `false` (the rest are
    /// cancelled then).
    fn run(
        &self,
        calls: &[GenerationCall],
        heard: &mut dyn FnMut(usize, Heard<'_>) -> bool,
    ) -> Result<()> {
        let mut ready = Vec::with_capacity(calls.len());
        for c in calls {
            ready.push(check_request(&self.model, &c.prompt, &c.params, c.n)?);
        }
        let stopped = || EngineError::Batch("the scheduler has stopped".into());
        let submit = self.submit.as_ref().ok_or_else(stopped)?;
        let (events, received) = channel();
        let cancelled = Arc::new(AtomicBool::new(false));
        let caller = self.callers.fetch_add(1, Ordering::Relaxed);
        let cancel = |e: EngineError| {
            cancelled.store(true, Ordering::Relaxed);
            Err(e)
        };
        let order = longest_first(calls);
        let (mut next, mut in_flight, mut left) = (0, 0, calls.len());
        loop {
            while let Some(&at) = order.get(next) {
                let call = &calls[at];
                if in_flight > 0 && in_flight + call.n > self.sequences_per_caller {
                    break;
                }
                if let Some(empty) = ready[at].take() {
                    left -= 1;
                    if !heard(at, Heard::Done(empty, GenerationTimings::default())) {
                        return cancel(EngineError::Cancelled);
                    }
                } else {
                    let request = Request {
                        prompt: call.prompt.clone(),
                        params: call.params.clone(),
                        n: call.n,
                        reply: Reply {
                            call: at,
                            events: events.clone(),
                        },
                        cancelled: cancelled.clone(),
                        caller,
                    };
                    if submit.send(request).is_err() {
                        return cancel(stopped());
                    }
                    in_flight += call.n;
                }
                next += 1;
            }
            if left == 0 {
                return Ok(());
            }
            let (call, event) = match received.recv_timeout(ALIVE_CHECK) {
                Ok(got) => got,
                Err(_) if self.thread.as_ref().is_some_and(|t| !t.is_finished()) => continue,
                Err(_) => return cancel(stopped()),
            };
            let go_on = match event {
                Event::Prompt { done, total } => {
                    heard(call, Heard::Step(Step::Prompt { done, total }))
                }
                Event::Token {
                    sample,
                    token,
                    text,
                    logprob,
                } => heard(
                    call,
                    Heard::Step(Step::Token(Delta {
                        sample,
                        token,
                        text: &text,
                        logprob: logprob.as_ref(),
                    })),
                ),
                Event::Done(Ok((completions, timings))) => {
                    in_flight -= calls[call].n;
                    left -= 1;
                    heard(call, Heard::Done(completions, timings))
                }
                Event::Done(Err(e)) => return cancel(e),
            };
            if !go_on {
                return cancel(EngineError::Cancelled);
            }
        }
    }
}

/// The order a caller's calls join the batch in: the most output tokens first (then the
/// longest prompt), so that the call taking the most steps does not start last and finish
/// alone after the others; stable among equals.
fn longest_first(calls: &[GenerationCall]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..calls.len()).collect();
    order.sort_by_key(|&i| {
        let c = &calls[i];
        std::cmp::Reverse((c.params.max_tokens, c.prompt.len()))
    });
    order
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        self.submit = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
