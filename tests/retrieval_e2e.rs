//! Ingest → search → delete → stats on a real index in a temp dir, through the library and
//! through the `sofer` binary, with Hebrew documents.

mod common;

use std::path::Path;
use std::process::Command;

use sofer::retrieval::{Document, Hit, RetrievalIndex, SearchQuery};
use sofer::text::Language;

fn doc(id: &str, text: &str) -> Document {
    Document::from_text(id, format!("title {id}"), text)
}

fn search(
    index: &RetrievalIndex,
    text: &str,
    collection: &str,
    language: Option<Language>,
) -> Vec<Hit> {
    let query = SearchQuery {
        text: text.into(),
        collection: collection.into(),
        language,
        k: 10,
    };
    index
        .search(&query)
        .unwrap_or_else(|e| panic!("search {text:?}: {e}"))
}

fn ids(hits: &[Hit]) -> Vec<&str> {
    hits.iter().map(|h| h.doc_id.as_str()).collect()
}

fn sample_docs() -> Vec<Document> {
    vec![
        doc("house", "ובבית הגדול גרו שלושה דורות של משפחה אחת."),
        doc(
            "built",
            "פסקה ראשונה על נושא אחר לגמרי.\n\nהבית נבנה בשנת 1900 ליד הנהר.",
        ),
        doc("niqqud", "שָׁלוֹם וּבְרָכָה לְכָל הַחֲבֵרִים"),
        doc("army", "צה״ל הוא צבא ההגנה לישראל."),
        doc("kings", "ספר המלכים מספר על מלכי יהודה וישראל."),
        doc("english", "The house on the hill is old."),
    ]
}

#[test]
fn hebrew_forms_collections_languages_and_delete() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let index = RetrievalIndex::open_or_create(dir.path()).unwrap_or_else(|e| panic!("{e}"));
    let report = index
        .ingest("default", &sample_docs())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((report.documents, report.passages), (6, 7));
    index
        .ingest("other", &[doc("elsewhere", "בית אחר באוסף אחר")])
        .unwrap_or_else(|e| panic!("{e}"));

    let hits = search(&index, "בית", "default", None);
    let found = ids(&hits);
    assert!(
        found.contains(&"house") && found.contains(&"built"),
        "{found:?}"
    );
    assert!(
        !found.contains(&"elsewhere"),
        "collection filter leaked: {found:?}"
    );
    let built = hits
        .iter()
        .find(|h| h.doc_id == "built")
        .unwrap_or_else(|| panic!("{found:?}"));
    assert_eq!(
        (built.paragraph, built.passage_id, built.char_start),
        (1, 1, 0)
    );
    assert_eq!(built.char_end as usize, built.text.chars().count());
    assert!(built.snippet.contains("**הבית**"), "{}", built.snippet);
    assert_eq!(built.language, Language::He);

    assert_eq!(
        ids(&search(&index, "שלום וברכה", "default", None))[0],
        "niqqud"
    );
    for query in ["צה\"ל", "צה״ל", "צה”ל"] {
        assert_eq!(
            ids(&search(&index, query, "default", None)),
            ["army"],
            "{query}"
        );
    }
    assert_eq!(ids(&search(&index, "מלך", "default", None))[0], "kings");

    assert_eq!(
        ids(&search(&index, "house", "default", Some(Language::En))),
        ["english"]
    );
    assert!(search(&index, "house", "default", Some(Language::He)).is_empty());
    assert_eq!(ids(&search(&index, "בית", "other", None)), ["elsewhere"]);

    index
        .ingest("default", &[doc("built", "טקסט חדש לגמרי בלי המילה")])
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(ids(&search(&index, "בית", "default", None)), ["house"]);

    assert_eq!(
        index
            .delete("default", "house")
            .unwrap_or_else(|e| panic!("{e}")),
        1
    );
    assert_eq!(
        index
            .delete("default", "house")
            .unwrap_or_else(|e| panic!("{e}")),
        0
    );
    assert!(search(&index, "בית", "default", None).is_empty());

    let stats = index.stats().unwrap_or_else(|e| panic!("{e}"));
    let counts: Vec<(&str, u64, u64)> = stats
        .collections
        .iter()
        .map(|c| (c.collection.as_str(), c.documents, c.passages))
        .collect();
    assert_eq!(counts, [("default", 5, 5), ("other", 1, 1)]);

    drop(index);
    let reopened = RetrievalIndex::open(dir.path()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(ids(&search(&reopened, "בית", "other", None)), ["elsewhere"]);
}

