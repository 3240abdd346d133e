//! A bounded zip reader shared by the DOCX and ODT readers (and the DOCX writer).
//!
//! Nothing a zip's headers claim is trusted: the entry count is checked before any entry is
//! read, and every entry is inflated through a counter that stops at the smaller of the
//! per-entry cap and what is left of [`MAX_DECOMPRESSED_BYTES`] for the whole document, so a
//! zip bomb costs at most that many bytes of memory and no more time than inflating them.
//!
//! Files that are not zips are recognised where that helps the user: an OLE2 compound file
//! (magic `D0 CF 11 E0`) holding an `EncryptedPackage` stream is a password-protected Office
//! file ([`DocumentError::Encrypted`]); one holding a `WordDocument` stream is a legacy
//! `.doc` ([`DocumentError::Unsupported`]).

use std::io::{Cursor, Read};

use zip::result::ZipError;
use zip::ZipArchive;

use crate::documents::{DocumentError, Format};
use crate::limits::{MAX_ARCHIVE_ENTRIES, MAX_DECOMPRESSED_BYTES, MAX_DOCUMENT_BYTES};

/// The magic number of an OLE2 / CFB compound file (legacy Office, encrypted OOXML).
const CFB_MAGIC: [u8; 8] = [0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];

/// An open zip archive read under the document limits.
pub struct Archive<'a> {
    zip: ZipArchive<Cursor<&'a [u8]>>,
    format: Format,
    /// Bytes inflated so far, all entries together.
    inflated: u64,
}

impl<'a> Archive<'a> {
    /// Opens `bytes` as the zip container of a `format` document.
    pub fn open(bytes: &'a [u8], format: Format) -> Result<Self, DocumentError> {
        if bytes.len() > MAX_DOCUMENT_BYTES {
            return Err(DocumentError::TooLarge {
                what: format!("the {} file", format.name()),
                limit: human_bytes(MAX_DOCUMENT_BYTES as u64),
            });
        }
        sniff_non_zip(bytes, format)?;
        if let Some(entries) = eocd_entries(bytes) {
            if entries > MAX_ARCHIVE_ENTRIES {
                return Err(too_many_entries(format));
            }
        }
        let zip = ZipArchive::new(Cursor::new(bytes)).map_err(|e| zip_error(format, e))?;
        if zip.len() > MAX_ARCHIVE_ENTRIES {
            return Err(too_many_entries(format));
        }
        Ok(Archive {
            zip,
            format,
            inflated: 0,
        })
    }

    /// The format this archive is read as.
    pub fn format(&self) -> Format {
        self.format
    }

    /// Whether an entry of this exact name exists.
    pub fn contains(&self, name: &str) -> bool {
        self.zip.index_for_name(name).is_some()
    }

    /// Reads entry `name` inflated, or `None` when there is no such entry. At most `cap`
    /// bytes are inflated for it, and at most what is left of [`MAX_DECOMPRESSED_BYTES`].
    pub fn read(&mut self, name: &str, cap: u64) -> Result<Option<Vec<u8>>, DocumentError> {
        let Some(index) = self.zip.index_for_name(name) else {
            return Ok(None);
        };
        let format = self.format;
        let left = MAX_DECOMPRESSED_BYTES.saturating_sub(self.inflated);
        let (limit, what, limit_text) = if cap < left {
            (
                cap,
                format!("decompressed size of {name}"),
                human_bytes(cap),
            )
        } else {
            (
                left,
                format!("decompressed size of the {} file", format.name()),
                human_bytes(MAX_DECOMPRESSED_BYTES),
            )
        };
        let file = self.zip.by_index(index).map_err(|e| zip_error(format, e))?;
        if file.encrypted() {
            return Err(DocumentError::Encrypted { format });
        }
        // The header's size only sizes the first allocation, and never past the limit.
        let hint = file.size().min(limit).min(16 << 20) as usize;
        let mut out = Vec::with_capacity(hint);
        let read =
            file.take(limit + 1)
                .read_to_end(&mut out)
                .map_err(|e| DocumentError::Corrupt {
                    format,
                    reason: format!("{name}: {e}"),
                })?;
        if read as u64 > limit {
            return Err(DocumentError::TooLarge {
                what,
                limit: limit_text,
            });
        }
        self.inflated += read as u64;
        Ok(Some(out))
    }

