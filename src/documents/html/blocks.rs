//! The paragraphs of a page: the text of its main content, cut where block elements
//! start and end, each with the byte ranges a writer needs to put a translation back.
//!
//! Main content is the first `<main>`, else the `<article>`s, else the body; `script`,
//! `style`, `nav`, `aside`, forms, hidden elements and the page's own header and footer
//! are left out. `dir` attributes give paragraphs their direction, `<html lang>` the
//! document's language.

use std::ops::Range;

use super::entities::decode;
use super::tokens::{tokenize, Tag, Token};
use crate::documents::{Direction, Paragraph, ParagraphKind};

/// Elements whose content is never text to read.
const SKIPPED: [&str; 20] = [
    "head", "title", "script", "style", "noscript", "template", "svg", "math", "button", "select",
    "option", "iframe", "object", "canvas", "nav", "aside", "form", "dialog", "footer", "map",
];
/// Elements that start and end paragraphs.
const BLOCKS: [&str; 40] = [
    "html",
    "body",
    "main",
    "article",
    "section",
    "header",
    "footer",
    "div",
    "p",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "ul",
    "ol",
    "li",
    "dl",
    "dt",
    "dd",
    "table",
    "caption",
    "thead",
    "tbody",
    "tfoot",
    "tr",
    "td",
    "th",
    "blockquote",
    "pre",
    "figure",
    "figcaption",
    "address",
    "hr",
    "fieldset",
    "legend",
    "details",
    "summary",
    "center",
];
/// Elements that never have content or an end tag.
const VOID: [&str; 14] = [
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source",
    "track", "wbr",
];
/// Inline elements that are not text but must survive a rewrite of their paragraph.
const EMBEDDED: [&str; 6] = ["img", "picture", "video", "audio", "embed", "input"];
/// ARIA roles of boilerplate.
const BOILERPLATE_ROLES: [&str; 5] = [
    "navigation",
    "banner",
    "contentinfo",
    "complementary",
    "search",
];

/// One paragraph of a page and where it is.
#[derive(Debug, Clone)]
pub struct Block {
    /// The paragraph.
    pub paragraph: Paragraph,
    /// The bytes a translation replaces: its text and the inline markup between.
    pub content: Range<usize>,
    /// Embedded elements (images, skipped subtrees) inside `content`, kept on rewrite.
    pub keep: Vec<Range<usize>>,
    /// The start tag of the block element that holds this paragraph and nothing else.
    pub element: Option<Range<usize>>,
}

/// A page as the reader sees it.
#[derive(Debug, Clone, Default)]
pub struct Page {
    /// Its paragraphs in order.
    pub blocks: Vec<Block>,
    /// `<html lang>`, as written.
    pub language: Option<String>,
    /// The `<html>` start tag, if the page has one.
    pub root: Option<Range<usize>>,
}

struct Open {
    name: String,
    skipped: bool,
    direction: Option<Direction>,
    /// Index into `containers` when a block element.
    container: Option<usize>,
}

#[derive(Default)]
struct Run {
    text: String,
    /// Where the run's context starts (after the previous block boundary) and its first
    /// and last text.
    open_at: usize,
    text_range: Option<Range<usize>>,
    keep: Vec<Range<usize>>,
    /// Inline tags in order: (position, name, is start).
    tags: Vec<(usize, String, bool)>,
}

#[derive(Default)]
struct Walker {
    stack: Vec<Open>,
    containers: Vec<Range<usize>>,
    runs_in: Vec<usize>,
    run: Run,
    blocks: Vec<(Block, Option<usize>)>,
    tables: Vec<(u32, Option<u32>, Option<u32>)>,
    next_table: u32,
    scope: Option<&'static str>,
    skipped_from: Option<(usize, usize)>,
}

