//! Running a plan: one call to the engine's typed query for each statement
//! (no second query path, no SQL-ish string building), its answer turned
//! into a [`Table`] with SPEC.md section 4's columns.
//!
//! Invariants: `exec` never reads the clock for query semantics (`NOW` is
//! [`ExecOptions::now`]; `EXPLAIN` only measures elapsed time with
//! `Instant`); every statement runs on a handle with its own work counters
//! and the caller's cancel flag.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use rollcall_engine::{Snapshot, State, StateCounts, Timestamp};

use crate::error::{ErrorKind, QueryError};
use crate::plan::{self, Collection, Deployment, Plan};
use crate::result::{Chart, Table, Value};
use crate::syntax::{self, Script, Span, Statement};

/// Parameter values by name (without `$`), as raw text; parsed as a time or
/// a duration where used.
pub type Params = BTreeMap<String, String>;

/// What a statement runs with.
#[derive(Clone, Debug, Default)]
pub struct ExecOptions {
    /// The time `NOW` stands for (the engine never reads the clock).
    pub now: Timestamp,
    /// `$name` values.
    pub params: Params,
    /// Set to `true` to stop a running statement with
    /// [`ErrorKind::Cancelled`].
    pub cancel: Option<Arc<AtomicBool>>,
}

impl ExecOptions {
    /// Options with `NOW` and no parameters.
    pub fn new(now: Timestamp) -> ExecOptions {
        ExecOptions {
            now,
            ..ExecOptions::default()
        }
    }
}

/// The unbound parameters among `uses`, one diagnostic per name at its first
/// use.
pub(crate) fn unbound(uses: &[(String, Span)], params: &Params) -> Option<QueryError> {
    let mut seen = std::collections::BTreeSet::new();
    let kinds: Vec<ErrorKind> = uses
        .iter()
        .filter(|(name, _)| !params.contains_key(name) && seen.insert(name.clone()))
        .map(|(name, span)| ErrorKind::UnboundParam {
            name: name.clone(),
            span: *span,
        })
        .collect();
    QueryError::many(kinds)
}

