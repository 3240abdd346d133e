//! A job's input: a JSONL file (`{"id", "text" or "path", "options"?}` a line; a `path`
//! is a document file, relative to the JSONL file's folder) or a folder of documents
//! (`.txt`, `.md`, `.docx`, `.odt`, `.pdf`, `.html`; id = the path relative to the
//! folder). Scanning reads every id
//! once, before any work: bad lines are collected with their numbers, a duplicate id
//! stops the job, and the input's digest identifies it for resuming. Texts are read again
//! one item at a time, so memory does not grow with the input.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::{BatchError, TaskOptions};
use crate::documents;
use crate::retrieval::relative_id;

/// Extensions read as one item each in folder input.
const EXTENSIONS: &[&str] = &[
    "txt", "md", "markdown", "docx", "odt", "pdf", "html", "htm", "xhtml",
];

/// One item to process, found by the scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemRef {
    /// The item's id.
    pub id: String,
    location: Location,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Location {
    /// A JSONL line: its byte offset and number (from 1).
    Line { offset: u64, number: usize },
    /// A text file.
    File(PathBuf),
}

/// An input line that names no item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadLine {
    /// The line number, from 1.
    pub line: usize,
    /// What is wrong with it.
    pub reason: String,
}

/// A loaded item.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// The id.
    pub id: String,
    /// The document.
    pub text: String,
    /// Options of this item only.
    pub options: TaskOptions,
}

/// The scanned input.
#[derive(Debug)]
pub struct Input {
    path: PathBuf,
    /// Every item, in input order.
    pub items: Vec<ItemRef>,
    /// Lines that could not be read as an item (malformed JSON, no `id`).
    pub bad_lines: Vec<BadLine>,
    /// SHA-256 of the input's bytes (and, for a folder, its file names).
    pub digest: String,
}

/// One JSONL line as users write it.
#[derive(Deserialize)]
struct RawItem {
    #[serde(default)]
    id: Option<serde_json::Value>,
    #[serde(default)]
    text: Option<serde_json::Value>,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    options: Option<serde_json::Value>,
}

fn item_id(value: Option<serde_json::Value>) -> Result<String, String> {
    match value {
        Some(serde_json::Value::String(id)) if !id.trim().is_empty() => Ok(id),
        Some(serde_json::Value::Number(n)) => Ok(n.to_string()),
        Some(_) => Err("`id` must be a non-empty string or a number".into()),
        None => Err("missing `id`".into()),
    }
}

impl Input {
    /// Scans `path`: a JSONL file or a folder of text files.
    pub fn scan(path: &Path) -> Result<Self, BatchError> {
        let io = |source| BatchError::Io {
            path: path.to_path_buf(),
            source,
        };
        let meta = std::fs::metadata(path).map_err(io)?;
        let mut input = Self {
            path: path.to_path_buf(),
            items: Vec::new(),
            bad_lines: Vec::new(),
            digest: String::new(),
        };
        let mut hash = Sha256::new();
        if meta.is_dir() {
            let mut files = Vec::new();
            walk(path, &mut files)?;
            files.sort();
            for file in files {
                let id = relative_id(path, &file);
                let bytes = std::fs::read(&file).map_err(|source| BatchError::Io {
                    path: file.clone(),
                    source,
                })?;
                hash.update(id.as_bytes());
                hash.update([0]);
                hash.update((bytes.len() as u64).to_le_bytes());
                hash.update(&bytes);
                input.items.push(ItemRef {
                    id,
                    location: Location::File(file),
                });
            }
        } else {
            input.scan_jsonl(&mut hash)?;
        }
        input.digest = format!("{:x}", hash.finalize());
        input.check_unique()?;
        Ok(input)
    }

    fn scan_jsonl(&mut self, hash: &mut Sha256) -> Result<(), BatchError> {
        let io = |source| BatchError::Io {
            path: self.path.clone(),
            source,
        };
        let mut reader = BufReader::new(File::open(&self.path).map_err(io)?);
        let mut line = Vec::new();
        let mut offset = 0u64;
        let mut number = 0;
        loop {
            line.clear();
            let read = reader.read_until(b'\n', &mut line).map_err(io)?;
            if read == 0 {
                break;
            }
            hash.update(&line);
            number += 1;
            let at = offset;
            offset += read as u64;
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let parsed = std::str::from_utf8(&line)
                .map_err(|e| format!("not valid UTF-8 (byte {})", e.valid_up_to()))
                .and_then(|text| serde_json::from_str::<RawItem>(text).map_err(|e| e.to_string()))
                .and_then(|raw| item_id(raw.id));
            match parsed {
                Ok(id) => self.items.push(ItemRef {
                    id,
                    location: Location::Line { offset: at, number },
                }),
                Err(reason) => self.bad_lines.push(BadLine {
                    line: number,
                    reason,
                }),
            }
        }
        Ok(())
    }

    fn check_unique(&self) -> Result<(), BatchError> {
        let mut seen: HashMap<&str, &ItemRef> = HashMap::with_capacity(self.items.len());
        for item in &self.items {
            if let Some(first) = seen.insert(&item.id, item) {
                return Err(BatchError::DuplicateId {
                    path: self.path.clone(),
                    id: item.id.clone(),
                    first: first.place(),
                    second: item.place(),
                });
            }
        }
        Ok(())
    }

