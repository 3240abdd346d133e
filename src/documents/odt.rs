//! ODT (OpenDocument text) reading: the paragraphs of `content.xml` in reading order.
//!
//! One streaming pass of quick-xml over `office:text`:
//!
//! - `text:h` is a heading (`text:outline-level`, default 1); `text:p` is body text, or a
//!   list item inside `text:list`/`text:list-item` (level = list nesting), or a table cell
//!   inside `table:table-cell` (column counts `table:covered-table-cell`s and
//!   `number-columns-repeated`, so it is the grid column); a `text:p` whose style is named
//!   "Title" or "Heading N" is a heading too. Word's "List Number 2"-style lists (a list of
//!   their own, indented) take the level their style's name says.
//! - Footnotes and endnotes (`text:note`) become [`ParagraphKind::Note`]s after the body;
//!   their citation mark is dropped.
//! - Inline: `text:span`, `text:a`, fields (their shown text) are read through; `text:s`,
//!   `text:tab` and `text:line-break` are white space; all white space collapses to one space (as
//!   `Paragraph::new` does in the main crate).
//! - Left out: tracked deletions (`text:tracked-changes`), comments (`office:annotation`),
//!   index templates (`text:*-source`), shape titles and descriptions.
//! - Text frames (`draw:text-box`) and shape text are read after the paragraph that
//!   anchors them.
//!
//! Direction: `style:writing-mode` `rl-tb` (or `rl`) of the paragraph's style (automatic,
//! through `style:parent-style-name`, or the default paragraph style) makes it RTL; else its
//! first strong letter decides.

use std::collections::HashMap;

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

use crate::documents::archive::Archive;
use crate::documents::docx::make_paragraph;
use crate::documents::{DocumentError, Format, Paragraph, ParagraphKind};
use crate::limits::{MAX_DECOMPRESSED_BYTES, MAX_PARAGRAPHS};

const TEXT_NS: &[u8] = b"urn:oasis:names:tc:opendocument:xmlns:text:1.0";
const TABLE_NS: &[u8] = b"urn:oasis:names:tc:opendocument:xmlns:table:1.0";
const OFFICE_NS: &[u8] = b"urn:oasis:names:tc:opendocument:xmlns:office:1.0";
const STYLE_NS: &[u8] = b"urn:oasis:names:tc:opendocument:xmlns:style:1.0";
const DRAW_NS: &[u8] = b"urn:oasis:names:tc:opendocument:xmlns:drawing:1.0";
const SVG_NS: &[u8] = b"urn:oasis:names:tc:opendocument:xmlns:svg-compatible:1.0";

/// Reads the paragraphs of an ODT: the body in order, then its notes.
pub fn read(bytes: &[u8]) -> Result<Vec<Paragraph>, DocumentError> {
    let mut archive = Archive::open(bytes, Format::Odt)?;
    if let Some(mimetype) = archive.read("mimetype", 1024)? {
        let mimetype = String::from_utf8_lossy(&mimetype).trim().to_string();
        if !mimetype.starts_with("application/vnd.oasis.opendocument.text") {
            return Err(DocumentError::Unsupported(format!(
                "an OpenDocument file of type {mimetype}, not a text document"
            )));
        }
    }
    if let Some(manifest) = archive.read("META-INF/manifest.xml", 16 << 20)? {
        if memchr_find(&manifest, b"encryption-data") {
            return Err(DocumentError::Encrypted {
                format: Format::Odt,
            });
        }
    }
    if !archive.contains("content.xml") {
        let reason = if archive.contains("word/document.xml") {
            "this is a DOCX file, not ODT".to_string()
        } else {
            "no content.xml in the archive".to_string()
        };
        return Err(DocumentError::Corrupt {
            format: Format::Odt,
            reason,
        });
    }
    let mut styles = Styles::default();
    if let Some(xml) = archive.read("styles.xml", MAX_DECOMPRESSED_BYTES)? {
        styles
            .add(&xml)
            .map_err(|e| corrupt(format!("styles.xml: {e}")))?;
    }
    let content = archive.read_required("content.xml", MAX_DECOMPRESSED_BYTES)?;
    styles
        .add(&content)
        .map_err(|e| corrupt(format!("content.xml: {e}")))?;
    let paragraphs = parse_body(&content, &styles)?;
    if paragraphs.is_empty() {
        return Err(DocumentError::Empty {
            format: Format::Odt,
        });
    }
    Ok(paragraphs)
}

