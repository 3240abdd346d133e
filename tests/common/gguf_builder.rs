//! A hand-written GGUF v3 writer for tests that need small or deliberately broken files:
//! a valid dense one-layer Llama (`GgufBuilder::dense_llama`) that the engine loads, and
//! edits that break exactly one thing (a metadata key, a tensor's type or shape).
//!
//! Layout (gguf-py `GGUFWriter`): magic `GGUF`, u32 version 3, u64 tensor count, u64
//! key/value count; each key/value: u64-length string, u32 value type, value; each tensor
//! info: name, u32 n_dims, u64 dims (ggml order: innermost first), u32 ggml type, u64
//! offset into the data section; zero padding to 32 bytes; tensor data, each tensor padded
//! to 32 bytes.

use std::path::{Path, PathBuf};

/// Alignment of the data section and of every tensor in it (GGUF's default).
const ALIGNMENT: usize = 32;

/// ggml type id of `F32`.
pub const GGML_F32: u32 = 0;

/// A metadata value (the GGUF value types the tests need).
#[derive(Debug, Clone)]
pub enum Meta {
    /// Type 4.
    U32(u32),
    /// Type 6.
    F32(f32),
    /// Type 7.
    Bool(bool),
    /// Type 8.
    Str(String),
    /// Type 9 of type 8.
    StrArray(Vec<String>),
    /// Type 9 of type 6.
    F32Array(Vec<f32>),
    /// Type 9 of type 5.
    I32Array(Vec<i32>),
}

/// One tensor: its header entry and its raw data.
#[derive(Debug, Clone)]
struct Tensor {
    name: String,
    /// Outermost dimension first (candle's and the engine's order); written reversed.
    shape: Vec<usize>,
    ggml_type: u32,
    data: Vec<u8>,
}

/// A GGUF file under construction; keys and tensors keep their insertion order.
#[derive(Debug, Clone, Default)]
pub struct GgufBuilder {
    metadata: Vec<(String, Meta)>,
    tensors: Vec<Tensor>,
}

/// Shape of the model `GgufBuilder::dense_llama` writes.
pub mod dense {
    /// Hidden size.
    pub const DIM: usize = 16;
    /// Feed-forward hidden size.
    pub const FFN: usize = 32;
    /// Query heads.
    pub const HEADS: usize = 2;
    /// Key/value heads.
    pub const KV_HEADS: usize = 1;
    /// Size of one head.
    pub const HEAD_DIM: usize = DIM / HEADS;
    /// Context length.
    pub const CONTEXT: usize = 64;
    /// Pieces of its SentencePiece vocabulary: `<unk>`, `<s>`, `</s>`, a few normal pieces,
    /// and byte-fallback pieces that spell Hebrew letters (ש = D7 A9, ל = D7 9C,
    /// ו = D7 95, ם = D7 9D) and the lead byte of a four-byte character (F0).
    pub const PIECES: [&str; 16] = [
        "<unk>", "<s>", "</s>", "▁", "a", "b", "▁a", "ab", ".", "<0xD7>", "<0xA9>", "<0x9C>",
        "<0x95>", "<0x9D>", "<0xF0>", "▁b",
    ];

    /// GGUF token type of a piece: 2 unknown, 3 control, 6 byte, 1 normal.
    pub fn token_type(piece: &str) -> i32 {
        match piece {
            "<unk>" => 2,
            "<s>" | "</s>" => 3,
            p if p.starts_with("<0x") => 6,
            _ => 1,
        }
    }
}

