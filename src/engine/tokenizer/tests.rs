//! Unit tests on toy vocabularies: merge order, byte fallback, special tokens, errors.

use super::*;

fn s(x: &str) -> Value {
    Value::String(x.to_string())
}

fn strings(items: &[&str]) -> Value {
    Value::Array(items.iter().map(|x| s(x)).collect())
}

/// A SentencePiece-style GGUF header: `<unk>`, `<s>`, `</s>`, optionally the 256 byte
/// tokens, then `pieces` with their scores and types.
fn spm_md(pieces: &[(&str, f32, i32)], bytes: bool) -> HashMap<String, Value> {
    let mut tokens = vec![
        ("<unk>".to_string(), 0.0, 2),
        ("<s>".into(), 0.0, 3),
        ("</s>".into(), 0.0, 3),
    ];
    if bytes {
        tokens.extend((0..=255u8).map(|b| (format!("<0x{b:02X}>"), 0.0, 6)));
    }
    tokens.extend(pieces.iter().map(|&(p, sc, t)| (p.to_string(), sc, t)));
    let mut md = HashMap::new();
    md.insert("tokenizer.ggml.model".into(), s("llama"));
    md.insert(
        "tokenizer.ggml.tokens".into(),
        Value::Array(tokens.iter().map(|t| Value::String(t.0.clone())).collect()),
    );
    md.insert(
        "tokenizer.ggml.scores".into(),
        Value::Array(tokens.iter().map(|t| Value::F32(t.1)).collect()),
    );
    md.insert(
        "tokenizer.ggml.token_type".into(),
        Value::Array(tokens.iter().map(|t| Value::I32(t.2)).collect()),
    );
    md.insert("tokenizer.ggml.bos_token_id".into(), Value::U32(1));
    md.insert("tokenizer.ggml.eos_token_id".into(), Value::U32(2));
    md
}

fn pieces(tk: &Tokenizer, ids: &[u32]) -> Vec<String> {
    ids.iter()
        .map(|&id| tk.id_to_piece(id).unwrap_or("?").to_string())
        .collect()
}

fn spm(pieces: &[(&str, f32, i32)]) -> Tokenizer {
    Tokenizer::from_gguf_metadata(&spm_md(pieces, true)).expect("toy vocabulary loads")
}

#[test]
fn highest_score_merges_first() {
    let tk = spm(&[
        ("a", -1.0, 1),
        ("b", -1.0, 1),
        ("c", -1.0, 1),
        ("ab", -5.0, 1),
        ("bc", -2.0, 1),
    ]);
    assert_eq!(tk.kind(), TokenizerKind::SentencePiece);
    let ids = tk.encode("abc", false).unwrap();
    // the dummy prefix `▁` is not in this vocabulary: it falls back to bytes
    assert_eq!(pieces(&tk, &ids), ["<0xE2>", "<0x96>", "<0x81>", "a", "bc"]);

    let mut md = spm_md(
        &[
            ("a", -1.0, 1),
            ("b", -1.0, 1),
            ("c", -1.0, 1),
            ("ab", -5.0, 1),
            ("bc", -2.0, 1),
        ],
        true,
    );
    md.insert("tokenizer.ggml.add_space_prefix".into(), Value::Bool(false));
    let tk = Tokenizer::from_gguf_metadata(&md).unwrap();
    let ids = tk.encode("abc", false).unwrap();
    assert_eq!(pieces(&tk, &ids), ["a", "bc"]);
    assert_eq!(tk.decode(&ids), "abc");
}

#[test]
fn ties_go_to_the_leftmost_pair_and_merges_chain() {
    let tk = spm(&[
        ("\u{2581}", -1.0, 1),
        ("a", -1.0, 1),
        ("b", -1.0, 1),
        ("c", -1.0, 1),
        ("ab", -2.0, 1),
        ("bc", -2.0, 1),
        ("abc", -3.0, 1),
    ]);
    let ids = tk.encode("abc abc", true).unwrap();
    assert_eq!(
        pieces(&tk, &ids),
        ["<s>", "\u{2581}", "abc", "\u{2581}", "abc"]
    );
    let ids = tk.encode("bcab", false).unwrap();
    assert_eq!(pieces(&tk, &ids), ["\u{2581}", "bc", "ab"]);
}

