//! Membership snapshots: the member set of one collection at one time,
//! computed by compaction over the base and stored in the checkpoint file
//! (record kind 3, format version 3), so that "members of `c` at `T`" reads
//! one set plus the collection's base changes after it instead of the
//! collection's whole change log.
//!
//! Invariant: a snapshot of collection `c` at time `t` equals the replay, in
//! `(time, seq)` order, of every *base* membership change of `c` with
//! `time <= t`; snapshots are cut only between two distinct times of the
//! collection's log, never inside a group of equal times. They say nothing
//! about delta runs: a reader uses them only when no delta run holds a
//! membership change (a late delta change may precede base changes).
//!
//! Invariant of the stored form: a set decodes to exactly the ids it was
//! built from, every id below the record's client count. The decoder
//! allocates a bitmap only as long as the bytes that hold it, and for a list
//! up to the word of its largest id; the reader refuses a record over more
//! clients than the store knows before decoding it.

use std::sync::Arc;

use crate::checkpoint::{CheckpointSet, decode_chunked, encode_chunked};
use crate::error::Result;
use crate::model::{Change, CollectionId, MembershipRow, Timestamp};
use crate::run::Run;

/// Stored form: a bitmap of `clients.div_ceil(64)` little-endian words.
const FORM_BITMAP: u8 = 0;
/// Stored form: a count `u32`, then the ascending member ids as column chunks.
const FORM_LIST: u8 = 1;

/// One collection's member set at one time, encoded for the checkpoint file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EncodedMembers {
    pub collection: CollectionId,
    pub time: Timestamp,
    pub clients: u32,
    pub body: Vec<u8>,
}

/// Encodes a member bitmap over `clients` clients: as a list when that
/// takes at most half the bytes of a bitmap, else as a bitmap (which a
/// reader copies instead of decoding, worth some bytes for large sets).
pub(crate) fn encode_member_set(words: &[u64], clients: usize) -> Vec<u8> {
    let ids: Vec<u64> = iter_bits(words)
        .filter(|&c| c < clients)
        .map(|c| c as u64)
        .collect();
    let mut list = vec![FORM_LIST];
    list.extend_from_slice(&(ids.len() as u32).to_le_bytes());
    encode_chunked(&ids, &mut list);
    let bitmap_len = 1 + clients.div_ceil(64) * 8;
    if list.len() * 2 <= bitmap_len {
        return list;
    }
    let mut out = Vec::with_capacity(bitmap_len);
    out.push(FORM_BITMAP);
    for k in 0..clients.div_ceil(64) {
        let mut w = words.get(k).copied().unwrap_or(0);
        if (k + 1) * 64 > clients {
            w &= (1u64 << (clients % 64)) - 1;
        }
        out.extend_from_slice(&w.to_le_bytes());
    }
    out
}

/// Decodes a stored member set over `clients` clients into bitmap words:
/// `clients.div_ceil(64)` of them for a stored bitmap (whose length the
/// body proves), for a list only up to the word of its largest id (so that
/// a damaged client count cannot make it allocate). Callers resize.
#[cfg(test)]
pub(crate) fn decode_member_set(body: &[u8], clients: usize) -> std::result::Result<Vec<u64>, &'static str> {
    let mut words = Vec::new();
    decode_member_set_into(body, clients, &mut words, &mut Vec::new())?;
    Ok(words)
}

