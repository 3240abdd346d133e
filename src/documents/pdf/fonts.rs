//! Fonts: how a string's bytes split into codes, what text each code stands for and how
//! far it advances.

use std::collections::HashMap;

use lopdf::{Dictionary, Document, Object};

use super::cmap::CMap;
use super::glyphs::{base_char, name_to_text, BaseEncoding};
use super::objects::{as_dict, get, get_array, get_dict, get_name, get_num, num, Budget};
use crate::documents::DocumentError;

/// Most `/W` entries kept for one font.
const MAX_WIDTHS: usize = 1 << 17;

/// One decoded code of a shown string.
#[derive(Debug, Clone, PartialEq)]
pub struct Code {
    /// Its text (empty where the font does not say).
    pub text: String,
    /// Its advance in text space units (glyph units / 1000 for most fonts).
    pub width: f32,
    /// Whether the width came from the font (rather than a guess).
    pub width_known: bool,
    /// A single-byte code 32, to which word spacing (`Tw`) applies.
    pub word_space: bool,
}

/// A font, as far as text extraction needs it.
#[derive(Debug, Clone)]
pub struct Font {
    composite: bool,
    code_len: usize,
    encoding_cmap: Option<CMap>,
    to_unicode: Option<CMap>,
    simple: Option<Box<[Option<String>; 256]>>,
    widths: HashMap<u32, f32>,
    default_width: Option<f32>,
    /// Glyph space → text space scale (1/1000, or the Type 3 `/FontMatrix`).
    scale: f32,
}

impl Font {
    /// How many text space units one em is (1, except for odd Type 3 font matrices).
    pub fn em(&self) -> f32 {
        self.scale * 1000.0
    }
}

impl Font {
    /// Reads a font dictionary; never fails (an unreadable part falls back to defaults)
    /// except when a stream would exceed the decompression budget.
    pub fn load(
        doc: &Document,
        dict: &Dictionary,
        budget: &mut Budget,
    ) -> Result<Font, DocumentError> {
        let subtype = get_name(doc, dict, b"Subtype").unwrap_or(b"Type1");
        let composite = subtype == b"Type0";
        let to_unicode = match get(doc, dict, b"ToUnicode") {
            Some(Object::Stream(s)) => Some(CMap::parse(&budget.decompress(s)?)),
            _ => None,
        };
        let mut font = Font {
            composite,
            code_len: if composite { 2 } else { 1 },
            encoding_cmap: None,
            to_unicode,
            simple: None,
            widths: HashMap::new(),
            default_width: None,
            scale: 0.001,
        };
        if composite {
            if let Some(Object::Stream(s)) = get(doc, dict, b"Encoding") {
                font.encoding_cmap = Some(CMap::parse(&budget.decompress(s)?));
            }
            let descendant = get_array(doc, dict, b"DescendantFonts")
                .and_then(|a| a.first())
                .map(|o| super::objects::resolve(doc, o))
                .and_then(as_dict);
            if let Some(cid_font) = descendant {
                font.load_cid_widths(doc, cid_font);
            }
        } else {
            if subtype == b"Type3" {
                if let Some(m) = get_array(doc, dict, b"FontMatrix").and_then(|a| a.first()) {
                    font.scale = num(doc, m).filter(|v| v.abs() > 1e-9).unwrap_or(0.001);
                }
            }
            font.simple = Some(simple_encoding(doc, dict, subtype));
            font.load_simple_widths(doc, dict);
        }
        Ok(font)
    }

    /// A font for a `Tf` that names no readable font: one byte per code, WinAnsi.
    pub fn fallback() -> Font {
        Font {
            composite: false,
            code_len: 1,
            encoding_cmap: None,
            to_unicode: None,
            simple: Some(Box::new(std::array::from_fn(|c| {
                base_char(BaseEncoding::WinAnsi, c as u8).map(String::from)
            }))),
            widths: HashMap::new(),
            default_width: None,
            scale: 0.001,
        }
    }

    fn load_simple_widths(&mut self, doc: &Document, dict: &Dictionary) {
        let first = get_num(doc, dict, b"FirstChar").unwrap_or(0.0).max(0.0) as u32;
        if let Some(widths) = get_array(doc, dict, b"Widths") {
            for (i, w) in widths.iter().take(256).enumerate() {
                if let Some(w) = num(doc, w) {
                    self.widths.insert(first.saturating_add(i as u32), w);
                }
            }
        }
        self.default_width = get_dict(doc, dict, b"FontDescriptor")
            .and_then(|d| get_num(doc, d, b"MissingWidth"))
            .filter(|w| *w > 0.0);
    }

