//! Documents over gRPC: files sent as `content` (DOCX, PDF, HTML) are read by their
//! format, Translate returns the rebuilt file, ingested files are searchable, and bad
//! files are INVALID_ARGUMENT naming the field. A real `sofer serve` on 127.0.0.1, real
//! tonic clients, the tiny model.

mod common;
#[path = "service/harness.rs"]
mod harness;

use common::documents as fixtures;
use harness::{budget, ingest_stream, labels, Server};
use sofer::documents::{self, Direction, Format};
use sofer::service::pb;
use tonic::Code;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(fixtures::dir().join(name)).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_in_content_are_read_translated_back_and_indexed() {
    let server = Server::start(None, &[]);
    server.wait_serving().await;
    let mut d = server.documents().await;

    let page = fixture("he_wiki.page.html");
    let response = d
        .translate(pb::TranslateRequest {
            content: page.clone(),
            sampling: budget(3),
            ..Default::default()
        })
        .await
        .expect("translate")
        .into_inner();
    assert_eq!(
        response.source_language,
        pb::Language::Hebrew as i32,
        "from <html lang>"
    );
    assert_eq!(response.media_type, "text/html");
    let rebuilt = documents::read(&response.content, Some(Format::Html)).expect("rebuilt page");
    let original = documents::read(&page, None).unwrap();
    assert!(rebuilt.paragraphs.len() <= original.paragraphs.len());
    assert!(rebuilt
        .paragraphs
        .iter()
        .all(|p| p.direction == Direction::Ltr));
    assert_eq!(rebuilt.language.as_deref(), Some("en"));

    // `sofer client translate` sends a DOCX as it is and writes back the rebuilt file.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("wiki.en.docx");
    let client = std::process::Command::new(env!("CARGO_BIN_EXE_sofer"))
        .args([
            "client",
            "translate",
            "--server",
            &format!("http://{}", server.addr),
        ])
        .arg(fixtures::dir().join("he_wiki.libreoffice.docx"))
        .args(["--max-tokens", "3", "--output"])
        .arg(&out)
        .env_remove("SOFER_SERVER")
        .output()
        .unwrap();
    assert!(
        client.status.success(),
        "{}",
        String::from_utf8_lossy(&client.stderr)
    );
    let rebuilt = documents::read(&std::fs::read(&out).unwrap(), Some(Format::Docx)).unwrap();
    assert_eq!(rebuilt.format, Format::Docx);

    let classified = d
        .classify(pb::ClassifyRequest {
            content: fixture("mixed_news.page.html"),
            media_type: "text/html; charset=utf-8".into(),
            labels: labels(&["news", "sport"]),
            votes: 1,
            sampling: budget(3),
            ..Default::default()
        })
        .await
        .expect("classify")
        .into_inner();
    assert_eq!(classified.tally.len(), 2);

    let mut corpus = server.corpus().await;
    let report = corpus
        .ingest_documents(ingest_stream(vec![(
            "files",
            pb::Document {
                id: "wiki".into(),
                content: fixture("he_wiki.page.html"),
                ..Default::default()
            },
        )]))
        .await
        .expect("ingest")
        .into_inner();
    assert_eq!(report.documents, 1);
    let hits = corpus
        .search(pb::SearchRequest {
            query: "פסיפס הציפורים".into(),
            collection: "files".into(),
            ..Default::default()
        })
        .await
        .expect("search")
        .into_inner()
        .hits;
    assert_eq!(hits.first().map(|h| h.doc_id.as_str()), Some("wiki"));
    assert!(
        hits.iter().all(|h| !h.text.contains('<')),
        "no markup indexed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_files_are_invalid_argument_naming_the_field() {
    let server = Server::start(None, &[]);
    server.wait_serving().await;
    let mut d = server.documents().await;
    let cases: Vec<(pb::SummarizeRequest, &str, &str)> = vec![
        (
            pb::SummarizeRequest {
                content: fixture("bad/pdf_named.docx"),
                media_type: Format::Docx.media_type().into(),
                ..Default::default()
            },
            "media_type",
            "declared as DOCX but the content is PDF",
        ),
        (
            pb::SummarizeRequest {
                content: fixture("he_wiki.page.html"),
                text: "שלום".into(),
                ..Default::default()
            },
            "content",
            "not both",
        ),
        (
            pb::SummarizeRequest {
                content: b"\x89PNG\r\n\x1a\n....".to_vec(),
                ..Default::default()
            },
            "content",
            "OCR is not supported",
        ),
        (
            pb::SummarizeRequest {
                content: b"<html><body><script>only()</script></body></html>".to_vec(),
                ..Default::default()
            },
            "content",
            "contains no text",
        ),
        (
            pb::SummarizeRequest {
                content: b"x".to_vec(),
                media_type: "application/x-unknown".into(),
                ..Default::default()
            },
            "media_type",
            "not a format Sofer reads",
        ),
        (
            pb::SummarizeRequest {
                media_type: "text/html".into(),
                text: "שלום".into(),
                ..Default::default()
            },
            "media_type",
            "`content` is empty",
        ),
    ];
    for (request, field, words) in cases {
        let status = d.summarize(request).await.expect_err("refused");
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        assert!(
            status.message().starts_with(&format!("`{field}`")),
            "{}",
            status.message()
        );
        assert!(status.message().contains(words), "{}", status.message());
    }
    let ingest = server
        .corpus()
        .await
        .ingest_documents(ingest_stream(vec![(
            "files",
            pb::Document {
                id: "bad".into(),
                content: b"\x89PNG\r\n\x1a\n".to_vec(),
                ..Default::default()
            },
        )]))
        .await
        .expect_err("refused");
    assert_eq!(ingest.code(), Code::InvalidArgument);
    assert!(
        ingest
            .message()
            .starts_with("`messages[0].document.content`"),
        "{}",
        ingest.message()
    );
}
