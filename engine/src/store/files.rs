//! Sealed segment files as the store holds them: written through a
//! temporary name, fsynced, renamed, then mapped and read as a [`Run`]; and
//! deleted only once retired *and* no snapshot holds them any more.

use std::io::{BufWriter, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::{Error, Result};
use crate::manifest::{FileRef, seg_name};
use crate::model::{
    CollectionId, MembershipKey, MembershipRow, Seq, Timestamp, TransitionKey, TransitionRow,
};
use crate::run::{MembershipSink, Run, StateSink, TransitionSink};
use crate::segment::{SegmentReader, SegmentWriter};
use crate::storage::{Storage, StorageFile, io_err, seal};

/// A sealed segment file, mapped, with its name.
///
/// Invariant: the file is removed by `Drop` only after [`SegmentFile::retire`],
/// which the store calls once a durable manifest no longer names the file;
/// since every snapshot holds an `Arc`, the last reader to let go deletes it.
#[derive(Debug)]
pub(crate) struct SegmentFile {
    reader: SegmentReader,
    number: u64,
    bytes: u64,
    storage: Arc<dyn Storage>,
    retired: AtomicBool,
}

impl SegmentFile {
    /// Maps and opens the segment the manifest names.
    pub(crate) fn open(storage: &Arc<dyn Storage>, file: FileRef) -> Result<Arc<SegmentFile>> {
        let name = seg_name(file.number);
        let bytes = storage
            .map(&name)
            .map_err(|e| io_err(&**storage, "open", &name, e))?;
        let len = (*bytes).as_ref().len() as u64;
        if len != file.bytes {
            return Err(Error::corrupt(
                storage.path(&name),
                len.min(file.bytes),
                format!("segment is {len} bytes, the manifest says {}", file.bytes),
            ));
        }
        let reader = SegmentReader::open(bytes, storage.path(&name))?;
        Ok(Arc::new(SegmentFile {
            reader,
            number: file.number,
            bytes: len,
            storage: storage.clone(),
            retired: AtomicBool::new(false),
        }))
    }

    /// The manifest entry for this file.
    pub(crate) fn file_ref(&self) -> FileRef {
        FileRef {
            number: self.number,
            bytes: self.bytes,
        }
    }

    /// Marks the file for deletion when the last holder drops it.
    pub(crate) fn retire(&self) {
        self.retired.store(true, Ordering::Release);
    }

    pub(crate) fn reader(&self) -> &SegmentReader {
        &self.reader
    }
}

impl Drop for SegmentFile {
    fn drop(&mut self) {
        if self.retired.load(Ordering::Acquire) {
            // Best effort: a file left behind is an orphan, removed by the
            // next writer to open the store.
            let _ = self.storage.remove(&seg_name(self.number));
        }
    }
}

impl Run for SegmentFile {
    fn transition_count(&self) -> u64 {
        self.reader.transition_count()
    }
    fn membership_count(&self) -> u64 {
        self.reader.membership_count()
    }
    fn transition_bounds(&self) -> Option<(Timestamp, Timestamp)> {
        self.reader.transition_bounds()
    }
    fn transitions_between(&self, lo: Timestamp, hi: Timestamp) -> u64 {
        self.reader.transitions_between(lo, hi)
    }
    fn scan_transitions(&self, lo: Timestamp, hi: Timestamp, sink: &mut TransitionSink<'_>) -> Result<u64> {
        self.reader.scan_transitions(lo, hi, sink)
    }
    fn scan_failures(&self, lo: Timestamp, hi: Timestamp, sink: &mut TransitionSink<'_>) -> Result<u64> {
        self.reader.scan_failures(lo, hi, sink)
    }
    fn scan_memberships(
        &self,
        collection: Option<CollectionId>,
        hi: Timestamp,
        sink: &mut MembershipSink<'_>,
    ) -> Result<u64> {
        self.reader.scan_memberships(collection, hi, sink)
    }
    // Every method is forwarded, defaults included: the reader overrides
    // them with faster paths.
    fn scan_states(
        &self,
        lo: Timestamp,
        hi: Timestamp,
        with_time: bool,
        sink: &mut StateSink<'_>,
    ) -> Result<u64> {
        self.reader.scan_states(lo, hi, with_time, sink)
    }
    fn scan_states_below(
        &self,
        lo: Timestamp,
        hi: Timestamp,
        with_time: bool,
        below: u64,
        sink: &mut StateSink<'_>,
    ) -> Result<u64> {
        self.reader.scan_states_below(lo, hi, with_time, below, sink)
    }
    fn scan_collection_changes(
        &self,
        collection: CollectionId,
        lo: Timestamp,
        hi: Timestamp,
        sink: &mut MembershipSink<'_>,
    ) -> Result<u64> {
        self.reader.scan_collection_changes(collection, lo, hi, sink)
    }
    fn contains_transition(&self, key: &TransitionKey) -> Result<bool> {
        self.reader.contains_transition(key)
    }
    fn contains_membership(&self, key: &MembershipKey) -> Result<bool> {
        self.reader.contains_membership(key)
    }
    fn bytes_on_disk(&self) -> u64 {
        self.bytes
    }
    fn seq_bounds(&self) -> Option<(Seq, Seq)> {
        self.reader.summary().seq_bounds
    }
}

/// A segment being written: rows go in `(time, seq)` order across calls.
pub(crate) struct SegmentBuild {
    writer: SegmentWriter<BufWriter<Box<dyn StorageFile>>>,
    number: u64,
    tmp: String,
    rows: u64,
    last_time: Option<Timestamp>,
}

impl std::fmt::Debug for SegmentBuild {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SegmentBuild")
            .field("number", &self.number)
            .field("rows", &self.rows)
            .finish()
    }
}

