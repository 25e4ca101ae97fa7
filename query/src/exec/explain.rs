//! `EXPLAIN`: what a plan reads (the engine call, its inputs, the grid of a
//! series) and, after running it on a fresh handle, the engine's work
//! counters and the elapsed time.
//!
//! Invariant: the statement runs exactly as without `EXPLAIN` (same plan,
//! same engine calls); only `Instant` is read, for the elapsed time.

use std::time::Instant;

use rollcall_engine::Snapshot;

use super::run::{TimeOut, run};
use crate::error::QueryError;
use crate::plan::{self, Collection, Context, Deployment, Plan};
use crate::result::{Chart, Table, Value};
use crate::syntax::{self, Statement};

fn text(s: impl Into<String>) -> Value {
    Value::Text(s.into())
}

fn describe(plan: &Plan, rows: &mut Vec<(&'static str, Value)>) {
    let dep = |d: &Deployment| text(d.name.clone());
    let coll = |c: &Option<Collection>| match c {
        Some(c) => text(c.name.clone()),
        None => text("(all clients)"),
    };
    let stale = |s: &Option<i64>| match s {
        Some(ms) => text(syntax::Duration(*ms).to_string()),
        None => Value::Null,
    };
    let steps = |rows: &mut Vec<(&'static str, Value)>, s: &plan::Steps, unit: &'static str| {
        rows.push(("from", Value::Time(s.from)));
        rows.push(("to", Value::Time(s.to)));
        rows.push(("every", text(s.label())));
        rows.push((unit, Value::Count(s.count())));
        rows.push((
            "engine_grid",
            text(match s.uniform() {
                Some(w) => format!("even, {}", syntax::Duration(w)),
                None => "calendar: evenly spaced runs / finest common grid".to_owned(),
            }),
        ));
    };
    let deps = |d: &plan::Deployments| {
        text(
            d.list
                .iter()
                .map(|d| d.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        )
    };
    match plan {
        Plan::StatesAt {
            deployments,
            collection,
            at,
            stale_after,
        } => {
            rows.push(("engine_call", text("state_counts")));
            rows.push(("deployment", deps(deployments)));
            rows.push(("collection", coll(collection)));
            rows.push(("at", Value::Time(*at)));
            rows.push(("stale_after", stale(stale_after)));
        }
        Plan::StatesSeries {
            deployments,
            collection,
            steps: s,
            stale_after,
        } => {
            rows.push(("engine_call", text("state_series")));
            rows.push(("deployment", deps(deployments)));
            rows.push(("collection", coll(collection)));
            steps(rows, s, "points");
            rows.push(("stale_after", stale(stale_after)));
        }
        Plan::StatesByCollection {
            deployments,
            at,
            stale_after,
        } => {
            rows.push(("engine_call", text("state_counts_by_collection")));
            rows.push(("deployment", deps(deployments)));
            rows.push(("collection", text("(every collection)")));
            match at {
                Ok(at) => rows.push(("at", Value::Time(*at))),
                Err(s) => steps(rows, s, "points"),
            }
            rows.push(("stale_after", stale(stale_after)));
        }
        Plan::Failures {
            deployments,
            collection,
            steps: s,
            by_error,
        } => {
            let call = if *by_error {
                "failure_histogram_by_error"
            } else {
                "failure_histogram"
            };
            rows.push(("engine_call", text(call)));
            rows.push(("deployment", deps(deployments)));
            rows.push(("collection", coll(collection)));
            steps(rows, s, "buckets");
        }
        Plan::Clients {
            deployment,
            collection,
            at,
            states,
            limit,
        } => {
            rows.push(("engine_call", text("clients_at")));
            rows.push(("deployment", dep(deployment)));
            rows.push(("collection", coll(collection)));
            rows.push(("at", Value::Time(*at)));
            let states = match states {
                Some(list) => text(list.iter().map(|s| s.name()).collect::<Vec<_>>().join(",")),
                None => text("(every state)"),
            };
            rows.push(("states", states));
            rows.push(("limit", limit.map_or(Value::Null, |n| Value::Count(u64::from(n)))));
        }
        Plan::History {
            client,
            deployment,
            range,
        } => {
            rows.push(("engine_call", text("client_history")));
            rows.push(("client", text(client.1.clone())));
            rows.push((
                "deployment",
                deployment
                    .as_ref()
                    .map_or_else(|| text("(every deployment)"), dep),
            ));
            let (from, to) = match range {
                Some((a, b)) => (Value::Time(*a), Value::Time(*b)),
                None => (Value::Null, Value::Null),
            };
            rows.push(("from", from));
            rows.push(("to", to));
        }
        Plan::Flow {
            deployment,
            collection,
            from,
            to,
        } => {
            rows.push(("engine_call", text("state_flow")));
            rows.push(("deployment", dep(deployment)));
            rows.push(("collection", coll(collection)));
            rows.push(("from", Value::Time(*from)));
            rows.push(("to", Value::Time(*to)));
            rows.push(("reads", text("two as-of state vectors and the members at TO")));
        }
        Plan::Durations {
            deployment,
            collection,
            from,
            to,
            since,
            until,
        } => {
            rows.push(("engine_call", text("durations")));
            rows.push(("deployment", dep(deployment)));
            rows.push(("collection", coll(collection)));
            rows.push(("from", Value::Time(*from)));
            rows.push(("to", Value::Time(*to)));
            rows.push(("since", Value::State(*since)));
            rows.push(("until", Value::State(*until)));
            rows.push((
                "reads",
                text("the transitions in [FROM, TO) and the members at TO"),
            ));
        }
        Plan::Gate {
            deployment,
            collection,
            at,
            stale_after,
            conditions,
        } => {
            rows.push(("engine_call", text("state_counts")));
            rows.push(("deployment", dep(deployment)));
            rows.push(("collection", coll(collection)));
            rows.push(("at", Value::Time(*at)));
            rows.push(("stale_after", stale(stale_after)));
            rows.push(("conditions", Value::Count(conditions.len() as u64)));
        }
        Plan::ShowError(code) => {
            rows.push(("engine_call", text("(none: decoded from the built-in table)")));
            rows.push(("error", Value::Error(Some(*code))));
        }
        Plan::ShowCollections => rows.push(("engine_call", text("collections"))),
        Plan::ShowDeployments => rows.push(("engine_call", text("deployments"))),
        Plan::ShowStats => rows.push(("engine_call", text("stats"))),
        Plan::ShowErrors {
            deployment,
            collection,
            from,
            to,
        } => {
            rows.push(("engine_call", text("error_counts")));
            rows.push(("deployment", dep(deployment)));
            rows.push(("collection", coll(collection)));
            rows.push(("from", Value::Time(*from)));
            rows.push(("to", Value::Time(*to)));
        }
        Plan::Explain(inner) => describe(inner, rows),
    }
}

/// `EXPLAIN`: what the statement touches, then runs it on a fresh handle and
/// reports the engine's work counters and the elapsed time.
pub(super) fn explain(
    snap: &Snapshot,
    plan: &Plan,
    statement: &Statement,
    ctx: &Context,
) -> Result<Table, QueryError> {
    let mut rows: Vec<(&'static str, Value)> = vec![("statement", text(statement.to_string()))];
    describe(plan, &mut rows);
    if let Some(z) = &ctx.zone {
        rows.push(("time_zone", text(z.name())));
    }
    if let Some(t) = ctx.known_at {
        rows.push(("known_at", Value::Time(t)));
    }
    let handle = snap.fork();
    let started = Instant::now();
    let result = run(
        &handle,
        plan,
        TimeOut {
            zone: ctx.zone.as_ref(),
        },
    )?;
    let elapsed = started.elapsed();
    let probe = handle.probe();
    rows.push(("result_rows", Value::Count(result.rows.len() as u64)));
    rows.push(("runs_read", Value::Count(probe.runs_read)));
    rows.push(("rows_scanned", Value::Count(probe.rows_scanned)));
    rows.push(("checkpoints_used", Value::Count(probe.checkpoints_used)));
    rows.push(("member_snapshots_used", Value::Count(probe.member_snapshots_used)));
    rows.push((
        "elapsed_us",
        Value::Count(u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX)),
    ));
    Ok(Table {
        columns: vec!["name".into(), "value".into()],
        rows: rows.into_iter().map(|(n, v)| vec![text(n), v]).collect(),
        chart: Chart::None,
        notes: Vec::new(),
    })
}
