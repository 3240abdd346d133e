//! Opening a GGUF file with typed errors: magic, truncation, unknown tensor types and
//! missing tensors are each reported with the file's path, never as a panic.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use candle_core::quantized::gguf_file::{Content, Value};
use candle_core::quantized::k_quants::{
    BlockQ2K, BlockQ3K, BlockQ4K, BlockQ4_0, BlockQ4_1, BlockQ5K, BlockQ5_0, BlockQ5_1, BlockQ6K,
    BlockQ8K, BlockQ8_0, BlockQ8_1, GgmlType,
};
use candle_core::quantized::{GgmlDType, QStorage, QTensor, QuantizedType};
use candle_core::Device;

use super::error::{without_backtrace, EngineError, Result};

/// An open GGUF file: its parsed header and a handle to read tensor data from.
pub struct GgufFile {
    path: PathBuf,
    content: Content,
    reader: Mutex<BufReader<File>>,
    file_size: u64,
}

impl GgufFile {
    /// Opens and validates `path`: the magic, the header, and that every tensor's data
    /// lies inside the file.
    pub fn open(path: &Path) -> Result<Self> {
        let io_err = |source| EngineError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut file = File::open(path).map_err(io_err)?;
        let file_size = file.metadata().map_err(io_err)?.len();
        let mut magic = [0u8; 4];
        let got = read_up_to(&mut file, &mut magic).map_err(io_err)?;
        if &magic[..got] != b"GGUF" {
            return Err(if got < 4 && b"GGUF".starts_with(&magic[..got]) {
                EngineError::Truncated {
                    path: path.to_path_buf(),
                    detail: format!("the file has only {file_size} bytes"),
                }
            } else {
                EngineError::BadMagic {
                    path: path.to_path_buf(),
                    found: magic[..got].to_vec(),
                }
            });
        }
        file.seek(SeekFrom::Start(0)).map_err(io_err)?;
        let mut reader = BufReader::new(file);
        let content = Content::read(&mut reader)
            .map_err(|e| classify_header_error(path, file_size, without_backtrace(e)))?;
        let gguf = Self {
            path: path.to_path_buf(),
            content,
            reader: Mutex::new(reader),
            file_size,
        };
        gguf.check_tensor_extents()?;
        Ok(gguf)
    }

    /// The path the file was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file's size in bytes.
    pub fn file_size(&self) -> u64 {
        self.file_size
    }

    /// All metadata key/value pairs.
    pub fn metadata(&self) -> &HashMap<String, Value> {
        &self.content.metadata
    }

    /// Drops the array-valued metadata (the vocabulary's pieces, scores, types and merges:
    /// parsed, tens of bytes per entry) once the tokenizer is built from it.
    pub fn drop_array_metadata(&mut self) {
        self.content
            .metadata
            .retain(|_, v| !matches!(v, Value::Array(_)));
    }

    /// Tensor names with their type and shape (candle order: outermost dimension first).
    pub fn tensors(&self) -> impl Iterator<Item = (&str, GgmlDType, &[usize])> {
        self.content
            .tensor_infos
            .iter()
            .map(|(name, info)| (name.as_str(), info.ggml_dtype, info.shape.dims()))
    }

    /// Whether a tensor of this name exists.
    pub fn has_tensor(&self, name: &str) -> bool {
        self.content.tensor_infos.contains_key(name)
    }

    /// The type and shape of a tensor, or `MissingTensor`.
    pub fn tensor_info(&self, name: &str) -> Result<(GgmlDType, &[usize])> {
        self.content
            .tensor_infos
            .get(name)
            .map(|info| (info.ggml_dtype, info.shape.dims()))
            .ok_or_else(|| EngineError::MissingTensor {
                path: self.path.clone(),
                tensor: name.to_string(),
            })
    }

    /// Reads a whole tensor.
    pub fn tensor(&self, name: &str, device: &Device) -> Result<QTensor> {
        let (dtype, dims) = self.tensor_info(name)?;
        let dims = dims.to_vec();
        let bytes = tensor_bytes(dtype, &dims);
        self.read_qtensor(name, 0, bytes, dtype, dims, device)
    }

