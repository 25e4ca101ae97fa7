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
    /// in that pass). Otherwise two passes take minima over `(time, tier,
    /// order)` — base rows (tier 0) before delta rows (tier 1) at one time,
    /// since every delta seq is greater than every base seq — which holds
    /// whatever order the runs deliver rows in.
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
        // One base pass: `visit(order, time, client, state)` for each row of
        // the deployment, in stored order.
        let base_pass = |visit: &mut dyn FnMut(u64, i64, usize, u64)| -> Result<()> {
            let mut order = 0u64;
            for run in self.parts.base.iter().filter(|r| overlaps(r.as_ref(), from, hi)) {
                let rows = run.scan_states(from, hi, true, &mut |cols| {
                    self.check_cancel()?;
                    let times = cols.time.unwrap_or_default();
                    for (i, ((&c, &s), &t)) in cols.client.iter().zip(cols.state).zip(times).enumerate() {
                        order += 1;
                        if cols.deployment.is(i, d) {
                            visit(order, t as i64, c as usize, s);
                        }
                    }
                    Ok(())
                })?;
                self.count_scan(rows);
            }
            Ok(())
        };
        if !delta_in_range {
            // One byte per client says how far it got (0: no start yet, 1:
            // started, 2: ended), so the rows of a client that is done
            // touch 1 MB per million clients instead of the 32 MB of marks:
            // rows come in time order, clients at random, and a miss on the
            // marks per row was most of the query's time.
            const OPEN: u8 = 0;
            const STARTED: u8 = 1;
            const ENDED: u8 = 2;
            let mut progress = vec![OPEN; n];
            base_pass(&mut |order, t, c, s| {
                if (s != since_code && s != until_code) || !members.contains(c) {
                    return;
                }
                let Some(p) = progress.get_mut(c) else {
                    return;
                };
                match *p {
                    OPEN if s == since_code => {
                        starts[c] = (t, order);
                        *p = STARTED;
                    }
                    STARTED if s == until_code => {
                        ends[c] = (t, order);
                        *p = ENDED;
                    }
                    _ => {}
                }
            })?;
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
        base_pass(&mut |order, t, c, s| {
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
        base_pass(&mut |order, t, c, s| {
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
