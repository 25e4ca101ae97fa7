//! Unit tests of the translation: binding agrees with `plan`, names are
//! checked against a store, literals cannot escape, refused statements.
//! Running the SQL on DuckDB and ClickHouse is the job of
//! `tests/tests/export_translate.rs`.

use rollcall_engine::{Batch, Change, Options, State, Store, Timestamp};

use super::*;
use crate::exec::ExecOptions;
use crate::plan::{self, Plan};
use crate::syntax::parse_script;

const NOW: Timestamp = Timestamp(1_793_491_200_000); // 2026-11-01T00:00:00Z

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut store = Store::create(dir.path(), Options::default()).expect("create store");
    let mut batch = Batch::new();
    batch
        .push_membership(Timestamp(0), "PC-1", "All Desktops", Change::Join)
        .expect("row");
    batch
        .push_membership(Timestamp(0), "PC-2", "Pilot Ring", Change::Join)
        .expect("row");
    batch
        .push_transition(Timestamp(1_000), "PC-1", "production", State::Failed, None)
        .expect("row");
    batch
        .push_transition(Timestamp(1_000), "PC-2", "preproduction", State::Compliant, None)
        .expect("row");
    store.append(&batch).expect("append");
    (dir, store)
}

fn one(text: &str) -> ScriptStatement {
    let mut script = parse_script(text).expect("parses");
    assert_eq!(script.statements.len(), 1);
    script.statements.remove(0)
}

fn opts(dialect: Dialect) -> TranslateOptions {
    let mut o = TranslateOptions::new(dialect, NOW);
    o.params.insert("from".into(), "NOW - 7d".into());
    o.params.insert("step".into(), "1d".into());
    o.params.insert("zero".into(), "0s".into());
    o
}

fn bind(text: &str, store: Option<&Snapshot>) -> Result<Bound, QueryError> {
    let st = one(text);
    let o = opts(Dialect::DuckDb);
    let b = Binder {
        opts: &o,
        store,
        zone: None,
    };
    b.statement(&st.statement, Span::from(st.span.clone()))
}

/// The binder evaluates times, ranges and steps exactly as `plan` does.
#[test]
fn binding_agrees_with_plan() {
    let (_dir, store) = store();
    let snap = store.snapshot();
    let exec = ExecOptions {
        now: NOW,
        params: opts(Dialect::DuckDb).params,
        cancel: None,
    };
    let cases = [
        "STATES IN \"All Desktops\" AT NOW - 1d",
        "STATES FOR preproduction IN \"Pilot Ring\" AT $from + 2h STALE AFTER 1h",
        "STATES FROM $from TO NOW EVERY $step",
        "STATES BY COLLECTION AT NOW - 1d STALE AFTER 7d",
        "STATES BY COLLECTION FROM 2026-10-01 TO 2026-10-02 EVERY 7h",
        "FAILURES IN \"All Desktops\" FROM 2026-10-01 TO 2026-10-01T05:30:00Z EVERY 1h",
        "FAILURES FROM NOW - 30d TO NOW EVERY 1d BY ERROR",
        "CLIENTS IN \"All Desktops\" AT NOW WHERE STATE IN (Failed, Compliant, Failed) LIMIT 50",
        "HISTORY \"PC-1\" FROM NOW - 7d TO NOW",
        "HISTORY \"PC-1\" FOR production",
    ];
    for text in cases {
        let st = one(text);
        let (p, _) = plan::plan(&snap, &st.statement, &exec).expect(text);
        let b = bind(text, Some(&snap)).expect(text);
        let agree = match (&p, &b) {
            (
                Plan::StatesAt { at, stale_after, .. },
                Bound::StatesAt {
                    at: bat,
                    stale_after: bs,
                    ..
                },
            ) => at.0 == *bat && stale_after == bs,
            (Plan::StatesSeries { steps, .. }, Bound::StatesSeries { steps: bs, .. })
            | (Plan::Failures { steps, .. }, Bound::Failures { steps: bs, .. }) => {
                steps.from.0 == bs.from
                    && steps.to.0 == bs.to
                    && steps.uniform() == Some(bs.every)
                    && steps.count() == bs.count
            }
            (Plan::StatesByCollection { at: Ok(at), .. }, Bound::ByCollectionAt { at: bat, .. }) => {
                at.0 == *bat
            }
            (
                Plan::StatesByCollection { at: Err(steps), .. },
                Bound::ByCollectionSeries { steps: bs, .. },
            ) => steps.from.0 == bs.from && steps.count() == bs.count && steps.uniform() == Some(bs.every),
            (
                Plan::Clients {
                    at, states, limit, ..
                },
                Bound::Clients {
                    at: bat,
                    states: bst,
                    limit: bl,
                    ..
                },
            ) => at.0 == *bat && states == bst && limit == bl,
            (Plan::History { range, .. }, Bound::History { range: br, .. }) => {
                range.map(|(a, b)| (a.0, b.0)) == *br
            }
            _ => false,
        };
        assert!(agree, "{text}: plan {p:?} vs bound {b:?}");
    }
}

