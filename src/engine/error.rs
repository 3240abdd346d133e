//! Typed engine errors: every failure names the file or parameter at fault.

use std::path::PathBuf;

/// Everything that can go wrong while loading a model or generating with it.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The file could not be opened or read.
    #[error("{path}: {source}")]
    Io {
        /// The model file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file does not start with the GGUF magic.
    #[error("{path}: not a GGUF file (first bytes {found:02x?}, expected \"GGUF\")")]
    BadMagic {
        /// The model file.
        path: PathBuf,
        /// The first four bytes found.
        found: Vec<u8>,
    },
    /// The file ends before its header or a tensor's data does.
    #[error("{path}: truncated file: {detail}")]
    Truncated {
        /// The model file.
        path: PathBuf,
        /// What was cut off.
        detail: String,
    },
    /// The header is malformed in some other way.
    #[error("{path}: malformed GGUF: {detail}")]
    Malformed {
        /// The model file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// `general.architecture` names a model family the engine does not run.
    #[error("{path}: unsupported architecture `{arch}` (supported: llama, mistral, mixtral)")]
    UnsupportedArchitecture {
        /// The model file.
        path: PathBuf,
        /// The architecture the file declares.
        arch: String,
    },
    /// A tensor is stored in a quantization type the engine has no kernel for.
    #[error("{path}: tensor `{tensor}` uses unsupported quantization type {dtype}")]
    UnsupportedQuantization {
        /// The model file.
        path: PathBuf,
        /// The tensor's name.
        tensor: String,
        /// The type id or name found.
        dtype: String,
    },
    /// A tensor the architecture needs is absent.
    #[error("{path}: missing tensor `{tensor}`")]
    MissingTensor {
        /// The model file.
        path: PathBuf,
        /// The tensor's name.
        tensor: String,
    },
    /// A tensor has a shape the configuration does not allow.
    #[error("{path}: tensor `{tensor}` has shape {found:?}, expected {expected:?}")]
    BadTensorShape {
        /// The model file.
        path: PathBuf,
        /// The tensor's name.
        tensor: String,
        /// The shape in the file (candle order, outermost first).
        found: Vec<usize>,
        /// The shape the configuration implies.
        expected: Vec<usize>,
    },
    /// A metadata key the architecture needs is absent or has the wrong type.
    #[error("{path}: metadata `{key}`: {detail}")]
    BadMetadata {
        /// The model file.
        path: PathBuf,
        /// The metadata key.
        key: String,
        /// What is wrong with it.
        detail: String,
    },
    /// The tokenizer could not be built or used.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// The request does not fit the model's context window.
    #[error(
        "prompt of {prompt_tokens} tokens plus max_tokens {max_tokens} exceeds the model's context of {context} tokens"
    )]
    ContextOverflow {
        /// Tokens in the prompt.
        prompt_tokens: usize,
        /// Tokens requested for the completion.
        max_tokens: usize,
        /// The model's context length.
        context: usize,
    },
    /// A generation parameter is out of range; the message names it.
    #[error("invalid parameter: {0}")]
    InvalidParameter(String),
    /// The caller cancelled the request.
    #[error("generation cancelled")]
    Cancelled,
    /// The scheduler could not run a batched step, or has stopped.
    #[error("batched generation failed: {0}")]
    Batch(String),
    /// A tensor operation failed (a bug or an exhausted resource, never bad input).
    #[error("model computation failed: {0}")]
    Compute(candle_core::Error),
}

impl From<candle_core::Error> for EngineError {
    fn from(err: candle_core::Error) -> Self {
        Self::Compute(without_backtrace(err))
    }
}

/// candle wraps errors in `WithBacktrace` when `RUST_BACKTRACE` is set, and its message
/// then carries the whole backtrace; users get the error itself.
pub fn without_backtrace(err: candle_core::Error) -> candle_core::Error {
    match err {
        candle_core::Error::WithBacktrace { inner, .. } => without_backtrace(*inner),
        candle_core::Error::Context { inner, context } => candle_core::Error::Context {
            inner: Box::new(without_backtrace(*inner)),
            context,
        },
        other => other,
    }
}

/// Shorthand used throughout the engine.
pub type Result<T> = std::result::Result<T, EngineError>;