impl SegmentBuild {
    /// Starts segment `number` under its temporary name.
    pub(crate) fn create(storage: &dyn Storage, number: u64) -> Result<SegmentBuild> {
        let tmp = format!("{}.tmp", seg_name(number));
        let file = storage
            .create(&tmp)
            .map_err(|e| io_err(storage, "create", &tmp, e))?;
        Ok(SegmentBuild {
            writer: SegmentWriter::new(BufWriter::with_capacity(1 << 20, file), storage.path(&tmp)),
            number,
            tmp,
            rows: 0,
            last_time: None,
        })
    }

    /// Transitions written so far.
    pub(crate) fn rows(&self) -> u64 {
        self.rows
    }

    /// Time of the last transition written.
    pub(crate) fn last_time(&self) -> Option<Timestamp> {
        self.last_time
    }

    pub(crate) fn push(&mut self, rows: &[TransitionRow]) -> Result<()> {
        if let Some(last) = rows.last() {
            self.writer.push_transitions(rows)?;
            self.rows += rows.len() as u64;
            self.last_time = Some(last.time);
        }
        Ok(())
    }

    /// Seals the segment (fsync, rename, directory fsync) and opens it.
    pub(crate) fn finish(
        self,
        storage: &Arc<dyn Storage>,
        mut memberships: Vec<MembershipRow>,
    ) -> Result<Arc<SegmentFile>> {
        memberships.sort_unstable_by_key(|r| (r.collection, r.time, r.seq));
        self.finish_streamed(storage, |sink| sink(&memberships))
    }

    /// [`SegmentBuild::finish`] with membership changes streamed in
    /// `(collection, time, seq)` order (see `SegmentWriter::finish_streamed`).
    pub(crate) fn finish_streamed(
        self,
        storage: &Arc<dyn Storage>,
        memberships: impl FnOnce(&mut dyn FnMut(&[MembershipRow]) -> Result<()>) -> Result<()>,
    ) -> Result<Arc<SegmentFile>> {
        let (buffered, summary) = self.writer.finish_streamed(memberships)?;
        let mut file = buffered
            .into_inner()
            .map_err(|e| io_err(&**storage, "write", &self.tmp, e.into_error()))?;
        file.flush()
            .map_err(|e| io_err(&**storage, "write", &self.tmp, e))?;
        file.sync()
            .map_err(|e| io_err(&**storage, "fsync", &self.tmp, e))?;
        drop(file);
        let name = seg_name(self.number);
        seal(&**storage, &self.tmp, &name)?;
        SegmentFile::open(
            storage,
            FileRef {
                number: self.number,
                bytes: summary.bytes,
            },
        )
    }
}

/// Writes sorted rows as one sealed segment.
pub(crate) fn write_segment(
    storage: &Arc<dyn Storage>,
    number: u64,
    transitions: &[TransitionRow],
    memberships: Vec<MembershipRow>,
) -> Result<Arc<SegmentFile>> {
    let mut build = SegmentBuild::create(&**storage, number)?;
    for chunk in transitions.chunks(64 * 1024) {
        build.push(chunk)?;
    }
    build.finish(storage, memberships)
}
