//! [`Run`]: the read interface every source of rows offers (an in-memory
//! chunk of the memtable, or a sealed segment file).
//!
//! Invariants every implementation keeps:
//! * transitions are visited in `(time, seq)` order, in chunks;
//! * membership changes of one collection are visited in `(time, seq)` order;
//! * nothing is visited twice, and a run never changes once built.

use std::fmt::Debug;

use crate::error::Result;
use crate::model::{
    CollectionId, MembershipKey, MembershipRow, Seq, State, Timestamp, TransitionKey, TransitionRow,
};

/// Callback receiving consecutive chunks of transitions.
pub(crate) type TransitionSink<'a> = dyn FnMut(&[TransitionRow]) -> Result<()> + 'a;
/// Callback receiving consecutive chunks of transitions as columns.
pub(crate) type StateSink<'a> = dyn FnMut(StateColumns<'_>) -> Result<()> + 'a;

/// A chunk of transitions in `(time, seq)` order as the columns an as-of
/// replay needs (all of one length; values as stored, ids and the state's
/// index widened to `u64`, the state index below 6). `time` is there when
/// the scan was asked for times.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StateColumns<'a> {
    pub time: Option<&'a [u64]>,
    pub client: &'a [u64],
    pub deployment: DeploymentColumn<'a>,
    pub state: &'a [u64],
}

/// The deployment column of a [`StateColumns`] chunk: most blocks hold one
/// deployment, and a constant column is not expanded into a value per row.
#[derive(Debug, Clone, Copy)]
pub(crate) enum DeploymentColumn<'a> {
    /// Every row of the chunk has this deployment id.
    Constant(u64),
    /// One deployment id per row.
    PerRow(&'a [u64]),
}

impl DeploymentColumn<'_> {
    /// Whether row `i` has deployment `d` (false past the end).
    #[inline]
    pub fn is(&self, i: usize, d: u64) -> bool {
        match self {
            DeploymentColumn::Constant(v) => *v == d,
            DeploymentColumn::PerRow(v) => v.get(i) == Some(&d),
        }
    }
}

/// Callback receiving consecutive chunks of membership changes.
pub(crate) type MembershipSink<'a> = dyn FnMut(&[MembershipRow]) -> Result<()> + 'a;

