//! Bad input to `sofer index add` and `sofer search`: empty, binary and non-UTF-8 files,
//! malformed JSONL lines, a 5 MB paragraph, duplicate ids, and queries made of punctuation
//! or tantivy query syntax.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use sofer::retrieval::RetrievalIndex;

fn sofer(index: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sofer"))
        .args(args)
        .arg("--index")
        .arg(index)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("running sofer: {e}"));
    if let Some(mut pipe) = child.stdin.take() {
        pipe.write_all(stdin.unwrap_or_default().as_bytes())
            .unwrap_or_else(|e| panic!("{e}"));
    }
    child.wait_with_output().unwrap_or_else(|e| panic!("{e}"))
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

#[test]
fn bad_files_are_named_and_good_files_committed() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let docs = dir.path().join("docs");
    std::fs::create_dir(&docs).unwrap_or_else(|e| panic!("{e}"));
    write(&docs.join("empty.txt"), b"");
    write(&docs.join("binary.txt"), b"\x7fELF\x02\x01\x01\0\0\0\0");
    write(&docs.join("latin1.txt"), b"caf\xe9 \xe0 la cr\xe8me");
    write(
        &docs.join("good.md"),
        "# מדריך\n\nהחתול ישן על הספה בסלון.".as_bytes(),
    );
    let sentence = "המשפט הזה חוזר שוב ושוב בתוך פסקה אחת ארוכה מאוד. ";
    let big = sentence.repeat(5 * 1024 * 1024 / sentence.len() + 1);
    assert!(big.len() >= 5 * 1024 * 1024);
    write(&docs.join("big.txt"), big.as_bytes());
    let jsonl = [
        r#"{"id": "dup", "text": "גרסה ראשונה על תפוחים"}"#,
        r#"{"id": "ok", "text": "שורה תקינה על אגסים"}"#,
        r#"{"id": "broken", "text": "#,
        r#"{"id": "dup", "text": "גרסה שנייה על בננות"}"#,
    ];
    write(&docs.join("items.jsonl"), jsonl.join("\n").as_bytes());
    let index = dir.path().join("index");

    let out = sofer(&index, &["index", "add", &docs.to_string_lossy()], None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "bad files must make the exit code non-zero"
    );
    assert!(stderr.contains("binary.txt: binary file"), "{stderr}");
    assert!(stderr.contains("latin1.txt: not valid UTF-8"), "{stderr}");
    assert!(stderr.contains("items.jsonl:3:"), "{stderr}");
    assert!(
        stderr.contains("empty.txt") && stderr.contains("no text"),
        "{stderr}"
    );

    let index = RetrievalIndex::open(&index).unwrap_or_else(|e| panic!("{e}"));
    let count = |id: &str| {
        index
            .passage_count("default", id)
            .unwrap_or_else(|e| panic!("{e}"))
    };
    assert_eq!(count("good.md"), 2);
    assert_eq!(count("ok"), 1);
    assert_eq!(count("dup"), 1);
    assert_eq!(count("broken"), 0);
    assert_eq!(count("empty.txt"), 0);
    assert!(
        count("big.txt") > 100,
        "a 5 MB paragraph must be split, got {}",
        count("big.txt")
    );

    let query = |text: &str| {
        let q = sofer::retrieval::SearchQuery {
            text: text.into(),
            collection: "default".into(),
            language: None,
            k: 5,
        };
        index
            .search(&q)
            .unwrap_or_else(|e| panic!("{e}"))
            .into_iter()
            .map(|h| h.doc_id)
            .collect::<Vec<_>>()
    };
    assert_eq!(query("בננות"), ["dup"]);
    assert!(
        query("תפוחים").is_empty(),
        "the first version of a duplicate id must be replaced"
    );
    assert_eq!(query("חתול"), ["good.md"]);
    let stats = index.stats().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(stats.collections[0].documents, 4, "{stats:?}");
}

#[test]
fn syntax_and_punctuation_queries_find_nothing_without_error() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let index = dir.path().join("index");
    let file = dir.path().join("a.txt");
    write(&file, "מסמך רגיל על מזג האוויר בירושלים".as_bytes());
    assert!(
        sofer(&index, &["index", "add", &file.to_string_lossy()], None)
            .status
            .success()
    );

    let queries = [
        "\"",
        ":",
        "(",
        "AND",
        "*",
        "~",
        "^",
        "[",
        "\" : ( ) [ ] { } * ~ ^ !",
        "?!.,;",
        "title:x AND (",
        "״׳־",
    ];
    let out = sofer(&index, &["search", "-"], Some(&queries.join("\n")));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(lines.len(), queries.len());
    for (line, query) in lines.iter().zip(queries) {
        assert_eq!(line["query"], query);
        assert_eq!(line["hits"], serde_json::json!([]), "{query}");
    }

    let out = sofer(
        &index,
        &["search", "ירושלים: \"מזג (האוויר\" AND *", "--json"],
        None,
    );
    assert!(out.status.success());
    let result: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        result["hits"][0]["doc_id"], "a.txt",
        "syntax characters around words are just text"
    );
}
