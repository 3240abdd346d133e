//! The tasks: summarize, translate and classify, with their decomposition, retrieval use,
//! voting and consensus.

pub mod chrf;
