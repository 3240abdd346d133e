//! `word/styles.xml`: what a paragraph style says about headings, lists and direction,
//! resolved through `w:basedOn`.

use std::collections::HashMap;

use quick_xml::events::Event;
use quick_xml::Reader;

use super::xml::{attr, is_on, local, Ns};

/// One paragraph or character style, as declared (not yet resolved).
#[derive(Debug, Default, Clone)]
struct Style {
    name: String,
    based_on: Option<String>,
    outline_level: Option<u8>,
    /// `w:numPr` in the style: `(numId, ilvl)`; numId 0 switches numbering off.
    num: Option<(i64, Option<u8>)>,
    bidi: Option<bool>,
    rtl: Option<bool>,
    vanish: Option<bool>,
}

/// The styles of a document, with the defaults of `w:docDefaults`.
#[derive(Debug, Default)]
pub struct Styles {
    styles: HashMap<String, Style>,
    /// The style used where a paragraph names none (`w:default="1"`).
    default_paragraph: Option<String>,
    default_bidi: Option<bool>,
    default_rtl: Option<bool>,
}

/// What a paragraph's style gives it, resolved through `basedOn`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ParagraphStyle {
    /// Heading level from 1, from `w:outlineLvl` or a "heading N"/"Title" name.
    pub heading: Option<u8>,
    /// List level from 1, from the style's `w:numPr` (or a "List Bullet 2" name).
    pub list: Option<u8>,
    /// The list level the style's name says ("List Number 2" → 2).
    pub list_named: Option<u8>,
    /// `w:bidi` the style (or the defaults) sets.
    pub bidi: bool,
    /// `w:rtl` the style's run properties (or the defaults) set.
    pub rtl: bool,
}

impl Styles {
    /// Parses `styles.xml`; a broken one is an error (Word refuses those too).
    pub fn parse(xml: &[u8]) -> Result<Styles, String> {
        let mut reader = Reader::from_reader(xml);
        let mut ns = Ns::default();
        let mut out = Styles::default();
        // Where we are: inside w:docDefaults, a w:style, its pPr / rPr / numPr.
        let mut cur: Option<(String, Style, bool)> = None;
        let mut in_defaults = false;
        let mut path: Vec<Vec<u8>> = Vec::new();
        loop {
            let event = reader.read_event().map_err(|e| e.to_string())?;
            let (e, empty) = match &event {
                Event::Start(e) => (e, false),
                Event::Empty(e) => (e, true),
                Event::End(_) => {
                    let name = path.pop().unwrap_or_default();
                    match name.as_slice() {
                        b"style" => {
                            if let Some((id, style, default)) = cur.take() {
                                if default && out.default_paragraph.is_none() {
                                    out.default_paragraph = Some(id.clone());
                                }
                                out.styles.insert(id, style);
                            }
                        }
                        b"docDefaults" => in_defaults = false,
                        _ => {}
                    }
                    continue;
                }
                Event::Eof => break,
                _ => continue,
            };
            if path.is_empty() {
                ns = Ns::from_root(e);
            }
            let Some(name) = local(&ns.w, e.name().as_ref()).map(<[u8]>::to_vec) else {
                if !empty {
                    path.push(Vec::new());
                }
                continue;
            };
            let parent = path.last().map(Vec::as_slice).unwrap_or(b"");
            let in_ppr = parent == b"pPr";
            let in_rpr = parent == b"rPr";
            match name.as_slice() {
                b"docDefaults" => in_defaults = true,
                b"style" => {
                    let id = attr(e, &ns.w, b"styleId").unwrap_or_default();
                    let default = is_on(attr(e, &ns.w, b"default").as_deref());
                    let kind = attr(e, &ns.w, b"type").unwrap_or_else(|| "paragraph".into());
                    cur = Some((id, Style::default(), default && kind == "paragraph"));
                }
                b"name" if parent == b"style" => {
                    if let Some((_, s, _)) = cur.as_mut() {
                        s.name = attr(e, &ns.w, b"val").unwrap_or_default();
                    }
                }
                b"basedOn" if parent == b"style" => {
                    if let Some((_, s, _)) = cur.as_mut() {
                        s.based_on = attr(e, &ns.w, b"val");
                    }
                }
                b"outlineLvl" if in_ppr => {
                    if let Some((_, s, _)) = cur.as_mut() {
                        s.outline_level = attr(e, &ns.w, b"val").and_then(|v| v.parse().ok());
                    }
                }
                b"numPr" if in_ppr => {
                    if let Some((_, s, _)) = cur.as_mut() {
                        s.num.get_or_insert((-1, None));
                    }
                }
                b"numId" | b"ilvl" if parent == b"numPr" => {
                    if let Some((_, s, _)) = cur.as_mut() {
                        let v: Option<i64> = attr(e, &ns.w, b"val").and_then(|v| v.parse().ok());
                        let num = s.num.get_or_insert((-1, None));
                        if name == b"numId" {
                            num.0 = v.unwrap_or(0);
                        } else {
                            num.1 = v.map(|v| v.clamp(0, 9) as u8);
                        }
                    }
                }
                b"bidi" if in_ppr => {
                    let on = is_on(attr(e, &ns.w, b"val").as_deref());
                    match cur.as_mut() {
                        Some((_, s, _)) => s.bidi = Some(on),
                        None if in_defaults => out.default_bidi = Some(on),
                        None => {}
                    }
                }
                b"rtl" | b"vanish" if in_rpr => {
                    let on = is_on(attr(e, &ns.w, b"val").as_deref());
                    match cur.as_mut() {
                        Some((_, s, _)) if name == b"rtl" => s.rtl = Some(on),
                        Some((_, s, _)) => s.vanish = Some(on),
                        None if in_defaults && name == b"rtl" => out.default_rtl = Some(on),
                        None => {}
                    }
                }
                _ => {}
            }
            if !empty {
                path.push(name);
            }
        }
        Ok(out)
    }

