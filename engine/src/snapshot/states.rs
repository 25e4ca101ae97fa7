//! The `STATES` family: counts by state at a time (optionally within a
//! collection, optionally with a stale limit), the same as a series of
//! points, and per collection.
//!
//! Invariants: a client past the state vector is never counted; with a stale
//! limit, a client whose latest transition is older than `at - stale` counts
//! as `Unknown`; a series point equals the single-point query at its time
//! (each stretch of points starts from a full as-of and moves forward by
//! applying only the rows and membership changes between its points).

use rayon::prelude::*;

use super::Snapshot;
use super::as_of::AsOf;
use super::check_range;
use super::kernels::{ClientSet, MemberBuffers, StateMasks, count_state_codes, state_of_code};
use crate::error::Result;
use crate::model::{Change, CollectionId, DeploymentId, StateCounts, Timestamp};

impl Snapshot {
    fn counts(st: &AsOf, set: &ClientSet, at: Timestamp, stale_after_ms: Option<i64>) -> StateCounts {
        let stale_before = stale_after_ms.map(|d| at.0.saturating_sub(d));
        let mut counts = StateCounts::default();
        if stale_before.is_none() {
            for (code, n) in count_state_codes(&st.state, &set.words).into_iter().enumerate() {
                counts.add_many(state_of_code(code), n);
            }
            return counts;
        }
        for c in set.iter() {
            if c < st.state.len() {
                counts.add(st.effective(c, stale_before));
            }
        }
        counts
    }

    /// `STATES [FOR d] [IN c] AT t [STALE AFTER s]`: clients counted by state.
    ///
    /// `stale_after_ms`: a client whose latest transition is older than
    /// `at - stale_after_ms` counts as `Unknown`.
    pub fn state_counts(
        &self,
        deployment: DeploymentId,
        collection: Option<CollectionId>,
        at: Timestamp,
        stale_after_ms: Option<i64>,
    ) -> Result<StateCounts> {
        let with_time = stale_after_ms.is_some();
        let (st, set) = match collection {
            // Independent halves: run them side by side.
            Some(c) => {
                let (st, set) = rayon::join(
                    || self.as_of(deployment, at, with_time),
                    || self.members_at(c, at),
                );
                (st?, set?)
            }
            None => {
                let st = self.as_of(deployment, at, with_time)?;
                let set = self.population(&st, None, at)?;
                (st, set)
            }
        };
        Ok(Self::counts(&st, &set, at, stale_after_ms))
    }

    /// `STATES ... FROM a TO b EVERY w`: one count per point `a + k*w < b`.
    pub fn state_series(
        &self,
        deployment: DeploymentId,
        collection: Option<CollectionId>,
        from: Timestamp,
        to: Timestamp,
        every_ms: i64,
        stale_after_ms: Option<i64>,
    ) -> Result<Vec<(Timestamp, StateCounts)>> {
        let n = check_range(from, to, every_ms)?;
        let point = |k: u64| Timestamp(from.0 + (k as i64) * every_ms);
        // Split the points into a few contiguous stretches; each starts from
        // a full as-of (checkpoint + replay) and then sweeps forward, applying
        // only the transitions and membership changes between its points.
        let stretches = (rayon::current_num_threads() as u64).clamp(1, n);
        let per = n.div_ceil(stretches);
        let parts: Vec<Vec<(Timestamp, StateCounts)>> = (0..stretches)
            .into_par_iter()
            .map(|i| {
                let (k0, k1) = (i * per, ((i + 1) * per).min(n));
                let mut out = Vec::with_capacity((k1.saturating_sub(k0)) as usize);
                if k0 >= k1 {
                    return Ok(out);
                }
                let mut at = point(k0);
                let mut st = self.as_of(deployment, at, stale_after_ms.is_some())?;
                // Members at the first point (from a membership snapshot
                // when there is one), then the changes up to the last point.
                let (mut members, log) = match collection {
                    Some(c) => (
                        self.members_at(c, at)?,
                        self.collection_changes(self.all_runs(), c, at.saturating_add(1), point(k1 - 1))?,
                    ),
                    None => (ClientSet::new(self.parts.clients.len()), Vec::new()),
                };
                let mut next_change = 0;
                for k in k0..k1 {
                    let t = point(k);
                    if k > k0 {
                        self.advance(&mut st, deployment, at, t)?;
                        at = t;
                    }
                    let set = match collection {
                        Some(_) => {
                            while next_change < log.len() && log[next_change].time <= t {
                                let m = &log[next_change];
                                members.set(m.client.0 as usize, m.change == Change::Join);
                                next_change += 1;
                            }
                            &members
                        }
                        None => {
                            members = self.population(&st, None, t)?;
                            &members
                        }
                    };
                    out.push((t, Self::counts(&st, set, t, stale_after_ms)));
                }
                Ok(out)
            })
            .collect::<Result<_>>()?;
        Ok(parts.into_iter().flatten().collect())
    }

    /// `STATES BY COLLECTION AT t`: one count per collection in the store,
    /// sorted by collection name (bytewise).
    pub fn state_counts_by_collection(
        &self,
        deployment: DeploymentId,
        at: Timestamp,
        stale_after_ms: Option<i64>,
    ) -> Result<Vec<(String, StateCounts)>> {
        let st = self.as_of(deployment, at, stale_after_ms.is_some())?;
        // Many collections: per-state client bitmaps once, then each
        // collection's counts are popcounts of its member words against them.
        let masks = stale_after_ms.is_none().then(|| StateMasks::of(&st));
        let names = self.parts.collections.all_names();
        let mut rows: Vec<(String, StateCounts)> = names
            .into_par_iter()
            .enumerate()
            // Jobs of at least four collections, each reusing one set of
            // member buffers from collection to collection.
            .with_min_len(4)
            .map_init(MemberBuffers::default, |bufs, (id, name)| {
                self.members_at_into(CollectionId(id as u32), at, bufs)?;
                let counts = match &masks {
                    Some(masks) => masks.count(&bufs.set),
                    None => Self::counts(&st, &bufs.set, at, stale_after_ms),
                };
                Ok((name, counts))
            })
            .collect::<Result<_>>()?;
        rows.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        Ok(rows)
    }
}
