//! Hashing of row identities: a fast hasher for the duplicate-detection key
//! sets, and a small Bloom filter so that duplicate checks against the staged
//! segments of a large transaction touch a segment only when the row may be
//! in it.

use std::collections::HashSet;
use std::hash::{BuildHasher, BuildHasherDefault, Hash, Hasher};

/// Bits per key: about 1% false positives with 8 probes in one block.
const BITS_PER_KEY: usize = 12;
/// Probes per key, all inside one 512-bit block (one cache line).
const PROBES: u32 = 8;
/// u64 words per block.
const BLOCK_WORDS: usize = 8;

/// A blocked Bloom filter: each key sets and tests bits of one 512-bit
/// block, so a lookup costs one cache miss instead of one per probe.
#[derive(Clone)]
pub(crate) struct Bloom {
    bits: Vec<u64>,
    block_mask: usize,
}

impl std::fmt::Debug for Bloom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Bloom({} bits)", self.bits.len() * 64)
    }
}

/// A multiply-rotate hasher (the Fx scheme) for small fixed-size keys: much
/// cheaper than SipHash on the hot duplicate-check path. Keys are row
/// identities, whose collisions cost only time, never correctness.
#[derive(Default, Clone, Copy)]
pub(crate) struct KeyHasher(u64);

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl KeyHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for KeyHasher {
    #[inline]
    fn finish(&self) -> u64 {
        // Spread the entropy into the high bits hash tables use.
        fmix64(self.0)
    }
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut w = [0u8; 8];
            w[..chunk.len()].copy_from_slice(chunk);
            self.add(u64::from_le_bytes(w));
        }
    }
    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }
    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }
    #[inline]
    fn write_i64(&mut self, i: i64) {
        self.add(i as u64);
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
    #[inline]
    fn write_isize(&mut self, i: isize) {
        self.add(i as u64);
    }
}

/// The murmur3 64-bit finaliser.
#[inline]
fn fmix64(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^ (k >> 33)
}

/// A set of row identities.
pub(crate) type KeySet<T> = HashSet<T, BuildHasherDefault<KeyHasher>>;

/// A 64-bit hash of a key.
pub(crate) fn hash<T: Hash>(key: &T) -> u64 {
    BuildHasherDefault::<KeyHasher>::default().hash_one(key)
}

impl Bloom {
    /// A filter sized for `keys` keys (a power-of-two number of blocks).
    pub(crate) fn with_capacity(keys: usize) -> Bloom {
        let blocks = (keys.saturating_mul(BITS_PER_KEY) / (64 * BLOCK_WORDS))
            .max(1)
            .next_power_of_two();
        Bloom {
            bits: vec![0; blocks * BLOCK_WORDS],
            block_mask: blocks - 1,
        }
    }

    /// The block of `h` and the 8 bit positions (0..512) inside it, taken
    /// from independent 9-bit slices of the hash's low half and a remix.
    #[inline]
    fn block_and_bits(&self, h: u64) -> (usize, [u16; PROBES as usize]) {
        let block = ((h >> 32) as usize) & self.block_mask;
        let mut bits = [0u16; PROBES as usize];
        let mut x = h as u32 as u64 | (fmix64(h) << 32);
        for b in &mut bits {
            *b = (x & 511) as u16;
            x >>= 8;
        }
        (block * BLOCK_WORDS, bits)
    }

    pub(crate) fn insert(&mut self, h: u64) {
        let (base, bits) = self.block_and_bits(h);
        for b in bits {
            self.bits[base + usize::from(b / 64)] |= 1 << (b % 64);
        }
    }

    pub(crate) fn may_contain(&self, h: u64) -> bool {
        let (base, bits) = self.block_and_bits(h);
        let block = &self.bits[base..base + BLOCK_WORDS];
        bits.iter()
            .all(|&b| block[usize::from(b / 64)] & (1 << (b % 64)) != 0)
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
