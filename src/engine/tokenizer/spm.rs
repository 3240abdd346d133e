//! SentencePiece BPE (`tokenizer.ggml.model = "llama"`): the algorithm of SentencePiece's
//! `bpe_model.cc`, reproduced from scores alone (GGUF stores no merges).
//!
//! Spaces become `▁`, a dummy `▁` is prepended, the text is split into characters
//! (user-defined pieces kept whole), and the adjacent pair whose concatenation is a
//! vocabulary piece with the highest score is merged (ties: leftmost) until none is left.
//! Pieces not in the vocabulary fall back to `<0xNN>` byte tokens. A heap of candidate
//! pairs over a linked list of symbols keeps this O(n log n) for whole documents.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};

use super::table::{byte_piece_value, TokenTable, TokenType};
use crate::engine::{EngineError, Result};

/// SentencePiece's whitespace symbol U+2581.
pub(crate) const SPACE: char = '\u{2581}';
/// What SentencePiece prints for the unknown token.
pub(crate) const UNK_SURFACE: &str = " \u{2047} ";

/// The SentencePiece BPE encoder of one vocabulary.
pub(crate) struct SpmModel {
    piece_to_id: HashMap<Box<str>, u32, BuildHasherDefault<FxHasher>>,
    scores: Vec<f32>,
    byte_ids: Vec<Option<u32>>,
    byte_fallback: bool,
    unk: Option<u32>,
    /// User-defined pieces with spaces written as `▁`, longest first.
    user_defined: Vec<(String, u32)>,
    /// Whether some user-defined piece starts with this byte.
    user_defined_first: [bool; 256],
}

/// One symbol of the text being merged: a byte range of the normalized text.
#[derive(Clone, Copy)]
struct Symbol {
    start: usize,
    len: usize,
    prev: Option<usize>,
    next: Option<usize>,
    frozen: bool,
}

/// A candidate merge of two adjacent symbols.
struct Candidate {
    score: f32,
    left: usize,
    right: usize,
    len: usize,
}

