//! A document given on the command line: a file of any format Sofer reads, or stdin.

use std::io::Read;
use std::path::Path;

use sofer::documents::{self, Document};
use sofer::limits::MAX_DOCUMENT_BYTES;

/// A document as a command read it.
#[derive(Debug)]
pub struct Input {
    /// Its path, or `stdin`, for messages.
    pub name: String,
    /// The file as it was.
    pub bytes: Vec<u8>,
    /// Its paragraphs.
    pub document: Document,
    /// The text the tasks get: a text file as written, any other format's paragraphs
    /// separated by blank lines.
    pub text: String,
}

/// Reads the document at `path`, or stdin for `-` or none. Its format comes from its
/// bytes; an extension that names another format is an error naming the file.
pub fn read_input(path: Option<&Path>) -> anyhow::Result<Input> {
    let (name, bytes, declared) = match path {
        Some(path) if path != Path::new("-") => {
            let name = path.display().to_string();
            let file =
                std::fs::File::open(path).map_err(|e| anyhow::anyhow!("reading {name}: {e}"))?;
            let bytes = read_capped(file).map_err(|e| anyhow::anyhow!("reading {name}: {e}"))?;
            let declared = documents::from_extension(&name);
            (name, bytes, declared)
        }
        _ => {
            let bytes =
                read_capped(std::io::stdin()).map_err(|e| anyhow::anyhow!("reading stdin: {e}"))?;
            ("stdin".to_string(), bytes, None)
        }
    };
    let (document, text) =
        documents::read_for_tasks(&bytes, declared).map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
    Ok(Input {
        name,
        bytes,
        document,
        text,
    })
}

/// The text of the document at `path` (or stdin), as the tasks get it.
pub fn read_document(path: Option<&Path>) -> anyhow::Result<String> {
    Ok(read_input(path)?.text)
}

fn read_capped(reader: impl Read) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    reader
        .take(MAX_DOCUMENT_BYTES as u64 + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() > MAX_DOCUMENT_BYTES {
        return Err(std::io::Error::other(format!(
            "larger than the limit of {} MiB",
            MAX_DOCUMENT_BYTES >> 20
        )));
    }
    Ok(bytes)
}

/// Reads a DOCX, ODT, PDF or HTML file for the index: its first heading as the title
/// (empty when it has none) and its paragraphs.
pub fn index_paragraphs(path: &Path, bytes: &[u8]) -> Result<(String, Vec<String>), String> {
    let declared = documents::from_extension(&path.to_string_lossy());
    let document = documents::read(bytes, declared).map_err(|e| e.to_string())?;
    let title = document
        .paragraphs
        .iter()
        .find(|p| matches!(p.kind, documents::ParagraphKind::Heading { .. }))
        .map(|p| p.text.clone())
        .unwrap_or_default();
    Ok((
        title,
        document.paragraphs.into_iter().map(|p| p.text).collect(),
    ))
}
