//! The tokenizer a model file carries: SentencePiece BPE (`tokenizer.ggml.model = "llama"`,
//! Mistral/Mixtral/DictaLM) or byte-level BPE (`"gpt2"`, SmolLM2/Llama-3) built from the GGUF
//! metadata alone, or a Hugging Face `tokenizer.json`.
//!
//! Plain [`Tokenizer::encode`] never turns control-token strings in the text (`<s>`,
//! `<|im_start|>`) into control ids, so user text cannot forge a prompt structure;
//! [`Tokenizer::encode_with_special`] does, for prompt templates.

mod gpt2;
mod hf_json;
mod metadata;
mod special;
mod spm;
mod table;

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use candle_core::quantized::gguf_file::Value;

use crate::engine::{EngineError, Result};
use metadata::GgufVocab;
use special::{Fragment, SpecialTokens};
use table::{TokenTable, TokenType};

/// Which algorithm a [`Tokenizer`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenizerKind {
    /// SentencePiece BPE with byte fallback, from GGUF metadata (`llama`).
    SentencePiece,
    /// Byte-level BPE, from GGUF metadata (`gpt2`).
    Gpt2,
    /// A Hugging Face `tokenizer.json`.
    HfJson,
}

impl fmt::Display for TokenizerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::SentencePiece => "llama (SentencePiece BPE)",
            Self::Gpt2 => "gpt2 (byte-level BPE)",
            Self::HfJson => "tokenizer.json",
        })
    }
}

/// The encoder behind a [`Tokenizer`].
enum Backend {
    Spm {
        model: Box<spm::SpmModel>,
        add_space_prefix: bool,
    },
    Gpt2(Box<gpt2::Gpt2Model>),
    Hf(Box<hf_json::HfModel>),
}

/// Text ↔ token ids for one model.
pub struct Tokenizer {
    kind: TokenizerKind,
    table: TokenTable,
    special: SpecialTokens,
    backend: Backend,
    bos: Option<u32>,
    eos: Option<u32>,
    unk: Option<u32>,
    add_bos: bool,
}

impl fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tokenizer")
            .field("kind", &self.kind)
            .field("vocab_size", &self.table.len())
            .field("bos", &self.bos)
            .field("eos", &self.eos)
            .field("unk", &self.unk)
            .field("add_bos", &self.add_bos)
            .finish()
    }
}

impl Tokenizer {
    /// From GGUF metadata (`candle_core::quantized::gguf_file::Content::metadata`).
    pub fn from_gguf_metadata(md: &HashMap<String, Value>) -> Result<Self> {
        let vocab = GgufVocab::read(md)?;
        match vocab.model.as_str() {
            "llama" => Self::from_spm(vocab),
            "gpt2" => Self::from_gpt2(vocab),
            other => Err(EngineError::Tokenizer(format!(
                "unsupported tokenizer model `{other}` (supported: llama, gpt2)"
            ))),
        }
    }

    fn from_spm(v: GgufVocab) -> Result<Self> {
        let scores = v.scores.ok_or_else(|| {
            EngineError::Tokenizer(
                "metadata `tokenizer.ggml.scores` missing (a `llama` tokenizer merges by score)"
                    .into(),
            )
        })?;
        if v.remove_extra_whitespaces == Some(true) {
            tracing::warn!(
                "tokenizer.ggml.remove_extra_whitespaces is set but not applied (llama.cpp \
                 ignores it for SentencePiece BPE too)"
            );
        }
        let n = v.tokens.len();
        // llama.cpp's defaults for SentencePiece files: <unk>=0 <s>=1 </s>=2.
        let default_id = |id: u32| ((id as usize) < n).then_some(id);
        let unk = v.unk.or_else(|| {
            v.types
                .iter()
                .position(|&t| t == TokenType::Unknown)
                .and_then(|i| u32::try_from(i).ok())
        });
        let table = TokenTable::new(v.tokens, v.types, spm::piece_bytes);
        let model = Box::new(spm::SpmModel::new(&table, scores, unk));
        Ok(Self {
            kind: TokenizerKind::SentencePiece,
            special: SpecialTokens::from_table(&table),
            backend: Backend::Spm {
                model,
                add_space_prefix: v.add_space_prefix.unwrap_or(true),
            },
            bos: v.bos.or_else(|| default_id(1)),
            eos: v.eos.or_else(|| default_id(2)),
            unk,
            add_bos: v.add_bos.unwrap_or(true),
            table,
        })
    }

