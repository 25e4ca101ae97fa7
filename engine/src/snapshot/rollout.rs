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
use crate::run::{DeploymentColumn, Run, StateColumns};
use std::sync::Arc;

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
            if start == NO_TIME {
                continue;
            }
            report.started += 1;
            if end != NO_TIME {
                report.reached_ms.push(end - start);
            }
        }
        report.reached_ms.sort_unstable();
        Ok(report)
    }

    /// Per client, the time of its start and end in `[from, hi]`
    /// ([`NO_TIME`] for none).
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
    ) -> Result<(Vec<i64>, Vec<i64>)> {
        let n = self.parts.clients.len();
        let d = u64::from(deployment.0);
        let (since_code, until_code) = (since as u64, until as u64);
        let delta_in_range = self
            .parts
            .delta
            .iter()
            .any(|r| r.transition_count() > 0 && overlaps(r.as_ref(), from, hi));
        if !delta_in_range {
            return self.first_times_in_order(d, members, n, from, hi, (since_code, until_code));
        }
        let mut starts = vec![NONE; n];
        let mut ends = vec![NONE; n];
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
        let times = |marks: Vec<Mark>| {
            marks
                .into_iter()
                .map(|m| if m == NONE { NO_TIME } else { m.0 })
                .collect()
        };
        Ok((times(starts), times(ends)))
    }

    /// The in-order base pass: per member, the time of its first `since`
    /// row, then of its first `until` row after that.
    ///
    /// The runs in range are split in two stretches of about equal rows,
    /// read side by side: the earlier one finds starts and ends as above;
    /// the later one also notes each client's first `until` before any
    /// `since` of its own, which ends a start the earlier stretch found but
    /// did not end. The two are then merged client by client.
    fn first_times_in_order(
        &self,
        deployment: u64,
        members: &ClientSet,
        n: usize,
        from: Timestamp,
        hi: Timestamp,
        codes: (u64, u64),
    ) -> Result<(Vec<i64>, Vec<i64>)> {
        let runs: Vec<&Arc<dyn Run>> = self
            .parts
            .base
            .iter()
            .filter(|r| overlaps(r.as_ref(), from, hi))
            .collect();
        // Rows in range per run, estimated from its time bounds.
        let weight = |r: &Arc<dyn Run>| -> f64 {
            let Some((lo, up)) = r.transition_bounds() else {
                return 0.0;
            };
            let span = (up.0 as f64 - lo.0 as f64).max(1.0);
            let inside = (up.0.min(hi.0) as f64 - lo.0.max(from.0) as f64).clamp(0.0, span);
            r.transition_count() as f64 * inside.max(1.0) / span
        };
        let total: f64 = runs.iter().map(|r| weight(r)).sum();
        let mut acc = 0.0;
        let mut split = runs
            .iter()
            .position(|r| {
                acc += weight(r);
                acc * 2.0 >= total
            })
            .map_or(0, |i| i + 1);
        if split == runs.len() && runs.len() > 1 {
            split -= 1;
        }
        let (early, late) = runs.split_at(split);
        let (a, b) = rayon::join(
            || self.stretch_times(early, deployment, members, n, from, hi, codes, false),
            || self.stretch_times(late, deployment, members, n, from, hi, codes, true),
        );
        let (mut a, b) = (a?, b?);
        if b.start.is_empty() {
            return Ok((a.start, a.end));
        }
        if a.start.is_empty() {
            return Ok((b.start, b.end));
        }
        for (((start, end), (&late_start, &late_end)), &first_until) in a
            .start
            .iter_mut()
            .zip(a.end.iter_mut())
            .zip(b.start.iter().zip(&b.end))
            .zip(&b.first_until)
        {
            if *start == NO_TIME {
                (*start, *end) = (late_start, late_end);
            } else if *end == NO_TIME {
                // The later stretch's first `until`: before its own start,
                // or else its end.
                *end = if first_until != NO_TIME {
                    first_until
                } else {
                    late_end
                };
            }
        }
        Ok((a.start, a.end))
    }

    /// One stretch of the in-order pass: per member, the times of its
    /// first `since` row, its first `until` row after that, and (when
    /// `first_until`) its first `until` row before any `since`. Empty
    /// vectors when `runs` is.
    ///
    /// Two bits per client say how far it got (1: nothing yet, 3: an
    /// `until` seen before any `since` — only when `first_until` —, 2:
    /// started, 0: done or not a member): 250 KB per million clients,
    /// which stays in the core's cache. Rows come in time order, clients at
    /// random and states mixed, so a branch per row on its state,
    /// deployment or progress is mispredicted about half the time: each
    /// block is first narrowed to its rows of the two states and the
    /// deployment without a branch, and those rows then step their
    /// client's two bits through a table.
    #[allow(clippy::too_many_arguments)]
    fn stretch_times(
        &self,
        runs: &[&Arc<dyn Run>],
        deployment: u64,
        members: &ClientSet,
        n: usize,
        from: Timestamp,
        hi: Timestamp,
        (since_code, until_code): (u64, u64),
        first_until: bool,
    ) -> Result<StretchTimes> {
        let mut out = StretchTimes::default();
        if runs.is_empty() {
            return Ok(out);
        }
        out.start = vec![NO_TIME; n];
        out.end = vec![NO_TIME; n];
        if first_until {
            out.first_until = vec![NO_TIME; n];
        }
        // One spare word past the clients, where nothing is ever set.
        let mut progress = vec![0u64; n.div_ceil(32) + 1];
        for (i, &word) in members.words.iter().enumerate() {
            let mut bits = word;
            while bits != 0 {
                let c = i * 64 + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                if let Some(w) = progress.get_mut(c / 32)
                    && c < n
                {
                    *w |= 1 << (2 * (c % 32));
                }
            }
        }
        let table = step_table(first_until);
        let mut keep: Vec<u8> = Vec::new();
        let mut picked: Vec<u32> = Vec::new();
        self.base_blocks_in_order(runs, from, hi, |_, cols| {
            let rows = cols.client.len().min(cols.state.len());
            let (client, state) = (&cols.client[..rows], &cols.state[..rows]);
            let times = cols.time.unwrap_or_default();
            // A 0/1 per row first (a loop the compiler vectorises), then
            // the indices of the ones.
            keep.clear();
            keep.extend(
                client
                    .iter()
                    .zip(state)
                    .map(|(&c, &s)| u8::from(((s == since_code) | (s == until_code)) & (c < n as u64))),
            );
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
                let c = c as usize;
                let Some(w) = progress.get_mut(c / 32) else {
                    continue;
                };
                let shift = 2 * (c % 32);
                let code = (*w >> shift) & 3;
                let index =
                    (code as usize) << 2 | usize::from(s == since_code) << 1 | usize::from(s == until_code);
                let (next, events) = table[index];
                *w ^= (code ^ u64::from(next)) << shift;
                if events != 0 {
                    out.note(c, events, t as i64);
                }
            }
        })?;
        Ok(out)
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
        let runs: Vec<&Arc<dyn Run>> = self.parts.base.iter().collect();
        self.base_blocks_in_order(&runs, from, hi, |first_order, cols| {
            let times = cols.time.unwrap_or_default();
            for (i, ((&c, &s), &t)) in cols.client.iter().zip(cols.state).zip(times).enumerate() {
                if cols.deployment.is(i, deployment) {
                    visit(first_order + i as u64 + 1, t as i64, c as usize, s);
                }
            }
        })
    }

    /// Visits the chunks of rows of `runs` in `[from, hi]` (with times) in
    /// stored order, each with the number of rows of the pass before it.
    fn base_blocks_in_order(
        &self,
        runs: &[&Arc<dyn Run>],
        from: Timestamp,
        hi: Timestamp,
        mut visit: impl FnMut(u64, &StateColumns<'_>),
    ) -> Result<()> {
        let mut order = 0u64;
        for run in runs.iter().filter(|r| overlaps(r.as_ref(), from, hi)) {
            let rows = run.scan_states(from, hi, true, &mut |cols| {
                self.check_cancel()?;
                visit(order, &cols);
                order += cols.client.len() as u64;
                Ok(())
            })?;
            self.count_scan(rows);
        }
        Ok(())
    }
}

