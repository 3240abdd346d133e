//! The loop that owns the model: admits waiting requests within the sequence and KV
//! budgets, builds each step's rows (one decode row per running sample, prompt chunks
//! shortest first), runs them through one forward pass and sends each request its events.

use std::collections::{HashSet, VecDeque};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Event, Reply, Request, SchedulerGauges, SchedulerOptions};
use crate::engine::error::{EngineError, Result};
use crate::engine::generate::{Completion, GenerationTimings, LiveCounters, SampleState, Sampled};
use crate::engine::model::{KvCache, Model, SequenceStep, SHARE_ALIGN};
use crate::engine::prefix_cache::{block_at, BlockKey, PrefixCache};
use crate::engine::tokenizer::Tokenizer;

/// A request in the batch: its prompt in progress, then its samples.
struct Job {
    request: Request,
    eos: Option<u32>,
    /// The prompt's cache and tokens done, until the prompt is through.
    prompt: Option<(KvCache, usize)>,
    samples: Vec<Sample>,
    completions: Vec<Option<Completion>>,
    timings: GenerationTimings,
    started: Instant,
    decode_started: Option<Instant>,
}

struct Sample {
    index: usize,
    state: SampleState,
    cache: KvCache,
    /// The token to feed next.
    next: u32,
}

impl Job {
    fn sequences(&self) -> usize {
        if self.prompt.is_some() {
            self.request.n
        } else {
            self.samples.len()
        }
    }

    /// Cache positions the job holds storage for: what its samples will need while the
    /// prompt runs, then each running sample's own positions, and the prompt's cache while
    /// others still read it.
    fn kv_positions(&self) -> usize {
        if self.prompt.is_some() {
            return kv_positions_needed(&self.request);
        }
        let own: usize = self.samples.iter().map(|s| s.cache.own_capacity()).sum();
        if !self.samples.is_empty() && self.samples.iter().all(|s| s.cache.is_sharing()) {
            // The prompt's sample has finished; its storage lives on in the others.
            own + self.request.capacity()
        } else {
            own
        }
    }

    fn is_cancelled(&self) -> bool {
        self.request.cancelled.load(Ordering::Relaxed)
    }

    fn send(&self, event: Event) {
        if !self.request.reply.send(event) {
            // The caller has gone: nobody wants the rest.
            self.request.cancelled.store(true, Ordering::Relaxed);
        }
    }

    fn is_done(&self) -> bool {
        self.prompt.is_none() && self.samples.is_empty()
    }

    /// Finished samples leave the batch; their completions are kept for the answer.
    fn collect_finished(&mut self) {
        let (finished, running): (Vec<Sample>, Vec<Sample>) = std::mem::take(&mut self.samples)
            .into_iter()
            .partition(|s| s.state.finished());
        for sample in finished {
            self.completions[sample.index] = Some(sample.state.into_completion());
        }
        self.samples = running;
    }
}

/// Cache positions `request` needs: its prompt's cache, which its first sample goes on in,
/// and for each other sample the positions past the prompt's shared part.
fn kv_positions_needed(request: &Request) -> usize {
    let capacity = request.capacity();
    let shared = request.prompt.len() / SHARE_ALIGN * SHARE_ALIGN;
    let others = request.n.saturating_sub(1);
    capacity.saturating_add(others.saturating_mul(capacity - shared.min(capacity)))
}

/// Per step row, its last token's logits when they were asked for.
type StepLogits = Vec<Option<Vec<f32>>>;

/// A request in a step: whom to tell about prompt progress (`(done, total)` when its prompt
/// is in the step), and whose cancellation counts.
struct Watcher {
    reply: Reply,
    cancelled: Arc<AtomicBool>,
    progress: Option<(usize, usize)>,
}

/// Who owns each row of a step: a decode row of `(job, sample)`, or `len` prompt tokens.
enum Row {
    Decode { job: usize, sample: usize },
    Prompt { job: usize, len: usize },
}

