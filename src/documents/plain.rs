//! Plain text and Markdown: UTF-8 (or UTF-16 with its byte-order mark), paragraphs where
//! the text layer cuts them.

use super::{DocumentError, Paragraph, ParagraphKind};

/// The text of `bytes`: UTF-8 with or without a byte-order mark, or UTF-16 with one.
pub fn decode(bytes: &[u8]) -> Result<String, DocumentError> {
    if let Some(rest) = bytes.strip_prefix(b"\xEF\xBB\xBF") {
        return utf8(rest).map(|s| s.to_string());
    }
    let (le, rest) = match bytes {
        [0xFF, 0xFE, rest @ ..] => (true, rest),
        [0xFE, 0xFF, rest @ ..] => (false, rest),
        _ => return utf8(bytes).map(|s| s.to_string()),
    };
    let units = rest.chunks(2).map(|pair| match (pair, le) {
        ([a, b], true) => u16::from_le_bytes([*a, *b]),
        ([a, b], false) => u16::from_be_bytes([*a, *b]),
        _ => 0xFFFD,
    });
    char::decode_utf16(units)
        .enumerate()
        .map(|(i, c)| c.map_err(|_| DocumentError::NotText(2 + 2 * i)))
        .collect()
}

fn utf8(bytes: &[u8]) -> Result<&str, DocumentError> {
    std::str::from_utf8(bytes).map_err(|e| DocumentError::NotText(e.valid_up_to()))
}

/// The paragraphs of a text: a Markdown heading (`## …`) is a heading, a line starting
/// with `- `, `* ` or `1. ` a list item; the text is kept as written.
pub fn paragraphs(text: &str) -> Vec<Paragraph> {
    crate::text::paragraphs(text)
        .into_iter()
        .filter_map(|range| {
            let text = &text[range];
            Paragraph::new(kind_of(text), text, None, None)
        })
        .collect()
}

fn kind_of(text: &str) -> ParagraphKind {
    let hashes = text.bytes().take_while(|&b| b == b'#').count();
    if (1..=6).contains(&hashes) && text[hashes..].starts_with(' ') {
        return ParagraphKind::Heading {
            level: hashes as u8,
        };
    }
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    let bulleted = text.starts_with("- ") || text.starts_with("* ") || text.starts_with("• ");
    let numbered =
        digits > 0 && (text[digits..].starts_with(". ") || text[digits..].starts_with(") "));
    if bulleted || numbered {
        ParagraphKind::ListItem { level: 1 }
    } else {
        ParagraphKind::Body
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_order_marks_are_read_and_bad_bytes_named() {
        assert_eq!(decode(b"\xEF\xBB\xBFabc").unwrap(), "abc");
        let utf16: Vec<u8> = [0xFF, 0xFE]
            .into_iter()
            .chain("שלום".encode_utf16().flat_map(u16::to_le_bytes))
            .collect();
        assert_eq!(decode(&utf16).unwrap(), "שלום");
        assert_eq!(decode(b"ab\xFFcd"), Err(DocumentError::NotText(2)));
    }

    #[test]
    fn markdown_kinds() {
        let kinds: Vec<_> = paragraphs("## כותרת\n\n1. ראשון\n\nגוף")
            .into_iter()
            .map(|p| p.kind)
            .collect();
        assert_eq!(
            kinds,
            [
                ParagraphKind::Heading { level: 2 },
                ParagraphKind::ListItem { level: 1 },
                ParagraphKind::Body
            ]
        );
    }
}
