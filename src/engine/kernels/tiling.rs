//! The machinery every tiled kernel shares: which vector path runs, shape checks, byte views
//! of candle's block structs, quantizing the activations once per call, and spreading
//! (row block, 16-column tile) work items over candle's barrier pool.
//!
//! Only the unpacking of a weight block and the float recipe differ per format; they live in
//! [`super::q4k`], [`super::q5k`] and [`super::q6k`].

use candle_core::quantized::k_quants::{BlockQ4K, BlockQ5K, BlockQ6K, BlockQ8K, GgmlType};
use candle_core::{bail, Result};

/// Values per super-block.
pub(super) const QK: usize = 256;
/// Weight rows per tile: one 32-bit lane of a 512-bit vector each.
pub(super) const NR: usize = 16;
/// A `BlockQ8K` is 292 bytes: d (f32) at 0, qs (256 × i8) at 4, bsums (16 × i16) at 260.
pub(super) const Q8K_BYTES: usize = 292;
/// Byte offset of a `BlockQ8K`'s quants.
pub(super) const Q8K_QS: usize = 4;
/// Byte offset of a `BlockQ8K`'s per-16 sums.
pub(super) const Q8K_BSUMS: usize = 260;

/// Which implementation runs the inner kernel (the same three paths for every format).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KernelPath {
    /// Portable Rust (any CPU).
    Scalar,
    /// x86-64 AVX2 + FMA (`vpmaddubsw`/`vpmaddwd`).
    Avx2,
    /// x86-64 AVX-512F/BW + AVX-512 VNNI (`vpdpbusd`/`vpdpwssd`), with AVX2 and FMA.
    Avx512Vnni,
}

impl KernelPath {
    /// The fastest path this CPU supports.
    pub fn detect() -> Self {
        if Self::Avx512Vnni.available() {
            Self::Avx512Vnni
        } else if Self::Avx2.available() {
            Self::Avx2
        } else {
            Self::Scalar
        }
    }

