//! Classify by score on the real engine (the tiny reference model): the distribution equals
//! the softmax of the model's own logits over the labels' tokens, multi-token labels equal
//! the chain rule over a full forward pass, and the trie shares steps between labels.

mod common;

use serde_json::json;
use sofer::engine::{Engine, EngineOptions, Generator};
use sofer::prompt::{Language, PromptKind};
use sofer::tasks::{classify, ClassifyMethod, ClassifyRequest, LabelSpec, TaskRuntime};

fn runtime() -> TaskRuntime {
    let options = EngineOptions {
        model: common::tiny_gguf("q8_0"),
        ..Default::default()
    };
    TaskRuntime::load(&options, None).expect("load the tiny model")
}

fn request(names: &[&str], method: Option<ClassifyMethod>) -> ClassifyRequest {
    ClassifyRequest {
        text: "The film was wonderful and I enjoyed every minute.".into(),
        labels: names
            .iter()
            .map(|n| LabelSpec {
                name: n.to_string(),
                description: None,
            })
            .collect(),
        method,
        language: Some("en".into()),
        ..Default::default()
    }
}

fn log_softmax(logits: &[f32]) -> Vec<f64> {
    let max = logits.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b)) as f64;
    let z: f64 = logits.iter().map(|&l| (l as f64 - max).exp()).sum();
    logits.iter().map(|&l| l as f64 - max - z.ln()).collect()
}

/// The ids `text` adds after the answer prefix `Label:`.
fn after_prefix(engine: &Engine, text: &str) -> Vec<u32> {
    let t = engine.tokenizer();
    let base = t.encode("Label:", false).unwrap();
    let full = t.encode(&format!("Label:{text}"), false).unwrap();
    assert!(full.starts_with(&base), "{text:?}");
    full[base.len()..].to_vec()
}

#[test]
fn the_distribution_is_the_softmax_of_the_models_logits_over_the_label_tokens() {
    let rt = runtime();
    let engine = rt.engine();
    let names = ["positive", "negative", "neutral"];
    let req = request(&names, Some(ClassifyMethod::Score))
        .validate()
        .unwrap();
    let before = engine.counters();
    let got = classify(&rt.context(), &req, &mut |_| true).expect("classify");
    let after = engine.counters();
    assert_eq!(got.method, ClassifyMethod::Score);
    assert_eq!(after.prefills - before.prefills, 1, "one prefill");
    assert_eq!(
        after.generated_tokens, before.generated_tokens,
        "nothing sampled"
    );
    assert_eq!(got.usage.prefills, 1);
    assert_eq!(got.usage.completion_tokens, 0);

    // The reference: the prompt's last-position logits from a plain forward pass.
    let vars =
        json!({"document": req.text, "labels": req.labels, "multi_label": false, "examples": []});
    let prompt = rt
        .context()
        .prompt(PromptKind::Classify, Language::En, &vars)
        .unwrap();
    assert_eq!(prompt.len(), got.usage.prompt_tokens);
    let logits = engine.logits(&prompt).unwrap();
    let last = log_softmax(logits.last().unwrap());
    let mut single_token = 0;
    let mass: Vec<f64> = names
        .iter()
        .map(|n| {
            let capitalized = format!("{}{}", n[..1].to_uppercase(), &n[1..]);
            [n.to_string(), capitalized, n.to_uppercase()]
                .iter()
                .flat_map(|case| [format!(" {case}"), case.clone()])
                .collect::<Vec<_>>()
                .iter()
                .map(|variant| {
                    let ids = after_prefix(engine, variant);
                    if ids.len() == 1 {
                        single_token += 1;
                        return last[ids[0] as usize].exp();
                    }
                    // Longer spellings: the chain rule over one forward of prompt + ids.
                    let mut all = prompt.clone();
                    all.extend_from_slice(&ids);
                    let logits = engine.logits(&all).unwrap();
                    let lp: f64 = ids
                        .iter()
                        .enumerate()
                        .map(|(i, &t)| log_softmax(&logits[prompt.len() - 1 + i])[t as usize])
                        .sum();
                    lp.exp()
                })
                .sum()
        })
        .collect();
    assert!(
        single_token >= 3,
        "most spellings are one token: {single_token}"
    );
    let total: f64 = mass.iter().sum();
    for (p, m) in got.probabilities.iter().zip(&mass) {
        assert!(
            (p.probability - m / total).abs() < 1e-5,
            "{p:?} vs {}",
            m / total
        );
        assert!((p.logprob - m.ln()).abs() < 1e-4, "{p:?} vs {}", m.ln());
    }
    assert!((got.coverage - total).abs() < 1e-5);
    let sum: f64 = got.probabilities.iter().map(|p| p.probability).sum();
    assert!((sum - 1.0).abs() < 1e-9);
    let best = got
        .probabilities
        .iter()
        .max_by(|a, b| a.probability.total_cmp(&b.probability))
        .unwrap();
    assert_eq!(got.label.as_deref(), Some(best.label.as_str()));
    assert_eq!(got.confidence, best.probability);
}

