//! Reading order of a page's segments: recursive cuts at column gutters (read right to
//! left on a Hebrew page) and at vertical gaps, with tables read row by row.

use super::lines::Segment;

/// Most segments a page is cut recursively for; beyond, plain top-to-bottom order.
const MAX_CUT_SEGMENTS: usize = 20_000;
/// A horizontal gap taller than this many ems separates bands.
const BAND_GAP: f32 = 0.5;
/// A column gutter is at least this many ems wide.
const GUTTER: f32 = 0.9;

/// The order (indices into `segs`) to read a page's segments in.
pub fn reading_order(segs: &[Segment], rtl: bool) -> Vec<usize> {
    let ids: Vec<usize> = (0..segs.len()).collect();
    if segs.len() > MAX_CUT_SEGMENTS {
        return by_rows(segs, ids, rtl);
    }
    let mut out = Vec::with_capacity(segs.len());
    cut(segs, ids, rtl, &mut out, 0);
    out
}

fn cut(segs: &[Segment], ids: Vec<usize>, rtl: bool, out: &mut Vec<usize>, depth: usize) {
    if ids.len() <= 1 || depth > 64 {
        out.extend(by_rows(segs, ids, rtl));
        return;
    }
    if let Some(split) = gutter(segs, &ids) {
        let (left, right): (Vec<usize>, Vec<usize>) = ids
            .iter()
            .partition(|&&i| segs.get(i).is_some_and(|s| s.x1 <= split));
        if !left.is_empty() && !right.is_empty() {
            if is_table(segs, &left, &right) {
                out.extend(by_rows(segs, ids, rtl));
                return;
            }
            let (first, second) = if rtl { (right, left) } else { (left, right) };
            cut(segs, first, rtl, out, depth + 1);
            cut(segs, second, rtl, out, depth + 1);
            return;
        }
    }
    let bands = merge_column_bands(segs, bands(segs, ids.clone()));
    if bands.len() <= 1 {
        out.extend(by_rows(segs, ids, rtl));
        return;
    }
    for band in bands {
        cut(segs, band, rtl, out, depth + 1);
    }
}

/// The x of the widest vertical strip that no segment of `ids` crosses.
fn gutter(segs: &[Segment], ids: &[usize]) -> Option<f32> {
    let mut spans: Vec<(f32, f32, f32)> = ids
        .iter()
        .filter_map(|&i| segs.get(i))
        .map(|s| (s.x0, s.x1, s.size))
        .collect();
    spans.sort_by(|a, b| a.0.total_cmp(&b.0));
    let em = median(spans.iter().map(|s| s.2).collect());
    let mut best: Option<(f32, f32)> = None;
    let mut reach = spans.first()?.1;
    for &(x0, x1, _) in spans.iter().skip(1) {
        let width = x0 - reach;
        if width > GUTTER * em && best.is_none_or(|(w, _)| width > w) {
            best = Some((width, (reach + x0) / 2.0));
        }
        reach = reach.max(x1);
    }
    best.map(|(_, x)| x)
}

/// Splits segments into horizontal bands at vertical gaps, top to bottom.
fn bands(segs: &[Segment], mut ids: Vec<usize>) -> Vec<Vec<usize>> {
    ids.sort_by(|&a, &b| top(segs, b).total_cmp(&top(segs, a)));
    let em = median(
        ids.iter()
            .filter_map(|&i| segs.get(i))
            .map(|s| s.size)
            .collect(),
    );
    let mut out: Vec<Vec<usize>> = Vec::new();
    let mut floor = f32::INFINITY;
    for i in ids {
        let Some(s) = segs.get(i) else { continue };
        match out.last_mut() {
            Some(band) if s.top() > floor - BAND_GAP * em => band.push(i),
            _ => out.push(vec![i]),
        }
        floor = floor.min(s.bottom());
        if out.last().is_some_and(|b| b.len() == 1) {
            floor = s.bottom();
        }
    }
    out
}

/// Joins neighbouring bands that are pieces of the same columns (a paragraph break that
/// happens to fall at the same height in every column), unless they are table rows.
fn merge_column_bands(segs: &[Segment], bands: Vec<Vec<usize>>) -> Vec<Vec<usize>> {
    let mut out: Vec<Vec<usize>> = Vec::new();
    for band in bands {
        let merge = match out.last() {
            Some(prev) => match (gutter(segs, prev), gutter(segs, &band)) {
                (Some(a), Some(b)) => {
                    let em = median(
                        band.iter()
                            .filter_map(|&i| segs.get(i))
                            .map(|s| s.size)
                            .collect(),
                    );
                    (a - b).abs() < 2.0 * em && rows(segs, prev) >= 3 && rows(segs, &band) >= 3
                }
                _ => false,
            },
            None => false,
        };
        match (merge, out.last_mut()) {
            (true, Some(prev)) => prev.extend(band),
            _ => out.push(band),
        }
    }
    out
}

