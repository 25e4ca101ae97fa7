//! [`SegmentReader`]: validates a sealed segment's framing once at open, then
//! decodes blocks on demand for the [`Run`] methods.
//!
//! Invariants:
//! * `open` checks the header, trailer, footer and metadata crcs, and every
//!   offset, length and count in them against the file size and against each
//!   other, so later slicing by index entries stays in bounds (it still uses
//!   checked slicing);
//! * a block's crc is checked before every decode (crc32 runs at several GB/s,
//!   a few percent of decode time), so a block changed on disk after an earlier
//!   query is still caught; bytes of a mapped file that another program
//!   truncated are refused after decoding (`storage::guarded_map`);
//! * a decoded block is checked for order, value ranges and agreement with its
//!   index entry before a single row reaches a sink.
//!
//! The code is split by what it reads: [`framing`] checks a file's
//! header, trailer, footer and metadata at open; [`decode`] turns one block
//! into rows or columns; this module holds the reader, its scans and the
//! [`Run`] implementation.

mod decode;
mod framing;

use framing::parse;

use std::fmt;

use rayon::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::writer::BlockMeta;
use super::{
    Column, DIRECTORY_ENTRY_LEN, FOOTER_LEN, HEADER_LEN, INDEX_ENTRY_LEN, MAGIC, MAX_BLOCK_ROWS,
    MEMBERSHIP_COLUMNS, SEGMENT_FORMAT_VERSION, SegmentSummary, TRAILER_LEN, TRANSITION_COLUMNS,
};
use crate::bytes::SharedBytes;
use crate::error::{Error, Result};
use crate::model::{
    Change, ClientId, CollectionId, DeploymentId, ErrorCode, MembershipKey, MembershipRow, Seq, State,
    Timestamp, TransitionKey, TransitionRow,
};
use crate::run::{DeploymentColumn, MembershipSink, Run, StateColumns, StateSink, TransitionSink};

/// The three block sections, in file order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Section {
    Transitions,
    Failures,
    Memberships,
}

impl Section {
    fn name(self) -> &'static str {
        match self {
            Section::Transitions => "transition",
            Section::Failures => "failure",
            Section::Memberships => "membership",
        }
    }
}

/// One collection's rows in the membership section.
#[derive(Debug, Clone, Copy)]
struct DirEntry {
    collection: u32,
    first_row: u64,
    rows: u64,
}

/// Reads one sealed segment file. `Send + Sync`; every method takes `&self`.
pub(crate) struct SegmentReader {
    bytes: SharedBytes,
    path: PathBuf,
    summary: SegmentSummary,
    failures: u64,
    /// Index 0 is "no code"; `k` is the `k`-th code of the table.
    errors: Vec<Option<ErrorCode>>,
    directory: Vec<DirEntry>,
    transition_blocks: Vec<BlockMeta>,
    failure_blocks: Vec<BlockMeta>,
    membership_blocks: Vec<BlockMeta>,
    /// First row number of each membership block.
    membership_starts: Vec<u64>,
    /// One flag per block, transitions then failures then memberships.
    block_count: usize,
    /// The last transition block decoded for a duplicate probe.
    probe_transitions: Mutex<Option<(usize, Vec<TransitionRow>)>>,
    /// The last membership block decoded for a duplicate probe.
    probe_memberships: Mutex<Option<(usize, Vec<MembershipRow>)>>,
}

impl fmt::Debug for SegmentReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SegmentReader")
            .field("path", &self.path)
            .field("summary", &self.summary)
            .field("failures", &self.failures)
            .field("blocks", &self.block_count)
            .finish_non_exhaustive()
    }
}

const NO_MEMBERSHIP: MembershipRow = MembershipRow {
    time: Timestamp(0),
    seq: Seq(0),
    client: ClientId(0),
    collection: CollectionId(0),
    change: Change::Join,
};

/// One decode buffer per column.
type Values = [Vec<u64>; TRANSITION_COLUMNS];

/// The decoded columns of one block for an as-of replay (see
/// [`SegmentReader::decode_state_columns`]).
#[derive(Default)]
struct StateBlock {
    values: Values,
    /// The block's deployment when its column is constant (then
    /// `values[3]` is left empty).
    deployment: Option<u64>,
}

/// Reusable decode buffers of one scan.
#[derive(Default)]
struct Scratch {
    values: Values,
    transitions: Vec<TransitionRow>,
    memberships: Vec<MembershipRow>,
}

