//! Crash safety: a `sofer index add` killed with SIGKILL mid-way leaves an index that opens
//! and holds every document whose commit it acknowledged; its writer lock does not outlive
//! it. And a writer held by another process gives a clear error.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use sofer::retrieval::{passages, Document, RetrievalIndex};

fn paragraphs(i: usize) -> Vec<String> {
    let long = "ועדת החינוך של הכנסת דנה היום בהצעת החוק החדשה על לימודי המתמטיקה בבתי הספר. ";
    vec![long.repeat(20), format!("מסמך מספר {i}")]
}

fn write_corpus(path: &Path, docs: usize) {
    let mut file =
        std::io::BufWriter::new(std::fs::File::create(path).unwrap_or_else(|e| panic!("{e}")));
    for i in 0..docs {
        let line = serde_json::json!({"id": format!("doc-{i}"), "paragraphs": paragraphs(i)});
        writeln!(file, "{line}").unwrap_or_else(|e| panic!("{e}"));
    }
    file.flush().unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn sigkill_mid_ingest_keeps_every_acknowledged_document() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let index_dir = dir.path().join("index");
    let corpus = dir.path().join("docs.jsonl");
    let total = 20_000;
    write_corpus(&corpus, total);

    let mut child = Command::new(env!("CARGO_BIN_EXE_sofer"))
        .args(["index", "add"])
        .arg(&corpus)
        .args(["--commit-every", "25", "--index"])
        .arg(&index_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("spawning sofer: {e}"));
    let stdout = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
    let mut acknowledged = Vec::new();
    let mut lines = BufReader::new(stdout).lines();
    while acknowledged.len() < 100 {
        let line = lines
            .next()
            .unwrap_or_else(|| panic!("sofer ended after {} acks", acknowledged.len()));
        let ack: serde_json::Value = serde_json::from_str(&line.unwrap_or_else(|e| panic!("{e}")))
            .unwrap_or_else(|e| panic!("ack line is not JSON: {e}"));
        let ids = ack["ids"]
            .as_array()
            .unwrap_or_else(|| panic!("no ids in {ack}"));
        assert_eq!(ack["committed"].as_u64(), Some(ids.len() as u64), "{ack}");
        acknowledged.extend(ids.iter().filter_map(|v| v.as_str().map(String::from)));
    }
    assert!(
        child.try_wait().ok().flatten().is_none(),
        "sofer finished before it could be killed"
    );
    child.kill().unwrap_or_else(|e| panic!("kill: {e}"));
    let status = child.wait().unwrap_or_else(|e| panic!("{e}"));
    assert!(!status.success());

    // Acks that were already written but not read before the kill also count.
    for line in lines.map_while(Result::ok) {
        if let Ok(ack) = serde_json::from_str::<serde_json::Value>(&line) {
            let ids = ack["ids"].as_array().cloned().unwrap_or_default();
            acknowledged.extend(ids.iter().filter_map(|v| v.as_str().map(String::from)));
        }
    }

    let index =
        RetrievalIndex::open(&index_dir).unwrap_or_else(|e| panic!("reopening after kill: {e}"));
    let doc = Document {
        id: "doc-0".into(),
        title: String::new(),
        paragraphs: paragraphs(0),
        ..Document::default()
    };
    let want = passages(&doc).len() as u64;
    assert!(
        want >= 3,
        "the long paragraph must make several passages, got {want}"
    );
    for id in &acknowledged {
        let got = index
            .passage_count("default", id)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            got, want,
            "acknowledged {id} has {got} passages after the crash"
        );
    }
    let stats = index.stats().unwrap_or_else(|e| panic!("{e}"));
    let documents = stats.collections.first().map_or(0, |c| c.documents);
    assert!(
        documents as usize >= acknowledged.len() && (documents as usize) < total,
        "{documents}"
    );

    // The killed writer's lock is gone: this process can write.
    let extra = Document::from_text("after-crash", "", "נכתב אחרי הקריסה");
    index
        .ingest("default", &[extra])
        .unwrap_or_else(|e| panic!("writing after the kill: {e}"));
    assert_eq!(index.passage_count("default", "after-crash").ok(), Some(1));
}

#[test]
fn a_second_writer_gets_a_clear_error() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let index = RetrievalIndex::open_or_create(dir.path()).unwrap_or_else(|e| panic!("{e}"));
    index
        .ingest("default", &[Document::from_text("x", "", "שלום")])
        .unwrap_or_else(|e| panic!("{e}"));
    let corpus = dir.path().join("more.jsonl");
    write_corpus(&corpus, 1);
    let out = Command::new(env!("CARGO_BIN_EXE_sofer"))
        .args(["index", "add"])
        .arg(&corpus)
        .arg("--index")
        .arg(dir.path())
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("is being written by another process"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&dir.path().display().to_string()),
        "{stderr}"
    );
}
