//! Hourly failure counts over the compacted base: the failures-only index
//! that answers `FAILURES ... EVERY <whole hours>` without touching rows.
//!
//! A [`FailureRollup`] holds, per deployment and UTC hour, the number of
//! base `Failed` transitions: in all, per collection (counting a failure in a
//! collection when its client was a member at the failure's time, exactly as
//! `Snapshot::sweep_with_membership` judges it), and per error code.
//!
//! Invariants:
//! * it covers the *base* runs only (their failures and their membership
//!   changes); rows in delta runs are added by the query from the runs
//!   themselves;
//! * per-collection counts are only valid while no delta run holds
//!   membership changes (a late join or leave may change membership at a base
//!   failure's time); the query checks this and falls back to the sweep;
//! * it is derived data: built from the base on first use and dropped with
//!   the base it was built from ([`BaseCache`]), never stored.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use crate::error::Result;
use crate::model::{Change, CollectionId, DeploymentId, ErrorCode, MembershipRow, Timestamp, TransitionRow};
use crate::run::Run;

/// One hour in milliseconds: the rollup's bucket width.
pub(crate) const HOUR_MS: i64 = 3_600_000;

/// Derived data of one compacted base, shared by every snapshot of it and
/// rebuilt lazily after the next compaction.
#[derive(Debug, Default)]
pub(crate) struct BaseCache {
    rollup: OnceLock<Arc<FailureRollup>>,
}

impl BaseCache {
    /// The rollup of `base`, built on first use (`clients`, `collections`:
    /// dictionary sizes when the base was compacted or later).
    pub(crate) fn rollup(
        &self,
        base: &[Arc<dyn Run>],
        clients: usize,
        collections: usize,
    ) -> Result<Arc<FailureRollup>> {
        if let Some(r) = self.rollup.get() {
            return Ok(Arc::clone(r));
        }
        let built = Arc::new(FailureRollup::build(base, clients, collections)?);
        // Another thread may have won the race; both built the same thing.
        Ok(Arc::clone(self.rollup.get_or_init(|| built)))
    }
}

/// Hourly failure counts of one deployment.
#[derive(Debug, Default)]
struct DeploymentRollup {
    /// Hour index (`time.div_euclid(HOUR_MS)`) of `all[0]`.
    first_hour: i64,
    /// Failures per hour.
    all: Vec<u64>,
    /// Per collection id: failures per hour of members (empty when none).
    by_collection: Vec<Vec<u64>>,
    /// Per hour: `(error, failures)`, sorted by error.
    by_error: Vec<Vec<(Option<ErrorCode>, u64)>>,
}

/// Hourly failure counts over a compacted base, per deployment.
#[derive(Debug, Default)]
pub(crate) struct FailureRollup {
    deployments: HashMap<DeploymentId, DeploymentRollup>,
}

