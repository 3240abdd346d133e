//! The tile driver shared by the Q4_K and Q5_K kernels ([`super::q4k`], [`super::q5k`]).
//!
//! Both formats unpack 16 weight rows × one super-block into the same [`Tile`] (one byte per
//! k value, 6-bit scales and mins, `d`, `dmin`) and accumulate into per-row f32 accumulators
//! `acc_0..acc_7` followed by the format's mins accumulators. They differ in the raw block
//! size (`W` words, see [`Raw`]), the unpacking of the quantized values, the mins term and its
//! final reduction: those are a format's [`Format`] impl; the per-path multiply-adds are its
//! [`Kernel`] impls.

use super::q8k::{bsum_pairs, quantize_row};
use super::tiling::{
    as_bytes, begin, quantize_acts, row_block_for, run_items, word, Block, KernelPath, SyncPtr, NR,
};
use candle_core::Result;

/// The matmul context of Q4_K/Q5_K: the per-block activation sums as i16 pairs.
pub(super) type Ctx<'a> = super::tiling::Ctx<'a, [i32; 4]>;

/// A format's tiled matmul (its `matmul_inner`): checks shapes, quantizes the activations
/// once, picks the row block (`row_block` forces one) and runs the (row block, column tile)
/// items on `run_range`, the format's per-path dispatch.
#[allow(clippy::too_many_arguments)]
pub(super) fn matmul<B: Block>(
    path: KernelPath,
    m: usize,
    k: usize,
    n: usize,
    lhs: &[f32],
    weights: &[B],
    dst: &mut [f32],
    row_block: Option<usize>,
    run_range: impl Fn(KernelPath, &Ctx, std::ops::Range<usize>) + Sync,
) -> Result<()> {
    let Some(kb) = begin(path, m, k, n, lhs, weights, dst)? else {
        return Ok(());
    };
    // Quantize the activations once (rows in parallel), plus the per-32 activation sums as
    // i16 pairs for the mins term.
    let parallel = m >= 8 && m * k >= 1 << 16;
    let quantize = |xs: &[f32], ys: &mut [_]| quantize_row(path, xs, ys);
    let (acts, bsp) = quantize_acts(m, k, kb, lhs, parallel, [0i32; 4], quantize, bsum_pairs);

    let rb = row_block_for(m, kb, row_block);
    let n_ct = n.div_ceil(NR);

    let ctx = Ctx {
        m,
        n,
        kb,
        w: as_bytes(weights),
        acts: as_bytes(&acts),
        aux: &bsp,
        row_block: rb,
        n_col_tiles: n_ct,
        dst: SyncPtr(dst.as_mut_ptr()),
    };
    run_items(&ctx, |range| run_range(path, &ctx, range));
    Ok(())
}

/// 16 weight rows × one super-block, unpacked.
#[repr(C, align(64))]
pub(super) struct Tile {
    /// `qs[g][lane]`: the 4- or 5-bit values k = 4g..4g+4 of weight row `lane`, one per byte.
    pub(super) qs: [[u32; NR]; 64],
    /// `sc[s][lane]`: 6-bit scale of sub-block s (k = 32s..32s+32), in both i16 halves (for
    /// `vpmaddwd`/`vpdpwssd` against i16 pairs).
    pub(super) sc: [[i32; NR]; 8],
    /// `mn[p][lane]`: 6-bit mins of sub-blocks 2p (low i16) and 2p+1 (high i16).
    pub(super) mn: [[i32; NR]; 4],
    pub(super) d: [f32; NR],
    pub(super) dmin: [f32; NR],
}

impl Tile {
    pub(super) fn zeroed() -> Self {
        Tile {
            qs: [[0; NR]; 64],
            sc: [[0; NR]; 8],
            mn: [[0; NR]; 4],
            d: [0.0; NR],
            dmin: [0.0; NR],
        }
    }
}

/// The raw words of 16 blocks of `W` little-endian u32 words each, transposed:
/// `raw[word][lane]`.
#[repr(C, align(64))]
pub(super) struct Raw<const W: usize>(pub(super) [[u32; NR]; W]);

impl<const W: usize> Raw<W> {
    pub(super) fn zeroed() -> Self {
        Raw([[0; NR]; W])
    }
}

