//! The streaming reader of one WordprocessingML part (`document.xml`, `footnotes.xml`,
//! `endnotes.xml`): paragraphs in reading order, and for each the byte ranges the writer
//! splices (its `w:pPr`, and each run that gave it text with that run's `w:rPr` and text
//! elements).
//!
//! One pass of quick-xml events over the part's bytes, nothing copied but the text: the
//! reader and the writer share this code, so the writer's paragraph `i` is exactly the
//! reader's.
//!
//! What counts as text: `w:t` (and `w:tab`, `w:ptab`, `w:br`, `w:cr` as white space, which
//! collapses to one space; `w:noBreakHyphen` as "-"; `w:sym` where it is not a private-use symbol-font
//! glyph) in runs that are not hidden (`w:vanish`, or a hidden character style), not
//! deleted (`w:del`, `w:moveFrom`) and not a field's instruction (between `w:fldChar
//! begin` and `separate`). `w:ins`, hyperlinks, content controls, smart tags and field
//! results are read like any text. Of `mc:AlternateContent` the first `mc:Choice` is read
//! (or the `mc:Fallback` when there is no Choice); the paragraphs of a Fallback not read
//! are kept aside as "shadows" so that the writer can give them the same translation.
//! Text-box paragraphs (`w:txbxContent`) come right after the paragraph that anchors them.

use std::ops::Range;

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

use super::make_paragraph;
use super::styles::{ParagraphStyle, Styles};
use super::xml::{attr, corrupt, is_on, local, Ns};
use crate::documents::{DocumentError, Paragraph, ParagraphKind};
use crate::limits::MAX_PARAGRAPHS;

/// Which part is read: the body, or a notes part (every paragraph a [`ParagraphKind::Note`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartKind {
    /// `word/document.xml`.
    Body,
    /// `word/footnotes.xml` or `word/endnotes.xml`.
    Notes,
}

/// A property element (`w:pPr`, `w:rPr`) and its direct children.
#[derive(Debug, Clone)]
pub struct Props {
    /// The whole element.
    pub range: Range<usize>,
    /// Between its start and end tags (empty at the end for `<w:rPr/>`).
    pub content: Range<usize>,
    /// Written as an empty element.
    pub empty: bool,
    /// Its direct children in document order.
    pub children: Vec<Child>,
}

/// A direct child of a property element.
#[derive(Debug, Clone)]
pub struct Child {
    /// Local name for `w:` children (`b"bidi"`), the qualified name for others.
    pub name: Vec<u8>,
    /// The whole element.
    pub range: Range<usize>,
    /// Its `w:val`.
    pub val: Option<String>,
}

impl Props {
    /// The child called `name`.
    pub fn child(&self, name: &[u8]) -> Option<&Child> {
        self.children.iter().find(|c| c.name == name)
    }
}

/// A run that gave its paragraph text.
#[derive(Debug, Clone)]
pub struct RunLayout {
    /// The whole `w:r`.
    pub range: Range<usize>,
    /// Just after its start tag.
    pub start_tag_end: usize,
    /// Its `w:rPr`.
    pub rpr: Option<Props>,
    /// Its text elements (`w:t`, `w:tab`, `w:br`, …) whose text was read.
    pub texts: Vec<Range<usize>>,
    /// It holds something besides properties and text (a drawing, a field character, a
    /// note reference, a page break): it stays, less its text.
    pub other: bool,
    /// Inside a `w:hyperlink`.
    pub in_link: bool,
    /// A field's result (`w:fldSimple`, or between `separate` and `end`).
    pub in_field: bool,
}

/// Where a paragraph's editable parts are.
#[derive(Debug, Clone)]
pub struct ParaLayout {
    /// Just after the `<w:p …>` start tag: where a missing `w:pPr` goes.
    pub start_tag_end: usize,
    /// Its `w:pPr`.
    pub ppr: Option<Props>,
    /// What its style gives it (for direction switched off against the style).
    pub style: ParagraphStyle,
    /// The runs that gave it text, in order.
    pub runs: Vec<RunLayout>,
}

/// A part read.
#[derive(Debug)]
pub struct Parsed {
    /// The prefixes the part binds.
    pub ns: Ns,
    /// Non-empty paragraphs in reading order.
    pub paragraphs: Vec<Paragraph>,
    /// `layouts[i]` is where `paragraphs[i]` sits.
    pub layouts: Vec<ParaLayout>,
    /// Paragraphs of `mc:Fallback`s not read, each with the index (in `paragraphs`) of the
    /// paragraph of the matching `mc:Choice` whose translation it takes.
    pub shadows: Vec<(usize, ParaLayout)>,
}