impl GgufBuilder {
    /// A complete dense (no experts) one-layer Llama in F32 with a 16-piece SentencePiece
    /// vocabulary: every tensor and key the engine needs, with small deterministic weights.
    pub fn dense_llama() -> Self {
        use dense::*;
        let vocab = PIECES.len();
        let mut b = Self::default()
            .meta("general.architecture", Meta::Str("llama".into()))
            .meta(
                "general.name",
                Meta::Str("hand-built dense test model".into()),
            )
            .meta("llama.block_count", Meta::U32(1))
            .meta("llama.context_length", Meta::U32(CONTEXT as u32))
            .meta("llama.embedding_length", Meta::U32(DIM as u32))
            .meta("llama.feed_forward_length", Meta::U32(FFN as u32))
            .meta("llama.attention.head_count", Meta::U32(HEADS as u32))
            .meta("llama.attention.head_count_kv", Meta::U32(KV_HEADS as u32))
            .meta("llama.rope.freq_base", Meta::F32(10_000.0))
            .meta("llama.attention.layer_norm_rms_epsilon", Meta::F32(1e-5))
            .meta("tokenizer.ggml.model", Meta::Str("llama".into()))
            .meta(
                "tokenizer.ggml.tokens",
                Meta::StrArray(PIECES.iter().map(|p| p.to_string()).collect()),
            )
            .meta(
                "tokenizer.ggml.scores",
                Meta::F32Array((0..vocab).map(|i| -(i as f32)).collect()),
            )
            .meta(
                "tokenizer.ggml.token_type",
                Meta::I32Array(PIECES.iter().map(|p| token_type(p)).collect()),
            )
            .meta("tokenizer.ggml.bos_token_id", Meta::U32(1))
            .meta("tokenizer.ggml.eos_token_id", Meta::U32(2))
            .meta("tokenizer.ggml.add_bos_token", Meta::Bool(true));
        let kv_dim = KV_HEADS * HEAD_DIM;
        let tensors: [(&str, Vec<usize>); 12] = [
            ("token_embd.weight", vec![vocab, DIM]),
            ("blk.0.attn_norm.weight", vec![DIM]),
            ("blk.0.attn_q.weight", vec![HEADS * HEAD_DIM, DIM]),
            ("blk.0.attn_k.weight", vec![kv_dim, DIM]),
            ("blk.0.attn_v.weight", vec![kv_dim, DIM]),
            ("blk.0.attn_output.weight", vec![DIM, HEADS * HEAD_DIM]),
            ("blk.0.ffn_norm.weight", vec![DIM]),
            ("blk.0.ffn_gate.weight", vec![FFN, DIM]),
            ("blk.0.ffn_up.weight", vec![FFN, DIM]),
            ("blk.0.ffn_down.weight", vec![DIM, FFN]),
            ("output_norm.weight", vec![DIM]),
            ("output.weight", vec![vocab, DIM]),
        ];
        for (name, shape) in tensors {
            b = b.f32_tensor(name, &shape);
        }
        b
    }

    /// Sets `key` (replacing an earlier value, keeping its position).
    pub fn meta(mut self, key: &str, value: Meta) -> Self {
        match self.metadata.iter_mut().find(|(k, _)| k == key) {
            Some(entry) => entry.1 = value,
            None => self.metadata.push((key.to_string(), value)),
        }
        self
    }

    /// Removes `key`; panics if it was not there (a test that removes nothing tests nothing).
    pub fn without_meta(mut self, key: &str) -> Self {
        let before = self.metadata.len();
        self.metadata.retain(|(k, _)| k != key);
        assert_ne!(
            before,
            self.metadata.len(),
            "no metadata key `{key}` to remove"
        );
        self
    }

    /// Sets an F32 tensor of `shape` (outermost first): vectors (norm weights) are ones,
    /// matrices small deterministic values in [-0.25, 0.25).
    pub fn f32_tensor(self, name: &str, shape: &[usize]) -> Self {
        let elems: usize = shape.iter().product();
        let values: Vec<f32> = if shape.len() == 1 {
            vec![1.0; elems]
        } else {
            let mut state = name
                .bytes()
                .fold(0x9E37_79B9u32, |h, b| h.rotate_left(5) ^ b as u32);
            (0..elems)
                .map(|_| {
                    state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                    (state >> 8) as f32 / (1u32 << 24) as f32 * 0.5 - 0.25
                })
                .collect()
        };
        let data = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.raw_tensor(name, shape, GGML_F32, data)
    }

