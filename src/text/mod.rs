//! The Hebrew text layer: normalization, script detection, segmentation, chunking and bidi.
//!
//! Everything Hebrew-specific lives here (and in the retrieval analyzer), so the rest of
//! Sofer never has to know about niqqud, gershayim or right-to-left text. Functions take
//! the original text and report byte ranges into it; [`CharOffsets`] turns those into the
//! character offsets that JSON output uses.

pub mod bidi;
pub mod chunk;
pub mod detect;
pub mod normalize;
pub mod offsets;
pub mod segment;

pub use bidi::Direction;
pub use chunk::{chunk, Chunk, ChunkError, ChunkOptions, EstimatedTokens, TokenCounter};
pub use detect::{detect_language, letter_counts, Language, LetterCounts, ParseLanguageError};
pub use normalize::{normalize, NormalizeOptions};
pub use offsets::CharOffsets;
pub use segment::{paragraphs, sentences};
