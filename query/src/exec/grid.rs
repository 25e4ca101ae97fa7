//! Series and histograms over any grid of points, on top of the engine's
//! evenly spaced calls.
//!
//! A calendar grid (local days across a DST change, months) is not evenly
//! spaced, and the engine knows nothing of calendars: it answers a series
//! for `from + k*w` and a histogram for buckets `[from + k*w, ...)`. So:
//! * a series is cut into maximal runs of evenly spaced points, one engine
//!   series per run (a Berlin daily series across one DST change is two or
//!   three runs);
//! * a histogram is asked on the finest even grid that every bucket edge
//!   lies on (the gcd of the edges' distances from `FROM`: one hour for
//!   local days in a whole-hour zone, so the hourly failure rollup serves
//!   it) and summed into the buckets; past [`MAX_FINE`] fine buckets, one
//!   engine call per bucket.
//!
//! Invariant: whatever path is taken, bucket `k` counts exactly the
//! failures with `p_k <= time < p_k+1` (the last cut at `TO`), as SPEC 1
//! defines buckets; the paths differ only in cost.

use std::collections::HashMap;

use rollcall_engine::{CollectionId, DeploymentId, ErrorBucket, ErrorCode, Snapshot, StateCounts, Timestamp};

use crate::error::QueryError;
use crate::plan::Steps;

/// The most fine buckets a histogram is asked on before it falls back to
/// one engine call per bucket (the engine's own cap on buckets).
const MAX_FINE: u64 = crate::plan::MAX_POINTS;

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

/// The finest even grid every edge of `steps` lies on, as a width, when it
/// has at most [`MAX_FINE`] buckets.
fn fine_width(steps: &Steps) -> Option<i64> {
    let from = steps.from.0;
    let mut g: i64 = 0;
    for p in steps.points().iter().skip(1).chain(std::iter::once(&steps.to)) {
        g = gcd(g, p.0 - from);
    }
    if g <= 0 {
        return None;
    }
    let fine = (i128::from(steps.to.0) - i128::from(from)) / i128::from(g);
    (fine <= i128::from(MAX_FINE)).then_some(g)
}

fn gcd(a: i64, b: i64) -> i64 {
    let (mut a, mut b) = (a.unsigned_abs(), b.unsigned_abs());
    while b != 0 {
        (a, b) = (b, a % b);
    }
    i64::try_from(a).unwrap_or(i64::MAX)
}

/// The bucket of `steps` that holds time `t` (`t` in `[from, to)`).
fn bucket_of(steps: &Steps, t: Timestamp) -> usize {
    steps.points().partition_point(|p| *p <= t).saturating_sub(1)
}

/// `FAILURES ... EVERY w`: failures per bucket, every bucket listed.
pub(crate) fn failure_histogram(
    snap: &Snapshot,
    deployment: DeploymentId,
    collection: Option<CollectionId>,
    steps: &Steps,
) -> Result<Vec<(Timestamp, u64)>, QueryError> {
    if let Some(w) = steps.uniform() {
        return Ok(snap.failure_histogram(deployment, collection, steps.from, steps.to, w)?);
    }
    let points = steps.points();
    let mut counts = vec![0u64; points.len()];
    match fine_width(steps) {
        Some(g) => {
            for (start, n) in snap.failure_histogram(deployment, collection, steps.from, steps.to, g)? {
                counts[bucket_of(steps, start)] += n;
            }
        }
        None => {
            for (k, c) in counts.iter_mut().enumerate() {
                let (a, b) = (points[k], steps.end(k));
                *c = snap
                    .failure_histogram(deployment, collection, a, b, b.0 - a.0)?
                    .iter()
                    .map(|(_, n)| n)
                    .sum();
            }
        }
    }
    Ok(points.iter().copied().zip(counts).collect())
}

/// `FAILURES ... BY ERROR`: non-zero (bucket, error) counts, by bucket, then
/// failures descending, then error ascending with no code first.
pub(crate) fn failure_histogram_by_error(
    snap: &Snapshot,
    deployment: DeploymentId,
    collection: Option<CollectionId>,
    steps: &Steps,
) -> Result<Vec<ErrorBucket>, QueryError> {
    if let Some(w) = steps.uniform() {
        return Ok(snap.failure_histogram_by_error(deployment, collection, steps.from, steps.to, w)?);
    }
    let points = steps.points();
    let mut counts: HashMap<(usize, Option<ErrorCode>), u64> = HashMap::new();
    match fine_width(steps) {
        Some(g) => {
            for b in snap.failure_histogram_by_error(deployment, collection, steps.from, steps.to, g)? {
                *counts.entry((bucket_of(steps, b.bucket), b.error)).or_default() += b.failures;
            }
        }
        None => {
            for (k, &a) in points.iter().enumerate() {
                let b = steps.end(k);
                for e in snap.failure_histogram_by_error(deployment, collection, a, b, b.0 - a.0)? {
                    *counts.entry((k, e.error)).or_default() += e.failures;
                }
            }
        }
    }
    let mut rows: Vec<ErrorBucket> = counts
        .into_iter()
        .map(|((k, error), failures)| ErrorBucket {
            bucket: points[k],
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

    #[test]
    fn gcd_of_edges() {
        assert_eq!(gcd(0, 24), 24);
        assert_eq!(gcd(48, 71), 1);
        assert_eq!(gcd(23 * 3_600_000, 25 * 3_600_000), 3_600_000);
    }
}
