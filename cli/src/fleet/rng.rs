//! Deterministic randomness: SplitMix64 over the seed, a client and a salt.
//!
//! Invariants: no global or thread RNG; the same (seed, client, salt) gives
//! the same stream on every platform (only wrapping integer arithmetic and
//! an exact `u64 -> f64` mapping of the top 53 bits).

use super::SECOND;

pub(super) fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

pub(super) fn hash3(seed: u64, client: u32, salt: u64) -> u64 {
    splitmix(seed ^ splitmix(u64::from(client) ^ splitmix(salt)))
}

pub(super) fn unit(h: u64) -> f64 {
    (h >> 11) as f64 / (1u64 << 53) as f64
}

/// A SplitMix64 stream.
#[derive(Debug, Clone, Copy)]
pub(super) struct Rng(pub(super) u64);

impl Rng {
    pub(super) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub(super) fn unit(&mut self) -> f64 {
        unit(self.next())
    }

    pub(super) fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// Uniform in `lo..hi` (ms), rounded down to whole seconds.
    pub(super) fn span(&mut self, lo: i64, hi: i64) -> i64 {
        let w = (hi - lo).max(1) as u64;
        let v = lo + (self.next() % w) as i64;
        v - v.rem_euclid(SECOND)
    }
}
