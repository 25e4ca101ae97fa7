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
//! Invariants:
//! * the SQL follows the engine's semantics (`engine/src/snapshot.rs`): the
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

mod clickhouse;
mod duckdb;

use std::fmt::Write as _;

use rollcall_engine::{Snapshot, State, Timestamp, limits};

use crate::bind::Bindings;
use crate::error::{ErrorKind, NameKind, QueryError};
use crate::exec::Params;
use crate::plan::MAX_SERIES_ROWS;
use crate::suggest::{self, Suggester};
use crate::syntax::{
    self, DurationExpr, Name, Scope, ScriptStatement, Span, Statement, TimeBase, TimeExpr, When,
};

/// The SQL dialect to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// DuckDB (`read_parquet`, `arg_max`, `FILTER`, `ASOF JOIN`).
    DuckDb,
    /// ClickHouse (`file`/`s3` table functions, `argMax`, `countIf`,
    /// `ASOF JOIN`, `SETTINGS join_use_nulls = 1`).
    ClickHouse,
}

impl Dialect {
    /// `duckdb` or `clickhouse`.
    pub fn name(self) -> &'static str {
        match self {
            Dialect::DuckDb => "duckdb",
            Dialect::ClickHouse => "clickhouse",
        }
    }

    fn sql(self) -> &'static dyn Sql {
        match self {
            Dialect::DuckDb => &duckdb::DuckDb,
            Dialect::ClickHouse => &clickhouse::ClickHouse,
        }
    }
}

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
    let binder = Binder { opts, store };
    let whole = Span::from(statement.span.clone());
    let bound = binder.statement(&statement.statement, whole)?;
    let sql = opts.dialect.sql();
    let source = Source::new(opts.source.as_deref());
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

// ----- binding -----------------------------------------------------------------

/// A half-open range of points `from + k*every < to`, `count` of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Steps {
    from: i64,
    to: i64,
    every: i64,
    count: u64,
}

impl Steps {
    fn last(&self) -> i64 {
        self.from + (self.count as i64 - 1) * self.every
    }
}

/// Which clients a statement looks at.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Population {
    /// Every client with a transition for the deployment or a membership
    /// change at or before the time.
    All,
    /// Members of a collection at the time.
    In(String),
}

/// A statement with every time evaluated and every name as text.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Bound {
    StatesAt {
        deployment: String,
        population: Population,
        at: i64,
        stale_after: Option<i64>,
    },
    StatesSeries {
        deployment: String,
        population: Population,
        steps: Steps,
        stale_after: Option<i64>,
    },
    ByCollectionAt {
        deployment: String,
        at: i64,
        stale_after: Option<i64>,
    },
    ByCollectionSeries {
        deployment: String,
        steps: Steps,
        stale_after: Option<i64>,
    },
    Failures {
        deployment: String,
        population: Population,
        steps: Steps,
        by_error: bool,
    },
    Clients {
        deployment: String,
        population: Population,
        at: i64,
        states: Option<Vec<State>>,
        limit: Option<u32>,
    },
    History {
        client: String,
        deployment: Option<String>,
        range: Option<(i64, i64)>,
    },
}

/// The one deployment of a `FOR` list (none: the default).
fn single(list: &[Name], whole: Span) -> Result<Option<&Name>, QueryError> {
    match list {
        [] => Ok(None),
        [one] => Ok(Some(one)),
        _ => Err(QueryError::invalid(
            whole,
            "several deployments in FOR have no SQL translation yet",
            Some("translate one deployment at a time".to_owned()),
        )),
    }
}

/// Evaluates times and checks names. The time rules are those of
/// `plan.rs` (a unit test holds the two to the same answers).
struct Binder<'a> {
    opts: &'a TranslateOptions,
    store: Option<&'a Snapshot>,
}

