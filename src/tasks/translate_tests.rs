use super::*;
use crate::tasks::testing::{Fixture, Reversed, Scripted};

fn request(text: &str) -> TranslateRequest {
    TranslateRequest {
        text: text.into(),
        ..Default::default()
    }
}

fn entry(s: &str, t: &str) -> GlossaryEntry {
    GlossaryEntry {
        source: s.into(),
        target: t.into(),
    }
}

#[test]
fn bad_requests_name_the_field() {
    let field = |req: TranslateRequest| req.validate().unwrap_err().field().map(str::to_string);
    assert_eq!(field(request(" ")).as_deref(), Some("text"));
    let same = TranslateRequest {
        source_language: Some("he".into()),
        target_language: Some("he".into()),
        ..request("שלום")
    };
    assert_eq!(field(same).as_deref(), Some("target_language"));
    let fr = TranslateRequest {
        target_language: Some("fr".into()),
        ..request("שלום")
    };
    assert_eq!(field(fr).as_deref(), Some("target_language"));
    assert_eq!(
        field(request("1234 5678")).as_deref(),
        Some("source_language")
    );
    for k in [0, 33] {
        let req = TranslateRequest {
            candidates: Some(k),
            ..request("שלום")
        };
        assert_eq!(field(req).as_deref(), Some("candidates"));
    }
    let req = TranslateRequest {
        glossary: vec![entry("שלום", " ")],
        ..request("שלום")
    };
    assert_eq!(field(req).as_deref(), Some("glossary[0].target"));
}

#[test]
fn defaults_detect_the_source_and_pick_the_temperature_by_k() {
    let one = request("שלום עולם").validate().unwrap();
    assert_eq!((one.source, one.target), (Language::He, Language::En));
    assert_eq!(one.sampling.params.temperature, 0.1);
    let many = TranslateRequest {
        candidates: Some(4),
        ..request("Hello world")
    }
    .validate()
    .unwrap();
    assert_eq!((many.source, many.target), (Language::En, Language::He));
    assert_eq!(many.sampling.params.temperature, 0.6);
}

#[test]
fn paragraphs_translate_in_order_and_structure_survives() {
    let fx = Fixture::load();
    let generator = Scripted::new(|call, _, _| format!("T{call}"));
    let ctx = fx.context(&generator, 4096);
    let req = request("שלום עולם.\n\n2024-05-01 — 42%\n\nפסקה שנייה.\n")
        .validate()
        .unwrap();
    let mut streamed = String::new();
    let got = translate(&ctx, &req, &mut |e| {
        if let Event::Text(t) = e {
            streamed.push_str(t);
        }
        true
    })
    .unwrap();
    assert_eq!(got.text, "T0\n\n2024-05-01 — 42%\n\nT1\n");
    assert_eq!(streamed, got.text);
    assert_eq!(got.usage.chunks, 2);
    assert_eq!(got.usage.prefills, 2);
    assert!(!got.segments[1].translated);
    assert!(got.candidates.is_none());
}

#[test]
fn paragraphs_finishing_out_of_order_still_stream_and_assemble_in_order() {
    let fx = Fixture::load();
    // Each answer names its paragraph, whatever order the calls run in.
    let scripted = Scripted::new(|_, sample, prompt: &str| {
        let n = ["אחת", "שתיים", "שלוש", "ארבע"]
            .iter()
            .position(|w| prompt.contains(w))
            .unwrap_or(9);
        format!("P{n}s{sample}")
    });
    let text =
        "פסקה אחת.\n\n2024 — 42%\n\nפסקה שתיים.\n\nפסקה שלוש.\n\n```\ncode\n```\n\nפסקה ארבע.";
    for k in [1, 3] {
        let req = TranslateRequest {
            candidates: Some(k),
            ..request(text)
        }
        .validate()
        .unwrap();
        let run = |generator: &dyn crate::engine::Generator| {
            let ctx = fx.context(generator, 4096);
            let (mut streamed, mut steps) = (String::new(), Vec::new());
            let got = translate(&ctx, &req, &mut |e| {
                match e {
                    Event::Text(t) => streamed.push_str(t),
                    Event::Step { done, .. } => steps.push(done),
                    _ => {}
                }
                true
            })
            .unwrap();
            (got, streamed, steps)
        };
        let (in_order, streamed, steps) = run(&scripted);
        let (reversed, streamed_reversed, steps_reversed) = run(&Reversed(&scripted));
        let want = "P0s0\n\n2024 — 42%\n\nP1s0\n\nP2s0\n\n```\ncode\n```\n\nP3s0";
        if k == 1 {
            assert_eq!(in_order.text, want);
        }
        assert_eq!(reversed.text, in_order.text, "k={k}");
        assert_eq!(reversed.segments, in_order.segments, "k={k}");
        assert_eq!(reversed.candidates, in_order.candidates, "k={k}");
        assert_eq!(streamed, in_order.text, "k={k}");
        assert_eq!(streamed_reversed, in_order.text, "k={k}");
        assert_eq!(steps, vec![0, 2, 3, 5]);
        assert_eq!(steps_reversed, steps);
        assert_eq!(reversed.usage.prefills, 4);
    }
}