fn u32_value(v: u64, bad: &mut bool) -> u32 {
    *bad |= v > u64::from(u32::MAX);
    v as u32
}

impl SegmentReader {
    /// Opens a segment held in `bytes`; `path` names it in errors.
    ///
    /// Checks the magic, the format version (a newer one is
    /// [`Error::UnsupportedVersion`]), the header, footer and metadata crcs,
    /// and every offset, length and count against the file size and each
    /// other. Block crcs are checked on every decode, and all by [`Self::verify`].
    pub(crate) fn open(bytes: SharedBytes, path: PathBuf) -> Result<SegmentReader> {
        let (summary, failures, errors, directory, blocks) = parse(bytes.as_ref().as_ref(), &path)?;
        if crate::bytes::changed_underneath(bytes.as_ref().as_ref()) {
            return Err(Error::corrupt(
                path,
                0,
                "the file was truncated by another program while this store had it mapped",
            ));
        }
        let [transition_blocks, failure_blocks, membership_blocks] = blocks;
        let mut membership_starts = Vec::with_capacity(membership_blocks.len());
        let mut row = 0u64;
        for m in &membership_blocks {
            membership_starts.push(row);
            row += u64::from(m.rows);
        }
        let total = transition_blocks.len() + failure_blocks.len() + membership_blocks.len();
        Ok(SegmentReader {
            bytes,
            path,
            summary,
            failures,
            errors,
            directory,
            transition_blocks,
            failure_blocks,
            membership_blocks,
            membership_starts,
            block_count: total,
            probe_transitions: Mutex::new(None),
            probe_memberships: Mutex::new(None),
        })
    }

    /// Gives back the memory reading the file took (see
    /// [`crate::bytes::FileBytes::release_pages`]); the reader stays usable.
    pub(crate) fn release_pages(&self) {
        self.bytes.release_pages();
    }

    /// What the segment holds.
    pub(crate) fn summary(&self) -> SegmentSummary {
        self.summary
    }

    /// Checks every block's crc and decodes every block, checking row order,
    /// value ranges, the failure count and the collection directory.
    pub(crate) fn verify(&self) -> Result<()> {
        let mut s = Scratch::default();
        for section in [Section::Transitions, Section::Failures, Section::Memberships] {
            for i in 0..self.blocks(section).len() {
                self.block(section, i)?;
            }
        }
        let mut failed = 0u64;
        let mut prev: Option<(Timestamp, Seq)> = None;
        let (min_seq, max_seq) = self.summary.seq_bounds.map_or((0, 0), |(a, b)| (a.0, b.0));
        for (i, m) in self.transition_blocks.iter().enumerate() {
            self.decode_transitions(Section::Transitions, i, &mut s.values, &mut s.transitions)?;
            for r in &s.transitions {
                if prev.is_some_and(|p| (r.time, r.seq) <= p) || r.seq.0 < min_seq || r.seq.0 > max_seq {
                    return Err(self.corrupt(
                        m.offset,
                        format!("transition block {i}: row out of order or seq out of bounds"),
                    ));
                }
                prev = Some((r.time, r.seq));
                failed += u64::from(r.state == State::Failed);
            }
        }
        if failed != self.failures {
            return Err(self.corrupt(
                self.footer_offset(),
                format!(
                    "footer counts {} failures, the transition blocks hold {failed}",
                    self.failures
                ),
            ));
        }
        for i in 0..self.failure_blocks.len() {
            self.decode_transitions(Section::Failures, i, &mut s.values, &mut s.transitions)?;
        }
        let mut prev: Option<(CollectionId, Timestamp, Seq)> = None;
        let mut dir = self.directory.iter().peekable();
        let mut row = 0u64;
        for (i, m) in self.membership_blocks.iter().enumerate() {
            self.decode_memberships(i, &mut s.values, &mut s.memberships)?;
            for r in &s.memberships {
                while dir.peek().is_some_and(|d| d.first_row + d.rows <= row) {
                    dir.next();
                }
                let listed = dir.peek().map(|d| d.collection);
                if listed != Some(r.collection.0)
                    || prev.is_some_and(|p| (r.collection, r.time, r.seq) <= p)
                    || r.seq.0 < min_seq
                    || r.seq.0 > max_seq
                {
                    return Err(self.corrupt(
                        m.offset,
                        format!("membership block {i}: row out of order or not in the collection directory"),
                    ));
                }
                prev = Some((r.collection, r.time, r.seq));
                row += 1;
            }
        }
        Ok(())
    }

