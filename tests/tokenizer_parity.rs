//! Our tokenizer against independent ground truth: SentencePiece's own ids for ~1,700 Hebrew
//! and English texts (`tests/fixtures/tokenizer/mistral_v1_ids.jsonl`, written by
//! `scripts/make_tokenizer_fixtures.py`), and the engine reference prompts whose ids
//! SentencePiece and llama.cpp gave (`tests/fixtures/engine/references.json`). The
//! vocabulary is read from a synthesized tiny GGUF's metadata and from Mistral's
//! `tokenizer.json` (`tests/fixtures/tokenizer/`). A missing input fails the test.

mod common;

use std::fs::File;
use std::path::Path;
use std::time::Instant;

use candle_core::quantized::gguf_file;
use sofer::engine::tokenizer::{Tokenizer, TokenizerKind};

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| {
        panic!(
            "test input {} is missing or unreadable: {e}",
            path.display()
        )
    })
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&read(path)).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn ids_of(v: &serde_json::Value) -> Vec<u32> {
    v.as_array()
        .expect("ids array")
        .iter()
        .map(|x| u32::try_from(x.as_u64().expect("id")).expect("u32 id"))
        .collect()
}

/// `(text, SentencePiece ids without BOS)` for every fixture line.
fn fixture() -> Vec<(String, Vec<u32>)> {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tokenizer/mistral_v1_ids.jsonl");
    let cases: Vec<(String, Vec<u32>)> = read(&path)
        .lines()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).expect("fixture line is JSON");
            (
                v["text"].as_str().expect("text").to_string(),
                ids_of(&v["ids"]),
            )
        })
        .collect();
    assert!(cases.len() > 1000, "fixture has only {} texts", cases.len());
    cases
}

fn gguf_tokenizer() -> Tokenizer {
    let path = common::tiny_gguf("f16");
    let mut file = File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let content =
        gguf_file::Content::read(&mut file).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Tokenizer::from_gguf_metadata(&content.metadata).expect("tokenizer from GGUF metadata")
}

fn json_tokenizer() -> Tokenizer {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tokenizer/mistral_v1_tokenizer.json");
    assert!(path.is_file(), "test input {} is missing", path.display());
    Tokenizer::from_tokenizer_json(&path).expect("tokenizer.json loads")
}

