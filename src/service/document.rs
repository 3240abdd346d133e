//! DocumentService: each call is validated, queued for the engine, and run on a worker;
//! the worker stops within a token when the caller goes away or its deadline passes.

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{mpsc, oneshot};
use tonic::codegen::tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use super::convert;
use super::pb;
use super::pb::document_service_server::DocumentService;
use super::request::{CallInfo, TenantRetriever};
use super::server::Shared;
use super::status::{from_task, ApiResult};
use crate::retrieval::Retriever;
use crate::tasks::{self, Event, TaskContext, TaskError, TaskRuntime};

/// Messages a stream may buffer before the worker waits for the client.
const STREAM_BUFFER: usize = 32;

/// The DocumentService implementation.
pub struct Documents {
    pub(super) shared: Arc<Shared>,
}

/// A task to run with a context and an event sink.
type TaskFn<T> = Box<
    dyn FnOnce(&TaskContext<'_>, &mut dyn FnMut(Event<'_>) -> bool) -> Result<T, TaskError> + Send,
>;

/// Runs `work` with the tenant's view of the index.
fn with_context<T>(
    runtime: &TaskRuntime,
    call: &CallInfo,
    work: TaskFn<T>,
    sink: &mut dyn FnMut(Event<'_>) -> bool,
) -> Result<T, TaskError> {
    let view = runtime.index().map(|index| TenantRetriever {
        index,
        tenant: call.tenant.clone(),
    });
    let ctx = runtime.context_with(view.as_ref().map(|v| v as &dyn Retriever));
    work(&ctx, sink)
}

/// The status of a task that failed, DEADLINE_EXCEEDED when it stopped for its deadline.
fn task_status(err: TaskError, call: &CallInfo) -> Status {
    if call.expired() {
        return Status::deadline_exceeded("the deadline passed before the task finished");
    }
    from_task(err)
}

impl Documents {
    /// Queues `work` and waits for its result (or the deadline).
    async fn unary<T: Send + 'static>(&self, call: CallInfo, work: TaskFn<T>) -> ApiResult<T> {
        let ready = self.shared.ready()?;
        let (tx, rx) = oneshot::channel::<ApiResult<T>>();
        let job_call = call.clone();
        ready
            .queue
            .try_submit(Box::new(move |runtime| {
                let call = job_call;
                if tx.is_closed() {
                    return;
                }
                if call.expired() {
                    let _ = tx.send(Err(Status::deadline_exceeded(
                        "the deadline passed while the request waited for the engine",
                    )));
                    return;
                }
                let result = {
                    let _entered = call.span.enter();
                    let mut sink = |_: Event<'_>| !tx.is_closed() && !call.expired();
                    with_context(runtime, &call, work, &mut sink)
                };
                let _ = tx.send(result.map_err(|e| task_status(e, &call)));
            }))
            .map_err(|full| Status::resource_exhausted(full.to_string()))?;
        match call.deadline {
            Some(deadline) => tokio::time::timeout_at(deadline.into(), rx)
                .await
                .map_err(|_| {
                    Status::deadline_exceeded("the deadline passed before the task finished")
                })?,
            None => rx.await,
        }
        .map_err(|_| Status::internal("the engine worker stopped; see the server log"))?
    }

    /// Queues `work`, streaming its text and progress as `M`s and finally its result.
    /// The call is logged and counted when its stream ends.
    fn stream<T, M>(
        &self,
        method: &'static str,
        call: CallInfo,
        work: TaskFn<T>,
        usage_of: fn(&T) -> &tasks::Usage,
        message: fn(StreamPart<T>) -> M,
    ) -> ApiResult<ReceiverStream<ApiResult<M>>>
    where
        T: Send + 'static,
        M: Send + 'static,
    {
        let ready = self.shared.ready()?;
        let shared = self.shared.clone();
        let started = Instant::now();
        let (tx, rx) = mpsc::channel::<ApiResult<M>>(STREAM_BUFFER);
        ready
            .queue
            .try_submit(Box::new(move |runtime| {
                if tx.is_closed() {
                    return;
                }
                if call.expired() {
                    let _ = tx.blocking_send(Err(Status::deadline_exceeded(
                        "the deadline passed while the request waited for the engine",
                    )));
                    return;
                }
                let result = {
                    let _entered = call.span.enter();
                    let mut sink = |event: Event<'_>| {
                        if tx.is_closed() || call.expired() {
                            return false;
                        }
                        let part = match event {
                            Event::Text(text) => StreamPart::Text(text.to_string()),
                            Event::Step { name, done, total } => {
                                StreamPart::Progress(pb::Progress {
                                    step: name.into(),
                                    done: done as u32,
                                    total: total as u32,
                                })
                            }
                            Event::Token => return true,
                        };
                        tx.blocking_send(Ok(message(part))).is_ok()
                    };
                    with_context(runtime, &call, work, &mut sink)
                };
                let usage = result
                    .as_ref()
                    .ok()
                    .map(|done| convert::usage(usage_of(done)));
                let last = result
                    .map(|done| message(StreamPart::Done(done)))
                    .map_err(|e| task_status(e, &call));
                let outcome = last.as_ref().map(|_| ()).map_err(Clone::clone);
                let _ = tx.blocking_send(last);
                shared.observe_task(method, &call, started, &outcome, usage.as_ref());
            }))
            .map_err(|full| Status::resource_exhausted(full.to_string()))?;
        Ok(ReceiverStream::new(rx))
    }
}

