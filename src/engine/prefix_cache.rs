//! Prompt prefixes already computed, kept as KV blocks so that a prompt starting with the
//! same tokens skips them (vLLM's automatic prefix caching, llama-server's `cache_prompt`).
//!
//! A block is [`BLOCK_TOKENS`] prompt positions of every layer's keys and values, named by a
//! hash of its tokens and of the block before it, so a block stands for its whole prefix.
//! A prompt walks its blocks from the start and copies every stored one into its cache
//! (when it joins, and again before each step, for blocks a prompt beside it computed
//! meanwhile); a prompt stores the blocks it computes as its prefill passes them. Blocks are evicted least recently used
//! (the deepest first among equals, so a block never outlives the prefix it extends) to keep
//! their bytes within the budget.
//!
//! Keys at a position depend only on the tokens up to it, and the model computes a prompt's
//! rows the same way however the prompt is cut into steps, so a reused block holds the very
//! bits the prompt would compute itself.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use candle_core::Tensor;

use super::model::KvCache;

/// Prompt positions per block.
pub const BLOCK_TOKENS: usize = 32;

/// A block's name: a hash of its tokens and of the blocks before it.
pub type BlockKey = u64;

struct Block {
    parent: Option<BlockKey>,
    tokens: Vec<u32>,
    depth: usize,
    kv: Vec<(Tensor, Tensor)>,
    bytes: usize,
    last_used: u64,
}

/// What the cache holds now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PrefixCacheUsage {
    /// Blocks stored.
    pub blocks: usize,
    /// Their keys and values, in bytes.
    pub bytes: usize,
}

/// The stored blocks and their budget.
pub struct PrefixCache {
    budget: usize,
    used: usize,
    blocks: HashMap<BlockKey, Block>,
    clock: u64,
}

impl PrefixCache {
    /// A cache keeping at most `budget` bytes of keys and values (0: keeps nothing).
    pub fn new(budget: usize) -> Self {
        Self {
            budget,
            used: 0,
            blocks: HashMap::new(),
            clock: 0,
        }
    }

    /// Blocks and bytes held.
    pub fn usage(&self) -> PrefixCacheUsage {
        PrefixCacheUsage {
            blocks: self.blocks.len(),
            bytes: self.used,
        }
    }

    /// Copies into `cache` (one sequence holding the first positions of `prompt`, a whole
    /// number of blocks) the stored blocks that continue it, and returns how many positions
    /// they add. The prompt's last token is never covered: its logits are what the prompt
    /// is run for.
    pub fn restore(&mut self, prompt: &[u32], cache: &mut KvCache) -> candle_core::Result<usize> {
        let have = cache.len();
        if self.blocks.is_empty() || prompt.is_empty() || !have.is_multiple_of(BLOCK_TOKENS) {
            return Ok(0);
        }
        self.clock += 1;
        let usable = (prompt.len() - 1) / BLOCK_TOKENS;
        let held = have / BLOCK_TOKENS;
        let mut parent = chain_key(prompt, held);
        let mut found = Vec::new();
        for tokens in prompt.chunks_exact(BLOCK_TOKENS).take(usable).skip(held) {
            let key = block_key(parent, tokens);
            match self.blocks.get(&key) {
                Some(b) if b.parent == parent && b.tokens == tokens => found.push(key),
                _ => break,
            }
            parent = Some(key);
        }
        for key in &found {
            let block = self.blocks.get_mut(key).expect("found above");
            block.last_used = self.clock;
            cache.push_positions(&block.kv)?;
        }
        Ok(found.len() * BLOCK_TOKENS)
    }

    /// Whether blocks are kept at all (a budget above 0).
    pub fn is_on(&self) -> bool {
        self.budget > 0
    }

    /// Stores the whole blocks of `prompt` that `cache` (one sequence, the prompt computed)
    /// holds and the cache does not, evicting older blocks to stay within the budget.
    pub fn store(&mut self, prompt: &[u32], cache: &KvCache) -> candle_core::Result<()> {
        if self.budget == 0 {
            return Ok(());
        }
        self.clock += 1;
        let whole = prompt.len().min(cache.len()) / BLOCK_TOKENS;
        let mut parent = None;
        for (depth, tokens) in prompt.chunks_exact(BLOCK_TOKENS).take(whole).enumerate() {
            let key = block_key(parent, tokens);
            match self.blocks.get_mut(&key) {
                Some(b) if b.parent == parent && b.tokens == tokens => b.last_used = self.clock,
                // Another prefix with the same hash holds the key: this chain stops here.
                Some(_) => return Ok(()),
                None => {
                    let kv = cache.read_positions(depth * BLOCK_TOKENS, BLOCK_TOKENS)?;
                    let bytes = kv
                        .iter()
                        .map(|(k, v)| tensor_bytes(k) + tensor_bytes(v))
                        .sum();
                    if !self.make_room(bytes) {
                        return Ok(());
                    }
                    self.used += bytes;
                    self.blocks.insert(
                        key,
                        Block {
                            parent,
                            tokens: tokens.to_vec(),
                            depth,
                            kv,
                            bytes,
                            last_used: self.clock,
                        },
                    );
                }
            }
            parent = Some(key);
        }
        Ok(())
    }

