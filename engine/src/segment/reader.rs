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

/// Little-endian field reader over a slice whose length was checked by the
/// caller; a short read still returns an error instead of panicking.
struct Fields<'a> {
    bytes: &'a [u8],
    at: usize,
    /// File offset of `bytes[0]`, for error reports.
    base: u64,
    path: &'a Path,
}

impl Fields<'_> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N]> {
        let s = self
            .bytes
            .get(self.at..self.at + N)
            .ok_or_else(|| Error::corrupt(self.path, self.base + self.at as u64, "structure cut short"))?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        self.at += N;
        Ok(a)
    }
    fn u32(&mut self) -> Result<u32> {
        self.take::<4>().map(u32::from_le_bytes)
    }
    fn u64(&mut self) -> Result<u64> {
        self.take::<8>().map(u64::from_le_bytes)
    }
    fn i64(&mut self) -> Result<i64> {
        self.take::<8>().map(i64::from_le_bytes)
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

    /// Decodes transition or failure block `i` into `rows`.
    fn decode_transitions(
        &self,
        section: Section,
        i: usize,
        values: &mut Values,
        rows: &mut Vec<TransitionRow>,
    ) -> Result<()> {
        let (bytes, m) = self.block(section, i)?;
        let n = m.rows as usize;
        let bad_block = |what: &str| self.bad_block(section, i, m, what);
        let mut at = 0usize;
        let mut next = || -> Result<Column<'_>> {
            let rest = bytes.get(at..).unwrap_or_default();
            let (col, used) = Column::parse(rest, n).map_err(|e| bad_block(e.0))?;
            at += used;
            Ok(col)
        };
        let cols: [Column<'_>; TRANSITION_COLUMNS] = [next()?, next()?, next()?, next()?, next()?, next()?];
        if at != bytes.len() {
            return Err(bad_block("bytes left after the last column"));
        }
        let [t, sq, cl, dp, st, er] = values;
        cols[0].decode(t);
        cols[1].decode(sq);
        cols[2].decode(cl);
        cols[3].decode(dp);
        cols[4].decode(st);
        cols[5].decode(er);
        // Range checks first, branch-free, so the assembly below cannot fail.
        let max_id = u64::from(u32::MAX);
        let errors = &self.errors;
        let bad = cl.iter().chain(dp.iter()).fold(false, |b, &v| b | (v > max_id))
            | st.iter().fold(false, |b, &v| b | (v >= State::ALL.len() as u64))
            | er.iter().fold(false, |b, &v| b | (v >= errors.len() as u64));
        if bad {
            return Err(bad_block("id, state or error index out of range"));
        }
        let ordered = t
            .windows(2)
            .zip(sq.windows(2))
            .all(|(a, b)| (a[0] as i64, b[0]) < (a[1] as i64, b[1]));
        let bounds = t.first().map(|&v| v as i64) == Some(m.first_time)
            && t.last().map(|&v| v as i64) == Some(m.last_time);
        if !ordered || !bounds {
            return Err(bad_block(
                "rows out of (time, seq) order or disagreeing with the block index",
            ));
        }
        const STATES: [State; 6] = State::ALL;
        rows.clear();
        rows.extend(
            t.iter()
                .zip(sq.iter())
                .zip(cl.iter())
                .zip(dp.iter())
                .zip(st.iter())
                .zip(er.iter())
                .map(|(((((&t, &s), &c), &d), &st), &e)| TransitionRow {
                    time: Timestamp(t as i64),
                    seq: Seq(s),
                    client: ClientId(c as u32),
                    deployment: DeploymentId(d as u32),
                    state: STATES[(st as usize).min(5)],
                    error: errors.get(e as usize).copied().flatten(),
                }),
        );
        if section == Section::Failures && rows.iter().any(|r| r.state != State::Failed) {
            return Err(bad_block("a row of the failures section is not Failed"));
        }
        self.check_unchanged(m.offset)
    }

    /// Decodes the client, deployment and state columns of transition block
    /// `i` into `values[2]`, `values[3]`, `values[4]` of `block` (a constant
    /// deployment column goes to `block.deployment` instead, `values[3]`
    /// left empty), and with `with_time` the time column into `values[0]`
    /// (an as-of replay needs no more; the other columns are skipped by
    /// length). The block's crc is checked as always; of the row checks
    /// [`Self::decode_transitions`] makes, the state range is checked (from
    /// the column header when it bounds every value below 6, else per row),
    /// and the first and last time against the block index when times are
    /// decoded.
    fn decode_state_columns(&self, i: usize, block: &mut StateBlock, with_time: bool) -> Result<()> {
        let section = Section::Transitions;
        let (bytes, m) = self.block(section, i)?;
        let n = m.rows as usize;
        let bad_block = |what: &str| self.bad_block(section, i, m, what);
        let mut at = 0usize;
        block.deployment = None;
        let mut states_in_range = false;
        let values = &mut block.values;
        for (k, values) in values.iter_mut().enumerate() {
            let rest = bytes.get(at..).unwrap_or_default();
            let wanted = matches!(k, 2..=4) || (k == 0 && with_time);
            at += if wanted {
                let (col, used) = Column::parse(rest, n).map_err(|e| bad_block(e.0))?;
                // States below 6 by the column's header need no check per row.
                states_in_range |= k == 4 && col.upper_bound().is_some_and(|b| b < State::ALL.len() as u64);
                match col.constant().filter(|_| k == 3) {
                    Some(deployment) => {
                        block.deployment = Some(deployment);
                        values.clear();
                    }
                    None => col.decode(values),
                }
                used
            } else {
                values.clear();
                Column::skip(rest, n).map_err(|e| bad_block(e.0))?
            };
        }
        if at != bytes.len() {
            return Err(bad_block("bytes left after the last column"));
        }
        let bad_state = !states_in_range
            && values[4]
                .iter()
                .fold(false, |b, &v| b | (v >= State::ALL.len() as u64));
        let t = &values[0];
        let bounds = !with_time
            || (t.first().map(|&v| v as i64) == Some(m.first_time)
                && t.last().map(|&v| v as i64) == Some(m.last_time));
        if bad_state || !bounds {
            return Err(bad_block(
                "state index out of range, or times disagreeing with the block index",
            ));
        }
        self.check_unchanged(m.offset)
    }

    /// [`Run::scan_states`]: like [`Self::scan_section`] over transitions,
    /// decoding only the replay's columns (times only where asked, or where
    /// a block straddles `lo` or `hi`).
    fn scan_state_columns(
        &self,
        lo: Timestamp,
        hi: Timestamp,
        with_time: bool,
        sink: &mut StateSink<'_>,
    ) -> Result<u64> {
        let blocks = self.blocks(Section::Transitions);
        let Some((start, end)) = self.blocks_between(Section::Transitions, lo, hi) else {
            return Ok(0);
        };
        let inside = |m: &BlockMeta| m.first_time >= lo.0 && m.last_time <= hi.0;
        let needs_time = |m: &BlockMeta| with_time || !inside(m);
        let deliver = |m: &BlockMeta, block: &StateBlock, sink: &mut StateSink<'_>| -> Result<u64> {
            let v = &block.values;
            let t = &v[0];
            let (a, b) = if inside(m) {
                (0, v[2].len())
            } else {
                (
                    t.partition_point(|&x| (x as i64) < lo.0),
                    t.partition_point(|&x| (x as i64) <= hi.0),
                )
            };
            if a >= b {
                return Ok(0);
            }
            sink(StateColumns {
                time: t.get(a..b).filter(|_| with_time),
                client: &v[2][a..b],
                deployment: match block.deployment {
                    Some(d) => DeploymentColumn::Constant(d),
                    None => DeploymentColumn::PerRow(&v[3][a..b]),
                },
                state: &v[4][a..b],
            })?;
            Ok((b - a) as u64)
        };
        self.decode_in_order(
            start,
            end,
            |i, block: &mut StateBlock| {
                let m = blocks
                    .get(i)
                    .ok_or_else(|| self.corrupt(0, "block index out of range"))?;
                self.decode_state_columns(i, block, needs_time(m))
            },
            |i, values| match blocks.get(i) {
                Some(m) => deliver(m, values, sink),
                None => Ok(0),
            },
        )
    }

    /// Decodes blocks `start..end` with `decode` and hands each to
    /// `deliver` in block order: one at a time for short scans, else a
    /// window of blocks decoded in parallel at a time, the buffers reused
    /// from window to window. Returns the sum of what `deliver` returns.
    fn decode_in_order<V: Default + Send>(
        &self,
        start: usize,
        end: usize,
        decode: impl Fn(usize, &mut V) -> Result<()> + Sync,
        mut deliver: impl FnMut(usize, &V) -> Result<u64>,
    ) -> Result<u64> {
        let mut n = 0u64;
        if end.saturating_sub(start) <= 2 {
            let mut buf = V::default();
            for i in start..end {
                decode(i, &mut buf)?;
                n += deliver(i, &buf)?;
            }
            return Ok(n);
        }
        let window = (2 * rayon::current_num_threads()).clamp(2, 16);
        let mut bufs: Vec<V> = (0..window.min(end - start)).map(|_| V::default()).collect();
        let mut i = start;
        while i < end {
            let j = (i + window).min(end);
            let decoded: Vec<Result<()>> = bufs[..j - i]
                .par_iter_mut()
                .enumerate()
                .map(|(k, buf)| decode(i + k, buf))
                .collect();
            for (k, result) in decoded.into_iter().enumerate() {
                result?;
                if let Some(buf) = bufs.get(k) {
                    n += deliver(i + k, buf)?;
                }
            }
            i = j;
        }
        Ok(n)
    }

    /// Decodes membership block `i` into `rows`.
    fn decode_memberships(&self, i: usize, values: &mut Values, rows: &mut Vec<MembershipRow>) -> Result<()> {
        let (bytes, m) = self.block(Section::Memberships, i)?;
        let n = m.rows as usize;
        let bad_block = |what: &str| self.bad_block(Section::Memberships, i, m, what);
        let mut at = 0usize;
        let mut next = || -> Result<Column<'_>> {
            let rest = bytes.get(at..).unwrap_or_default();
            let (col, used) = Column::parse(rest, n).map_err(|e| bad_block(e.0))?;
            at += used;
            Ok(col)
        };
        let cols: [Column<'_>; MEMBERSHIP_COLUMNS] = [next()?, next()?, next()?, next()?, next()?];
        if at != bytes.len() {
            return Err(bad_block("bytes left after the last column"));
        }
        rows.clear();
        rows.resize(n, NO_MEMBERSHIP);
        let values = &mut values[0];
        let mut bad = false;
        cols[0].decode(values);
        for (r, &v) in rows.iter_mut().zip(values.iter()) {
            r.collection = CollectionId(u32_value(v, &mut bad));
        }
        cols[1].decode(values);
        for (r, &v) in rows.iter_mut().zip(values.iter()) {
            r.time = Timestamp(v as i64);
        }
        cols[2].decode(values);
        for (r, &v) in rows.iter_mut().zip(values.iter()) {
            r.seq = Seq(v);
        }
        cols[3].decode(values);
        for (r, &v) in rows.iter_mut().zip(values.iter()) {
            r.client = ClientId(u32_value(v, &mut bad));
        }
        cols[4].decode(values);
        for (r, &v) in rows.iter_mut().zip(values.iter()) {
            bad |= v > 1;
            r.change = if v == 0 { Change::Join } else { Change::Leave };
        }
        if bad {
            return Err(bad_block("id or change out of range"));
        }
        let ordered = rows
            .windows(2)
            .all(|w| (w[0].collection, w[0].time, w[0].seq) < (w[1].collection, w[1].time, w[1].seq));
        let first = rows.first().map(|r| (r.collection.0, r.time.0));
        let last = rows.last().map(|r| (r.collection.0, r.time.0));
        if !ordered || first != Some((m.first_key, m.first_time)) || last != Some((m.last_key, m.last_time)) {
            return Err(bad_block(
                "rows out of (collection, time, seq) order or disagreeing with the block index",
            ));
        }
        self.check_unchanged(m.offset)
    }

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
        self.scan_state_columns(lo, hi, with_time, sink)
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

