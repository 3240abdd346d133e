//! Properties of the chunker on generated Hebrew/English documents: every chunk within its
//! budget, chunks in order covering the document, overlaps within the requested overlap,
//! boundaries only between words, offsets that map back to the original text.

mod common;

use std::sync::OnceLock;

use proptest::prelude::*;
use sofer::engine::gguf::GgufFile;
use sofer::engine::tokenizer::Tokenizer;
use sofer::text::{chunk, Chunk, ChunkOptions, EstimatedTokens, TokenCounter};

/// The Mistral v1 tokenizer (from a reference GGUF): counts that are not additive, since
/// SentencePiece merges across the spaces between units.
struct Mistral(&'static Tokenizer);

impl TokenCounter for Mistral {
    fn count(&self, text: &str) -> usize {
        self.0.encode(text, false).expect("encode").len()
    }
}

fn mistral() -> Mistral {
    static TOKENIZER: OnceLock<Tokenizer> = OnceLock::new();
    Mistral(TOKENIZER.get_or_init(|| {
        let gguf = GgufFile::open(&common::tiny_gguf("q8_0")).expect("tiny gguf");
        Tokenizer::from_gguf_metadata(gguf.metadata()).expect("tokenizer")
    }))
}

const WORDS: &[&str] = &[
    "שלום",
    "ובבית",
    "צה\"ל",
    "ארה״ב",
    "גב׳",
    "וכו׳",
    "ד\"ר",
    "הַמֶּלֶךְ",
    "ירושלים",
    "3.14",
    "27.11.2026",
    "Tel",
    "Aviv",
    "model",
    "https://example.com/a",
    "חברת",
    "Microsoft",
    "א.",
    "מס׳",
    "e-mail",
    "שֶׁ",
    "(INR>1.5)",
    "—",
    "1,000.5",
];
const ENDS: &[&str] = &[".", "?", "!", ":", "...", "", ".\""];

fn sentence() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(prop::sample::select(WORDS), 1..12),
        prop::sample::select(ENDS),
    )
        .prop_map(|(words, end)| format!("{}{end}", words.join(" ")))
}

fn document() -> impl Strategy<Value = String> {
    let paragraph = prop::collection::vec(sentence(), 1..6).prop_map(|s| s.join(" "));
    let separator = prop::sample::select(&["\n\n", "\n \n", "\n\n\n", "\n- "][..]);
    (
        prop::collection::vec(paragraph, 1..6),
        separator,
        prop::bool::ANY,
    )
        .prop_map(|(paragraphs, separator, padded)| {
            let body = paragraphs.join(separator);
            if padded {
                format!("  \n{body}\n ")
            } else {
                body
            }
        })
}

fn is_blank(text: &str) -> bool {
    text.chars().all(char::is_whitespace)
}

fn check(
    text: &str,
    chunks: &[Chunk],
    options: &ChunkOptions,
    counter: &dyn TokenCounter,
) -> Result<(), TestCaseError> {
    prop_assert!(!chunks.is_empty(), "a non-blank document has chunks");
    prop_assert!(is_blank(&text[..chunks[0].range.start]));
    prop_assert!(is_blank(&text[chunks[chunks.len() - 1].range.end..]));
    for c in chunks {
        let body = &text[c.range.clone()];
        prop_assert!(
            c.tokens <= options.max_tokens,
            "{} > {}",
            c.tokens,
            options.max_tokens
        );
        prop_assert_eq!(c.tokens, counter.count(body));
        prop_assert_eq!(body.trim(), body, "chunks are trimmed");
        let before = text[..c.range.start].chars().next_back();
        let after = text[c.range.end..].chars().next();
        prop_assert!(
            before.is_none_or(char::is_whitespace),
            "starts inside a word: {body:?}"
        );
        prop_assert!(
            after.is_none_or(char::is_whitespace),
            "ends inside a word: {body:?}"
        );
        let by_chars: String = text
            .chars()
            .skip(c.chars.start)
            .take(c.chars.len())
            .collect();
        prop_assert_eq!(by_chars.as_str(), body);
    }
    for pair in chunks.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        prop_assert!(
            a.range.start < b.range.start && a.range.end < b.range.end,
            "in order"
        );
        if b.range.start >= a.range.end {
            prop_assert!(
                is_blank(&text[a.range.end..b.range.start]),
                "no gap but whitespace"
            );
        } else {
            let shared = &text[b.range.start..a.range.end];
            prop_assert!(
                counter.count(shared) <= options.overlap_tokens,
                "overlap {shared:?}"
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn chunks_fit_cover_and_map_back(doc in document(), max in 16usize..120) {
        let options = ChunkOptions { max_tokens: max, overlap_tokens: 0 };
        let chunks = chunk(&doc, &EstimatedTokens, &options).expect("chunks");
        check(&doc, &chunks, &options, &EstimatedTokens)?;
    }

    #[test]
    fn chunks_fit_the_real_tokenizer(doc in document(), max in 24usize..120, overlap in 0usize..8) {
        let options = ChunkOptions { max_tokens: max, overlap_tokens: overlap };
        let chunks = chunk(&doc, &mistral(), &options).expect("chunks");
        check(&doc, &chunks, &options, &mistral())?;
    }

    #[test]
    fn overlaps_stay_within_the_requested_overlap(
        doc in document(),
        max in 24usize..120,
        share in 0.05f64..0.5,
    ) {
        let overlap = ((max as f64) * share) as usize;
        let options = ChunkOptions { max_tokens: max, overlap_tokens: overlap };
        let chunks = chunk(&doc, &EstimatedTokens, &options).expect("chunks");
        check(&doc, &chunks, &options, &EstimatedTokens)?;
    }
}

#[test]
fn a_long_single_paragraph_is_split_not_rejected() {
    let sentence = "הוועדה דנה בהצעת החוק של ח\"כ כהן, וכו׳, ואישרה אותה ב-27.11.2026 ";
    let doc = sentence.repeat(20_000);
    let options = ChunkOptions {
        max_tokens: 512,
        overlap_tokens: 0,
    };
    let chunks = chunk(&doc, &EstimatedTokens, &options).expect("chunks");
    assert!(chunks.len() > 1000, "{} chunks", chunks.len());
    assert!(chunks.iter().all(|c| c.tokens <= 512));
    let joined: usize = chunks
        .iter()
        .map(|c| doc[c.range.clone()].split_whitespace().count())
        .sum();
    assert_eq!(
        joined,
        doc.split_whitespace().count(),
        "every word in exactly one chunk"
    );
}
