//! A model's own Jinja chat template (`tokenizer.chat_template`), rendered with minijinja
//! configured like Hugging Face's `apply_chat_template` (`trim_blocks`, `lstrip_blocks`,
//! `raise_exception`, Python's `json.dumps` for `tojson`, common `str`/`dict` methods).
//!
//! Message content never passes through the template: each message is rendered as a
//! private-use sentinel, control tokens are parsed in the rendered markup only, and the
//! (neutralized) content is spliced into the text between them. The ids equal llama.cpp's
//! `tokenize(rendered, special = true)` for content without control strings, and no
//! content can produce a control token.

use std::fmt::Write as _;

use minijinja::value::{Kwargs, Serde};
use minijinja::{Environment, Error, ErrorKind, State, Value};

use super::chat::{control_tokens, EncodeOptions, Part};
use super::{Message, PromptError, Role};
use crate::engine::tokenizer::Tokenizer;

const OPEN: char = '\u{E000}';
const CLOSE: char = '\u{E001}';

/// A parsed chat template.
#[derive(Debug)]
pub struct ChatTemplate {
    env: Environment<'static>,
}

impl ChatTemplate {
    /// Parses `source` (a syntax error is reported here, not at the first request).
    pub fn new(source: &str) -> Result<Self, PromptError> {
        let mut env = hf_environment()?;
        env.add_template_owned("chat", source.to_string())
            .map_err(|e| PromptError::ChatTemplate(e.to_string()))?;
        Ok(Self { env })
    }

    /// Renders `messages` (already neutralized) into parts.
    pub(super) fn parts(
        &self,
        tokenizer: &Tokenizer,
        messages: &[Message],
        options: EncodeOptions,
    ) -> Result<Vec<Part>, PromptError> {
        let rendered = self.render_sentinels(tokenizer, messages, options)?;
        let mut text = rendered.as_str();
        if options.continue_final_message {
            let last = sentinel(messages.len() - 1);
            let end = text.rfind(&last).map(|p| p + last.len()).ok_or(
                PromptError::TemplateDropsMessage {
                    index: messages.len() - 1,
                },
            )?;
            text = &text[..end];
        }
        let controls = control_tokens(tokenizer);
        let mut parts = Vec::new();
        if tokenizer.add_bos_default() {
            let bos = tokenizer
                .bos_id()
                .ok_or(PromptError::MissingSpecial("BOS"))?;
            parts.push(Part::Control(bos));
        }
        let mut buf = String::new();
        let mut contents = Vec::new();
        let mut seen = vec![0usize; messages.len()];
        let mut rest = text;
        while let Some(c) = rest.chars().next() {
            if let Some((index, len)) = parse_sentinel(rest).filter(|(i, _)| *i < messages.len()) {
                let start = buf.len();
                buf.push_str(&messages[index].content);
                contents.push((index, start..buf.len()));
                seen[index] += 1;
                rest = &rest[len..];
            } else if let Some((piece, id)) =
                controls.iter().find(|(p, _)| rest.starts_with(p.as_str()))
            {
                if !buf.is_empty() {
                    parts.push(Part::Text {
                        text: std::mem::take(&mut buf),
                        contents: std::mem::take(&mut contents),
                    });
                }
                parts.push(Part::Control(*id));
                rest = &rest[piece.len()..];
            } else {
                buf.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
        if !buf.is_empty() {
            parts.push(Part::Text {
                text: buf,
                contents,
            });
        }
        if let Some(index) = seen.iter().position(|&n| n != 1) {
            return Err(PromptError::TemplateDropsMessage { index });
        }
        Ok(parts)
    }

    fn render_sentinels(
        &self,
        tokenizer: &Tokenizer,
        messages: &[Message],
        options: EncodeOptions,
    ) -> Result<String, PromptError> {
        let shown: Vec<Value> = messages
            .iter()
            .enumerate()
            .map(|(i, m)| {
                Value::from(Serde(serde_json::json!({
                    "role": m.role.as_str(),
                    "content": sentinel(i),
                })))
            })
            .collect();
        let ends_with_user = messages.last().is_some_and(|m| m.role == Role::User);
        let eos = tokenizer
            .eos_id()
            .and_then(|id| tokenizer.id_to_piece(id))
            .unwrap_or("");
        let ctx = minijinja::context! {
            messages => shown,
            add_generation_prompt => ends_with_user && !options.continue_final_message,
            bos_token => "",
            eos_token => eos,
        };
        self.env
            .get_template("chat")
            .and_then(|t| t.render(ctx))
            .map_err(|e| PromptError::ChatTemplate(e.to_string()))
    }
}

fn sentinel(i: usize) -> String {
    format!("{OPEN}{i}{CLOSE}")
}

/// `(index, byte length)` of a sentinel at the start of `s`.
fn parse_sentinel(s: &str) -> Option<(usize, usize)> {
    let body = s.strip_prefix(OPEN)?;
    let end = body.find(CLOSE)?;
    let index = body[..end].parse().ok()?;
    Some((index, OPEN.len_utf8() + end + CLOSE.len_utf8()))
}

/// A minijinja environment that renders Hugging Face chat templates as transformers does.
pub(super) fn hf_environment() -> Result<Environment<'static>, PromptError> {
    let mut env = Environment::new();
    let syntax = minijinja::syntax::SyntaxConfig::builder()
        .trim_blocks(true)
        .lstrip_blocks(true)
        .build()
        .map_err(|e| PromptError::ChatTemplate(e.to_string()))?;
    env.set_syntax(syntax);
    env.add_function("raise_exception", |msg: String| -> Result<Value, Error> {
        Err(Error::new(ErrorKind::InvalidOperation, msg))
    });
    env.add_filter("tojson", tojson);
    env.set_unknown_method_callback(python_methods);
    Ok(env)
}

/// Python's `json.dumps(value, ensure_ascii=False, indent=indent)`, as transformers'
/// `tojson`: `", "`/`": "` separators without indent, non-ASCII kept.
fn tojson(value: Value, kwargs: Kwargs) -> Result<Value, Error> {
    let indent: Option<usize> = kwargs.get("indent")?;
    kwargs.assert_all_used()?;
    let json = serde_json::to_value(&value)
        .map_err(|e| Error::new(ErrorKind::BadSerialization, e.to_string()))?;
    let mut out = String::new();
    write_py_json(&json, indent, 0, &mut out);
    Ok(Value::from_safe_string(out))
}

fn write_py_json(v: &serde_json::Value, indent: Option<usize>, depth: usize, out: &mut String) {
    use serde_json::Value as J;
    let newline = |out: &mut String, depth: usize| {
        if let Some(n) = indent {
            out.push('\n');
            out.push_str(&" ".repeat(n * depth));
        }
    };
    let item_sep = if indent.is_some() { "," } else { ", " };
    match v {
        J::Array(items) if !items.is_empty() => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(item_sep);
                }
                newline(out, depth + 1);
                write_py_json(item, indent, depth + 1, out);
            }
            newline(out, depth);
            out.push(']');
        }
        J::Object(map) if !map.is_empty() => {
            out.push('{');
            for (i, (k, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(item_sep);
                }
                newline(out, depth + 1);
                let _ = write!(out, "{}: ", J::String(k.clone()));
                write_py_json(item, indent, depth + 1, out);
            }
            newline(out, depth);
            out.push('}');
        }
        other => {
            let _ = write!(out, "{other}");
        }
    }
}

