//! TEMPORARY stand-in for `segment/` and the checkpoint file codec, with the
//! API the segment branch promised, so the store can be built and tested
//! while that branch lands. Deleted when `segment` is merged.
//!
//! Format (not the real one): `RCSG | version | counts | rows | crc`.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::bytes::SharedBytes;
use crate::checkpoint::Checkpoint;
use crate::codec::{HEADER_LEN, Put, Reader, check_header, put_header};
use crate::error::{Error, Result};
use crate::model::{
    CollectionId, DeploymentId, MembershipKey, MembershipRow, Seq, Timestamp, TransitionKey, TransitionRow,
};
use crate::run::{MemRun, MembershipSink, Run, TransitionSink};
use crate::wal::record;

/// What a segment holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct SegmentSummary {
    pub transitions: u64,
    pub memberships: u64,
    pub time_bounds: Option<(Timestamp, Timestamp)>,
    pub seq_bounds: Option<(Seq, Seq)>,
    pub bytes: u64,
}

#[derive(Debug)]
pub(crate) struct SegmentWriter<W: Write> {
    out: W,
    path: PathBuf,
    rows: Vec<TransitionRow>,
}

impl<W: Write> SegmentWriter<W> {
    pub(crate) fn new(out: W, path: PathBuf) -> Self {
        SegmentWriter {
            out,
            path,
            rows: Vec::new(),
        }
    }

    pub(crate) fn push_transitions(&mut self, rows: &[TransitionRow]) -> Result<()> {
        self.rows.extend_from_slice(rows);
        Ok(())
    }

    pub(crate) fn finish(mut self, memberships: Vec<MembershipRow>) -> Result<(W, SegmentSummary)> {
        let mut b = Vec::new();
        put_header(&mut b, b"RCSG", 1);
        b.put_u64(self.rows.len() as u64);
        b.put_u64(memberships.len() as u64);
        for r in &self.rows {
            record::put_transition(&mut b, r);
        }
        for r in &memberships {
            record::put_membership(&mut b, r);
        }
        let crc = crc32fast::hash(&b);
        b.put_u32(crc);
        self.out
            .write_all(&b)
            .map_err(|e| Error::io("write", self.path.clone(), e))?;
        let run = MemRun::new(self.rows, memberships);
        let summary = summarize(&run, b.len() as u64);
        Ok((self.out, summary))
    }
}

fn summarize(run: &MemRun, bytes: u64) -> SegmentSummary {
    let seqs = run
        .transitions()
        .iter()
        .map(|r| r.seq)
        .chain(run.memberships().iter().map(|r| r.seq));
    let seq_bounds = seqs.fold(None, |acc: Option<(Seq, Seq)>, s| {
        Some(acc.map_or((s, s), |(a, b)| (a.min(s), b.max(s))))
    });
    SegmentSummary {
        transitions: run.transition_count(),
        memberships: run.membership_count(),
        time_bounds: run.transition_bounds(),
        seq_bounds,
        bytes,
    }
}

pub(crate) struct SegmentReader {
    bytes: SharedBytes,
    path: PathBuf,
    run: MemRun,
    summary: SegmentSummary,
}

impl std::fmt::Debug for SegmentReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SegmentReader").field("path", &self.path).finish()
    }
}

