//! The continuous-batching scheduler and the batched step under it, on the synthesized tiny
//! Mixtral: several sequences in one forward pass get the logits each gets alone; requests
//! from several threads share steps and get the text each gets alone; a long prompt joins
//! a running request without stopping it; one request's cancellation leaves the others
//! alone; bad steps are typed errors.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};

use common::{prompt_ids, sampled, tiny_gguf};
use sofer::engine::generate::{CallStep, Step};
use sofer::engine::model::{KvCache, Model, SequenceStep};
use sofer::engine::scheduler::SchedulerOptions;
use sofer::engine::{
    Completion, Engine, EngineError, EngineOptions, GenerationCall, GenerationParams, Generator,
};

fn engine(quant: &str) -> Engine {
    Engine::load(&EngineOptions {
        model: tiny_gguf(quant),
        ..Default::default()
    })
    .unwrap_or_else(|e| panic!("loading tiny-{quant}: {e}"))
}

/// `len` valid ids: the reference prompts over and over.
fn long_prompt(len: usize) -> Vec<u32> {
    let mut source = prompt_ids("en");
    source.extend(prompt_ids("he"));
    source.iter().copied().cycle().take(len).collect()
}

/// The last logits of `chunks` fed one after another into a fresh cache, alone.
fn alone(model: &Model, chunks: &[&[u32]], capacity: usize) -> (Vec<f32>, KvCache) {
    let mut cache = model.new_cache(1, capacity).expect("cache");
    let mut last = Vec::new();
    for chunk in chunks {
        last = model
            .forward(&[chunk.to_vec()], &mut cache, false)
            .expect("forward")
            .to_vec2::<f32>()
            .expect("logits")
            .remove(0);
    }
    (last, cache)
}

fn argmax(v: &[f32]) -> usize {
    (0..v.len()).fold(0, |best, i| if v[i] > v[best] { i } else { best })
}

/// Three sequences in one step (a decode row, a whole short prompt, a prompt chunk without
/// logits), then a second step; each compared with the same history run alone. `exact`:
/// kernels whose rows do not depend on their neighbours (Q8_0) must give the same bits;
/// otherwise within 1e-4 of the largest logit and the same argmax.
fn check_batched_step(quant: &str, exact: bool) {
    let engine = engine(quant);
    let model = engine.model();
    let (a_prompt, b_prompt, c_prompt) = (prompt_ids("en"), prompt_ids("he"), long_prompt(40));
    let cap = 128;
    let (_, mut a_cache) = alone(model, &[&a_prompt], cap);
    let mut b_cache = model.new_cache(1, cap).unwrap();
    let mut c_cache = model.new_cache(1, cap).unwrap();
    let a_next = [7u32];
    let mut steps = [
        SequenceStep {
            tokens: &a_next,
            cache: &mut a_cache,
            logits: true,
            prompt: false,
        },
        SequenceStep {
            tokens: &b_prompt,
            cache: &mut b_cache,
            logits: true,
            prompt: true,
        },
        SequenceStep {
            tokens: &c_prompt[..25],
            cache: &mut c_cache,
            logits: false,
            prompt: true,
        },
    ];
    let first = model.forward_sequences(&mut steps, &mut || true).unwrap();
    assert!(
        first[2].is_none(),
        "a step that asked for no logits got some"
    );
    // Second step: every sequence goes on from the cache the first step left.
    let (b_next, a_next2) = ([11u32], [3u32]);
    let mut steps = [
        SequenceStep {
            tokens: &c_prompt[25..],
            cache: &mut c_cache,
            logits: true,
            prompt: true,
        },
        SequenceStep {
            tokens: &a_next2,
            cache: &mut a_cache,
            logits: true,
            prompt: false,
        },
        SequenceStep {
            tokens: &b_next,
            cache: &mut b_cache,
            logits: true,
            prompt: false,
        },
    ];
    let second = model.forward_sequences(&mut steps, &mut || true).unwrap();
    assert_eq!(
        (a_cache.len(), b_cache.len(), c_cache.len()),
        (a_prompt.len() + 2, b_prompt.len() + 1, 40)
    );

    let expected = [
        (
            "a, step 1",
            first[0].clone(),
            alone(model, &[&a_prompt, &a_next], cap).0,
        ),
        (
            "b, step 1",
            first[1].clone(),
            alone(model, &[&b_prompt], cap).0,
        ),
        (
            "c, step 2",
            second[0].clone(),
            alone(model, &[&c_prompt[..25], &c_prompt[25..]], cap).0,
        ),
        (
            "a, step 2",
            second[1].clone(),
            alone(model, &[&a_prompt, &a_next, &a_next2], cap).0,
        ),
        (
            "b, step 2",
            second[2].clone(),
            alone(model, &[&b_prompt, &b_next], cap).0,
        ),
    ];
    for (what, got, want) in expected {
        let got = got.unwrap_or_else(|| panic!("{quant} {what}: no logits"));
        assert_eq!(got.len(), want.len());
        if exact {
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert!(
                bits(&got) == bits(&want),
                "{quant} {what}: batched logits differ from alone"
            );
        } else {
            let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
            let worst = got
                .iter()
                .zip(&want)
                .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
            assert!(
                worst <= 1e-4 * scale,
                "{quant} {what}: off by {worst} (largest logit {scale})"
            );
            assert_eq!(argmax(&got), argmax(&want), "{quant} {what}: argmax");
        }
    }
}