/// The `str` and `dict` methods chat templates call that minijinja lacks.
fn python_methods(
    _: &mut State,
    value: &Value,
    method: &str,
    args: &[Value],
) -> Result<Value, Error> {
    let arg = |i: usize| args.get(i).and_then(|a| a.as_str().map(str::to_string));
    if let Some(s) = value.as_str() {
        let chars = arg(0);
        let trim_set = |c: char| {
            chars
                .as_deref()
                .map_or(c.is_whitespace(), |set| set.contains(c))
        };
        return Ok(match method {
            "strip" => Value::from(s.trim_matches(trim_set)),
            "lstrip" => Value::from(s.trim_start_matches(trim_set)),
            "rstrip" => Value::from(s.trim_end_matches(trim_set)),
            "startswith" => Value::from(arg(0).is_some_and(|p| s.starts_with(p.as_str()))),
            "endswith" => Value::from(arg(0).is_some_and(|p| s.ends_with(p.as_str()))),
            "lower" => Value::from(s.to_lowercase()),
            "upper" => Value::from(s.to_uppercase()),
            "split" => match arg(0) {
                Some(sep) => {
                    Value::from(s.split(sep.as_str()).map(Value::from).collect::<Vec<_>>())
                }
                None => Value::from(s.split_whitespace().map(Value::from).collect::<Vec<_>>()),
            },
            "replace" => match (arg(0), arg(1)) {
                (Some(from), Some(to)) => Value::from(s.replace(from.as_str(), &to)),
                _ => return Err(Error::from(ErrorKind::MissingArgument)),
            },
            _ => return Err(Error::from(ErrorKind::UnknownMethod)),
        });
    }
    if value.as_object().is_some() && method == "get" {
        let default = args.get(1).cloned().unwrap_or(Value::from(()));
        let key = args
            .first()
            .ok_or_else(|| Error::from(ErrorKind::MissingArgument))?;
        return Ok(value
            .get_item(key)
            .ok()
            .filter(|v| !v.is_undefined())
            .unwrap_or(default));
    }
    Err(Error::from(ErrorKind::UnknownMethod))
}
