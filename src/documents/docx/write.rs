//! The edits that put a translation into one paragraph, as byte-range splices of the
//! original part (see the module doc of [`super`] for what changes and what does not).

use std::ops::Range;

use quick_xml::events::Event;
use quick_xml::Reader;

use super::parse::{ParaLayout, Props};
use super::xml::{corrupt, escape, is_on, Ns};
use crate::documents::{Direction, DocumentError};

/// One splice: `range` of the original bytes becomes `with`.
#[derive(Debug)]
pub struct Edit {
    range: Range<usize>,
    with: String,
    /// Insertion order, which decides between edits at the same place.
    seq: usize,
}

/// The edits of one part, collected paragraph by paragraph.
#[derive(Debug, Default)]
pub struct Edits(Vec<Edit>);

impl Edits {
    fn push(&mut self, range: Range<usize>, with: String) {
        let seq = self.0.len();
        self.0.push(Edit { range, with, seq });
    }

    /// Whether nothing is to change.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `xml` with every edit made.
    pub fn apply(mut self, xml: &[u8]) -> Result<Vec<u8>, DocumentError> {
        self.0.sort_by_key(|e| (e.range.start, e.range.end, e.seq));
        let extra: usize = self.0.iter().map(|e| e.with.len()).sum();
        let mut out = Vec::with_capacity(xml.len() + extra);
        let mut at = 0;
        for e in &self.0 {
            if e.range.start < at || e.range.end > xml.len() {
                return Err(corrupt(format!(
                    "overlapping edits at byte {}",
                    e.range.start
                )));
            }
            out.extend_from_slice(&xml[at..e.range.start]);
            out.extend_from_slice(e.with.as_bytes());
            at = e.range.end;
        }
        out.extend_from_slice(&xml[at..]);
        Ok(out)
    }
}

/// A language as `w:lang` wants it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lang {
    /// A BCP 47 tag with its region: "he-IL", "en-US".
    pub tag: String,
    /// Written right to left: goes in `w:bidi` rather than `w:val`.
    pub rtl: bool,
}

/// Maps "he", "he-il", "en", "en_GB" … to a tag Word knows; `None` for an empty or
/// malformed one (then `w:lang` is left alone).
pub fn lang_tag(lang: &str) -> Option<Lang> {
    let lang = lang.trim();
    if lang.is_empty()
        || lang.len() > 35
        || !lang
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return None;
    }
    let mut parts = lang.split(['-', '_']).filter(|p| !p.is_empty());
    let primary = parts.next()?.to_ascii_lowercase();
    let primary = match primary.as_str() {
        "iw" => "he".to_string(),
        "ji" => "yi".to_string(),
        _ => primary,
    };
    let rest: Vec<String> = parts
        .map(|p| match p.len() {
            2 => p.to_ascii_uppercase(),
            4 => {
                let mut s = p.to_ascii_lowercase();
                s[..1].make_ascii_uppercase();
                s
            }
            _ => p.to_string(),
        })
        .collect();
    let tag = if rest.is_empty() {
        let region = match primary.as_str() {
            "he" => "IL",
            "en" => "US",
            "ar" => "SA",
            "fa" => "IR",
            "ur" => "PK",
            "ru" => "RU",
            "fr" => "FR",
            "de" => "DE",
            "es" => "ES",
            "it" => "IT",
            "pt" => "BR",
            "nl" => "NL",
            "uk" => "UA",
            "pl" => "PL",
            "tr" => "TR",
            "zh" => "CN",
            "ja" => "JP",
            "ko" => "KR",
            "yi" => "001",
            _ => "",
        };
        if region.is_empty() {
            primary.clone()
        } else {
            format!("{primary}-{region}")
        }
    } else {
        format!("{primary}-{}", rest.join("-"))
    };
    let rtl = matches!(
        primary.as_str(),
        "he" | "yi" | "ar" | "fa" | "ur" | "ps" | "sd" | "ug" | "ckb" | "dv" | "syr"
    );
    Some(Lang { tag, rtl })
}

