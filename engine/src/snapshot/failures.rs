//! The failure family: `FAILURES` histograms (plain and `BY ERROR`) and
//! `SHOW ERRORS`.
//!
//! Failures are swept in `(time, seq)` order against the collection's change
//! log, so membership is judged at each failure's own time. When buckets are
//! whole hours starting on an hour (evenly spaced, or at listed edges that
//! all fall on hours: local days in a whole-hour zone), the base is
//! answered from the failure rollup and only delta runs are swept.
//!
//! Invariants: the rollup is used only for a compacted base and, for a
//! collection, only when no delta run holds membership changes (those could
//! change membership at the time of a base failure); a row is counted by the
//! rollup or by the sweep, never both.

use std::sync::Arc;

use super::buckets::Buckets;
use super::kernels::ClientSet;
use super::{Snapshot, check_range, last_ms, overlaps};
use crate::error::Result;
use crate::model::{Change, CollectionId, DeploymentId, ErrorCode, State, Timestamp, TransitionRow};
use crate::rollup::{FailureRollup, HOUR_MS};
use crate::run::Run;

/// One row of a failure histogram split by error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorBucket {
    /// Bucket start.
    pub bucket: Timestamp,
    /// Error code (`None` for failures without one).
    pub error: Option<ErrorCode>,
    /// Number of failures.
    pub failures: u64,
}

/// Which runs a failure sweep reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Runs {
    /// Base and delta.
    All,
    /// Delta only: the base is answered by the failure rollup.
    DeltaOnly,
}

impl Runs {
    fn after(rollup: &Option<Arc<FailureRollup>>) -> Runs {
        match rollup {
            Some(_) => Runs::DeltaOnly,
            None => Runs::All,
        }
    }
}

impl Snapshot {
    /// The failure rollup of the base, when it can answer failures in
    /// `buckets`: every edge on a whole hour, a compacted base, and (for a
    /// collection) no membership changes outside the base, since those may
    /// change membership at the time of a base failure.
    fn usable_rollup(
        &self,
        collection: Option<CollectionId>,
        buckets: &Buckets<'_>,
    ) -> Result<Option<Arc<FailureRollup>>> {
        let aligned = buckets.hour_aligned();
        let compacted = self.parts.checkpoints.is_some() && !self.parts.base.is_empty();
        let late_membership =
            collection.is_some() && self.parts.delta.iter().any(|r| r.membership_count() > 0);
        if !aligned || !compacted || late_membership || self.no_rollup {
            return Ok(None);
        }
        self.check_cancel()?;
        self.parts
            .base_cache
            .rollup(
                self.parts.checkpoints.as_deref(),
                &self.parts.base,
                self.parts.clients.len(),
                self.parts.collections.len(),
            )
            .map(|r| r.is_usable().then_some(r))
    }

