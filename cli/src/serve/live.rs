//! The store as `rollcall serve` reads it: a read-only snapshot that
//! follows another process's commits and compactions.
//!
//! Invariants:
//! * the server never opens the store for writing, so it takes no lock and
//!   an `ingest` or `compact` may run beside it at any time;
//! * [`Live::current`] is always a complete, consistent snapshot (an open
//!   that fails keeps the previous one, and the next poll tries again);
//! * the change marker is read *before* the open it stands for, so a commit
//!   that lands in between makes the next poll reopen rather than be missed;
//! * `version` grows by one with every reopen that saw a change: the cheap
//!   counter the dashboard polls.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use anyhow::Context as _;
use rollcall_engine::{ChangeMarker, Snapshot, Store, StoreStats};

/// One opened view of the store.
#[derive(Debug)]
pub(crate) struct Current {
    /// What every request reads (forked per request).
    pub snapshot: Snapshot,
    /// The marker read just before the open.
    pub marker: ChangeMarker,
    /// How many changes the server has followed since it started.
    pub version: u64,
    /// Counts and time range of this view.
    pub stats: StoreStats,
}

/// The store directory and its newest opened view.
#[derive(Debug)]
pub(crate) struct Live {
    dir: PathBuf,
    current: RwLock<Arc<Current>>,
}

fn open(dir: &Path, version: u64) -> anyhow::Result<Current> {
    let marker =
        Store::change_marker(dir).with_context(|| format!("read the files of store {}", dir.display()))?;
    let store = Store::open_read_only(dir).with_context(|| format!("open store {}", dir.display()))?;
    let snapshot = store.snapshot();
    let stats = snapshot.stats();
    Ok(Current {
        snapshot,
        marker,
        version,
        stats,
    })
}

impl Live {
    /// Opens the store in `dir` read-only.
    pub fn open(dir: &Path) -> anyhow::Result<Live> {
        let current = open(dir, 0)?;
        Ok(Live {
            dir: dir.to_path_buf(),
            current: RwLock::new(Arc::new(current)),
        })
    }

    /// The newest view.
    pub fn current(&self) -> Arc<Current> {
        match self.current.read() {
            Ok(c) => c.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Reopens the store when its files changed since the current view;
    /// returns the new version when it did. Blocking (file system calls).
    pub fn refresh(&self) -> anyhow::Result<Option<u64>> {
        let old = self.current();
        let marker = Store::change_marker(&self.dir)
            .with_context(|| format!("read the files of store {}", self.dir.display()))?;
        if marker == old.marker {
            return Ok(None);
        }
        let new = open(&self.dir, old.version + 1)?;
        let version = new.version;
        let mut slot = match self.current.write() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        *slot = Arc::new(new);
        Ok(Some(version))
    }
}
