//! OpenAI request bodies, checked field by field: every parameter Sofer supports is read
//! and range-checked, any other is refused by name (never ignored), and the error names
//! the parameter as OpenAI's `param` does.

use serde_json::{Map, Value};
use tonic::Status;

use crate::engine::sampler::SamplingParams;
use crate::engine::{GenerationParams, MAX_TOP_LOGPROBS};
use crate::limits::{
    MAX_COMPLETION_LOGPROBS, MAX_STOP_SEQUENCES, MAX_TEXT_BYTES, MAX_TOKENS, SAMPLES, TEMPERATURE,
};
use crate::prompt::{Message, Role};
use crate::service::status::bad_request;

/// What both endpoints take besides the prompt.
#[derive(Debug, Clone)]
pub struct Common {
    /// The model the client named.
    pub model: String,
    /// Sampling, stop strings and logprobs; `max_tokens` is 0 until the prompt's length is
    /// known, when no budget was given.
    pub params: GenerationParams,
    /// Choices, from one prefill.
    pub n: usize,
    /// Stream server-sent events.
    pub stream: bool,
    /// Send a last chunk with the usage (`stream_options.include_usage`).
    pub include_usage: bool,
}

/// A `/v1/chat/completions` request.
#[derive(Debug, Clone)]
pub struct ChatRequest {
    /// The conversation.
    pub messages: Vec<Message>,
    /// The rest.
    pub common: Common,
}

/// A `/v1/completions` request.
#[derive(Debug, Clone)]
pub struct CompletionRequest {
    /// The text to continue.
    pub prompt: String,
    /// The rest.
    pub common: Common,
}

/// Reads a chat completion request.
pub fn chat(body: &[u8]) -> Result<ChatRequest, Status> {
    let mut fields = Fields::of(body)?;
    let messages = fields.messages()?;
    let logprobs = fields.bool("logprobs")?.unwrap_or(false);
    let top = fields.uint("top_logprobs", 0..=MAX_TOP_LOGPROBS)?;
    if top.is_some() && !logprobs {
        return Err(bad_request("top_logprobs", "needs `logprobs: true`"));
    }
    let common = fields.common(logprobs.then(|| top.unwrap_or(0)))?;
    fields.finish()?;
    Ok(ChatRequest { messages, common })
}

/// Reads a (legacy) completion request.
pub fn completion(body: &[u8]) -> Result<CompletionRequest, Status> {
    let mut fields = Fields::of(body)?;
    let prompt = match fields.take("prompt") {
        Some(Value::String(s)) => s,
        Some(Value::Array(items)) if items.len() == 1 && items[0].is_string() => {
            items[0].as_str().unwrap_or_default().to_string()
        }
        Some(Value::Array(_)) => return Err(bad_request(
            "prompt",
            "must be one string: token arrays and several prompts per request are not supported",
        )),
        Some(_) => return Err(bad_request("prompt", "must be a string")),
        None => return Err(bad_request("prompt", "is required")),
    };
    if prompt.is_empty() {
        return Err(bad_request("prompt", "must not be empty"));
    }
    if prompt.len() > MAX_TEXT_BYTES {
        return Err(bad_request(
            "prompt",
            format!("is longer than {MAX_TEXT_BYTES} bytes"),
        ));
    }
    if fields.bool("echo")?.unwrap_or(false) {
        return Err(bad_request("echo", "is not supported (only false)"));
    }
    if let Some(best_of) = fields.uint("best_of", 1..=SAMPLES.end().to_owned())? {
        if best_of != 1 {
            return Err(bad_request("best_of", "is not supported (only 1)"));
        }
    }
    let logprobs = fields.uint("logprobs", 0..=MAX_COMPLETION_LOGPROBS)?;
    let common = fields.common(logprobs)?;
    fields.finish()?;
    Ok(CompletionRequest { prompt, common })
}

/// The body's fields, taken one by one; what is left at the end is unsupported.
struct Fields(Map<String, Value>);

