//! Documents made by real producers (LibreOffice, Chromium, reportlab, python-docx, pandoc,
//! Ghostscript) read back: the words and paragraph boundaries of each against the source it
//! was made from, and each bad input's error.

mod common;

use common::documents::{self as fixtures, paragraph_f1, reversed_words, word_accuracy, words};
use sofer::documents::{self, DocumentError, Format};

fn read_fixture(file: &str) -> Result<documents::Document, DocumentError> {
    let bytes = std::fs::read(fixtures::dir().join(file)).unwrap();
    documents::read(&bytes, documents::from_extension(file))
}

#[test]
fn every_producers_document_reads_back_as_its_source() {
    let mut failures = Vec::new();
    let good = fixtures::good_fixtures();
    assert!(good.len() >= 30, "{} fixtures", good.len());
    for fixture in good {
        let source: Vec<String> = fixtures::expected(&fixture.source)
            .into_iter()
            .map(|(_, text)| text)
            .collect();
        let document = match read_fixture(&fixture.file) {
            Ok(document) => document,
            Err(e) => {
                failures.push(format!("{}: {e}", fixture.file));
                continue;
            }
        };
        let texts: Vec<&str> = document
            .paragraphs
            .iter()
            .map(|p| p.text.as_str())
            .collect();
        let (expected, got) = (words(&source), words(&texts));
        let accuracy = word_accuracy(&expected, &got);
        let reversed = reversed_words(&expected, &got);
        let f1 = paragraph_f1(&source, &texts);
        if accuracy < 0.99 || !reversed.is_empty() || f1 < 0.95 {
            failures.push(format!(
                "{}: word accuracy {accuracy:.4}, paragraph F1 {f1:.3}, reversed {:?}",
                fixture.file,
                &reversed[..reversed.len().min(5)]
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn html_structure_and_direction_come_through() {
    let document = read_fixture("he_knesset.page.html").unwrap();
    assert_eq!(document.format, Format::Html);
    assert_eq!(document.language.as_deref(), Some("he"));
    let expected = fixtures::expected("he_knesset");
    let kinds: Vec<&str> = document
        .paragraphs
        .iter()
        .map(|p| match p.kind {
            documents::ParagraphKind::Body => "body",
            documents::ParagraphKind::Heading { .. } => "heading",
            documents::ParagraphKind::ListItem { .. } => "list_item",
            documents::ParagraphKind::TableCell { .. } => "table_cell",
            documents::ParagraphKind::Note => "note",
        })
        .collect();
    let want: Vec<&str> = expected.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(kinds, want);
    assert!(document
        .paragraphs
        .iter()
        .all(|p| p.direction == documents::Direction::Rtl));
}

fn sofer(args: &[&str]) -> std::process::Output {
    common::run_sofer(args, "")
}

#[test]
fn text_extract_prints_one_json_paragraph_a_line() {
    let file = fixtures::dir().join("he_wiki.page.html");
    let out = sofer(&["text", "extract", file.to_str().unwrap(), "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    let expected = fixtures::expected("he_wiki");
    assert_eq!(lines.len(), expected.len());
    assert_eq!(lines[0]["kind"], "heading");
    assert_eq!(lines[0]["level"], 1);
    assert_eq!(lines[0]["direction"], "rtl");
    assert_eq!(lines[1]["text"].as_str(), Some(expected[1].1.as_str()));
}

#[test]
fn a_file_whose_extension_lies_is_refused_naming_both_formats() {
    let file = fixtures::dir().join("bad/pdf_named.docx");
    let out = sofer(&["text", "extract", file.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("pdf_named.docx: declared as DOCX but the content is PDF"),
        "{err}"
    );
}

/// `sofer translate SOURCE --output TARGET` with the tiny model and a short budget.
fn translate_to(
    source: &std::path::Path,
    target: &std::path::Path,
    extra: &[&str],
) -> std::process::Output {
    let model = common::tiny_gguf("q8_0");
    let args = [
        "translate",
        source.to_str().unwrap(),
        "--model",
        model.to_str().unwrap(),
        "--max-tokens",
        "3",
        "--seed",
        "1",
        "--output",
        target.to_str().unwrap(),
    ];
    sofer(&[&args[..], extra].concat())
}

#[test]
fn a_translated_html_page_keeps_its_markup_and_switches_direction() {
    let dir = tempfile::tempdir().unwrap();
    let source = fixtures::dir().join("he_wiki.page.html");
    let target = dir.path().join("he_wiki.en.html");
    let out = translate_to(&source, &target, &["--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let result: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(result["source_language"], "he", "from <html lang>");
    let translated: Vec<String> = result["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let range = s["output"]["start"].as_u64().unwrap() as usize
                ..s["output"]["end"].as_u64().unwrap() as usize;
            result["text"].as_str().unwrap()[range]
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        })
        .filter(|t| !t.is_empty())
        .collect();
    let original = std::fs::read_to_string(&source).unwrap();
    let written = std::fs::read_to_string(&target).unwrap();
    let again = documents::read(written.as_bytes(), Some(Format::Html)).unwrap();
    let texts: Vec<&str> = again.paragraphs.iter().map(|p| p.text.as_str()).collect();
    assert_eq!(texts, translated);
    assert!(again
        .paragraphs
        .iter()
        .all(|p| p.direction == documents::Direction::Ltr));
    assert_eq!(again.language.as_deref(), Some("en"));
    for kept in ["<script", "<style", "<nav", "<footer"] {
        let tail = |page: &str| {
            page.find(kept)
                .map(|at| page[at..].split('>').next().unwrap().to_string())
        };
        assert_eq!(tail(&written), tail(&original), "{kept} unchanged");
    }
    assert!(!dir.path().join("he_wiki.en.html.partial").exists());
}

/// A folder of one document in each format, as users keep them.
fn mixed_folder(dir: &std::path::Path) -> std::path::PathBuf {
    let folder = dir.join("inbox");
    std::fs::create_dir_all(folder.join("sub")).unwrap();
    for (from, to) in [
        ("he_wiki.libreoffice.docx", "wiki.docx"),
        ("mixed_news.libreoffice.pdf", "sub/news.pdf"),
        ("en_news.page.html", "en.html"),
        ("he_knesset.libreoffice.odt", "sub/knesset.odt"),
    ] {
        std::fs::copy(fixtures::dir().join(from), folder.join(to)).unwrap();
    }
    std::fs::write(folder.join("note.txt"), "הודעה קצרה על ים המלח.").unwrap();
    folder
}

#[test]
fn index_add_reads_a_folder_of_mixed_formats() {
    let dir = tempfile::tempdir().unwrap();
    let folder = mixed_folder(dir.path());
    let index = dir.path().join("index");
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_sofer"))
            .args(args)
            .arg("--index")
            .arg(&index)
            .output()
            .unwrap()
    };
    let out = run(&["index", "add", folder.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(&["search", "פסיפס הציפורים", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let hits = String::from_utf8(out.stdout).unwrap();
    assert!(hits.contains("\"wiki.docx\""), "{hits}");
    let out = run(&["search", "Knesset OR הכנסת", "--json"]);
    let hits = String::from_utf8(out.stdout).unwrap();
    assert!(hits.contains("sub/knesset.odt"), "{hits}");
}

#[test]
fn batch_reads_folders_of_mixed_formats_and_jsonl_paths() {
    let dir = tempfile::tempdir().unwrap();
    let folder = mixed_folder(dir.path());
    std::fs::copy(
        fixtures::dir().join("bad/truncated.docx"),
        folder.join("broken.docx"),
    )
    .unwrap();
    let jsonl = dir.path().join("jobs.jsonl");
    std::fs::write(
        &jsonl,
        "{\"id\": \"a\", \"path\": \"inbox/wiki.docx\"}\n{\"id\": \"b\", \"path\": \"inbox/missing.pdf\"}\n",
    )
    .unwrap();
    let model = common::tiny_gguf("q8_0");
    for (input, expect_ok, expect_bad) in [
        (
            &folder,
            vec![
                "en.html",
                "note.txt",
                "sub/knesset.odt",
                "sub/news.pdf",
                "wiki.docx",
            ],
            "broken.docx",
        ),
        (&jsonl, vec!["a"], "b"),
    ] {
        let output = dir.path().join(format!("{}.out.jsonl", expect_bad));
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_sofer"))
            .args([
                "batch",
                "--task",
                "classify",
                "--labels",
                "news,sport",
                "--votes",
                "1",
            ])
            .args([
                "--max-tokens",
                "3",
                "--seed",
                "1",
                "--model",
                model.to_str().unwrap(),
            ])
            .arg("--input")
            .arg(input)
            .arg("--output")
            .arg(&output)
            .env_remove("SOFER_MODEL")
            .output()
            .unwrap();
        let text = std::fs::read_to_string(&output).unwrap();
        let records: std::collections::BTreeMap<String, serde_json::Value> = text
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                (v["id"].as_str().unwrap().to_string(), v)
            })
            .collect();
        for id in &expect_ok {
            assert_eq!(
                records[*id]["error"],
                serde_json::Value::Null,
                "{id}: {text}"
            );
        }
        let message = records[expect_bad]["error"]["message"]
            .as_str()
            .unwrap_or_default();
        assert!(
            message.contains(expect_bad.trim_end_matches(".jsonl"))
                || message.contains("missing.pdf"),
            "{message}"
        );
        assert_eq!(
            out.status.code(),
            Some(3),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn a_translated_docx_keeps_its_images_and_every_other_part() {
    let dir = tempfile::tempdir().unwrap();
    let source = fixtures::dir().join("he_knesset.python-docx.docx");
    let target = dir.path().join("knesset.en.docx");
    let out = translate_to(&source, &target, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty(), "the translation went to the file");
    let original = std::fs::read(&source).unwrap();
    let written = std::fs::read(&target).unwrap();
    let again = documents::read(&written, Some(Format::Docx)).unwrap();
    let read_before = documents::read(&original, Some(Format::Docx)).unwrap();
    assert!(again.paragraphs.len() <= read_before.paragraphs.len());
    let entries = |bytes: &[u8]| {
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
        (0..zip.len())
            .map(|i| {
                let mut entry = zip.by_index(i).unwrap();
                let mut body = Vec::new();
                std::io::Read::read_to_end(&mut entry, &mut body).unwrap();
                (entry.name().unwrap().to_string(), body)
            })
            .collect::<Vec<_>>()
    };
    let (before, after) = (entries(&original), entries(&written));
    let names = |e: &[(String, Vec<u8>)]| e.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    assert_eq!(names(&before), names(&after));
    assert!(
        before.iter().any(|(n, _)| n.starts_with("word/media/")),
        "the fixture has an image"
    );
    for ((name, a), (_, b)) in before.iter().zip(&after) {
        if name != "word/document.xml" {
            assert!(a == b, "{name} changed");
        }
    }
    let xml = |e: &[(String, Vec<u8>)]| {
        String::from_utf8(
            e.iter()
                .find(|(n, _)| n == "word/document.xml")
                .unwrap()
                .1
                .clone(),
        )
        .unwrap()
    };
    let (old_xml, new_xml) = (xml(&before), xml(&after));
    assert!(
        old_xml.contains("<w:bidi/>"),
        "the fixture is right to left"
    );
    let text_paragraphs = |xml: &str| -> Vec<String> {
        xml.split("</w:p>")
            .filter_map(|chunk| {
                chunk
                    .rfind("<w:p>")
                    .or(chunk.rfind("<w:p "))
                    .map(|at| chunk[at..].to_string())
            })
            .filter(|p| p.contains("<w:t"))
            .collect()
    };
    assert!(
        text_paragraphs(&new_xml)
            .iter()
            .all(|p| !p.contains("<w:bidi/>") && !p.contains("<w:rtl/>")),
        "now left to right"
    );
    assert!(new_xml.contains("w:val=\"en-US\""), "and English");
    for element in ["<w:tbl>", "<w:drawing>", "<w:numPr>"] {
        assert_eq!(
            xml(&after).matches(element).count(),
            xml(&before).matches(element).count(),
            "{element}"
        );
    }
}

#[test]
fn truncated_and_mutated_files_of_every_format_never_panic() {
    let mut seed: u64 = 0x00c0_ffee;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for file in [
        "he_wiki.python-docx.docx",
        "he_wiki.libreoffice.odt",
        "mixed_news.page.html",
        "mixed_news.chromium.pdf",
    ] {
        let good = std::fs::read(fixtures::dir().join(file)).unwrap();
        for round in 0..40 {
            let mut bytes = good.clone();
            if round % 4 == 0 {
                bytes.truncate((next() as usize % bytes.len()).max(1));
            }
            for _ in 0..round {
                let at = next() as usize % bytes.len();
                bytes[at] = next() as u8;
            }
            let declared = documents::from_extension(file);
            if let Ok(document) = documents::read(&bytes, declared) {
                assert!(
                    document
                        .paragraphs
                        .iter()
                        .all(|p| !p.text.trim().is_empty()),
                    "{file}"
                );
            }
        }
    }
}
