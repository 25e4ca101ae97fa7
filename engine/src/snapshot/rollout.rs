//! The rollout-review queries (SPEC 7.3 and 7.4): where clients went
//! between two times (`FLOW`) and how long they took from one state to
//! another (`DURATIONS`).
//!
//! Invariants: both count only the members of the collection at `to` (every
//! client, as SPEC 1 defines it, without a collection); `FLOW` reads two
//! as-of vectors and walks the members once; `DURATIONS` reads the range's
//! base rows once in their stored `(time, seq)` order when no delta run
//! holds transitions in range, and otherwise twice as order-free minima over
//! `(time, seq)` — the first `SINCE` transition, then the first `UNTIL`
//! transition after it — which do not care in which order runs deliver
//! rows.

use super::kernels::{ClientSet, state_of_byte};
use super::{Snapshot, overlaps};
use crate::error::{Error, Result};
use crate::model::{CollectionId, DeploymentId, State, Timestamp};
use crate::run::{DeploymentColumn, StateColumns};

/// What `DURATIONS` measured.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DurationsReport {
    /// Members with a start (a transition into the `SINCE` state in range).
    pub started: u64,
    /// For each of them that reached the `UNTIL` state, `end - start` in
    /// milliseconds, sorted ascending (its length is the `reached` count).
    pub reached_ms: Vec<i64>,
}

/// `(time, seq)` of a client's chosen transition; `NONE` when it has none.
type Mark = (i64, u64);
const NONE: Mark = (i64::MAX, u64::MAX);

impl Snapshot {
    /// `FLOW [FOR d] [IN c] FROM a TO b`: for the members at `to`, how many
    /// went from each state as of `from` to each state as of `to`
    /// (`matrix[from][to]`, indexed in [`State::ALL`] order; no transition
    /// counts as `NotStarted`).
    ///
    /// ```
    /// use rollcall_engine::{Batch, Change, Options, State, Store, Timestamp};
    /// let dir = tempfile::tempdir()?;
    /// let mut store = Store::create(dir.path(), Options::default())?;
    /// let mut b = Batch::new();
    /// b.push_membership(Timestamp(0), "PC-1", "Ring", Change::Join)?;
    /// b.push_transition(Timestamp(10), "PC-1", "production", State::Failed, None)?;
    /// b.push_transition(Timestamp(20), "PC-1", "production", State::Compliant, None)?;
    /// store.append(&b)?;
    /// let snap = store.snapshot();
    /// let dep = snap.deployment_id("production").unwrap();
    /// let ring = snap.collection_id("Ring");
    /// let m = snap.state_flow(dep, ring, Timestamp(15), Timestamp(30))?;
    /// assert_eq!(m[State::Failed.index()][State::Compliant.index()], 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn state_flow(
        &self,
        deployment: DeploymentId,
        collection: Option<CollectionId>,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<[[u64; 6]; 6]> {
        check_order(from, to)?;
        let (before, after) = rayon::join(
            || self.as_of(deployment, from, false),
            || -> Result<_> {
                let st = self.as_of(deployment, to, false)?;
                let members = self.population(&st, collection, to)?;
                Ok((st, members))
            },
        );
        let (before, (after, members)) = (before?, after?);
        let mut matrix = [[0u64; 6]; 6];
        for c in members.iter() {
            let (Some(&a), Some(&b)) = (before.state.get(c), after.state.get(c)) else {
                continue;
            };
            matrix[state_of_byte(a).index()][state_of_byte(b).index()] += 1;
        }
        Ok(matrix)
    }

