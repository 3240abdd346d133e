//! Conversations → the token ids the engine sees.
//!
//! [`ChatFormat::MistralV1`] reproduces mistral-common's `encode_chat_completion` for v1
//! tokenizers: `<s>` once (an id), every user turn encoded as the text `[INST] {content}
//! [/INST]`, every assistant turn as its text followed by the `</s>` id; system messages
//! joined by a blank line and prepended (with a blank line) to the FIRST user turn;
//! neighbouring messages of one role joined by a blank line; an empty user turn inserted
//! when the conversation does not start with one. [`ChatFormat::Template`] renders the
//! GGUF's own `tokenizer.chat_template` (ChatML and others).
//!
//! Either way, control tokens come only from the format's own markup: message content is
//! [neutralized](super::neutralize) and encoded as plain text.

use std::collections::HashMap;
use std::ops::Range;

use candle_core::quantized::gguf_file::Value;
use serde::Serialize;

use super::chat_template::ChatTemplate;
use super::neutralize::neutralize;
use super::{Message, PromptError, Role};
use crate::engine::tokenizer::Tokenizer;

/// How a model wants its conversations laid out.
#[derive(Debug)]
pub enum ChatFormat {
    /// `<s>[INST] … [/INST] answer</s>` as mistral-common's v1 instruct tokenizer.
    MistralV1,
    /// The model's own Jinja chat template (e.g. SmolLM2's ChatML).
    Template(Box<ChatTemplate>),
}

/// Options for [`ChatFormat::encode`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EncodeOptions {
    /// The last message is an assistant turn for the model to continue: no EOS (Mistral,
    /// mistral-common's `prefix=True`) or no end-of-turn markup (templates) after it.
    /// Otherwise a final assistant turn is closed, and a final user turn is followed by
    /// whatever asks the model to answer.
    pub continue_final_message: bool,
}

impl EncodeOptions {
    /// How a task prompt is encoded: one that ends in an assistant message (the template's
    /// `answer`, such as `Label:`) has the model continue that message.
    pub fn for_task(messages: &[Message]) -> Self {
        Self {
            continue_final_message: messages.last().is_some_and(|m| m.role == Role::Assistant),
        }
    }
}

/// The ids of a rendered conversation and where each message's content landed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RenderedPrompt {
    /// What the engine is given (BOS included where the format wants it).
    pub ids: Vec<u32>,
    /// The ids as text, control tokens written as their piece (`<s>`, `<|im_start|>`), so
    /// a person can read what the model sees.
    pub text: String,
    /// One span per message with non-empty content, in message order.
    pub spans: Vec<ContentSpan>,
}

/// The ids that encode one message's content (tokens at the edges may be shared with the
/// surrounding markup, e.g. a SentencePiece `▁` that merged with the first word).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContentSpan {
    /// Index of the message in the conversation given to [`ChatFormat::encode`].
    pub message: usize,
    /// Its role.
    pub role: Role,
    /// Range into [`RenderedPrompt::ids`].
    pub tokens: Range<usize>,
}

/// A piece of a rendered conversation before tokenization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Part {
    /// A control token, as an id.
    Control(u32),
    /// Text encoded with one plain `Tokenizer::encode` call (its own SentencePiece dummy
    /// prefix), never parsed for control tokens.
    Text {
        /// The text.
        text: String,
        /// (message index, byte range in `text`) of the message contents inside it.
        contents: Vec<(usize, Range<usize>)>,
    },
}