impl Fields {
    fn of(body: &[u8]) -> Result<Self, Status> {
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(map)) => Ok(Self(map)),
            Ok(_) => Err(bad_request("body", "must be a JSON object")),
            Err(e) => Err(bad_request("body", format!("is not JSON: {e}"))),
        }
    }

    /// A field's value; JSON `null` counts as absent, as OpenAI's API has it.
    fn take(&mut self, name: &str) -> Option<Value> {
        self.0.remove(name).filter(|v| !v.is_null())
    }

    fn bool(&mut self, name: &str) -> Result<Option<bool>, Status> {
        match self.take(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(b)),
            Some(_) => Err(bad_request(name, "must be true or false")),
        }
    }

    fn number(
        &mut self,
        name: &str,
        valid: impl Fn(f64) -> bool,
        range: &str,
    ) -> Result<Option<f64>, Status> {
        match self.take(name) {
            None => Ok(None),
            Some(v) => match v.as_f64() {
                // Checked as the engine will see it, in f32.
                Some(x) if (x as f32).is_finite() && valid(f64::from(x as f32)) => Ok(Some(x)),
                _ => Err(bad_request(
                    name,
                    format!("must be a number {range}, got {v}"),
                )),
            },
        }
    }

    fn uint(
        &mut self,
        name: &str,
        range: std::ops::RangeInclusive<usize>,
    ) -> Result<Option<usize>, Status> {
        match self.take(name) {
            None => Ok(None),
            Some(v) => match v.as_u64().map(|n| n as usize) {
                Some(n) if range.contains(&n) => Ok(Some(n)),
                _ => Err(bad_request(
                    name,
                    format!(
                        "must be a whole number from {} to {}, got {v}",
                        range.start(),
                        range.end()
                    ),
                )),
            },
        }
    }

    fn messages(&mut self) -> Result<Vec<Message>, Status> {
        let Some(Value::Array(items)) = self.take("messages") else {
            return Err(bad_request(
                "messages",
                "is required: a non-empty array of messages",
            ));
        };
        if items.is_empty() {
            return Err(bad_request("messages", "must not be empty"));
        }
        let mut total = 0;
        let messages = items
            .into_iter()
            .enumerate()
            .map(|(i, item)| {
                let message = message(item, &format!("messages[{i}]"))?;
                total += message.content.len();
                Ok(message)
            })
            .collect::<Result<Vec<_>, Status>>()?;
        if total > MAX_TEXT_BYTES {
            return Err(bad_request(
                "messages",
                format!("hold more than {MAX_TEXT_BYTES} bytes of text"),
            ));
        }
        Ok(messages)
    }

    fn common(&mut self, logprobs: Option<usize>) -> Result<Common, Status> {
        let model = match self.take("model") {
            Some(Value::String(m)) if !m.is_empty() => m,
            _ => {
                return Err(bad_request(
                    "model",
                    "is required: the id `GET /v1/models` lists",
                ))
            }
        };
        let temperature = self
            .number(
                "temperature",
                |t| TEMPERATURE.contains(&(t as f32)),
                "from 0 to 2",
            )?
            .unwrap_or(1.0) as f32;
        let top_p = self
            .number("top_p", |p| p > 0.0 && p <= 1.0, "above 0 and at most 1")?
            .unwrap_or(1.0) as f32;
        let top_k = self.uint("top_k", 0..=usize::MAX)?.unwrap_or(0);
        let repetition_penalty = self
            .number(
                "repetition_penalty",
                |r| r > 0.0 && r.is_finite(),
                "above 0",
            )?
            .unwrap_or(1.0) as f32;
        for name in ["frequency_penalty", "presence_penalty"] {
            let only_zero = "0 (other values are not supported; see `repetition_penalty`)";
            self.number(name, |x| x == 0.0, only_zero)?;
        }
        let seed = match self.take("seed") {
            None => random_seed(),
            Some(v) => match (v.as_i64(), v.as_u64()) {
                (Some(s), _) => s as u64,
                (None, Some(s)) => s,
                _ => return Err(bad_request("seed", format!("must be an integer, got {v}"))),
            },
        };
        let max_tokens = self.uint("max_tokens", MAX_TOKENS)?;
        let max_completion_tokens = self.uint("max_completion_tokens", MAX_TOKENS)?;
        let max_tokens = match (max_tokens, max_completion_tokens) {
            (Some(a), Some(b)) if a != b => {
                return Err(bad_request(
                    "max_tokens",
                    "and `max_completion_tokens` differ; give one",
                ))
            }
            (a, b) => b.or(a).unwrap_or(0),
        };
        let n = self.uint("n", SAMPLES)?.unwrap_or(1);
        let stream = self.bool("stream")?.unwrap_or(false);
        let include_usage = match self.take("stream_options") {
            None => false,
            Some(_) if !stream => {
                return Err(bad_request(
                    "stream_options",
                    "is only allowed with `stream: true`",
                ))
            }
            Some(Value::Object(mut options)) => {
                let include = match options.remove("include_usage") {
                    None | Some(Value::Null) => false,
                    Some(Value::Bool(b)) => b,
                    Some(_) => {
                        return Err(bad_request(
                            "stream_options.include_usage",
                            "must be true or false",
                        ))
                    }
                };
                if let Some(other) = options.keys().next() {
                    return Err(bad_request(
                        &format!("stream_options.{other}"),
                        "is not supported",
                    ));
                }
                include
            }
            Some(_) => return Err(bad_request("stream_options", "must be an object")),
        };
        let stop = match self.take("stop") {
            None => Vec::new(),
            Some(Value::String(s)) => vec![s],
            Some(Value::Array(items)) if items.len() <= MAX_STOP_SEQUENCES => items
                .into_iter()
                .map(|v| v.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| bad_request("stop", "must be a string or an array of strings"))?,
            Some(_) => {
                return Err(bad_request(
                    "stop",
                    format!("must be a string or an array of at most {MAX_STOP_SEQUENCES} strings"),
                ))
            }
        };
        if stop.iter().any(String::is_empty) {
            return Err(bad_request("stop", "must not hold an empty string"));
        }
        if let Some(Value::String(_)) | None = self.take("user") {
        } else {
            return Err(bad_request("user", "must be a string"));
        }
        Ok(Common {
            model,
            params: GenerationParams {
                sampling: SamplingParams {
                    temperature,
                    top_p,
                    top_k,
                    repetition_penalty,
                    seed,
                },
                max_tokens,
                stop,
                ignore_eos: false,
                logprobs,
            },
            n,
            stream,
            include_usage,
        })
    }

    /// Refuses the first field nobody read.
    fn finish(self) -> Result<(), Status> {
        match self.0.keys().next() {
            None => Ok(()),
            Some(name) => Err(bad_request(name, "is not supported by this server")),
        }
    }
}

