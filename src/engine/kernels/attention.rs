//! Causal grouped-query attention in tiles (flash attention on the CPU): scores exist only for
//! one tile of 64 keys at a time, with an online softmax, so a long prompt never materializes
//! a `rows × total` score matrix or mask.
//!
//! A work item is one (sequence, kv head, block of query positions): the query rows of every
//! head sharing that kv head at those positions, so each key/value tile is read once for
//! all of them. Keys past a row's position are never visited. The inner loops run over
//! contiguous arrays and are compiled twice, for AVX-512 and for the baseline, from one body.

use super::tiling::SyncPtr;
use candle_core::{bail, Result};

/// Keys per tile.
pub const KT: usize = 64;
/// Query positions per work item.
const POSITIONS: usize = 16;

/// Shapes of one call. Queries are `(batch, heads, seq, head_dim)` contiguous; the output is
/// `(batch, seq, heads · head_dim)`; keys and values come in [`Segment`]s.
#[derive(Debug, Clone, Copy)]
pub struct Dims {
    pub batch: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    /// Query positions in this call, at `total - seq ..total`.
    pub seq: usize,
    /// Keys visible to the last query (cached plus new): the segments' lengths together.
    pub total: usize,
    /// Applied to every score (1/√head_dim).
    pub scale: f32,
}

/// Consecutive key positions and their values, `(batch, kv_heads, len, head_dim)` with rows
/// contiguous and the given strides (elements) between kv heads and between sequences. A
/// cache is one segment, or a prefix it shares with other sequences and then its own.
#[derive(Debug, Clone, Copy)]
pub struct Segment<'a> {
    pub k: &'a [f32],
    pub v: &'a [f32],
    pub len: usize,
    pub kv_head_stride: usize,
    pub kv_batch_stride: usize,
}

impl<'a> Segment<'a> {
    /// Values the segment's slices must hold at least.
    fn needs(&self, d: &Dims) -> usize {
        match d.batch.checked_sub(1) {
            None => 0,
            Some(last) => {
                last * self.kv_batch_stride
                    + (d.kv_heads - 1) * self.kv_head_stride
                    + self.len * d.head_dim
            }
        }
    }

    /// Keys and values `j0..j0 + n` of sequence `b`, kv head `g`.
    fn tile(
        &self,
        (b, g): (usize, usize),
        j0: usize,
        n: usize,
        hd: usize,
    ) -> (&'a [f32], &'a [f32]) {
        let at = b * self.kv_batch_stride + g * self.kv_head_stride + j0 * hd;
        (&self.k[at..at + n * hd], &self.v[at..at + n * hd])
    }
}

/// Segments per call: a shared prefix and a sequence's own positions.
const MAX_SEGMENTS: usize = 2;