    /// Evicts blocks not used by the prompt being stored until `bytes` more fit; `false`
    /// when they cannot.
    fn make_room(&mut self, bytes: usize) -> bool {
        while self.used + bytes > self.budget {
            let victim = self
                .blocks
                .iter()
                .filter(|(_, b)| b.last_used < self.clock)
                .min_by_key(|(_, b)| (b.last_used, std::cmp::Reverse(b.depth)))
                .map(|(&key, _)| key);
            let Some(key) = victim else {
                return false;
            };
            if let Some(block) = self.blocks.remove(&key) {
                self.used -= block.bytes;
            }
        }
        true
    }
}

/// The name of the block of `prompt` that starts at position `at`, when one could be
/// stored and restored there: `at` starts a block, and the block is whole and leaves the
/// prompt's last token out. Prompts with equal names there share every position before
/// the block's end.
pub fn block_at(prompt: &[u32], at: usize) -> Option<BlockKey> {
    let index = at / BLOCK_TOKENS;
    if !at.is_multiple_of(BLOCK_TOKENS) || index >= prompt.len().saturating_sub(1) / BLOCK_TOKENS {
        return None;
    }
    chain_key(prompt, index + 1)
}

/// The name of the first `blocks` blocks of `prompt` (`None` for none).
fn chain_key(prompt: &[u32], blocks: usize) -> Option<BlockKey> {
    prompt
        .chunks_exact(BLOCK_TOKENS)
        .take(blocks)
        .fold(None, |parent, tokens| Some(block_key(parent, tokens)))
}

fn block_key(parent: Option<BlockKey>, tokens: &[u32]) -> BlockKey {
    let mut hasher = DefaultHasher::new();
    parent.hash(&mut hasher);
    tokens.hash(&mut hasher);
    hasher.finish()
}