    /// Whether this CPU can run the path.
    pub fn available(self) -> bool {
        match self {
            Self::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            Self::Avx2 => is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"),
            #[cfg(target_arch = "x86_64")]
            Self::Avx512Vnni => {
                is_x86_feature_detected!("avx512f")
                    && is_x86_feature_detected!("avx512bw")
                    && is_x86_feature_detected!("avx512vnni")
                    && is_x86_feature_detected!("avx2")
                    && is_x86_feature_detected!("fma")
            }
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }
}

/// A candle block struct whose bytes the kernels read directly.
///
/// # Safety
/// Implementors are `#[repr(C)]`, have no padding (every byte initialized) and accept any bit
/// pattern in every field.
pub(super) unsafe trait Block: Sized {
    /// The format's short name, for error messages (`q4k`).
    const NAME: &'static str;
}

// SAFETY: candle declares these `#[repr(C)]` of u8/i8/i16 arrays, f16 and f32 fields, and
// asserts their sizes; the asserts below repeat that there is no padding.
unsafe impl Block for BlockQ4K {
    const NAME: &'static str = "q4k";
}
// SAFETY: as above.
unsafe impl Block for BlockQ5K {
    const NAME: &'static str = "q5k";
}
// SAFETY: as above.
unsafe impl Block for BlockQ6K {
    const NAME: &'static str = "q6k";
}
// SAFETY: as above.
unsafe impl Block for BlockQ8K {
    const NAME: &'static str = "q8k";
}
const _: () = assert!(std::mem::size_of::<BlockQ4K>() == 144);
const _: () = assert!(std::mem::size_of::<BlockQ5K>() == 176);
const _: () = assert!(std::mem::size_of::<BlockQ6K>() == 210);
const _: () = assert!(std::mem::size_of::<BlockQ8K>() == Q8K_BYTES);

/// The bytes of `blocks`.
pub(super) fn as_bytes<B: Block>(blocks: &[B]) -> &[u8] {
    // SAFETY: `B: Block` has no padding, so its bytes are initialized; u8 has alignment 1;
    // the length is the same memory.
    unsafe {
        std::slice::from_raw_parts(blocks.as_ptr().cast::<u8>(), std::mem::size_of_val(blocks))
    }
}

/// Raw tensor bytes viewed as blocks. Errors if the length is not a whole number of blocks or
/// the slice is not aligned for `B`.
pub(super) fn blocks_from_bytes<B: Block>(bytes: &[u8]) -> Result<&[B]> {
    let size = std::mem::size_of::<B>();
    if !bytes.len().is_multiple_of(size) {
        bail!(
            "{}: {} bytes is not a whole number of {size}-byte blocks",
            B::NAME,
            bytes.len()
        );
    }
    if !(bytes.as_ptr() as usize).is_multiple_of(std::mem::align_of::<B>()) {
        bail!(
            "{}: block bytes are not {}-byte aligned",
            B::NAME,
            std::mem::align_of::<B>()
        );
    }
    // SAFETY: alignment and length were checked; every bit pattern is a valid `B` (`Block`'s
    // contract); the borrow keeps the bytes alive and immutable.
    Ok(unsafe { std::slice::from_raw_parts(bytes.as_ptr().cast::<B>(), bytes.len() / size) })
}

/// Errors (never panics) when `k` is not a multiple of 256 or a slice length does not match.
pub(super) fn check_shapes<B: Block>(
    m: usize,
    k: usize,
    n: usize,
    lhs: &[f32],
    weights: &[B],
    dst: &[f32],
) -> Result<()> {
    let name = B::NAME;
    if !k.is_multiple_of(QK) {
        bail!("matmul_{name}: k = {k} is not a multiple of {QK}");
    }
    let kb = k / QK;
    if m.checked_mul(k) != Some(lhs.len()) {
        bail!(
            "matmul_{name}: lhs has {} values, expected {m}×{k}",
            lhs.len()
        );
    }
    if n.checked_mul(kb) != Some(weights.len()) {
        bail!(
            "matmul_{name}: weights have {} blocks, expected {n}×{kb}",
            weights.len()
        );
    }
    if m.checked_mul(n) != Some(dst.len()) {
        bail!(
            "matmul_{name}: dst has {} values, expected {m}×{n}",
            dst.len()
        );
    }
    Ok(())
}

/// The checks and trivial cases before a tiled call: shapes, the path's CPU features, empty
/// outputs and `k = 0` (an empty dot product is +0, as candle's). `Some(kb)` when there is
/// work left.
pub(super) fn begin<B: Block>(
    path: KernelPath,
    m: usize,
    k: usize,
    n: usize,
    lhs: &[f32],
    weights: &[B],
    dst: &mut [f32],
) -> Result<Option<usize>> {
    check_shapes(m, k, n, lhs, weights, dst)?;
    if !path.available() {
        bail!("matmul_{}: this CPU cannot run the {path:?} path", B::NAME);
    }
    if m == 0 || n == 0 {
        return Ok(None);
    }
    let kb = k / QK;
    if kb == 0 {
        dst.fill(0.0);
        return Ok(None);
    }
    Ok(Some(kb))
}

/// A raw pointer that may be shared with the pool's workers; every use says why it is sound.
pub(super) struct SyncPtr<T>(pub(super) *mut T);
// SAFETY: the pointee is only written through disjoint ranges (see each use), and the
// pointer never outlives the borrow it was made from (pool calls return before it ends).
unsafe impl<T> Sync for SyncPtr<T> {}
unsafe impl<T> Send for SyncPtr<T> {}

/// Quantizes the `m` activation rows (`k = kb·256` values each) to Q8_K once, rows spread over
/// the pool when `parallel`, plus per Q8_K block the format's auxiliary term `aux(block bytes)`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(super) fn quantize_acts<A: Copy + Send>(
    m: usize,
    k: usize,
    kb: usize,
    lhs: &[f32],
    parallel: bool,
    zero: A,
    quantize: impl Fn(&[f32], &mut [BlockQ8K]) + Sync,
    aux: impl Fn(&[u8]) -> A + Sync,
) -> (Vec<BlockQ8K>, Vec<A>) {
    let mut acts = vec![BlockQ8K::zeros(); m * kb];
    let mut auxs = vec![zero; m * kb];
    {
        let acts_ptr = SyncPtr(acts.as_mut_ptr());
        let aux_ptr = SyncPtr(auxs.as_mut_ptr());
        let quantize_rows = |rows: std::ops::Range<usize>| {
            let (acts_ptr, aux_ptr) = (&acts_ptr, &aux_ptr);
            for row in rows {
                // SAFETY: `row < m`, so both ranges lie inside the `m * kb` element vectors;
                // every row is handed to exactly one call, so the mutable slices never overlap,
                // and the vectors outlive the pool call.
                let (q8, ax) = unsafe {
                    (
                        std::slice::from_raw_parts_mut(acts_ptr.0.add(row * kb), kb),
                        std::slice::from_raw_parts_mut(aux_ptr.0.add(row * kb), kb),
                    )
                };
                quantize(&lhs[row * k..(row + 1) * k], q8);
                for (blk, ax) in as_bytes(q8).chunks_exact(Q8K_BYTES).zip(ax.iter_mut()) {
                    *ax = aux(blk);
                }
            }
        };
        if parallel {
            candle_core::utils::barrier_pool().execute_chunked(m, quantize_rows);
        } else {
            quantize_rows(0..m);
        }
    }
    (acts, auxs)
}

