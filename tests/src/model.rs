//! A plain, obviously-correct model of SPEC.md section 1, written straight
//! from the text with no cleverness: every query is a scan over `Vec`s of
//! rows held with their names. Property tests compare the engine with it.

use std::collections::{BTreeMap, BTreeSet};

use rollcall_engine::{Change, ErrorCode, State, StateCounts, Timestamp};

/// A transition as the model keeps it: names, not ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelTransition {
    /// Time in ms.
    pub time: i64,
    /// Client name.
    pub client: String,
    /// Deployment name.
    pub deployment: String,
    /// State entered.
    pub state: State,
    /// Error code.
    pub error: Option<u32>,
}

/// A membership change as the model keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelMembership {
    /// Time in ms.
    pub time: i64,
    /// Client name.
    pub client: String,
    /// Collection name.
    pub collection: String,
    /// Join or leave.
    pub change: Change,
}

/// Rows of one transaction.
#[derive(Debug, Clone, Default)]
pub struct ModelBatch {
    /// Transitions.
    pub transitions: Vec<ModelTransition>,
    /// Membership changes.
    pub memberships: Vec<ModelMembership>,
}

/// The model: stored rows in ingest order (index = ingest order).
#[derive(Debug, Clone, Default)]
pub struct Model {
    /// Stored transitions, exact duplicates dropped, in ingest order.
    pub transitions: Vec<ModelTransition>,
    /// Stored membership changes, exact duplicates dropped, in ingest order.
    pub memberships: Vec<ModelMembership>,
    /// Per committed batch: the row counts once it was stored, and its
    /// commit time (`None`: committed without one).
    pub commits: Vec<(usize, usize, Option<i64>)>,
}

impl Model {
    /// [`Model::append`] with a commit time (SPEC 7.5).
    pub fn append_at(&mut self, batch: &ModelBatch, at: Option<i64>) -> u64 {
        let before = self.commits.len();
        let dups = self.append(batch);
        if self.commits.len() > before
            && let Some(last) = self.commits.last_mut()
        {
            last.2 = at;
        }
        dups
    }

    /// `AS KNOWN AT t` (SPEC 7.5): only the rows of batches committed at or
    /// before `t`. A batch without a commit time counts as committed at the
    /// next timed commit (at the first, for those before it); with no timed
    /// commit at all, everything is known.
    pub fn known_at(&self, t: i64) -> Model {
        if self.commits.iter().all(|c| c.2.is_none()) {
            return self.clone();
        }
        let mut effective: Vec<Option<i64>> = vec![None; self.commits.len()];
        let mut next = None;
        for (i, c) in self.commits.iter().enumerate().rev() {
            next = c.2.or(next);
            effective[i] = next;
        }
        let (mut nt, mut nm) = (0, 0);
        for (c, e) in self.commits.iter().zip(&effective) {
            if e.is_some_and(|e| e <= t) {
                (nt, nm) = (c.0, c.1);
            }
        }
        Model {
            transitions: self.transitions[..nt].to_vec(),
            memberships: self.memberships[..nm].to_vec(),
            commits: Vec::new(),
        }
    }

    /// Stores a batch: "a transition equal in all five fields to one already
    /// stored ... is ignored"; the first copy keeps its place.
    pub fn append(&mut self, batch: &ModelBatch) -> u64 {
        let mut duplicates = 0;
        for t in &batch.transitions {
            if self.transitions.contains(t) {
                duplicates += 1;
            } else {
                self.transitions.push(t.clone());
            }
        }
        for m in &batch.memberships {
            if self.memberships.contains(m) {
                duplicates += 1;
            } else {
                self.memberships.push(m.clone());
            }
        }
        // A batch that stores nothing (empty, or all duplicates) commits
        // nothing, so it records no commit time either.
        let counts = (self.transitions.len(), self.memberships.len());
        if self.commits.last().map_or((0, 0), |c| (c.0, c.1)) != counts {
            self.commits.push((counts.0, counts.1, None));
        }
        duplicates
    }

    /// "the state of its transition with the greatest time <= T. Ties on time
    /// are broken by ingest order: the transition ingested last wins."
    pub fn latest(&self, client: &str, deployment: &str, at: i64) -> Option<&ModelTransition> {
        let mut best: Option<&ModelTransition> = None;
        for t in &self.transitions {
            if t.client == client && t.deployment == deployment && t.time <= at {
                // Later in the Vec = ingested later, so `>=` makes it win ties.
                if best.is_none_or(|b| t.time >= b.time) {
                    best = Some(t);
                }
            }
        }
        best
    }