    fn load_cid_widths(&mut self, doc: &Document, cid_font: &Dictionary) {
        self.default_width = Some(get_num(doc, cid_font, b"DW").unwrap_or(1000.0));
        let Some(w) = get_array(doc, cid_font, b"W") else {
            return;
        };
        let mut i = 0;
        while let Some(first) = w.get(i).and_then(|o| num(doc, o)) {
            let first = first.max(0.0) as u32;
            match w.get(i + 1).map(|o| super::objects::resolve(doc, o)) {
                Some(Object::Array(list)) => {
                    for (k, v) in list.iter().enumerate() {
                        if let Some(v) = num(doc, v) {
                            self.widths.insert(first.saturating_add(k as u32), v);
                        }
                    }
                    i += 2;
                }
                Some(last) => {
                    let last = num(doc, last).unwrap_or(0.0).max(0.0) as u32;
                    let v = w.get(i + 2).and_then(|o| num(doc, o)).unwrap_or(1000.0);
                    let count = last.saturating_sub(first).min(MAX_WIDTHS as u32);
                    for k in 0..=count {
                        self.widths.insert(first.saturating_add(k), v);
                    }
                    i += 3;
                }
                None => break,
            }
            if self.widths.len() > MAX_WIDTHS {
                break;
            }
        }
    }

    /// Splits a shown string into codes.
    pub fn decode(&self, bytes: &[u8]) -> Vec<Code> {
        let mut out = Vec::with_capacity(bytes.len());
        let mut pos = 0;
        while pos < bytes.len() {
            let (code, len) = match (&self.encoding_cmap, &self.to_unicode) {
                (Some(cmap), _) if !cmap.ranges.is_empty() => {
                    cmap.next_code(bytes, pos, self.code_len)
                }
                (None, Some(tu)) if self.composite && !tu.ranges.is_empty() => {
                    tu.next_code(bytes, pos, self.code_len)
                }
                _ => {
                    let len = self.code_len.min(bytes.len() - pos).max(1);
                    let chunk = bytes.get(pos..pos + len).unwrap_or(&[]);
                    (
                        chunk.iter().fold(0u32, |a, &b| (a << 8) | u32::from(b)),
                        len,
                    )
                }
            };
            pos += len;
            out.push(self.code(code, len));
        }
        out
    }

    fn code(&self, code: u32, len: usize) -> Code {
        let mut text = self
            .to_unicode
            .as_ref()
            .and_then(|tu| tu.unicode.get(&code))
            .cloned();
        if text.is_none() {
            if let Some(table) = &self.simple {
                text = table.get(code as usize).cloned().flatten();
            }
        }
        let cid = match &self.encoding_cmap {
            Some(cmap) => cmap.cids.get(&code).copied().unwrap_or(code),
            None => code,
        };
        let width = self.widths.get(&cid).copied().or(self.default_width);
        let text = text.unwrap_or_default();
        let guess = if text == " " { 250.0 } else { 500.0 };
        Code {
            width: width.unwrap_or(guess) * self.scale,
            width_known: width.is_some(),
            word_space: len == 1 && code == 32,
            text,
        }
    }
}

/// A simple font's code → text table: base encoding, then `/Differences`.
fn simple_encoding(
    doc: &Document,
    dict: &Dictionary,
    subtype: &[u8],
) -> Box<[Option<String>; 256]> {
    let symbolic = get_dict(doc, dict, b"FontDescriptor")
        .and_then(|d| get_num(doc, d, b"Flags"))
        .is_some_and(|f| (f as i64) & 4 != 0);
    let mut base = if subtype == b"Type1" && symbolic {
        BaseEncoding::Standard
    } else {
        BaseEncoding::WinAnsi
    };
    let mut differences: Option<&[Object]> = None;
    let pick = |name: &[u8]| match name {
        b"MacRomanEncoding" => Some(BaseEncoding::MacRoman),
        b"WinAnsiEncoding" => Some(BaseEncoding::WinAnsi),
        b"StandardEncoding" => Some(BaseEncoding::Standard),
        _ => None,
    };
    match get(doc, dict, b"Encoding") {
        Some(Object::Name(n)) => base = pick(n).unwrap_or(base),
        Some(Object::Dictionary(d)) => {
            if let Some(n) = get_name(doc, d, b"BaseEncoding") {
                base = pick(n).unwrap_or(base);
            }
            differences = get_array(doc, d, b"Differences");
        }
        _ => {}
    }
    let mut table: Box<[Option<String>; 256]> = Box::new(std::array::from_fn(|c| {
        base_char(base, c as u8).map(String::from)
    }));
    let mut code: usize = 0;
    for item in differences.unwrap_or(&[]) {
        match super::objects::resolve(doc, item) {
            Object::Integer(i) => code = usize::try_from(*i).unwrap_or(usize::MAX),
            Object::Name(n) => {
                if let Some(slot) = table.get_mut(code) {
                    let name = String::from_utf8_lossy(n);
                    *slot = name_to_text(&name);
                }
                code = code.saturating_add(1);
            }
            _ => {}
        }
    }
    table
}
