//! One plan, one table: each statement kind calls the engine's typed query
//! for it and lays out SPEC section 4's (and section 7's) columns.
//!
//! Invariants: a `FOR` list of more than one deployment adds a first
//! `deployment` column and lists each deployment's rows in the order
//! written (deployment-major: all rows of the first, then the next), one
//! deployment keeps the plain columns; under `TIME ZONE` every time the
//! table holds is a [`Value::ZonedTime`] with the zone's offset at that
//! instant, without one a [`Value::Time`] in UTC.

use rollcall_engine::{CollectionId, Snapshot, State, StateCounts, Timestamp};

use super::grid;
use crate::error::QueryError;
use crate::error_text;
use crate::plan::{Collection, Deployment, Deployments, GateCondition, Plan};
use crate::result::{Chart, Table, Value};
use crate::syntax::Threshold;
use crate::zone::Zone;

const STATE_COLUMNS: [&str; 6] = [
    "NotStarted",
    "Compliant",
    "InProgress",
    "NonCompliant",
    "Failed",
    "Unknown",
];

fn state_columns(lead: &[&str]) -> Vec<String> {
    lead.iter()
        .chain(STATE_COLUMNS.iter())
        .chain(std::iter::once(&"total"))
        .map(|c| (*c).to_owned())
        .collect()
}

fn count_values(row: &mut Vec<Value>, counts: &StateCounts) {
    row.extend(State::ALL.iter().map(|s| Value::Count(counts.get(*s))));
    row.push(Value::Count(counts.total()));
}

fn collection_id(c: &Option<Collection>) -> Option<CollectionId> {
    c.as_ref().map(|c| c.id)
}

/// How times print: in UTC, or in the statement's zone.
#[derive(Clone, Copy)]
pub(super) struct TimeOut<'a> {
    pub zone: Option<&'a Zone>,
}

impl TimeOut<'_> {
    pub(super) fn value(&self, t: Timestamp) -> Value {
        match self.zone {
            Some(z) => Value::ZonedTime(t, z.offset_seconds(t)),
            None => Value::Time(t),
        }
    }
}

/// Column names with `deployment` first when the `FOR` list asks for it.
fn lead_columns<'a>(deployments: &Deployments, lead: &[&'a str]) -> Vec<&'a str> {
    let mut v = Vec::with_capacity(lead.len() + 1);
    if deployments.column {
        v.push("deployment");
    }
    v.extend_from_slice(lead);
    v
}

/// The leading cells of a row of deployment `d`.
fn lead_cells(deployments: &Deployments, d: &Deployment) -> Vec<Value> {
    if deployments.column {
        vec![Value::Text(d.name.clone())]
    } else {
        Vec::new()
    }
}

