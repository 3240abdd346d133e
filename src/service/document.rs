//! DocumentService: each call is validated, queued for the engine, and run on a worker;
//! the worker stops within a token when the caller goes away or its deadline passes.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{mpsc, oneshot};
use tonic::codegen::tokio_stream::Stream;
use tonic::{Request, Response, Status};

use super::content;
use super::convert;
use super::observed::Observed;
use super::offload::blocking;
use super::pb;
use super::pb::document_service_server::DocumentService;
use super::queue::Work;
use super::request::{CallInfo, TenantRetriever};
use super::server::Shared;
use super::status::{from_task, ApiResult};
use crate::documents::Format;
use crate::retrieval::Retriever;
use crate::tasks::{self, Event, TaskContext, TaskError, TaskRuntime};

use crate::limits::STREAM_BUFFER;

/// The DocumentService implementation.
pub struct Documents {
    pub(super) shared: Arc<Shared>,
    /// How long a stream waits for a client that does not read.
    pub(super) stall_timeout: Duration,
}

/// A task to run with a context and an event sink.
pub(super) type TaskFn<T> = Box<
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
    pub(super) async fn unary<T: Send + 'static>(
        &self,
        call: CallInfo,
        work: TaskFn<T>,
    ) -> ApiResult<T> {
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

    /// Queues `work` (or refuses the call with its validation error), streaming its text
    /// and progress as `M`s and finally its result. The call is logged and counted when
    /// its stream ends, or when it is refused. A client that reads nothing
    /// for the stall timeout while the buffer is full is cancelled: the engine never
    /// waits on a client for longer.
    pub(super) fn stream<T, M>(
        &self,
        observed: Observed,
        call: CallInfo,
        work: ApiResult<TaskFn<T>>,
        usage_of: fn(&T) -> &tasks::Usage,
        message: fn(StreamPart<T>) -> M,
    ) -> ApiResult<Messages<M>>
    where
        T: Send + 'static,
        M: Send + 'static,
    {
        let shared = self.shared.clone();
        let stall = self.stall_timeout;
        let (tx, rx) = mpsc::channel::<ApiResult<M>>(STREAM_BUFFER);
        let tail = Arc::new(Mutex::new(None));
        let job_tail = tail.clone();
        let slot = Arc::new(Mutex::new(Some(observed)));
        let job_slot = slot.clone();
        let job = move |work: TaskFn<T>| -> Work {
            Box::new(move |runtime| {
                let observed = job_slot.lock().ok().and_then(|mut o| o.take());
                let finish = |result: &ApiResult<()>, usage: Option<&pb::Usage>| {
                    if let Some(observed) = observed {
                        observed.finish(result, usage);
                    }
                };
                if tx.is_closed() {
                    return finish(&Err(Status::cancelled("the client went away")), None);
                }
                if call.expired() {
                    let late = Status::deadline_exceeded(
                        "the deadline passed while the request waited for the engine",
                    );
                    set_tail(&job_tail, late.clone());
                    return finish(&Err(late), None);
                }
                let mut stalled = false;
                let result = {
                    let _entered = call.span.enter();
                    let mut sink = |event: Event<'_>| {
                        if tx.is_closed() || call.expired() {
                            return false;
                        }
                        let part = match event {
                            Event::Text(text) => StreamPart::Text(text.to_string()),
                            Event::Choice {
                                index,
                                text,
                                logprob,
                            } => StreamPart::Choice {
                                index,
                                text: text.to_string(),
                                logprob: logprob.cloned(),
                            },
                            Event::Step { name, done, total } => {
                                StreamPart::Progress(pb::Progress {
                                    step: name.into(),
                                    done: done as u32,
                                    total: total as u32,
                                })
                            }
                            Event::Token | Event::Prompt { .. } => return true,
                        };
                        send_within(&tx, Ok(message(part)), &call, stall, &mut stalled)
                    };
                    with_context(runtime, &call, work, &mut sink)
                };
                let usage = result
                    .as_ref()
                    .ok()
                    .map(|done| convert::usage(usage_of(done)));
                let last = if stalled {
                    let _entered = call.span.enter();
                    tracing::warn!(
                        stall_seconds = stall.as_secs_f64(),
                        "the client read nothing for the stall timeout; its stream is cancelled"
                    );
                    shared.stalled_stream();
                    Err(Status::cancelled(format!(
                        "the client read nothing for {} s; the stream was cancelled",
                        stall.as_secs_f64()
                    )))
                } else {
                    result
                        .map(|done| message(StreamPart::Done(done)))
                        .map_err(|e| task_status(e, &call))
                };
                let outcome = last.as_ref().map(|_| ()).map_err(Clone::clone);
                match last {
                    Err(status) => set_tail(&job_tail, status),
                    Ok(done) => {
                        send_within(&tx, Ok(done), &call, stall, &mut stalled);
                    }
                }
                finish(&outcome, usage.as_ref());
            })
        };
        let submitted = work.and_then(|work| {
            self.shared
                .ready()?
                .queue
                .try_submit(job(work))
                .map_err(|full| Status::resource_exhausted(full.to_string()))
        });
        if let Err(refused) = submitted {
            if let Some(observed) = slot.lock().ok().and_then(|mut o| o.take()) {
                observed.finish::<()>(&Err(refused.clone()), None);
            }
            return Err(refused);
        }
        Ok(Messages { rx, tail })
    }
}

