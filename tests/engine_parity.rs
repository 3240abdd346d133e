//! The engine against independent references (`$SOFER_REFS`): transformers float32 on the
//! F16 file, llama.cpp on the same quantized files, and the legacy per-expert layout.

mod common;

use common::{compare, prompt_ids, read_npy, refs_json, tiny_gguf};
use sofer::engine::{Engine, EngineOptions, GenerationParams, Generator};

const PROMPTS: [&str; 3] = ["en", "he", "inst"];

fn engine(quant: &str) -> Engine {
    Engine::load(&EngineOptions {
        model: tiny_gguf(quant),
        tokenizer_json: None,
        ..Default::default()
    })
    .unwrap_or_else(|e| panic!("loading tiny-{quant}: {e}"))
}

fn greedy(engine: &Engine, prompt: &[u32], n: usize) -> Vec<u32> {
    let params = GenerationParams {
        max_tokens: n,
        ignore_eos: true,
        ..Default::default()
    };
    engine
        .generate(prompt, &params, &mut |_| true)
        .expect("generate")
        .ids
}

#[test]
fn f16_file_in_f32_matches_transformers() {
    let engine = engine("f16");
    let results = refs_json("tiny/out/results.json");
    for p in PROMPTS {
        let ids = prompt_ids(p);
        let ours = engine.logits(&ids).expect("logits");
        let reference = read_npy(&format!("tiny/out/hf_f32.{p}.logits.npy"));
        let (max, median, top1) = compare(&ours, &reference);
        eprintln!("f16 {p}: max {max:.3e} median {median:.3e} top1 {top1:.3}");
        assert!(max <= 1e-3, "{p}: max abs diff {max} > 1e-3");
        let expected: Vec<u32> = results["sources"]["hf_f32"]["greedy"][p]
            .as_array()
            .expect("greedy ids")
            .iter()
            .map(|v| v.as_u64().expect("id") as u32)
            .collect();
        assert_eq!(
            greedy(&engine, &ids, 24),
            expected,
            "{p}: greedy continuation"
        );
    }
}

#[test]
fn quantized_files_match_llamacpp_on_the_same_file() {
    for quant in ["q8_0", "q5_k_m", "q4_k_m"] {
        let engine = engine(quant);
        for p in PROMPTS {
            let ours = engine.logits(&prompt_ids(p)).expect("logits");
            let reference = read_npy(&format!("tiny/out/llamacpp_{quant}.{p}.logits_f16.npy"));
            let (max, median, top1) = compare(&ours, &reference);
            eprintln!("{quant} {p}: max {max:.4} median {median:.5} top1 {top1:.3}");
            assert!(top1 >= 0.95, "{quant} {p}: top-1 agreement {top1} < 95 %");
            // Quantizing activations as ggml does keeps the median near the f16 storage
            // rounding of the reference (<= 0.008); another scheme gives ~0.1.
            assert!(median <= 0.05, "{quant} {p}: median abs diff {median}");
        }
    }
}

#[test]
fn legacy_per_expert_layout_gives_identical_outputs() {
    let merged = engine("q4_k_m");
    let legacy = engine("legacy-q4_k_m");
    assert_eq!(
        legacy.model().expert_layout(),
        sofer::engine::model::ExpertLayout::PerExpert
    );
    for p in PROMPTS {
        let ids = prompt_ids(p);
        assert_eq!(
            merged.logits(&ids).expect("merged"),
            legacy.logits(&ids).expect("legacy"),
            "{p}"
        );
    }
}

#[test]
fn expert_usage_counts_every_routed_token() {
    let engine = engine("q8_0");
    let ids = prompt_ids("inst");
    engine.logits(&ids).expect("logits");
    let usage = engine.expert_usage();
    let cfg = &engine.info().config;
    assert_eq!(usage.per_layer.len(), cfg.n_layers);
    for layer in &usage.per_layer {
        assert_eq!(layer.len(), cfg.n_experts);
        assert_eq!(
            layer.iter().sum::<u64>(),
            (ids.len() * cfg.n_experts_used) as u64
        );
        assert!(
            layer.iter().filter(|&&c| c > 0).count() > 2,
            "routing uses several experts"
        );
    }
}