    /// Reads slice `index` along the outermost dimension of a tensor: one expert of a
    /// merged `_exps` tensor. Each slice is a whole number of quantization blocks, so
    /// this is a byte range of the file.
    pub fn tensor_slice(&self, name: &str, index: usize, device: &Device) -> Result<QTensor> {
        let (dtype, dims) = self.tensor_info(name)?;
        let (&outer, inner) = dims.split_first().ok_or_else(|| self.malformed(name))?;
        if index >= outer || inner.is_empty() {
            return Err(self.malformed(name));
        }
        let inner = inner.to_vec();
        let bytes = tensor_bytes(dtype, &inner);
        self.read_qtensor(name, index as u64 * bytes, bytes, dtype, inner, device)
    }

    /// Where a tensor's data starts in the file, for readers that fetch parts of it later.
    pub fn tensor_offset(&self, name: &str) -> Result<u64> {
        self.tensor_info(name)?;
        Ok(self.content.tensor_data_offset + self.content.tensor_infos[name].offset)
    }

    /// A second handle on the file (its own position), for readers that outlive loading.
    pub fn reopen(&self) -> Result<File> {
        File::open(&self.path).map_err(|source| EngineError::Io {
            path: self.path.clone(),
            source,
        })
    }

    /// The file's bytes of a whole tensor (`slice: None`) or of slice `index` along its
    /// outermost dimension, for kernels that keep weights in their own layout.
    pub fn raw_tensor(&self, name: &str, slice: Option<usize>) -> Result<Vec<u8>> {
        let (dtype, dims) = self.tensor_info(name)?;
        let (offset, len) = match slice {
            None => (0, tensor_bytes(dtype, dims)),
            Some(index) => {
                let (&outer, inner) = dims.split_first().ok_or_else(|| self.malformed(name))?;
                if index >= outer || inner.is_empty() {
                    return Err(self.malformed(name));
                }
                let len = tensor_bytes(dtype, inner);
                (index as u64 * len, len)
            }
        };
        let start =
            self.content.tensor_data_offset + self.content.tensor_infos[name].offset + offset;
        let mut reader = self.reader.lock().unwrap_or_else(|p| p.into_inner());
        let io = |source| EngineError::Io {
            path: self.path.clone(),
            source,
        };
        reader.seek(SeekFrom::Start(start)).map_err(io)?;
        let mut bytes = vec![0u8; len as usize];
        reader.read_exact(&mut bytes).map_err(io)?;
        Ok(bytes)
    }

    /// A `u32`-like metadata value (any integer type that fits).
    pub fn get_u32(&self, key: &str) -> Result<Option<u32>> {
        let Some(v) = self.content.metadata.get(key) else {
            return Ok(None);
        };
        let n = match v {
            Value::U8(x) => Some(*x as u64),
            Value::U16(x) => Some(*x as u64),
            Value::U32(x) => Some(*x as u64),
            Value::U64(x) => Some(*x),
            Value::I8(x) => u64::try_from(*x).ok(),
            Value::I16(x) => u64::try_from(*x).ok(),
            Value::I32(x) => u64::try_from(*x).ok(),
            Value::I64(x) => u64::try_from(*x).ok(),
            _ => None,
        };
        n.and_then(|n| u32::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| {
                self.bad_metadata(key, format!("expected an unsigned integer, found {v:?}"))
            })
    }

    /// A float metadata value.
    pub fn get_f32(&self, key: &str) -> Result<Option<f32>> {
        match self.content.metadata.get(key) {
            None => Ok(None),
            Some(Value::F32(x)) => Ok(Some(*x)),
            Some(Value::F64(x)) => Ok(Some(*x as f32)),
            Some(v) => Err(self.bad_metadata(key, format!("expected a float, found {v:?}"))),
        }
    }

