//! RQL to SQL: one statement becomes one SQL query over the Parquet layout
//! that `rollcall export --format parquet` writes (see `docs/scale-out.md`),
//! for DuckDB or ClickHouse, returning exactly the rows rollcall returns:
//! the same columns in the same order, times as RFC 3339 UTC text (`.sss`
//! only when the milliseconds are not zero), error codes as `0x%08x` or
//! NULL, counts as integers, rows in rollcall's order.
//!
//! ```text
//! Statement ──bind──> Bound (times evaluated, names as text) ──build──> CTEs + final SELECT ──render──> SQL text
//! ```
//!
//! What this module owns: binding (`NOW` and `$params` resolved at
//! translation time, the same checks as `plan`), the optional name check
//! against a store, and the semantics written as named CTEs, one per step
//! (`latest_state`, `members_at`, `effective_state`...). The two dialects
//! (`duckdb.rs`, `clickhouse.rs`) only spell the few primitives that differ
//! (literals, table functions, `arg_max`, conditional counts, integer
//! division, ranges, time and error formatting).
//!
//! Layout: `mod.rs` (here) is the entry point (options, the `--` header,
//! the dispatch per statement kind); `binding.rs` evaluates times and checks
//! names; `dialect.rs` holds every dialect difference (the [`Dialect`] enum,
//! the `Sql` primitives trait, the export `Source`) with `duckdb.rs` and
//! `clickhouse.rs` spelling the primitives; `cte.rs` is the query under
//! construction and the CTE steps statements share; `states.rs`,
//! `failures.rs`, `clients.rs` and `rollout.rs` write one statement family
//! each (`STATES` incl. `BY COLLECTION` and `GATE`; `FAILURES`; `CLIENTS`
//! and `HISTORY`; `FLOW` and `DURATIONS`); `cte::several` puts several
//! deployments side by side. `TIME ZONE` reads local times in the zone,
//! lists calendar points that are not a uniform grid, and prints times
//! through [`dialect::Zoned`]; `AS KNOWN AT` filters the two source CTEs on
//! the export's `committed_ms`.
//!
//! Invariants:
//! * the SQL follows the engine's semantics (`engine/src/snapshot/`): the
//!   latest `(time_ms, seq)` wins; "all clients" is every client with a
//!   transition for the deployment or any membership change at or before
//!   `T`; `STALE AFTER` is strict (`since < T - d`); a failure counts when
//!   its client was a member at the failure's own millisecond (membership
//!   changes of that millisecond included);
//! * every literal that reaches the SQL is escaped by the dialect; names
//!   never become identifiers;
//! * translation never reads the clock or the file system: `NOW` comes in
//!   [`TranslateOptions::now`], names are checked only against the snapshot
//!   the caller passes (none: no check, the SQL simply finds no rows);
//! * `SHOW` and `EXPLAIN` have no translation (they describe the store, not
//!   the data), and are refused with a diagnostic.

mod binding;
mod clickhouse;
mod clients;
mod cte;
mod dialect;
mod duckdb;
mod failures;
mod rollout;
mod states;

use std::fmt::Write as _;

use rollcall_engine::{Snapshot, Timestamp};

#[cfg(test)]
use crate::error::ErrorKind;
use crate::error::QueryError;
use crate::exec::Params;
use crate::syntax::{self, ScriptStatement, Span, TimeBase};
use binding::{Binder, Bound};
use cte::Query;
pub use dialect::Dialect;
use dialect::{Source, Sql};

/// What a translation needs besides the statement.
#[derive(Clone, Debug)]
pub struct TranslateOptions {
    /// The dialect to write.
    pub dialect: Dialect,
    /// Where the export lives: a local directory, or (ClickHouse: read with
    /// `s3(...)`) an object-store URL such as `s3://bucket/fleet`. `None`
    /// reads the layout relative to the working directory of the SQL engine
    /// (`transitions/*/*.parquet`).
    pub source: Option<String>,
    /// The time `NOW` stands for (resolved at translation time).
    pub now: Timestamp,
    /// `$name` values, as for `rollcall run`.
    pub params: Params,
}

impl TranslateOptions {
    /// Options for `dialect` with `NOW` fixed, no source and no parameters.
    pub fn new(dialect: Dialect, now: Timestamp) -> TranslateOptions {
        TranslateOptions {
            dialect,
            source: None,
            now,
            params: Params::new(),
        }
    }
}