pub(super) fn run(snap: &Snapshot, plan: &Plan, out: TimeOut<'_>) -> Result<Table, QueryError> {
    let mut t = Table::default();
    match plan {
        Plan::StatesAt {
            deployments,
            collection,
            at,
            stale_after,
        } => {
            t.columns = state_columns(&lead_columns(deployments, &["time"]));
            t.chart = Chart::States;
            for d in &deployments.list {
                let counts = snap.state_counts(d.id, collection_id(collection), *at, *stale_after)?;
                let mut row = lead_cells(deployments, d);
                row.push(out.value(*at));
                count_values(&mut row, &counts);
                t.rows.push(row);
            }
        }
        Plan::StatesSeries {
            deployments,
            collection,
            steps,
            stale_after,
        } => {
            t.columns = state_columns(&lead_columns(deployments, &["time"]));
            t.chart = Chart::States;
            for d in &deployments.list {
                for (time, counts) in
                    grid::state_series(snap, d.id, collection_id(collection), steps, *stale_after)?
                {
                    let mut row = lead_cells(deployments, d);
                    row.push(out.value(time));
                    count_values(&mut row, &counts);
                    t.rows.push(row);
                }
            }
        }
        Plan::StatesByCollection {
            deployments,
            at,
            stale_after,
        } => {
            t.chart = Chart::States;
            match at {
                Ok(at) => {
                    t.columns = state_columns(&lead_columns(deployments, &["collection"]));
                    for d in &deployments.list {
                        for (name, counts) in snap.state_counts_by_collection(d.id, *at, *stale_after)? {
                            let mut row = lead_cells(deployments, d);
                            row.push(Value::Text(name));
                            count_values(&mut row, &counts);
                            t.rows.push(row);
                        }
                    }
                }
                Err(steps) => {
                    t.columns = state_columns(&lead_columns(deployments, &["time", "collection"]));
                    for d in &deployments.list {
                        for &time in steps.points() {
                            for (name, counts) in snap.state_counts_by_collection(d.id, time, *stale_after)? {
                                let mut row = lead_cells(deployments, d);
                                row.push(out.value(time));
                                row.push(Value::Text(name));
                                count_values(&mut row, &counts);
                                t.rows.push(row);
                            }
                        }
                    }
                }
            }
        }
        Plan::Failures {
            deployments,
            collection,
            steps,
            by_error,
        } => {
            t.chart = Chart::Failures;
            let c = collection_id(collection);
            if *by_error {
                t.columns = names(&lead_columns(deployments, &["bucket", "error", "failures"]));
                for d in &deployments.list {
                    for b in grid::failure_histogram_by_error(snap, d.id, c, steps)? {
                        let mut row = lead_cells(deployments, d);
                        row.extend([
                            out.value(b.bucket),
                            Value::Error(b.error),
                            Value::Count(b.failures),
                        ]);
                        t.rows.push(row);
                    }
                }
            } else {
                t.columns = names(&lead_columns(deployments, &["bucket", "failures"]));
                for d in &deployments.list {
                    for (bucket, n) in grid::failure_histogram(snap, d.id, c, steps)? {
                        let mut row = lead_cells(deployments, d);
                        row.extend([out.value(bucket), Value::Count(n)]);
                        t.rows.push(row);
                    }
                }
            }
        }
        Plan::Clients {
            deployment,
            collection,
            at,
            states,
            limit,
        } => {
            t.columns = names(&["client", "state", "since"]);
            let limit = limit.map(|n| usize::try_from(n).unwrap_or(usize::MAX));
            for r in snap.clients_at(
                deployment.id,
                collection_id(collection),
                *at,
                states.as_deref(),
                limit,
            )? {
                t.rows.push(vec![
                    Value::Text(r.client),
                    Value::State(r.state),
                    r.since.map_or(Value::Null, |s| out.value(s)),
                ]);
            }
        }
        Plan::History {
            client,
            deployment,
            range,
        } => {
            t.columns = names(&["time", "deployment", "state", "error"]);
            for r in snap.client_history(client.0, deployment.as_ref().map(|d| d.id), *range)? {
                t.rows.push(vec![
                    out.value(r.time),
                    Value::Text(r.deployment),
                    Value::State(r.state),
                    Value::Error(r.error),
                ]);
            }
        }
        Plan::Flow {
            deployment,
            collection,
            from,
            to,
        } => {
            t.columns = names(&["from", "to", "clients"]);
            t.chart = Chart::Flow;
            let matrix = snap.state_flow(deployment.id, collection_id(collection), *from, *to)?;
            for (i, from_state) in State::ALL.iter().enumerate() {
                for (j, to_state) in State::ALL.iter().enumerate() {
                    let n = matrix[i][j];
                    if n > 0 {
                        t.rows.push(vec![
                            Value::State(*from_state),
                            Value::State(*to_state),
                            Value::Count(n),
                        ]);
                    }
                }
            }
        }
        Plan::Durations {
            deployment,
            collection,
            from,
            to,
            since,
            until,
        } => {
            t.columns = names(&[
                "started", "reached", "open", "p50_ms", "p90_ms", "p99_ms", "max_ms",
            ]);
            let d = snap.durations(
                deployment.id,
                collection_id(collection),
                *from,
                *to,
                *since,
                *until,
            )?;
            let reached = d.reached_ms.len() as u64;
            let pick = |p: u64| nearest_rank(&d.reached_ms, p).map_or(Value::Null, Value::Millis);
            t.rows.push(vec![
                Value::Count(d.started),
                Value::Count(reached),
                Value::Count(d.started - reached),
                pick(50),
                pick(90),
                pick(99),
                d.reached_ms.last().map_or(Value::Null, |m| Value::Millis(*m)),
            ]);
        }
        Plan::Gate {
            deployment,
            collection,
            at,
            stale_after,
            conditions,
        } => {
            t.columns = names(&["condition", "actual", "passed"]);
            t.chart = Chart::Gate;
            let counts = snap.state_counts(deployment.id, collection_id(collection), *at, *stale_after)?;
            for c in conditions {
                let (actual, passed) = judge(c, &counts);
                t.rows
                    .push(vec![Value::Text(c.text.clone()), actual, Value::Bool(passed)]);
            }
        }
        Plan::ShowCollections => {
            t.columns = names(&["collection"]);
            t.rows = snap
                .collections()
                .into_iter()
                .map(|c| vec![Value::Text(c)])
                .collect();
        }
        Plan::ShowDeployments => {
            t.columns = names(&["deployment"]);
            let mut names = snap.deployments();
            if !names
                .iter()
                .any(|d| d == rollcall_engine::limits::DEFAULT_DEPLOYMENT)
            {
                names.push(rollcall_engine::limits::DEFAULT_DEPLOYMENT.to_owned());
                names.sort_unstable();
            }
            t.rows = names.into_iter().map(|d| vec![Value::Text(d)]).collect();
        }
        Plan::ShowErrors {
            deployment,
            collection,
            from,
            to,
        } => {
            t.columns = names(&["error", "transitions"]);
            for (code, n) in snap.error_counts(deployment.id, collection_id(collection), *from, *to)? {
                t.rows.push(vec![Value::Error(Some(code)), Value::Count(n)]);
            }
        }
        Plan::ShowError(code) => {
            t.columns = names(&["name", "value"]);
            let p = error_text::parts(*code);
            let facility = match error_text::facility_name(p.facility) {
                Some(name) => format!("{} ({name})", p.facility),
                None => p.facility.to_string(),
            };
            let severity = if p.severity == 1 {
                "1 (failure)"
            } else {
                "0 (success)"
            };
            let text = error_text::describe(*code).map_or(Value::Null, |s| Value::Text(s.to_owned()));
            for (name, value) in [
                ("error", Value::Text(code.to_string())),
                ("decimal", Value::Text(code.0.to_string())),
                ("signed", Value::Text((code.0 as i32).to_string())),
                ("severity", Value::Text(severity.to_owned())),
                ("customer", Value::Bool(p.customer)),
                ("facility", Value::Text(facility)),
                ("code", Value::Text(format!("{} (0x{:04x})", p.code, p.code))),
                ("text", text),
            ] {
                t.rows.push(vec![Value::Text(name.to_owned()), value]);
            }
        }
        Plan::ShowStats => {
            let s = snap.stats();
            t.columns = names(&["name", "value"]);
            let (first, last) = match s.time_range {
                Some((a, b)) => (out.value(a), out.value(b)),
                None => (Value::Null, Value::Null),
            };
            for (name, value) in [
                ("clients", Value::Count(s.clients)),
                ("collections", Value::Count(s.collections)),
                ("deployments", Value::Count(s.deployments)),
                ("transitions", Value::Count(s.transitions)),
                ("membership_changes", Value::Count(s.membership_changes)),
                ("segments", Value::Count(s.segments)),
                ("memtable_rows", Value::Count(s.memtable_rows)),
                ("unfolded_rows", Value::Count(s.unfolded_rows)),
                ("bytes_on_disk", Value::Count(s.bytes_on_disk)),
                ("first_transition", first),
                ("last_transition", last),
            ] {
                t.rows.push(vec![Value::Text(name.to_owned()), value]);
            }
        }
        Plan::Explain(inner) => return run(snap, inner, out),
    }
    Ok(t)
}

