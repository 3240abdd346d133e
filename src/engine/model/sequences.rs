//! One forward pass over the new tokens of several independent sequences, each at its own
//! position with its own cache: the step a continuous-batching scheduler runs (decode rows
//! of running sequences beside a chunk of a newcomer's prompt). Every matrix product and
//! every expert sees all the rows at once; rotary positions, cache writes and attention
//! stay per sequence.

use candle_core::{Module, Tensor};

use super::{FeedForward, KvCache, Model};
use crate::engine::error::{EngineError, Result};

/// One sequence's share of a step.
pub struct SequenceStep<'a> {
    /// Its new tokens (a prompt chunk, or the one token just sampled).
    pub tokens: &'a [u32],
    /// Its cache (one sequence), holding everything before `tokens`.
    pub cache: &'a mut KvCache,
    /// Whether the step should return logits for its last token.
    pub logits: bool,
    /// Whether `tokens` are prompt tokens (not the one token a sample just drew).
    pub prompt: bool,
}

impl Model {
    /// Runs `steps` as one batch; returns, per step, the logits of its last token when it
    /// asked for them. Every cache advances by its step's tokens. `go_on()` is asked before
    /// every layer's attention and feed-forward: `false` stops with
    /// [`EngineError::Cancelled`] (the caches are then unusable).
    pub fn forward_sequences(
        &self,
        steps: &mut [SequenceStep<'_>],
        go_on: &mut dyn FnMut() -> bool,
    ) -> Result<Vec<Option<Vec<f32>>>> {
        self.check_steps(steps)?;
        // A step with prompt tokens runs every product tiled, so that a prompt's rows round
        // the same however it was cut into steps (see `linear::with_rows_tiled`). Decode-only
        // steps keep the one-row kernels for the experts that get a single row: tiled, one
        // row is up to 0.7× as fast on large memory-bound matrices.
        let tiled = steps.iter().any(|s| s.prompt);
        super::linear::with_rows_tiled(tiled, || self.forward_steps(steps, go_on))
    }

    fn forward_steps(
        &self,
        steps: &mut [SequenceStep<'_>],
        go_on: &mut dyn FnMut() -> bool,
    ) -> Result<Vec<Option<Vec<f32>>>> {
        let mut parts = Vec::with_capacity(steps.len());
        let mut ids = Vec::new();
        for step in steps.iter() {
            parts.push((ids.len(), step.tokens.len()));
            ids.extend_from_slice(step.tokens);
        }
        let rows = ids.len();
        let wanted: Vec<u32> = parts
            .iter()
            .zip(steps.iter())
            .filter(|(_, s)| s.logits)
            .map(|(&(first, n), _)| (first + n - 1) as u32)
            .collect();
        let eps = self.config.rms_eps as f32;
        let mut caches: Vec<&mut KvCache> = steps.iter_mut().map(|s| &mut *s.cache).collect();
        let mut x = self
            .embed
            .forward(&Tensor::from_vec(ids, (1, rows), &self.device)?)?;
        let n_layers = self.blocks.len();
        let mut check = || {
            if go_on() {
                Ok(())
            } else {
                Err(EngineError::Cancelled)
            }
        };
        for (i, block) in self.blocks.iter().enumerate() {
            check()?;
            let h = candle_nn::ops::rms_norm(&x, &block.attn_norm, eps)?;
            let attn = block
                .attn
                .forward_parts(&h, i, &parts, &mut caches, &self.rope)?;
            x = (x + attn)?;
            if i + 1 == n_layers {
                // Only the rows whose logits are wanted go on (see `forward_chunk`).
                if wanted.is_empty() {
                    break;
                }
                let idx = Tensor::new(wanted.as_slice(), &self.device)?;
                x = x.index_select(&idx, 1)?;
            }
            check()?;
            let h = candle_nn::ops::rms_norm(&x, &block.ffn_norm, eps)?;
            let h = match &block.ffn {
                FeedForward::Dense(mlp) => mlp.forward(&h)?,
                FeedForward::Moe(moe) => moe.forward(&h, &mut check)?,
            };
            x = (x + h)?;
        }
        for (cache, &(_, n)) in caches.iter_mut().zip(&parts) {
            cache.advance(n);
        }
        let mut logits = if wanted.is_empty() {
            Vec::new()
        } else {
            let x = candle_nn::ops::rms_norm(&x, &self.norm, eps)?;
            self.output.forward(&x)?.squeeze(0)?.to_vec2::<f32>()?
        }
        .into_iter();
        Ok(steps
            .iter()
            .map(|s| if s.logits { logits.next() } else { None })
            .collect())
    }

    fn check_steps(&self, steps: &[SequenceStep<'_>]) -> Result<()> {
        if steps.is_empty() {
            return Err(EngineError::InvalidParameter(
                "a step needs at least one sequence".into(),
            ));
        }
        for (i, step) in steps.iter().enumerate() {
            if step.tokens.is_empty() {
                return Err(EngineError::InvalidParameter(format!(
                    "sequence {i} of the step has no tokens"
                )));
            }
            if step.cache.batch() != 1 {
                return Err(EngineError::InvalidParameter(format!(
                    "sequence {i} of the step has a cache of {} rows, not one",
                    step.cache.batch()
                )));
            }
            self.check_vocab(step.tokens.iter())?;
            let end = step.cache.len() + step.tokens.len();
            if end > step.cache.capacity() {
                return Err(EngineError::ContextOverflow {
                    prompt_tokens: end,
                    max_tokens: 0,
                    context: step.cache.capacity(),
                });
            }
        }
        Ok(())
    }
}
