//! The `FAILURES` family: transitions into Failed per bucket, or per bucket
//! and error code (`BY ERROR`).
//!
//! Invariants: every failure in `[FROM, TO)` counts, repeats included; with
//! `IN c` a failure counts when its client was a member at the failure's
//! own millisecond (changes of that millisecond included, the last ingested
//! winning); the plain histogram lists every bucket, `BY ERROR` only the
//! non-zero (bucket, error) pairs.

use super::binding::{Population, Steps};
use super::cte::{Query, add_sources, bucket_index, point_time, points_comment, points_relation};
use super::dialect::{Source, Sql};

/// `FAILURES [FOR d] [IN c] FROM a TO b EVERY w [BY ERROR]`.
pub(super) fn failures(
    sql: &dyn Sql,
    source: &Source,
    deployment: &str,
    population: &Population,
    steps: &Steps,
    by_error: bool,
) -> Query {
    let mut q = Query::new();
    let to = steps.to;
    let in_collection = matches!(population, Population::In(_));
    add_sources(&mut q, sql, source, true, in_collection);
    q.cte(
        "failures",
        "transitions into Failed of the deployment in [FROM, TO) (every one counts, repeats included)",
        format!(
            "SELECT client, time_ms, error AS error_code\nFROM transitions\nWHERE deployment = {} AND state = 'Failed' AND time_ms >= {} AND time_ms < {}",
            sql.string(deployment),
            steps.from,
            to
        ),
    );
    match population {
        Population::In(collection) => {
            q.cte(
                "membership_changes",
                "the collection's changes, one per (client, millisecond): within a millisecond the last ingested wins",
                format!(
                    "SELECT client, time_ms, {} AS last_change\nFROM memberships\nWHERE collection = {} AND time_ms < {to}\nGROUP BY client, time_ms",
                    sql.arg_max("change", "seq"),
                    sql.string(collection)
                ),
            );
            q.cte(
                "failures_in_scope",
                "failures whose client was a member at the failure's own time (changes at that millisecond included)",
                "SELECT f.time_ms, f.error_code\nFROM failures AS f\nASOF JOIN membership_changes AS m ON f.client = m.client AND f.time_ms >= m.time_ms\nWHERE m.last_change = 'join'",
            );
        }
        Population::All => {
            q.cte(
                "failures_in_scope",
                "no IN: every failure counts",
                "SELECT time_ms, error_code\nFROM failures",
            );
        }
    }
    let bucket = bucket_index(sql, "time_ms", steps);
    if by_error {
        q.cte(
            "counts",
            "failures per bucket and error code (only non-zero pairs exist)",
            format!(
                "SELECT {bucket} AS k, error_code, count(*) AS n\nFROM failures_in_scope\nGROUP BY k, error_code"
            ),
        );
        q.select = format!(
            "SELECT\n    {} AS \"bucket\",\n    {} AS \"error\",\n    n AS \"failures\"\nFROM counts",
            sql.format_time(&point_time(sql, steps, "k")),
            sql.format_error("error_code")
        );
        q.order = vec![
            ("k".to_owned(), ""),
            ("n".to_owned(), " DESC"),
            ("error_code".to_owned(), " ASC NULLS FIRST"),
        ];
    } else {
        q.cte(
            "buckets",
            format!(
                "the buckets [point k, point k + 1), the last one cut at TO: {}",
                points_comment(steps)
            ),
            points_relation(sql, steps),
        );
        q.cte(
            "counts",
            "failures per bucket",
            format!("SELECT {bucket} AS k, count(*) AS n\nFROM failures_in_scope\nGROUP BY k"),
        );
        q.select = format!(
            "SELECT\n    {} AS \"bucket\",\n    coalesce(c.n, 0) AS \"failures\"\nFROM buckets AS b\nLEFT JOIN counts AS c ON c.k = b.k",
            sql.format_time("b.t_ms")
        );
        q.order.push(("b.k".to_owned(), ""));
    }
    q
}
