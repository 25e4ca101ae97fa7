//! [`SegmentWriter`]: streams sorted transitions into blocks, then seals the
//! file with the failures section, the membership section, the metadata
//! region and the footer.
//!
//! Invariant: the writer emits bytes strictly front to back (any
//! `std::io::Write` will do); the only things held in memory until
//! [`SegmentWriter::finish`] are the encoded failure blocks (about as large
//! as the failed rows' share of the file), the block index and the
//! error-code table.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;

use super::{
    BLOCK_ROWS, FOOTER_LEN, HEADER_LEN, MAGIC, MAX_BLOCK_ROWS, SEGMENT_FORMAT_VERSION, SegmentSummary,
    encode_column,
};
use crate::error::{Error, Result};
use crate::model::{ErrorCode, MembershipRow, Seq, State, Timestamp, TransitionRow};

/// One block index entry as written (see `docs/format.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BlockMeta {
    pub offset: u64,
    pub len: u32,
    pub rows: u32,
    pub crc: u32,
    /// First row's collection (membership blocks; 0 otherwise).
    pub first_key: u32,
    /// Last row's collection (membership blocks; 0 otherwise).
    pub last_key: u32,
    pub first_time: i64,
    pub last_time: i64,
}

impl BlockMeta {
    fn write_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.offset.to_le_bytes());
        out.extend_from_slice(&self.len.to_le_bytes());
        out.extend_from_slice(&self.rows.to_le_bytes());
        out.extend_from_slice(&self.crc.to_le_bytes());
        out.extend_from_slice(&self.first_key.to_le_bytes());
        out.extend_from_slice(&self.last_key.to_le_bytes());
        out.extend_from_slice(&self.first_time.to_le_bytes());
        out.extend_from_slice(&self.last_time.to_le_bytes());
    }
}

/// Error codes in first-seen order; index 0 in a column means "no code".
#[derive(Debug, Default)]
struct ErrorTable {
    codes: Vec<ErrorCode>,
    ids: HashMap<ErrorCode, u64>,
}

impl ErrorTable {
    fn id(&mut self, code: Option<ErrorCode>) -> u64 {
        match code {
            None => 0,
            Some(c) => *self.ids.entry(c).or_insert_with(|| {
                self.codes.push(c);
                self.codes.len() as u64
            }),
        }
    }
}

/// Writes one segment file. Feed it transitions in `(time, seq)` order with
/// [`SegmentWriter::push_transitions`], then seal it with
/// [`SegmentWriter::finish`].
#[derive(Debug)]
pub(crate) struct SegmentWriter<W: Write> {
    out: W,
    path: PathBuf,
    block_rows: usize,
    /// Bytes written so far (the offset of the next byte).
    offset: u64,
    /// A write failed; the output is unusable.
    failed: bool,
    pending: Vec<TransitionRow>,
    pending_failures: Vec<TransitionRow>,
    /// Encoded failure blocks; their `offset` is relative to this buffer.
    failure_bytes: Vec<u8>,
    failure_index: Vec<BlockMeta>,
    transition_index: Vec<BlockMeta>,
    errors: ErrorTable,
    last: Option<(Timestamp, Seq)>,
    transitions: u64,
    failures: u64,
    time_bounds: Option<(Timestamp, Timestamp)>,
    seq_bounds: Option<(Seq, Seq)>,
    scratch: Vec<u64>,
    block: Vec<u8>,
}

fn widen(bounds: &mut Option<(Seq, Seq)>, s: Seq) {
    *bounds = Some(match *bounds {
        None => (s, s),
        Some((a, b)) => (a.min(s), b.max(s)),
    });
}

impl<W: Write> SegmentWriter<W> {
    /// A writer onto `out`; `path` only names the file in errors.
    pub(crate) fn new(out: W, path: PathBuf) -> Self {
        SegmentWriter {
            out,
            path,
            block_rows: BLOCK_ROWS,
            offset: 0,
            failed: false,
            pending: Vec::new(),
            pending_failures: Vec::new(),
            failure_bytes: Vec::new(),
            failure_index: Vec::new(),
            transition_index: Vec::new(),
            errors: ErrorTable::default(),
            last: None,
            transitions: 0,
            failures: 0,
            time_bounds: None,
            seq_bounds: None,
            scratch: Vec::new(),
            block: Vec::new(),
        }
    }