    /// Where `line` of the input is, for messages: `in.jsonl:12`.
    pub fn place(&self, line: usize) -> String {
        format!("{}:{line}", self.path.display())
    }

    /// Reads item `item` in full. The error says what is wrong with the item.
    pub fn load(&self, item: &ItemRef) -> Result<Item, String> {
        match &item.location {
            Location::Line { offset, number } => {
                let read = || -> std::io::Result<Vec<u8>> {
                    let mut file = File::open(&self.path)?;
                    file.seek(SeekFrom::Start(*offset))?;
                    let mut line = Vec::new();
                    BufReader::new(file).read_until(b'\n', &mut line)?;
                    Ok(line)
                };
                let bytes = read().map_err(|e| format!("{}: {e}", self.place(*number)))?;
                let raw: RawItem = serde_json::from_slice(&bytes)
                    .map_err(|e| format!("{}: {e}", self.place(*number)))?;
                let text = match (raw.text, raw.path) {
                    (Some(serde_json::Value::String(text)), None) => text,
                    (Some(_), Some(_)) => return Err("give `text` or `path`, not both".into()),
                    (Some(_), None) => return Err("`text` must be a string".into()),
                    (None, Some(path)) => {
                        let folder = self.path.parent().unwrap_or(Path::new("."));
                        read_file(&folder.join(path))?
                    }
                    (None, None) => return Err("missing `text` (or `path`)".into()),
                };
                let options = match raw.options {
                    Some(value) => {
                        serde_json::from_value(value).map_err(|e| format!("`options`: {e}"))?
                    }
                    None => TaskOptions::default(),
                };
                Ok(Item {
                    id: item.id.clone(),
                    text,
                    options,
                })
            }
            Location::File(path) => Ok(Item {
                id: item.id.clone(),
                text: read_file(path)?,
                options: TaskOptions::default(),
            }),
        }
    }
}

/// The text of the document file at `path` (any format Sofer reads); the error names it.
fn read_file(path: &Path) -> Result<String, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let name = path.display().to_string();
    documents::read_for_tasks(&bytes, documents::from_extension(&name))
        .map(|(_, text)| text)
        .map_err(|e| format!("{name}: {e}"))
}

impl ItemRef {
    fn place(&self) -> String {
        match &self.location {
            Location::Line { number, .. } => format!("line {number}"),
            Location::File(path) => path.display().to_string(),
        }
    }
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>) -> Result<(), BatchError> {
    let io = |source| BatchError::Io {
        path: dir.to_path_buf(),
        source,
    };
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        if path.is_dir() {
            walk(&path, files)?;
        } else if path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
        {
            files.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jsonl_scan_keeps_items_and_numbers_bad_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in.jsonl");
        std::fs::write(
            &path,
            "{\"id\": \"a\", \"text\": \"שלום\"}\n\n{\"id\": 2, \"text\": \"x\", \"options\": {\"votes\": 3}}\n{bad json\n{\"text\": \"no id\"}\n{\"id\": \"c\"}\n",
        )
        .unwrap();
        let input = Input::scan(&path).unwrap();
        let ids: Vec<&str> = input.items.iter().map(|i| i.id.as_str()).collect();
        assert_eq!(ids, ["a", "2", "c"]);
        let lines: Vec<usize> = input.bad_lines.iter().map(|b| b.line).collect();
        assert_eq!(lines, [4, 5]);
        assert_eq!(input.load(&input.items[0]).unwrap().text, "שלום");
        assert_eq!(input.load(&input.items[1]).unwrap().options.votes, Some(3));
        assert_eq!(
            input.load(&input.items[2]).unwrap_err(),
            "missing `text` (or `path`)"
        );
        assert_eq!(input.digest.len(), 64);
    }

    #[test]
    fn duplicate_ids_stop_the_scan_naming_both_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in.jsonl");
        std::fs::write(&path, "{\"id\": \"a\", \"text\": \"1\"}\n{\"id\": \"b\", \"text\": \"2\"}\n{\"id\": \"a\", \"text\": \"3\"}\n").unwrap();
        let err = Input::scan(&path).unwrap_err().to_string();
        assert!(
            err.contains("\"a\"") && err.contains("line 1") && err.contains("line 3"),
            "{err}"
        );
    }

    #[test]
    fn folder_items_are_relative_paths_and_bad_utf8_is_an_item_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/a.md"), "# כותרת\n\nטקסט").unwrap();
        std::fs::write(dir.path().join("b.txt"), b"\xff bad").unwrap();
        std::fs::write(dir.path().join("skip.bin"), b"x").unwrap();
        let input = Input::scan(dir.path()).unwrap();
        let ids: Vec<&str> = input.items.iter().map(|i| i.id.as_str()).collect();
        assert_eq!(ids, ["b.txt", "sub/a.md"]);
        assert!(input
            .load(&input.items[0])
            .unwrap_err()
            .contains("not valid UTF-8 (first bad byte at offset 0)"));
        assert_eq!(input.load(&input.items[1]).unwrap().text, "# כותרת\n\nטקסט");
    }
}