/// Checks, before anything runs, that every `$param` of the script is bound
/// and that each value parses as what it stands for (a time or a duration).
/// Reports every problem at once, each at its first use.
///
/// ```
/// use rollcall_query::{Params, check_params, parse_script};
/// let script = parse_script("FAILURES FROM $from TO $to EVERY 1d")?;
/// let err = check_params(&script, &Params::new()).unwrap_err();
/// assert_eq!(err.kinds().count(), 2);
/// assert_eq!(err.exit_code(), 2);
/// let params = Params::from([("from".into(), "2026-10-01".into()), ("to".into(), "NOW".into())]);
/// assert!(check_params(&script, &params).is_ok());
/// # Ok::<(), rollcall_query::QueryError>(())
/// ```
pub fn check_params(script: &Script, params: &Params) -> Result<(), QueryError> {
    let mut uses = Vec::new();
    let mut kinds = Vec::new();
    for s in &script.statements {
        let mut times = Vec::new();
        s.statement.for_each_time(&mut |t| {
            if let syntax::TimeBase::Param(p) = &t.base.value {
                times.push((p.clone(), t.base.span));
            }
        });
        let mut durations = Vec::new();
        s.statement.for_each_duration(&mut |d| {
            if let syntax::DurationValue::Param(p) = &d.value {
                durations.push((p.clone(), d.span));
            }
        });
        for (name, span) in &times {
            if let Some(text) = params.get(name)
                && let Err(why) = syntax::parse_time_value(text)
            {
                kinds.push((
                    span.start,
                    ErrorKind::Invalid {
                        span: *span,
                        message: format!("parameter ${name} = {text:?} is not a time: {why}"),
                        help: Some(
                            "pass a time such as --param from=2026-10-01 or --param from=\"NOW - 7d\""
                                .to_owned(),
                        ),
                    },
                ));
            }
        }
        for (name, span) in &durations {
            if let Some(text) = params.get(name)
                && let Err(why) = syntax::parse_duration_value(text)
            {
                kinds.push((
                    span.start,
                    ErrorKind::Invalid {
                        span: *span,
                        message: format!("parameter ${name} = {text:?} is not a duration: {why}"),
                        help: Some("pass a duration such as --param step=1h".to_owned()),
                    },
                ));
            }
        }
        uses.extend(times);
        uses.extend(durations);
    }
    uses.sort_by_key(|(_, span)| span.start);
    if let Some(e) = unbound(&uses, params) {
        for k in e.kinds() {
            if let ErrorKind::UnboundParam { name, span } = k {
                kinds.push((
                    span.start,
                    ErrorKind::UnboundParam {
                        name: name.clone(),
                        span: *span,
                    },
                ));
            }
        }
    }
    kinds.sort_by_key(|(at, _)| *at);
    match QueryError::many(kinds.into_iter().map(|(_, k)| k).collect()) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Runs one statement on a snapshot: binds parameters (an unbound one is an
/// error before anything runs), checks ranges, resolves names, calls the
/// engine, and returns the result table.
///
/// ```
/// use rollcall_engine::{Batch, Change, Options, State, Store, Timestamp};
/// use rollcall_query::{ExecOptions, Value, execute, parse_script};
///
/// let dir = tempfile::tempdir()?;
/// let mut store = Store::create(dir.path(), Options::default())?;
/// let mut batch = Batch::new();
/// batch.push_membership(Timestamp(0), "PC-1", "All Desktops", Change::Join)?;
/// batch.push_transition(Timestamp(1_000), "PC-1", "production", State::Failed, None)?;
/// store.append(&batch)?;
///
/// let script = parse_script("STATES IN \"All Desktops\" AT NOW")?;
/// let opts = ExecOptions::new(Timestamp(5_000));
/// let table = execute(&store.snapshot(), &script.statements[0].statement, &opts)?;
/// assert_eq!(table.columns[5], "Failed");
/// assert_eq!(table.rows[0][5], Value::Count(1));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn execute(snapshot: &Snapshot, statement: &Statement, opts: &ExecOptions) -> Result<Table, QueryError> {
    let snap = match &opts.cancel {
        Some(flag) => {
            if flag.load(Ordering::Relaxed) {
                return Err(QueryError::new(ErrorKind::Cancelled));
            }
            snapshot.with_cancel_flag(flag.clone())
        }
        None => snapshot.fork(),
    };
    let plan = plan::plan(&snap, statement, opts)?;
    match plan {
        Plan::Explain(inner) => {
            let inner_statement = match statement {
                Statement::Explain(s) => s.as_ref(),
                other => other,
            };
            explain(&snap, &inner, inner_statement)
        }
        plan => run(&snap, &plan),
    }
}

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

fn collection_id(c: &Option<Collection>) -> Option<rollcall_engine::CollectionId> {
    c.as_ref().map(|c| c.id)
}

fn run(snap: &Snapshot, plan: &Plan) -> Result<Table, QueryError> {
    let mut t = Table::default();
    match plan {
        Plan::StatesAt {
            deployment,
            collection,
            at,
            stale_after,
        } => {
            let counts = snap.state_counts(deployment.id, collection_id(collection), *at, *stale_after)?;
            t.columns = state_columns(&["time"]);
            t.chart = Chart::States;
            let mut row = vec![Value::Time(*at)];
            count_values(&mut row, &counts);
            t.rows.push(row);
        }
        Plan::StatesSeries {
            deployment,
            collection,
            steps,
            stale_after,
        } => {
            let series = snap.state_series(
                deployment.id,
                collection_id(collection),
                steps.from,
                steps.to,
                steps.every,
                *stale_after,
            )?;
            t.columns = state_columns(&["time"]);
            t.chart = Chart::States;
            for (time, counts) in series {
                let mut row = vec![Value::Time(time)];
                count_values(&mut row, &counts);
                t.rows.push(row);
            }
        }
        Plan::StatesByCollection {
            deployment,
            at,
            stale_after,
        } => {
            t.chart = Chart::States;
            match at {
                Ok(at) => {
                    t.columns = state_columns(&["collection"]);
                    for (name, counts) in snap.state_counts_by_collection(deployment.id, *at, *stale_after)? {
                        let mut row = vec![Value::Text(name)];
                        count_values(&mut row, &counts);
                        t.rows.push(row);
                    }
                }
                Err(steps) => {
                    t.columns = state_columns(&["time", "collection"]);
                    for time in steps.points() {
                        for (name, counts) in
                            snap.state_counts_by_collection(deployment.id, time, *stale_after)?
                        {
                            let mut row = vec![Value::Time(time), Value::Text(name)];
                            count_values(&mut row, &counts);
                            t.rows.push(row);
                        }
                    }
                }
            }
        }
        Plan::Failures {
            deployment,
            collection,
            steps,
            by_error,
        } => {
            t.chart = Chart::Failures;
            let c = collection_id(collection);
            if *by_error {
                t.columns = vec!["bucket".into(), "error".into(), "failures".into()];
                for b in
                    snap.failure_histogram_by_error(deployment.id, c, steps.from, steps.to, steps.every)?
                {
                    t.rows.push(vec![
                        Value::Time(b.bucket),
                        Value::Error(b.error),
                        Value::Count(b.failures),
                    ]);
                }
            } else {
                t.columns = vec!["bucket".into(), "failures".into()];
                for (bucket, n) in
                    snap.failure_histogram(deployment.id, c, steps.from, steps.to, steps.every)?
                {
                    t.rows.push(vec![Value::Time(bucket), Value::Count(n)]);
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
            t.columns = vec!["client".into(), "state".into(), "since".into()];
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
                    r.since.map_or(Value::Null, Value::Time),
                ]);
            }
        }
        Plan::History {
            client,
            deployment,
            range,
        } => {
            t.columns = vec!["time".into(), "deployment".into(), "state".into(), "error".into()];
            for r in snap.client_history(client.0, deployment.as_ref().map(|d| d.id), *range)? {
                t.rows.push(vec![
                    Value::Time(r.time),
                    Value::Text(r.deployment),
                    Value::State(r.state),
                    Value::Error(r.error),
                ]);
            }
        }
        Plan::ShowCollections => {
            t.columns = vec!["collection".into()];
            t.rows = snap
                .collections()
                .into_iter()
                .map(|c| vec![Value::Text(c)])
                .collect();
        }
        Plan::ShowDeployments => {
            t.columns = vec!["deployment".into()];
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
            t.columns = vec!["error".into(), "transitions".into()];
            for (code, n) in snap.error_counts(deployment.id, collection_id(collection), *from, *to)? {
                t.rows.push(vec![Value::Error(Some(code)), Value::Count(n)]);
            }
        }
        Plan::ShowStats => {
            let s = snap.stats();
            t.columns = vec!["name".into(), "value".into()];
            let (first, last) = match s.time_range {
                Some((a, b)) => (Value::Time(a), Value::Time(b)),
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
                ("bytes_on_disk", Value::Count(s.bytes_on_disk)),
                ("first_transition", first),
                ("last_transition", last),
            ] {
                t.rows.push(vec![Value::Text(name.to_owned()), value]);
            }
        }
        Plan::Explain(inner) => return run(snap, inner),
    }
    Ok(t)
}

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
        rows.push(("every", text(syntax::Duration(s.every).to_string())));
        rows.push((unit, Value::Count(s.count)));
    };
    match plan {
        Plan::StatesAt {
            deployment,
            collection,
            at,
            stale_after,
        } => {
            rows.push(("engine_call", text("state_counts")));
            rows.push(("deployment", dep(deployment)));
            rows.push(("collection", coll(collection)));
            rows.push(("at", Value::Time(*at)));
            rows.push(("stale_after", stale(stale_after)));
        }
        Plan::StatesSeries {
            deployment,
            collection,
            steps: s,
            stale_after,
        } => {
            rows.push(("engine_call", text("state_series")));
            rows.push(("deployment", dep(deployment)));
            rows.push(("collection", coll(collection)));
            steps(rows, s, "points");
            rows.push(("stale_after", stale(stale_after)));
        }
        Plan::StatesByCollection {
            deployment,
            at,
            stale_after,
        } => {
            rows.push(("engine_call", text("state_counts_by_collection")));
            rows.push(("deployment", dep(deployment)));
            rows.push(("collection", text("(every collection)")));
            match at {
                Ok(at) => rows.push(("at", Value::Time(*at))),
                Err(s) => steps(rows, s, "points"),
            }
            rows.push(("stale_after", stale(stale_after)));
        }
        Plan::Failures {
            deployment,
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
            rows.push(("deployment", dep(deployment)));
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
fn explain(snap: &Snapshot, plan: &Plan, statement: &Statement) -> Result<Table, QueryError> {
    let mut rows: Vec<(&'static str, Value)> = vec![("statement", text(statement.to_string()))];
    describe(plan, &mut rows);
    let handle = snap.fork();
    let started = Instant::now();
    let result = run(&handle, plan)?;
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
    })
}
