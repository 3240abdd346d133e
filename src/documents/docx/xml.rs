//! Small XML helpers for WordprocessingML: the `w:` prefix a document binds, attribute
//! look-up, OOXML on/off values, and text escaping for what the writer puts in.

use std::borrow::Cow;

use quick_xml::events::BytesStart;

use crate::documents::{DocumentError, Format};

/// The WordprocessingML main namespace (transitional) and its strict twin.
const W_NS: &[&[u8]] = &[
    b"http://schemas.openxmlformats.org/wordprocessingml/2006/main",
    b"http://purl.oclc.org/ooxml/wordprocessingml/main",
];
/// The markup-compatibility namespace (`mc:AlternateContent`).
const MC_NS: &[u8] = b"http://schemas.openxmlformats.org/markup-compatibility/2006";

/// The prefixes a part binds on its root element: `w` and `mc` in practice.
#[derive(Debug, Clone)]
pub struct Ns {
    /// The prefix of the WordprocessingML namespace, without the colon (may be empty).
    pub w: Vec<u8>,
    /// The prefix of the markup-compatibility namespace.
    pub mc: Vec<u8>,
}

impl Default for Ns {
    fn default() -> Self {
        Ns {
            w: b"w".to_vec(),
            mc: b"mc".to_vec(),
        }
    }
}

impl Ns {
    /// Reads the namespace declarations of a part's root element.
    pub fn from_root(root: &BytesStart<'_>) -> Ns {
        let mut ns = Ns::default();
        for a in root.attributes().with_checks(false).flatten() {
            let key = a.key.as_ref();
            let prefix = if key == b"xmlns" {
                Some(&b""[..])
            } else {
                key.strip_prefix(b"xmlns:")
            };
            let Some(prefix) = prefix else { continue };
            let value = a.value.as_ref();
            if W_NS.contains(&value) {
                ns.w = prefix.to_vec();
            } else if value == MC_NS {
                ns.mc = prefix.to_vec();
            }
        }
        ns
    }

    /// `local` with the `w` prefix, for elements the writer adds: `w:bidi`.
    pub fn w_name(&self, local: &str) -> String {
        if self.w.is_empty() {
            local.to_string()
        } else {
            format!("{}:{local}", String::from_utf8_lossy(&self.w))
        }
    }
}

/// The local part of `qname` when its prefix is `prefix`.
pub fn local<'a>(prefix: &[u8], qname: &'a [u8]) -> Option<&'a [u8]> {
    if prefix.is_empty() {
        return (!qname.contains(&b':')).then_some(qname);
    }
    let rest = qname.strip_prefix(prefix)?;
    rest.strip_prefix(b":")
}

/// The value of attribute `prefix:name` (or unprefixed `name`) of `e`, unescaped.
pub fn attr(e: &BytesStart<'_>, prefix: &[u8], name: &[u8]) -> Option<String> {
    for a in e.attributes().with_checks(false).flatten() {
        let key = a.key.as_ref();
        let matches = key == name || local(prefix, key) == Some(name);
        if matches {
            return Some(match a.unescape_value() {
                Ok(v) => v.into_owned(),
                Err(_) => String::from_utf8_lossy(&a.value).into_owned(),
            });
        }
    }
    None
}

/// An OOXML on/off value: absent means on; "0", "false", "off" (and "none") mean off.
pub fn is_on(val: Option<&str>) -> bool {
    !matches!(val, Some("0" | "false" | "off" | "none"))
}

/// A broken DOCX part.
pub fn corrupt(reason: String) -> DocumentError {
    DocumentError::Corrupt {
        format: Format::Docx,
        reason,
    }
}

/// Whether XML 1.0 allows `c` in character data.
pub fn xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}')
        || c >= '\u{10000}'
}

/// `text` escaped for XML character data or a double-quoted attribute, with characters
/// XML 1.0 does not allow dropped: whatever it holds, it stays text.
pub fn escape(text: &str) -> Cow<'_, str> {
    if text
        .chars()
        .all(|c| xml_char(c) && !matches!(c, '&' | '<' | '>' | '"'))
    {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c if xml_char(c) => out.push(c),
            _ => {}
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_drops_what_xml_forbids() {
        assert_eq!(escape("a<b>&\"c\""), "a&lt;b&gt;&amp;&quot;c&quot;");
        assert_eq!(escape("x\u{0}\u{1b}y\u{FFFE}"), "xy");
        assert_eq!(escape("שלום"), "שלום");
        assert_eq!(escape("</w:t><w:r>"), "&lt;/w:t&gt;&lt;w:r&gt;");
    }

    #[test]
    fn prefixes() {
        assert_eq!(local(b"w", b"w:p"), Some(&b"p"[..]));
        assert_eq!(local(b"w", b"wp:p"), None);
        assert_eq!(local(b"", b"p"), Some(&b"p"[..]));
        assert!(is_on(None) && is_on(Some("1")) && !is_on(Some("false")));
    }
}
