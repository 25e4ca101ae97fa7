//! Commit times (SPEC 7.5): the wall-clock time of each committed
//! transaction, passed in by the caller, kept in `commits.log` and in memory
//! as a table that turns "committed at or before `t`" into "seq below `S`".
//!
//! ```text
//! commits.log:  header "RCCT" u32 version=1
//!               record* : first_seq u64 | next_seq u64 | committed_at i64
//!                         | clients u32 | deployments u32 | collections u32 | crc u32
//! ```
//!
//! Every number is little-endian; a record's crc (CRC-32, `crc32fast`)
//! covers its first 36 bytes. `clients`, `deployments` and `collections`
//! are the dictionary lengths once the transaction committed, so a view as
//! known at a time also knows only the names known then.
//!
//! Invariants:
//! * a transaction takes a contiguous range of seqs `[first_seq, next_seq)`
//!   and ranges follow one another in the file (`first_seq >= next_seq` of
//!   the record before);
//! * `committed_at` never decreases from record to record (the writer
//!   clamps a time that goes back to the one before), so the records with
//!   `committed_at <= t` are a prefix and the cut-off is a binary search;
//! * the record is written and fsynced *before* the transaction's durable
//!   point (its log fsync or its manifest), so an acknowledged commit always
//!   has its time; a record whose range reaches past the store's recovered
//!   `next_seq` belongs to a transaction that never committed, and is cut
//!   (by the writer) or ignored (by a reader) at open;
//! * a torn last record (short, or failing its crc) is a torn tail; a bad
//!   record before the last is damage, reported as `Corrupt { offset }`.
//!
//! Data without a recorded time — an older store, or a plain
//! [`Store::append`](crate::Store::append) — counts as known from the next
//! recorded commit on (the first one, for data older than every record).

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, RwLock};

use crate::codec::{Reader, check_header, put_header};
use crate::error::{Error, Result};
use crate::storage::{Storage, StorageFile, io_err};

/// The file, relative to the store directory.
pub(crate) const COMMITS_FILE: &str = "commits.log";
const MAGIC: &[u8; 4] = b"RCCT";
const VERSION: u32 = 1;
const HEADER: usize = 8;
const RECORD: usize = 40;

/// The dictionary lengths of a new store: no client or collection, and
/// the default deployment (`store/open.rs` writes it when it initializes a
/// store). What a view as known before the first recorded commit knows.
const INITIAL_DICTS: [u32; 3] = [0, 1, 0];

/// One transaction's seqs and commit time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Commit {
    pub first_seq: u64,
    pub next_seq: u64,
    pub at: i64,
    /// Dictionary lengths (clients, deployments, collections) after it.
    pub dicts: [u32; 3],
}

impl Commit {
    fn encode(&self) -> [u8; RECORD] {
        let mut out = [0u8; RECORD];
        out[0..8].copy_from_slice(&self.first_seq.to_le_bytes());
        out[8..16].copy_from_slice(&self.next_seq.to_le_bytes());
        out[16..24].copy_from_slice(&self.at.to_le_bytes());
        for (k, len) in self.dicts.iter().enumerate() {
            out[24 + 4 * k..28 + 4 * k].copy_from_slice(&len.to_le_bytes());
        }
        let crc = crc32fast::hash(&out[..36]);
        out[36..40].copy_from_slice(&crc.to_le_bytes());
        out
    }
}

/// The commit records of a store, shared by the writer (which appends) and
/// its snapshots (which read a prefix of known length). Append-only after
/// open.
#[derive(Debug, Default)]
pub(crate) struct CommitTable {
    entries: RwLock<Vec<Commit>>,
}

impl CommitTable {
    pub(crate) fn new(entries: Vec<Commit>) -> Arc<CommitTable> {
        Arc::new(CommitTable {
            entries: RwLock::new(entries),
        })
    }