    /// Reads entry `name`, which the format requires.
    pub fn read_required(&mut self, name: &str, cap: u64) -> Result<Vec<u8>, DocumentError> {
        self.read(name, cap)?.ok_or_else(|| DocumentError::Corrupt {
            format: self.format,
            reason: format!("no {name} in the archive"),
        })
    }

    /// The underlying archive, for copying entries raw.
    pub fn zip_mut(&mut self) -> &mut ZipArchive<Cursor<&'a [u8]>> {
        &mut self.zip
    }
}

/// Turns a zip error into the document error a user can act on.
pub fn zip_error(format: Format, error: ZipError) -> DocumentError {
    match error {
        ZipError::UnsupportedArchive(ZipError::PASSWORD_REQUIRED) | ZipError::InvalidPassword => {
            DocumentError::Encrypted { format }
        }
        ZipError::UnsupportedArchive(what) => DocumentError::Corrupt {
            format,
            reason: format!("unsupported zip: {what}"),
        },
        ZipError::CompressionMethodNotSupported(method) => DocumentError::Corrupt {
            format,
            reason: format!("zip compression method {method} is not supported"),
        },
        ZipError::InvalidArchive(why) if why.contains("EOCD") => DocumentError::Corrupt {
            format,
            reason: "truncated or not a zip: no end of central directory".into(),
        },
        other => DocumentError::Corrupt {
            format,
            reason: other.to_string(),
        },
    }
}

fn too_many_entries(format: Format) -> DocumentError {
    DocumentError::TooLarge {
        what: format!("the number of entries in the {} archive", format.name()),
        limit: format!("{MAX_ARCHIVE_ENTRIES} entries"),
    }
}

/// Refuses, with the right words, bytes that are clearly not a zip.
fn sniff_non_zip(bytes: &[u8], format: Format) -> Result<(), DocumentError> {
    if bytes.starts_with(&CFB_MAGIC) || bytes.starts_with(&CFB_MAGIC[..4]) {
        return Err(classify_cfb(bytes, format));
    }
    if bytes.starts_with(b"PK") {
        return Ok(());
    }
    let what = if bytes.is_empty() {
        "the file is empty".to_string()
    } else if bytes.starts_with(b"%PDF") {
        format!("this is a PDF file, not {}", format.name())
    } else if bytes.starts_with(b"{\\rtf") {
        format!("this is an RTF file, not {}", format.name())
    } else {
        "not a zip archive".to_string()
    };
    Err(DocumentError::Corrupt {
        format,
        reason: what,
    })
}

/// What an OLE2 compound file is: encrypted OOXML, a legacy `.doc`, or something else.
/// Stream names sit in the directory sectors as UTF-16LE; a byte search finds them without
/// parsing the FAT, which is all this needs.
fn classify_cfb(bytes: &[u8], format: Format) -> DocumentError {
    let has = |name: &str| {
        let needle: Vec<u8> = name.encode_utf16().flat_map(u16::to_le_bytes).collect();
        bytes.windows(needle.len()).any(|w| w == needle.as_slice())
    };
    if has("EncryptedPackage") || has("EncryptionInfo") {
        DocumentError::Encrypted { format }
    } else if has("WordDocument") {
        DocumentError::Unsupported("legacy Word .doc; save it as DOCX".into())
    } else {
        DocumentError::Unsupported(
            "an OLE2 compound file (legacy Office format); save it as DOCX".into(),
        )
    }
}

