//! The tasks: summarize, translate and classify, with their decomposition, retrieval use,
//! voting and consensus.
//!
//! Each task takes a request as a caller gives it (`ClassifyRequest`, …), whose
//! `validate` turns it into a `Valid…Request` or a [`TaskError::InvalidArgument`] naming
//! the field; the task itself runs only on valid requests, with a [`TaskContext`] that
//! bundles the generator, tokenizer, chat format, prompts and an optional retriever.

pub mod answer;
pub mod chrf;
pub mod classify;
pub mod consensus;
pub mod context;
pub mod error;
pub mod glossary;
pub mod in_order;
pub mod label_score;
pub mod plan;
pub mod runtime;
pub mod summarize;
pub mod translate;
pub mod validate;
pub mod vote;

#[cfg(test)]
pub(crate) mod testing;

pub use answer::LabelMatcher;
pub use classify::{
    classify, Classification, ClassifyMethod, ClassifyRequest, LabelSpec, ValidClassifyRequest,
};
pub use consensus::{mbr, Consensus};
pub use context::{Event, Output, TaskContext, TokenizerCounter, Usage};
pub use error::TaskError;
pub use glossary::{GlossaryEntry, GlossaryViolation};
pub use label_score::{LabelContinuations, LabelProbability};
pub use plan::{ChunkPlan, PlannedChunk};
pub use runtime::TaskRuntime;
pub use summarize::{
    summarize, ChunkSummary, Citation, SummarizeRequest, Summary, SummaryLength,
    ValidSummarizeRequest,
};
pub use translate::{translate, Segment, TranslateRequest, Translation, ValidTranslateRequest};
pub use validate::{SamplingRequest, ValidSampling};
pub use vote::{LabelVotes, VoteTally};
