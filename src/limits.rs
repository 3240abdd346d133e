//! Every limit a request is held to, in one place: the tasks' validation, the service and
//! the documentation (`docs/limits.md`, the proto comments) all read these.

use std::ops::RangeInclusive;
use std::time::Duration;

/// Longest document a Summarize, Translate, Classify or Tokenize request may carry, in
/// bytes (4 MiB).
pub const MAX_TEXT_BYTES: usize = 4 << 20;
/// Allowed temperatures.
pub const TEMPERATURE: RangeInclusive<f32> = 0.0..=2.0;
/// Allowed numbers of votes or candidates.
pub const SAMPLES: RangeInclusive<usize> = 1..=32;
/// Allowed output budgets per generation call, in tokens.
pub const MAX_TOKENS: RangeInclusive<usize> = 1..=8192;

/// Most labels one Classify request may give.
pub const MAX_LABELS: usize = 64;
/// Longest label name, in characters.
pub const MAX_LABEL_CHARS: usize = 200;
/// Longest label description, in characters.
pub const MAX_LABEL_DESCRIPTION_CHARS: usize = 1000;

/// Most entries one glossary may hold.
pub const MAX_GLOSSARY_ENTRIES: usize = 500;
/// Longest glossary term (source or target), in characters.
pub const MAX_GLOSSARY_TERM_CHARS: usize = 200;

/// Most documents one IngestDocuments call may carry.
pub const MAX_INGEST_DOCUMENTS: usize = 10_000;
/// Most ids one DeleteDocuments call may carry.
pub const MAX_DELETE_IDS: usize = 1000;
/// Longest document id, in bytes.
pub const MAX_ID_BYTES: usize = 256;
/// Most hits one Search may ask for.
pub const MAX_SEARCH_K: u32 = 100;
/// Collection names: this many ASCII letters, digits, `-`, `_` or `.`.
pub const COLLECTION_CHARS: RangeInclusive<usize> = 1..=128;

/// Largest block of request headers (metadata) accepted, in bytes; a 16 KiB
/// `authorization` still reaches the auth check (and is refused there as a wrong key).
pub const MAX_HEADER_LIST_BYTES: u32 = 64 << 10;
/// Tokenize calls computed at once; more wait for a turn.
pub const TOKENIZE_CONCURRENCY: usize = 2;
/// Messages a stream may buffer before the client must read.
pub const STREAM_BUFFER: usize = 32;
/// How long a stream waits for a client that does not read before it is cancelled
/// (default of `limits.stall_timeout_seconds`).
pub const DEFAULT_STALL_TIMEOUT: Duration = Duration::from_secs(10);

/// The largest document file read (DOCX, ODT, PDF, HTML, text), in bytes.
pub const MAX_DOCUMENT_BYTES: usize = 64 << 20;
/// The most bytes a document's compressed parts (zip entries, PDF streams) may inflate to,
/// all together: the zip-bomb cap.
pub const MAX_DECOMPRESSED_BYTES: u64 = 256 << 20;
/// The most entries a DOCX or ODT archive may hold.
pub const MAX_ARCHIVE_ENTRIES: usize = 10_000;
/// The most pages of a PDF read.
pub const MAX_PDF_PAGES: usize = 5_000;
/// The most paragraphs a document may have.
pub const MAX_PARAGRAPHS: usize = 200_000;

/// Stop sequences one OpenAI-compatible request may give (OpenAI's limit).
pub const MAX_STOP_SEQUENCES: usize = 4;
/// Alternatives per token `/v1/completions` reports with `logprobs` (OpenAI's limit).
pub const MAX_COMPLETION_LOGPROBS: usize = 5;
