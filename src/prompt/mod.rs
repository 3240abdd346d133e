//! Prompts: task templates (`prompts/*.toml`, see [`PromptSet`]), the chat format that
//! turns a conversation into the ids a model expects (see [`ChatFormat`]), and the
//! neutralizing of control markers found in user text (see [`neutralize()`]).
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use sofer::prompt::{ChatFormat, EncodeOptions, Language, PromptKind, PromptSet};
//! # let (tokenizer, metadata): (sofer::engine::tokenizer::Tokenizer, std::collections::HashMap<String, candle_core::quantized::gguf_file::Value>) = todo!();
//! let prompts = PromptSet::load(None)?;
//! let vars = serde_json::json!({"document": "ים המלח הוא אגם מלוח.", "output_language": "he"});
//! let messages = prompts.render(PromptKind::SummarizeMap, Language::He, &vars)?;
//! let format = ChatFormat::from_gguf_metadata(&metadata)?;
//! let rendered = format.encode(&tokenizer, &messages, EncodeOptions::default())?;
//! # let _ = rendered.ids;
//! # Ok(()) }
//! ```

mod chat;
mod chat_template;
mod message;
mod neutralize;
mod set;

use std::fmt;
use std::path::PathBuf;

pub use chat::{ids_text, ChatFormat, ContentSpan, EncodeOptions, RenderedPrompt};
pub use chat_template::ChatTemplate;
pub use message::{parse_conversation, Message, Role};
pub use neutralize::{neutralize, WORD_JOINER};
pub use set::{PromptKind, PromptSet};

/// The language a prompt's instructions are written in (the output language of a summary
/// or the target of a translation is a template variable, not this).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    /// Hebrew instructions.
    He,
    /// English instructions.
    En,
}

impl Language {
    /// Both, in the order templates are checked.
    pub const ALL: [Language; 2] = [Language::He, Language::En];

    /// "he" or "en", as in template table names and on the command line.
    pub fn code(self) -> &'static str {
        match self {
            Language::He => "he",
            Language::En => "en",
        }
    }

    /// From "he" or "en".
    pub fn parse(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|l| l.code() == code)
    }
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl TryFrom<crate::text::Language> for Language {
    type Error = PromptError;

    fn try_from(lang: crate::text::Language) -> Result<Self, Self::Error> {
        match lang {
            crate::text::Language::He => Ok(Language::He),
            crate::text::Language::En => Ok(Language::En),
            other => Err(PromptError::UnsupportedLanguage(other.code().to_string())),
        }
    }
}

/// What can go wrong loading templates or rendering a conversation.
#[derive(Debug, thiserror::Error)]
pub enum PromptError {
    /// A prompts folder or file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The folder or file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A template file is malformed: bad TOML, wrong task or version, unknown key, a
    /// template that does not parse.
    #[error("{file}: {field}: {detail}")]
    BadTemplateFile {
        /// The file (path, or "built-in prompts/<task>.toml").
        file: String,
        /// The key or table (`map.he.user`), empty for the whole file.
        field: String,
        /// What is wrong.
        detail: String,
    },
    /// A template uses a variable its task does not declare.
    #[error("{file}: {field}: unknown placeholder `{name}` (declared: {declared})")]
    UnknownPlaceholder {
        /// The file.
        file: String,
        /// The template (`map.he.user`).
        field: String,
        /// The variable used.
        name: String,
        /// The variables the task declares.
        declared: String,
    },
    /// A step × language table, or its `user` template, is missing.
    #[error("{file}: missing template `{field}` (every step needs he and en, each with a user template)")]
    MissingTemplate {
        /// The file.
        file: String,
        /// The table or key that should exist (`reduce.en`).
        field: String,
    },
    /// A task passed a variable its prompt does not declare.
    #[error("{prompt}: unknown variable `{name}` (declared: {declared})")]
    UnknownVariable {
        /// The prompt (`summarize.map`).
        prompt: String,
        /// The variable passed.
        name: String,
        /// The variables the prompt declares.
        declared: String,
    },
    /// Template variables that do not serialize to a map.
    #[error("prompt variables: {0}")]
    BadVariables(String),
    /// A template failed while rendering.
    #[error("template {template}: {detail}")]
    Render {
        /// The template (`summarize.map.he.user`).
        template: String,
        /// minijinja's message.
        detail: String,
    },
    /// Instructions exist only in Hebrew and English.
    #[error("no prompt instructions in language `{0}` (he, en)")]
    UnsupportedLanguage(String),
    /// A conversation (JSON) is malformed.
    #[error("{source_name}: bad conversation: {detail}")]
    BadConversation {
        /// The input's name (a file path).
        source_name: String,
        /// What is wrong, with the message index.
        detail: String,
    },
    /// A message's role is not system, user or assistant.
    #[error("message {index}: unknown role `{role}` (system, user, assistant)")]
    UnknownRole {
        /// The message index.
        index: usize,
        /// The role given.
        role: String,
    },
    /// A conversation without messages.
    #[error("the conversation has no messages")]
    EmptyConversation,
    /// An assistant turn with no text (mistral-common rejects it too).
    #[error("message {index}: assistant message has no content")]
    EmptyAssistant {
        /// The message index.
        index: usize,
    },
    /// `continue_final_message` asked for, but the last message is not the assistant's.
    #[error("cannot continue the final message: it is a {role} message, not an assistant one")]
    NothingToContinue {
        /// The last message's role.
        role: Role,
    },
    /// The tokenizer lacks BOS or EOS, which the chat format needs.
    #[error("the tokenizer has no {0} token, which the chat format needs")]
    MissingSpecial(&'static str),
    /// The model file has no chat template and is not a Mistral (SentencePiece llama) model.
    #[error("the model has no tokenizer.chat_template and is not a Mistral-format model")]
    NoChatFormat,
    /// The model's chat template does not parse or fails to render.
    #[error("chat template: {0}")]
    ChatTemplate(String),
    /// The chat template dropped or repeated a message's content.
    #[error("chat template: message {index} does not appear exactly once in the rendered prompt")]
    TemplateDropsMessage {
        /// The message index.
        index: usize,
    },
    /// The tokenizer failed.
    #[error(transparent)]
    Tokenizer(#[from] crate::engine::EngineError),
}
