//! [`Store`]: the single writer of a store directory — append, flush,
//! compact — and the source of [`Snapshot`]s; it wires the write-ahead log,
//! segment files, the dictionary file and the manifest together.
//!
//! Invariants:
//! * a batch is visible to snapshots only after it is durable (its log
//!   records fsynced, or the manifest naming its segments renamed into place
//!   and the directory fsynced), and then whole;
//! * stored rows hold no exact duplicates: every row is checked against the
//!   memtable, the segments, the staged segments and the rest of its
//!   transaction before it gets a `seq`;
//! * every `seq` of a delta run is greater than every `seq` of the base (a
//!   compaction first flushes the memtable and then takes every delta
//!   segment);
//! * after any failed write, fsync, rename or directory fsync the store is
//!   poisoned: it refuses writes until reopened, because it cannot prove what
//!   reached the disk. Reopening recovers from the files alone;
//! * a file is deleted only after a durable manifest stops naming it and no
//!   snapshot of this process still reads it.
//!
//! The sync protocol, step by step, is in `docs/durability.md`.

mod bloom;
mod check;
mod compact;
mod files;
mod marker;
mod open;
mod transaction;

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use crate::batch::Batch;
use crate::checkpoint::CheckpointSet;
use crate::commits::{Commit, CommitLog, CommitTable};
use crate::dict::Dict;
use crate::dict_file::{self, DICT_FILE, NameKind};
use crate::error::{Error, Result};
use crate::manifest::{Manifest, WAL_DIR, log_name, parse_number};
use crate::model::Timestamp;
use crate::model::{
    ClientId, CollectionId, DeploymentId, MembershipKey, MembershipRow, Seq, TransitionKey, TransitionRow,
};
use crate::rollup::BaseCache;
use crate::run::{MemRun, Run};
use crate::snapshot::{Snapshot, SnapshotParts, StoreStats};
use crate::storage::faulty::FaultyDisk;
use crate::storage::file::FileStorage;
use crate::storage::{LockGuard, Storage, io_err};
use crate::wal::{self, WalWriter};
pub use check::{CheckReport, Damage};
use files::SegmentFile;
pub use marker::ChangeMarker;
pub use transaction::Transaction;

/// Tuning knobs of a store.
#[derive(Debug, Clone)]
pub struct Options {
    /// Rows kept in memory (and the write-ahead log) before a flush writes
    /// them to a segment.
    pub memtable_max_rows: usize,
    /// Base rows between two checkpoints (cut at a time boundary): an as-of
    /// query replays at most about this many base rows after its checkpoint.
    /// Compaction cuts base segments every four intervals.
    pub checkpoint_interval_rows: usize,
    /// Membership changes of one collection between two membership
    /// snapshots (cut by compaction, stored with the checkpoints): reading
    /// a collection's members at a time replays at most about this many of
    /// its base changes.
    pub membership_snapshot_rows: usize,
    /// Flush automatically when the memtable is full (checked when a
    /// transaction begins).
    pub auto_flush: bool,
    /// Rows a transaction buffers in memory before it spills them to a staged
    /// segment file; a transaction that spilled commits through the manifest
    /// instead of the write-ahead log, so any number of rows fits in bounded
    /// memory.
    pub txn_spill_rows: usize,
    /// Read sealed files through a memory map (else read them into memory).
    pub mmap: bool,
    /// [`Store::maintain`] flushes the memtable once it holds this many rows,
    /// so that an open (read-only ones included) replays at most about this
    /// many rows of log.
    pub log_tail_rows: usize,
    /// [`Store::maintain`] folds the delta into the base once the delta holds
    /// at least this many rows and at least [`Options::delta_ratio`] of the
    /// base...
    pub delta_min_rows: u64,
    /// ... (as a fraction of the base's rows) ...
    pub delta_ratio: f64,
    /// ... or once this many delta segments pile up.
    pub delta_max_segments: usize,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            memtable_max_rows: 1 << 20,
            checkpoint_interval_rows: 1 << 19,
            membership_snapshot_rows: 1 << 17,
            auto_flush: true,
            txn_spill_rows: 1 << 20,
            mmap: true,
            log_tail_rows: 1 << 16,
            delta_min_rows: 1 << 18,
            delta_ratio: 0.125,
            delta_max_segments: 16,
        }
    }
}

