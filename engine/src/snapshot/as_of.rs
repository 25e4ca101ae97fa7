//! The as-of replay: every client's latest state (and, when asked, its
//! time) for one deployment at a time `T`, and the members of a collection
//! at `T`.
//!
//! A state replay starts from the newest checkpoint at or before `T`, applies
//! the base transitions in `(checkpoint, T]` in `(time, seq)` order (each
//! simply replaces its client's state), then the delta transitions `<= T`
//! under the rule "a row wins when its `(time, seq)` is greater". Membership
//! at `T` starts from the collection's newest membership snapshot at or
//! before `T` plus the base changes after it, or (when a delta run holds
//! membership changes, or there is no snapshot) replays the whole change log.
//!
//! Invariants: see [`AsOf`]; every delta `seq` is greater than every base
//! `seq`, which is what lets a checkpoint (no seqs) stand for the base.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::Snapshot;
use super::kernels::{ClientSet, MemberBuffers, state_of_byte};
use super::overlaps;
use crate::checkpoint::{Checkpoint, NO_STATE};
use crate::error::Result;
use crate::members::apply_change;
use crate::model::{Change, CollectionId, DeploymentId, MembershipRow, State, Timestamp, TransitionRow};
use crate::run::{DeploymentColumn, Run, StateColumns};

/// Per-client latest transition as of some time, for one deployment.
///
/// Invariant: `state` holds every client, each byte a state index (below
/// `State::ALL.len()`) or [`NO_STATE`] (base columns, delta rows and
/// checkpoints are validated on decode); `time` is either empty (the query
/// needs no times and no delta run has transitions) or holds every client;
/// `seq` is empty until the first delta row is applied, then holds every
/// client, 0 for a state that came from the base (every delta seq is
/// greater than every base seq).
pub(super) struct AsOf {
    pub(super) state: Vec<u8>,
    pub(super) time: Vec<i64>,
    pub(super) seq: Vec<u64>,
}

impl AsOf {
    /// The state at a checkpoint (or of no transitions at all), over `n`
    /// clients; with per-client times when `with_time`.
    fn start(cp: Option<&Checkpoint>, n: usize, with_time: bool) -> AsOf {
        let (states, times) = cp.map_or((&[][..], &[][..]), |cp| (&cp.states[..], &cp.times[..]));
        let k = n.min(states.len()).min(times.len());
        let mut state = Vec::with_capacity(n);
        state.extend_from_slice(&states[..k]);
        state.resize(n, NO_STATE);
        let time = if with_time {
            let mut time = Vec::with_capacity(n);
            time.extend_from_slice(&times[..k]);
            time.resize(n, i64::MIN);
            time
        } else {
            Vec::new()
        };
        AsOf {
            state,
            time,
            seq: Vec::new(),
        }
    }

    /// Applies base rows that follow, in `(time, seq)` order, every row
    /// applied so far (base rows are replayed in order, and a base row after
    /// the window already applied is later than any delta row applied to
    /// it): each one simply replaces its client's state.
    #[inline]
    fn apply_base_columns(&mut self, deployment: DeploymentId, cols: StateColumns<'_>) {
        let n = self.state.len();
        let d = u64::from(deployment.0);
        match (cols.time, self.time.is_empty(), self.seq.is_empty()) {
            (_, true, true) => match cols.deployment {
                // The common case: a block of one deployment, no times kept.
                DeploymentColumn::Constant(dep) => {
                    if dep == d {
                        for (&c, &s) in cols.client.iter().zip(cols.state) {
                            if let Some(slot) = self.state.get_mut(c as usize) {
                                *slot = s as u8;
                            }
                        }
                    }
                }
                DeploymentColumn::PerRow(deps) => {
                    for ((&c, &dep), &s) in cols.client.iter().zip(deps).zip(cols.state) {
                        if dep == d && (c as usize) < n {
                            self.state[c as usize] = s as u8;
                        }
                    }
                }
            },
            (Some(times), _, _) => {
                let (with_time, with_seq) = (!self.time.is_empty(), !self.seq.is_empty());
                let rows = cols.client.iter().zip(cols.state).zip(times).enumerate();
                for (i, ((&c, &s), &t)) in rows {
                    let c = c as usize;
                    if !cols.deployment.is(i, d) || c >= n {
                        continue;
                    }
                    self.state[c] = s as u8;
                    if with_time {
                        self.time[c] = t as i64;
                    }
                    if with_seq {
                        self.seq[c] = 0;
                    }
                }
            }
            (None, _, _) => {
                // `Snapshot::apply_runs` asks for times whenever they are kept.
                debug_assert!(false, "a replay that keeps times got none");
            }
        }
    }

    /// Applies delta rows, which may come in any time order against what
    /// was applied: a row wins when its `(time, seq)` is greater. Needs
    /// times (`Snapshot::as_of` keeps them when a delta run has rows).
    #[inline]
    fn apply_delta(&mut self, deployment: DeploymentId, rows: &[TransitionRow]) {
        let n = self.state.len();
        if self.time.len() != n {
            self.time.resize(n, i64::MIN);
        }
        if self.seq.len() != n {
            self.seq = vec![0; n];
        }
        for r in rows {
            let c = r.client.0 as usize;
            if r.deployment != deployment || c >= n {
                continue;
            }
            if (r.time.0, r.seq.0) > (self.time[c], self.seq[c]) || self.state[c] == NO_STATE {
                self.state[c] = r.state as u8;
                self.time[c] = r.time.0;
                self.seq[c] = r.seq.0;
            }
        }
    }