#[test]
fn the_same_mistakes_are_refused_as_by_plan() {
    for (text, wanted) in [
        ("STATES FROM NOW TO $from EVERY 1h", "is not before TO"),
        (
            "FAILURES FROM 2026-01-01 TO 2026-01-02 EVERY $zero",
            "EVERY must be longer than zero",
        ),
        ("STATES FROM 2000-01-01 TO 2026-01-01 EVERY 1s", "the limit is"),
        ("STATES AT $nope", "has no value"),
        ("SHOW COLLECTIONS", "no SQL translation"),
        ("EXPLAIN STATES AT NOW", "no SQL translation"),
    ] {
        let st = one(text);
        let err = translate(&st, &opts(Dialect::DuckDb), None).expect_err(text);
        assert!(
            err.to_string().contains(wanted) || err.render(text, "t").contains(wanted),
            "{text}: {err}"
        );
        assert_eq!(err.exit_code(), 2, "{text}");
    }
}

#[test]
fn unknown_names_fail_with_a_store_and_pass_without() {
    let (_dir, store) = store();
    let snap = store.snapshot();
    for (text, suggestion) in [
        ("STATES IN \"All Desktop\" AT NOW", "All Desktops"),
        ("STATES FOR preproduktion AT NOW", "preproduction"),
        ("HISTORY \"PC-3\"", "PC-1"),
        ("CLIENTS IN \"pilot ring\" AT NOW", "Pilot Ring"),
    ] {
        let st = one(text);
        let err = translate(&st, &opts(Dialect::ClickHouse), Some(&snap)).expect_err(text);
        assert!(
            matches!(err.kind(), ErrorKind::UnknownName { .. }),
            "{text}: {err:?}"
        );
        assert!(
            err.render(text, "t").contains(suggestion),
            "{text}: {}",
            err.render(text, "t")
        );
        assert_eq!(err.exit_code(), 1);
        assert!(translate(&st, &opts(Dialect::ClickHouse), None).is_ok(), "{text}");
    }
    // The default deployment is known even when the store never saw it.
    let st = one("STATES FOR production AT NOW");
    assert!(translate(&st, &opts(Dialect::DuckDb), Some(&snap)).is_ok());
}

#[test]
fn literals_cannot_escape() {
    let nasty = "x'); DROP TABLE t; --\\\n\u{7}";
    let duck = duckdb::DuckDb.string(nasty);
    assert_eq!(
        duck,
        "('x''); DROP TABLE t; --\\' || chr(10) || '' || chr(7) || '')"
    );
    let ch = clickhouse::ClickHouse.string(nasty);
    assert_eq!(ch, "'x\\'); DROP TABLE t; --\\\\\\x0A\\x07'");
    assert_eq!(duckdb::DuckDb.string("All Desktops"), "'All Desktops'");
    assert_eq!(clickhouse::ClickHouse.string("O'Brien"), "'O\\'Brien'");
}