#[test]
fn unknown_characters_fall_back_to_bytes_or_one_unk_per_run() {
    let tk = spm(&[("\u{2581}", -1.0, 1), ("a", -1.0, 1)]);
    let ids = tk.encode("aש", false).unwrap();
    assert_eq!(pieces(&tk, &ids), ["\u{2581}", "a", "<0xD7>", "<0xA9>"]);
    assert_eq!(tk.decode(&ids), "aש");

    let no_bytes =
        Tokenizer::from_gguf_metadata(&spm_md(&[("\u{2581}", -1.0, 1), ("a", -1.0, 1)], false))
            .unwrap();
    let ids = no_bytes.encode("aשש a", false).unwrap();
    assert_eq!(
        pieces(&no_bytes, &ids),
        ["\u{2581}", "a", "<unk>", "\u{2581}", "a"]
    );
    assert_eq!(no_bytes.decode(&ids), "a \u{2047}  a");
}

#[test]
fn control_tokens_only_from_encode_with_special() {
    let tk = spm(&[
        ("\u{2581}", -1.0, 1),
        ("<", -1.0, 1),
        ("s", -1.0, 1),
        (">", -1.0, 1),
        ("<s", -1.0, 1),
        ("x", -1.0, 1),
    ]);
    let plain = tk.encode("<s>x", false).unwrap();
    assert!(!plain.contains(&1), "{:?}", pieces(&tk, &plain));
    assert!(plain.iter().all(|&id| !tk.is_control(id)));
    let special = tk.encode_with_special("<s>x</s>x", false).unwrap();
    assert_eq!(
        pieces(&tk, &special),
        ["<s>", "\u{2581}", "x", "</s>", "\u{2581}", "x"]
    );
    assert_eq!(tk.decode(&special), "x x");
}

#[test]
fn unused_pieces_are_split_again_and_user_defined_kept_whole() {
    let tk = spm(&[
        ("\u{2581}", -1.0, 1),
        ("a", -1.0, 1),
        ("b", -1.0, 1),
        ("ab", 0.0, 5),
        ("<t>", 0.0, 4),
        ("<", -1.0, 1),
        ("t", -1.0, 1),
        (">", -1.0, 1),
    ]);
    let ids = tk.encode("ab", false).unwrap();
    assert_eq!(pieces(&tk, &ids), ["\u{2581}", "a", "b"]);
    let ids = tk.encode("a<t>b", false).unwrap();
    assert_eq!(pieces(&tk, &ids), ["\u{2581}", "a", "<t>", "b"]);
}

#[test]
fn decode_drops_one_dummy_space_and_marks_bad_bytes() {
    let tk = spm(&[
        ("\u{2581}", -1.0, 1),
        ("\u{2581}\u{2581}", -1.0, 1),
        ("\u{2581}a", -1.0, 1),
    ]);
    let ids = tk.encode("  a", false).unwrap();
    assert_eq!(tk.decode(&ids), "  a");
    let ids = tk.encode("", true).unwrap();
    assert_eq!(ids, [1]);
    let byte = |b: u8| 3 + u32::from(b);
    assert_eq!(tk.decode(&[byte(0xD7), byte(b'a')]), "\u{FFFD}a");
    assert_eq!(tk.token_bytes(byte(0xD7)), [0xD7]);
    assert_eq!(tk.token_bytes(1), b"");
    assert_eq!(tk.token_bytes(999_999), b"");
    assert_eq!(tk.decode(&[999_999]), "");
}