/// A stream's messages, then the error status the worker left in `tail` (it cannot wait
/// for room in the buffer of a client that stopped reading).
pub struct Messages<M> {
    rx: mpsc::Receiver<ApiResult<M>>,
    tail: Arc<Mutex<Option<Status>>>,
}

impl<M> Stream for Messages<M> {
    type Item = ApiResult<M>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        match this.rx.poll_recv(cx) {
            Poll::Ready(None) => {
                Poll::Ready(this.tail.lock().ok().and_then(|mut t| t.take()).map(Err))
            }
            other => other,
        }
    }
}

fn set_tail(tail: &Mutex<Option<Status>>, status: Status) {
    if let Ok(mut tail) = tail.lock() {
        *tail = Some(status);
    }
}

/// Sends `item` on `tx`, waiting while the buffer is full for at most `stall` (setting
/// `stalled` when that passes). `false` when the item was not sent: the client went away,
/// the deadline passed or the client stalled.
fn send_within<M>(
    tx: &mpsc::Sender<M>,
    item: M,
    call: &CallInfo,
    stall: Duration,
    stalled: &mut bool,
) -> bool {
    let give_up = Instant::now() + stall;
    let mut pause = Duration::from_millis(1);
    let mut item = item;
    loop {
        match tx.try_send(item) {
            Ok(()) => return true,
            Err(TrySendError::Closed(_)) => return false,
            Err(TrySendError::Full(back)) => {
                if call.expired() {
                    return false;
                }
                if Instant::now() >= give_up {
                    *stalled = true;
                    return false;
                }
                item = back;
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(20));
            }
        }
    }
}

/// One piece of a streamed task.
pub enum StreamPart<T> {
    /// Progress of a step.
    Progress(pb::Progress),
    /// More text.
    Text(String),
    /// A token of one of several samples (see [`Event::Choice`]).
    Choice {
        /// The sample.
        index: usize,
        /// Newly final text.
        text: String,
        /// The token's log-probability, when asked for.
        logprob: Option<crate::engine::TokenLogprob>,
    },
    /// The result.
    Done(T),
}

fn summarize_message(part: StreamPart<tasks::Summary>) -> pb::StreamSummarizeResponse {
    use pb::stream_summarize_response::Event as E;
    pb::StreamSummarizeResponse {
        event: Some(match part {
            StreamPart::Progress(p) => E::Progress(p),
            StreamPart::Text(t) | StreamPart::Choice { text: t, .. } => E::TextDelta(t),
            StreamPart::Done(s) => E::Response(convert::summarize_response(s)),
        }),
    }
}

/// A translation and the request's file rebuilt with it.
struct Translated {
    translation: tasks::Translation,
    file: Option<(Format, Vec<u8>)>,
}

