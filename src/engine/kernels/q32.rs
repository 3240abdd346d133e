//! The 32-value block formats (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0) × f32 activations, for every
//! activation count: prompt processing and token decode alike.
//!
//! Candle runs these one activation row at a time, and Q4_1/Q5_0/Q5_1 in scalar code. Here a
//! weight matrix is repacked once, at load, in place of the file's bytes ([`Packed`]): every
//! four consecutive rows become one stream of blocks in which block `b` of the four rows keeps
//! their four scales (and mins, and 5th bits) side by side, then their quants, so a kernel
//! reads one sequential stream and loads four rows' scales with one instruction. The
//! activations are quantized once per call exactly as llama.cpp does on x86 (Q8_0 for Q4_0,
//! Q5_0 and Q8_0 weights, Q8_1 with its sum term for Q4_1 and Q5_1: `d = max/127` rounded to
//! f16, `round_ties_even(x · 127/max)`), and each register of weights (two weight rows of one
//! block, unpacked to bytes) is used against up to four activation rows.
//!
//! Every float operation is ggml's AVX2 `ggml_vec_dot_qX_Y_q8_Z` on the same values in the same
//! order: 8 lanes per weight row, lane `j` the exact integer dot product of values 4j..4j+4 of
//! a block, `acc_j = fma(d_w·d_a, lane_j, acc_j)` per block, `hsum_float_8` of the lanes, plus
//! (Q4_1, Q5_1) `Σ fma(m_w, s_a)` over the blocks. Results are therefore bit-identical to
//! llama.cpp's dot products on the same file for every format it does not repack. The integer
//! products run as `vpdpbusd` on unsigned weight bytes (the stored value plus the format's
//! offset: 8, 16 or 128) against signed activations, with `−offset · Σ activations` of each
//! lane as the accumulator's start, which is exact.
//!
//! The kernels need AVX-512F/BW/VNNI ([`available`]) and a row count divisible by four;
//! elsewhere these formats stay on candle.

use super::tiling::SyncPtr;
use candle_core::quantized::k_quants::{
    BlockQ4_0, BlockQ4_1, BlockQ5_0, BlockQ5_1, BlockQ8_0, GgmlType,
};
use candle_core::quantized::GgmlDType;
use candle_core::{bail, Result};

/// Values per block.
pub(super) const QK: usize = 32;
/// Weight rows per packed group and per kernel call (two 512-bit registers of two rows each).
pub(super) const ROWS: usize = 4;
/// Activation rows per kernel call.
pub(super) const ACTS: usize = 4;
/// Weight rows per work item.
const TILE: usize = 16;
/// Activation bytes of one row block: they stay in L2 while a tile's weights pass over them.
const ROW_BLOCK_BYTES: usize = 256 << 10;
/// Below this many weight blocks (n · k/32) × activation rows a call runs on the caller's
/// thread alone.
const MIN_PARALLEL_WORK: usize = 4096;

/// A 32-value block format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Q4_0,
    Q4_1,
    Q5_0,
    Q5_1,
    Q8_0,
}

impl Format {
    /// Bytes of one block.
    pub(super) const fn block_bytes(self) -> usize {
        match self {
            Self::Q4_0 => 18,
            Self::Q4_1 => 20,
            Self::Q5_0 => 22,
            Self::Q5_1 => 24,
            Self::Q8_0 => 34,
        }
    }

    /// What is added to a stored value to make it an unsigned byte.
    pub(super) const fn offset(self) -> i32 {
        match self {
            Self::Q4_0 => 8,
            Self::Q5_0 => 16,
            Self::Q8_0 => 128,
            Self::Q4_1 | Self::Q5_1 => 0,
        }
    }

    /// Whether blocks carry a min `m` (the activations then carry Q8_1's `s = d · Σ q`).
    pub(super) const fn has_min(self) -> bool {
        matches!(self, Self::Q4_1 | Self::Q5_1)
    }

    /// The byte sizes of a block's fields in file order (d, [m], [qh], qs); the packed
    /// layout keeps this order, each field repeated for the four rows of a group.
    pub(super) const fn fields(self) -> &'static [usize] {
        match self {
            Self::Q4_0 => &[2, 16],
            Self::Q4_1 => &[2, 2, 16],
            Self::Q5_0 => &[2, 4, 16],
            Self::Q5_1 => &[2, 2, 4, 16],
            Self::Q8_0 => &[2, 32],
        }
    }

    /// The format of a ggml type, if it is one of these.
    pub fn of(dtype: GgmlDType) -> Option<Self> {
        Some(match dtype {
            GgmlDType::Q4_0 => Self::Q4_0,
            GgmlDType::Q4_1 => Self::Q4_1,
            GgmlDType::Q5_0 => Self::Q5_0,
            GgmlDType::Q5_1 => Self::Q5_1,
            GgmlDType::Q8_0 => Self::Q8_0,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Self::Q4_0 => "q4_0",
            Self::Q4_1 => "q4_1",
            Self::Q5_0 => "q5_0",
            Self::Q5_1 => "q5_1",
            Self::Q8_0 => "q8_0",
        }
    }
}