impl Binder<'_> {
    fn statement(&self, statement: &Statement, whole: Span) -> Result<Bound, QueryError> {
        if statement.tail().is_some_and(|t| !t.is_empty()) {
            return Err(QueryError::invalid(
                whole,
                "TIME ZONE and AS KNOWN AT have no SQL translation yet",
                Some("run the statement with `rollcall query`".to_owned()),
            ));
        }
        match statement {
            Statement::States(s) => {
                let stale_after = s.stale_after.as_ref().map(|d| self.duration(d)).transpose()?;
                let when = match &s.when {
                    When::At(t) => Ok(self.time(t)?),
                    When::Series(se) => Err(self.steps(&se.from, &se.to, Some(&se.every))?),
                };
                let deployment = self.deployment(single(&s.deployments, whole)?)?;
                match (&s.scope, when) {
                    (Scope::ByCollection, Ok(at)) => Ok(Bound::ByCollectionAt {
                        deployment,
                        at,
                        stale_after,
                    }),
                    (Scope::ByCollection, Err(steps)) => {
                        if let Some(store) = self.store {
                            let collections = store.collections().len() as u64;
                            let rows = steps.count.saturating_mul(collections);
                            if rows > MAX_SERIES_ROWS {
                                return Err(QueryError::invalid(
                                    whole,
                                    format!(
                                        "the series has {} points for each of {collections} collections, {rows} rows; the limit is {MAX_SERIES_ROWS}",
                                        steps.count
                                    ),
                                    Some("widen EVERY or narrow the range".to_owned()),
                                ));
                            }
                        }
                        Ok(Bound::ByCollectionSeries {
                            deployment,
                            steps,
                            stale_after,
                        })
                    }
                    (scope, when) => {
                        let population = match scope {
                            Scope::In(c) => Population::In(self.collection(c)?),
                            _ => Population::All,
                        };
                        Ok(match when {
                            Ok(at) => Bound::StatesAt {
                                deployment,
                                population,
                                at,
                                stale_after,
                            },
                            Err(steps) => Bound::StatesSeries {
                                deployment,
                                population,
                                steps,
                                stale_after,
                            },
                        })
                    }
                }
            }
            Statement::Failures(f) => {
                let steps = self.steps(&f.series.from, &f.series.to, Some(&f.series.every))?;
                let deployment = self.deployment(single(&f.deployments, whole)?)?;
                let population = match &f.collection {
                    Some(c) => Population::In(self.collection(c)?),
                    None => Population::All,
                };
                Ok(Bound::Failures {
                    deployment,
                    population,
                    steps,
                    by_error: f.by_error,
                })
            }
            Statement::Clients(c) => {
                let at = self.time(&c.at)?;
                let states = c.filter.as_ref().map(|f| {
                    let mut v = f.states();
                    v.sort();
                    v.dedup();
                    v
                });
                let deployment = self.deployment(c.deployment.as_ref())?;
                let population = match &c.collection {
                    Some(n) => Population::In(self.collection(n)?),
                    None => Population::All,
                };
                Ok(Bound::Clients {
                    deployment,
                    population,
                    at,
                    states,
                    limit: c.limit.as_ref().map(|l| l.value),
                })
            }
            Statement::History(h) => {
                let range = match &h.range {
                    Some(r) => {
                        let s = self.steps(&r.from, &r.to, None)?;
                        Some((s.from, s.to))
                    }
                    None => None,
                };
                let deployment = match &h.deployment {
                    Some(d) => Some(self.deployment(Some(d))?),
                    None => None,
                };
                let client = self.client(&h.client)?;
                Ok(Bound::History {
                    client,
                    deployment,
                    range,
                })
            }
            Statement::Flow(_) | Statement::Durations(_) | Statement::Gate(_) => Err(QueryError::invalid(
                whole,
                "FLOW, DURATIONS and GATE have no SQL translation yet",
                Some("run them with `rollcall query`".to_owned()),
            )),
            Statement::Show(_) | Statement::Explain(_) => Err(QueryError::invalid(
                whole,
                "SHOW and EXPLAIN have no SQL translation: they describe the store, not the exported data",
                Some(
                    "run them with `rollcall query`; translate STATES, FAILURES, CLIENTS and HISTORY"
                        .to_owned(),
                ),
            )),
        }
    }

    fn bindings(&self) -> Bindings<'_> {
        Bindings {
            params: &self.opts.params,
            now: self.opts.now,
            zone: None,
        }
    }

    fn duration(&self, d: &DurationExpr) -> Result<i64, QueryError> {
        self.bindings().duration(d)
    }

    fn time(&self, t: &TimeExpr) -> Result<i64, QueryError> {
        self.bindings().time(t).map(|t| t.0)
    }

    /// `FROM a TO b [EVERY w]`, checked and counted as `plan` does (a plain
    /// range is one step as wide as the range).
    fn steps(
        &self,
        from: &TimeExpr,
        to: &TimeExpr,
        every: Option<&DurationExpr>,
    ) -> Result<Steps, QueryError> {
        let Some(every) = every else {
            let (a, b) = self.bindings().range(from, to)?;
            return Ok(Steps {
                from: a.0,
                to: b.0,
                every: b.0.saturating_sub(a.0),
                count: 1,
            });
        };
        let s = self.bindings().steps(from, to, every)?;
        let Some(w) = s.uniform() else {
            return Err(QueryError::invalid(
                from.span().to(every.span),
                "calendar steps (months) have no SQL translation yet",
                Some("use an exact step such as EVERY 1d".to_owned()),
            ));
        };
        Ok(Steps {
            from: s.from.0,
            to: s.to.0,
            every: w,
            count: s.count(),
        })
    }

    fn deployment(&self, name: Option<&Name>) -> Result<String, QueryError> {
        let Some(name) = name else {
            return Ok(limits::DEFAULT_DEPLOYMENT.to_owned());
        };
        let Some(store) = self.store else {
            return Ok(name.value.clone());
        };
        if store.deployment_id(&name.value).is_some() || name.value == limits::DEFAULT_DEPLOYMENT {
            return Ok(name.value.clone());
        }
        let mut known = store.deployments();
        if !known.iter().any(|d| d == limits::DEFAULT_DEPLOYMENT) {
            known.push(limits::DEFAULT_DEPLOYMENT.to_owned());
        }
        Err(unknown(
            NameKind::Deployment,
            name,
            suggest::closest(&name.value, known.iter().map(String::as_str)),
        ))
    }

    fn collection(&self, name: &Name) -> Result<String, QueryError> {
        match self.store {
            Some(store) if store.collection_id(&name.value).is_none() => {
                let known = store.collections();
                Err(unknown(
                    NameKind::Collection,
                    name,
                    suggest::closest(&name.value, known.iter().map(String::as_str)),
                ))
            }
            _ => Ok(name.value.clone()),
        }
    }

    fn client(&self, name: &Name) -> Result<String, QueryError> {
        match self.store {
            Some(store) if store.client_id(&name.value).is_none() => {
                let mut s = Suggester::new(&name.value);
                store.for_each_client_name(|_, n| s.offer(n));
                Err(unknown(NameKind::Client, name, s.finish()))
            }
            _ => Ok(name.value.clone()),
        }
    }
}