/// `w:pPr` children in schema order (CT_PPr): an element is inserted before the first
/// child that must follow it.
const PPR_ORDER: &[&[u8]] = &[
    b"pStyle",
    b"keepNext",
    b"keepLines",
    b"pageBreakBefore",
    b"framePr",
    b"widowControl",
    b"numPr",
    b"suppressLineNumbers",
    b"pBdr",
    b"shd",
    b"tabs",
    b"suppressAutoHyphens",
    b"kinsoku",
    b"wordWrap",
    b"overflowPunct",
    b"topLinePunct",
    b"autoSpaceDE",
    b"autoSpaceDN",
    b"bidi",
    b"adjustRightInd",
    b"snapToGrid",
    b"spacing",
    b"ind",
    b"contextualSpacing",
    b"mirrorIndents",
    b"suppressOverlap",
    b"jc",
    b"textDirection",
    b"textAlignment",
    b"textboxTightWrap",
    b"outlineLvl",
    b"divId",
    b"cnfStyle",
    b"rPr",
    b"sectPr",
    b"pPrChange",
];

/// `w:rPr` children in schema order (CT_RPr).
const RPR_ORDER: &[&[u8]] = &[
    b"rStyle",
    b"rFonts",
    b"b",
    b"bCs",
    b"i",
    b"iCs",
    b"caps",
    b"smallCaps",
    b"strike",
    b"dstrike",
    b"outline",
    b"shadow",
    b"emboss",
    b"imprint",
    b"noProof",
    b"snapToGrid",
    b"vanish",
    b"webHidden",
    b"color",
    b"spacing",
    b"w",
    b"kern",
    b"position",
    b"sz",
    b"szCs",
    b"highlight",
    b"u",
    b"effect",
    b"bdr",
    b"shd",
    b"fitText",
    b"vertAlign",
    b"rtl",
    b"cs",
    b"em",
    b"lang",
    b"eastAsianLayout",
    b"specVanish",
    b"oMath",
    b"rPrChange",
];

/// Where `name` ranks in `order`; names it does not know (extensions such as `w14:…`) go
/// after the known ones but before the `…Change` element that closes the list.
fn rank(order: &[&[u8]], name: &[u8]) -> usize {
    order
        .iter()
        .position(|n| *n == name)
        .unwrap_or(order.len() - 1)
}

/// What to do with one child of a property element.
enum Op {
    /// Make it this element (replace or insert).
    Set(Vec<u8>, String),
    /// Remove it if present.
    Remove(Vec<u8>),
}

impl Op {
    fn name(&self) -> &[u8] {
        match self {
            Op::Set(n, _) | Op::Remove(n) => n,
        }
    }
}

/// Adds the edits that make `props` (a `w:pPr` or `w:rPr` named `tag`) carry `ops`; a
/// missing element is inserted at `missing_at`.
fn props_edits(
    xml: &[u8],
    props: Option<&Props>,
    missing_at: usize,
    tag: &str,
    order: &[&[u8]],
    mut ops: Vec<Op>,
    edits: &mut Edits,
) {
    ops.sort_by_key(|op| rank(order, op.name()));
    let props = match props {
        Some(p) if !p.empty => p,
        other => {
            // None or `<w:rPr/>`: one new element with whatever is set.
            let inner: String = ops
                .iter()
                .filter_map(|op| match op {
                    Op::Set(_, el) => Some(el.as_str()),
                    Op::Remove(_) => None,
                })
                .collect();
            if inner.is_empty() {
                return;
            }
            let range = other.map_or(missing_at..missing_at, |p| p.range.clone());
            edits.push(range, format!("<{tag}>{inner}</{tag}>"));
            return;
        }
    };
    for op in ops {
        let existing = props.child(op.name());
        match (op, existing) {
            (Op::Set(_, el), Some(c)) => {
                // `<w:bidi w:val="true"/>` already says what `<w:bidi/>` would.
                let same_toggle = el.ends_with(&format!(":{}/>", String::from_utf8_lossy(&c.name)))
                    && is_on(c.val.as_deref());
                if &xml[c.range.clone()] != el.as_bytes() && !same_toggle {
                    edits.push(c.range.clone(), el);
                }
            }
            (Op::Set(name, el), None) => {
                let r = rank(order, &name);
                let at = props
                    .children
                    .iter()
                    .find(|c| rank(order, &c.name) > r)
                    .map_or(props.content.end, |c| c.range.start);
                edits.push(at..at, el);
            }
            (Op::Remove(_), Some(c)) => edits.push(c.range.clone(), String::new()),
            (Op::Remove(_), None) => {}
        }
    }
}