/// Whether this CPU runs these kernels (AVX-512F/BW/VNNI, AVX2, FMA, F16C).
pub fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        super::gemv::available() && is_x86_feature_detected!("avx512vnni")
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// Activation rows quantized to Q8_0/Q8_1, unpacked for the kernels.
pub(super) struct Acts {
    /// Blocks per row.
    pub(super) kb: usize,
    /// The quantized values, row-major (`m × k`).
    pub(super) qs: Vec<i8>,
    /// Each block's scale (`f16` widened), `m × kb`.
    pub(super) d: Vec<f32>,
    /// Each block's `s = f16(d · Σ q)` widened (formats with a min), `m × kb`.
    pub(super) s: Vec<f32>,
    /// Each block's lane starts `−offset · Σ q[4j..4j+4]` (formats with an offset), `m × kb`.
    pub(super) start: Vec<[i32; 8]>,
}

/// A weight matrix of `n` rows × `k` values in one of these formats, repacked for the
/// kernels (same size as the file's bytes).
pub struct Packed {
    format: Format,
    n: usize,
    k: usize,
    bytes: Vec<u8>,
}

impl std::fmt::Debug for Packed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Packed({:?}, {}×{})", self.format, self.n, self.k)
    }
}

impl Packed {
    /// Whether an `n`-row matrix of `dtype` runs here: a format of this module, rows in whole
    /// groups, and a CPU with [`available`].
    pub fn supports(dtype: GgmlDType, n: usize) -> bool {
        Format::of(dtype).is_some() && n.is_multiple_of(ROWS) && available()
    }

    /// Repacks `bytes`, the file's `n` rows of `k / 32` blocks, in place.
    pub fn new(format: Format, n: usize, k: usize, mut bytes: Vec<u8>) -> Result<Self> {
        let name = format.name();
        if !k.is_multiple_of(QK) || !n.is_multiple_of(ROWS) {
            bail!(
                "{name}: a {n}×{k} matrix is not whole groups of {ROWS} rows of {QK}-value blocks"
            );
        }
        let row_bytes = k / QK * format.block_bytes();
        if n.checked_mul(row_bytes) != Some(bytes.len()) {
            bail!("{name}: {} bytes for a {n}×{k} matrix", bytes.len());
        }
        let mut scratch = vec![0u8; ROWS * row_bytes];
        for group in bytes.chunks_exact_mut(ROWS * row_bytes) {
            scratch.copy_from_slice(group);
            for (b, out) in group
                .chunks_exact_mut(ROWS * format.block_bytes())
                .enumerate()
            {
                let rows: [&[u8]; ROWS] = std::array::from_fn(|r| {
                    let at = r * row_bytes + b * format.block_bytes();
                    &scratch[at..at + format.block_bytes()]
                });
                pack_block(format, rows, out);
            }
        }
        Ok(Self {
            format,
            n,
            k,
            bytes,
        })
    }

    /// `(n, k)`: rows and values per row.
    pub fn shape(&self) -> (usize, usize) {
        (self.n, self.k)
    }

    /// `dst (m×k → m×n) = lhs · selfᵀ`. Errors, never panics, on a shape mismatch or a CPU
    /// without [`available`].
    pub fn matmul(&self, m: usize, lhs: &[f32], dst: &mut [f32]) -> Result<()> {
        let (n, k, name) = (self.n, self.k, self.format.name());
        if m.checked_mul(k) != Some(lhs.len()) {
            bail!(
                "matmul_{name}: lhs has {} values, expected {m}×{k}",
                lhs.len()
            );
        }
        if m.checked_mul(n) != Some(dst.len()) {
            bail!(
                "matmul_{name}: dst has {} values, expected {m}×{n}",
                dst.len()
            );
        }
        if !available() {
            bail!("matmul_{name}: this CPU lacks AVX-512 VNNI");
        }
        if m == 0 || n == 0 {
            return Ok(());
        }
        if k == 0 {
            dst.fill(0.0);
            return Ok(());
        }
        let acts = quantize(self.format, m, k, lhs);
        run(self.format, m, n, &self.bytes, &acts, dst);
        Ok(())
    }

