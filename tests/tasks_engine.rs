//! The tasks on the real engine with the tiny reference model (random weights: the text is
//! gibberish, but decomposition, budgets, voting and consensus are the real thing).

mod common;

use std::cell::RefCell;
use std::collections::HashSet;

use sofer::engine::generate::Sink;
use sofer::engine::gguf::GgufFile;
use sofer::engine::{Completion, Engine, EngineOptions, GenerationParams, Generator};
use sofer::prompt::{ChatFormat, PromptSet};
use sofer::tasks::{
    classify, summarize, translate, ClassifyRequest, Event, LabelSpec, SamplingRequest,
    SummarizeRequest, TaskContext, TokenizerCounter, TranslateRequest,
};
use sofer::text::{paragraphs, TokenCounter};

/// The engine, recording each call's prompt tokens processed (one prefill), samples and
/// output budget, as the engine's own timings report them.
struct Recording {
    engine: Engine,
    calls: RefCell<Vec<(usize, usize, usize)>>,
}

impl Generator for Recording {
    fn generate_n(
        &self,
        prompt: &[u32],
        params: &GenerationParams,
        n: usize,
        sink: &mut Sink<'_>,
    ) -> sofer::engine::Result<Vec<Completion>> {
        let (out, timings) = self.engine.generate_n_timed(prompt, params, n, sink)?;
        self.calls
            .borrow_mut()
            .push((timings.prompt_tokens, n, params.max_tokens));
        Ok(out)
    }
}

struct Setup {
    generator: Recording,
    format: ChatFormat,
    prompts: PromptSet,
}

impl Setup {
    fn tiny() -> Self {
        let path = common::tiny_gguf("q8_0");
        let engine = Engine::load(&EngineOptions {
            model: path.clone(),
            ..Default::default()
        })
        .expect("load tiny model");
        let gguf = GgufFile::open(&path).expect("open");
        Self {
            format: ChatFormat::from_gguf_metadata(gguf.metadata()).expect("chat format"),
            prompts: PromptSet::load(None).expect("prompts"),
            generator: Recording {
                engine,
                calls: RefCell::new(Vec::new()),
            },
        }
    }

    /// The recording generator runs calls one after another; this context gives the tasks
    /// the engine itself, which runs them side by side.
    fn parallel(&self) -> TaskContext<'_> {
        TaskContext {
            generator: &self.generator.engine,
            ..self.context()
        }
    }

    fn context(&self) -> TaskContext<'_> {
        TaskContext {
            generator: &self.generator,
            tokenizer: self.generator.engine.tokenizer(),
            format: &self.format,
            prompts: &self.prompts,
            context_length: self.generator.engine.info().config.context_length,
            retriever: None,
        }
    }
}

#[test]
fn classify_five_votes_is_one_prefill_and_the_tally_sums_to_five() {
    let setup = Setup::tiny();
    let req = ClassifyRequest {
        text: "הסרט היה נפלא ונהניתי מכל רגע.".into(),
        labels: ["חיובי", "שלילי", "ניטרלי"]
            .iter()
            .map(|n| LabelSpec {
                name: n.to_string(),
                description: None,
            })
            .collect(),
        votes: Some(5),
        sampling: SamplingRequest {
            seed: Some(7),
            ..Default::default()
        },
        ..Default::default()
    }
    .validate()
    .expect("valid");
    let before = setup.generator.engine.counters();
    let got = classify(&setup.context(), &req, &mut |_| true).expect("classify");
    let after = setup.generator.engine.counters();
    assert_eq!(
        after.prefills - before.prefills,
        1,
        "the engine ran one prefill"
    );
    assert_eq!(
        (after.prompt_tokens - before.prompt_tokens) as usize,
        got.usage.prompt_tokens
    );
    let calls = setup.generator.calls.borrow();
    assert_eq!(calls.len(), 1, "one generate_n call");
    assert_eq!(calls[0].1, 5);
    assert_eq!(
        calls[0].0, got.usage.prompt_tokens,
        "the prompt was processed once"
    );
    let votes: usize = got.tally.labels.iter().map(|l| l.votes).sum();
    assert_eq!(votes + got.abstentions, 5);
    assert_eq!(got.answers.len(), 5);
    assert_eq!(got.tally.samples, 5);
}

/// The UD Hebrew documents, concatenated until they cost about 30,000 tokens.
fn hebrew_document(counter: &dyn TokenCounter) -> String {
    let path = common::eval_data_dir().join("hebrew/he_ud_docs.jsonl");
    let text = std::fs::read_to_string(&path).expect("he_ud_docs.jsonl");
    let mut paragraphs_out = Vec::new();
    let mut tokens = 0;
    for line in text.lines() {
        let doc: serde_json::Value = serde_json::from_str(line).expect("json line");
        for p in doc["paragraphs"].as_array().expect("paragraphs") {
            let p = p.as_str().expect("paragraph").trim();
            if tokens < 30_000 && !p.is_empty() {
                tokens += counter.count(p);
                paragraphs_out.push(p.to_string());
            }
        }
    }
    assert!(tokens >= 30_000, "only {tokens} tokens of Hebrew");
    paragraphs_out.join("\n\n")
}

