//! The client family: `CLIENTS` (the population at a time with each
//! client's state and the time of its latest transition) and `HISTORY`
//! (one client's transitions).
//!
//! Invariants: `CLIENTS` rows are sorted by client name and a client with
//! no transition yet is NotStarted with no `since`; `HISTORY` rows are in
//! `(time_ms, seq)` order, its range half-open.

use std::fmt::Write as _;

use rollcall_engine::State;

use super::binding::Population;
use super::cte::{Query, add_sources, latest_state, population_at};
use super::dialect::{Source, Sql};

/// `CLIENTS [FOR d] [IN c] AT t [WHERE STATE IN (...)] [LIMIT n]`.
pub(super) fn clients(
    sql: &dyn Sql,
    source: &Source,
    deployment: &str,
    population: &Population,
    at: i64,
    states: Option<&[State]>,
    limit: Option<u32>,
) -> Query {
    let mut q = Query::new();
    add_sources(&mut q, sql, source, true, true);
    latest_state(&mut q, sql, deployment, at);
    let pop = population_at(&mut q, sql, deployment, population, at);
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
    q
}

/// `HISTORY client [FOR d] [FROM a TO b]`.
pub(super) fn history(
    sql: &dyn Sql,
    source: &Source,
    client: &str,
    deployment: Option<&str>,
    range: Option<(i64, i64)>,
) -> Query {
    let mut q = Query::new();
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
    q
}
