//! The manifest: the one small file that says which files make up the store.
//!
//! It names the base and delta segment files, the checkpoint files, how much
//! of the dictionary file is valid, the first write-ahead log to replay, and
//! the seq and file-number high-water marks. It is replaced atomically
//! (`MANIFEST.tmp`, fsync, rename, directory fsync), and that rename is the
//! commit point of every flush, compaction and large transaction.
//!
//! Invariants:
//! * every file the manifest names is sealed and durable before the manifest
//!   that names it is written;
//! * a file the manifest does not name (and is not a log at or after
//!   `wal_start`) is an orphan: garbage from an interrupted operation;
//! * `generation` grows by one with every manifest written.

use std::path::Path;

use crate::codec::{HEADER_LEN, Put, Reader, check_header, put_header};
use crate::error::{Error, Result};
use crate::storage::{Storage, io_err, write_sealed};

/// The manifest's file name.
pub(crate) const MANIFEST: &str = "MANIFEST";
const MAGIC: &[u8; 4] = b"RCMF";
/// The format version this build writes (and the newest it reads). Version
/// 1 named at most one checkpoint file; version 2 names a chain of them.
pub(crate) const VERSION: u32 = 2;

/// Directory of segment files.
pub(crate) const SEG_DIR: &str = "seg";
/// Directory of checkpoint files.
pub(crate) const CKPT_DIR: &str = "ckpt";
/// Directory of write-ahead logs.
pub(crate) const WAL_DIR: &str = "wal";

/// `seg/000000000042.seg`.
pub(crate) fn seg_name(number: u64) -> String {
    format!("{SEG_DIR}/{number:012}.seg")
}

/// `ckpt/000000000042.ckpt`.
pub(crate) fn ckpt_name(number: u64) -> String {
    format!("{CKPT_DIR}/{number:012}.ckpt")
}

/// `wal/000000000042.log`.
pub(crate) fn log_name(number: u64) -> String {
    format!("{WAL_DIR}/{number:012}.log")
}

/// The number of a file named `000000000042.<ext>` (twelve digits), if it is one.
pub(crate) fn parse_number(file: &str, ext: &str) -> Option<u64> {
    let stem = file.strip_suffix(ext)?.strip_suffix('.')?;
    if stem.len() != 12 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    stem.parse().ok()
}

/// A sealed file the manifest names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FileRef {
    /// The file number (its name).
    pub number: u64,
    /// Its size in bytes.
    pub bytes: u64,
}

/// The decoded manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Manifest {
    /// Grows by one with every manifest written.
    pub generation: u64,
    /// Every seq in a file the manifest names is below this.
    pub next_seq: u64,
    /// Next number for a segment or checkpoint file.
    pub next_file: u64,
    /// First write-ahead log to replay; older logs are flushed.
    pub wal_start: u64,
    /// Valid bytes of the dictionary file.
    pub dict_bytes: u64,
    /// Names of each kind in the valid part of the dictionary file.
    pub dict_counts: [u32; 3],
    /// The checkpoint files over the base, oldest first: each later file
    /// supersedes what its header's cut times say of the earlier ones
    /// (`docs/format.md`, "Checkpoint files").
    pub checkpoints: Vec<FileRef>,
    /// Base segments, in time order.
    pub base: Vec<FileRef>,
    /// Delta segments, oldest first.
    pub delta: Vec<FileRef>,
}