/// Adds the edits that give the paragraph at `layout` the text `text`, direction
/// `direction` and language `lang`.
pub fn paragraph_edits(
    xml: &[u8],
    ns: &Ns,
    layout: &ParaLayout,
    text: &str,
    direction: Direction,
    lang: Option<&Lang>,
    edits: &mut Edits,
) {
    let w = |local: &str| ns.w_name(local);
    let rtl = direction == Direction::Rtl;

    // Paragraph direction.
    let bidi = if rtl {
        Op::Set(b"bidi".to_vec(), format!("<{}/>", w("bidi")))
    } else if layout.style.bidi {
        Op::Set(
            b"bidi".to_vec(),
            format!(r#"<{} {}="0"/>"#, w("bidi"), w("val")),
        )
    } else {
        Op::Remove(b"bidi".to_vec())
    };
    props_edits(
        xml,
        layout.ppr.as_ref(),
        layout.start_tag_end,
        &w("pPr"),
        PPR_ORDER,
        vec![bidi],
        edits,
    );

    // The run that takes the text, and so gives the paragraph its formatting: the one
    // that held most of the text outside links and field results (the first on a tie),
    // else the first.
    let text_len = |r: &super::parse::RunLayout| r.texts.iter().map(|t| t.len()).sum::<usize>();
    let Some(target) = layout
        .runs
        .iter()
        .enumerate()
        .filter(|(_, r)| !r.in_link && !r.in_field)
        .fold(None, |best: Option<(usize, usize)>, (i, r)| match best {
            Some((_, len)) if len >= text_len(r) => best,
            _ => Some((i, text_len(r))),
        })
        .map(|(i, _)| i)
        .or((!layout.runs.is_empty()).then_some(0))
    else {
        return;
    };
    for (i, run) in layout.runs.iter().enumerate() {
        if i != target {
            if run.other {
                for t in &run.texts {
                    edits.push(t.clone(), String::new());
                }
            } else {
                edits.push(run.range.clone(), String::new());
            }
            continue;
        }
        let ops = run_ops(xml, ns, run.rpr.as_ref(), rtl, layout.style.rtl, lang);
        props_edits(
            xml,
            run.rpr.as_ref(),
            run.start_tag_end,
            &w("rPr"),
            RPR_ORDER,
            ops,
            edits,
        );
        for (k, t) in run.texts.iter().enumerate() {
            let with = if k == 0 {
                text_xml(ns, text)
            } else {
                String::new()
            };
            edits.push(t.clone(), with);
        }
    }
}

/// The `w:rPr` changes of the run that takes the text: `w:rtl`, complex-script bold,
/// italic and size mirrored from their Latin twins (Word formats an RTL run with `w:bCs`,
/// not `w:b`), and `w:lang`.
fn run_ops(
    xml: &[u8],
    ns: &Ns,
    rpr: Option<&Props>,
    rtl: bool,
    style_rtl: bool,
    lang: Option<&Lang>,
) -> Vec<Op> {
    let w = |local: &str| ns.w_name(local);
    let has = |name: &[u8]| rpr.and_then(|p| p.child(name));
    let mut ops = Vec::new();
    if rtl {
        ops.push(Op::Set(b"rtl".to_vec(), format!("<{}/>", w("rtl"))));
    } else if style_rtl {
        ops.push(Op::Set(
            b"rtl".to_vec(),
            format!(r#"<{} {}="0"/>"#, w("rtl"), w("val")),
        ));
    } else {
        ops.push(Op::Remove(b"rtl".to_vec()));
    }
    let pairs: [(&str, &str); 3] = [("b", "bCs"), ("i", "iCs"), ("sz", "szCs")];
    for (latin, complex) in pairs {
        let (from, to) = if rtl {
            (latin, complex)
        } else {
            (complex, latin)
        };
        if let (Some(src), None) = (has(from.as_bytes()), has(to.as_bytes())) {
            let el = match &src.val {
                Some(v) => format!(r#"<{} {}="{}"/>"#, w(to), w("val"), escape(v)),
                None => format!("<{}/>", w(to)),
            };
            ops.push(Op::Set(to.as_bytes().to_vec(), el));
        }
    }
    if let Some(lang) = lang {
        let key = if lang.rtl { "bidi" } else { "val" };
        let existing = has(b"lang").map(|c| &xml[c.range.clone()]);
        ops.push(Op::Set(
            b"lang".to_vec(),
            lang_element(ns, existing, &w(key), &lang.tag),
        ));
    }
    ops
}

/// `<w:lang …/>` with attribute `key` set to `tag` and the other attributes of `existing`
/// kept.
fn lang_element(ns: &Ns, existing: Option<&[u8]>, key: &str, tag: &str) -> String {
    let mut attrs: Vec<(String, String)> = Vec::new();
    if let Some(src) = existing {
        let mut reader = Reader::from_reader(src);
        if let Ok(Event::Start(e) | Event::Empty(e)) = reader.read_event() {
            for a in e.attributes().with_checks(false).flatten() {
                let k = String::from_utf8_lossy(a.key.as_ref()).into_owned();
                let v = a
                    .unescape_value()
                    .map(|v| v.into_owned())
                    .unwrap_or_else(|_| String::from_utf8_lossy(&a.value).into_owned());
                attrs.push((k, v));
            }
        }
    }
    match attrs.iter_mut().find(|(k, _)| k == key) {
        Some((_, v)) => *v = tag.to_string(),
        None => attrs.push((key.to_string(), tag.to_string())),
    }
    let mut out = format!("<{}", ns.w_name("lang"));
    for (k, v) in attrs {
        out.push_str(&format!(r#" {k}="{}""#, escape(&v)));
    }
    out.push_str("/>");
    out
}

/// The text elements for `text`: `w:t` runs of text, `w:tab` for tabs, `w:br` for line
/// breaks; markup in it stays text, characters XML forbids are dropped.
pub fn text_xml(ns: &Ns, text: &str) -> String {
    let t = ns.w_name("t");
    let mut out = String::with_capacity(text.len() + 40);
    let mut seg = String::new();
    let flush = |seg: &mut String, out: &mut String| {
        if !seg.is_empty() {
            out.push_str(&format!(
                r#"<{t} xml:space="preserve">{}</{t}>"#,
                escape(seg)
            ));
            seg.clear();
        }
    };
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\t' => {
                flush(&mut seg, &mut out);
                out.push_str(&format!("<{}/>", ns.w_name("tab")));
            }
            '\r' | '\n' => {
                if c == '\r' && chars.peek() == Some(&'\n') {
                    chars.next();
                }
                flush(&mut seg, &mut out);
                out.push_str(&format!("<{}/>", ns.w_name("br")));
            }
            c => seg.push(c),
        }
    }
    flush(&mut seg, &mut out);
    if out.is_empty() {
        out = format!("<{t}/>");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::documents::docx::parse::{parse, PartKind};
    use crate::documents::docx::styles::Styles;

    fn rewrite(inner: &str, text: &str, dir: Direction, lang: &str) -> String {
        let src = format!(
            r#"<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>{inner}</w:body></w:document>"#
        );
        let parsed = parse(
            src.as_bytes(),
            PartKind::Body,
            &Styles::default(),
            &mut 0,
            &mut 0,
        )
        .unwrap();
        let mut edits = Edits::default();
        let lang = lang_tag(lang);
        paragraph_edits(
            src.as_bytes(),
            &parsed.ns,
            &parsed.layouts[0],
            text,
            dir,
            lang.as_ref(),
            &mut edits,
        );
        let out = String::from_utf8(edits.apply(src.as_bytes()).unwrap()).unwrap();
        let start = out.find("<w:body>").unwrap() + 8;
        let end = out.find("</w:body>").unwrap();
        out[start..end].to_string()
    }

    #[test]
    fn text_goes_into_the_first_run_with_its_formatting() {
        let out = rewrite(
            r#"<w:p><w:pPr><w:pStyle w:val="X"/><w:jc w:val="left"/></w:pPr><w:r><w:rPr><w:b/><w:sz w:val="28"/></w:rPr><w:t>Hello </w:t></w:r><w:bookmarkStart w:id="0" w:name="b"/><w:r><w:rPr><w:i/></w:rPr><w:t>world</w:t></w:r><w:r><w:drawing/><w:t>!</w:t></w:r></w:p>"#,
            "שלום <עולם> & co",
            Direction::Rtl,
            "he",
        );
        assert_eq!(
            out,
            r#"<w:p><w:pPr><w:pStyle w:val="X"/><w:bidi/><w:jc w:val="left"/></w:pPr><w:r><w:rPr><w:b/><w:bCs/><w:sz w:val="28"/><w:szCs w:val="28"/><w:rtl/><w:lang w:bidi="he-IL"/></w:rPr><w:t xml:space="preserve">שלום &lt;עולם&gt; &amp; co</w:t></w:r><w:bookmarkStart w:id="0" w:name="b"/><w:r><w:drawing/></w:r></w:p>"#
        );
    }

    #[test]
    fn to_ltr_drops_bidi_and_rtl_and_keeps_other_lang_attributes() {
        let out = rewrite(
            r#"<w:p><w:pPr><w:bidi/></w:pPr><w:r><w:rPr><w:bCs/><w:rtl/><w:lang w:val="en-GB" w:bidi="he-IL"/></w:rPr><w:t>שלום</w:t></w:r></w:p>"#,
            "Hello\tthere\nfriend\u{0}",
            Direction::Ltr,
            "en",
        );
        assert_eq!(
            out,
            r#"<w:p><w:pPr></w:pPr><w:r><w:rPr><w:b/><w:bCs/><w:lang w:val="en-US" w:bidi="he-IL"/></w:rPr><w:t xml:space="preserve">Hello</w:t><w:tab/><w:t xml:space="preserve">there</w:t><w:br/><w:t xml:space="preserve">friend</w:t></w:r></w:p>"#
        );
    }

    #[test]
    fn missing_properties_are_created_and_links_are_passed_over() {
        let out = rewrite(
            r#"<w:p><w:hyperlink r:id="rId1"><w:r><w:t>link</w:t></w:r></w:hyperlink><w:r><w:t> text</w:t></w:r></w:p>"#,
            "x",
            Direction::Rtl,
            "",
        );
        assert_eq!(
            out,
            r#"<w:p><w:pPr><w:bidi/></w:pPr><w:hyperlink r:id="rId1"></w:hyperlink><w:r><w:rPr><w:rtl/></w:rPr><w:t xml:space="preserve">x</w:t></w:r></w:p>"#
        );
        let out = rewrite(
            r#"<w:p><w:pPr/><w:hyperlink r:id="rId1"><w:r><w:rPr/><w:t>all link</w:t></w:r></w:hyperlink></w:p>"#,
            "y",
            Direction::Rtl,
            "he-IL",
        );
        assert_eq!(
            out,
            r#"<w:p><w:pPr><w:bidi/></w:pPr><w:hyperlink r:id="rId1"><w:r><w:rPr><w:rtl/><w:lang w:bidi="he-IL"/></w:rPr><w:t xml:space="preserve">y</w:t></w:r></w:hyperlink></w:p>"#
        );
    }

    #[test]
    fn languages() {
        let l = |s: &str| lang_tag(s).map(|l| (l.tag, l.rtl));
        assert_eq!(l("he"), Some(("he-IL".into(), true)));
        assert_eq!(l("iw"), Some(("he-IL".into(), true)));
        assert_eq!(l("en_gb"), Some(("en-GB".into(), false)));
        assert_eq!(l("EN"), Some(("en-US".into(), false)));
        assert_eq!(l("sr-latn-rs"), Some(("sr-Latn-RS".into(), false)));
        assert_eq!(l("x\"/><w:b/>"), None);
        assert_eq!(l(""), None);
    }
}
