//! Reading the `tokenizer.ggml.*` keys of a GGUF header into plain Rust values, with errors
//! that name the key at fault.

use std::collections::HashMap;

use candle_core::quantized::gguf_file::Value;

use super::table::TokenType;
use crate::engine::{EngineError, Result};

/// The tokenizer keys of one GGUF file, checked for type and length.
pub(crate) struct GgufVocab {
    /// `tokenizer.ggml.model`: `llama` or `gpt2`.
    pub model: String,
    /// `tokenizer.ggml.pre`, the pre-tokenizer name of byte-level BPE files.
    pub pre: Option<String>,
    /// `tokenizer.ggml.tokens`: the piece of every id.
    pub tokens: Vec<String>,
    /// `tokenizer.ggml.scores`, one per token when present.
    pub scores: Option<Vec<f32>>,
    /// `tokenizer.ggml.token_type`, one per token (all normal when absent).
    pub types: Vec<TokenType>,
    /// `tokenizer.ggml.merges` split into pairs, when present.
    pub merges: Option<Vec<(String, String)>>,
    /// `tokenizer.ggml.bos_token_id` (ids outside the vocabulary are dropped with a warning).
    pub bos: Option<u32>,
    /// `tokenizer.ggml.eos_token_id`.
    pub eos: Option<u32>,
    /// `tokenizer.ggml.unknown_token_id`.
    pub unk: Option<u32>,
    /// `tokenizer.ggml.add_bos_token`.
    pub add_bos: Option<bool>,
    /// `tokenizer.ggml.add_space_prefix`.
    pub add_space_prefix: Option<bool>,
    /// `tokenizer.ggml.remove_extra_whitespaces`.
    pub remove_extra_whitespaces: Option<bool>,
}

const MODEL: &str = "tokenizer.ggml.model";
const TOKENS: &str = "tokenizer.ggml.tokens";
const SCORES: &str = "tokenizer.ggml.scores";
const TYPES: &str = "tokenizer.ggml.token_type";
const MERGES: &str = "tokenizer.ggml.merges";

impl GgufVocab {
    /// Reads and checks every tokenizer key; `tokenizer.ggml.model` and `tokens` are required.
    pub fn read(md: &HashMap<String, Value>) -> Result<Self> {
        let model = string(md, MODEL)?.ok_or_else(|| missing(MODEL))?;
        let tokens = string_array(md, TOKENS)?.ok_or_else(|| missing(TOKENS))?;
        let n = tokens.len();
        if n == 0 {
            return Err(bad(TOKENS, "is empty"));
        }
        let scores = match md.get(SCORES) {
            None => None,
            Some(v) => {
                let items = array(v, SCORES)?;
                check_len(SCORES, items.len(), n)?;
                let scores = items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| match v {
                        Value::F32(x) => Ok(*x),
                        Value::F64(x) => Ok(*x as f32),
                        other => Err(element(SCORES, i, "a float", other)),
                    })
                    .collect::<Result<Vec<_>>>()?;
                Some(scores)
            }
        };
        let types = match md.get(TYPES) {
            None => vec![TokenType::Normal; n],
            Some(v) => {
                let items = array(v, TYPES)?;
                check_len(TYPES, items.len(), n)?;
                items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| {
                        integer(v)
                            .map(TokenType::from_gguf)
                            .ok_or_else(|| element(TYPES, i, "an integer", v))
                    })
                    .collect::<Result<Vec<_>>>()?
            }
        };
        let merges = match string_array(md, MERGES)? {
            None => None,
            Some(lines) => Some(
                lines
                    .into_iter()
                    .enumerate()
                    .map(|(i, line)| split_merge(i, line))
                    .collect::<Result<Vec<_>>>()?,
            ),
        };
        Ok(Self {
            model,
            pre: string(md, "tokenizer.ggml.pre")?,
            bos: token_id(md, "tokenizer.ggml.bos_token_id", n)?,
            eos: token_id(md, "tokenizer.ggml.eos_token_id", n)?,
            unk: token_id(md, "tokenizer.ggml.unknown_token_id", n)?,
            add_bos: boolean(md, "tokenizer.ggml.add_bos_token")?,
            add_space_prefix: boolean(md, "tokenizer.ggml.add_space_prefix")?,
            remove_extra_whitespaces: boolean(md, "tokenizer.ggml.remove_extra_whitespaces")?,
            tokens,
            scores,
            types,
            merges,
        })
    }
}

