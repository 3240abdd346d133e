//! chrF against sacrebleu 2.6.0 on 332 Hebrew/English pairs (tests/fixtures/chrf, made by
//! scripts/make_chrf_fixture.py): sentence and corpus scores are the same doubles.

use sofer::tasks::chrf::{corpus_chrf, sentence_chrf};

fn cases() -> (Vec<(String, String, f64)>, f64) {
    let text = include_str!("fixtures/chrf/cases.jsonl");
    let mut pairs = Vec::new();
    let mut corpus = None;
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("JSON line");
        if let Some(score) = v["corpus_chrf"].as_f64() {
            corpus = Some(score);
        } else {
            let field = |k: &str| v[k].as_str().expect(k).to_string();
            pairs.push((
                field("hyp"),
                field("ref"),
                v["chrf"].as_f64().expect("chrf"),
            ));
        }
    }
    (pairs, corpus.expect("corpus score"))
}

#[test]
fn sentence_scores_equal_sacrebleu() {
    let (pairs, _) = cases();
    assert_eq!(pairs.len(), 332);
    for (hyp, reference, expected) in &pairs {
        let got = sentence_chrf(hyp, reference);
        assert!(
            (got - expected).abs() <= 1e-9,
            "{hyp:?} vs {reference:?}: {got} != {expected}"
        );
    }
}

#[test]
fn corpus_score_equals_sacrebleu() {
    let (pairs, expected) = cases();
    let got = corpus_chrf(pairs.iter().map(|(h, r, _)| (h.as_str(), r.as_str())));
    assert!((got - expected).abs() <= 1e-9, "{got} != {expected}");
}
