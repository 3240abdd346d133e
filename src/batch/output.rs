//! The output file and the record of what produced it, so that a job killed at any moment
//! resumes without losing or repeating an item.
//!
//! Each record is one JSON line, written with one `write` and synced to disk before the
//! next item counts as done. A kill can only tear the last line; reopening cuts it off and
//! the item is done again. Beside the output, `<output>.state.json` records the job's
//! identity (task, options, shard, input digest, model): a run that differs is refused
//! unless it restarts. The output file is locked while a job writes it.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{BatchError, BatchTask, Shard, TaskOptions};

/// Format version of the state file.
const STATE_VERSION: u32 = 1;

/// What makes two runs the same job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobIdentity {
    /// State file format.
    pub version: u32,
    /// The task.
    pub task: BatchTask,
    /// The command line's task options.
    pub options: TaskOptions,
    /// The shard.
    pub shard: Shard,
    /// SHA-256 of the input.
    pub input_digest: String,
    /// The model file's name and size.
    pub model: String,
}

impl JobIdentity {
    /// The identity of a job.
    pub fn new(
        task: BatchTask,
        options: TaskOptions,
        shard: Shard,
        input_digest: String,
        model: &Path,
    ) -> Self {
        let name = model
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let size = std::fs::metadata(model).map(|m| m.len()).unwrap_or(0);
        Self {
            version: STATE_VERSION,
            task,
            options,
            shard,
            input_digest,
            model: format!("{name} ({size} bytes)"),
        }
    }

    /// The first way `self` differs from `earlier`, in words.
    fn difference(&self, earlier: &JobIdentity) -> Option<String> {
        let json = |o: &TaskOptions| serde_json::to_string(o).unwrap_or_default();
        let checks = [
            (
                "state version",
                earlier.version.to_string(),
                self.version.to_string(),
            ),
            ("task", earlier.task.name().into(), self.task.name().into()),
            ("task options", json(&earlier.options), json(&self.options)),
            ("shard", earlier.shard.to_string(), self.shard.to_string()),
            (
                "input",
                earlier.input_digest.clone(),
                self.input_digest.clone(),
            ),
            ("model", earlier.model.clone(), self.model.clone()),
        ];
        checks
            .into_iter()
            .find(|(_, a, b)| a != b)
            .map(|(what, a, b)| format!("{what}: was {a}, now {b}"))
    }
}

/// One output line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// The item's id.
    pub id: String,
    /// The task.
    pub task: String,
    /// The task's result (without usage); null when the item failed.
    pub result: Option<serde_json::Value>,
    /// What it cost; null when it failed before the model ran.
    pub usage: Option<serde_json::Value>,
    /// Why the item failed; null when it succeeded.
    pub error: Option<ItemError>,
}

/// Why an item failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemError {
    /// `invalid_input`, `invalid_argument`, `does_not_fit` or `internal`.
    pub code: String,
    /// The option or field at fault, for `invalid_argument`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub field: Option<String>,
    /// What went wrong.
    pub message: String,
}

/// The output file of a job, open for appending.
pub struct OutputFile {
    path: PathBuf,
    file: File,
    durable: bool,
}

/// What earlier runs of a job left in its output.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovered {
    /// Ids with a record (succeeded or failed): they are not processed again.
    pub done: HashSet<String>,
    /// How many of those records are errors.
    pub failed: usize,
}

/// The path of the state file beside `output`.
pub fn state_path(output: &Path) -> PathBuf {
    let mut name = output.as_os_str().to_owned();
    name.push(".state.json");
    PathBuf::from(name)
}

