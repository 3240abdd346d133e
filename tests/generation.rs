//! Generation through the real engine on the synthesized tiny Mixtral
//! (`tests/common/tiny.rs`) and a hand-built dense model with byte-fallback pieces: seeded
//! determinism, k samples from one prefill, stopping, streaming, cancellation,
//! parameter and context checks, expert-usage accounting.

mod common;

use std::path::Path;

use common::gguf_builder::GgufBuilder;
use common::{prompt_ids, sampled, tiny_gguf};
use sofer::engine::generate::Step;
use sofer::engine::sampler::SamplingParams;
use sofer::engine::synth::{synthesize, ExpertLayout, SynthPreset, SynthQuant, SynthSpec};
use sofer::engine::{
    Completion, Engine, EngineError, EngineOptions, FinishReason, GenerationParams, Generator,
};
use tempfile::TempDir;

fn engine_at(path: &Path) -> Engine {
    Engine::load(&EngineOptions {
        model: path.to_path_buf(),
        tokenizer_json: None,
        ..Default::default()
    })
    .unwrap_or_else(|e| panic!("loading {}: {e}", path.display()))
}

fn engine(quant: &str) -> Engine {
    engine_at(&tiny_gguf(quant))
}

/// Greedy decoding of exactly `max_tokens` tokens.
fn greedy(max_tokens: usize) -> GenerationParams {
    GenerationParams {
        max_tokens,
        ignore_eos: true,
        ..Default::default()
    }
}

fn generate(engine: &Engine, prompt: &[u32], params: &GenerationParams) -> Completion {
    engine
        .generate(prompt, params, &mut |_| true)
        .expect("generate")
}

fn generate_n(
    engine: &Engine,
    prompt: &[u32],
    params: &GenerationParams,
    n: usize,
) -> Vec<Completion> {
    engine
        .generate_n(prompt, params, n, &mut |_| true)
        .expect("generate_n")
}

/// `(ids, text)` of each sample, for comparisons.
fn outputs(completions: &[Completion]) -> Vec<(Vec<u32>, String)> {
    completions
        .iter()
        .map(|c| (c.ids.clone(), c.text.clone()))
        .collect()
}

/// Runs `generate_n` and checks its stream: the sink sees every token of every sample
/// (the end-of-sequence token included), and each sample's deltas concatenate to its
/// final text. Returns the completions.
fn generate_streamed(
    engine: &Engine,
    prompt: &[u32],
    params: &GenerationParams,
    n: usize,
) -> Vec<Completion> {
    let mut deltas: Vec<Vec<String>> = vec![Vec::new(); n];
    let mut tokens: Vec<Vec<u32>> = vec![Vec::new(); n];
    let completions = engine
        .generate_n(prompt, params, n, &mut |step: Step<'_>| {
            let Step::Token(d) = step else { return true };
            assert!(d.sample < n, "delta for sample {} of {n}", d.sample);
            deltas[d.sample].push(d.text.to_string());
            tokens[d.sample].push(d.token);
            true
        })
        .expect("generate_n");
    assert_eq!(completions.len(), n);
    for (i, c) in completions.iter().enumerate() {
        let mut expected_tokens = c.ids.clone();
        if c.finish_reason == FinishReason::Eos {
            expected_tokens.extend(engine.tokenizer().eos_id());
        }
        assert_eq!(tokens[i], expected_tokens, "sample {i}: streamed tokens");
        assert_eq!(
            deltas[i].concat(),
            c.text,
            "sample {i}: deltas do not add up to the text"
        );
        for d in &deltas[i] {
            assert!(
                !d.contains('\u{FFFD}') || c.text.contains('\u{FFFD}'),
                "sample {i}: delta {d:?} has U+FFFD that the final text {:?} does not",
                c.text
            );
        }
    }
    completions
}

/// Same seed ⇒ same ids and text; different seeds ⇒ different outputs.
fn check_seeded_determinism(engine: &Engine, prompt: &[u32]) {
    let seeds = [1, 2, 3];
    let runs: Vec<(Vec<u32>, String)> = seeds
        .iter()
        .map(|&seed| {
            let first = generate(engine, prompt, &sampled(seed, 6));
            let again = generate(engine, prompt, &sampled(seed, 6));
            assert_eq!(
                first.ids, again.ids,
                "seed {seed}: ids differ between two runs"
            );
            assert_eq!(
                first.text, again.text,
                "seed {seed}: text differs between two runs"
            );
            (first.ids, first.text)
        })
        .collect();
    for i in 0..runs.len() {
        for j in i + 1..runs.len() {
            assert_ne!(
                runs[i], runs[j],
                "seeds {} and {} gave the same output",
                seeds[i], seeds[j]
            );
        }
    }
}

