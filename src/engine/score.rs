//! Exact probabilities of given continuations of one prompt: one prefill, then the
//! continuations' tokens teacher-forced through a trie, one batched forward per depth.
//!
//! Continuations that share a first token share that step; a continuation that ends where
//! a longer one goes on is scored as "these tokens, then not the longer one's next token",
//! so the scores of distinct outcomes never overlap.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use serde::Serialize;

use super::error::{EngineError, Result};
use super::generate::{LiveCounters, Sink, Step};
use super::model::Model;

/// The log-probability of each continuation and what computing them cost.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ContinuationScores {
    /// Natural-log probability of each continuation, in the order given.
    pub logprobs: Vec<f64>,
    /// Forward passes after the prefill (one per trie depth that has branches to expand).
    pub forwards: usize,
    /// Batch rows over those forward passes (trie nodes expanded).
    pub rows: usize,
}

#[derive(Default)]
struct Node {
    children: BTreeMap<u32, usize>,
    ends: Vec<usize>,
    logprob: f64,
}

/// The continuations as a prefix tree; node 0 is the prompt's end.
struct Trie {
    nodes: Vec<Node>,
}

impl Trie {
    fn new(continuations: &[Vec<u32>]) -> Self {
        let mut nodes = vec![Node::default()];
        for (i, ids) in continuations.iter().enumerate() {
            let mut at = 0;
            for &token in ids {
                at = match nodes[at].children.get(&token) {
                    Some(&child) => child,
                    None => {
                        nodes.push(Node::default());
                        let child = nodes.len() - 1;
                        nodes[at].children.insert(token, child);
                        child
                    }
                };
            }
            nodes[at].ends.push(i);
        }
        Self { nodes }
    }

    fn depth(&self, node: usize) -> usize {
        self.nodes[node]
            .children
            .values()
            .map(|&c| 1 + self.depth(c))
            .max()
            .unwrap_or(0)
    }
}

/// Scores `continuations` (each at least one token) after `prompt` under the model's
/// next-token distribution at `temperature` (logits divided by it; 1 is the model's own).
pub fn score_continuations(
    model: &Model,
    prompt: &[u32],
    continuations: &[Vec<u32>],
    temperature: f32,
    sink: &mut Sink<'_>,
    counters: &LiveCounters,
) -> Result<ContinuationScores> {
    if prompt.is_empty() {
        return Err(EngineError::InvalidParameter(
            "the prompt has no tokens".into(),
        ));
    }
    if continuations.is_empty() || continuations.iter().any(Vec::is_empty) {
        return Err(EngineError::InvalidParameter(
            "every continuation to score needs at least one token".into(),
        ));
    }
    if !(temperature.is_finite() && temperature > 0.0) {
        return Err(EngineError::InvalidParameter(format!(
            "scoring `temperature` must be > 0, got {temperature}"
        )));
    }
    let mut trie = Trie::new(continuations);
    let depth = trie.depth(0);
    let context = model.config().context_length;
    if prompt.len() + depth > context {
        return Err(EngineError::ContextOverflow {
            prompt_tokens: prompt.len(),
            max_tokens: depth,
            context,
        });
    }
    let mut cache = model.new_cache(1, prompt.len() + depth)?;
    let total = prompt.len();
    let mut logits = model
        .forward_checked(&[prompt.to_vec()], &mut cache, false, &mut |done| {
            sink(Step::Prompt { done, total })
        })?
        .to_vec2::<f32>()?;
    counters.prefills.fetch_add(1, Ordering::Relaxed);
    counters
        .prompt_tokens
        .fetch_add(prompt.len() as u64, Ordering::Relaxed);

    let mut scores = ContinuationScores {
        logprobs: vec![f64::NEG_INFINITY; continuations.len()],
        forwards: 0,
        rows: 0,
    };
    let mut frontier = vec![0usize]; // frontier[row] = the node whose logits are row `row`
    loop {
        let mut expand: Vec<(u32, usize, u32)> = Vec::new(); // (parent row, child, token)
        for (row, &node) in frontier.iter().enumerate() {
            let logprobs = log_softmax(&logits[row], temperature);
            let base = trie.nodes[node].logprob;
            let children: Vec<(u32, usize)> = trie.nodes[node]
                .children
                .iter()
                .map(|(&t, &c)| (t, c))
                .collect();
            let mut continuing = 0.0f64;
            for (token, child) in children {
                let lp = logprobs[token as usize];
                continuing += lp.exp();
                trie.nodes[child].logprob = base + lp;
                if trie.nodes[child].children.is_empty() {
                    for &i in &trie.nodes[child].ends {
                        scores.logprobs[i] = base + lp;
                    }
                } else {
                    expand.push((row as u32, child, token));
                }
            }
            // Continuations ending at an expanded node: these tokens, then none of the
            // longer ones' next tokens.
            let ends_here = base + (1.0 - continuing).max(0.0).ln();
            for &i in &trie.nodes[node].ends {
                scores.logprobs[i] = ends_here;
            }
        }
        if expand.is_empty() {
            break;
        }
        if !sink(Step::Prompt { done: total, total }) {
            return Err(EngineError::Cancelled);
        }
        let parents: Vec<u32> = expand.iter().map(|e| e.0).collect();
        cache.retain_rows(&parents)?;
        let batch: Vec<Vec<u32>> = expand.iter().map(|e| vec![e.2]).collect();
        logits = model.forward(&batch, &mut cache, false)?.to_vec2::<f32>()?;
        frontier = expand.iter().map(|e| e.1).collect();
        scores.forwards += 1;
        scores.rows += frontier.len();
        counters.decode_steps.fetch_add(1, Ordering::Relaxed);
    }
    Ok(scores)
}

/// `log softmax(logits / temperature)` in f64.
fn log_softmax(logits: &[f32], temperature: f32) -> Vec<f64> {
    let inv_t = 1.0 / temperature as f64;
    let max = logits
        .iter()
        .map(|&l| l as f64 * inv_t)
        .fold(f64::NEG_INFINITY, f64::max);
    let sum: f64 = logits.iter().map(|&l| (l as f64 * inv_t - max).exp()).sum();
    let log_z = max + sum.ln();
    logits.iter().map(|&l| l as f64 * inv_t - log_z).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trie_shares_prefixes_and_measures_depth() {
        let trie = Trie::new(&[vec![5, 6], vec![5, 7, 8], vec![9], vec![5]]);
        assert_eq!(trie.nodes[0].children.len(), 2, "5 and 9");
        assert_eq!(trie.depth(0), 3);
        let five = trie.nodes[0].children[&5];
        assert_eq!(trie.nodes[five].ends, [3]);
        assert_eq!(trie.nodes[five].children.len(), 2);
    }

    #[test]
    fn log_softmax_sums_to_one_at_any_temperature() {
        for t in [0.3f32, 1.0, 2.5] {
            let lp = log_softmax(&[1.0, -2.0, 0.5, 3.0], t);
            let total: f64 = lp.iter().map(|l| l.exp()).sum();
            assert!((total - 1.0).abs() < 1e-12, "{t}: {total}");
        }
    }
}
