//! [`Snapshot`]: a consistent, immutable read view of the store, the name
//! lookups and store statistics over it, and the typed queries of SPEC.md
//! (one file per query family).
//!
//! Layout:
//! * `mod.rs` (here): the view itself, its handles (cancel flag, work
//!   counters), name lookups, raw row visits and [`StoreStats`];
//! * `as_of.rs`: the as-of replay (every client's state at a time) and
//!   membership at a time;
//! * `kernels.rs`: the bit-plane counting kernels and member-set buffers;
//! * `states.rs`: `STATES` at a time, as a series, and by collection;
//! * `failures.rs`: failure histograms (plain and by error) and `SHOW ERRORS`;
//! * `clients.rs`: `CLIENTS` and `HISTORY`.
//!
//! Invariants:
//! * a snapshot sees exactly the batches acknowledged before it was taken,
//!   whole, and never changes afterwards (it holds `Arc`s to sealed runs and
//!   frozen dictionary prefixes);
//! * every `seq` in a delta run is greater than every `seq` in the base, so a
//!   checkpoint (which forgets seqs) plus the `(time, seq)` rule answers
//!   exactly as a replay of all rows in `(time, seq)` order would;
//! * the engine never reads the clock: every time is passed in.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::checkpoint::CheckpointSet;
use crate::dict::DictView;
use crate::error::{Error, Result};
use crate::model::{ClientId, CollectionId, DeploymentId, MembershipRow, Timestamp, TransitionRow};
use crate::rollup::BaseCache;
use crate::run::Run;

mod as_of;
mod buckets;
mod clients;
mod failures;
mod kernels;
mod known_at;
mod rollout;
mod states;

pub use clients::{ClientStateRow, HistoryRow};
pub use failures::ErrorBucket;
pub use rollout::DurationsReport;

/// Most points a series or buckets a histogram may have.
pub const MAX_POINTS: u64 = 1_000_000;

/// Work counters of the queries run on one snapshot handle (for EXPLAIN).
#[derive(Debug, Default)]
struct Probe {
    runs_read: AtomicU64,
    rows_scanned: AtomicU64,
    checkpoints_used: AtomicU64,
    member_snapshots_used: AtomicU64,
}

/// What queries on a snapshot handle have done so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProbeReport {
    /// Runs (segments or memtable chunks) read.
    pub runs_read: u64,
    /// Rows decoded.
    pub rows_scanned: u64,
    /// Checkpoints used as starting points.
    pub checkpoints_used: u64,
    /// Membership snapshots used as starting points.
    pub member_snapshots_used: u64,
}

/// Counts and sizes of the store as a snapshot sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Distinct clients.
    pub clients: u64,
    /// Distinct collections.
    pub collections: u64,
    /// Distinct deployments.
    pub deployments: u64,
    /// Stored transitions (duplicates excluded).
    pub transitions: u64,
    /// Stored membership changes (duplicates excluded).
    pub membership_changes: u64,
    /// Segment files.
    pub segments: u64,
    /// Rows held only in memory and the write-ahead log.
    pub memtable_rows: u64,
    /// Rows not yet folded into the base (delta segments and memtable):
    /// what automatic maintenance folds in once it is due.
    pub unfolded_rows: u64,
    /// Bytes of every file of the store.
    pub bytes_on_disk: u64,
    /// Of those, bytes of checkpoint records that later checkpoint files
    /// supersede: kept on disk until maintenance merges their file.
    pub checkpoint_dead_bytes: u64,
    /// Earliest and latest transition time.
    pub time_range: Option<(Timestamp, Timestamp)>,
}

/// The runs, checkpoints and dictionaries a snapshot reads.
#[derive(Debug)]
pub(crate) struct SnapshotParts {
    pub clients: DictView,
    pub deployments: DictView,
    pub collections: DictView,
    /// Compacted runs covered by `checkpoints`.
    pub base: Vec<Arc<dyn Run>>,
    /// Checkpoints over `base`, decoded on demand.
    pub checkpoints: Option<Arc<CheckpointSet>>,
    /// Only checkpoints strictly before this time stand for `base`, and
    /// membership snapshots none at all when it is not `Timestamp::MAX`
    /// (a view `AS KNOWN AT` whose `base` is filtered: later checkpoints
    /// hold rows the view does not know).
    pub checkpoint_limit: Timestamp,
    /// Runs newer than the base: segments flushed since, memtable chunks.
    pub delta: Vec<Arc<dyn Run>>,
    /// Number of segment files.
    pub segment_count: u64,
    /// Bytes of every file of the store.
    pub bytes_on_disk: u64,
    /// Rows in the memtable.
    pub memtable_rows: u64,
    /// Derived data of `base` (the failure rollup), shared with every
    /// snapshot of the same base.
    pub base_cache: Arc<BaseCache>,
    /// Cache: per client, the time of its first membership change.
    pub first_membership: std::sync::OnceLock<Vec<i64>>,
    /// Commit times, and how many records this snapshot sees.
    pub commits: Arc<crate::commits::CommitTable>,
    pub commit_count: usize,
    /// Every seq the snapshot sees is below this.
    pub next_seq: u64,
}

