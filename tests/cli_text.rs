//! `sofer text sentences|normalize|chunk` run as a user runs them.

mod common;

use std::process::Output;

use sofer::engine::gguf::GgufFile;
use sofer::engine::tokenizer::Tokenizer;

const DOC: &str = "ד\"ר כהן, מנכ\"ל החברה, אמר: \"נגיע ב-27.11.2026.\" הוא צדק.\n\n\
The U.S. team met Prof. Levi at 3.5 p.m. in Tel Aviv. It went well.\n";

fn sofer(args: &[&str], stdin: &str) -> Output {
    common::run_sofer(args, stdin)
}

fn json_lines(output: &Output) -> Vec<serde_json::Value> {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone())
        .expect("utf-8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

fn chars(text: &str, start: &serde_json::Value, end: &serde_json::Value) -> String {
    let (start, end) = (
        start.as_u64().unwrap() as usize,
        end.as_u64().unwrap() as usize,
    );
    text.chars().skip(start).take(end - start).collect()
}

#[test]
fn sentences_json_gives_paragraphs_sentences_and_character_offsets() {
    let paragraphs = json_lines(&sofer(&["text", "sentences", "--json"], DOC));
    assert_eq!(paragraphs.len(), 2);
    assert_eq!(paragraphs[0]["language"], "he");
    assert_eq!(paragraphs[1]["language"], "en");
    let texts: Vec<Vec<String>> = paragraphs
        .iter()
        .map(|p| {
            p["sentences"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| {
                    assert_eq!(
                        chars(DOC, &s["start"], &s["end"]),
                        s["text"].as_str().unwrap()
                    );
                    s["text"].as_str().unwrap().to_string()
                })
                .collect()
        })
        .collect();
    assert_eq!(
        texts,
        [
            vec![
                "ד\"ר כהן, מנכ\"ל החברה, אמר: \"נגיע ב-27.11.2026.\"",
                "הוא צדק."
            ],
            vec![
                "The U.S. team met Prof. Levi at 3.5 p.m. in Tel Aviv.",
                "It went well."
            ],
        ]
    );
}

#[test]
fn normalize_unifies_marks_and_strips_niqqud_on_request() {
    let input = "בְּרֵאשִׁ֖ית צה”ל\u{200F} ארה\"ב";
    let kept = sofer(&["text", "normalize", "-"], input);
    assert!(kept.status.success());
    let kept = String::from_utf8(kept.stdout).unwrap();
    assert!(kept.contains("צה״ל") && kept.contains("ארה״ב"), "{kept}");
    assert!(!kept.contains('\u{200F}'));
    assert!(
        kept.contains('\u{05B0}'),
        "niqqud kept without --strip-niqqud"
    );
    let stripped = sofer(&["text", "normalize", "--strip-niqqud"], input);
    assert_eq!(
        String::from_utf8(stripped.stdout).unwrap(),
        "בראשית צה״ל ארה״ב"
    );
}

#[test]
fn chunk_with_a_model_counts_with_its_tokenizer_and_stays_in_budget() {
    let model = common::tiny_gguf("q8_0");
    let doc = DOC.repeat(6);
    let args = ["text", "chunk", "--max-tokens", "40", "--json", "--model"];
    let out = sofer(&[&args[..], &[model.to_str().unwrap()]].concat(), &doc);
    let chunks = json_lines(&out);
    assert!(chunks.len() > 4, "{} chunks", chunks.len());
    let gguf = GgufFile::open(&model).unwrap();
    let tokenizer = Tokenizer::from_gguf_metadata(gguf.metadata()).unwrap();
    for c in &chunks {
        let text = c["text"].as_str().unwrap();
        let real = tokenizer.encode(text, false).unwrap().len();
        assert_eq!(c["tokens"].as_u64().unwrap() as usize, real);
        assert!(real <= 40, "{real} tokens: {text}");
        assert_eq!(chars(&doc, &c["start"], &c["end"]), text);
    }
}

#[test]
fn bad_input_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("latin1.txt");
    std::fs::write(&bad, b"caf\xe9").unwrap();
    let out = sofer(&["text", "sentences", bad.to_str().unwrap()], "");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("latin1.txt: not valid UTF-8"), "{err}");
    let out = sofer(&["text", "chunk", "--max-tokens", "0"], "שלום");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("max_tokens"));
}
