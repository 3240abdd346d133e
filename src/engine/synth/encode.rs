//! Generating a weight matrix chunk by chunk and encoding it in its storage type.
//!
//! A matrix is cut into chunks of whole rows; chunk `c` is drawn from its own random
//! stream `(seed, key, c)`, so chunks can be made on several threads and the result does
//! not depend on how many. Every ggml type quantizes row by row in whole blocks, so the
//! encoded chunks concatenate to exactly the encoding of the whole matrix.

use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Device, Tensor};
use half::f16;

use super::plan::Matrix;
use super::rng::Normal;
use super::writer::GgufWriter;
use crate::engine::error::{EngineError, Result};

/// Target number of values per chunk (1 MiB as f32).
const CHUNK_VALUES: usize = 1 << 18;
/// Most worker threads used, whatever the machine offers.
const MAX_WORKERS: usize = 8;

/// Generates `m` and appends its encoding as `dtype` to `w`.
pub(super) fn write_matrix(
    w: &mut GgufWriter,
    seed: u64,
    m: &Matrix,
    dtype: GgmlDType,
) -> Result<()> {
    if !m.cols.is_multiple_of(dtype.block_size()) {
        return Err(EngineError::InvalidParameter(format!(
            "`{}`: rows of {} values are not whole {dtype:?} blocks of {}",
            m.key,
            m.cols,
            dtype.block_size()
        )));
    }
    let chunk_rows = (CHUNK_VALUES / m.cols).max(1);
    let chunks: Vec<Chunk> = (0..m.rows)
        .step_by(chunk_rows)
        .enumerate()
        .map(|(index, start)| Chunk {
            index: index as u64,
            rows: chunk_rows.min(m.rows - start),
        })
        .collect();
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, MAX_WORKERS);
    for batch in chunks.chunks(workers) {
        let encoded = if batch.len() == 1 {
            vec![encode_chunk(seed, m, batch[0], dtype)]
        } else {
            std::thread::scope(|scope| {
                let handles: Vec<_> = batch
                    .iter()
                    .map(|&chunk| scope.spawn(move || encode_chunk(seed, m, chunk, dtype)))
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().unwrap_or_else(|_| Err(worker_panicked(&m.key))))
                    .collect::<Vec<_>>()
            })
        };
        for bytes in encoded {
            w.bytes(&bytes?)?;
        }
    }
    Ok(())
}

/// A run of whole rows of a matrix, drawn from its own random stream.
#[derive(Debug, Clone, Copy)]
struct Chunk {
    /// Position among the matrix's chunks: selects the random stream.
    index: u64,
    /// Number of rows.
    rows: usize,
}

/// Generates one chunk of `m` and encodes it as `dtype`.
fn encode_chunk(seed: u64, m: &Matrix, chunk: Chunk, dtype: GgmlDType) -> Result<Vec<u8>> {
    let rows = chunk.rows;
    let mut normal = Normal::new(seed, &m.key, chunk.index);
    let (mean, std) = (f64::from(m.mean), f64::from(m.std));
    // Every value is rounded to f16 precision, so F16 storage is lossless.
    let values: Vec<f32> = (0..rows * m.cols)
        .map(|_| f16::from_f64(mean + std * normal.sample()).to_f32())
        .collect();
    match dtype {
        GgmlDType::F32 => Ok(values.iter().flat_map(|v| v.to_le_bytes()).collect()),
        GgmlDType::F16 => Ok(values
            .iter()
            .flat_map(|&v| f16::from_f32(v).to_le_bytes())
            .collect()),
        _ => {
            let tensor = Tensor::from_vec(values, (rows, m.cols), &Device::Cpu)?;
            let quantized = QTensor::quantize(&tensor, dtype)?;
            Ok(quantized.data()?.into_owned())
        }
    }
}

fn worker_panicked(key: &str) -> EngineError {
    EngineError::Compute(candle_core::Error::Msg(format!(
        "synthesis worker for `{key}` panicked"
    )))
}