/// A sealed, immutable source of rows.
pub(crate) trait Run: Send + Sync + Debug {
    /// Number of transitions.
    fn transition_count(&self) -> u64;
    /// Number of membership changes.
    fn membership_count(&self) -> u64;
    /// Smallest and largest transition time, if any.
    fn transition_bounds(&self) -> Option<(Timestamp, Timestamp)>;
    /// About how many transitions have `lo <= time <= hi`, for splitting a
    /// scan into parts of like size: by default interpolated from the time
    /// bounds as if times were spread evenly; a segment counts its blocks.
    fn transitions_between(&self, lo: Timestamp, hi: Timestamp) -> u64 {
        let Some((first, last)) = self.transition_bounds() else {
            return 0;
        };
        if lo > hi || hi < first || lo > last {
            return 0;
        }
        let span = (last.0 as f64 - first.0 as f64) + 1.0;
        let inside = (hi.0.min(last.0) as f64 - lo.0.max(first.0) as f64) + 1.0;
        (self.transition_count() as f64 * (inside / span).clamp(0.0, 1.0)) as u64
    }
    /// Visits transitions with `lo <= time <= hi` in `(time, seq)` order.
    /// Returns the number of rows decoded.
    fn scan_transitions(&self, lo: Timestamp, hi: Timestamp, sink: &mut TransitionSink<'_>) -> Result<u64>;
    /// Visits transitions with `lo <= time <= hi` in `(time, seq)` order as
    /// [`StateColumns`], with times when `with_time` (a segment decodes only
    /// those columns). Returns the number of rows decoded.
    fn scan_states(
        &self,
        lo: Timestamp,
        hi: Timestamp,
        with_time: bool,
        sink: &mut StateSink<'_>,
    ) -> Result<u64> {
        self.scan_states_below(lo, hi, with_time, u64::MAX, sink)
    }
    /// [`Run::scan_states`] of only the rows with `seq < below` (a view as
    /// known at a time); the count returned is of the rows decoded.
    fn scan_states_below(
        &self,
        lo: Timestamp,
        hi: Timestamp,
        with_time: bool,
        below: u64,
        sink: &mut StateSink<'_>,
    ) -> Result<u64> {
        let mut cols: [Vec<u64>; 4] = Default::default();
        self.scan_transitions(lo, hi, &mut |rows| {
            for c in cols.iter_mut() {
                c.clear();
            }
            for r in rows.iter().filter(|r| r.seq.0 < below) {
                cols[0].push(r.time.0 as u64);
                cols[1].push(u64::from(r.client.0));
                cols[2].push(u64::from(r.deployment.0));
                cols[3].push(r.state as u64);
            }
            if cols[1].is_empty() {
                return Ok(());
            }
            sink(StateColumns {
                time: Some(&cols[0][..]).filter(|_| with_time),
                client: &cols[1],
                deployment: DeploymentColumn::PerRow(&cols[2]),
                state: &cols[3],
            })
        })
    }
    /// Visits `Failed` transitions with `lo <= time <= hi` in `(time, seq)` order.
    fn scan_failures(&self, lo: Timestamp, hi: Timestamp, sink: &mut TransitionSink<'_>) -> Result<u64> {
        self.scan_transitions(lo, hi, &mut |rows| {
            let failed: Vec<TransitionRow> = rows
                .iter()
                .filter(|r| r.state == State::Failed)
                .copied()
                .collect();
            if failed.is_empty() { Ok(()) } else { sink(&failed) }
        })
    }
    /// Visits membership changes (of one collection, or all) with `time <= hi`,
    /// each collection's changes in `(time, seq)` order.
    fn scan_memberships(
        &self,
        collection: Option<CollectionId>,
        hi: Timestamp,
        sink: &mut MembershipSink<'_>,
    ) -> Result<u64>;
    /// Visits the membership changes of `collection` with `lo <= time <= hi`,
    /// in `(time, seq)` order (a segment starts at the first block that can
    /// hold them).
    fn scan_collection_changes(
        &self,
        collection: CollectionId,
        lo: Timestamp,
        hi: Timestamp,
        sink: &mut MembershipSink<'_>,
    ) -> Result<u64> {
        self.scan_memberships(Some(collection), hi, &mut |rows| {
            let start = rows.partition_point(|r| r.time < lo);
            let picked: Vec<MembershipRow> = rows[start..]
                .iter()
                .filter(|r| r.collection == collection && r.time >= lo && r.time <= hi)
                .copied()
                .collect();
            if picked.is_empty() { Ok(()) } else { sink(&picked) }
        })
    }
    /// True when an exact duplicate of `key` is stored in this run.
    fn contains_transition(&self, key: &TransitionKey) -> Result<bool> {
        let mut found = false;
        self.scan_transitions(key.time, key.time, &mut |rows| {
            found |= rows.iter().any(|r| r.identity() == *key);
            Ok(())
        })?;
        Ok(found)
    }
    /// True when an exact duplicate of `key` is stored in this run.
    fn contains_membership(&self, key: &MembershipKey) -> Result<bool> {
        let mut found = false;
        self.scan_memberships(Some(key.collection), key.time, &mut |rows| {
            found |= rows.iter().any(|r| r.identity() == *key);
            Ok(())
        })?;
        Ok(found)
    }
    /// Bytes this run occupies on disk (0 for memory).
    fn bytes_on_disk(&self) -> u64 {
        0
    }
    /// The smallest and largest seq of the run's rows (both kinds), `None`
    /// when it has none.
    fn seq_bounds(&self) -> Option<(Seq, Seq)>;
}

/// An immutable, sorted chunk of rows held in memory.
#[derive(Debug, Default)]
pub(crate) struct MemRun {
    /// Sorted by `(time, seq)`.
    transitions: Vec<TransitionRow>,
    /// Sorted by `(collection, time, seq)`.
    memberships: Vec<MembershipRow>,
}

impl MemRun {
    /// Builds a run, sorting the rows into the order [`Run`] promises.
    pub(crate) fn new(mut transitions: Vec<TransitionRow>, mut memberships: Vec<MembershipRow>) -> MemRun {
        transitions.sort_unstable_by_key(|r| (r.time, r.seq));
        memberships.sort_unstable_by_key(|r| (r.collection, r.time, r.seq));
        MemRun {
            transitions,
            memberships,
        }
    }