    /// `DURATIONS [FOR d] [IN c] FROM a TO b UNTIL u [SINCE s]`: for each
    /// member at `to`, `start` is its first transition into `since` with
    /// `from <= time < to`, `end` its first transition into `until` after
    /// `start` in `(time, seq)` order (a transition at `start`'s own time
    /// counts only when it was ingested after the `since` one) and before
    /// `to`.
    pub fn durations(
        &self,
        deployment: DeploymentId,
        collection: Option<CollectionId>,
        from: Timestamp,
        to: Timestamp,
        since: State,
        until: State,
    ) -> Result<DurationsReport> {
        check_order(from, to)?;
        let hi = Timestamp(to.0 - 1);
        // Members first: the passes then skip the rows of everyone else
        // with a bit test, before touching the per-client marks.
        let members = match collection {
            Some(c) => self.members_at(c, to)?,
            None => {
                let st = self.as_of(deployment, to, false)?;
                self.population(&st, None, to)?
            }
        };
        let (starts, ends) = self.duration_marks(deployment, &members, from, hi, since, until)?;
        let mut report = DurationsReport::default();
        for c in members.iter() {
            let (Some(&start), Some(&end)) = (starts.get(c), ends.get(c)) else {
                continue;
            };
            if start == NONE {
                continue;
            }
            report.started += 1;
            if end != NONE {
                report.reached_ms.push(end.0 - start.0);
            }
        }
        report.reached_ms.sort_unstable();
        Ok(report)
    }

    /// Per client, the `(time, order)` of its start and end in `[from, hi]`.
    ///
    /// When no delta run has transitions in range, one pass over the base
    /// in its stored order decides both (base rows come in `(time, seq)`
    /// order, run after run, so "first `since`, then the first `until`
    /// after it" is read off as the rows go by; `order` is the row's place
    /// in that pass). On a large store two threads make that pass, each
    /// for one half of the clients. Otherwise two passes take minima over
    /// `(time, tier, order)` — base rows (tier 0) before delta rows (tier 1)
    /// at one time, since every delta seq is greater than every base seq —
    /// which holds whatever order the runs deliver rows in.
    fn duration_marks(
        &self,
        deployment: DeploymentId,
        members: &ClientSet,
        from: Timestamp,
        hi: Timestamp,
        since: State,
        until: State,
    ) -> Result<(Vec<Mark>, Vec<Mark>)> {
        let n = self.parts.clients.len();
        let d = u64::from(deployment.0);
        let (since_code, until_code) = (since as u64, until as u64);
        let mut starts = vec![NONE; n];
        let mut ends = vec![NONE; n];
        let delta_in_range = self
            .parts
            .delta
            .iter()
            .any(|r| r.transition_count() > 0 && overlaps(r.as_ref(), from, hi));
        if !delta_in_range {
            // A multiple of 64, so each half starts on a member word.
            let mid = if n >= PARALLEL_MIN_CLIENTS {
                (n / 2).next_multiple_of(64).min(n)
            } else {
                n
            };
            let (starts_lo, starts_hi) = starts.split_at_mut(mid);
            let (ends_lo, ends_hi) = ends.split_at_mut(mid);
            let pass = |lo: usize, starts: &mut [Mark], ends: &mut [Mark], count: bool| {
                let marks = ClientMarks { lo, starts, ends };
                self.first_marks_in_order(d, members, from, hi, (since_code, until_code), marks, count)
            };
            let (a, b) = rayon::join(
                || pass(0, starts_lo, ends_lo, true),
                || pass(mid, starts_hi, ends_hi, false),
            );
            a?;
            b?;
            return Ok((starts, ends));
        }
        // Keys (time, tier << 63 | order-or-seq): base orders stay below 2^63.
        const DELTA: u64 = 1 << 63;
        let delta_pass = |visit: &mut dyn FnMut(u64, i64, usize, State)| -> Result<()> {
            for run in self.parts.delta.iter().filter(|r| overlaps(r.as_ref(), from, hi)) {
                let rows = run.scan_transitions(from, hi, &mut |rows| {
                    self.check_cancel()?;
                    for r in rows.iter().filter(|r| r.deployment == deployment) {
                        visit(DELTA | r.seq.0, r.time.0, r.client.0 as usize, r.state);
                    }
                    Ok(())
                })?;
                self.count_scan(rows);
            }
            Ok(())
        };
        self.base_rows_in_order(d, from, hi, |order, t, c, s| {
            if s == since_code
                && let Some(m) = starts.get_mut(c)
            {
                *m = (*m).min((t, order));
            }
        })?;
        delta_pass(&mut |key, t, c, s| {
            if s == since
                && let Some(m) = starts.get_mut(c)
            {
                *m = (*m).min((t, key));
            }
        })?;
        let mut end_at = |key: u64, t: i64, c: usize| {
            if let (Some(&start), Some(end)) = (starts.get(c), ends.get_mut(c))
                && start != NONE
                && (t, key) > start
            {
                *end = (*end).min((t, key));
            }
        };
        self.base_rows_in_order(d, from, hi, |order, t, c, s| {
            if s == until_code {
                end_at(order, t, c);
            }
        })?;
        delta_pass(&mut |key, t, c, s| {
            if s == until {
                end_at(key, t, c);
            }
        })?;
        Ok((starts, ends))
    }