impl PartialEq for Candidate {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Candidate {}
impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Candidate {
    /// Highest score first; among equal scores the leftmost pair (as SentencePiece's
    /// comparator, including its treatment of `-0.0 == 0.0`).
    fn cmp(&self, other: &Self) -> Ordering {
        self.score
            .partial_cmp(&other.score)
            .unwrap_or(Ordering::Equal)
            .then_with(|| other.left.cmp(&self.left))
    }
}

impl SpmModel {
    /// Indexes the vocabulary; `scores` has one entry per token.
    pub fn new(table: &TokenTable, scores: Vec<f32>, unk: Option<u32>) -> Self {
        let mut piece_to_id: HashMap<Box<str>, u32, BuildHasherDefault<FxHasher>> =
            HashMap::default();
        let mut byte_ids = vec![None; 256];
        let mut user_defined = Vec::new();
        for (i, piece) in table.pieces().iter().enumerate() {
            let Ok(id) = u32::try_from(i) else { break };
            piece_to_id.entry(piece.as_str().into()).or_insert(id);
            match table.token_type(id) {
                Some(TokenType::Byte) => {
                    if let Some(b) = byte_piece_value(piece) {
                        byte_ids[b as usize].get_or_insert(id);
                    }
                }
                Some(TokenType::UserDefined) if !piece.is_empty() => {
                    user_defined.push((piece.replace(' ', "\u{2581}"), id));
                }
                _ => {}
            }
        }
        user_defined.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.1.cmp(&b.1)));
        let mut user_defined_first = [false; 256];
        for (piece, _) in &user_defined {
            if let Some(&b) = piece.as_bytes().first() {
                user_defined_first[b as usize] = true;
            }
        }
        let byte_fallback = byte_ids.iter().any(Option::is_some);
        Self {
            piece_to_id,
            scores,
            byte_ids,
            byte_fallback,
            unk,
            user_defined,
            user_defined_first,
        }
    }

    /// Encodes one text segment, appending ids to `out`. `dummy_prefix` prepends `▁`;
    /// `keep_user_defined` keeps user-defined pieces whole (SentencePiece's prefix matcher).
    pub fn encode(
        &self,
        table: &TokenTable,
        text: &str,
        dummy_prefix: bool,
        keep_user_defined: bool,
        out: &mut Vec<u32>,
    ) -> Result<()> {
        if text.is_empty() {
            return Ok(());
        }
        let mut norm = String::with_capacity(text.len() + text.len() / 4 + 3);
        if dummy_prefix {
            norm.push(SPACE);
        }
        for (i, part) in text.split(' ').enumerate() {
            if i > 0 {
                norm.push(SPACE);
            }
            norm.push_str(part);
        }

        let mut symbols = self.initial_symbols(&norm, keep_user_defined);
        let mut heap = BinaryHeap::with_capacity(symbols.len());
        // SentencePiece's `rev_merge`: how an unused piece was formed, to split it again.
        let mut rev_merge: HashMap<&str, (&str, &str)> = HashMap::new();
        for right in 1..symbols.len() {
            self.push_candidate(
                table,
                &norm,
                &symbols,
                right - 1,
                right,
                &mut heap,
                &mut rev_merge,
            );
        }
        while let Some(top) = heap.pop() {
            let (l, r) = (top.left, top.right);
            if symbols[l].len == 0
                || symbols[r].len == 0
                || symbols[l].len + symbols[r].len != top.len
                || symbols[l].next != Some(r)
            {
                continue; // stale: one side was merged since this pair was queued
            }
            symbols[l].len += symbols[r].len;
            symbols[r].len = 0;
            symbols[l].next = symbols[r].next;
            if let Some(n) = symbols[r].next {
                symbols[n].prev = Some(l);
            }
            if let Some(p) = symbols[l].prev {
                self.push_candidate(table, &norm, &symbols, p, l, &mut heap, &mut rev_merge);
            }
            if let Some(n) = symbols[l].next {
                self.push_candidate(table, &norm, &symbols, l, n, &mut heap, &mut rev_merge);
            }
        }

        let mut prev_unk = false;
        let mut cursor = (!symbols.is_empty()).then_some(0);
        while let Some(i) = cursor {
            let s = symbols[i];
            self.emit(
                table,
                &norm[s.start..s.start + s.len],
                &rev_merge,
                &mut prev_unk,
                out,
            )?;
            cursor = s.next;
        }
        Ok(())
    }

    /// Characters, or whole user-defined pieces where one starts.
    fn initial_symbols(&self, norm: &str, keep_user_defined: bool) -> Vec<Symbol> {
        let mut symbols: Vec<Symbol> = Vec::with_capacity(norm.len());
        let mut pos = 0;
        while pos < norm.len() {
            let rest = &norm[pos..];
            let first = rest.as_bytes().first().copied().unwrap_or(0);
            let user = if keep_user_defined && self.user_defined_first[first as usize] {
                self.user_defined
                    .iter()
                    .find(|(p, _)| rest.starts_with(p.as_str()))
                    .map(|(p, _)| p.len())
            } else {
                None
            };
            let (len, frozen) = match user {
                Some(len) => (len, true),
                None => (rest.chars().next().map_or(1, char::len_utf8), false),
            };
            let index = symbols.len();
            symbols.push(Symbol {
                start: pos,
                len,
                prev: index.checked_sub(1),
                next: None,
                frozen,
            });
            if let Some(prev) = index.checked_sub(1) {
                symbols[prev].next = Some(index);
            }
            pos += len;
        }
        symbols
    }

    /// Queues the merge of `left` and `right` if their concatenation is a mergeable piece.
    #[allow(clippy::too_many_arguments)]
    fn push_candidate<'n>(
        &self,
        table: &TokenTable,
        norm: &'n str,
        symbols: &[Symbol],
        left: usize,
        right: usize,
        heap: &mut BinaryHeap<Candidate>,
        rev_merge: &mut HashMap<&'n str, (&'n str, &'n str)>,
    ) {
        let (a, b) = (symbols[left], symbols[right]);
        if a.frozen || b.frozen {
            return;
        }
        let piece = &norm[a.start..b.start + b.len];
        let Some(&id) = self.piece_to_id.get(piece) else {
            return;
        };
        // SentencePiece merges only into normal, user-defined and unused pieces.
        let ty = table.token_type(id);
        if !matches!(
            ty,
            Some(
                TokenType::Normal
                    | TokenType::UserDefined
                    | TokenType::Unused
                    | TokenType::Undefined
            )
        ) {
            return;
        }
        heap.push(Candidate {
            score: self.scores.get(id as usize).copied().unwrap_or(0.0),
            left,
            right,
            len: piece.len(),
        });
        if ty == Some(TokenType::Unused) {
            let left_piece = &norm[a.start..a.start + a.len];
            let right_piece = &norm[b.start..b.start + b.len];
            rev_merge.insert(piece, (left_piece, right_piece));
        }
    }

    /// Appends the id(s) of one final symbol: unused pieces split back, unknown pieces as
    /// bytes (or one unknown token per run, without byte tokens).
    fn emit(
        &self,
        table: &TokenTable,
        piece: &str,
        rev_merge: &HashMap<&str, (&str, &str)>,
        prev_unk: &mut bool,
        out: &mut Vec<u32>,
    ) -> Result<()> {
        let mut stack = vec![piece];
        while let Some(w) = stack.pop() {
            let id = self.piece_to_id.get(w).copied();
            let ty = id.and_then(|id| table.token_type(id));
            if ty == Some(TokenType::Unused) {
                if let Some(&(l, r)) = rev_merge.get(w) {
                    stack.push(r);
                    stack.push(l);
                    continue;
                }
            }
            match id {
                Some(id) if ty != Some(TokenType::Unknown) => {
                    out.push(id);
                    *prev_unk = false;
                }
                _ if self.byte_fallback => {
                    for b in w.bytes() {
                        out.push(self.byte_token(b, w)?);
                    }
                    *prev_unk = false;
                }
                _ => {
                    let unk = self.unk.ok_or_else(|| no_unknown(w))?;
                    if !*prev_unk {
                        out.push(unk);
                    }
                    *prev_unk = true;
                }
            }
        }
        Ok(())
    }

    fn byte_token(&self, b: u8, piece: &str) -> Result<u32> {
        self.byte_ids[b as usize]
            .or(self.unk)
            .ok_or_else(|| no_unknown(piece))
    }
}