fn unknown(kind: NameKind, name: &Name, suggestion: Option<String>) -> QueryError {
    QueryError::new(ErrorKind::UnknownName {
        kind,
        name: name.value.clone(),
        span: name.span,
        suggestion,
    })
}

// ----- dialects ----------------------------------------------------------------

/// Where the SQL reads the export from.
#[derive(Clone, Debug)]
pub(crate) struct Source {
    /// The prefix before `transitions/...` (empty: relative paths), without
    /// a trailing `/`.
    prefix: String,
    /// True for `scheme://` locations (object stores, HTTP).
    remote: bool,
}

impl Source {
    fn new(source: Option<&str>) -> Source {
        let prefix = source.unwrap_or("").trim_end_matches('/').to_owned();
        Source {
            remote: prefix.contains("://"),
            prefix,
        }
    }

    /// The glob of every part file of `table`.
    pub(crate) fn glob(&self, table: &str) -> String {
        if self.prefix.is_empty() {
            format!("{table}/*/*.parquet")
        } else {
            format!("{}/{table}/*/*.parquet", self.prefix)
        }
    }

    pub(crate) fn is_remote(&self) -> bool {
        self.remote
    }
}

/// The primitives whose spelling differs between dialects. Every argument
/// is an SQL expression; every result is one.
pub(crate) trait Sql: Sync {
    /// A string literal.
    fn string(&self, text: &str) -> String;
    /// The table expression reading every part file of `table`.
    fn read(&self, source: &Source, table: &str) -> String;
    /// The value of `value` on the row with the greatest `key`.
    fn arg_max(&self, value: &str, key: &str) -> String;
    /// The number of rows where `cond` holds.
    fn count_if(&self, cond: &str) -> String;
    /// `a / b` rounded down, for `a >= 0` and `b > 0`, as the type of a
    /// point index.
    fn index_div(&self, a: &str, b: &str) -> String;
    /// The body of a relation of the points `k` in `0..n` with their times
    /// `t_ms = from + k * every`.
    fn points(&self, n: u64, from: i64, every: i64) -> String;
    /// One row per value of `lo..hi` (an expression for a SELECT list).
    fn unnest_range(&self, lo: &str, hi: &str) -> String;
    /// The next row's `value` within `partition`, ordered by `order`; NULL
    /// on the last row.
    fn next_value(&self, value: &str, partition: &str, order: &str) -> String;
    /// Epoch milliseconds as rollcall prints times.
    fn format_time(&self, ms: &str) -> String;
    /// An error code (or NULL) as rollcall prints it (or NULL).
    fn format_error(&self, code: &str) -> String;
    /// What ends the query (settings), without the `;`.
    fn trailer(&self) -> &'static str;
}

