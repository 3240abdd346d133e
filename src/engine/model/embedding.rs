//! The token embedding table, in one of three places:
//! - read from the file row by row as tokens need them (`File`, untied tables on the CPU):
//!   a prompt touches a few hundred of 32,000+ rows, so the table is never held;
//! - the output head's packed matrix (`Packed`, tied embeddings whose type `kernels::q32`
//!   repacks), so the file's largest tensor is held once;
//! - candle's quantized table (`Table`: other tied tables, and other devices).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use candle_core::quantized::{GgmlDType, QStorage, QTensor};
use candle_core::{Device, Result, Tensor};

use crate::engine::gguf::{tensor_bytes, GgufFile};
use crate::engine::kernels::q32::Packed;

#[derive(Debug, Clone)]
pub enum Embeddings {
    File(Arc<FileRows>),
    Table(Arc<QTensor>),
    Packed(Arc<Packed>),
}

impl Embeddings {
    /// The rows of `ids` (`(batch, seq)` u32) as `(batch, seq, dim)` f32.
    pub fn forward(&self, ids: &Tensor) -> Result<Tensor> {
        let (batch, seq) = ids.dims2()?;
        match self {
            Self::Table(table) => table.embedding(ids),
            Self::File(rows) => {
                let flat = ids.flatten_all()?.to_vec1::<u32>()?;
                let table = rows.read(&flat)?;
                table
                    .dequantize(ids.device())?
                    .reshape((batch, seq, rows.cols))
            }
            Self::Packed(packed) => {
                let (_, dim) = packed.shape();
                let flat = ids.flatten_all()?.to_vec1::<u32>()?;
                let mut out = vec![0f32; flat.len() * dim];
                for (&id, row) in flat.iter().zip(out.chunks_exact_mut(dim)) {
                    packed.dequantize_row(id as usize, row)?;
                }
                Tensor::from_vec(out, (batch, seq, dim), ids.device())
            }
        }
    }
}

/// The rows of a `rows × cols` tensor, read from the file when asked for.
#[derive(Debug)]
pub struct FileRows {
    path: PathBuf,
    file: Mutex<File>,
    start: u64,
    dtype: GgmlDType,
    rows: usize,
    cols: usize,
    row_bytes: usize,
}

impl FileRows {
    /// Tensor `name` of `gguf`, whose shape the caller has checked to be `rows × cols`.
    pub fn open(
        gguf: &GgufFile,
        name: &str,
        rows: usize,
        cols: usize,
    ) -> crate::engine::Result<Self> {
        let (dtype, _) = gguf.tensor_info(name)?;
        Ok(Self {
            path: gguf.path().to_path_buf(),
            file: Mutex::new(gguf.reopen()?),
            start: gguf.tensor_offset(name)?,
            dtype,
            rows,
            cols,
            row_bytes: tensor_bytes(dtype, &[cols]) as usize,
        })
    }

    /// Rows `ids` as a `(ids.len(), cols)` tensor of the file's type.
    fn read(&self, ids: &[u32]) -> Result<QTensor> {
        let mut bytes = vec![0u8; ids.len() * self.row_bytes];
        let mut file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        for (&id, dst) in ids.iter().zip(bytes.chunks_exact_mut(self.row_bytes)) {
            if id as usize >= self.rows {
                candle_core::bail!("token id {id} is outside the {} embedding rows", self.rows);
            }
            let at = self.start + id as u64 * self.row_bytes as u64;
            file.seek(SeekFrom::Start(at))
                .and_then(|_| file.read_exact(dst))
                .map_err(|e| {
                    candle_core::Error::Msg(format!(
                        "reading embedding row {id} from {}: {e}",
                        self.path.display()
                    ))
                })?;
        }
        drop(file);
        let storage =
            QStorage::from_data(std::borrow::Cow::Owned(bytes), &Device::Cpu, self.dtype)?;
        QTensor::new(storage, (ids.len(), self.cols))
    }
}