    /// A string metadata value.
    pub fn get_str(&self, key: &str) -> Result<Option<&str>> {
        match self.content.metadata.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(v) => Err(self.bad_metadata(key, format!("expected a string, found {v:?}"))),
        }
    }

    /// A `BadMetadata` error for this file.
    pub fn bad_metadata(&self, key: &str, detail: impl Into<String>) -> EngineError {
        EngineError::BadMetadata {
            path: self.path.clone(),
            key: key.to_string(),
            detail: detail.into(),
        }
    }

    fn malformed(&self, tensor: &str) -> EngineError {
        EngineError::Malformed {
            path: self.path.clone(),
            detail: format!("tensor `{tensor}` cannot be split along its first dimension"),
        }
    }

    fn check_tensor_extents(&self) -> Result<()> {
        for (name, info) in &self.content.tensor_infos {
            let dims = info.shape.dims();
            let elems: usize = dims.iter().product();
            if !elems.is_multiple_of(info.ggml_dtype.block_size()) {
                return Err(EngineError::Malformed {
                    path: self.path.clone(),
                    detail: format!(
                        "tensor `{name}` has {elems} elements, not a multiple of its {:?} block size {}",
                        info.ggml_dtype,
                        info.ggml_dtype.block_size()
                    ),
                });
            }
            let start = self.content.tensor_data_offset.saturating_add(info.offset);
            let end = start.saturating_add(tensor_bytes(info.ggml_dtype, dims));
            if end > self.file_size {
                return Err(EngineError::Truncated {
                    path: self.path.clone(),
                    detail: format!(
                        "tensor `{name}` needs bytes {start}..{end} but the file has {} bytes",
                        self.file_size
                    ),
                });
            }
        }
        Ok(())
    }

    fn read_qtensor(
        &self,
        name: &str,
        offset_in_tensor: u64,
        len: u64,
        dtype: GgmlDType,
        dims: Vec<usize>,
        device: &Device,
    ) -> Result<QTensor> {
        let info = &self.content.tensor_infos[name];
        let start = self.content.tensor_data_offset + info.offset + offset_in_tensor;
        let mut reader = self.reader.lock().unwrap_or_else(|p| p.into_inner());
        let io = |source| EngineError::Io {
            path: self.path.clone(),
            source,
        };
        reader.seek(SeekFrom::Start(start)).map_err(io)?;
        let storage = read_storage(&mut *reader, dtype, len as usize).map_err(io)?;
        if !matches!(device, Device::Cpu) {
            let bytes = storage.as_bytes().to_vec();
            let storage = QStorage::from_data(Cow::Owned(bytes), device, dtype)?;
            return Ok(QTensor::new(storage, dims)?);
        }
        Ok(QTensor::new(QStorage::Cpu(storage.into_boxed()), dims)?)
    }
}

/// Tensor data read straight into candle's block vectors (no intermediate byte copy, so
/// loading never holds a tensor twice).
enum BlockStorage {
    F32(Vec<f32>),
    F16(Vec<half::f16>),
    Bf16(Vec<half::bf16>),
    Q4_0(Vec<BlockQ4_0>),
    Q4_1(Vec<BlockQ4_1>),
    Q5_0(Vec<BlockQ5_0>),
    Q5_1(Vec<BlockQ5_1>),
    Q8_0(Vec<BlockQ8_0>),
    Q8_1(Vec<BlockQ8_1>),
    Q2K(Vec<BlockQ2K>),
    Q3K(Vec<BlockQ3K>),
    Q4K(Vec<BlockQ4K>),
    Q5K(Vec<BlockQ5K>),
    Q6K(Vec<BlockQ6K>),
    Q8K(Vec<BlockQ8K>),
}

macro_rules! each_storage {
    ($s:expr, $v:ident => $body:expr) => {
        match $s {
            BlockStorage::F32($v) => $body,
            BlockStorage::F16($v) => $body,
            BlockStorage::Bf16($v) => $body,
            BlockStorage::Q4_0($v) => $body,
            BlockStorage::Q4_1($v) => $body,
            BlockStorage::Q5_0($v) => $body,
            BlockStorage::Q5_1($v) => $body,
            BlockStorage::Q8_0($v) => $body,
            BlockStorage::Q8_1($v) => $body,
            BlockStorage::Q2K($v) => $body,
            BlockStorage::Q3K($v) => $body,
            BlockStorage::Q4K($v) => $body,
            BlockStorage::Q5K($v) => $body,
            BlockStorage::Q6K($v) => $body,
            BlockStorage::Q8K($v) => $body,
        }
    };
}