fn tensor_bytes(t: &Tensor) -> usize {
    t.elem_count() * t.dtype().size_in_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    const LAYERS: usize = 2;
    const HEADS: usize = 2;
    const DIM: usize = 4;

    /// A one-sequence cache whose keys and values at position p are all `value(p)`.
    fn filled(len: usize, value: impl Fn(usize) -> f32) -> KvCache {
        let mut cache = KvCache::new(LAYERS, 1, HEADS, DIM, 256, &Device::Cpu).unwrap();
        for p in 0..len {
            let t = Tensor::full(value(p), (1, HEADS, 1, DIM), &Device::Cpu).unwrap();
            let kv = vec![(t.clone(), t); LAYERS];
            cache.push_positions(&kv).unwrap();
        }
        cache
    }

    fn position_values(cache: &KvCache) -> Vec<f32> {
        let kv = cache.read_positions(0, cache.len()).unwrap();
        let k = kv[LAYERS - 1].0.narrow(1, 1, 1).unwrap();
        let k = k.narrow(3, 0, 1).unwrap().flatten_all().unwrap();
        k.to_vec1().unwrap()
    }

    fn block_bytes() -> usize {
        LAYERS * 2 * HEADS * BLOCK_TOKENS * DIM * 4
    }

    #[test]
    fn a_shared_prefix_is_restored_and_the_last_token_left_to_compute() {
        let mut prefix = PrefixCache::new(usize::MAX);
        let prompt: Vec<u32> = (0..100).collect();
        prefix.store(&prompt, &filled(100, |p| p as f32)).unwrap();
        assert_eq!(prefix.usage().blocks, 3);
        assert_eq!(prefix.usage().bytes, 3 * block_bytes());

        // Same first 70 tokens, then different ones: two whole blocks match.
        let mut other: Vec<u32> = (0..70).collect();
        other.extend(500..540);
        let mut cache = filled(0, |_| 0.0);
        assert_eq!(prefix.restore(&other, &mut cache).unwrap(), 64);
        let expected: Vec<f32> = (0..64).map(|p| p as f32).collect();
        assert_eq!(position_values(&cache), expected);

        // A prompt of exactly three blocks keeps its last block to compute.
        let mut cache = filled(0, |_| 0.0);
        assert_eq!(prefix.restore(&prompt[..96], &mut cache).unwrap(), 64);
        // A different first token shares nothing, whatever follows.
        let mut shifted = prompt.clone();
        shifted[0] = 9;
        let mut cache = filled(0, |_| 0.0);
        assert_eq!(prefix.restore(&shifted, &mut cache).unwrap(), 0);
        assert!(cache.is_empty());
    }

    #[test]
    fn a_prompt_partly_computed_continues_from_the_blocks_another_stored_meanwhile() {
        let mut prefix = PrefixCache::new(usize::MAX);
        let prompt: Vec<u32> = (0..100).collect();
        // Its first block computed by itself, the next two stored by a prompt beside it.
        let mut cache = filled(32, |p| p as f32);
        assert_eq!(prefix.restore(&prompt, &mut cache).unwrap(), 0);
        prefix
            .store(&prompt[..96], &filled(96, |p| p as f32))
            .unwrap();
        assert_eq!(prefix.restore(&prompt, &mut cache).unwrap(), 64);
        let expected: Vec<f32> = (0..96).map(|p| p as f32).collect();
        assert_eq!(position_values(&cache), expected);
        // Mid-block, nothing is restored: blocks start at multiples of BLOCK_TOKENS.
        let mut cache = filled(40, |p| p as f32);
        assert_eq!(prefix.restore(&prompt, &mut cache).unwrap(), 0);
    }

    #[test]
    fn prompts_sharing_a_prefix_name_its_blocks_alike() {
        let a: Vec<u32> = (0..100).collect();
        let mut b: Vec<u32> = (0..70).collect();
        b.extend(500..540);
        assert_eq!(block_at(&a, 0), block_at(&b, 0));
        assert_eq!(block_at(&a, 32), block_at(&b, 32));
        assert_ne!(block_at(&a, 64), block_at(&b, 64));
        assert!(block_at(&a, 64).is_some());
        // Not at a block's start; the block holding the last token; past the end.
        assert_eq!(block_at(&a, 16), None);
        assert_eq!(block_at(&a[..96], 64), None);
        assert_eq!(block_at(&a, 96), None);
        // The name is the one `store` files the block under.
        let mut prefix = PrefixCache::new(usize::MAX);
        prefix.store(&a, &filled(100, |p| p as f32)).unwrap();
        let key = block_at(&a, 32).unwrap();
        assert_eq!(prefix.blocks[&key].tokens, a[32..64]);
    }

    #[test]
    fn the_budget_evicts_least_recently_used_blocks_deepest_first() {
        let mut prefix = PrefixCache::new(3 * block_bytes());
        let a: Vec<u32> = (0..64).collect();
        let b: Vec<u32> = (1000..1064).collect();
        prefix.store(&a, &filled(64, |_| 1.0)).unwrap();
        prefix.store(&b, &filled(64, |_| 2.0)).unwrap();
        // Four blocks do not fit in three: a's second block (the deepest of the oldest) went.
        assert_eq!(prefix.usage().blocks, 3);
        let mut cache = filled(0, |_| 0.0);
        let mut longer = a.clone();
        longer.push(7);
        assert_eq!(prefix.restore(&longer, &mut cache).unwrap(), 32);
        let mut cache = filled(0, |_| 0.0);
        let mut longer = b.clone();
        longer.push(7);
        assert_eq!(prefix.restore(&longer, &mut cache).unwrap(), 64);
        assert!(prefix.usage().bytes <= 3 * block_bytes());
    }

    #[test]
    fn a_zero_budget_keeps_nothing_and_a_prompt_larger_than_the_budget_keeps_what_fits() {
        let mut none = PrefixCache::new(0);
        let prompt: Vec<u32> = (0..128).collect();
        none.store(&prompt, &filled(128, |_| 1.0)).unwrap();
        assert_eq!(none.usage(), PrefixCacheUsage::default());

        let mut small = PrefixCache::new(2 * block_bytes());
        small.store(&prompt, &filled(128, |_| 1.0)).unwrap();
        assert_eq!(small.usage().blocks, 2);
        let mut cache = filled(0, |_| 0.0);
        assert_eq!(small.restore(&prompt, &mut cache).unwrap(), 64);
    }
}