/// [`decode_member_set`] into `words` (replacing what it held), with `ids`
/// as scratch: a query that decodes many sets reuses both buffers instead
/// of allocating (and page-faulting) fresh ones per set.
pub(crate) fn decode_member_set_into(
    body: &[u8],
    clients: usize,
    words: &mut Vec<u64>,
    ids: &mut Vec<u64>,
) -> std::result::Result<(), &'static str> {
    let word_count = clients.div_ceil(64);
    let (&form, rest) = body.split_first().ok_or("empty member set")?;
    words.clear();
    match form {
        FORM_BITMAP => {
            if rest.len() != word_count * 8 {
                return Err("member bitmap length disagrees with the client count");
            }
            words.extend(
                rest.chunks_exact(8)
                    .map(|b| u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])),
            );
            if let Some(&last) = words.last()
                && !clients.is_multiple_of(64)
                && last >> (clients % 64) != 0
            {
                return Err("member bitmap sets a client past the client count");
            }
            Ok(())
        }
        FORM_LIST => {
            let count = rest
                .get(..4)
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
                .ok_or("member list cut short")?;
            if count > clients {
                return Err("more members than clients");
            }
            let mut at = 4usize;
            decode_chunked(rest, &mut at, count, ids)?;
            if at != rest.len() {
                return Err("bytes left after the member list");
            }
            if !ids.windows(2).all(|w| w[0] < w[1]) || ids.last().is_some_and(|&c| c >= clients as u64) {
                return Err("member ids out of order or range");
            }
            words.resize(ids.last().map_or(0, |&c| c as usize / 64 + 1), 0);
            for &c in ids.iter() {
                words[c as usize / 64] |= 1 << (c % 64);
            }
            Ok(())
        }
        _ => Err("unknown member set form"),
    }
}

/// The set bits of `words`, ascending.
pub(crate) fn iter_bits(words: &[u64]) -> impl Iterator<Item = usize> + '_ {
    words.iter().enumerate().flat_map(|(i, &w)| word_bits(i, w))
}

/// The set bits of word `i` of a bitmap (`w`), as bit numbers, ascending.
pub(crate) fn word_bits(i: usize, mut w: u64) -> impl Iterator<Item = usize> {
    std::iter::from_fn(move || {
        if w == 0 {
            return None;
        }
        let b = w.trailing_zeros() as usize;
        w &= w - 1;
        Some(i * 64 + b)
    })
}

/// Applies one membership change to a bitmap (ids past its end are ignored).
#[inline]
pub(crate) fn apply_change(words: &mut [u64], r: &MembershipRow) {
    let c = r.client.0 as usize;
    if let Some(w) = words.get_mut(c / 64) {
        match r.change {
            Change::Join => *w |= 1 << (c % 64),
            Change::Leave => *w &= !(1 << (c % 64)),
        }
    }
}

/// Where replaying one collection's membership starts: its latest snapshot
/// before a time (or nothing), then its changes after that snapshot.
pub(crate) struct MemberStart<'a> {
    /// The base runs that hold membership changes.
    pub runs: &'a [&'a Arc<dyn Run>],
    pub collection: CollectionId,
    pub clients: usize,
}

impl MemberStart<'_> {
    /// Sets `words` to the collection's latest snapshot in `prior`'s set
    /// before `prior`'s time (empty without one) and `log` to the changes
    /// after that snapshot, in `(time, seq)` order; true when it started
    /// from a snapshot.
    pub(crate) fn load(
        &self,
        prior: Option<(&CheckpointSet, Timestamp)>,
        words: &mut Vec<u64>,
        log: &mut Vec<MembershipRow>,
    ) -> Result<bool> {
        let collection = self.collection;
        let start = prior.and_then(|(set, before)| {
            set.latest_members_at(collection, Timestamp(before.0.saturating_sub(1)))
                .map(|i| (set, i))
        });
        let after = match start {
            Some((set, i)) => {
                let time = set.members_into(i, self.clients, words, &mut Vec::new())?;
                Timestamp(time.0.saturating_add(1))
            }
            None => {
                words.clear();
                words.resize(self.clients.div_ceil(64), 0);
                Timestamp::MIN
            }
        };
        log.clear();
        let mut runs_with_rows = 0;
        for run in self.runs {
            let before = log.len();
            run.scan_collection_changes(collection, after, Timestamp::MAX, &mut |rows| {
                log.extend(
                    rows.iter()
                        .filter(|r| r.collection == collection && r.time >= after),
                );
                Ok(())
            })?;
            runs_with_rows += usize::from(log.len() > before);
        }
        if runs_with_rows > 1 {
            log.sort_unstable_by_key(|r| (r.time, r.seq));
        }
        Ok(start.is_some())
    }
}