/// A consistent read view. Cheap to clone; `Send + Sync`; usable from many
/// threads while the writer goes on.
#[derive(Debug, Clone)]
pub struct Snapshot {
    parts: Arc<SnapshotParts>,
    probe: Arc<Probe>,
    cancel: Option<Arc<AtomicBool>>,
    /// Answer failures by sweeping rows even where the rollup could (tests).
    no_rollup: bool,
}

/// The time of the last point of a half-open range `[from, to)`, in ms.
fn last_ms(to: Timestamp) -> Timestamp {
    Timestamp(to.0.saturating_sub(1))
}

fn check_range(from: Timestamp, to: Timestamp, every_ms: i64) -> Result<u64> {
    if from >= to {
        return Err(Error::InvalidInput(format!(
            "range start {} ms is not before its end {} ms",
            from.0, to.0
        )));
    }
    if every_ms <= 0 {
        return Err(Error::InvalidInput("bucket width must be above zero".into()));
    }
    let span = (to.0 as i128) - (from.0 as i128);
    let n = (span + every_ms as i128 - 1) / every_ms as i128;
    if n > MAX_POINTS as i128 {
        return Err(Error::InvalidInput(format!(
            "the range holds {n} buckets, the limit is {MAX_POINTS}; widen EVERY or narrow the range"
        )));
    }
    Ok(n as u64)
}

impl Snapshot {
    pub(crate) fn new(parts: SnapshotParts) -> Snapshot {
        Snapshot {
            parts: Arc::new(parts),
            probe: Arc::new(Probe::default()),
            cancel: None,
            no_rollup: false,
        }
    }

    /// A handle on the same view that answers `FAILURES` by sweeping rows,
    /// never from the failure rollup (for tests that compare the two paths).
    #[doc(hidden)]
    pub fn without_rollup(&self) -> Snapshot {
        Snapshot {
            no_rollup: true,
            ..self.fork()
        }
    }

    /// A handle on the same view with its own work counters and the given
    /// cancel flag: queries on it stop with [`Error::Cancelled`] soon after
    /// the flag is set.
    pub fn with_cancel_flag(&self, flag: Arc<AtomicBool>) -> Snapshot {
        Snapshot {
            parts: self.parts.clone(),
            probe: Arc::new(Probe::default()),
            cancel: Some(flag),
            no_rollup: self.no_rollup,
        }
    }

    /// A handle on the same view with fresh work counters.
    pub fn fork(&self) -> Snapshot {
        Snapshot {
            parts: self.parts.clone(),
            probe: Arc::new(Probe::default()),
            cancel: self.cancel.clone(),
            no_rollup: self.no_rollup,
        }
    }

    /// Work done by queries on this handle so far.
    pub fn probe(&self) -> ProbeReport {
        ProbeReport {
            runs_read: self.probe.runs_read.load(Ordering::Relaxed),
            rows_scanned: self.probe.rows_scanned.load(Ordering::Relaxed),
            checkpoints_used: self.probe.checkpoints_used.load(Ordering::Relaxed),
            member_snapshots_used: self.probe.member_snapshots_used.load(Ordering::Relaxed),
        }
    }

    fn check_cancel(&self) -> Result<()> {
        match &self.cancel {
            Some(flag) if flag.load(Ordering::Relaxed) => Err(Error::Cancelled),
            _ => Ok(()),
        }
    }

    fn count_scan(&self, rows: u64) {
        self.probe.runs_read.fetch_add(1, Ordering::Relaxed);
        self.probe.rows_scanned.fetch_add(rows, Ordering::Relaxed);
    }

    fn all_runs(&self) -> impl Iterator<Item = &Arc<dyn Run>> {
        self.parts.base.iter().chain(self.parts.delta.iter())
    }

    // ----- names -------------------------------------------------------------

