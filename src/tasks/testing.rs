//! A scripted generator and the tiny model's tokenizer, for unit tests of the logic
//! around generation (voting, reduction, consensus).

use std::cell::RefCell;
use std::path::PathBuf;

use crate::engine::generate::{Delta, Sink};
use crate::engine::gguf::GgufFile;
use crate::engine::tokenizer::Tokenizer;
use crate::engine::{Completion, EngineError, FinishReason, GenerationParams, Generator};
use crate::prompt::{ChatFormat, PromptSet};

use super::context::TaskContext;

/// Answers every call with `script(call index, sample index, prompt)`, streaming each
/// answer as one delta, and records `(prompt length, n, max_tokens)` per call.
pub(crate) struct Scripted<F> {
    script: F,
    pub(crate) calls: RefCell<Vec<(usize, usize, usize)>>,
    prompts: RefCell<Vec<String>>,
    tokenizer: Tokenizer,
}

impl<F: Fn(usize, usize, &str) -> String> Scripted<F> {
    pub(crate) fn new(script: F) -> Self {
        Self {
            script,
            calls: RefCell::new(Vec::new()),
            prompts: RefCell::new(Vec::new()),
            tokenizer: Fixture::load().tokenizer,
        }
    }
}

impl<F> Scripted<F> {
    /// The decoded prompt of every call so far.
    pub(crate) fn prompts(&self) -> Vec<String> {
        self.prompts.borrow().clone()
    }
}

impl<F: Fn(usize, usize, &str) -> String> Generator for Scripted<F> {
    fn generate_n(
        &self,
        prompt: &[u32],
        params: &GenerationParams,
        n: usize,
        sink: &mut Sink<'_>,
    ) -> Result<Vec<Completion>, EngineError> {
        let call = self.calls.borrow().len();
        self.calls
            .borrow_mut()
            .push((prompt.len(), n, params.max_tokens));
        let prompt_text = self.tokenizer.decode(prompt);
        self.prompts.borrow_mut().push(prompt_text.clone());
        let mut out = Vec::with_capacity(n);
        for sample in 0..n {
            let text = (self.script)(call, sample, &prompt_text);
            let ids = self.tokenizer.encode(&text, false)?;
            let ids: Vec<u32> = ids.into_iter().take(params.max_tokens).collect();
            if !sink(Delta {
                sample,
                token: ids.first().copied().unwrap_or(0),
                text: &text,
            }) {
                return Err(EngineError::Cancelled);
            }
            out.push(Completion {
                ids,
                text,
                finish_reason: FinishReason::Eos,
            });
        }
        Ok(out)
    }
}

/// The tiny reference model's tokenizer and chat format, and the built-in prompts.
pub(crate) struct Fixture {
    pub(crate) tokenizer: Tokenizer,
    pub(crate) format: ChatFormat,
    pub(crate) prompts: PromptSet,
}

impl Fixture {
    pub(crate) fn load() -> Self {
        let path = PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/refs/tiny/gguf/tiny-q8_0.gguf"
        ));
        let gguf = GgufFile::open(&path).expect("tiny reference GGUF (../shared/refs)");
        Self {
            tokenizer: Tokenizer::from_gguf_metadata(gguf.metadata()).expect("tokenizer"),
            format: ChatFormat::from_gguf_metadata(gguf.metadata()).expect("chat format"),
            prompts: PromptSet::load(None).expect("built-in prompts"),
        }
    }

    pub(crate) fn context<'a>(
        &'a self,
        generator: &'a dyn Generator,
        context_length: usize,
    ) -> TaskContext<'a> {
        TaskContext {
            generator,
            tokenizer: &self.tokenizer,
            format: &self.format,
            prompts: &self.prompts,
            context_length,
            retriever: None,
        }
    }
}