pub(super) struct Loop {
    model: Arc<Model>,
    tokenizer: Arc<Tokenizer>,
    counters: Arc<LiveCounters>,
    options: SchedulerOptions,
    gauges: Arc<SchedulerGauges>,
    pending: VecDeque<Request>,
    jobs: Vec<Job>,
    prefix: PrefixCache,
    kv_bytes_per_position: usize,
    /// Until when the batch counts as shared: a second caller was in it or waiting less
    /// than [`SHARED_LINGER`] ago.
    shared_until: Option<Instant>,
}

/// How long the batch stays shared after a second caller was seen: a short request that
/// arrives between others must not find a long prompt's whole chunk in its way.
const SHARED_LINGER: Duration = Duration::from_secs(1);

impl Loop {
    pub(super) fn new(
        model: Arc<Model>,
        tokenizer: Arc<Tokenizer>,
        counters: Arc<LiveCounters>,
        options: SchedulerOptions,
        gauges: Arc<SchedulerGauges>,
    ) -> Self {
        Self {
            kv_bytes_per_position: model.kv_bytes_per_position(),
            model,
            tokenizer,
            counters,
            options: SchedulerOptions {
                max_sequences: options.max_sequences.max(1),
                step_tokens: options.step_tokens.max(1),
                step_tokens_shared: options.step_tokens_shared.max(1),
                ..options
            },
            prefix: PrefixCache::new(options.prefix_cache_bytes),
            gauges,
            pending: VecDeque::new(),
            jobs: Vec::new(),
            shared_until: None,
        }
    }

    pub(super) fn run(mut self, requests: &Receiver<Request>) {
        loop {
            if self.jobs.is_empty() && self.pending.is_empty() {
                match requests.recv() {
                    Ok(r) => self.pending.push_back(r),
                    Err(_) => return,
                }
            }
            self.pending.extend(requests.try_iter());
            self.admit();
            self.catch_up();
            self.note_callers();
            self.leave_cancelled();
            if self.jobs.is_empty() {
                continue;
            }
            if catch_unwind(AssertUnwindSafe(|| self.step())).is_err() {
                tracing::error!("a batched step panicked; its requests fail, the loop goes on");
                for job in self.jobs.drain(..) {
                    job.send(Event::Done(Err(EngineError::Batch(
                        "a batched step panicked".into(),
                    ))));
                }
            }
            self.finish_done();
        }
    }

    fn kv_bytes_used(&self) -> usize {
        self.jobs
            .iter()
            .map(Job::kv_positions)
            .sum::<usize>()
            .saturating_mul(self.kv_bytes_per_position)
    }

    /// Moves waiting requests into the batch while there are sequences and KV memory free
    /// (a request alone always fits, whatever its `n` and length).
    fn admit(&mut self) {
        let mut used: usize = self.jobs.iter().map(Job::sequences).sum();
        let mut bytes = self.kv_bytes_used();
        while let Some(request) = self.pending.front() {
            let needs = kv_positions_needed(request).saturating_mul(self.kv_bytes_per_position);
            if used > 0
                && (used + request.n > self.options.max_sequences
                    || bytes.saturating_add(needs) > self.options.kv_cache_bytes)
            {
                break;
            }
            let Some(request) = self.pending.pop_front() else {
                break;
            };
            if request.cancelled.load(Ordering::Relaxed) {
                continue;
            }
            used += request.n;
            bytes = bytes.saturating_add(needs);
            // Empty: `catch_up` fills it with the stored blocks its prompt starts with.
            let cache = match self.model.new_cache(1, request.capacity()) {
                Ok(c) => c,
                Err(e) => {
                    let _ = request.reply.send(Event::Done(Err(e)));
                    continue;
                }
            };
            let eos = if request.params.ignore_eos {
                None
            } else {
                self.tokenizer.eos_id()
            };
            self.jobs.push(Job {
                completions: vec![None; request.n],
                request,
                eos,
                prompt: Some((cache, 0)),
                samples: Vec::new(),
                timings: GenerationTimings::default(),
                started: Instant::now(),
                decode_started: None,
            });
        }
        self.publish();
    }

    fn leave_cancelled(&mut self) {
        self.jobs.retain(|job| {
            let cancelled = job.is_cancelled();
            if cancelled {
                job.send(Event::Done(Err(EngineError::Cancelled)));
            }
            !cancelled
        });
        self.publish();
    }

