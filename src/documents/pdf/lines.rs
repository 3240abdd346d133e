//! Glyphs → lines → segments: glyphs sharing a baseline form a line, a line splits into
//! segments at column gutters and table cell gaps, and a segment's glyphs become visual
//! units (clusters with their marks, and spaces where the gaps say so).

use super::content::Glyph;

/// A gap wider than this many ems between glyphs is a word space.
const WORD_GAP: f32 = 0.16;
/// A gap wider than this many ems may be a column gutter or a cell boundary...
const SPLIT_GAP: f32 = 1.0;
/// ...and one wider than this always is.
const SURE_SPLIT_GAP: f32 = 2.6;

/// A run of text on one baseline with no gutter inside, in visual (left-to-right) order.
#[derive(Debug, Clone)]
pub struct Segment {
    /// Glyph clusters and single spaces, left to right as drawn.
    pub units: Vec<String>,
    /// Left edge.
    pub x0: f32,
    /// Right edge.
    pub x1: f32,
    /// Baseline.
    pub y: f32,
    /// Median font size.
    pub size: f32,
}

impl Segment {
    /// Top of its box.
    pub fn top(&self) -> f32 {
        self.y + 0.8 * self.size
    }

    /// Bottom of its box.
    pub fn bottom(&self) -> f32 {
        self.y - 0.25 * self.size
    }

    /// The units joined, as drawn.
    pub fn visual(&self) -> String {
        self.units.concat()
    }
}

fn is_mark(text: &str) -> bool {
    text.chars().all(|c| {
        matches!(c, '\u{300}'..='\u{36f}' | '\u{591}'..='\u{5bd}' | '\u{5bf}' | '\u{5c1}' | '\u{5c2}' | '\u{5c4}' | '\u{5c5}' | '\u{5c7}' | '\u{64b}'..='\u{65f}' | '\u{670}')
    })
}

fn is_space(text: &str) -> bool {
    text.chars().all(|c| c.is_whitespace() || c == '\u{200b}')
}

/// Groups a page's glyphs into segments.
pub fn segments(mut glyphs: Vec<Glyph>) -> Vec<Segment> {
    glyphs.retain(|g| g.size > 0.1 && g.size < 2000.0);
    glyphs.sort_by(|a, b| b.y.total_cmp(&a.y).then(a.x.total_cmp(&b.x)));
    let mut lines: Vec<Vec<Glyph>> = Vec::new();
    let mut line_y = f32::NAN;
    let mut line_size = 0.0f32;
    for g in glyphs {
        let tolerance = 0.4 * g.size.min(line_size).max(0.5);
        match lines.last_mut() {
            Some(line) if (line_y - g.y).abs() <= tolerance => line.push(g),
            _ => {
                line_y = g.y;
                line_size = g.size;
                lines.push(vec![g]);
            }
        }
    }
    let lines: Vec<Vec<Glyph>> = lines
        .into_iter()
        .map(|mut l| {
            l.sort_by(|a, b| a.x.total_cmp(&b.x));
            dedupe(l)
        })
        .collect();
    let gaps: Vec<Vec<(f32, f32)>> = lines.iter().map(|l| wide_gaps(l)).collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let near = |mid: f32| {
            let lo = i.saturating_sub(3);
            (lo..(i + 4).min(gaps.len()))
                .filter(|&j| j != i)
                .filter_map(|j| gaps.get(j))
                .any(|g| g.iter().any(|&(a, b)| a <= mid && mid <= b))
        };
        let size = median_size(line);
        let mut start = 0;
        for k in 1..line.len() {
            let (Some(prev), Some(cur)) = (line.get(k - 1), line.get(k)) else {
                continue;
            };
            let gap = cur.x - (prev.x + prev.width);
            let em = size.max(1.0);
            let split = gap > SURE_SPLIT_GAP * em
                || (gap > SPLIT_GAP * em && near((cur.x + prev.x + prev.width) / 2.0));
            if split {
                out.extend(segment(line.get(start..k).unwrap_or(&[])));
                start = k;
            }
        }
        out.extend(segment(line.get(start..).unwrap_or(&[])));
    }
    out
}

