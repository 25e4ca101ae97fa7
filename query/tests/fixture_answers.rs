//! Hand-worked answers on the fixture store (see `common/mod.rs` for its
//! layout). Each expectation below was derived from the layout by hand, not
//! recorded from a run; the comments give the reasoning.

mod common;

use common::{LAPTOP, fixture, now};
use rollcall_query::{ExecOptions, OutputFormat, Params, execute, parse_script, render};

fn run_csv(store: &rollcall_engine::Store, rql: &str) -> String {
    run_with(store, rql, Params::new())
}

fn run_with(store: &rollcall_engine::Store, rql: &str, params: Params) -> String {
    let script = parse_script(rql).unwrap_or_else(|e| panic!("{}", e.render(rql, "test")));
    let opts = ExecOptions {
        now: now(),
        params,
        cancel: None,
    };
    let mut out = Vec::new();
    for s in &script.statements {
        let table = execute(&store.snapshot(), &s.statement, &opts)
            .unwrap_or_else(|e| panic!("{}", e.render(rql, "test")));
        render(&table, OutputFormat::Csv, &mut out).expect("render");
    }
    String::from_utf8(out).expect("utf-8")
}

const HEAD: &str = "NotStarted,Compliant,InProgress,NonCompliant,Failed,Unknown,total";