impl ChatFormat {
    /// Picks the format from GGUF metadata: a `llama` (SentencePiece) vocabulary whose
    /// chat template is absent or uses `[INST]` → [`ChatFormat::MistralV1`]; otherwise the
    /// file's `tokenizer.chat_template`, which must then exist.
    pub fn from_gguf_metadata(md: &HashMap<String, Value>) -> Result<Self, PromptError> {
        let text = |key: &str| match md.get(key) {
            Some(Value::String(s)) => Some(s.as_str()),
            _ => None,
        };
        let template = text("tokenizer.chat_template");
        let spm = text("tokenizer.ggml.model") == Some("llama");
        let llama_arch = text("general.architecture") == Some("llama");
        match template {
            None if spm && llama_arch => Ok(ChatFormat::MistralV1),
            Some(t) if spm && llama_arch && t.contains("[INST]") => Ok(ChatFormat::MistralV1),
            Some(t) => Ok(ChatFormat::Template(Box::new(ChatTemplate::new(t)?))),
            None => Err(PromptError::NoChatFormat),
        }
    }

    /// A short name for logs and `--json` output.
    pub fn name(&self) -> &'static str {
        match self {
            ChatFormat::MistralV1 => "mistral-v1",
            ChatFormat::Template(_) => "chat-template",
        }
    }

    /// Renders `messages` to ids. Errors: an empty conversation, an empty assistant turn
    /// (Mistral), `continue_final_message` without a final assistant turn, a template that
    /// fails or drops a message.
    pub fn encode(
        &self,
        tokenizer: &Tokenizer,
        messages: &[Message],
        options: EncodeOptions,
    ) -> Result<RenderedPrompt, PromptError> {
        let last = messages.last().ok_or(PromptError::EmptyConversation)?;
        if options.continue_final_message && last.role != Role::Assistant {
            return Err(PromptError::NothingToContinue { role: last.role });
        }
        let controls = control_pieces(tokenizer);
        let safe: Vec<Message> = messages
            .iter()
            .map(|m| Message {
                role: m.role,
                content: neutralize(&m.content, &controls),
            })
            .collect();
        let parts = match self {
            ChatFormat::MistralV1 => mistral_v1_parts(tokenizer, &safe, options)?,
            ChatFormat::Template(t) => t.parts(tokenizer, &safe, options)?,
        };
        encode_parts(tokenizer, &parts, messages)
    }
}

/// The strings of the vocabulary's control tokens with their ids, longest first.
pub(super) fn control_tokens(tokenizer: &Tokenizer) -> Vec<(String, u32)> {
    let mut out: Vec<(String, u32)> = (0..tokenizer.vocab_size())
        .filter_map(|i| u32::try_from(i).ok())
        .filter(|&id| tokenizer.is_control(id))
        .filter_map(|id| Some((tokenizer.id_to_piece(id)?.to_string(), id)))
        .filter(|(piece, _)| !piece.is_empty())
        .collect();
    out.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.1.cmp(&b.1)));
    out
}

fn control_pieces(tokenizer: &Tokenizer) -> Vec<String> {
    control_tokens(tokenizer)
        .into_iter()
        .map(|(p, _)| p)
        .collect()
}