/// The paragraphs of `html` (decoded to UTF-8 already).
pub fn read(html: &str) -> Page {
    let tokens = tokenize(html);
    let scope = main_scope(&tokens);
    let mut walker = Walker {
        scope,
        ..Walker::default()
    };
    let mut page = Page::default();
    for token in &tokens {
        match token {
            Token::Start(tag) => {
                if tag.name == "html" && page.root.is_none() {
                    page.root = Some(tag.span.clone());
                    page.language = tag.attribute("lang").filter(|l| !l.trim().is_empty());
                }
                walker.start(tag);
            }
            Token::End { name, span } => walker.end(name, span),
            Token::Text(range) => walker.text(html, range),
            Token::Other(_) => {}
        }
    }
    walker.flush(html.len());
    let runs_in = walker.runs_in;
    page.blocks = walker
        .blocks
        .into_iter()
        .map(|(mut block, container)| {
            block.element = container
                .filter(|&c| runs_in[c] == 1)
                .map(|c| walker.containers[c].clone());
            block
        })
        .collect();
    page
}

/// `main` when the page has one, else `article` when it has one.
fn main_scope(tokens: &[Token<'_>]) -> Option<&'static str> {
    let has = |name: &str| {
        tokens
            .iter()
            .any(|t| matches!(t, Token::Start(tag) if tag.name == name))
    };
    if has("main") {
        Some("main")
    } else if has("article") {
        Some("article")
    } else {
        None
    }
}

impl Walker {
    fn start(&mut self, tag: &Tag<'_>) {
        let name = tag.name.as_str();
        let is_block = BLOCKS.contains(&name);
        if is_block {
            if !self.stack.last().is_some_and(|o| o.skipped) {
                self.flush(tag.span.start);
            }
            self.implicit_close(name);
        }
        let parent_skipped = self.stack.last().is_some_and(|o| o.skipped);
        let skipped = parent_skipped || self.skips(tag);
        if skipped && !parent_skipped && !VOID.contains(&name) && !tag.self_closing {
            self.skipped_from = Some((tag.span.start, self.stack.len()));
        }
        if is_block && !parent_skipped {
            self.run.open_at = tag.span.end;
        } else if !skipped {
            self.inline(tag);
        } else if VOID.contains(&name) && !parent_skipped {
            self.run.keep.push(tag.span.clone());
        }
        if VOID.contains(&name) || tag.self_closing {
            return;
        }
        self.table_event(name);
        let container = is_block.then(|| {
            self.containers.push(tag.span.clone());
            self.runs_in.push(0);
            self.containers.len() - 1
        });
        let direction = match tag.attribute("dir").map(|d| d.to_ascii_lowercase()) {
            Some(d) if d == "rtl" => Some(Direction::Rtl),
            Some(d) if d == "ltr" => Some(Direction::Ltr),
            _ => self.stack.last().and_then(|o| o.direction),
        };
        self.stack.push(Open {
            name: tag.name.clone(),
            skipped,
            direction,
            container,
        });
    }

    fn skips(&self, tag: &Tag<'_>) -> bool {
        let name = tag.name.as_str();
        let in_scope = self
            .scope
            .is_some_and(|s| self.stack.iter().any(|o| o.name == s));
        let page_header = name == "header" && !in_scope;
        let role = tag
            .attribute("role")
            .unwrap_or_default()
            .to_ascii_lowercase();
        SKIPPED.contains(&name)
            || page_header
            || tag.attribute("hidden").is_some()
            || tag.attribute("aria-hidden").is_some_and(|v| v == "true")
            || BOILERPLATE_ROLES.contains(&role.as_str())
    }

    /// What the HTML parser does for `</p>`, `</li>`, `</td>` left out.
    fn implicit_close(&mut self, name: &str) {
        let closes: &[&str] = match name {
            "li" => &["li"],
            "dt" | "dd" => &["dt", "dd"],
            "td" | "th" => &["td", "th"],
            "tr" => &["tr", "td", "th"],
            _ => &[],
        };
        let stops: &[&str] = match name {
            "li" => &["ul", "ol"],
            "dt" | "dd" => &["dl"],
            "td" | "th" | "tr" => &["table", "tr"],
            _ => &[],
        };
        if self.stack.last().is_some_and(|o| o.name == "p") {
            self.pop_to(self.stack.len() - 1);
        }
        for i in (0..self.stack.len()).rev() {
            let open = self.stack[i].name.as_str();
            if closes.contains(&open) {
                self.pop_to(i);
                return;
            }
            if stops.contains(&open) && !(name == "tr" && open == "tr") {
                return;
            }
        }
    }

    fn table_event(&mut self, name: &str) {
        match name {
            "table" => {
                self.tables.push((self.next_table, None, None));
                self.next_table += 1;
            }
            "tr" => {
                if let Some(t) = self.tables.last_mut() {
                    t.1 = Some(t.1.map_or(0, |r| r + 1));
                    t.2 = None;
                }
            }
            "td" | "th" => {
                if let Some(t) = self.tables.last_mut() {
                    t.2 = Some(t.2.map_or(0, |c| c + 1));
                }
            }
            _ => {}
        }
    }

    fn end(&mut self, name: &str, span: &Range<usize>) {
        let Some(i) = self.stack.iter().rposition(|o| o.name == name) else {
            return;
        };
        let was_skipped = self.stack[i].skipped;
        let parent_skipped = i > 0 && self.stack[i - 1].skipped;
        if BLOCKS.contains(&name) && !parent_skipped {
            self.flush(span.start);
            self.run.open_at = span.end;
        } else if !was_skipped {
            self.run.tags.push((span.start, name.to_string(), false));
        }
        if let Some((from, depth)) = self.skipped_from {
            if depth == i {
                self.run.keep.push(from..span.end);
                self.skipped_from = None;
            }
        }
        self.pop_to(i);
    }

    fn pop_to(&mut self, i: usize) {
        for open in self.stack.drain(i..).rev() {
            if open.name == "table" {
                self.tables.pop();
            }
        }
    }

    fn inline(&mut self, tag: &Tag<'_>) {
        let name = tag.name.as_str();
        if name == "br" || name == "wbr" {
            if name == "br" {
                self.run.text.push(' ');
            }
            return;
        }
        if EMBEDDED.contains(&name) {
            self.run.keep.push(tag.span.clone());
        }
        if !VOID.contains(&name) && !tag.self_closing {
            self.run.tags.push((tag.span.start, tag.name.clone(), true));
        }
    }

    fn text(&mut self, html: &str, range: &Range<usize>) {
        if self.stack.last().is_some_and(|o| o.skipped) || !self.in_scope() {
            return;
        }
        let raw = &html[range.clone()];
        if raw.trim().is_empty() {
            self.run.text.push(' ');
            return;
        }
        self.run.text.push_str(&decode(raw));
        let start = range.start + (raw.len() - raw.trim_start().len());
        let end = range.start + raw.trim_end().len();
        self.run.text_range = Some(match self.run.text_range.take() {
            Some(r) => r.start..end,
            None => start..end,
        });
    }

    fn in_scope(&self) -> bool {
        self.scope
            .is_none_or(|s| self.stack.iter().any(|o| o.name == s))
    }

    /// Ends the current run at `at`, making it a paragraph when it has text.
    fn flush(&mut self, at: usize) {
        let run = std::mem::take(&mut self.run);
        let Some(text_range) = run.text_range else {
            return;
        };
        let Some(paragraph) = Paragraph::new(self.kind(), &run.text, self.direction(), None) else {
            return;
        };
        let content = if balanced(&run.tags, &text_range) {
            text_range
        } else {
            run.open_at..at
        };
        let keep = run
            .keep
            .into_iter()
            .filter(|k| k.start >= content.start && k.end <= content.end)
            .collect();
        let container = self.stack.iter().rev().find_map(|o| o.container);
        if let Some(c) = container {
            self.runs_in[c] += 1;
        }
        self.blocks.push((
            Block {
                paragraph,
                content,
                keep,
                element: None,
            },
            container,
        ));
    }

    fn kind(&self) -> ParagraphKind {
        for open in self.stack.iter().rev() {
            let name = open.name.as_str();
            if let Some(level) = name.strip_prefix('h').and_then(|l| l.parse::<u8>().ok()) {
                return ParagraphKind::Heading { level };
            }
            if name == "td" || name == "th" {
                if let Some(&(table, Some(row), Some(column))) = self.tables.last() {
                    return ParagraphKind::TableCell { table, row, column };
                }
            }
            if name == "li" {
                let level = self
                    .stack
                    .iter()
                    .filter(|o| o.name == "ul" || o.name == "ol")
                    .count()
                    .clamp(1, 255) as u8;
                return ParagraphKind::ListItem { level };
            }
        }
        ParagraphKind::Body
    }

    fn direction(&self) -> Option<Direction> {
        self.stack.last().and_then(|o| o.direction)
    }
}

/// Whether the inline tags inside `range` open and close in pairs, so that replacing the
/// range leaves the page well formed.
fn balanced(tags: &[(usize, String, bool)], range: &Range<usize>) -> bool {
    let mut open: Vec<&str> = Vec::new();
    for (at, name, start) in tags {
        if !range.contains(at) {
            continue;
        }
        if *start {
            open.push(name);
        } else if open.pop() != Some(name.as_str()) {
            return false;
        }
    }
    open.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(html: &str) -> Vec<(ParagraphKind, String)> {
        read(html)
            .blocks
            .into_iter()
            .map(|b| (b.paragraph.kind, b.paragraph.text))
            .collect()
    }

    #[test]
    fn main_content_without_boilerplate() {
        let html = r#"<html lang="he" dir="rtl"><head><title>כותרת</title><style>p{}</style></head>
<body><header><a href="/">בית</a></header><nav><ul><li>תפריט</li></ul></nav>
<main><h1>דוח על <b>הסיכונים</b></h1><p>פסקה&nbsp;ראשונה<br>שורה</p>
<ul><li>פריט<ul><li>פנימי</li></ul></li></ul>
<table><tr><td>א<td>ב</tr><tr><th>ג</th></tr></table>
<script>var x = "<p>no</p>";</script><p hidden>נסתר</p></main>
<footer>כל הזכויות שמורות</footer></body></html>"#;
        let page = read(html);
        assert_eq!(page.language.as_deref(), Some("he"));
        let cell = |row, column| ParagraphKind::TableCell {
            table: 0,
            row,
            column,
        };
        assert_eq!(
            texts(html),
            [
                (
                    ParagraphKind::Heading { level: 1 },
                    "דוח על הסיכונים".to_string()
                ),
                (ParagraphKind::Body, "פסקה ראשונה שורה".into()),
                (ParagraphKind::ListItem { level: 1 }, "פריט".into()),
                (ParagraphKind::ListItem { level: 2 }, "פנימי".into()),
                (cell(0, 0), "א".into()),
                (cell(0, 1), "ב".into()),
                (cell(1, 0), "ג".into()),
            ]
        );
        assert!(page
            .blocks
            .iter()
            .all(|b| b.paragraph.direction == Direction::Rtl));
    }

    #[test]
    fn content_ranges_stay_balanced() {
        let html =
            "<p><b>Hello</b> <i>world</i></p><p><a href=x>link</a></p><p>a <img src=i.png> b</p>";
        let page = read(html);
        let contents: Vec<&str> = page
            .blocks
            .iter()
            .map(|b| &html[b.content.clone()])
            .collect();
        assert_eq!(
            contents,
            ["<b>Hello</b> <i>world</i>", "link", "a <img src=i.png> b"]
        );
        assert_eq!(&html[page.blocks[2].keep[0].clone()], "<img src=i.png>");
        assert!(page.blocks.iter().all(|b| b.element.is_some()));
    }

    #[test]
    fn a_page_without_main_skips_its_header_and_footer() {
        let html = "<body><header>Site</header><div>Intro <span>text</span><p>Para</p>tail</div><footer>©</footer></body>";
        let page = read(html);
        let got: Vec<_> = page
            .blocks
            .iter()
            .map(|b| b.paragraph.text.as_str())
            .collect();
        assert_eq!(got, ["Intro text", "Para", "tail"]);
        assert!(
            page.blocks[0].element.is_none(),
            "the div holds three paragraphs"
        );
        assert!(page.blocks[1].element.is_some());
    }
}
