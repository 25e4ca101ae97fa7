//! A cheap fingerprint of a store directory's committed state, for readers
//! that follow a store another process writes (`rollcall serve`, a
//! dashboard): when the fingerprint changes, a fresh read-only open sees
//! something new.
//!
//! Invariant: every durable step of the writer changes at least one of the
//! files fingerprinted here. A transaction commits by appending a record to
//! `commits.log` and to a write-ahead log in `wal/` (or by writing a new
//! `MANIFEST`); a flush, a compaction or automatic maintenance ends by
//! renaming a new `MANIFEST` into place (a new inode). New names are
//! appended to `names.dict`. So the fingerprint covers the size, the
//! modification time and the inode of each of those files; it reads no
//! file contents and costs a handful of `stat` calls.

use std::hash::{Hash, Hasher};
use std::io;
use std::path::Path;

use crate::commits::COMMITS_FILE;
use crate::dict_file::DICT_FILE;
use crate::manifest::{MANIFEST, WAL_DIR};

/// What [`Store::change_marker`](crate::Store::change_marker) returns: equal
/// markers mean no commit, flush or compaction happened in between.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChangeMarker(u64);

impl ChangeMarker {
    /// The fingerprint as a number (for an HTTP `ETag` or a log line).
    pub fn value(self) -> u64 {
        self.0
    }
}

/// Fingerprints the store in `dir` (see the module docs).
pub(crate) fn change_marker(dir: &Path) -> io::Result<ChangeMarker> {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for name in [MANIFEST, COMMITS_FILE, DICT_FILE] {
        name.hash(&mut h);
        stat(&dir.join(name), &mut h)?;
    }
    let mut logs: Vec<_> = match std::fs::read_dir(dir.join(WAL_DIR)) {
        Ok(entries) => entries.filter_map(|e| e.ok()).map(|e| e.path()).collect(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e),
    };
    logs.sort();
    for path in logs {
        path.hash(&mut h);
        stat(&path, &mut h)?;
    }
    Ok(ChangeMarker(h.finish()))
}

fn stat(path: &Path, h: &mut impl Hasher) -> io::Result<()> {
    match std::fs::metadata(path) {
        Ok(m) => {
            m.len().hash(h);
            m.modified().ok().hash(h);
            #[cfg(unix)]
            std::os::unix::fs::MetadataExt::ino(&m).hash(h);
            Ok(())
        }
        // A log removed between the listing and the stat (the writer
        // retired it): part of a change, and the next marker will differ.
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            0u8.hash(h);
            Ok(())
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use crate::{Batch, Options, State, Store, Timestamp};

    #[test]
    fn every_commit_and_compaction_changes_the_marker() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::create(dir.path(), Options::default()).unwrap();
        let mut seen = vec![Store::change_marker(dir.path()).unwrap()];
        for i in 0..3 {
            let mut b = Batch::new();
            b.push_transition(Timestamp(1_000 + i), "pc-1", "production", State::Failed, None)
                .unwrap();
            let mut t = store.begin().unwrap();
            t.append(&b).unwrap();
            t.commit_at(Timestamp(5_000 + i)).unwrap();
            let m = Store::change_marker(dir.path()).unwrap();
            assert!(!seen.contains(&m), "commit {i} left the marker as it was");
            seen.push(m);
            // Nothing happened: the marker stays.
            assert_eq!(Store::change_marker(dir.path()).unwrap(), m);
        }
        store.compact().unwrap();
        let m = Store::change_marker(dir.path()).unwrap();
        assert!(!seen.contains(&m), "the compaction left the marker as it was");
    }
}
