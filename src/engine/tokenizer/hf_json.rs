//! A Hugging Face `tokenizer.json`, run by the `tokenizers` crate itself.

use std::path::Path;

use tokenizers::{ModelWrapper, Tokenizer as HfTokenizer};

use super::gpt2;
use super::spm;
use super::table::{byte_piece_value, TokenTable, TokenType};
use crate::engine::{EngineError, Result};

/// BOS candidates among a file's added tokens, most likely first.
const BOS_NAMES: &[&str] = &[
    "<s>",
    "<|begin_of_text|>",
    "<|startoftext|>",
    "<bos>",
    "[BOS]",
];
/// EOS candidates among a file's added tokens, most likely first.
const EOS_NAMES: &[&str] = &[
    "</s>",
    "<|endoftext|>",
    "<|im_end|>",
    "<|eot_id|>",
    "<|end_of_text|>",
    "<eos>",
    "[EOS]",
];
/// Unknown-token candidates when the model names none.
const UNK_NAMES: &[&str] = &["<unk>", "[UNK]", "<|unk|>"];

/// The loaded file: one copy that matches special tokens in text, one that does not.
pub(crate) struct HfModel {
    /// Special-token strings in text are split like ordinary text.
    plain: HfTokenizer,
    /// Special-token strings in text become their ids.
    special: HfTokenizer,
}

/// Everything `Tokenizer::from_tokenizer_json` needs from the file.
pub(crate) struct Loaded {
    /// The encoders.
    pub model: HfModel,
    /// Pieces, types and bytes of every id.
    pub table: TokenTable,
    /// BOS id, if the file has one.
    pub bos: Option<u32>,
    /// EOS id, if the file has one.
    pub eos: Option<u32>,
    /// Unknown-token id, if the file has one.
    pub unk: Option<u32>,
    /// Whether the file's post-processor prepends BOS.
    pub add_bos: bool,
}

/// Loads `path`; BOS/EOS come from a `tokenizer_config.json` beside it when that names
/// them, else from well-known added-token strings.
pub(crate) fn load(path: &Path) -> Result<Loaded> {
    let special = HfTokenizer::from_file(path)
        .map_err(|e| EngineError::Tokenizer(format!("{}: {e}", path.display())))?;
    let mut plain = special.clone();
    plain.set_encode_special_tokens(true);

    let n = special.get_vocab_size(true);
    let added = special.get_added_tokens_decoder();
    let mut pieces = Vec::with_capacity(n);
    let mut types = Vec::with_capacity(n);
    for i in 0..n {
        let id = u32::try_from(i).map_err(|_| {
            EngineError::Tokenizer(format!("{}: vocabulary too large", path.display()))
        })?;
        let piece = special.id_to_token(id).unwrap_or_default();
        let ty = match added.get(&id) {
            Some(t) if t.special => TokenType::Control,
            Some(_) => TokenType::UserDefined,
            None if byte_piece_value(&piece).is_some() => TokenType::Byte,
            None => TokenType::Normal,
        };
        pieces.push(piece);
        types.push(ty);
    }
    let byte_level = special
        .get_decoder()
        .and_then(|d| serde_json::to_string(d).ok())
        .is_some_and(|json| json.contains("\"ByteLevel\""));
    let table = TokenTable::new(pieces, types, |piece, ty| match ty {
        TokenType::Control => Vec::new(),
        TokenType::UserDefined => piece.as_bytes().to_vec(),
        _ if byte_level => gpt2::piece_bytes(piece, ty),
        _ => spm::piece_bytes(piece, ty),
    });

    let config = read_config(path);
    let added_id = |names: &[&str]| {
        names.iter().find_map(|name| {
            added
                .iter()
                .filter(|(_, t)| t.content == *name)
                .map(|(id, _)| *id)
                .min()
        })
    };
    let config_id = |key: &str| {
        let value = config.as_ref()?.get(key)?;
        let name = value
            .as_str()
            .or_else(|| value.get("content").and_then(|c| c.as_str()))?;
        special.token_to_id(name)
    };
    let bos = config_id("bos_token").or_else(|| added_id(BOS_NAMES));
    let eos = config_id("eos_token").or_else(|| added_id(EOS_NAMES));
    let unk = match special.get_model() {
        ModelWrapper::BPE(bpe) => bpe
            .get_unk_token()
            .as_deref()
            .and_then(|t| special.token_to_id(t)),
        _ => None,
    }
    .or_else(|| config_id("unk_token"))
    .or_else(|| added_id(UNK_NAMES));
    let add_bos = bos.is_some_and(|bos| {
        plain
            .encode_fast("a", true)
            .is_ok_and(|e| e.get_ids().first() == Some(&bos))
    });
    Ok(Loaded {
        model: HfModel { plain, special },
        table,
        bos,
        eos,
        unk,
        add_bos,
    })
}

/// `tokenizer_config.json` next to the file, if there is a readable one.
fn read_config(path: &Path) -> Option<serde_json::Value> {
    let text = std::fs::read_to_string(path.with_file_name("tokenizer_config.json")).ok()?;
    serde_json::from_str(&text).ok()
}

impl HfModel {
    /// Appends the ids of `text` (no BOS/EOS); `parse_special` matches special-token strings.
    pub fn encode(&self, text: &str, parse_special: bool, out: &mut Vec<u32>) -> Result<()> {
        let tk = if parse_special {
            &self.special
        } else {
            &self.plain
        };
        let encoding = tk
            .encode_fast(text, false)
            .map_err(|e| EngineError::Tokenizer(format!("tokenizer.json encode: {e}")))?;
        out.extend_from_slice(encoding.get_ids());
        Ok(())
    }

    /// Decodes with the file's own decoder, special tokens skipped.
    pub fn decode(&self, ids: &[u32]) -> Option<String> {
        self.special.decode(ids, true).ok()
    }
}
