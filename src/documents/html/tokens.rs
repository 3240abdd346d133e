//! An HTML tokenizer that keeps every token's byte range in the source, so a writer can
//! splice translated text into the page and leave every other byte as it was.
//!
//! It follows the HTML tokenizer where that matters for text: tags with quoted, unquoted
//! and bare attributes, comments, doctypes and processing instructions skipped, and the
//! raw-text elements (`script`, `style`, `textarea`, `title`, …) read to their end tag. A
//! `<` that starts no tag is text, as in a browser.

use std::ops::Range;

use memchr::memmem;

/// One token of a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token<'a> {
    /// Character data (entities still encoded).
    Text(Range<usize>),
    /// `<name attr=value …>` or `<name … />`.
    Start(Tag<'a>),
    /// `</name>`.
    End {
        /// Lower-cased name.
        name: String,
        /// The whole tag.
        span: Range<usize>,
    },
    /// A comment, doctype, CDATA section or processing instruction.
    Other(Range<usize>),
}

/// A start tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag<'a> {
    /// Lower-cased name.
    pub name: String,
    /// Attributes as written (names lower-cased, values still encoded).
    pub attributes: Vec<(String, &'a str)>,
    /// Where each attribute, `name=value`, is in the source.
    pub attribute_spans: Vec<Range<usize>>,
    /// The whole tag, `<` to `>`.
    pub span: Range<usize>,
    /// Whether it ends with `/>`.
    pub self_closing: bool,
}

impl Tag<'_> {
    /// The value of attribute `name`, entities decoded.
    pub fn attribute(&self, name: &str) -> Option<String> {
        self.attributes
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| super::entities::decode(v))
    }
}

/// Elements whose content is text up to their end tag, never markup.
const RAW_TEXT: [&str; 7] = [
    "script",
    "style",
    "textarea",
    "title",
    "xmp",
    "noscript",
    "plaintext",
];

/// The tokens of `html`, in order; their ranges cover it without gaps.
pub fn tokenize(html: &str) -> Vec<Token<'_>> {
    let bytes = html.as_bytes();
    let mut tokens = Vec::new();
    let mut at = 0;
    let mut text_start = 0;
    while at < bytes.len() {
        if bytes[at] != b'<' {
            at += 1;
            continue;
        }
        let Some((token, end)) = markup(html, at) else {
            at += 1;
            continue;
        };
        if text_start < at {
            tokens.push(Token::Text(text_start..at));
        }
        at = end;
        let raw = match &token {
            Token::Start(tag) if !tag.self_closing && RAW_TEXT.contains(&tag.name.as_str()) => {
                Some(tag.name.clone())
            }
            _ => None,
        };
        tokens.push(token);
        if let Some(name) = raw {
            let close = find_end_tag(bytes, at, &name).unwrap_or(bytes.len());
            if at < close {
                tokens.push(Token::Text(at..close));
            }
            at = close;
        }
        text_start = at;
    }
    if text_start < bytes.len() {
        tokens.push(Token::Text(text_start..bytes.len()));
    }
    tokens
}

/// The markup token starting at `at` (a `<`) and where it ends, or `None` when the `<` is
/// text.
fn markup(html: &str, at: usize) -> Option<(Token<'_>, usize)> {
    let bytes = html.as_bytes();
    let next = *bytes.get(at + 1)?;
    if bytes[at..].starts_with(b"<!--") {
        let end = find(bytes, at + 4, b"-->").map_or(bytes.len(), |e| e + 3);
        return Some((Token::Other(at..end), end));
    }
    if next == b'!' || next == b'?' {
        let end = find(bytes, at, b">").map_or(bytes.len(), |e| e + 1);
        return Some((Token::Other(at..end), end));
    }
    if next == b'/' {
        let name_start = at + 2;
        if !bytes.get(name_start)?.is_ascii_alphabetic() {
            return None;
        }
        let name_end = name_start + name_len(&bytes[name_start..]);
        let end = find(bytes, name_end, b">").map_or(bytes.len(), |e| e + 1);
        let name = html[name_start..name_end].to_ascii_lowercase();
        return Some((
            Token::End {
                name,
                span: at..end,
            },
            end,
        ));
    }
    if !next.is_ascii_alphabetic() {
        return None;
    }
    let name_start = at + 1;
    let name_end = name_start + name_len(&bytes[name_start..]);
    let (attributes, end, self_closing) = attributes(html, name_end);
    let (attributes, attribute_spans) = attributes.into_iter().unzip();
    let tag = Tag {
        name: html[name_start..name_end].to_ascii_lowercase(),
        attributes,
        attribute_spans,
        span: at..end,
        self_closing,
    };
    Some((Token::Start(tag), end))
}

