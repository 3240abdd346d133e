//! Errors as gRPC statuses: what the caller did wrong names its field (with
//! `google.rpc.BadRequest`), and internal failures say nothing about internals.

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::engine::EngineError;
use crate::retrieval::RetrievalError;
use crate::tasks::TaskError;

/// Results of the service layer.
pub type ApiResult<T> = Result<T, Status>;

/// INVALID_ARGUMENT naming `field`, with a `BadRequest` field violation.
pub fn bad_request(field: &str, description: impl Into<String>) -> Status {
    let description = description.into();
    Status::with_error_details(
        Code::InvalidArgument,
        format!("`{field}` {description}"),
        ErrorDetails::with_bad_request_violation(field, description),
    )
}

/// INTERNAL, logged with its cause; the caller sees only that it was internal.
pub fn internal(what: &str, cause: &dyn std::fmt::Display) -> Status {
    tracing::error!(%cause, "{what}");
    Status::internal(format!("{what} failed; see the server log"))
}

/// The status of a task failure.
pub fn from_task(err: TaskError) -> Status {
    match err {
        TaskError::InvalidArgument { field, reason } => bad_request(&api_field(&field), reason),
        TaskError::DoesNotFit { .. } => bad_request("text", err.to_string()),
        TaskError::Engine(EngineError::Cancelled) => Status::cancelled("the request was cancelled"),
        TaskError::Engine(
            EngineError::ContextOverflow { .. } | EngineError::InvalidParameter(_),
        ) => bad_request("text", err.to_string()),
        TaskError::Retrieval(e) => from_retrieval(e),
        other => internal("the task", &other),
    }
}

/// The API's name of a field the tasks name: sampling options live in `sampling`, the
/// classify instruction language is `instruction_language`.
fn api_field(task_field: &str) -> String {
    match task_field {
        "temperature" | "seed" | "max_tokens" => format!("sampling.{task_field}"),
        "language" => "instruction_language".into(),
        other => other.into(),
    }
}

/// The status of a retrieval failure.
pub fn from_retrieval(err: RetrievalError) -> Status {
    match err {
        RetrievalError::InvalidArgument(reason) => bad_request("collection", reason),
        RetrievalError::Locked { .. } | RetrievalError::ReadOnly(_) => {
            Status::failed_precondition(err.to_string())
        }
        other => internal("the index", &other),
    }
}