    /// Sets the rows per block (tests use tiny blocks to exercise block edges).
    #[cfg_attr(
        not(test),
        expect(dead_code, reason = "tests use tiny blocks to reach block edges")
    )]
    pub(crate) fn with_block_rows(mut self, rows: usize) -> Self {
        self.block_rows = rows.clamp(1, MAX_BLOCK_ROWS);
        self
    }

    fn check_usable(&self) -> Result<()> {
        if self.failed {
            return Err(Error::InvalidInput(format!(
                "segment writer for {} failed earlier; start a new file",
                self.path.display()
            )));
        }
        Ok(())
    }

    fn write(&mut self, bytes: &[u8]) -> Result<()> {
        if let Err(e) = self.out.write_all(bytes) {
            self.failed = true;
            return Err(Error::io("write", &self.path, e));
        }
        self.offset += bytes.len() as u64;
        Ok(())
    }

    fn write_header(&mut self) -> Result<()> {
        if self.offset > 0 {
            return Ok(());
        }
        let mut h = Vec::with_capacity(HEADER_LEN);
        h.extend_from_slice(&MAGIC);
        h.extend_from_slice(&SEGMENT_FORMAT_VERSION.to_le_bytes());
        let crc = crc32fast::hash(&h);
        h.extend_from_slice(&crc.to_le_bytes());
        self.write(&h)
    }

    /// Appends transitions. They must continue `(time, seq)` order (strictly
    /// increasing) across calls; otherwise nothing of `rows` is taken and
    /// the call returns [`Error::InvalidInput`].
    pub(crate) fn push_transitions(&mut self, rows: &[TransitionRow]) -> Result<()> {
        self.check_usable()?;
        let mut last = self.last;
        for (i, r) in rows.iter().enumerate() {
            let key = (r.time, r.seq);
            if last.is_some_and(|l| key <= l) {
                return Err(Error::InvalidInput(format!(
                    "segment {}: transition {i} of the chunk at time {} ms, seq {} does not follow time {} ms, seq {}; \
                     sort rows by (time, seq) before writing",
                    self.path.display(),
                    r.time.0,
                    r.seq.0,
                    last.map_or(0, |l| l.0.0),
                    last.map_or(0, |l| l.1.0)
                )));
            }
            last = Some(key);
        }
        self.write_header()?;
        self.last = last;
        for r in rows {
            self.transitions += 1;
            self.time_bounds = Some(match self.time_bounds {
                None => (r.time, r.time),
                Some((a, _)) => (a, r.time),
            });
            widen(&mut self.seq_bounds, r.seq);
            self.pending.push(*r);
            if r.state == State::Failed {
                self.failures += 1;
                self.pending_failures.push(*r);
                if self.pending_failures.len() >= self.block_rows {
                    self.flush_failures();
                }
            }
            if self.pending.len() >= self.block_rows {
                self.flush_transitions()?;
            }
        }
        Ok(())
    }

    fn encode_transition_block(&mut self, rows: &[TransitionRow]) -> BlockMeta {
        let block = &mut self.block;
        let s = &mut self.scratch;
        block.clear();
        s.clear();
        s.extend(rows.iter().map(|r| r.time.0 as u64));
        encode_column(s, block);
        s.clear();
        s.extend(rows.iter().map(|r| r.seq.0));
        encode_column(s, block);
        s.clear();
        s.extend(rows.iter().map(|r| u64::from(r.client.0)));
        encode_column(s, block);
        s.clear();
        s.extend(rows.iter().map(|r| u64::from(r.deployment.0)));
        encode_column(s, block);
        s.clear();
        s.extend(rows.iter().map(|r| r.state as u64));
        encode_column(s, block);
        s.clear();
        let errors = &mut self.errors;
        s.extend(rows.iter().map(|r| errors.id(r.error)));
        encode_column(s, block);
        BlockMeta {
            offset: 0,
            len: block.len() as u32,
            rows: rows.len() as u32,
            crc: crc32fast::hash(block),
            first_key: 0,
            last_key: 0,
            first_time: rows.first().map_or(0, |r| r.time.0),
            last_time: rows.last().map_or(0, |r| r.time.0),
        }
    }

    fn flush_transitions(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let rows = std::mem::take(&mut self.pending);
        let mut meta = self.encode_transition_block(&rows);
        meta.offset = self.offset;
        let block = std::mem::take(&mut self.block);
        let written = self.write(&block);
        self.block = block;
        self.pending = rows;
        self.pending.clear();
        written?;
        self.transition_index.push(meta);
        Ok(())
    }

    fn flush_failures(&mut self) {
        if self.pending_failures.is_empty() {
            return;
        }
        let rows = std::mem::take(&mut self.pending_failures);
        let mut meta = self.encode_transition_block(&rows);
        meta.offset = self.failure_bytes.len() as u64;
        self.failure_bytes.extend_from_slice(&self.block);
        self.failure_index.push(meta);
        self.pending_failures = rows;
        self.pending_failures.clear();
    }

    /// Encodes and writes one membership block; its index entry.
    fn write_membership_block(&mut self, rows: &[MembershipRow]) -> Result<BlockMeta> {
        let mut meta = self.encode_membership_block(rows);
        meta.offset = self.offset;
        let block = std::mem::take(&mut self.block);
        let written = self.write(&block);
        self.block = block;
        written?;
        Ok(meta)
    }

    fn encode_membership_block(&mut self, rows: &[MembershipRow]) -> BlockMeta {
        let block = &mut self.block;
        let s = &mut self.scratch;
        block.clear();
        s.clear();
        s.extend(rows.iter().map(|r| u64::from(r.collection.0)));
        encode_column(s, block);
        s.clear();
        s.extend(rows.iter().map(|r| r.time.0 as u64));
        encode_column(s, block);
        s.clear();
        s.extend(rows.iter().map(|r| r.seq.0));
        encode_column(s, block);
        s.clear();
        s.extend(rows.iter().map(|r| u64::from(r.client.0)));
        encode_column(s, block);
        s.clear();
        s.extend(rows.iter().map(|r| r.change as u64));
        encode_column(s, block);
        BlockMeta {
            offset: 0,
            len: block.len() as u32,
            rows: rows.len() as u32,
            crc: crc32fast::hash(block),
            first_key: rows.first().map_or(0, |r| r.collection.0),
            last_key: rows.last().map_or(0, |r| r.collection.0),
            first_time: rows.first().map_or(0, |r| r.time.0),
            last_time: rows.last().map_or(0, |r| r.time.0),
        }
    }

    /// Seals the file: the failures section, the membership section (sorted
    /// here by `(collection, time, seq)`), the metadata region, the footer
    /// and the trailer. Returns the output and what the file holds.
    #[cfg(test)]
    pub(crate) fn finish(self, mut memberships: Vec<MembershipRow>) -> Result<(W, SegmentSummary)> {
        memberships.sort_unstable_by_key(|r| (r.collection, r.time, r.seq));
        self.finish_streamed(|sink| sink(&memberships))
    }

    /// [`SegmentWriter::finish`] with the membership changes handed over by
    /// `source` in chunks, already in `(collection, time, seq)` order (a
    /// chunk out of order is an error), so that they need not all be in
    /// memory at once. The file is the same as `finish` writes.
    pub(crate) fn finish_streamed(
        mut self,
        source: impl FnOnce(&mut dyn FnMut(&[MembershipRow]) -> Result<()>) -> Result<()>,
    ) -> Result<(W, SegmentSummary)> {
        self.check_usable()?;
        self.write_header()?;
        self.flush_transitions()?;
        self.flush_failures();

        let failures_start = self.offset;
        let failure_bytes = std::mem::take(&mut self.failure_bytes);
        self.write(&failure_bytes)?;
        for m in &mut self.failure_index {
            m.offset += failures_start;
        }

        let mut directory: Vec<(u32, u64, u64)> = Vec::new();
        let mut membership_index = Vec::new();
        let mut pending: Vec<MembershipRow> = Vec::with_capacity(self.block_rows);
        let mut membership_count = 0u64;
        let mut last: Option<(u32, i64, u64)> = None;
        source(&mut |rows| {
            for r in rows {
                let key = (r.collection.0, r.time.0, r.seq.0);
                if last.is_some_and(|l| key <= l) {
                    return Err(Error::InvalidInput(format!(
                        "membership change {key:?} handed to the segment writer out of order"
                    )));
                }
                last = Some(key);
                widen(&mut self.seq_bounds, r.seq);
                match directory.last_mut() {
                    Some(d) if d.0 == r.collection.0 => d.2 += 1,
                    _ => directory.push((r.collection.0, membership_count, 1)),
                }
                membership_count += 1;
                pending.push(*r);
                if pending.len() >= self.block_rows {
                    membership_index.push(self.write_membership_block(&pending)?);
                    pending.clear();
                }
            }
            Ok(())
        })?;
        if !pending.is_empty() {
            membership_index.push(self.write_membership_block(&pending)?);
        }
        drop(pending);

        let meta_offset = self.offset;
        let mut meta = Vec::new();
        for c in &self.errors.codes {
            meta.extend_from_slice(&c.0.to_le_bytes());
        }
        for (collection, first, rows) in &directory {
            meta.extend_from_slice(&collection.to_le_bytes());
            meta.extend_from_slice(&first.to_le_bytes());
            meta.extend_from_slice(&rows.to_le_bytes());
        }
        for m in self
            .transition_index
            .iter()
            .chain(&self.failure_index)
            .chain(&membership_index)
        {
            m.write_to(&mut meta);
        }
        self.write(&meta)?;

        let (min_time, max_time) = self.time_bounds.map_or((0, 0), |(a, b)| (a.0, b.0));
        let (min_seq, max_seq) = self.seq_bounds.map_or((0, 0), |(a, b)| (a.0, b.0));
        let mut footer = Vec::with_capacity(FOOTER_LEN);
        footer.extend_from_slice(&SEGMENT_FORMAT_VERSION.to_le_bytes());
        footer.extend_from_slice(&(self.block_rows as u32).to_le_bytes());
        footer.extend_from_slice(&self.transitions.to_le_bytes());
        footer.extend_from_slice(&self.failures.to_le_bytes());
        footer.extend_from_slice(&membership_count.to_le_bytes());
        footer.extend_from_slice(&min_time.to_le_bytes());
        footer.extend_from_slice(&max_time.to_le_bytes());
        footer.extend_from_slice(&min_seq.to_le_bytes());
        footer.extend_from_slice(&max_seq.to_le_bytes());
        footer.extend_from_slice(&(self.transition_index.len() as u32).to_le_bytes());
        footer.extend_from_slice(&(self.failure_index.len() as u32).to_le_bytes());
        footer.extend_from_slice(&(membership_index.len() as u32).to_le_bytes());
        footer.extend_from_slice(&(self.errors.codes.len() as u32).to_le_bytes());
        footer.extend_from_slice(&(directory.len() as u32).to_le_bytes());
        footer.extend_from_slice(&meta_offset.to_le_bytes());
        footer.extend_from_slice(&(meta.len() as u64).to_le_bytes());
        footer.extend_from_slice(&crc32fast::hash(&meta).to_le_bytes());
        debug_assert_eq!(footer.len(), FOOTER_LEN);
        let footer_crc = crc32fast::hash(&footer);
        footer.extend_from_slice(&(FOOTER_LEN as u32).to_le_bytes());
        footer.extend_from_slice(&footer_crc.to_le_bytes());
        footer.extend_from_slice(&MAGIC);
        self.write(&footer)?;
        if let Err(e) = self.out.flush() {
            return Err(Error::io("flush", &self.path, e));
        }
        let summary = SegmentSummary {
            transitions: self.transitions,
            memberships: membership_count,
            time_bounds: self.time_bounds,
            seq_bounds: self.seq_bounds,
            bytes: self.offset,
        };
        Ok((self.out, summary))
    }
}
