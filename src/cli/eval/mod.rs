//! `sofer eval …`: quality measurements on the licensed evaluation data shipped in the
//! repository's `data/eval/` (sources, licences and attribution in `data/eval/README.md`) and
//! on the fixtures.

mod chrf;
mod classify;
mod compare;
mod metrics;
mod retrieval;
mod segmentation;
mod summarize;
mod translate;

use std::path::{Path, PathBuf};

/// The evaluation data folder, relative to the working directory.
const EVAL_DATA: &str = "data/eval";

/// An evaluation to run.
#[derive(Debug, clap::Subcommand)]
pub enum EvalCommand {
    /// Corpus chrF of a translation against a reference (sacrebleu's CHRF, exactly).
    Chrf(chrf::ChrfArgs),
    /// Accuracy, macro-F1 and calibration on labelled sentences by score and by votes.
    Classify(classify::ClassifyEvalArgs),
    /// Sentence-boundary precision/recall/F1 on UD Hebrew, ours vs plain UAX #29.
    Segmentation(segmentation::SegmentationArgs),
    /// One evaluation over several model files: quality, speed and memory in one table.
    Compare(compare::CompareArgs),
    /// Summaries against references (chrF, ROUGE-L), or length and a faithfulness proxy.
    Summarize(summarize::SummarizeEvalArgs),
    /// Corpus chrF of the model's translations of NTREX news, glossary kept, speed.
    Translate(translate::TranslateEvalArgs),
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
        EvalCommand::Translate(args) => translate::run(args),
        EvalCommand::Summarize(args) => summarize::run(args),
        EvalCommand::Compare(args) => compare::run(args),
    }
}

/// Flags the task evaluations (classify, translate, summarize) share.
#[derive(Debug, clap::Args)]
pub(crate) struct TaskEvalFlags {
    #[command(flatten)]
    model: crate::cli::ModelArgs,
    /// The folder a named data set is read from [default: the repository's data/eval].
    #[arg(long, value_name = "DIR", env = "SOFER_DATA")]
    data_dir: Option<PathBuf>,
    /// A folder of prompt files overriding the built-in ones.
    #[arg(long, value_name = "DIR")]
    prompts: Option<PathBuf>,
    /// One JSON object per run instead of a table.
    #[arg(long)]
    json: bool,
}

impl TaskEvalFlags {
    /// The model and prompts, loaded.
    fn runtime(&self) -> anyhow::Result<sofer::tasks::TaskRuntime> {
        Ok(sofer::tasks::TaskRuntime::load(
            &self.model.engine_options(),
            self.prompts.as_deref(),
        )?)
    }

    /// Where named data sets are read from.
    fn data_dir(&self) -> anyhow::Result<PathBuf> {
        data_dir(self.data_dir.clone())
    }
}

/// The data folder of `sofer eval segmentation` and `sofer eval retrieval`: `--data` or
/// `$SOFER_DATA` when given, else `data/eval` under the working directory when there is one
/// (a checkout of the repository), else the `data/eval` of the checkout this binary was built
/// from. A folder that does not exist is an error naming it.
pub(crate) fn data_dir(given: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    let dir = given.unwrap_or_else(|| {
        let here = Path::new(EVAL_DATA);
        if here.is_dir() {
            here.to_path_buf()
        } else {
            Path::new(env!("CARGO_MANIFEST_DIR")).join(EVAL_DATA)
        }
    });
    anyhow::ensure!(
        dir.is_dir(),
        "evaluation data folder {} not found (set --data DIR or SOFER_DATA to a folder laid \
         out like the repository's data/eval)",
        dir.display()
    );
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_dir_defaults_to_an_existing_eval_folder_and_names_a_missing_one() {
        let dir = data_dir(None).expect("the repository's data/eval");
        assert!(dir.join("ud").is_dir(), "{}", dir.display());
        let missing = Path::new(env!("CARGO_MANIFEST_DIR")).join("no/such/eval/data");
        let error = data_dir(Some(missing.clone())).expect_err("missing folder");
        assert!(
            error.to_string().contains(&missing.display().to_string()),
            "{error}"
        );
    }
}
