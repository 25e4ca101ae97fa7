//! `AS KNOWN AT` (SPEC 7.5): a view of a snapshot that sees only the rows
//! whose transaction committed at or before a wall-clock time.
//!
//! The commit table (`crate::commits`) turns the time into a seq cut-off
//! `S`: rows with `seq < S` are known. The view wraps runs in
//! [`KnownBelow`], which drops rows at or above `S` from every scan, so
//! every query answers on the view exactly as if only those rows existed.
//!
//! The view's dictionaries are the prefixes known at the cut-off (each
//! commit record keeps the dictionary lengths), so names first seen later —
//! a collection created since — are not in the report as it was.
//!
//! Invariants: when the cut-off lies above every base seq, the base, its
//! checkpoints, membership snapshots and failure rollup stay in use and only
//! delta runs are filtered (every delta seq is above every base seq, so the
//! base is wholly known). Otherwise every run is filtered; the filtered base
//! is still a base (its rows in `(time, seq)` order, below every delta seq),
//! and a checkpoint stands for it only while no unknown row lies at or
//! before the checkpoint's time: the view's `checkpoint_limit` is the
//! earliest transition time of any base run holding unknown rows, and only
//! checkpoints strictly before it are used. Membership snapshots and the
//! failure rollup are not used then (they count rows the view does not
//! know); membership comes from the change log, failures from a sweep.

use std::sync::Arc;

use super::{Snapshot, SnapshotParts};
use crate::error::Result;
use crate::model::{CollectionId, MembershipRow, Seq, Timestamp, TransitionRow};
use crate::rollup::BaseCache;
use crate::run::{MembershipSink, Run, StateSink, TransitionSink};

/// A run seen through a seq cut-off: rows with `seq >= below` are not
/// there. Counts and bounds are those of the whole run (upper bounds).
#[derive(Debug)]
struct KnownBelow {
    inner: Arc<dyn Run>,
    below: u64,
}

impl KnownBelow {
    fn transitions<'r>(
        &self,
        rows: &'r [TransitionRow],
        buf: &'r mut Vec<TransitionRow>,
    ) -> &'r [TransitionRow] {
        if rows.iter().all(|r| r.seq.0 < self.below) {
            return rows;
        }
        buf.clear();
        buf.extend(rows.iter().filter(|r| r.seq.0 < self.below));
        buf
    }

    fn memberships<'r>(
        &self,
        rows: &'r [MembershipRow],
        buf: &'r mut Vec<MembershipRow>,
    ) -> &'r [MembershipRow] {
        if rows.iter().all(|r| r.seq.0 < self.below) {
            return rows;
        }
        buf.clear();
        buf.extend(rows.iter().filter(|r| r.seq.0 < self.below));
        buf
    }
}

impl Run for KnownBelow {
    fn transition_count(&self) -> u64 {
        self.inner.transition_count()
    }
    fn membership_count(&self) -> u64 {
        self.inner.membership_count()
    }
    fn transition_bounds(&self) -> Option<(Timestamp, Timestamp)> {
        self.inner.transition_bounds()
    }
    fn transitions_between(&self, lo: Timestamp, hi: Timestamp) -> u64 {
        self.inner.transitions_between(lo, hi)
    }
    // `scan_failures` keeps its default, which goes through
    // `scan_transitions` and so through the filter.
    fn scan_states(
        &self,
        lo: Timestamp,
        hi: Timestamp,
        with_time: bool,
        sink: &mut StateSink<'_>,
    ) -> Result<u64> {
        self.inner.scan_states_below(lo, hi, with_time, self.below, sink)
    }
    fn scan_states_below(
        &self,
        lo: Timestamp,
        hi: Timestamp,
        with_time: bool,
        below: u64,
        sink: &mut StateSink<'_>,
    ) -> Result<u64> {
        self.inner
            .scan_states_below(lo, hi, with_time, below.min(self.below), sink)
    }
    fn scan_transitions(&self, lo: Timestamp, hi: Timestamp, sink: &mut TransitionSink<'_>) -> Result<u64> {
        let mut buf = Vec::new();
        self.inner.scan_transitions(lo, hi, &mut |rows| {
            let kept = self.transitions(rows, &mut buf);
            if kept.is_empty() { Ok(()) } else { sink(kept) }
        })
    }
    fn scan_memberships(
        &self,
        collection: Option<CollectionId>,
        hi: Timestamp,
        sink: &mut MembershipSink<'_>,
    ) -> Result<u64> {
        let mut buf = Vec::new();
        self.inner.scan_memberships(collection, hi, &mut |rows| {
            let kept = self.memberships(rows, &mut buf);
            if kept.is_empty() { Ok(()) } else { sink(kept) }
        })
    }
    fn scan_collection_changes(
        &self,
        collection: CollectionId,
        lo: Timestamp,
        hi: Timestamp,
        sink: &mut MembershipSink<'_>,
    ) -> Result<u64> {
        let mut buf = Vec::new();
        self.inner
            .scan_collection_changes(collection, lo, hi, &mut |rows| {
                let kept = self.memberships(rows, &mut buf);
                if kept.is_empty() { Ok(()) } else { sink(kept) }
            })
    }
    fn bytes_on_disk(&self) -> u64 {
        self.inner.bytes_on_disk()
    }
    fn seq_bounds(&self) -> Option<(Seq, Seq)> {
        let (lo, hi) = self.inner.seq_bounds()?;
        (lo.0 < self.below).then(|| (lo, Seq(hi.0.min(self.below - 1))))
    }
}

