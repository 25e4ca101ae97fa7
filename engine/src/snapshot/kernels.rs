//! The bit-plane counting kernels and member-set buffers.
//!
//! Counting members by state works 64 clients at a time: the low three bits
//! of their state bytes become three bit planes (a multiply gathers one bit
//! of each of eight bytes), each 3-bit state code's clients are an AND of
//! the planes, and a count is a popcount against the member word. No branch
//! or memory write per member.
//!
//! Invariants: every state byte is a state index (below `State::ALL.len()`)
//! or [`NO_STATE`] (the [`AsOf`] invariant), so the 3-bit codes 0..=5 are
//! states, 7 is `NO_STATE` and 6 cannot occur; client `64 * i + j` is bit
//! `j` of word `i` of a member bitmap; member bits past the end of the state
//! vector are never counted.

use super::as_of::AsOf;
use crate::checkpoint::NO_STATE;
use crate::members::{iter_bits, word_bits};
use crate::model::{State, StateCounts};

/// Bit `i` of the result is bit `k` of byte `i` of `x` (little-endian
/// bytes): the eight bits sit 7 apart after the mask, and the multiplier
/// moves byte `i`'s bit to bit `56 + i` with no two partial products on the
/// same bit, so nothing carries into the top byte.
#[inline(always)]
fn bit_of_each_byte(x: u64, k: u32) -> u64 {
    (((x >> k) & 0x0101_0101_0101_0101).wrapping_mul(0x0102_0408_1020_4080)) >> 56
}

/// The low three bits of 64 state bytes as three bitmaps (bit `j` of plane
/// `k` is bit `k` of byte `j`).
#[inline(always)]
fn state_planes(states: &[u8; 64]) -> [u64; 3] {
    let mut planes = [0u64; 3];
    for (g, chunk) in states.chunks_exact(8).enumerate() {
        let mut b = [0u8; 8];
        b.copy_from_slice(chunk);
        let x = u64::from_le_bytes(b);
        for (k, plane) in planes.iter_mut().enumerate() {
            *plane |= bit_of_each_byte(x, k as u32) << (8 * g);
        }
    }
    planes
}

/// The states of clients `64 * i ..` (word `i` of a member bitmap) as a
/// full block, padded with [`NO_STATE`], and the mask of the bits that are
/// real clients; `None` past the end of `states`.
#[inline(always)]
fn state_block(states: &[u8], i: usize) -> Option<([u8; 64], u64)> {
    let rest = states.get(i * 64..)?;
    if let Some(full) = rest.get(..64) {
        // All but the last word: a fixed-size copy.
        let mut block = [0u8; 64];
        block.copy_from_slice(full);
        return Some((block, u64::MAX));
    }
    if rest.is_empty() {
        return None;
    }
    let mut block = [NO_STATE; 64];
    block[..rest.len()].copy_from_slice(rest);
    Some((block, u64::MAX >> (64 - rest.len())))
}

/// Per 3-bit state code, the bitmap of the 64 states that have it.
#[inline(always)]
fn code_masks(states: &[u8; 64]) -> [u64; 8] {
    let [p0, p1, p2] = state_planes(states);
    std::array::from_fn(|code| {
        let pick = |plane: u64, bit: usize| if code >> bit & 1 == 1 { plane } else { !plane };
        pick(p0, 0) & pick(p1, 1) & pick(p2, 2)
    })
}

/// The members (bits of `members`, as in [`count_state_codes`]) whose
/// state byte in `states` has a 3-bit code marked in `wanted`, ascending
/// (clients past the end of `states` are left out).
pub(super) fn members_with_codes<'a>(
    states: &'a [u8],
    members: &'a [u64],
    wanted: [bool; 8],
) -> impl Iterator<Item = usize> + 'a {
    members.iter().enumerate().flat_map(move |(i, &word)| {
        let mut pass = 0u64;
        if let (true, Some((block, valid))) = (word != 0, state_block(states, i)) {
            for (mask, _) in code_masks(&block).into_iter().zip(wanted).filter(|(_, w)| *w) {
                pass |= mask;
            }
            pass &= word & valid;
        }
        word_bits(i, pass)
    })
}

/// The state a 3-bit code of [`count_state_codes`] stands for: codes below
/// 6 are state indexes, 7 is [`NO_STATE`] (`0xFF`), 6 cannot occur (see
/// [`AsOf`]'s invariant) and counts as `Unknown`, as an invalid byte would.
pub(super) fn state_of_code(code: usize) -> State {
    match code {
        7 => state_of_byte(NO_STATE),
        c => state_of_byte(c as u8),
    }
}

/// How many members (bits of `members`, client `64 * i + j` at bit `j` of
/// word `i`) have each 3-bit state code in `states` (clients past the end of
/// `states` are not counted). Works on 64 clients at a time with no branch
/// or memory write per member: the codes become three bit planes, and a
/// code's count is the popcount of the members whose planes spell it.
/// Relies on [`AsOf`]'s invariant (a byte is a state index or `NO_STATE`).
pub(super) fn count_state_codes(states: &[u8], members: &[u64]) -> [u64; 8] {
    debug_assert!(
        states
            .iter()
            .all(|&s| usize::from(s) < State::ALL.len() || s == NO_STATE)
    );
    let mut counts = [0u64; 8];
    for (i, &word) in members.iter().enumerate() {
        if word == 0 {
            continue;
        }
        let Some((block, valid)) = state_block(states, i) else {
            break;
        };
        for (n, mask) in counts.iter_mut().zip(code_masks(&block)) {
            *n += u64::from((word & valid & mask).count_ones());
        }
    }
    counts
}

