//! The OpenAI-compatible API: `POST /v1/chat/completions`, `POST /v1/completions`,
//! `GET /v1/models[/{id}]`.
//!
//! A chat is encoded with the model's own chat format, exactly as `sofer prompt render`
//! encodes it (control markers in message text neutralized); a completion prompt is plain
//! text, never parsed for control tokens. Every call goes through the same queue, deadline,
//! cancellation and metrics as a DocumentService call; its `n` choices share one prefill.

mod request;
mod response;

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Path, Request, State};
use axum::response::{IntoResponse, Response};
use tonic::codegen::tokio_stream::StreamExt;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use super::super::convert;
use super::super::document::{StreamPart, TaskFn};
use super::super::observed::Observed;
use super::super::offload::{blocking, blocking_if_large};
use super::super::request::CallInfo;
use super::super::status::{bad_request, ApiResult};
use super::call::{read_request, Caller};
use super::error::{openai_body, openai_error, Shape};
use super::routes::HttpState;
use super::sse::{self, SseEvent};
use crate::engine::{Completion, GenerationParams};
use crate::limits::MAX_TOKENS;
use crate::prompt::{EncodeOptions, Message};
use crate::tasks::{TaskRuntime, Usage};
use request::Common;
use response::{Answer, Endpoint, Generated};

type AppState = State<Arc<HttpState>>;

/// `POST /v1/chat/completions`.
pub async fn chat_completions(State(state): AppState, request: Request) -> Response {
    complete(&state, request, Endpoint::Chat).await
}

/// `POST /v1/completions`.
pub async fn completions(State(state): AppState, request: Request) -> Response {
    complete(&state, request, Endpoint::Text).await
}

/// `GET /v1/models`: the one model this server runs.
pub async fn list_models(State(state): AppState, request: Request) -> Response {
    if let Err(answer) = read_request(&state, request, Shape::OpenAi).await {
        return answer;
    }
    match loaded_model(&state) {
        Ok(id) => axum::Json(serde_json::json!({
            "object": "list",
            "data": [response::model_object(&id)],
        }))
        .into_response(),
        Err(status) => openai_error(&status),
    }
}

/// `GET /v1/models/{id}`.
pub async fn get_model(
    State(state): AppState,
    Path(id): Path<String>,
    request: Request,
) -> Response {
    if let Err(answer) = read_request(&state, request, Shape::OpenAi).await {
        return answer;
    }
    match loaded_model(&state).and_then(|loaded| check_model(&id, &loaded)) {
        Ok(id) => axum::Json(response::model_object(&id)).into_response(),
        Err(status) => openai_error(&status),
    }
}

/// The model's id: its file name without `.gguf`.
pub fn model_id(runtime: &TaskRuntime) -> String {
    let path = &runtime.engine().info().path;
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "sofer".into())
}

fn loaded_model(state: &HttpState) -> Result<String, Status> {
    Ok(model_id(&state.shared.ready()?.runtime))
}

fn check_model(asked: &str, loaded: &str) -> Result<String, Status> {
    if asked == loaded || asked.strip_suffix(".gguf") == Some(loaded) {
        return Ok(loaded.to_string());
    }
    Err(Status::with_error_details(
        Code::NotFound,
        format!("the model `{asked}` does not exist: this server runs `{loaded}`"),
        ErrorDetails::with_bad_request_violation("model", "names no model this server runs"),
    ))
}

/// The prompt of either endpoint.
enum Prompt {
    Chat(Vec<Message>),
    Text(String),
}

fn parse(endpoint: Endpoint, body: &[u8]) -> Result<(Prompt, Common), Status> {
    Ok(match endpoint {
        Endpoint::Chat => {
            let chat = request::chat(body)?;
            (Prompt::Chat(chat.messages), chat.common)
        }
        Endpoint::Text => {
            let text = request::completion(body)?;
            (Prompt::Text(text.prompt), text.common)
        }
    })
}

