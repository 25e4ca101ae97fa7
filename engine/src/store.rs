//! [`Store`]: the single writer of a store directory — append, flush,
//! compact — and the source of [`Snapshot`]s.
//!
//! Invariants:
//! * a batch is visible to snapshots only after it is durable (or, for an
//!   in-memory store, after `commit` returns), and then whole;
//! * stored rows hold no exact duplicates: every row is checked against the
//!   memtable, the segments and the rest of its transaction before it gets a
//!   `seq`;
//! * every `seq` of a delta run is greater than every `seq` of the base (a
//!   compaction first flushes the memtable and then takes every segment).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::batch::Batch;
use crate::checkpoint::Checkpoint;
use crate::compaction::checkpoints_over;
use crate::dict::Dict;
use crate::error::{Error, Result};
use crate::model::{
    ClientId, CollectionId, DeploymentId, MembershipKey, MembershipRow, Seq, TransitionKey, TransitionRow,
};
use crate::run::{MemRun, Run};
use crate::snapshot::{Snapshot, SnapshotParts};

/// Tuning knobs of a store.
#[derive(Debug, Clone)]
pub struct Options {
    /// Rows kept in memory (and the write-ahead log) before a flush writes
    /// them to a segment.
    pub memtable_max_rows: usize,
    /// Base rows between two checkpoints.
    pub checkpoint_interval_rows: usize,
    /// Flush automatically when the memtable is full.
    pub auto_flush: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            memtable_max_rows: 1 << 20,
            checkpoint_interval_rows: 2 << 20,
            auto_flush: true,
        }
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
    transition_keys: HashSet<TransitionKey>,
    membership_keys: HashSet<MembershipKey>,
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
/// let snap = store.snapshot();
/// let prod = snap.deployment_id("production").unwrap();
/// let desktops = snap.collection_id("All Desktops");
/// let counts = snap.state_counts(prod, desktops, Timestamp(10), None)?;
/// assert_eq!(counts.get(State::Failed), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Store {
    dir: PathBuf,
    opts: Options,
    read_only: bool,
    clients: Dict,
    deployments: Dict,
    collections: Dict,
    next_seq: u64,
    mem: MemTable,
    base: Vec<Arc<dyn Run>>,
    checkpoints: Vec<Arc<Checkpoint>>,
    segments: Vec<Arc<dyn Run>>,
    poisoned: Option<String>,
}

impl Store {
    /// Creates a new store in `dir` (which may exist but must hold no store).
    pub fn create(dir: impl AsRef<Path>, opts: Options) -> Result<Store> {
        let dir = dir.as_ref().to_path_buf();
        Ok(Store::empty(dir, opts, false))
    }

    /// Opens an existing store for writing.
    pub fn open(dir: impl AsRef<Path>, opts: Options) -> Result<Store> {
        Store::create(dir, opts)
    }

    /// Opens the store in `dir`, creating it when there is none.
    pub fn open_or_create(dir: impl AsRef<Path>, opts: Options) -> Result<Store> {
        Store::create(dir, opts)
    }

    /// Opens an existing store read-only: no lock is taken, writes fail with
    /// [`Error::ReadOnly`], and the view holds every batch acknowledged before
    /// the open.
    pub fn open_read_only(dir: impl AsRef<Path>) -> Result<Store> {
        let mut s = Store::create(dir, Options::default())?;
        s.read_only = true;
        Ok(s)
    }

    fn empty(dir: PathBuf, opts: Options, read_only: bool) -> Store {
        let deployments = Dict::default();
        deployments.get_or_insert(crate::model::limits::DEFAULT_DEPLOYMENT);
        Store {
            dir,
            opts,
            read_only,
            clients: Dict::default(),
            deployments,
            collections: Dict::default(),
            next_seq: 1,
            mem: MemTable::default(),
            base: Vec::new(),
            checkpoints: Vec::new(),
            segments: Vec::new(),
            poisoned: None,
        }
    }

