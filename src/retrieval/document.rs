//! Documents and where they come from: JSONL files, and folders of text and Markdown.
//!
//! A JSONL line is an object with `id` (string or number; `doc_id` also accepted),
//! optional `title`, `language` (`he`, `en`, `mixed`, `unknown`) and `source`, and the
//! text as `text` (split into paragraphs at blank lines) or `paragraphs` (a list).
//! Two optional fields make a document an example for tasks: `translation` (the text in
//! the other language: a translation-memory entry) and `labels` (a string or a list: a
//! labelled example for classification).
//! A `.txt` or `.md` file is one document whose id is its path relative to the folder
//! given (its file name when a file is given), split into paragraphs at blank lines.
//! Other document files (DOCX, PDF, HTML: [`FILE_EXTENSIONS`]) are read by a
//! [`FileReader`] the caller gives, which knows their formats.

use std::io::BufRead;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::ReadError;
use crate::text::{paragraphs, Language};

/// A document to index.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Document {
    /// The caller's id; re-ingesting the same id in a collection replaces the document.
    pub id: String,
    /// A title to show with hits.
    pub title: String,
    /// The text, one string per paragraph; hits point into these.
    pub paragraphs: Vec<String>,
    /// The language, when known; otherwise each passage's language is detected.
    pub language: Option<Language>,
    /// Where the document came from (a path, a URL), for citations.
    pub source: String,
    /// The text's translation, when the document is a translation-memory entry.
    pub translation: Option<String>,
    /// The text's labels, when the document is a labelled example.
    pub labels: Vec<String>,
}

impl Document {
    /// A document from running text, split into paragraphs at blank lines.
    pub fn from_text(id: impl Into<String>, title: impl Into<String>, text: &str) -> Self {
        Self {
            id: id.into(),
            title: title.into(),
            paragraphs: paragraphs(text)
                .into_iter()
                .map(|r| text[r].to_string())
                .collect(),
            ..Self::default()
        }
    }
}

/// Extensions read as one text document each.
const TEXT_EXTENSIONS: &[&str] = &["txt", "md", "markdown"];
/// Extensions read as JSONL, one document a line.
const JSONL_EXTENSIONS: &[&str] = &["jsonl", "ndjson"];

/// Extensions of document files read by a [`FileReader`].
pub const FILE_EXTENSIONS: &[&str] = &["docx", "odt", "pdf", "html", "htm", "xhtml"];

/// Reads a document file's bytes into its title (empty: the file's stem) and paragraphs.
pub type FileReader = fn(&Path, &[u8]) -> Result<(String, Vec<String>), String>;

/// Reads the documents at `path`: a JSONL file, a text or Markdown file, or a folder of
/// them (recursively, in path order). Each failure names its file (and line) and the
/// documents after it still come.
pub fn read_documents(path: &Path) -> impl Iterator<Item = Result<Document, ReadError>> {
    read_documents_with(path, None)
}

/// [`read_documents`], with the files of [`FILE_EXTENSIONS`] read by `files` too.
pub fn read_documents_with(
    path: &Path,
    reader: Option<FileReader>,
) -> impl Iterator<Item = Result<Document, ReadError>> {
    let (files, walk_errors) = if path.is_dir() {
        let mut files = Vec::new();
        let mut errors = Vec::new();
        walk(path, reader.is_some(), &mut files, &mut errors);
        files.sort();
        (
            files
                .into_iter()
                .map(|f| (f.clone(), relative_id(path, &f)))
                .collect(),
            errors,
        )
    } else {
        let id = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        (vec![(path.to_path_buf(), id)], Vec::new())
    };
    walk_errors.into_iter().map(Err).chain(
        files
            .into_iter()
            .flat_map(move |(file, id)| read_file(file, id, reader)),
    )
}

/// The id of `file` found in folder `root`: its path relative to `root`, `/`-separated
/// (the same for `sofer index add` and `sofer batch`).
pub fn relative_id(root: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(root).unwrap_or(file);
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

fn extension(path: &Path) -> String {
    path.extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default()
}

fn walk(dir: &Path, with_files: bool, files: &mut Vec<PathBuf>, errors: &mut Vec<ReadError>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(source) => {
            return errors.push(ReadError::Io {
                path: dir.to_path_buf(),
                source,
            })
        }
    };
    for entry in entries {
        let path = match entry {
            Ok(entry) => entry.path(),
            Err(source) => {
                errors.push(ReadError::Io {
                    path: dir.to_path_buf(),
                    source,
                });
                continue;
            }
        };
        if path.is_dir() {
            walk(&path, with_files, files, errors);
        } else {
            let ext = extension(&path);
            let ext = ext.as_str();
            if TEXT_EXTENSIONS.contains(&ext)
                || JSONL_EXTENSIONS.contains(&ext)
                || (with_files && FILE_EXTENSIONS.contains(&ext))
            {
                files.push(path);
            }
        }
    }
}