/// `out = softmax(scale · q kᵀ + causal mask) v` per head, the keys being `segments` one
/// after another; every segment but the last holds a whole number of tiles ([`KT`]), so the
/// result is the same bits however a cache is cut. Errors, never panics, on slices that do
/// not match `dims`.
pub fn causal_attention(
    q: &[f32],
    segments: &[Segment<'_>],
    d: Dims,
    out: &mut [f32],
) -> Result<()> {
    if d.kv_heads == 0 || !d.heads.is_multiple_of(d.kv_heads) || d.seq > d.total || d.head_dim == 0
    {
        bail!("attention: bad shape {d:?}");
    }
    let keys: usize = segments.iter().map(|s| s.len).sum();
    let ragged = segments
        .split_last()
        .is_some_and(|(_, first)| first.iter().any(|s| !s.len.is_multiple_of(KT)));
    if segments.is_empty() || segments.len() > MAX_SEGMENTS || keys != d.total || ragged {
        bail!(
            "attention: {} key segments of {:?} for {} keys",
            segments.len(),
            segments.iter().map(|s| s.len).collect::<Vec<_>>(),
            d.total
        );
    }
    let q_len = d.batch * d.heads * d.seq * d.head_dim;
    if q.len() != q_len || out.len() != q_len {
        bail!(
            "attention: q {} / out {} values, want {q_len}",
            q.len(),
            out.len()
        );
    }
    for s in segments {
        if s.k.len() < s.needs(&d) || s.v.len() < s.needs(&d) {
            bail!(
                "attention: k {} / v {} values for a segment of {} keys (need {})",
                s.k.len(),
                s.v.len(),
                s.len,
                s.needs(&d)
            );
        }
    }
    let blocks = d.seq.div_ceil(POSITIONS);
    let n_items = d.batch * d.kv_heads * blocks;
    let dst = SyncPtr(out.as_mut_ptr());
    let run = |items: std::ops::Range<usize>| {
        let dst = &dst;
        let mut scratch = Scratch::new(d);
        for item in items {
            let (b, rest) = (item / (d.kv_heads * blocks), item % (d.kv_heads * blocks));
            let (g, block) = (rest / blocks, rest % blocks);
            let p0 = block * POSITIONS;
            let p1 = (p0 + POSITIONS).min(d.seq);
            item_dispatch(q, segments, d, (b, g, p0, p1), &mut scratch, dst);
        }
    };
    if n_items == 1 || d.seq * d.total * d.heads < 1 << 14 {
        run(0..n_items);
    } else {
        candle_core::utils::barrier_pool().execute_chunked(n_items, run);
    }
    Ok(())
}

/// Per-thread tiles.
struct Scratch {
    /// The key tile transposed: `kt[dim][key]`.
    kt: Vec<f32>,
    /// One row's scores / probabilities over the tile.
    s: Vec<f32>,
    /// Per query row of the item: running output, max and sum.
    acc: Vec<f32>,
    max: Vec<f32>,
    sum: Vec<f32>,
}

impl Scratch {
    fn new(d: Dims) -> Self {
        let rows = POSITIONS * (d.heads / d.kv_heads);
        Self {
            kt: vec![0.0; d.head_dim * KT],
            s: vec![0.0; KT],
            acc: vec![0.0; rows * d.head_dim],
            max: vec![0.0; rows],
            sum: vec![0.0; rows],
        }
    }
}

fn item_dispatch(
    q: &[f32],
    segments: &[Segment<'_>],
    d: Dims,
    at: (usize, usize, usize, usize),
    scratch: &mut Scratch,
    dst: &SyncPtr<f32>,
) {
    #[cfg(target_arch = "x86_64")]
    if super::gemv::available() {
        // SAFETY: the CPU has AVX-512F (checked just above).
        unsafe { item_avx512(q, segments, d, at, scratch, dst) };
        return;
    }
    item(q, segments, d, at, scratch, dst)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx2,fma,f16c")]
unsafe fn item_avx512(
    q: &[f32],
    segments: &[Segment<'_>],
    d: Dims,
    at: (usize, usize, usize, usize),
    scratch: &mut Scratch,
    dst: &SyncPtr<f32>,
) {
    item(q, segments, d, at, scratch, dst)
}

/// One work item: sequence `b`, kv head `g`, query positions `p0..p1`.
#[inline(always)]
fn item(
    q: &[f32],
    segments: &[Segment<'_>],
    d: Dims,
    (b, g, p0, p1): (usize, usize, usize, usize),
    sc: &mut Scratch,
    dst: &SyncPtr<f32>,
) {
    let (hd, n_rep) = (d.head_dim, d.heads / d.kv_heads);
    let start = d.total - d.seq;
    let positions = p1 - p0;
    let rows = n_rep * positions;
    // Row `r` is head `g·n_rep + r / positions` at query position `p0 + r % positions`.
    let q_row = |r: usize| {
        let (head, pos) = (g * n_rep + r / positions, p0 + r % positions);
        let at = ((b * d.heads + head) * d.seq + pos) * hd;
        &q[at..at + hd]
    };
    sc.acc[..rows * hd].fill(0.0);
    sc.max[..rows].fill(f32::NEG_INFINITY);
    sc.sum[..rows].fill(0.0);
    // Keys visible to the block's last position.
    let visible = start + p1;
    #[cfg(target_arch = "x86_64")]
    let simd = super::gemv::available() && matches!(hd, 16 | 32 | 64 | 96 | 128);
    for j0 in (0..visible).step_by(KT) {
        let n_keys = KT.min(visible - j0);
        let (keys, values) = segment_tile(segments, (b, g), j0, n_keys, hd);
        for (j, key) in keys.chunks_exact(hd).enumerate() {
            for (t, &x) in key.iter().enumerate() {
                sc.kt[t * KT + j] = x;
            }
        }
        // Rows that see keys of this tile; on AVX-512 they go two at a time.
        let seen_by = |r: usize| {
            (start + p0 + r % positions + 1)
                .saturating_sub(j0)
                .min(n_keys)
        };
        let tile = Tile {
            kt: &sc.kt,
            values,
            scale: d.scale,
        };
        let mut r = 0;
        while r < rows {
            let seen = seen_by(r);
            if seen == 0 {
                r += 1;
                continue;
            }
            #[cfg(target_arch = "x86_64")]
            if simd {
                let pair = r + 1 < rows && seen_by(r + 1) > 0;
                let n = if pair { 2 } else { 1 };
                let state = (&mut sc.acc[..], &mut sc.max[..], &mut sc.sum[..]);
                simd_rows(q_row, r, n, [seen, seen_by(r + 1)], tile, state, hd);
                r += n;
                continue;
            }
            let acc = &mut sc.acc[r * hd..(r + 1) * hd];
            let state = (acc, &mut sc.max[r], &mut sc.sum[r]);
            row_tile(q_row(r), tile, seen, (&mut sc.s, state.0, state.1, state.2));
            r += 1;
        }
    }
    for r in 0..rows {
        let (head, pos) = (g * n_rep + r / positions, p0 + r % positions);
        let inv = 1.0 / sc.sum[r];
        let acc = &sc.acc[r * hd..(r + 1) * hd];
        let at = ((b * d.seq + pos) * d.heads + head) * hd;
        for (t, &a) in acc.iter().enumerate() {
            // SAFETY: `at + t` < batch·seq·heads·hd = out.len() (checked by the caller);
            // each (sequence, position, head) row belongs to exactly one work item.
            unsafe { *dst.0.add(at + t) = a * inv };
        }
    }
}

/// The tile of keys `j0..j0 + n` (within one segment: see [`causal_attention`]).
#[inline(always)]
fn segment_tile<'a>(
    segments: &[Segment<'a>],
    at: (usize, usize),
    j0: usize,
    n: usize,
    hd: usize,
) -> (&'a [f32], &'a [f32]) {
    let mut first = 0;
    for s in &segments[..segments.len() - 1] {
        if j0 < first + s.len {
            return s.tile(at, j0 - first, n, hd);
        }
        first += s.len;
    }
    segments[segments.len() - 1].tile(at, j0 - first, n, hd)
}

/// Rows `r..r + n` (n = 1 or 2, each seeing `seen[i]` ≥ 1 keys) through the AVX-512 tile step.
#[cfg(target_arch = "x86_64")]
fn simd_rows<'q>(
    q_row: impl Fn(usize) -> &'q [f32],
    r: usize,
    n: usize,
    seen: [usize; 2],
    tile: Tile,
    (acc, max, sum): (&mut [f32], &mut [f32], &mut [f32]),
    hd: usize,
) {
    use super::attention_x86::rows_tile;
    let (acc, max, sum) = (
        &mut acc[r * hd..(r + n) * hd],
        &mut max[r..r + n],
        &mut sum[r..r + n],
    );
    macro_rules! run {
        ($hv:literal) => {
            // SAFETY: the caller checked AVX-512F/BW, AVX2 and FMA; hd = 16·HV; each row's
            // accumulator is hd values and `tile.values` holds the tile's keys (≥ seen).
            unsafe {
                if n == 2 {
                    let (a0, a1) = acc.split_at_mut(hd);
                    let (m0, m1) = max.split_at_mut(1);
                    let (s0, s1) = sum.split_at_mut(1);
                    let states = [(a0, &mut m0[0], &mut s0[0]), (a1, &mut m1[0], &mut s1[0])];
                    rows_tile::<$hv, 2>([q_row(r), q_row(r + 1)], seen, tile, states)
                } else {
                    let states = [(acc, &mut max[0], &mut sum[0])];
                    rows_tile::<$hv, 1>([q_row(r)], [seen[0]], tile, states)
                }
            }
        };
    }
    match hd {
        16 => run!(1),
        32 => run!(2),
        64 => run!(4),
        96 => run!(6),
        _ => run!(8),
    }
}

/// One tile of keys (each row sees a prefix of it: `seen` keys, passed beside).
#[derive(Clone, Copy)]
pub(super) struct Tile<'a> {
    /// The keys transposed: `kt[dim · KT + key]`.
    pub(super) kt: &'a [f32],
    /// The tile's value rows (`n_keys × head_dim`).
    pub(super) values: &'a [f32],
    pub(super) scale: f32,
}

/// Adds the first `seen` (≥ 1) keys of a tile to a query row's online softmax: its running
/// output `acc`, `max` and `sum` (`s` is scratch for the tile's scores).
#[inline(always)]
fn row_tile(
    q: &[f32],
    t: Tile,
    seen: usize,
    (s, acc, max, sum): (&mut [f32], &mut [f32], &mut f32, &mut f32),
) {
    let s: &mut [f32; KT] = s.try_into().expect("KT scores");
    *s = [0.0; KT];
    for (d, &x) in q.iter().enumerate() {
        let kt: &[f32; KT] = t.kt[d * KT..(d + 1) * KT].try_into().expect("KT keys");
        for (s, &kv) in s.iter_mut().zip(kt) {
            *s += x * kv;
        }
    }
    let mut tile_max = f32::NEG_INFINITY;
    for s in s.iter_mut().take(seen) {
        *s *= t.scale;
        tile_max = tile_max.max(*s);
    }
    let new_max = max.max(tile_max);
    let correction = exp(*max - new_max);
    *max = new_max;
    for s in s.iter_mut() {
        *s = exp(*s - new_max);
    }
    s[seen..].fill(0.0);
    let tile_sum: f32 = s.iter().sum();
    *sum = *sum * correction + tile_sum;
    for a in acc.iter_mut() {
        *a *= correction;
    }
    let hd = acc.len();
    for (&p, value) in s.iter().zip(t.values.chunks_exact(hd)).take(seen) {
        for (a, &x) in acc.iter_mut().zip(value) {
            *a += p * x;
        }
    }
}

/// `e^x` for x ≤ 0 (−∞ gives e^−87 ≈ 0), relative error below 3e-7: `2^n · p(r)` with
/// `x = n·ln2 + r`, |r| ≤ ln2/2, p Cephes' `expf` polynomial. Branch-free, so loops over it
/// vectorize.
#[inline(always)]
pub(super) fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    let x = x.max(-87.0);
    let n = (x * LOG2E).round();
    let r = (x - n * LN2_HI) - n * LN2_LO;
    let poly = ((((1.987_569_2e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2)
        * r
        + 1.666_666_5e-1)
        * r
        + 0.5;
    let p = poly * (r * r) + r + 1.0;
    let bits = ((n as i32 + 127) as u32) << 23;
    p * f32::from_bits(bits)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rng(seed: u64) -> impl FnMut() -> f32 {
        super::super::tests::rng(seed)
    }

    /// Keys and values of `batch` sequences, `capacity` positions per kv head.
    struct Kv {
        k: Vec<f32>,
        v: Vec<f32>,
        head_stride: usize,
        batch_stride: usize,
    }

    impl Kv {
        fn segment(&self, len: usize) -> Segment<'_> {
            Segment {
                k: &self.k,
                v: &self.v,
                len,
                kv_head_stride: self.head_stride,
                kv_batch_stride: self.batch_stride,
            }
        }

        /// Positions `from..` copied into storage of their own with `spare` positions past them.
        fn tail(&self, d: &Dims, from: usize, spare: usize) -> Kv {
            let (hd, len) = (d.head_dim, d.total - from + spare);
            let (head_stride, batch_stride) = (len * hd, d.kv_heads * len * hd);
            let mut k = vec![f32::NAN; d.batch * batch_stride];
            let mut v = k.clone();
            for b in 0..d.batch {
                for g in 0..d.kv_heads {
                    let src = b * self.batch_stride + g * self.head_stride + from * hd;
                    let dst = b * batch_stride + g * head_stride;
                    let n = (d.total - from) * hd;
                    k[dst..dst + n].copy_from_slice(&self.k[src..src + n]);
                    v[dst..dst + n].copy_from_slice(&self.v[src..src + n]);
                }
            }
            Kv {
                k,
                v,
                head_stride,
                batch_stride,
            }
        }
    }

    /// Plain f64 attention, row by row.
    fn reference(q: &[f32], kv: &Kv, d: Dims) -> Vec<f32> {
        let (hd, n_rep) = (d.head_dim, d.heads / d.kv_heads);
        let (k, v) = (&kv.k, &kv.v);
        let start = d.total - d.seq;
        let mut out = vec![0f32; q.len()];
        for b in 0..d.batch {
            for h in 0..d.heads {
                let at = b * kv.batch_stride + (h / n_rep) * kv.head_stride;
                for i in 0..d.seq {
                    let qr = &q[((b * d.heads + h) * d.seq + i) * hd..][..hd];
                    let n = start + i + 1;
                    let s: Vec<f64> = (0..n)
                        .map(|j| {
                            let kr = &k[at + j * hd..][..hd];
                            qr.iter()
                                .zip(kr)
                                .map(|(a, b)| *a as f64 * *b as f64)
                                .sum::<f64>()
                                * d.scale as f64
                        })
                        .collect();
                    let m = s.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                    let e: Vec<f64> = s.iter().map(|x| (x - m).exp()).collect();
                    let z: f64 = e.iter().sum();
                    for t in 0..hd {
                        let o: f64 = (0..n).map(|j| e[j] * v[at + j * hd + t] as f64).sum();
                        out[((b * d.seq + i) * d.heads + h) * hd + t] = (o / z) as f32;
                    }
                }
            }
        }
        out
    }

    fn dims(
        batch: usize,
        heads: usize,
        kv_heads: usize,
        hd: usize,
        seq: usize,
        total: usize,
    ) -> Dims {
        Dims {
            batch,
            heads,
            kv_heads,
            head_dim: hd,
            seq,
            total,
            scale: 1.0 / (hd as f32).sqrt(),
        }
    }

    /// Random queries, and keys and values with NaN in the positions past `total` (which must
    /// never be read).
    fn inputs(d: &Dims) -> (Vec<f32>, Kv) {
        let capacity = d.total + 3;
        let hd = d.head_dim;
        let (head_stride, batch_stride) = (capacity * hd, d.kv_heads * capacity * hd);
        let mut r = rng((d.batch * 31 + d.heads * 7 + d.seq * 3 + d.total) as u64);
        let q: Vec<f32> = (0..d.batch * d.heads * d.seq * hd)
            .map(|_| r() * 2.0)
            .collect();
        let kv_len = d.batch * batch_stride;
        let k: Vec<f32> = (0..kv_len).map(|_| r() * 2.0).collect();
        let mut v: Vec<f32> = (0..kv_len).map(|_| r()).collect();
        for b in 0..d.batch {
            for g in 0..d.kv_heads {
                let at = b * batch_stride + g * head_stride + d.total * hd;
                v[at..at + 3 * hd].fill(f32::NAN);
            }
        }
        let kv = Kv {
            k,
            v,
            head_stride,
            batch_stride,
        };
        (q, kv)
    }

    fn check(batch: usize, heads: usize, kv_heads: usize, hd: usize, seq: usize, total: usize) {
        let d = dims(batch, heads, kv_heads, hd, seq, total);
        let (q, kv) = inputs(&d);
        let mut got = vec![f32::NAN; q.len()];
        causal_attention(&q, &[kv.segment(total)], d, &mut got).unwrap();
        let want = reference(&q, &kv, d);
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert!((g - w).abs() <= 2e-5, "{d:?} at {i}: {g} vs {w}");
        }
    }

    #[test]
    fn matches_plain_attention() {
        check(1, 4, 4, 8, 1, 1); // one token
        check(1, 4, 2, 16, 5, 5); // a short prompt, GQA
        check(1, 6, 2, 64, 1, 200); // decode after a long context
        check(2, 4, 1, 32, 3, 70); // two sequences, a chunk after cached positions
        check(1, 8, 2, 64, 100, 150); // positions past one block, keys past several tiles
        check(1, 9, 3, 64, 37, 37); // SmolLM2's head layout
        check(1, 4, 1, 128, 70, 90); // Mixtral's head dim, a ragged last tile
        check(1, 2, 2, 96, 17, 17);
        check(1, 2, 1, 48, 20, 20); // no AVX-512 body for this head dim
    }

    /// A shared prefix of `shared` keys in one storage and the rest in another give the same
    /// bits as one storage holding all.
    fn check_split(d: Dims, shared: usize) {
        let (q, kv) = inputs(&d);
        let mut whole = vec![f32::NAN; q.len()];
        causal_attention(&q, &[kv.segment(d.total)], d, &mut whole).unwrap();
        let own = kv.tail(&d, shared, 5);
        let segments = [kv.segment(shared), own.segment(d.total - shared)];
        let mut split = vec![f32::NAN; q.len()];
        causal_attention(&q, &segments, d, &mut split).unwrap();
        let same = whole
            .iter()
            .zip(&split)
            .all(|(a, b)| a.to_bits() == b.to_bits());
        assert!(same, "{d:?} split at {shared}");
    }

    #[test]
    fn a_shared_prefix_gives_the_same_bits() {
        check_split(dims(1, 6, 2, 64, 1, 200), 128); // a sample's decode row
        check_split(dims(1, 4, 1, 128, 1, 65), 64); // one key of its own
        check_split(dims(2, 4, 2, 32, 3, 140), 64); // two sequences, a chunk
        check_split(dims(1, 9, 3, 64, 20, 84), 64); // the chunk's keys within its own part
        check_split(dims(1, 2, 1, 48, 1, 130), 128); // the baseline body
    }

    #[test]
    fn a_ragged_shared_prefix_is_an_error() {
        let d = dims(1, 2, 1, 16, 1, 100);
        let (q, kv) = inputs(&d);
        let own = kv.tail(&d, 50, 0);
        let mut out = vec![0.0; q.len()];
        let segments = [kv.segment(50), own.segment(50)];
        let err = causal_attention(&q, &segments, d, &mut out).unwrap_err();
        assert!(err.to_string().contains("segments of [50, 50]"), "{err}");
        let short = [kv.segment(64), own.segment(50)];
        assert!(causal_attention(&q, &short, d, &mut out).is_err());
    }

    #[test]
    fn exp_is_accurate() {
        for i in 0..=10_000 {
            let x = -87.0 * i as f32 / 10_000.0;
            let (got, want) = (exp(x), (x as f64).exp());
            assert!(
                ((got as f64 - want) / want).abs() < 3e-7,
                "exp({x}) = {got} vs {want}"
            );
        }
        assert_eq!(exp(f32::NEG_INFINITY), exp(-87.0));
        assert!(exp(f32::NEG_INFINITY) < 1e-37);
        assert_eq!(exp(0.0), 1.0);
    }

    #[test]
    fn bad_shapes_are_errors() {
        let seg = |k: &'static [f32], v: &'static [f32]| Segment {
            k,
            v,
            len: 1,
            kv_head_stride: 4,
            kv_batch_stride: 8,
        };
        let d = dims(1, 3, 2, 4, 1, 1);
        let ok = seg(&[0.0; 8], &[0.0; 8]);
        assert!(causal_attention(&[0.0; 12], &[ok], d, &mut [0.0; 12]).is_err());
        let d = Dims { heads: 2, ..d };
        let short = seg(&[0.0; 3], &[0.0; 8]);
        assert!(causal_attention(&[0.0; 8], &[short], d, &mut [0.0; 8]).is_err());
        assert!(causal_attention(&[0.0; 8], &[], d, &mut [0.0; 8]).is_err());
        causal_attention(&[0.0; 8], &[ok], d, &mut [0.0; 8]).unwrap();
    }
}
