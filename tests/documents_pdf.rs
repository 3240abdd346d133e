//! The PDF reader on the real-producer fixtures: every paragraph knows its page, the bad
//! inputs give the right errors, hostile bytes never panic, and 500 pages read whole.
//! (Word accuracy against the source, for every format, is in `documents.rs`.)

mod common;

use sofer::documents::{pdf, DocumentError, Format};

fn read_fixture(name: &str) -> Vec<u8> {
    let path = common::documents::dir().join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn every_pdf_paragraph_has_its_page() {
    let mut checked = 0;
    for fixture in common::documents::good_fixtures() {
        if !fixture.file.ends_with(".pdf") {
            continue;
        }
        let paragraphs = pdf::read(&read_fixture(&fixture.file))
            .unwrap_or_else(|e| panic!("{}: {e}", fixture.file));
        let pages: Vec<u32> = paragraphs.iter().map(|p| p.page.expect("a page")).collect();
        assert!(
            pages.windows(2).all(|w| w[0] <= w[1]),
            "{}: pages in order",
            fixture.file
        );
        assert_eq!(pages.first(), Some(&1), "{}", fixture.file);
        checked += 1;
    }
    assert!(checked >= 12, "only {checked} PDF fixtures found");
}

#[test]
fn bad_inputs_give_the_right_errors() {
    let corrupt = |r: Result<_, DocumentError>| {
        matches!(
            r,
            Err(DocumentError::Corrupt {
                format: Format::Pdf,
                ..
            })
        )
    };
    assert!(corrupt(pdf::read(&read_fixture("bad/empty.pdf"))));
    assert!(corrupt(pdf::read(b"%PDF-1.7\n garbage")));
    match pdf::read(&read_fixture("bad/truncated.pdf")) {
        Ok(paragraphs) => assert!(!paragraphs.is_empty()),
        Err(e) => assert!(corrupt(Err(e))),
    }
    for f in [
        "bad/encrypted_user_password.pdf",
        "bad/encrypted_owner_only.pdf",
    ] {
        assert_eq!(
            pdf::read(&read_fixture(f)),
            Err(DocumentError::Encrypted {
                format: Format::Pdf
            }),
            "{f}"
        );
    }
    assert_eq!(
        pdf::read(&read_fixture("bad/scanned_no_text.pdf")),
        Err(DocumentError::NoTextLayer)
    );
    assert!(pdf::read(&read_fixture("bad/pdf_named.docx")).is_ok_and(|p| !p.is_empty()));
}

#[test]
fn hostile_bytes_never_panic() {
    let good = read_fixture("he_wiki.libreoffice.pdf");
    let mut seed: u64 = 0x5eed;
    for round in 0..24 {
        let mut bytes = good.clone();
        let cut = if round % 3 == 0 {
            bytes.len() * (round + 1) / 26
        } else {
            bytes.len()
        };
        bytes.truncate(cut.max(16));
        for _ in 0..(round * 8) {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let i = (seed >> 33) as usize % bytes.len();
            bytes[i] = (seed >> 20) as u8;
        }
        let _ = pdf::read(&bytes);
    }
}

#[test]
fn five_hundred_pages() {
    let paragraphs = pdf::read(&read_fixture("long_500_pages.libreoffice.pdf")).unwrap();
    assert!(paragraphs.len() >= 500);
    assert_eq!(paragraphs.last().and_then(|p| p.page), Some(500));
}