    /// The store directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// True when opened with [`Store::open_read_only`].
    pub fn is_read_only(&self) -> bool {
        self.read_only
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

    /// Appends one batch as one transaction: all of it is stored (less exact
    /// duplicates) and durable when this returns `Ok`, none of it otherwise.
    pub fn append(&mut self, batch: &Batch) -> Result<AppendReport> {
        let mut txn = self.begin()?;
        txn.append(batch)?;
        txn.commit()
    }

    /// Starts a transaction that may span many batches (a whole input file).
    /// Nothing is visible until [`Transaction::commit`]; dropping the
    /// transaction abandons it.
    pub fn begin(&mut self) -> Result<Transaction<'_>> {
        self.check_writable()?;
        Ok(Transaction {
            marks: (self.clients.len(), self.deployments.len(), self.collections.len()),
            seq_mark: self.next_seq,
            store: self,
            transitions: Vec::new(),
            memberships: Vec::new(),
            transition_keys: HashSet::new(),
            membership_keys: HashSet::new(),
            report: AppendReport::default(),
            done: false,
        })
    }

    /// A consistent read view of everything acknowledged so far.
    pub fn snapshot(&self) -> Snapshot {
        let mut delta: Vec<Arc<dyn Run>> = self.segments.clone();
        delta.extend(self.mem.chunks.iter().map(|c| c.clone() as Arc<dyn Run>));
        Snapshot::new(SnapshotParts {
            clients: self.clients.view(),
            deployments: self.deployments.view(),
            collections: self.collections.view(),
            base: self.base.clone(),
            checkpoints: self.checkpoints.clone(),
            delta,
            segment_count: (self.base.len() + self.segments.len()) as u64,
            bytes_on_disk: self.all_runs().map(|r| r.bytes_on_disk()).sum(),
            memtable_rows: self.mem.rows as u64,
            first_membership: Default::default(),
        })
    }

    fn all_runs(&self) -> impl Iterator<Item = &Arc<dyn Run>> {
        self.base.iter().chain(self.segments.iter())
    }

    /// Writes the memtable to a segment.
    pub fn flush(&mut self) -> Result<()> {
        self.check_writable()?;
        if self.mem.chunks.is_empty() {
            return Ok(());
        }
        let merged = MemRun::merge(self.mem.chunks.iter().map(|c| c.as_ref()));
        self.segments.push(Arc::new(merged));
        self.mem = MemTable::default();
        Ok(())
    }

    /// Merges every segment into a new base with fresh checkpoints.
    pub fn compact(&mut self) -> Result<CompactReport> {
        self.flush()?;
        if self.segments.is_empty() {
            return Ok(CompactReport::default());
        }
        let inputs: Vec<Arc<dyn Run>> = self.all_runs().cloned().collect();
        let mut transitions = Vec::new();
        let mut memberships = Vec::new();
        for run in &inputs {
            run.scan_transitions(crate::Timestamp::MIN, crate::Timestamp::MAX, &mut |rows| {
                transitions.extend_from_slice(rows);
                Ok(())
            })?;
            run.scan_memberships(None, crate::Timestamp::MAX, &mut |rows| {
                memberships.extend_from_slice(rows);
                Ok(())
            })?;
        }
        let merged = MemRun::new(transitions, memberships);
        let checkpoints = checkpoints_over(
            merged.transitions(),
            self.clients.len(),
            self.deployments.len(),
            self.opts.checkpoint_interval_rows,
        );
        let report = CompactReport {
            runs_in: inputs.len() as u64,
            runs_out: 1,
            rows: (merged.transitions().len() + merged.memberships().len()) as u64,
            checkpoints: checkpoints.len() as u64,
        };
        self.base = vec![Arc::new(merged)];
        self.checkpoints = checkpoints.into_iter().map(Arc::new).collect();
        self.segments.clear();
        Ok(report)
    }

