//! The synthesizer's own deterministic random numbers: SplitMix64 for seeding,
//! xoshiro256** for the stream, Marsaglia's polar method for normals. Written here so
//! that a seed gives the same weights whatever version of any crate is in use.

/// One step of SplitMix64 (Steele, Lea, Flood 2014): advances `state`, returns a mixed word.
pub(super) fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// FNV-1a over `bytes`: turns a tensor's name into a stream id.
pub(super) fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xCBF2_9CE4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01B3)
    })
}

/// A stream of standard normal samples, independent per (seed, key, chunk).
pub(super) struct Normal {
    /// xoshiro256** state.
    s: [u64; 4],
    /// The second sample of the last polar-method pair.
    spare: Option<f64>,
}

impl Normal {
    /// The stream for chunk `chunk` of the weight matrix named `key` under `seed`.
    pub(super) fn new(seed: u64, key: &str, chunk: u64) -> Self {
        let mut state = seed;
        let mut mixed = splitmix64(&mut state) ^ fnv1a64(key.as_bytes());
        mixed = splitmix64(&mut mixed) ^ chunk;
        let mut s = [0u64; 4];
        for word in &mut s {
            *word = splitmix64(&mut mixed);
        }
        Self { s, spare: None }
    }

    /// xoshiro256** (Blackman, Vigna 2018).
    fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// Uniform in (-1, 1) with 53 random bits.
    fn symmetric(&mut self) -> f64 {
        // Top 53 bits as an integer, exactly representable in f64.
        let x = (self.next_u64() >> 11) as f64;
        x * (2.0 / (1u64 << 53) as f64) - 1.0
    }

    /// The next N(0, 1) sample.
    pub(super) fn sample(&mut self) -> f64 {
        if let Some(z) = self.spare.take() {
            return z;
        }
        loop {
            let u = self.symmetric();
            let v = self.symmetric();
            let s = u * u + v * v;
            if s > 0.0 && s < 1.0 {
                let m = (-2.0 * s.ln() / s).sqrt();
                self.spare = Some(v * m);
                return u * m;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn first(seed: u64, key: &str, chunk: u64) -> Vec<f64> {
        let mut n = Normal::new(seed, key, chunk);
        (0..8).map(|_| n.sample()).collect()
    }

    #[test]
    fn streams_are_reproducible_and_distinct() {
        assert_eq!(first(7, "k", 0), first(7, "k", 0));
        assert_ne!(first(7, "k", 0), first(7, "k", 1));
        assert_ne!(first(7, "k", 0), first(7, "j", 0));
        assert_ne!(first(7, "k", 0), first(8, "k", 0));
    }

    #[test]
    fn samples_have_unit_variance() {
        let mut n = Normal::new(42, "variance", 0);
        let count = 200_000;
        let (mut sum, mut sq) = (0.0, 0.0);
        for _ in 0..count {
            let z = n.sample();
            sum += z;
            sq += z * z;
        }
        let mean = sum / count as f64;
        let var = sq / count as f64 - mean * mean;
        assert!(mean.abs() < 0.01, "mean {mean}");
        assert!((var - 1.0).abs() < 0.02, "variance {var}");
    }
}