fn corrupt(reason: String) -> DocumentError {
    DocumentError::Corrupt {
        format: Format::Odt,
        reason,
    }
}

fn memchr_find(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// The prefixes a part binds to the ODF namespaces it uses.
#[derive(Debug, Clone)]
struct Ns {
    text: Vec<u8>,
    table: Vec<u8>,
    office: Vec<u8>,
    style: Vec<u8>,
    draw: Vec<u8>,
    svg: Vec<u8>,
}

impl Default for Ns {
    fn default() -> Self {
        Ns {
            text: b"text".to_vec(),
            table: b"table".to_vec(),
            office: b"office".to_vec(),
            style: b"style".to_vec(),
            draw: b"draw".to_vec(),
            svg: b"svg".to_vec(),
        }
    }
}

/// Which namespace an element is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Space {
    Text,
    Table,
    Office,
    Style,
    Draw,
    Svg,
    Other,
}

impl Ns {
    fn from_root(e: &BytesStart<'_>) -> Ns {
        let mut ns = Ns::default();
        for a in e.attributes().with_checks(false).flatten() {
            let Some(prefix) = a.key.as_ref().strip_prefix(b"xmlns:") else {
                continue;
            };
            let slot = match a.value.as_ref() {
                TEXT_NS => &mut ns.text,
                TABLE_NS => &mut ns.table,
                OFFICE_NS => &mut ns.office,
                STYLE_NS => &mut ns.style,
                DRAW_NS => &mut ns.draw,
                SVG_NS => &mut ns.svg,
                _ => continue,
            };
            *slot = prefix.to_vec();
        }
        ns
    }

    /// The namespace and local name of `qname`.
    fn split<'a>(&self, qname: &'a [u8]) -> (Space, &'a [u8]) {
        let Some(colon) = qname.iter().position(|&b| b == b':') else {
            return (Space::Other, qname);
        };
        let (prefix, local) = (&qname[..colon], &qname[colon + 1..]);
        let space = if prefix == self.text {
            Space::Text
        } else if prefix == self.table {
            Space::Table
        } else if prefix == self.office {
            Space::Office
        } else if prefix == self.style {
            Space::Style
        } else if prefix == self.draw {
            Space::Draw
        } else if prefix == self.svg {
            Space::Svg
        } else {
            Space::Other
        };
        (space, local)
    }
}

/// The value of the attribute whose qualified name is `prefix:name`.
fn attr(e: &BytesStart<'_>, prefix: &[u8], name: &[u8]) -> Option<String> {
    for a in e.attributes().with_checks(false).flatten() {
        let key = a.key.as_ref();
        if key.len() == prefix.len() + 1 + name.len()
            && key.starts_with(prefix)
            && key[prefix.len()] == b':'
            && key.ends_with(name)
        {
            return Some(match a.unescape_value() {
                Ok(v) => v.into_owned(),
                Err(_) => String::from_utf8_lossy(&a.value).into_owned(),
            });
        }
    }
    None
}

/// A paragraph style as declared.
#[derive(Debug, Default, Clone)]
struct Style {
    parent: Option<String>,
    /// Its display name (or its name with `_20_` decoded).
    display: String,
    /// `Some(true)` for `rl-tb`/`rl`, `Some(false)` for `lr-tb`/`lr`.
    rtl: Option<bool>,
    /// `style:default-outline-level`.
    outline: Option<u8>,
    /// A text (character) style, kept only to see whether it hides its text.
    text_style: bool,
}

/// Paragraph styles of `styles.xml` and `content.xml`.
#[derive(Debug, Default)]
struct Styles {
    styles: HashMap<String, Style>,
    /// Text styles with `text:display="none"`.
    hidden: std::collections::HashSet<String>,
    default_rtl: Option<bool>,
}