#[test]
fn a_batched_step_gives_each_sequence_its_own_logits_on_q8_0() {
    check_batched_step("q8_0", true);
}

#[test]
fn a_batched_step_stays_within_rounding_on_q4_k_m() {
    check_batched_step("q4_k_m", false);
}

#[test]
fn bad_steps_are_typed_errors() {
    let engine = engine("q8_0");
    let model = engine.model();
    let go = &mut || true;
    assert!(matches!(
        model.forward_sequences(&mut [], go),
        Err(EngineError::InvalidParameter(m)) if m.contains("at least one sequence")
    ));
    let (mut empty, mut pair) = (
        model.new_cache(1, 4).unwrap(),
        model.new_cache(2, 4).unwrap(),
    );
    let (mut vocab, mut full) = (
        model.new_cache(1, 4).unwrap(),
        model.new_cache(1, 4).unwrap(),
    );
    let cases: [(&[u32], &mut KvCache, &str); 4] = [
        (&[], &mut empty, "has no tokens"),
        (&[1], &mut pair, "cache of 2 rows"),
        (&[1, 999_999], &mut vocab, "outside the vocabulary"),
        (&[1, 2, 3, 4, 5], &mut full, ""),
    ];
    for (tokens, cache, needle) in cases {
        let mut steps = [SequenceStep {
            tokens,
            cache,
            logits: true,
            prompt: true,
        }];
        match model.forward_sequences(&mut steps, go) {
            Err(EngineError::InvalidParameter(m)) => assert!(m.contains(needle), "{m}"),
            Err(EngineError::ContextOverflow {
                prompt_tokens,
                context,
                ..
            }) => assert_eq!((prompt_tokens, context), (5, 4)),
            other => panic!("{tokens:?}: expected an error, got {:?}", other.map(|_| ())),
        }
    }
    // Stopped between layers: cancelled, nothing returned.
    let mut cache = model.new_cache(1, 8).unwrap();
    let mut steps = [SequenceStep {
        tokens: &[1, 2],
        cache: &mut cache,
        logits: true,
        prompt: true,
    }];
    let mut calls = 0;
    let stopped = model.forward_sequences(&mut steps, &mut || {
        calls += 1;
        calls < 2
    });
    assert!(matches!(stopped, Err(EngineError::Cancelled)));
}

