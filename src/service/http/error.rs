//! gRPC statuses as HTTP answers: the status code gRPC's HTTP mapping gives each code, and
//! a JSON body in Google's error shape (task routes) or OpenAI's (OpenAI routes), naming
//! the offending field where the status does.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use tonic::{Code, Status};
use tonic_types::StatusExt;

/// The HTTP status of a gRPC code (google.rpc.Code's mapping; CANCELLED is nginx's 499).
pub fn http_status(code: Code) -> StatusCode {
    match code {
        Code::Ok => StatusCode::OK,
        Code::InvalidArgument | Code::FailedPrecondition | Code::OutOfRange => {
            StatusCode::BAD_REQUEST
        }
        Code::Unauthenticated => StatusCode::UNAUTHORIZED,
        Code::PermissionDenied => StatusCode::FORBIDDEN,
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::AlreadyExists | Code::Aborted => StatusCode::CONFLICT,
        Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        Code::Cancelled => StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST),
        Code::Unimplemented => StatusCode::NOT_IMPLEMENTED,
        Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Code::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
        Code::Unknown | Code::Internal | Code::DataLoss => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The field a status names (its first `BadRequest` violation).
pub fn field_of(status: &Status) -> Option<String> {
    status
        .get_details_bad_request()
        .and_then(|b| b.field_violations.into_iter().next().map(|v| v.field))
}

/// Google's JSON error: `{"error": {code, status, message, details}}`, with the
/// `BadRequest` field violations as `details` (as grpc-gateway writes them).
pub fn google_body(status: &Status) -> Value {
    let details: Vec<Value> = status
        .get_details_bad_request()
        .map(|b| {
            vec![json!({
                "@type": "type.googleapis.com/google.rpc.BadRequest",
                "fieldViolations": b.field_violations.iter().map(|v| json!({
                    "field": v.field,
                    "description": v.description,
                })).collect::<Vec<_>>(),
            })]
        })
        .unwrap_or_default();
    json!({
        "error": {
            "code": http_status(status.code()).as_u16(),
            "status": code_name(status.code()),
            "message": status.message(),
            "details": details,
        }
    })
}

/// The error shape a route answers in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Google's, for the task routes.
    Google,
    /// OpenAI's, for the OpenAI routes.
    OpenAi,
}

impl Shape {
    /// The answer of `status`.
    pub fn error(self, status: &Status) -> Response {
        match self {
            Shape::Google => google_error(status),
            Shape::OpenAi => openai_error(status),
        }
    }

    /// 413: the body is over `limit` bytes (no use retrying it).
    pub fn too_large(self, limit: usize) -> Response {
        let message = format!("the request body is larger than the limit of {limit} bytes");
        let status = Status::resource_exhausted(message);
        self.plain(StatusCode::PAYLOAD_TOO_LARGE, &status, "request_too_large")
    }

    /// 408: the body took longer than `limit` to arrive.
    pub fn too_slow(self, limit: std::time::Duration) -> Response {
        let message = format!(
            "the request body took longer than {} s to arrive",
            limit.as_secs()
        );
        let status = Status::deadline_exceeded(message);
        self.plain(StatusCode::REQUEST_TIMEOUT, &status, "request_timeout")
    }

    fn plain(self, code: StatusCode, status: &Status, openai_code: &str) -> Response {
        let body = match self {
            Shape::Google => {
                let mut body = google_body(status);
                body["error"]["code"] = code.as_u16().into();
                body
            }
            Shape::OpenAi => json!({"error": {
                "message": status.message(), "type": "invalid_request_error", "param": null, "code": openai_code,
            }}),
        };
        (code, axum::Json(body)).into_response()
    }
}

/// A task route's error answer.
pub fn google_error(status: &Status) -> Response {
    answer(status, google_body(status))
}

/// `body` with the status's HTTP code; a client told to retry (429, 503) is told when.
fn answer(status: &Status, body: Value) -> Response {
    let code = http_status(status.code());
    let mut response = (code, axum::Json(body)).into_response();
    if matches!(
        code,
        StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
    ) {
        response.headers_mut().insert(
            axum::http::header::RETRY_AFTER,
            axum::http::HeaderValue::from_static("1"),
        );
    }
    response
}

/// OpenAI's JSON error: `{"error": {message, type, param, code}}`.
pub fn openai_body(status: &Status) -> Value {
    let (kind, code) = match status.code() {
        Code::Unauthenticated => ("authentication_error", Some("invalid_api_key")),
        Code::PermissionDenied => ("permission_error", None),
        Code::NotFound => ("invalid_request_error", Some("model_not_found")),
        Code::ResourceExhausted => ("rate_limit_error", Some("rate_limit_exceeded")),
        Code::DeadlineExceeded => ("timeout_error", Some("timeout")),
        Code::Unavailable => ("server_error", Some("unavailable")),
        Code::Cancelled => ("invalid_request_error", Some("cancelled")),
        Code::Internal | Code::Unknown | Code::DataLoss => ("server_error", None),
        _ => ("invalid_request_error", None),
    };
    json!({
        "error": {
            "message": status.message(),
            "type": kind,
            "param": field_of(status),
            "code": code,
        }
    })
}

/// An OpenAI route's error answer.
pub fn openai_error(status: &Status) -> Response {
    answer(status, openai_body(status))
}

/// The canonical name of a code (`INVALID_ARGUMENT`).
fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::status::bad_request;

    #[test]
    fn codes_map_to_http_and_fields_are_named_in_both_shapes() {
        assert_eq!(http_status(Code::ResourceExhausted), 429);
        assert_eq!(http_status(Code::DeadlineExceeded), 504);
        assert_eq!(http_status(Code::Unavailable), 503);
        assert_eq!(http_status(Code::Unauthenticated), 401);
        let status = bad_request("temperature", "must be >= 0");
        assert_eq!(openai_body(&status)["error"]["param"], "temperature");
        let google = google_body(&status);
        assert_eq!(google["error"]["status"], "INVALID_ARGUMENT");
        assert_eq!(google["error"]["code"], 400);
        assert_eq!(
            google["error"]["details"][0]["fieldViolations"][0]["field"],
            "temperature"
        );
        assert_eq!(
            openai_body(&Status::unavailable("x"))["error"]["param"],
            Value::Null
        );
    }
}
