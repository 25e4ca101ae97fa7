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
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::bytes::SharedBytes;

use crate::error::{Error, Result};
use crate::members::{EncodedMembers, decode_member_set_into};
use crate::model::{CollectionId, DeploymentId, Timestamp};
use crate::rollup::{FailureRollup, StoredRollup};
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

/// The newest checkpoint file format this build reads. It writes version 3
/// unless the file marks a base too sparse for a failure rollup (a rollup
/// record for deployment [`SPARSE_ROLLUP`] with an empty body), which takes
/// version 4 so that older builds refuse it cleanly.
pub(crate) const CHECKPOINT_FORMAT_VERSION: u32 = 4;

/// The version written when no version-4 record is in the file.
const PLAIN_FORMAT_VERSION: u32 = 3;

/// The deployment id of the sparse-rollup marker record.
pub(crate) const SPARSE_ROLLUP: u32 = u32::MAX;

const MAGIC: [u8; 8] = *b"RCLLCKP\0";
const HEADER_LEN: usize = 20;
const RECORD_HEADER_LEN: usize = 24;
const KIND_FULL: u8 = 0;
const KIND_DELTA: u8 = 1;
/// A failure rollup record (format version 2 on; see `rollup.rs`).
const KIND_ROLLUP: u8 = 2;
/// A membership snapshot record (format version 3 on; see `members.rs`):
/// `deployment` holds the collection id, `clients` the client count.
const KIND_MEMBERS: u8 = 3;
/// Most delta records in a row before a full one (per deployment).
const MAX_DELTA_CHAIN: usize = 7;
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