#[test]
fn metadata_errors_name_the_problem() {
    let err =
        |md: &HashMap<String, Value>| Tokenizer::from_gguf_metadata(md).unwrap_err().to_string();

    let mut md = spm_md(&[], true);
    md.remove("tokenizer.ggml.tokens");
    assert!(
        err(&md).contains("`tokenizer.ggml.tokens` missing"),
        "{}",
        err(&md)
    );

    let mut md = spm_md(&[], true);
    md.remove("tokenizer.ggml.model");
    assert!(err(&md).contains("`tokenizer.ggml.model` missing"));

    let mut md = spm_md(&[], true);
    md.insert("tokenizer.ggml.model".into(), s("foo"));
    assert!(err(&md).contains("unsupported tokenizer model `foo` (supported: llama, gpt2)"));

    let mut md = spm_md(&[], true);
    md.insert(
        "tokenizer.ggml.scores".into(),
        Value::Array(vec![Value::F32(0.0)]),
    );
    assert!(err(&md)
        .contains("`tokenizer.ggml.scores` has 1 entries but `tokenizer.ggml.tokens` has 259"));

    let mut md = spm_md(&[], true);
    md.insert(
        "tokenizer.ggml.token_type".into(),
        Value::Array(vec![Value::I32(1)]),
    );
    assert!(err(&md).contains("`tokenizer.ggml.token_type` has 1 entries"));

    let mut md = spm_md(&[], true);
    md.remove("tokenizer.ggml.scores");
    assert!(err(&md).contains("`tokenizer.ggml.scores` missing"));

    let mut md = spm_md(&[], true);
    md.insert(
        "tokenizer.ggml.tokens".into(),
        Value::Array(vec![s("a"), Value::U32(3)]),
    );
    assert!(
        err(&md).contains("element 1 is U32, expected a string"),
        "{}",
        err(&md)
    );

    let mut md = spm_md(&[], true);
    md.insert("tokenizer.ggml.tokens".into(), s("abc"));
    assert!(err(&md).contains("expected an array"));

    let mut md = spm_md(&[], true);
    md.insert("tokenizer.ggml.bos_token_id".into(), s("1"));
    assert!(err(&md).contains("`tokenizer.ggml.bos_token_id` is String, expected an integer"));

    // An id outside the vocabulary is ignored (as llama.cpp does): the llama default stays.
    let mut md = spm_md(&[], true);
    md.insert("tokenizer.ggml.bos_token_id".into(), Value::I32(-1));
    md.insert("tokenizer.ggml.eos_token_id".into(), Value::U32(40_000));
    let tk = Tokenizer::from_gguf_metadata(&md).unwrap();
    assert_eq!((tk.bos_id(), tk.eos_id()), (Some(1), Some(2)));

    let mut md = gpt2_md("gpt-2");
    md.remove("tokenizer.ggml.merges");
    assert!(err(&md).contains("`tokenizer.ggml.merges` missing"));

    let mut md = gpt2_md("gpt-2");
    md.insert("tokenizer.ggml.merges".into(), strings(&["nospace"]));
    assert!(err(&md).contains("has no space"));
}

/// A byte-level GGUF header: the 256 byte characters, a few merged pieces, two control
/// tokens.
fn gpt2_md(pre: &str) -> HashMap<String, Value> {
    let mut tokens: Vec<String> = (0..=255u8)
        .map(|b| gpt2::byte_to_char(b).to_string())
        .collect();
    let merged = ["he", "\u{120}t", "\u{120}the", "12"];
    tokens.extend(merged.iter().map(|t| t.to_string()));
    tokens.push("<|im_start|>".into());
    tokens.push("<|endoftext|>".into());
    let mut types = vec![1i32; tokens.len()];
    let n = types.len();
    types[n - 2] = 3;
    types[n - 1] = 3;
    let mut md = HashMap::new();
    md.insert("tokenizer.ggml.model".into(), s("gpt2"));
    md.insert("tokenizer.ggml.pre".into(), s(pre));
    md.insert(
        "tokenizer.ggml.tokens".into(),
        Value::Array(tokens.iter().map(|t| s(t)).collect()),
    );
    md.insert(
        "tokenizer.ggml.token_type".into(),
        Value::Array(types.into_iter().map(Value::I32).collect()),
    );
    md.insert(
        "tokenizer.ggml.merges".into(),
        strings(&["h e", "\u{120} t", "\u{120}t he", "1 2"]),
    );
    md.insert(
        "tokenizer.ggml.eos_token_id".into(),
        Value::U32((n - 1) as u32),
    );
    md
}

#[test]
fn gpt2_merges_by_rank_within_pre_tokens() {
    let tk = Tokenizer::from_gguf_metadata(&gpt2_md("gpt-2")).unwrap();
    assert_eq!(tk.kind(), TokenizerKind::Gpt2);
    assert!(!tk.add_bos_default());
    let ids = tk.encode("the the", false).unwrap();
    assert_eq!(pieces(&tk, &ids), ["t", "he", "\u{120}the"]);
    assert_eq!(tk.decode(&ids), "the the");
    let ids = tk.encode("123", false).unwrap();
    assert_eq!(pieces(&tk, &ids), ["12", "3"]);

    let smollm = Tokenizer::from_gguf_metadata(&gpt2_md("smollm")).unwrap();
    let ids = smollm.encode("123", false).unwrap();
    assert_eq!(pieces(&smollm, &ids), ["1", "2", "3"]);

    let text = "שלום héllo\n\t 👋🏽";
    let ids = tk.encode(text, false).unwrap();
    assert_eq!(tk.decode(&ids), text);
    let bytes: Vec<u8> = ids
        .iter()
        .flat_map(|&id| tk.token_bytes(id).to_vec())
        .collect();
    assert_eq!(bytes, text.as_bytes());
}

