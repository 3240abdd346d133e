//! The PDF reader: the text layer of every page as paragraphs in reading order, Hebrew
//! put in logical order whatever order the producer drew it in.
//!
//! lopdf parses the file; everything from fonts on is ours: [`fonts`] and [`cmap`] decode
//! shown strings, [`content`] runs content streams into positioned glyphs, [`lines`]
//! groups glyphs into lines and words, [`layout`] orders a page's lines (columns,
//! tables), [`order`] turns visual order into logical order, and [`paragraphs`] builds
//! the paragraphs.

mod cmap;
mod content;
mod fonts;
mod glyphs;
mod layout;
mod lines;
mod objects;
mod order;
mod paragraphs;

use std::panic::{catch_unwind, AssertUnwindSafe};

use lopdf::{Dictionary, Document, LoadOptions, Object, ObjectId};

use crate::documents::{DocumentError, Format, Paragraph};
use crate::limits::{MAX_DOCUMENT_BYTES, MAX_PARAGRAPHS, MAX_PDF_PAGES};
use content::{display_matrix, Interpreter};
use objects::{corrupt, get, num, Budget};
use paragraphs::PageLines;

/// How far up the page tree inherited attributes are looked for.
const MAX_PARENTS: usize = 64;

/// Reads a PDF's text layer as paragraphs in reading order.
///
/// Errors: [`DocumentError::Encrypted`] for any encrypted file (even one with an empty
/// password), [`DocumentError::NoTextLayer`] when no page has text (a scan),
/// [`DocumentError::Corrupt`] for a file lopdf cannot read, and
/// [`DocumentError::TooLarge`] past the page, decompression or paragraph limits.
pub fn read(bytes: &[u8]) -> Result<Vec<Paragraph>, DocumentError> {
    if bytes.len() > MAX_DOCUMENT_BYTES {
        return Err(DocumentError::TooLarge {
            what: "PDF file".into(),
            limit: format!("{} MiB", MAX_DOCUMENT_BYTES >> 20),
        });
    }
    if bytes.is_empty() {
        return Err(corrupt("empty file"));
    }
    let head = bytes.get(..bytes.len().min(1024)).unwrap_or(&[]);
    if !head.windows(5).any(|w| w == b"%PDF-") {
        return Err(corrupt("no %PDF header"));
    }
    let loaded = catch_unwind(|| {
        Document::load_mem(bytes).or_else(|first| {
            let options = LoadOptions {
                force_reconstruct: true,
                ..LoadOptions::default()
            };
            Document::load_mem_with_options(bytes, options).map_err(|_| first)
        })
    });
    let doc = match loaded {
        Ok(Ok(doc)) => doc,
        Ok(Err(e)) if mentions_encrypt(bytes) || matches!(e, lopdf::Error::Decryption(_)) => {
            return Err(DocumentError::Encrypted {
                format: Format::Pdf,
            })
        }
        Ok(Err(e)) => return Err(corrupt(e.to_string())),
        Err(_) => return Err(corrupt("unreadable structure")),
    };
    if doc.trailer.get(b"Encrypt").is_ok() || doc.was_encrypted() {
        return Err(DocumentError::Encrypted {
            format: Format::Pdf,
        });
    }
    let page_ids: Vec<ObjectId> = doc.page_iter().take(MAX_PDF_PAGES + 1).collect();
    if page_ids.len() > MAX_PDF_PAGES {
        return Err(DocumentError::TooLarge {
            what: "page count".into(),
            limit: format!("{MAX_PDF_PAGES} pages"),
        });
    }
    if page_ids.is_empty() {
        return Err(corrupt("no pages"));
    }
    let mut budget = Budget::default();
    let mut pages = Vec::with_capacity(page_ids.len());
    for (n, id) in page_ids.iter().enumerate() {
        let page_no = u32::try_from(n + 1).unwrap_or(u32::MAX);
        let result = catch_unwind(AssertUnwindSafe(|| {
            read_page(&doc, *id, page_no, &mut budget)
        }));
        match result {
            Ok(Ok(Some(page))) => pages.push(page),
            Ok(Ok(None)) => {}
            Ok(Err(e)) => return Err(e),
            Err(_) => return Err(corrupt(format!("page {page_no} could not be interpreted"))),
        }
    }
    if pages.iter().all(|p| p.lines.is_empty()) {
        return Err(DocumentError::NoTextLayer);
    }
    paragraphs::drop_furniture(&mut pages);
    let out = paragraphs::paragraphs(&pages);
    if out.len() > MAX_PARAGRAPHS {
        return Err(DocumentError::TooLarge {
            what: "paragraph count".into(),
            limit: format!("{MAX_PARAGRAPHS} paragraphs"),
        });
    }
    if out.is_empty() {
        return Err(DocumentError::NoTextLayer);
    }
    Ok(out)
}