/// Per client, what one stretch of the in-order `DURATIONS` pass found.
#[derive(Debug, Default)]
struct StretchTimes {
    start: Vec<i64>,
    end: Vec<i64>,
    first_until: Vec<i64>,
}

impl StretchTimes {
    #[inline]
    fn note(&mut self, c: usize, events: u8, t: i64) {
        for (bit, times) in [
            (EVENT_START, &mut self.start),
            (EVENT_END, &mut self.end),
            (EVENT_FIRST_UNTIL, &mut self.first_until),
        ] {
            if events & bit != 0
                && let Some(v) = times.get_mut(c)
            {
                *v = t;
            }
        }
    }
}

/// No start or end.
const NO_TIME: i64 = i64::MAX;

/// Event bits of [`Snapshot::stretch_times`]: the client's first `since`
/// row (its start), its first `until` row after that (its end), and its
/// first `until` row before any `since` of its own.
const EVENT_START: u8 = 1;
const EVENT_END: u8 = 2;
const EVENT_FIRST_UNTIL: u8 = 4;

/// The progress step of one row: indexed by `code << 2 | is_since << 1 |
/// is_until`, the next code and the events the row makes. Codes: 0 done or
/// not watched, 1 nothing yet, 2 started, 3 (only with `first_until`) an
/// `until` seen before any `since`.
fn step_table(first_until: bool) -> [(u8, u8); 16] {
    let mut table = [(0u8, 0u8); 16];
    for (index, entry) in table.iter_mut().enumerate() {
        let (code, is_since, is_until) = (index >> 2, index & 2 != 0, index & 1 != 0);
        *entry = match code {
            1 if is_since && is_until && first_until => (2, EVENT_START | EVENT_FIRST_UNTIL),
            1 | 3 if is_since => (2, EVENT_START),
            1 if is_until && first_until => (3, EVENT_FIRST_UNTIL),
            2 if is_until => (0, EVENT_END),
            _ => (code as u8, 0),
        };
    }
    table
}

fn check_order(from: Timestamp, to: Timestamp) -> Result<()> {
    if from >= to {
        return Err(Error::InvalidInput(format!(
            "range start {} ms is not before its end {} ms",
            from.0, to.0
        )));
    }
    Ok(())
}