fn name_len(bytes: &[u8]) -> usize {
    bytes
        .iter()
        .position(|&b| b.is_ascii_whitespace() || b == b'/' || b == b'>')
        .unwrap_or(bytes.len())
}

type Attribute<'a> = ((String, &'a str), Range<usize>);

/// Attributes from `at` to the tag's `>`: them with their spans, the end of the tag, and
/// whether it was `/>`.
fn attributes(html: &str, mut at: usize) -> (Vec<Attribute<'_>>, usize, bool) {
    let bytes = html.as_bytes();
    let mut out = Vec::new();
    loop {
        while at < bytes.len() && (bytes[at].is_ascii_whitespace() || bytes[at] == b'/') {
            if bytes[at] == b'/' && bytes.get(at + 1) == Some(&b'>') {
                return (out, at + 2, true);
            }
            at += 1;
        }
        match bytes.get(at) {
            None => return (out, bytes.len(), false),
            Some(b'>') => return (out, at + 1, false),
            Some(_) => {}
        }
        let name_start = at;
        while at < bytes.len()
            && !matches!(bytes[at], b'=' | b'>' | b'/')
            && !bytes[at].is_ascii_whitespace()
        {
            at += 1;
        }
        let name = html[name_start..at].to_ascii_lowercase();
        let name_end = at;
        while at < bytes.len() && bytes[at].is_ascii_whitespace() {
            at += 1;
        }
        if bytes.get(at) != Some(&b'=') {
            out.push(((name, ""), name_start..name_end));
            continue;
        }
        at += 1;
        while at < bytes.len() && bytes[at].is_ascii_whitespace() {
            at += 1;
        }
        let value = match bytes.get(at) {
            Some(&quote @ (b'"' | b'\'')) => {
                let end = find(bytes, at + 1, &[quote]).unwrap_or(bytes.len());
                let value = &html[at + 1..end];
                at = (end + 1).min(bytes.len());
                value
            }
            _ => {
                let start = at;
                while at < bytes.len() && !bytes[at].is_ascii_whitespace() && bytes[at] != b'>' {
                    at += 1;
                }
                &html[start..at]
            }
        };
        out.push(((name, value), name_start..at));
    }
}

fn find_end_tag(bytes: &[u8], from: usize, name: &str) -> Option<usize> {
    let mut at = from;
    while let Some(lt) = find(bytes, at, b"</") {
        let candidate = bytes.get(lt + 2..lt + 2 + name.len())?;
        let after = bytes.get(lt + 2 + name.len()).copied();
        if candidate.eq_ignore_ascii_case(name.as_bytes())
            && after.is_none_or(|b| b.is_ascii_whitespace() || b == b'>' || b == b'/')
        {
            return Some(lt);
        }
        at = lt + 2;
    }
    None
}

fn find(bytes: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    memmem::find(bytes.get(from..)?, needle).map(|p| p + from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_cover_the_page_and_raw_text_stays_text() {
        let html =
            "<p class=x dir='rtl' hidden>a < b</p><script>if (a<b) {}</script><!-- c -->d<br/>";
        let tokens = tokenize(html);
        let names: Vec<String> = tokens
            .iter()
            .map(|t| match t {
                Token::Text(r) => format!("T:{}", &html[r.clone()]),
                Token::Start(tag) => {
                    format!("S:{}{}", tag.name, if tag.self_closing { "/" } else { "" })
                }
                Token::End { name, .. } => format!("E:{name}"),
                Token::Other(_) => "O".into(),
            })
            .collect();
        assert_eq!(
            names,
            [
                "S:p",
                "T:a < b",
                "E:p",
                "S:script",
                "T:if (a<b) {}",
                "E:script",
                "O",
                "T:d",
                "S:br/"
            ]
        );
        let Token::Start(p) = &tokens[0] else {
            panic!()
        };
        assert_eq!(p.attribute("dir").as_deref(), Some("rtl"));
        assert_eq!(p.attribute("hidden").as_deref(), Some(""));
        assert_eq!(p.attribute("class").as_deref(), Some("x"));
    }

    #[test]
    fn unterminated_markup_ends_at_the_end() {
        for html in [
            "<p",
            "<p a='x",
            "<!-- open",
            "</",
            "<script>never closed",
            "<",
            "a<1",
        ] {
            let tokens = tokenize(html);
            let covered: usize = tokens
                .iter()
                .map(|t| match t {
                    Token::Text(r) | Token::Other(r) => r.len(),
                    Token::Start(tag) => tag.span.len(),
                    Token::End { span, .. } => span.len(),
                })
                .sum();
            assert_eq!(covered, html.len(), "{html}");
        }
    }
}