    /// Row `row` dequantized as ggml does (for tied embeddings: the table is the output head).
    pub fn dequantize_row(&self, row: usize, out: &mut [f32]) -> Result<()> {
        let (format, kb) = (self.format, self.k / QK);
        if row >= self.n || out.len() != self.k {
            bail!(
                "{}: row {row} of {} into {} values",
                format.name(),
                self.n,
                out.len()
            );
        }
        let (bb, group) = (
            format.block_bytes(),
            row / ROWS * ROWS * kb * format.block_bytes(),
        );
        let mut file = vec![0u8; kb * bb];
        for (b, blk) in file.chunks_exact_mut(bb).enumerate() {
            let packed = &self.bytes[group + b * ROWS * bb..group + (b + 1) * ROWS * bb];
            unpack_block(format, packed, row % ROWS, blk);
        }
        match format {
            Format::Q4_0 => to_float::<BlockQ4_0>(&file, out),
            Format::Q4_1 => to_float::<BlockQ4_1>(&file, out),
            Format::Q5_0 => to_float::<BlockQ5_0>(&file, out),
            Format::Q5_1 => to_float::<BlockQ5_1>(&file, out),
            Format::Q8_0 => to_float::<BlockQ8_0>(&file, out),
        }
        Ok(())
    }
}

/// Block `b` of four rows in file layout → the packed group block: each field, row by row.
fn pack_block(format: Format, rows: [&[u8]; ROWS], out: &mut [u8]) {
    let mut at = 0;
    let mut field_at = 0;
    for &size in format.fields() {
        for row in rows {
            out[at..at + size].copy_from_slice(&row[field_at..field_at + size]);
            at += size;
        }
        field_at += size;
    }
}

/// The inverse of [`pack_block`] for one row `r` of the group.
fn unpack_block(format: Format, packed: &[u8], r: usize, out: &mut [u8]) {
    let mut at = 0;
    let mut field_at = 0;
    for &size in format.fields() {
        let from = at + r * size;
        out[field_at..field_at + size].copy_from_slice(&packed[from..from + size]);
        at += ROWS * size;
        field_at += size;
    }
}

/// Candle's dequantization of file-layout blocks (ggml's `dequantize_row_*`).
fn to_float<B: GgmlType>(file: &[u8], out: &mut [f32]) {
    let mut blocks = vec![B::zeros(); file.len() / std::mem::size_of::<B>()];
    // SAFETY: candle's block structs are `#[repr(C)]` plain data of this exact size, valid
    // for any bit pattern; the copy fills every byte of the vector.
    unsafe {
        std::ptr::copy_nonoverlapping(file.as_ptr(), blocks.as_mut_ptr().cast::<u8>(), file.len())
    };
    B::to_float(&blocks, out);
}

/// Quantizes every activation row (rows spread over the pool when there are many).
fn quantize(format: Format, m: usize, k: usize, lhs: &[f32]) -> Acts {
    let kb = k / QK;
    let mut acts = Acts {
        kb,
        qs: vec![0; m * k],
        d: vec![0.0; m * kb],
        s: vec![0.0; if format.has_min() { m * kb } else { 0 }],
        start: vec![[0; 8]; if format.offset() != 0 { m * kb } else { 0 }],
    };
    let (qs, d) = (SyncPtr(acts.qs.as_mut_ptr()), SyncPtr(acts.d.as_mut_ptr()));
    let s = SyncPtr(acts.s.as_mut_ptr());
    let start = SyncPtr(acts.start.as_mut_ptr());
    let rows = |range: std::ops::Range<usize>| {
        let (qs, d, s, start) = (&qs, &d, &s, &start);
        for row in range {
            // SAFETY: row < m, so each range lies inside its `m × …` vector (the optional ones
            // are only touched when they have that length); each row goes to exactly one
            // call, so the slices never overlap; the vectors outlive the pool call.
            unsafe {
                let out = RowOut {
                    qs: std::slice::from_raw_parts_mut(qs.0.add(row * k), k),
                    d: std::slice::from_raw_parts_mut(d.0.add(row * kb), kb),
                    s: format
                        .has_min()
                        .then(|| std::slice::from_raw_parts_mut(s.0.add(row * kb), kb)),
                    start: (format.offset() != 0)
                        .then(|| std::slice::from_raw_parts_mut(start.0.add(row * kb), kb)),
                };
                quantize_row(&lhs[row * k..(row + 1) * k], format.offset(), out);
            }
        }
    };
    if m >= 8 && m * k >= 1 << 16 {
        candle_core::utils::barrier_pool().execute_chunked(m, rows);
    } else {
        rows(0..m);
    }
    acts
}

