//! A minimal reader for SentencePiece `.model` files (a serialized `ModelProto`).
//!
//! Only the vocabulary is read: `ModelProto` field 1 is the repeated `SentencePiece`
//! message `{1: piece (string), 2: score (float), 3: type (enum, default NORMAL)}`; every
//! other field (trainer and normalizer specs, …) is skipped by its wire type. Just enough
//! protobuf decoding for that: varints, fixed32/fixed64 and length-delimited fields.
//! Malformed input gives [`EngineError::Tokenizer`] naming the byte offset at fault.

use super::error::{EngineError, Result};

/// The Mistral-7B-v0.1 / Mixtral-8x7B tokenizer, embedded (see `assets/README.md`).
const MISTRAL_V1_MODEL: &[u8] =
    include_bytes!("../../assets/tokenizers/mistral_v1_tokenizer.model");

/// SentencePiece's `Type::NORMAL`, the value of an absent `type` field.
const KIND_NORMAL: i32 = 1;
/// SentencePiece's highest piece type (`Type::BYTE`).
const KIND_MAX: i32 = 6;

/// One vocabulary entry, in id order, as SentencePiece stores it.
#[derive(Debug, Clone, PartialEq)]
pub struct SpPiece {
    /// The piece text (`▁` for a space, `<0xNN>` for a byte-fallback piece).
    pub piece: String,
    /// The piece's score (its log-probability in the BPE merge order).
    pub score: f32,
    /// The piece type: 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte
    /// (the same numbering GGUF's `tokenizer.ggml.token_type` uses).
    pub kind: i32,
}

/// Reads the vocabulary of a serialized SentencePiece `ModelProto`, in id order.
pub fn read_sentencepiece_model(bytes: &[u8]) -> Result<Vec<SpPiece>> {
    let mut reader = Reader {
        bytes,
        pos: 0,
        base: 0,
    };
    let mut pieces = Vec::new();
    while !reader.at_end() {
        let (field, wire) = reader.key()?;
        if field == 1 && wire == WIRE_LEN {
            let start = reader.absolute();
            let body = reader.length_delimited()?;
            pieces.push(read_piece(body, start)?);
        } else {
            reader.skip(wire)?;
        }
    }
    if pieces.is_empty() {
        return Err(malformed(0, "no vocabulary pieces"));
    }
    Ok(pieces)
}

/// The vocabulary of the embedded Mistral v1 tokenizer (32000 pieces).
pub fn mistral_v1_pieces() -> Result<Vec<SpPiece>> {
    read_sentencepiece_model(MISTRAL_V1_MODEL)
}

/// Decodes one `SentencePiece` message; `base` is its offset in the whole file.
fn read_piece(bytes: &[u8], base: usize) -> Result<SpPiece> {
    let mut reader = Reader {
        bytes,
        pos: 0,
        base,
    };
    let mut piece = None;
    let mut score = 0.0f32;
    let mut kind = KIND_NORMAL;
    while !reader.at_end() {
        let at = reader.absolute();
        let (field, wire) = reader.key()?;
        match (field, wire) {
            (1, WIRE_LEN) => {
                let text = reader.length_delimited()?;
                let text = std::str::from_utf8(text)
                    .map_err(|_| malformed(at, "piece text is not UTF-8"))?;
                piece = Some(text.to_owned());
            }
            (2, WIRE_FIXED32) => score = f32::from_le_bytes(reader.fixed::<4>()?),
            (3, WIRE_VARINT) => {
                let value = reader.varint()?;
                kind = match i32::try_from(value) {
                    Ok(k) if (1..=KIND_MAX).contains(&k) => k,
                    _ => return Err(malformed(at, &format!("piece type {value} out of range"))),
                };
            }
            (1..=3, _) => {
                return Err(malformed(
                    at,
                    &format!("field {field} has wire type {wire}"),
                ));
            }
            _ => reader.skip(wire)?,
        }
    }
    let piece = piece.ok_or_else(|| malformed(base, "piece without text"))?;
    Ok(SpPiece { piece, score, kind })
}

/// Protobuf wire type of varint fields.
const WIRE_VARINT: u8 = 0;
/// Protobuf wire type of 8-byte fields.
const WIRE_FIXED64: u8 = 1;
/// Protobuf wire type of length-delimited fields (strings, sub-messages).
const WIRE_LEN: u8 = 2;
/// Protobuf wire type of 4-byte fields (`float`).
const WIRE_FIXED32: u8 = 5;

