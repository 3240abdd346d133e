//! The content-stream interpreter: runs a page's operators and yields its glyphs with
//! their positions on the displayed page.

use std::collections::HashMap;
use std::rc::Rc;

use lopdf::content::Content;
use lopdf::{Dictionary, Document, Object};

use super::fonts::Font;
use super::objects::{as_dict, get, get_array, get_dict, get_name, num, Budget};
use crate::documents::DocumentError;

/// Deepest nesting of Form XObjects followed.
const MAX_FORM_DEPTH: usize = 16;
/// Most operators run for one page, forms included.
const MAX_OPS: usize = 4_000_000;
/// Most glyphs kept for one page.
const MAX_GLYPHS: usize = 1_000_000;
/// Deepest `q` nesting kept.
const MAX_STACK: usize = 256;

/// One glyph of a page's text, in display coordinates (points, origin at the bottom left
/// of the displayed page, y up).
#[derive(Debug, Clone, PartialEq)]
pub struct Glyph {
    /// Its text (one or more chars).
    pub text: String,
    /// Left edge.
    pub x: f32,
    /// Baseline.
    pub y: f32,
    /// Advance width (0 for a mark).
    pub width: f32,
    /// Effective font size.
    pub size: f32,
    /// Whether its width came from the font.
    pub width_known: bool,
}

/// An affine matrix `[a b c d e f]`, PDF's row-vector convention.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Matrix(pub [f32; 6]);

impl Matrix {
    /// The identity.
    pub const IDENTITY: Matrix = Matrix([1.0, 0.0, 0.0, 1.0, 0.0, 0.0]);

    /// `self` then `other`.
    pub fn then(&self, other: &Matrix) -> Matrix {
        let [a, b, c, d, e, f] = self.0;
        let [a2, b2, c2, d2, e2, f2] = other.0;
        Matrix([
            a * a2 + b * c2,
            a * b2 + b * d2,
            c * a2 + d * c2,
            c * b2 + d * d2,
            e * a2 + f * c2 + e2,
            e * b2 + f * d2 + f2,
        ])
    }

    /// The image of a point.
    pub fn apply(&self, x: f32, y: f32) -> (f32, f32) {
        let [a, b, c, d, e, f] = self.0;
        (x * a + y * c + e, x * b + y * d + f)
    }

    fn translate(tx: f32, ty: f32) -> Matrix {
        Matrix([1.0, 0.0, 0.0, 1.0, tx, ty])
    }

    fn from_operands(doc: &Document, ops: &[Object]) -> Option<Matrix> {
        let v: Vec<f32> = ops.iter().filter_map(|o| num(doc, o)).collect();
        <[f32; 6]>::try_from(v.get(..6)?).ok().map(Matrix)
    }
}

#[derive(Debug, Clone)]
struct State {
    ctm: Matrix,
    font: Option<Rc<Font>>,
    size: f32,
    char_space: f32,
    word_space: f32,
    h_scale: f32,
    leading: f32,
    rise: f32,
}

/// Runs content streams and collects glyphs.
pub struct Interpreter<'a> {
    doc: &'a Document,
    budget: &'a mut Budget,
    fonts: HashMap<usize, Rc<Font>>,
    /// The glyphs found so far.
    pub glyphs: Vec<Glyph>,
    ops: usize,
}

impl<'a> Interpreter<'a> {
    /// An interpreter for one page.
    pub fn new(doc: &'a Document, budget: &'a mut Budget) -> Self {
        Interpreter {
            doc,
            budget,
            fonts: HashMap::new(),
            glyphs: Vec::new(),
            ops: 0,
        }
    }

