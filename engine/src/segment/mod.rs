//! Segment files: sealed, immutable, columnar files of transitions and
//! membership changes, written once by [`SegmentWriter`] and read through
//! [`SegmentReader`], which implements [`crate::run::Run`].
//!
//! This module owns the byte layout (see `docs/format.md`, "Segment files")
//! and nothing else: it never touches the file system (the writer gets any
//! `Write`, the reader a [`crate::bytes::SharedBytes`]), and it knows nothing
//! of the write-ahead log or of the store's manifest.
//!
//! Invariants:
//! * every byte of a segment is covered by a checksum or compared with a
//!   constant: the header by its own crc, each block by the crc in the block
//!   index, the metadata region (error table, collection directory, block
//!   index) by the crc in the footer, the footer by the crc in the trailer,
//!   and the trailer by its magic and the footer length it must state;
//! * the reader never trusts a length or offset read from the file: each is
//!   checked against the file size and against the counts before use, and
//!   a block's crc is checked before its first decode;
//! * transitions are stored in `(time, seq)` order, memberships in
//!   `(collection, time, seq)` order; `Failed` transitions are stored twice,
//!   once in the transition section and once in the failures section.

mod columns;
mod reader;
mod writer;

pub(crate) use columns::{Column, encode as encode_column, pack, packed_len, unpack};
pub(crate) use reader::SegmentReader;
pub(crate) use writer::SegmentWriter;

use crate::model::{Seq, Timestamp};

/// The newest segment format this build writes and reads.
pub(crate) const SEGMENT_FORMAT_VERSION: u32 = 1;

/// First and last eight bytes of every segment file.
pub(crate) const MAGIC: [u8; 8] = *b"RCLLSEG\0";

/// `magic, version u32, crc32 u32` of the first 12 bytes.
pub(crate) const HEADER_LEN: usize = 16;
/// `footer_len u32, footer crc32 u32, magic`.
pub(crate) const TRAILER_LEN: usize = 16;
/// Size of the version-1 footer.
pub(crate) const FOOTER_LEN: usize = 104;
/// Size of one block index entry.
pub(crate) const INDEX_ENTRY_LEN: usize = 44;
/// Size of one collection directory entry.
pub(crate) const DIRECTORY_ENTRY_LEN: usize = 20;
/// Rows per block the writer aims for.
pub(crate) const BLOCK_ROWS: usize = 4096;
/// Most rows a reader accepts in one block (bounds decode buffers).
pub(crate) const MAX_BLOCK_ROWS: usize = 1 << 16;

/// Columns of a transition block, in order.
pub(crate) const TRANSITION_COLUMNS: usize = 6;
/// Columns of a membership block, in order.
pub(crate) const MEMBERSHIP_COLUMNS: usize = 5;

/// What a sealed segment holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct SegmentSummary {
    /// Transitions stored.
    pub transitions: u64,
    /// Membership changes stored.
    pub memberships: u64,
    /// Smallest and largest transition time.
    pub time_bounds: Option<(Timestamp, Timestamp)>,
    /// Smallest and largest seq over transitions and membership changes.
    pub seq_bounds: Option<(Seq, Seq)>,
    /// Size of the whole file.
    pub bytes: u64,
}

#[cfg(test)]
mod tests;
