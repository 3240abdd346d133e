//! DOCX (Office Open XML word processing): reading paragraphs, and writing a translation
//! back into the same file.
//!
//! # Reading
//!
//! The main part (found through `_rels/.rels`, normally `word/document.xml`) is read in
//! one streaming pass (see [`parse`] for what counts as text), then `footnotes.xml` and
//! `endnotes.xml` (separator notes skipped) as [`ParagraphKind::Note`]s. Kinds: a paragraph
//! in a table is a [`ParagraphKind::TableCell`] (column = grid column, so a merged cell
//! counts its span); else a heading when its `w:outlineLvl` or its style's (through
//! `w:basedOn`) says so, or the style is named "heading N" or "Title" (level 1); else a
//! list item when it or its style has `w:numPr` (level = `w:ilvl` + 1). Direction: `w:bidi`
//! on the paragraph or its style makes it RTL, else its first strong letter decides.
//! Paragraphs with no text are skipped. Headers, footers and comments are not read.
//!
//! # Writing
//!
//! [`write_translated`] gives paragraph `i` of [`read`] the text `translated[i]`:
//!
//! - The text goes into the paragraph's run that held most of its text outside hyperlinks
//!   and field results (the first on a tie; if every text run is in one, the first run: a
//!   paragraph that is all link stays a link), keeping that run's `w:rPr` (bold, italic,
//!   font, size…): the paragraph takes its dominant formatting. Tabs in the text become
//!   `w:tab`, line breaks `w:br`; the text is escaped and characters XML 1.0 forbids are
//!   dropped, so a translation cannot inject markup.
//! - The paragraph's other text runs lose their text: a run that holds only properties and
//!   text is removed; a run that also holds something else (a drawing, an image, an
//!   object, a field character, a note reference, a page break) stays with that content.
//!   Bookmarks, comments' ranges, hyperlink elements (then empty) and deleted or hidden
//!   runs are not touched.
//! - `Direction::Rtl` puts `<w:bidi/>` in `w:pPr` and `<w:rtl/>` in the text run's `w:rPr`;
//!   `Direction::Ltr` removes both (or writes `w:val="0"` where the paragraph style turns
//!   them on). Turning RTL on copies `w:b`, `w:i`, `w:sz` to `w:bCs`, `w:iCs`, `w:szCs`
//!   where missing (Word formats RTL runs by those), and back for LTR. Elements are inserted
//!   where the schema orders them. `lang` ("he", "en-GB", …) sets `w:lang` of the text run:
//!   `w:bidi="he-IL"` for an RTL language, `w:val="en-US"` otherwise; other attributes stay.
//! - A text box's `mc:Fallback` copy gets the same text as the `mc:Choice` that was read.
//! - Nothing else changes: each part is edited by splicing byte ranges of the original
//!   XML, and every other zip entry is copied with its compressed bytes as they were, in the
//!   same order.
//!
//! An empty translation leaves an empty paragraph, which a later [`read`] skips.

mod parse;
mod styles;
mod write;
mod xml;

use std::collections::HashMap;
use std::io::{Cursor, Write};

use quick_xml::events::Event;
use quick_xml::Reader;

use crate::documents::archive::{zip_error, Archive};
use crate::documents::{Direction, DocumentError, Format, Paragraph};
use crate::limits::MAX_DECOMPRESSED_BYTES;

use parse::{Parsed, PartKind};
use styles::Styles;
use xml::corrupt;

/// The largest relationships part read, in bytes.
const MAX_RELS_BYTES: u64 = 4 << 20;

/// Reads the paragraphs of a DOCX: the body in order, then footnotes, then endnotes.
pub fn read(bytes: &[u8]) -> Result<Vec<Paragraph>, DocumentError> {
    let mut package = Package::open(bytes)?;
    let parts = package.parse_parts()?;
    let paragraphs: Vec<Paragraph> = parts
        .into_iter()
        .flat_map(|(_, _, parsed)| parsed.paragraphs)
        .collect();
    if paragraphs.is_empty() {
        return Err(DocumentError::Empty {
            format: Format::Docx,
        });
    }
    Ok(paragraphs)
}