impl OutputFile {
    /// Opens (or creates, with its folder) `path` for job `identity` and returns it with what earlier runs
    /// of the job recorded. `restart` discards earlier output; `durable` syncs every
    /// record to disk.
    pub fn open(
        path: &Path,
        identity: &JobIdentity,
        restart: bool,
        durable: bool,
    ) -> Result<(Self, Recovered), BatchError> {
        let io = |source| BatchError::Output {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(io)?;
        if file.try_lock().is_err() {
            return Err(BatchError::Locked(path.to_path_buf()));
        }
        let state = state_path(path);
        let len = file.metadata().map_err(io)?.len();
        if restart {
            file.set_len(0).map_err(io)?;
        } else if len > 0 || state.exists() {
            let earlier = read_state(&state, path)?;
            if let Some(diff) = identity.difference(&earlier) {
                return Err(BatchError::DifferentJob {
                    path: path.to_path_buf(),
                    difference: diff,
                });
            }
        }
        write_state(&state, identity)?;
        let done = recover(&mut file, path)?;
        file.seek(SeekFrom::End(0)).map_err(io)?;
        Ok((
            Self {
                path: path.to_path_buf(),
                file,
                durable,
            },
            done,
        ))
    }

    /// Appends `record` as one line (one write), synced to disk when durable.
    pub fn append(&mut self, record: &Record) -> Result<(), BatchError> {
        let mut line = serde_json::to_vec(record).map_err(|e| BatchError::Output {
            path: self.path.clone(),
            source: std::io::Error::other(e),
        })?;
        line.push(b'\n');
        let io = |source| BatchError::Output {
            path: self.path.clone(),
            source,
        };
        self.file.write_all(&line).map_err(io)?;
        if self.durable {
            self.file.sync_data().map_err(io)?;
        }
        Ok(())
    }
}

fn read_state(state: &Path, output: &Path) -> Result<JobIdentity, BatchError> {
    let bytes = std::fs::read(state).map_err(|_| BatchError::DifferentJob {
        path: output.to_path_buf(),
        difference: format!(
            "it has output but no state file {} (not written by sofer batch?)",
            state.display()
        ),
    })?;
    serde_json::from_slice(&bytes).map_err(|e| BatchError::DifferentJob {
        path: output.to_path_buf(),
        difference: format!("its state file {} is unreadable: {e}", state.display()),
    })
}

/// Writes the state file atomically: a temporary file, synced, renamed over the old one.
fn write_state(state: &Path, identity: &JobIdentity) -> Result<(), BatchError> {
    let io = |source| BatchError::Output {
        path: state.to_path_buf(),
        source,
    };
    let mut tmp_name = state.as_os_str().to_owned();
    tmp_name.push(".tmp");
    let tmp = PathBuf::from(tmp_name);
    let json = serde_json::to_vec_pretty(identity).map_err(|e| io(std::io::Error::other(e)))?;
    let mut file = File::create(&tmp).map_err(io)?;
    file.write_all(&json).map_err(io)?;
    file.sync_all().map_err(io)?;
    std::fs::rename(&tmp, state).map_err(io)?;
    if let Some(dir) = state.parent().filter(|d| !d.as_os_str().is_empty()) {
        File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
    }
    Ok(())
}

/// Reads the records already in `file` and cuts off a torn last line.
fn recover(file: &mut File, path: &Path) -> Result<Recovered, BatchError> {
    let io = |source| BatchError::Output {
        path: path.to_path_buf(),
        source,
    };
    let mut bytes = Vec::new();
    file.seek(SeekFrom::Start(0)).map_err(io)?;
    file.read_to_end(&mut bytes).map_err(io)?;
    let mut done = Recovered::default();
    let mut good = 0;
    let mut number = 0;
    while good < bytes.len() {
        number += 1;
        let Some(end) = bytes[good..].iter().position(|&b| b == b'\n') else {
            break;
        };
        let line = &bytes[good..good + end];
        match serde_json::from_slice::<Record>(line) {
            Ok(record) => {
                done.failed += usize::from(record.error.is_some());
                done.done.insert(record.id);
                good += end + 1;
            }
            Err(e) if good + end + 1 < bytes.len() => {
                return Err(BatchError::CorruptOutput {
                    path: path.to_path_buf(),
                    line: number,
                    reason: e.to_string(),
                });
            }
            Err(_) => break,
        }
    }
    if good < bytes.len() {
        tracing::info!(
            output = %path.display(),
            bytes = bytes.len() - good,
            "cutting off a torn last line from an interrupted run"
        );
        file.set_len(good as u64).map_err(io)?;
        file.sync_data().map_err(io)?;
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(digest: &str) -> JobIdentity {
        JobIdentity {
            version: STATE_VERSION,
            task: BatchTask::Classify,
            options: TaskOptions::default(),
            shard: Shard::default(),
            input_digest: digest.into(),
            model: "m.gguf (1 bytes)".into(),
        }
    }

    fn record(id: &str) -> Record {
        Record {
            id: id.into(),
            task: "classify".into(),
            result: Some(serde_json::json!({"label": "a"})),
            usage: None,
            error: None,
        }
    }

    #[test]
    fn a_torn_last_line_is_cut_and_its_item_is_not_done() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.jsonl");
        {
            let (mut out, done) = OutputFile::open(&path, &identity("x"), false, true).unwrap();
            assert!(done.done.is_empty());
            out.append(&record("a")).unwrap();
            out.append(&record("b")).unwrap();
        }
        let mut bytes = std::fs::read(&path).unwrap();
        let whole = bytes.len();
        bytes.extend_from_slice(br#"{"id": "c", "task": "clas"#);
        std::fs::write(&path, &bytes).unwrap();
        let (mut out, done) = OutputFile::open(&path, &identity("x"), false, true).unwrap();
        assert_eq!(done.done, HashSet::from(["a".to_string(), "b".to_string()]));
        assert_eq!(done.failed, 0);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), whole as u64);
        out.append(&record("c")).unwrap();
        drop(out);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 3);
        assert!(text
            .lines()
            .all(|l| serde_json::from_str::<Record>(l).is_ok()));
    }

    #[test]
    fn a_different_job_is_refused_unless_restarted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.jsonl");
        {
            let (mut out, _) = OutputFile::open(&path, &identity("x"), false, false).unwrap();
            out.append(&record("a")).unwrap();
        }
        let err = OutputFile::open(&path, &identity("y"), false, false)
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("input: was") && err.contains("--restart"),
            "{err}"
        );
        let (_, done) = OutputFile::open(&path, &identity("y"), true, false).unwrap();
        assert!(done.done.is_empty());
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
    }

    #[test]
    fn a_second_writer_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.jsonl");
        let _first = OutputFile::open(&path, &identity("x"), false, false).unwrap();
        let err = OutputFile::open(&path, &identity("x"), false, false)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("another"), "{err}");
    }
}
