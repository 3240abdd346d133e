//! The document model every reader produces and every task reads: typed paragraphs in
//! reading order.

use serde::Serialize;

pub use crate::text::Direction;

/// What a paragraph is in its document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ParagraphKind {
    /// Running text.
    Body,
    /// A heading; level 1 is the top.
    Heading {
        /// 1 for a title or `h1`, 2 for `h2`, …
        level: u8,
    },
    /// An item of a numbered or bulleted list; level 1 is the outermost.
    ListItem {
        /// Nesting depth, from 1.
        level: u8,
    },
    /// The text of one table cell (a cell with several paragraphs gives several).
    TableCell {
        /// Which table of the document, from 0.
        table: u32,
        /// Row within the table, from 0.
        row: u32,
        /// Column within the row, from 0.
        column: u32,
    },
    /// A footnote or an endnote.
    Note,
}

/// One paragraph.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Paragraph {
    /// What it is.
    #[serde(flatten)]
    pub kind: ParagraphKind,
    /// Its text in logical (reading) order: no blank lines inside, never empty.
    pub text: String,
    /// Its direction as the document declares it (`w:bidi`, `dir`), else as its first
    /// strong letter says.
    pub direction: Direction,
    /// The page it starts on, from 1, where the format has pages (PDF).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page: Option<u32>,
}

/// The formats Sofer reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// UTF-8 plain text or Markdown.
    Text,
    /// Office Open XML word processing (Word's `.docx`).
    Docx,
    /// OpenDocument text (LibreOffice's `.odt`).
    Odt,
    /// Portable Document Format.
    Pdf,
    /// HTML (or XHTML).
    Html,
}

impl Paragraph {
    /// A paragraph of `text` with its whitespace collapsed to single spaces (so no line
    /// break or blank line survives inside it), or `None` when nothing visible is left.
    /// `direction` is the one the document declares; without it, the first strong
    /// letter's.
    pub fn new(
        kind: ParagraphKind,
        text: &str,
        direction: Option<Direction>,
        page: Option<u32>,
    ) -> Option<Self> {
        let text = collapse_whitespace(text);
        if text.chars().all(crate::text::normalize::is_invisible) {
            return None;
        }
        let direction = direction.unwrap_or_else(|| crate::text::bidi::paragraph_direction(&text));
        Some(Paragraph {
            kind,
            text,
            direction,
            page,
        })
    }
}

/// The direction a language is written in: right to left for Hebrew (`he`), Arabic,
/// Yiddish, Persian; left to right otherwise.
pub fn direction_of_language(code: &str) -> Direction {
    match code.split(['-', '_']).next().unwrap_or_default() {
        "he" | "iw" | "ar" | "yi" | "fa" => Direction::Rtl,
        _ => Direction::Ltr,
    }
}

/// `text` with every run of whitespace one space, trimmed.
pub fn collapse_whitespace(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

impl Format {
    /// The media type a reply carrying this format names.
    pub fn media_type(self) -> &'static str {
        match self {
            Format::Text => "text/plain",
            Format::Docx => {
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
            }
            Format::Odt => "application/vnd.oasis.opendocument.text",
            Format::Pdf => "application/pdf",
            Format::Html => "text/html",
        }
    }

    /// The name users know it by.
    pub fn name(self) -> &'static str {
        match self {
            Format::Text => "text",
            Format::Docx => "DOCX",
            Format::Odt => "ODT",
            Format::Pdf => "PDF",
            Format::Html => "HTML",
        }
    }
}

/// A document as the tasks see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Document {
    /// The format it was read from.
    pub format: Format,
    /// Its paragraphs in reading order.
    pub paragraphs: Vec<Paragraph>,
    /// The language the document declares (`<html lang>`), as written there.
    pub language: Option<String>,
}

impl Document {
    /// `he` or `en` when the document declares one of them (`<html lang="he-IL">`).
    pub fn declared_language(&self) -> Option<&'static str> {
        let code = self.language.as_deref()?.to_ascii_lowercase();
        match code.split(['-', '_']).next()? {
            "he" | "iw" => Some("he"),
            "en" => Some("en"),
            _ => None,
        }
    }

    /// The text the tasks work on: paragraphs separated by blank lines, which is where the
    /// text layer's [`crate::text::paragraphs`] cuts them again.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for paragraph in &self.paragraphs {
            if !out.is_empty() {
                out.push_str("\n\n");
            }
            out.push_str(&paragraph.text);
        }
        out
    }
}