#[test]
fn same_seed_same_output_on_q8_0() {
    check_seeded_determinism(&engine("q8_0"), &prompt_ids("en"));
}

#[test]
fn same_seed_same_output_on_f16() {
    check_seeded_determinism(&engine("f16"), &prompt_ids("he"));
}

#[test]
fn synthesized_model_generates_deterministically_and_streams() {
    let dir = TempDir::new().expect("tempdir");
    let path = dir.path().join("synth-q8_0.gguf");
    let spec = SynthSpec {
        preset: SynthPreset::Tiny,
        seed: 7,
        quant: SynthQuant::Q8_0,
        layout: ExpertLayout::Merged,
        layers: None,
    };
    synthesize(&spec, &path).expect("synthesize");
    let engine = engine_at(&path);
    assert_eq!(engine.info().config.n_experts, 8);
    let prompt = prompt_ids("inst");
    check_seeded_determinism(&engine, &prompt);
    generate_streamed(&engine, &prompt, &sampled(5, 6), 2);
}

#[test]
fn greedy_samples_agree_with_each_other_and_with_generate() {
    let engine = engine("q8_0");
    let prompt = prompt_ids("en");
    let params = greedy(6);
    let samples = outputs(&generate_n(&engine, &prompt, &params, 5));
    let single = generate(&engine, &prompt, &params);
    for (i, s) in samples.iter().enumerate() {
        assert_eq!(
            s,
            &(single.ids.clone(), single.text.clone()),
            "greedy sample {i} differs from generate"
        );
    }
}

#[test]
fn sampled_samples_differ_and_one_sample_is_generate() {
    let engine = engine("q8_0");
    let prompt = prompt_ids("en");
    let mut params = sampled(11, 6);
    params.sampling.temperature = 0.9;
    let samples = outputs(&generate_n(&engine, &prompt, &params, 5));
    assert!(
        samples.iter().any(|s| s != &samples[0]),
        "5 samples at temperature 0.9 are all equal: {samples:?}"
    );
    let one = outputs(&generate_n(&engine, &prompt, &params, 1));
    let single = generate(&engine, &prompt, &params);
    assert_eq!(
        one,
        outputs(&[single]),
        "generate_n(n = 1) differs from generate with the same seed"
    );
    // Sample i draws from random stream i whatever the batch size: sample 0 of 5 is the
    // only sample of 1.
    assert_eq!(
        one[0], samples[0],
        "sample 0 of 5 differs from the only sample of 1"
    );
}

#[test]
fn max_tokens_is_respected() {
    let engine = engine("q8_0");
    let prompt = prompt_ids("en");
    for c in generate_n(&engine, &prompt, &sampled(4, 5), 3) {
        assert_eq!(c.finish_reason, FinishReason::Length);
        assert_eq!(c.ids.len(), 5, "ids: {:?}", c.ids);
    }
    let none = generate(&engine, &prompt, &greedy(0));
    assert!(
        none.ids.is_empty() && none.text.is_empty(),
        "max_tokens 0 generated {none:?}"
    );
    assert_eq!(none.finish_reason, FinishReason::Length);
}

#[test]
fn stop_string_cuts_the_text_right_before_it() {
    let engine = engine("q8_0");
    let prompt = prompt_ids("en");
    let full = generate(&engine, &prompt, &greedy(12));
    let chars: Vec<char> = full.text.chars().collect();
    assert!(
        chars.len() >= 12,
        "greedy text too short to cut: {:?}",
        full.text
    );
    let middle = chars.len() / 2;
    let stop: String = chars[middle..middle + 3].iter().collect();
    let cut = full
        .text
        .find(&stop)
        .expect("the stop string is in the text");

    let mut params = greedy(12);
    params.stop = vec![stop.clone()];
    let completions = generate_streamed(&engine, &prompt, &params, 1);
    let stopped = &completions[0];
    assert_eq!(
        stopped.finish_reason,
        FinishReason::Stop,
        "stop {stop:?} in {:?}",
        full.text
    );
    assert_eq!(
        stopped.text,
        full.text[..cut],
        "text not cut right before {stop:?}"
    );
    assert!(
        full.ids.starts_with(&stopped.ids) && stopped.ids.len() < full.ids.len(),
        "the stopped ids {:?} are not a shorter prefix of {:?}",
        stopped.ids,
        full.ids
    );
}