    /// One batched forward pass and what follows from its logits.
    fn step(&mut self) {
        let (rows, logits) = match self.forward() {
            Ok(out) => out,
            // Everyone in the step has cancelled: they leave before the next one.
            Err(EngineError::Cancelled) => return,
            Err(e) if self.jobs.len() == 1 => {
                self.jobs[0].send(Event::Done(Err(e)));
                self.jobs.clear();
                return;
            }
            Err(e) => {
                let message = e.to_string();
                for job in self.jobs.drain(..) {
                    job.send(Event::Done(Err(EngineError::Batch(message.clone()))));
                }
                return;
            }
        };
        let decoded = rows.iter().any(|r| matches!(r, Row::Decode { .. }));
        if decoded {
            self.counters.decode_steps.fetch_add(1, Ordering::Relaxed);
        }
        let mut counted = vec![false; self.jobs.len()];
        for (row, logits) in rows.into_iter().zip(logits) {
            match row {
                Row::Decode { job, sample } => {
                    if !counted[job] {
                        counted[job] = true;
                        self.jobs[job].timings.decode_steps += 1;
                    }
                    let Some(mut logits) = logits else { continue };
                    self.decode(job, sample, &mut logits);
                }
                Row::Prompt { job, len } => self.prompt_done(job, len, logits),
            }
        }
        for job in &mut self.jobs {
            job.collect_finished();
        }
    }

    /// Marks the batch shared while requests of more than one caller are in it or wait.
    fn note_callers(&mut self) {
        let mut callers = (self.jobs.iter().map(|j| &j.request))
            .chain(&self.pending)
            .map(|r| r.caller);
        let Some(first) = callers.next() else { return };
        if callers.any(|c| c != first) {
            self.shared_until = Some(Instant::now() + SHARED_LINGER);
        }
    }

    /// How many prompt tokens of each job this step runs, the shortest prompts first so a
    /// short request is not stuck behind a long document's. Alone in the batch, a caller's
    /// prompts (one document's chunks or paragraphs) share [`SchedulerOptions::step_tokens`]
    /// per step, its decode rows riding along. While the batch is shared between callers,
    /// a long prompt gets only [`SchedulerOptions::step_tokens_shared`] per step, so it
    /// delays the others' next tokens, and a request arriving, by a small chunk; while
    /// samples decode, the shortest prompt runs whole instead when it fits in `step_tokens`
    /// (and nothing else: a step stays short for them); while none does, the prompts that
    /// fit in `step_tokens` together run whole.
    fn prompt_chunks(&self) -> Vec<usize> {
        let mut remaining: Vec<(usize, usize)> = self
            .jobs
            .iter()
            .enumerate()
            .filter_map(|(j, job)| {
                let (_, done) = job.prompt.as_ref()?;
                Some((job.request.prompt.len() - done, j))
            })
            .collect();
        remaining.sort_unstable();
        let shared = self.shared_until.is_some_and(|t| Instant::now() < t);
        let decoding = self.jobs.iter().any(|job| !job.samples.is_empty());
        let step = self.options.step_tokens;
        let (mut whole_room, mut budget) = if !shared {
            (0, step)
        } else if decoding {
            // The shortest prompt whole if it fits, else a small chunk of it.
            let shortest = remaining.first().map_or(0, |&(left, _)| left);
            let whole = if shortest <= step { shortest } else { 0 };
            (0, self.options.step_tokens_shared.max(whole))
        } else {
            (step, self.options.step_tokens_shared)
        };
        let mut chunks = vec![0; self.jobs.len()];
        let mut computing = HashSet::new();
        for (left, j) in remaining {
            if let Some(block) = self.shared_block(j) {
                if !computing.insert(block) {
                    continue;
                }
            }
            if left <= whole_room {
                chunks[j] = left;
                whole_room -= left;
            } else {
                chunks[j] = budget.min(left);
                budget -= chunks[j];
            }
        }
        chunks
    }