/// Looks up the ids of a batch's names ahead of [`Transaction::append`]
/// (from [`Store::name_resolver`]; `Send + Sync`, cheap to clone).
///
/// Purely a speed-up: an append uses the ids found only when they came
/// from the same store and no id was forgotten since (an aborted
/// transaction forgets the names it introduced), and looks up every other
/// name itself, so a batch resolved early, late, twice or never is stored
/// the same.
///
/// ```
/// use rollcall_engine::{Batch, Options, State, Store, Timestamp};
///
/// let dir = tempfile::tempdir()?;
/// let mut store = Store::create(dir.path(), Options::default())?;
/// let resolver = store.name_resolver();
/// let mut batch = Batch::new();
/// batch.push_transition(Timestamp(0), "PC-1", "production", State::Compliant, None)?;
/// std::thread::scope(|s| s.spawn(|| resolver.resolve(&mut batch)).join()).expect("resolver thread");
/// assert_eq!(store.append(&batch)?.transitions, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct NameResolver {
    dicts: [crate::dict::Dict; 3],
}

impl NameResolver {
    /// Records in `batch` the ids its client, deployment and collection
    /// names have now (names not stored yet are left to the append).
    pub fn resolve(&self, batch: &mut Batch) {
        let [clients, deployments, collections] = &self.dicts;
        let found = (
            clients.hint_all(batch.client_names()),
            deployments.hint_all(batch.deployment_names()),
            collections.hint_all(batch.collection_names()),
        );
        batch.hints = match found {
            (Some(c), Some(d), Some(k)) => Some(Box::new([c, d, k])),
            _ => None,
        };
    }
}

/// What an append stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AppendReport {
    /// Transitions stored.
    pub transitions: u64,
    /// Membership changes stored.
    pub memberships: u64,
    /// Rows ignored as exact duplicates of stored rows or of earlier rows of
    /// the same transaction.
    pub duplicates: u64,
}

impl AppendReport {
    fn add(&mut self, other: AppendReport) {
        self.transitions += other.transitions;
        self.memberships += other.memberships;
        self.duplicates += other.duplicates;
    }
}

/// What [`Store::maintain`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MaintainReport {
    /// Rows the memtable held when it was flushed (0: no flush).
    pub flushed_rows: u64,
    /// The compaction, when one ran.
    pub compacted: Option<CompactReport>,
}

/// What a compaction did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CompactReport {
    /// Runs merged.
    pub runs_in: u64,
    /// Runs written.
    pub runs_out: u64,
    /// Rows rewritten.
    pub rows: u64,
    /// Checkpoints written.
    pub checkpoints: u64,
}

#[derive(Debug, Default)]
struct MemTable {
    chunks: Vec<Arc<MemRun>>,
    rows: usize,
    transition_keys: bloom::KeySet<TransitionKey>,
    membership_keys: bloom::KeySet<MembershipKey>,
}

impl MemTable {
    fn install(&mut self, transitions: Vec<TransitionRow>, memberships: Vec<MembershipRow>) {
        if transitions.is_empty() && memberships.is_empty() {
            return;
        }
        self.transition_keys
            .extend(transitions.iter().map(|r| r.identity()));
        self.membership_keys
            .extend(memberships.iter().map(|r| r.identity()));
        self.rows += transitions.len() + memberships.len();
        self.chunks.push(Arc::new(MemRun::new(transitions, memberships)));
        // Merge neighbours of similar size (a binary counter): O(log n) chunks
        // and O(n log n) merge work however small the appends are.
        while let [.., a, b] = self.chunks.as_slice() {
            let size = |r: &MemRun| r.transitions().len() + r.memberships().len();
            if size(a) > 2 * size(b) {
                break;
            }
            let merged = MemRun::merge([a.as_ref(), b.as_ref()]);
            self.chunks.truncate(self.chunks.len() - 2);
            self.chunks.push(Arc::new(merged));
        }
    }
}