fn mentions_encrypt(bytes: &[u8]) -> bool {
    bytes.windows(8).any(|w| w == b"/Encrypt")
}

/// One page's lines in reading order (`None` for a page without a dictionary).
fn read_page(
    doc: &Document,
    id: ObjectId,
    page: u32,
    budget: &mut Budget,
) -> Result<Option<PageLines>, DocumentError> {
    let Ok(dict) = doc.get_dictionary(id) else {
        return Ok(None);
    };
    let bbox = inherited(doc, dict, b"CropBox")
        .or_else(|| inherited(doc, dict, b"MediaBox"))
        .and_then(|o| rect(doc, o))
        .unwrap_or([0.0, 0.0, 612.0, 792.0]);
    let rotate = inherited(doc, dict, b"Rotate")
        .and_then(|o| num(doc, o))
        .unwrap_or(0.0) as i64;
    let resources = inherited(doc, dict, b"Resources").and_then(objects::as_dict);
    let height = if rotate.rem_euclid(180) == 90 {
        bbox[2] - bbox[0]
    } else {
        bbox[3] - bbox[1]
    };
    let streams: Vec<&Object> = match get(doc, dict, b"Contents") {
        Some(Object::Array(items)) => items.iter().collect(),
        Some(other) => vec![other],
        None => Vec::new(),
    };
    let mut data = Vec::new();
    for s in streams {
        if let Object::Stream(stream) = objects::resolve(doc, s) {
            data.extend(budget.decompress(stream)?);
            data.push(b'\n');
        }
    }
    let mut interp = Interpreter::new(doc, budget);
    interp.run(&data, resources, display_matrix(bbox, rotate), 0)?;
    drop(data);
    let segs = lines::segments(std::mem::take(&mut interp.glyphs));
    let rtl = {
        let (r, l) = segs
            .iter()
            .flat_map(|s| s.units.iter())
            .flat_map(|u| u.chars())
            .fold((0, 0), |(r, l), c| {
                if ('\u{590}'..='\u{8ff}').contains(&c) {
                    (r + 1, l)
                } else if c.is_alphabetic() {
                    (r, l + 1)
                } else {
                    (r, l)
                }
            });
        r > l
    };
    let drawn_logical = paragraphs::drawn_logical(&segs);
    let order = layout::reading_order(&segs, rtl && !drawn_logical);
    let mut slots: Vec<Option<lines::Segment>> = segs.into_iter().map(Some).collect();
    let ordered = order
        .into_iter()
        .filter_map(|i| slots.get_mut(i).and_then(Option::take))
        .collect();
    Ok(Some(PageLines {
        page,
        height,
        lines: ordered,
        drawn_logical,
    }))
}

/// A page attribute, looked up the page tree when the page does not set it.
fn inherited<'a>(doc: &'a Document, page: &'a Dictionary, key: &[u8]) -> Option<&'a Object> {
    let mut node = page;
    for _ in 0..MAX_PARENTS {
        if let Some(v) = get(doc, node, key) {
            return Some(v);
        }
        node = objects::get_dict(doc, node, b"Parent")?;
    }
    None
}

fn rect(doc: &Document, obj: &Object) -> Option<[f32; 4]> {
    let Object::Array(a) = obj else { return None };
    let v: Vec<f32> = a.iter().filter_map(|o| num(doc, o)).collect();
    let [x0, y0, x1, y1] = <[f32; 4]>::try_from(v.get(..4)?).ok()?;
    let r = [x0.min(x1), y0.min(y1), x0.max(x1), y0.max(y1)];
    (r[2] - r[0] > 1.0 && r[3] - r[1] > 1.0).then_some(r)
}
