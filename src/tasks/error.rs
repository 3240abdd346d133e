//! What can go wrong in a task: a request that is not valid (naming its field), or a
//! failure of a layer below.

use crate::engine::EngineError;
use crate::prompt::PromptError;
use crate::retrieval::RetrievalError;
use crate::text::ChunkError;

/// The errors of the tasks layer; the service maps `InvalidArgument` to INVALID_ARGUMENT.
#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    /// A request field out of range or malformed, found by a `validate` step.
    #[error("`{field}` {reason}")]
    InvalidArgument {
        /// The field, as the API and the command line name it (`labels[2].name`).
        field: String,
        /// What is wrong with it, and what would be right.
        reason: String,
    },
    /// The document (or a piece of it the task cannot split further) does not fit the
    /// model's context next to its prompt and the output budget.
    #[error("does not fit the model's context of {context} tokens: {detail}")]
    DoesNotFit {
        /// The model's context length.
        context: usize,
        /// What did not fit.
        detail: String,
    },
    /// Rendering or encoding a prompt failed.
    #[error(transparent)]
    Prompt(#[from] PromptError),
    /// The engine failed (or the caller cancelled).
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// Retrieval of context, examples or translation memory failed.
    #[error(transparent)]
    Retrieval(#[from] RetrievalError),
    /// The text layer could not chunk the document.
    #[error(transparent)]
    Chunk(#[from] ChunkError),
}

impl TaskError {
    /// An `InvalidArgument` error for `field`.
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        TaskError::InvalidArgument {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// The field named by an `InvalidArgument` error.
    pub fn field(&self) -> Option<&str> {
        match self {
            TaskError::InvalidArgument { field, .. } => Some(field),
            _ => None,
        }
    }
}

/// Results of the tasks layer.
pub type Result<T, E = TaskError> = std::result::Result<T, E>;
