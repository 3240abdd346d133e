//! The per-id facts every tokenizer kind shares: piece string, token type, and the bytes the
//! token stands for in running text (kept in one flat buffer).

/// What a vocabulary entry is, as GGUF's `tokenizer.ggml.token_type` numbers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenType {
    /// 1: an ordinary piece.
    Normal,
    /// 2: the unknown token.
    Unknown,
    /// 3: a control token (`<s>`, `</s>`, `<|im_start|>`): never produced from user text.
    Control,
    /// 4: a user-defined piece, always kept whole.
    UserDefined,
    /// 5: a piece the model never emits (SentencePiece splits it again).
    Unused,
    /// 6: a byte-fallback piece `<0xNN>`.
    Byte,
    /// 0 or any other number.
    Undefined,
}

impl TokenType {
    /// Maps GGUF's integer code.
    pub fn from_gguf(code: i64) -> Self {
        match code {
            1 => Self::Normal,
            2 => Self::Unknown,
            3 => Self::Control,
            4 => Self::UserDefined,
            5 => Self::Unused,
            6 => Self::Byte,
            _ => Self::Undefined,
        }
    }
}

/// Pieces, types and decoded bytes of every id.
pub(crate) struct TokenTable {
    pieces: Vec<String>,
    types: Vec<TokenType>,
    bytes: Vec<u8>,
    /// `bytes[offsets[id]..offsets[id + 1]]` are the bytes of `id`.
    offsets: Vec<usize>,
}

impl TokenTable {
    /// Builds the table; `to_bytes` gives the bytes of each piece given its type.
    pub fn new(
        pieces: Vec<String>,
        types: Vec<TokenType>,
        to_bytes: impl Fn(&str, TokenType) -> Vec<u8>,
    ) -> Self {
        let mut bytes = Vec::new();
        let mut offsets = Vec::with_capacity(pieces.len() + 1);
        offsets.push(0);
        for (piece, &ty) in pieces.iter().zip(&types) {
            bytes.extend_from_slice(&to_bytes(piece, ty));
            offsets.push(bytes.len());
        }
        Self {
            pieces,
            types,
            bytes,
            offsets,
        }
    }

    /// Number of ids.
    pub fn len(&self) -> usize {
        self.pieces.len()
    }

    /// All pieces, indexed by id.
    pub fn pieces(&self) -> &[String] {
        &self.pieces
    }

    /// The piece of `id`.
    pub fn piece(&self, id: u32) -> Option<&str> {
        self.pieces.get(id as usize).map(String::as_str)
    }

    /// The type of `id`.
    pub fn token_type(&self, id: u32) -> Option<TokenType> {
        self.types.get(id as usize).copied()
    }

    /// The bytes `id` stands for in running text (empty for an unknown id).
    pub fn bytes(&self, id: u32) -> &[u8] {
        let i = id as usize;
        match (self.offsets.get(i), self.offsets.get(i + 1)) {
            (Some(&start), Some(&end)) => &self.bytes[start..end],
            _ => &[],
        }
    }
}

/// The byte of a SentencePiece byte piece `<0xNN>`.
pub(crate) fn byte_piece_value(piece: &str) -> Option<u8> {
    let hex = piece.strip_prefix("<0x")?.strip_suffix('>')?;
    if hex.len() != 2 {
        return None;
    }
    u8::from_str_radix(hex, 16).ok()
}
