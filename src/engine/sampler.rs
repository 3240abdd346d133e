//! Turning logits into the next token: repetition penalty, temperature, top-k, top-p,
//! and a seeded generator so the same seed gives the same text.

/// Temperatures below this choose greedily: dividing by them overflows f32 logits, and at
/// 1e-5 any logit gap above 0.01 already leaves the runner-up a probability of e^-1000.
pub const GREEDY_BELOW: f32 = 1e-5;

/// Sampling settings, validated before they reach the engine.
#[derive(Debug, Clone, PartialEq)]
pub struct SamplingParams {
    /// 0 (or anything below [`GREEDY_BELOW`]) means greedy (argmax).
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

/// Chooses the next token from `logits`, given the tokens seen so far. Scaled logits are
/// f64, so no allowed temperature or penalty turns them into infinities or NaN.
pub fn sample(logits: &mut [f32], seen: &[u32], params: &SamplingParams, rng: &mut Rng) -> u32 {
    if params.repetition_penalty != 1.0 {
        apply_repetition_penalty(logits, seen, params.repetition_penalty);
    }
    if params.temperature < GREEDY_BELOW {
        return argmax(logits);
    }
    let inv_t = 1.0 / params.temperature as f64;
    let mut candidates: Vec<(u32, f64)> = logits
        .iter()
        .enumerate()
        .filter(|(_, l)| l.is_finite())
        .map(|(i, &l)| (i as u32, l as f64 * inv_t))
        .collect();
    if candidates.is_empty() {
        return argmax(logits);
    }
    let by_logit = |a: &(u32, f64), b: &(u32, f64)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
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
        .fold(f64::NEG_INFINITY, f64::max);
    let weights: Vec<f64> = candidates.iter().map(|c| (c.1 - max).exp()).collect();
    let mut r = rng.next_f64() * weights.iter().sum::<f64>();
    for (c, w) in candidates.iter().zip(&weights) {
        if r < *w {
            return c.0;
        }
        r -= w;
    }
    // Rounding left `r` past the last weight: the last token with any weight.
    candidates
        .iter()
        .zip(&weights)
        .rev()
        .find(|(_, &w)| w > 0.0)
        .map_or(candidates[0].0, |(c, _)| c.0)
}

/// Keeps the smallest most-likely-first prefix of `candidates` whose probability reaches
/// `top_p`. Sorts only as many candidates as the nucleus needs: the top 64, then 4× more
/// until the nucleus fits, so a peaked distribution never pays for a full sort.
fn nucleus(
    candidates: &mut Vec<(u32, f64)>,
    top_p: f64,
    by_logit: impl Fn(&(u32, f64), &(u32, f64)) -> std::cmp::Ordering + Copy,
) {
    let max = candidates
        .iter()
        .map(|c| c.1)
        .fold(f64::NEG_INFINITY, f64::max);
    let total: f64 = candidates.iter().map(|c| (c.1 - max).exp()).sum();
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
            cumulative += (candidates[i].1 - max).exp() / total;
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

/// Divides seen positive logits by `penalty` and multiplies negative ones, kept finite
/// (a penalty of 1e-30 or 1e30 would overflow an f32).
fn apply_repetition_penalty(logits: &mut [f32], seen: &[u32], penalty: f32) {
    let mut done = vec![false; logits.len()];
    let penalty = penalty as f64;
    for &t in seen {
        let t = t as usize;
        if t < logits.len() && !done[t] && logits[t].is_finite() {
            done[t] = true;
            let l = logits[t] as f64;
            let penalized = if l > 0.0 { l / penalty } else { l * penalty };
            logits[t] = penalized.clamp(f32::MIN as f64, f32::MAX as f64) as f32;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::{prop_assert, prop_assert_eq, prop_oneof, proptest, Strategy};

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
    fn tiny_temperatures_are_greedy() {
        let logits = vec![0.5, 2.0, 1.0, 2.0 - 1e-6];
        for t in [1e-40, 1e-38, 1e-20, 9e-6] {
            let p = SamplingParams {
                temperature: t,
                seed: 3,
                ..Default::default()
            };
            for seed in 0..8 {
                let got = sample(&mut logits.clone(), &[], &p, &mut Rng::new(seed, 0));
                assert_eq!(got, 1, "temperature {t}");
            }
        }
    }

    proptest! {
        /// Over the whole allowed ranges: a token inside the vocabulary whose logit was
        /// finite and among the top k, logits left finite, greedy below the threshold.
        #[test]
        fn any_allowed_parameters_give_a_finite_valid_choice(
            raw in proptest::collection::vec(-1e4f32..1e4, 1..64),
            temperature in prop_oneof![
                proptest::num::f32::POSITIVE | proptest::num::f32::SUBNORMAL | proptest::num::f32::ZERO,
                0.0f32..2.0,
            ].prop_filter("allowed: 0 to 2", |t| *t <= 2.0),
            top_p in prop_oneof![
                proptest::num::f32::POSITIVE | proptest::num::f32::SUBNORMAL,
                0.0f32..=1.0,
            ].prop_filter("allowed: (0, 1]", |p| *p > 0.0 && *p <= 1.0),
            top_k in 0usize..80,
            penalty in prop_oneof![
                proptest::num::f32::POSITIVE | proptest::num::f32::SUBNORMAL,
                0.5f32..2.0,
            ],
            seen_ids in proptest::collection::vec(0u32..80, 0..20),
            seed: u64,
        ) {
            let params = SamplingParams { temperature, top_p, top_k, repetition_penalty: penalty, seed };
            prop_assert!(params.validate().is_ok());
            let mut logits = raw.clone();
            let token = sample(&mut logits, &seen_ids, &params, &mut Rng::new(seed, 0)) as usize;
            prop_assert!(token < raw.len());
            prop_assert!(logits.iter().all(|l| l.is_finite()));
            if top_k > 0 && temperature >= GREEDY_BELOW {
                let better = logits.iter().filter(|&&l| l > logits[token]).count();
                prop_assert!(better < top_k, "token {token} is not among the top {top_k}");
            }
            if temperature < GREEDY_BELOW {
                prop_assert_eq!(token, argmax(&logits) as usize);
            }
        }
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