type Parsed = (
    SegmentSummary,
    u64,
    Vec<Option<ErrorCode>>,
    Vec<DirEntry>,
    [Vec<BlockMeta>; 3],
);

/// Validates the framing of a segment and parses its metadata.
fn parse(data: &[u8], path: &Path) -> Result<Parsed> {
    let corrupt = |offset: u64, what: String| Error::corrupt(path, offset, what);
    let len = data.len();
    // Header: magic, version, crc. The magic and version come first so that a
    // file of a newer version is reported as such.
    let header = data
        .get(..HEADER_LEN)
        .ok_or_else(|| corrupt(0, format!("file is {len} bytes, shorter than a segment header")))?;
    if header[..8] != MAGIC {
        return Err(corrupt(0, "not a rollcall segment (bad magic)".into()));
    }
    let mut h = Fields {
        bytes: header,
        at: 8,
        base: 0,
        path,
    };
    let version = h.u32()?;
    let header_crc = h.u32()?;
    if version > SEGMENT_FORMAT_VERSION {
        return Err(Error::UnsupportedVersion {
            file: path.to_path_buf(),
            found: version,
            supported: SEGMENT_FORMAT_VERSION,
        });
    }
    if version == 0 {
        return Err(corrupt(8, "format version 0 does not exist".into()));
    }
    if crc32fast::hash(&header[..12]) != header_crc {
        return Err(corrupt(0, "header checksum mismatch".into()));
    }
    if len < HEADER_LEN + FOOTER_LEN + TRAILER_LEN {
        return Err(corrupt(
            len as u64,
            format!("file is {len} bytes, too short to hold a footer"),
        ));
    }

    // Trailer: footer length, footer crc, magic.
    let trailer_at = len - TRAILER_LEN;
    let trailer = data.get(trailer_at..).unwrap_or_default();
    let mut t = Fields {
        bytes: trailer,
        at: 0,
        base: trailer_at as u64,
        path,
    };
    let footer_len = t.u32()?;
    let footer_crc = t.u32()?;
    if trailer.get(8..16) != Some(&MAGIC[..]) {
        return Err(corrupt(
            trailer_at as u64 + 8,
            "trailer magic missing; the file is cut short or damaged".into(),
        ));
    }
    if footer_len as usize != FOOTER_LEN {
        return Err(corrupt(
            trailer_at as u64,
            format!("footer length {footer_len} is not {FOOTER_LEN}"),
        ));
    }
    let footer_at = trailer_at - FOOTER_LEN;
    let footer = data.get(footer_at..trailer_at).unwrap_or_default();
    if crc32fast::hash(footer) != footer_crc {
        return Err(corrupt(footer_at as u64, "footer checksum mismatch".into()));
    }

    let mut f = Fields {
        bytes: footer,
        at: 0,
        base: footer_at as u64,
        path,
    };
    let footer_version = f.u32()?;
    let _block_rows = f.u32()?;
    let transitions = f.u64()?;
    let failures = f.u64()?;
    let memberships = f.u64()?;
    let min_time = f.i64()?;
    let max_time = f.i64()?;
    let min_seq = f.u64()?;
    let max_seq = f.u64()?;
    let t_blocks = f.u32()? as u64;
    let f_blocks = f.u32()? as u64;
    let m_blocks = f.u32()? as u64;
    let error_codes = f.u32()? as u64;
    let collections = f.u32()? as u64;
    let meta_offset = f.u64()?;
    let meta_len = f.u64()?;
    let meta_crc = f.u32()?;
    let fo = footer_at as u64;
    if footer_version != version {
        return Err(corrupt(
            fo,
            format!("footer version {footer_version} differs from header version {version}"),
        ));
    }
    if meta_offset < HEADER_LEN as u64 || meta_offset.checked_add(meta_len) != Some(fo) {
        return Err(corrupt(
            fo,
            "metadata region does not end where the footer starts".into(),
        ));
    }
    let expected_meta = error_codes * 4
        + collections * DIRECTORY_ENTRY_LEN as u64
        + (t_blocks + f_blocks + m_blocks) * INDEX_ENTRY_LEN as u64;
    if expected_meta != meta_len {
        return Err(corrupt(
            fo,
            format!("metadata region is {meta_len} bytes, its counts need {expected_meta}"),
        ));
    }
    let meta = data.get(meta_offset as usize..footer_at).unwrap_or_default();
    if crc32fast::hash(meta) != meta_crc {
        return Err(corrupt(meta_offset, "metadata checksum mismatch".into()));
    }

    let mut m = Fields {
        bytes: meta,
        at: 0,
        base: meta_offset,
        path,
    };
    let mut errors = Vec::with_capacity(error_codes as usize + 1);
    errors.push(None);
    for _ in 0..error_codes {
        errors.push(Some(ErrorCode(m.u32()?)));
    }
    let mut directory = Vec::with_capacity(collections as usize);
    for _ in 0..collections {
        directory.push(DirEntry {
            collection: m.u32()?,
            first_row: m.u64()?,
            rows: m.u64()?,
        });
    }
    let mut read_blocks = |count: u64| -> Result<Vec<BlockMeta>> {
        let mut v = Vec::with_capacity(count as usize);
        for _ in 0..count {
            v.push(BlockMeta {
                offset: m.u64()?,
                len: m.u32()?,
                rows: m.u32()?,
                crc: m.u32()?,
                first_key: m.u32()?,
                last_key: m.u32()?,
                first_time: m.i64()?,
                last_time: m.i64()?,
            });
        }
        Ok(v)
    };
    let tb = read_blocks(t_blocks)?;
    let fb = read_blocks(f_blocks)?;
    let mb = read_blocks(m_blocks)?;
    let index_at = meta_offset + error_codes * 4 + collections * DIRECTORY_ENTRY_LEN as u64;
    let bad_index = |k: usize, what: &str| {
        corrupt(
            index_at + (k * INDEX_ENTRY_LEN) as u64,
            format!("block index entry {k}: {what}"),
        )
    };

    // Blocks tile [HEADER_LEN, meta_offset) exactly, in section order.
    let mut expect = HEADER_LEN as u64;
    for (k, b) in tb.iter().chain(&fb).chain(&mb).enumerate() {
        let cols = if k < tb.len() + fb.len() {
            TRANSITION_COLUMNS
        } else {
            MEMBERSHIP_COLUMNS
        };
        if b.offset != expect {
            return Err(bad_index(k, "block does not start where the previous one ends"));
        }
        if (b.len as usize) < cols * super::columns::COLUMN_HEADER_LEN {
            return Err(bad_index(k, "block shorter than its column headers"));
        }
        if b.rows == 0 || b.rows as usize > MAX_BLOCK_ROWS {
            return Err(bad_index(k, "block row count out of range"));
        }
        expect += u64::from(b.len);
    }
    if expect != meta_offset {
        return Err(corrupt(
            fo,
            "blocks do not end where the metadata region starts".into(),
        ));
    }
    let rows = |v: &[BlockMeta]| v.iter().map(|b| u64::from(b.rows)).sum::<u64>();
    if rows(&tb) != transitions || rows(&fb) != failures || rows(&mb) != memberships || failures > transitions
    {
        return Err(corrupt(fo, "block row counts disagree with the footer".into()));
    }
    for (k, b) in tb.iter().chain(&fb).enumerate() {
        if b.first_key != 0
            || b.last_key != 0
            || b.first_time > b.last_time
            || b.first_time < min_time
            || b.last_time > max_time
        {
            return Err(bad_index(k, "transition block keys or times out of range"));
        }
    }
    for (section, base) in [(&tb, 0), (&fb, tb.len())] {
        for (k, w) in section.windows(2).enumerate() {
            if w[0].last_time > w[1].first_time {
                return Err(bad_index(base + k + 1, "transition blocks out of time order"));
            }
        }
    }
    if transitions > 0 {
        if tb.first().map(|b| b.first_time) != Some(min_time)
            || tb.last().map(|b| b.last_time) != Some(max_time)
        {
            return Err(corrupt(
                fo,
                "footer time bounds disagree with the block index".into(),
            ));
        }
    } else if min_time != 0 || max_time != 0 {
        return Err(corrupt(fo, "footer has time bounds but no transitions".into()));
    }
    let base = tb.len() + fb.len();
    for (k, b) in mb.iter().enumerate() {
        if (b.first_key, b.first_time) > (b.last_key, b.last_time) {
            return Err(bad_index(base + k, "membership block keys out of order"));
        }
    }
    for (k, w) in mb.windows(2).enumerate() {
        if (w[0].last_key, w[0].last_time) > (w[1].first_key, w[1].first_time) {
            return Err(bad_index(base + k + 1, "membership blocks out of order"));
        }
    }
    let any_rows = transitions > 0 || memberships > 0;
    if (any_rows && min_seq > max_seq) || (!any_rows && (min_seq, max_seq) != (0, 0)) {
        return Err(corrupt(fo, "footer seq bounds are inconsistent".into()));
    }
    // Directory: ascending collections, contiguous non-empty row ranges that
    // cover the section, agreeing with the first and last block keys.
    let dir_at = meta_offset + error_codes * 4;
    let mut next_row = 0u64;
    for (k, d) in directory.iter().enumerate() {
        let ordered = k == 0 || directory[k - 1].collection < d.collection;
        let end = next_row.checked_add(d.rows);
        if !ordered || d.first_row != next_row || d.rows == 0 || end.is_none() {
            return Err(corrupt(
                dir_at + (k * DIRECTORY_ENTRY_LEN) as u64,
                format!("collection directory entry {k} is out of order"),
            ));
        }
        next_row = end.unwrap_or(u64::MAX);
    }
    if next_row != memberships
        || directory.first().map(|d| d.collection) != mb.first().map(|b| b.first_key)
        || directory.last().map(|d| d.collection) != mb.last().map(|b| b.last_key)
    {
        return Err(corrupt(
            dir_at,
            "collection directory disagrees with the membership blocks".into(),
        ));
    }

    let summary = SegmentSummary {
        transitions,
        memberships,
        time_bounds: (transitions > 0).then_some((Timestamp(min_time), Timestamp(max_time))),
        seq_bounds: any_rows.then_some((Seq(min_seq), Seq(max_seq))),
        bytes: len as u64,
    };
    Ok((summary, failures, errors, directory, [tb, fb, mb]))
}