impl SegmentReader {
    pub(crate) fn open(bytes: SharedBytes, path: PathBuf) -> Result<Self> {
        let b: &[u8] = (*bytes).as_ref();
        check_header(b, b"RCSG", 1, &path)?;
        if b.len() < HEADER_LEN + 20 {
            return Err(Error::corrupt(&path, 0, "segment cut short"));
        }
        let (body, crc) = b.split_at(b.len() - 4);
        if crc32fast::hash(body) != u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]) {
            return Err(Error::corrupt(
                &path,
                HEADER_LEN as u64,
                "segment checksum mismatch",
            ));
        }
        let mut r = Reader::new(body);
        r.take(HEADER_LEN);
        let nt = r.u64().unwrap_or(0) as usize;
        let nm = r.u64().unwrap_or(0) as usize;
        let bad = || Error::corrupt(&path, HEADER_LEN as u64, "segment counts do not fit");
        let t = r
            .take(nt.checked_mul(record::TRANSITION_BYTES).ok_or_else(bad)?)
            .ok_or_else(bad)?;
        let m = r
            .take(nm.checked_mul(record::MEMBERSHIP_BYTES).ok_or_else(bad)?)
            .ok_or_else(bad)?;
        let mut ts = Vec::new();
        let mut ms = Vec::new();
        record::transitions(t, &mut ts).ok_or_else(bad)?;
        record::memberships(m, &mut ms).ok_or_else(bad)?;
        let run = MemRun::new(ts, ms);
        let summary = summarize(&run, b.len() as u64);
        Ok(SegmentReader {
            bytes,
            path,
            run,
            summary,
        })
    }

    pub(crate) fn verify(&self) -> Result<()> {
        SegmentReader::open(self.bytes.clone(), self.path.clone()).map(|_| ())
    }

    pub(crate) fn summary(&self) -> SegmentSummary {
        self.summary
    }
}

impl Run for SegmentReader {
    fn transition_count(&self) -> u64 {
        self.run.transition_count()
    }
    fn membership_count(&self) -> u64 {
        self.run.membership_count()
    }
    fn transition_bounds(&self) -> Option<(Timestamp, Timestamp)> {
        self.run.transition_bounds()
    }
    fn scan_transitions(&self, lo: Timestamp, hi: Timestamp, sink: &mut TransitionSink<'_>) -> Result<u64> {
        self.run.scan_transitions(lo, hi, sink)
    }
    fn scan_memberships(
        &self,
        collection: Option<CollectionId>,
        hi: Timestamp,
        sink: &mut MembershipSink<'_>,
    ) -> Result<u64> {
        self.run.scan_memberships(collection, hi, sink)
    }
    fn contains_transition(&self, key: &TransitionKey) -> Result<bool> {
        self.run.contains_transition(key)
    }
    fn contains_membership(&self, key: &MembershipKey) -> Result<bool> {
        self.run.contains_membership(key)
    }
    fn bytes_on_disk(&self) -> u64 {
        self.summary.bytes
    }
}

pub(crate) fn encode_checkpoints(cps: &[Checkpoint]) -> Vec<u8> {
    let mut b = Vec::new();
    put_header(&mut b, b"RCCK", 1);
    b.put_u64(cps.len() as u64);
    for c in cps {
        b.put_u32(c.deployment.0);
        b.put_i64(c.time.0);
        b.put_u32(c.states.len() as u32);
        b.extend_from_slice(&c.states);
        for t in &c.times {
            b.put_i64(*t);
        }
    }
    let crc = crc32fast::hash(&b);
    b.put_u32(crc);
    b
}

pub(crate) fn decode_checkpoints(b: &[u8], path: &Path) -> Result<Vec<Checkpoint>> {
    check_header(b, b"RCCK", 1, path)?;
    if b.len() < HEADER_LEN + 12 {
        return Err(Error::corrupt(path, 0, "checkpoint file cut short"));
    }
    let (body, crc) = b.split_at(b.len() - 4);
    if crc32fast::hash(body) != u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]) {
        return Err(Error::corrupt(
            path,
            HEADER_LEN as u64,
            "checkpoint checksum mismatch",
        ));
    }
    let mut r = Reader::new(body);
    r.take(HEADER_LEN);
    let bad = |r: &Reader<'_>| Error::corrupt(path, r.pos() as u64, "checkpoint cut short");
    let n = r.u64().ok_or_else(|| bad(&r))?;
    let mut out = Vec::new();
    for _ in 0..n {
        let deployment = DeploymentId(r.u32().ok_or_else(|| bad(&r))?);
        let time = Timestamp(r.i64().ok_or_else(|| bad(&r))?);
        let len = r.u32().ok_or_else(|| bad(&r))? as usize;
        let states = r.take(len).ok_or_else(|| bad(&r))?.to_vec();
        let mut times = Vec::with_capacity(len.min(r.remaining() / 8));
        for _ in 0..len {
            times.push(r.i64().ok_or_else(|| bad(&r))?);
        }
        out.push(Checkpoint {
            deployment,
            time,
            states,
            times,
        });
    }
    Ok(out)
}