    /// Visits, in `(time, seq)` order, the transitions of `deployment` with
    /// `from <= time < to` that pass `keep`, telling whether the client was a
    /// member of `collection` at the transition's time (always true with no
    /// collection).
    #[expect(
        clippy::too_many_arguments,
        reason = "one private helper shared by three queries"
    )]
    fn sweep_with_membership(
        &self,
        deployment: DeploymentId,
        collection: Option<CollectionId>,
        from: Timestamp,
        to: Timestamp,
        failures_only: bool,
        runs: Runs,
        keep: impl Fn(&TransitionRow) -> bool,
        mut visit: impl FnMut(&TransitionRow),
    ) -> Result<()> {
        let hi = last_ms(to);
        let mut rows: Vec<TransitionRow> = Vec::new();
        let base: &[Arc<dyn Run>] = match runs {
            Runs::All => &self.parts.base,
            Runs::DeltaOnly => &[],
        };
        for run in base.iter().chain(self.parts.delta.iter()) {
            if !overlaps(run.as_ref(), from, hi) {
                continue;
            }
            let mut sink = |chunk: &[TransitionRow]| {
                self.check_cancel()?;
                rows.extend(chunk.iter().filter(|r| r.deployment == deployment && keep(r)));
                Ok(())
            };
            let n = if failures_only {
                run.scan_failures(from, hi, &mut sink)?
            } else {
                run.scan_transitions(from, hi, &mut sink)?
            };
            self.count_scan(n);
        }
        if rows.is_empty() {
            // Nothing to judge: skip reading the membership log.
            return Ok(());
        }
        rows.sort_unstable_by_key(|r| (r.time, r.seq));
        match collection {
            None => rows.iter().for_each(visit),
            Some(c) => {
                let log = self.membership_log(c, hi)?;
                let mut set = ClientSet::new(self.parts.clients.len());
                let mut next = 0;
                for r in &rows {
                    while next < log.len() && log[next].time <= r.time {
                        let m = &log[next];
                        set.set(m.client.0 as usize, m.change == Change::Join);
                        next += 1;
                    }
                    if set.contains(r.client.0 as usize) {
                        visit(r);
                    }
                }
            }
        }
        Ok(())
    }

    /// `FAILURES [FOR d] [IN c] FROM a TO b EVERY w`: transitions into
    /// `Failed` per bucket (bucket start, count), every bucket listed.
    pub fn failure_histogram(
        &self,
        deployment: DeploymentId,
        collection: Option<CollectionId>,
        from: Timestamp,
        to: Timestamp,
        every_ms: i64,
    ) -> Result<Vec<(Timestamp, u64)>> {
        self.histogram(deployment, collection, Buckets::even(from, to, every_ms)?)
    }

    /// Like [`Self::failure_histogram`] with buckets at listed edges:
    /// bucket `k` is `[edges[k], edges[k + 1])`, the last up to `to`
    /// (calendar buckets, which the caller computes; edges strictly
    /// increasing and before `to`). Served by the hourly rollup when every
    /// edge is on a whole UTC hour.
    ///
    /// ```
    /// use rollcall_engine::{Batch, Options, State, Store, Timestamp};
    /// const H: i64 = 3_600_000;
    /// let dir = tempfile::tempdir()?;
    /// let mut store = Store::create(dir.path(), Options::default())?;
    /// let mut b = Batch::new();
    /// b.push_transition(Timestamp(22 * H), "PC-1", "production", State::Failed, None)?;
    /// b.push_transition(Timestamp(30 * H), "PC-2", "production", State::Failed, None)?;
    /// store.append(&b)?;
    /// let snap = store.snapshot();
    /// let dep = snap.deployment_id("production").unwrap();
    /// // A local day of 23 hours (the spring DST change) and the day after.
    /// let edges = [Timestamp(0), Timestamp(23 * H)];
    /// let days = snap.failure_histogram_at(dep, None, &edges, Timestamp(47 * H))?;
    /// assert_eq!(days, [(Timestamp(0), 1), (Timestamp(23 * H), 1)]);
    /// assert!(snap.failure_histogram_at(dep, None, &edges, Timestamp(H)).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn failure_histogram_at(
        &self,
        deployment: DeploymentId,
        collection: Option<CollectionId>,
        edges: &[Timestamp],
        to: Timestamp,
    ) -> Result<Vec<(Timestamp, u64)>> {
        self.histogram(deployment, collection, Buckets::at_edges(edges, to)?)
    }

    fn histogram(
        &self,
        deployment: DeploymentId,
        collection: Option<CollectionId>,
        mut buckets: Buckets<'_>,
    ) -> Result<Vec<(Timestamp, u64)>> {
        let (from, to) = (buckets.from(), buckets.to());
        let mut counts = vec![0u64; buckets.len()];
        let rollup = self.usable_rollup(collection, &buckets)?;
        if let Some(r) = &rollup {
            r.add_counts(
                deployment,
                collection,
                from.0.div_euclid(HOUR_MS),
                to.0.div_euclid(HOUR_MS),
                |hour| buckets.index(hour * HOUR_MS),
                &mut counts,
            );
        }
        self.sweep_with_membership(
            deployment,
            collection,
            from,
            to,
            true,
            Runs::after(&rollup),
            |r| r.state == State::Failed,
            |r| {
                if let Some(c) = counts.get_mut(buckets.index(r.time.0)) {
                    *c += 1;
                }
            },
        )?;
        Ok(counts
            .into_iter()
            .enumerate()
            .map(|(k, c)| (buckets.start(k), c))
            .collect())
    }

    /// `FAILURES ... BY ERROR`: non-zero (bucket, error) counts, by bucket,
    /// then failures descending, then error ascending with no code first.
    pub fn failure_histogram_by_error(
        &self,
        deployment: DeploymentId,
        collection: Option<CollectionId>,
        from: Timestamp,
        to: Timestamp,
        every_ms: i64,
    ) -> Result<Vec<ErrorBucket>> {
        self.histogram_by_error(deployment, collection, Buckets::even(from, to, every_ms)?)
    }

    /// Like [`Self::failure_histogram_by_error`] with buckets at listed
    /// edges, as [`Self::failure_histogram_at`] takes them.
    pub fn failure_histogram_by_error_at(
        &self,
        deployment: DeploymentId,
        collection: Option<CollectionId>,
        edges: &[Timestamp],
        to: Timestamp,
    ) -> Result<Vec<ErrorBucket>> {
        self.histogram_by_error(deployment, collection, Buckets::at_edges(edges, to)?)
    }

    fn histogram_by_error(
        &self,
        deployment: DeploymentId,
        collection: Option<CollectionId>,
        mut buckets: Buckets<'_>,
    ) -> Result<Vec<ErrorBucket>> {
        let (from, to) = (buckets.from(), buckets.to());
        let mut counts: std::collections::HashMap<(usize, Option<ErrorCode>), u64> = Default::default();
        let rollup = match collection {
            None => self.usable_rollup(None, &buckets)?,
            Some(_) => None,
        };
        if let Some(r) = &rollup {
            r.add_error_counts(
                deployment,
                from.0.div_euclid(HOUR_MS),
                to.0.div_euclid(HOUR_MS),
                |hour| buckets.index(hour * HOUR_MS),
                &mut counts,
            );
        }
        self.sweep_with_membership(
            deployment,
            collection,
            from,
            to,
            true,
            Runs::after(&rollup),
            |r| r.state == State::Failed,
            |r| {
                *counts.entry((buckets.index(r.time.0), r.error)).or_default() += 1;
            },
        )?;
        let mut rows: Vec<ErrorBucket> = counts
            .into_iter()
            .map(|((k, error), failures)| ErrorBucket {
                bucket: buckets.start(k),
                error,
                failures,
            })
            .collect();
        rows.sort_unstable_by(|a, b| {
            a.bucket
                .cmp(&b.bucket)
                .then(b.failures.cmp(&a.failures))
                .then(a.error.cmp(&b.error))
        });
        Ok(rows)
    }

    /// `SHOW ERRORS`: error codes of transitions (any state) in `[from, to)`
    /// with their counts, most frequent first, then by code.
    pub fn error_counts(
        &self,
        deployment: DeploymentId,
        collection: Option<CollectionId>,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<(ErrorCode, u64)>> {
        check_range(
            from,
            to,
            (to.0 as i128 - from.0 as i128).clamp(1, i64::MAX as i128) as i64,
        )?;
        let mut counts: std::collections::HashMap<ErrorCode, u64> = Default::default();
        self.sweep_with_membership(
            deployment,
            collection,
            from,
            to,
            false,
            Runs::All,
            |r| r.error.is_some(),
            |r| {
                if let Some(e) = r.error {
                    *counts.entry(e).or_default() += 1;
                }
            },
        )?;
        let mut rows: Vec<(ErrorCode, u64)> = counts.into_iter().collect();
        rows.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        Ok(rows)
    }
}
