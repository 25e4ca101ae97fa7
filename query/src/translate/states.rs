//! The `STATES` family: counts by state at a time or at each point of a
//! series, over a collection's members or all clients, and `BY COLLECTION`.
//!
//! Invariants: a client with no transition yet counts as NotStarted; with
//! `STALE AFTER d` a latest transition strictly older than `T - d` counts
//! as Unknown; every point of a series (and every collection of the store
//! that the export holds) gets a row, zero counts included.

use super::binding::{GateCondition, Population, Steps};
use super::cte::{
    Query, add_sources, coalesced_counts, count_columns, counted_state, first_index_at_or_after,
    indent_after_first, indent_after_first_by, latest_state, members_at_points, point_time, points_comment,
    points_relation, population_at, stale_comment, state_at_points,
};
use super::dialect::{Source, Sql};
use crate::syntax::Threshold;

/// `STATES [FOR d] [IN c] AT t [STALE AFTER s]`.
pub(super) fn states_at(
    sql: &dyn Sql,
    source: &Source,
    deployment: &str,
    population: &Population,
    at: i64,
    stale_after: Option<i64>,
) -> Query {
    let mut q = Query::new();
    add_sources(&mut q, sql, source, true, true);
    latest_state(&mut q, sql, deployment, at);
    let pop = population_at(&mut q, sql, deployment, population, at);
    let stale = stale_after.map(|d| at.saturating_sub(d).to_string());
    q.cte(
        "effective_state",
        format!(
            "the state each client counts as at T: none yet is NotStarted{}",
            stale_comment(stale_after)
        ),
        format!(
            "SELECT {} AS counted_state\nFROM {pop} AS p\nLEFT JOIN latest_state AS l ON l.client = p.client",
            indent_after_first(&counted_state("l.last_state", "l.since_ms", stale))
        ),
    );
    q.select = format!(
        "SELECT\n    {} AS \"time\",\n{}\nFROM effective_state",
        sql.time_literal(at),
        count_columns(sql, "counted_state")
    );
    q
}

/// `STATES [FOR d] [IN c] FROM a TO b EVERY w [STALE AFTER s]`.
pub(super) fn states_series(
    sql: &dyn Sql,
    source: &Source,
    deployment: &str,
    population: &Population,
    steps: &Steps,
    stale_after: Option<i64>,
) -> Query {
    let mut q = Query::new();
    add_sources(&mut q, sql, source, true, true);
    q.cte("points", points_comment(steps), points_relation(sql, steps));
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
    let stale = stale_after.map(|d| format!("{} - {d}", point_time(sql, steps, "p.k")));
    q.cte(
        "effective_state",
        format!(
            "the state each client counts as at each point: none yet is NotStarted{}",
            stale_comment(stale_after)
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
        "SELECT\n    {} AS \"time\",\n{}\nFROM points AS p\nLEFT JOIN counts AS c ON c.k = p.k",
        sql.format_time("p.t_ms"),
        coalesced_counts("c")
    );
    q.order.push(("p.k".to_owned(), ""));
    q
}

/// `STATES [FOR d] BY COLLECTION AT t [STALE AFTER s]`.
pub(super) fn by_collection_at(
    sql: &dyn Sql,
    source: &Source,
    deployment: &str,
    at: i64,
    stale_after: Option<i64>,
) -> Query {
    let mut q = Query::new();
    add_sources(&mut q, sql, source, true, true);
    q.cte(
        "collections",
        "every collection in the export (rollcall lists every collection of the store)",
        "SELECT DISTINCT collection\nFROM memberships",
    );
    latest_state(&mut q, sql, deployment, at);
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
            stale_comment(stale_after)
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
    q
}

/// `STATES [FOR d] BY COLLECTION FROM a TO b EVERY w [STALE AFTER s]`.
pub(super) fn by_collection_series(
    sql: &dyn Sql,
    source: &Source,
    deployment: &str,
    steps: &Steps,
    stale_after: Option<i64>,
) -> Query {
    let mut q = Query::new();
    add_sources(&mut q, sql, source, true, true);
    q.cte("points", points_comment(steps), points_relation(sql, steps));
    q.cte(
        "collections",
        "every collection in the export (rollcall lists every collection of the store)",
        "SELECT DISTINCT collection\nFROM memberships",
    );
    state_at_points(&mut q, sql, deployment, steps);
    members_at_points(&mut q, sql, None, steps);
    let stale = stale_after.map(|d| format!("{} - {d}", point_time(sql, steps, "m.k")));
    q.cte(
        "effective_state",
        format!(
            "the state each member counts as at each point: none yet is NotStarted{}",
            stale_comment(stale_after)
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
    q
}

/// `GATE [FOR d] [IN c] AT t WHEN cond [AND cond]... [STALE AFTER s]`: the
/// counts of `STATES ... AT`, then one row per condition in the order
/// written. A share is `n / total` against the threshold exactly (integer
/// arithmetic, as rollcall judges it), printed with one decimal rounded
/// half up; an empty population has a share of 0.0%.
pub(super) fn gate(
    sql: &dyn Sql,
    source: &Source,
    deployment: &str,
    population: &Population,
    at: i64,
    stale_after: Option<i64>,
    conditions: &[GateCondition],
) -> Query {
    let mut q = states_at(sql, source, deployment, population, at, stale_after);
    q.cte(
        "counts",
        "the clients by state at T (the counts of STATES ... AT)",
        format!(
            "SELECT\n{}\nFROM effective_state",
            count_columns(sql, "counted_state")
        ),
    );
    let mut rows = Vec::new();
    for (i, c) in conditions.iter().enumerate() {
        let n = format!("\"{}\"", c.state);
        let (actual, holds) = match c.threshold {
            Threshold::Count(limit) => (sql.to_text(&n), format!("{n} {} {limit}", c.op)),
            Threshold::Percent(d) => {
                let tenths = sql.index_div(&format!("{n} * 2000 + \"total\""), "(\"total\" * 2)");
                let actual = format!(
                    "CASE WHEN \"total\" = 0 THEN '0.0%' ELSE {} || '.' || {} || '%' END",
                    sql.to_text(&sql.index_div(&tenths, "10")),
                    sql.to_text(&format!("{tenths} % 10"))
                );
                let scale = 10u128.pow(d.scale) * 100;
                let holds = format!(
                    "{} * {scale} {} {} * {}",
                    sql.wide(&n),
                    c.op,
                    sql.wide(&d.units.to_string()),
                    sql.wide("\"total\"")
                );
                (actual, holds)
            }
        };
        rows.push(format!(
            "SELECT {i} AS i, {} AS \"condition\", {actual} AS \"actual\", CASE WHEN {holds} THEN 'true' ELSE 'false' END AS \"passed\"\nFROM counts",
            sql.string(&c.text)
        ));
    }
    q.select = format!(
        "SELECT \"condition\", \"actual\", \"passed\"\nFROM (\n{}\n) AS judged",
        rows.iter()
            .map(|r| indent_after_first_by(&format!("    {r}"), 4))
            .collect::<Vec<_>>()
            .join("\n    UNION ALL\n")
    );
    q.order = vec![("i".to_owned(), "")];
    q
}
