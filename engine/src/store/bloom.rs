//! A small Bloom filter over row identities, so that duplicate checks against
//! the staged segments of a large transaction touch a segment only when the
//! row may be in it.

use std::hash::{BuildHasher, Hash};

/// Bits per key: about 1% false positives with 7 probes.
const BITS_PER_KEY: usize = 10;
const PROBES: u64 = 7;

#[derive(Clone)]
pub(crate) struct Bloom {
    bits: Vec<u64>,
}

impl std::fmt::Debug for Bloom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Bloom({} bits)", self.bits.len() * 64)
    }
}

/// A 64-bit hash of a key (fixed keys: stable within a process).
pub(crate) fn hash<T: Hash>(key: &T) -> u64 {
    std::hash::BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default().hash_one(key)
}

impl Bloom {
    /// A filter sized for `keys` keys.
    pub(crate) fn with_capacity(keys: usize) -> Bloom {
        let words = (keys.saturating_mul(BITS_PER_KEY) / 64).max(1);
        Bloom { bits: vec![0; words] }
    }

    fn probes(&self, h: u64) -> impl Iterator<Item = (usize, u64)> + '_ {
        let n = (self.bits.len() * 64) as u64;
        let h2 = h.rotate_left(32) | 1;
        (0..PROBES).map(move |i| {
            let bit = h.wrapping_add(i.wrapping_mul(h2)) % n;
            ((bit / 64) as usize, 1u64 << (bit % 64))
        })
    }

    pub(crate) fn insert(&mut self, h: u64) {
        let probes: Vec<(usize, u64)> = self.probes(h).collect();
        for (w, m) in probes {
            self.bits[w] |= m;
        }
    }

    pub(crate) fn may_contain(&self, h: u64) -> bool {
        self.probes(h).all(|(w, m)| self.bits[w] & m != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_false_negatives_and_few_false_positives() {
        let mut b = Bloom::with_capacity(1000);
        for i in 0..1000u64 {
            b.insert(hash(&i));
        }
        assert!((0..1000u64).all(|i| b.may_contain(hash(&i))));
        let fp = (1000..11_000u64).filter(|i| b.may_contain(hash(i))).count();
        assert!(fp < 500, "{fp} false positives in 10000");
    }
}
