//! The query under construction (named CTEs, then the final SELECT) and
//! the CTE steps several statement families share: the export sources,
//! each client's latest state at a time, the population at a time, the
//! state a client counts as, and state and membership at each point of a
//! series.
//!
//! Invariants: every step is a named CTE with a comment saying what it
//! holds; no rendered line is blank (scripts split on blank lines); point
//! indexes are `k` with `t = FROM + k * EVERY`, and a transition or
//! membership change holds from its time until the next one of the same
//! client (in `(time_ms, seq)` order).

use std::fmt::Write as _;

use super::binding::{Population, Steps};
use super::dialect::{Source, Sql};

/// One named step.
struct Cte {
    name: &'static str,
    comment: String,
    body: String,
}

/// A query: named steps, then the final SELECT and its order.
pub(super) struct Query {
    ctes: Vec<Cte>,
    pub(super) select: String,
    /// `ORDER BY` items as (expression, direction), e.g. `("n", " DESC")`;
    /// kept apart from `select` so that [`several`] can order a union of
    /// per-deployment queries by them.
    pub(super) order: Vec<(String, &'static str)>,
}

impl Query {
    pub(super) fn new() -> Query {
        Query {
            ctes: Vec::new(),
            select: String::new(),
            order: Vec::new(),
        }
    }

    /// The WITH list and the SELECT, without ORDER BY, trailer and `;`,
    /// with `extra` SELECT items put first.
    fn body(&self, extra: &str) -> String {
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
        let select = self.select.trim_end();
        match select.strip_prefix("SELECT\n") {
            Some(rest) if !extra.is_empty() => {
                out.push_str("SELECT\n");
                out.push_str(extra);
                out.push_str(rest);
            }
            _ => out.push_str(select),
        }
        out
    }

    pub(super) fn cte(&mut self, name: &'static str, comment: impl Into<String>, body: impl Into<String>) {
        self.ctes.push(Cte {
            name,
            comment: comment.into(),
            body: body.into(),
        });
    }