pub(crate) fn encode_chunked(values: &[u64], out: &mut Vec<u8>) {
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

/// Writes a checkpoint file one checkpoint at a time. Each record is a
/// delta against the previous checkpoint of its deployment when that is
/// smaller, except that at most [`MAX_DELTA_CHAIN`] deltas follow each other,
/// so decoding any one checkpoint decodes a bounded number of records.
///
/// States that are not a state index (`0..6`) are written as [`NO_STATE`];
/// times of clients without a state are not written and read back as
/// `i64::MIN`; `times` shorter than `states` reads as `i64::MIN` past its end.
#[derive(Debug)]
pub(crate) struct CheckpointFileWriter {
    out: Vec<u8>,
    count: u32,
    version: u32,
    /// Per deployment: the previous checkpoint and the deltas since a full record.
    last: HashMap<DeploymentId, (Checkpoint, usize)>,
}

impl CheckpointFileWriter {
    pub(crate) fn new() -> CheckpointFileWriter {
        let mut out = Vec::new();
        out.extend_from_slice(&[0; HEADER_LEN]);
        CheckpointFileWriter {
            version: PLAIN_FORMAT_VERSION,
            out,
            count: 0,
            last: HashMap::new(),
        }
    }

    /// Number of checkpoints pushed.
    pub(crate) fn len(&self) -> usize {
        self.count as usize
    }

    /// Appends one record.
    pub(crate) fn push(&mut self, cp: &Checkpoint) {
        let full = full_body(cp);
        let prev = self
            .last
            .get(&cp.deployment)
            .filter(|(_, chain)| *chain < MAX_DELTA_CHAIN);
        let (kind, body, chain) =
            match prev.and_then(|(prev, chain)| delta_body(cp, prev).map(|d| (d, chain + 1))) {
                Some((delta, chain)) if delta.len() < full.len() => (KIND_DELTA, delta, chain),
                _ => (KIND_FULL, full, 0),
            };
        self.record(cp.deployment, cp.time.0, cp.states.len() as u32, kind, &body);
        self.last.insert(cp.deployment, (cp.clone(), chain));
    }

    /// Appends the failure rollup's records (or the marker of a base too
    /// sparse for one).
    pub(crate) fn push_rollup(&mut self, rollup: &FailureRollup) {
        if !rollup.is_usable() {
            self.record(DeploymentId(SPARSE_ROLLUP), 0, 0, KIND_ROLLUP, &[]);
            self.version = self.version.max(4);
            return;
        }
        for r in rollup.encode() {
            self.record(r.deployment, r.first_hour, r.collections, KIND_ROLLUP, &r.body);
        }
    }

    /// Appends one membership snapshot record.
    pub(crate) fn push_members(&mut self, m: &EncodedMembers) {
        self.record(
            DeploymentId(m.collection.0),
            m.time.0,
            m.clients,
            KIND_MEMBERS,
            &m.body,
        );
    }

    fn record(&mut self, deployment: DeploymentId, time: i64, clients: u32, kind: u8, body: &[u8]) {
        let out = &mut self.out;
        let start = out.len();
        out.extend_from_slice(&deployment.0.to_le_bytes());
        out.extend_from_slice(&time.to_le_bytes());
        out.extend_from_slice(&clients.to_le_bytes());
        out.extend_from_slice(&[kind, 0, 0, 0]);
        out.extend_from_slice(&(body.len() as u32).to_le_bytes());
        out.extend_from_slice(body);
        let crc = crc32fast::hash(&out[start..]);
        out.extend_from_slice(&crc.to_le_bytes());
        self.count += 1;
    }

    /// The file's bytes.
    pub(crate) fn finish(mut self) -> Vec<u8> {
        let mut header = Vec::with_capacity(HEADER_LEN);
        header.extend_from_slice(&MAGIC);
        header.extend_from_slice(&self.version.to_le_bytes());
        header.extend_from_slice(&self.count.to_le_bytes());
        let crc = crc32fast::hash(&header);
        header.extend_from_slice(&crc.to_le_bytes());
        self.out[..HEADER_LEN].copy_from_slice(&header);
        self.out
    }
}

/// Encodes checkpoints as one checkpoint file (see [`CheckpointFileWriter`]).
#[cfg(test)]
pub(crate) fn encode_checkpoints(cps: &[Checkpoint]) -> Vec<u8> {
    let mut w = CheckpointFileWriter::new();
    for cp in cps {
        w.push(cp);
    }
    w.finish()
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
pub(crate) fn decode_chunked(
    body: &[u8],
    at: &mut usize,
    count: usize,
    out: &mut Vec<u64>,
) -> Result<(), &'static str> {
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

/// Where one record of a checkpoint file lies, read from its header.
#[derive(Debug, Clone, Copy)]
struct RecordMeta {
    deployment: DeploymentId,
    time: Timestamp,
    clients: usize,
    kind: u8,
    /// Offset of the record header in the file.
    start: usize,
    /// Offset one past the record body (its crc follows).
    body_end: usize,
    /// The previous record of the same deployment (what a delta applies to).
    prev: Option<usize>,
}

/// Decoded checkpoints kept per [`CheckpointSet`]: enough for a series'
/// stretches and both deployments of a query, small enough to bound memory.
const DECODED_CACHE: usize = 4;

/// The checkpoints of one checkpoint file, decoded on demand.
///
/// Opening reads only the file header and the record headers (framing and
/// bounds); a record is crc-checked and decoded when a query first needs it,
/// together with the records its delta chain rests on. A few decoded
/// checkpoints are cached. This keeps opening a store cheap and its memory
/// bounded however many checkpoints it has.
pub(crate) struct CheckpointSet {
    bytes: SharedBytes,
    path: PathBuf,
    /// Checkpoint records, in file order.
    records: Vec<RecordMeta>,
    /// Failure rollup records (format version 2 on), in file order.
    rollups: Vec<RecordMeta>,
    /// Membership snapshot records (format version 3 on), sorted by
    /// `(collection, time)`; `deployment` holds the collection id.
    members: Vec<RecordMeta>,
    version: u32,
    /// Record indexes sorted by `(deployment, time)` (file order among equals).
    by_key: Vec<usize>,
    cache: Mutex<Vec<(usize, Arc<Checkpoint>)>>,
}

impl fmt::Debug for CheckpointSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CheckpointSet")
            .field("path", &self.path)
            .field("records", &self.records.len())
            .finish_non_exhaustive()
    }
}

impl CheckpointSet {
    /// Reads the header and record framing of a checkpoint file written by
    /// [`encode_checkpoints`]. Damage found here is [`Error::Corrupt`] with
    /// the offset of the record (or header); a newer format is
    /// [`Error::UnsupportedVersion`]. Record bodies are checked on use.
    pub(crate) fn open(bytes: SharedBytes, path: PathBuf) -> Result<CheckpointSet> {
        let framing = parse_framing(bytes.as_ref().as_ref(), &path)?;
        let (records, rollups, version) = (framing.checkpoints, framing.rollups, framing.version);
        let mut members = framing.members;
        members.sort_by_key(|m| (m.deployment, m.time));
        let mut by_key: Vec<usize> = (0..records.len()).collect();
        by_key.sort_by_key(|&i| (records[i].deployment, records[i].time));
        Ok(CheckpointSet {
            bytes,
            path,
            records,
            rollups,
            members,
            version,
            by_key,
            cache: Mutex::new(Vec::new()),
        })
    }