    fn from_gpt2(v: GgufVocab) -> Result<Self> {
        let merges = v.merges.ok_or_else(|| {
            EngineError::Tokenizer("metadata `tokenizer.ggml.merges` missing".into())
        })?;
        let pre = gpt2::PreTokenizer::named(v.pre.as_deref());
        let model = gpt2::Gpt2Model::new(&v.tokens, merges, &pre)?;
        let table = TokenTable::new(v.tokens, v.types, gpt2::piece_bytes);
        Ok(Self {
            kind: TokenizerKind::Gpt2,
            special: SpecialTokens::from_table(&table),
            backend: Backend::Gpt2(Box::new(model)),
            bos: v.bos,
            eos: v.eos,
            unk: v.unk,
            add_bos: v.add_bos.unwrap_or(pre.add_bos),
            table,
        })
    }

    /// From a Hugging Face tokenizer.json (the `tokenizers` crate). BOS/EOS: from a
    /// `tokenizer_config.json` beside it when that names them, else from the file's added
    /// tokens (`<s>`/`</s>`, `<|endoftext|>`, `<|im_end|>`…) where found, else None.
    pub fn from_tokenizer_json(path: &Path) -> Result<Self> {
        let loaded = hf_json::load(path)?;
        Ok(Self {
            kind: TokenizerKind::HfJson,
            special: SpecialTokens::from_table(&loaded.table),
            backend: Backend::Hf(Box::new(loaded.model)),
            table: loaded.table,
            bos: loaded.bos,
            eos: loaded.eos,
            unk: loaded.unk,
            add_bos: loaded.add_bos,
        })
    }

    /// Which algorithm this tokenizer runs.
    pub fn kind(&self) -> TokenizerKind {
        self.kind
    }

    /// Number of ids (the model's vocabulary, added tokens included).
    pub fn vocab_size(&self) -> usize {
        self.table.len()
    }

    /// Beginning-of-sequence id.
    pub fn bos_id(&self) -> Option<u32> {
        self.bos
    }

    /// End-of-sequence id.
    pub fn eos_id(&self) -> Option<u32> {
        self.eos
    }

    /// Unknown-token id.
    pub fn unk_id(&self) -> Option<u32> {
        self.unk
    }

    /// Whether the model expects BOS prepended (`tokenizer.ggml.add_bos_token`; default true
    /// for llama, false for gpt2 except Llama-3 style pre-tokenizers, as in llama.cpp).
    pub fn add_bos_default(&self) -> bool {
        self.add_bos
    }

    /// Encodes plain text. Control-token strings inside the text (`<s>`, `</s>`,
    /// `<|im_start|>`) are NOT special: they encode as ordinary text, so user text can never
    /// produce a control token. User-defined pieces (GGUF token type 4, non-special added
    /// tokens) are kept whole, as SentencePiece, llama.cpp and `tokenizers` all do.
    /// `add_bos` prepends the BOS id.
    pub fn encode(&self, text: &str, add_bos: bool) -> Result<Vec<u32>> {
        let mut out = self.start(add_bos)?;
        match &self.backend {
            Backend::Spm {
                model,
                add_space_prefix,
            } => model.encode(&self.table, text, *add_space_prefix, true, &mut out)?,
            Backend::Gpt2(model) => {
                if self.special.has_user_defined() {
                    self.encode_fragments(text, false, &mut out)?;
                } else {
                    model.encode(text, &mut out)?;
                }
            }
            Backend::Hf(model) => model.encode(text, false, &mut out)?,
        }
        Ok(out)
    }