async fn complete(state: &Arc<HttpState>, request: Request, endpoint: Endpoint) -> Response {
    let (caller, body) = match read_request(state, request, Shape::OpenAi).await {
        Ok(read) => read,
        Err(answer) => return answer,
    };
    let call = match CallInfo::of(&caller.request(())) {
        Ok(call) => call,
        Err(status) => return openai_error(&status),
    };
    let observed = Observed::start(&state.shared, endpoint.method(), &call);
    match start(state, &caller, call, observed, body, endpoint).await {
        Ok(answer) => answer,
        Err(status) => openai_error(&status),
    }
}

async fn start(
    state: &Arc<HttpState>,
    caller: &Caller,
    call: CallInfo,
    observed: Observed,
    body: axum::body::Bytes,
    endpoint: Endpoint,
) -> Result<Response, Status> {
    let parsed = blocking_if_large(body.len(), move || parse(endpoint, &body))
        .await
        .and_then(|(prompt, common)| {
            let runtime = state.shared.ready()?.runtime.clone();
            let model = check_model(&common.model, &model_id(&runtime))?;
            Ok((prompt, common, runtime, model))
        });
    let (prompt, common, runtime, model) = match parsed {
        Ok(parsed) => parsed,
        Err(status) => {
            observed.finish::<()>(&Err(status.clone()), None);
            return Err(status);
        }
    };
    let stream = common.stream;
    let answer = Answer::new(endpoint, model, &common, runtime.clone());
    let work = blocking(move || prepare(&runtime, prompt, common)).await;
    if stream {
        let parts = state
            .documents
            .stream(observed, call, work, |g| &g.usage, |part| part)?;
        let mut chunks = answer.chunks();
        let events = parts.map(move |part| chunks.events(part));
        let late = Status::deadline_exceeded("the deadline passed before the completion finished");
        let expired = vec![SseEvent::Data(openai_body(&late))];
        return Ok(sse::response(sse::until(
            caller.deadline(),
            events,
            expired,
        )));
    }
    let result = async {
        let generated = state.documents.unary(call.clone(), work?).await?;
        Ok(generated)
    }
    .await;
    let usage = result
        .as_ref()
        .ok()
        .map(|g: &Generated| convert::usage(&g.usage));
    observed.finish(&result, usage.as_ref());
    Ok(axum::Json(answer.whole(result?)).into_response())
}

/// Encodes the prompt, settles `max_tokens` and checks that both fit the context.
fn prepare(runtime: &TaskRuntime, prompt: Prompt, common: Common) -> ApiResult<TaskFn<Generated>> {
    let tokenizer = runtime.engine().tokenizer();
    let (ids, field) = match &prompt {
        Prompt::Chat(messages) => {
            let rendered = runtime
                .format()
                .encode(tokenizer, messages, EncodeOptions::default())
                .map_err(|e| bad_request("messages", e.to_string()))?;
            (rendered.ids, "messages")
        }
        Prompt::Text(text) => {
            let ids = tokenizer
                .encode(text, tokenizer.add_bos_default())
                .map_err(|e| bad_request("prompt", e.to_string()))?;
            (ids, "prompt")
        }
    };
    let context = runtime.engine().info().config.context_length;
    if ids.len() >= context {
        return Err(bad_request(
            field,
            format!("is {} tokens; the model's context is {context}", ids.len()),
        ));
    }
    let room = context - ids.len();
    let mut params: GenerationParams = common.params;
    if params.max_tokens == 0 {
        params.max_tokens = room.min(*MAX_TOKENS.end());
    } else if params.max_tokens > room {
        return Err(bad_request(
            "max_tokens",
            format!(
                "is {} but the prompt leaves room for {room} tokens of the model's context of {context}",
                params.max_tokens
            ),
        ));
    }
    let n = common.n;
    Ok(Box::new(move |ctx, sink| {
        let started = Instant::now();
        let mut usage = Usage::default();
        let completions: Vec<Completion> =
            ctx.generate_choices(&ids, &params, n, sink, &mut usage)?;
        usage.chunks = 1;
        usage.ms = started.elapsed().as_millis() as u64;
        Ok(Generated { completions, usage })
    }))
}

/// A part of a stream, as the documents' stream hands it.
pub type Part = ApiResult<StreamPart<Generated>>;