fn read_file(
    path: PathBuf,
    id: String,
    reader: Option<FileReader>,
) -> Box<dyn Iterator<Item = Result<Document, ReadError>>> {
    let ext = extension(&path);
    if let Some(reader) = reader.filter(|_| FILE_EXTENSIONS.contains(&ext.as_str())) {
        return Box::new(std::iter::once(read_with(&path, id, reader)));
    }
    if JSONL_EXTENSIONS.contains(&ext.as_str()) {
        return match std::fs::File::open(&path) {
            Ok(file) => Box::new(JsonlReader {
                path,
                lines: std::io::BufReader::new(file),
                line: 0,
            }),
            Err(source) => Box::new(std::iter::once(Err(ReadError::Io { path, source }))),
        };
    }
    Box::new(std::iter::once(read_text_file(&path, id)))
}

fn read_with(path: &Path, id: String, reader: FileReader) -> Result<Document, ReadError> {
    let bytes = std::fs::read(path).map_err(|source| ReadError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let (title, paragraphs) = reader(path, &bytes).map_err(|message| ReadError::Unreadable {
        path: path.to_path_buf(),
        message,
    })?;
    let title = if title.is_empty() {
        path.file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default()
    } else {
        title
    };
    Ok(Document {
        id,
        title,
        paragraphs,
        source: path.display().to_string(),
        ..Document::default()
    })
}

/// Checks that `bytes` of `path` are text and returns them as a string.
fn as_text(path: &Path, bytes: &[u8]) -> Result<String, ReadError> {
    if let Some(offset) = bytes.iter().position(|&b| b == 0) {
        return Err(ReadError::Binary {
            path: path.to_path_buf(),
            offset,
        });
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => Ok(text.strip_prefix('\u{FEFF}').unwrap_or(text).to_string()),
        Err(err) => Err(ReadError::InvalidUtf8 {
            path: path.to_path_buf(),
            offset: err.valid_up_to(),
        }),
    }
}

fn read_text_file(path: &Path, id: String) -> Result<Document, ReadError> {
    let bytes = std::fs::read(path).map_err(|source| ReadError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let text = as_text(path, &bytes)?;
    let markdown_title = (extension(path) != "txt")
        .then(|| {
            text.lines().find_map(|l| {
                l.strip_prefix('#')
                    .map(|t| t.trim_start_matches('#').trim())
            })
        })
        .flatten();
    let title = match markdown_title {
        Some(title) => title.to_string(),
        None => path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default(),
    };
    let mut doc = Document::from_text(id, title, &text);
    doc.source = path.display().to_string();
    Ok(doc)
}

/// One JSONL line as written by users.
#[derive(Deserialize)]
struct JsonDocument {
    #[serde(alias = "doc_id")]
    id: Option<serde_json::Value>,
    #[serde(default)]
    title: Option<String>,
    text: Option<String>,
    paragraphs: Option<Vec<String>>,
    language: Option<String>,
    source: Option<String>,
    translation: Option<String>,
    #[serde(default)]
    labels: Option<Labels>,
}

/// `labels` as users write it: one label or a list.
#[derive(Deserialize)]
#[serde(untagged)]
enum Labels {
    One(String),
    Many(Vec<String>),
}

impl Labels {
    fn into_vec(self) -> Vec<String> {
        let all = match self {
            Self::One(label) => vec![label],
            Self::Many(labels) => labels,
        };
        all.into_iter()
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty())
            .collect()
    }
}

struct JsonlReader {
    path: PathBuf,
    lines: std::io::BufReader<std::fs::File>,
    line: usize,
}

impl JsonlReader {
    fn bad(&self, reason: impl Into<String>) -> ReadError {
        ReadError::BadLine {
            path: self.path.clone(),
            line: self.line,
            reason: reason.into(),
        }
    }

    fn parse(&self, bytes: &[u8]) -> Result<Document, ReadError> {
        let line = std::str::from_utf8(bytes)
            .map_err(|e| self.bad(format!("not valid UTF-8 (byte {})", e.valid_up_to())))?;
        let raw: JsonDocument = serde_json::from_str(line).map_err(|e| self.bad(e.to_string()))?;
        let id = match raw.id {
            Some(serde_json::Value::String(id)) if !id.is_empty() => id,
            Some(serde_json::Value::Number(n)) => n.to_string(),
            Some(_) => return Err(self.bad("`id` must be a non-empty string or a number")),
            None => return Err(self.bad("missing `id`")),
        };
        let language = match raw.language {
            Some(code) => Some(
                code.parse::<Language>()
                    .map_err(|e| self.bad(e.to_string()))?,
            ),
            None => None,
        };
        let mut doc = match (raw.paragraphs, raw.text) {
            (Some(paragraphs), _) => Document {
                id,
                paragraphs: paragraphs
                    .into_iter()
                    .filter(|p| !p.trim().is_empty())
                    .collect(),
                ..Document::default()
            },
            (None, Some(text)) => Document::from_text(id, "", &text),
            (None, None) => return Err(self.bad("needs `text` or `paragraphs`")),
        };
        doc.title = raw.title.unwrap_or_default();
        doc.language = language;
        doc.translation = raw.translation.filter(|t| !t.trim().is_empty());
        doc.labels = raw.labels.map(Labels::into_vec).unwrap_or_default();
        doc.source = raw
            .source
            .unwrap_or_else(|| format!("{}:{}", self.path.display(), self.line));
        Ok(doc)
    }
}

impl Iterator for JsonlReader {
    type Item = Result<Document, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut bytes = Vec::new();
        loop {
            bytes.clear();
            self.line += 1;
            match self.lines.read_until(b'\n', &mut bytes) {
                Ok(0) => return None,
                Ok(_) => {}
                Err(source) => {
                    return Some(Err(ReadError::Io {
                        path: self.path.clone(),
                        source,
                    }))
                }
            }
            if bytes.iter().all(|b| b.is_ascii_whitespace()) {
                continue;
            }
            return Some(self.parse(&bytes));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("{e}"));
        }
        std::fs::write(&path, bytes).unwrap_or_else(|e| panic!("{e}"));
        path
    }

    #[test]
    fn jsonl_reads_text_and_paragraphs_and_names_bad_lines() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let body = "{\"id\": \"a\", \"title\": \"ת\", \"text\": \"שלום\\n\\nעולם\"}\n\n{\"id\": 7, \"paragraphs\": [\"א\", \" \"], \"language\": \"he\", \"labels\": \"חיובי\", \"translation\": \"A\"}\n{\"id\": \"x\"\n{\"title\": \"no id\", \"text\": \"t\"}\n";
        let path = write(dir.path(), "docs.jsonl", body.as_bytes());
        let got: Vec<_> = read_documents(&path).collect();
        assert_eq!(got.len(), 4);
        let first = got[0].as_ref().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((first.id.as_str(), first.paragraphs.len()), ("a", 2));
        let second = got[1].as_ref().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (
                second.id.as_str(),
                second.paragraphs.clone(),
                second.language
            ),
            ("7", vec!["א".to_string()], Some(Language::He))
        );
        assert_eq!(second.labels, vec!["חיובי".to_string()]);
        assert_eq!(second.translation.as_deref(), Some("A"));
        assert!(first.labels.is_empty() && first.translation.is_none());
        let third = got[2]
            .as_ref()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(third.contains("docs.jsonl:4"), "{third}");
        let fourth = got[3]
            .as_ref()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(fourth.contains(":5: missing `id`"), "{fourth}");
    }

    #[test]
    fn folder_ids_are_relative_paths_and_bad_files_are_named() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        write(
            dir.path(),
            "sub/a.md",
            "# כותרת\n\nפסקה ראשונה\n\nפסקה שנייה".as_bytes(),
        );
        write(dir.path(), "b.txt", b"\xff\xfe bad");
        write(dir.path(), "c.txt", b"bin\0ary");
        write(dir.path(), "skip.bin", b"x");
        let got: Vec<_> = read_documents(dir.path()).collect();
        assert_eq!(got.len(), 3);
        assert!(got[0]
            .as_ref()
            .err()
            .is_some_and(|e| e.to_string().contains("b.txt: not valid UTF-8")));
        assert!(got[1]
            .as_ref()
            .err()
            .is_some_and(|e| e.to_string().contains("c.txt: binary file")));
        let md = got[2].as_ref().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(md.id, "sub/a.md");
        assert_eq!(md.title, "כותרת");
        assert_eq!(md.paragraphs.len(), 3);
    }
}