fn mistral_v1_parts(
    tokenizer: &Tokenizer,
    messages: &[Message],
    options: EncodeOptions,
) -> Result<Vec<Part>, PromptError> {
    let bos = tokenizer
        .bos_id()
        .ok_or(PromptError::MissingSpecial("BOS"))?;
    let eos = tokenizer
        .eos_id()
        .ok_or(PromptError::MissingSpecial("EOS"))?;
    // mistral-common: non-empty system messages joined by a blank line, wherever they are.
    let system: Vec<usize> = (0..messages.len())
        .filter(|&i| messages[i].role == Role::System && !messages[i].content.is_empty())
        .collect();
    // Runs of one role (a system message ends a run); system runs are dropped.
    let mut runs: Vec<(Role, Vec<usize>)> = Vec::new();
    for (i, m) in messages.iter().enumerate() {
        match runs.last_mut() {
            Some((role, members)) if *role == m.role => members.push(i),
            _ => runs.push((m.role, vec![i])),
        }
    }
    runs.retain(|(role, _)| *role != Role::System);
    if runs.first().is_none_or(|(role, _)| *role != Role::User) {
        runs.insert(0, (Role::User, Vec::new()));
    }
    let n_runs = runs.len();
    let mut parts = vec![Part::Control(bos)];
    for (k, (role, members)) in runs.into_iter().enumerate() {
        let mut text = String::new();
        let mut contents = Vec::new();
        let mut push = |text: &mut String, i: usize, sep: &str| {
            text.push_str(sep);
            let start = text.len();
            text.push_str(&messages[i].content);
            contents.push((i, start..text.len()));
        };
        match role {
            Role::User => {
                text.push_str("[INST] ");
                if k == 0 && !system.is_empty() {
                    for (j, &i) in system.iter().enumerate() {
                        push(&mut text, i, if j == 0 { "" } else { "\n\n" });
                    }
                    text.push_str("\n\n");
                }
                for (j, &i) in members.iter().enumerate() {
                    push(&mut text, i, if j == 0 { "" } else { "\n\n" });
                }
                text.push_str(" [/INST]");
                parts.push(Part::Text { text, contents });
            }
            Role::Assistant | Role::System => {
                for (j, &i) in members.iter().enumerate() {
                    push(&mut text, i, if j == 0 { "" } else { "\n\n" });
                }
                if text.is_empty() {
                    return Err(PromptError::EmptyAssistant {
                        index: members.first().copied().unwrap_or(0),
                    });
                }
                parts.push(Part::Text { text, contents });
                if !(options.continue_final_message && k + 1 == n_runs) {
                    parts.push(Part::Control(eos));
                }
            }
        }
    }
    Ok(parts)
}

/// Tokenizes parts and maps each message's content bytes to token ranges.
fn encode_parts(
    tokenizer: &Tokenizer,
    parts: &[Part],
    messages: &[Message],
) -> Result<RenderedPrompt, PromptError> {
    let mut ids = Vec::new();
    let mut spans: Vec<ContentSpan> = Vec::new();
    for part in parts {
        match part {
            Part::Control(id) => ids.push(*id),
            Part::Text { text, contents } => {
                let base = ids.len();
                let part_ids = tokenizer.encode(text, false)?;
                let ends = byte_ends(tokenizer, &part_ids, text.len());
                for (message, range) in contents {
                    if range.is_empty() {
                        continue;
                    }
                    let first = ends
                        .iter()
                        .position(|&e| e > range.start)
                        .unwrap_or(ends.len());
                    let last = ends
                        .iter()
                        .position(|&e| e >= range.end)
                        .map_or(ends.len(), |p| p + 1);
                    spans.push(ContentSpan {
                        message: *message,
                        role: messages.get(*message).map_or(Role::User, |m| m.role),
                        tokens: base + first..base + last.max(first),
                    });
                }
                ids.extend(part_ids);
            }
        }
    }
    spans.sort_by_key(|s| (s.message, s.tokens.start));
    let text = ids_text(tokenizer, &ids);
    Ok(RenderedPrompt { ids, text, spans })
}

/// End offset of each token in a text of `text_len` bytes (a SentencePiece dummy prefix is
/// counted before offset 0).
fn byte_ends(tokenizer: &Tokenizer, ids: &[u32], text_len: usize) -> Vec<usize> {
    let total: usize = ids.iter().map(|&id| tokenizer.token_bytes(id).len()).sum();
    let prefix = total.saturating_sub(text_len);
    let mut end = 0usize;
    ids.iter()
        .map(|&id| {
            end += tokenizer.token_bytes(id).len();
            end.saturating_sub(prefix)
        })
        .collect()
}

/// The ids as readable text: control tokens as their pieces, the rest as their bytes.
pub fn ids_text(tokenizer: &Tokenizer, ids: &[u32]) -> String {
    let mut bytes = Vec::new();
    for &id in ids {
        if tokenizer.is_control(id) {
            bytes.extend_from_slice(tokenizer.id_to_piece(id).unwrap_or("").as_bytes());
        } else {
            bytes.extend_from_slice(tokenizer.token_bytes(id));
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}
