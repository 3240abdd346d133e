//! Byte-level BPE (`tokenizer.ggml.model = "gpt2"`: SmolLM2, Llama-3 style files), run by the
//! `tokenizers` crate's BPE model behind the pre-tokenizer regexes llama.cpp uses for the
//! file's `tokenizer.ggml.pre`.

use tokenizers::models::bpe::{Vocab, BPE};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{PreTokenizerWrapper, SplitDelimiterBehavior};

use super::table::{byte_piece_value, TokenType};
use crate::engine::{EngineError, Result};

/// GPT-2's split: contractions, letters, numbers, other symbols, whitespace.
const GPT2: &str = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)";
/// Llama-3's split (case-insensitive contractions, numbers in groups of up to three).
const LLAMA3: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// Qwen2's split: as Llama-3's but every digit alone.
const QWEN2: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// The pre-tokenizer a `tokenizer.ggml.pre` name stands for (llama.cpp's `llama-vocab.cpp`).
pub(crate) struct PreTokenizer {
    /// Regexes applied in turn, each splitting the pieces left by the previous ones.
    regexes: &'static [&'static str],
    /// Whether a whole pre-token found in the vocabulary is taken without merging.
    pub ignore_merges: bool,
    /// llama.cpp's default for `add_bos_token` with this pre-tokenizer.
    pub add_bos: bool,
}

impl PreTokenizer {
    /// Looks up `pre`; an unknown or missing name falls back to GPT-2's regex with a warning.
    pub fn named(pre: Option<&str>) -> Self {
        let (regexes, ignore_merges, add_bos): (&'static [&'static str], bool, bool) = match pre {
            Some(
                "llama3" | "llama-v3" | "llama-bpe" | "falcon3" | "falcon-h1" | "pixtral"
                | "midm-2.0" | "lfm2",
            ) => (&[LLAMA3], true, true),
            Some("dbrx" | "smaug-bpe") => (&[LLAMA3], false, false),
            Some(
                "smollm" | "starcoder" | "refact" | "command-r" | "codeshell" | "exaone"
                | "minerva-7b",
            ) => (&[r"\p{N}", GPT2], false, false),
            Some(
                "gpt-2" | "gpt2" | "phi-2" | "mpt" | "olmo" | "jais" | "roberta-bpe" | "exaone4"
                | "trillion" | "jina-es" | "jina-de" | "jina-v1-en" | "jina-v2-es" | "jina-v2-de"
                | "jina-v2-code",
            ) => (&[GPT2], false, false),
            Some("qwen2" | "deepseek-r1-qwen" | "stablelm2" | "megrez" | "kormo") => {
                (&[QWEN2], false, false)
            }
            Some("default") => (
                &[r"[\p{P}\$\+<=>\^~\|]+", GPT2, r"\p{N}+", r"[0-9][0-9][0-9]"],
                false,
                false,
            ),
            other => {
                tracing::warn!(
                    "tokenizer.ggml.pre = {:?} is not a pre-tokenizer Sofer knows; using GPT-2's \
                     split, token ids may differ from the model's own tokenizer",
                    other
                );
                (&[GPT2], false, false)
            }
        };
        Self {
            regexes,
            ignore_merges,
            add_bos,
        }
    }
}

/// A byte-level BPE encoder (text segments only: special tokens are cut out before).
pub(crate) struct Gpt2Model {
    inner: tokenizers::Tokenizer,
}

impl Gpt2Model {
    /// Builds the BPE model from the pieces (ids are positions) and ranked merges.
    pub fn new(
        pieces: &[String],
        merges: Vec<(String, String)>,
        pre: &PreTokenizer,
    ) -> Result<Self> {
        let vocab: Vocab = pieces
            .iter()
            .enumerate()
            .filter_map(|(i, p)| Some((p.clone(), u32::try_from(i).ok()?)))
            .collect();
        let bpe = BPE::builder()
            .vocab_and_merges(vocab, merges)
            .ignore_merges(pre.ignore_merges)
            .build()
            .map_err(|e| EngineError::Tokenizer(format!("byte-level BPE from GGUF: {e}")))?;
        let mut steps: Vec<PreTokenizerWrapper> = Vec::with_capacity(pre.regexes.len() + 1);
        for re in pre.regexes {
            let split = Split::new(
                SplitPattern::Regex((*re).to_string()),
                SplitDelimiterBehavior::Isolated,
                false,
            )
            .map_err(|e| EngineError::Tokenizer(format!("pre-tokenizer regex `{re}`: {e}")))?;
            steps.push(split.into());
        }
        steps.push(ByteLevel::new(false, true, false).into());
        let mut inner = tokenizers::Tokenizer::new(bpe);
        inner.with_pre_tokenizer(Some(Sequence::new(steps)));
        Ok(Self { inner })
    }

    /// Appends the ids of one text segment to `out`.
    pub fn encode(&self, text: &str, out: &mut Vec<u32>) -> Result<()> {
        if text.is_empty() {
            return Ok(());
        }
        let encoding = self
            .inner
            .encode_fast(text, false)
            .map_err(|e| EngineError::Tokenizer(format!("byte-level BPE encode: {e}")))?;
        out.extend_from_slice(encoding.get_ids());
        Ok(())
    }
}

/// The bytes a byte-level piece stands for: each character of GPT-2's byte alphabet back
/// to its byte; characters outside the alphabet are kept as UTF-8.
pub(crate) fn piece_bytes(piece: &str, ty: TokenType) -> Vec<u8> {
    match ty {
        TokenType::Control | TokenType::Unknown => Vec::new(),
        TokenType::UserDefined => piece.as_bytes().to_vec(),
        TokenType::Byte if byte_piece_value(piece).is_some() => {
            byte_piece_value(piece).into_iter().collect()
        }
        _ => {
            let mut out = Vec::with_capacity(piece.len());
            for c in piece.chars() {
                match char_to_byte(c) {
                    Some(b) => out.push(b),
                    None => {
                        let mut buf = [0u8; 4];
                        out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                    }
                }
            }
            out
        }
    }
}

/// Bytes GPT-2 shows as themselves: printable Latin-1 except the soft hyphen.
fn is_direct(b: u32) -> bool {
    matches!(b, 0x21..=0x7E | 0xA1..=0xAC | 0xAE..=0xFF)
}

/// GPT-2's `bytes_to_unicode` inverse: direct bytes are their own code point, the other 68
/// bytes (0x00–0x20, 0x7F–0xA0, 0xAD, in order) are U+0100 onwards.
fn char_to_byte(c: char) -> Option<u8> {
    let cp = u32::from(c);
    if is_direct(cp) {
        return u8::try_from(cp).ok();
    }
    let k = cp.checked_sub(0x100)?;
    let b = match k {
        0..=32 => k,
        33..=66 => 0x7F + (k - 33),
        67 => 0xAD,
        _ => return None,
    };
    u8::try_from(b).ok()
}

/// GPT-2's `bytes_to_unicode`: the character a byte is written as in byte-level pieces.
#[cfg(test)]
pub(crate) fn byte_to_char(b: u8) -> char {
    let b32 = u32::from(b);
    if is_direct(b32) {
        return char::from(b);
    }
    let k = match b32 {
        0..=0x20 => b32,
        0x7F..=0xA0 => 33 + (b32 - 0x7F),
        _ => 67,
    };
    char::from_u32(0x100 + k).unwrap_or('?')
}
