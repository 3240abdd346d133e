use super::*;
use crate::tasks::testing::{Fixture, Scripted};

fn labels(names: &[&str]) -> Vec<LabelSpec> {
    names
        .iter()
        .map(|n| LabelSpec {
            name: n.to_string(),
            description: None,
        })
        .collect()
}

fn request(names: &[&str]) -> ClassifyRequest {
    ClassifyRequest {
        text: "The film was wonderful.".into(),
        labels: labels(names),
        method: Some(ClassifyMethod::Vote),
        ..Default::default()
    }
}

#[test]
fn bad_requests_name_the_field() {
    let field = |req: ClassifyRequest| req.validate().unwrap_err().field().map(str::to_string);
    assert_eq!(field(request(&[])).as_deref(), Some("labels"));
    let many: Vec<String> = (0..65).map(|i| format!("l{i}")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    assert_eq!(field(request(&many)).as_deref(), Some("labels"));
    assert_eq!(
        field(request(&["Positive", "negative", " positive! "])).as_deref(),
        Some("labels[2].name")
    );
    assert_eq!(
        field(request(&["ok", "?!"])).as_deref(),
        Some("labels[1].name")
    );
    for votes in [0, 33] {
        let req = ClassifyRequest {
            votes: Some(votes),
            ..request(&["a", "b"])
        };
        assert_eq!(field(req).as_deref(), Some("votes"));
    }
    let req = ClassifyRequest {
        text: "  \n ".into(),
        ..request(&["a"])
    };
    assert_eq!(field(req).as_deref(), Some("text"));
    let req = ClassifyRequest {
        language: Some("de".into()),
        ..request(&["a"])
    };
    assert_eq!(field(req).as_deref(), Some("language"));
}

#[test]
fn defaults_are_five_votes_at_0_7_and_one_greedy_vote() {
    let valid = request(&["a", "b"]).validate().unwrap();
    assert_eq!((valid.votes, valid.sampling.params.temperature), (5, 0.7));
    let one = ClassifyRequest {
        votes: Some(1),
        ..request(&["a", "b"])
    };
    assert_eq!(one.validate().unwrap().sampling.params.temperature, 0.0);
}

#[test]
fn five_votes_come_from_one_call_and_the_tally_sums_to_five() {
    let fx = Fixture::load();
    let answers = ["Positive.", "negative", "positive", "no idea", "חיובי"];
    let generator = Scripted::new(|_, sample, _| answers[sample].to_string());
    let ctx = fx.context(&generator, 4096);
    let req = request(&["positive", "negative"]).validate().unwrap();
    let got = classify(&ctx, &req, &mut |_| true).unwrap();
    let calls = generator.calls.borrow();
    assert_eq!(calls.len(), 1, "one prefill");
    assert_eq!(calls[0].1, 5, "five samples");
    assert_eq!(got.usage.prefills, 1);
    let votes: usize = got.tally.labels.iter().map(|l| l.votes).sum();
    assert_eq!(votes + got.abstentions, 5);
    assert_eq!(got.label.as_deref(), Some("positive"));
    assert_eq!(got.confidence, 0.6);
    assert_eq!(got.abstentions, 1);
    assert_eq!(got.answers.len(), 5);
}

#[test]
fn all_abstentions_give_no_label_and_zero_confidence() {
    let fx = Fixture::load();
    let generator = Scripted::new(|_, _, _| "hmm".to_string());
    let ctx = fx.context(&generator, 4096);
    let req = request(&["positive", "negative"]).validate().unwrap();
    let got = classify(&ctx, &req, &mut |_| true).unwrap();
    assert_eq!((got.label, got.confidence, got.abstentions), (None, 0.0, 5));
}

#[test]
fn a_long_document_is_cut_to_fit_the_context() {
    let fx = Fixture::load();
    let generator = Scripted::new(|_, _, _| "b".to_string());
    let ctx = fx.context(&generator, 512);
    let req = ClassifyRequest {
        text: "מילה ארוכה מאוד. ".repeat(400),
        ..request(&["a", "b"])
    }
    .validate()
    .unwrap();
    let got = classify(&ctx, &req, &mut |_| true).unwrap();
    assert!(got.truncated);
    let (prompt, _, max) = generator.calls.borrow()[0];
    assert!(prompt + max <= 512, "{prompt} + {max}");
    assert_eq!(got.label.as_deref(), Some("b"));
}

#[test]
fn multi_label_keeps_labels_named_by_a_majority() {
    let fx = Fixture::load();
    let answers = ["sports, health", "health", "sports; politics"];
    let generator = Scripted::new(|_, sample, _| answers[sample].to_string());
    let ctx = fx.context(&generator, 4096);
    let req = ClassifyRequest {
        multi_label: true,
        votes: Some(3),
        ..request(&["sports", "politics", "health"])
    }
    .validate()
    .unwrap();
    let got = classify(&ctx, &req, &mut |_| true).unwrap();
    assert_eq!(got.labels, ["sports", "health"]);
    assert!((got.confidence - 2.0 / 3.0).abs() < 1e-9);
}

#[test]
fn a_sink_returning_false_cancels() {
    let fx = Fixture::load();
    let generator = Scripted::new(|_, _, _| "a".to_string());
    let ctx = fx.context(&generator, 4096);
    let req = request(&["a", "b"]).validate().unwrap();
    let err = classify(&ctx, &req, &mut |e| !matches!(e, Event::Token)).unwrap_err();
    assert!(matches!(
        err,
        TaskError::Engine(crate::engine::EngineError::Cancelled)
    ));
}

#[test]
fn few_shot_examples_are_labelled_documents_of_a_real_index() {
    use crate::retrieval::{Document, RetrievalIndex};
    let dir = tempfile::tempdir().unwrap();
    let index = RetrievalIndex::open_or_create(dir.path()).unwrap();
    let example = |id: &str, text: &str, labels: &[&str]| Document {
        id: id.into(),
        paragraphs: vec![text.into()],
        labels: labels.iter().map(|l| l.to_string()).collect(),
        ..Document::default()
    };
    let docs = [
        example(
            "e1",
            "The delivery was fast and the food tasty",
            &["Positive"],
        ),
        example(
            "e2",
            "The delivery was late and the food cold",
            &["negative"],
        ),
        example("e3", "The delivery came with a surprise", &["neutral"]),
        example("e4", "The delivery driver was rude to me", &[]),
    ];
    index.ingest("reviews", &docs).unwrap();
    let fx = Fixture::load();
    let generator = Scripted::new(|_, _, _| "positive".to_string());
    let mut ctx = fx.context(&generator, 4096);
    ctx.retriever = Some(&index);
    let req = ClassifyRequest {
        text: "The delivery was fast".into(),
        collection: Some("reviews".into()),
        ..request(&["positive", "negative"])
    }
    .validate()
    .unwrap();
    let got = classify(&ctx, &req, &mut |_| true).unwrap();
    assert_eq!(got.examples, 2, "labelled with this request's labels only");
    let prompt = &generator.prompts()[0];
    assert!(prompt.contains("fast and the food tasty"), "{prompt}");
    assert!(prompt.contains("late and the food cold"), "{prompt}");
    assert!(
        !prompt.contains("surprise") && !prompt.contains("rude"),
        "{prompt}"
    );
}

#[test]
fn votes_pick_the_vote_method_and_score_rejects_them() {
    let auto = ClassifyRequest {
        method: None,
        ..request(&["a", "b"])
    };
    assert_eq!(auto.clone().validate().unwrap().method, None);
    let voted = ClassifyRequest {
        votes: Some(3),
        ..auto.clone()
    };
    assert_eq!(voted.validate().unwrap().method, Some(ClassifyMethod::Vote));
    let both = ClassifyRequest {
        method: Some(ClassifyMethod::Score),
        votes: Some(3),
        ..auto.clone()
    };
    assert_eq!(both.validate().unwrap_err().field(), Some("votes"));
    for threshold in [0.0, -0.1, 1.5, f64::NAN] {
        let req = ClassifyRequest {
            threshold: Some(threshold),
            ..auto.clone()
        };
        assert_eq!(req.validate().unwrap_err().field(), Some("threshold"));
    }
    let scored = auto.validate().unwrap();
    assert_eq!((scored.score_temperature, scored.threshold), (1.0, 0.3));
    assert_eq!("Score".parse::<ClassifyMethod>(), Ok(ClassifyMethod::Score));
    assert!("ballot".parse::<ClassifyMethod>().is_err());
}

#[test]
fn a_generator_that_cannot_score_is_an_error_not_a_silent_vote() {
    let fx = Fixture::load();
    let generator = Scripted::new(|_, _, _| "positive".to_string());
    let ctx = fx.context(&generator, 4096);
    let req = ClassifyRequest {
        method: Some(ClassifyMethod::Score),
        ..request(&["positive", "negative"])
    }
    .validate()
    .unwrap();
    let err = classify(&ctx, &req, &mut |_| true).unwrap_err();
    assert!(err.to_string().contains("vote method"), "{err}");
    assert!(generator.calls.borrow().is_empty(), "nothing was sampled");
}
