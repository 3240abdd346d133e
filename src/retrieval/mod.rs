//! The tantivy retrieval index: schema, the Hebrew analyzer, ingest and search.
//!
//! Documents ([`Document`], read from JSONL, text or Markdown by [`read_documents`]) are
//! cut into passages, one per paragraph or several for a long one, and written into a
//! collection of a [`RetrievalIndex`] on disk. [`RetrievalIndex::search`] (and the
//! [`Retriever`] trait that tasks use) finds passages by BM25 over the Hebrew analyzer's
//! fields: words with their prefix variants, exact words, and character n-grams.

pub mod analyzer;
mod document;
mod error;
mod index;
mod passage;
mod read_only;
mod rerank;
mod schema;
mod search;

pub use document::{
    read_documents, read_documents_with, relative_id, Document, FileReader, FILE_EXTENSIONS,
};
pub use error::{ReadError, RetrievalError};
pub use index::{CollectionStats, IndexStats, IngestReport, RetrievalIndex};
pub use passage::{passages, Passage, MAX_PASSAGE_BYTES, OVERLAP_WORDS, PASSAGE_WORDS};
pub use schema::{AnalyzerSettings, HebrewSettings, SETTINGS_FILE};
pub use search::{Hit, Retriever, SearchQuery, HIGHLIGHT_END, HIGHLIGHT_START, MAX_K};

/// The collection used when none is named.
pub const DEFAULT_COLLECTION: &str = "default";