/// Reads a part. `tables` numbers tables across parts; `count` counts paragraphs across
/// parts against [`MAX_PARAGRAPHS`].
pub fn parse(
    xml: &[u8],
    kind: PartKind,
    styles: &Styles,
    tables: &mut u32,
    count: &mut usize,
) -> Result<Parsed, DocumentError> {
    let mut p = Parser {
        kind,
        styles,
        ns: Ns::default(),
        path: Vec::with_capacity(32),
        skip: None,
        paras: Vec::new(),
        tables: Vec::new(),
        next_table: tables,
        fields: Vec::new(),
        link_depth: 0,
        simple_field_depth: 0,
        acs: Vec::new(),
        next_ac: 0,
        out: Vec::new(),
        count,
    };
    let mut reader = Reader::from_reader(xml);
    loop {
        let start = reader.buffer_position() as usize;
        let event = reader.read_event().map_err(|e| {
            corrupt(format!(
                "XML error at byte {}: {e}",
                reader.error_position()
            ))
        })?;
        let end = reader.buffer_position() as usize;
        match event {
            Event::Start(e) => p.start(&e, start, end, false)?,
            Event::Empty(e) => p.start(&e, start, end, true)?,
            Event::End(_) => p.end(start, end)?,
            Event::Text(t) if p.in_visible_text() => {
                let s = std::str::from_utf8(&t)
                    .map_err(|_| corrupt("text that is not UTF-8".into()))?;
                p.push_text(s);
            }
            Event::CData(t) if p.in_visible_text() => {
                p.push_text(&String::from_utf8_lossy(&t));
            }
            Event::GeneralRef(r) if p.in_visible_text() => {
                let name = std::str::from_utf8(&r).unwrap_or("");
                if let Ok(Some(c)) = r.resolve_char_ref() {
                    p.push_text(c.encode_utf8(&mut [0; 4]));
                } else if let Some(s) = quick_xml::escape::resolve_predefined_entity(name) {
                    p.push_text(s);
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !p.path.is_empty() {
        return Err(corrupt("a part ends before its elements close".into()));
    }
    Ok(p.finish())
}

/// The elements whose nesting the parser follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum El {
    P,
    PPr,
    NumPr,
    Run,
    RPr,
    Text,
    Tbl,
    Tr,
    TrPr,
    Tc,
    TcPr,
    Hyperlink,
    SimpleField,
    Ac,
    Choice,
    Fallback,
    Other,
}

/// A property element being read.
#[derive(Debug)]
struct PropsBuilder {
    props: Props,
    /// Depth of the property element in the path (its children sit one deeper).
    depth: usize,
    /// A child opened but not yet closed: index into `props.children`.
    open: Option<usize>,
}

#[derive(Debug)]
struct RunBuilder {
    start: usize,
    start_tag_end: usize,
    rpr: Option<PropsBuilder>,
    texts: Vec<Range<usize>>,
    other: bool,
    hidden: bool,
    in_link: bool,
    in_field: bool,
    /// The open `w:t`: where it starts, and whether its text is read.
    open_t: Option<(usize, bool)>,
}

#[derive(Debug)]
struct ParaBuilder {
    start_tag_end: usize,
    ppr: Option<PropsBuilder>,
    style: Option<String>,
    num: Option<(i64, Option<u8>)>,
    outline: Option<u8>,
    bidi: Option<bool>,
    text: String,
    runs: Vec<RunLayout>,
    run: Option<RunBuilder>,
    cell: Option<(u32, u32, u32)>,
    /// The innermost `mc:AlternateContent` whose Choice (or taken Fallback) holds it.
    choice: Option<usize>,
    /// The innermost `mc:AlternateContent` whose unread Fallback holds it.
    shadow: Option<usize>,
    /// Finished paragraphs nested in it (text boxes), in order.
    nested: Vec<Done>,
}

#[derive(Debug)]
struct Done {
    paragraph: Paragraph,
    layout: ParaLayout,
    choice: Option<usize>,
    shadow: Option<usize>,
}

#[derive(Debug)]
struct Table {
    id: u32,
    row: Option<u32>,
    next_col: u32,
    cell_col: u32,
    span: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AcMode {
    /// Between branches.
    None,
    /// Inside the branch read.
    Read,
    /// Inside a Fallback after a Choice was read.
    Shadow,
}

#[derive(Debug)]
struct Ac {
    id: usize,
    taken: bool,
    mode: AcMode,
}

struct Parser<'a> {
    kind: PartKind,
    styles: &'a Styles,
    ns: Ns,
    path: Vec<El>,
    /// While set, everything at this depth of `path` or deeper is ignored.
    skip: Option<usize>,
    paras: Vec<ParaBuilder>,
    tables: Vec<Table>,
    next_table: &'a mut u32,
    /// Open fields: whether each has reached its result (`separate`).
    fields: Vec<bool>,
    link_depth: usize,
    simple_field_depth: usize,
    acs: Vec<Ac>,
    next_ac: usize,
    out: Vec<Done>,
    count: &'a mut usize,
}

impl Parser<'_> {
    fn start(
        &mut self,
        e: &BytesStart<'_>,
        start: usize,
        end: usize,
        empty: bool,
    ) -> Result<(), DocumentError> {
        if self.path.is_empty() && self.skip.is_none() {
            self.ns = Ns::from_root(e);
        }
        let depth = self.path.len();
        if self.skip.is_some() {
            if !empty {
                self.path.push(El::Other);
            }
            return Ok(());
        }
        let qname = e.name();
        let qname = qname.as_ref();
        let w = local(&self.ns.w, qname);
        let parent = self.path.last().copied();

        // A direct child of a property element being recorded.
        self.record_prop_child(e, qname, w, start, end, empty, depth);

        // Anything in a run besides its properties and text keeps the run.
        if parent == Some(El::Run) {
            let texty = matches!(
                w,
                Some(
                    b"rPr"
                        | b"t"
                        | b"tab"
                        | b"cr"
                        | b"noBreakHyphen"
                        | b"softHyphen"
                        | b"ptab"
                        | b"br"
                        | b"sym"
                )
            );
            if !texty {
                if let Some(run) = self.run_mut() {
                    run.other = true;
                }
            }
        }

        let mut el = El::Other;
        let mut skip = false;
        if let Some(name) = w {
            match (name, parent) {
                (b"p", _) if !empty => {
                    self.open_paragraph(end);
                    el = El::P;
                }
                (b"pPr", Some(El::P)) => {
                    let b = PropsBuilder::new(start, end, empty, depth);
                    if let Some(p) = self.paras.last_mut() {
                        p.ppr = Some(b);
                    }
                    el = El::PPr;
                }
                (b"pStyle", Some(El::PPr)) => {
                    let v = attr(e, &self.ns.w, b"val");
                    if let Some(p) = self.paras.last_mut() {
                        p.style = v;
                    }
                }
                (b"numPr", Some(El::PPr)) => {
                    if let Some(p) = self.paras.last_mut() {
                        p.num.get_or_insert((-1, None));
                    }
                    el = El::NumPr;
                }
                (b"numId" | b"ilvl", Some(El::NumPr)) => {
                    let v: Option<i64> = attr(e, &self.ns.w, b"val").and_then(|v| v.parse().ok());
                    if let Some(p) = self.paras.last_mut() {
                        let num = p.num.get_or_insert((-1, None));
                        if name == b"numId" {
                            num.0 = v.unwrap_or(0);
                        } else {
                            num.1 = v.map(|v| v.clamp(0, 9) as u8);
                        }
                    }
                }
                (b"outlineLvl", Some(El::PPr)) => {
                    let v = attr(e, &self.ns.w, b"val").and_then(|v| v.parse().ok());
                    if let Some(p) = self.paras.last_mut() {
                        p.outline = v;
                    }
                }
                (b"bidi", Some(El::PPr)) => {
                    let on = is_on(attr(e, &self.ns.w, b"val").as_deref());
                    if let Some(p) = self.paras.last_mut() {
                        p.bidi = Some(on);
                    }
                }
                (b"r", _) if !empty && !self.paras.is_empty() => {
                    let in_link = self.link_depth > 0;
                    let in_field = self.simple_field_depth > 0 || !self.fields.is_empty();
                    if let Some(p) = self.paras.last_mut() {
                        p.run = Some(RunBuilder {
                            start,
                            start_tag_end: end,
                            rpr: None,
                            texts: Vec::new(),
                            other: false,
                            hidden: false,
                            in_link,
                            in_field,
                            open_t: None,
                        });
                    }
                    el = El::Run;
                }
                (b"rPr", Some(El::Run)) => {
                    let b = PropsBuilder::new(start, end, empty, depth);
                    if let Some(run) = self.run_mut() {
                        run.rpr = Some(b);
                    }
                    el = El::RPr;
                }
                (b"rStyle", Some(El::RPr)) => {
                    let hidden = attr(e, &self.ns.w, b"val")
                        .is_some_and(|id| self.styles.character_hidden(&id));
                    if let Some(run) = self.run_mut() {
                        run.hidden |= hidden;
                    }
                }
                (b"vanish", Some(El::RPr)) => {
                    let on = is_on(attr(e, &self.ns.w, b"val").as_deref());
                    if let Some(run) = self.run_mut() {
                        run.hidden = on;
                    }
                }
                (b"t", Some(El::Run)) => {
                    let visible = self.run_visible();
                    if let Some(run) = self.run_mut() {
                        if empty {
                            if visible {
                                run.texts.push(start..end);
                            } else {
                                run.other = true;
                            }
                        } else {
                            run.open_t = Some((start, visible));
                        }
                    }
                    el = El::Text;
                }
                (b"tab" | b"ptab", Some(El::Run)) => self.text_element(start..end, "\t"),
                (b"cr", Some(El::Run)) => self.text_element(start..end, " "),
                (b"noBreakHyphen", Some(El::Run)) => self.text_element(start..end, "-"),
                (b"softHyphen", Some(El::Run)) => self.text_element(start..end, ""),
                (b"br", Some(El::Run)) => {
                    let kind = attr(e, &self.ns.w, b"type");
                    if matches!(kind.as_deref(), Some("page" | "column")) {
                        // A page break stays; the text around it is still apart.
                        if let Some(run) = self.run_mut() {
                            run.other = true;
                        }
                        if self.run_visible() {
                            self.push_text(" ");
                        }
                    } else {
                        self.text_element(start..end, " ");
                    }
                }
                (b"sym", Some(El::Run)) => {
                    let c = attr(e, &self.ns.w, b"char")
                        .and_then(|h| u32::from_str_radix(h.trim(), 16).ok())
                        .and_then(char::from_u32)
                        .filter(|c| !('\u{E000}'..='\u{F8FF}').contains(c) && !c.is_control());
                    match c {
                        Some(c) => self.text_element(start..end, c.encode_utf8(&mut [0; 4])),
                        None => {
                            if let Some(run) = self.run_mut() {
                                run.other = true;
                            }
                        }
                    }
                }
                (b"fldChar", _) => match attr(e, &self.ns.w, b"fldCharType").as_deref() {
                    Some("begin") => self.fields.push(false),
                    Some("separate") => {
                        if let Some(f) = self.fields.last_mut() {
                            *f = true;
                        }
                    }
                    Some("end") => {
                        self.fields.pop();
                    }
                    _ => {}
                },
                (b"fldSimple", _) if !empty => {
                    self.simple_field_depth += 1;
                    el = El::SimpleField;
                }
                (b"hyperlink", _) if !empty => {
                    self.link_depth += 1;
                    el = El::Hyperlink;
                }
                (
                    b"instrText" | b"delInstrText" | b"delText" | b"pPrChange" | b"rPrChange"
                    | b"sectPrChange" | b"tblPrChange" | b"tblPrExChange" | b"trPrChange"
                    | b"tcPrChange" | b"tblGridChange" | b"numberingChange" | b"rt",
                    _,
                ) => skip = true,
                (b"del" | b"moveFrom", p) if !matches!(p, Some(El::RPr | El::PPr)) => skip = true,
                (b"tbl", _) if !empty => {
                    let id = if self.in_shadow() {
                        u32::MAX
                    } else {
                        let id = *self.next_table;
                        *self.next_table += 1;
                        id
                    };
                    self.tables.push(Table {
                        id,
                        row: None,
                        next_col: 0,
                        cell_col: 0,
                        span: 1,
                    });
                    el = El::Tbl;
                }
                (b"tr", _) => {
                    if let Some(t) = self.tables.last_mut() {
                        t.row = Some(t.row.map_or(0, |r| r + 1));
                        t.next_col = 0;
                    }
                    if !empty {
                        el = El::Tr;
                    }
                }
                (b"trPr", Some(El::Tr)) => el = El::TrPr,
                (b"gridBefore", Some(El::TrPr)) => {
                    let n: u32 = attr(e, &self.ns.w, b"val")
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0);
                    if let Some(t) = self.tables.last_mut() {
                        t.next_col = t.next_col.saturating_add(n.min(1000));
                    }
                }
                (b"tc", _) => {
                    if let Some(t) = self.tables.last_mut() {
                        t.cell_col = t.next_col;
                        t.span = 1;
                        if empty {
                            t.next_col = t.next_col.saturating_add(1);
                        }
                    }
                    if !empty {
                        el = El::Tc;
                    }
                }
                (b"tcPr", Some(El::Tc)) => el = El::TcPr,
                (b"gridSpan", Some(El::TcPr)) => {
                    let n: u32 = attr(e, &self.ns.w, b"val")
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(1);
                    if let Some(t) = self.tables.last_mut() {
                        t.span = n.clamp(1, 1000);
                    }
                }
                (b"footnote" | b"endnote", _) if self.kind == PartKind::Notes => {
                    let special = attr(e, &self.ns.w, b"type").is_some_and(|t| t != "normal");
                    let id: i64 = attr(e, &self.ns.w, b"id")
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(1);
                    skip = special || id <= 0;
                }
                _ => {}
            }
        } else if let Some(name) = local(&self.ns.mc, qname) {
            match name {
                b"AlternateContent" if !empty => {
                    self.acs.push(Ac {
                        id: self.next_ac,
                        taken: false,
                        mode: AcMode::None,
                    });
                    self.next_ac += 1;
                    el = El::Ac;
                }
                b"Choice" | b"Fallback" if parent == Some(El::Ac) && !empty => {
                    let is_choice = name == b"Choice";
                    if let Some(ac) = self.acs.last_mut() {
                        if !ac.taken {
                            ac.taken = true;
                            ac.mode = AcMode::Read;
                        } else if is_choice {
                            skip = true;
                        } else {
                            ac.mode = AcMode::Shadow;
                        }
                    }
                    el = if is_choice { El::Choice } else { El::Fallback };
                }
                _ => {}
            }
        }
        if !empty {
            self.path.push(el);
            if skip {
                self.skip = Some(self.path.len());
            }
        }
        Ok(())
    }

    fn end(&mut self, start: usize, end: usize) -> Result<(), DocumentError> {
        let depth = self.path.len();
        let Some(el) = self.path.pop() else {
            return Err(corrupt("an end tag without its start".into()));
        };
        // A property child closes whether or not its content was skipped.
        self.close_prop_child(depth - 1, end);
        if let Some(skip_depth) = self.skip {
            if depth > skip_depth {
                return Ok(());
            }
            self.skip = None;
            return Ok(());
        }
        match el {
            El::P => self.close_paragraph()?,
            El::PPr => {
                if let Some(p) = self.paras.last_mut() {
                    if let Some(b) = p.ppr.as_mut() {
                        b.close(start, end);
                    }
                }
            }
            El::RPr => {
                if let Some(run) = self.run_mut() {
                    if let Some(b) = run.rpr.as_mut() {
                        b.close(start, end);
                    }
                }
            }
            El::Text => {
                if let Some(run) = self.run_mut() {
                    if let Some((t_start, visible)) = run.open_t.take() {
                        if visible {
                            run.texts.push(t_start..end);
                        } else {
                            run.other = true;
                        }
                    }
                }
            }
            El::Run => {
                if let Some(p) = self.paras.last_mut() {
                    if let Some(run) = p.run.take() {
                        if !run.texts.is_empty() {
                            p.runs.push(RunLayout {
                                range: run.start..end,
                                start_tag_end: run.start_tag_end,
                                rpr: run.rpr.map(|b| b.props),
                                texts: run.texts,
                                other: run.other,
                                in_link: run.in_link,
                                in_field: run.in_field,
                            });
                        }
                    }
                }
            }
            El::Tbl => {
                self.tables.pop();
            }
            El::Tc => {
                if let Some(t) = self.tables.last_mut() {
                    t.next_col = t.next_col.saturating_add(t.span);
                }
            }
            El::Hyperlink => self.link_depth -= 1,
            El::SimpleField => self.simple_field_depth -= 1,
            El::Ac => {
                self.acs.pop();
            }
            El::Choice | El::Fallback => {
                if let Some(ac) = self.acs.last_mut() {
                    ac.mode = AcMode::None;
                }
            }
            El::NumPr | El::Tr | El::TrPr | El::TcPr | El::Other => {}
        }
        Ok(())
    }

    /// Records a direct child of the `w:pPr` or `w:rPr` being read.
    #[allow(clippy::too_many_arguments)]
    fn record_prop_child(
        &mut self,
        e: &BytesStart<'_>,
        qname: &[u8],
        w: Option<&[u8]>,
        start: usize,
        end: usize,
        empty: bool,
        depth: usize,
    ) {
        if self.open_props_at(depth).is_none() {
            return;
        }
        let val = attr(e, &self.ns.w, b"val");
        let Some(b) = self.open_props_at(depth) else {
            return;
        };
        let name = w.unwrap_or(qname).to_vec();
        b.props.children.push(Child {
            name,
            range: start..end,
            val,
        });
        if !empty {
            b.open = Some(b.props.children.len() - 1);
        }
    }

    fn close_prop_child(&mut self, depth: usize, end: usize) {
        if let Some(b) = self.open_props_at(depth) {
            if let Some(i) = b.open.take() {
                b.props.children[i].range.end = end;
            }
        }
    }

    /// The property element being read whose children sit at `depth`.
    fn open_props_at(&mut self, depth: usize) -> Option<&mut PropsBuilder> {
        let p = self.paras.last_mut()?;
        if let Some(run) = p.run.as_mut() {
            if let Some(b) = run.rpr.as_mut() {
                if b.depth + 1 == depth && b.props.range.end == usize::MAX {
                    return Some(b);
                }
            }
        }
        let b = p.ppr.as_mut()?;
        (b.depth + 1 == depth && b.props.range.end == usize::MAX).then_some(b)
    }

    fn open_paragraph(&mut self, start_tag_end: usize) {
        let cell = self
            .tables
            .last()
            .map(|t| (t.id, t.row.unwrap_or(0), t.cell_col));
        let choice = self
            .acs
            .iter()
            .rev()
            .find(|a| a.mode == AcMode::Read)
            .map(|a| a.id);
        let shadow = self
            .acs
            .iter()
            .rev()
            .find(|a| a.mode == AcMode::Shadow)
            .map(|a| a.id);
        self.paras.push(ParaBuilder {
            start_tag_end,
            ppr: None,
            style: None,
            num: None,
            outline: None,
            bidi: None,
            text: String::new(),
            runs: Vec::new(),
            run: None,
            cell,
            choice,
            shadow,
            nested: Vec::new(),
        });
    }

    fn close_paragraph(&mut self) -> Result<(), DocumentError> {
        let Some(p) = self.paras.pop() else {
            return Ok(());
        };
        let mut done = Vec::with_capacity(1 + p.nested.len());
        let style = self.styles.paragraph(p.style.as_deref());
        let kind = self.kind_of(&p, &style);
        let declared_rtl = p.bidi.unwrap_or(style.bidi);
        if let Some(paragraph) = make_paragraph(kind, &clean_text(&p.text), declared_rtl) {
            if p.shadow.is_none() {
                *self.count += 1;
                if *self.count > MAX_PARAGRAPHS {
                    return Err(DocumentError::TooLarge {
                        what: "the number of paragraphs".into(),
                        limit: format!("{MAX_PARAGRAPHS} paragraphs"),
                    });
                }
            }
            done.push(Done {
                paragraph,
                layout: ParaLayout {
                    start_tag_end: p.start_tag_end,
                    ppr: p.ppr.map(|b| b.props),
                    style,
                    runs: p.runs,
                },
                choice: p.choice,
                shadow: p.shadow,
            });
        }
        done.extend(p.nested);
        match self.paras.last_mut() {
            Some(outer) => outer.nested.extend(done),
            None => self.out.extend(done),
        }
        Ok(())
    }

    fn kind_of(&self, p: &ParaBuilder, style: &ParagraphStyle) -> ParagraphKind {
        if self.kind == PartKind::Notes {
            return ParagraphKind::Note;
        }
        if let Some((table, row, column)) = p.cell {
            return ParagraphKind::TableCell { table, row, column };
        }
        let heading = match p.outline {
            Some(l) if l < 9 => Some(l + 1),
            Some(_) => None,
            None => style.heading,
        };
        if let Some(level) = heading {
            return ParagraphKind::Heading { level };
        }
        let list = match p.num {
            Some((0, _)) => None,
            Some((-1, ilvl)) => style.list.map(|l| ilvl.map_or(l, |i| i + 1)),
            Some((_, ilvl)) => Some(ilvl.unwrap_or(0) + 1),
            None => style.list,
        };
        let list = match (list, style.list_named) {
            (Some(l), Some(named)) => Some(l.max(named)),
            (list, _) => list,
        };
        match list {
            Some(level) => ParagraphKind::ListItem { level },
            None => ParagraphKind::Body,
        }
    }

    fn finish(self) -> Parsed {
        let mut paragraphs = Vec::with_capacity(self.out.len());
        let mut layouts = Vec::with_capacity(self.out.len());
        let mut shadow_list: Vec<(usize, String, ParaLayout)> = Vec::new();
        let mut choice_of: Vec<(usize, usize)> = Vec::new();
        for d in self.out {
            if let Some(ac) = d.shadow {
                shadow_list.push((ac, d.paragraph.text, d.layout));
                continue;
            }
            if let Some(ac) = d.choice {
                choice_of.push((ac, paragraphs.len()));
            }
            paragraphs.push(d.paragraph);
            layouts.push(d.layout);
        }
        // The k-th shadow of an AlternateContent takes the translation of its k-th read
        // paragraph, when both say the same.
        let mut shadows = Vec::new();
        let mut k_of: std::collections::HashMap<usize, usize> = Default::default();
        for (ac, text, layout) in shadow_list {
            let k = k_of.entry(ac).or_insert(0);
            let target = choice_of
                .iter()
                .filter(|(a, _)| *a == ac)
                .nth(*k)
                .map(|(_, i)| *i);
            *k += 1;
            if let Some(i) = target {
                if paragraphs[i].text == text {
                    shadows.push((i, layout));
                }
            }
        }
        Parsed {
            ns: self.ns,
            paragraphs,
            layouts,
            shadows,
        }
    }

    fn run_mut(&mut self) -> Option<&mut RunBuilder> {
        self.paras.last_mut()?.run.as_mut()
    }

    fn in_shadow(&self) -> bool {
        self.acs.iter().any(|a| a.mode == AcMode::Shadow)
    }

    /// Whether text in the current run is read now.
    fn run_visible(&self) -> bool {
        let Some(run) = self.paras.last().and_then(|p| p.run.as_ref()) else {
            return false;
        };
        !run.hidden && self.fields.iter().all(|&result| result)
    }

    fn in_visible_text(&self) -> bool {
        self.skip.is_none()
            && self.path.last() == Some(&El::Text)
            && self
                .paras
                .last()
                .and_then(|p| p.run.as_ref())
                .and_then(|r| r.open_t)
                .is_some_and(|(_, visible)| visible)
    }

    /// A text element (`w:tab`, `w:br`, …) that reads as `text`.
    fn text_element(&mut self, range: Range<usize>, text: &str) {
        let visible = self.run_visible();
        let Some(run) = self.run_mut() else { return };
        if visible {
            run.texts.push(range);
            self.push_text(text);
        } else {
            run.other = true;
        }
    }

    fn push_text(&mut self, s: &str) {
        let Some(p) = self.paras.last_mut() else {
            return;
        };
        if s == " " && p.text.ends_with([' ', '\t']) {
            return;
        }
        p.text.push_str(s);
    }
}

impl PropsBuilder {
    fn new(start: usize, end: usize, empty: bool, depth: usize) -> Self {
        PropsBuilder {
            props: Props {
                range: start..if empty { end } else { usize::MAX },
                content: end..end,
                empty,
                children: Vec::new(),
            },
            depth,
            open: None,
        }
    }

    fn close(&mut self, end_tag_start: usize, end: usize) {
        self.props.content.end = end_tag_start;
        self.props.range.end = end;
    }
}

/// A paragraph's text as the model wants it: line breaks and controls made spaces (tabs
/// kept), trimmed.
fn clean_text(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        match c {
            '\t' => out.push('\t'),
            '\n' | '\r' | '\u{b}' | '\u{c}' | '\u{85}' | '\u{2028}' | '\u{2029}' => {
                if !out.ends_with(' ') {
                    out.push(' ')
                }
            }
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out.trim_matches(|c: char| c.is_whitespace()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::documents::Direction;

    fn body(inner: &str) -> String {
        format!(
            r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main" xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006"><w:body>{inner}<w:sectPr/></w:body></w:document>"#
        )
    }

    fn read(inner: &str) -> Parsed {
        let styles = Styles::default();
        parse(
            body(inner).as_bytes(),
            PartKind::Body,
            &styles,
            &mut 0,
            &mut 0,
        )
        .unwrap()
    }

    fn texts(inner: &str) -> Vec<String> {
        read(inner).paragraphs.into_iter().map(|p| p.text).collect()
    }

    #[test]
    fn runs_tabs_breaks_and_entities() {
        let t = texts(
            r#"<w:p><w:r><w:t>a &amp; b</w:t><w:tab/><w:t>c</w:t><w:br/><w:t xml:space="preserve">d </w:t></w:r><w:r><w:t>e&#x5D0;</w:t></w:r></w:p><w:p/><w:p><w:r><w:t> </w:t></w:r></w:p>"#,
        );
        assert_eq!(t, vec!["a & b c d eא"]);
    }

    #[test]
    fn fields_keep_the_result_and_drop_the_instruction() {
        let t = texts(
            r#"<w:p><w:r><w:t>Page </w:t></w:r><w:r><w:fldChar w:fldCharType="begin"/></w:r><w:r><w:instrText>PAGE</w:instrText></w:r><w:r><w:fldChar w:fldCharType="separate"/></w:r><w:r><w:t>7</w:t></w:r><w:r><w:fldChar w:fldCharType="end"/></w:r><w:fldSimple w:instr="NUMPAGES"><w:r><w:t>9</w:t></w:r></w:fldSimple></w:p>"#,
        );
        assert_eq!(t, vec!["Page 79"]);
    }

    #[test]
    fn tracked_changes_hidden_text_and_alternate_content() {
        let t = texts(
            r#"<w:p><w:del><w:r><w:delText>old</w:delText></w:r></w:del><w:ins><w:r><w:t>new</w:t></w:r></w:ins><w:r><w:rPr><w:vanish/></w:rPr><w:t>secret</w:t></w:r></w:p>
<w:p><w:r><w:t>anchor</w:t></w:r><w:r><mc:AlternateContent><mc:Choice Requires="wps"><w:drawing><w:txbxContent><w:p><w:r><w:t>box</w:t></w:r></w:p></w:txbxContent></w:drawing></mc:Choice><mc:Fallback><w:pict><w:txbxContent><w:p><w:r><w:t>box</w:t></w:r></w:p></w:txbxContent></w:pict></mc:Fallback></mc:AlternateContent></w:r></w:p><w:p><w:r><w:t>after</w:t></w:r></w:p>"#,
        );
        assert_eq!(t, vec!["new", "anchor", "box", "after"]);
        let parsed = read(
            r#"<w:p><w:r><mc:AlternateContent><mc:Choice Requires="wps"><w:drawing><w:txbxContent><w:p><w:r><w:t>box</w:t></w:r></w:p></w:txbxContent></w:drawing></mc:Choice><mc:Fallback><w:pict><w:txbxContent><w:p><w:r><w:t>box</w:t></w:r></w:p></w:txbxContent></w:pict></mc:Fallback></mc:AlternateContent></w:r></w:p>"#,
        );
        assert_eq!(parsed.paragraphs.len(), 1);
        assert_eq!(parsed.shadows.len(), 1);
        assert_eq!(parsed.shadows[0].0, 0);
    }

    #[test]
    fn tables_lists_headings_and_direction() {
        let parsed = read(
            r#"<w:p><w:pPr><w:outlineLvl w:val="1"/></w:pPr><w:r><w:t>Head</w:t></w:r></w:p>
<w:p><w:pPr><w:numPr><w:ilvl w:val="1"/><w:numId w:val="4"/></w:numPr><w:bidi/></w:pPr><w:r><w:t>Item</w:t></w:r></w:p>
<w:tbl><w:tr><w:tc><w:tcPr><w:gridSpan w:val="2"/></w:tcPr><w:p><w:r><w:t>A</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>B</w:t></w:r></w:p></w:tc></w:tr>
<w:tr><w:tc><w:p/></w:tc><w:tc><w:p><w:r><w:t>שלום</w:t></w:r></w:p></w:tc></w:tr></w:tbl>"#,
        );
        let k: Vec<_> = parsed
            .paragraphs
            .iter()
            .map(|p| (p.kind, p.direction))
            .collect();
        assert_eq!(
            k,
            vec![
                (ParagraphKind::Heading { level: 2 }, Direction::Ltr),
                (ParagraphKind::ListItem { level: 2 }, Direction::Rtl),
                (
                    ParagraphKind::TableCell {
                        table: 0,
                        row: 0,
                        column: 0
                    },
                    Direction::Ltr
                ),
                (
                    ParagraphKind::TableCell {
                        table: 0,
                        row: 0,
                        column: 2
                    },
                    Direction::Ltr
                ),
                (
                    ParagraphKind::TableCell {
                        table: 0,
                        row: 1,
                        column: 1
                    },
                    Direction::Rtl
                ),
            ]
        );
        let l = &parsed.layouts[1];
        let ppr = l.ppr.as_ref().unwrap();
        let names: Vec<_> = ppr.children.iter().map(|c| c.name.clone()).collect();
        assert_eq!(names, vec![b"numPr".to_vec(), b"bidi".to_vec()]);
    }

    #[test]
    fn too_many_paragraphs_are_refused() {
        let src = body("<w:p><w:r><w:t>x</w:t></w:r></w:p><w:p><w:r><w:t>y</w:t></w:r></w:p>");
        let mut count = MAX_PARAGRAPHS - 1;
        let got = parse(
            src.as_bytes(),
            PartKind::Body,
            &Styles::default(),
            &mut 0,
            &mut count,
        );
        assert!(
            matches!(got, Err(DocumentError::TooLarge { .. })),
            "{got:?}"
        );
        let broken = parse(
            b"<w:document><w:p>",
            PartKind::Body,
            &Styles::default(),
            &mut 0,
            &mut 0,
        );
        assert!(
            matches!(broken, Err(DocumentError::Corrupt { .. })),
            "{broken:?}"
        );
    }

    #[test]
    fn layout_ranges_point_at_the_elements() {
        let src = body(
            r#"<w:p><w:pPr><w:jc w:val="left"/></w:pPr><w:r><w:rPr><w:b/></w:rPr><w:t>x</w:t></w:r><w:r><w:drawing/><w:t>y</w:t></w:r></w:p>"#,
        );
        let parsed = parse(
            src.as_bytes(),
            PartKind::Body,
            &Styles::default(),
            &mut 0,
            &mut 0,
        )
        .unwrap();
        let l = &parsed.layouts[0];
        let s = |r: &Range<usize>| &src[r.clone()];
        let ppr = l.ppr.as_ref().unwrap();
        assert_eq!(s(&ppr.range), r#"<w:pPr><w:jc w:val="left"/></w:pPr>"#);
        assert_eq!(s(&ppr.children[0].range), r#"<w:jc w:val="left"/>"#);
        assert_eq!(ppr.children[0].val.as_deref(), Some("left"));
        assert_eq!(
            s(&l.runs[0].range),
            r#"<w:r><w:rPr><w:b/></w:rPr><w:t>x</w:t></w:r>"#
        );
        assert_eq!(s(&l.runs[0].rpr.as_ref().unwrap().content), "<w:b/>");
        assert_eq!(s(&l.runs[0].texts[0]), "<w:t>x</w:t>");
        assert!(!l.runs[0].other && l.runs[1].other);
        assert_eq!(&src[l.start_tag_end - 5..l.start_tag_end], "<w:p>");
    }
}
