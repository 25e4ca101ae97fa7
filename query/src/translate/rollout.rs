//! The rollout-review family (SPEC 7.3, 7.4): `FLOW`, where clients went
//! between two times, and `DURATIONS`, how long they took from one state
//! to another.
//!
//! Invariants: the population is the members of the collection at `TO`
//! (all clients at `TO` without `IN`); a client's state as of a time is its
//! latest `(time_ms, seq)` transition at or before it, NotStarted without
//! one; `FLOW` lists only non-zero (from, to) pairs in the state order of
//! SPEC section 1; `DURATIONS` starts at the first `SINCE` transition in
//! `[FROM, TO)` (ties on time broken by `seq`) and ends at the first
//! `UNTIL` transition after it in `(time_ms, seq)` order and before `TO`;
//! percentiles are nearest-rank (`ceil(p * n)`-th smallest), NULL when no
//! client reached the end.

use rollcall_engine::State;

use super::binding::Population;
use super::cte::{Query, add_sources, population_at};
use super::dialect::{Source, Sql};

/// `CASE` giving a state's position in SPEC section 1's order.
fn state_order(column: &str) -> String {
    let mut out = format!("CASE {column}");
    for (i, s) in State::ALL.iter().enumerate() {
        out.push_str(&format!(" WHEN '{s}' THEN {i}"));
    }
    out.push_str(" END");
    out
}

/// Each client's latest transition for the deployment at or before `at`,
/// as a CTE named `name`.
fn state_as_of(q: &mut Query, sql: &dyn Sql, name: &'static str, deployment: &str, at: i64, which: &str) {
    q.cte(
        name,
        format!("each client's state as of {which}: its greatest (time_ms, seq) at or before it"),
        format!(
            "SELECT client, {} AS state_then\nFROM transitions\nWHERE deployment = {} AND time_ms <= {at}\nGROUP BY client",
            sql.arg_max("state", "(time_ms, seq)"),
            sql.string(deployment)
        ),
    );
}

/// `FLOW [FOR d] [IN c] FROM a TO b`.
pub(super) fn flow(
    sql: &dyn Sql,
    source: &Source,
    deployment: &str,
    population: &Population,
    from: i64,
    to: i64,
) -> Query {
    let mut q = Query::new();
    add_sources(&mut q, sql, source, true, true);
    let pop = population_at(&mut q, sql, deployment, population, to);
    state_as_of(&mut q, sql, "state_from", deployment, from, "FROM");
    state_as_of(&mut q, sql, "state_to", deployment, to, "TO");
    q.cte(
        "moves",
        "each client of the population (taken at TO): its state as of FROM and as of TO, NotStarted without a transition",
        format!(
            "SELECT coalesce(f.state_then, 'NotStarted') AS from_state,\n       coalesce(t.state_then, 'NotStarted') AS to_state\nFROM {pop} AS p\nLEFT JOIN state_from AS f ON f.client = p.client\nLEFT JOIN state_to AS t ON t.client = p.client"
        ),
    );
    q.cte(
        "pairs",
        "clients per (from, to) pair: only pairs that occur",
        format!(
            "SELECT from_state, to_state, count(*) AS n, {} AS from_order, {} AS to_order\nFROM moves\nGROUP BY from_state, to_state",
            state_order("from_state"),
            state_order("to_state")
        ),
    );
    q.select =
        "SELECT\n    from_state AS \"from\",\n    to_state AS \"to\",\n    n AS \"clients\"\nFROM pairs"
            .to_owned();
    q.order = vec![("from_order".to_owned(), ""), ("to_order".to_owned(), "")];
    q
}

/// `DURATIONS [FOR d] [IN c] FROM a TO b UNTIL u [SINCE s]`.
pub(super) fn durations(
    sql: &dyn Sql,
    source: &Source,
    deployment: &str,
    population: &Population,
    (from, to): (i64, i64),
    since: State,
    until: State,
) -> Query {
    let mut q = Query::new();
    add_sources(&mut q, sql, source, true, true);
    let pop = population_at(&mut q, sql, deployment, population, to);
    let dep = sql.string(deployment);
    q.cte(
        "start_time",
        format!("each client's first transition into {since} with FROM <= time < TO: its time"),
        format!(
            "SELECT client, min(time_ms) AS start_ms\nFROM transitions\nWHERE deployment = {dep} AND state = '{since}' AND time_ms >= {from} AND time_ms < {to}\nGROUP BY client"
        ),
    );
    q.cte(
        "starts",
        "the start's seq: the first of the transitions into the SINCE state at that millisecond",
        format!(
            "SELECT s.client, s.start_ms, min(t.seq) AS start_seq\nFROM start_time AS s\nJOIN transitions AS t ON t.client = s.client AND t.time_ms = s.start_ms\nWHERE t.deployment = {dep} AND t.state = '{since}'\nGROUP BY s.client, s.start_ms"
        ),
    );
    q.cte(
        "ends",
        format!("each started client's first transition into {until} after its start in (time_ms, seq) order, before TO"),
        format!(
            "SELECT s.client, min(t.time_ms) AS end_ms\nFROM starts AS s\nJOIN transitions AS t ON t.client = s.client\nWHERE t.deployment = {dep} AND t.state = '{until}' AND t.time_ms < {to}\n  AND (t.time_ms > s.start_ms OR (t.time_ms = s.start_ms AND t.seq > s.start_seq))\nGROUP BY s.client"
        ),
    );
    q.cte(
        "spans",
        "members of the population (taken at TO) that started: start and end (NULL: still open)",
        format!(
            "SELECT s.start_ms, e.end_ms\nFROM {pop} AS p\nJOIN starts AS s ON s.client = p.client\nLEFT JOIN ends AS e ON e.client = p.client"
        ),
    );
    q.cte(
        "totals",
        "clients that started, and those of them that reached the end",
        "SELECT count(*) AS started, count(end_ms) AS reached\nFROM spans",
    );
    q.cte(
        "ranked",
        "the durations of those that reached the end, smallest first",
        "SELECT end_ms - start_ms AS d, row_number() OVER (ORDER BY end_ms - start_ms) AS r\nFROM spans\nWHERE end_ms IS NOT NULL",
    );
    let rank = |p: u32| sql.index_div(&format!("{p} * t.reached + 99"), "100");
    q.cte(
        "percentiles",
        "nearest rank: the ceil(p * n)-th smallest duration (NULL when nobody reached the end)",
        format!(
            "SELECT max(CASE WHEN r = {} THEN d END) AS p50,\n       max(CASE WHEN r = {} THEN d END) AS p90,\n       max(CASE WHEN r = {} THEN d END) AS p99,\n       max(CASE WHEN r > 0 THEN d END) AS longest\nFROM ranked\nCROSS JOIN totals AS t",
            rank(50),
            rank(90),
            rank(99)
        ),
    );
    q.select = "SELECT\n    t.started AS \"started\",\n    t.reached AS \"reached\",\n    t.started - t.reached AS \"open\",\n    p.p50 AS \"p50_ms\",\n    p.p90 AS \"p90_ms\",\n    p.p99 AS \"p99_ms\",\n    p.longest AS \"max_ms\"\nFROM totals AS t\nCROSS JOIN percentiles AS p".to_owned();
    q
}