#[test]
fn k_candidates_come_from_one_call_and_consensus_picks_the_central_one() {
    let fx = Fixture::load();
    let answers = [
        "The dog ran in the park",
        "The dog runs in the park today",
        "The dog ran in the park today",
        "Rain will fall tomorrow",
    ];
    let generator = Scripted::new(|_, sample, _| answers[sample].to_string());
    let ctx = fx.context(&generator, 4096);
    let req = TranslateRequest {
        candidates: Some(4),
        glossary: vec![entry("כלב", "hound"), entry("חתול", "cat")],
        ..request("הכלב רץ בפארק היום")
    }
    .validate()
    .unwrap();
    let got = translate(&ctx, &req, &mut |_| true).unwrap();
    assert_eq!(generator.calls.borrow().len(), 1);
    assert_eq!(generator.calls.borrow()[0].1, 4);
    assert_eq!(got.text, answers[2]);
    assert_eq!(got.candidates.as_ref().unwrap().len(), 4);
    let consensus = got.segments[0].consensus.as_ref().unwrap();
    assert_eq!(consensus.chosen, 2);
    assert_eq!(
        got.glossary_violations.len(),
        1,
        "{:?}",
        got.glossary_violations
    );
    assert_eq!(got.glossary_violations[0].target, "hound");
}

#[test]
fn an_oversized_paragraph_is_cut_and_every_call_fits() {
    let fx = Fixture::load();
    let generator = Scripted::new(|_, _, _| "x".to_string());
    let ctx = fx.context(&generator, 512);
    let req = request("משפט ארוך למדי על נושא כלשהו. ".repeat(60).trim())
        .validate()
        .unwrap();
    let got = translate(&ctx, &req, &mut |_| true).unwrap();
    let calls = generator.calls.borrow();
    assert!(calls.len() > 1);
    for (prompt, _, max) in calls.iter() {
        assert!(prompt + max <= 512, "{prompt} + {max}");
    }
    assert_eq!(got.text, vec!["x"; calls.len()].join(" "));
}

#[test]
fn translation_memory_comes_from_entries_with_a_translation_in_a_real_index() {
    use crate::retrieval::{Document, RetrievalIndex};
    let dir = tempfile::tempdir().unwrap();
    let index = RetrievalIndex::open_or_create(dir.path()).unwrap();
    let entry = |id: &str, text: &str, translation: Option<&str>| Document {
        id: id.into(),
        paragraphs: vec![text.into()],
        translation: translation.map(str::to_string),
        ..Document::default()
    };
    let docs = [
        entry(
            "tm-1",
            "הממשלה אישרה את תקציב המדינה",
            Some("The government approved the state budget"),
        ),
        entry("plain", "הממשלה אישרה את תקציב המדינה השנה", None),
        entry(
            "other",
            "מזג האוויר נאה היום",
            Some("The weather is nice today"),
        ),
    ];
    index.ingest("tm", &docs).unwrap();
    let fx = Fixture::load();
    let generator = Scripted::new(|_, _, _| "The government approved the budget".to_string());
    let mut ctx = fx.context(&generator, 4096);
    ctx.retriever = Some(&index);
    let req = TranslateRequest {
        collection: Some("tm".into()),
        ..request("הממשלה אישרה את התקציב")
    }
    .validate()
    .unwrap();
    let got = translate(&ctx, &req, &mut |_| true).unwrap();
    let prompts = generator.prompts();
    assert_eq!(
        got.segments[0].memory, 1,
        "only the entry with a translation"
    );
    assert!(
        prompts[0].contains("The government approved the state budget"),
        "{}",
        prompts[0]
    );
    assert!(
        !prompts[0].contains("השנה"),
        "an entry without translation is no example"
    );
}

#[test]
fn a_short_glossary_is_listed_whole_in_every_paragraph_a_long_one_only_where_its_terms_occur() {
    let fx = Fixture::load();
    let generator = Scripted::new(|_, _, _| "the hound and the cat".to_string());
    let ctx = fx.context(&generator, 8192);
    let text = "הכלב רץ בפארק.\n\nהחתול ישן בבית.";
    let short = vec![entry("כלב", "hound"), entry("חתול", "cat")];
    let req = TranslateRequest {
        glossary: short,
        ..request(text)
    }
    .validate()
    .unwrap();
    let got = translate(&ctx, &req, &mut |_| true).unwrap();
    let prompts = generator.prompts();
    assert_eq!(prompts.len(), 2);
    for prompt in &prompts {
        assert!(prompt.contains("כלב → hound") && prompt.contains("חתול → cat"));
    }
    // Each paragraph is still held only to the terms it has: both are used here.
    assert!(got.glossary_violations.is_empty());

    let generator = Scripted::new(|_, _, _| "the hound".to_string());
    let ctx = fx.context(&generator, 8192);
    let mut long: Vec<GlossaryEntry> = (0..200)
        .map(|i| entry(&format!("מונח ארוך מספר {i}"), &format!("long term {i}")))
        .collect();
    long.push(entry("כלב", "hound"));
    let req = TranslateRequest {
        glossary: long,
        ..request(text)
    }
    .validate()
    .unwrap();
    translate(&ctx, &req, &mut |_| true).unwrap();
    let prompts = generator.prompts();
    assert!(prompts[0].contains("כלב → hound"));
    assert!(!prompts[0].contains("long term 7"));
    assert!(!prompts[1].contains("כלב → hound"), "{}", prompts[1]);
}
