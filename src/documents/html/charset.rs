//! A page's character encoding: its byte-order mark, else its `<meta charset>`, else
//! UTF-8 when the bytes are UTF-8, else Windows-1255 (the encoding of older Hebrew pages).

use encoding_rs::{Encoding, UTF_8, WINDOWS_1255};
use memchr::memmem;

/// The encoding of `bytes`.
pub fn detect(bytes: &[u8]) -> &'static Encoding {
    if let Some((encoding, _)) = Encoding::for_bom(bytes) {
        return encoding;
    }
    if let Some(declared) = declared(&bytes[..bytes.len().min(4096)]) {
        return declared;
    }
    if std::str::from_utf8(bytes).is_ok() {
        UTF_8
    } else {
        WINDOWS_1255
    }
}

/// The text of `bytes` in `encoding` (malformed bytes become U+FFFD, as in a browser).
pub fn decode(bytes: &[u8], encoding: &'static Encoding) -> String {
    encoding.decode_with_bom_removal(bytes).0.into_owned()
}

/// `text` in `encoding`; characters it cannot hold become numeric character references,
/// which every browser reads back as the character.
pub fn encode(text: &str, encoding: &'static Encoding) -> Vec<u8> {
    encoding.encode(text).0.into_owned()
}

/// The `charset` a `<meta>` in the page's head declares.
fn declared(head: &[u8]) -> Option<&'static Encoding> {
    let lower: Vec<u8> = head.iter().map(u8::to_ascii_lowercase).collect();
    let mut from = 0;
    while let Some(at) = memmem::find(&lower[from..], b"charset") {
        let start = from + at + b"charset".len();
        from = start;
        let rest = &lower[start..];
        let rest = rest.strip_prefix(b" ").unwrap_or(rest);
        let Some(rest) = rest.strip_prefix(b"=") else {
            continue;
        };
        let rest = rest
            .iter()
            .position(|b| !matches!(b, b' ' | b'"' | b'\''))
            .map_or(&rest[..0], |p| &rest[p..]);
        let len = rest
            .iter()
            .position(|b| !(b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b':' | b'.')))
            .unwrap_or(rest.len());
        if let Some(encoding) = Encoding::for_label(&rest[..len]) {
            // A page that says UTF-16 in ASCII bytes is not UTF-16 (HTML's rule).
            return Some(if encoding.is_single_byte() || encoding == UTF_8 {
                encoding
            } else {
                UTF_8
            });
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_then_guessed() {
        let page = b"<meta http-equiv=Content-Type content=\"text/html; charset=windows-1255\">\xf9\xec\xe5\xed";
        let encoding = detect(page);
        assert_eq!(encoding, WINDOWS_1255);
        assert!(decode(page, encoding).ends_with("שלום"));
        assert_eq!(detect("<p>שלום</p>".as_bytes()), UTF_8);
        assert_eq!(detect(b"<p>\xf9\xec\xe5\xed</p>"), WINDOWS_1255);
        assert_eq!(encode("a א", encoding_rs::WINDOWS_1252), b"a &#1488;");
    }
}