/// How many distinct baselines a set of segments has.
fn rows(segs: &[Segment], ids: &[usize]) -> usize {
    let mut ys: Vec<f32> = ids
        .iter()
        .filter_map(|&i| segs.get(i))
        .map(|s| s.y)
        .collect();
    ys.sort_by(f32::total_cmp);
    ys.dedup_by(|a, b| (*a - *b).abs() < 2.0);
    ys.len()
}

/// Two sides of a gutter are table columns, not text columns, when their lines are
/// short for their width or few.
fn is_table(segs: &[Segment], left: &[usize], right: &[usize]) -> bool {
    let filled = |ids: &[usize]| {
        let items: Vec<&Segment> = ids.iter().filter_map(|&i| segs.get(i)).collect();
        let lo = items.iter().map(|s| s.x0).fold(f32::INFINITY, f32::min);
        let hi = items.iter().map(|s| s.x1).fold(f32::NEG_INFINITY, f32::max);
        let width = (hi - lo).max(1.0);
        let full = items.iter().filter(|s| s.x1 - s.x0 > 0.7 * width).count();
        (items.len(), full * 2 >= items.len())
    };
    let (ln, lfull) = filled(left);
    let (rn, rfull) = filled(right);
    ln.min(rn) < 3 || !(lfull && rfull)
}

/// Top to bottom by baseline; segments on one baseline in the page's direction.
fn by_rows(segs: &[Segment], mut ids: Vec<usize>, rtl: bool) -> Vec<usize> {
    let key = |i: usize| segs.get(i).map_or((0.0, 0.0), |s| (s.y, s.x0));
    ids.sort_by(|&a, &b| key(b).0.total_cmp(&key(a).0));
    let mut out = Vec::with_capacity(ids.len());
    let mut row: Vec<usize> = Vec::new();
    let mut row_y = f32::NAN;
    let flush = |row: &mut Vec<usize>, out: &mut Vec<usize>| {
        row.sort_by(|&a, &b| {
            let o = key(a).1.total_cmp(&key(b).1);
            if rtl {
                o.reverse()
            } else {
                o
            }
        });
        out.append(row);
    };
    for i in ids {
        let (y, _) = key(i);
        let tol = segs.get(i).map_or(1.0, |s| 0.4 * s.size);
        if !row.is_empty() && (row_y - y).abs() > tol {
            flush(&mut row, &mut out);
        }
        if row.is_empty() {
            row_y = y;
        }
        row.push(i);
    }
    flush(&mut row, &mut out);
    out
}

fn top(segs: &[Segment], i: usize) -> f32 {
    segs.get(i).map_or(0.0, Segment::top)
}

fn median(mut v: Vec<f32>) -> f32 {
    v.sort_by(f32::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(10.0).max(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(x0: f32, x1: f32, y: f32) -> Segment {
        Segment {
            units: vec!["x".into()],
            x0,
            x1,
            y,
            size: 10.0,
        }
    }

    #[test]
    fn two_columns_read_in_page_direction() {
        let mut segs = vec![seg(50.0, 550.0, 800.0)];
        for k in 0..5 {
            let y = 760.0 - 12.0 * k as f32;
            segs.push(seg(50.0, 290.0, y));
            segs.push(seg(310.0, 550.0, y));
        }
        let ltr = reading_order(&segs, false);
        assert_eq!(ltr, vec![0, 1, 3, 5, 7, 9, 2, 4, 6, 8, 10]);
        let rtl = reading_order(&segs, true);
        assert_eq!(rtl, vec![0, 2, 4, 6, 8, 10, 1, 3, 5, 7, 9]);
    }

    #[test]
    fn short_cells_read_by_rows() {
        let segs = vec![
            seg(50.0, 90.0, 800.0),
            seg(300.0, 340.0, 800.0),
            seg(50.0, 80.0, 788.0),
            seg(300.0, 330.0, 788.0),
        ];
        assert_eq!(reading_order(&segs, false), vec![0, 1, 2, 3]);
    }
}
