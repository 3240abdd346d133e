//! A streaming GGUF v3 writer: the header (metadata and tensor infos) first, then each
//! tensor's data as it is generated, so no more than a few chunks are held in memory.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use candle_core::quantized::GgmlDType;

use super::plan::TensorPlan;
use crate::engine::error::{EngineError, Result};

/// Alignment of the tensor data section and of every tensor in it.
pub(super) const ALIGNMENT: usize = 32;

/// A metadata value, with the GGUF types llama.cpp writes for each key.
#[derive(Debug, Clone)]
pub(super) enum Meta {
    /// `GGUF_TYPE_UINT32`.
    U32(u32),
    /// `GGUF_TYPE_FLOAT32`.
    F32(f32),
    /// `GGUF_TYPE_BOOL`.
    Bool(bool),
    /// `GGUF_TYPE_STRING`.
    Str(String),
    /// Array of strings.
    StrArray(Vec<String>),
    /// Array of `FLOAT32`.
    F32Array(Vec<f32>),
    /// Array of `INT32`.
    I32Array(Vec<i32>),
}

/// GGUF value type id of `UINT32`.
const T_U32: u32 = 4;
/// GGUF value type id of `INT32`.
const T_I32: u32 = 5;
/// GGUF value type id of `FLOAT32`.
const T_F32: u32 = 6;
/// GGUF value type id of `BOOL`.
const T_BOOL: u32 = 7;
/// GGUF value type id of `STRING`.
const T_STRING: u32 = 8;
/// GGUF value type id of `ARRAY`.
const T_ARRAY: u32 = 9;

/// ggml's type id for `dtype` (the numbering of `ggml.h`).
fn ggml_type_id(dtype: GgmlDType) -> u32 {
    match dtype {
        GgmlDType::F32 => 0,
        GgmlDType::F16 => 1,
        GgmlDType::Q4_0 => 2,
        GgmlDType::Q4_1 => 3,
        GgmlDType::Q5_0 => 6,
        GgmlDType::Q5_1 => 7,
        GgmlDType::Q8_0 => 8,
        GgmlDType::Q8_1 => 9,
        GgmlDType::Q2K => 10,
        GgmlDType::Q3K => 11,
        GgmlDType::Q4K => 12,
        GgmlDType::Q5K => 13,
        GgmlDType::Q6K => 14,
        GgmlDType::Q8K => 15,
        GgmlDType::BF16 => 30,
    }
}

/// Bytes of zero padding after `len` bytes to reach the alignment.
fn padding(len: usize) -> usize {
    (ALIGNMENT - len % ALIGNMENT) % ALIGNMENT
}

/// A file being written, counting bytes for alignment and naming itself in errors.
pub(super) struct GgufWriter {
    /// Buffered output.
    out: BufWriter<File>,
    /// The file's path, for error messages.
    path: PathBuf,
    /// Bytes written so far.
    pos: usize,
}

impl GgufWriter {
    /// Creates (truncates) `path`.
    pub(super) fn create(path: &Path) -> Result<Self> {
        let file = File::create(path).map_err(|source| io_error(path, source))?;
        Ok(Self {
            out: BufWriter::with_capacity(1 << 20, file),
            path: path.to_owned(),
            pos: 0,
        })
    }

    /// Writes raw bytes.
    pub(super) fn bytes(&mut self, data: &[u8]) -> Result<()> {
        self.out
            .write_all(data)
            .map_err(|source| io_error(&self.path, source))?;
        self.pos += data.len();
        Ok(())
    }

    fn u32(&mut self, v: u32) -> Result<()> {
        self.bytes(&v.to_le_bytes())
    }

    fn u64(&mut self, v: u64) -> Result<()> {
        self.bytes(&v.to_le_bytes())
    }

    fn len(&mut self, n: usize) -> Result<()> {
        self.u64(n as u64)
    }

    fn string(&mut self, s: &str) -> Result<()> {
        self.len(s.len())?;
        self.bytes(s.as_bytes())
    }

    /// Writes zeros up to the next multiple of [`ALIGNMENT`].
    pub(super) fn align(&mut self) -> Result<()> {
        let zeros = [0u8; ALIGNMENT];
        self.bytes(&zeros[..padding(self.pos)])
    }

    fn value(&mut self, value: &Meta) -> Result<()> {
        match value {
            Meta::U32(v) => {
                self.u32(T_U32)?;
                self.u32(*v)
            }
            Meta::F32(v) => {
                self.u32(T_F32)?;
                self.bytes(&v.to_le_bytes())
            }
            Meta::Bool(v) => {
                self.u32(T_BOOL)?;
                self.bytes(&[u8::from(*v)])
            }
            Meta::Str(v) => {
                self.u32(T_STRING)?;
                self.string(v)
            }
            Meta::StrArray(vs) => {
                self.array_header(T_STRING, vs.len())?;
                vs.iter().try_for_each(|v| self.string(v))
            }
            Meta::F32Array(vs) => {
                self.array_header(T_F32, vs.len())?;
                vs.iter().try_for_each(|v| self.bytes(&v.to_le_bytes()))
            }
            Meta::I32Array(vs) => {
                self.array_header(T_I32, vs.len())?;
                vs.iter().try_for_each(|v| self.bytes(&v.to_le_bytes()))
            }
        }
    }

    fn array_header(&mut self, elem_type: u32, len: usize) -> Result<()> {
        self.u32(T_ARRAY)?;
        self.u32(elem_type)?;
        self.len(len)
    }

    /// Writes the GGUF v3 header: magic, counts, metadata, tensor infos (offsets from the
    /// tensors' sizes, each aligned), and the padding before the data section.
    pub(super) fn header(
        &mut self,
        metadata: &[(&str, Meta)],
        tensors: &[TensorPlan],
    ) -> Result<()> {
        self.bytes(b"GGUF")?;
        self.u32(3)?;
        self.len(tensors.len())?;
        self.len(metadata.len())?;
        for (key, value) in metadata {
            self.string(key)?;
            self.value(value)?;
        }
        let mut offset = 0usize;
        for tensor in tensors {
            self.string(&tensor.name)?;
            self.u32(tensor.shape.len() as u32)?;
            // GGUF stores ggml order: innermost dimension first.
            for &dim in tensor.shape.iter().rev() {
                self.len(dim)?;
            }
            self.u32(ggml_type_id(tensor.dtype))?;
            self.len(offset)?;
            offset += tensor.bytes() + padding(tensor.bytes());
        }
        self.align()
    }

    /// Bytes written so far.
    pub(super) fn position(&self) -> usize {
        self.pos
    }

    /// The path being written.
    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// Flushes and syncs the file to disk, so a later rename publishes complete data.
    pub(super) fn finish(self) -> Result<u64> {
        let path = self.path;
        let file = self
            .out
            .into_inner()
            .map_err(|e| io_error(&path, e.into_error()))?;
        file.sync_all().map_err(|source| io_error(&path, source))?;
        Ok(self.pos as u64)
    }
}

/// An I/O error naming `path`.
pub(super) fn io_error(path: &Path, source: std::io::Error) -> EngineError {
    EngineError::Io {
        path: path.to_owned(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padding_reaches_the_alignment() {
        assert_eq!(padding(0), 0);
        assert_eq!(padding(1), 31);
        assert_eq!(padding(32), 0);
        assert_eq!(padding(33), 31);
    }
}
