//! DOCX and ODT readers against the real-producer fixtures (every paragraph's text, kind
//! and table position exactly as the source), the bad inputs, and the DOCX writer's round
//! trip: what it writes reads back as exactly the translation, and nothing
//! but the rewritten runs changed.

use std::io::{Cursor, Read, Write};

use quick_xml::events::Event;
use serde_json::Value;
use sofer::documents::{docx, odt, Direction, DocumentError, Format, Paragraph};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/documents");

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}/{name}")).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The DOCX and ODT files the manifest lists (not the bad ones).
fn manifest_files(format: &str) -> Vec<(String, String)> {
    let manifest: Value = serde_json::from_slice(&fixture("manifest.json")).unwrap();
    manifest
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["format"] == format)
        .map(|e| {
            (
                e["file"].as_str().unwrap().to_string(),
                e["source"].as_str().unwrap().to_string(),
            )
        })
        .filter(|(file, _)| !file.starts_with("bad/"))
        .collect()
}

/// `{kind, level?, table?, row?, column?}` of a paragraph, as the expected files write it.
fn kind_of(v: &Value) -> Vec<(String, Value)> {
    ["kind", "level", "table", "row", "column"]
        .iter()
        .map(|k| (k.to_string(), v.get(*k).cloned().unwrap_or(Value::Null)))
        .collect()
}

fn check_against_expected(file: &str, source: &str, got: &[Paragraph]) {
    let expected: Value =
        serde_json::from_slice(&fixture(&format!("{source}.expected.json"))).unwrap();
    let expected = expected.as_array().unwrap();
    assert_eq!(got.len(), expected.len(), "{file}: paragraph count");
    for (i, (e, g)) in expected.iter().zip(got).enumerate() {
        let g = serde_json::to_value(g).unwrap();
        assert_eq!(g["text"], e["text"], "{file}: paragraph {i}");
        assert_eq!(
            kind_of(&g),
            kind_of(e),
            "{file}: paragraph {i} ({})",
            e["text"]
        );
        assert!(
            !g["text"].as_str().unwrap().contains('\n'),
            "{file}: newline in paragraph {i}"
        );
    }
    // Every Hebrew-first paragraph reads right to left.
    for p in got {
        let first = p.text.chars().find(|c| c.is_alphabetic());
        if first.is_some_and(|c| ('\u{05D0}'..='\u{05EA}').contains(&c)) {
            assert_eq!(p.direction, Direction::Rtl, "{file}: {}", p.text);
        }
    }
}