    /// Merges several runs into one. The stable sort finds the sorted runs
    /// in the concatenation and merges them in linear time per level.
    pub(crate) fn merge<'a>(runs: impl IntoIterator<Item = &'a MemRun>) -> MemRun {
        let mut t = Vec::new();
        let mut m = Vec::new();
        for r in runs {
            t.extend_from_slice(&r.transitions);
            m.extend_from_slice(&r.memberships);
        }
        t.sort_by_key(|r| (r.time, r.seq));
        m.sort_by_key(|r| (r.collection, r.time, r.seq));
        MemRun {
            transitions: t,
            memberships: m,
        }
    }

    pub(crate) fn transitions(&self) -> &[TransitionRow] {
        &self.transitions
    }

    pub(crate) fn memberships(&self) -> &[MembershipRow] {
        &self.memberships
    }

    fn time_slice(&self, lo: Timestamp, hi: Timestamp) -> &[TransitionRow] {
        if lo > hi {
            return &[];
        }
        let start = self.transitions.partition_point(|r| r.time < lo);
        let end = self.transitions.partition_point(|r| r.time <= hi);
        &self.transitions[start..end.max(start)]
    }
}

const CHUNK: usize = 4096;

impl Run for MemRun {
    fn transition_count(&self) -> u64 {
        self.transitions.len() as u64
    }

    fn seq_bounds(&self) -> Option<(Seq, Seq)> {
        let seqs = self
            .transitions
            .iter()
            .map(|r| r.seq)
            .chain(self.memberships.iter().map(|r| r.seq));
        seqs.fold(None, |b, s| {
            Some(b.map_or((s, s), |(lo, hi): (Seq, Seq)| (lo.min(s), hi.max(s))))
        })
    }

    fn membership_count(&self) -> u64 {
        self.memberships.len() as u64
    }

    fn transition_bounds(&self) -> Option<(Timestamp, Timestamp)> {
        Some((self.transitions.first()?.time, self.transitions.last()?.time))
    }

    fn scan_transitions(&self, lo: Timestamp, hi: Timestamp, sink: &mut TransitionSink<'_>) -> Result<u64> {
        let rows = self.time_slice(lo, hi);
        for chunk in rows.chunks(CHUNK) {
            sink(chunk)?;
        }
        Ok(rows.len() as u64)
    }

    fn scan_memberships(
        &self,
        collection: Option<CollectionId>,
        hi: Timestamp,
        sink: &mut MembershipSink<'_>,
    ) -> Result<u64> {
        let rows: &[MembershipRow] = match collection {
            Some(c) => {
                let start = self.memberships.partition_point(|r| r.collection < c);
                let end = self.memberships.partition_point(|r| r.collection <= c);
                &self.memberships[start..end]
            }
            None => &self.memberships,
        };
        let mut n = 0;
        for chunk in rows.chunks(CHUNK) {
            let end = if collection.is_some() {
                chunk.partition_point(|r| r.time <= hi)
            } else {
                chunk.len()
            };
            if collection.is_some() {
                n += end as u64;
                sink(&chunk[..end])?;
                if end < chunk.len() {
                    break;
                }
            } else {
                let kept: Vec<MembershipRow> = chunk.iter().filter(|r| r.time <= hi).copied().collect();
                n += kept.len() as u64;
                sink(&kept)?;
            }
        }
        Ok(n)
    }

    fn contains_transition(&self, key: &TransitionKey) -> Result<bool> {
        Ok(self
            .time_slice(key.time, key.time)
            .iter()
            .any(|r| r.identity() == *key))
    }

    fn contains_membership(&self, key: &MembershipKey) -> Result<bool> {
        let lo = self
            .memberships
            .partition_point(|r| (r.collection, r.time) < (key.collection, key.time));
        let hi = self
            .memberships
            .partition_point(|r| (r.collection, r.time) <= (key.collection, key.time));
        Ok(self.memberships[lo..hi.max(lo)]
            .iter()
            .any(|r| r.identity() == *key))
    }
}
