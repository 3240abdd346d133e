//! A request's document: `text`, or a file given as `content` (DOCX, ODT, PDF, HTML,
//! text) with an optional `media_type`, read into the text the tasks see; and the file
//! rebuilt with its translation.

use super::status::{bad_request, ApiResult};
use crate::documents::{self, DocumentError, Format};
use crate::limits::MAX_TEXT_BYTES;
use crate::tasks::Translation;

/// A file a request carried.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// Its format, from its bytes.
    pub format: Format,
    /// The file as sent.
    pub bytes: Vec<u8>,
}

/// What a request's document fields come to.
#[derive(Debug, Clone)]
pub struct Content {
    /// The text the task works on.
    pub text: String,
    /// The language the file declares (`he`, `en`), if any.
    pub language: Option<&'static str>,
    /// The file, when the request gave one.
    pub file: Option<SourceFile>,
}

/// Reads `text` or `content`: exactly one of them may be set. `prefix` names the fields
/// in errors (`documents[3].` for an ingested document).
pub fn read(text: String, content: Vec<u8>, media_type: &str, prefix: &str) -> ApiResult<Content> {
    let field = |name: &str| format!("{prefix}{name}");
    if content.is_empty() {
        if !media_type.is_empty() {
            return Err(bad_request(
                &field("media_type"),
                "is set but `content` is empty",
            ));
        }
        return Ok(Content {
            text,
            language: None,
            file: None,
        });
    }
    if !text.is_empty() {
        return Err(bad_request(
            &field("content"),
            "give `text` or `content`, not both",
        ));
    }
    let declared = match media_type {
        "" => None,
        m => Some(documents::from_media_type(m).ok_or_else(|| {
            bad_request(
                &field("media_type"),
                format!("`{m}` is not a format Sofer reads (DOCX, ODT, PDF, HTML, text)"),
            )
        })?),
    };
    let document = documents::read(&content, declared).map_err(|e| {
        let name = if matches!(e, DocumentError::FormatMismatch { .. }) {
            "media_type"
        } else {
            "content"
        };
        bad_request(&field(name), e.to_string())
    })?;
    let text = documents::task_text(&document, &content)
        .map_err(|e| bad_request(&field("content"), e.to_string()))?;
    if text.len() > MAX_TEXT_BYTES {
        return Err(bad_request(
            &field("content"),
            format!(
                "holds {} bytes of text; at most {} MiB can be processed",
                text.len(),
                MAX_TEXT_BYTES >> 20
            ),
        ));
    }
    Ok(Content {
        text,
        language: document.declared_language(),
        file: Some(SourceFile {
            format: document.format,
            bytes: content,
        }),
    })
}

/// `file` rebuilt with `translation`, when its format is written back (DOCX, HTML).
pub fn rebuild(
    file: &SourceFile,
    translation: &Translation,
) -> Result<Option<Vec<u8>>, DocumentError> {
    if !documents::writable(file.format) {
        return Ok(None);
    }
    let lang = translation.target_language.code();
    documents::write_translated(
        file.format,
        &file.bytes,
        &translation.paragraphs(),
        documents::direction_of_language(lang),
        lang,
    )
    .map(Some)
}