    /// The block job `j`'s prompt computes next, when another prompt beside it may store
    /// it first: a prompt whose next block another in the step computes waits a step,
    /// then takes the stored block ([`Self::catch_up`]) instead of computing it again.
    fn shared_block(&self, j: usize) -> Option<BlockKey> {
        let (_, done) = self.jobs[j].prompt.as_ref()?;
        if !self.prefix.is_on() {
            return None;
        }
        block_at(&self.jobs[j].request.prompt, *done)
    }

    /// Prompts in progress take the stored blocks that continue them: the blocks their
    /// prompt starts with when they join, and those another prompt sharing their start
    /// computed since.
    fn catch_up(&mut self) {
        for job in &mut self.jobs {
            let Some((cache, done)) = job.prompt.as_mut() else {
                continue;
            };
            let before = cache.len();
            if let Err(e) = self.prefix.restore(&job.request.prompt, cache) {
                tracing::warn!(error = %e, "stored prefix not restored; computing it");
            }
            // The blocks copied before an error are whole and stay.
            let added = cache.len() - before;
            if added > 0 {
                *done += added;
                job.timings.cached_prompt_tokens += added;
                let (done, total) = (*done, job.request.prompt.len());
                job.send(Event::Prompt { done, total });
            }
        }
    }

    /// Builds and runs the step: every running sample's next token, then prompt chunks.
    fn forward(&mut self) -> Result<(Vec<Row>, StepLogits)> {
        let mut rows = Vec::new();
        let mut steps: Vec<SequenceStep<'_>> = Vec::new();
        let mut watchers: Vec<Watcher> = Vec::new();
        let chunks = self.prompt_chunks();
        for (j, job) in self.jobs.iter_mut().enumerate() {
            let request = &job.request;
            let mut progress = None;
            let decoding = !job.samples.is_empty();
            for (s, sample) in job.samples.iter_mut().enumerate() {
                rows.push(Row::Decode { job: j, sample: s });
                steps.push(SequenceStep {
                    tokens: std::slice::from_ref(&sample.next),
                    cache: &mut sample.cache,
                    logits: true,
                    prompt: false,
                });
            }
            if let Some((cache, done)) = job.prompt.as_mut() {
                let total = request.prompt.len();
                let len = chunks[j];
                if len > 0 {
                    rows.push(Row::Prompt { job: j, len });
                    steps.push(SequenceStep {
                        tokens: &request.prompt[*done..*done + len],
                        cache,
                        logits: *done + len == total,
                        prompt: true,
                    });
                    progress = Some((*done, total));
                }
            }
            if decoding || progress.is_some() {
                watchers.push(Watcher {
                    reply: request.reply.clone(),
                    cancelled: request.cancelled.clone(),
                    progress,
                });
            }
        }
        if steps.is_empty() {
            return Ok((rows, Vec::new()));
        }
        self.gauges.steps.fetch_add(1, Ordering::Relaxed);
        self.gauges
            .batched_rows
            .fetch_add(steps.len() as u64, Ordering::Relaxed);
        let mut go_on = || {
            for w in &watchers {
                if let Some((done, total)) = w.progress {
                    let _ = w.reply.send(Event::Prompt { done, total });
                }
            }
            !watchers.iter().all(|w| w.cancelled.load(Ordering::Relaxed))
        };
        let started = Instant::now();
        let prompt_tokens: usize = steps
            .iter()
            .filter(|s| s.prompt)
            .map(|s| s.tokens.len())
            .sum();
        let sequences = steps.len();
        let logits = self.model.forward_sequences(&mut steps, &mut go_on)?;
        tracing::debug!(
            sequences,
            prompt_tokens,
            ms = started.elapsed().as_secs_f64() * 1000.0,
            "step"
        );
        Ok((rows, logits))
    }

    fn decode(&mut self, j: usize, s: usize, logits: &mut [f32]) {
        let job = &mut self.jobs[j];
        let sample = &mut job.samples[s];
        let sampled = sample
            .state
            .step(logits, &job.request.params, &self.tokenizer, job.eos);
        sample.next = sampled.token;
        let event = token_event(&sample.state, sample.index, &sampled);
        job.timings.generated_tokens += 1;
        job.send(event);
        self.counters
            .generated_tokens
            .fetch_add(1, Ordering::Relaxed);
    }