fn no_unknown(piece: &str) -> EngineError {
    EngineError::Tokenizer(format!(
        "cannot encode `{piece}`: it is not in the vocabulary and the vocabulary has neither \
         byte tokens nor an unknown token"
    ))
}

/// The bytes a SentencePiece piece stands for in running text.
pub(crate) fn piece_bytes(piece: &str, ty: TokenType) -> Vec<u8> {
    match ty {
        TokenType::Control => Vec::new(),
        TokenType::Unknown => UNK_SURFACE.as_bytes().to_vec(),
        TokenType::Byte => match byte_piece_value(piece) {
            Some(b) => vec![b],
            None => piece.as_bytes().to_vec(),
        },
        _ => piece.replace(SPACE, " ").into_bytes(),
    }
}

/// Decodes ids as SentencePiece's `DecodeIds` does: control tokens vanish, runs of byte
/// tokens become UTF-8 (each invalid byte U+FFFD), and with a dummy prefix the first piece
/// loses one leading space.
pub(crate) fn decode(table: &TokenTable, ids: &[u32], strip_dummy_prefix: bool) -> String {
    let mut text = String::new();
    let mut pending: Vec<u8> = Vec::new();
    let mut is_bos_ws = true;
    let mut bos_ws_seen = false;
    for &id in ids {
        let Some(ty) = table.token_type(id) else {
            continue;
        };
        if ty == TokenType::Byte {
            pending.extend_from_slice(table.bytes(id));
            continue;
        }
        flush_bytes(&mut pending, &mut text);
        if bos_ws_seen || !text.is_empty() {
            is_bos_ws = false;
        }
        bos_ws_seen = false;
        let bytes = table.bytes(id);
        let piece = table.piece(id).unwrap_or("");
        let mut surface = String::from_utf8_lossy(bytes);
        if is_bos_ws
            && strip_dummy_prefix
            && !matches!(ty, TokenType::Control | TokenType::Unknown)
            && (piece.starts_with(SPACE) || piece.starts_with(' '))
        {
            surface = String::from_utf8_lossy(bytes.get(1..).unwrap_or(&[]));
            bos_ws_seen = true;
        }
        text.push_str(&surface);
    }
    flush_bytes(&mut pending, &mut text);
    text
}

/// Appends a run of raw bytes: each valid UTF-8 character as itself, each invalid byte
/// as U+FFFD.
fn flush_bytes(pending: &mut Vec<u8>, text: &mut String) {
    let mut rest: &[u8] = pending;
    while !rest.is_empty() {
        match std::str::from_utf8(rest) {
            Ok(s) => {
                text.push_str(s);
                break;
            }
            Err(e) => {
                let valid = e.valid_up_to();
                text.push_str(std::str::from_utf8(&rest[..valid]).unwrap_or_default());
                text.push(char::REPLACEMENT_CHARACTER);
                rest = &rest[valid + 1..];
            }
        }
    }
    pending.clear();
}

/// A small multiplicative hasher (the rustc "Fx" scheme) for the hot piece lookups.
#[derive(Default)]
pub(crate) struct FxHasher {
    hash: u64,
}

impl FxHasher {
    const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(Self::SEED);
    }
}

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let mut tail = [0u8; 8];
        let rem = chunks.remainder();
        tail[..rem.len()].copy_from_slice(rem);
        self.add(u64::from_le_bytes(tail) ^ ((rem.len() as u64) << 56));
    }

    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    fn finish(&self) -> u64 {
        self.hash
    }
}