    /// Number of checkpoints.
    pub(crate) fn len(&self) -> usize {
        self.records.len()
    }

    /// Deployment and time of checkpoint `i`.
    pub(crate) fn key(&self, i: usize) -> Option<(DeploymentId, Timestamp)> {
        self.records.get(i).map(|r| (r.deployment, r.time))
    }

    /// The latest checkpoint of `deployment` with `time <= at`.
    pub(crate) fn latest_at_or_before(&self, deployment: DeploymentId, at: Timestamp) -> Option<usize> {
        let key = |i: usize| (self.records[i].deployment, self.records[i].time);
        let end = self.by_key.partition_point(|&i| key(i) <= (deployment, at));
        let i = self.by_key[end.checked_sub(1)?];
        (self.records[i].deployment == deployment).then_some(i)
    }

    /// Checkpoint `i`, decoded (crc-checked) with the records its delta
    /// chain rests on, or taken from the cache.
    pub(crate) fn get(&self, i: usize) -> Result<Arc<Checkpoint>> {
        let cached = |k: usize| -> Option<Arc<Checkpoint>> {
            let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            cache.iter().find(|(j, _)| *j == k).map(|(_, c)| Arc::clone(c))
        };
        if let Some(c) = cached(i) {
            return Ok(c);
        }
        // Walk back to a full record or a cached one, then decode forward.
        let mut chain = vec![i];
        let mut base: Option<Arc<Checkpoint>> = None;
        while let Some(&k) = chain.last() {
            let meta = self.meta(k)?;
            if meta.kind == KIND_FULL {
                break;
            }
            let prev = meta
                .prev
                .ok_or_else(|| self.bad(meta, "delta record without an earlier record of its deployment"))?;
            if let Some(c) = cached(prev) {
                base = Some(c);
                break;
            }
            chain.push(prev);
        }
        let bytes: &[u8] = self.bytes.as_ref().as_ref();
        let mut current = base;
        for &k in chain.iter().rev() {
            let meta = self.meta(k)?;
            let cp = decode_record(bytes, meta, k, current.as_deref(), &self.path)?;
            if crate::bytes::changed_underneath(bytes) {
                return Err(self.bad(
                    meta,
                    "the file was truncated by another program while it was read",
                ));
            }
            current = Some(Arc::new(cp));
        }
        let cp = current.ok_or_else(|| Error::corrupt(&self.path, 0, "empty checkpoint chain"))?;
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache.retain(|(j, _)| *j != i);
        if cache.len() >= DECODED_CACHE {
            cache.remove(0);
        }
        cache.push((i, Arc::clone(&cp)));
        Ok(cp)
    }

    /// Decodes every record in file order, handing each to `f` (for `check`
    /// and compaction; holds at most one decoded checkpoint at a time).
    pub(crate) fn for_each(&self, mut f: impl FnMut(usize, &Checkpoint) -> Result<()>) -> Result<()> {
        let bytes: &[u8] = self.bytes.as_ref().as_ref();
        let mut last: HashMap<DeploymentId, Checkpoint> = HashMap::new();
        for (k, meta) in self.records.iter().enumerate() {
            let prev = if meta.kind == KIND_DELTA {
                last.get(&meta.deployment)
            } else {
                None
            };
            let cp = decode_record(bytes, meta, k, prev, &self.path)?;
            f(k, &cp)?;
            last.insert(meta.deployment, cp);
        }
        if crate::bytes::changed_underneath(bytes) {
            return Err(Error::corrupt(
                &self.path,
                0,
                "the file was truncated by another program while it was read",
            ));
        }
        Ok(())
    }

