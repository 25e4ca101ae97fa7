//! Checkpoints: the state of every client for one deployment as of a time,
//! computed over the compacted base so that an as-of query reads one vector
//! plus the base transitions after it instead of the whole history.
//!
//! This module owns the [`Checkpoint`] vectors and their file encoding
//! ([`encode_checkpoints`], [`decode_checkpoints`]; byte layout in
//! `docs/format.md`, "Checkpoint files"). It does not touch the file system
//! and does not compute checkpoints (compaction does).
//!
//! Invariant: a checkpoint at time `C` for deployment `d` equals the result of
//! replaying every *base* transition of `d` with `time <= C` in `(time, seq)`
//! order; it says nothing about delta runs (newer segments, the memtable),
//! whose rows all carry a greater `seq` than any base row.
//!
//! Invariant of the file encoding: every byte is covered by the header crc or
//! by its record's crc, and the decoder allocates nothing larger than the
//! file can justify; `decode(encode(cps))` equals `cps` up to the
//! normalisation [`encode_checkpoints`] documents.

use std::collections::HashMap;
use std::path::Path;

use crate::error::{Error, Result};
use crate::model::{DeploymentId, Timestamp};
use crate::segment::{Column, encode_column, pack, packed_len, unpack};

/// Marker for "no transition yet" in a state vector.
pub(crate) const NO_STATE: u8 = u8::MAX;

/// Per-client state and latest transition time for one deployment at one time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Checkpoint {
    /// The deployment it covers.
    pub deployment: DeploymentId,
    /// It includes every base transition with `time <= self.time`.
    pub time: Timestamp,
    /// State index per client id, [`NO_STATE`] when the client had none.
    pub states: Vec<u8>,
    /// Time of that state's transition per client (meaningless with `NO_STATE`).
    pub times: Vec<i64>,
}

// ----- checkpoint files --------------------------------------------------------
//
// Layout (little-endian; see docs/format.md, "Checkpoint files"):
//
//   header   magic[8] "RCLLCKP\0", version u32, count u32, crc32 u32 of the first 16 bytes
//   record   deployment u32, time i64, clients u32, kind u8, reserved[3] = 0, body_len u32,
//            body[body_len], crc32 u32 of the record's header and body
//   ...      `count` records; the file ends right after the last one
//
// A record is *full* (kind 0) or a *delta* (kind 1) against the previous
// record of the same deployment in the file, which must have as many clients.
// Full body: 3-bit states of every client (7 = no state), then for every
// client with a state, `time - times[c]` in column chunks of 4096 values.
// Delta body: changed u32, the changed client ids (ascending) in column
// chunks, their 3-bit states, then `time - times[c]` for those with a state.

/// The newest checkpoint file format this build writes and reads.
pub(crate) const CHECKPOINT_FORMAT_VERSION: u32 = 1;

const MAGIC: [u8; 8] = *b"RCLLCKP\0";
const HEADER_LEN: usize = 20;
const RECORD_HEADER_LEN: usize = 24;
const KIND_FULL: u8 = 0;
const KIND_DELTA: u8 = 1;
/// Values per column chunk.
const CHUNK: usize = 4096;
/// The 3-bit code of [`NO_STATE`].
const NO_STATE_CODE: u64 = 7;
/// Number of valid states (codes `0..STATES`).
const STATES: u64 = 6;

fn state_code(s: u8) -> u64 {
    // Anything that is not a state index is stored as "no state".
    if u64::from(s) < STATES {
        u64::from(s)
    } else {
        NO_STATE_CODE
    }
}

fn encode_chunked(values: &[u64], out: &mut Vec<u8>) {
    for chunk in values.chunks(CHUNK) {
        encode_column(chunk, out);
    }
}

/// `time - t` for every client with a state in `clients` (ids into `cp`).
fn age_values(cp: &Checkpoint, clients: impl Iterator<Item = usize>) -> Vec<u64> {
    clients
        .filter(|&c| state_code(cp.states[c]) != NO_STATE_CODE)
        .map(|c| (cp.time.0 as u64).wrapping_sub(cp.times.get(c).copied().unwrap_or(i64::MIN) as u64))
        .collect()
}