// ----- building ----------------------------------------------------------------

/// One named step.
struct Cte {
    name: &'static str,
    comment: String,
    body: String,
}

/// A query: named steps, then the final SELECT.
struct Query {
    ctes: Vec<Cte>,
    select: String,
}

impl Query {
    fn new() -> Query {
        Query {
            ctes: Vec::new(),
            select: String::new(),
        }
    }

    fn cte(&mut self, name: &'static str, comment: impl Into<String>, body: impl Into<String>) {
        self.ctes.push(Cte {
            name,
            comment: comment.into(),
            body: body.into(),
        });
    }

    fn render(&self, sql: &dyn Sql) -> String {
        let mut out = String::new();
        for (i, c) in self.ctes.iter().enumerate() {
            out.push_str(if i == 0 { "WITH\n" } else { ",\n" });
            for line in c.comment.lines() {
                let _ = writeln!(out, "-- {line}");
            }
            let _ = writeln!(out, "{} AS (", c.name);
            for line in c.body.lines() {
                let _ = writeln!(out, "    {line}");
            }
            out.push(')');
        }
        if !self.ctes.is_empty() {
            out.push('\n');
        }
        out.push_str(self.select.trim_end());
        let trailer = sql.trailer();
        if !trailer.is_empty() {
            out.push('\n');
            out.push_str(trailer);
        }
        out.push_str(";\n");
        out
    }
}

const STATE_NAMES: [&str; 6] = [
    "NotStarted",
    "Compliant",
    "InProgress",
    "NonCompliant",
    "Failed",
    "Unknown",
];

/// The six per-state counts and the total over `column`, as SELECT items.
fn count_columns(sql: &dyn Sql, column: &str) -> String {
    let mut out = String::new();
    for s in STATE_NAMES {
        let _ = writeln!(
            out,
            "    {} AS \"{s}\",",
            sql.count_if(&format!("{column} = '{s}'"))
        );
    }
    out.push_str("    count(*) AS \"total\"");
    out
}

/// The per-state counts of `alias`, zero where it has no row, as SELECT items.
fn coalesced_counts(alias: &str) -> String {
    let mut out = String::new();
    for s in STATE_NAMES {
        let _ = writeln!(out, "    coalesce({alias}.\"{s}\", 0) AS \"{s}\",");
    }
    let _ = write!(out, "    coalesce({alias}.\"total\", 0) AS \"total\"");
    out
}

fn add_sources(q: &mut Query, sql: &dyn Sql, source: &Source, transitions: bool, memberships: bool) {
    if transitions {
        q.cte(
            "transitions",
            "every exported transition (one row per stored transition, duplicates already dropped)",
            format!(
                "SELECT time_ms, seq, client, deployment, state, error\nFROM {}",
                sql.read(source, "transitions")
            ),
        );
    }
    if memberships {
        q.cte(
            "memberships",
            "every exported membership change",
            format!(
                "SELECT time_ms, seq, client, collection, change\nFROM {}",
                sql.read(source, "memberships")
            ),
        );
    }
}

/// `latest_state`: each client's latest transition for the deployment at
/// or before `at`.
fn latest_state(q: &mut Query, sql: &dyn Sql, deployment: &str, at: i64) {
    q.cte(
        "latest_state",
        "each client's latest transition for the deployment at or before T: the greatest (time_ms, seq) wins",
        format!(
            "SELECT client,\n       {} AS last_state,\n       max(time_ms) AS since_ms\nFROM transitions\nWHERE deployment = {} AND time_ms <= {at}\nGROUP BY client",
            sql.arg_max("state", "(time_ms, seq)"),
            sql.string(deployment)
        ),
    );
}