    fn corrupt(&self, offset: u64, what: impl Into<String>) -> Error {
        Error::corrupt(&self.path, offset, what)
    }

    fn footer_offset(&self) -> u64 {
        self.summary.bytes - (TRAILER_LEN + FOOTER_LEN) as u64
    }

    fn blocks(&self, section: Section) -> &[BlockMeta] {
        match section {
            Section::Transitions => &self.transition_blocks,
            Section::Failures => &self.failure_blocks,
            Section::Memberships => &self.membership_blocks,
        }
    }

    /// The bytes of block `i`, crc-checked.
    fn block(&self, section: Section, i: usize) -> Result<(&[u8], &BlockMeta)> {
        let m = self
            .blocks(section)
            .get(i)
            .ok_or_else(|| self.corrupt(0, format!("{} block {i} does not exist", section.name())))?;
        let start = m.offset as usize;
        let data: &[u8] = self.bytes.as_ref().as_ref();
        let bytes = data
            .get(start..start.saturating_add(m.len as usize))
            .ok_or_else(|| {
                self.corrupt(
                    m.offset,
                    format!("{} block {i} lies past the end of the file", section.name()),
                )
            })?;
        let crc = crc32fast::hash(bytes);
        // A truncation by another program explains a mismatch best: say so.
        self.check_unchanged(m.offset)?;
        if crc != m.crc {
            return Err(self.corrupt(
                m.offset,
                format!(
                    "{} block {i} checksum mismatch (stored {:08x}, computed {crc:08x})",
                    section.name(),
                    m.crc
                ),
            ));
        }
        Ok((bytes, m))
    }

    /// Damage found in block `i` (at `m`) of `section`.
    fn bad_block(&self, section: Section, i: usize, m: &BlockMeta, what: &str) -> Error {
        self.corrupt(m.offset, format!("{} block {i}: {what}", section.name()))
    }
}

impl SegmentReader {
    /// Fails when another program truncated the mapped file while it was
    /// read (`storage::guarded_map`): rows decoded from it must not be used.
    fn check_unchanged(&self, offset: u64) -> Result<()> {
        if crate::bytes::changed_underneath(self.bytes.as_ref().as_ref()) {
            return Err(self.corrupt(
                offset,
                "the file was truncated by another program while this store had it mapped",
            ));
        }
        Ok(())
    }

    /// The blocks `[start, end)` of `section` that may hold rows with
    /// `lo <= time <= hi`; `None` for an empty range.
    fn blocks_between(&self, section: Section, lo: Timestamp, hi: Timestamp) -> Option<(usize, usize)> {
        if lo > hi {
            return None;
        }
        let blocks = self.blocks(section);
        let start = blocks.partition_point(|m| m.last_time < lo.0);
        let end = blocks.partition_point(|m| m.first_time <= hi.0).max(start);
        Some((start, end))
    }