/// Per 64-client word of an [`AsOf`], one bitmap per 3-bit state code (see
/// [`count_state_codes`]; bits past the state vector are clear).
pub(super) struct StateMasks {
    words: Vec<[u64; 8]>,
}

impl StateMasks {
    pub(super) fn of(st: &AsOf) -> StateMasks {
        let words = (0..st.state.len().div_ceil(64))
            .filter_map(|i| state_block(&st.state, i))
            .map(|(block, valid)| code_masks(&block).map(|mask| mask & valid))
            .collect();
        StateMasks { words }
    }

    /// Counts of the members of `set` (clients past the state vector are
    /// not counted, as in `Snapshot::counts`).
    pub(super) fn count(&self, set: &ClientSet) -> StateCounts {
        let mut per_code = [0u64; 8];
        for (&member, masks) in set.words.iter().zip(&self.words) {
            if member == 0 {
                continue;
            }
            for (n, mask) in per_code.iter_mut().zip(masks) {
                *n += u64::from((member & mask).count_ones());
            }
        }
        let mut counts = StateCounts::default();
        for (code, n) in per_code.into_iter().enumerate() {
            counts.add_many(state_of_code(code), n);
        }
        counts
    }
}

/// Buffers a member-set lookup fills: the set, and scratch for decoding a
/// stored id list. Reused across the collections of one query.
#[derive(Default)]
pub(super) struct MemberBuffers {
    pub(super) set: ClientSet,
    pub(super) ids: Vec<u64>,
}

/// A set of client ids.
#[derive(Clone, Default)]
pub(super) struct ClientSet {
    pub(super) words: Vec<u64>,
}

impl ClientSet {
    pub(super) fn new(n: usize) -> ClientSet {
        ClientSet {
            words: vec![0; n.div_ceil(64)],
        }
    }

    /// Empties the set and sizes it for `n` clients, keeping its allocation.
    pub(super) fn reset(&mut self, n: usize) {
        self.words.clear();
        self.words.resize(n.div_ceil(64), 0);
    }
    #[inline]
    pub(super) fn set(&mut self, c: usize, on: bool) {
        if let Some(w) = self.words.get_mut(c / 64) {
            if on {
                *w |= 1 << (c % 64);
            } else {
                *w &= !(1 << (c % 64));
            }
        }
    }
    #[inline]
    pub(super) fn contains(&self, c: usize) -> bool {
        self.words.get(c / 64).is_some_and(|w| w & (1 << (c % 64)) != 0)
    }
    pub(super) fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        iter_bits(&self.words)
    }
}

/// The state a state byte of an [`AsOf`] counts as (ignoring staleness):
/// [`NO_STATE`] is `NotStarted`, a byte that is no state index `Unknown`.
#[inline]
pub(super) fn state_of_byte(byte: u8) -> State {
    match byte {
        NO_STATE => State::NotStarted,
        s => State::from_index(s).unwrap_or(State::Unknown),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn bit_of_each_byte_gathers_in_byte_order() {
        let x = u64::from_le_bytes([1, 0, 3, 2, 5, 4, 0xFF, 6]);
        assert_eq!(bit_of_each_byte(x, 0), 0b0101_0101);
        assert_eq!(bit_of_each_byte(x, 1), 0b1100_1100);
        assert_eq!(bit_of_each_byte(x, 2), 0b1111_0000);
    }

    proptest! {
        /// The bit-plane count equals counting member by member.
        #[test]
        fn state_code_counts_match_one_by_one(
            states in proptest::collection::vec(
                prop_oneof![0u8..6, Just(NO_STATE)], 0..300),
            words in proptest::collection::vec(any::<u64>(), 0..6),
        ) {
            let mut expected = [0u64; 8];
            for (i, &w) in words.iter().enumerate() {
                for j in 0..64 {
                    if let (1, Some(&s)) = (w >> j & 1, states.get(i * 64 + j)) {
                        expected[usize::from(s & 7)] += 1;
                    }
                }
            }
            prop_assert_eq!(count_state_codes(&states, &words), expected);
            // The per-state bitmaps used for many collections agree, also
            // for member bits past the state vector (not counted).
            let mut counts = StateCounts::default();
            for (code, n) in expected.into_iter().enumerate() {
                counts.add_many(state_of_code(code), n);
            }
            // Picking members by code agrees with testing them one by one.
            for wanted in [[true; 8], std::array::from_fn(|code| code % 3 == 1)] {
                let picked: Vec<usize> = members_with_codes(&states, &words, wanted).collect();
                let one_by_one: Vec<usize> = iter_bits(&words)
                    .filter(|&c| states.get(c).is_some_and(|&s| wanted[usize::from(s & 7)]))
                    .collect();
                prop_assert_eq!(picked, one_by_one);
            }
            let st = AsOf { state: states, time: Vec::new(), seq: Vec::new() };
            prop_assert_eq!(StateMasks::of(&st).count(&ClientSet { words }), counts);
        }
    }
}