    /// The id of a client name.
    pub fn client_id(&self, name: &str) -> Option<ClientId> {
        self.parts.clients.get(name).map(ClientId)
    }

    /// The id of a deployment name.
    pub fn deployment_id(&self, name: &str) -> Option<DeploymentId> {
        self.parts.deployments.get(name).map(DeploymentId)
    }

    /// The id of a collection name.
    pub fn collection_id(&self, name: &str) -> Option<CollectionId> {
        self.parts.collections.get(name).map(CollectionId)
    }

    /// The name of a client id.
    pub fn client_name(&self, id: ClientId) -> Option<String> {
        self.parts.clients.name(id.0)
    }

    /// Every collection name, sorted bytewise.
    pub fn collections(&self) -> Vec<String> {
        let mut v = self.parts.collections.all_names();
        v.sort_unstable();
        v
    }

    /// Every deployment name, sorted bytewise.
    pub fn deployments(&self) -> Vec<String> {
        let mut v = self.parts.deployments.all_names();
        v.sort_unstable();
        v
    }

    /// Calls `f` with every client name (in id order).
    pub fn for_each_client_name(&self, mut f: impl FnMut(ClientId, &str)) {
        let n = self.parts.clients.len() as u32;
        self.parts.clients.with_names(|lookup| {
            for id in 0..n {
                if let Some(name) = lookup.get(id) {
                    f(ClientId(id), name);
                }
            }
        });
    }

    /// The name of a deployment id.
    pub fn deployment_name(&self, id: DeploymentId) -> Option<String> {
        self.parts.deployments.name(id.0)
    }

    /// The name of a collection id.
    pub fn collection_name(&self, id: CollectionId) -> Option<String> {
        self.parts.collections.name(id.0)
    }

    /// Visits every stored transition with `lo <= time <= hi`, in chunks.
    /// Each run is visited in `(time, seq)` order, but runs may overlap in
    /// time: sort by `(time, seq)` if a global order is needed. For exports
    /// and tools; queries have typed functions.
    pub fn for_each_transition(
        &self,
        lo: Timestamp,
        hi: Timestamp,
        mut f: impl FnMut(&[TransitionRow]) -> Result<()>,
    ) -> Result<()> {
        for run in self.all_runs() {
            if !overlaps(run.as_ref(), lo, hi) {
                continue;
            }
            let n = run.scan_transitions(lo, hi, &mut |rows| {
                self.check_cancel()?;
                f(rows)
            })?;
            self.count_scan(n);
        }
        Ok(())
    }

    /// Visits every stored membership change, in chunks (per run, per
    /// collection in `(time, seq)` order).
    pub fn for_each_membership(&self, mut f: impl FnMut(&[MembershipRow]) -> Result<()>) -> Result<()> {
        for run in self.all_runs() {
            if run.membership_count() == 0 {
                continue;
            }
            let n = run.scan_memberships(None, Timestamp::MAX, &mut |rows| {
                self.check_cancel()?;
                f(rows)
            })?;
            self.count_scan(n);
        }
        Ok(())
    }

    /// Number of clients known to the snapshot.
    pub fn client_count(&self) -> usize {
        self.parts.clients.len()
    }

    /// Counts and sizes of the store.
    pub fn stats(&self) -> StoreStats {
        let mut s = StoreStats {
            clients: self.parts.clients.len() as u64,
            collections: self.parts.collections.len() as u64,
            deployments: self.parts.deployments.len() as u64,
            segments: self.parts.segment_count,
            memtable_rows: self.parts.memtable_rows,
            bytes_on_disk: self.parts.bytes_on_disk,
            ..StoreStats::default()
        };
        s.unfolded_rows = self
            .parts
            .delta
            .iter()
            .map(|r| r.transition_count() + r.membership_count())
            .sum();
        if let Some(set) = &self.parts.checkpoints {
            s.checkpoint_dead_bytes = set.live_bytes().iter().map(|(len, live)| len - live).sum();
        }
        for run in self.all_runs() {
            s.transitions += run.transition_count();
            s.membership_changes += run.membership_count();
            if let Some((lo, hi)) = run.transition_bounds() {
                s.time_range = Some(match s.time_range {
                    None => (lo, hi),
                    Some((a, b)) => (a.min(lo), b.max(hi)),
                });
            }
        }
        s
    }
}

fn overlaps(run: &dyn Run, lo: Timestamp, hi: Timestamp) -> bool {
    match run.transition_bounds() {
        Some((a, b)) => a <= hi && b >= lo,
        None => false,
    }
}