fn sofer(index: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sofer"))
        .args(args)
        .arg("--index")
        .arg(index)
        .output()
        .unwrap_or_else(|e| panic!("running sofer: {e}"));
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.success(), text(&out.stdout), text(&out.stderr))
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[test]
fn cli_add_search_delete_stats() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let index = dir.path().join("index");
    let docs = dir.path().join("docs.jsonl");
    let lines = [
        r#"{"id": "a", "title": "בית", "text": "ובבית הגדול גרה משפחה."}"#,
        r#"{"id": "b", "paragraphs": ["הכלב רץ בגינה."], "language": "he"}"#,
    ];
    std::fs::write(&docs, lines.join("\n")).unwrap_or_else(|e| panic!("{e}"));
    let docs = docs.to_string_lossy().into_owned();

    let (ok, out, err) = sofer(&index, &["index", "add", &docs, "--collection", "c1"]);
    assert!(ok, "{err}");
    let ack = json(&out);
    assert_eq!(ack["committed"], 2);
    assert_eq!(ack["ids"], serde_json::json!(["a", "b"]));

    let (ok, out, err) = sofer(&index, &["search", "הבית", "--collection", "c1", "--json"]);
    assert!(ok, "{err}");
    let result = json(&out);
    assert_eq!(result["hits"][0]["doc_id"], "a");
    assert_eq!(result["hits"][0]["title"], "בית");
    assert!(result["hits"][0]["snippet"]
        .as_str()
        .is_some_and(|s| s.contains("**ובבית**")));

    let (ok, out, _) = sofer(&index, &["search", "הבית", "--json"]);
    assert!(ok);
    assert_eq!(
        json(&out)["hits"],
        serde_json::json!([]),
        "default collection must be empty"
    );

    let (ok, out, err) = sofer(
        &index,
        &["index", "delete", "--id", "a", "--collection", "c1"],
    );
    assert!(ok, "{err}");
    assert!(out.contains("1 passages"), "{out}");

    let (ok, out, err) = sofer(&index, &["index", "stats", "--json"]);
    assert!(ok, "{err}");
    let stats = json(&out);
    assert_eq!(
        stats["collections"],
        serde_json::json!([{"collection": "c1", "documents": 1, "passages": 1}])
    );
    assert_eq!(stats["analyzer"]["kind"], "hebrew");
}

#[test]
fn eval_retrieval_runs_on_a_heq_subset() {
    let out = Command::new(env!("CARGO_BIN_EXE_sofer"))
        .args([
            "eval",
            "retrieval",
            "--limit",
            "40",
            "--distractors",
            "300",
            "--json",
            "--data",
        ])
        .arg(common::eval_data_dir())
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = json(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(
        (report["questions"].as_u64(), report["distractors"].as_u64()),
        (Some(40), Some(300))
    );
    let runs = report["runs"]
        .as_array()
        .unwrap_or_else(|| panic!("{report}"));
    let names: Vec<&str> = runs.iter().filter_map(|r| r["analyzer"].as_str()).collect();
    assert_eq!(names, ["hebrew", "tantivy-default"]);
    let r1 = |i: usize, set: &str| runs[i][set]["r1"].as_f64().unwrap_or(-1.0);
    assert!(r1(0, "own") >= 0.8, "{report}");
    assert!(r1(0, "own") >= r1(1, "own"), "{report}");
    assert!(runs[0]["speed"]["passages_per_second"]
        .as_f64()
        .is_some_and(|v| v > 0.0));
}

/// A server searching an index that one writer elsewhere fills: read-only opening writes
/// nothing (works on a read-only directory), sees the writer's later commits, and refuses
/// writes with a clear error.
#[test]
fn read_only_opening_writes_nothing_and_follows_the_writer() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let writer = RetrievalIndex::open_or_create(dir.path()).expect("create");
    writer
        .ingest("c", &[doc("one", "הכנסת אישרה את החוק")])
        .expect("ingest");
    let before: Vec<_> = std::fs::read_dir(dir.path())
        .expect("ls")
        .map(|e| e.expect("entry").file_name())
        .collect();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o555)).expect("chmod");
    let reader = RetrievalIndex::open_read_only(dir.path());
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let reader = reader.expect("open read-only");
    assert!(reader.is_read_only());
    let query = |text: &str| SearchQuery {
        text: text.into(),
        collection: "c".into(),
        language: None,
        k: 5,
    };
    assert_eq!(reader.search(&query("החוק")).expect("search").len(), 1);
    let err = reader
        .ingest("c", &[doc("two", "x")])
        .expect_err("read-only")
        .to_string();
    assert!(err.contains("read-only"), "{err}");
    let after: Vec<_> = std::fs::read_dir(dir.path())
        .expect("ls")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(before, after, "opening read-only created no file");
    writer
        .ingest("c", &[doc("two", "הממשלה דנה בחוק התקציב")])
        .expect("ingest");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while reader.search(&query("התקציב")).expect("search").is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the writer's commit was never seen"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
