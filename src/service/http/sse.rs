//! Server-sent events: each item one `data:` event of JSON, an error as an `event: error`.
//! The body is a stream, so a client that disconnects drops it, and with it the engine's
//! channel: the task stops within a token.

use std::convert::Infallible;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderValue};
use axum::response::Response;
use serde_json::Value;
use tonic::codegen::tokio_stream::{Stream, StreamExt};

/// One event of a stream.
pub enum SseEvent {
    /// `data: {json}`.
    Data(Value),
    /// `event: error` with `data: {json}`.
    Error(Value),
    /// `data: [DONE]` (OpenAI's end of stream).
    Done,
}

impl SseEvent {
    fn bytes(&self) -> Bytes {
        Bytes::from(match self {
            SseEvent::Data(v) => format!("data: {v}\n\n"),
            SseEvent::Error(v) => format!("event: error\ndata: {v}\n\n"),
            SseEvent::Done => "data: [DONE]\n\n".to_string(),
        })
    }
}

/// A `text/event-stream` response of `events`, each item written (and flushed) at once.
pub fn response(events: impl Stream<Item = Vec<SseEvent>> + Send + 'static) -> Response {
    let body = Body::from_stream(events.map(|batch| {
        let bytes: Vec<u8> = batch.iter().flat_map(|e| e.bytes()).collect();
        Ok::<_, Infallible>(Bytes::from(bytes))
    }));
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // Proxies such as nginx would otherwise hold the tokens back.
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

/// `events` until `deadline`, then `expired` and the end: a stream that has not finished by
/// its caller's deadline ends with the error (dropping `events`, which stops its task).
pub fn until(
    deadline: Option<std::time::Instant>,
    events: impl Stream<Item = Vec<SseEvent>> + Send + 'static,
    expired: Vec<SseEvent>,
) -> impl Stream<Item = Vec<SseEvent>> + Send + 'static {
    Until {
        events: Box::pin(events),
        timer: deadline.map(|d| Box::pin(tokio::time::sleep_until(d.into()))),
        expired: Some(expired),
    }
}

struct Until<S> {
    events: std::pin::Pin<Box<S>>,
    timer: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
    expired: Option<Vec<SseEvent>>,
}

impl<S: Stream<Item = Vec<SseEvent>>> Stream for Until<S> {
    type Item = Vec<SseEvent>;

    fn poll_next(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        use std::task::Poll;
        let this = self.get_mut();
        let Some(expired) = this.expired.as_mut() else {
            return Poll::Ready(None);
        };
        if let Poll::Ready(item) = this.events.as_mut().poll_next(cx) {
            if item.is_none() {
                this.expired = None;
            }
            return Poll::Ready(item);
        }
        match this
            .timer
            .as_mut()
            .map(|t| std::future::Future::poll(t.as_mut(), cx))
        {
            Some(Poll::Ready(())) => {
                let last = std::mem::take(expired);
                this.expired = None;
                Poll::Ready(Some(last))
            }
            _ => Poll::Pending,
        }
    }
}
