//! Running a plan: one call to the engine's typed query for each statement
//! (no second query path, no SQL-ish string building), its answer turned
//! into a [`Table`] with SPEC.md section 4's columns.
//!
//! Invariants: `exec` never reads the clock for query semantics (`NOW` is
//! [`ExecOptions::now`]; `EXPLAIN` only measures elapsed time with
//! `Instant`); every statement runs on a handle with its own work counters
//! and the caller's cancel flag.

mod explain;
mod grid;
mod run;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use rollcall_engine::{Snapshot, Timestamp};

use crate::error::{ErrorKind, QueryError};
use crate::plan::{self, Plan};
use crate::result::Table;
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
    for s in &script.statements {
        s.statement.for_each_time(&mut |t| {
            if let syntax::TimeBase::Param(p) = &t.base.value {
                uses.push((p.clone(), t.base.span, true));
            }
        });
        s.statement.for_each_duration(&mut |d| {
            if let syntax::DurationValue::Param(p) = &d.value {
                uses.push((p.clone(), d.span, false));
            }
        });
    }
    uses.sort_by_key(|(_, span, _)| span.start);
    // A bad value is one mistake, on the command line: reported once, at
    // its first use, however often the script uses it.
    let mut kinds = Vec::new();
    let mut reported = std::collections::BTreeSet::new();
    for (name, span, is_time) in &uses {
        let Some(text) = params.get(name) else { continue };
        let why = if *is_time {
            syntax::parse_time_value(text).err()
        } else {
            syntax::parse_duration_value(text).err()
        };
        let Some(why) = why else { continue };
        if !reported.insert((name.clone(), *is_time)) {
            continue;
        }
        let count = uses.iter().filter(|(n, _, t)| n == name && t == is_time).count();
        let used = match count {
            1 => "used here".to_owned(),
            n => format!("used {n} times, first here"),
        };
        let (what, example) = if *is_time {
            ("a time", "--param from=2026-10-01 or --param from=\"NOW - 7d\"")
        } else {
            ("a duration", "--param step=1h")
        };
        kinds.push((
            span.start,
            ErrorKind::Invalid {
                span: *span,
                message: format!("--param {name}={text:?} is not {what} ({used}): {why}"),
                help: Some(format!("pass {what} such as {example}")),
            },
        ));
    }
    let uses: Vec<(String, Span)> = uses.into_iter().map(|(n, s, _)| (n, s)).collect();
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
    let (plan, ctx) = plan::plan(&snap, statement, opts)?;
    let mut notes = Vec::new();
    let snap = match ctx.known_at {
        Some(t) => {
            if snap.has_untimed_data() {
                notes.push(format!(
                    "note: part of this store was committed without a recorded commit time; AS KNOWN AT {t} counts it as known from the next recorded commit on"
                ));
            }
            snap.as_known_at(t)
        }
        None => snap,
    };
    let mut table = match plan {
        Plan::Explain(inner) => {
            let inner_statement = match statement {
                Statement::Explain(s) => s.as_ref(),
                other => other,
            };
            explain::explain(&snap, &inner, inner_statement, &ctx)?
        }
        plan => run::run(
            &snap,
            &plan,
            run::TimeOut {
                zone: ctx.zone.as_ref(),
            },
        )?,
    };
    table.notes = notes;
    Ok(table)
}