impl BlockStorage {
    fn as_bytes(&self) -> &[u8] {
        each_storage!(self, v => bytes_of(v))
    }

    fn into_boxed(self) -> Box<dyn QuantizedType> {
        each_storage!(self, v => Box::new(v))
    }
}

fn read_storage(
    reader: &mut impl Read,
    dtype: GgmlDType,
    len: usize,
) -> std::io::Result<BlockStorage> {
    Ok(match dtype {
        GgmlDType::F32 => BlockStorage::F32(read_blocks(reader, len)?),
        GgmlDType::F16 => BlockStorage::F16(read_blocks(reader, len)?),
        GgmlDType::BF16 => BlockStorage::Bf16(read_blocks(reader, len)?),
        GgmlDType::Q4_0 => BlockStorage::Q4_0(read_blocks(reader, len)?),
        GgmlDType::Q4_1 => BlockStorage::Q4_1(read_blocks(reader, len)?),
        GgmlDType::Q5_0 => BlockStorage::Q5_0(read_blocks(reader, len)?),
        GgmlDType::Q5_1 => BlockStorage::Q5_1(read_blocks(reader, len)?),
        GgmlDType::Q8_0 => BlockStorage::Q8_0(read_blocks(reader, len)?),
        GgmlDType::Q8_1 => BlockStorage::Q8_1(read_blocks(reader, len)?),
        GgmlDType::Q2K => BlockStorage::Q2K(read_blocks(reader, len)?),
        GgmlDType::Q3K => BlockStorage::Q3K(read_blocks(reader, len)?),
        GgmlDType::Q4K => BlockStorage::Q4K(read_blocks(reader, len)?),
        GgmlDType::Q5K => BlockStorage::Q5K(read_blocks(reader, len)?),
        GgmlDType::Q6K => BlockStorage::Q6K(read_blocks(reader, len)?),
        GgmlDType::Q8K => BlockStorage::Q8K(read_blocks(reader, len)?),
    })
}

fn read_blocks<T: GgmlType>(reader: &mut impl Read, len: usize) -> std::io::Result<Vec<T>> {
    let size = std::mem::size_of::<T>();
    if !len.is_multiple_of(size) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{len} bytes is not a whole number of {:?} blocks", T::DTYPE),
        ));
    }
    let mut blocks = vec![T::zeros(); len / size];
    // SAFETY: ggml blocks are plain-old-data structs of integers and halves, valid for
    // any bit pattern; the byte view covers exactly the vector's initialized elements.
    let bytes = unsafe { std::slice::from_raw_parts_mut(blocks.as_mut_ptr() as *mut u8, len) };
    reader.read_exact(bytes)?;
    Ok(blocks)
}

fn bytes_of<T>(v: &[T]) -> &[u8] {
    // SAFETY: reading the initialized elements of a slice as bytes.
    unsafe { std::slice::from_raw_parts(v.as_ptr() as *const u8, std::mem::size_of_val(v)) }
}

/// Bytes a tensor of this type and shape occupies.
pub fn tensor_bytes(dtype: GgmlDType, dims: &[usize]) -> u64 {
    let elems: usize = dims.iter().product();
    (elems / dtype.block_size() * dtype.type_size()) as u64
}

/// The name ggml gives a tensor type id, for messages about types we cannot read.
fn ggml_type_name(id: u32) -> &'static str {
    match id {
        4 | 5 => "Q4_2/Q4_3 (removed from ggml)",
        16 => "IQ2_XXS",
        17 => "IQ2_XS",
        18 => "IQ3_XXS",
        19 => "IQ1_S",
        20 => "IQ4_NL",
        21 => "IQ3_S",
        22 => "IQ2_S",
        23 => "IQ4_XS",
        24 => "I8",
        25 => "I16",
        26 => "I32",
        27 => "I64",
        28 => "F64",
        29 => "IQ1_M",
        34 => "TQ1_0",
        35 => "TQ2_0",
        39 => "MXFP4",
        _ => "unknown",
    }
}

