//! The in-process model engine: GGUF loading, tokenizer, forward pass, KV cache,
//! sampling and generation.

pub mod config;
pub mod error;
pub mod generate;
pub mod gguf;
pub mod heap;
pub mod instance;
pub mod kernels;
pub mod model;
pub mod prefix_cache;
pub mod sampler;
pub mod scheduler;
pub mod score;
pub mod sp_model;
pub mod stream;
pub mod synth;
pub mod tokenizer;

pub use error::{EngineError, Result};
pub use generate::{
    CallStep, Completion, FinishReason, GenerationCall, GenerationParams, Generator, TokenLogprob,
    MAX_TOP_LOGPROBS,
};
pub use instance::{Engine, EngineCounters, EngineOptions, ModelInfo};
pub use score::ContinuationScores;
