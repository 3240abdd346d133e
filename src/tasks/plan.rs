//! Cutting a document into map chunks: whole paragraphs packed in order up to a token
//! budget, a paragraph over the budget cut by the text layer's chunker into chunks of
//! its own. Every paragraph lands in exactly one chunk, or in consecutive chunks that hold
//! nothing else.

use std::ops::Range;

use serde::Serialize;

use super::error::Result;
use crate::text::{chunk, paragraphs, ChunkOptions, TokenCounter};

/// Tokens allowed for the blank line between two packed paragraphs before the packed
/// text is counted exactly.
const SEPARATOR_TOKENS: usize = 2;

/// One chunk of a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedChunk {
    /// Byte range into the document (from its first paragraph's start to its last's end).
    pub range: Range<usize>,
    /// Tokens its text costs.
    pub tokens: usize,
    /// Indices of the paragraphs it holds (of [`paragraphs`] of the document).
    pub paragraphs: Range<usize>,
}

/// How a document is cut for the map step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChunkPlan {
    /// The most tokens a chunk may cost.
    pub budget: usize,
    /// The document's paragraphs, as byte ranges.
    pub paragraphs: Vec<Range<usize>>,
    /// The chunks, in document order.
    pub chunks: Vec<PlannedChunk>,
}

impl ChunkPlan {
    /// Plans `text` into chunks of at most `budget` tokens as `counter` counts them.
    pub fn new(text: &str, counter: &dyn TokenCounter, budget: usize) -> Result<Self> {
        let paras = paragraphs(text);
        let counts: Vec<usize> = paras
            .iter()
            .map(|p| counter.count(&text[p.clone()]))
            .collect();
        let mut chunks = Vec::new();
        let mut i = 0;
        while i < paras.len() {
            if counts[i] > budget {
                let options = ChunkOptions {
                    max_tokens: budget,
                    overlap_tokens: 0,
                };
                let start = paras[i].start;
                for piece in chunk(&text[paras[i].clone()], counter, &options)? {
                    chunks.push(PlannedChunk {
                        range: start + piece.range.start..start + piece.range.end,
                        tokens: piece.tokens,
                        paragraphs: i..i + 1,
                    });
                }
                i += 1;
                continue;
            }
            let mut end = i + 1;
            let mut estimate = counts[i];
            while end < paras.len() && estimate + SEPARATOR_TOKENS + counts[end] <= budget {
                estimate += SEPARATOR_TOKENS + counts[end];
                end += 1;
            }
            let mut tokens = counter.count(&text[paras[i].start..paras[end - 1].end]);
            while tokens > budget && end > i + 1 {
                end -= 1;
                tokens = counter.count(&text[paras[i].start..paras[end - 1].end]);
            }
            chunks.push(PlannedChunk {
                range: paras[i].start..paras[end - 1].end,
                tokens,
                paragraphs: i..end,
            });
            i = end;
        }
        Ok(Self {
            budget,
            paragraphs: paras,
            chunks,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::EstimatedTokens;

    #[test]
    fn paragraphs_are_packed_whole_and_in_order() {
        let text = "אחת שתיים.\n\nשלוש ארבע חמש.\n\nשש.\n\nשבע שמונה תשע עשר.";
        let plan = ChunkPlan::new(text, &EstimatedTokens, 25).unwrap();
        assert!(plan.chunks.len() > 1);
        let mut next = 0;
        for c in &plan.chunks {
            assert!(c.tokens <= 25);
            assert_eq!(EstimatedTokens.count(&text[c.range.clone()]), c.tokens);
            assert_eq!(c.paragraphs.start, next);
            next = c.paragraphs.end;
        }
        assert_eq!(next, plan.paragraphs.len());
    }

    #[test]
    fn an_oversized_paragraph_gets_chunks_of_its_own() {
        let long = "מילה ".repeat(60);
        let text = format!("קצר.\n\n{}\n\nסוף.", long.trim());
        let plan = ChunkPlan::new(&text, &EstimatedTokens, 20).unwrap();
        let middle: Vec<&PlannedChunk> = plan
            .chunks
            .iter()
            .filter(|c| c.paragraphs == (1..2))
            .collect();
        assert!(middle.len() > 1);
        assert!(plan.chunks.iter().all(|c| c.tokens <= 20));
        assert_eq!(plan.chunks.first().unwrap().paragraphs, 0..1);
        assert_eq!(plan.chunks.last().unwrap().paragraphs, 2..3);
    }
}
