//! The client family: `CLIENTS` (clients with their state and `since` at a
//! time, optionally filtered by state) and `HISTORY` (one client's
//! transitions).
//!
//! Invariants: rows are sorted by client name bytewise (`CLIENTS`) or by
//! `(time, seq)` (`HISTORY`); `since` is the time of the client's latest
//! transition at or before the asked time, `None` for a client with none.

use super::kernels::{ClientSet, members_with_codes, state_of_code};
use super::{Snapshot, last_ms, overlaps};
use crate::checkpoint::NO_STATE;
use crate::error::Result;
use crate::model::{ClientId, CollectionId, DeploymentId, ErrorCode, State, Timestamp, TransitionRow};

/// One row of `CLIENTS`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientStateRow {
    /// Client name.
    pub client: String,
    /// State as of the asked time.
    pub state: State,
    /// Time of the client's latest transition at or before the asked time.
    pub since: Option<Timestamp>,
}

/// One row of `HISTORY`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryRow {
    /// Time of the transition.
    pub time: Timestamp,
    /// Deployment name.
    pub deployment: String,
    /// State entered.
    pub state: State,
    /// Error code, if any.
    pub error: Option<ErrorCode>,
}

impl Snapshot {
    /// `CLIENTS [FOR d] [IN c] AT t [WHERE STATE IN (...)] [LIMIT n]`: clients
    /// with their state and the time of their latest transition, sorted by
    /// name (bytewise). `states: None` keeps every state.
    pub fn clients_at(
        &self,
        deployment: DeploymentId,
        collection: Option<CollectionId>,
        at: Timestamp,
        states: Option<&[State]>,
        limit: Option<usize>,
    ) -> Result<Vec<ClientStateRow>> {
        // With only base rows to replay, the states come first and the times
        // only for the clients picked (a second, narrow replay), instead of
        // keeping every client's time through the replay.
        let times_later = !self.parts.delta.iter().any(|r| r.transition_count() > 0);
        let (st, set) = match collection {
            Some(c) => {
                let (st, set) = rayon::join(
                    || self.as_of(deployment, at, !times_later),
                    || self.members_at(c, at),
                );
                (st?, set?)
            }
            None => {
                let st = self.as_of(deployment, at, !times_later)?;
                let set = self.population(&st, None, at)?;
                (st, set)
            }
        };
        // The members in a wanted state, 64 at a time through the bit planes
        // of their state bytes (no per-member test for the members left out).
        let wanted_codes: [bool; 8] =
            std::array::from_fn(|code| states.is_none_or(|keep| keep.contains(&state_of_code(code))));
        let mut picked: Vec<(u32, State, Option<Timestamp>)> =
            members_with_codes(&st.state, &set.words, wanted_codes)
                .map(|c| {
                    let state = st.effective(c, None);
                    let since = match (st.state[c], st.time.get(c)) {
                        (NO_STATE, _) => None,
                        (_, Some(&t)) => Some(Timestamp(t)),
                        // Filled in below.
                        (_, None) => Some(Timestamp::MIN),
                    };
                    (c as u32, state, since)
                })
                .collect();
        if times_later {
            self.base_times(deployment, at, &mut picked)?;
        }
        let mut rows: Vec<ClientStateRow> = self.parts.clients.with_names(|lookup| {
            picked
                .drain(..)
                .map(|(c, state, since)| ClientStateRow {
                    client: lookup.get(c).unwrap_or_default().to_owned(),
                    state,
                    since,
                })
                .collect()
        });
        rows.sort_unstable_by(|a, b| a.client.as_bytes().cmp(b.client.as_bytes()));
        if let Some(limit) = limit {
            rows.truncate(limit);
        }
        Ok(rows)
    }

    /// Sets the time of each `picked` client that has a state (ascending
    /// client ids) to the time of its latest base transition at or before
    /// `at`: the checkpoint's time, then a replay of the base rows after it
    /// that looks only at these clients. The store must have no delta
    /// transitions.
    fn base_times(
        &self,
        deployment: DeploymentId,
        at: Timestamp,
        picked: &mut [(u32, State, Option<Timestamp>)],
    ) -> Result<()> {
        let cp = self.checkpoint_at(deployment, at)?;
        let mut wanted = ClientSet::new(self.parts.clients.len());
        for (c, _, since) in picked.iter_mut() {
            let from_checkpoint = cp.as_ref().and_then(|cp| {
                let c = *c as usize;
                (cp.states.get(c).is_some_and(|&s| s != NO_STATE))
                    .then(|| cp.times.get(c).map(|&t| Timestamp(t)))
                    .flatten()
            });
            if since.is_some() {
                *since = from_checkpoint.or(Some(Timestamp::MIN));
                wanted.set(*c as usize, true);
            }
        }
        let lo = cp.as_ref().map_or(Timestamp::MIN, |cp| cp.time.saturating_add(1));
        if cp.as_ref().is_some_and(|cp| cp.time == Timestamp::MAX) || lo > at {
            return Ok(());
        }
        let d = u64::from(deployment.0);
        for run in self.parts.base.iter().filter(|r| overlaps(r.as_ref(), lo, at)) {
            let rows = run.scan_states(lo, at, true, &mut |cols| {
                self.check_cancel()?;
                let Some(times) = cols.time else {
                    return Ok(());
                };
                for (i, (&c, &t)) in cols.client.iter().zip(times).enumerate() {
                    if cols.deployment.is(i, d) && wanted.contains(c as usize) {
                        let k = picked.partition_point(|p| u64::from(p.0) < c);
                        if let Some((_, _, since)) = picked.get_mut(k) {
                            *since = Some(Timestamp(t as i64));
                        }
                    }
                }
                Ok(())
            })?;
            self.count_scan(rows);
        }
        Ok(())
    }

    /// `HISTORY client [FOR d] [FROM a TO b]`: the client's transitions in
    /// `(time, seq)` order, every deployment unless one is given.
    pub fn client_history(
        &self,
        client: ClientId,
        deployment: Option<DeploymentId>,
        range: Option<(Timestamp, Timestamp)>,
    ) -> Result<Vec<HistoryRow>> {
        let (lo, hi) = match range {
            Some((from, to)) => {
                if from >= to {
                    return Ok(Vec::new());
                }
                (from, last_ms(to))
            }
            None => (Timestamp::MIN, Timestamp::MAX),
        };
        let mut rows: Vec<TransitionRow> = Vec::new();
        for run in self.all_runs() {
            if !overlaps(run.as_ref(), lo, hi) {
                continue;
            }
            let n = run.scan_transitions(lo, hi, &mut |chunk| {
                self.check_cancel()?;
                rows.extend(
                    chunk
                        .iter()
                        .filter(|r| r.client == client && deployment.is_none_or(|d| d == r.deployment)),
                );
                Ok(())
            })?;
            self.count_scan(n);
        }
        rows.sort_unstable_by_key(|r| (r.time, r.seq));
        Ok(rows
            .into_iter()
            .map(|r| HistoryRow {
                time: r.time,
                deployment: self.parts.deployments.name(r.deployment.0).unwrap_or_default(),
                state: r.state,
                error: r.error,
            })
            .collect())
    }
}