impl Styles {
    fn add(&mut self, xml: &[u8]) -> Result<(), String> {
        let mut reader = Reader::from_reader(xml);
        let mut ns = Ns::default();
        let mut root = true;
        let mut cur: Option<(Option<String>, Style)> = None;
        loop {
            let event = reader.read_event().map_err(|e| e.to_string())?;
            let (e, empty) = match &event {
                Event::Start(e) => (e, false),
                Event::Empty(e) => (e, true),
                Event::End(e) => {
                    let name = e.name();
                    let (space, local) = ns.split(name.as_ref());
                    if space == Space::Style && matches!(local, b"style" | b"default-style") {
                        self.close(cur.take());
                    }
                    // Styles come before the body: nothing more to learn after it starts.
                    continue;
                }
                Event::Eof => break,
                _ => continue,
            };
            if root {
                ns = Ns::from_root(e);
                root = false;
            }
            let qname = e.name();
            let (space, local) = ns.split(qname.as_ref());
            match (space, local) {
                (Space::Office, b"body") => break,
                (Space::Style, b"style" | b"default-style") => {
                    let family = attr(e, &ns.style, b"family");
                    if family.as_deref() == Some("text") {
                        let name = attr(e, &ns.style, b"name");
                        cur = Some((
                            name,
                            Style {
                                text_style: true,
                                ..Style::default()
                            },
                        ));
                        if empty {
                            cur = None;
                        }
                    } else if family.as_deref() == Some("paragraph") {
                        let name = attr(e, &ns.style, b"name");
                        let display = attr(e, &ns.style, b"display-name")
                            .or_else(|| name.as_ref().map(|n| n.replace("_20_", " ")))
                            .unwrap_or_default();
                        let style = Style {
                            parent: attr(e, &ns.style, b"parent-style-name"),
                            display,
                            rtl: None,
                            outline: attr(e, &ns.style, b"default-outline-level")
                                .and_then(|v| v.parse().ok()),
                            text_style: false,
                        };
                        // A default style has no name: `None`.
                        let key = if local == b"default-style" {
                            None
                        } else {
                            name
                        };
                        cur = Some((key, style));
                        if empty {
                            self.close(cur.take());
                        }
                    }
                }
                (Space::Style, b"text-properties") => {
                    if let Some((Some(name), _)) = cur.as_ref() {
                        if attr(e, &ns.text, b"display").as_deref() == Some("none") {
                            self.hidden.insert(name.clone());
                        }
                    }
                }
                (Space::Style, b"paragraph-properties") => {
                    if let Some((_, style)) = cur.as_mut() {
                        style.rtl = match attr(e, &ns.style, b"writing-mode").as_deref() {
                            Some("rl-tb" | "rl" | "tb-rl") => Some(true),
                            Some("lr-tb" | "lr") => Some(false),
                            _ => style.rtl,
                        };
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn close(&mut self, cur: Option<(Option<String>, Style)>) {
        match cur {
            Some((_, style)) if style.text_style => {}
            Some((Some(name), style)) => {
                self.styles.insert(name, style);
            }
            Some((None, style)) => self.default_rtl = style.rtl.or(self.default_rtl),
            None => {}
        }
    }

    /// `name` and the styles it derives from, most derived first.
    fn chain(&self, name: &str) -> Vec<&Style> {
        let mut out: Vec<&Style> = Vec::new();
        let mut next = Some(name);
        while let Some(n) = next {
            let Some(s) = self.styles.get(n) else { break };
            if out.len() >= 16 || out.iter().any(|o| std::ptr::eq(*o, s)) {
                break;
            }
            out.push(s);
            next = s.parent.as_deref();
        }
        out
    }

    fn rtl(&self, name: Option<&str>) -> bool {
        name.and_then(|n| self.chain(n).iter().find_map(|s| s.rtl))
            .or(self.default_rtl)
            .unwrap_or(false)
    }

    /// A heading level a `text:p`'s style gives it ("Title", "Heading 2", an outline level).
    fn heading(&self, name: Option<&str>) -> Option<u8> {
        let chain = self.chain(name?);
        chain.iter().find_map(|s| {
            let lower = s.display.trim().to_ascii_lowercase();
            if lower == "title" {
                return Some(1);
            }
            if let Some(n) = lower
                .strip_prefix("heading")
                .and_then(|r| r.trim().parse().ok())
            {
                return (1..=9).contains(&n).then_some(n);
            }
            s.outline.filter(|l| (1..=10).contains(l))
        })
    }

    /// The list level a style's name says ("List Number 2" → 2).
    fn list_named(&self, name: Option<&str>) -> Option<u8> {
        let chain = self.chain(name?);
        chain.iter().find_map(|s| {
            let lower = s.display.trim().to_ascii_lowercase();
            let rest = lower
                .strip_prefix("list number")
                .or_else(|| lower.strip_prefix("list bullet"))?;
            rest.trim().parse().ok().filter(|n| (1..=9).contains(n))
        })
    }
}

/// What the parser is inside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum El {
    Paragraph,
    List,
    Table,
    Row,
    Cell,
    Note,
    Other,
}

#[derive(Debug)]
struct ParaBuilder {
    heading: Option<u8>,
    style: Option<String>,
    text: String,
    cell: Option<(u32, u32, u32)>,
    list_depth: u8,
    note: bool,
    nested: Vec<Paragraph>,
}

#[derive(Debug)]
struct Table {
    id: u32,
    row: Option<u32>,
    next_col: u32,
    cell_col: u32,
    rows_repeated: u32,
}

fn parse_body(xml: &[u8], styles: &Styles) -> Result<Vec<Paragraph>, DocumentError> {
    let mut reader = Reader::from_reader(xml);
    let mut ns = Ns::default();
    let mut path: Vec<El> = Vec::with_capacity(32);
    let mut skip: Option<usize> = None;
    let mut in_body = false;
    let mut paras: Vec<ParaBuilder> = Vec::new();
    let mut tables: Vec<Table> = Vec::new();
    let mut next_table = 0u32;
    let mut list_depth = 0u8;
    let mut note_depth = 0usize;
    let mut body: Vec<Paragraph> = Vec::new();
    let mut notes: Vec<Paragraph> = Vec::new();
    loop {
        let event = reader.read_event().map_err(|e| {
            corrupt(format!(
                "content.xml: XML error at byte {}: {e}",
                reader.error_position()
            ))
        })?;
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let empty = matches!(event, Event::Empty(_));
                if path.is_empty() && skip.is_none() {
                    ns = Ns::from_root(e);
                }
                if skip.is_some() {
                    if !empty {
                        path.push(El::Other);
                    }
                    continue;
                }
                let qname = e.name();
                let (space, local) = ns.split(qname.as_ref());
                let mut el = El::Other;
                let mut skip_this = false;
                match (space, local) {
                    (Space::Office, b"text") => in_body = true,
                    _ if !in_body => {}
                    (Space::Text, b"h" | b"p") => {
                        let heading = if local == b"h" {
                            Some(
                                attr(e, &ns.text, b"outline-level")
                                    .and_then(|v| v.parse::<u8>().ok())
                                    .unwrap_or(1)
                                    .clamp(1, 10),
                            )
                        } else {
                            None
                        };
                        if !empty {
                            paras.push(ParaBuilder {
                                heading,
                                style: attr(e, &ns.text, b"style-name"),
                                text: String::new(),
                                cell: tables
                                    .last()
                                    .map(|t| (t.id, t.row.unwrap_or(0), t.cell_col)),
                                list_depth,
                                note: note_depth > 0,
                                nested: Vec::new(),
                            });
                            el = El::Paragraph;
                        }
                    }
                    (Space::Text, b"list") if !empty => {
                        list_depth = list_depth.saturating_add(1);
                        el = El::List;
                    }
                    (Space::Table, b"table") if !empty => {
                        tables.push(Table {
                            id: next_table,
                            row: None,
                            next_col: 0,
                            cell_col: 0,
                            rows_repeated: 1,
                        });
                        next_table += 1;
                        el = El::Table;
                    }
                    (Space::Table, b"table-row") => {
                        let repeated: u32 = attr(e, &ns.table, b"number-rows-repeated")
                            .and_then(|v| v.parse().ok())
                            .unwrap_or(1);
                        if let Some(t) = tables.last_mut() {
                            t.row = Some(t.row.map_or(0, |r| r.saturating_add(t.rows_repeated)));
                            t.rows_repeated = repeated.clamp(1, 1 << 20);
                            t.next_col = 0;
                        }
                        if !empty {
                            el = El::Row;
                        }
                    }
                    (Space::Table, b"table-cell" | b"covered-table-cell") => {
                        let repeated: u32 = attr(e, &ns.table, b"number-columns-repeated")
                            .and_then(|v| v.parse().ok())
                            .unwrap_or(1);
                        if let Some(t) = tables.last_mut() {
                            t.cell_col = t.next_col;
                            t.next_col = t.next_col.saturating_add(repeated.clamp(1, 1 << 14));
                        }
                        if !empty {
                            el = El::Cell;
                        }
                    }
                    (Space::Text, b"note") if !empty => {
                        note_depth += 1;
                        el = El::Note;
                    }
                    (Space::Text, b"s") => {
                        let n: usize = attr(e, &ns.text, b"c")
                            .and_then(|v| v.parse().ok())
                            .unwrap_or(1)
                            .clamp(1, 1000);
                        if let Some(p) = paras.last_mut() {
                            p.text.extend(std::iter::repeat_n(' ', n));
                        }
                    }
                    (Space::Text, b"tab") => {
                        if let Some(p) = paras.last_mut() {
                            p.text.push('\t');
                        }
                    }
                    (Space::Text, b"line-break") => {
                        if let Some(p) = paras.last_mut() {
                            if !p.text.ends_with(' ') {
                                p.text.push(' ');
                            }
                        }
                    }
                    (Space::Text, b"tracked-changes" | b"note-citation" | b"sequence-decls")
                    | (Space::Text, b"variable-decls" | b"user-field-decls" | b"ruby-text")
                    | (Space::Office, b"annotation" | b"forms" | b"event-listeners")
                    | (Space::Svg, b"title" | b"desc") => skip_this = true,
                    (Space::Text, l) if l.ends_with(b"-source") => skip_this = true,
                    (Space::Text, b"span" | b"hidden-text") => {
                        let hidden = match local {
                            b"span" => attr(e, &ns.text, b"style-name")
                                .is_some_and(|s| styles.hidden.contains(&s)),
                            _ => attr(e, &ns.text, b"is-hidden").as_deref() == Some("true"),
                        };
                        skip_this = hidden;
                    }
                    _ => {}
                }
                if !empty {
                    path.push(el);
                    if skip_this {
                        skip = Some(path.len());
                    }
                }
            }
            Event::End(_) => {
                let depth = path.len();
                let Some(el) = path.pop() else {
                    return Err(corrupt("content.xml: an end tag without its start".into()));
                };
                if let Some(s) = skip {
                    if depth >= s {
                        if depth == s {
                            skip = None;
                        }
                        continue;
                    }
                }
                match el {
                    El::Paragraph => {
                        let Some(p) = paras.pop() else { continue };
                        let mut done = Vec::with_capacity(1 + p.nested.len());
                        let style = p.style.as_deref();
                        let kind = if p.note {
                            ParagraphKind::Note
                        } else if let Some((table, row, column)) = p.cell {
                            ParagraphKind::TableCell { table, row, column }
                        } else if let Some(level) = p.heading.or_else(|| styles.heading(style)) {
                            ParagraphKind::Heading { level }
                        } else if p.list_depth > 0 {
                            let named = styles.list_named(style).unwrap_or(1);
                            ParagraphKind::ListItem {
                                level: p.list_depth.max(named),
                            }
                        } else {
                            ParagraphKind::Body
                        };
                        done.extend(make_paragraph(kind, &clean(&p.text), styles.rtl(style)));
                        done.extend(p.nested);
                        if body.len() + notes.len() + done.len() > MAX_PARAGRAPHS {
                            return Err(DocumentError::TooLarge {
                                what: "the number of paragraphs".into(),
                                limit: format!("{MAX_PARAGRAPHS} paragraphs"),
                            });
                        }
                        match paras.last_mut() {
                            Some(outer) if !p.note || outer.note => outer.nested.extend(done),
                            _ if p.note => notes.extend(done),
                            _ => body.extend(done),
                        }
                    }
                    El::List => list_depth = list_depth.saturating_sub(1),
                    El::Table => {
                        tables.pop();
                    }
                    El::Note => note_depth -= 1,
                    El::Row | El::Cell | El::Other => {}
                }
            }
            Event::Text(ref t) => {
                if skip.is_some() {
                    continue;
                }
                if let Some(p) = paras.last_mut() {
                    let s = std::str::from_utf8(t)
                        .map_err(|_| corrupt("content.xml: text that is not UTF-8".into()))?;
                    push_collapsed(&mut p.text, s);
                }
            }
            Event::CData(ref t) if skip.is_none() => {
                if let Some(p) = paras.last_mut() {
                    push_collapsed(&mut p.text, &String::from_utf8_lossy(t));
                }
            }
            Event::GeneralRef(ref r) => {
                if skip.is_some() {
                    continue;
                }
                if let Some(p) = paras.last_mut() {
                    if let Ok(Some(c)) = r.resolve_char_ref() {
                        p.text.push(c);
                    } else if let Some(s) = quick_xml::escape::resolve_predefined_entity(
                        std::str::from_utf8(r).unwrap_or(""),
                    ) {
                        p.text.push_str(s);
                    }
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    body.extend(notes);
    Ok(body)
}

/// Appends XML text with ODF's white-space rule: runs of space, tab, CR and LF are one
/// space, and none at the start of a paragraph.
fn push_collapsed(out: &mut String, s: &str) {
    for c in s.chars() {
        if matches!(c, ' ' | '\t' | '\r' | '\n') {
            if !out.is_empty() && !out.ends_with(' ') {
                out.push(' ');
            }
        } else {
            out.push(c);
        }
    }
}

/// A paragraph's text: controls dropped (tabs kept), trimmed.
fn clean(raw: &str) -> String {
    let s: String = raw
        .chars()
        .map(|c| {
            if matches!(c, '\u{2028}' | '\u{2029}' | '\u{85}') {
                ' '
            } else {
                c
            }
        })
        .filter(|&c| c == '\t' || !c.is_control())
        .collect();
    s.trim_matches(|c: char| c.is_whitespace()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::documents::Direction;

    fn body(inner: &str) -> Vec<Paragraph> {
        let xml = format!(
            r#"<?xml version="1.0"?><office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0" xmlns:draw="urn:oasis:names:tc:opendocument:xmlns:drawing:1.0"><office:automatic-styles><style:style style:name="R" style:family="paragraph"><style:paragraph-properties style:writing-mode="rl-tb"/></style:style><style:style style:name="H" style:family="text"><style:text-properties text:display="none"/></style:style></office:automatic-styles><office:body><office:text>{inner}</office:text></office:body></office:document-content>"#
        );
        let mut styles = Styles::default();
        styles.add(xml.as_bytes()).unwrap();
        parse_body(xml.as_bytes(), &styles).unwrap()
    }

    #[test]
    fn kinds_notes_spaces_and_direction() {
        let p = body(
            r#"<text:h text:outline-level="2">Head</text:h>
<text:p text:style-name="R">a<text:span text:style-name="H">secret</text:span><text:s text:c="2"/>b<text:tab/>c<text:line-break/>d
  e<text:note text:note-class="footnote"><text:note-citation>1</text:note-citation><text:note-body><text:p>Note text</text:p></text:note-body></text:note></text:p>
<text:list><text:list-item><text:p>one</text:p><text:list><text:list-item><text:p>two</text:p></text:list-item></text:list></text:list-item></text:list>
<table:table><table:table-row><table:table-cell table:number-columns-spanned="2"><text:p>A</text:p></table:table-cell><table:covered-table-cell/><table:table-cell><text:p>B</text:p></table:table-cell></table:table-row><table:table-row><table:table-cell><text:p>C</text:p></table:table-cell></table:table-row></table:table>
<text:p>x<draw:frame><draw:text-box><text:p>boxed</text:p></draw:text-box></draw:frame></text:p><text:p>שלום<office:annotation><text:p>comment</text:p></office:annotation></text:p><text:p> </text:p>"#,
        );
        let got: Vec<_> = p
            .iter()
            .map(|p| (p.kind, p.text.as_str(), p.direction))
            .collect();
        use ParagraphKind::*;
        assert_eq!(
            got,
            vec![
                (Heading { level: 2 }, "Head", Direction::Ltr),
                (Body, "a b c d e", Direction::Rtl),
                (ListItem { level: 1 }, "one", Direction::Ltr),
                (ListItem { level: 2 }, "two", Direction::Ltr),
                (
                    TableCell {
                        table: 0,
                        row: 0,
                        column: 0
                    },
                    "A",
                    Direction::Ltr
                ),
                (
                    TableCell {
                        table: 0,
                        row: 0,
                        column: 2
                    },
                    "B",
                    Direction::Ltr
                ),
                (
                    TableCell {
                        table: 0,
                        row: 1,
                        column: 0
                    },
                    "C",
                    Direction::Ltr
                ),
                (Body, "x", Direction::Ltr),
                (Body, "boxed", Direction::Ltr),
                (Body, "שלום", Direction::Rtl),
                (Note, "Note text", Direction::Ltr),
            ]
        );
    }
}
