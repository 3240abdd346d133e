//! Processing a job's pending items with C workers and one writer.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::sync_channel;

use serde::Serialize;

use super::{BatchError, BatchTask, Input, ItemError, ItemRef, OutputFile, Record, TaskOptions};
use crate::tasks::{self, TaskError, TaskRuntime};

/// A job: one task with its options over many items.
pub struct BatchJob<'a> {
    /// The loaded model, prompts and index.
    pub runtime: &'a TaskRuntime,
    /// The task.
    pub task: BatchTask,
    /// The command line's options (items may override them).
    pub options: TaskOptions,
    /// Items in flight at once (at least 1).
    pub concurrency: usize,
}

/// How the items of one run ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RunCounts {
    /// Items with a result.
    pub succeeded: usize,
    /// Items recorded with an error.
    pub failed: usize,
}

/// Called with each record once it is on disk.
pub type Progress<'a> = dyn FnMut(&Record) + 'a;

/// Processes `pending` items of `input`, appending each record to `out` as it completes
/// (in completion order), and calls `progress` after each append.
pub fn run(
    job: &BatchJob<'_>,
    input: &Input,
    pending: &[&ItemRef],
    out: &mut OutputFile,
    progress: &mut Progress<'_>,
) -> Result<RunCounts, BatchError> {
    let workers = job.concurrency.clamp(1, pending.len().max(1));
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let (send, receive) = sync_channel::<Record>(workers);
    let mut counts = RunCounts::default();
    let mut failure = None;
    std::thread::scope(|scope| {
        for _ in 0..workers {
            let send = send.clone();
            let (next, stop) = (&next, &stop);
            scope.spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let Some(item) = pending.get(next.fetch_add(1, Ordering::Relaxed)) else {
                        break;
                    };
                    let record = catch_unwind(AssertUnwindSafe(|| process(job, input, item)))
                        .unwrap_or_else(|_| {
                            failed(job.task, &item.id, "internal", None, "the task panicked")
                        });
                    if send.send(record).is_err() {
                        break;
                    }
                }
            });
        }
        drop(send);
        for record in receive {
            if let Err(e) = out.append(&record) {
                stop.store(true, Ordering::Relaxed);
                failure = Some(e);
                break;
            }
            if record.error.is_some() {
                counts.failed += 1;
            } else {
                counts.succeeded += 1;
            }
            progress(&record);
        }
        stop.store(true, Ordering::Relaxed);
    });
    match failure {
        Some(e) => Err(e),
        None => Ok(counts),
    }
}

/// Runs the task on one item; every failure becomes an error record.
fn process(job: &BatchJob<'_>, input: &Input, item: &ItemRef) -> Record {
    let loaded = match input.load(item) {
        Ok(loaded) => loaded,
        Err(message) => return failed(job.task, &item.id, "invalid_input", None, &message),
    };
    let options = job.options.for_item(&loaded.options, &loaded.id);
    let ctx = job.runtime.context();
    let quiet = &mut |_: tasks::Event<'_>| true;
    let result = match job.task {
        BatchTask::Summarize => options
            .summarize(loaded.text)
            .validate()
            .and_then(|req| tasks::summarize(&ctx, &req, quiet))
            .map(serde_json::to_value),
        BatchTask::Translate => options
            .translate(loaded.text)
            .validate()
            .and_then(|req| tasks::translate(&ctx, &req, quiet))
            .map(serde_json::to_value),
        BatchTask::Classify => options
            .classify(loaded.text)
            .and_then(|req| req.validate())
            .and_then(|req| tasks::classify(&ctx, &req, quiet))
            .map(serde_json::to_value),
    };
    match result {
        Ok(Ok(mut value)) => {
            let usage = value.as_object_mut().and_then(|o| o.remove("usage"));
            Record {
                id: loaded.id,
                task: job.task.name().into(),
                result: Some(value),
                usage,
                error: None,
            }
        }
        Ok(Err(e)) => failed(job.task, &loaded.id, "internal", None, &e.to_string()),
        Err(TaskError::InvalidArgument { field, reason }) => failed(
            job.task,
            &loaded.id,
            "invalid_argument",
            Some(field.clone()),
            &format!("`{field}` {reason}"),
        ),
        Err(e @ TaskError::DoesNotFit { .. }) => {
            failed(job.task, &loaded.id, "does_not_fit", None, &e.to_string())
        }
        Err(e) => failed(job.task, &loaded.id, "internal", None, &e.to_string()),
    }
}

fn failed(task: BatchTask, id: &str, code: &str, field: Option<String>, message: &str) -> Record {
    Record {
        id: id.to_string(),
        task: task.name().into(),
        result: None,
        usage: None,
        error: Some(ItemError {
            code: code.into(),
            field,
            message: message.into(),
        }),
    }
}
