//! Turning logits into the next token: repetition penalty, temperature, top-k, top-p,
//! and a seeded generator so the same seed gives the same text.

/// Sampling settings, validated before they reach the engine.
#[derive(Debug, Clone, PartialEq)]
pub struct SamplingParams {
    /// 0 means greedy (argmax).
    pub temperature: f32,
    /// Nucleus sampling: keep the smallest set of tokens whose probability reaches this.
    pub top_p: f32,
    /// Keep only the k most likely tokens; 0 keeps all.
    pub top_k: usize,
    /// > 1 discourages tokens already in the prompt or the output (as in CTRL/HF).
    pub repetition_penalty: f32,
    /// Seed of the random generator.
    pub seed: u64,
}

impl Default for SamplingParams {
    fn default() -> Self {
        Self {
            temperature: 0.0,
            top_p: 1.0,
            top_k: 0,
            repetition_penalty: 1.0,
            seed: 0,
        }
    }
}

impl SamplingParams {
    /// Checks every field, naming the first one out of range.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.temperature.is_finite() && self.temperature >= 0.0) {
            return Err(format!(
                "`temperature` must be >= 0, got {}",
                self.temperature
            ));
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return Err(format!("`top_p` must be in (0, 1], got {}", self.top_p));
        }
        if !(self.repetition_penalty.is_finite() && self.repetition_penalty > 0.0) {
            return Err(format!(
                "`repetition_penalty` must be > 0, got {}",
                self.repetition_penalty
            ));
        }
        Ok(())
    }
}

/// SplitMix64: tiny, fast, and stable across crate versions (so seeds stay meaningful).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator for stream `stream` of seed `seed` (sample i of k uses stream i).
    pub fn new(seed: u64, stream: u64) -> Self {
        let mut rng = Self(seed ^ stream.wrapping_mul(0xD1B5_4A32_D192_ED03));
        rng.next_u64();
        rng
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Chooses the next token from `logits`, given the tokens seen so far.
pub fn sample(logits: &mut [f32], seen: &[u32], params: &SamplingParams, rng: &mut Rng) -> u32 {
    if params.repetition_penalty != 1.0 {
        apply_repetition_penalty(logits, seen, params.repetition_penalty);
    }
    if params.temperature == 0.0 {
        return argmax(logits);
    }
    let inv_t = 1.0 / params.temperature;
    let mut candidates: Vec<(u32, f32)> = logits
        .iter()
        .enumerate()
        .filter(|(_, l)| l.is_finite())
        .map(|(i, &l)| (i as u32, l * inv_t))
        .collect();
    if candidates.is_empty() {
        return argmax(logits);
    }
    let by_logit = |a: &(u32, f32), b: &(u32, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
    if params.top_k > 0 && params.top_k < candidates.len() {
        candidates.select_nth_unstable_by(params.top_k - 1, by_logit);
        candidates.truncate(params.top_k);
    }
    if params.top_p < 1.0 {
        nucleus(&mut candidates, params.top_p as f64, by_logit);
    }
    // Candidates are either all (any order: sampling scans ids in a fixed order) or the
    // kept set sorted most likely first; both are deterministic.
    let max = candidates
        .iter()
        .map(|c| c.1)
        .fold(f32::NEG_INFINITY, f32::max);
    let weights: Vec<f64> = candidates
        .iter()
        .map(|c| ((c.1 - max) as f64).exp())
        .collect();
    let mut r = rng.next_f64() * weights.iter().sum::<f64>();
    for (c, w) in candidates.iter().zip(&weights) {
        if r < *w {
            return c.0;
        }
        r -= w;
    }
    candidates[candidates.len() - 1].0
}

/// Keeps the smallest most-likely-first prefix of `candidates` whose probability reaches
/// `top_p`. Sorts only as many candidates as the nucleus needs: the top 64, then 4× more
/// until the nucleus fits, so a peaked distribution never pays for a full sort.
fn nucleus(
    candidates: &mut Vec<(u32, f32)>,
    top_p: f64,
    by_logit: impl Fn(&(u32, f32), &(u32, f32)) -> std::cmp::Ordering + Copy,
) {
    let max = candidates
        .iter()
        .map(|c| c.1)
        .fold(f32::NEG_INFINITY, f32::max);
    let total: f64 = candidates.iter().map(|c| ((c.1 - max) as f64).exp()).sum();
    let mut width = 64;
    loop {
        let full = width >= candidates.len();
        if full {
            candidates.sort_unstable_by(by_logit);
        } else {
            candidates.select_nth_unstable_by(width - 1, by_logit);
            candidates[..width].sort_unstable_by(by_logit);
        }
        let limit = candidates.len().min(width);
        let mut cumulative = 0.0;
        for i in 0..limit {
            cumulative += ((candidates[i].1 - max) as f64).exp() / total;
            if cumulative >= top_p {
                candidates.truncate(i + 1);
                return;
            }
        }
        if full {
            return;
        }
        width *= 4;
    }
}

/// The index of the largest logit (the first one on ties, like torch and llama.cpp).
pub fn argmax(logits: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &l) in logits.iter().enumerate() {
        if l > logits[best] {
            best = i;
        }
    }
    best as u32
}

fn apply_repetition_penalty(logits: &mut [f32], seen: &[u32], penalty: f32) {
    let mut done = vec![false; logits.len()];
    for &t in seen {
        let t = t as usize;
        if t < logits.len() && !done[t] {
            done[t] = true;
            let l = &mut logits[t];
            *l = if *l > 0.0 { *l / penalty } else { *l * penalty };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_takes_the_first_maximum() {
        let mut l = vec![0.1, 3.0, 3.0, -1.0];
        assert_eq!(
            sample(&mut l, &[], &SamplingParams::default(), &mut Rng::new(0, 0)),
            1
        );
    }

    #[test]
    fn same_seed_same_choices_other_seed_other_choices() {
        let params = SamplingParams {
            temperature: 1.0,
            ..Default::default()
        };
        let logits: Vec<f32> = (0..50).map(|i| (i % 7) as f32 * 0.3).collect();
        let run = |seed| {
            let mut rng = Rng::new(seed, 0);
            (0..40)
                .map(|_| sample(&mut logits.clone(), &[], &params, &mut rng))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
    }

    #[test]
    fn top_k_one_is_greedy_and_top_p_keeps_the_nucleus() {
        let logits = vec![0.0, 5.0, 4.9, -3.0];
        let mut rng = Rng::new(1, 0);
        let k1 = SamplingParams {
            temperature: 1.0,
            top_k: 1,
            ..Default::default()
        };
        let p_small = SamplingParams {
            temperature: 1.0,
            top_p: 0.5,
            ..Default::default()
        };
        for _ in 0..20 {
            assert_eq!(sample(&mut logits.clone(), &[], &k1, &mut rng), 1);
            assert_eq!(sample(&mut logits.clone(), &[], &p_small, &mut rng), 1);
        }
    }

    #[test]
    fn repetition_penalty_lowers_seen_tokens() {
        let mut l = vec![2.0, 1.9, -1.0];
        let p = SamplingParams {
            repetition_penalty: 1.5,
            ..Default::default()
        };
        assert_eq!(sample(&mut l, &[0], &p, &mut Rng::new(0, 0)), 1);
        assert!((l[0] - 2.0 / 1.5).abs() < 1e-6);
    }

    #[test]
    fn validation_names_the_field() {
        let p = SamplingParams {
            top_p: 0.0,
            ..Default::default()
        };
        assert!(p.validate().unwrap_err().contains("`top_p`"));
    }
}