fn message(item: Value, field: &str) -> Result<Message, Status> {
    let Value::Object(mut fields) = item else {
        return Err(bad_request(
            field,
            "must be an object with `role` and `content`",
        ));
    };
    let role = match fields.remove("role") {
        Some(Value::String(r)) => match r.as_str() {
            "system" | "developer" => Role::System,
            "user" => Role::User,
            "assistant" => Role::Assistant,
            other => {
                return Err(bad_request(
                    &format!("{field}.role"),
                    format!("`{other}` is not supported (system, developer, user, assistant)"),
                ))
            }
        },
        _ => return Err(bad_request(&format!("{field}.role"), "is required")),
    };
    let content = match fields.remove("content") {
        Some(Value::String(text)) => text,
        Some(Value::Array(parts)) => {
            let mut text = String::new();
            for (j, part) in parts.iter().enumerate() {
                let at = format!("{field}.content[{j}]");
                match (
                    part.get("type").and_then(Value::as_str),
                    part.get("text").and_then(Value::as_str),
                ) {
                    (Some("text"), Some(t)) => text.push_str(t),
                    (Some("text"), None) => {
                        return Err(bad_request(&format!("{at}.text"), "is required"))
                    }
                    (kind, _) => {
                        return Err(bad_request(
                            &format!("{at}.type"),
                            format!(
                                "{} is not supported (only text parts)",
                                kind.unwrap_or("a part without a type")
                            ),
                        ))
                    }
                }
            }
            text
        }
        _ => {
            return Err(bad_request(
                &format!("{field}.content"),
                "is required: a string or text parts",
            ))
        }
    };
    if let Some(Value::String(_)) | None = fields.remove("name") {
    } else {
        return Err(bad_request(&format!("{field}.name"), "must be a string"));
    }
    if let Some(other) = fields.keys().next() {
        return Err(bad_request(
            &format!("{field}.{other}"),
            "is not supported by this server",
        ));
    }
    Ok(Message { role, content })
}

