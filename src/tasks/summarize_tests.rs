use super::*;
use crate::tasks::testing::{Fixture, Reversed, Scripted};

fn request(text: &str) -> SummarizeRequest {
    SummarizeRequest {
        text: text.into(),
        ..Default::default()
    }
}

#[test]
fn bad_requests_name_the_field() {
    let field = |req: SummarizeRequest| req.validate().unwrap_err().field().map(str::to_string);
    assert_eq!(field(request("\t ")).as_deref(), Some("text"));
    for bad in ["tiny", "5", "2001", "-3"] {
        let req = SummarizeRequest {
            length: Some(bad.into()),
            ..request("x")
        };
        assert_eq!(field(req).as_deref(), Some("length"), "{bad}");
    }
    let req = SummarizeRequest {
        style: Some("poem".into()),
        ..request("x")
    };
    assert_eq!(field(req).as_deref(), Some("style"));
    let req = SummarizeRequest {
        output_language: Some("ar".into()),
        ..request("x")
    };
    assert_eq!(field(req).as_deref(), Some("output_language"));
    let req = SummarizeRequest {
        sampling: SamplingRequest {
            temperature: Some(3.0),
            ..Default::default()
        },
        ..request("x")
    };
    assert_eq!(field(req).as_deref(), Some("temperature"));
    let ok = SummarizeRequest {
        length: Some("120".into()),
        ..request("x")
    };
    let ok = ok.validate().unwrap();
    assert_eq!(ok.length, SummaryLength::Words(120));
    assert_eq!(ok.sampling.params.temperature, 0.2);
}

#[test]
fn a_short_document_is_summarized_in_one_streamed_call() {
    let fx = Fixture::load();
    let generator = Scripted::new(|_, _, _| "סיכום קצר.".to_string());
    let ctx = fx.context(&generator, 4096);
    let req = request("ים המלח הוא אגם מלוח.\n\nהוא הנמוך בעולם.")
        .validate()
        .unwrap();
    let mut streamed = String::new();
    let got = summarize(&ctx, &req, &mut |e| {
        if let Event::Text(t) = e {
            streamed.push_str(t);
        }
        true
    })
    .unwrap();
    assert_eq!(got.text, "סיכום קצר.");
    assert_eq!(streamed, "סיכום קצר.");
    assert_eq!(
        (got.chunks.len(), got.reduce_rounds, got.usage.prefills),
        (1, 0, 1)
    );
    assert_eq!(got.chunks[0].paragraphs, 0..2);
}

#[test]
fn a_long_document_maps_then_reduces_recursively_in_order() {
    let fx = Fixture::load();
    // Map calls answer with their chunk's first word; reduce calls join what they got.
    let generator = Scripted::new(|_, _, prompt| {
        if let Some(rest) = prompt.split("טקסט:").nth(1) {
            return rest.split_whitespace().next().unwrap_or("").to_string();
        }
        let parts: Vec<&str> = prompt
            .split_whitespace()
            .filter(|w| {
                w.strip_prefix("פסקה")
                    .is_some_and(|n| n.starts_with(|c: char| c.is_ascii_digit()))
            })
            .collect();
        parts.join(" ")
    });
    let ctx = fx.context(&generator, 400);
    let paragraphs: Vec<String> = (0..40)
        .map(|i| format!("פסקה{i} מספר {i} מדברת על נושא חשוב מאוד ומעניין."))
        .collect();
    let req = SummarizeRequest {
        sampling: SamplingRequest {
            max_tokens: Some(40),
            ..Default::default()
        },
        ..request(&paragraphs.join("\n\n"))
    }
    .validate()
    .unwrap();
    let got = summarize(&ctx, &req, &mut |_| true).unwrap();
    assert!(got.chunks.len() > 2, "{} chunks", got.chunks.len());
    assert!(got.reduce_rounds >= 1);
    let mut next = 0;
    for c in &got.chunks {
        assert!(c.tokens <= got.chunk_budget);
        assert_eq!(c.paragraphs.start, next);
        next = c.paragraphs.end;
    }
    assert_eq!(next, 40);
    for (prompt, _, max) in generator.calls.borrow().iter() {
        assert!(prompt + max <= 400, "{prompt} + {max}");
    }
    let firsts: Vec<String> = got
        .chunks
        .iter()
        .map(|c| format!("פסקה{}", c.paragraphs.start))
        .collect();
    assert_eq!(got.text, firsts.join(" "), "reduce keeps chunk order");
    // Chunks and reduce groups that finish last first give the same summary.
    let reversed = Reversed(&generator);
    let ctx = fx.context(&reversed, 400);
    let mut steps = Vec::new();
    let again = summarize(&ctx, &req, &mut |e| {
        if let Event::Step { name, done, .. } = e {
            steps.push((name, done));
        }
        true
    })
    .unwrap();
    assert_eq!(again.text, got.text);
    assert_eq!(again.chunks, got.chunks);
    assert_eq!(again.reduce_rounds, got.reduce_rounds);
    let maps: Vec<usize> = steps
        .iter()
        .filter(|(name, _)| *name == "map")
        .map(|(_, done)| *done)
        .collect();
    assert_eq!(maps, (0..got.chunks.len()).collect::<Vec<_>>());
}

struct OnePassage;

impl crate::retrieval::Retriever for OnePassage {
    fn retrieve(
        &self,
        query: &SearchQuery,
    ) -> Result<Vec<crate::retrieval::Hit>, crate::retrieval::RetrievalError> {
        assert_eq!(query.collection, "news");
        Ok(vec![crate::retrieval::Hit {
            doc_id: "dead-sea".into(),
            passage_id: 3,
            paragraph: 0,
            title: "ים המלח".into(),
            text: "פני ים המלח יורדים במטר בשנה.".into(),
            char_start: 0,
            char_end: 29,
            score: 1.0,
            snippet: String::new(),
            language: crate::text::Language::He,
            source: "test".into(),
            translation: None,
            labels: Vec::new(),
        }])
    }
}

#[test]
fn retrieved_passages_are_given_as_context_and_citations_reported() {
    let fx = Fixture::load();
    let generator = Scripted::new(|_, _, prompt| {
        assert!(prompt.contains("[dead-sea#3] פני ים המלח"), "{prompt}");
        "האגם מתייבש [dead-sea#3].".to_string()
    });
    let mut ctx = fx.context(&generator, 4096);
    ctx.retriever = Some(&OnePassage);
    let req = SummarizeRequest {
        collection: Some("news".into()),
        ..request("ים המלח הוא אגם מלוח.")
    }
    .validate()
    .unwrap();
    let got = summarize(&ctx, &req, &mut |_| true).unwrap();
    assert_eq!(got.citations.len(), 1);
    assert_eq!(got.citations[0].id, "dead-sea#3");
    assert!(got.citations[0].cited);
}