    /// The one in-order base pass for the members `marks` covers: the
    /// first `since` row of each, then its first `until` row after that.
    ///
    /// Two bits per client say how far it got (1: no start yet, 2: started,
    /// 0: done or not a member): 250 KB per million clients, which stays in
    /// the core's cache. Rows come in time order, clients at random and
    /// states mixed, so a branch per row on its state, deployment or
    /// progress is mispredicted about half the time, and a write per row to
    /// the 32 MB of marks misses the cache: each block is first narrowed to
    /// its rows of the two states, the deployment and this half's clients
    /// without a branch, those rows then advance their client's two bits
    /// without a branch, and the starts and ends they find are listed and
    /// written to the marks after the pass.
    #[allow(clippy::too_many_arguments)]
    fn first_marks_in_order(
        &self,
        deployment: u64,
        members: &ClientSet,
        from: Timestamp,
        hi: Timestamp,
        (since_code, until_code): (u64, u64),
        marks: ClientMarks<'_>,
        count: bool,
    ) -> Result<()> {
        const OPEN: u64 = 1;
        const STARTED: u64 = 2;
        let ClientMarks { lo, starts, ends } = marks;
        let span = starts.len().min(ends.len());
        // One spare word past the clients, where rows that are narrowed
        // away land harmlessly.
        let spare = span.div_ceil(32);
        let mut progress = vec![0u64; spare + 1];
        for (i, &word) in members
            .words
            .iter()
            .enumerate()
            .skip(lo / 64)
            .take(span.div_ceil(64))
        {
            let mut bits = word;
            while bits != 0 {
                let c = i * 64 + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                let k = c.wrapping_sub(lo);
                if let Some(w) = progress.get_mut(k / 32)
                    && k < span
                {
                    *w |= OPEN << (2 * (k % 32));
                }
            }
        }
        let mut keep: Vec<u8> = Vec::new();
        let mut picked: Vec<u32> = Vec::new();
        // (client - lo, order, time, 1 for an end) of each start and end.
        let mut found: Vec<(u32, u64, i64, bool)> = Vec::new();
        self.base_blocks_in_order(from, hi, count, |first_order, cols| {
            let rows = cols.client.len().min(cols.state.len());
            let (client, state) = (&cols.client[..rows], &cols.state[..rows]);
            let times = cols.time.unwrap_or_default();
            // A 0/1 per row first (a loop the compiler vectorises), then
            // the indices of the ones.
            keep.clear();
            keep.extend(client.iter().zip(state).map(|(&c, &s)| {
                let k = c.wrapping_sub(lo as u64);
                u8::from(((s == since_code) | (s == until_code)) & (k < span as u64))
            }));
            match cols.deployment {
                DeploymentColumn::Constant(v) if v != deployment => return,
                DeploymentColumn::Constant(_) => {}
                DeploymentColumn::PerRow(dep) => {
                    for (k, &d) in keep.iter_mut().zip(dep) {
                        *k &= u8::from(d == deployment);
                    }
                }
            }
            picked.clear();
            picked.resize(rows + 1, 0);
            let mut m = 0;
            let slots = &mut picked[..];
            for (i, &k) in keep.iter().enumerate() {
                if let Some(slot) = slots.get_mut(m) {
                    *slot = i as u32;
                }
                m += usize::from(k);
            }
            for &i in &picked[..m] {
                let i = i as usize;
                let (Some(&c), Some(&s), Some(&t)) = (client.get(i), state.get(i), times.get(i)) else {
                    continue;
                };
                let k = c.wrapping_sub(lo as u64) as usize;
                let Some(w) = progress.get_mut(k / 32) else {
                    continue;
                };
                let shift = 2 * (k % 32);
                let code = (*w >> shift) & 3;
                let start = (code == OPEN) & (s == since_code);
                let end = (code == STARTED) & (s == until_code);
                // OPEN -> STARTED is an xor with 3, STARTED -> done with 2.
                *w ^= ((u64::from(start) * 3) | (u64::from(end) * 2)) << shift;
                if start | end {
                    found.push((k as u32, first_order + i as u64 + 1, t as i64, end));
                }
            }
        })?;
        for (k, order, t, end) in found {
            let marks = if end { &mut *ends } else { &mut *starts };
            if let Some(m) = marks.get_mut(k as usize) {
                *m = (t, order);
            }
        }
        Ok(())
    }