fn read_up_to(file: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match file.read(&mut buf[got..])? {
            0 => break,
            n => got += n,
        }
    }
    Ok(got)
}

fn classify_header_error(path: &Path, file_size: u64, err: candle_core::Error) -> EngineError {
    let msg = err.to_string();
    let path = path.to_path_buf();
    if let Some(id) = msg
        .strip_prefix("unknown dtype for tensor ")
        .and_then(|s| s.trim().parse::<u32>().ok())
    {
        let tensor = first_tensor_of_type(&path, id)
            .unwrap_or_else(|_| "(unreadable tensor table)".to_string());
        return EngineError::UnsupportedQuantization {
            path,
            tensor,
            dtype: format!("ggml type {id} ({})", ggml_type_name(id)),
        };
    }
    let eof = msg.contains("failed to fill whole buffer")
        || msg.contains("remaining")
        || msg.contains("UnexpectedEof");
    if eof {
        EngineError::Truncated {
            path,
            detail: format!("the header does not fit in the file's {file_size} bytes ({msg})"),
        }
    } else {
        EngineError::Malformed { path, detail: msg }
    }
}

/// Walks the header (which candle stops reading at the first unknown type) to name the
/// first tensor stored as ggml type `type_id`.
fn first_tensor_of_type(path: &Path, type_id: u32) -> std::io::Result<String> {
    let mut r = BufReader::new(File::open(path)?);
    let mut magic_version = [0u8; 8];
    r.read_exact(&mut magic_version)?;
    let tensors = read_u64(&mut r)?;
    let kvs = read_u64(&mut r)?;
    for _ in 0..kvs {
        skip_string(&mut r)?;
        let ty = read_u32(&mut r)?;
        skip_value(&mut r, ty)?;
    }
    for _ in 0..tensors {
        let name = read_string(&mut r)?;
        let n_dims = read_u32(&mut r)?;
        r.seek_relative(8 * n_dims as i64)?;
        let ty = read_u32(&mut r)?;
        read_u64(&mut r)?;
        if ty == type_id {
            return Ok(name);
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::NotFound,
        "no such tensor",
    ))
}

fn read_u32(r: &mut impl Read) -> std::io::Result<u32> {
    let mut b = [0u8; 4];
    r.read_exact(&mut b)?;
    Ok(u32::from_le_bytes(b))
}

fn read_u64(r: &mut impl Read) -> std::io::Result<u64> {
    let mut b = [0u8; 8];
    r.read_exact(&mut b)?;
    Ok(u64::from_le_bytes(b))
}

fn read_string(r: &mut impl Read) -> std::io::Result<String> {
    let len = read_u64(r)?;
    if len > 1 << 20 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "name too long",
        ));
    }
    let mut b = vec![0u8; len as usize];
    r.read_exact(&mut b)?;
    Ok(String::from_utf8_lossy(&b).into_owned())
}

fn skip_string(r: &mut BufReader<File>) -> std::io::Result<()> {
    let len = read_u64(r)?;
    r.seek_relative(len as i64)
}

fn skip_value(r: &mut BufReader<File>, ty: u32) -> std::io::Result<()> {
    let bad = || std::io::Error::new(std::io::ErrorKind::InvalidData, "unknown value type");
    match ty {
        8 => skip_string(r),
        9 => {
            let elem = read_u32(r)?;
            let n = read_u64(r)?;
            match elem {
                8 | 9 => (0..n).try_for_each(|_| skip_value(r, elem)),
                _ => {
                    let size = scalar_size(elem).ok_or_else(bad)?;
                    let bytes = i64::try_from(n.saturating_mul(size)).map_err(|_| bad())?;
                    r.seek_relative(bytes)
                }
            }
        }
        _ => r.seek_relative(scalar_size(ty).ok_or_else(bad)? as i64),
    }
}

/// Bytes of a scalar GGUF value type.
fn scalar_size(ty: u32) -> Option<u64> {
    match ty {
        0 | 1 | 7 => Some(1),
        2 | 3 => Some(2),
        4..=6 => Some(4),
        10..=12 => Some(8),
        _ => None,
    }
}
