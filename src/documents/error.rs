//! Why a document could not be read or written.

use super::Format;

/// Why a document could not be read or written. Every variant names what is wrong in
/// words a user can act on; none is ever a panic or silently empty text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DocumentError {
    /// The bytes are not a valid file of the format they claim or look like.
    #[error("not a valid {format} file: {reason}", format = format.name())]
    Corrupt {
        /// The format it was read as.
        format: Format,
        /// What is broken, e.g. "truncated: no end of central directory".
        reason: String,
    },
    /// The file is encrypted or password-protected.
    #[error("the {format} file is encrypted or password-protected; decrypt it first", format = format.name())]
    Encrypted {
        /// The format it was read as.
        format: Format,
    },
    /// A PDF whose pages carry no text layer (a scan).
    #[error("the PDF has no text layer (a scanned document?); OCR is not supported")]
    NoTextLayer,
    /// The document has no text at all.
    #[error("the {format} file contains no text", format = format.name())]
    Empty {
        /// The format it was read as.
        format: Format,
    },
    /// Something exceeds a limit: decompressed size, entry count, pages, paragraphs.
    #[error("{what} exceeds the limit of {limit}")]
    TooLarge {
        /// What is too large, e.g. "decompressed size of word/document.xml".
        what: String,
        /// The limit, with its unit, e.g. "256 MiB".
        limit: String,
    },
    /// A format Sofer does not read (e.g. legacy `.doc`, images).
    #[error("unsupported format: {0}")]
    Unsupported(String),
    /// Bytes that are neither a known format nor UTF-8 text.
    #[error(
        "not valid UTF-8 (first bad byte at offset {0}) and not a DOCX, ODT, PDF or HTML file"
    )]
    NotText(usize),
    /// The declared format (a file's extension, a request's media type) is not what the
    /// bytes are.
    #[error("declared as {declared} but the content is {found}", declared = declared.name(), found = found.name())]
    FormatMismatch {
        /// What the extension or media type says.
        declared: Format,
        /// What the bytes are.
        found: Format,
    },
    /// A writer was given a different number of translations than the document has
    /// paragraphs.
    #[error("{given} translated paragraphs for a document of {expected}")]
    ParagraphCount {
        /// Paragraphs in the document.
        expected: usize,
        /// Translations given.
        given: usize,
    },
}