    /// What paragraph style `id` (or the default paragraph style) resolves to.
    pub fn paragraph(&self, id: Option<&str>) -> ParagraphStyle {
        let mut out = ParagraphStyle {
            bidi: self.default_bidi.unwrap_or(false),
            rtl: self.default_rtl.unwrap_or(false),
            ..Default::default()
        };
        let Some(id) = id.or(self.default_paragraph.as_deref()) else {
            return out;
        };
        let chain = self.chain(id);
        // The first style in the chain (the most derived) that says something wins.
        let first = |f: &dyn Fn(&Style) -> Option<bool>| chain.iter().find_map(|s| f(s));
        if let Some(b) = first(&|s| s.bidi) {
            out.bidi = b;
        }
        if let Some(r) = first(&|s| s.rtl) {
            out.rtl = r;
        }
        out.heading = chain.iter().find_map(|s| {
            heading_from_name(&s.name).or_else(|| s.outline_level.filter(|&l| l < 9).map(|l| l + 1))
        });
        if chain.is_empty() {
            out.heading = heading_from_name(id);
        }
        // numPr: the most derived style with one decides; numId 0 switches lists off.
        if let Some((num_id, ilvl)) = chain.iter().find_map(|s| s.num) {
            if num_id != 0 {
                // Word's "List Number 2" is a list of its own at ilvl 0, indented as the
                // second level: its name says the level the reader sees.
                // (LibreOffice writes it with an explicit ilvl 0).
                let named = chain.iter().find_map(|s| list_from_name(&s.name));
                out.list = Some(ilvl.map_or(1, |i| i + 1).max(named.unwrap_or(1)));
                out.list_named = named;
            }
        } else if let Some(level) = chain.iter().find_map(|s| list_from_name(&s.name)) {
            out.list = Some(level);
        }
        out
    }

    /// Whether character style `id` hides its text.
    pub fn character_hidden(&self, id: &str) -> bool {
        self.chain(id)
            .iter()
            .find_map(|s| s.vanish)
            .unwrap_or(false)
    }

