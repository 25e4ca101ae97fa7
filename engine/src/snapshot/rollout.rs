//! The rollout-review queries (SPEC 7.3 and 7.4): where clients went
//! between two times (`FLOW`) and how long they took from one state to
//! another (`DURATIONS`).
//!
//! Invariants: both count only the members of the collection at `to` (every
//! client, as SPEC 1 defines it, without a collection); `FLOW` reads two
//! as-of vectors and walks the members once; `DURATIONS` reads the range's
//! transitions twice and needs no global `(time, seq)` order, because both
//! of its choices are minima over `(time, seq)` — the first `SINCE`
//! transition, then the first `UNTIL` transition after it — and a minimum
//! does not care in which order runs deliver rows.

use super::Snapshot;
use super::kernels::{ClientSet, state_of_byte};
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
        let n = self.parts.clients.len();
        let hi = Timestamp(to.0 - 1);
        let (starts, population) = rayon::join(
            || -> Result<Vec<Mark>> {
                let mut starts = vec![NONE; n];
                self.for_each_transition(from, hi, |rows| {
                    for r in rows {
                        if r.deployment == deployment
                            && r.state == since
                            && r.time >= from
                            && r.time <= hi
                            && let Some(m) = starts.get_mut(r.client.0 as usize)
                        {
                            *m = (*m).min((r.time.0, r.seq.0));
                        }
                    }
                    Ok(())
                })?;
                Ok(starts)
            },
            || -> Result<ClientSet> {
                match collection {
                    Some(c) => self.members_at(c, to),
                    None => {
                        let st = self.as_of(deployment, to, false)?;
                        self.population(&st, None, to)
                    }
                }
            },
        );
        let (starts, members) = (starts?, population?);
        let mut ends = vec![NONE; n];
        self.for_each_transition(from, hi, |rows| {
            for r in rows {
                let c = r.client.0 as usize;
                if r.deployment != deployment || r.state != until || r.time < from || r.time > hi {
                    continue;
                }
                let mark = (r.time.0, r.seq.0);
                if let (Some(&start), Some(end)) = (starts.get(c), ends.get_mut(c))
                    && start != NONE
                    && mark > start
                {
                    *end = (*end).min(mark);
                }
            }
            Ok(())
        })?;
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
