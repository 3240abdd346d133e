//! What can go wrong in the retrieval index, each error naming the path it concerns.

use std::path::PathBuf;

/// An index operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum RetrievalError {
    /// Another process holds tantivy's writer lock on this index.
    #[error("index {} is being written by another process", path.display())]
    Locked {
        /// The index directory.
        path: PathBuf,
    },
    /// tantivy failed on this index (corrupt files, disk full, …).
    #[error("index {}: {source}", path.display())]
    Tantivy {
        /// The index directory.
        path: PathBuf,
        /// What tantivy reported.
        #[source]
        source: tantivy::TantivyError,
    },
    /// Reading or writing a file of the index failed.
    #[error("index {}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What the OS reported.
        #[source]
        source: std::io::Error,
    },
    /// The directory holds a tantivy index that Sofer did not create, or its settings
    /// file is unreadable.
    #[error("index {}: {reason}", path.display())]
    NotSoferIndex {
        /// The index directory.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The index was opened read-only and a write was asked for.
    #[error("index {} is opened read-only here; it is written by its single writer", .0.display())]
    ReadOnly(PathBuf),
    /// A query or ingest parameter that cannot be used (an empty collection name, k = 0).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}

impl RetrievalError {
    /// Wraps a tantivy error, turning a busy writer lock into [`RetrievalError::Locked`].
    pub(crate) fn tantivy(path: &std::path::Path, source: tantivy::TantivyError) -> Self {
        match source {
            tantivy::TantivyError::LockFailure(
                tantivy::directory::error::LockError::LockBusy,
                _,
            ) => Self::Locked {
                path: path.to_path_buf(),
            },
            source => Self::Tantivy {
                path: path.to_path_buf(),
                source,
            },
        }
    }
}

/// A document that could not be read; the other documents of the same input go on.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The file or folder could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS reported.
        #[source]
        source: std::io::Error,
    },
    /// The file is not UTF-8 text.
    #[error("{}: not valid UTF-8 (byte {offset})", path.display())]
    InvalidUtf8 {
        /// The file.
        path: PathBuf,
        /// Where the first invalid byte is.
        offset: usize,
    },
    /// A document file (DOCX, PDF, HTML) the caller's reader could not read.
    #[error("{}: {message}", path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// Why, in the reader's words.
        message: String,
    },
    /// The file holds NUL bytes: a binary file, not text.
    #[error("{}: binary file (NUL byte at {offset}), not text", path.display())]
    Binary {
        /// The file.
        path: PathBuf,
        /// Where the first NUL byte is.
        offset: usize,
    },
    /// A JSONL line that is not a document object.
    #[error("{}:{line}: {reason}", path.display())]
    BadLine {
        /// The JSONL file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong with the line.
        reason: String,
    },
}