    /// `len` more prompt tokens of job `j` are cached; at the prompt's end its samples start
    /// from `logits`: the first goes on in the prompt's cache, the others share its positions
    /// ([`KvCache::share`]).
    fn prompt_done(&mut self, j: usize, len: usize, logits: Option<Vec<f32>>) {
        let job = &mut self.jobs[j];
        let Some((_, done)) = job.prompt.as_mut() else {
            return;
        };
        *done += len;
        let (done, total) = (*done, job.request.prompt.len());
        if let Some((cache, _)) = job.prompt.as_ref() {
            if let Err(e) = self.prefix.store(&job.request.prompt[..done], cache) {
                tracing::warn!(error = %e, "prompt prefix not stored for reuse");
            }
        }
        job.send(Event::Prompt { done, total });
        let Some(first) = logits else { return };
        let Some((cache, _)) = job.prompt.take() else {
            return;
        };
        job.timings.prompt_tokens = total;
        job.timings.prefill_secs = job.started.elapsed().as_secs_f64();
        job.decode_started = Some(Instant::now());
        self.counters.prefills.fetch_add(1, Ordering::Relaxed);
        self.counters
            .prompt_tokens
            .fetch_add(total as u64, Ordering::Relaxed);
        self.counters
            .cached_prompt_tokens
            .fetch_add(job.timings.cached_prompt_tokens as u64, Ordering::Relaxed);
        let n = job.request.n;
        let sharing = match (1..n)
            .map(|_| cache.share())
            .collect::<candle_core::Result<Vec<_>>>()
        {
            Ok(sharing) => sharing,
            Err(e) => {
                // Answered here; `finish_done` drops it without a second answer.
                job.send(Event::Done(Err(EngineError::Compute(e))));
                job.request.cancelled.store(true, Ordering::Relaxed);
                return;
            }
        };
        let seed = job.request.params.sampling.seed;
        for (index, cache) in std::iter::once(cache).chain(sharing).enumerate() {
            job.samples.push(Sample {
                index,
                state: SampleState::new(&job.request.prompt, seed, index),
                cache,
                next: 0,
            });
        }
        for s in 0..n {
            let mut logits = first.clone();
            self.decode(j, s, &mut logits);
        }
    }

    /// Removes the requests whose samples have all finished, then answers them (so the
    /// gauges no longer count a request its caller sees as done).
    fn finish_done(&mut self) {
        let mut answers = Vec::new();
        self.jobs.retain_mut(|job| {
            if !job.is_done() {
                return true;
            }
            if job.is_cancelled() {
                return false;
            }
            job.timings.decode_secs = job
                .decode_started
                .map_or(0.0, |t| t.elapsed().as_secs_f64());
            let completions: Vec<Completion> =
                job.completions.iter_mut().flat_map(Option::take).collect();
            answers.push((job.request.reply.clone(), completions, job.timings.clone()));
            false
        });
        self.publish();
        for (reply, completions, timings) in answers {
            let _ = reply.send(Event::Done(Ok((completions, timings))));
        }
    }

    fn publish(&self) {
        let running: usize = self.jobs.iter().map(Job::sequences).sum();
        self.gauges.running.store(running, Ordering::Relaxed);
        self.gauges
            .kv_bytes
            .store(self.kv_bytes_used(), Ordering::Relaxed);
        self.gauges
            .waiting
            .store(self.pending.len(), Ordering::Relaxed);
        let prefix = self.prefix.usage();
        self.gauges
            .prefix_blocks
            .store(prefix.blocks, Ordering::Relaxed);
        self.gauges
            .prefix_bytes
            .store(prefix.bytes, Ordering::Relaxed);
    }
}

fn token_event(state: &SampleState, index: usize, sampled: &Sampled) -> Event {
    let delta = state.delta(index, sampled);
    Event::Token {
        sample: index,
        token: delta.token,
        text: delta.text.to_string(),
        logprob: delta.logprob.cloned(),
    }
}
