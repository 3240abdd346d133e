//! Batch jobs: run one task over many documents, resumable after any crash, shardable
//! over machines.
//!
//! [`Input::scan`] reads every id first (bad lines numbered, duplicate ids refused),
//! [`OutputFile::open`] recovers what an earlier run of the same job wrote, and [`run`]
//! processes the rest with C workers, appending one durable record per item.

mod input;
mod options;
mod output;
mod run;
mod shard;

use std::path::PathBuf;

pub use input::{BadLine, Input, Item, ItemRef};
pub use options::{item_seed, BatchTask, TaskOptions};
pub use output::{state_path, ItemError, JobIdentity, OutputFile, Record, Recovered};
pub use run::{run, BatchJob, Progress, RunCounts};
pub use shard::Shard;

/// Why a job cannot start or go on (an item's own failure is a [`Record`], not this).
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    /// The input could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Two items share an id.
    #[error("{}: duplicate id {id:?} ({first} and {second}); ids must be unique", path.display())]
    DuplicateId {
        /// The input.
        path: PathBuf,
        /// The id.
        id: String,
        /// Where it first occurs.
        first: String,
        /// Where it occurs again.
        second: String,
    },
    /// The output (or its state file) could not be written.
    #[error("cannot write output {}: {source}", path.display())]
    Output {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Another job is writing the output.
    #[error("{} is being written by another sofer batch process", .0.display())]
    Locked(PathBuf),
    /// The output holds the results of a different job.
    #[error("{} holds output of a different job ({difference}); run the same command to resume, or add --restart to discard it", path.display())]
    DifferentJob {
        /// The output.
        path: PathBuf,
        /// How the jobs differ.
        difference: String,
    },
    /// A line other than the last in the output is not a record.
    #[error("{}:{line}: not an output record ({reason}); was the file edited?", path.display())]
    CorruptOutput {
        /// The output.
        path: PathBuf,
        /// The line, from 1.
        line: usize,
        /// The parse error.
        reason: String,
    },
}
