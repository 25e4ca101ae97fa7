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
//! The file encoding is split in two: [`writer`] (the state codes, column
//! chunks, full and delta records, [`CheckpointFileWriter`]) and [`reader`]
//! (framing checks, lazy per-record decoding, [`CheckpointSet`]).
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

/// The newest checkpoint file format this build reads, and the one it
/// writes. Version 5 made files a *chain*: a file holds what one compaction
/// cut, and its header says which records of earlier files it supersedes
/// ([`Cuts`]). Versions 1 to 4 (a file for the whole base) still read.
pub(crate) const CHECKPOINT_FORMAT_VERSION: u32 = 5;

/// The first version whose header carries [`Cuts`].
pub(crate) const CHAIN_FORMAT_VERSION: u32 = 5;

/// The deployment id of the sparse-rollup marker record.
pub(crate) const SPARSE_ROLLUP: u32 = u32::MAX;

const MAGIC: [u8; 8] = *b"RCLLCKP\0";
/// Header bytes of versions 1 to 4: magic, version, count, crc.
const OLD_HEADER_LEN: usize = 20;
/// Header bytes from version 5: magic, version, count, the three cut
/// times, crc.
const HEADER_LEN: usize = 44;

fn header_len(version: u32) -> usize {
    if version >= CHAIN_FORMAT_VERSION {
        HEADER_LEN
    } else {
        OLD_HEADER_LEN
    }
}

/// A record of a checkpoint file as stored (its crc checked), for a merge of
/// files that copies records instead of decoding them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RawRecord<'a> {
    pub deployment: DeploymentId,
    pub time: i64,
    pub clients: u32,
    pub kind: u8,
    pub body: &'a [u8],
}

/// What a checkpoint file supersedes of the files before it in the chain.
/// A file's records are *live* unless a later file's cuts drop them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cuts {
    /// Checkpoint records of earlier files with a later time are dropped
    /// (the base was rewritten from after this time).
    pub checkpoints_after: i64,
    /// Failure rollup hours of earlier files from this hour index
    /// (`time.div_euclid(HOUR_MS)`) on are dropped.
    pub rollup_from_hour: i64,
    /// Membership snapshots of earlier files at this time or later are
    /// dropped.
    pub members_from: i64,
}

impl Cuts {
    /// Supersedes nothing (what follows the newest file).
    pub(crate) const NONE: Cuts = Cuts {
        checkpoints_after: i64::MAX,
        rollup_from_hour: i64::MAX,
        members_from: i64::MAX,
    };

    /// Supersedes everything: a file built over the whole base.
    pub(crate) const ALL: Cuts = Cuts {
        checkpoints_after: i64::MIN,
        rollup_from_hour: i64::MIN,
        members_from: i64::MIN,
    };

    /// What both supersede together.
    pub(crate) fn and(&self, other: &Cuts) -> Cuts {
        Cuts {
            checkpoints_after: self.checkpoints_after.min(other.checkpoints_after),
            rollup_from_hour: self.rollup_from_hour.min(other.rollup_from_hour),
            members_from: self.members_from.min(other.members_from),
        }
    }
}
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

mod reader;
#[cfg(test)]
mod tests;
mod writer;

pub(crate) use reader::{CheckpointSet, decode_checkpoints, decode_chunked, verify_checkpoint_crcs};
#[cfg(test)]
pub(crate) use writer::encode_checkpoints;
pub(crate) use writer::{CheckpointFileWriter, encode_chunked};
