//! Writing checkpoint files: 3-bit state codes, ages in column chunks,
//! full records and delta records against the previous record of the same
//! deployment (at most `MAX_DELTA_CHAIN` in a row), and the header with its
//! crc written last.
//!
//! Invariant: every record is followed by the crc32 of its header and body,
//! and the header's count equals the records written. A writer to a file
//! streams records out as they come (a file of 150 MB is never held in
//! memory) and writes the header over its placeholder at the end.

use std::io::Write as _;

use super::*;
use crate::storage::StorageFile;

/// Bytes a writer to a file holds before it hands them to the file.
pub(super) const SPILL_BYTES: usize = 1 << 20;

pub(crate) fn encode_chunked(values: &[u64], out: &mut Vec<u8>) {
    for chunk in values.chunks(CHUNK) {
        encode_column(chunk, out);
    }
}

/// `time - t` for every client with a state in `clients` (ids into `cp`).
pub(super) fn age_values(cp: &Checkpoint, clients: impl Iterator<Item = usize>) -> Vec<u64> {
    clients
        .filter(|&c| state_code(cp.states[c]) != NO_STATE_CODE)
        .map(|c| (cp.time.0 as u64).wrapping_sub(cp.times.get(c).copied().unwrap_or(i64::MIN) as u64))
        .collect()
}

pub(super) fn full_body(cp: &Checkpoint) -> Vec<u8> {
    let mut body = Vec::new();
    pack(cp.states.iter().map(|&s| state_code(s)), 3, &mut body);
    encode_chunked(&age_values(cp, 0..cp.states.len()), &mut body);
    body
}

/// The delta body against `prev`, or `None` when a delta is not possible.
pub(super) fn delta_body(cp: &Checkpoint, prev: &Checkpoint) -> Option<Vec<u8>> {
    if prev.states.len() > cp.states.len() {
        return None;
    }
    let time_of = |x: &Checkpoint, c: usize| x.times.get(c).copied().unwrap_or(i64::MIN);
    // Clients added since `prev` had no state there.
    let prev_code = |c: usize| prev.states.get(c).map_or(NO_STATE_CODE, |&s| state_code(s));
    let changed: Vec<usize> = (0..cp.states.len())
        .filter(|&c| {
            let (a, b) = (prev_code(c), state_code(cp.states[c]));
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
    /// Bytes not yet handed to `file` (all of them without a file).
    out: Vec<u8>,
    /// Where records stream to, once `out` passes [`SPILL_BYTES`].
    file: Option<Box<dyn StorageFile>>,
    /// The first write error to the file, reported by `finish_file`.
    failed: Option<std::io::Error>,
    /// Bytes handed to `file` so far.
    spilled: u64,
    count: u32,
    cuts: Cuts,
    /// Per deployment: the previous checkpoint and the deltas since a full record.
    last: HashMap<DeploymentId, (Checkpoint, usize)>,
}

impl CheckpointFileWriter {
    pub(crate) fn new() -> CheckpointFileWriter {
        let mut out = Vec::new();
        out.extend_from_slice(&[0; HEADER_LEN]);
        CheckpointFileWriter {
            cuts: Cuts::ALL,
            out,
            file: None,
            failed: None,
            spilled: 0,
            count: 0,
            last: HashMap::new(),
        }
    }

    /// A writer that streams the file's bytes into `file` (new and empty),
    /// holding at most about [`SPILL_BYTES`] of them in memory.
    pub(crate) fn to_file(file: Box<dyn StorageFile>) -> CheckpointFileWriter {
        CheckpointFileWriter {
            file: Some(file),
            ..CheckpointFileWriter::new()
        }
    }

    fn spill(&mut self) {
        let Some(file) = &mut self.file else {
            return;
        };
        if self.failed.is_none() {
            match file.write_all(&self.out) {
                Ok(()) => self.spilled += self.out.len() as u64,
                Err(e) => self.failed = Some(e),
            }
        }
        self.out.clear();
    }

    /// Number of checkpoints pushed.
    pub(crate) fn len(&self) -> usize {
        self.count as usize
    }

    /// Sets what this file supersedes of the earlier files of its chain
    /// (written into the header when the file is finished; the default,
    /// [`Cuts::ALL`], makes it a file for the whole base).
    pub(crate) fn set_cuts(&mut self, cuts: Cuts) {
        self.cuts = cuts;
    }

    /// Makes `cp` (a live checkpoint of an earlier file of the chain, at the
    /// end of `depth` delta records) what the next checkpoint of its
    /// deployment is written against, without writing it.
    pub(crate) fn seed(&mut self, cp: &Checkpoint, depth: usize) {
        self.last.insert(cp.deployment, (cp.clone(), depth));
    }

    /// Copies a record of another checkpoint file as it is (header fields,
    /// body; the crc is computed again over the same bytes).
    pub(crate) fn push_raw(&mut self, raw: &RawRecord<'_>) {
        self.record(raw.deployment, raw.time, raw.clients, raw.kind, raw.body);
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
        if self.out.len() >= SPILL_BYTES {
            self.spill();
        }
    }

    fn header(&self) -> Vec<u8> {
        let mut header = Vec::with_capacity(HEADER_LEN);
        header.extend_from_slice(&MAGIC);
        header.extend_from_slice(&CHECKPOINT_FORMAT_VERSION.to_le_bytes());
        header.extend_from_slice(&self.count.to_le_bytes());
        for t in [
            self.cuts.checkpoints_after,
            self.cuts.rollup_from_hour,
            self.cuts.members_from,
        ] {
            header.extend_from_slice(&t.to_le_bytes());
        }
        let crc = crc32fast::hash(&header);
        header.extend_from_slice(&crc.to_le_bytes());
        header
    }

    /// The file's bytes (a writer made by [`CheckpointFileWriter::new`]).
    #[cfg(test)]
    pub(crate) fn finish(mut self) -> Vec<u8> {
        let header = self.header();
        self.out[..HEADER_LEN].copy_from_slice(&header);
        self.out
    }

    /// Writes what is left and the header (over its placeholder) to the
    /// file of a writer made by [`CheckpointFileWriter::to_file`], and
    /// returns the file, not yet synced, and its length.
    pub(crate) fn finish_file(mut self) -> std::io::Result<(Box<dyn StorageFile>, u64)> {
        self.spill();
        if let Some(e) = self.failed.take() {
            return Err(e);
        }
        let header = self.header();
        let mut file = self
            .file
            .take()
            .ok_or_else(|| std::io::Error::other("checkpoint writer has no file"))?;
        file.write_at_start(&header)?;
        Ok((file, self.spilled))
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