/// Where one quantized activation row goes.
pub(super) struct RowOut<'a> {
    pub(super) qs: &'a mut [i8],
    pub(super) d: &'a mut [f32],
    pub(super) s: Option<&'a mut [f32]>,
    pub(super) start: Option<&'a mut [[i32; 8]]>,
}

fn quantize_row(xs: &[f32], offset: i32, out: RowOut) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `matmul` checked `available()`.
    unsafe {
        super::q32_x86::quantize_row(xs, offset, out)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (xs, offset, out);
        unreachable!("available() is false off x86-64")
    }
}

/// Runs every (row block, tile of weight rows) item over the pool.
fn run(format: Format, m: usize, n: usize, w: &[u8], acts: &Acts, dst: &mut [f32]) {
    let k = acts.kb * QK;
    let row_block = (ROW_BLOCK_BYTES / k)
        .clamp(ACTS, 256)
        .next_multiple_of(ACTS);
    let row_block = m
        .div_ceil(m.div_ceil(row_block))
        .next_multiple_of(ACTS)
        .min(m);
    let n_tiles = n.div_ceil(TILE);
    let n_items = m.div_ceil(row_block) * n_tiles;
    let out = SyncPtr(dst.as_mut_ptr());
    let items = |range: std::ops::Range<usize>| {
        let out = &out;
        for item in range {
            let (r0, c0) = ((item / n_tiles) * row_block, (item % n_tiles) * TILE);
            let (r1, c1) = ((r0 + row_block).min(m), (c0 + TILE).min(n));
            for c in (c0..c1).step_by(ROWS) {
                let group = c / ROWS;
                let mut r = r0;
                while r < r1 {
                    let take = ACTS.min(r1 - r);
                    // The weights are unpacked once for all the rows taken (each row's sums
                    // run in the same order whatever rows come with it).
                    let res = match take {
                        1 => padded(kernel::<1>(format, w, acts, group, [r])),
                        2 => padded(kernel::<2>(format, w, acts, group, [r, r + 1])),
                        3 => padded(kernel::<3>(format, w, acts, group, [r, r + 1, r + 2])),
                        _ => kernel::<ACTS>(format, w, acts, group, std::array::from_fn(|i| r + i)),
                    };
                    for (i, row) in res.iter().take(take).enumerate() {
                        for (j, &v) in row.iter().enumerate() {
                            // SAFETY: row r + i < m and column c + j < n lie inside the m×n
                            // `dst`; every item is run once and owns its rows × columns.
                            unsafe { *out.0.add((r + i) * n + c + j) = v };
                        }
                    }
                    r += take;
                }
            }
        }
    };
    if n_items == 1 || m * n * acts.kb < MIN_PARALLEL_WORK {
        items(0..n_items);
    } else {
        candle_core::utils::barrier_pool().execute_chunked(n_items, items);
    }
}

/// `R` rows of results in the first of [`ACTS`].
fn padded<const R: usize>(got: [[f32; ROWS]; R]) -> [[f32; ROWS]; ACTS] {
    let mut res = [[0f32; ROWS]; ACTS];
    res[..R].copy_from_slice(&got);
    res
}

/// `R` activation rows × the [`ROWS`] weight rows of packed group `group`.
#[inline(always)]
fn kernel<const R: usize>(
    format: Format,
    w: &[u8],
    acts: &Acts,
    group: usize,
    rows: [usize; R],
) -> [[f32; ROWS]; R] {
    #[cfg(target_arch = "x86_64")]
    {
        use super::q32_x86::{tile, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0};
        // SAFETY: `matmul` checked `available()` and the shapes: `group` is a group of `w`
        // (kb group blocks) and every row one of `acts`.
        unsafe {
            match format {
                Format::Q4_0 => tile::<Q4_0, R>(w, acts, group, rows),
                Format::Q4_1 => tile::<Q4_1, R>(w, acts, group, rows),
                Format::Q5_0 => tile::<Q5_0, R>(w, acts, group, rows),
                Format::Q5_1 => tile::<Q5_1, R>(w, acts, group, rows),
                Format::Q8_0 => tile::<Q8_0, R>(w, acts, group, rows),
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (format, w, acts, group, rows);
        unreachable!("available() is false off x86-64")
    }
}