/// The entry count the end-of-central-directory record declares, when one is found in the
/// last 64 KiB (a zip64 count of 0xFFFF is left to the zip reader's own check).
fn eocd_entries(bytes: &[u8]) -> Option<usize> {
    const SIG: [u8; 4] = [0x50, 0x4B, 0x05, 0x06];
    if bytes.len() < 22 {
        return None;
    }
    let floor = bytes.len().saturating_sub(22 + 0xFFFF);
    let mut at = bytes.len() - 22;
    loop {
        if bytes[at..at + 4] == SIG {
            let total = u16::from_le_bytes([bytes[at + 10], bytes[at + 11]]);
            return (total != 0xFFFF).then_some(total as usize);
        }
        if at == floor {
            return None;
        }
        at -= 1;
    }
}

/// `n` bytes in words: "256 MiB", "64 KiB", "100 bytes".
pub fn human_bytes(n: u64) -> String {
    if n >= 1 << 20 && n.is_multiple_of(1 << 20) {
        format!("{} MiB", n >> 20)
    } else if n >= 1 << 10 && n.is_multiple_of(1 << 10) {
        format!("{} KiB", n >> 10)
    } else {
        format!("{n} bytes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use zip::write::SimpleFileOptions;

    fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let opts =
            SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        for (name, data) in entries {
            w.start_file(*name, opts).unwrap();
            w.write_all(data).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    #[test]
    fn reads_an_entry_and_counts_it() {
        let bytes = zip_of(&[("a.xml", b"<a/>"), ("b.xml", b"<b/>")]);
        let mut a = Archive::open(&bytes, Format::Docx).unwrap();
        assert_eq!(a.read("a.xml", 100).unwrap().unwrap(), b"<a/>");
        assert_eq!(a.read("missing", 100).unwrap(), None);
        assert!(a.contains("b.xml"));
        assert_eq!(a.inflated, 4);
    }

    #[test]
    fn a_bomb_stops_at_the_cap() {
        let big = vec![b'a'; 1 << 20];
        let bytes = zip_of(&[("big.xml", &big)]);
        assert!(bytes.len() < 10_000);
        let mut a = Archive::open(&bytes, Format::Docx).unwrap();
        match a.read("big.xml", 1000) {
            Err(DocumentError::TooLarge { what, limit }) => {
                assert!(what.contains("big.xml"), "{what}");
                assert_eq!(limit, "1000 bytes");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn not_zips_are_named() {
        let e = |b: &[u8]| Archive::open(b, Format::Docx).err().unwrap();
        assert!(
            matches!(e(b"%PDF-1.7 ..."), DocumentError::Corrupt { reason, .. } if reason.contains("PDF"))
        );
        assert!(matches!(e(b""), DocumentError::Corrupt { .. }));
        let mut cfb = CFB_MAGIC.to_vec();
        cfb.extend(vec![0; 100]);
        let mut enc = cfb.clone();
        enc.extend("EncryptedPackage".encode_utf16().flat_map(u16::to_le_bytes));
        assert_eq!(
            e(&enc),
            DocumentError::Encrypted {
                format: Format::Docx
            }
        );
        let mut doc = cfb.clone();
        doc.extend("WordDocument".encode_utf16().flat_map(u16::to_le_bytes));
        assert!(matches!(e(&doc), DocumentError::Unsupported(s) if s.contains(".doc")));
        let bytes = zip_of(&[("a", b"x")]);
        assert!(matches!(
            e(&bytes[..bytes.len() - 10]),
            DocumentError::Corrupt { .. }
        ));
    }

    #[test]
    fn too_many_entries_are_refused_before_reading() {
        let names: Vec<String> = (0..MAX_ARCHIVE_ENTRIES + 1)
            .map(|i| format!("{i}"))
            .collect();
        let entries: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &b""[..])).collect();
        let bytes = zip_of(&entries);
        assert!(matches!(
            Archive::open(&bytes, Format::Odt),
            Err(DocumentError::TooLarge { .. })
        ));
    }
}