    /// The failure rollup stored with these checkpoints: `None` for files
    /// older than format version 2, which have none.
    pub(crate) fn rollup(&self) -> Result<Option<FailureRollup>> {
        if self.version < 2 {
            return Ok(None);
        }
        let bytes: &[u8] = self.bytes.as_ref().as_ref();
        if let [only] = &self.rollups[..]
            && only.deployment.0 == SPARSE_ROLLUP
        {
            return Ok(Some(FailureRollup::too_sparse()));
        }
        let mut stored = Vec::with_capacity(self.rollups.len());
        for meta in &self.rollups {
            let record = bytes
                .get(meta.start..meta.body_end)
                .ok_or_else(|| self.bad(meta, "rollup record past the end of the file"))?;
            if le_u32(bytes, meta.body_end) != Some(crc32fast::hash(record)) {
                return Err(self.bad(meta, "rollup record checksum mismatch"));
            }
            stored.push(StoredRollup {
                deployment: meta.deployment,
                first_hour: meta.time.0,
                collections: meta.clients as u32,
                body: record.get(RECORD_HEADER_LEN..).unwrap_or_default().to_vec(),
            });
        }
        if crate::bytes::changed_underneath(bytes) {
            return Err(Error::corrupt(
                &self.path,
                0,
                "the file was truncated by another program while it was read",
            ));
        }
        let start = self.rollups.first().map_or(0, |m| m.start);
        FailureRollup::decode(&stored)
            .map(Some)
            .map_err(|what| Error::corrupt(&self.path, start as u64, format!("failure rollup: {what}")))
    }

    /// The latest membership snapshot of `collection` with `time <= at`.
    pub(crate) fn latest_members_at(&self, collection: CollectionId, at: Timestamp) -> Option<usize> {
        let key = |m: &RecordMeta| (m.deployment.0, m.time);
        let end = self.members.partition_point(|m| key(m) <= (collection.0, at));
        let i = end.checked_sub(1)?;
        (self.members[i].deployment.0 == collection.0).then_some(i)
    }

    /// Membership snapshot `i` (crc-checked): its time, and the member bitmap
    /// resized to `clients.div_ceil(64)` words. A snapshot over more clients
    /// than `clients` is damage (client ids are never reused or dropped).
    pub(crate) fn members(&self, i: usize, clients: usize) -> Result<(Timestamp, Vec<u64>)> {
        let mut words = Vec::new();
        let time = self.members_into(i, clients, &mut words, &mut Vec::new())?;
        Ok((time, words))
    }

    /// [`Self::members`] into `words` (replacing what it held), with `ids`
    /// as decode scratch; returns the snapshot's time.
    pub(crate) fn members_into(
        &self,
        i: usize,
        clients: usize,
        words: &mut Vec<u64>,
        ids: &mut Vec<u64>,
    ) -> Result<Timestamp> {
        let meta = self.members.get(i).ok_or_else(|| {
            Error::corrupt(&self.path, 0, format!("membership snapshot {i} does not exist"))
        })?;
        let bytes: &[u8] = self.bytes.as_ref().as_ref();
        let record = bytes
            .get(meta.start..meta.body_end)
            .ok_or_else(|| self.bad(meta, "membership snapshot past the end of the file"))?;
        if le_u32(bytes, meta.body_end) != Some(crc32fast::hash(record)) {
            return Err(self.bad(meta, "membership snapshot checksum mismatch"));
        }
        if meta.clients > clients {
            return Err(self.bad(meta, "membership snapshot over more clients than the store has"));
        }
        let body = record.get(RECORD_HEADER_LEN..).unwrap_or_default();
        decode_member_set_into(body, meta.clients, words, ids)
            .map_err(|what| self.bad(meta, &format!("membership snapshot: {what}")))?;
        if crate::bytes::changed_underneath(bytes) {
            return Err(self.bad(
                meta,
                "the file was truncated by another program while it was read",
            ));
        }
        words.resize(clients.div_ceil(64), 0);
        Ok(meta.time)
    }

    /// Collection, time and client count of every membership snapshot, in
    /// the order [`CheckpointSet::members`] numbers them (for `check`).
    pub(crate) fn member_snapshots(&self) -> Vec<(CollectionId, Timestamp, usize)> {
        self.members
            .iter()
            .map(|m| (CollectionId(m.deployment.0), m.time, m.clients))
            .collect()
    }

    fn meta(&self, k: usize) -> Result<&RecordMeta> {
        self.records
            .get(k)
            .ok_or_else(|| Error::corrupt(&self.path, 0, format!("checkpoint record {k} does not exist")))
    }