#[test]
fn concurrent_requests_share_steps_and_get_the_text_they_get_alone() {
    let engine = Arc::new(engine("q8_0"));
    let prompts: Vec<Vec<u32>> = vec![
        prompt_ids("en"),
        prompt_ids("he"),
        long_prompt(300),
        prompt_ids("inst"),
    ];
    let params: Vec<GenerationParams> = (0..4)
        .map(|i| sampled(10 + i, 24 + 4 * i as usize))
        .collect();
    let solo: Vec<_> = prompts
        .iter()
        .zip(&params)
        .map(|(p, params)| engine.generate_n(p, params, 2, &mut |_| true).unwrap())
        .collect();
    let before = engine.scheduler_stats();
    let together: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = prompts
            .iter()
            .zip(&params)
            .map(|(p, params)| {
                let engine = &engine;
                scope.spawn(move || engine.generate_n(p, params, 2, &mut |_| true).unwrap())
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let after = engine.scheduler_stats();
    for (i, (alone, batched)) in solo.iter().zip(&together).enumerate() {
        for (s, (a, b)) in alone.iter().zip(batched).enumerate() {
            assert_eq!(
                a.ids, b.ids,
                "request {i} sample {s}: batched ids differ from alone"
            );
            assert_eq!(a.text, b.text);
        }
    }
    let (steps, rows) = (
        after.steps - before.steps,
        after.batched_rows - before.batched_rows,
    );
    assert!(
        rows as f64 / steps as f64 > 2.0,
        "{rows} rows in {steps} steps: the requests were not batched"
    );
    assert_eq!((after.running, after.waiting), (0, 0));
}

#[test]
fn a_long_prompt_joins_without_stopping_a_running_request() {
    let engine = Arc::new(engine("q8_0"));
    let long = long_prompt(900);
    // The long prompt's progress, as the running request sees it at each of its tokens.
    let long_done = Arc::new(AtomicUsize::new(0));
    let (started_tx, started_rx) = mpsc::channel();
    std::thread::scope(|scope| {
        let running = {
            let (engine, long_done) = (&engine, long_done.clone());
            scope.spawn(move || {
                let mut seen = Vec::new();
                let mut first = Some(started_tx);
                engine
                    .generate(&prompt_ids("en"), &sampled(1, 600), &mut |step| {
                        if let Step::Token(_) = step {
                            seen.push(long_done.load(Ordering::SeqCst));
                            if let Some(tx) = first.take() {
                                let _ = tx.send(());
                            }
                        }
                        true
                    })
                    .unwrap();
                seen
            })
        };
        started_rx.recv().unwrap();
        engine
            .generate(&long, &sampled(2, 4), &mut |step| {
                if let Step::Prompt { done, .. } = step {
                    long_done.store(done, Ordering::SeqCst);
                }
                true
            })
            .unwrap();
        let seen = running.join().unwrap();
        // Tokens of the running request came while the long prompt was half done.
        let midway = seen.iter().filter(|&&d| d > 0 && d < long.len()).count();
        assert!(
            midway >= 2,
            "the running request stalled during the long prompt: {seen:?}"
        );
    });
}

/// One caller's calls alone in the batch: a long prompt goes on in whole 256-token chunks
/// while the caller's other call decodes beside it (no other caller waits on those steps).
#[test]
fn a_caller_alone_keeps_whole_prompt_chunks_while_its_own_samples_decode() {
    let engine = engine("q8_0");
    let calls = vec![
        GenerationCall {
            prompt: prompt_ids("en"),
            params: GenerationParams {
                ignore_eos: true,
                ..sampled(3, 40)
            },
            n: 1,
        },
        GenerationCall {
            prompt: long_prompt(900),
            params: sampled(4, 2),
            n: 1,
        },
    ];
    let mut decoded = 0;
    let mut chunks_while_decoding = Vec::new();
    let mut last = 0;
    engine
        .generate_many(&calls, &mut |step| {
            match step {
                CallStep::Step {
                    call: 0,
                    step: Step::Token(_),
                } => decoded += 1,
                CallStep::Step {
                    call: 1,
                    step: Step::Prompt { done, .. },
                } if done > last => {
                    if decoded > 0 {
                        chunks_while_decoding.push(done - last);
                    }
                    last = done;
                }
                _ => {}
            }
            true
        })
        .unwrap();
    assert!(
        chunks_while_decoding.contains(&256),
        "prompt chunks while the caller's other call decoded: {chunks_while_decoding:?}"
    );
}

/// k samples of a 200-token prompt: the first goes on in the prompt's cache, the others
/// share its first 192 positions and copy the 8 after them. Greedy, every sample gets the
/// first's ids and the same log-probabilities bit for bit, and the batch holds the prompt's
/// cache once, not five times.
#[test]
fn k_samples_share_their_prompts_cache_and_decode_as_its_owner_does() {
    let engine = engine("q8_0");
    let prompt = long_prompt(200);
    let params = GenerationParams {
        max_tokens: 12,
        ignore_eos: true,
        logprobs: Some(3),
        ..Default::default()
    };
    let mut kv_bytes = 0;
    let samples = engine
        .generate_n(&prompt, &params, 5, &mut |step| {
            if let Step::Token(_) = step {
                kv_bytes = kv_bytes.max(engine.scheduler_stats().kv_bytes);
            }
            true
        })
        .unwrap();
    let alone = engine.generate(&prompt, &params, &mut |_| true).unwrap();
    for (i, s) in samples.iter().enumerate() {
        assert_eq!(s.ids, alone.ids, "sample {i}'s ids");
        assert_eq!(s.logprobs, alone.logprobs, "sample {i}'s log-probabilities");
    }
    let capacity = prompt.len() + params.max_tokens;
    let positions = capacity + 4 * (capacity - 192);
    let per_position = engine.model().kv_bytes_per_position();
    assert_eq!(
        kv_bytes,
        positions * per_position,
        "KV bytes while decoding"
    );
    assert_eq!(engine.scheduler_stats().kv_bytes, 0);
}

#[test]
fn cancelling_one_request_leaves_the_others_unchanged() {
    let engine = Arc::new(engine("q8_0"));
    let (p1, p2) = (prompt_ids("en"), prompt_ids("he"));
    let expected = engine
        .generate(&p2, &sampled(5, 40), &mut |_| true)
        .unwrap();
    std::thread::scope(|scope| {
        let engine2 = &engine;
        let cancelled = scope.spawn(move || {
            let mut tokens = 0;
            engine2.generate(&p1, &sampled(4, 200), &mut |step| {
                if let Step::Token(_) = step {
                    tokens += 1;
                }
                tokens < 3
            })
        });
        let other = engine
            .generate(&p2, &sampled(5, 40), &mut |_| true)
            .unwrap();
        assert!(matches!(
            cancelled.join().unwrap(),
            Err(EngineError::Cancelled)
        ));
        assert_eq!(other.ids, expected.ids);
    });
    // The cancelled request has left the batch.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while engine.scheduler_stats().running > 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert_eq!(engine.scheduler_stats().running, 0);
}

fn engine_with_prefix_cache(quant: &str, bytes: usize) -> Engine {
    Engine::load(&EngineOptions {
        model: tiny_gguf(quant),
        scheduler: SchedulerOptions {
            prefix_cache_bytes: bytes,
            ..Default::default()
        },
        ..Default::default()
    })
    .unwrap_or_else(|e| panic!("loading tiny-{quant}: {e}"))
}

/// Three prompts sharing a 200-token start, as a translation's paragraphs share their
/// instructions: the later ones reuse its whole blocks, and each prompt's text and
/// log-probabilities are bit for bit those of an engine that reuses nothing. For the
/// K-quants this holds because every prompt step takes the tiled kernels, however few rows
/// an expert gets, and the router's product does not depend on the row count.
fn check_prefix_reuse(quant: &str) {
    let cached = engine_with_prefix_cache(quant, 64 << 20);
    let fresh = engine_with_prefix_cache(quant, 0);
    let shared = long_prompt(200);
    let prompts: Vec<Vec<u32>> = ["en", "he", "inst"]
        .iter()
        .map(|name| [shared.clone(), prompt_ids(name)].concat())
        .collect();
    let params = GenerationParams {
        logprobs: Some(3),
        ..sampled(21, 16)
    };
    let before = cached.counters();
    for (i, prompt) in prompts.iter().enumerate() {
        let (got, timings) = cached
            .generate_n_timed(prompt, &params, 2, &mut |_| true)
            .unwrap();
        let (want, none) = fresh
            .generate_n_timed(prompt, &params, 2, &mut |_| true)
            .unwrap();
        let reused = if i == 0 { 0 } else { 192 };
        assert_eq!(timings.cached_prompt_tokens, reused, "prompt {i}");
        assert_eq!(none.cached_prompt_tokens, 0);
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(
                g.ids, w.ids,
                "{quant} prompt {i}: reused prefix changed the text"
            );
            assert_eq!(g.logprobs, w.logprobs);
        }
    }
    let after = cached.counters();
    assert_eq!(
        after.cached_prompt_tokens - before.cached_prompt_tokens,
        384
    );
    let stats = cached.scheduler_stats();
    assert!(stats.prefix_blocks >= 6, "{stats:?}");
    assert!(stats.prefix_bytes > 0 && stats.prefix_bytes <= 64 << 20);
    assert_eq!(fresh.scheduler_stats().prefix_blocks, 0);
}

#[test]
fn a_shared_prompt_prefix_is_computed_once_with_the_same_results_on_q8_0() {
    check_prefix_reuse("q8_0");
}

#[test]
fn a_shared_prompt_prefix_is_computed_once_with_the_same_results_on_q4_k_m() {
    check_prefix_reuse("q4_k_m");
}

/// Four calls sharing a 200-token start, submitted together as a translation's paragraphs
/// are: one computes the start while the others wait a step, then they take its stored
/// blocks. The text is the text of an engine that reuses nothing.
#[test]
fn calls_submitted_together_compute_their_shared_start_once() {
    let cached = engine_with_prefix_cache("q8_0", 64 << 20);
    let fresh = engine_with_prefix_cache("q8_0", 0);
    let shared = long_prompt(200);
    let calls: Vec<GenerationCall> = ["en", "he", "inst", "en"]
        .iter()
        .enumerate()
        .map(|(i, name)| GenerationCall {
            prompt: [shared.clone(), prompt_ids(name), vec![i as u32 + 7]].concat(),
            params: sampled(40 + i as u64, 10),
            n: 1 + i % 2,
        })
        .collect();
    let before = cached.counters();
    let mut reused = vec![None; calls.len()];
    let mut got = vec![None; calls.len()];
    cached
        .generate_many(&calls, &mut |step| {
            if let CallStep::Done {
                call,
                completions,
                cached_prompt_tokens,
            } = step
            {
                reused[call] = Some(cached_prompt_tokens);
                got[call] = Some(completions);
            }
            true
        })
        .unwrap();
    let reused: Vec<usize> = reused.into_iter().map(Option::unwrap).collect();
    let mut sorted = reused.clone();
    sorted.sort_unstable();
    assert_eq!(
        sorted,
        [0, 192, 192, 192],
        "blocks reused per call: {reused:?}"
    );
    let after = cached.counters();
    assert_eq!(
        after.cached_prompt_tokens - before.cached_prompt_tokens,
        576
    );
    for (i, (call, got)) in calls.iter().zip(got).enumerate() {
        let want = fresh
            .generate_n(&call.prompt, &call.params, call.n, &mut |_| true)
            .unwrap();
        for (g, w) in got.unwrap().iter().zip(&want) {
            assert_eq!(g.ids, w.ids, "call {i}: the shared start changed its text");
        }
    }
}

fn engine_with(quant: &str, options: SchedulerOptions) -> Engine {
    Engine::load(&EngineOptions {
        model: tiny_gguf(quant),
        scheduler: options,
        ..Default::default()
    })
    .unwrap_or_else(|e| panic!("loading tiny-{quant}: {e}"))
}

/// Tiny Q8_0 with room for `sequences` of one caller's sequences at a time.
fn engine_with_window(sequences: usize) -> Engine {
    engine_with(
        "q8_0",
        SchedulerOptions {
            sequences_per_caller: sequences,
            ..Default::default()
        },
    )
}

fn six_calls() -> Vec<GenerationCall> {
    let prompts = [
        prompt_ids("en"),
        prompt_ids("he"),
        long_prompt(300),
        prompt_ids("inst"),
        long_prompt(40),
        prompt_ids("he"),
    ];
    let ns = [1, 2, 1, 3, 1, 1];
    prompts
        .into_iter()
        .zip(ns)
        .enumerate()
        .map(|(i, (prompt, n))| GenerationCall {
            prompt,
            params: sampled(30 + i as u64, 12 + 3 * i),
            n,
        })
        .collect()
}

/// Runs `calls` through `generate_many`, returning each call's samples and the most
/// sequences the batch held at any token.
fn run_many(engine: &Engine, calls: &[GenerationCall]) -> (Vec<Vec<Completion>>, usize) {
    let mut got: Vec<Option<Vec<Completion>>> = vec![None; calls.len()];
    let mut most = 0;
    engine
        .generate_many(calls, &mut |step| {
            match step {
                CallStep::Done {
                    call, completions, ..
                } => {
                    assert!(got[call].is_none(), "call {call} answered twice");
                    got[call] = Some(completions);
                }
                CallStep::Step { .. } => most = most.max(engine.scheduler_stats().running),
            }
            true
        })
        .unwrap();
    (got.into_iter().map(Option::unwrap).collect(), most)
}

#[test]
fn one_callers_calls_run_side_by_side_within_its_window_with_their_solo_text() {
    let engine = engine_with_window(4);
    let calls = six_calls();
    let solo: Vec<Vec<Completion>> = calls
        .iter()
        .map(|c| {
            engine
                .generate_n(&c.prompt, &c.params, c.n, &mut |_| true)
                .unwrap()
        })
        .collect();
    let before = engine.scheduler_stats();
    let (together, most) = run_many(&engine, &calls);
    let after = engine.scheduler_stats();
    for (i, (alone, batched)) in solo.iter().zip(&together).enumerate() {
        assert_eq!(alone.len(), calls[i].n);
        for (a, b) in alone.iter().zip(batched) {
            assert_eq!(a.ids, b.ids, "call {i}: side by side differs from alone");
            assert_eq!(a.text, b.text);
        }
    }
    assert!(
        most <= 4,
        "{most} sequences in the batch past a window of 4"
    );
    let rows = (after.batched_rows - before.batched_rows) as f64;
    let steps = (after.steps - before.steps) as f64;
    assert!(
        rows / steps > 1.5,
        "{rows} rows in {steps} steps: not side by side"
    );
    assert_eq!((after.running, after.kv_bytes), (0, 0));
}

/// With room for one sequence, a caller's calls run one at a time, the one with the most
/// output tokens first (ties: the longer prompt first, then call order), each with the text
/// it gets alone.
#[test]
fn a_callers_longest_calls_join_the_batch_first() {
    let engine = engine_with_window(1);
    let call = |prompt: Vec<u32>, max_tokens: usize| GenerationCall {
        prompt,
        params: GenerationParams {
            ignore_eos: true,
            ..sampled(9, max_tokens)
        },
        n: 1,
    };
    let calls = vec![
        call(prompt_ids("en"), 3),
        call(prompt_ids("he"), 20),
        call(long_prompt(40), 8),
        call(long_prompt(90), 8),
    ];
    let mut finished = Vec::new();
    let mut texts = vec![String::new(); calls.len()];
    engine
        .generate_many(&calls, &mut |step| {
            if let CallStep::Done {
                call, completions, ..
            } = step
            {
                finished.push(call);
                texts[call] = completions[0].text.clone();
            }
            true
        })
        .unwrap();
    assert_eq!(finished, [1, 3, 2, 0], "the order calls finished in");
    for (i, c) in calls.iter().enumerate() {
        let alone = engine
            .generate(&c.prompt, &c.params, &mut |_| true)
            .unwrap();
        assert_eq!(texts[i], alone.text, "call {i}");
    }
}

#[test]
fn past_the_kv_budget_requests_wait_and_a_request_alone_still_runs() {
    let engine = engine_with(
        "q8_0",
        SchedulerOptions {
            kv_cache_bytes: 1,
            ..Default::default()
        },
    );
    let calls = six_calls();
    let before = engine.scheduler_stats();
    let (together, most) = run_many(&engine, &calls);
    let after = engine.scheduler_stats();
    assert_eq!(together.len(), 6);
    // One request at a time: its n samples, never a second request beside them.
    assert!(most <= 3, "{most} sequences with no KV memory to spare");
    let (rows, steps) = (
        after.batched_rows - before.batched_rows,
        after.steps - before.steps,
    );
    let samples_max = calls.iter().map(|c| c.n as u64).max().unwrap();
    assert!(rows <= steps * samples_max);
}

#[test]
fn a_bad_call_fails_them_all_before_any_runs_and_a_stop_cancels_the_rest() {
    let engine = engine("q8_0");
    let mut calls = six_calls();
    calls[4].params.max_tokens = 1 << 30;
    let before = engine.counters();
    let err = engine.generate_many(&calls, &mut |_| true).unwrap_err();
    assert!(matches!(err, EngineError::ContextOverflow { .. }), "{err}");
    assert_eq!(engine.counters().prefills, before.prefills);
    // Run to their end (the stop not cancelling them), these calls generate 174 tokens.
    let mut calls = six_calls();
    for call in &mut calls {
        call.params.ignore_eos = true;
    }
    let full: usize = calls.iter().map(|c| c.n * c.params.max_tokens).sum();
    let mut done = 0;
    let err = engine
        .generate_many(&calls, &mut |step| {
            if matches!(step, CallStep::Done { .. }) {
                done += 1;
            }
            done < 1
        })
        .unwrap_err();
    assert!(matches!(err, EngineError::Cancelled));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while engine.scheduler_stats().running > 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert_eq!(engine.scheduler_stats().running, 0);
    let generated = engine.counters().generated_tokens - before.generated_tokens;
    assert!(
        (generated as usize) < full,
        "{generated} of {full} tokens generated after the stop"
    );
}