impl FailureRollup {
    /// Replays every base failure against every base membership change, in
    /// time order.
    pub(crate) fn build(base: &[Arc<dyn Run>], clients: usize, collections: usize) -> Result<FailureRollup> {
        let mut failures: Vec<TransitionRow> = Vec::new();
        let mut changes: Vec<MembershipRow> = Vec::new();
        for run in base {
            run.scan_failures(Timestamp::MIN, Timestamp::MAX, &mut |rows| {
                failures.extend_from_slice(rows);
                Ok(())
            })?;
            if run.membership_count() > 0 {
                run.scan_memberships(None, Timestamp::MAX, &mut |rows| {
                    changes.extend_from_slice(rows);
                    Ok(())
                })?;
            }
        }
        if !failures.is_sorted_by_key(|r| (r.time, r.seq)) {
            failures.sort_unstable_by_key(|r| (r.time, r.seq));
        }
        changes.sort_unstable_by_key(|r| (r.time, r.seq));

        // Per client, the collections it is a member of right now (a bit set
        // of `words` u64s per client).
        let words = collections.div_ceil(64).max(1);
        let mut member = vec![0u64; clients.saturating_mul(words)];
        let mut out = FailureRollup::default();
        let mut next = 0usize;
        for r in &failures {
            while let Some(m) = changes.get(next).filter(|m| m.time <= r.time) {
                let (c, k) = (m.client.0 as usize, m.collection.0 as usize);
                if k < collections
                    && let Some(w) = member.get_mut(c * words + k / 64)
                {
                    match m.change {
                        Change::Join => *w |= 1 << (k % 64),
                        Change::Leave => *w &= !(1 << (k % 64)),
                    }
                }
                next += 1;
            }
            let d = out
                .deployments
                .entry(r.deployment)
                .or_insert_with(|| DeploymentRollup {
                    first_hour: r.time.0.div_euclid(HOUR_MS),
                    by_collection: vec![Vec::new(); collections],
                    ..DeploymentRollup::default()
                });
            // Failures come in time order, so hours only grow.
            let h = (r.time.0.div_euclid(HOUR_MS) - d.first_hour) as usize;
            if d.all.len() <= h {
                d.all.resize(h + 1, 0);
                d.by_error.resize_with(h + 1, Vec::new);
            }
            d.all[h] += 1;
            let errors = &mut d.by_error[h];
            match errors.binary_search_by(|(e, _)| e.cmp(&r.error)) {
                Ok(i) => errors[i].1 += 1,
                Err(i) => errors.insert(i, (r.error, 1)),
            }
            let c = r.client.0 as usize;
            for (wi, &bits) in member
                .get(c * words..(c + 1) * words)
                .unwrap_or_default()
                .iter()
                .enumerate()
            {
                let mut bits = bits;
                while bits != 0 {
                    let k = wi * 64 + bits.trailing_zeros() as usize;
                    bits &= bits - 1;
                    if let Some(series) = d.by_collection.get_mut(k) {
                        if series.len() <= h {
                            series.resize(h + 1, 0);
                        }
                        series[h] += 1;
                    }
                }
            }
        }
        Ok(out)
    }

    /// Base failures of `deployment` in the hours `[from_hour, to_hour)`,
    /// summed per bucket of `hours_per_bucket` hours starting at `from_hour`,
    /// into `counts` (one slot per bucket); members of `collection` only
    /// when one is given.
    pub(crate) fn add_counts(
        &self,
        deployment: DeploymentId,
        collection: Option<CollectionId>,
        from_hour: i64,
        to_hour: i64,
        hours_per_bucket: i64,
        counts: &mut [u64],
    ) {
        let Some(d) = self.deployments.get(&deployment) else {
            return;
        };
        let series: &[u64] = match collection {
            None => &d.all,
            Some(c) => d.by_collection.get(c.0 as usize).map_or(&[], Vec::as_slice),
        };
        for_hours(d.first_hour, series.len(), from_hour, to_hour, |i, hour| {
            let k = ((hour - from_hour) / hours_per_bucket) as usize;
            if let (Some(slot), Some(&n)) = (counts.get_mut(k), series.get(i)) {
                *slot += n;
            }
        });
    }

    /// Like [`Self::add_counts`] without a collection, split by error code:
    /// adds into `counts[(bucket index, error)]`.
    pub(crate) fn add_error_counts(
        &self,
        deployment: DeploymentId,
        from_hour: i64,
        to_hour: i64,
        hours_per_bucket: i64,
        counts: &mut HashMap<(u64, Option<ErrorCode>), u64>,
    ) {
        let Some(d) = self.deployments.get(&deployment) else {
            return;
        };
        for_hours(d.first_hour, d.by_error.len(), from_hour, to_hour, |i, hour| {
            let k = ((hour - from_hour) / hours_per_bucket) as u64;
            for &(error, n) in d.by_error.get(i).map_or(&[][..], Vec::as_slice) {
                *counts.entry((k, error)).or_default() += n;
            }
        });
    }
}

/// Calls `f(index, hour)` for every stored hour (`first_hour + index`,
/// `index < len`) inside `[from_hour, to_hour)`.
fn for_hours(first_hour: i64, len: usize, from_hour: i64, to_hour: i64, mut f: impl FnMut(usize, i64)) {
    let lo = from_hour.max(first_hour);
    let hi = to_hour.min(first_hour.saturating_add(len as i64));
    let mut hour = lo;
    while hour < hi {
        f((hour - first_hour) as usize, hour);
        hour += 1;
    }
}