#[test]
fn docx_fixtures_read_as_expected() {
    let files = manifest_files("docx");
    assert!(files.len() >= 5, "{files:?}");
    for (file, source) in files {
        let got = docx::read(&fixture(&file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        check_against_expected(&file, &source, &got);
    }
}

#[test]
fn odt_fixtures_read_as_expected() {
    let files = manifest_files("odt");
    assert!(files.len() >= 3, "{files:?}");
    for (file, source) in files {
        let got = odt::read(&fixture(&file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        check_against_expected(&file, &source, &got);
    }
}

#[test]
fn bad_inputs_give_the_right_errors() {
    let read = |name: &str| docx::read(&fixture(name)).unwrap_err();
    assert!(matches!(
        read("bad/empty.docx"),
        DocumentError::Corrupt {
            format: Format::Docx,
            ..
        }
    ));
    assert!(matches!(
        read("bad/truncated.docx"),
        DocumentError::Corrupt {
            format: Format::Docx,
            ..
        }
    ));
    match read("bad/pdf_named.docx") {
        DocumentError::Corrupt { reason, .. } => assert!(reason.contains("PDF"), "{reason}"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        read("bad/zip_bomb.docx"),
        DocumentError::TooLarge { .. }
    ));
    assert_eq!(
        read("bad/password_protected.docx"),
        DocumentError::Encrypted {
            format: Format::Docx
        }
    );
    assert!(
        matches!(read("bad/he_wiki.libreoffice.doc"), DocumentError::Unsupported(s) if s.contains(".doc"))
    );

    // A minimal DOCX plus 20,000 empty entries.
    let mut entries = minimal_docx_entries("<w:p><w:r><w:t>x</w:t></w:r></w:p>");
    for i in 0..20_000 {
        entries.push((format!("e/{i}"), Vec::new()));
    }
    let many = zip_of(&entries, zip::CompressionMethod::Stored);
    assert!(matches!(
        docx::read(&many),
        Err(DocumentError::TooLarge { .. })
    ));

    // No text at all.
    let empty = zip_of(
        &minimal_docx_entries("<w:p/><w:p><w:r><w:t> </w:t></w:r></w:p>"),
        zip::CompressionMethod::Deflated,
    );
    assert_eq!(
        docx::read(&empty),
        Err(DocumentError::Empty {
            format: Format::Docx
        })
    );

    // ODT: truncated, a DOCX given as ODT, an encrypted one.
    let odt_bytes = fixture("he_wiki.libreoffice.odt");
    assert!(matches!(
        odt::read(&odt_bytes[..odt_bytes.len() / 2]),
        Err(DocumentError::Corrupt {
            format: Format::Odt,
            ..
        })
    ));
    assert!(matches!(
        odt::read(&fixture("he_wiki.python-docx.docx")),
        Err(DocumentError::Corrupt {
            format: Format::Odt,
            ..
        })
    ));
    let encrypted = zip_of(
        &[
            ("mimetype".into(), b"application/vnd.oasis.opendocument.text".to_vec()),
            ("META-INF/manifest.xml".into(), b"<manifest:manifest><manifest:file-entry manifest:full-path=\"content.xml\"><manifest:encryption-data/></manifest:file-entry></manifest:manifest>".to_vec()),
            ("content.xml".into(), vec![0x8f; 100]),
        ],
        zip::CompressionMethod::Stored,
    );
    assert_eq!(
        odt::read(&encrypted),
        Err(DocumentError::Encrypted {
            format: Format::Odt
        })
    );

    // The writer wants one translation per paragraph.
    let bytes = fixture("he_wiki.python-docx.docx");
    assert_eq!(
        docx::write_translated(&bytes, &["a".into()], Direction::Ltr, "en"),
        Err(DocumentError::ParagraphCount {
            expected: 10,
            given: 1
        })
    );
}

// ---------- the writer's round trip ----------

/// The translation used for paragraph `i`: a marker and markup-looking characters that
/// must stay text.
fn marker(i: usize, rtl: bool) -> String {
    if rtl {
        format!("T{i} תרגום <w:t> & \"סוף\"")
    } else {
        format!("T{i} translation <w:t> & \"end\"")
    }
}

fn entries_of(bytes: &[u8]) -> Vec<(String, Vec<u8>, Vec<u8>)> {
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
    (0..zip.len())
        .map(|i| {
            let (name, raw) = {
                let mut f = zip.by_index_raw(i).unwrap();
                let mut raw = Vec::new();
                f.read_to_end(&mut raw).unwrap();
                (f.name().unwrap().to_string(), raw)
            };
            let mut data = Vec::new();
            zip.by_index(i).unwrap().read_to_end(&mut data).unwrap();
            (name, raw, data)
        })
        .collect()
}

/// A part's XML with what the writer may change taken out: text elements, `w:bidi`,
/// `w:rtl`, `w:lang`, the bold/italic/size twins it mirrors, and the runs, properties and
/// hyperlinks that are left empty by that.
fn normalized(xml: &[u8]) -> Vec<String> {
    let mut reader = quick_xml::Reader::from_reader(xml);
    let mut out: Vec<String> = Vec::new();
    let mut stack: Vec<(String, usize)> = Vec::new();
    let mut skip_depth = 0usize;
    let mut run_props: Option<(usize, usize)> = None;
    let removable_empty = [
        "w:tab",
        "w:br",
        "w:cr",
        "w:noBreakHyphen",
        "w:softHyphen",
        "w:sym",
        "w:ptab",
    ];
    let props = [
        "w:bidi", "w:rtl", "w:lang", "w:b", "w:bCs", "w:i", "w:iCs", "w:sz", "w:szCs",
    ];
    loop {
        let ev = reader.read_event().unwrap();
        let parent = stack.last().map(|(n, _)| n.as_str()).unwrap_or("");
        match ev {
            Event::Start(e) => {
                let name = String::from_utf8_lossy(e.name().as_ref()).to_string();
                if skip_depth > 0 || name == "w:t" {
                    skip_depth += 1;
                    continue;
                }
                stack.push((name, out.len()));
                out.push(format!("<{}>", String::from_utf8_lossy(&e)));
            }
            Event::End(e) => {
                if skip_depth > 0 {
                    skip_depth -= 1;
                    continue;
                }
                let (name, at) = stack.pop().unwrap();
                let empty_allowed =
                    ["w:r", "w:rPr", "w:pPr", "w:hyperlink"].contains(&name.as_str());
                // A run left with nothing but its properties counts as no run.
                let only_props = name == "w:r" && run_props == Some((at + 1, out.len()));
                if empty_allowed && (out.len() == at + 1 || only_props) {
                    out.truncate(at);
                    continue;
                }
                out.push(format!("</{}>", String::from_utf8_lossy(e.name().as_ref())));
                if name == "w:rPr" && stack.last().is_some_and(|(n, _)| n == "w:r") {
                    run_props = Some((at, out.len()));
                }
            }
            Event::Empty(e) => {
                if skip_depth > 0 {
                    continue;
                }
                let name = String::from_utf8_lossy(e.name().as_ref()).to_string();
                let drop = name == "w:t"
                    || (parent == "w:r" && removable_empty.contains(&name.as_str()))
                    || ((parent == "w:rPr" || parent == "w:pPr") && props.contains(&name.as_str()))
                    || (["w:rPr", "w:pPr"].contains(&name.as_str()));
                if !drop {
                    out.push(format!("<{}/>", String::from_utf8_lossy(&e)));
                }
            }
            Event::Text(t) if skip_depth == 0 => out.push(String::from_utf8_lossy(&t).to_string()),
            Event::Eof => break,
            _ => {}
        }
    }
    out
}

fn count(hay: &[u8], needle: &str) -> usize {
    hay.windows(needle.len())
        .filter(|w| *w == needle.as_bytes())
        .count()
}

fn check_round_trip(name: &str, bytes: &[u8]) {
    let original = docx::read(bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
    for (direction, lang) in [(Direction::Rtl, "he"), (Direction::Ltr, "en-US")] {
        let rtl = direction == Direction::Rtl;
        let translated: Vec<String> = (0..original.len()).map(|i| marker(i, rtl)).collect();
        let written = docx::write_translated(bytes, &translated, direction, lang)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let again = docx::read(&written).unwrap_or_else(|e| panic!("{name} written: {e}"));
        let texts: Vec<&str> = again.iter().map(|p| p.text.as_str()).collect();
        let want: Vec<&str> = translated.iter().map(String::as_str).collect();
        assert_eq!(texts, want, "{name} {direction:?}");
        for (a, b) in again.iter().zip(&original) {
            assert_eq!(a.kind, b.kind, "{name}: {}", b.text);
            assert_eq!(a.direction, direction, "{name}: {}", b.text);
        }
        let before = entries_of(bytes);
        let after = entries_of(&written);
        let names =
            |e: &[(String, Vec<u8>, Vec<u8>)]| e.iter().map(|x| x.0.clone()).collect::<Vec<_>>();
        assert_eq!(names(&before), names(&after), "{name}: entries");
        for ((n, raw_a, data_a), (_, raw_b, data_b)) in before.iter().zip(&after) {
            if n.ends_with("document.xml")
                || n.ends_with("footnotes.xml")
                || n.ends_with("endnotes.xml")
            {
                assert_eq!(
                    count(data_a, "<w:tbl>"),
                    count(data_b, "<w:tbl>"),
                    "{name} {n}: tables"
                );
                for el in [
                    "<w:drawing>",
                    "<pic:pic",
                    "<w:pict",
                    "<w:sectPr",
                    "<w:footnoteReference",
                    "<w:bookmarkStart",
                ] {
                    assert_eq!(count(data_a, el), count(data_b, el), "{name} {n}: {el}");
                }
                assert_eq!(
                    normalized(data_a),
                    normalized(data_b),
                    "{name} {n}: changed outside the text runs"
                );
            } else {
                assert!(raw_a == raw_b && data_a == data_b, "{name}: {n} changed");
            }
        }
    }
}

#[test]
fn round_trip_every_docx_fixture() {
    for (file, _) in manifest_files("docx") {
        check_round_trip(&file, &fixture(&file));
    }
}

#[test]
fn round_trip_text_boxes_fields_notes_and_tracked_changes() {
    let bytes = zip_of(&rich_docx_entries(), zip::CompressionMethod::Deflated);
    let paragraphs = docx::read(&bytes).unwrap();
    let texts: Vec<&str> = paragraphs.iter().map(|p| p.text.as_str()).collect();
    assert_eq!(
        texts,
        vec![
            "כותרת המסמך",
            "מודגש ונטוי, קישור, עמוד 3 סוף",
            "Anchor",
            "Boxed text",
            "new words",
            "Cell A",
            "Inner",
            "Cell B",
            "one two three",
            "הערה ראשונה",
        ]
    );
    check_round_trip("rich", &bytes);
    // The comparison outside the runs would see a paragraph property go.
    let original = entries_of(&bytes)
        .into_iter()
        .find(|e| e.0 == "word/document.xml")
        .unwrap()
        .2;
    let original = String::from_utf8(original).unwrap();
    let tampered = original.replacen(r#"<w:jc w:val="left"/>"#, "", 1);
    assert_ne!(
        normalized(original.as_bytes()),
        normalized(tampered.as_bytes())
    );
    // The Fallback copy of the text box says what the Choice says.
    let written = docx::write_translated(
        &bytes,
        &(0..paragraphs.len())
            .map(|i| format!("X{i}"))
            .collect::<Vec<_>>(),
        Direction::Ltr,
        "en",
    )
    .unwrap();
    let doc = entries_of(&written)
        .into_iter()
        .find(|e| e.0 == "word/document.xml")
        .unwrap()
        .2;
    let doc = String::from_utf8(doc).unwrap();
    assert_eq!(doc.matches(">X3<").count(), 2, "{doc}");
    assert!(!doc.contains("Boxed"), "{doc}");
    // The hyperlink and the field stay; the deleted text stays deleted.
    assert!(
        doc.contains("<w:hyperlink r:id=\"rId9\">")
            && doc.contains("<w:instrText> PAGE </w:instrText>")
    );
    assert!(doc.contains("<w:delText>old</w:delText>"));
}

#[test]
#[ignore = "needs LibreOffice (soffice) on PATH; run with --ignored"]
fn libreoffice_reads_what_the_writer_writes() {
    let dir = std::env::temp_dir().join(format!("sofer_lo_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let profile = format!("-env:UserInstallation=file://{}/profile", dir.display());
    let to_txt = |path: &std::path::Path| -> Vec<String> {
        let status = std::process::Command::new("soffice")
            .args([
                profile.as_str(),
                "--headless",
                "--convert-to",
                "txt:Text (encoded):UTF8",
                "--outdir",
            ])
            .arg(&dir)
            .arg(path)
            .output()
            .expect("soffice");
        assert!(status.status.success(), "{status:?}");
        let txt = dir.join(path.with_extension("txt").file_name().unwrap());
        std::fs::read_to_string(txt)
            .unwrap()
            .lines()
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty())
            .collect()
    };
    for (file, _) in manifest_files("docx") {
        let bytes = fixture(&file);
        let n = docx::read(&bytes).unwrap().len();
        let src = dir.join(file.replace(".docx", ".orig.docx"));
        std::fs::write(&src, &bytes).unwrap();
        let lines_before = to_txt(&src);
        for (direction, tag) in [(Direction::Rtl, "rtl"), (Direction::Ltr, "ltr")] {
            let translated: Vec<String> = (0..n).map(|i| format!("T{i} marker text")).collect();
            let out = docx::write_translated(&bytes, &translated, direction, "he").unwrap();
            let path = dir.join(file.replace(".docx", &format!(".{tag}.docx")));
            std::fs::write(&path, out).unwrap();
            let lines = to_txt(&path);
            assert_eq!(lines.len(), lines_before.len(), "{file} {tag}: {lines:?}");
            for t in &translated {
                assert!(
                    lines.iter().any(|l| l.contains(t.as_str())),
                    "{file} {tag}: {t} missing"
                );
            }
        }
    }
}

// ---------- building DOCX files ----------

fn zip_of(entries: &[(String, Vec<u8>)], method: zip::CompressionMethod) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default().compression_method(method);
    for (name, data) in entries {
        w.start_file(name.as_str(), opts).unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

const W: &str = r#"xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships" xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006" xmlns:wp="http://schemas.openxmlformats.org/drawingml/2006/wordprocessingDrawing" xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main" xmlns:pic="http://schemas.openxmlformats.org/drawingml/2006/picture" xmlns:wps="http://schemas.microsoft.com/office/word/2010/wordprocessingShape" xmlns:v="urn:schemas-microsoft-com:vml""#;

fn minimal_docx_entries(body: &str) -> Vec<(String, Vec<u8>)> {
    vec![
        ("[Content_Types].xml".into(), br#"<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>"#.to_vec()),
        ("_rels/.rels".into(), br#"<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>"#.to_vec()),
        ("word/document.xml".into(), format!(r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document {W}><w:body>{body}<w:sectPr/></w:body></w:document>"#).into_bytes()),
    ]
}

/// A DOCX with what the fixtures lack: a text box in `mc:AlternateContent`, a field, a
/// footnote, tracked changes, hidden text, a merged cell with a nested table, an image.
fn rich_docx_entries() -> Vec<(String, Vec<u8>)> {
    let body = r#"<w:p><w:pPr><w:pStyle w:val="Heading1"/><w:bidi/></w:pPr><w:r><w:rPr><w:rtl/></w:rPr><w:t>כותרת המסמך</w:t></w:r></w:p>
<w:p><w:pPr><w:bidi/><w:jc w:val="left"/></w:pPr><w:bookmarkStart w:id="0" w:name="b0"/><w:r><w:rPr><w:b/><w:bCs/><w:rtl/></w:rPr><w:t xml:space="preserve">מודגש </w:t></w:r><w:r><w:rPr><w:i/><w:rtl/></w:rPr><w:t>ונטוי</w:t></w:r><w:bookmarkEnd w:id="0"/><w:r><w:rPr><w:rtl/></w:rPr><w:t xml:space="preserve">, </w:t></w:r><w:hyperlink r:id="rId9"><w:r><w:rPr><w:rStyle w:val="Hyperlink"/><w:rtl/></w:rPr><w:t>קישור</w:t></w:r></w:hyperlink><w:r><w:rPr><w:vanish/></w:rPr><w:t>נסתר</w:t></w:r><w:r><w:t xml:space="preserve">, עמוד </w:t></w:r><w:r><w:fldChar w:fldCharType="begin"/></w:r><w:r><w:instrText> PAGE </w:instrText></w:r><w:r><w:fldChar w:fldCharType="separate"/></w:r><w:r><w:t>3</w:t></w:r><w:r><w:fldChar w:fldCharType="end"/></w:r><w:r><w:t xml:space="preserve"> סוף</w:t></w:r><w:r><w:rPr><w:rStyle w:val="FootnoteReference"/></w:rPr><w:footnoteReference w:id="1"/></w:r></w:p>
<w:p><w:r><w:t>Anchor</w:t></w:r><w:r><mc:AlternateContent><mc:Choice Requires="wps"><w:drawing><wp:anchor><a:graphic><a:graphicData><wps:wsp><wps:txbx><w:txbxContent><w:p><w:r><w:rPr><w:b/></w:rPr><w:t>Boxed text</w:t></w:r></w:p></w:txbxContent></wps:txbx></wps:wsp></a:graphicData></a:graphic></wp:anchor></w:drawing></mc:Choice><mc:Fallback><w:pict><v:rect><v:textbox><w:txbxContent><w:p><w:r><w:rPr><w:b/></w:rPr><w:t>Boxed text</w:t></w:r></w:p></w:txbxContent></v:textbox></v:rect></w:pict></mc:Fallback></mc:AlternateContent></w:r></w:p>
<w:p><w:del w:id="5" w:author="a"><w:r><w:delText>old</w:delText></w:r></w:del><w:ins w:id="6" w:author="a"><w:r><w:t>new</w:t></w:r></w:ins><w:r><w:t xml:space="preserve"> words</w:t></w:r></w:p>
<w:tbl><w:tblPr><w:tblW w:w="0" w:type="auto"/></w:tblPr><w:tblGrid><w:gridCol/><w:gridCol/><w:gridCol/></w:tblGrid><w:tr><w:tc><w:tcPr><w:gridSpan w:val="2"/></w:tcPr><w:p><w:r><w:t>Cell A</w:t></w:r></w:p><w:tbl><w:tr><w:tc><w:p><w:r><w:t>Inner</w:t></w:r></w:p></w:tc></w:tr></w:tbl><w:p/></w:tc><w:tc><w:p><w:r><w:t>Cell B</w:t></w:r></w:p></w:tc></w:tr></w:tbl>
<w:p><w:pPr><w:numPr><w:ilvl w:val="1"/><w:numId w:val="1"/></w:numPr></w:pPr><w:r><w:t>one</w:t><w:tab/><w:t>two</w:t><w:br/><w:t>three</w:t></w:r><w:r><w:br w:type="page"/></w:r></w:p>
<w:p><w:r><w:drawing><wp:inline><a:graphic><a:graphicData><pic:pic><pic:blipFill><a:blip r:embed="rId8"/></pic:blipFill></pic:pic></a:graphicData></a:graphic></wp:inline></w:drawing></w:r></w:p>"#;
    let mut entries = minimal_docx_entries(body);
    entries.push(("word/_rels/document.xml.rels".into(), br#"<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/footnotes" Target="footnotes.xml"/><Relationship Id="rId8" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/image" Target="media/image1.png"/><Relationship Id="rId9" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/hyperlink" Target="https://example.org/" TargetMode="External"/></Relationships>"#.to_vec()));
    entries.push(("word/styles.xml".into(), format!(r#"<?xml version="1.0"?><w:styles {W}><w:style w:type="paragraph" w:default="1" w:styleId="Normal"><w:name w:val="Normal"/></w:style><w:style w:type="paragraph" w:styleId="Heading1"><w:name w:val="heading 1"/><w:basedOn w:val="Normal"/><w:pPr><w:outlineLvl w:val="0"/></w:pPr></w:style></w:styles>"#).into_bytes()));
    entries.push(("word/footnotes.xml".into(), format!(r#"<?xml version="1.0"?><w:footnotes {W}><w:footnote w:type="separator" w:id="-1"><w:p><w:r><w:separator/></w:r></w:p></w:footnote><w:footnote w:type="continuationSeparator" w:id="0"><w:p><w:r><w:continuationSeparator/></w:r></w:p></w:footnote><w:footnote w:id="1"><w:p><w:pPr><w:bidi/></w:pPr><w:r><w:rPr><w:rStyle w:val="FootnoteReference"/></w:rPr><w:footnoteRef/></w:r><w:r><w:rPr><w:rtl/></w:rPr><w:t xml:space="preserve"> הערה ראשונה</w:t></w:r></w:p></w:footnote></w:footnotes>"#).into_bytes()));
    entries.push((
        "word/media/image1.png".into(),
        vec![0x89, b'P', b'N', b'G', 1, 2, 3, 4],
    ));
    entries
}

#[test]
fn a_translated_paragraph_takes_the_formatting_of_most_of_its_text() {
    let body = "<w:p><w:r><w:rPr><w:b/></w:rPr><w:t>Two</w:t></w:r><w:r><w:rPr><w:i/></w:rPr><w:t xml:space=\"preserve\"> words in italics and more</w:t></w:r></w:p>";
    let docx = zip_of(
        &minimal_docx_entries(body),
        zip::CompressionMethod::Deflated,
    );
    let out =
        docx::write_translated(&docx, &["שתי מילים".to_string()], Direction::Rtl, "he").unwrap();
    let xml = entries_of(&out)
        .into_iter()
        .find(|(name, _, _)| name == "word/document.xml")
        .map(|(_, _, body)| String::from_utf8(body).unwrap())
        .unwrap();
    assert_eq!(xml.matches("<w:t").count(), 1, "{xml}");
    assert!(xml.contains("<w:i/>") && !xml.contains("<w:b/>"), "{xml}");
    assert!(xml.contains(">שתי מילים</w:t>"), "{xml}");
}

#[test]
fn ten_thousand_paragraphs_read_and_write_back_whole() {
    let body: String = (0..10_000)
        .map(|i| {
            format!(
                "<w:p><w:pPr><w:bidi/></w:pPr><w:r><w:rPr><w:b/></w:rPr><w:t>פסקה</w:t></w:r><w:r><w:t xml:space=\"preserve\"> מספר {i}</w:t></w:r></w:p>"
            )
        })
        .collect();
    let docx = zip_of(
        &minimal_docx_entries(&body),
        zip::CompressionMethod::Deflated,
    );
    let paragraphs = docx::read(&docx).unwrap();
    assert_eq!(paragraphs.len(), 10_000);
    assert_eq!(paragraphs[9_999].text, "פסקה מספר 9999");
    assert!(paragraphs.iter().all(|p| p.direction == Direction::Rtl));
    let translated: Vec<String> = (0..10_000)
        .map(|i| format!("Paragraph number {i}"))
        .collect();
    let out = docx::write_translated(&docx, &translated, Direction::Ltr, "en").unwrap();
    let again = docx::read(&out).unwrap();
    let texts: Vec<&str> = again.iter().map(|p| p.text.as_str()).collect();
    assert_eq!(texts, translated);
    assert!(again.iter().all(|p| p.direction == Direction::Ltr));
}
