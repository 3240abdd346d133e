//! What the tasks run with, loaded once: the engine, the model's chat format, the prompt
//! templates and, optionally, the retrieval index. The CLI, batch jobs and the server
//! each hold one and hand out a [`TaskContext`] per request.

use std::path::Path;

use super::context::TaskContext;
use super::error::Result;
use crate::engine::{Engine, EngineOptions};
use crate::prompt::{ChatFormat, PromptSet};
use crate::retrieval::{RetrievalIndex, Retriever};

/// A loaded model with its prompts and an optional index.
pub struct TaskRuntime {
    engine: Engine,
    format: ChatFormat,
    prompts: PromptSet,
    index: Option<RetrievalIndex>,
}

impl TaskRuntime {
    /// Loads the model in `options` and the prompts (built-in, overridden from `prompts`).
    pub fn load(options: &EngineOptions, prompts: Option<&Path>) -> Result<Self> {
        let prompts = PromptSet::load(prompts)?;
        let engine = Engine::load(options)?;
        let format = ChatFormat::from_gguf_metadata(engine.metadata())?;
        Ok(Self {
            engine,
            format,
            prompts,
            index: None,
        })
    }

    /// Retrieval for tasks that name a collection comes from `index`.
    pub fn with_index(mut self, index: RetrievalIndex) -> Self {
        self.index = Some(index);
        self
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The index, when one was given.
    pub fn index(&self) -> Option<&RetrievalIndex> {
        self.index.as_ref()
    }

    /// What one task call runs with, retrieving from the index.
    pub fn context(&self) -> TaskContext<'_> {
        self.context_with(self.index.as_ref().map(|i| i as &dyn Retriever))
    }

    /// What one task call runs with, retrieving through `retriever` (a tenant's view of
    /// the index, for instance).
    pub fn context_with<'a>(&'a self, retriever: Option<&'a dyn Retriever>) -> TaskContext<'a> {
        TaskContext {
            generator: &self.engine,
            tokenizer: self.engine.tokenizer(),
            format: &self.format,
            prompts: &self.prompts,
            context_length: self.engine.info().config.context_length,
            retriever,
        }
    }

    /// The model's chat format.
    pub fn format(&self) -> &ChatFormat {
        &self.format
    }
}