#[test]
fn multi_token_scores_equal_the_chain_rule_and_the_trie_shares_steps() {
    let rt = runtime();
    let engine = rt.engine();
    let prompt = engine
        .tokenizer()
        .encode("Classify: the sky is", true)
        .unwrap();
    let (a, b, c, d, e, f) = (1010, 2020, 3030, 4040, 5050, 6060);
    let continuations = vec![vec![a, b, c], vec![a, b, d], vec![a, e], vec![f], vec![a]];
    let before = engine.counters();
    let scores = engine
        .score(&prompt, &continuations, 1.0, &mut |_| true)
        .expect("score");
    let after = engine.counters();
    assert_eq!(after.prefills - before.prefills, 1);
    let naive: usize = continuations.iter().map(Vec::len).sum();
    assert_eq!((scores.forwards, scores.rows), (2, 2), "a and a·b expanded");
    assert!(
        scores.rows < naive,
        "{} rows vs {naive} tokens",
        scores.rows
    );

    // The reference: one full forward pass over prompt + continuation, chain rule.
    let chain = |cont: &[u32]| -> f64 {
        let mut ids = prompt.clone();
        ids.extend_from_slice(cont);
        let logits = engine.logits(&ids).unwrap();
        cont.iter()
            .enumerate()
            .map(|(i, &t)| log_softmax(&logits[prompt.len() - 1 + i])[t as usize])
            .sum()
    };
    for (i, cont) in continuations.iter().enumerate().take(4) {
        let want = chain(cont);
        assert!(
            (scores.logprobs[i] - want).abs() < 1e-4,
            "{cont:?}: {} vs {want}",
            scores.logprobs[i]
        );
    }
    // `a` alone is "a, then neither b nor e": its probability excludes the longer ones.
    let lp_a = chain(&[a]);
    let after_a_first = {
        let mut ids = prompt.clone();
        ids.push(a);
        log_softmax(engine.logits(&ids).unwrap().last().unwrap())
    };
    let rest = 1.0 - after_a_first[b as usize].exp() - after_a_first[e as usize].exp();
    let want = lp_a + rest.ln();
    assert!(
        (scores.logprobs[4] - want).abs() < 1e-4,
        "{} vs {want}",
        scores.logprobs[4]
    );
}

#[test]
fn the_default_method_scores_short_labels_and_votes_long_or_counted_ones() {
    let rt = runtime();
    let ctx = rt.context();
    let short = request(&["positive", "negative"], None).validate().unwrap();
    assert_eq!(
        classify(&ctx, &short, &mut |_| true).unwrap().method,
        ClassifyMethod::Score
    );
    let long_name = "a label that goes on and on for far more than sixteen tokens of text \
                     before it finally ends somewhere";
    let long = ClassifyRequest {
        sampling: sofer::tasks::SamplingRequest {
            max_tokens: Some(4),
            ..Default::default()
        },
        ..request(&["short", long_name], None)
    }
    .validate()
    .unwrap();
    let got = classify(&ctx, &long, &mut |_| true).unwrap();
    assert_eq!(got.method, ClassifyMethod::Vote);
    assert_eq!(got.tally.samples, 5);
    let counted = ClassifyRequest {
        votes: Some(1),
        sampling: sofer::tasks::SamplingRequest {
            max_tokens: Some(4),
            ..Default::default()
        },
        ..request(&["positive", "negative"], None)
    }
    .validate()
    .unwrap();
    let got = classify(&ctx, &counted, &mut |_| true).unwrap();
    assert_eq!((got.method, got.tally.samples), (ClassifyMethod::Vote, 1));
}

#[test]
fn multi_label_scoring_chooses_the_labels_above_the_threshold() {
    let rt = runtime();
    let names = ["sport", "politics", "economy", "culture"];
    let mut req = request(&names, Some(ClassifyMethod::Score));
    req.multi_label = true;
    req.threshold = Some(0.2);
    let got = classify(&rt.context(), &req.validate().unwrap(), &mut |_| true).unwrap();
    let want: Vec<&str> = got
        .probabilities
        .iter()
        .filter(|p| p.probability >= 0.2)
        .map(|p| p.label.as_str())
        .collect();
    assert_eq!(got.labels, want);
    let least = got
        .probabilities
        .iter()
        .filter(|p| p.probability >= 0.2)
        .map(|p| p.probability)
        .fold(f64::INFINITY, f64::min);
    if want.is_empty() {
        assert_eq!((got.label, got.confidence), (None, 0.0));
    } else {
        assert_eq!(got.confidence, least);
    }
}

#[test]
fn a_cancelled_score_stops_with_cancelled() {
    let rt = runtime();
    let req = request(&["positive", "negative"], Some(ClassifyMethod::Score))
        .validate()
        .unwrap();
    let mut events = 0;
    let err = classify(&rt.context(), &req, &mut |_| {
        events += 1;
        events < 3
    })
    .unwrap_err();
    assert!(err.to_string().to_lowercase().contains("cancel"), "{err}");
}