/// Translates one statement of a script into one SQL query (ending with
/// `;`, headed by `--` comments naming the RQL, `NOW` and the parameters it
/// was translated with).
///
/// With `store`, unknown collections, deployments and clients are errors
/// that suggest the closest known name, as when the statement runs; without
/// one the statement is translated as written.
///
/// ```
/// use rollcall_engine::Timestamp;
/// use rollcall_query::parse_script;
/// use rollcall_query::translate::{Dialect, TranslateOptions, translate};
///
/// let script = parse_script("STATES IN \"All Desktops\" AT 2026-11-01T12:00:00Z")?;
/// let opts = TranslateOptions::new(Dialect::DuckDb, Timestamp(0));
/// let sql = translate(&script.statements[0], &opts, None)?;
/// assert!(sql.contains("members_at AS ("));
/// assert!(sql.contains("read_parquet('memberships/*/*.parquet')"));
/// assert!(sql.contains("'2026-11-01T12:00:00Z' AS \"time\""));
/// # Ok::<(), rollcall_query::QueryError>(())
/// ```
pub fn translate(
    statement: &ScriptStatement,
    opts: &TranslateOptions,
    store: Option<&Snapshot>,
) -> Result<String, QueryError> {
    let mut uses = Vec::new();
    syntax::statement_params(&statement.statement, &mut uses);
    uses.sort_by_key(|(_, span)| span.start);
    if let Some(e) = crate::exec::unbound(&uses, &opts.params) {
        return Err(e);
    }
    let zone = binding::statement_zone(&statement.statement)?;
    let binder = Binder {
        opts,
        store,
        zone: zone.as_ref(),
    };
    let whole = Span::from(statement.span.clone());
    let bound = binder.statement(&statement.statement, whole)?;
    let known_at = binder.known_at(&statement.statement)?;
    let zoned = zone.map(|zone| dialect::Zoned {
        inner: opts.dialect.sql(),
        zone,
    });
    let sql: &dyn Sql = match &zoned {
        Some(z) => z,
        None => opts.dialect.sql(),
    };
    let mut source = Source::new(opts.source.as_deref());
    source.known_at = known_at;
    let query = build(sql, &source, &bound);
    let mut out = String::new();
    header(&mut out, statement, opts, &uses);
    out.push_str(&query.render(sql));
    Ok(out)
}

fn header(out: &mut String, statement: &ScriptStatement, opts: &TranslateOptions, uses: &[(String, Span)]) {
    let one_line = |text: &str| -> String {
        text.chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect()
    };
    let _ = writeln!(out, "-- rollcall translate --dialect {}", opts.dialect.name());
    if let Some(name) = &statement.name {
        let _ = writeln!(out, "-- name: {}", one_line(name));
    }
    let _ = writeln!(out, "-- RQL: {}", one_line(&statement.statement.to_string()));
    let mut uses_now = false;
    statement.statement.for_each_time(&mut |t| {
        uses_now |= matches!(t.base.value, TimeBase::Now);
    });
    let mut bound: Vec<String> = Vec::new();
    for (name, _) in uses {
        if let Some(v) = opts.params.get(name) {
            uses_now |= v.to_ascii_uppercase().contains("NOW");
            let item = format!("${name} = {}", one_line(v));
            if !bound.contains(&item) {
                bound.push(item);
            }
        }
    }
    if uses_now {
        let _ = writeln!(out, "-- NOW = {}", opts.now);
    }
    if !bound.is_empty() {
        let _ = writeln!(out, "-- with {}", bound.join(", "));
    }
}

/// The query of a bound statement: one family file per statement kind.
fn build(sql: &dyn Sql, source: &Source, bound: &Bound) -> Query {
    match bound {
        Bound::StatesAt {
            deployment,
            population,
            at,
            stale_after,
        } => states::states_at(sql, source, deployment, population, *at, *stale_after),
        Bound::StatesSeries {
            deployment,
            population,
            steps,
            stale_after,
        } => states::states_series(sql, source, deployment, population, steps, *stale_after),
        Bound::ByCollectionAt {
            deployment,
            at,
            stale_after,
        } => states::by_collection_at(sql, source, deployment, *at, *stale_after),
        Bound::ByCollectionSeries {
            deployment,
            steps,
            stale_after,
        } => states::by_collection_series(sql, source, deployment, steps, *stale_after),
        Bound::Failures {
            deployment,
            population,
            steps,
            by_error,
        } => failures::failures(sql, source, deployment, population, steps, *by_error),
        Bound::Clients {
            deployment,
            population,
            at,
            states,
            limit,
        } => clients::clients(
            sql,
            source,
            deployment,
            population,
            *at,
            states.as_deref(),
            *limit,
        ),
        Bound::History {
            client,
            deployment,
            range,
        } => clients::history(sql, source, client, deployment.as_deref(), *range),
        Bound::Gate {
            deployment,
            population,
            at,
            stale_after,
            conditions,
        } => states::gate(sql, source, deployment, population, *at, *stale_after, conditions),
        Bound::Flow {
            deployment,
            population,
            from,
            to,
        } => rollout::flow(sql, source, deployment, population, *from, *to),
        Bound::Durations {
            deployment,
            population,
            from,
            to,
            since,
            until,
        } => rollout::durations(sql, source, deployment, population, (*from, *to), *since, *until),
        Bound::Several { parts, columns } => cte::several(
            sql,
            parts
                .iter()
                .map(|(d, b)| (d.clone(), build(sql, source, b)))
                .collect(),
            columns,
        ),
    }
}

#[cfg(test)]
mod tests;