/// The DOCX `bytes` with the text of paragraph `i` of [`read`] replaced by
/// `translated[i]`, in `direction` and language `lang` (see the module doc).
pub fn write_translated(
    bytes: &[u8],
    translated: &[String],
    direction: Direction,
    lang: &str,
) -> Result<Vec<u8>, DocumentError> {
    let mut package = Package::open(bytes)?;
    let parts = package.parse_parts()?;
    let expected: usize = parts.iter().map(|(_, _, p)| p.paragraphs.len()).sum();
    if expected == 0 {
        return Err(DocumentError::Empty {
            format: Format::Docx,
        });
    }
    if translated.len() != expected {
        return Err(DocumentError::ParagraphCount {
            expected,
            given: translated.len(),
        });
    }
    let lang = write::lang_tag(lang);
    let mut rewritten: HashMap<String, Vec<u8>> = HashMap::new();
    let mut offset = 0;
    for (name, xml, parsed) in &parts {
        let texts = &translated[offset..offset + parsed.paragraphs.len()];
        offset += parsed.paragraphs.len();
        let mut edits = write::Edits::default();
        for (layout, text) in parsed.layouts.iter().zip(texts) {
            write::paragraph_edits(
                xml,
                &parsed.ns,
                layout,
                text,
                direction,
                lang.as_ref(),
                &mut edits,
            );
        }
        for (i, layout) in &parsed.shadows {
            write::paragraph_edits(
                xml,
                &parsed.ns,
                layout,
                &texts[*i],
                direction,
                lang.as_ref(),
                &mut edits,
            );
        }
        if !edits.is_empty() {
            rewritten.insert(name.clone(), edits.apply(xml)?);
        }
    }
    package.rewrite(&rewritten)
}

/// A paragraph of `text` (whitespace collapsed, trimmed), or `None` when nothing visible is
/// left; RTL when the document declares it, else by its first strong letter. Reader and
/// writer both make paragraphs here, so the writer's indices are the reader's.
pub(crate) fn make_paragraph(
    kind: crate::documents::ParagraphKind,
    text: &str,
    declared_rtl: bool,
) -> Option<Paragraph> {
    Paragraph::new(kind, text, declared_rtl.then_some(Direction::Rtl), None)
}

/// An opened DOCX: its archive and where its parts are.
struct Package<'a> {
    bytes: &'a [u8],
    archive: Archive<'a>,
    main: String,
    styles: Option<String>,
    footnotes: Option<String>,
    endnotes: Option<String>,
}

impl<'a> Package<'a> {
    fn open(bytes: &'a [u8]) -> Result<Self, DocumentError> {
        let mut archive = Archive::open(bytes, Format::Docx)?;
        let main = match archive.read("_rels/.rels", MAX_RELS_BYTES)? {
            Some(rels) => relationships(&rels, "")?
                .into_iter()
                .find(|(kind, _)| kind.ends_with("/officeDocument"))
                .map(|(_, target)| target),
            None => None,
        }
        .filter(|name| archive.contains(name))
        .unwrap_or_else(|| "word/document.xml".to_string());
        if !archive.contains(&main) {
            let reason = if archive.contains("content.xml") {
                "this is an OpenDocument file, not DOCX".to_string()
            } else if archive.contains("xl/workbook.xml") {
                "this is an Excel workbook, not a Word document".to_string()
            } else if archive.contains("ppt/presentation.xml") {
                "this is a PowerPoint presentation, not a Word document".to_string()
            } else {
                format!("no {main} in the archive")
            };
            return Err(corrupt(reason));
        }
        let dir = main.rsplit_once('/').map_or("", |(d, _)| d).to_string();
        let file = main.rsplit_once('/').map_or(main.as_str(), |(_, f)| f);
        let rels_name = if dir.is_empty() {
            format!("_rels/{file}.rels")
        } else {
            format!("{dir}/_rels/{file}.rels")
        };
        let rels = match archive.read(&rels_name, MAX_RELS_BYTES)? {
            Some(rels) => relationships(&rels, &dir)?,
            None => Vec::new(),
        };
        let find = |suffix: &str, fallback: &str| {
            rels.iter()
                .find(|(kind, _)| kind.ends_with(suffix))
                .map(|(_, target)| target.clone())
                .or_else(|| Some(fallback.to_string()))
                .filter(|name| archive.contains(name))
        };
        let styles = find("/styles", "word/styles.xml");
        let footnotes = find("/footnotes", "word/footnotes.xml");
        let endnotes = find("/endnotes", "word/endnotes.xml");
        Ok(Package {
            bytes,
            archive,
            main,
            styles,
            footnotes,
            endnotes,
        })
    }