    fn bad(&self, meta: &RecordMeta, what: &str) -> Error {
        Error::corrupt(
            &self.path,
            meta.start as u64,
            format!("checkpoint record: {what}"),
        )
    }
}

/// Checks the file header and walks the record headers, checking every
/// length against the file; bodies and their crcs are left for
/// [`decode_record`]. When the framing is broken, the first earlier record
/// whose crc fails is blamed (a damaged length misframes what follows it).
fn parse_framing(bytes: &[u8], path: &Path) -> Result<Framing> {
    let mut walked = Framing::default();
    match walk_framing(bytes, path, &mut walked) {
        Ok(()) => Ok(walked),
        Err(e) => {
            let mut all: Vec<&RecordMeta> = walked
                .checkpoints
                .iter()
                .chain(&walked.rollups)
                .chain(&walked.members)
                .collect();
            all.sort_by_key(|m| m.start);
            for (k, meta) in all.into_iter().enumerate() {
                let record = bytes.get(meta.start..meta.body_end).unwrap_or_default();
                if le_u32(bytes, meta.body_end) != Some(crc32fast::hash(record)) {
                    return Err(Error::corrupt(
                        path,
                        meta.start as u64,
                        format!("checkpoint record {k}: checksum mismatch"),
                    ));
                }
            }
            Err(e)
        }
    }
}

/// The records of a checkpoint file, by kind, each in file order.
#[derive(Debug, Default)]
struct Framing {
    version: u32,
    checkpoints: Vec<RecordMeta>,
    rollups: Vec<RecordMeta>,
    members: Vec<RecordMeta>,
}

fn walk_framing(bytes: &[u8], path: &Path, out: &mut Framing) -> Result<()> {
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
    out.version = version;
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
    let mut last: HashMap<DeploymentId, usize> = HashMap::new();
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
        if le_u32(bytes, body_end).is_none() {
            return Err(bad("record past the end of the file"));
        }
        at = body_end + 4;
        let deployment = DeploymentId(le_u32(head, 0).ok_or_else(|| bad("header cut short"))?);
        let time = Timestamp(le_i64(head, 4).ok_or_else(|| bad("header cut short"))?);
        let clients = le_u32(head, 12).ok_or_else(|| bad("header cut short"))? as usize;
        let kind = head[16];
        let known = match kind {
            KIND_FULL | KIND_DELTA => true,
            KIND_ROLLUP => version >= 2,
            KIND_MEMBERS => version >= 3,
            _ => false,
        };
        if !known {
            return Err(bad("unknown record kind"));
        }
        if head[17..20] != [0, 0, 0] {
            return Err(bad("reserved bytes are not zero"));
        }
        let mut meta = RecordMeta {
            deployment,
            time,
            clients,
            kind,
            start,
            body_end,
            prev: None,
        };
        if kind == KIND_ROLLUP {
            out.rollups.push(meta);
            continue;
        }
        if kind == KIND_MEMBERS {
            out.members.push(meta);
            continue;
        }
        meta.prev = last.get(&deployment).copied();
        if kind == KIND_DELTA {
            let p = meta
                .prev
                .ok_or_else(|| bad("delta record without an earlier record of its deployment"))?;
            if out.checkpoints[p].clients != clients {
                return Err(bad("delta record changes the client count"));
            }
        }
        last.insert(deployment, out.checkpoints.len());
        out.checkpoints.push(meta);
    }
    if at != bytes.len() {
        return Err(corrupt(at, "bytes after the last checkpoint record"));
    }
    Ok(())
}