impl Snapshot {
    /// The wall-clock time from which the row with `seq` is known to
    /// [`Snapshot::as_known_at`]: the row is in the view as known at `t`
    /// exactly when this is `None` (the store records no commit times, so
    /// every row is always known) or at most `t`. `Timestamp::MAX` means no
    /// recorded commit covers the row (it was appended without a commit
    /// time after the last one) and no view as known at a time holds it.
    /// `rollcall export` writes it as the `committed_ms` column.
    ///
    /// ```
    /// use rollcall_engine::{Batch, Options, Seq, State, Store, Timestamp};
    /// let dir = tempfile::tempdir()?;
    /// let mut store = Store::create(dir.path(), Options::default())?;
    /// let mut batch = Batch::new();
    /// batch.push_transition(Timestamp(1_000), "PC-1", "production", State::Failed, None)?;
    /// store.append_at(&batch, Timestamp(5_000))?;
    /// let snap = store.snapshot();
    /// let mut seqs = Vec::new();
    /// snap.for_each_transition(Timestamp::MIN, Timestamp::MAX, |rows| { seqs.extend(rows.iter().map(|r| r.seq)); Ok(()) })?;
    /// assert_eq!(snap.known_from(seqs[0]), Some(Timestamp(5_000)));
    /// let production = snap.deployment_id("production").unwrap();
    /// let failed_as_known_at = |t| {
    ///     let view = snap.as_known_at(Timestamp(t));
    ///     view.state_counts(production, None, Timestamp(2_000), None).map(|c| c.get(State::Failed))
    /// };
    /// assert_eq!(failed_as_known_at(4_999)?, 0);
    /// assert_eq!(failed_as_known_at(5_000)?, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn known_from(&self, seq: Seq) -> Option<Timestamp> {
        self.parts
            .commits
            .known_from(self.parts.commit_count, seq.0)
            .map(Timestamp)
    }

    /// A view of this snapshot that sees only the transitions and membership
    /// changes whose transaction was committed at or before wall-clock `t`
    /// (commit times as recorded by [`Store::append_at`](crate::Store::append_at)).
    /// Data stored without a commit time counts as committed at the next
    /// recorded commit (the first one, for data older than every record);
    /// with no commit recorded at all, the view is the whole snapshot. Every
    /// typed query works on the view.
    pub fn as_known_at(&self, t: Timestamp) -> Snapshot {
        let p = &self.parts;
        let Some((cut, dicts)) = p.commits.cutoff(p.commit_count, t.0) else {
            return self.fork();
        };
        if cut >= p.next_seq {
            return self.fork();
        }
        // A run whose every row is known is read as it is.
        let wrap = |r: &Arc<dyn Run>| -> Arc<dyn Run> {
            if r.seq_bounds().is_none_or(|(_, hi)| hi.0 < cut) {
                return r.clone();
            }
            Arc::new(KnownBelow {
                inner: r.clone(),
                below: cut,
            })
        };
        let base_known = p
            .base
            .iter()
            .filter_map(|r| r.seq_bounds())
            .all(|(_, hi)| hi.0 < cut);
        let (base, checkpoints, checkpoint_limit, base_cache, delta) = if base_known {
            (
                p.base.clone(),
                p.checkpoints.clone(),
                p.checkpoint_limit,
                p.base_cache.clone(),
                p.delta.iter().map(wrap).collect(),
            )
        } else {
            // Part of the base is unknown. Its known rows, filtered, are
            // still in (time, seq) order and below every delta seq, so they
            // stay a base; a checkpoint stands for them only when no unknown
            // row is at or before it, i.e. before the earliest transition of
            // every base run that holds unknown rows.
            let limit = p
                .base
                .iter()
                .filter(|r| r.seq_bounds().is_some_and(|(_, hi)| hi.0 >= cut))
                .filter_map(|r| r.transition_bounds().map(|(lo, _)| lo))
                .min()
                .unwrap_or(Timestamp::MAX)
                .min(p.checkpoint_limit);
            (
                p.base.iter().map(wrap).collect(),
                p.checkpoints.clone(),
                // Membership snapshots are off below MAX; keep it below
                // even when no run bounds the transitions.
                if limit == Timestamp::MAX {
                    Timestamp(i64::MAX - 1)
                } else {
                    limit
                },
                Arc::new(BaseCache::default()),
                p.delta.iter().map(wrap).collect(),
            )
        };
        let parts = SnapshotParts {
            clients: p.clients.prefix(dicts[0] as usize),
            deployments: p.deployments.prefix(dicts[1] as usize),
            collections: p.collections.prefix(dicts[2] as usize),
            base,
            checkpoints,
            checkpoint_limit,
            delta,
            segment_count: p.segment_count,
            bytes_on_disk: p.bytes_on_disk,
            memtable_rows: p.memtable_rows,
            base_cache,
            first_membership: Default::default(),
            commits: p.commits.clone(),
            commit_count: p.commit_count,
            next_seq: cut,
        };
        Snapshot {
            cancel: self.cancel.clone(),
            // The failure rollup counts every base row, known or not.
            no_rollup: self.no_rollup || !base_known,
            ..Snapshot::new(parts)
        }
    }

    /// True when some stored data has no recorded commit time (a store
    /// written before commit times were recorded, or plain
    /// [`Store::append`](crate::Store::append)): `AS KNOWN AT` counts it as
    /// known from the next recorded commit on.
    pub fn has_untimed_data(&self) -> bool {
        self.parts
            .commits
            .has_gaps(self.parts.commit_count, self.parts.next_seq)
    }
}