    /// "the latest membership change for (client, collection) with time <= T
    /// is join."
    pub fn is_member(&self, client: &str, collection: &str, at: i64) -> bool {
        let mut best: Option<&ModelMembership> = None;
        for m in &self.memberships {
            if m.client == client
                && m.collection == collection
                && m.time <= at
                && best.is_none_or(|b| m.time >= b.time)
            {
                best = Some(m);
            }
        }
        best.is_some_and(|m| m.change == Change::Join)
    }

    /// Every client name ever seen.
    pub fn all_client_names(&self) -> BTreeSet<String> {
        self.transitions
            .iter()
            .map(|t| t.client.clone())
            .chain(self.memberships.iter().map(|m| m.client.clone()))
            .collect()
    }

    /// Every collection name ever seen.
    pub fn collections(&self) -> BTreeSet<String> {
        self.memberships.iter().map(|m| m.collection.clone()).collect()
    }

    /// The clients a query counts at `at`.
    pub fn population(&self, deployment: &str, collection: Option<&str>, at: i64) -> BTreeSet<String> {
        self.all_client_names()
            .into_iter()
            .filter(|c| match collection {
                Some(coll) => self.is_member(c, coll, at),
                // "every client with at least one transition (for that
                // deployment) or membership change at or before T"
                None => {
                    self.transitions
                        .iter()
                        .any(|t| &t.client == c && t.deployment == deployment && t.time <= at)
                        || self.memberships.iter().any(|m| &m.client == c && m.time <= at)
                }
            })
            .collect()
    }

    /// The state a client counts as at `at`, with optional staleness.
    pub fn effective_state(
        &self,
        client: &str,
        deployment: &str,
        at: i64,
        stale_after: Option<i64>,
    ) -> State {
        match self.latest(client, deployment, at) {
            None => State::NotStarted,
            Some(t) => {
                if stale_after.is_some_and(|d| t.time < at.saturating_sub(d)) {
                    State::Unknown
                } else {
                    t.state
                }
            }
        }
    }

    /// `STATES [FOR d] [IN c] AT t [STALE AFTER s]`.
    pub fn state_counts(
        &self,
        deployment: &str,
        collection: Option<&str>,
        at: i64,
        stale: Option<i64>,
    ) -> StateCounts {
        let mut counts = [0u64; 6];
        for c in self.population(deployment, collection, at) {
            counts[self.effective_state(&c, deployment, at, stale).index()] += 1;
        }
        StateCounts(counts)
    }

    /// `FLOW [FOR d] [IN c] FROM a TO b` (SPEC 7.3): for each member at `to`,
    /// its state as of `from` and as of `to`; `m[from][to]`.
    pub fn flow(&self, deployment: &str, collection: Option<&str>, from: i64, to: i64) -> [[u64; 6]; 6] {
        let mut m = [[0u64; 6]; 6];
        for c in self.population(deployment, collection, to) {
            let a = self.effective_state(&c, deployment, from, None);
            let b = self.effective_state(&c, deployment, to, None);
            m[a.index()][b.index()] += 1;
        }
        m
    }

    /// `DURATIONS ... FROM a TO b UNTIL u SINCE s` (SPEC 7.4): the number of
    /// members at `to` with a start, and `end - start` of those that reached
    /// `u`, sorted. "start is the time of its first transition into the SINCE
    /// state with FROM <= time < TO; end is the time of its first transition
    /// into the UNTIL state with start <= time < TO (ties in ingest order, a
    /// transition at start itself counts only if it comes after the SINCE
    /// one)".
    pub fn durations(
        &self,
        deployment: &str,
        collection: Option<&str>,
        from: i64,
        to: i64,
        since: State,
        until: State,
    ) -> (u64, Vec<i64>) {
        let mut started = 0;
        let mut reached = Vec::new();
        for c in self.population(deployment, collection, to) {
            // (time, ingest index, state) in range, in (time, ingest) order.
            let mut rows: Vec<(i64, usize, State)> = self
                .transitions
                .iter()
                .enumerate()
                .filter(|(_, t)| t.client == c && t.deployment == deployment && from <= t.time && t.time < to)
                .map(|(i, t)| (t.time, i, t.state))
                .collect();
            rows.sort();
            let Some(k) = rows.iter().position(|r| r.2 == since) else {
                continue;
            };
            started += 1;
            if let Some(end) = rows[k + 1..].iter().find(|r| r.2 == until) {
                reached.push(end.0 - rows[k].0);
            }
        }
        reached.sort_unstable();
        (started, reached)
    }

