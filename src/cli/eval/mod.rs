//! `sofer eval …`: quality measurements on the licensed data in `../shared/data` and on
//! the fixtures.

mod chrf;
mod classify;
mod retrieval;
mod segmentation;

/// An evaluation to run.
#[derive(Debug, clap::Subcommand)]
pub enum EvalCommand {
    /// Corpus chrF of a translation against a reference (sacrebleu's CHRF, exactly).
    Chrf(chrf::ChrfArgs),
    /// A model's accuracy on labelled sentences with 1 and k votes, and the votes' cost.
    Classify(classify::ClassifyEvalArgs),
    /// Sentence-boundary precision/recall/F1 on UD Hebrew, ours vs plain UAX #29.
    Segmentation(segmentation::SegmentationArgs),
    /// Question → paragraph retrieval on HeQ: R@1/5/10 and MRR@10, ours vs tantivy's default.
    Retrieval(retrieval::RetrievalArgs),
}

/// Runs one evaluation.
pub fn run(command: EvalCommand) -> anyhow::Result<()> {
    match command {
        EvalCommand::Chrf(args) => chrf::run(args),
        EvalCommand::Classify(args) => classify::run(args),
        EvalCommand::Segmentation(args) => segmentation::run(args),
        EvalCommand::Retrieval(args) => retrieval::run(args),
    }
}