    fn is_stored_transition(&self, key: &TransitionKey) -> Result<bool> {
        if self.mem.transition_keys.contains(key) {
            return Ok(true);
        }
        for run in self.all_runs() {
            if let Some((lo, hi)) = run.transition_bounds()
                && lo <= key.time
                && key.time <= hi
                && run.contains_transition(key)?
            {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn is_stored_membership(&self, key: &MembershipKey) -> Result<bool> {
        if self.mem.membership_keys.contains(key) {
            return Ok(true);
        }
        for run in self.all_runs() {
            if run.membership_count() > 0 && run.contains_membership(key)? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn install(&mut self, transitions: Vec<TransitionRow>, memberships: Vec<MembershipRow>) -> Result<()> {
        if transitions.is_empty() && memberships.is_empty() {
            return Ok(());
        }
        self.mem
            .transition_keys
            .extend(transitions.iter().map(|r| r.identity()));
        self.mem
            .membership_keys
            .extend(memberships.iter().map(|r| r.identity()));
        self.mem.rows += transitions.len() + memberships.len();
        self.mem
            .chunks
            .push(Arc::new(MemRun::new(transitions, memberships)));
        if self.mem.chunks.len() > 16 {
            let merged = MemRun::merge(self.mem.chunks.iter().map(|c| c.as_ref()));
            self.mem.chunks = vec![Arc::new(merged)];
        }
        if self.opts.auto_flush && self.mem.rows >= self.opts.memtable_max_rows {
            self.flush()?;
        }
        Ok(())
    }
}

/// A multi-batch, all-or-nothing write. See [`Store::begin`].
#[derive(Debug)]
pub struct Transaction<'s> {
    store: &'s mut Store,
    marks: (usize, usize, usize),
    seq_mark: u64,
    transitions: Vec<TransitionRow>,
    memberships: Vec<MembershipRow>,
    transition_keys: HashSet<TransitionKey>,
    membership_keys: HashSet<MembershipKey>,
    report: AppendReport,
    done: bool,
}

impl Transaction<'_> {
    /// Adds a batch to the transaction, dropping exact duplicates.
    pub fn append(&mut self, batch: &Batch) -> Result<AppendReport> {
        let store = &mut *self.store;
        let mut report = AppendReport::default();
        let mut ids: Vec<Option<u32>> = Vec::new();
        let mut resolve = |dict: &Dict, index: u32, batch: &Batch| -> u32 {
            let i = index as usize;
            if ids.len() <= i {
                ids.resize(i + 1, None);
            }
            *ids[i].get_or_insert_with(|| dict.get_or_insert(batch.name(index)).0)
        };
        // Names of different kinds share the batch pool, so resolve each kind
        // with its own cache.
        let mut client_ids: Vec<Option<u32>> = Vec::new();
        let mut client = |index: u32| -> u32 {
            let i = index as usize;
            if client_ids.len() <= i {
                client_ids.resize(i + 1, None);
            }
            *client_ids[i].get_or_insert_with(|| store.clients.get_or_insert(batch.name(index)).0)
        };
        for p in &batch.transitions {
            let row = TransitionRow {
                time: p.time,
                seq: Seq(0),
                client: ClientId(client(p.client)),
                deployment: DeploymentId(resolve(&store.deployments, p.deployment, batch)),
                state: p.state,
                error: p.error,
            };
            let key = row.identity();
            if self.transition_keys.contains(&key) || store.is_stored_transition(&key)? {
                report.duplicates += 1;
                continue;
            }
            self.transition_keys.insert(key);
            self.transitions.push(TransitionRow {
                seq: Seq(store.next_seq),
                ..row
            });
            store.next_seq += 1;
            report.transitions += 1;
        }
        let mut collection_ids: Vec<Option<u32>> = Vec::new();
        for p in &batch.memberships {
            let i = p.collection as usize;
            if collection_ids.len() <= i {
                collection_ids.resize(i + 1, None);
            }
            let collection = *collection_ids[i]
                .get_or_insert_with(|| store.collections.get_or_insert(batch.name(p.collection)).0);
            let row = MembershipRow {
                time: p.time,
                seq: Seq(0),
                client: ClientId(client(p.client)),
                collection: CollectionId(collection),
                change: p.change,
            };
            let key = row.identity();
            if self.membership_keys.contains(&key) || store.is_stored_membership(&key)? {
                report.duplicates += 1;
                continue;
            }
            self.membership_keys.insert(key);
            self.memberships.push(MembershipRow {
                seq: Seq(store.next_seq),
                ..row
            });
            store.next_seq += 1;
            report.memberships += 1;
        }
        self.report.add(report);
        Ok(report)
    }

    /// Makes the transaction durable and visible.
    pub fn commit(mut self) -> Result<AppendReport> {
        let transitions = std::mem::take(&mut self.transitions);
        let memberships = std::mem::take(&mut self.memberships);
        self.store.install(transitions, memberships)?;
        self.done = true;
        Ok(self.report)
    }
}

impl Drop for Transaction<'_> {
    fn drop(&mut self) {
        if !self.done {
            let (c, d, k) = self.marks;
            self.store.clients.truncate(c);
            self.store.deployments.truncate(d);
            self.store.collections.truncate(k);
            self.store.next_seq = self.seq_mark;
        }
    }
}
