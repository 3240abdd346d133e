//! The tasks over HTTP/JSON: each route takes the RPC's request message as JSON and
//! answers its response message as JSON (see [`super::transcode`]); a streaming RPC
//! answers server-sent events, one response message each. IngestDocuments, a client
//! stream in gRPC, takes one message or an array of them.

use std::future::Future;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use tonic::codegen::tokio_stream::{Stream, StreamExt};
use tonic::Status;

use super::super::pb;
use super::super::status::{bad_request, ApiResult};
use super::call::Caller;
use super::error::{google_body, google_error};
use super::routes::{read_body, HttpState};
use super::sse::{self, SseEvent};
use super::transcode::{from_json, to_json, ProtoMessage};
use super::Peer;

/// What every task route is given.
pub struct TaskCall<'a> {
    /// The server's state.
    pub state: &'a HttpState,
    /// The request's headers.
    pub headers: HeaderMap,
    /// Where it came from.
    pub peer: Peer,
    /// Its body.
    pub body: Bytes,
}

impl<'a> TaskCall<'a> {
    /// Reads a task route's request, or answers 413 past the body limit.
    pub async fn read(
        state: &'a HttpState,
        peer: Peer,
        request: axum::extract::Request,
    ) -> Result<Self, Response> {
        let (headers, body) = read_body(state, request, google_error).await?;
        Ok(Self {
            state,
            headers,
            peer,
            body,
        })
    }

    /// The caller and the request message, or the error answer.
    fn parse<Req: ProtoMessage>(&self) -> Result<(Caller, Req), Status> {
        let caller = self.state.caller(&self.headers, self.peer)?;
        let body: &[u8] = if self.body.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            &self.body
        };
        let message = from_json::<Req>(body).map_err(|e| bad_request("body", e))?;
        Ok((caller, message))
    }
}

/// A unary RPC over HTTP: JSON in, `call`, JSON out.
pub async fn unary<Req, Resp, F, Fut>(task: TaskCall<'_>, call: F) -> Response
where
    Req: ProtoMessage,
    Resp: ProtoMessage,
    F: FnOnce(tonic::Request<Req>) -> Fut,
    Fut: Future<Output = ApiResult<tonic::Response<Resp>>>,
{
    let answered = async {
        let (caller, message) = task.parse::<Req>()?;
        call(caller.request(message)).await
    }
    .await;
    match answered {
        Ok(response) => axum::Json(to_json(response.get_ref())).into_response(),
        Err(status) => google_error(&status),
    }
}

/// A server-streaming RPC over HTTP: JSON in, `call`, one event per message out. A
/// refusal before the stream starts is an ordinary error answer.
pub async fn streaming<Req, M, S, F, Fut>(task: TaskCall<'_>, call: F) -> Response
where
    Req: ProtoMessage,
    M: ProtoMessage,
    S: Stream<Item = ApiResult<M>> + Send + 'static,
    F: FnOnce(tonic::Request<Req>) -> Fut,
    Fut: Future<Output = ApiResult<tonic::Response<S>>>,
{
    let started = async {
        let (caller, message) = task.parse::<Req>()?;
        call(caller.request(message)).await
    }
    .await;
    match started {
        Ok(stream) => sse::response(stream.into_inner().map(|item| match item {
            Ok(message) => vec![SseEvent::Data(to_json(&message))],
            Err(status) => vec![SseEvent::Error(google_body(&status))],
        })),
        Err(status) => google_error(&status),
    }
}

/// IngestDocuments: the body is one `IngestDocumentsRequest` or an array of them, given to
/// the service as the client stream gRPC would carry.
pub async fn ingest(task: TaskCall<'_>) -> Response {
    let answered = async {
        let caller = task.state.caller(&task.headers, task.peer)?;
        let messages = ingest_messages(&task.body)?;
        let mut framed = Vec::new();
        for message in &messages {
            let encoded = prost::Message::encode_to_vec(message);
            framed.push(0u8); // not compressed
            framed.extend_from_slice(&(encoded.len() as u32).to_be_bytes());
            framed.extend_from_slice(&encoded);
        }
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
        task.state.corpus_ingest(caller.request(stream)).await
    }
    .await;
    match answered {
        Ok(response) => axum::Json(to_json(response.get_ref())).into_response(),
        Err(status) => google_error(&status),
    }
}

fn ingest_messages(body: &[u8]) -> Result<Vec<pb::IngestDocumentsRequest>, Status> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| bad_request("body", e.to_string()))?;
    let items = match value {
        serde_json::Value::Array(items) => items,
        one => vec![one],
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            from_json::<pb::IngestDocumentsRequest>(item.to_string().as_bytes())
                .map_err(|e| bad_request(&format!("messages[{i}]"), e))
        })
        .collect()
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
