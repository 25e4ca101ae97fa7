//! `Store::check`: verify every checksum of every file the manifest names,
//! and list the files it does not name.
//!
//! Invariant: checking only reads; damage is collected (file, offset, what)
//! rather than returned as the first error, so one run reports all of it.

use std::fmt;
use std::path::PathBuf;

use super::logs_from;
use super::open::{map_checkpoint_file, orphans, read_checkpoints, read_dicts, require_first_log};
use crate::checkpoint::verify_checkpoint_crcs;
use crate::dict_file::DICT_FILE;
use crate::error::{Error, Result};
use crate::manifest::{Manifest, seg_name};
use crate::segment::SegmentReader;
use crate::storage::{Storage, io_err};
use crate::wal;

/// One damaged spot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    /// The damaged file.
    pub file: PathBuf,
    /// Byte offset of the damaged record or block, when known.
    pub offset: Option<u64>,
    /// What is wrong.
    pub what: String,
}

impl fmt::Display for Damage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.offset {
            Some(o) => write!(f, "{} at offset {o}: {}", self.file.display(), self.what),
            None => write!(f, "{}: {}", self.file.display(), self.what),
        }
    }
}

/// The outcome of [`Store::check`](super::Store::check).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckReport {
    /// Files read and verified.
    pub files_checked: u64,
    /// Bytes read and verified.
    pub bytes_checked: u64,
    /// Damaged files; empty when the store is intact.
    pub damage: Vec<Damage>,
    /// Files in the store directory that the manifest does not name
    /// (leftovers of an interrupted operation; the next writer removes them).
    pub orphans: Vec<PathBuf>,
    /// Observations that are not damage (a log tail being written, ...).
    pub notes: Vec<String>,
}

impl CheckReport {
    /// True when no damage was found.
    pub fn is_clean(&self) -> bool {
        self.damage.is_empty()
    }

    fn record(&mut self, st: &dyn Storage, e: Error) {
        let d = match e {
            Error::Corrupt { file, offset, what } => Damage {
                file,
                offset: Some(offset),
                what,
            },
            Error::UnsupportedVersion { ref file, .. } => Damage {
                file: file.clone(),
                offset: Some(4),
                what: e.to_string(),
            },
            Error::Io { path, source, op } => Damage {
                file: path,
                offset: None,
                what: format!("{op}: {source}"),
            },
            other => Damage {
                file: st.root().to_path_buf(),
                offset: None,
                what: other.to_string(),
            },
        };
        self.damage.push(d);
    }

    fn run(&mut self, st: &dyn Storage, step: impl FnOnce() -> Result<u64>) {
        match step() {
            Ok(bytes) => {
                self.files_checked += 1;
                self.bytes_checked += bytes;
            }
            Err(e) => self.record(st, e),
        }
    }
}

/// Checks the store in `st` against `manifest` (read from disk when `None`).
pub(crate) fn check(st: &dyn Storage, manifest: Option<&Manifest>) -> CheckReport {
    let mut report = CheckReport::default();
    let m = match Manifest::read(st) {
        Ok(m) => {
            report.files_checked += 1;
            m
        }
        Err(e) => {
            report.record(st, e);
            match manifest {
                Some(m) => m.clone(),
                None => return report,
            }
        }
    };

    report.run(st, || {
        let (dicts, _, _) = read_dicts(st, &m)?;
        if let Some(name) = dicts.iter().find_map(|d| d.find_duplicate()) {
            return Err(Error::corrupt(
                st.path(DICT_FILE),
                0,
                format!("name {name:?} appears twice"),
            ));
        }
        Ok(m.dict_bytes)
    });

    for f in m.segments() {
        report.run(st, || {
            let name = seg_name(f.number);
            let bytes = st.map(&name).map_err(|e| io_err(st, "open", &name, e))?;
            let len = (*bytes).as_ref().len() as u64;
            if len != f.bytes {
                return Err(Error::corrupt(
                    st.path(&name),
                    len.min(f.bytes),
                    format!("segment is {len} bytes, the manifest says {}", f.bytes),
                ));
            }
            let reader = SegmentReader::open(bytes, st.path(&name))?;
            reader.verify()?;
            Ok(len)
        });
    }

    if !m.checkpoints.is_empty() {
        report.run(st, || {
            // Every record's crc, superseded ones included, then every live
            // record decoded as queries would.
            for f in &m.checkpoints {
                let (bytes, path) = map_checkpoint_file(st, *f)?;
                verify_checkpoint_crcs((*bytes).as_ref(), &path)?;
            }
            let set = read_checkpoints(st, &m.checkpoints)?;
            set.for_each(|_, _| Ok(()))?;
            set.rollup()?;
            for (i, (_, _, clients)) in set.member_snapshots().into_iter().enumerate() {
                set.members(i, clients)?;
            }
            Ok(m.checkpoints.iter().map(|f| f.bytes).sum())
        });
    }

    match logs_from(st, m.wal_start) {
        Ok(logs) => {
            if let Err(e) = require_first_log(st, &m, &logs) {
                report.record(st, e);
            }
            let n = logs.len();
            for (i, (number, name)) in logs.into_iter().enumerate() {
                let step = || -> Result<(u64, Option<String>)> {
                    let bytes = st.read(&name).map_err(|e| io_err(st, "read", &name, e))?;
                    let path = st.path(&name);
                    let scan = wal::replay(&bytes, number, &path, &mut |_| Ok(()))?;
                    let len = bytes.len() as u64;
                    let note = match scan.tail {
                        Some(tail) if i + 1 < n => {
                            return Err(Error::corrupt(
                                path,
                                tail.offset,
                                format!("{}, but a newer log follows", tail.what),
                            ));
                        }
                        Some(tail) => Some(format!(
                            "{}: {} bytes after offset {} are not a committed transaction ({}); \
                             a writer cuts them off when it opens the store",
                            path.display(),
                            len - tail.offset,
                            tail.offset,
                            tail.what
                        )),
                        None => None,
                    };
                    Ok((len, note))
                };
                match step() {
                    Ok((len, note)) => {
                        report.files_checked += 1;
                        report.bytes_checked += len;
                        report.notes.extend(note);
                    }
                    Err(e) => report.record(st, e),
                }
            }
        }
        Err(e) => report.record(st, e),
    }

    report.orphans = orphans(st, &m).into_iter().map(|n| st.path(&n)).collect();
    report
}