#[test]
fn sources_pick_the_table_function() {
    let st = one("HISTORY \"PC-1\"");
    let mut o = opts(Dialect::ClickHouse);
    o.source = Some("s3://bucket/fleet/".into());
    let sql = translate(&st, &o, None).expect("translates");
    assert!(
        sql.contains("s3('s3://bucket/fleet/transitions/*/*.parquet', 'Parquet')"),
        "{sql}"
    );
    o.source = Some("/data/export".into());
    let sql = translate(&st, &o, None).expect("translates");
    assert!(
        sql.contains("file('/data/export/transitions/*/*.parquet', 'Parquet')"),
        "{sql}"
    );
    assert!(sql.trim_end().ends_with("SETTINGS join_use_nulls = 1;"), "{sql}");
    o.dialect = Dialect::DuckDb;
    let sql = translate(&st, &o, None).expect("translates");
    assert!(
        sql.contains("read_parquet('/data/export/transitions/*/*.parquet')"),
        "{sql}"
    );
}

#[test]
fn header_names_the_statement_now_and_parameters() {
    let st = one("FAILURES FROM $from TO NOW EVERY $step BY ERROR");
    let sql = translate(&st, &opts(Dialect::DuckDb), None).expect("translates");
    let head: Vec<&str> = sql.lines().take(4).collect();
    assert_eq!(
        head,
        [
            "-- rollcall translate --dialect duckdb",
            "-- RQL: FAILURES FROM $from TO NOW EVERY $step BY ERROR",
            "-- NOW = 2026-11-01T00:00:00Z",
            "-- with $from = NOW - 7d, $step = 1d",
        ]
    );
    // Each step is a named CTE.
    for name in [
        "transitions AS (",
        "failures AS (",
        "failures_in_scope AS (",
        "counts AS (",
    ] {
        assert!(sql.contains(name), "{name} missing from\n{sql}");
    }
}

/// Every statement kind translates in both dialects into one query with
/// named steps and no blank line inside (scripts split on blank lines).
#[test]
fn every_kind_translates_to_one_query_without_blank_lines() {
    let kinds = [
        "STATES IN \"All Desktops\" AT 2026-11-01T12:00:00Z",
        "STATES FOR preproduction IN \"Pilot Ring\" AT NOW",
        "STATES IN \"All Desktops\" FROM 2026-10-01 TO 2026-11-01 EVERY 1d",
        "STATES FROM 2026-10-01 TO 2026-11-01 EVERY 1d STALE AFTER 2d",
        "STATES BY COLLECTION AT NOW - 1d STALE AFTER 7d",
        "STATES BY COLLECTION FROM 2026-10-01 TO 2026-11-01 EVERY 1w",
        "FAILURES IN \"All Desktops\" FROM 2026-10-01 TO 2026-11-01 EVERY 1h",
        "FAILURES FROM NOW - 30d TO NOW EVERY 1d BY ERROR",
        "CLIENTS IN \"All Desktops\" AT NOW WHERE STATE = Failed LIMIT 50",
        "CLIENTS AT NOW",
        "HISTORY \"PC-0042\" FROM NOW - 7d TO NOW",
    ];
    for dialect in [Dialect::DuckDb, Dialect::ClickHouse] {
        for text in kinds {
            let sql = translate(&one(text), &opts(dialect), None).expect(text);
            assert!(!sql.contains("\n\n"), "{text}:\n{sql}");
            assert_eq!(sql.matches(';').count(), 1, "{text}:\n{sql}");
            assert!(sql.trim_end().ends_with(';'), "{text}");
            assert!(sql.contains("\nWITH\n"), "{text}:\n{sql}");
        }
    }
}