/// A cursor over one protobuf message.
struct Reader<'a> {
    /// The message's bytes.
    bytes: &'a [u8],
    /// The read position within `bytes`.
    pos: usize,
    /// Offset of `bytes` in the whole file, for error messages.
    base: usize,
}

impl<'a> Reader<'a> {
    fn at_end(&self) -> bool {
        self.pos >= self.bytes.len()
    }

    fn absolute(&self) -> usize {
        self.base + self.pos
    }

    fn varint(&mut self) -> Result<u64> {
        let start = self.absolute();
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *self
                .bytes
                .get(self.pos)
                .ok_or_else(|| malformed(start, "truncated varint"))?;
            self.pos += 1;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(malformed(start, "varint longer than 10 bytes"))
    }

    fn key(&mut self) -> Result<(u64, u8)> {
        let at = self.absolute();
        let key = self.varint()?;
        let field = key >> 3;
        if field == 0 {
            return Err(malformed(at, "field number 0"));
        }
        // The low three bits are the wire type; the mask keeps the cast lossless.
        Ok((field, (key & 7) as u8))
    }

    fn take(&mut self, len: usize) -> Result<&'a [u8]> {
        let at = self.absolute();
        let end = self
            .pos
            .checked_add(len)
            .filter(|&end| end <= self.bytes.len())
            .ok_or_else(|| malformed(at, &format!("field of {len} bytes runs past the end")))?;
        let slice = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(slice)
    }

    fn fixed<const N: usize>(&mut self) -> Result<[u8; N]> {
        let at = self.absolute();
        self.take(N)?
            .try_into()
            .map_err(|_| malformed(at, "fixed-width field"))
    }

    fn length_delimited(&mut self) -> Result<&'a [u8]> {
        let at = self.absolute();
        let len = self.varint()?;
        let len = usize::try_from(len).map_err(|_| malformed(at, "length overflows"))?;
        self.take(len)
    }

    fn skip(&mut self, wire: u8) -> Result<()> {
        let at = self.absolute();
        match wire {
            WIRE_VARINT => self.varint().map(drop),
            WIRE_FIXED64 => self.take(8).map(drop),
            WIRE_LEN => self.length_delimited().map(drop),
            WIRE_FIXED32 => self.take(4).map(drop),
            _ => Err(malformed(at, &format!("unsupported wire type {wire}"))),
        }
    }
}

fn malformed(offset: usize, detail: &str) -> EngineError {
    EngineError::Tokenizer(format!(
        "malformed SentencePiece model at byte {offset}: {detail}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Encodes one piece message the way protobuf does (fields 1, 2, 3).
    fn piece_bytes(text: &str, score: f32, kind: Option<u8>) -> Vec<u8> {
        let mut body = vec![0x0a, text.len() as u8];
        body.extend_from_slice(text.as_bytes());
        body.push(0x15);
        body.extend_from_slice(&score.to_le_bytes());
        if let Some(kind) = kind {
            body.extend_from_slice(&[0x18, kind]);
        }
        let mut out = vec![0x0a, body.len() as u8];
        out.extend(body);
        out
    }

    #[test]
    fn reads_pieces_and_skips_other_fields() {
        let mut bytes = piece_bytes("<unk>", 0.0, Some(2));
        // field 2 (trainer_spec), length-delimited, skipped
        bytes.extend_from_slice(&[0x12, 0x03, 0x08, 0x96, 0x01]);
        bytes.extend(piece_bytes("▁שלום", -3.5, None));
        let pieces = read_sentencepiece_model(&bytes).expect("valid model");
        assert_eq!(pieces.len(), 2);
        assert_eq!(pieces[0].piece, "<unk>");
        assert_eq!(pieces[0].kind, 2);
        assert_eq!(pieces[1].piece, "▁שלום");
        assert_eq!(pieces[1].score, -3.5);
        assert_eq!(pieces[1].kind, KIND_NORMAL);
    }

    #[test]
    fn truncated_input_is_an_error() {
        let bytes = piece_bytes("abc", 1.0, Some(1));
        for cut in 1..bytes.len() {
            let err = read_sentencepiece_model(&bytes[..cut]);
            assert!(
                matches!(err, Err(EngineError::Tokenizer(_))),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn bad_wire_type_and_kind_are_errors() {
        // field 1 as a varint
        assert!(read_sentencepiece_model(&[0x08, 0x01]).is_err());
        // wire type 3 (start group)
        assert!(read_sentencepiece_model(&[0x13]).is_err());
        // piece type 9
        assert!(read_sentencepiece_model(&piece_bytes("x", 0.0, Some(9))).is_err());
        // empty input: no vocabulary
        assert!(read_sentencepiece_model(&[]).is_err());
    }
}
