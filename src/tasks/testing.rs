//! A scripted generator and the tiny model's tokenizer, for unit tests of the logic
//! around generation (voting, reduction, consensus).

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::OnceLock;

use candle_core::quantized::gguf_file::Value;

use crate::engine::generate::{generate_one_by_one, CallSink, Delta, Sink, Step};
use crate::engine::gguf::GgufFile;
use crate::engine::synth::{synthesize, SynthQuant, SynthSpec};
use crate::engine::tokenizer::Tokenizer;
use crate::engine::{
    Completion, EngineError, FinishReason, GenerationCall, GenerationParams, Generator,
};
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
            if !sink(Step::Token(Delta {
                sample,
                token: ids.first().copied().unwrap_or(0),
                text: &text,
                logprob: None,
            })) {
                return Err(EngineError::Cancelled);
            }
            out.push(Completion {
                ids,
                text,
                finish_reason: FinishReason::Eos,
                logprobs: Vec::new(),
            });
        }
        Ok(out)
    }
}

/// Runs a task's parallel calls last first, as a batching generator may finish them: every
/// call but the first streams and ends before the ones ahead of it.
pub(crate) struct Reversed<'a>(pub(crate) &'a dyn Generator);

impl Generator for Reversed<'_> {
    fn generate_n(
        &self,
        prompt: &[u32],
        params: &GenerationParams,
        n: usize,
        sink: &mut Sink<'_>,
    ) -> Result<Vec<Completion>, EngineError> {
        self.0.generate_n(prompt, params, n, sink)
    }

    fn generate_many(
        &self,
        calls: &[GenerationCall],
        sink: &mut CallSink<'_>,
    ) -> Result<(), EngineError> {
        generate_one_by_one(self.0, calls, (0..calls.len()).rev(), sink)
    }
}

/// The synthesized tiny model's tokenizer and chat format, and the built-in prompts.
pub(crate) struct Fixture {
    pub(crate) tokenizer: Tokenizer,
    pub(crate) format: ChatFormat,
    pub(crate) prompts: PromptSet,
}

impl Fixture {
    pub(crate) fn load() -> Self {
        let metadata = tiny_metadata();
        Self {
            tokenizer: Tokenizer::from_gguf_metadata(metadata).expect("tokenizer"),
            format: ChatFormat::from_gguf_metadata(metadata).expect("chat format"),
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

/// The metadata of the synthesized tiny Mixtral (Mistral v1 vocabulary, no chat template),
/// synthesized once per test process.
fn tiny_metadata() -> &'static HashMap<String, Value> {
    static METADATA: OnceLock<HashMap<String, Value>> = OnceLock::new();
    METADATA.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("tiny-f16.gguf");
        synthesize(&SynthSpec::tiny(SynthQuant::F16), &path).expect("synthesize the tiny model");
        GgufFile::open(&path)
            .expect("read the tiny model")
            .metadata()
            .clone()
    })
}