#[test]
fn states_at_a_time_in_a_collection() {
    let (_d, store) = fixture();
    // Members at 10-01T12: PC-01..05. PC-01: InProgress 01:00, late Failed
    // 01:30, Compliant 02:00 -> Compliant. PC-02 Failed 03:00. PC-03: Failed
    // and Compliant at the same ms, Compliant ingested last. PC-04
    // NonCompliant. PC-05 Failed.
    assert_eq!(
        run_csv(&store, r#"STATES IN "All Desktops" AT 2026-10-01T12:00:00Z"#),
        format!("time,{HEAD}\n2026-10-01T12:00:00Z,0,2,0,1,2,0,5\n")
    );
    // At NOW: PC-05 left, PC-06 joined (no transitions: NotStarted), PC-02
    // failed again, PC-04 InProgress since 10-02T09:00:00.250.
    assert_eq!(
        run_csv(&store, r#"STATES IN "All Desktops" AT NOW"#),
        format!("time,{HEAD}\n2026-10-03T00:00:00Z,1,2,1,0,1,0,5\n")
    );
}

#[test]
fn states_of_all_clients_see_late_rows() {
    let (_d, store) = fixture();
    // Population at 01:45: everyone with a membership change by then
    // (PC-01..05, Laptop). PC-01's late Failed at 01:30 is its state.
    assert_eq!(
        run_csv(&store, "STATES AT 2026-10-01T01:45:00Z"),
        format!("time,{HEAD}\n2026-10-01T01:45:00Z,4,0,1,0,1,0,6\n")
    );
}

#[test]
fn states_for_another_deployment_with_same_ms_membership_ties() {
    let (_d, store) = fixture();
    // Pilot Ring at NOW: PC-01, PC-02, PC-03 (leave+join at one ms: join
    // last), not PC-04 (join+leave: leave last). Preproduction: PC-01
    // Compliant, PC-02 Failed, PC-03 none -> NotStarted.
    assert_eq!(
        run_csv(&store, r#"STATES FOR preproduction IN "Pilot Ring" AT NOW"#),
        format!("time,{HEAD}\n2026-10-03T00:00:00Z,1,1,0,0,1,0,3\n")
    );
}

#[test]
fn states_series_points_include_events_at_the_point() {
    let (_d, store) = fixture();
    // 10-01T00: joins at 00:00 count (<= t), no transitions yet.
    // 10-02T00: PC-05's leave at exactly 00:00 counts. 10-02T12: PC-06's
    // join at exactly 12:00 counts.
    assert_eq!(
        run_csv(
            &store,
            r#"STATES IN "All Desktops" FROM 2026-10-01 TO 2026-10-03 EVERY 12h"#
        ),
        format!(
            "time,{HEAD}\n\
             2026-10-01T00:00:00Z,5,0,0,0,0,0,5\n\
             2026-10-01T12:00:00Z,0,2,0,1,2,0,5\n\
             2026-10-02T00:00:00Z,0,2,0,1,1,0,4\n\
             2026-10-02T12:00:00Z,1,2,1,0,1,0,5\n"
        )
    );
}

#[test]
fn states_by_collection_with_stale_clients() {
    let (_d, store) = fixture();
    // T = NOW - 1d = 10-02T00; stale when the latest transition is before
    // 10-01T04:00 (strictly): PC-01 (02:00), PC-02 (03:00), Laptop (02:00).
    // PC-04 at exactly 04:00 is not stale. Every collection is listed,
    // sorted bytewise.
    assert_eq!(
        run_csv(&store, "STATES BY COLLECTION AT NOW - 1d STALE AFTER 20h"),
        format!(
            "collection,{HEAD}\n\
             All Desktops,0,1,0,1,0,2,4\n\
             Laptops,0,0,0,0,0,1,1\n\
             Pilot Ring,0,0,0,0,0,2,2\n"
        )
    );
    // At NOW the laptop has left: a collection with no members still shows.
    assert_eq!(
        run_csv(&store, "STATES BY COLLECTION AT NOW"),
        format!(
            "collection,{HEAD}\n\
             All Desktops,1,2,1,0,1,0,5\n\
             Laptops,0,0,0,0,0,0,0\n\
             Pilot Ring,0,2,0,0,1,0,3\n"
        )
    );
}

#[test]
fn failures_judge_membership_at_the_failure_time() {
    let (_d, store) = fixture();
    // Failed transitions: PC-01 10-01T01:30 (late), PC-02 10-01T03:00 (its
    // duplicate ignored), PC-03 10-01T05:00 (stored although Compliant won
    // the tie), PC-05 10-01T06:00, PC-02 10-02T02:00, PC-05 10-02T06:00 (after
    // leaving All Desktops, so only without IN).
    assert_eq!(
        run_csv(
            &store,
            r#"FAILURES IN "All Desktops" FROM 2026-10-01 TO 2026-10-03 EVERY 1d"#
        ),
        "bucket,failures\n2026-10-01T00:00:00Z,4\n2026-10-02T00:00:00Z,1\n"
    );
    assert_eq!(
        run_csv(&store, "FAILURES FROM 2026-10-01 TO 2026-10-03 EVERY 1d"),
        "bucket,failures\n2026-10-01T00:00:00Z,4\n2026-10-02T00:00:00Z,2\n"
    );
    // The last bucket is cut at TO: 10-02T02:00 is in, 10-02T06:00 is not.
    assert_eq!(
        run_csv(
            &store,
            "FAILURES FROM 2026-10-01 TO 2026-10-02T03:00:00Z EVERY 1d"
        ),
        "bucket,failures\n2026-10-01T00:00:00Z,4\n2026-10-02T00:00:00Z,1\n"
    );
}

#[test]
fn failures_by_error_order() {
    let (_d, store) = fixture();
    // 10-01: 0x80070005 x3, no code x1 (PC-03). 10-02: one each of
    // 0x80070005 and 0x80070643, ascending by code.
    assert_eq!(
        run_csv(&store, "FAILURES FROM 2026-10-01 TO 2026-10-03 EVERY 1d BY ERROR"),
        "bucket,error,failures\n\
         2026-10-01T00:00:00Z,0x80070005,3\n\
         2026-10-01T00:00:00Z,,1\n\
         2026-10-02T00:00:00Z,0x80070005,1\n\
         2026-10-02T00:00:00Z,0x80070643,1\n"
    );
}

#[test]
fn clients_with_filters_and_limit() {
    let (_d, store) = fixture();
    assert_eq!(
        run_csv(&store, r#"CLIENTS IN "All Desktops" AT NOW"#),
        "client,state,since\n\
         PC-01,Compliant,2026-10-01T02:00:00Z\n\
         PC-02,Failed,2026-10-02T02:00:00Z\n\
         PC-03,Compliant,2026-10-01T05:00:00Z\n\
         PC-04,InProgress,2026-10-02T09:00:00.250Z\n\
         PC-06,NotStarted,\n"
    );
    assert_eq!(
        run_csv(
            &store,
            r#"CLIENTS IN "All Desktops" AT NOW WHERE STATE = failed LIMIT 50"#
        ),
        "client,state,since\nPC-02,Failed,2026-10-02T02:00:00Z\n"
    );
    assert_eq!(
        run_csv(
            &store,
            r#"CLIENTS IN "All Desktops" AT NOW WHERE STATE IN (Compliant, "not started") LIMIT 2"#
        ),
        "client,state,since\nPC-01,Compliant,2026-10-01T02:00:00Z\nPC-03,Compliant,2026-10-01T05:00:00Z\n"
    );
    // Every client, the quoted one first (bytewise 'L' < 'P'), CSV-quoted.
    let all = run_csv(&store, "CLIENTS AT NOW");
    assert_eq!(
        all,
        "client,state,since\n\
         \"Laptop, \"\"7\"\"\",Compliant,2026-10-01T02:00:00Z\n\
         PC-01,Compliant,2026-10-01T02:00:00Z\n\
         PC-02,Failed,2026-10-02T02:00:00Z\n\
         PC-03,Compliant,2026-10-01T05:00:00Z\n\
         PC-04,InProgress,2026-10-02T09:00:00.250Z\n\
         PC-05,Failed,2026-10-02T06:00:00Z\n\
         PC-06,NotStarted,\n"
    );
    assert!(all.contains(&LAPTOP.replace('"', "\"\"")));
}

#[test]
fn history_in_time_then_ingest_order() {
    let (_d, store) = fixture();
    assert_eq!(
        run_csv(&store, r#"HISTORY "PC-02""#),
        "time,deployment,state,error\n\
         2026-10-01T00:30:00Z,preproduction,Failed,0x00000001\n\
         2026-10-01T01:00:00Z,production,InProgress,\n\
         2026-10-01T03:00:00Z,production,Failed,0x80070005\n\
         2026-10-02T01:00:00Z,production,InProgress,\n\
         2026-10-02T02:00:00Z,production,Failed,0x80070005\n"
    );
    assert_eq!(
        run_csv(&store, "HISTORY PC-03"),
        "time,deployment,state,error\n\
         2026-10-01T05:00:00Z,production,Failed,\n\
         2026-10-01T05:00:00Z,production,Compliant,\n"
    );
    // Half-open: 02:00 is out; the preproduction row at 00:30 is before FROM.
    assert_eq!(
        run_csv(
            &store,
            "HISTORY PC-01 FROM 2026-10-01T01:00:00Z TO 2026-10-01T02:00:00Z"
        ),
        "time,deployment,state,error\n\
         2026-10-01T01:00:00Z,production,InProgress,\n\
         2026-10-01T01:30:00Z,production,Failed,0x80070005\n"
    );
    assert_eq!(
        run_csv(&store, "HISTORY PC-04 FOR production FROM 2026-10-02 TO NOW"),
        "time,deployment,state,error\n2026-10-02T09:00:00.250Z,production,InProgress,\n"
    );
}

#[test]
fn show_statements() {
    let (_d, store) = fixture();
    assert_eq!(
        run_csv(&store, "SHOW COLLECTIONS"),
        "collection\nAll Desktops\nLaptops\nPilot Ring\n"
    );
    assert_eq!(
        run_csv(&store, "SHOW DEPLOYMENTS"),
        "deployment\npreproduction\nproduction\n"
    );
    // Production transitions with a code in [10-01, NOW): 0x80070005 on
    // PC-01, PC-02 twice, PC-05; 0x87d00324 on PC-04; 0x80070643 on PC-05.
    assert_eq!(
        run_csv(&store, "SHOW ERRORS FROM 2026-10-01 TO NOW"),
        "error,transitions\n0x80070005,4\n0x80070643,1\n0x87d00324,1\n"
    );
    let stats = run_csv(&store, "SHOW STATS");
    for line in [
        "clients,7",
        "collections,3",
        "deployments,2",
        "transitions,16",
        "membership_changes,15",
        "first_transition,2026-10-01T00:30:00Z",
        "last_transition,2026-10-02T09:00:00.250Z",
    ] {
        assert!(stats.lines().any(|l| l == line), "{line} missing from\n{stats}");
    }
}

#[test]
fn parameters_bind_times_and_durations() {
    let (_d, store) = fixture();
    let params = Params::from([
        ("from".to_owned(), "2026-10-01".to_owned()),
        ("to".to_owned(), "NOW - 1d".to_owned()),
        ("step".to_owned(), "12h".to_owned()),
    ]);
    assert_eq!(
        run_with(
            &store,
            r#"FAILURES IN "All Desktops" FROM $from TO $to + 1d EVERY $step"#,
            params
        ),
        "bucket,failures\n\
         2026-10-01T00:00:00Z,4\n\
         2026-10-01T12:00:00Z,0\n\
         2026-10-02T00:00:00Z,1\n\
         2026-10-02T12:00:00Z,0\n"
    );
}

#[test]
fn explain_reports_plan_and_work() {
    let (_d, store) = fixture();
    let out = run_csv(
        &store,
        r#"EXPLAIN STATES IN "All Desktops" FROM 2026-10-01 TO 2026-10-03 EVERY 12h"#,
    );
    for line in [
        "name,value",
        "statement,STATES IN \"\"All Desktops\"\" FROM 2026-10-01 TO 2026-10-03 EVERY 12h",
        "engine_call,state_series",
        "deployment,production",
        "collection,All Desktops",
        "points,4",
        "result_rows,4",
    ] {
        assert!(
            out.lines()
                .any(|l| l == line || l == format!("\"{}\"", line).replace("\"statement,", "statement,\"")),
            "{line} missing from\n{out}"
        );
    }
    let value = |name: &str| -> u64 {
        out.lines()
            .find_map(|l| l.strip_prefix(&format!("{name},")))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{name} missing from\n{out}"))
    };
    assert!(value("runs_read") >= 2, "a segment and a memtable chunk");
    assert!(value("rows_scanned") > 0);
}

#[test]
fn default_deployment_is_known_in_an_empty_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store =
        rollcall_engine::Store::create(dir.path(), rollcall_engine::Options::default()).expect("store");
    assert_eq!(
        run_csv(&store, "STATES FOR production AT NOW; SHOW DEPLOYMENTS"),
        format!("time,{HEAD}\n2026-10-03T00:00:00Z,0,0,0,0,0,0,0\ndeployment\nproduction\n")
    );
}

#[test]
fn a_set_cancel_flag_stops_the_statement() {
    let (_d, store) = fixture();
    let flag = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let script = parse_script("STATES AT NOW").expect("parse");
    let opts = ExecOptions {
        now: now(),
        params: Params::new(),
        cancel: Some(flag.clone()),
    };
    let err = execute(&store.snapshot(), &script.statements[0].statement, &opts).expect_err("cancelled");
    assert!(matches!(err.kind(), rollcall_query::ErrorKind::Cancelled));
    assert_eq!(err.exit_code(), 1);
    flag.store(false, std::sync::atomic::Ordering::Relaxed);
    assert!(execute(&store.snapshot(), &script.statements[0].statement, &opts).is_ok());
}
