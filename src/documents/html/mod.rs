//! HTML: the main content of a page as paragraphs, and the page again with its
//! paragraphs translated in place.
//!
//! The writer splices: every byte outside the translated paragraphs stays as it was
//! (scripts, styles, images, navigation, attributes). A paragraph's inline markup is kept
//! when it wraps the whole paragraph (`<p><a href>…</a></p>`) and replaced with the
//! translation's plain text when it covers only part of it; images and other embedded
//! elements inside are put back after the text. Each translated block gets `dir` and
//! `lang` (a paragraph sharing its block with other text is wrapped in a `<span>` that
//! has them), and so does `<html>`.

mod blocks;
mod charset;
mod entities;
mod tokens;

use std::ops::Range;

use super::{Direction, DocumentError, Format, Paragraph};

/// The paragraphs of a page and the language its `<html lang>` declares.
pub fn read(bytes: &[u8]) -> Result<(Vec<Paragraph>, Option<String>), DocumentError> {
    let html = charset::decode(bytes, charset::detect(bytes));
    let page = blocks::read(&html);
    if page.blocks.is_empty() {
        return Err(DocumentError::Empty {
            format: Format::Html,
        });
    }
    Ok((
        page.blocks.into_iter().map(|b| b.paragraph).collect(),
        page.language,
    ))
}

/// The page `bytes` with paragraph `i` of [`read`] replaced by `translated[i]`, in the
/// page's own encoding.
pub fn write_translated(
    bytes: &[u8],
    translated: &[String],
    direction: Direction,
    lang: &str,
) -> Result<Vec<u8>, DocumentError> {
    let encoding = charset::detect(bytes);
    let html = charset::decode(bytes, encoding);
    let page = blocks::read(&html);
    if page.blocks.len() != translated.len() {
        return Err(DocumentError::ParagraphCount {
            expected: page.blocks.len(),
            given: translated.len(),
        });
    }
    let dir = match direction {
        Direction::Rtl => "rtl",
        Direction::Ltr => "ltr",
    };
    let mut edits: Vec<(Range<usize>, String)> = Vec::new();
    for (block, text) in page.blocks.iter().zip(translated) {
        let mut replacement = entities::escape_text(text);
        for keep in &block.keep {
            replacement.push(' ');
            replacement.push_str(&html[keep.clone()]);
        }
        match &block.element {
            Some(tag) => edits.push((tag.clone(), with_direction(&html[tag.clone()], dir, lang))),
            None => {
                replacement = format!("<span dir=\"{dir}\" lang=\"{lang}\">{replacement}</span>")
            }
        }
        edits.push((block.content.clone(), replacement));
    }
    if let Some(root) = &page.root {
        if !edits.iter().any(|(range, _)| range == root) {
            edits.push((root.clone(), with_direction(&html[root.clone()], dir, lang)));
        }
    }
    edits.sort_by_key(|(range, _)| range.start);
    let mut out = String::with_capacity(html.len() + html.len() / 4);
    let mut at = 0;
    for (range, replacement) in edits {
        out.push_str(&html[at..range.start]);
        out.push_str(&replacement);
        at = range.end;
    }
    out.push_str(&html[at..]);
    let mut bytes_out = Vec::with_capacity(out.len() + 3);
    if bytes.starts_with(b"\xEF\xBB\xBF") {
        bytes_out.extend_from_slice(b"\xEF\xBB\xBF");
    }
    bytes_out.extend(charset::encode(&out, encoding));
    Ok(bytes_out)
}

/// The start tag `tag` with its `dir` and `lang` set (others untouched).
fn with_direction(tag: &str, dir: &str, lang: &str) -> String {
    let parsed = tokens::tokenize(tag);
    let Some(tokens::Token::Start(start)) = parsed.first() else {
        return tag.to_string();
    };
    let mut out = String::with_capacity(tag.len() + 24);
    let name_end = 1 + start.name.len();
    out.push_str(&tag[..name_end]);
    out.push_str(&format!(" dir=\"{dir}\" lang=\"{lang}\""));
    let mut at = name_end;
    for ((name, _), span) in start.attributes.iter().zip(&start.attribute_spans) {
        if name == "dir" || name == "lang" {
            out.push_str(tag[at..span.start].trim_end());
            at = span.end;
        }
    }
    out.push_str(&tag[at..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str =
        "<!doctype html><html lang=\"he\" dir=\"rtl\"><head><style>b{}</style></head><body>\
<nav>תפריט</nav><main><h1 class=\"t\">דוח <b>חשוב</b></h1><p><a href=\"/x\">קישור</a></p>\
<div>מבוא<p>פסקה <img src=\"a.png\"> עם תמונה</p></div></main></body></html>";

    #[test]
    fn a_translated_page_keeps_everything_but_its_text() {
        let (paragraphs, language) = read(PAGE.as_bytes()).unwrap();
        assert_eq!(language.as_deref(), Some("he"));
        let texts: Vec<&str> = paragraphs.iter().map(|p| p.text.as_str()).collect();
        assert_eq!(texts, ["דוח חשוב", "קישור", "מבוא", "פסקה עם תמונה"]);
        let translated: Vec<String> = ["Important <report>", "Link", "Intro", "Text with image"]
            .map(String::from)
            .to_vec();
        let out = write_translated(PAGE.as_bytes(), &translated, Direction::Ltr, "en").unwrap();
        let out = String::from_utf8(out).unwrap();
        assert_eq!(
            out,
            "<!doctype html><html dir=\"ltr\" lang=\"en\"><head><style>b{}</style></head><body>\
<nav>תפריט</nav><main><h1 dir=\"ltr\" lang=\"en\" class=\"t\">Important &lt;report&gt;</h1>\
<p dir=\"ltr\" lang=\"en\"><a href=\"/x\">Link</a></p>\
<div dir=\"ltr\" lang=\"en\">Intro<p dir=\"ltr\" lang=\"en\">Text with image <img src=\"a.png\"></p></div></main></body></html>"
        );
        let (again, _) = read(out.as_bytes()).unwrap();
        let texts: Vec<&str> = again.iter().map(|p| p.text.as_str()).collect();
        assert_eq!(
            texts,
            ["Important <report>", "Link", "Intro", "Text with image"]
        );
        assert!(again.iter().all(|p| p.direction == Direction::Ltr));
    }

    #[test]
    fn wrong_counts_and_empty_pages_are_errors() {
        assert_eq!(
            write_translated(PAGE.as_bytes(), &[], Direction::Ltr, "en"),
            Err(DocumentError::ParagraphCount {
                expected: 4,
                given: 0
            })
        );
        assert_eq!(
            read(b"<html><body><script>x</script></body></html>"),
            Err(DocumentError::Empty {
                format: Format::Html
            })
        );
    }

    #[test]
    fn a_windows_1255_page_is_written_back_in_its_encoding() {
        let page = b"<html><head><meta charset=windows-1255></head><body><p>\xf9\xec\xe5\xed</p></body></html>";
        let (paragraphs, _) = read(page).unwrap();
        assert_eq!(paragraphs[0].text, "שלום");
        let out = write_translated(page, &["Hello".into()], Direction::Ltr, "en").unwrap();
        assert!(out.ends_with(b"<p dir=\"ltr\" lang=\"en\">Hello</p></body></html>"));
    }
}