    /// Reads and parses the body and the notes parts, in reading order: `(entry name, its
    /// XML, what it holds)`.
    fn parse_parts(&mut self) -> Result<Vec<(String, Vec<u8>, Parsed)>, DocumentError> {
        let styles = match self.styles.clone() {
            Some(name) => {
                let xml = self.archive.read_required(&name, MAX_DECOMPRESSED_BYTES)?;
                Styles::parse(&xml).map_err(|e| corrupt(format!("{name}: {e}")))?
            }
            None => Styles::default(),
        };
        let mut tables = 0;
        let mut count = 0;
        let mut parts = Vec::new();
        let names = [
            (Some(self.main.clone()), PartKind::Body),
            (self.footnotes.clone(), PartKind::Notes),
            (self.endnotes.clone(), PartKind::Notes),
        ];
        for (name, kind) in names {
            let Some(name) = name else { continue };
            let xml = self.archive.read_required(&name, MAX_DECOMPRESSED_BYTES)?;
            let parsed = parse::parse(&xml, kind, &styles, &mut tables, &mut count).map_err(
                |e| match e {
                    DocumentError::Corrupt { format, reason } => DocumentError::Corrupt {
                        format,
                        reason: format!("{name}: {reason}"),
                    },
                    other => other,
                },
            )?;
            parts.push((name, xml, parsed));
        }
        Ok(parts)
    }

    /// The archive again, with the entries in `rewritten` replaced and every other entry
    /// copied raw.
    fn rewrite(mut self, rewritten: &HashMap<String, Vec<u8>>) -> Result<Vec<u8>, DocumentError> {
        let err = |e| zip_error(Format::Docx, e);
        let size = self.bytes.len();
        let zip = self.archive.zip_mut();
        let mut out = zip::ZipWriter::new(Cursor::new(Vec::with_capacity(size + size / 4)));
        for i in 0..zip.len() {
            let file = zip.by_index_raw(i).map_err(err)?;
            let name = file.name().map_err(err)?.into_owned();
            match rewritten.get(&name) {
                Some(data) => {
                    let mut opts = zip::write::SimpleFileOptions::default()
                        .compression_method(zip::CompressionMethod::Deflated)
                        .large_file(false);
                    if let Some(t) = file.last_modified() {
                        opts = opts.last_modified_time(t);
                    }
                    drop(file);
                    out.start_file(name, opts).map_err(err)?;
                    out.write_all(data)
                        .map_err(|e| corrupt(format!("writing: {e}")))?;
                }
                None => out.raw_copy_file(file).map_err(err)?,
            }
        }
        Ok(out.finish().map_err(err)?.into_inner())
    }
}

/// The `(type, target)` pairs of a relationships part, targets resolved against `dir`
/// (the folder of the part they belong to); external targets left out.
fn relationships(xml: &[u8], dir: &str) -> Result<Vec<(String, String)>, DocumentError> {
    let mut reader = Reader::from_reader(xml);
    let mut out = Vec::new();
    loop {
        match reader.read_event() {
            Ok(Event::Start(e) | Event::Empty(e)) if e.local_name().as_ref() == b"Relationship" => {
                let get = |key: &[u8]| xml::attr(&e, b"", key);
                if get(b"TargetMode").is_some_and(|m| m.eq_ignore_ascii_case("external")) {
                    continue;
                }
                if let (Some(kind), Some(target)) = (get(b"Type"), get(b"Target")) {
                    out.push((kind, resolve(dir, &target)));
                }
            }
            Ok(Event::Eof) => break,
            Ok(_) => {}
            Err(e) => return Err(corrupt(format!("relationships: {e}"))),
        }
    }
    Ok(out)
}

/// `target` relative to folder `dir` (or absolute from the package root), `..` resolved.
fn resolve(dir: &str, target: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    let (base, target) = match target.strip_prefix('/') {
        Some(t) => ("", t),
        None => (dir, target),
    };
    for p in base.split('/').chain(target.split('/')) {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    parts.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_resolve() {
        assert_eq!(resolve("word", "styles.xml"), "word/styles.xml");
        assert_eq!(resolve("word", "/word/x.xml"), "word/x.xml");
        assert_eq!(resolve("word", "../customXml/a.xml"), "customXml/a.xml");
        assert_eq!(resolve("", "word/document.xml"), "word/document.xml");
    }
}
