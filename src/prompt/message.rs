//! Conversations: who says what.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::PromptError;

/// Who speaks a [`Message`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Standing instructions; Mistral v1 has no turn for them and prepends them to the
    /// first user turn.
    System,
    /// The person (or task) asking.
    User,
    /// The model's answer.
    Assistant,
}

impl Role {
    /// The name used in JSON and in chat templates: "system", "user" or "assistant".
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "system" => Ok(Role::System),
            "user" => Ok(Role::User),
            "assistant" => Ok(Role::Assistant),
            other => Err(other.to_string()),
        }
    }
}

/// One turn of a conversation. Its content is plain text: control-token strings in it are
/// neutralized when the conversation is encoded, never parsed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Who speaks.
    pub role: Role,
    /// What is said (documents included verbatim).
    pub content: String,
}

impl Message {
    /// A system message.
    pub fn system(content: impl Into<String>) -> Self {
        Self {
            role: Role::System,
            content: content.into(),
        }
    }

    /// A user message.
    pub fn user(content: impl Into<String>) -> Self {
        Self {
            role: Role::User,
            content: content.into(),
        }
    }

    /// An assistant message.
    pub fn assistant(content: impl Into<String>) -> Self {
        Self {
            role: Role::Assistant,
            content: content.into(),
        }
    }
}

#[derive(Deserialize)]
struct RawMessage {
    role: Option<String>,
    content: Option<String>,
}

/// Parses a conversation written as JSON, `[{"role": "user", "content": "…"}, …]`, naming
/// the message index and field of whatever is wrong. `source` names the input in errors.
pub fn parse_conversation(json: &str, source: &str) -> Result<Vec<Message>, PromptError> {
    let raw: Vec<RawMessage> =
        serde_json::from_str(json).map_err(|e| PromptError::BadConversation {
            source_name: source.to_string(),
            detail: e.to_string(),
        })?;
    if raw.is_empty() {
        return Err(PromptError::EmptyConversation);
    }
    raw.into_iter()
        .enumerate()
        .map(|(index, m)| {
            let missing = |field: &str| PromptError::BadConversation {
                source_name: source.to_string(),
                detail: format!("message {index}: field `{field}` missing"),
            };
            let role = m.role.ok_or_else(|| missing("role"))?;
            let role = role
                .parse()
                .map_err(|role| PromptError::UnknownRole { index, role })?;
            let content = m.content.ok_or_else(|| missing("content"))?;
            Ok(Message { role, content })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hebrew_conversation() {
        let chat = r#"[{"role":"system","content":"ענה בקצרה"},{"role":"user","content":"שלום"}]"#;
        let got = parse_conversation(chat, "chat.json").unwrap();
        assert_eq!(
            got,
            vec![Message::system("ענה בקצרה"), Message::user("שלום")]
        );
    }

    #[test]
    fn unknown_role_names_index_and_role() {
        let chat = r#"[{"role":"user","content":"a"},{"role":"tool","content":"b"}]"#;
        match parse_conversation(chat, "chat.json") {
            Err(PromptError::UnknownRole { index, role }) => {
                assert_eq!((index, role.as_str()), (1, "tool"));
            }
            other => panic!("expected UnknownRole, got {other:?}"),
        }
    }

    #[test]
    fn empty_and_malformed_conversations_are_errors() {
        assert!(matches!(
            parse_conversation("[]", "chat.json"),
            Err(PromptError::EmptyConversation)
        ));
        let err = parse_conversation(r#"[{"role":"user"}]"#, "chat.json").unwrap_err();
        assert!(
            err.to_string()
                .contains("message 0: field `content` missing"),
            "{err}"
        );
        let err = parse_conversation("{", "chat.json").unwrap_err();
        assert!(err.to_string().contains("chat.json"), "{err}");
    }
}