/// Asserts `encode` equals SentencePiece on every fixture text, listing the first mismatches.
fn assert_matches_fixture(tk: &Tokenizer, label: &str) {
    let cases = fixture();
    let start = Instant::now();
    let mut tokens = 0;
    let mut mismatches = Vec::new();
    for (text, expected) in &cases {
        let got = tk.encode(text, false).expect("encode");
        tokens += got.len();
        if &got != expected {
            mismatches.push(format!(
                "text {text:?}\n  sentencepiece {expected:?}\n  ours          {got:?}"
            ));
        }
    }
    eprintln!(
        "{label}: {} of {} texts match SentencePiece ({tokens} tokens encoded in {:?})",
        cases.len() - mismatches.len(),
        cases.len(),
        start.elapsed()
    );
    assert!(
        mismatches.is_empty(),
        "{label}: {} of {} texts differ from SentencePiece; first ones:\n{}",
        mismatches.len(),
        cases.len(),
        mismatches
            .iter()
            .take(5)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn gguf_metadata_describes_the_mistral_vocabulary() {
    let tk = gguf_tokenizer();
    assert_eq!(tk.kind(), TokenizerKind::SentencePiece);
    assert_eq!(tk.kind().to_string(), "llama (SentencePiece BPE)");
    assert_eq!(tk.vocab_size(), 32000);
    assert_eq!(
        (tk.bos_id(), tk.eos_id(), tk.unk_id()),
        (Some(1), Some(2), Some(0))
    );
    assert!(tk.add_bos_default());
    assert_eq!(tk.id_to_piece(1), Some("<s>"));
    assert_eq!(tk.id_to_piece(32000), None);
    assert!(tk.is_control(1) && tk.is_control(2) && !tk.is_control(0) && !tk.is_control(415));
}

#[test]
fn gguf_tokenizer_matches_sentencepiece_on_every_fixture_text() {
    assert_matches_fixture(&gguf_tokenizer(), "GGUF metadata");
}

#[test]
fn tokenizer_json_matches_sentencepiece_on_every_fixture_text() {
    let tk = json_tokenizer();
    assert_eq!(tk.kind(), TokenizerKind::HfJson);
    assert_eq!(tk.vocab_size(), 32000);
    assert_eq!(
        (tk.bos_id(), tk.eos_id(), tk.unk_id()),
        (Some(1), Some(2), Some(0))
    );
    assert!(
        tk.add_bos_default(),
        "the file's post-processor prepends <s>"
    );
    assert_matches_fixture(&tk, "tokenizer.json");
}

#[test]
fn reference_prompts_match_with_bos() {
    for tk in [gguf_tokenizer(), json_tokenizer()] {
        for name in ["en", "he"] {
            let text = common::prompt_text(name);
            let expected = common::prompt_ids(name);
            assert_eq!(
                tk.encode(text, true).unwrap(),
                expected,
                "{} prompt {name}",
                tk.kind()
            );
            assert_eq!(
                tk.encode_with_special(text, true).unwrap(),
                expected,
                "{} prompt {name}",
                tk.kind()
            );
        }
        let inst = common::prompt_text("inst");
        assert!(inst.starts_with("<s>[INST]"));
        let expected = common::prompt_ids("inst");
        assert_eq!(
            tk.encode_with_special(inst, false).unwrap(),
            expected,
            "{} prompt inst",
            tk.kind()
        );
        // As plain text, the literal `<s>` stays text: only the BOS we ask for is control.
        let plain = tk.encode(inst, true).unwrap();
        assert_ne!(plain, expected);
        assert_eq!(
            plain.iter().filter(|&&id| tk.is_control(id)).count(),
            1,
            "{}",
            tk.kind()
        );
        assert_eq!(
            tk.decode(&expected),
            "[INST] סכם את הטקסט הבא: ירושלים היא עיר הבירה של ישראל. [/INST]"
        );
    }
}

#[test]
fn encode_with_special_agrees_between_gguf_and_tokenizer_json() {
    let (gguf, hf) = (gguf_tokenizer(), json_tokenizer());
    for (text, expected) in fixture() {
        let ours = gguf.encode_with_special(&text, false).unwrap();
        assert_eq!(
            ours,
            hf.encode_with_special(&text, false).unwrap(),
            "text {text:?}"
        );
        if !["<s>", "</s>", "<unk>"].iter().any(|s| text.contains(s)) {
            assert_eq!(ours, expected, "no special strings, so as encode: {text:?}");
        }
    }
}

#[test]
fn decode_inverts_encode_up_to_the_space_symbol() {
    // SentencePiece with identity normalization round-trips exactly, except that a literal
    // `▁` in the text comes back as a space (the fixture script checks the same on SentencePiece).
    for tk in [gguf_tokenizer(), json_tokenizer()] {
        for (text, ids) in fixture() {
            let expected = text.replace('\u{2581}', " ");
            assert_eq!(
                tk.decode(&ids),
                expected,
                "{}: decode of {text:?}",
                tk.kind()
            );
            let mut with_bos = vec![1];
            with_bos.extend(&ids);
            with_bos.push(2);
            assert_eq!(
                tk.decode(&with_bos),
                expected,
                "{}: BOS/EOS are invisible",
                tk.kind()
            );
        }
    }
}

#[test]
fn token_bytes_concatenate_to_the_text_with_its_dummy_space() {
    let hebrew = "שלום עולם, זהו מבחן של מודל שפה בעברית. בְּרֵאשִׁית 👨‍👩‍👧";
    for tk in [gguf_tokenizer(), json_tokenizer()] {
        let ids = tk.encode(hebrew, true).unwrap();
        let bytes: Vec<u8> = ids
            .iter()
            .flat_map(|&id| tk.token_bytes(id).to_vec())
            .collect();
        assert_eq!(bytes, format!(" {hebrew}").into_bytes(), "{}", tk.kind());
        assert!(ids
            .iter()
            .any(|&id| tk.token_bytes(id).len() == 1 && tk.token_bytes(id)[0] >= 0x80));
        for (text, ids) in fixture().iter().filter(|(t, _)| !t.is_empty()) {
            let bytes: Vec<u8> = ids
                .iter()
                .flat_map(|&id| tk.token_bytes(id).to_vec())
                .collect();
            assert_eq!(
                bytes,
                format!(" {text}").replace('\u{2581}', " ").into_bytes(),
                "{}: {text:?}",
                tk.kind()
            );
        }
    }
}

/// SmolLM2-135M-Instruct (byte-level BPE, `pre = smollm`) against llama.cpp's tokenizer:
/// `tests/fixtures/smollm2/` (see its README); the GGUF is `$SOFER_SMOLLM2`, default
/// `models/SmolLM2-135M-Instruct.Q4_1.gguf` (fetched by `scripts/fetch_smollm2.sh`).
#[test]
fn smollm2_gguf_tokenizer_matches_llama_cpp() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let path = common::smollm2_gguf();
    let mut file = File::open(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run scripts/fetch_smollm2.sh)", path.display()));
    let content =
        gguf_file::Content::read(&mut file).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let tk = Tokenizer::from_gguf_metadata(&content.metadata).expect("SmolLM2 tokenizer");
    assert_eq!(tk.kind(), TokenizerKind::Gpt2);
    assert_eq!(tk.kind().to_string(), "gpt2 (byte-level BPE)");
    assert_eq!(tk.vocab_size(), 49152);
    assert_eq!(
        (tk.bos_id(), tk.eos_id(), tk.unk_id()),
        (Some(1), Some(2), Some(0))
    );
    assert!(!tk.add_bos_default());
    assert_eq!(tk.id_to_piece(1), Some("<|im_start|>"));
    assert!((0..=16).all(|id| tk.is_control(id)) && !tk.is_control(17));

    let cases = json(&root.join("tests/fixtures/smollm2/tokenize.json"));
    let cases = cases.as_array().expect("tokenize.json is a list");
    assert!(cases.len() >= 30, "only {} SmolLM2 cases", cases.len());
    for case in cases {
        let text = case["text"].as_str().expect("text");
        let ids = ids_of(&case["ids"]);
        assert_eq!(tk.encode(text, false).unwrap(), ids, "encode {text:?}");
        assert_eq!(
            tk.encode_with_special(text, false).unwrap(),
            ids_of(&case["ids_special"]),
            "encode_with_special {text:?}"
        );
        if case["roundtrip"].as_bool() == Some(true) {
            assert_eq!(tk.decode(&ids), text, "decode {text:?}");
            let bytes: Vec<u8> = ids
                .iter()
                .flat_map(|&id| tk.token_bytes(id).to_vec())
                .collect();
            assert_eq!(bytes, text.as_bytes(), "token_bytes {text:?}");
        }
    }

    let greedy = json(&root.join("tests/fixtures/smollm2/greedy.json"));
    let prompt = greedy["prompt"].as_str().expect("prompt");
    let prompt_ids = ids_of(&greedy["prompt_ids"]);
    assert_eq!(tk.encode_with_special(prompt, false).unwrap(), prompt_ids);
    assert_eq!(
        tk.encode_with_special(prompt, tk.add_bos_default())
            .unwrap(),
        prompt_ids
    );
    let greedy_ids = ids_of(&greedy["greedy_ids"]);
    assert_eq!(
        tk.decode(&greedy_ids),
        greedy["greedy_text_nospecial"].as_str().expect("text")
    );
}