/// A rollcall store opened for writing (or read-only).
///
/// ```
/// use rollcall_engine::{Batch, Change, Options, State, Store, Timestamp};
/// let dir = tempfile::tempdir()?;
/// let mut store = Store::create(dir.path(), Options::default())?;
/// let mut batch = Batch::new();
/// batch.push_membership(Timestamp(0), "PC-1", "All Desktops", Change::Join)?;
/// batch.push_transition(Timestamp(10), "PC-1", "production", State::Failed, None)?;
/// store.append(&batch)?;
/// drop(store);
///
/// let store = Store::open(dir.path(), Options::default())?;
/// let snap = store.snapshot();
/// let prod = snap.deployment_id("production").unwrap();
/// let desktops = snap.collection_id("All Desktops");
/// let counts = snap.state_counts(prod, desktops, Timestamp(10), None)?;
/// assert_eq!(counts.get(State::Failed), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Store {
    storage: Arc<dyn Storage>,
    opts: Options,
    read_only: bool,
    _lock: Option<Box<dyn LockGuard>>,
    manifest: Manifest,
    wal: Option<WalWriter>,
    /// Bytes of the logs being replayed or written.
    wal_bytes: u64,
    next_file: u64,
    clients: Dict,
    deployments: Dict,
    collections: Dict,
    /// Format version of `names.dict`: what names are appended as.
    dict_version: u32,
    next_seq: u64,
    mem: MemTable,
    base: Vec<Arc<SegmentFile>>,
    delta: Vec<Arc<SegmentFile>>,
    checkpoints: Option<Arc<CheckpointSet>>,
    /// Derived data of `base`; replaced whenever `base` changes.
    base_cache: Arc<BaseCache>,
    poisoned: Option<String>,
    /// Commit times (SPEC 7.5), shared with snapshots.
    commits: Arc<CommitTable>,
    /// The writer's `commits.log` (none when read-only).
    commit_log: Option<CommitLog>,
}

impl Store {
    /// Creates a new store in `dir` (which may exist but must hold no store).
    pub fn create(dir: impl AsRef<Path>, opts: Options) -> Result<Store> {
        let storage = Arc::new(FileStorage::new(dir.as_ref().to_path_buf(), opts.mmap));
        open::open_writer(storage, opts, open::Mode::Create)
    }

    /// Opens an existing store for writing, recovering from a crash if the
    /// last writer did not close cleanly.
    pub fn open(dir: impl AsRef<Path>, opts: Options) -> Result<Store> {
        let storage = Arc::new(FileStorage::new(dir.as_ref().to_path_buf(), opts.mmap));
        open::open_writer(storage, opts, open::Mode::Open)
    }

    /// Opens the store in `dir`, creating it when there is none.
    pub fn open_or_create(dir: impl AsRef<Path>, opts: Options) -> Result<Store> {
        let storage = Arc::new(FileStorage::new(dir.as_ref().to_path_buf(), opts.mmap));
        open::open_writer(storage, opts, open::Mode::OpenOrCreate)
    }

    /// Opens an existing store read-only: no lock is taken, nothing is ever
    /// written or truncated, writes fail with [`Error::ReadOnly`], and the
    /// view holds every transaction committed before the open.
    pub fn open_read_only(dir: impl AsRef<Path>) -> Result<Store> {
        let opts = Options::default();
        let storage = Arc::new(FileStorage::new(dir.as_ref().to_path_buf(), opts.mmap));
        open::open_read_only(storage, opts)
    }

