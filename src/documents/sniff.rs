//! Which format a file is, from its bytes; and what its name or media type claims.

use super::{DocumentError, Format};
use memchr::memmem;

/// The format `bytes` are, from their content alone. Zip archives are told apart by their
/// entries (DOCX: `word/document.xml`; ODT: the `mimetype` entry), an OLE2 container is
/// taken for a (legacy or encrypted) Word file, and text is HTML when it starts like a page.
pub fn sniff(bytes: &[u8]) -> Result<Format, DocumentError> {
    let head = &bytes[..bytes.len().min(1024)];
    if memmem::find(head, b"%PDF-").is_some() {
        return Ok(Format::Pdf);
    }
    if bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06") {
        return zip_kind(bytes);
    }
    if bytes.starts_with(&[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1]) {
        return Ok(Format::Docx);
    }
    if let Some(kind) = binary_kind(head) {
        return Err(DocumentError::Unsupported(kind.to_string()));
    }
    if looks_like_html(head) {
        return Ok(Format::Html);
    }
    Ok(Format::Text)
}

/// The format a file name's extension claims, if it names one Sofer reads.
pub fn from_extension(name: &str) -> Option<Format> {
    let ext = name.rsplit_once('.')?.1.to_ascii_lowercase();
    Some(match ext.as_str() {
        "docx" | "docm" | "dotx" => Format::Docx,
        "odt" => Format::Odt,
        "pdf" => Format::Pdf,
        "html" | "htm" | "xhtml" => Format::Html,
        "txt" | "md" | "markdown" | "text" | "jsonl" => Format::Text,
        _ => return None,
    })
}

/// The format a media type names (`text/html; charset=…` → HTML).
pub fn from_media_type(media_type: &str) -> Option<Format> {
    let essence = media_type.split(';').next()?.trim().to_ascii_lowercase();
    Some(match essence.as_str() {
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document" => Format::Docx,
        "application/vnd.oasis.opendocument.text" => Format::Odt,
        "application/pdf" => Format::Pdf,
        "text/html" | "application/xhtml+xml" => Format::Html,
        "text/plain" | "text/markdown" => Format::Text,
        _ => return None,
    })
}

/// The format of `bytes`, checked against what their name or media type declares: a
/// declared binary format the content is not (a PDF named `.docx`) is an error, while
/// text declared as HTML (or the reverse) is read as declared.
pub fn resolve(bytes: &[u8], declared: Option<Format>) -> Result<Format, DocumentError> {
    let found = sniff(bytes)?;
    match declared {
        None => Ok(found),
        Some(declared) if declared == found => Ok(found),
        Some(declared @ (Format::Text | Format::Html))
            if matches!(found, Format::Text | Format::Html) =>
        {
            Ok(declared)
        }
        Some(declared) => Err(DocumentError::FormatMismatch { declared, found }),
    }
}

fn zip_kind(bytes: &[u8]) -> Result<Format, DocumentError> {
    if bytes.get(30..38) == Some(b"mimetype")
        && bytes
            .get(38..77)
            .is_some_and(|m| m.starts_with(b"application/vnd.oasis.opendocument.text"))
    {
        return Ok(Format::Odt);
    }
    if memmem::find(bytes, b"word/document.xml").is_some() {
        return Ok(Format::Docx);
    }
    if memmem::find(bytes, b"application/vnd.oasis.opendocument.text").is_some() {
        return Ok(Format::Odt);
    }
    Err(DocumentError::Unsupported(
        "a zip archive that is neither DOCX nor ODT".into(),
    ))
}

fn binary_kind(head: &[u8]) -> Option<&'static str> {
    const KINDS: [(&[u8], &str); 7] = [
        (b"\x89PNG", "a PNG image; OCR is not supported"),
        (b"\xFF\xD8\xFF", "a JPEG image; OCR is not supported"),
        (b"GIF8", "a GIF image; OCR is not supported"),
        (b"II*\0", "a TIFF image; OCR is not supported"),
        (b"MM\0*", "a TIFF image; OCR is not supported"),
        (b"{\\rtf", "RTF; save it as DOCX"),
        (b"\x1F\x8B", "a gzip archive; unpack it first"),
    ];
    KINDS
        .iter()
        .find(|(magic, _)| head.starts_with(magic))
        .map(|(_, kind)| *kind)
}

fn looks_like_html(head: &[u8]) -> bool {
    let head = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    let start = head
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(head.len());
    let lower: Vec<u8> = head[start..].iter().map(u8::to_ascii_lowercase).collect();
    let opens = [
        &b"<!doctype html"[..],
        b"<html",
        b"<head",
        b"<body",
        b"<?xml",
    ];
    if opens.iter().any(|o| lower.starts_with(o)) {
        return !lower.starts_with(b"<?xml") || memmem::find(&lower, b"<html").is_some();
    }
    lower.starts_with(b"<!--") && memmem::find(&lower, b"<html").is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_told_by_content() {
        assert_eq!(sniff(b"%PDF-1.7\n...").unwrap(), Format::Pdf);
        assert_eq!(
            sniff(b"  <!DOCTYPE html><html lang=he>").unwrap(),
            Format::Html
        );
        assert_eq!(sniff("# כותרת\n\nטקסט".as_bytes()).unwrap(), Format::Text);
        assert_eq!(sniff(b"<b>not a page</b>").unwrap(), Format::Text);
        assert!(matches!(
            sniff(b"\x89PNG\r\n\x1a\n"),
            Err(DocumentError::Unsupported(m)) if m.contains("OCR")
        ));
    }

    #[test]
    fn a_declared_format_the_content_is_not_is_an_error() {
        assert_eq!(
            resolve(b"%PDF-1.4", Some(Format::Docx)),
            Err(DocumentError::FormatMismatch {
                declared: Format::Docx,
                found: Format::Pdf
            })
        );
        assert_eq!(resolve(b"plain", Some(Format::Html)).unwrap(), Format::Html);
        assert_eq!(from_extension("a/b/Report.PDF"), Some(Format::Pdf));
        assert_eq!(
            from_media_type("text/html; charset=windows-1255"),
            Some(Format::Html)
        );
    }
}