    /// Visits `(order, time, client, state)` for each base row of the
    /// deployment in `[from, hi]`, in stored order; `order` counts every
    /// row of the pass, so two passes number rows alike.
    fn base_rows_in_order(
        &self,
        deployment: u64,
        from: Timestamp,
        hi: Timestamp,
        mut visit: impl FnMut(u64, i64, usize, u64),
    ) -> Result<()> {
        self.base_blocks_in_order(from, hi, true, |first_order, cols| {
            let times = cols.time.unwrap_or_default();
            for (i, ((&c, &s), &t)) in cols.client.iter().zip(cols.state).zip(times).enumerate() {
                if cols.deployment.is(i, deployment) {
                    visit(first_order + i as u64 + 1, t as i64, c as usize, s);
                }
            }
        })
    }

    /// Visits the base's chunks of rows in `[from, hi]` (with times) in
    /// stored order, each with the number of rows of the pass before it.
    /// `count`: add the rows decoded to the snapshot's work counters (one
    /// of two passes made side by side over the same rows counts them).
    fn base_blocks_in_order(
        &self,
        from: Timestamp,
        hi: Timestamp,
        count: bool,
        mut visit: impl FnMut(u64, &StateColumns<'_>),
    ) -> Result<()> {
        let mut order = 0u64;
        for run in self.parts.base.iter().filter(|r| overlaps(r.as_ref(), from, hi)) {
            let rows = run.scan_states(from, hi, true, &mut |cols| {
                self.check_cancel()?;
                visit(order, &cols);
                order += cols.client.len() as u64;
                Ok(())
            })?;
            if count {
                self.count_scan(rows);
            }
        }
        Ok(())
    }
}

/// Clients from `lo` on, with their start and end marks (`starts[k]` is
/// client `lo + k`'s).
struct ClientMarks<'a> {
    lo: usize,
    starts: &'a mut [Mark],
    ends: &'a mut [Mark],
}

/// Below this many clients one thread makes the in-order pass (low, so the
/// tests of small stores take the split path too; the second thread only
/// costs a second decode of the range, made at the same time).
const PARALLEL_MIN_CLIENTS: usize = 128;

fn check_order(from: Timestamp, to: Timestamp) -> Result<()> {
    if from >= to {
        return Err(Error::InvalidInput(format!(
            "range start {} ms is not before its end {} ms",
            from.0, to.0
        )));
    }
    Ok(())
}