    pub(crate) fn len(&self) -> usize {
        self.read().len()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Vec<Commit>> {
        // A panic while holding the lock cannot leave the Vec half-pushed.
        self.entries.read().unwrap_or_else(|p| p.into_inner())
    }

    /// The time of the last record, if any.
    pub(crate) fn last_at(&self) -> Option<i64> {
        self.read().last().map(|c| c.at)
    }

    pub(crate) fn push(&self, c: Commit) {
        self.entries.write().unwrap_or_else(|p| p.into_inner()).push(c);
    }

    /// The seq below which rows are known at wall-clock `t`, and the
    /// dictionary lengths then, over the first `count` records; `None` when
    /// no record exists (nothing can be cut).
    pub(crate) fn cutoff(&self, count: usize, t: i64) -> Option<(u64, [u32; 3])> {
        let entries = self.read();
        let entries = &entries[..count.min(entries.len())];
        let first = entries.first()?;
        if t < first.at {
            return Some((0, INITIAL_DICTS));
        }
        let k = entries.partition_point(|c| c.at <= t);
        Some((entries[k - 1].next_seq, entries[k - 1].dicts))
    }

    /// The wall-clock time from which the row with `seq` is known, over the
    /// first `count` records: the time of the first record whose range
    /// reaches past `seq` (rows before every record, or between two, count
    /// from the next one); `i64::MAX` when no record reaches it (never
    /// known); `None` when there is no record (every row known always).
    /// A row is known at `t` exactly when this is `None` or `<= t`, which
    /// is what [`CommitTable::cutoff`] decides for whole views.
    pub(crate) fn known_from(&self, count: usize, seq: u64) -> Option<i64> {
        let entries = self.read();
        let entries = &entries[..count.min(entries.len())];
        if entries.is_empty() {
            return None;
        }
        let k = entries.partition_point(|c| c.next_seq <= seq);
        Some(entries.get(k).map_or(i64::MAX, |c| c.at))
    }

    /// True when rows below `next_seq` exist that no record covers.
    pub(crate) fn has_gaps(&self, count: usize, next_seq: u64) -> bool {
        let entries = self.read();
        let entries = &entries[..count.min(entries.len())];
        let mut covered_to = 1;
        for c in entries {
            if c.first_seq > covered_to {
                return true;
            }
            covered_to = c.next_seq;
        }
        next_seq > covered_to
    }
}

/// What `commits.log` held.
#[derive(Debug, Default)]
pub(crate) struct Loaded {
    pub entries: Vec<Commit>,
    /// Bytes of the file that hold `entries` (header included; 0 when the
    /// file does not exist).
    pub valid_len: u64,
    pub file_len: u64,
}

/// Reads `commits.log`, keeping the records of transactions below
/// `next_seq` (the store's recovered high-water mark).
pub(crate) fn load(storage: &dyn Storage, next_seq: u64) -> Result<Loaded> {
    let exists = storage
        .exists(COMMITS_FILE)
        .map_err(|e| io_err(storage, "stat", COMMITS_FILE, e))?;
    if !exists {
        return Ok(Loaded::default());
    }
    let bytes = storage
        .read(COMMITS_FILE)
        .map_err(|e| io_err(storage, "read", COMMITS_FILE, e))?;
    decode(&bytes, next_seq, &storage.path(COMMITS_FILE))
}

/// Decodes the file's bytes (see [`load`]).
pub(crate) fn decode(bytes: &[u8], next_seq: u64, path: &Path) -> Result<Loaded> {
    let file_len = bytes.len() as u64;
    if bytes.len() < HEADER {
        // The header never became durable: nothing was recorded.
        return Ok(Loaded {
            entries: Vec::new(),
            valid_len: 0,
            file_len,
        });
    }
    check_header(bytes, MAGIC, VERSION, path)?;
    let mut entries: Vec<Commit> = Vec::new();
    let mut off = HEADER;
    let records = (bytes.len() - HEADER) / RECORD;
    for i in 0..records {
        let rec = &bytes[off..off + RECORD];
        let mut r = Reader::new(rec);
        let (Some(first_seq), Some(next), Some(at), Some(d0), Some(d1), Some(d2), Some(crc)) =
            (r.u64(), r.u64(), r.i64(), r.u32(), r.u32(), r.u32(), r.u32())
        else {
            return Err(Error::corrupt(path, off as u64, "short commit record"));
        };
        let good = crc == crc32fast::hash(&rec[..36]);
        if !good {
            if i + 1 == records {
                break; // torn tail
            }
            return Err(Error::corrupt(
                path,
                off as u64,
                "commit record fails its checksum",
            ));
        }
        let c = Commit {
            first_seq,
            next_seq: next,
            at,
            dicts: [d0, d1, d2],
        };
        let follows = entries.last().is_none_or(|p| {
            c.first_seq >= p.next_seq && c.at >= p.at && c.dicts.iter().zip(p.dicts).all(|(a, b)| *a >= b)
        });
        if c.first_seq >= c.next_seq || !follows {
            return Err(Error::corrupt(
                path,
                off as u64,
                format!(
                    "commit record [{}, {}) at {} ms does not follow the one before",
                    c.first_seq, c.next_seq, c.at
                ),
            ));
        }
        if c.next_seq > next_seq {
            // A transaction that never committed (or a torn tail).
            break;
        }
        entries.push(c);
        off += RECORD;
    }
    Ok(Loaded {
        entries,
        valid_len: off as u64,
        file_len,
    })
}

/// The writer's handle on `commits.log`.
#[derive(Debug)]
pub(crate) struct CommitLog {
    file: Option<Box<dyn StorageFile>>,
}

impl CommitLog {
    /// After recovery: cuts what `loaded` did not keep.
    pub(crate) fn recover(storage: &dyn Storage, loaded: &Loaded) -> Result<CommitLog> {
        if loaded.file_len > loaded.valid_len {
            if loaded.valid_len == 0 {
                storage
                    .remove(COMMITS_FILE)
                    .map_err(|e| io_err(storage, "remove", COMMITS_FILE, e))?;
                storage
                    .sync_dir("")
                    .map_err(|e| io_err(storage, "fsync directory", "", e))?;
            } else {
                storage
                    .truncate(COMMITS_FILE, loaded.valid_len)
                    .map_err(|e| io_err(storage, "truncate", COMMITS_FILE, e))?;
            }
        }
        Ok(CommitLog { file: None })
    }