/// One piece of a streamed task.
pub enum StreamPart<T> {
    /// Progress of a step.
    Progress(pb::Progress),
    /// More text.
    Text(String),
    /// The result.
    Done(T),
}

fn summarize_message(part: StreamPart<tasks::Summary>) -> pb::StreamSummarizeResponse {
    use pb::stream_summarize_response::Event as E;
    pb::StreamSummarizeResponse {
        event: Some(match part {
            StreamPart::Progress(p) => E::Progress(p),
            StreamPart::Text(t) => E::TextDelta(t),
            StreamPart::Done(s) => E::Response(convert::summarize_response(s)),
        }),
    }
}

fn translate_message(part: StreamPart<tasks::Translation>) -> pb::StreamTranslateResponse {
    use pb::stream_translate_response::Event as E;
    pb::StreamTranslateResponse {
        event: Some(match part {
            StreamPart::Progress(p) => E::Progress(p),
            StreamPart::Text(t) => E::TextDelta(t),
            StreamPart::Done(t) => E::Response(convert::translate_response(t)),
        }),
    }
}

fn summarize_work(req: pb::SummarizeRequest) -> ApiResult<TaskFn<tasks::Summary>> {
    let words = req.target_words > 0;
    let valid = convert::summarize_request(req)?
        .validate()
        .map_err(|e| match e {
            TaskError::InvalidArgument { field, .. } if words && field == "length" => {
                super::status::bad_request(
                    "target_words",
                    "must be 10 to 2000 words, or 0 to use `length`",
                )
            }
            other => from_task(other),
        })?;
    Ok(Box::new(move |ctx, sink| {
        tasks::summarize(ctx, &valid, sink)
    }))
}

fn translate_work(req: pb::TranslateRequest) -> ApiResult<TaskFn<tasks::Translation>> {
    let valid = convert::translate_request(req)?
        .validate()
        .map_err(from_task)?;
    Ok(Box::new(move |ctx, sink| {
        tasks::translate(ctx, &valid, sink)
    }))
}

#[tonic::async_trait]
impl DocumentService for Documents {
    async fn summarize(
        &self,
        request: Request<pb::SummarizeRequest>,
    ) -> ApiResult<Response<pb::SummarizeResponse>> {
        let call = CallInfo::of(&request)?;
        let started = Instant::now();
        let result = async {
            let work = summarize_work(request.into_inner())?;
            let summary = self.unary(call.clone(), work).await?;
            Ok(Response::new(convert::summarize_response(summary)))
        }
        .await;
        let usage = result.as_ref().ok().and_then(|r| r.get_ref().usage);
        self.shared
            .observe_task("Summarize", &call, started, &result, usage.as_ref());
        result
    }

    type StreamSummarizeStream = ReceiverStream<ApiResult<pb::StreamSummarizeResponse>>;

    async fn stream_summarize(
        &self,
        request: Request<pb::SummarizeRequest>,
    ) -> ApiResult<Response<Self::StreamSummarizeStream>> {
        let call = CallInfo::of(&request)?;
        let started = Instant::now();
        let result = summarize_work(request.into_inner())
            .and_then(|work| {
                self.stream(
                    "StreamSummarize",
                    call.clone(),
                    work,
                    |s| &s.usage,
                    summarize_message,
                )
            })
            .map(Response::new);
        if result.is_err() {
            self.shared
                .observe("StreamSummarize", &call, started, &result);
        }
        result
    }

    async fn translate(
        &self,
        request: Request<pb::TranslateRequest>,
    ) -> ApiResult<Response<pb::TranslateResponse>> {
        let call = CallInfo::of(&request)?;
        let started = Instant::now();
        let result = async {
            let work = translate_work(request.into_inner())?;
            let translation = self.unary(call.clone(), work).await?;
            Ok(Response::new(convert::translate_response(translation)))
        }
        .await;
        let usage = result.as_ref().ok().and_then(|r| r.get_ref().usage);
        self.shared
            .observe_task("Translate", &call, started, &result, usage.as_ref());
        result
    }

    type StreamTranslateStream = ReceiverStream<ApiResult<pb::StreamTranslateResponse>>;

    async fn stream_translate(
        &self,
        request: Request<pb::TranslateRequest>,
    ) -> ApiResult<Response<Self::StreamTranslateStream>> {
        let call = CallInfo::of(&request)?;
        let started = Instant::now();
        let result = translate_work(request.into_inner())
            .and_then(|work| {
                self.stream(
                    "StreamTranslate",
                    call.clone(),
                    work,
                    |t| &t.usage,
                    translate_message,
                )
            })
            .map(Response::new);
        if result.is_err() {
            self.shared
                .observe("StreamTranslate", &call, started, &result);
        }
        result
    }

    async fn classify(
        &self,
        request: Request<pb::ClassifyRequest>,
    ) -> ApiResult<Response<pb::ClassifyResponse>> {
        let call = CallInfo::of(&request)?;
        let started = Instant::now();
        let result = async {
            let valid = convert::classify_request(request.into_inner())?
                .validate()
                .map_err(from_task)?;
            let work: TaskFn<tasks::Classification> =
                Box::new(move |ctx, sink| tasks::classify(ctx, &valid, sink));
            let classification = self.unary(call.clone(), work).await?;
            Ok(Response::new(convert::classify_response(classification)))
        }
        .await;
        let usage = result.as_ref().ok().and_then(|r| r.get_ref().usage);
        self.shared
            .observe_task("Classify", &call, started, &result, usage.as_ref());
        result
    }
}