/// Largest row block (rows of activations sharing one unpacked tile).
const MAX_ROW_BLOCK: usize = 512;
/// Quantized activations of one row block should stay in L2 (2 MiB per core here).
const ROW_BLOCK_BYTES: usize = 1 << 20;

/// Activation rows per row block for `m` rows of `kb` Q8_K blocks: as many as keep their
/// quantized activations within [`ROW_BLOCK_BYTES`] (at least 16), split evenly, in eights;
/// `forced` overrides (tests).
pub(super) fn row_block_for(m: usize, kb: usize, forced: Option<usize>) -> usize {
    if let Some(rb) = forced {
        return rb.clamp(1, MAX_ROW_BLOCK);
    }
    let rb = (ROW_BLOCK_BYTES / (kb * Q8K_BYTES)).clamp(16, MAX_ROW_BLOCK);
    m.div_ceil(m.div_ceil(rb))
        .next_multiple_of(8)
        .min(MAX_ROW_BLOCK)
}

/// Everything a work item reads, and where it writes.
pub(super) struct Ctx<'a, A> {
    /// Activation rows.
    pub(super) m: usize,
    /// Weight rows (output columns).
    pub(super) n: usize,
    /// Super-blocks per row.
    pub(super) kb: usize,
    /// The weight blocks' bytes, row-major (`n × kb` blocks).
    pub(super) w: &'a [u8],
    /// The Q8_K activation blocks' bytes (`m × kb`).
    pub(super) acts: &'a [u8],
    /// The format's per-activation-block auxiliary terms (`m × kb`).
    pub(super) aux: &'a [A],
    /// Activation rows per row block.
    pub(super) row_block: usize,
    /// `n / NR`, rounded up.
    pub(super) n_col_tiles: usize,
    /// The m×n output.
    pub(super) dst: SyncPtr<f32>,
}

impl<'a, A> Ctx<'a, A> {
    /// Work item `item` as (first row, rows, first column, columns).
    #[inline(always)]
    pub(super) fn item(&self, item: usize) -> (usize, usize, usize, usize) {
        let rb = item / self.n_col_tiles;
        let ct = item % self.n_col_tiles;
        let r0 = rb * self.row_block;
        let c0 = ct * NR;
        (r0, self.row_block.min(self.m - r0), c0, NR.min(self.n - c0))
    }
}

/// Runs every (row block, column tile) item of `ctx` through `run`, over the pool.
pub(super) fn run_items<A: Sync>(ctx: &Ctx<A>, run: impl Fn(std::ops::Range<usize>) + Sync) {
    let n_items = ctx.m.div_ceil(ctx.row_block) * ctx.n_col_tiles;
    if n_items == 1 {
        run(0..1);
    } else {
        candle_core::utils::barrier_pool().execute_chunked(n_items, run);
    }
}

/// The Q8_K block of activation row `row`, super-block `b`.
#[inline(always)]
pub(super) fn act_block<'a, A>(ctx: &Ctx<'a, A>, row: usize, b: usize) -> &'a [u8; Q8K_BYTES] {
    let at = (row * ctx.kb + b) * Q8K_BYTES;
    ctx.acts[at..at + Q8K_BYTES]
        .try_into()
        .expect("a slice of Q8K_BYTES converts")
}

/// The scale `d` of a Q8_K block.
#[inline(always)]
pub(super) fn act_d(a: &[u8; Q8K_BYTES]) -> f32 {
    f32::from_le_bytes([a[0], a[1], a[2], a[3]])
}

/// The little-endian u32 at byte `at`.
#[inline(always)]
pub(super) fn word(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"))
}

/// Broadcasts the 4 activation bytes of group `g` (k = 4g..4g+4) of a Q8_K block.
#[inline(always)]
pub(super) fn act_group(a: &[u8; Q8K_BYTES], g: usize) -> i32 {
    let at = Q8K_QS + 4 * g;
    // One 4-byte load: LLVM does not always merge four byte loads inside the hot loops.
    i32::from_le_bytes(a[at..at + 4].try_into().expect("4 bytes"))
}