    fn scan_section(
        &self,
        section: Section,
        lo: Timestamp,
        hi: Timestamp,
        sink: &mut TransitionSink<'_>,
    ) -> Result<u64> {
        let blocks = self.blocks(section);
        let Some((start, end)) = self.blocks_between(section, lo, hi) else {
            return Ok(0);
        };
        // Each row passed on lies in [lo, hi]; only the edge blocks need cutting.
        let deliver = |m: &BlockMeta, rows: &[TransitionRow], sink: &mut TransitionSink<'_>| -> Result<u64> {
            let a = if m.first_time >= lo.0 {
                0
            } else {
                rows.partition_point(|r| r.time < lo)
            };
            let b = if m.last_time <= hi.0 {
                rows.len()
            } else {
                rows.partition_point(|r| r.time <= hi)
            };
            match rows.get(a..b).filter(|s| !s.is_empty()) {
                Some(slice) => {
                    sink(slice)?;
                    Ok(slice.len() as u64)
                }
                None => Ok(0),
            }
        };
        self.decode_in_order(
            start,
            end,
            |i, (values, rows): &mut (Values, Vec<TransitionRow>)| {
                self.decode_transitions(section, i, values, rows)
            },
            |i, (_, rows)| match blocks.get(i) {
                Some(m) => deliver(m, rows, sink),
                None => Ok(0),
            },
        )
    }

    /// Block and row range `[first, end)` of one collection's memberships.
    fn collection_rows(&self, c: CollectionId) -> Option<(u64, u64)> {
        let k = self.directory.binary_search_by_key(&c.0, |d| d.collection).ok()?;
        let d = self.directory.get(k)?;
        Some((d.first_row, d.first_row + d.rows))
    }

    /// Visits the changes of collection `c` with `lo <= time <= hi`, starting
    /// at the first membership block that can hold one.
    fn scan_collection(
        &self,
        c: CollectionId,
        lo: Timestamp,
        hi: Timestamp,
        s: &mut Scratch,
        sink: &mut MembershipSink<'_>,
    ) -> Result<u64> {
        let Some((first, end)) = self.collection_rows(c) else {
            return Ok(0);
        };
        let mut n = 0u64;
        let mut block = self.block_of_row(first);
        if lo > Timestamp::MIN {
            let past = self
                .membership_blocks
                .partition_point(|m| (m.last_key, m.last_time) < (c.0, lo.0));
            block = block.max(past);
        }
        let mut row = first.max(self.membership_starts.get(block).copied().unwrap_or(end));
        while row < end {
            let start = self.membership_starts.get(block).copied().unwrap_or(u64::MAX);
            let Some(meta) = self.membership_blocks.get(block) else {
                return Err(self.corrupt(
                    self.footer_offset(),
                    "collection directory points past the last membership block",
                ));
            };
            if (meta.first_key, meta.first_time) > (c.0, hi.0) {
                // Every row from here on is of a later collection or time.
                break;
            }
            self.decode_memberships(block, &mut s.values, &mut s.memberships)?;
            let a = (row.saturating_sub(start)) as usize;
            let b = ((end - start) as usize).min(s.memberships.len());
            let slice = s.memberships.get(a..b).unwrap_or_default();
            if slice.iter().any(|r| r.collection != c) {
                return Err(self.corrupt(
                    meta.offset,
                    format!("membership block {block} disagrees with the collection directory"),
                ));
            }
            let from = slice.partition_point(|r| r.time < lo);
            let k = slice.partition_point(|r| r.time <= hi);
            if k > from {
                sink(&slice[from..k])?;
                n += (k - from) as u64;
            }
            if k < slice.len() {
                break;
            }
            row = start + s.memberships.len() as u64;
            block += 1;
        }
        Ok(n)
    }

    fn block_of_row(&self, row: u64) -> usize {
        self.membership_starts
            .partition_point(|&s| s <= row)
            .saturating_sub(1)
    }

    /// Runs `f` on decoded transition block `i`, reusing the probe cache.
    fn with_probe_block<R>(&self, i: usize, f: impl FnOnce(&[TransitionRow]) -> R) -> Result<R> {
        if let Ok(mut guard) = self.probe_transitions.try_lock() {
            if let Some((b, rows)) = guard.as_ref()
                && *b == i
            {
                return Ok(f(rows));
            }
            let mut rows = guard.take().map(|(_, r)| r).unwrap_or_default();
            let mut values = Values::default();
            self.decode_transitions(Section::Transitions, i, &mut values, &mut rows)?;
            let out = f(&rows);
            *guard = Some((i, rows));
            return Ok(out);
        }
        let mut s = Scratch::default();
        self.decode_transitions(Section::Transitions, i, &mut s.values, &mut s.transitions)?;
        Ok(f(&s.transitions))
    }

    /// Runs `f` on decoded membership block `i`, reusing the probe cache.
    fn with_probe_membership_block<R>(&self, i: usize, f: impl FnOnce(&[MembershipRow]) -> R) -> Result<R> {
        if let Ok(mut guard) = self.probe_memberships.try_lock() {
            if let Some((b, rows)) = guard.as_ref()
                && *b == i
            {
                return Ok(f(rows));
            }
            let mut rows = guard.take().map(|(_, r)| r).unwrap_or_default();
            let mut values = Values::default();
            self.decode_memberships(i, &mut values, &mut rows)?;
            let out = f(&rows);
            *guard = Some((i, rows));
            return Ok(out);
        }
        let mut s = Scratch::default();
        self.decode_memberships(i, &mut s.values, &mut s.memberships)?;
        Ok(f(&s.memberships))
    }
}