    /// `FAILURES ... FROM a TO b EVERY w` as (bucket start, count).
    pub fn failure_histogram(
        &self,
        deployment: &str,
        collection: Option<&str>,
        from: i64,
        to: i64,
        every: i64,
    ) -> Vec<(i64, u64)> {
        let mut out = Vec::new();
        let mut start = from;
        while start < to {
            let end = (start + every).min(to);
            let n = self
                .transitions
                .iter()
                .filter(|t| {
                    t.deployment == deployment
                        && t.state == State::Failed
                        && t.time >= start
                        && t.time < end
                        && collection.is_none_or(|c| self.is_member(&t.client, c, t.time))
                })
                .count() as u64;
            out.push((start, n));
            start += every;
        }
        out
    }

    /// `FAILURES ... BY ERROR`: non-zero rows sorted by bucket, count desc,
    /// error asc with no code first.
    pub fn failures_by_error(
        &self,
        deployment: &str,
        collection: Option<&str>,
        from: i64,
        to: i64,
        every: i64,
    ) -> Vec<(i64, Option<u32>, u64)> {
        let mut counts: BTreeMap<(i64, Option<u32>), u64> = BTreeMap::new();
        for t in &self.transitions {
            if t.deployment == deployment
                && t.state == State::Failed
                && t.time >= from
                && t.time < to
                && collection.is_none_or(|c| self.is_member(&t.client, c, t.time))
            {
                let bucket = from + (t.time - from) / every * every;
                *counts.entry((bucket, t.error)).or_default() += 1;
            }
        }
        let mut rows: Vec<(i64, Option<u32>, u64)> =
            counts.into_iter().map(|((b, e), n)| (b, e, n)).collect();
        rows.sort_by(|a, b| a.0.cmp(&b.0).then(b.2.cmp(&a.2)).then(a.1.cmp(&b.1)));
        rows
    }

    /// `CLIENTS ... AT t [WHERE STATE IN (...)]`: (client, state, since)
    /// sorted by name bytewise.
    pub fn clients(
        &self,
        deployment: &str,
        collection: Option<&str>,
        at: i64,
        states: Option<&[State]>,
    ) -> Vec<(String, State, Option<i64>)> {
        let mut rows: Vec<(String, State, Option<i64>)> = self
            .population(deployment, collection, at)
            .into_iter()
            .map(|c| {
                let latest = self.latest(&c, deployment, at);
                let state = latest.map_or(State::NotStarted, |t| t.state);
                let since = latest.map(|t| t.time);
                (c, state, since)
            })
            .filter(|(_, s, _)| states.is_none_or(|keep| keep.contains(s)))
            .collect();
        rows.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        rows
    }

    /// `HISTORY client [FOR d] [FROM a TO b]`: in time order, ties in ingest order.
    pub fn history(
        &self,
        client: &str,
        deployment: Option<&str>,
        range: Option<(i64, i64)>,
    ) -> Vec<(i64, String, State, Option<u32>)> {
        let mut rows: Vec<(usize, &ModelTransition)> = self
            .transitions
            .iter()
            .enumerate()
            .filter(|(_, t)| {
                t.client == client
                    && deployment.is_none_or(|d| d == t.deployment)
                    && range.is_none_or(|(a, b)| t.time >= a && t.time < b)
            })
            .collect();
        rows.sort_by_key(|(i, t)| (t.time, *i));
        rows.into_iter()
            .map(|(_, t)| (t.time, t.deployment.clone(), t.state, t.error))
            .collect()
    }
}

/// Converts model times to engine times.
pub fn ts(ms: i64) -> Timestamp {
    Timestamp(ms)
}

/// Converts an optional model error to the engine's type.
pub fn code(e: Option<u32>) -> Option<ErrorCode> {
    e.map(ErrorCode)
}