    /// Encodes text in which the exact strings of control/special tokens (GGUF token type 3
    /// or 4, and 2 as llama.cpp does; added special tokens in tokenizer.json) ARE parsed into
    /// their ids; the text between them is encoded as by [`Tokenizer::encode`], each
    /// SentencePiece segment with its own dummy prefix (llama.cpp's `tokenize(…, special =
    /// true)`). For prompt templates.
    pub fn encode_with_special(&self, text: &str, add_bos: bool) -> Result<Vec<u32>> {
        let mut out = self.start(add_bos)?;
        match &self.backend {
            Backend::Hf(model) => model.encode(text, true, &mut out)?,
            _ => self.encode_fragments(text, true, &mut out)?,
        }
        Ok(out)
    }

    fn start(&self, add_bos: bool) -> Result<Vec<u32>> {
        if !add_bos {
            return Ok(Vec::new());
        }
        let bos = self.bos.ok_or_else(|| {
            EngineError::Tokenizer(format!(
                "BOS requested but the {} tokenizer has none",
                self.kind
            ))
        })?;
        Ok(vec![bos])
    }

    /// Splits at special-token strings (llama.cpp's partition) and encodes each text part.
    fn encode_fragments(&self, text: &str, parse_control: bool, out: &mut Vec<u32>) -> Result<()> {
        for fragment in self.special.partition(text, parse_control) {
            match (fragment, &self.backend) {
                (Fragment::Token(id), _) => out.push(id),
                (
                    Fragment::Text(t),
                    Backend::Spm {
                        model,
                        add_space_prefix,
                    },
                ) => {
                    // Text fragments always follow a token or the start: llama.cpp gives
                    // each one the dummy prefix.
                    model.encode(&self.table, t, *add_space_prefix, false, out)?;
                }
                (Fragment::Text(t), Backend::Gpt2(model)) => model.encode(t, out)?,
                (Fragment::Text(t), Backend::Hf(model)) => model.encode(t, parse_control, out)?,
            }
        }
        Ok(())
    }

    /// The raw bytes a token stands for when decoded in the middle of a text (SentencePiece:
    /// `▁`→space, `<0xNN>`→byte NN; gpt2: the byte-level alphabet mapped back to bytes;
    /// control tokens and unknown ids: empty). Lets a generator stream UTF-8 safely even
    /// when a Hebrew letter spans several byte tokens.
    pub fn token_bytes(&self, id: u32) -> &[u8] {
        self.table.bytes(id)
    }

    /// Decodes ids to text, skipping control tokens; SentencePiece drops the one leading
    /// space the dummy prefix added (as SentencePiece's decode does). Invalid UTF-8 → U+FFFD.
    pub fn decode(&self, ids: &[u32]) -> String {
        match &self.backend {
            Backend::Spm {
                add_space_prefix, ..
            } => spm::decode(&self.table, ids, *add_space_prefix),
            Backend::Hf(model) => model.decode(ids).unwrap_or_else(|| self.decode_bytes(ids)),
            Backend::Gpt2(_) => self.decode_bytes(ids),
        }
    }

    fn decode_bytes(&self, ids: &[u32]) -> String {
        let bytes: Vec<u8> = ids
            .iter()
            .flat_map(|&id| self.table.bytes(id).iter().copied())
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// The piece string of an id (for `--json` output and debugging).
    pub fn id_to_piece(&self, id: u32) -> Option<&str> {
        self.table.piece(id)
    }

    /// Whether `id` is a control token (`<s>`, `</s>`, `<|im_end|>`, special added tokens).
    pub fn is_control(&self, id: u32) -> bool {
        self.table.token_type(id) == Some(TokenType::Control)
    }
}

#[cfg(test)]
mod tests;
