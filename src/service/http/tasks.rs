//! The tasks over HTTP/JSON: each route takes the RPC's request message as JSON and
//! answers its response message as JSON (see [`super::transcode`]); a streaming RPC
//! answers server-sent events, one response message each, and ends with a deadline error
//! if its deadline passes first. IngestDocuments, a client stream in gRPC, takes one
//! message or an array of them. JSON is parsed and written off the async threads.

use std::future::Future;
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use tonic::codegen::tokio_stream::{Stream, StreamExt};
use tonic::Status;

use super::super::offload::blocking_if_large;
use super::super::pb;
use super::super::pb::corpus_service_server::CorpusService;
use super::super::request::CallInfo;
use super::super::status::{bad_request, ApiResult};
use super::call::{read_request, Caller};
use super::error::{google_body, google_error, Shape};
use super::routes::HttpState;
use super::sse::{self, SseEvent};
use super::transcode::{from_json, to_json, ProtoMessage};

/// What every task route is given.
pub struct TaskCall<'a> {
    /// The server's state.
    pub state: &'a HttpState,
    /// The RPC, for the log and metrics of calls refused before it runs.
    pub method: &'static str,
    /// Who calls.
    pub caller: Caller,
    /// The body.
    pub body: Bytes,
}

impl<'a> TaskCall<'a> {
    /// Authenticates a task route's request and reads its body, or answers the error.
    pub async fn read(
        state: &'a HttpState,
        method: &'static str,
        request: Request,
    ) -> Result<Self, Response> {
        let (caller, body) = read_request(state, request, Shape::Google).await?;
        Ok(Self {
            state,
            method,
            caller,
            body,
        })
    }

    /// The request message; a body that is not one is logged and counted as the RPC's
    /// INVALID_ARGUMENT, as gRPC counts its refusals.
    async fn parse<Req: ProtoMessage + 'static>(&self) -> Result<Req, Status> {
        let body = self.body.clone();
        let parsed = blocking_if_large(body.len(), move || {
            let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
                b"{}"
            } else {
                &body
            };
            from_json::<Req>(body).map_err(|e| bad_request("body", e))
        })
        .await;
        if let Err(status) = &parsed {
            self.refused(status);
        }
        parsed
    }

    fn refused(&self, status: &Status) {
        if let Ok(call) = CallInfo::of(&self.caller.request(())) {
            let refused: ApiResult<()> = Err(status.clone());
            self.state
                .shared
                .observe_task(self.method, &call, Instant::now(), &refused, None);
        }
    }
}

/// A unary RPC over HTTP: JSON in, `check`, `call`, JSON out.
pub async fn unary<Req, Resp, C, F, Fut>(task: TaskCall<'_>, check: C, call: F) -> Response
where
    Req: ProtoMessage + 'static,
    Resp: ProtoMessage + 'static,
    C: FnOnce(&Req) -> Result<(), Status>,
    F: FnOnce(tonic::Request<Req>) -> Fut,
    Fut: Future<Output = ApiResult<tonic::Response<Resp>>>,
{
    let answered = async {
        let message = task.parse::<Req>().await?;
        if let Err(status) = check(&message) {
            task.refused(&status);
            return Err(status);
        }
        let response = call(task.caller.request(message)).await?.into_inner();
        let size = prost::Message::encoded_len(&response);
        blocking_if_large(size, move || Ok(to_json(&response))).await
    }
    .await;
    match answered {
        Ok(json) => axum::Json(json).into_response(),
        Err(status) => google_error(&status),
    }
}

/// A server-streaming RPC over HTTP: JSON in, `call`, one event per message out, ended by
/// a DEADLINE_EXCEEDED event when the caller's deadline passes first. A refusal before the
/// stream starts is an ordinary error answer.
pub async fn streaming<Req, M, S, F, Fut>(task: TaskCall<'_>, call: F) -> Response
where
    Req: ProtoMessage + 'static,
    M: ProtoMessage,
    S: Stream<Item = ApiResult<M>> + Send + 'static,
    F: FnOnce(tonic::Request<Req>) -> Fut,
    Fut: Future<Output = ApiResult<tonic::Response<S>>>,
{
    let started = async {
        let message = task.parse::<Req>().await?;
        call(task.caller.request(message)).await
    }
    .await;
    match started {
        Ok(stream) => {
            let events = stream.into_inner().map(|item| match item {
                Ok(message) => vec![SseEvent::Data(to_json(&message))],
                Err(status) => vec![SseEvent::Error(google_body(&status))],
            });
            let late = Status::deadline_exceeded("the deadline passed before the task finished");
            let expired = vec![SseEvent::Error(google_body(&late))];
            sse::response(sse::until(task.caller.deadline(), events, expired))
        }
        Err(status) => google_error(&status),
    }
}

/// IngestDocuments: the body is one `IngestDocumentsRequest` or an array of them, given to
/// the service as the client stream gRPC would carry.
pub async fn ingest(task: TaskCall<'_>) -> Response {
    let answered = async {
        let body = task.body.clone();
        let framed = match blocking_if_large(body.len(), move || ingest_frames(&body)).await {
            Ok(framed) => framed,
            Err(status) => {
                task.refused(&status);
                return Err(status);
            }
        };
        let body = http_body_util::Full::new(Bytes::from(framed));
        let mut codec = tonic_prost::ProstCodec::<
            pb::IngestDocumentsResponse,
            pb::IngestDocumentsRequest,
        >::default();
        let stream = tonic::Streaming::new_request(
            tonic::codec::Codec::decoder(&mut codec),
            body,
            None,
            Some(task.state.max_body),
        );
        task.state
            .corpus
            .ingest_documents(task.caller.request(stream))
            .await
    }
    .await;
    match answered {
        Ok(response) => axum::Json(to_json(response.get_ref())).into_response(),
        Err(status) => google_error(&status),
    }
}

/// The body's messages framed as a gRPC client stream carries them.
fn ingest_frames(body: &[u8]) -> Result<Vec<u8>, Status> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| bad_request("body", e.to_string()))?;
    let items = match value {
        serde_json::Value::Array(items) => items,
        one => vec![one],
    };
    let mut framed = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let message = from_json::<pb::IngestDocumentsRequest>(item.to_string().as_bytes())
            .map_err(|e| bad_request(&format!("messages[{i}]"), e))?;
        let encoded = prost::Message::encode_to_vec(&message);
        framed.push(0u8); // not compressed
        framed.extend_from_slice(&(encoded.len() as u32).to_be_bytes());
        framed.extend_from_slice(&encoded);
    }
    Ok(framed)
}

/// Translate with `?download=true`: the rebuilt DOCX/HTML itself, as an attachment.
pub fn download(response: &pb::TranslateResponse) -> Response {
    if response.content.is_empty() {
        return google_error(&bad_request(
            "download",
            "needs a DOCX or HTML file in `content` to rebuild",
        ));
    }
    let extension = match response.media_type.as_str() {
        "text/html" => "html",
        _ => "docx",
    };
    let mut answer = (StatusCode::OK, Body::from(response.content.clone())).into_response();
    let headers = answer.headers_mut();
    if let Ok(media_type) = HeaderValue::from_str(&response.media_type) {
        headers.insert(header::CONTENT_TYPE, media_type);
    }
    if let Ok(disposition) =
        HeaderValue::from_str(&format!("attachment; filename=\"translated.{extension}\""))
    {
        headers.insert(header::CONTENT_DISPOSITION, disposition);
    }
    answer
}
