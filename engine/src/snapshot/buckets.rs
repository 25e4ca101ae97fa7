//! The bucket grid of a failure histogram: evenly spaced from `from` by a
//! width (`EVERY 1h` in UTC), or at listed edges (local days across a DST
//! change, months), which the query layer computes from a calendar. The
//! engine knows no calendar: edges are plain instants.
//!
//! Invariants: bucket `k` is `[start(k), start(k + 1))`, the last one cut at
//! `to`; edges are strictly increasing and all before `to` (checked when
//! the grid is made); [`Buckets::index`] answers for any time in
//! `[from, to)` and is fastest for ascending times (a cursor, no search).

use crate::error::{Error, Result};
use crate::model::Timestamp;
use crate::rollup::HOUR_MS;

use super::{MAX_POINTS, check_range};

/// Where the buckets start.
#[derive(Debug, Clone, Copy)]
enum Grid<'a> {
    /// `from + k * every`.
    Even { every: i64 },
    /// `edges[k]`; `cursor` is the bucket of the last time asked.
    Edges { edges: &'a [Timestamp], cursor: usize },
}

/// The buckets of one histogram over `[from, to)`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Buckets<'a> {
    grid: Grid<'a>,
    from: Timestamp,
    to: Timestamp,
    len: usize,
}

impl<'a> Buckets<'a> {
    /// `[from + k*every, ...)` up to `to`.
    pub(super) fn even(from: Timestamp, to: Timestamp, every_ms: i64) -> Result<Buckets<'a>> {
        let n = check_range(from, to, every_ms)?;
        Ok(Buckets {
            grid: Grid::Even { every: every_ms },
            from,
            to,
            len: n as usize,
        })
    }

    /// `[edges[k], edges[k + 1])`, the last up to `to`.
    pub(super) fn at_edges(edges: &'a [Timestamp], to: Timestamp) -> Result<Buckets<'a>> {
        let Some(&from) = edges.first() else {
            return Err(Error::InvalidInput(
                "a histogram needs at least one bucket".into(),
            ));
        };
        if edges.len() as u64 > MAX_POINTS {
            return Err(Error::InvalidInput(format!(
                "{} buckets, the limit is {MAX_POINTS}; widen EVERY or narrow the range",
                edges.len()
            )));
        }
        if let Some(w) = edges.windows(2).find(|w| w[0] >= w[1]) {
            return Err(Error::InvalidInput(format!(
                "bucket edges must increase: {} ms is followed by {} ms",
                w[0].0, w[1].0
            )));
        }
        let last = edges[edges.len() - 1];
        if last >= to {
            return Err(Error::InvalidInput(format!(
                "the last bucket edge {} ms is not before the range end {} ms",
                last.0, to.0
            )));
        }
        Ok(Buckets {
            grid: Grid::Edges { edges, cursor: 0 },
            from,
            to,
            len: edges.len(),
        })
    }

    pub(super) fn len(&self) -> usize {
        self.len
    }

    pub(super) fn from(&self) -> Timestamp {
        self.from
    }

    pub(super) fn to(&self) -> Timestamp {
        self.to
    }

    /// The start of bucket `k` (`k < len`).
    pub(super) fn start(&self, k: usize) -> Timestamp {
        match self.grid {
            Grid::Even { every } => Timestamp(self.from.0 + k as i64 * every),
            Grid::Edges { edges, .. } => edges[k],
        }
    }

    /// True when every bucket edge and `to` fall on a whole UTC hour, so
    /// the hourly failure rollup can fill the buckets.
    pub(super) fn hour_aligned(&self) -> bool {
        let on_hour = |t: Timestamp| t.0.rem_euclid(HOUR_MS) == 0;
        on_hour(self.from)
            && on_hour(self.to)
            && match self.grid {
                Grid::Even { every } => every % HOUR_MS == 0,
                Grid::Edges { edges, .. } => edges.iter().all(|e| on_hour(*e)),
            }
    }

    /// The bucket holding time `t` (`from <= t < to`).
    pub(super) fn index(&mut self, t: i64) -> usize {
        match &mut self.grid {
            // i64 division in the common case: an i128 one is a library
            // call, and the rollup asks once per hour of the range.
            Grid::Even { every } => match t.checked_sub(self.from.0) {
                Some(d) => (d / *every) as usize,
                None => ((i128::from(t) - i128::from(self.from.0)) / i128::from(*every)) as usize,
            },
            Grid::Edges { edges, cursor } => {
                if edges.get(*cursor).is_some_and(|e| e.0 > t) {
                    *cursor = edges.partition_point(|e| e.0 <= t).saturating_sub(1);
                }
                while edges.get(*cursor + 1).is_some_and(|e| e.0 <= t) {
                    *cursor += 1;
                }
                *cursor
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(v: &[i64]) -> Vec<Timestamp> {
        v.iter().map(|&x| Timestamp(x)).collect()
    }

    #[test]
    fn edges_find_their_bucket_in_any_order() {
        let e = ts(&[0, 10, 25, 40]);
        let mut b = Buckets::at_edges(&e, Timestamp(50)).unwrap();
        let asked = [0, 9, 10, 24, 25, 49, 3, 30, 12];
        let got: Vec<usize> = asked.iter().map(|&t| b.index(t)).collect();
        assert_eq!(got, [0, 0, 1, 1, 2, 3, 0, 2, 1]);
    }

    #[test]
    fn bad_edges_are_refused() {
        assert!(Buckets::at_edges(&[], Timestamp(5)).is_err());
        assert!(Buckets::at_edges(&ts(&[0, 5, 5]), Timestamp(9)).is_err());
        assert!(Buckets::at_edges(&ts(&[0, 9]), Timestamp(9)).is_err());
    }

    #[test]
    fn alignment_needs_every_edge_on_an_hour() {
        let h = HOUR_MS;
        assert!(
            Buckets::at_edges(&ts(&[0, 23 * h]), Timestamp(48 * h))
                .unwrap()
                .hour_aligned()
        );
        assert!(
            !Buckets::at_edges(&ts(&[0, 23 * h + 1_800_000]), Timestamp(48 * h))
                .unwrap()
                .hour_aligned()
        );
        assert!(
            Buckets::even(Timestamp(0), Timestamp(48 * h), 24 * h)
                .unwrap()
                .hour_aligned()
        );
        assert!(
            !Buckets::even(Timestamp(0), Timestamp(48 * h), 1_800_000)
                .unwrap()
                .hour_aligned()
        );
    }
}