/// Checks record `k`'s crc and decodes it; a delta applies to `prev` (the
/// decoded previous record of its deployment).
fn decode_record(
    bytes: &[u8],
    meta: &RecordMeta,
    k: usize,
    prev: Option<&Checkpoint>,
    path: &Path,
) -> Result<Checkpoint> {
    let start = meta.start;
    let bad = |what: &str| Error::corrupt(path, start as u64, format!("checkpoint record {k}: {what}"));
    let record = bytes
        .get(start..meta.body_end)
        .ok_or_else(|| bad("record past the end of the file"))?;
    let stored_crc = le_u32(bytes, meta.body_end).ok_or_else(|| bad("record past the end of the file"))?;
    if crc32fast::hash(record) != stored_crc {
        return Err(bad("checksum mismatch"));
    }
    let (deployment, time, clients) = (meta.deployment, meta.time.0, meta.clients);
    let body = record.get(RECORD_HEADER_LEN..).unwrap_or_default();
    let mut values = Vec::new();
    let mut pos = 0usize;
    let cp = match meta.kind {
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
            let prev = prev
                .filter(|p| p.deployment == deployment)
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
    Ok(cp)
}

/// Decodes a whole checkpoint file written by [`encode_checkpoints`] (every
/// record, in file order); `path` names it in errors. Damage is
/// [`Error::Corrupt`] with the offset of the record (or header) it was found
/// in; a newer format is [`Error::UnsupportedVersion`].
pub(crate) fn decode_checkpoints(bytes: &[u8], path: &Path) -> Result<Vec<Checkpoint>> {
    let set = CheckpointSet::open(crate::bytes::owned(bytes.to_vec()), path.to_path_buf())?;
    let mut out = Vec::with_capacity(set.len());
    set.for_each(|_, cp| {
        out.push(cp.clone());
        Ok(())
    })?;
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
    fn a_set_decodes_any_record_on_demand_like_the_whole_file() {
        // Two deployments, 20 checkpoints each, changing a few clients each
        // time, so deltas are used and chains get cut by full records.
        let n = 1000;
        let mut cps = Vec::new();
        for d in 0..2u32 {
            let mut c = cp(d, 0, vec![NO_STATE; n], vec![i64::MIN; n]);
            for k in 0..20i64 {
                c.time = Timestamp(1000 * (k + 1));
                for j in 0..50 {
                    let client = ((k as usize) * 37 + j * 11 + d as usize) % n;
                    c.states[client] = ((k as usize + j) % 6) as u8;
                    c.times[client] = 1000 * k + j as i64;
                }
                cps.push(c.clone());
            }
        }
        let bytes = encode_checkpoints(&cps);
        let all = decode_checkpoints(&bytes, Path::new("x")).unwrap();
        let set = CheckpointSet::open(crate::bytes::owned(bytes.clone()), PathBuf::from("x")).unwrap();
        assert_eq!(set.len(), cps.len());
        let kinds: Vec<u8> = set.records.iter().map(|r| r.kind).collect();
        assert!(kinds.contains(&KIND_DELTA), "{kinds:?}");
        for d in 0..2usize {
            let run: Vec<u8> = kinds[d * 20..(d + 1) * 20].to_vec();
            let longest = run.split(|&k| k == KIND_FULL).map(<[u8]>::len).max().unwrap_or(0);
            assert!(longest <= MAX_DELTA_CHAIN, "{run:?}");
        }
        // Backwards, forwards and random order all give the same checkpoints.
        let order: Vec<usize> = (0..cps.len())
            .rev()
            .chain(0..cps.len())
            .chain([7, 33, 2, 39, 20])
            .collect();
        for i in order {
            assert_eq!(*set.get(i).unwrap(), all[i], "record {i}");
        }
        assert_eq!(set.latest_at_or_before(DeploymentId(0), Timestamp(999)), None);
        assert_eq!(set.latest_at_or_before(DeploymentId(0), Timestamp(1000)), Some(0));
        assert_eq!(set.latest_at_or_before(DeploymentId(0), Timestamp(5500)), Some(4));
        assert_eq!(
            set.latest_at_or_before(DeploymentId(1), Timestamp(i64::MAX)),
            Some(39)
        );
        assert_eq!(
            set.latest_at_or_before(DeploymentId(2), Timestamp(i64::MAX)),
            None
        );
        // A damaged record is refused when it is used, naming its offset.
        let mut bad = bytes.clone();
        let victim = set.records[25];
        bad[victim.start + RECORD_HEADER_LEN + 1] ^= 0x10;
        let set = CheckpointSet::open(crate::bytes::owned(bad), PathBuf::from("x")).unwrap();
        assert_eq!(*set.get(3).unwrap(), all[3]);
        let err = set.get(25).unwrap_err();
        assert!(
            err.is_corruption() && err.to_string().contains("checksum"),
            "{err}"
        );
        assert!(set.for_each(|_, _| Ok(())).is_err());
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
                found,
                supported: CHECKPOINT_FORMAT_VERSION,
                ..
            }) if found == CHECKPOINT_FORMAT_VERSION + 1
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