#[test]
fn a_30k_token_hebrew_document_map_reduces_with_every_chunk_in_budget() {
    let setup = Setup::tiny();
    let ctx = setup.context();
    let counter = TokenizerCounter(ctx.tokenizer);
    let text = hebrew_document(&counter);
    let req = SummarizeRequest {
        text: text.clone(),
        sampling: SamplingRequest {
            max_tokens: Some(8),
            ..Default::default()
        },
        chunk_tokens: Some(1024),
        ..Default::default()
    }
    .validate()
    .expect("valid");
    let got = summarize(&ctx, &req, &mut |_| true).expect("summarize");
    assert!(got.chunks.len() >= 8, "{} chunks", got.chunks.len());
    assert!(got.reduce_rounds >= 1);
    let chars: Vec<char> = text.chars().collect();
    let paras = paragraphs(&text);
    let mut owner = vec![Vec::new(); paras.len()];
    for (i, c) in got.chunks.iter().enumerate() {
        let chunk_text: String = chars[c.chars.clone()].iter().collect();
        assert_eq!(counter.count(&chunk_text), c.tokens);
        assert!(
            c.tokens <= got.chunk_budget,
            "chunk {i}: {} tokens",
            c.tokens
        );
        for p in c.paragraphs.clone() {
            owner[p].push(i);
        }
    }
    // A paragraph lands in exactly one chunk, or (longer than the budget) in consecutive
    // chunks that hold nothing else; chunks follow the paragraphs in order.
    let mut last = 0;
    let mut split = 0;
    for (p, chunks) in owner.iter().enumerate() {
        assert!(!chunks.is_empty(), "paragraph {p} is in no chunk");
        if chunks.len() > 1 {
            split += 1;
            assert!(
                chunks.windows(2).all(|w| w[1] == w[0] + 1),
                "paragraph {p}: {chunks:?}"
            );
            for &c in chunks {
                assert_eq!(
                    got.chunks[c].paragraphs,
                    p..p + 1,
                    "chunk {c} shares paragraph {p}"
                );
            }
            assert!(counter.count(&text[paras[p].clone()]) > got.chunk_budget);
        }
        assert!(chunks[0] >= last, "paragraph {p} out of order");
        last = *chunks.last().unwrap_or(&last);
    }
    assert!(split < paras.len() / 10, "{split} paragraphs split");
    let calls = setup.generator.calls.borrow();
    assert_eq!(calls.len(), got.usage.prefills);
    assert!(
        calls.len() > got.chunks.len(),
        "map calls plus reduce calls"
    );
    for (prompt, _, max) in calls.iter() {
        assert!(prompt + max <= ctx.context_length);
    }
    // The engine runs the chunks (and each round's groups) side by side: same summary.
    let parallel = setup.parallel();
    let again = summarize(&parallel, &req, &mut |_| true).expect("summarize side by side");
    assert_eq!(again.text, got.text);
    assert_eq!(again.chunks, got.chunks);
    assert_eq!(again.usage.prefills, got.usage.prefills);
}

#[test]
fn translate_with_three_candidates_picks_the_mbr_consensus_per_paragraph() {
    let setup = Setup::tiny();
    let req = TranslateRequest {
        text: "ים המלח הוא אגם מלוח.\n\n- פריט ראשון\n- פריט שני\n\n12:30".into(),
        candidates: Some(3),
        sampling: SamplingRequest {
            max_tokens: Some(12),
            seed: Some(3),
            ..Default::default()
        },
        ..Default::default()
    }
    .validate()
    .expect("valid");
    let got = translate(&setup.context(), &req, &mut |_| true).expect("translate");
    assert_eq!(
        setup.generator.calls.borrow().len(),
        2,
        "one prefill per paragraph"
    );
    assert!(got.text.ends_with("\n\n12:30"), "{:?}", got.text);
    let candidates = got.candidates.as_ref().expect("candidates");
    assert_eq!(candidates.len(), 3);
    let distinct: HashSet<&String> = candidates.iter().collect();
    assert!(distinct.len() > 1, "samples at 0.6 differ");
    for seg in got.segments.iter().filter(|s| s.translated) {
        let c = seg.consensus.as_ref().expect("consensus");
        let best = c.mean_chrf.iter().cloned().fold(f64::MIN, f64::max);
        assert_eq!(c.mean_chrf[c.chosen], best);
    }
    // Side by side in the engine's batch: the same candidates, and the text streams in order.
    let mut streamed = String::new();
    let again = translate(&setup.parallel(), &req, &mut |e| {
        if let Event::Text(t) = e {
            streamed.push_str(t);
        }
        true
    })
    .expect("translate side by side");
    assert_eq!(again.candidates, got.candidates);
    assert_eq!(again.segments, got.segments);
    assert_eq!(again.text, got.text);
    assert_eq!(streamed, got.text);
}