fn full_body(cp: &Checkpoint) -> Vec<u8> {
    let mut body = Vec::new();
    pack(cp.states.iter().map(|&s| state_code(s)), 3, &mut body);
    encode_chunked(&age_values(cp, 0..cp.states.len()), &mut body);
    body
}

/// The delta body against `prev`, or `None` when a delta is not possible.
fn delta_body(cp: &Checkpoint, prev: &Checkpoint) -> Option<Vec<u8>> {
    if prev.states.len() != cp.states.len() {
        return None;
    }
    let time_of = |x: &Checkpoint, c: usize| x.times.get(c).copied().unwrap_or(i64::MIN);
    let changed: Vec<usize> = (0..cp.states.len())
        .filter(|&c| {
            let (a, b) = (state_code(prev.states[c]), state_code(cp.states[c]));
            a != b || (b != NO_STATE_CODE && time_of(prev, c) != time_of(cp, c))
        })
        .collect();
    let mut body = Vec::new();
    body.extend_from_slice(&(changed.len() as u32).to_le_bytes());
    let ids: Vec<u64> = changed.iter().map(|&c| c as u64).collect();
    encode_chunked(&ids, &mut body);
    pack(changed.iter().map(|&c| state_code(cp.states[c])), 3, &mut body);
    encode_chunked(&age_values(cp, changed.iter().copied()), &mut body);
    Some(body)
}

/// Encodes checkpoints as one checkpoint file. Each record is a delta
/// against the previous checkpoint of its deployment when that is smaller.
///
/// States that are not a state index (`0..6`) are written as [`NO_STATE`];
/// times of clients without a state are not written and read back as
/// `i64::MIN`; `times` shorter than `states` reads as `i64::MIN` past its end.
pub(crate) fn encode_checkpoints(cps: &[Checkpoint]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&CHECKPOINT_FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&(cps.len() as u32).to_le_bytes());
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    let mut last: HashMap<DeploymentId, &Checkpoint> = HashMap::new();
    for cp in cps {
        let full = full_body(cp);
        let (kind, body) = match last.get(&cp.deployment).and_then(|prev| delta_body(cp, prev)) {
            Some(delta) if delta.len() < full.len() => (KIND_DELTA, delta),
            _ => (KIND_FULL, full),
        };
        let start = out.len();
        out.extend_from_slice(&cp.deployment.0.to_le_bytes());
        out.extend_from_slice(&cp.time.0.to_le_bytes());
        out.extend_from_slice(&(cp.states.len() as u32).to_le_bytes());
        out.extend_from_slice(&[kind, 0, 0, 0]);
        out.extend_from_slice(&(body.len() as u32).to_le_bytes());
        out.extend_from_slice(&body);
        let crc = crc32fast::hash(&out[start..]);
        out.extend_from_slice(&crc.to_le_bytes());
        last.insert(cp.deployment, cp);
    }
    out
}

fn le_u32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

fn le_i64(b: &[u8], at: usize) -> Option<i64> {
    let s = b.get(at..at.checked_add(8)?)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(s);
    Some(i64::from_le_bytes(a))
}

/// Decodes `count` values stored as column chunks at `body[*at..]`.
fn decode_chunked(body: &[u8], at: &mut usize, count: usize, out: &mut Vec<u64>) -> Result<(), &'static str> {
    out.clear();
    let mut chunk = Vec::new();
    let mut left = count;
    while left > 0 {
        let n = left.min(CHUNK);
        let rest = body.get(*at..).ok_or("column chunk past the end of the record")?;
        let (col, used) = Column::parse(rest, n).map_err(|e| e.0)?;
        col.decode(&mut chunk);
        out.extend_from_slice(&chunk);
        *at += used;
        left -= n;
    }
    Ok(())
}

/// Reads `count` 3-bit state codes at `body[*at..]` as state bytes.
fn decode_states(body: &[u8], at: &mut usize, count: usize) -> Result<Vec<u8>, &'static str> {
    let len = packed_len(count, 3);
    let end = at.checked_add(len).ok_or("state vector length overflows")?;
    let packed = body
        .get(*at..end)
        .ok_or("state vector past the end of the record")?;
    *at = end;
    let mut codes = vec![0u64; count];
    unpack(packed, 3, &mut codes);
    codes
        .into_iter()
        .map(|c| match c {
            NO_STATE_CODE => Ok(NO_STATE),
            c if c < STATES => Ok(c as u8),
            _ => Err("state code 6 is not a state"),
        })
        .collect()
}