fn translate_message(part: StreamPart<Translated>) -> pb::StreamTranslateResponse {
    use pb::stream_translate_response::Event as E;
    pb::StreamTranslateResponse {
        event: Some(match part {
            StreamPart::Progress(p) => E::Progress(p),
            StreamPart::Text(t) | StreamPart::Choice { text: t, .. } => E::TextDelta(t),
            StreamPart::Done(t) => E::Response(convert::translate_response(t.translation, t.file)),
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

fn translate_work(req: pb::TranslateRequest) -> ApiResult<TaskFn<Translated>> {
    let (request, file) = convert::translate_request(req)?;
    let valid = request.validate().map_err(from_task)?;
    Ok(Box::new(move |ctx, sink| {
        let translation = tasks::translate(ctx, &valid, sink)?;
        let rebuilt = match &file {
            Some(file) => content::rebuild(file, &translation)
                .map_err(|e| TaskError::invalid("content", format!("could not be rebuilt: {e}")))?
                .map(|bytes| (file.format, bytes)),
            None => None,
        };
        Ok(Translated {
            translation,
            file: rebuilt,
        })
    }))
}

fn classify_work(req: pb::ClassifyRequest) -> ApiResult<TaskFn<tasks::Classification>> {
    let valid = convert::classify_request(req)?
        .validate()
        .map_err(from_task)?;
    Ok(Box::new(move |ctx, sink| {
        tasks::classify(ctx, &valid, sink)
    }))
}

#[tonic::async_trait]
impl DocumentService for Documents {
    async fn summarize(
        &self,
        request: Request<pb::SummarizeRequest>,
    ) -> ApiResult<Response<pb::SummarizeResponse>> {
        let call = CallInfo::of(&request)?;
        let observed = Observed::start(&self.shared, "Summarize", &call);
        let result = async {
            let req = request.into_inner();
            let work = blocking(move || summarize_work(req)).await?;
            let summary = self.unary(call.clone(), work).await?;
            Ok(Response::new(convert::summarize_response(summary)))
        }
        .await;
        let usage = result.as_ref().ok().and_then(|r| r.get_ref().usage);
        observed.finish(&result, usage.as_ref());
        result
    }

    type StreamSummarizeStream = Messages<pb::StreamSummarizeResponse>;

    async fn stream_summarize(
        &self,
        request: Request<pb::SummarizeRequest>,
    ) -> ApiResult<Response<Self::StreamSummarizeStream>> {
        let call = CallInfo::of(&request)?;
        let observed = Observed::start(&self.shared, "StreamSummarize", &call);
        let req = request.into_inner();
        let work = blocking(move || summarize_work(req)).await;
        self.stream(observed, call, work, |s| &s.usage, summarize_message)
            .map(Response::new)
    }

    async fn translate(
        &self,
        request: Request<pb::TranslateRequest>,
    ) -> ApiResult<Response<pb::TranslateResponse>> {
        let call = CallInfo::of(&request)?;
        let observed = Observed::start(&self.shared, "Translate", &call);
        let result = async {
            let req = request.into_inner();
            let work = blocking(move || translate_work(req)).await?;
            let translated = self.unary(call.clone(), work).await?;
            Ok(Response::new(convert::translate_response(
                translated.translation,
                translated.file,
            )))
        }
        .await;
        let usage = result.as_ref().ok().and_then(|r| r.get_ref().usage);
        observed.finish(&result, usage.as_ref());
        result
    }

    type StreamTranslateStream = Messages<pb::StreamTranslateResponse>;

    async fn stream_translate(
        &self,
        request: Request<pb::TranslateRequest>,
    ) -> ApiResult<Response<Self::StreamTranslateStream>> {
        let call = CallInfo::of(&request)?;
        let observed = Observed::start(&self.shared, "StreamTranslate", &call);
        let req = request.into_inner();
        let work = blocking(move || translate_work(req)).await;
        self.stream(
            observed,
            call,
            work,
            |t| &t.translation.usage,
            translate_message,
        )
        .map(Response::new)
    }

    async fn classify(
        &self,
        request: Request<pb::ClassifyRequest>,
    ) -> ApiResult<Response<pb::ClassifyResponse>> {
        let call = CallInfo::of(&request)?;
        let observed = Observed::start(&self.shared, "Classify", &call);
        let result = async {
            let req = request.into_inner();
            let work = blocking(move || classify_work(req)).await?;
            let classification = self.unary(call.clone(), work).await?;
            Ok(Response::new(convert::classify_response(classification)))
        }
        .await;
        let usage = result.as_ref().ok().and_then(|r| r.get_ref().usage);
        observed.finish(&result, usage.as_ref());
        result
    }
}