/// Computes the membership snapshots of the base `base` (every run's
/// membership changes): for each collection, one after about every
/// `every_rows` changes of that collection, and with at least
/// `every_rows / 128` changes since the previous one also the collection's
/// first and one after its last change (fleets join collections in bulk
/// when they are created, then change slowly: the first snapshot spares a
/// query most of a small collection's log, the last one all of it).
/// Hands them to `emit` collection by collection, each collection's in time
/// order; holds one collection's changes at a time.
///
/// With `prior = Some((set, from))` (a compaction that keeps the snapshots
/// of `set` before `from`, the time of the earliest new change), each
/// collection starts from its latest snapshot in `set` before `from` and
/// only the changes after it are read and the snapshots after it emitted.
pub(crate) fn build_member_snapshots(
    base: &[Arc<dyn Run>],
    clients: usize,
    collections: usize,
    every_rows: usize,
    prior: Option<(&CheckpointSet, Timestamp)>,
    mut emit: impl FnMut(EncodedMembers),
) -> Result<()> {
    let every_rows = every_rows.max(1);
    let tail_rows = (every_rows / 128).max(1);
    let with_changes: Vec<&Arc<dyn Run>> = base.iter().filter(|r| r.membership_count() > 0).collect();
    let mut log: Vec<MembershipRow> = Vec::new();
    let mut words = Vec::new();
    for k in 0..collections {
        let collection = CollectionId(k as u32);
        let start = MemberStart {
            runs: &with_changes,
            collection,
            clients,
        };
        let mut first = !start.load(prior, &mut words, &mut log)?;
        let mut since = 0usize;
        for (i, r) in log.iter().enumerate() {
            apply_change(&mut words, r);
            since += 1;
            let group_ends = log.get(i + 1).is_none_or(|next| next.time > r.time);
            let is_last = i + 1 == log.len();
            if group_ends && (since >= every_rows || ((first || is_last) && since >= tail_rows)) {
                first = false;
                emit(EncodedMembers {
                    collection,
                    time: r.time,
                    clients: clients as u32,
                    body: encode_member_set(&words, clients),
                });
                since = 0;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn decoded(body: &[u8], clients: usize) -> Vec<u64> {
        let mut w = decode_member_set(body, clients).unwrap();
        w.resize(clients.div_ceil(64), 0);
        w
    }

    fn words_of(ids: &[usize], clients: usize) -> Vec<u64> {
        let mut w = vec![0u64; clients.div_ceil(64)];
        for &c in ids {
            w[c / 64] |= 1 << (c % 64);
        }
        w
    }

    #[test]
    fn dense_sets_are_bitmaps_and_sparse_ones_lists() {
        let clients = 1000;
        // About 60% of the clients, scattered: gaps vary too much for a short list.
        let dense: Vec<usize> = (0..clients).filter(|c| (c * 2_654_435_761) % 100 < 60).collect();
        let body = encode_member_set(&words_of(&dense, clients), clients);
        assert_eq!(body[0], FORM_BITMAP);
        assert_eq!(decoded(&body, clients), words_of(&dense, clients));
        let sparse = vec![3, 500, 999];
        let body = encode_member_set(&words_of(&sparse, clients), clients);
        assert_eq!(body[0], FORM_LIST);
        assert_eq!(decoded(&body, clients), words_of(&sparse, clients));
    }

    #[test]
    fn damaged_sets_are_refused() {
        let clients = 100;
        let body = encode_member_set(&words_of(&[1, 2, 99], clients), clients);
        assert!(decode_member_set(&body, 50).is_err(), "ids past the client count");
        assert!(decode_member_set(&[], clients).is_err());
        assert!(decode_member_set(&[9], clients).is_err());
        let mut bitmap = vec![FORM_BITMAP];
        bitmap.extend_from_slice(&[0xff; 16]);
        assert!(decode_member_set(&bitmap, clients).is_err(), "bit 100..127 set");
        assert!(decode_member_set(&bitmap, 128).is_ok());
    }

    proptest! {
        #[test]
        fn member_sets_round_trip(clients in 1usize..700, picks in proptest::collection::vec(any::<u16>(), 0..700)) {
            let ids: Vec<usize> = picks.iter().map(|&p| p as usize % clients).collect();
            let words = words_of(&ids, clients);
            let body = encode_member_set(&words, clients);
            prop_assert_eq!(decoded(&body, clients), words);
        }

        #[test]
        fn random_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..200), clients in 0usize..2000) {
            let _ = decode_member_set(&body, clients);
        }
    }
}
