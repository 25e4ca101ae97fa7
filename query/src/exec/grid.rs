//! Series and histograms over any grid of points, on top of the engine's
//! calls.
//!
//! A calendar grid (local days across a DST change, months) is not evenly
//! spaced, and the engine knows nothing of calendars: it answers a series
//! for `from + k*w`, and a histogram for buckets `[from + k*w, ...)` or at
//! a list of edges. So:
//! * a series is cut into maximal runs of evenly spaced points, one engine
//!   series per run (a Berlin daily series across one DST change is two or
//!   three runs);
//! * a histogram hands the engine its bucket edges as a list of instants
//!   (`Snapshot::failure_histogram_at`); local days in a whole-hour zone
//!   all start on UTC hours, so the engine's hourly failure rollup serves
//!   them, and other edges take the engine's row sweep.
//!
//! Invariant: whatever path is taken, bucket `k` counts exactly the
//! failures with `p_k <= time < p_k+1` (the last cut at `TO`), as SPEC 1
//! defines buckets; the paths differ only in cost.

use rollcall_engine::{CollectionId, DeploymentId, ErrorBucket, Snapshot, StateCounts, Timestamp};

use crate::error::QueryError;
use crate::plan::Steps;

/// `STATES ... FROM a TO b EVERY w`: the counts at every point.
pub(crate) fn state_series(
    snap: &Snapshot,
    deployment: DeploymentId,
    collection: Option<CollectionId>,
    steps: &Steps,
    stale_after: Option<i64>,
) -> Result<Vec<(Timestamp, StateCounts)>, QueryError> {
    if let Some(w) = steps.uniform() {
        return Ok(snap.state_series(deployment, collection, steps.from, steps.to, w, stale_after)?);
    }
    let points = steps.points();
    let mut out = Vec::with_capacity(points.len());
    let mut i = 0;
    while i < points.len() {
        let j = run_end(points, i);
        let (first, last) = (points[i], points[j - 1]);
        let w = if j - i > 1 { points[i + 1].0 - first.0 } else { 1 };
        // One past the last point: the engine's grid then ends on it.
        let end = Timestamp(last.0 + 1);
        out.extend(snap.state_series(deployment, collection, first, end, w, stale_after)?);
        i = j;
    }
    Ok(out)
}

/// The end (exclusive) of the run of evenly spaced points starting at `i`.
fn run_end(points: &[Timestamp], i: usize) -> usize {
    if i + 1 >= points.len() {
        return points.len();
    }
    let w = points[i + 1].0 - points[i].0;
    let mut j = i + 1;
    while j + 1 < points.len() && points[j + 1].0 - points[j].0 == w {
        j += 1;
    }
    j + 1
}

/// `FAILURES ... EVERY w`: failures per bucket, every bucket listed.
pub(crate) fn failure_histogram(
    snap: &Snapshot,
    deployment: DeploymentId,
    collection: Option<CollectionId>,
    steps: &Steps,
) -> Result<Vec<(Timestamp, u64)>, QueryError> {
    Ok(match steps.uniform() {
        Some(w) => snap.failure_histogram(deployment, collection, steps.from, steps.to, w)?,
        None => snap.failure_histogram_at(deployment, collection, steps.points(), steps.to)?,
    })
}

/// `FAILURES ... BY ERROR`: non-zero (bucket, error) counts, by bucket, then
/// failures descending, then error ascending with no code first.
pub(crate) fn failure_histogram_by_error(
    snap: &Snapshot,
    deployment: DeploymentId,
    collection: Option<CollectionId>,
    steps: &Steps,
) -> Result<Vec<ErrorBucket>, QueryError> {
    Ok(match steps.uniform() {
        Some(w) => snap.failure_histogram_by_error(deployment, collection, steps.from, steps.to, w)?,
        None => snap.failure_histogram_by_error_at(deployment, collection, steps.points(), steps.to)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(v: &[i64]) -> Vec<Timestamp> {
        v.iter().map(|&x| Timestamp(x)).collect()
    }

    #[test]
    fn runs_split_where_the_spacing_changes() {
        let p = ts(&[0, 24, 48, 71, 95, 119]);
        assert_eq!(run_end(&p, 0), 3);
        assert_eq!(run_end(&p, 3), 6);
        assert_eq!(run_end(&ts(&[5]), 0), 1);
    }
}