    /// Appends one record and fsyncs it (creating the file, its header and
    /// its directory entry durably on first use).
    pub(crate) fn append(&mut self, storage: &dyn Storage, c: Commit) -> Result<()> {
        if self.file.is_none() {
            let exists = storage
                .exists(COMMITS_FILE)
                .map_err(|e| io_err(storage, "stat", COMMITS_FILE, e))?;
            let file = if exists {
                storage
                    .open_append(COMMITS_FILE)
                    .map_err(|e| io_err(storage, "open", COMMITS_FILE, e))?
            } else {
                let mut f = storage
                    .create(COMMITS_FILE)
                    .map_err(|e| io_err(storage, "create", COMMITS_FILE, e))?;
                let mut h = Vec::with_capacity(HEADER);
                put_header(&mut h, MAGIC, VERSION);
                f.write_all(&h)
                    .map_err(|e| io_err(storage, "write", COMMITS_FILE, e))?;
                f.sync().map_err(|e| io_err(storage, "fsync", COMMITS_FILE, e))?;
                storage
                    .sync_dir("")
                    .map_err(|e| io_err(storage, "fsync directory", "", e))?;
                f
            };
            self.file = Some(file);
        }
        let file = self.file.as_mut().ok_or(Error::ReadOnly)?;
        file.write_all(&c.encode())
            .map_err(|e| io_err(storage, "write", COMMITS_FILE, e))?;
        file.sync().map_err(|e| io_err(storage, "fsync", COMMITS_FILE, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(records: &[Commit]) -> Vec<u8> {
        let mut out = Vec::new();
        put_header(&mut out, MAGIC, VERSION);
        for r in records {
            out.extend_from_slice(&r.encode());
        }
        out
    }

    const A: Commit = Commit {
        first_seq: 1,
        next_seq: 5,
        at: 100,
        dicts: [2, 1, 1],
    };
    const B: Commit = Commit {
        first_seq: 5,
        next_seq: 9,
        at: 200,
        dicts: [3, 1, 2],
    };

    #[test]
    fn round_trip_and_uncommitted_records_are_cut() {
        let bytes = file(&[A, B]);
        let l = decode(&bytes, 9, Path::new("c")).unwrap();
        assert_eq!(l.entries, vec![A, B]);
        assert_eq!(l.valid_len, bytes.len() as u64);
        // The store recovered only up to seq 5: B never committed.
        let l = decode(&bytes, 5, Path::new("c")).unwrap();
        assert_eq!(l.entries, vec![A]);
        assert_eq!(l.valid_len, (HEADER + RECORD) as u64);
    }

    #[test]
    fn a_torn_tail_is_cut_and_damage_before_it_is_refused() {
        let bytes = file(&[A, B]);
        for cut in HEADER..bytes.len() {
            let l = decode(&bytes[..cut], 9, Path::new("c")).unwrap();
            assert!(l.entries.len() <= 2 && l.valid_len <= cut as u64);
        }
        for at in HEADER..bytes.len() {
            let mut b = bytes.clone();
            b[at] ^= 0x40;
            let r = decode(&b, 9, Path::new("c"));
            if at < HEADER + RECORD {
                assert!(matches!(r, Err(Error::Corrupt { .. })), "flip at {at}: {r:?}");
            } else {
                // The last record: a torn tail.
                assert_eq!(r.unwrap().entries, vec![A]);
            }
        }
    }

    #[test]
    fn cutoffs_follow_commit_times() {
        let t = CommitTable::new(vec![A, B]);
        assert_eq!(t.cutoff(2, 99), Some((0, INITIAL_DICTS)));
        assert_eq!(t.cutoff(2, 100), Some((5, A.dicts)));
        assert_eq!(t.cutoff(2, 199), Some((5, A.dicts)));
        assert_eq!(t.cutoff(2, 200), Some((9, B.dicts)));
        assert_eq!(t.cutoff(1, 500), Some((5, A.dicts)));
        assert_eq!(CommitTable::new(Vec::new()).cutoff(0, 5), None);
        assert!(!t.has_gaps(2, 9));
        assert!(t.has_gaps(2, 12));
        assert!(CommitTable::new(vec![B]).has_gaps(1, 9));
    }
}