/// Drops a glyph drawn twice at (nearly) the same spot, as fake bold does.
fn dedupe(line: Vec<Glyph>) -> Vec<Glyph> {
    let mut out: Vec<Glyph> = Vec::with_capacity(line.len());
    for g in line {
        let dup = out.iter().rev().take(4).any(|o| {
            o.text == g.text && (o.x - g.x).abs() < 0.1 * g.size && (o.y - g.y).abs() < 0.1 * g.size
        });
        if !dup {
            out.push(g);
        }
    }
    out
}

fn median_size(line: &[Glyph]) -> f32 {
    let mut sizes: Vec<f32> = line
        .iter()
        .filter(|g| !is_space(&g.text))
        .map(|g| g.size)
        .collect();
    if sizes.is_empty() {
        sizes = line.iter().map(|g| g.size).collect();
    }
    sizes.sort_by(f32::total_cmp);
    sizes.get(sizes.len() / 2).copied().unwrap_or(10.0)
}

/// Gaps of a line wider than half an em, as x intervals (space glyphs count as gap).
fn wide_gaps(line: &[Glyph]) -> Vec<(f32, f32)> {
    let size = median_size(line).max(1.0);
    let inked: Vec<&Glyph> = line.iter().filter(|g| !is_space(&g.text)).collect();
    inked
        .windows(2)
        .filter_map(|w| {
            let (a, b) = (w.first()?, w.get(1)?);
            let end = a.x + a.width;
            (b.x - end > 0.5 * size).then_some((end, b.x))
        })
        .collect()
}

/// One segment from glyphs sorted by x.
fn segment(glyphs: &[Glyph]) -> Option<Segment> {
    let size = median_size(glyphs);
    let mut units: Vec<String> = Vec::new();
    let mut ends: Vec<f32> = Vec::new();
    let mut pending_space = false;
    let (mut x0, mut x1) = (f32::INFINITY, f32::NEG_INFINITY);
    let mut marks: Vec<&Glyph> = Vec::new();
    let mut bases: Vec<(f32, f32)> = Vec::new();
    for g in glyphs {
        if is_space(&g.text) {
            pending_space = !units.is_empty();
            continue;
        }
        if is_mark(&g.text) {
            marks.push(g);
            continue;
        }
        if let Some(&end) = ends.last() {
            let em = g.size.max(size).max(1.0);
            let gap = g.x - end;
            if pending_space || gap > WORD_GAP * em {
                units.push(" ".into());
                ends.push(end);
                bases.push((f32::NAN, f32::NAN));
            }
        }
        pending_space = false;
        units.push(g.text.clone());
        ends.push(g.x + g.width);
        bases.push((g.x, g.x + g.width));
        x0 = x0.min(g.x);
        x1 = x1.max(g.x + g.width);
    }
    for m in marks {
        let centre = m.x + m.width / 2.0;
        let best = bases
            .iter()
            .enumerate()
            .filter(|(_, (a, _))| a.is_finite())
            .min_by(|(_, a), (_, b)| dist(centre, **a).total_cmp(&dist(centre, **b)));
        if let Some((i, _)) = best {
            if let Some(u) = units.get_mut(i) {
                u.push_str(&m.text);
            }
        }
    }
    if units.is_empty() {
        return None;
    }
    let y = glyphs
        .iter()
        .find(|g| !is_space(&g.text))
        .map_or(0.0, |g| g.y);
    Some(Segment {
        units,
        x0,
        x1,
        y,
        size,
    })
}

fn dist(x: f32, (a, b): (f32, f32)) -> f32 {
    if x < a {
        a - x
    } else if x > b {
        x - b
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn glyph(text: &str, x: f32, width: f32) -> Glyph {
        Glyph {
            text: text.into(),
            x,
            y: 700.0,
            width,
            size: 10.0,
            width_known: true,
        }
    }

    #[test]
    fn words_from_gaps_and_marks_attach() {
        let line = vec![
            glyph("b", 10.0, 5.0),
            glyph("a", 15.2, 5.0),
            glyph("c", 23.0, 5.0),
            glyph("\u{5b8}", 24.0, 0.0),
        ];
        let segs = segments(line);
        assert_eq!(segs.len(), 1);
        assert_eq!(segs[0].units, vec!["b", "a", " ", "c\u{5b8}"]);
    }

    #[test]
    fn wide_gap_splits() {
        let segs = segments(vec![glyph("a", 10.0, 5.0), glyph("b", 100.0, 5.0)]);
        assert_eq!(segs.len(), 2);
    }
}