    /// The state a client counts as at `at` (`stale_before` needs times).
    #[inline]
    pub(super) fn effective(&self, c: usize, stale_before: Option<i64>) -> State {
        let s = self.state[c];
        let stale =
            s != NO_STATE && stale_before.is_some_and(|limit| self.time.get(c).is_some_and(|&t| t < limit));
        if stale { State::Unknown } else { state_of_byte(s) }
    }
}

impl Snapshot {
    /// Every client's state as of `at`: the latest checkpoint at or before
    /// `at`, then base rows after it, then delta rows. Per-client times are
    /// kept when `with_time` (stale limits, `since`) and whenever a delta
    /// run has transitions (delta rows are ordered against them).
    pub(super) fn as_of(&self, deployment: DeploymentId, at: Timestamp, with_time: bool) -> Result<AsOf> {
        let n = self.parts.clients.len();
        let cp = self.checkpoint_at(deployment, at)?;
        if cp.is_some() {
            self.probe.checkpoints_used.fetch_add(1, Ordering::Relaxed);
        }
        let with_time = with_time || self.parts.delta.iter().any(|r| r.transition_count() > 0);
        let mut st = AsOf::start(cp.as_deref(), n, with_time);
        let base_lo = cp.as_ref().map_or(Timestamp::MIN, |cp| cp.time.saturating_add(1));
        if cp.as_ref().is_none_or(|cp| cp.time < Timestamp::MAX) {
            self.apply_runs(&mut st, deployment, &self.parts.base, true, base_lo, at)?;
        }
        self.apply_runs(&mut st, deployment, &self.parts.delta, false, Timestamp::MIN, at)?;
        Ok(st)
    }

    /// The latest checkpoint of `deployment` at or before `at`, decoded.
    pub(super) fn checkpoint_at(
        &self,
        deployment: DeploymentId,
        at: Timestamp,
    ) -> Result<Option<Arc<Checkpoint>>> {
        let limit = self.parts.checkpoint_limit;
        if at >= limit && limit == Timestamp::MIN {
            return Ok(None);
        }
        let at = if at >= limit { limit.saturating_sub(1) } else { at };
        match &self.parts.checkpoints {
            Some(set) => set
                .latest_at_or_before(deployment, at)
                .map(|i| set.get(i))
                .transpose(),
            None => Ok(None),
        }
    }

    /// Moves `st` from "as of `from`" to "as of `to`" (`from < to`) by
    /// applying every transition with `from < time <= to`.
    pub(super) fn advance(
        &self,
        st: &mut AsOf,
        deployment: DeploymentId,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<()> {
        if from == Timestamp::MAX {
            return Ok(());
        }
        let lo = from.saturating_add(1);
        self.apply_runs(st, deployment, &self.parts.base, true, lo, to)?;
        self.apply_runs(st, deployment, &self.parts.delta, false, lo, to)
    }

    /// Applies the transitions of `runs` with `lo <= time <= hi`; `base`
    /// says they are base runs (see [`AsOf::apply_base_columns`]).
    fn apply_runs(
        &self,
        st: &mut AsOf,
        deployment: DeploymentId,
        runs: &[Arc<dyn Run>],
        base: bool,
        lo: Timestamp,
        hi: Timestamp,
    ) -> Result<()> {
        if lo > hi {
            return Ok(());
        }
        for run in runs {
            if !overlaps(run.as_ref(), lo, hi) {
                continue;
            }
            let rows = if base {
                run.scan_states(lo, hi, !st.time.is_empty() || !st.seq.is_empty(), &mut |cols| {
                    self.check_cancel()?;
                    st.apply_base_columns(deployment, cols);
                    Ok(())
                })?
            } else {
                run.scan_transitions(lo, hi, &mut |rows| {
                    self.check_cancel()?;
                    st.apply_delta(deployment, rows);
                    Ok(())
                })?
            };
            self.count_scan(rows);
        }
        Ok(())
    }

    /// Membership changes of one collection with `time <= hi`, in `(time, seq)` order.
    pub(super) fn membership_log(
        &self,
        collection: CollectionId,
        hi: Timestamp,
    ) -> Result<Vec<MembershipRow>> {
        self.collection_changes(self.all_runs(), collection, Timestamp::MIN, hi)
    }

    /// Membership changes of `collection` in `runs` with `lo <= time <= hi`,
    /// in `(time, seq)` order.
    pub(super) fn collection_changes<'a>(
        &self,
        runs: impl Iterator<Item = &'a Arc<dyn Run>>,
        collection: CollectionId,
        lo: Timestamp,
        hi: Timestamp,
    ) -> Result<Vec<MembershipRow>> {
        let mut log: Vec<MembershipRow> = Vec::new();
        for run in runs.filter(|r| r.membership_count() > 0) {
            let rows = run.scan_collection_changes(collection, lo, hi, &mut |rows| {
                self.check_cancel()?;
                log.extend_from_slice(rows);
                Ok(())
            })?;
            self.count_scan(rows);
        }
        if !log.is_sorted_by_key(|r| (r.time, r.seq)) {
            log.sort_unstable_by_key(|r| (r.time, r.seq));
        }
        Ok(log)
    }