/// The population at `at`, as a CTE named `members_at` or `known_clients`
/// with one column `client`; returns its name.
fn population_at(
    q: &mut Query,
    sql: &dyn Sql,
    deployment: &str,
    population: &Population,
    at: i64,
) -> &'static str {
    match population {
        Population::In(collection) => {
            q.cte(
                "members_at",
                "members of the collection at T: the client's latest change (greatest (time_ms, seq)) is a join",
                format!(
                    "SELECT client\nFROM memberships\nWHERE collection = {} AND time_ms <= {at}\nGROUP BY client\nHAVING {} = 'join'",
                    sql.string(collection),
                    sql.arg_max("change", "(time_ms, seq)")
                ),
            );
            "members_at"
        }
        Population::All => {
            q.cte(
                "known_clients",
                "all clients at T: a transition for the deployment, or any membership change (join or leave), at or before T",
                format!(
                    "SELECT DISTINCT client\nFROM (\n    SELECT client FROM transitions WHERE deployment = {} AND time_ms <= {at}\n    UNION ALL\n    SELECT client FROM memberships WHERE time_ms <= {at}\n) AS seen",
                    sql.string(deployment)
                ),
            );
            "known_clients"
        }
    }
}

/// The CASE that turns a client's latest state (or none) into the state it
/// counts as: none is NotStarted; with STALE AFTER, older than the limit is
/// Unknown.
fn counted_state(state: &str, since: &str, stale_before: Option<String>) -> String {
    let mut out = format!("CASE\n    WHEN {state} IS NULL THEN 'NotStarted'\n");
    if let Some(limit) = stale_before {
        let _ = writeln!(out, "    WHEN {since} < {limit} THEN 'Unknown'");
    }
    let _ = write!(out, "    ELSE {state}\nEND");
    out
}

fn stale_comment(stale_after: Option<i64>) -> &'static str {
    match stale_after {
        Some(_) => ", and with STALE AFTER a latest transition strictly older than T - d counts as Unknown",
        None => "",
    }
}

/// `ceil((x - from) / every)` clamped to `0..=count`: the first point index
/// whose time is at or after `x` (`count` when `x` is NULL and
/// `null_is_end`).
fn first_index_at_or_after(sql: &dyn Sql, x: &str, steps: &Steps, null_is_end: bool) -> String {
    let null = if null_is_end {
        format!("WHEN {x} IS NULL THEN {} ", steps.count)
    } else {
        String::new()
    };
    format!(
        "CASE {null}WHEN {x} <= {from} THEN 0 ELSE least({count}, {div}) END",
        from = steps.from,
        count = steps.count,
        div = sql.index_div(
            &format!("{x} - {} + {}", steps.from, steps.every - 1),
            &steps.every.to_string()
        )
    )
}

fn point_time(steps: &Steps, k: &str) -> String {
    format!("({} + {k} * {})", steps.from, steps.every)
}

/// `state_spans` and `state_at_point`: for each client and point, the latest
/// transition at or before the point (a transition holds from its time
/// until the client's next one; ties on time make zero-length spans).
fn state_at_points(q: &mut Query, sql: &dyn Sql, deployment: &str, steps: &Steps) {
    q.cte(
        "state_spans",
        "each transition of the deployment holds from its time until the client's next transition\n(in (time_ms, seq) order, so a tie on time_ms gives the earlier row an empty span)",
        format!(
            "SELECT client,\n       state AS span_state,\n       time_ms AS from_ms,\n       {} AS until_ms\nFROM transitions\nWHERE deployment = {} AND time_ms <= {}",
            sql.next_value("time_ms", "client", "time_ms, seq"),
            sql.string(deployment),
            steps.last()
        ),
    );
    q.cte(
        "state_at_point",
        "the span covering each point t = FROM + k * EVERY: the client's latest transition at or before t",
        format!(
            "SELECT client, {} AS k, span_state, from_ms\nFROM (\n    SELECT client, span_state, from_ms,\n           {} AS first_k,\n           {} AS end_k\n    FROM state_spans\n) AS spans\nWHERE first_k < end_k",
            sql.unnest_range("first_k", "end_k"),
            first_index_at_or_after(sql, "from_ms", steps, false),
            first_index_at_or_after(sql, "until_ms", steps, true),
        ),
    );
}