    /// Runs one content stream with its resources under the matrix `ctm` (which maps user
    /// space to display space).
    pub fn run(
        &mut self,
        content: &[u8],
        resources: Option<&'a Dictionary>,
        ctm: Matrix,
        depth: usize,
    ) -> Result<(), DocumentError> {
        let mut gs = State {
            ctm,
            font: None,
            size: 0.0,
            char_space: 0.0,
            word_space: 0.0,
            h_scale: 1.0,
            leading: 0.0,
            rise: 0.0,
        };
        let mut stack: Vec<State> = Vec::new();
        let (mut tm, mut tlm) = (Matrix::IDENTITY, Matrix::IDENTITY);
        let doc = self.doc;
        for op in Content::decode_iter(content) {
            let Ok(op) = op else { break };
            self.ops += 1;
            if self.ops > MAX_OPS || self.glyphs.len() > MAX_GLYPHS {
                break;
            }
            let o = &op.operands;
            let n = |i: usize| o.get(i).and_then(|v| num(doc, v)).unwrap_or(0.0);
            match op.operator.as_str() {
                "q" if stack.len() < MAX_STACK => stack.push(gs.clone()),
                "Q" => {
                    if let Some(s) = stack.pop() {
                        gs = s;
                    }
                }
                "cm" => {
                    if let Some(m) = Matrix::from_operands(doc, o) {
                        gs.ctm = m.then(&gs.ctm);
                    }
                }
                "BT" => {
                    tm = Matrix::IDENTITY;
                    tlm = Matrix::IDENTITY;
                }
                "Tf" => {
                    gs.size = n(1);
                    let name = match o.first() {
                        Some(Object::Name(name)) => name.as_slice(),
                        _ => b"",
                    };
                    gs.font = Some(self.font(resources, name)?);
                }
                "Tc" => gs.char_space = n(0),
                "Tw" => gs.word_space = n(0),
                "Tz" => gs.h_scale = n(0) / 100.0,
                "TL" => gs.leading = n(0),
                "Ts" => gs.rise = n(0),
                "Td" => {
                    tlm = Matrix::translate(n(0), n(1)).then(&tlm);
                    tm = tlm;
                }
                "TD" => {
                    gs.leading = -n(1);
                    tlm = Matrix::translate(n(0), n(1)).then(&tlm);
                    tm = tlm;
                }
                "Tm" => {
                    if let Some(m) = Matrix::from_operands(doc, o) {
                        tlm = m;
                        tm = m;
                    }
                }
                "T*" => {
                    tlm = Matrix::translate(0.0, -gs.leading).then(&tlm);
                    tm = tlm;
                }
                "Tj" => self.show(&gs, &mut tm, o.first()),
                "'" | "\"" => {
                    if op.operator == "\"" {
                        gs.word_space = n(0);
                        gs.char_space = n(1);
                    }
                    tlm = Matrix::translate(0.0, -gs.leading).then(&tlm);
                    tm = tlm;
                    self.show(&gs, &mut tm, o.last());
                }
                "TJ" => {
                    if let Some(Object::Array(items)) = o.first() {
                        for item in items {
                            match item {
                                Object::String(..) => self.show(&gs, &mut tm, Some(item)),
                                other => {
                                    let adj = num(doc, other).unwrap_or(0.0);
                                    let tx = -adj / 1000.0 * gs.size * gs.h_scale;
                                    tm = Matrix::translate(tx, 0.0).then(&tm);
                                }
                            }
                        }
                    }
                }
                "Do" if depth < MAX_FORM_DEPTH => {
                    if let Some(Object::Name(name)) = o.first() {
                        self.form(resources, name, &gs.ctm, depth)?;
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn form(
        &mut self,
        resources: Option<&'a Dictionary>,
        name: &[u8],
        ctm: &Matrix,
        depth: usize,
    ) -> Result<(), DocumentError> {
        let doc = self.doc;
        let Some(xobjects) = resources.and_then(|r| get_dict(doc, r, b"XObject")) else {
            return Ok(());
        };
        let Some(Object::Stream(stream)) = get(doc, xobjects, name) else {
            return Ok(());
        };
        if get_name(doc, &stream.dict, b"Subtype") != Some(b"Form") {
            return Ok(());
        }
        let matrix = get_array(doc, &stream.dict, b"Matrix")
            .and_then(|m| Matrix::from_operands(doc, m))
            .unwrap_or(Matrix::IDENTITY);
        let inner = get_dict(doc, &stream.dict, b"Resources").or(resources);
        let data = self.budget.decompress(stream)?;
        self.run(&data, inner, matrix.then(ctm), depth + 1)
    }

    fn font(
        &mut self,
        resources: Option<&'a Dictionary>,
        name: &[u8],
    ) -> Result<Rc<Font>, DocumentError> {
        let doc = self.doc;
        let dict = resources
            .and_then(|r| get_dict(doc, r, b"Font"))
            .and_then(|fonts| get(doc, fonts, name))
            .and_then(as_dict);
        let Some(dict) = dict else {
            return Ok(Rc::new(Font::fallback()));
        };
        let key = dict as *const Dictionary as usize;
        if let Some(font) = self.fonts.get(&key) {
            return Ok(font.clone());
        }
        let font = Rc::new(Font::load(doc, dict, self.budget)?);
        self.fonts.insert(key, font.clone());
        Ok(font)
    }

    fn show(&mut self, gs: &State, tm: &mut Matrix, string: Option<&Object>) {
        let Some(Object::String(bytes, _)) = string else {
            return;
        };
        let Some(font) = gs.font.clone() else { return };
        for code in font.decode(bytes) {
            let m = tm.then(&gs.ctm);
            let w = code.width * gs.size * gs.h_scale;
            let (x0, y0) = m.apply(0.0, gs.rise);
            let (x1, y1) = m.apply(w, gs.rise);
            let (cx, cy) = (m.0[2], m.0[3]);
            let size = (cx * cx + cy * cy).sqrt() * gs.size.abs() * font.em();
            let (ax, ay) = (m.0[0], m.0[1]);
            let upright = ax.abs() > 4.0 * ay.abs() && ax > 0.0
                || w.abs() > 0.0 && (x1 - x0) > 4.0 * (y1 - y0).abs();
            if !code.text.is_empty()
                && upright
                && size.is_finite()
                && x0.is_finite()
                && y0.is_finite()
            {
                self.glyphs.push(Glyph {
                    text: super::glyphs::normalize(&code.text),
                    x: x0.min(x1),
                    y: y0,
                    width: (x1 - x0).abs(),
                    size,
                    width_known: code.width_known,
                });
            }
            let space = if code.word_space { gs.word_space } else { 0.0 };
            let tx = (code.width * gs.size + gs.char_space + space) * gs.h_scale;
            *tm = Matrix::translate(tx, 0.0).then(tm);
        }
    }
}

/// The matrix from a page's user space to its display space (y up, origin at the bottom
/// left of the page as shown), for its crop box and `/Rotate`.
pub fn display_matrix(bbox: [f32; 4], rotate: i64) -> Matrix {
    let [x0, y0, x1, y1] = bbox;
    match rotate.rem_euclid(360) {
        90 => Matrix([0.0, -1.0, 1.0, 0.0, -y0, x1]),
        180 => Matrix([-1.0, 0.0, 0.0, -1.0, x1, y1]),
        270 => Matrix([0.0, 1.0, -1.0, 0.0, y1, -x0]),
        _ => Matrix([1.0, 0.0, 0.0, 1.0, -x0, -y0]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_maps_corners() {
        let m = display_matrix([0.0, 0.0, 600.0, 800.0], 90);
        assert_eq!(m.apply(0.0, 0.0), (0.0, 600.0));
        assert_eq!(m.apply(0.0, 800.0), (800.0, 600.0));
        let m = display_matrix([0.0, 0.0, 600.0, 800.0], 270);
        assert_eq!(m.apply(0.0, 0.0), (800.0, 0.0));
    }
}
