//! Documents in: DOCX, ODT, PDF, HTML and text read into one [`Document`] of typed
//! paragraphs; and out: DOCX and HTML written back with their paragraphs translated.
//!
//! The format is found from the bytes ([`sniff`]), never from a name alone; a name or
//! media type that claims another format is an error ([`resolve`]).

pub mod archive;
pub mod docx;
pub mod error;
pub mod html;
pub mod model;
pub mod odt;
pub mod pdf;
pub mod plain;
pub mod sniff;

pub use error::DocumentError;
pub use model::{direction_of_language, Direction, Document, Format, Paragraph, ParagraphKind};
pub use sniff::{from_extension, from_media_type, resolve, sniff};

/// Reads `bytes` as [`read`] does, and the text the tasks get ([`task_text`]). A text
/// file that is empty or only whitespace is not an error here: the task's own check names
/// its field.
pub fn read_for_tasks(
    bytes: &[u8],
    declared: Option<Format>,
) -> Result<(Document, String), DocumentError> {
    check_size(bytes)?;
    let format = resolve(bytes, declared)?;
    if format == Format::Text {
        let text = plain::decode(bytes)?;
        let document = Document {
            format,
            paragraphs: plain::paragraphs(&text),
            language: None,
        };
        return Ok((document, text));
    }
    let document = read(bytes, Some(format))?;
    let text = document.text();
    Ok((document, text))
}

/// The text the tasks get from `document`, read from `bytes`: a text file as written (the
/// text layer finds its paragraphs again), any other format's paragraphs separated by
/// blank lines.
pub fn task_text(document: &Document, bytes: &[u8]) -> Result<String, DocumentError> {
    match document.format {
        Format::Text => plain::decode(bytes),
        _ => Ok(document.text()),
    }
}

fn check_size(bytes: &[u8]) -> Result<(), DocumentError> {
    if bytes.len() > crate::limits::MAX_DOCUMENT_BYTES {
        return Err(DocumentError::TooLarge {
            what: format!("a document of {} bytes", bytes.len()),
            limit: format!("{} MiB", crate::limits::MAX_DOCUMENT_BYTES >> 20),
        });
    }
    Ok(())
}

/// Reads `bytes`, whose format is `declared` if given (a name's extension, a media type)
/// and is checked against the content.
pub fn read(bytes: &[u8], declared: Option<Format>) -> Result<Document, DocumentError> {
    check_size(bytes)?;
    let format = resolve(bytes, declared)?;
    let mut language = None;
    let paragraphs = match format {
        Format::Text => plain::paragraphs(&plain::decode(bytes)?),
        Format::Html => {
            let (paragraphs, lang) = html::read(bytes)?;
            language = lang;
            paragraphs
        }
        Format::Pdf => pdf::read(bytes)?,
        Format::Docx => docx::read(bytes)?,
        Format::Odt => odt::read(bytes)?,
    };
    if paragraphs.is_empty() {
        return Err(DocumentError::Empty { format });
    }
    if paragraphs.len() > crate::limits::MAX_PARAGRAPHS {
        return Err(DocumentError::TooLarge {
            what: format!("a document of {} paragraphs", paragraphs.len()),
            limit: format!("{} paragraphs", crate::limits::MAX_PARAGRAPHS),
        });
    }
    Ok(Document {
        format,
        paragraphs,
        language,
    })
}

/// Whether [`write_translated`] can rebuild files of `format`.
pub fn writable(format: Format) -> bool {
    matches!(format, Format::Docx | Format::Html)
}

/// The file `bytes` (of `format`) with paragraph `i` of its [`read`] replaced by
/// `translated[i]`, in direction `direction` and language `lang` ("he", "en").
pub fn write_translated(
    format: Format,
    bytes: &[u8],
    translated: &[String],
    direction: Direction,
    lang: &str,
) -> Result<Vec<u8>, DocumentError> {
    match format {
        Format::Docx => docx::write_translated(bytes, translated, direction, lang),
        Format::Html => html::write_translated(bytes, translated, direction, lang),
        other => Err(DocumentError::Unsupported(format!(
            "writing {} back (only DOCX and HTML are)",
            other.name()
        ))),
    }
}
