//! Sofer: Hebrew-first document processing on an in-process Mixtral engine.

pub mod batch;
pub mod documents;
pub mod engine;
pub mod limits;
pub mod prompt;
pub mod retrieval;
pub mod service;
pub mod tasks;
pub mod text;
