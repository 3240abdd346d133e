//! Counts of how many tokens each expert of each MoE layer received.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

/// Per-layer, per-expert token counts, updated by every forward pass.
#[derive(Debug, Default)]
pub struct ExpertUsage {
    counts: Vec<Vec<AtomicU64>>,
}

/// A copy of the counts at one moment.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ExpertUsageSnapshot {
    /// `per_layer[layer][expert]`: tokens routed to that expert.
    pub per_layer: Vec<Vec<u64>>,
}

impl ExpertUsage {
    /// Zeroed counters for `n_layers` layers of `n_experts` experts.
    pub fn new(n_layers: usize, n_experts: usize) -> Self {
        let counts = (0..n_layers)
            .map(|_| (0..n_experts).map(|_| AtomicU64::new(0)).collect())
            .collect();
        Self { counts }
    }

    /// Adds `tokens` to expert `expert` of layer `layer`.
    pub fn record(&self, layer: usize, expert: usize, tokens: u64) {
        if let Some(c) = self.counts.get(layer).and_then(|l| l.get(expert)) {
            c.fetch_add(tokens, Ordering::Relaxed);
        }
    }

    /// The counts now.
    pub fn snapshot(&self) -> ExpertUsageSnapshot {
        ExpertUsageSnapshot {
            per_layer: self
                .counts
                .iter()
                .map(|l| l.iter().map(|c| c.load(Ordering::Relaxed)).collect())
                .collect(),
        }
    }

    /// Sets every count back to zero.
    pub fn reset(&self) {
        for c in self.counts.iter().flatten() {
            c.store(0, Ordering::Relaxed);
        }
    }
}