fn missing(key: &str) -> EngineError {
    EngineError::Tokenizer(format!("metadata `{key}` missing"))
}

fn bad(key: &str, detail: &str) -> EngineError {
    EngineError::Tokenizer(format!("metadata `{key}` {detail}"))
}

fn element(key: &str, i: usize, expected: &str, found: &Value) -> EngineError {
    EngineError::Tokenizer(format!(
        "metadata `{key}`: element {i} is {:?}, expected {expected}",
        found.value_type()
    ))
}

fn check_len(key: &str, len: usize, n_tokens: usize) -> Result<()> {
    if len == n_tokens {
        Ok(())
    } else {
        Err(EngineError::Tokenizer(format!(
            "metadata `{key}` has {len} entries but `{TOKENS}` has {n_tokens}"
        )))
    }
}

fn array<'a>(v: &'a Value, key: &str) -> Result<&'a [Value]> {
    match v {
        Value::Array(items) => Ok(items),
        other => Err(bad(
            key,
            &format!("is {:?}, expected an array", other.value_type()),
        )),
    }
}

fn string(md: &HashMap<String, Value>, key: &str) -> Result<Option<String>> {
    match md.get(key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(bad(
            key,
            &format!("is {:?}, expected a string", other.value_type()),
        )),
    }
}

fn string_array(md: &HashMap<String, Value>, key: &str) -> Result<Option<Vec<String>>> {
    let Some(v) = md.get(key) else {
        return Ok(None);
    };
    array(v, key)?
        .iter()
        .enumerate()
        .map(|(i, v)| match v {
            Value::String(s) => Ok(s.clone()),
            other => Err(element(key, i, "a string", other)),
        })
        .collect::<Result<Vec<_>>>()
        .map(Some)
}

fn integer(v: &Value) -> Option<i64> {
    match *v {
        Value::U8(x) => Some(x.into()),
        Value::I8(x) => Some(x.into()),
        Value::U16(x) => Some(x.into()),
        Value::I16(x) => Some(x.into()),
        Value::U32(x) => Some(x.into()),
        Value::I32(x) => Some(x.into()),
        Value::U64(x) => i64::try_from(x).ok(),
        Value::I64(x) => Some(x),
        _ => None,
    }
}

fn token_id(md: &HashMap<String, Value>, key: &str, n_tokens: usize) -> Result<Option<u32>> {
    let Some(v) = md.get(key) else {
        return Ok(None);
    };
    let id = integer(v).ok_or_else(|| {
        bad(
            key,
            &format!("is {:?}, expected an integer", v.value_type()),
        )
    })?;
    match u32::try_from(id) {
        Ok(id) if (id as usize) < n_tokens => Ok(Some(id)),
        // llama.cpp loads such files, ignoring the id; so do we, loudly.
        _ => {
            tracing::warn!(
                "metadata `{key}` = {id} is outside the vocabulary of {n_tokens} tokens; ignored"
            );
            Ok(None)
        }
    }
}

fn boolean(md: &HashMap<String, Value>, key: &str) -> Result<Option<bool>> {
    match md.get(key) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(other) => Err(bad(
            key,
            &format!("is {:?}, expected a bool", other.value_type()),
        )),
    }
}

/// A merge line is "left right"; llama.cpp looks for the separating space from the second
/// byte on, so a left side that is itself a space still parses.
fn split_merge(i: usize, line: String) -> Result<(String, String)> {
    let split = line
        .char_indices()
        .skip(1)
        .find(|&(_, c)| c == ' ')
        .map(|(at, _)| at);
    match split {
        Some(at) => Ok((line[..at].to_string(), line[at + 1..].to_string())),
        None => Err(EngineError::Tokenizer(format!(
            "metadata `{MERGES}`: entry {i} `{line}` has no space between its two pieces"
        ))),
    }
}