#[test]
fn samples_that_stop_early_leave_the_others_unchanged() {
    // Sample i draws from random stream i, so a stop string may only cut samples short:
    // the rows that go on decoding keep their own KV cache, routing and logits.
    let engine = engine("q8_0");
    let prompt = prompt_ids("en");
    let mut params = sampled(13, 10);
    let free = generate_n(&engine, &prompt, &params, 4);
    let chars: Vec<char> = free[0].text.chars().collect();
    assert!(
        chars.len() >= 12,
        "sample 0 too short to cut: {:?}",
        free[0].text
    );
    let stop: String = chars[chars.len() / 2..chars.len() / 2 + 3].iter().collect();
    params.stop = vec![stop.clone()];
    let stopped = generate_n(&engine, &prompt, &params, 4);
    assert_eq!(
        stopped[0].finish_reason,
        FinishReason::Stop,
        "sample 0 did not stop at {stop:?}"
    );
    let mut unaffected = 0;
    for (i, (f, s)) in free.iter().zip(&stopped).enumerate() {
        match f.text.find(&stop) {
            Some(cut) => {
                assert_eq!(
                    s.finish_reason,
                    FinishReason::Stop,
                    "sample {i} did not stop at {stop:?}"
                );
                assert_eq!(
                    s.text,
                    f.text[..cut],
                    "sample {i}: text not cut right before {stop:?}"
                );
                assert!(
                    f.ids.starts_with(&s.ids),
                    "sample {i}: {:?} is not a prefix of {:?}",
                    s.ids,
                    f.ids
                );
            }
            None => {
                unaffected += 1;
                assert_eq!(
                    (&s.ids, &s.text),
                    (&f.ids, &f.text),
                    "sample {i} changed when others stopped"
                );
            }
        }
    }
    assert!(
        unaffected > 0,
        "every sample contains {stop:?}: nothing checks the rows that go on"
    );
}

#[test]
fn streamed_deltas_add_up_to_the_text_in_english_and_hebrew() {
    let engine = engine("q8_0");
    for p in ["en", "he"] {
        let mut params = sampled(21, 8);
        params.ignore_eos = false;
        generate_streamed(&engine, &prompt_ids(p), &params, 3);
        generate_streamed(&engine, &prompt_ids(p), &greedy(8), 1);
    }
}

#[test]
fn streaming_byte_fallback_output_never_splits_a_character() {
    // A hand-built model whose vocabulary is mostly byte pieces: its samples are runs of
    // bytes that form Hebrew letters, dangle as incomplete sequences, or stay invalid.
    let dir = TempDir::new().expect("tempdir");
    let engine = engine_at(&GgufBuilder::dense_llama().write(dir.path(), "bytes.gguf"));
    let mut params = sampled(3, 40);
    params.sampling.temperature = 2.0;
    params.sampling.top_k = 0;
    params.sampling.top_p = 1.0;
    params.stop = vec!["ל".to_string()];
    let completions = generate_streamed(&engine, &[1, 4, 9, 10], &params, 6);
    let byte_tokens = completions
        .iter()
        .flat_map(|c| &c.ids)
        .filter(|&&id| {
            engine
                .tokenizer()
                .id_to_piece(id)
                .is_some_and(|p| p.starts_with("<0x"))
        })
        .count();
    assert!(
        byte_tokens >= 20,
        "only {byte_tokens} byte tokens sampled: the test exercises nothing"
    );
    let hebrew = completions.iter().any(|c| {
        c.text
            .chars()
            .any(|ch| ('\u{5D0}'..='\u{5EA}').contains(&ch))
    });
    assert!(hebrew, "no sample spelled a Hebrew letter: {completions:?}");
    for c in &completions {
        assert!(
            !c.text.contains('ל'),
            "the stop string leaked into {:?}",
            c.text
        );
    }
}

#[test]
fn cancelling_stops_within_one_token() {
    let engine = engine("q8_0");
    let prompt = prompt_ids("en");
    for n in [1, 3] {
        let mut calls = 0;
        let result = engine.generate_n(&prompt, &sampled(1, 20), n, &mut |_| {
            calls += 1;
            calls < 3
        });
        assert!(
            matches!(result, Err(EngineError::Cancelled)),
            "n = {n}: expected Cancelled, got {result:?}"
        );
        assert_eq!(
            calls, 3,
            "n = {n}: the sink was called after it asked to stop"
        );
    }
}