/// `membership_spans` and `members_at_point` (with a `collection` column
/// when `collection` is `None`: every collection).
fn members_at_points(q: &mut Query, sql: &dyn Sql, collection: Option<&str>, steps: &Steps) {
    let (partition, select, filter) = match collection {
        Some(c) => ("client", "client", format!("collection = {} AND ", sql.string(c))),
        None => ("collection, client", "collection, client", String::new()),
    };
    q.cte(
        "membership_spans",
        "each membership change holds from its time until the next change of the same (collection, client)",
        format!(
            "SELECT {select},\n       change AS span_change,\n       time_ms AS from_ms,\n       {} AS until_ms\nFROM memberships\nWHERE {filter}time_ms <= {}",
            sql.next_value("time_ms", partition, "time_ms, seq"),
            steps.last()
        ),
    );
    q.cte(
        "members_at_point",
        "members at each point t: a join span covers t",
        format!(
            "SELECT {select}, {} AS k\nFROM (\n    SELECT {select},\n           {} AS first_k,\n           {} AS end_k\n    FROM membership_spans\n    WHERE span_change = 'join'\n) AS spans\nWHERE first_k < end_k",
            sql.unnest_range("first_k", "end_k"),
            first_index_at_or_after(sql, "from_ms", steps, false),
            first_index_at_or_after(sql, "until_ms", steps, true),
        ),
    );
}