#[test]
fn tokenizer_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Tokenizer>();
}

#[test]
fn gpt2_special_tokens_only_from_encode_with_special() {
    let tk = Tokenizer::from_gguf_metadata(&gpt2_md("unknown-pre")).unwrap();
    let start = tk.vocab_size() as u32 - 2;
    let text = "<|im_start|>the<|endoftext|>";
    let plain = tk.encode(text, false).unwrap();
    assert!(plain.iter().all(|&id| !tk.is_control(id)));
    assert_eq!(tk.decode(&plain), text);
    let special = tk.encode_with_special(text, false).unwrap();
    assert_eq!(
        pieces(&tk, &special),
        ["<|im_start|>", "t", "he", "<|endoftext|>"]
    );
    assert_eq!(special[0], start);
    assert_eq!(tk.decode(&special), "the");
    assert_eq!(tk.eos_id(), Some(start + 1));
    assert!(tk.encode("x", true).is_err(), "no BOS in this vocabulary");
}

/// A minimal byte-level tokenizer.json: pieces `a`, `b`, `ab`, two special tokens.
const TINY_JSON: &str = r#"{"version":"1.0","truncation":null,"padding":null,
 "added_tokens":[
  {"id":3,"content":"<|im_end|>","single_word":false,"lstrip":false,"rstrip":false,"normalized":false,"special":true},
  {"id":4,"content":"<|endoftext|>","single_word":false,"lstrip":false,"rstrip":false,"normalized":false,"special":true}],
 "normalizer":null,
 "pre_tokenizer":{"type":"ByteLevel","add_prefix_space":false,"trim_offsets":true,"use_regex":true},
 "post_processor":null,
 "decoder":{"type":"ByteLevel","add_prefix_space":true,"trim_offsets":true,"use_regex":true},
 "model":{"type":"BPE","dropout":null,"unk_token":null,"continuing_subword_prefix":null,
  "end_of_word_suffix":null,"fuse_unk":false,"byte_fallback":false,"ignore_merges":false,
  "vocab":{"a":0,"b":1,"ab":2},"merges":["a b"]}}"#;

#[test]
fn tokenizer_json_specials_and_config() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokenizer.json");
    std::fs::write(&path, TINY_JSON).unwrap();
    let tk = Tokenizer::from_tokenizer_json(&path).unwrap();
    assert_eq!(tk.kind().to_string(), "tokenizer.json");
    assert_eq!((tk.bos_id(), tk.eos_id()), (None, Some(4)));
    assert!(!tk.add_bos_default());
    assert_eq!(
        tk.encode_with_special("ab<|im_end|>", false).unwrap(),
        [2, 3]
    );
    assert!(tk
        .encode("ab<|im_end|>", false)
        .unwrap()
        .iter()
        .all(|&id| !tk.is_control(id)));
    assert!(tk.is_control(3) && !tk.is_control(2));
    assert_eq!(tk.token_bytes(2), b"ab");
    assert_eq!(tk.token_bytes(3), b"");
    assert_eq!(tk.decode(&[2, 3, 0]), "aba");
    assert!(tk.encode("a", true).is_err(), "no BOS in this file");

    std::fs::write(
        dir.path().join("tokenizer_config.json"),
        r#"{"eos_token": {"content": "<|im_end|>"}}"#,
    )
    .unwrap();
    let tk = Tokenizer::from_tokenizer_json(&path).unwrap();
    assert_eq!(tk.eos_id(), Some(3));
}

#[test]
fn tokenizer_json_errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.json");
    let err = Tokenizer::from_tokenizer_json(&missing)
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("tokenizer: ") && err.contains("missing.json"),
        "{err}"
    );
    let broken = dir.path().join("broken.json");
    std::fs::write(&broken, "{ not json").unwrap();
    let err = Tokenizer::from_tokenizer_json(&broken)
        .unwrap_err()
        .to_string();
    assert!(err.contains("broken.json"), "{err}");
}