    /// Members of `collection` at `at` into `bufs.set` from the latest
    /// membership snapshot at or before `at` plus the base changes after it;
    /// false (and `bufs` unspecified) when there is no such snapshot or a
    /// delta run holds membership changes (which the snapshots do not cover).
    fn members_from_snapshot(
        &self,
        collection: CollectionId,
        at: Timestamp,
        bufs: &mut MemberBuffers,
    ) -> Result<bool> {
        let Some(set) = &self.parts.checkpoints else {
            return Ok(false);
        };
        if self.parts.checkpoint_limit < Timestamp::MAX {
            // A filtered base: snapshots may hold changes the view does not
            // know (membership runs carry no time bounds to limit them by).
            return Ok(false);
        }
        if self.parts.delta.iter().any(|r| r.membership_count() > 0) {
            return Ok(false);
        }
        let Some(i) = set.latest_members_at(collection, at) else {
            return Ok(false);
        };
        self.probe.member_snapshots_used.fetch_add(1, Ordering::Relaxed);
        let time = set.members_into(i, self.parts.clients.len(), &mut bufs.set.words, &mut bufs.ids)?;
        if time < at {
            let after =
                self.collection_changes(self.parts.base.iter(), collection, time.saturating_add(1), at)?;
            for r in &after {
                apply_change(&mut bufs.set.words, r);
            }
        }
        Ok(true)
    }

    pub(super) fn members_at(&self, collection: CollectionId, at: Timestamp) -> Result<ClientSet> {
        let mut bufs = MemberBuffers::default();
        self.members_at_into(collection, at, &mut bufs)?;
        Ok(bufs.set)
    }

    /// Members of `collection` at `at` into `bufs.set`, reusing its buffers.
    pub(super) fn members_at_into(
        &self,
        collection: CollectionId,
        at: Timestamp,
        bufs: &mut MemberBuffers,
    ) -> Result<()> {
        if self.members_from_snapshot(collection, at, bufs)? {
            return Ok(());
        }
        let n = self.parts.clients.len();
        let set = &mut bufs.set;
        set.reset(n);
        // The common case (a compacted store: every membership change in one
        // run) streams the run's rows, which come in (time, seq) order,
        // straight into the set instead of gathering and sorting a log.
        let mut with_changes = self.all_runs().filter(|r| r.membership_count() > 0);
        if let (Some(run), None) = (with_changes.next(), with_changes.next()) {
            let mut last = (Timestamp::MIN, 0u64);
            let mut ordered = true;
            let rows = run.scan_memberships(Some(collection), at, &mut |rows| {
                self.check_cancel()?;
                for r in rows.iter().filter(|r| r.collection == collection && r.time <= at) {
                    ordered &= (r.time, r.seq.0) >= last;
                    last = (r.time, r.seq.0);
                    set.set(r.client.0 as usize, r.change == Change::Join);
                }
                Ok(())
            })?;
            self.count_scan(rows);
            if ordered {
                return Ok(());
            }
            set.reset(n);
        }
        for r in self.membership_log(collection, at)? {
            set.set(r.client.0 as usize, r.change == Change::Join);
        }
        Ok(())
    }

    /// Per client, the time of its first membership change (`i64::MAX` when
    /// it has none). Computed once per snapshot.
    fn first_membership_times(&self) -> Result<&[i64]> {
        if let Some(v) = self.parts.first_membership.get() {
            return Ok(v);
        }
        let mut first = vec![i64::MAX; self.parts.clients.len()];
        for run in self.all_runs() {
            if run.membership_count() == 0 {
                continue;
            }
            let rows = run.scan_memberships(None, Timestamp::MAX, &mut |rows| {
                self.check_cancel()?;
                for r in rows {
                    if let Some(t) = first.get_mut(r.client.0 as usize) {
                        *t = (*t).min(r.time.0);
                    }
                }
                Ok(())
            })?;
            self.count_scan(rows);
        }
        Ok(self.parts.first_membership.get_or_init(|| first))
    }

    /// The clients a query counts: members of `collection` at `at`, or (with
    /// no collection) every client with a transition for the deployment or a
    /// membership change at or before `at`.
    pub(super) fn population(
        &self,
        st: &AsOf,
        collection: Option<CollectionId>,
        at: Timestamp,
    ) -> Result<ClientSet> {
        match collection {
            Some(c) => self.members_at(c, at),
            None => {
                let first = self.first_membership_times()?;
                let mut set = ClientSet::new(self.parts.clients.len());
                for (c, (&s, &t)) in st.state.iter().zip(first).enumerate() {
                    if s != NO_STATE || t <= at.0 {
                        set.set(c, true);
                    }
                }
                Ok(set)
            }
        }
    }
}