impl Run for SegmentReader {
    fn transition_count(&self) -> u64 {
        self.summary.transitions
    }

    fn seq_bounds(&self) -> Option<(Seq, Seq)> {
        self.summary.seq_bounds
    }

    fn membership_count(&self) -> u64 {
        self.summary.memberships
    }

    fn transition_bounds(&self) -> Option<(Timestamp, Timestamp)> {
        self.summary.time_bounds
    }

    fn transitions_between(&self, lo: Timestamp, hi: Timestamp) -> u64 {
        // The rows of the blocks that reach into the range: exact to a block
        // at each edge.
        let Some((start, end)) = self.blocks_between(Section::Transitions, lo, hi) else {
            return 0;
        };
        let blocks = self.blocks(Section::Transitions);
        blocks
            .get(start..end)
            .unwrap_or_default()
            .iter()
            .map(|m| u64::from(m.rows))
            .sum()
    }

    fn scan_transitions(&self, lo: Timestamp, hi: Timestamp, sink: &mut TransitionSink<'_>) -> Result<u64> {
        self.scan_section(Section::Transitions, lo, hi, sink)
    }

    fn scan_failures(&self, lo: Timestamp, hi: Timestamp, sink: &mut TransitionSink<'_>) -> Result<u64> {
        self.scan_section(Section::Failures, lo, hi, sink)
    }

    fn scan_states(
        &self,
        lo: Timestamp,
        hi: Timestamp,
        with_time: bool,
        sink: &mut StateSink<'_>,
    ) -> Result<u64> {
        self.scan_state_columns(lo, hi, with_time, u64::MAX, sink)
    }

    fn scan_states_below(
        &self,
        lo: Timestamp,
        hi: Timestamp,
        with_time: bool,
        below: u64,
        sink: &mut StateSink<'_>,
    ) -> Result<u64> {
        self.scan_state_columns(lo, hi, with_time, below, sink)
    }

    fn scan_memberships(
        &self,
        collection: Option<CollectionId>,
        hi: Timestamp,
        sink: &mut MembershipSink<'_>,
    ) -> Result<u64> {
        let mut s = Scratch::default();
        let mut n = 0u64;
        let Some(c) = collection else {
            for i in 0..self.membership_blocks.len() {
                self.decode_memberships(i, &mut s.values, &mut s.memberships)?;
                s.memberships.retain(|r| r.time <= hi);
                if !s.memberships.is_empty() {
                    sink(&s.memberships)?;
                    n += s.memberships.len() as u64;
                }
            }
            return Ok(n);
        };
        self.scan_collection(c, Timestamp::MIN, hi, &mut s, sink)
    }

    fn scan_collection_changes(
        &self,
        collection: CollectionId,
        lo: Timestamp,
        hi: Timestamp,
        sink: &mut MembershipSink<'_>,
    ) -> Result<u64> {
        self.scan_collection(collection, lo, hi, &mut Scratch::default(), sink)
    }

    fn contains_transition(&self, key: &TransitionKey) -> Result<bool> {
        let t = key.time.0;
        let start = self.transition_blocks.partition_point(|m| m.last_time < t);
        for i in start..self.transition_blocks.len() {
            if self.transition_blocks[i].first_time > t {
                break;
            }
            let found = self.with_probe_block(i, |rows| {
                let a = rows.partition_point(|r| r.time.0 < t);
                rows[a..]
                    .iter()
                    .take_while(|r| r.time.0 == t)
                    .any(|r| r.identity() == *key)
            })?;
            if found {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn contains_membership(&self, key: &MembershipKey) -> Result<bool> {
        let probe = (key.collection.0, key.time.0);
        let start = self
            .membership_blocks
            .partition_point(|m| (m.last_key, m.last_time) < probe);
        for i in start..self.membership_blocks.len() {
            let m = &self.membership_blocks[i];
            if (m.first_key, m.first_time) > probe {
                break;
            }
            let found = self.with_probe_membership_block(i, |rows| {
                let a = rows.partition_point(|r| (r.collection.0, r.time.0) < probe);
                rows[a..]
                    .iter()
                    .take_while(|r| (r.collection.0, r.time.0) == probe)
                    .any(|r| r.identity() == *key)
            })?;
            if found {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn bytes_on_disk(&self) -> u64 {
        self.summary.bytes
    }
}