    pub(super) fn render(&self, sql: &dyn Sql) -> String {
        let mut out = self.body("");
        if !self.order.is_empty() {
            let items: Vec<String> = self.order.iter().map(|(e, d)| format!("{e}{d}")).collect();
            let _ = write!(out, "\nORDER BY {}", items.join(", "));
        }
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
pub(super) fn count_columns(sql: &dyn Sql, column: &str) -> String {
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
pub(super) fn coalesced_counts(alias: &str) -> String {
    let mut out = String::new();
    for s in STATE_NAMES {
        let _ = writeln!(out, "    coalesce({alias}.\"{s}\", 0) AS \"{s}\",");
    }
    let _ = write!(out, "    coalesce({alias}.\"total\", 0) AS \"total\"");
    out
}

pub(super) fn add_sources(
    q: &mut Query,
    sql: &dyn Sql,
    source: &Source,
    transitions: bool,
    memberships: bool,
) {
    let (known, known_comment) = match source.known_at {
        Some(t) => (
            format!("\nWHERE committed_ms IS NULL OR committed_ms <= {t}"),
            format!(
                ", as known at {}: committed by then",
                rollcall_engine::Timestamp(t)
            ),
        ),
        None => (String::new(), String::new()),
    };
    if transitions {
        q.cte(
            "transitions",
            format!(
                "every exported transition (one row per stored transition, duplicates already dropped){known_comment}"
            ),
            format!(
                "SELECT time_ms, seq, client, deployment, state, error\nFROM {}{known}",
                sql.read(source, "transitions")
            ),
        );
    }
    if memberships {
        q.cte(
            "memberships",
            format!("every exported membership change{known_comment}"),
            format!(
                "SELECT time_ms, seq, client, collection, change\nFROM {}{known}",
                sql.read(source, "memberships")
            ),
        );
    }
}

/// `latest_state`: each client's latest transition for the deployment at
/// or before `at`.
pub(super) fn latest_state(q: &mut Query, sql: &dyn Sql, deployment: &str, at: i64) {
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
pub(super) fn population_at(
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
pub(super) fn counted_state(state: &str, since: &str, stale_before: Option<String>) -> String {
    let mut out = format!("CASE\n    WHEN {state} IS NULL THEN 'NotStarted'\n");
    if let Some(limit) = stale_before {
        let _ = writeln!(out, "    WHEN {since} < {limit} THEN 'Unknown'");
    }
    let _ = write!(out, "    ELSE {state}\nEND");
    out
}

pub(super) fn stale_comment(stale_after: Option<i64>) -> &'static str {
    match stale_after {
        Some(_) => ", and with STALE AFTER a latest transition strictly older than T - d counts as Unknown",
        None => "",
    }
}

/// `ceil((x - from) / every)` clamped to `0..=count`: the first point index
/// whose time is at or after `x` (`count` when `x` is NULL and
/// `null_is_end`).
pub(super) fn first_index_at_or_after(sql: &dyn Sql, x: &str, steps: &Steps, null_is_end: bool) -> String {
    let null = if null_is_end {
        format!("WHEN {x} IS NULL THEN {} ", steps.count)
    } else {
        String::new()
    };
    if let Some(points) = &steps.listed {
        return format!(
            "CASE {null}WHEN {x} <= {} THEN 0 ELSE {} END",
            steps.from,
            sql.count_below(x, points)
        );
    }
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

pub(super) fn point_time(sql: &dyn Sql, steps: &Steps, k: &str) -> String {
    match &steps.listed {
        Some(points) => sql.point_at(k, points),
        None => format!("({} + {k} * {})", steps.from, steps.every),
    }
}

/// The `points` relation of a series: `k` and `t_ms` of every point.
pub(super) fn points_relation(sql: &dyn Sql, steps: &Steps) -> String {
    match &steps.listed {
        Some(points) => sql.points_list(points),
        None => sql.points(steps.count, steps.from, steps.every),
    }
}

/// The bucket index of `x` (for `FROM <= x < TO`).
pub(super) fn bucket_index(sql: &dyn Sql, x: &str, steps: &Steps) -> String {
    match &steps.listed {
        Some(points) => sql.bucket_of(x, points),
        None => sql.index_div(&format!("{x} - {}", steps.from), &steps.every.to_string()),
    }
}

/// How the points are described in a comment.
pub(super) fn points_comment(steps: &Steps) -> String {
    match &steps.listed {
        Some(_) => format!(
            "the calendar points FROM <= t < TO (local days or months of the statement's zone), k = 0..{}",
            steps.count.saturating_sub(1)
        ),
        None => format!(
            "the points t = FROM + k * EVERY < TO, k = 0..{}",
            steps.count.saturating_sub(1)
        ),
    }
}

/// `state_spans` and `state_at_point`: for each client and point, the latest
/// transition at or before the point (a transition holds from its time
/// until the client's next one; ties on time make zero-length spans).
pub(super) fn state_at_points(q: &mut Query, sql: &dyn Sql, deployment: &str, steps: &Steps) {
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
pub(super) fn members_at_points(q: &mut Query, sql: &dyn Sql, collection: Option<&str>, steps: &Steps) {
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

/// Indents every line but the first by 4 spaces (a multi-line expression
/// placed after `SELECT `).
pub(super) fn indent_after_first(text: &str) -> String {
    indent_after_first_by(text, 7)
}

pub(super) fn indent_after_first_by(text: &str, n: usize) -> String {
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

/// Several deployments side by side (SPEC 7.2): each deployment's query as
/// a subquery with its position `_d` and its order keys `_o0..` put first,
/// their union ordered by deployment (in the order written), then by each
/// query's own order; `columns` are the result columns after `deployment`.
pub(super) fn several(sql: &dyn Sql, parts: Vec<(String, Query)>, columns: &[&str]) -> Query {
    let mut union = String::new();
    let mut order_dirs: Vec<&'static str> = Vec::new();
    for (d, (deployment, q)) in parts.iter().enumerate() {
        let mut extra = format!("    {d} AS \"_d\",\n");
        for (i, (expr, dir)) in q.order.iter().enumerate() {
            let _ = writeln!(extra, "    {expr} AS \"_o{i}\",");
            if d == 0 {
                order_dirs.push(dir);
            }
        }
        let _ = writeln!(extra, "    {} AS \"deployment\",", sql.string(deployment));
        if d > 0 {
            union.push_str("\nUNION ALL\n");
        }
        union.push_str("SELECT * FROM (\n");
        for line in q.body(&extra).lines() {
            let _ = writeln!(union, "    {line}");
        }
        let _ = write!(union, ") AS part_{d}");
    }
    let mut q = Query::new();
    let mut cols = vec!["\"deployment\"".to_owned()];
    cols.extend(columns.iter().map(|c| format!("\"{c}\"")));
    q.select = format!(
        "SELECT {}\nFROM (\n{}\n) AS side_by_side",
        cols.join(", "),
        union
            .lines()
            .map(|l| format!("    {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    q.order.push(("\"_d\"".to_owned(), ""));
    for (i, dir) in order_dirs.into_iter().enumerate() {
        q.order.push((format!("\"_o{i}\""), dir));
    }
    q
}
