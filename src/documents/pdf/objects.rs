//! Small, panic-free accessors over lopdf objects, and the decompression budget.

use lopdf::{Dictionary, Document, Object, Stream};

use crate::documents::{DocumentError, Format};
use crate::limits::MAX_DECOMPRESSED_BYTES;

/// How many references one lookup follows before giving up (reference cycles).
const MAX_DEREF: usize = 32;

/// The object a possibly indirect object stands for; a dangling reference is `Null`.
pub fn resolve<'a>(doc: &'a Document, mut obj: &'a Object) -> &'a Object {
    static NULL: Object = Object::Null;
    for _ in 0..MAX_DEREF {
        match obj {
            Object::Reference(id) => match doc.objects.get(id) {
                Some(next) => obj = next,
                None => return &NULL,
            },
            _ => return obj,
        }
    }
    &NULL
}

/// `dict[key]`, resolved.
pub fn get<'a>(doc: &'a Document, dict: &'a Dictionary, key: &[u8]) -> Option<&'a Object> {
    dict.get(key)
        .ok()
        .map(|o| resolve(doc, o))
        .filter(|o| !matches!(o, Object::Null))
}

/// `dict[key]` as a dictionary (a stream's dictionary counts).
pub fn get_dict<'a>(doc: &'a Document, dict: &'a Dictionary, key: &[u8]) -> Option<&'a Dictionary> {
    get(doc, dict, key).and_then(as_dict)
}

/// An object as a dictionary (a stream's dictionary counts).
pub fn as_dict(obj: &Object) -> Option<&Dictionary> {
    match obj {
        Object::Dictionary(d) => Some(d),
        Object::Stream(s) => Some(&s.dict),
        _ => None,
    }
}

/// `dict[key]` as an array.
pub fn get_array<'a>(doc: &'a Document, dict: &'a Dictionary, key: &[u8]) -> Option<&'a [Object]> {
    match get(doc, dict, key)? {
        Object::Array(a) => Some(a),
        _ => None,
    }
}

/// `dict[key]` as a name.
pub fn get_name<'a>(doc: &'a Document, dict: &'a Dictionary, key: &[u8]) -> Option<&'a [u8]> {
    match get(doc, dict, key)? {
        Object::Name(n) => Some(n),
        _ => None,
    }
}

/// A number (integer or real), resolved.
pub fn num(doc: &Document, obj: &Object) -> Option<f32> {
    match resolve(doc, obj) {
        Object::Integer(i) => Some(*i as f32),
        Object::Real(r) if r.is_finite() => Some(*r),
        _ => None,
    }
}

/// `dict[key]` as a number.
pub fn get_num(doc: &Document, dict: &Dictionary, key: &[u8]) -> Option<f32> {
    dict.get(key).ok().and_then(|o| num(doc, o))
}

/// Every decompressed byte of the document is charged here, so that all streams together
/// stay under [`MAX_DECOMPRESSED_BYTES`].
#[derive(Debug, Default)]
pub struct Budget {
    used: u64,
}

impl Budget {
    /// The decompressed bytes of a stream, charged against the budget. A stream whose
    /// filter fails yields its raw bytes (still charged); one that would exceed the budget
    /// is [`DocumentError::TooLarge`].
    pub fn decompress(&mut self, stream: &Stream) -> Result<Vec<u8>, DocumentError> {
        let remaining = MAX_DECOMPRESSED_BYTES.saturating_sub(self.used);
        let limit = usize::try_from(remaining).unwrap_or(usize::MAX);
        let data = if stream.dict.get(b"Filter").is_ok() {
            match stream.decompressed_content_with_limit(limit) {
                Ok(data) => data,
                Err(lopdf::Error::Decompress(lopdf::DecompressError::MemoryLimitExceeded {
                    ..
                })) => return Err(too_large()),
                Err(_) => stream.content.clone(),
            }
        } else {
            stream.content.clone()
        };
        self.used = self.used.saturating_add(data.len() as u64);
        if self.used > MAX_DECOMPRESSED_BYTES {
            return Err(too_large());
        }
        Ok(data)
    }
}

fn too_large() -> DocumentError {
    DocumentError::TooLarge {
        what: "decompressed size of the PDF's streams".into(),
        limit: format!("{} MiB", MAX_DECOMPRESSED_BYTES >> 20),
    }
}

/// A [`DocumentError::Corrupt`] for a PDF.
pub fn corrupt(reason: impl Into<String>) -> DocumentError {
    DocumentError::Corrupt {
        format: Format::Pdf,
        reason: reason.into(),
    }
}