/// Gathers super-block `b` of weight rows `c0..c0+nc` (lanes past `nc` zero).
#[inline(always)]
pub(super) fn fill_raw<const W: usize>(
    w: &[u8],
    kb: usize,
    c0: usize,
    nc: usize,
    b: usize,
    raw: &mut Raw<W>,
) {
    let bytes = 4 * W;
    for lane in 0..NR {
        if lane < nc {
            let at = ((c0 + lane) * kb + b) * bytes;
            let blk = &w[at..at + bytes];
            for (u, words) in raw.0.iter_mut().enumerate() {
                words[lane] = word(blk, 4 * u);
            }
        } else {
            for words in raw.0.iter_mut() {
                words[lane] = 0;
            }
        }
    }
}

/// What a format of `W`-word blocks adds to the shared driver.
pub(super) trait Format<const W: usize> {
    /// f32 accumulators per activation row of a tile: 8 vectors of `NR` lanes (`acc_t`), then
    /// the format's mins accumulators.
    const FACC_ROW: usize;

    /// Unpacks transposed raw words into a tile (the portable version).
    fn unpack(raw: &Raw<W>, tile: &mut Tile);

    /// The mins term of one output lane, reduced from the accumulators after `acc_0..acc_7`
    /// in candle's order; `f` is one activation row's `FACC_ROW` accumulators.
    fn mins(f: &[f32], lane: usize) -> f32;
}

/// A kernel: accumulates the products of one tile with rows `r0..r0+rows` (super-block `b`)
/// into `facc` (`rows × FACC_ROW`: per row, `acc_0..acc_7` then the mins accumulators, `NR`
/// lanes each).
pub(super) trait Kernel<const W: usize> {
    type F: Format<W>;

    /// Unpacks super-block `b` of weight rows `c0..c0+nc` into `tile` (`raw` is scratch).
    ///
    /// # Safety
    /// The CPU must support the kernel's target features.
    #[inline(always)]
    unsafe fn prepare(
        ctx: &Ctx,
        c0: usize,
        nc: usize,
        b: usize,
        raw: &mut Raw<W>,
        tile: &mut Tile,
    ) {
        fill_raw(ctx.w, ctx.kb, c0, nc, b, raw);
        Self::F::unpack(raw, tile);
    }

    /// # Safety
    /// The CPU must support the kernel's target features.
    unsafe fn rows(tile: &Tile, ctx: &Ctx, r0: usize, rows: usize, b: usize, facc: &mut [f32]);
}

/// The driver loop, inlined into a target-feature wrapper per path so that the unpack code is
/// compiled for that path's vector width too.
///
/// # Safety
/// The CPU must support `K`'s target features.
#[inline(always)]
pub(super) unsafe fn run_items_generic<const W: usize, K: Kernel<W>>(
    ctx: &Ctx,
    range: std::ops::Range<usize>,
) {
    let facc_row = <K::F as Format<W>>::FACC_ROW;
    let mut raw = Raw::<W>::zeroed();
    let mut tile = Tile::zeroed();
    let mut facc = vec![0f32; ctx.row_block * facc_row];
    for item in range {
        let (r0, rows, c0, nc) = ctx.item(item);
        let facc = &mut facc[..rows * facc_row];
        facc.fill(0.0);
        for b in 0..ctx.kb {
            // SAFETY: forwarded from this function's contract.
            unsafe {
                K::prepare(ctx, c0, nc, b, &mut raw, &mut tile);
                K::rows(&tile, ctx, r0, rows, b, facc);
            }
        }
        let mut out = [0f32; NR];
        for r in 0..rows {
            let f = &facc[r * facc_row..(r + 1) * facc_row];
            let acc = |t: usize, lane: usize| f[t * NR + lane];
            for (lane, o) in out.iter_mut().enumerate() {
                // candle's `hsum_float_8(acc)` plus the mins term, in its order.
                let u0 = (acc(4, lane) + acc(0, lane)) + (acc(6, lane) + acc(2, lane));
                let u1 = (acc(5, lane) + acc(1, lane)) + (acc(7, lane) + acc(3, lane));
                *o = (u0 + u1) + K::F::mins(f, lane);
            }
            let out = &out[..nc];
            // SAFETY: row r0 + r < m and columns c0..c0+nc < n, so the range lies inside the
            // m×n `dst`; each (row block, column tile) item is run exactly once, so no other
            // thread writes these elements while `dst` is borrowed by `matmul_inner`.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    out.as_ptr(),
                    ctx.dst.0.add((r0 + r) * ctx.n + c0),
                    nc,
                );
            }
        }
    }
}