fn names(columns: &[&str]) -> Vec<String> {
    columns.iter().map(|c| (*c).to_owned()).collect()
}

/// The `ceil(p/100 * n)`-th smallest of sorted `values` (nearest rank),
/// `None` when there are none.
pub(crate) fn nearest_rank(sorted: &[i64], p: u64) -> Option<i64> {
    let n = sorted.len() as u64;
    if n == 0 {
        return None;
    }
    let rank = (p * n).div_ceil(100).clamp(1, n);
    sorted.get((rank - 1) as usize).copied()
}

/// A `GATE` condition against the counts: the measured value in the
/// condition's unit and whether it holds. Shares compare exactly (no
/// rounding: `count / total` against the threshold as written); an empty
/// population has a share of 0%.
fn judge(c: &GateCondition, counts: &StateCounts) -> (Value, bool) {
    let n = counts.get(c.state);
    let total = counts.total();
    match c.threshold {
        Threshold::Count(limit) => (Value::Count(n), c.op.holds(n, limit)),
        Threshold::Percent(d) => {
            // n / total (as a share of 100) against units / 10^scale:
            // n * 100 * 10^scale against units * total, in u128.
            let scale = 10u128.pow(d.scale);
            let lhs = u128::from(n) * 100 * scale;
            let rhs = u128::from(d.units) * u128::from(total);
            (Value::Text(share_text(n, total)), c.op.holds(lhs, rhs))
        }
    }
}

/// `n / total` as a percentage with one decimal, rounded half up
/// (`33.3%`); `0.0%` for an empty population.
fn share_text(n: u64, total: u64) -> String {
    if total == 0 {
        return "0.0%".to_owned();
    }
    let tenths = (u128::from(n) * 1000 * 2 + u128::from(total)) / (u128::from(total) * 2);
    format!("{}.{}%", tenths / 10, tenths % 10)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_at_small_n() {
        assert_eq!(nearest_rank(&[], 50), None);
        assert_eq!(nearest_rank(&[7], 50), Some(7));
        assert_eq!(nearest_rank(&[7], 99), Some(7));
        assert_eq!(nearest_rank(&[1, 2], 50), Some(1));
        assert_eq!(nearest_rank(&[1, 2], 90), Some(2));
        assert_eq!(nearest_rank(&[1, 2, 3], 50), Some(2));
        assert_eq!(nearest_rank(&[1, 2, 3], 90), Some(3));
        let hundred: Vec<i64> = (1..=100).collect();
        assert_eq!(nearest_rank(&hundred, 50), Some(50));
        assert_eq!(nearest_rank(&hundred, 90), Some(90));
        assert_eq!(nearest_rank(&hundred, 99), Some(99));
    }

    #[test]
    fn shares_round_half_up_to_one_decimal() {
        assert_eq!(share_text(1, 3), "33.3%");
        assert_eq!(share_text(2, 3), "66.7%");
        assert_eq!(share_text(1, 16), "6.3%");
        assert_eq!(share_text(0, 0), "0.0%");
        assert_eq!(share_text(5, 5), "100.0%");
    }
}
