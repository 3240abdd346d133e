//! OpenAI response bodies: a whole `chat.completion` / `text_completion`, or the stream of
//! `chat.completion.chunk` / `text_completion` events, with logprobs in each endpoint's
//! shape and the usage.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Map, Value};

use super::super::super::document::StreamPart;
use super::super::error::openai_body;
use super::super::sse::SseEvent;
use super::request::Common;
use super::Part;
use crate::engine::{Completion, FinishReason, TokenLogprob};
use crate::tasks::{TaskRuntime, Usage};

/// Which endpoint answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `/v1/chat/completions`.
    Chat,
    /// `/v1/completions`.
    Text,
}

impl Endpoint {
    /// The method name in logs and metrics.
    pub fn method(self) -> &'static str {
        match self {
            Endpoint::Chat => "ChatCompletions",
            Endpoint::Text => "Completions",
        }
    }
}

/// What a call's work hands back.
pub struct Generated {
    /// One per choice.
    pub completions: Vec<Completion>,
    /// What it cost.
    pub usage: Usage,
}

/// What every body of one call shares.
pub struct Answer {
    endpoint: Endpoint,
    id: String,
    created: u64,
    model: String,
    n: usize,
    include_usage: bool,
    logprobs_asked: bool,
    runtime: Arc<TaskRuntime>,
}

/// `{"id", "object": "model", …}` of the model `id`.
pub fn model_object(id: &str) -> Value {
    json!({"id": id, "object": "model", "created": 0, "owned_by": "sofer"})
}

impl Answer {
    /// The bodies of a call of `endpoint` to `model`.
    pub fn new(
        endpoint: Endpoint,
        model: String,
        common: &Common,
        runtime: Arc<TaskRuntime>,
    ) -> Self {
        static CALLS: AtomicU64 = AtomicU64::new(0);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let prefix = match endpoint {
            Endpoint::Chat => "chatcmpl",
            Endpoint::Text => "cmpl",
        };
        let serial = CALLS.fetch_add(1, Ordering::Relaxed);
        Self {
            endpoint,
            id: format!("{prefix}-{:x}{serial:04x}", now.as_micros()),
            created: now.as_secs(),
            model,
            n: common.n,
            include_usage: common.include_usage,
            logprobs_asked: common.params.logprobs.is_some(),
            runtime,
        }
    }

    fn object(&self, chunk: bool) -> &'static str {
        match (self.endpoint, chunk) {
            (Endpoint::Chat, false) => "chat.completion",
            (Endpoint::Chat, true) => "chat.completion.chunk",
            (Endpoint::Text, _) => "text_completion",
        }
    }

    fn body(&self, chunk: bool, choices: Vec<Value>) -> Map<String, Value> {
        let mut body = Map::new();
        body.insert("id".into(), self.id.clone().into());
        body.insert("object".into(), self.object(chunk).into());
        body.insert("created".into(), self.created.into());
        body.insert("model".into(), self.model.clone().into());
        body.insert("system_fingerprint".into(), fingerprint().into());
        body.insert("choices".into(), choices.into());
        body
    }

    /// The whole answer of a call that did not stream.
    pub fn whole(&self, generated: Generated) -> Value {
        let choices = generated
            .completions
            .iter()
            .enumerate()
            .map(|(index, c)| {
                let logprobs = self.logprobs_asked.then(|| self.logprobs(&c.logprobs, 0));
                let finish = finish_reason(c.finish_reason);
                match self.endpoint {
                    Endpoint::Chat => json!({
                        "index": index,
                        "message": {"role": "assistant", "content": c.text, "refusal": null},
                        "logprobs": logprobs,
                        "finish_reason": finish,
                    }),
                    Endpoint::Text => json!({
                        "index": index, "text": c.text, "logprobs": logprobs, "finish_reason": finish,
                    }),
                }
            })
            .collect();
        let mut body = self.body(false, choices);
        body.insert("usage".into(), usage(&generated.usage));
        body.into()
    }

    /// The stream's events, part by part.
    pub fn chunks(self) -> Chunks {
        Chunks {
            begun: vec![false; self.n],
            offsets: vec![0; self.n],
            answer: self,
        }
    }

    /// `tokens` in the endpoint's logprobs shape; `offset` is where the first one starts
    /// in the choice's text (completions' `text_offset`).
    fn logprobs(&self, tokens: &[TokenLogprob], offset: usize) -> Value {
        let tokenizer = self.runtime.engine().tokenizer();
        let piece = |id: u32| {
            let bytes = tokenizer.token_bytes(id);
            (String::from_utf8_lossy(bytes).into_owned(), bytes.to_vec())
        };
        match self.endpoint {
            Endpoint::Chat => {
                let entry = |id: u32, logprob: f32| {
                    let (token, bytes) = piece(id);
                    json!({"token": token, "logprob": logprob, "bytes": bytes})
                };
                let content: Vec<Value> = tokens
                    .iter()
                    .map(|t| {
                        let mut e = entry(t.token, t.logprob);
                        let top: Vec<Value> = t.top.iter().map(|&(id, lp)| entry(id, lp)).collect();
                        e["top_logprobs"] = top.into();
                        e
                    })
                    .collect();
                json!({"content": content, "refusal": null})
            }
            Endpoint::Text => {
                let mut offset = offset;
                let (mut texts, mut offsets, mut logprobs, mut tops) =
                    (vec![], vec![], vec![], vec![]);
                for t in tokens {
                    let text = piece(t.token).0;
                    offsets.push(offset);
                    offset += text.chars().count();
                    texts.push(text);
                    logprobs.push(t.logprob);
                    let top: Map<String, Value> = t
                        .top
                        .iter()
                        .map(|&(id, lp)| (piece(id).0, lp.into()))
                        .collect();
                    tops.push(Value::Object(top));
                }
                json!({"tokens": texts, "token_logprobs": logprobs, "top_logprobs": tops, "text_offset": offsets})
            }
        }
    }
}