impl Manifest {
    /// The manifest of a new, empty store.
    pub(crate) fn new(dict_bytes: u64, dict_counts: [u32; 3]) -> Manifest {
        Manifest {
            generation: 1,
            next_seq: 1,
            next_file: 1,
            wal_start: 1,
            dict_bytes,
            dict_counts,
            checkpoints: Vec::new(),
            base: Vec::new(),
            delta: Vec::new(),
        }
    }

    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        put_header(&mut out, MAGIC, VERSION);
        out.put_u64(self.generation);
        out.put_u64(self.next_seq);
        out.put_u64(self.next_file);
        out.put_u64(self.wal_start);
        out.put_u64(self.dict_bytes);
        for c in self.dict_counts {
            out.put_u32(c);
        }
        for list in [&self.checkpoints, &self.base, &self.delta] {
            out.put_u32(u32::try_from(list.len()).unwrap_or(u32::MAX));
            for f in list {
                out.put_u64(f.number);
                out.put_u64(f.bytes);
            }
        }
        let crc = crc32fast::hash(&out);
        out.put_u32(crc);
        out
    }

    pub(crate) fn decode(bytes: &[u8], file: &Path) -> Result<Manifest> {
        let version = check_header(bytes, MAGIC, VERSION, file)?;
        if bytes.len() < HEADER_LEN + 4 {
            return Err(Error::corrupt(file, bytes.len() as u64, "manifest cut short"));
        }
        let (body, crc) = bytes.split_at(bytes.len() - 4);
        let stored = u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]);
        if crc32fast::hash(body) != stored {
            // One checksum covers the whole file: the damage is somewhere in it.
            return Err(Error::corrupt(
                file,
                0,
                format!("manifest checksum mismatch (it covers bytes 0..{})", body.len()),
            ));
        }
        let mut r = Reader::new(body);
        r.take(HEADER_LEN);
        let short = |r: &Reader<'_>| Error::corrupt(file, r.pos() as u64, "manifest cut short");
        let mut m = Manifest::new(0, [0; 3]);
        m.generation = r.u64().ok_or_else(|| short(&r))?;
        m.next_seq = r.u64().ok_or_else(|| short(&r))?;
        m.next_file = r.u64().ok_or_else(|| short(&r))?;
        m.wal_start = r.u64().ok_or_else(|| short(&r))?;
        m.dict_bytes = r.u64().ok_or_else(|| short(&r))?;
        for c in &mut m.dict_counts {
            *c = r.u32().ok_or_else(|| short(&r))?;
        }
        if version == 1 {
            let number = r.u64().ok_or_else(|| short(&r))?;
            let bytes = r.u64().ok_or_else(|| short(&r))?;
            m.checkpoints
                .extend((number != 0).then_some(FileRef { number, bytes }));
        }
        let first_list = if version == 1 { 1 } else { 0 };
        for k in first_list..3 {
            let list = match k {
                0 => &mut m.checkpoints,
                1 => &mut m.base,
                _ => &mut m.delta,
            };
            let n = r.u32().ok_or_else(|| short(&r))?;
            for _ in 0..n {
                let number = r.u64().ok_or_else(|| short(&r))?;
                let bytes = r.u64().ok_or_else(|| short(&r))?;
                list.push(FileRef { number, bytes });
            }
        }
        if r.remaining() != 0 {
            return Err(Error::corrupt(
                file,
                r.pos() as u64,
                "manifest has trailing bytes",
            ));
        }
        Ok(m)
    }

    /// Reads and decodes the manifest of a store.
    pub(crate) fn read(storage: &dyn Storage) -> Result<Manifest> {
        let bytes = storage
            .read(MANIFEST)
            .map_err(|e| io_err(storage, "read", MANIFEST, e))?;
        Manifest::decode(&bytes, &storage.path(MANIFEST))
    }

    /// Replaces the store's manifest atomically and durably.
    pub(crate) fn write(&self, storage: &dyn Storage) -> Result<()> {
        write_sealed(storage, MANIFEST, &self.encode())
    }

    /// Every segment, base first.
    pub(crate) fn segments(&self) -> impl Iterator<Item = &FileRef> {
        self.base.iter().chain(self.delta.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Manifest {
        let mut m = Manifest::new(40, [2, 1, 3]);
        m.generation = 7;
        m.next_seq = 99;
        m.next_file = 12;
        m.wal_start = 4;
        m.checkpoints = vec![
            FileRef {
                number: 11,
                bytes: 500,
            },
            FileRef {
                number: 13,
                bytes: 20,
            },
        ];
        m.base = vec![
            FileRef {
                number: 9,
                bytes: 100,
            },
            FileRef {
                number: 10,
                bytes: 200,
            },
        ];
        m.delta = vec![FileRef { number: 8, bytes: 50 }];
        m
    }

    #[test]
    fn round_trip() {
        let m = sample();
        assert_eq!(Manifest::decode(&m.encode(), Path::new("M")).unwrap(), m);
    }

    #[test]
    fn version_1_manifests_still_read() {
        // Version 1: one checkpoint file as (number, bytes), 0 for none.
        for (number, want) in [
            (0u64, vec![]),
            (
                11,
                vec![FileRef {
                    number: 11,
                    bytes: 500,
                }],
            ),
        ] {
            let mut out = Vec::new();
            put_header(&mut out, MAGIC, 1);
            for v in [7u64, 99, 12, 4, 40] {
                out.put_u64(v);
            }
            for c in [2u32, 1, 3] {
                out.put_u32(c);
            }
            out.put_u64(number);
            out.put_u64(500);
            out.put_u32(1);
            out.put_u64(9);
            out.put_u64(100);
            out.put_u32(0);
            let crc = crc32fast::hash(&out);
            out.put_u32(crc);
            let m = Manifest::decode(&out, Path::new("M")).unwrap();
            assert_eq!(m.checkpoints, want);
            assert_eq!(
                m.base,
                vec![FileRef {
                    number: 9,
                    bytes: 100
                }]
            );
            assert_eq!((m.generation, m.next_seq, m.dict_counts), (7, 99, [2, 1, 3]));
        }
    }

    #[test]
    fn any_damage_is_refused() {
        let b = sample().encode();
        for i in 0..b.len() {
            let mut d = b.clone();
            d[i] ^= 1;
            assert!(
                Manifest::decode(&d, Path::new("M")).unwrap_err().is_corruption(),
                "flip at {i}"
            );
        }
        for cut in 0..b.len() {
            assert!(
                Manifest::decode(&b[..cut], Path::new("M")).is_err(),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn file_names_sort_numerically() {
        assert_eq!(seg_name(42), "seg/000000000042.seg");
        assert_eq!(parse_number("000000000042.seg", "seg"), Some(42));
        assert_eq!(parse_number("000000000042.seg.tmp", "seg"), None);
        assert_eq!(parse_number("42.seg", "seg"), None);
        assert!(log_name(9) < log_name(10));
    }
}