/// A seed for a request that gave none: different every call, as OpenAI's sampling is.
fn random_seed() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::time::SystemTime::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn param(result: Result<ChatRequest, Status>) -> String {
        crate::service::http::error::field_of(&result.unwrap_err()).unwrap_or_default()
    }

    #[test]
    fn every_parameter_is_read_checked_or_refused_by_name() {
        let ok = chat(br#"{"model": "m", "messages": [{"role": "system", "content": "s"},
            {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}],
            "temperature": 0, "seed": -3, "n": 3, "stop": ["x"], "max_tokens": 5,
            "logprobs": true, "top_logprobs": 2, "stream": true,
            "stream_options": {"include_usage": true}, "user": "u", "presence_penalty": 0}"#)
        .unwrap();
        assert_eq!(ok.messages[1].content, "ab");
        assert_eq!(ok.common.params.sampling.seed, (-3i64) as u64);
        assert_eq!(ok.common.params.logprobs, Some(2));
        assert_eq!((ok.common.n, ok.common.params.max_tokens), (3, 5));
        assert!(ok.common.stream && ok.common.include_usage);
        let base = r#""model": "m", "messages": [{"role": "user", "content": "hi"}]"#;
        let with = |extra: &str| chat(format!("{{{base}, {extra}}}").as_bytes());
        assert_eq!(param(with(r#""temperature": 3"#)), "temperature");
        assert_eq!(param(with(r#""tools": []"#)), "tools");
        assert_eq!(param(with(r#""n": 0"#)), "n");
        assert_eq!(param(with(r#""top_logprobs": 2"#)), "top_logprobs");
        assert_eq!(
            param(with(r#""frequency_penalty": 0.5"#)),
            "frequency_penalty"
        );
        assert_eq!(
            param(with(r#""stream_options": {"include_usage": true}"#)),
            "stream_options"
        );
        assert_eq!(param(with(r#""stop": ["a","b","c","d","e"]"#)), "stop");
        assert_eq!(
            param(with(r#""max_tokens": 2, "max_completion_tokens": 3"#)),
            "max_tokens"
        );
        assert_eq!(
            param(chat(
                br#"{"model": "m", "messages": [{"role": "tool", "content": "x"}]}"#
            )),
            "messages[0].role"
        );
        assert_eq!(param(chat(br#"{"model": "m", "messages": [{"role": "user", "content": [{"type": "image_url"}]}]}"#)), "messages[0].content[0].type");
        assert_eq!(
            param(chat(br#"{"messages": [{"role": "user", "content": "x"}]}"#)),
            "model"
        );
        assert_eq!(param(chat(b"[1]")), "body");
        let c = completion(br#"{"model": "m", "prompt": ["once"], "logprobs": 2}"#).unwrap();
        assert_eq!(
            (c.prompt.as_str(), c.common.params.logprobs),
            ("once", Some(2))
        );
        let err = completion(br#"{"model": "m", "prompt": ["a", "b"]}"#).unwrap_err();
        assert_eq!(
            crate::service::http::error::field_of(&err).as_deref(),
            Some("prompt")
        );
    }
}