    /// `id` and the styles it is based on, most derived first (cycles cut, 16 deep at most).
    fn chain(&self, id: &str) -> Vec<&Style> {
        let mut out: Vec<&Style> = Vec::new();
        let mut next = Some(id);
        while let Some(id) = next {
            let Some(style) = self.styles.get(id) else {
                break;
            };
            if out.len() >= 16 || out.iter().any(|s| std::ptr::eq(*s, style)) {
                break;
            }
            out.push(style);
            next = style.based_on.as_deref();
        }
        out
    }
}

/// "heading 2" → 2, "Title" → 1 (also style ids "Heading2", "Title").
fn heading_from_name(name: &str) -> Option<u8> {
    let lower = name.trim().to_ascii_lowercase();
    if lower == "title" {
        return Some(1);
    }
    let rest = lower.strip_prefix("heading")?.trim();
    match rest.parse::<u8>() {
        Ok(n @ 1..=9) => Some(n),
        _ => None,
    }
}

/// "List Bullet" → 1, "List Number 3" → 3.
fn list_from_name(name: &str) -> Option<u8> {
    let lower = name.trim().to_ascii_lowercase();
    let rest = lower
        .strip_prefix("list bullet")
        .or_else(|| lower.strip_prefix("list number"))?
        .trim();
    if rest.is_empty() {
        return Some(1);
    }
    rest.parse::<u8>().ok().filter(|n| (1..=9).contains(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    const XML: &str = r#"<?xml version="1.0"?>
<w:styles xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">
 <w:docDefaults><w:pPrDefault><w:pPr/></w:pPrDefault></w:docDefaults>
 <w:style w:type="paragraph" w:default="1" w:styleId="Normal"><w:name w:val="Normal"/></w:style>
 <w:style w:type="paragraph" w:styleId="1"><w:name w:val="heading 1"/><w:basedOn w:val="Normal"/></w:style>
 <w:style w:type="paragraph" w:styleId="MyH"><w:name w:val="My heading"/><w:basedOn w:val="Normal"/>
   <w:pPr><w:outlineLvl w:val="1"/><w:bidi/></w:pPr></w:style>
 <w:style w:type="paragraph" w:styleId="Sub"><w:name w:val="Sub"/><w:basedOn w:val="MyH"/></w:style>
 <w:style w:type="paragraph" w:styleId="LB2"><w:name w:val="List Bullet 2"/>
   <w:pPr><w:numPr><w:ilvl w:val="1"/><w:numId w:val="3"/></w:numPr></w:pPr></w:style>
 <w:style w:type="paragraph" w:styleId="NoList"><w:name w:val="x"/><w:basedOn w:val="LB2"/>
   <w:pPr><w:numPr><w:numId w:val="0"/></w:numPr></w:pPr></w:style>
 <w:style w:type="character" w:styleId="Hid"><w:name w:val="hid"/><w:rPr><w:vanish/></w:rPr></w:style>
 <w:style w:type="paragraph" w:styleId="Loop"><w:name w:val="Loop"/><w:basedOn w:val="Loop"/></w:style>
</w:styles>"#;

    #[test]
    fn resolves_headings_lists_and_bidi_through_based_on() {
        let s = Styles::parse(XML.as_bytes()).unwrap();
        assert_eq!(s.paragraph(Some("1")).heading, Some(1));
        let sub = s.paragraph(Some("Sub"));
        assert_eq!((sub.heading, sub.bidi), (Some(2), true));
        assert_eq!(s.paragraph(Some("LB2")).list, Some(2));
        assert_eq!(s.paragraph(Some("NoList")).list, None);
        assert_eq!(s.paragraph(None), ParagraphStyle::default());
        assert_eq!(s.paragraph(Some("Loop")).heading, None);
        assert_eq!(s.paragraph(Some("Heading3")).heading, Some(3));
        assert!(s.character_hidden("Hid"));
        assert!(!s.character_hidden("Normal"));
    }
}