/// The events of one streamed call.
pub struct Chunks {
    answer: Answer,
    /// Whether each choice's first chunk (the chat role) went out.
    begun: Vec<bool>,
    /// Characters of each choice's text sent so far (completions' `text_offset`).
    offsets: Vec<usize>,
}

impl Chunks {
    /// The events one part of the stream becomes.
    pub fn events(&mut self, part: Part) -> Vec<SseEvent> {
        let mut events = Vec::new();
        match part {
            Ok(StreamPart::Choice {
                index,
                text,
                logprob,
            }) => {
                self.begin(index, &mut events);
                if !text.is_empty() || logprob.is_some() {
                    let start = self.offsets.get(index).copied().unwrap_or_default();
                    let logprobs =
                        logprob.map(|l| self.answer.logprobs(std::slice::from_ref(&l), start));
                    if let Some(offset) = self.offsets.get_mut(index) {
                        *offset += text.chars().count();
                    }
                    events.push(self.chunk(index, Some(&text), logprobs, None));
                }
            }
            Ok(StreamPart::Done(generated)) => {
                for (index, c) in generated.completions.iter().enumerate() {
                    self.begin(index, &mut events);
                    events.push(self.chunk(
                        index,
                        None,
                        None,
                        Some(finish_reason(c.finish_reason)),
                    ));
                }
                if self.answer.include_usage {
                    let mut body = self.answer.body(true, Vec::new());
                    body.insert("usage".into(), usage(&generated.usage));
                    events.push(SseEvent::Data(body.into()));
                }
                events.push(SseEvent::Done);
            }
            Ok(StreamPart::Progress(_) | StreamPart::Text(_)) => {}
            Err(status) => events.push(SseEvent::Data(openai_body(&status))),
        }
        events
    }

    /// The chat's first chunk of choice `index` (its role), once.
    fn begin(&mut self, index: usize, events: &mut Vec<SseEvent>) {
        let Some(begun) = self.begun.get_mut(index) else {
            return;
        };
        if std::mem::replace(begun, true) || self.answer.endpoint != Endpoint::Chat {
            return;
        }
        let choice = json!({
            "index": index,
            "delta": {"role": "assistant", "content": ""},
            "logprobs": null,
            "finish_reason": null,
        });
        events.push(self.event(choice));
    }

    fn chunk(
        &self,
        index: usize,
        text: Option<&str>,
        logprobs: Option<Value>,
        finish: Option<&str>,
    ) -> SseEvent {
        let choice = match self.answer.endpoint {
            Endpoint::Chat => {
                let delta = match text {
                    Some(text) => json!({"content": text}),
                    None => json!({}),
                };
                json!({"index": index, "delta": delta, "logprobs": logprobs, "finish_reason": finish})
            }
            Endpoint::Text => json!({
                "index": index, "text": text.unwrap_or(""), "logprobs": logprobs, "finish_reason": finish,
            }),
        };
        self.event(choice)
    }

    fn event(&self, choice: Value) -> SseEvent {
        let mut body = self.answer.body(true, vec![choice]);
        if self.answer.include_usage {
            body.insert("usage".into(), Value::Null);
        }
        SseEvent::Data(body.into())
    }
}

fn finish_reason(reason: FinishReason) -> &'static str {
    match reason {
        FinishReason::Length => "length",
        FinishReason::Eos | FinishReason::Stop => "stop",
    }
}

fn usage(u: &Usage) -> Value {
    json!({
        "prompt_tokens": u.prompt_tokens,
        "completion_tokens": u.completion_tokens,
        "total_tokens": u.prompt_tokens + u.completion_tokens,
        "prompt_tokens_details": {"cached_tokens": u.cached_prompt_tokens},
    })
}

fn fingerprint() -> String {
    format!("sofer-{}", env!("CARGO_PKG_VERSION"))
}
