//! Sofer: Hebrew-first document processing on an in-process Mixtral engine.

pub mod engine;