    /// A cheap fingerprint of the store in `dir` that changes with every
    /// commit, flush and compaction (a few `stat` calls, no lock, no read):
    /// a reader that follows another process's writes reopens when it
    /// changes.
    ///
    /// ```
    /// use rollcall_engine::{Batch, Options, State, Store, Timestamp};
    /// let dir = tempfile::tempdir()?;
    /// let mut store = Store::create(dir.path(), Options::default())?;
    /// let before = Store::change_marker(dir.path())?;
    /// let mut batch = Batch::new();
    /// batch.push_transition(Timestamp(1_000), "PC-1", "production", State::Failed, None)?;
    /// store.append(&batch)?;
    /// assert_ne!(Store::change_marker(dir.path())?, before);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn change_marker(dir: impl AsRef<Path>) -> std::io::Result<ChangeMarker> {
        marker::change_marker(dir.as_ref())
    }

    /// [`Store::create`] on a simulated [`FaultyDisk`] (for tests).
    pub fn create_on(disk: &FaultyDisk, opts: Options) -> Result<Store> {
        open::open_writer(disk.handle(), opts, open::Mode::Create)
    }

    /// [`Store::open`] on a simulated [`FaultyDisk`] (for tests).
    pub fn open_on(disk: &FaultyDisk, opts: Options) -> Result<Store> {
        open::open_writer(disk.handle(), opts, open::Mode::Open)
    }

    /// [`Store::open_read_only`] on a simulated [`FaultyDisk`] (for tests).
    pub fn open_read_only_on(disk: &FaultyDisk) -> Result<Store> {
        open::open_read_only(disk.handle(), Options::default())
    }

    /// The store directory.
    pub fn path(&self) -> &Path {
        self.storage.root()
    }

    /// True when opened with [`Store::open_read_only`].
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// Why the store refuses writes, when an earlier write failed.
    pub fn poisoned(&self) -> Option<&str> {
        self.poisoned.as_deref()
    }

    fn check_writable(&self) -> Result<()> {
        if self.read_only {
            return Err(Error::ReadOnly);
        }
        if let Some(why) = &self.poisoned {
            return Err(Error::Poisoned(why.clone()));
        }
        Ok(())
    }

    fn poison(&mut self, e: &Error) {
        if self.poisoned.is_none() {
            self.poisoned = Some(e.to_string());
        }
    }

    /// Runs a step that writes to disk, poisoning the store when it fails.
    fn guarded<T>(&mut self, step: impl FnOnce(&mut Store) -> Result<T>) -> Result<T> {
        let r = step(self);
        if let Err(e) = &r {
            self.poison(e);
        }
        r
    }

    fn dict(&self, kind: NameKind) -> &Dict {
        match kind {
            NameKind::Client => &self.clients,
            NameKind::Deployment => &self.deployments,
            NameKind::Collection => &self.collections,
        }
    }

    fn dict_lens(&self) -> [usize; 3] {
        NameKind::ALL.map(|k| self.dict(k).len())
    }

    /// Dictionary entries with ids at or above `marks` (per kind).
    fn names_since(&self, marks: [usize; 3]) -> Vec<(NameKind, u32, Vec<String>)> {
        let mut out = Vec::new();
        for kind in NameKind::ALL {
            let view = self.dict(kind).view();
            let first = marks[kind.index()];
            let names: Vec<String> = (first..view.len()).map_while(|id| view.name(id as u32)).collect();
            if !names.is_empty() {
                out.push((kind, first as u32, names));
            }
        }
        out
    }

    /// Appends one batch as one transaction: all of it is stored (less exact
    /// duplicates) and durable when this returns `Ok`, none of it otherwise.
    pub fn append(&mut self, batch: &Batch) -> Result<AppendReport> {
        let mut txn = self.begin()?;
        txn.append(batch)?;
        txn.commit()
    }

    /// [`Store::append`], recording `committed_at` (the caller's wall clock;
    /// the engine never reads one) as the transaction's commit time, for
    /// `AS KNOWN AT` ([`Snapshot::as_known_at`]). A time earlier than the
    /// last recorded one is recorded as that one: commit times never go
    /// back.
    ///
    /// ```
    /// use rollcall_engine::{Batch, Change, Options, State, Store, Timestamp};
    /// let dir = tempfile::tempdir()?;
    /// let mut store = Store::create(dir.path(), Options::default())?;
    /// let mut b = Batch::new();
    /// b.push_membership(Timestamp(0), "PC-1", "Ring", Change::Join)?;
    /// b.push_transition(Timestamp(10), "PC-1", "production", State::Compliant, None)?;
    /// store.append_at(&b, Timestamp(1_000))?;
    /// let mut late = Batch::new();
    /// late.push_transition(Timestamp(20), "PC-1", "production", State::Failed, None)?;
    /// store.append_at(&late, Timestamp(2_000))?;
    ///
    /// let snap = store.snapshot();
    /// let prod = snap.deployment_id("production").unwrap();
    /// let ring = snap.collection_id("Ring");
    /// let now = snap.state_counts(prod, ring, Timestamp(30), None)?;
    /// assert_eq!(now.get(State::Failed), 1);
    /// let then = snap.as_known_at(Timestamp(1_500)).state_counts(prod, ring, Timestamp(30), None)?;
    /// assert_eq!(then.get(State::Compliant), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn append_at(&mut self, batch: &Batch, committed_at: Timestamp) -> Result<AppendReport> {
        let mut txn = self.begin()?;
        txn.append(batch)?;
        txn.commit_at(committed_at)
    }

    /// Starts a transaction that may span many batches (a whole input file).
    /// Nothing is visible until [`Transaction::commit`]; dropping the
    /// transaction abandons it.
    pub fn begin(&mut self) -> Result<Transaction<'_>> {
        self.check_writable()?;
        if self.opts.auto_flush && self.mem.rows >= self.opts.memtable_max_rows {
            self.flush()?;
        }
        Ok(Transaction {
            marks: self.dict_lens(),
            seq_mark: self.next_seq,
            store: self,
            transitions: Vec::new(),
            memberships: Vec::new(),
            transition_index: hashbrown::HashTable::new(),
            membership_keys: bloom::KeySet::default(),
            staged: Vec::new(),
            report: AppendReport::default(),
            failed: None,
            done: false,
        })
    }

    /// A handle that looks a batch's names up in this store's dictionaries
    /// ahead of its append, from any thread: a loader resolves the next
    /// batch while the writer stores the current one.
    pub fn name_resolver(&self) -> NameResolver {
        NameResolver {
            dicts: [
                self.clients.clone(),
                self.deployments.clone(),
                self.collections.clone(),
            ],
        }
    }

    /// A consistent read view of everything acknowledged so far.
    pub fn snapshot(&self) -> Snapshot {
        let mut delta: Vec<Arc<dyn Run>> = self.delta.iter().map(|s| s.clone() as Arc<dyn Run>).collect();
        delta.extend(self.mem.chunks.iter().map(|c| c.clone() as Arc<dyn Run>));
        Snapshot::new(SnapshotParts {
            clients: self.clients.view(),
            deployments: self.deployments.view(),
            collections: self.collections.view(),
            base: self.base.iter().map(|s| s.clone() as Arc<dyn Run>).collect(),
            checkpoints: self.checkpoints.clone(),
            checkpoint_limit: Timestamp::MAX,
            base_cache: self.base_cache.clone(),
            delta,
            segment_count: (self.base.len() + self.delta.len()) as u64,
            bytes_on_disk: self.bytes_on_disk(),
            memtable_rows: self.mem.rows as u64,
            first_membership: Default::default(),
            commits: self.commits.clone(),
            commit_count: self.commits.len(),
            next_seq: self.next_seq,
        })
    }

    /// Counts and sizes of the store (as [`Snapshot::stats`] of a fresh snapshot).
    pub fn stats(&self) -> StoreStats {
        self.snapshot().stats()
    }

    fn bytes_on_disk(&self) -> u64 {
        let m = &self.manifest;
        self.base
            .iter()
            .chain(self.delta.iter())
            .map(|r| r.bytes_on_disk())
            .sum::<u64>()
            + m.checkpoints.iter().map(|f| f.bytes).sum::<u64>()
            + m.dict_bytes
            + self.wal_bytes
            + m.encode().len() as u64
    }

    /// Verifies every checksum of every file the manifest names (segments,
    /// checkpoints, the dictionary, the write-ahead logs) and lists orphan
    /// files. Damage is reported, not returned as an error.
    pub fn check(&self) -> Result<CheckReport> {
        Ok(check::check(&*self.storage, Some(&self.manifest)))
    }

    /// [`Store::check`] without opening the store first, so that damage that
    /// would make opening fail (a bad manifest, a damaged log) is reported
    /// too. Takes no lock and writes nothing.
    pub fn check_dir(dir: impl AsRef<Path>) -> Result<CheckReport> {
        let storage = FileStorage::new(dir.as_ref().to_path_buf(), true);
        open::require_store(&storage)?;
        Ok(check::check(&storage, None))
    }

    /// [`Store::check_dir`] on a simulated [`FaultyDisk`] (for tests).
    pub fn check_on(disk: &FaultyDisk) -> Result<CheckReport> {
        let storage = disk.handle();
        open::require_store(&*storage)?;
        Ok(check::check(&*storage, None))
    }

    /// Writes the memtable to a segment and starts a new write-ahead log.
    pub fn flush(&mut self) -> Result<()> {
        self.check_writable()?;
        if self.mem.rows == 0 {
            return Ok(());
        }
        self.guarded(Store::flush_inner)
    }

    fn flush_inner(&mut self) -> Result<()> {
        let merged = MemRun::merge(self.mem.chunks.iter().map(|c| c.as_ref()));
        let number = self.next_file;
        self.next_file += 1;
        let seg = files::write_segment(
            &self.storage,
            number,
            merged.transitions(),
            merged.memberships().to_vec(),
        )?;
        drop(merged);
        let (dict_bytes, dict_counts) = self.persist_dict()?;
        let old_log = self.wal.as_ref().map_or(self.manifest.wal_start, |w| w.number());
        let new_wal = WalWriter::create(&*self.storage, old_log + 1)?;
        let mut m = self.manifest.clone();
        m.generation += 1;
        m.next_seq = self.next_seq;
        m.next_file = self.next_file;
        m.wal_start = new_wal.number();
        m.dict_bytes = dict_bytes;
        m.dict_counts = dict_counts;
        m.delta.push(seg.file_ref());
        m.write(&*self.storage)?;
        // Committed: from here on nothing may fail the flush.
        self.manifest = m;
        self.wal_bytes = new_wal.bytes();
        self.wal = Some(new_wal);
        self.delta.push(seg);
        self.mem = MemTable::default();
        self.remove_old_logs();
        Ok(())
    }

    /// Removes logs older than the manifest's `wal_start` (best effort: a log
    /// left behind is an orphan, removed by the next writer to open).
    fn remove_old_logs(&self) {
        let Ok(files) = self.storage.list(WAL_DIR) else {
            return;
        };
        let mut removed = false;
        for f in files {
            if parse_number(&f, "log").is_some_and(|n| n < self.manifest.wal_start) {
                removed |= self.storage.remove(&format!("{WAL_DIR}/{f}")).is_ok();
            }
        }
        if removed {
            let _ = self.storage.sync_dir(WAL_DIR);
        }
    }

    /// Appends dictionary entries the manifest does not cover yet to the
    /// dictionary file and fsyncs it. Returns the new valid length and counts
    /// for the next manifest.
    fn persist_dict(&mut self) -> Result<(u64, [u32; 3])> {
        let lens = self.dict_lens();
        let counts = lens.map(|n| u32::try_from(n).unwrap_or(u32::MAX));
        let persisted = self.manifest.dict_counts.map(|n| n as usize);
        if persisted == lens {
            return Ok((self.manifest.dict_bytes, counts));
        }
        let mut buf = Vec::new();
        for (kind, first_id, names) in self.names_since(persisted) {
            dict_file::put_names(&mut buf, self.dict_version, kind, first_id, &names);
        }
        let storage = &*self.storage;
        let mut f = storage
            .open_append(DICT_FILE)
            .map_err(|e| io_err(storage, "open", DICT_FILE, e))?;
        f.write_all(&buf)
            .map_err(|e| io_err(storage, "write", DICT_FILE, e))?;
        f.sync().map_err(|e| io_err(storage, "fsync", DICT_FILE, e))?;
        Ok((self.manifest.dict_bytes + buf.len() as u64, counts))
    }

    /// Keeps the store query-ready after writes (SPEC 7.8), by the policy of
    /// [`Options`]: flushes the memtable once it holds
    /// [`Options::log_tail_rows`] rows (or any rows when `finish`, as an
    /// ingest command does when its input ends), and compacts once the
    /// delta holds `max(delta_min_rows, delta_ratio x base rows)` rows or
    /// [`Options::delta_max_segments`] segments. Compaction rewrites the
    /// base only from the earliest delta time on, and the ratio makes its
    /// cost, summed over a growing store, a constant factor per row.
    /// Every step is the crash-safe flush or compaction.
    pub fn maintain(&mut self, finish: bool) -> Result<MaintainReport> {
        self.check_writable()?;
        let mut report = MaintainReport::default();
        if self.mem.rows > 0 && (finish || self.mem.rows >= self.opts.log_tail_rows) {
            report.flushed_rows = self.mem.rows as u64;
            self.flush()?;
        }
        let rows = |runs: &[Arc<SegmentFile>]| -> u64 {
            runs.iter()
                .map(|r| r.transition_count() + r.membership_count())
                .sum()
        };
        let (delta, base) = (rows(&self.delta), rows(&self.base));
        let due = delta > 0
            && (delta as f64 >= (self.opts.delta_min_rows as f64).max(self.opts.delta_ratio * base as f64)
                || self.delta.len() >= self.opts.delta_max_segments);
        if due {
            report.compacted = Some(self.compact()?);
        }
        Ok(report)
    }

    /// Rows not yet folded into the base: in the memtable (and log), and in
    /// delta segments.
    pub fn unfolded(&self) -> (u64, u64) {
        let delta = self
            .delta
            .iter()
            .map(|r| r.transition_count() + r.membership_count())
            .sum();
        (self.mem.rows as u64, delta)
    }

    /// Merges every delta segment (and the base from the earliest delta time
    /// on) into new base segments with fresh checkpoints.
    pub fn compact(&mut self) -> Result<CompactReport> {
        self.flush()?;
        if self.delta.is_empty() {
            return Ok(CompactReport::default());
        }
        self.guarded(compact::compact)
    }

    fn is_stored_transition(&self, key: &TransitionKey) -> Result<bool> {
        if self.mem.transition_keys.contains(key) {
            return Ok(true);
        }
        for run in self.base.iter().chain(self.delta.iter()) {
            if covers(run.as_ref(), key) && run.contains_transition(key)? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn is_stored_membership(&self, key: &MembershipKey) -> Result<bool> {
        if self.mem.membership_keys.contains(key) {
            return Ok(true);
        }
        for run in self.base.iter().chain(self.delta.iter()) {
            if run.membership_count() > 0 && run.contains_membership(key)? {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

fn covers(run: &dyn Run, key: &TransitionKey) -> bool {
    run.transition_bounds()
        .is_some_and(|(lo, hi)| lo <= key.time && key.time <= hi)
}

/// Logs at or after `start`, in order, as `(number, name)`.
fn logs_from(storage: &dyn Storage, start: u64) -> Result<Vec<(u64, String)>> {
    let files = storage
        .list(WAL_DIR)
        .map_err(|e| io_err(storage, "list", WAL_DIR, e))?;
    let mut logs: Vec<(u64, String)> = files
        .iter()
        .filter_map(|f| parse_number(f, "log"))
        .filter(|&n| n >= start)
        .map(|n| (n, log_name(n)))
        .collect();
    logs.sort_unstable();
    Ok(logs)
}