#[test]
fn context_overflow_is_reported_with_the_numbers() {
    let engine = engine("q8_0");
    let context = engine.info().config.context_length;
    assert_eq!(context, 4096);
    let prompt = &prompt_ids("en")[..10];
    let err = engine
        .generate(prompt, &greedy(5000), &mut |_| true)
        .expect_err("prompt + max_tokens exceeds the context");
    match &err {
        EngineError::ContextOverflow {
            prompt_tokens,
            max_tokens,
            context,
        } => assert_eq!((*prompt_tokens, *max_tokens, *context), (10, 5000, 4096)),
        other => panic!("expected ContextOverflow, got {other:?}"),
    }
    let msg = err.to_string();
    for number in ["10", "5000", "4096"] {
        assert!(
            msg.contains(number),
            "message does not give {number}: {msg}"
        );
    }
    // Exactly filling the context is allowed (cancelled after the first token to stay quick).
    let result = engine.generate(prompt, &greedy(context - 10), &mut |_| false);
    assert!(
        matches!(result, Err(EngineError::Cancelled)),
        "a full context was refused: {result:?}"
    );
}

#[test]
fn invalid_parameters_name_the_field() {
    let engine = engine("q8_0");
    let prompt = prompt_ids("en");
    let with = |edit: fn(&mut SamplingParams)| {
        let mut params = greedy(4);
        edit(&mut params.sampling);
        params
    };
    let cases: [(&str, GenerationParams, usize); 5] = [
        ("`top_p`", with(|s| s.top_p = 0.0), 1),
        ("`temperature`", with(|s| s.temperature = -1.0), 1),
        ("`temperature`", with(|s| s.temperature = f32::NAN), 1),
        (
            "`repetition_penalty`",
            with(|s| s.repetition_penalty = 0.0),
            1,
        ),
        ("`n`", greedy(4), 0),
    ];
    for (field, params, n) in cases {
        match engine.generate_n(&prompt, &params, n, &mut |_| true) {
            Err(EngineError::InvalidParameter(msg)) => {
                assert!(
                    msg.contains(field),
                    "message for {field} does not name it: {msg}"
                )
            }
            other => panic!("{field}: expected InvalidParameter, got {other:?}"),
        }
    }
    let empty = engine.generate(&[], &greedy(4), &mut |_| true);
    assert!(
        matches!(empty, Err(EngineError::InvalidParameter(_))),
        "empty prompt: {empty:?}"
    );
}

#[test]
fn token_ids_outside_the_vocabulary_are_errors() {
    let engine = engine("q8_0");
    let vocab = engine.info().config.vocab_size as u32;
    for bad in [vocab, u32::MAX] {
        let prompt = [1, 415, bad];
        match engine.generate(&prompt, &greedy(2), &mut |_| true) {
            Err(EngineError::InvalidParameter(msg)) => {
                assert!(
                    msg.contains(&bad.to_string()),
                    "message does not name id {bad}: {msg}"
                )
            }
            other => panic!("id {bad}: expected InvalidParameter, got {other:?}"),
        }
        assert!(engine.logits(&prompt).is_err(), "logits accepted id {bad}");
    }
}

#[test]
fn expert_usage_grows_by_the_routed_tokens() {
    let engine = engine("q8_0");
    let top_k = engine.info().config.n_experts_used as u64;
    let totals = |engine: &Engine| -> Vec<u64> {
        engine
            .expert_usage()
            .per_layer
            .iter()
            .map(|l| l.iter().sum())
            .collect()
    };
    let prompt = prompt_ids("en");
    let last_layer = engine.info().config.n_layers - 1;
    // A prefill routes every prompt token, except in the last layer, whose feed-forward
    // runs only for the position whose logits are wanted.
    let prefill_rows = |layer: usize| {
        if layer == last_layer {
            1
        } else {
            prompt.len() as u64
        }
    };
    let before = totals(&engine);
    // One token: the prefill only, no decode step.
    generate(&engine, &prompt, &greedy(1));
    let after_prefill = totals(&engine);
    for (layer, (b, a)) in before.iter().zip(&after_prefill).enumerate() {
        assert_eq!(
            a - b,
            prefill_rows(layer) * top_k,
            "layer {layer} after a prefill"
        );
    }
    // 3 samples of 4 tokens: one prefill, then 3 decode steps of 3 rows.
    generate_n(&engine, &prompt, &sampled(2, 4), 3);
    let after_decode = totals(&engine);
    for (layer, (b, a)) in after_prefill.iter().zip(&after_decode).enumerate() {
        assert_eq!(
            a - b,
            (prefill_rows(layer) + 3 * 3) * top_k,
            "layer {layer} after prefill + decode"
        );
    }
}