fn build(sql: &dyn Sql, source: &Source, bound: &Bound) -> Query {
    let mut q = Query::new();
    match bound {
        Bound::StatesAt {
            deployment,
            population,
            at,
            stale_after,
        } => {
            add_sources(&mut q, sql, source, true, true);
            latest_state(&mut q, sql, deployment, *at);
            let pop = population_at(&mut q, sql, deployment, population, *at);
            let stale = stale_after.map(|d| at.saturating_sub(d).to_string());
            q.cte(
                "effective_state",
                format!(
                    "the state each client counts as at T: none yet is NotStarted{}",
                    stale_comment(*stale_after)
                ),
                format!(
                    "SELECT {} AS counted_state\nFROM {pop} AS p\nLEFT JOIN latest_state AS l ON l.client = p.client",
                    indent_after_first(&counted_state("l.last_state", "l.since_ms", stale))
                ),
            );
            q.select = format!(
                "SELECT\n    {} AS \"time\",\n{}\nFROM effective_state",
                sql.string(&Timestamp(*at).to_string()),
                count_columns(sql, "counted_state")
            );
        }
        Bound::StatesSeries {
            deployment,
            population,
            steps,
            stale_after,
        } => {
            add_sources(&mut q, sql, source, true, true);
            q.cte(
                "points",
                format!(
                    "the points t = FROM + k * EVERY < TO, k = 0..{}",
                    steps.count.saturating_sub(1)
                ),
                sql.points(steps.count, steps.from, steps.every),
            );
            state_at_points(&mut q, sql, deployment, steps);
            let pop = match population {
                Population::In(c) => {
                    members_at_points(&mut q, sql, Some(c), steps);
                    "members_at_point"
                }
                Population::All => {
                    q.cte(
                        "first_seen",
                        "when each client is first known: its first transition for the deployment or its first membership change",
                        format!(
                            "SELECT client, min(time_ms) AS first_ms\nFROM (\n    SELECT client, time_ms FROM transitions WHERE deployment = {} AND time_ms <= {last}\n    UNION ALL\n    SELECT client, time_ms FROM memberships WHERE time_ms <= {last}\n) AS seen\nGROUP BY client",
                            sql.string(deployment),
                            last = steps.last()
                        ),
                    );
                    q.cte(
                        "known_at_point",
                        "all clients at each point: known at or before t",
                        format!(
                            "SELECT client, {} AS k\nFROM first_seen",
                            sql.unnest_range(
                                &first_index_at_or_after(sql, "first_ms", steps, false),
                                &steps.count.to_string()
                            )
                        ),
                    );
                    "known_at_point"
                }
            };
            let stale = stale_after.map(|d| format!("{} - {d}", point_time(steps, "p.k")));
            q.cte(
                "effective_state",
                format!(
                    "the state each client counts as at each point: none yet is NotStarted{}",
                    stale_comment(*stale_after)
                ),
                format!(
                    "SELECT p.k,\n       {} AS counted_state\nFROM {pop} AS p\nLEFT JOIN state_at_point AS s ON s.client = p.client AND s.k = p.k",
                    indent_after_first_by(&counted_state("s.span_state", "s.from_ms", stale), 7)
                ),
            );
            q.cte(
                "counts",
                "clients by state at each point",
                format!(
                    "SELECT k,\n{}\nFROM effective_state\nGROUP BY k",
                    count_columns(sql, "counted_state")
                ),
            );
            q.select = format!(
                "SELECT\n    {} AS \"time\",\n{}\nFROM points AS p\nLEFT JOIN counts AS c ON c.k = p.k\nORDER BY p.k",
                sql.format_time("p.t_ms"),
                coalesced_counts("c")
            );
        }
        Bound::ByCollectionAt {
            deployment,
            at,
            stale_after,
        } => {
            add_sources(&mut q, sql, source, true, true);
            q.cte(
                "collections",
                "every collection in the export (rollcall lists every collection of the store)",
                "SELECT DISTINCT collection\nFROM memberships",
            );
            latest_state(&mut q, sql, deployment, *at);
            q.cte(
                "members_at",
                "members of each collection at T: the latest change (greatest (time_ms, seq)) is a join",
                format!(
                    "SELECT collection, client\nFROM memberships\nWHERE time_ms <= {at}\nGROUP BY collection, client\nHAVING {} = 'join'",
                    sql.arg_max("change", "(time_ms, seq)")
                ),
            );
            let stale = stale_after.map(|d| at.saturating_sub(d).to_string());
            q.cte(
                "effective_state",
                format!(
                    "the state each member counts as at T: none yet is NotStarted{}",
                    stale_comment(*stale_after)
                ),
                format!(
                    "SELECT m.collection,\n       {} AS counted_state\nFROM members_at AS m\nLEFT JOIN latest_state AS l ON l.client = m.client",
                    indent_after_first_by(&counted_state("l.last_state", "l.since_ms", stale), 7)
                ),
            );
            q.cte(
                "counts",
                "members by state, per collection",
                format!(
                    "SELECT collection,\n{}\nFROM effective_state\nGROUP BY collection",
                    count_columns(sql, "counted_state")
                ),
            );
            q.select = format!(
                "SELECT\n    c.collection AS \"collection\",\n{}\nFROM collections AS c\nLEFT JOIN counts AS n ON n.collection = c.collection\nORDER BY c.collection",
                coalesced_counts("n")
            );
        }
        Bound::ByCollectionSeries {
            deployment,
            steps,
            stale_after,
        } => {
            add_sources(&mut q, sql, source, true, true);
            q.cte(
                "points",
                format!(
                    "the points t = FROM + k * EVERY < TO, k = 0..{}",
                    steps.count.saturating_sub(1)
                ),
                sql.points(steps.count, steps.from, steps.every),
            );
            q.cte(
                "collections",
                "every collection in the export (rollcall lists every collection of the store)",
                "SELECT DISTINCT collection\nFROM memberships",
            );
            state_at_points(&mut q, sql, deployment, steps);
            members_at_points(&mut q, sql, None, steps);
            let stale = stale_after.map(|d| format!("{} - {d}", point_time(steps, "m.k")));
            q.cte(
                "effective_state",
                format!(
                    "the state each member counts as at each point: none yet is NotStarted{}",
                    stale_comment(*stale_after)
                ),
                format!(
                    "SELECT m.k, m.collection,\n       {} AS counted_state\nFROM members_at_point AS m\nLEFT JOIN state_at_point AS s ON s.client = m.client AND s.k = m.k",
                    indent_after_first_by(&counted_state("s.span_state", "s.from_ms", stale), 7)
                ),
            );
            q.cte(
                "counts",
                "members by state, per point and collection",
                format!(
                    "SELECT k, collection,\n{}\nFROM effective_state\nGROUP BY k, collection",
                    count_columns(sql, "counted_state")
                ),
            );
            q.select = format!(
                "SELECT\n    {} AS \"time\",\n    c.collection AS \"collection\",\n{}\nFROM points AS p\nCROSS JOIN collections AS c\nLEFT JOIN counts AS n ON n.k = p.k AND n.collection = c.collection\nORDER BY p.k, c.collection",
                sql.format_time("p.t_ms"),
                coalesced_counts("n")
            );
        }
        Bound::Failures {
            deployment,
            population,
            steps,
            by_error,
        } => {
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
            let bucket = sql.index_div(&format!("time_ms - {}", steps.from), &steps.every.to_string());
            if *by_error {
                q.cte(
                    "counts",
                    "failures per bucket and error code (only non-zero pairs exist)",
                    format!(
                        "SELECT {bucket} AS k, error_code, count(*) AS n\nFROM failures_in_scope\nGROUP BY k, error_code"
                    ),
                );
                q.select = format!(
                    "SELECT\n    {} AS \"bucket\",\n    {} AS \"error\",\n    n AS \"failures\"\nFROM counts\nORDER BY k, n DESC, error_code ASC NULLS FIRST",
                    sql.format_time(&point_time(steps, "k")),
                    sql.format_error("error_code")
                );
            } else {
                q.cte(
                    "buckets",
                    format!(
                        "the buckets [FROM + k * EVERY, FROM + (k + 1) * EVERY), the last one cut at TO, k = 0..{}",
                        steps.count.saturating_sub(1)
                    ),
                    sql.points(steps.count, steps.from, steps.every),
                );
                q.cte(
                    "counts",
                    "failures per bucket",
                    format!("SELECT {bucket} AS k, count(*) AS n\nFROM failures_in_scope\nGROUP BY k"),
                );
                q.select = format!(
                    "SELECT\n    {} AS \"bucket\",\n    coalesce(c.n, 0) AS \"failures\"\nFROM buckets AS b\nLEFT JOIN counts AS c ON c.k = b.k\nORDER BY b.k",
                    sql.format_time("b.t_ms")
                );
            }
        }
        Bound::Clients {
            deployment,
            population,
            at,
            states,
            limit,
        } => {
            add_sources(&mut q, sql, source, true, true);
            latest_state(&mut q, sql, deployment, *at);
            let pop = population_at(&mut q, sql, deployment, population, *at);
            q.cte(
                "client_state",
                "each client's state at T (none yet is NotStarted) and the time of its latest transition",
                format!(
                    "SELECT p.client AS client_name,\n       coalesce(l.last_state, 'NotStarted') AS current_state,\n       l.since_ms\nFROM {pop} AS p\nLEFT JOIN latest_state AS l ON l.client = p.client"
                ),
            );
            let mut select = format!(
                "SELECT\n    client_name AS \"client\",\n    current_state AS \"state\",\n    {} AS \"since\"\nFROM client_state\n",
                sql.format_time("since_ms")
            );
            if let Some(states) = states {
                let list: Vec<String> = states.iter().map(|s| sql.string(s.name())).collect();
                let _ = writeln!(select, "WHERE current_state IN ({})", list.join(", "));
            }
            select.push_str("ORDER BY client_name");
            if let Some(n) = limit {
                let _ = write!(select, "\nLIMIT {n}");
            }
            q.select = select;
        }
        Bound::History {
            client,
            deployment,
            range,
        } => {
            add_sources(&mut q, sql, source, true, false);
            let mut filter = format!("client = {}", sql.string(client));
            if let Some(d) = deployment {
                let _ = write!(filter, " AND deployment = {}", sql.string(d));
            }
            if let Some((a, b)) = range {
                let _ = write!(filter, " AND time_ms >= {a} AND time_ms < {b}");
            }
            q.cte(
                "client_history",
                "the client's transitions",
                format!(
                    "SELECT time_ms, seq, deployment AS deployment_name, state AS entered_state, error AS error_code\nFROM transitions\nWHERE {filter}"
                ),
            );
            q.select = format!(
                "SELECT\n    {} AS \"time\",\n    deployment_name AS \"deployment\",\n    entered_state AS \"state\",\n    {} AS \"error\"\nFROM client_history\nORDER BY time_ms, seq",
                sql.format_time("time_ms"),
                sql.format_error("error_code")
            );
        }
    }
    q
}

/// Indents every line but the first by 4 spaces (a multi-line expression
/// placed after `SELECT `).
fn indent_after_first(text: &str) -> String {
    indent_after_first_by(text, 7)
}

fn indent_after_first_by(text: &str, n: usize) -> String {
    let pad = " ".repeat(n);
    let mut out = String::new();
    for (i, line) in text.lines().enumerate() {
        if i > 0 {
            out.push('\n');
            out.push_str(&pad);
        }
        out.push_str(line);
    }
    out
}

#[cfg(test)]
mod tests;