    /// Sets a tensor with any ggml type id and raw data (replacing one of the same name,
    /// keeping its position).
    pub fn raw_tensor(
        mut self,
        name: &str,
        shape: &[usize],
        ggml_type: u32,
        data: Vec<u8>,
    ) -> Self {
        let tensor = Tensor {
            name: name.to_string(),
            shape: shape.to_vec(),
            ggml_type,
            data,
        };
        match self.tensors.iter_mut().find(|t| t.name == name) {
            Some(t) => *t = tensor,
            None => self.tensors.push(tensor),
        }
        self
    }

    /// Removes tensor `name`; panics if it was not there.
    pub fn without_tensor(mut self, name: &str) -> Self {
        let before = self.tensors.len();
        self.tensors.retain(|t| t.name != name);
        assert_ne!(before, self.tensors.len(), "no tensor `{name}` to remove");
        self
    }

    /// The file's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(b"GGUF");
        out.extend_from_slice(&3u32.to_le_bytes());
        out.extend_from_slice(&(self.tensors.len() as u64).to_le_bytes());
        out.extend_from_slice(&(self.metadata.len() as u64).to_le_bytes());
        for (key, value) in &self.metadata {
            put_str(&mut out, key);
            put_meta(&mut out, value);
        }
        let mut offset = 0usize;
        for t in &self.tensors {
            put_str(&mut out, &t.name);
            out.extend_from_slice(&(t.shape.len() as u32).to_le_bytes());
            for &d in t.shape.iter().rev() {
                out.extend_from_slice(&(d as u64).to_le_bytes());
            }
            out.extend_from_slice(&t.ggml_type.to_le_bytes());
            out.extend_from_slice(&(offset as u64).to_le_bytes());
            offset = (offset + t.data.len()).next_multiple_of(ALIGNMENT);
        }
        for t in &self.tensors {
            out.resize(out.len().next_multiple_of(ALIGNMENT), 0);
            out.extend_from_slice(&t.data);
        }
        out
    }

    /// Writes the file as `dir/name` and returns its path.
    pub fn write(&self, dir: &Path, name: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, self.to_bytes())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        path
    }
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u64).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn put_meta(out: &mut Vec<u8>, value: &Meta) {
    let put_array_header = |out: &mut Vec<u8>, elem_type: u32, len: usize| {
        out.extend_from_slice(&9u32.to_le_bytes());
        out.extend_from_slice(&elem_type.to_le_bytes());
        out.extend_from_slice(&(len as u64).to_le_bytes());
    };
    match value {
        Meta::U32(v) => {
            out.extend_from_slice(&4u32.to_le_bytes());
            out.extend_from_slice(&v.to_le_bytes());
        }
        Meta::F32(v) => {
            out.extend_from_slice(&6u32.to_le_bytes());
            out.extend_from_slice(&v.to_le_bytes());
        }
        Meta::Bool(v) => {
            out.extend_from_slice(&7u32.to_le_bytes());
            out.push(u8::from(*v));
        }
        Meta::Str(s) => {
            out.extend_from_slice(&8u32.to_le_bytes());
            put_str(out, s);
        }
        Meta::StrArray(items) => {
            put_array_header(out, 8, items.len());
            items.iter().for_each(|s| put_str(out, s));
        }
        Meta::F32Array(items) => {
            put_array_header(out, 6, items.len());
            items
                .iter()
                .for_each(|v| out.extend_from_slice(&v.to_le_bytes()));
        }
        Meta::I32Array(items) => {
            put_array_header(out, 5, items.len());
            items
                .iter()
                .for_each(|v| out.extend_from_slice(&v.to_le_bytes()));
        }
    }
}
