//! Sofer: Hebrew-first document processing on an in-process Mixtral engine.

pub mod engine;
pub mod retrieval;
pub mod tasks;
pub mod text;