fn time_from_age(cp_time: i64, age: u64) -> i64 {
    (cp_time as u64).wrapping_sub(age) as i64
}

/// Decodes a checkpoint file written by [`encode_checkpoints`]; `path` names
/// it in errors. Damage is [`Error::Corrupt`] with the offset of the record
/// (or header) it was found in; a newer format is
/// [`Error::UnsupportedVersion`].
pub(crate) fn decode_checkpoints(bytes: &[u8], path: &Path) -> Result<Vec<Checkpoint>> {
    let corrupt = |offset: usize, what: &str| Error::corrupt(path, offset as u64, what);
    let header = bytes
        .get(..HEADER_LEN)
        .ok_or_else(|| corrupt(0, "file shorter than a checkpoint header"))?;
    if header[..8] != MAGIC {
        return Err(corrupt(0, "not a rollcall checkpoint file (bad magic)"));
    }
    let version = le_u32(header, 8).ok_or_else(|| corrupt(8, "header cut short"))?;
    if version > CHECKPOINT_FORMAT_VERSION {
        return Err(Error::UnsupportedVersion {
            file: path.to_path_buf(),
            found: version,
            supported: CHECKPOINT_FORMAT_VERSION,
        });
    }
    if version == 0 {
        return Err(corrupt(8, "format version 0 does not exist"));
    }
    let count = le_u32(header, 12).ok_or_else(|| corrupt(12, "header cut short"))? as usize;
    let crc = le_u32(header, 16).ok_or_else(|| corrupt(16, "header cut short"))?;
    if crc32fast::hash(&header[..16]) != crc {
        return Err(corrupt(0, "header checksum mismatch"));
    }
    // Each record takes at least its header and crc, so `count` is bounded
    // by the file size before anything is allocated for it.
    if count > bytes.len() / (RECORD_HEADER_LEN + 4) {
        return Err(corrupt(12, "record count exceeds what the file can hold"));
    }
    let mut out: Vec<Checkpoint> = Vec::with_capacity(count);
    let mut last: HashMap<DeploymentId, usize> = HashMap::new();
    let mut values = Vec::new();
    let mut at = HEADER_LEN;
    for k in 0..count {
        let start = at;
        let bad = |what: &str| corrupt(start, &format!("checkpoint record {k}: {what}"));
        let head = bytes
            .get(start..start + RECORD_HEADER_LEN)
            .ok_or_else(|| bad("record header past the end of the file"))?;
        let body_len = le_u32(head, 20).ok_or_else(|| bad("header cut short"))? as usize;
        let body_end = (start + RECORD_HEADER_LEN)
            .checked_add(body_len)
            .ok_or_else(|| bad("body length overflows"))?;
        let stored_crc = le_u32(bytes, body_end).ok_or_else(|| bad("record past the end of the file"))?;
        let record = bytes
            .get(start..body_end)
            .ok_or_else(|| bad("record past the end of the file"))?;
        if crc32fast::hash(record) != stored_crc {
            return Err(bad("checksum mismatch"));
        }
        at = body_end + 4;
        let deployment = DeploymentId(le_u32(head, 0).ok_or_else(|| bad("header cut short"))?);
        let time = le_i64(head, 4).ok_or_else(|| bad("header cut short"))?;
        let clients = le_u32(head, 12).ok_or_else(|| bad("header cut short"))? as usize;
        let (kind, reserved) = (head[16], &head[17..20]);
        if reserved != [0, 0, 0] {
            return Err(bad("reserved bytes are not zero"));
        }
        let body = record.get(RECORD_HEADER_LEN..).unwrap_or_default();
        let mut pos = 0usize;
        let cp = match kind {
            KIND_FULL => {
                // The state vector must fit the body before it is allocated.
                if packed_len(clients, 3) > body.len() {
                    return Err(bad("state vector longer than the record"));
                }
                let states = decode_states(body, &mut pos, clients).map_err(bad)?;
                let with_state = states.iter().filter(|&&s| s != NO_STATE).count();
                decode_chunked(body, &mut pos, with_state, &mut values).map_err(bad)?;
                let mut ages = values.iter();
                let times = states
                    .iter()
                    .map(|&s| match s {
                        NO_STATE => i64::MIN,
                        _ => ages.next().map_or(i64::MIN, |&a| time_from_age(time, a)),
                    })
                    .collect();
                Checkpoint {
                    deployment,
                    time: Timestamp(time),
                    states,
                    times,
                }
            }
            KIND_DELTA => {
                let prev = last
                    .get(&deployment)
                    .and_then(|&i| out.get(i))
                    .ok_or_else(|| bad("delta record without an earlier record of its deployment"))?;
                if prev.states.len() != clients {
                    return Err(bad("delta record changes the client count"));
                }
                let changed = le_u32(body, 0).ok_or_else(|| bad("body cut short"))? as usize;
                pos = 4;
                if changed > clients {
                    return Err(bad("more changed clients than clients"));
                }
                decode_chunked(body, &mut pos, changed, &mut values).map_err(bad)?;
                let ids: Vec<usize> = values.iter().map(|&v| v as usize).collect();
                let ascending = ids.windows(2).all(|w| w[0] < w[1]);
                if !ascending
                    || ids.last().is_some_and(|&c| c >= clients)
                    || values.iter().any(|&v| v > u32::MAX as u64)
                {
                    return Err(bad("changed client ids out of order or range"));
                }
                let new_states = decode_states(body, &mut pos, changed).map_err(bad)?;
                let with_state = new_states.iter().filter(|&&s| s != NO_STATE).count();
                decode_chunked(body, &mut pos, with_state, &mut values).map_err(bad)?;
                let mut states = prev.states.clone();
                let mut times = prev.times.clone();
                let mut ages = values.iter();
                for (&c, &s) in ids.iter().zip(&new_states) {
                    if let (Some(state), Some(t)) = (states.get_mut(c), times.get_mut(c)) {
                        *state = s;
                        *t = match s {
                            NO_STATE => i64::MIN,
                            _ => ages.next().map_or(i64::MIN, |&a| time_from_age(time, a)),
                        };
                    }
                }
                Checkpoint {
                    deployment,
                    time: Timestamp(time),
                    states,
                    times,
                }
            }
            _ => return Err(bad("unknown record kind")),
        };
        if pos != body.len() {
            return Err(bad("bytes left after the record body"));
        }
        last.insert(deployment, out.len());
        out.push(cp);
    }
    if at != bytes.len() {
        return Err(corrupt(at, "bytes after the last checkpoint record"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn cp(deployment: u32, time: i64, states: Vec<u8>, times: Vec<i64>) -> Checkpoint {
        Checkpoint {
            deployment: DeploymentId(deployment),
            time: Timestamp(time),
            states,
            times,
        }
    }

    /// What a round trip must give back: times of clients without a state
    /// read as `i64::MIN`, invalid states as `NO_STATE`.
    fn normalised(c: &Checkpoint) -> Checkpoint {
        let states: Vec<u8> = c
            .states
            .iter()
            .map(|&s| if s < 6 { s } else { NO_STATE })
            .collect();
        let times = states
            .iter()
            .enumerate()
            .map(|(i, &s)| {
                if s == NO_STATE {
                    i64::MIN
                } else {
                    c.times.get(i).copied().unwrap_or(i64::MIN)
                }
            })
            .collect();
        Checkpoint {
            states,
            times,
            ..c.clone()
        }
    }

    fn round_trip(cps: &[Checkpoint]) -> Vec<u8> {
        let bytes = encode_checkpoints(cps);
        let back = decode_checkpoints(&bytes, Path::new("test.ckp")).expect("decode");
        let want: Vec<Checkpoint> = cps.iter().map(normalised).collect();
        assert_eq!(back, want);
        bytes
    }

    fn sample() -> Vec<Checkpoint> {
        vec![
            cp(0, 100, vec![0, NO_STATE, 4, 5], vec![10, i64::MIN, 100, -7]),
            cp(
                1,
                100,
                vec![NO_STATE, NO_STATE, 1, 2],
                vec![0, 0, i64::MIN, i64::MAX],
            ),
            cp(0, 200, vec![0, 2, 4, 3], vec![10, 150, 100, 200]),
            cp(0, i64::MAX, vec![1, 2, 4, 3], vec![i64::MAX, 150, i64::MIN, 200]),
        ]
    }

    #[test]
    fn checkpoints_round_trip() {
        round_trip(&[]);
        round_trip(&sample());
        round_trip(&[cp(u32::MAX, i64::MIN, vec![], vec![])]);
        round_trip(&[
            cp(3, i64::MIN, vec![5, NO_STATE], vec![i64::MAX, 1]),
            cp(3, i64::MAX, vec![5, 0], vec![i64::MIN, i64::MIN]),
        ]);
        // Client counts may differ between checkpoints of one deployment.
        round_trip(&[
            cp(0, 5, vec![1; 10], vec![5; 10]),
            cp(0, 6, vec![1; 12], vec![6; 12]),
            cp(0, 7, vec![1; 3], vec![7; 3]),
        ]);
        // Invalid states and short time vectors are normalised.
        round_trip(&[cp(0, 5, vec![6, 200, 1, 1], vec![1])]);
    }

    #[test]
    fn unchanged_clients_cost_little_in_a_delta() {
        let n = 100_000;
        let a = cp(
            0,
            1_000_000,
            (0..n).map(|i| (i % 6) as u8).collect(),
            (0..n).map(|i| i as i64 * 7).collect(),
        );
        let mut b = a.clone();
        b.time = Timestamp(2_000_000);
        for c in (0..n).step_by(100) {
            b.states[c] = 4;
            b.times[c] = 1_500_000 + c as i64;
        }
        let one = round_trip(std::slice::from_ref(&a)).len();
        let two = round_trip(&[a, b]).len();
        assert!(two - one < n / 20, "delta record took {} bytes", two - one);
    }

    #[test]
    fn newer_version_is_refused() {
        let mut bytes = encode_checkpoints(&sample());
        bytes[8..12].copy_from_slice(&(CHECKPOINT_FORMAT_VERSION + 1).to_le_bytes());
        let crc = crc32fast::hash(&bytes[..16]);
        bytes[16..20].copy_from_slice(&crc.to_le_bytes());
        assert!(matches!(
            decode_checkpoints(&bytes, Path::new("x")),
            Err(Error::UnsupportedVersion {
                found: 2,
                supported: 1,
                ..
            })
        ));
    }

    #[test]
    fn every_flip_and_truncation_is_detected() {
        let bytes = encode_checkpoints(&sample());
        for offset in 0..bytes.len() {
            for bit in [0u8, 4, 7] {
                let mut bad = bytes.clone();
                bad[offset] ^= 1 << bit;
                match decode_checkpoints(&bad, Path::new("x")) {
                    Err(e) => assert!(e.is_corruption(), "offset {offset}: {e}"),
                    Ok(_) => panic!("flip at offset {offset} bit {bit} went unnoticed"),
                }
            }
        }
        for len in 0..bytes.len() {
            match decode_checkpoints(&bytes[..len], Path::new("x")) {
                Err(e) => assert!(e.is_corruption(), "length {len}: {e}"),
                Ok(_) => panic!("truncation to {len} bytes went unnoticed"),
            }
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(decode_checkpoints(&longer, Path::new("x")).is_err());
    }

    fn cases() -> u32 {
        std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(32)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(cases()))]

        #[test]
        fn random_checkpoints_round_trip(
            raw in proptest::collection::vec(
                (0u32..3, any::<i64>(), proptest::collection::vec((prop_oneof![Just(NO_STATE), 0u8..6], prop_oneof![any::<i64>(), -5i64..5]), 0..50)),
                0..6,
            ),
        ) {
            let mut cps: Vec<Checkpoint> = raw
                .into_iter()
                .map(|(d, time, v)| cp(d, time, v.iter().map(|x| x.0).collect(), v.iter().map(|x| x.1).collect()))
                .collect();
            // Follow-up checkpoints that share most entries, so deltas get used.
            if let Some(first) = cps.first().cloned() {
                let mut next = first.clone();
                next.time = Timestamp(next.time.0.wrapping_add(1));
                if let Some(s) = next.states.first_mut() {
                    *s = 4;
                }
                cps.push(next);
            }
            round_trip(&cps);
        }

        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300), keep in 0usize..300) {
            let _ = decode_checkpoints(&bytes, Path::new("x"));
            let mut spliced = encode_checkpoints(&sample());
            spliced.truncate(keep.min(spliced.len()));
            spliced.extend_from_slice(&bytes);
            let _ = decode_checkpoints(&spliced, Path::new("x"));
        }
    }
}
