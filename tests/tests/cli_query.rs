//! `rollcall query` and piped batches: hand-worked answers on the fixture
//! (see `common/mod.rs`), every output format, parameters, errors and exit
//! codes, `ROLLCALL_DB`, broken pipes.

mod common;

use std::io::Read;
use std::process::Stdio;

use common::{Env, stderr_of, stdout_of};
use predicates::prelude::*;

const HEADER: &str = "time,NotStarted,Compliant,InProgress,NonCompliant,Failed,Unknown,total\n";

fn fixture() -> Env {
    let env = Env::new();
    env.load_fixture();
    env
}

#[test]
fn states_at_a_time() {
    let env = fixture();
    assert_eq!(
        env.query_csv("STATES IN \"All Desktops\" AT 2026-10-01T12:00:00Z"),
        format!("{HEADER}2026-10-01T12:00:00Z,0,1,0,0,2,0,3\n")
    );
    // All clients: PC-4 has only a membership change, so it is NotStarted;
    // PC-3 failed after leaving the collection but still counts here.
    assert_eq!(
        env.query_csv("STATES AT 2026-10-07"),
        format!("{HEADER}2026-10-07T00:00:00Z,1,1,0,0,2,0,4\n")
    );
    assert_eq!(
        env.query_csv("states for preproduction in \"Pilot Ring\" at 2026-10-03;"),
        format!("{HEADER}2026-10-03T00:00:00Z,0,0,0,0,1,0,1\n")
    );
}

#[test]
fn states_series_follows_membership() {
    let env = fixture();
    assert_eq!(
        env.query_csv("STATES IN \"All Desktops\" FROM 2026-10-01 TO 2026-10-08 EVERY 1d"),
        format!(
            "{HEADER}\
             2026-10-01T00:00:00Z,3,0,0,0,0,0,3\n\
             2026-10-02T00:00:00Z,0,1,0,0,2,0,3\n\
             2026-10-03T00:00:00Z,0,2,0,0,1,0,3\n\
             2026-10-04T00:00:00Z,0,2,0,0,1,0,3\n\
             2026-10-05T00:00:00Z,0,1,0,0,1,0,2\n\
             2026-10-06T00:00:00Z,0,1,0,0,1,0,2\n\
             2026-10-07T00:00:00Z,0,1,0,0,1,0,2\n"
        )
    );
}

#[test]
fn states_by_collection_lists_every_collection() {
    let env = fixture();
    assert_eq!(
        env.query_csv("STATES BY COLLECTION AT 2026-10-04"),
        "collection,NotStarted,Compliant,InProgress,NonCompliant,Failed,Unknown,total\n\
         All Desktops,0,2,0,0,1,0,3\n\
         Pilot Ring,1,0,0,0,0,0,1\n"
    );
}

#[test]
fn failure_histograms() {
    let env = fixture();
    // PC-3's failure on 10-06 is after it left All Desktops: not counted.
    assert_eq!(
        env.query_csv("FAILURES IN \"All Desktops\" FROM 2026-10-01 TO 2026-10-08 EVERY 1d"),
        "bucket,failures\n\
         2026-10-01T00:00:00Z,2\n\
         2026-10-02T00:00:00Z,0\n\
         2026-10-03T00:00:00Z,1\n\
         2026-10-04T00:00:00Z,0\n\
         2026-10-05T00:00:00Z,0\n\
         2026-10-06T00:00:00Z,0\n\
         2026-10-07T00:00:00Z,0\n"
    );
    assert_eq!(
        env.query_csv("FAILURES FROM 2026-10-01 TO 2026-10-08 EVERY 1d BY ERROR"),
        "bucket,error,failures\n\
         2026-10-01T00:00:00Z,0x80070005,1\n\
         2026-10-01T00:00:00Z,0x87d00324,1\n\
         2026-10-03T00:00:00Z,0x87d00324,1\n\
         2026-10-06T00:00:00Z,0x80070005,1\n"
    );
}

#[test]
fn clients_and_history() {
    let env = fixture();
    assert_eq!(
        env.query_csv("CLIENTS IN \"All Desktops\" AT 2026-10-04 WHERE STATE = Failed"),
        "client,state,since\nPC-2,Failed,2026-10-03T08:00:00Z\n"
    );
    assert_eq!(
        env.query_csv("CLIENTS IN \"All Desktops\" AT 2026-10-04 LIMIT 2"),
        "client,state,since\nPC-1,Compliant,2026-10-02T09:00:00Z\nPC-2,Failed,2026-10-03T08:00:00Z\n"
    );
    assert_eq!(
        env.query_csv("HISTORY \"PC-1\""),
        "time,deployment,state,error\n\
         2026-10-01T10:00:00Z,production,InProgress,\n\
         2026-10-01T11:00:00Z,production,Failed,0x80070005\n\
         2026-10-02T09:00:00Z,production,Compliant,\n"
    );
}

#[test]
fn every_output_format() {
    let env = fixture();
    let rql = "STATES IN \"All Desktops\" AT 2026-10-04";
    let json = env
        .cmd()
        .args(["query", rql, "--format", "json"])
        .assert()
        .success();
    assert_eq!(
        stdout_of(&json),
        "[\n  {\"time\":\"2026-10-04T00:00:00Z\",\"NotStarted\":0,\"Compliant\":2,\"InProgress\":0,\"NonCompliant\":0,\"Failed\":1,\"Unknown\":0,\"total\":3}\n]\n"
    );
    let nd = env
        .cmd()
        .args([
            "query",
            "CLIENTS IN \"All Desktops\" AT 2026-10-01T10:30:00Z",
            "--format",
            "ndjson",
        ])
        .assert()
        .success();
    assert_eq!(
        stdout_of(&nd),
        "{\"client\":\"PC-1\",\"state\":\"InProgress\",\"since\":\"2026-10-01T10:00:00Z\"}\n\
         {\"client\":\"PC-2\",\"state\":\"InProgress\",\"since\":\"2026-10-01T10:00:00Z\"}\n\
         {\"client\":\"PC-3\",\"state\":\"Compliant\",\"since\":\"2026-10-01T10:00:00Z\"}\n"
    );
    let table = env
        .cmd()
        .args(["query", rql, "--format", "table"])
        .assert()
        .success();
    let text = stdout_of(&table);
    assert!(
        text.contains("Compliant") && text.contains('█'),
        "table with bars: {text}"
    );
    // Not a terminal: csv by default.
    let csv = env.cmd().args(["query", rql]).assert().success();
    assert!(stdout_of(&csv).starts_with(HEADER));
    env.cmd()
        .args(["query", rql, "--format", "xml"])
        .assert()
        .code(2)
        .stdout("");
}

#[test]
fn several_statements_are_separated_by_a_blank_line() {
    let env = fixture();
    let out = env
        .cmd()
        .args([
            "query",
            "STATES IN \"All Desktops\" AT 2026-10-04; -- first\nCLIENTS IN \"Pilot Ring\" AT 2026-10-04;",
        ])
        .assert()
        .success();
    assert_eq!(
        stdout_of(&out),
        format!("{HEADER}2026-10-04T00:00:00Z,0,2,0,0,1,0,3\n\nclient,state,since\nPC-4,NotStarted,\n")
    );
}

#[test]
fn parameters_bound_and_unbound() {
    let env = fixture();
    let rql = "FAILURES IN \"All Desktops\" FROM $from TO $from + 3d EVERY $step";
    let out = env
        .cmd()
        .args(["query", rql, "--param", "from=2026-10-01", "-p", "step=1d"])
        .assert()
        .success();
    assert_eq!(
        stdout_of(&out),
        "bucket,failures\n2026-10-01T00:00:00Z,2\n2026-10-02T00:00:00Z,0\n2026-10-03T00:00:00Z,1\n"
    );
    let a = env.cmd().args(["query", rql]).assert().code(2).stdout("");
    let err = stderr_of(&a);
    assert!(err.contains("parameter $from has no value"), "{err}");
    assert!(
        err.contains("parameter $step has no value"),
        "every unbound parameter is named: {err}"
    );
    env.cmd()
        .args(["query", rql, "--param", "nonsense"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("expected NAME=VALUE"));
}

#[test]
fn syntax_errors_exit_2_with_a_caret() {
    let env = fixture();
    let a = env
        .cmd()
        .args(["query", "STATES IN \"All Desktops\" AT NOOW"])
        .assert()
        .code(2)
        .stdout("");
    let err = stderr_of(&a);
    assert!(err.contains("--> query:1:29"), "{err}");
    assert!(err.contains("^^^^"), "{err}");
}

#[test]
fn unknown_names_exit_1_with_a_suggestion() {
    let env = fixture();
    let a = env
        .cmd()
        .args(["query", "STATES IN \"All Desktop\" AT 2026-10-04"])
        .assert()
        .code(1)
        .stdout("");
    let err = stderr_of(&a);
    assert!(err.contains("unknown collection \"All Desktop\""), "{err}");
    assert!(err.contains("did you mean \"All Desktops\"?"), "{err}");
}

#[test]
fn missing_store_is_a_runtime_error() {
    let env = Env::new();
    env.cmd()
        .args(["query", "STATES AT 2026-10-04"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("no rollcall store"));
}

#[test]
fn rollcall_db_and_the_default_directory() {
    let env = Env::new();
    let m = env.write("members.csv", common::MEMBERS_CSV);
    // No --db, no ROLLCALL_DB: ./rollcall.db.
    env.bare().args(["ingest", "members"]).arg(&m).assert().success();
    assert!(env.path().join("rollcall.db").is_dir());
    // ROLLCALL_DB names another directory; --db wins over it.
    let other = env.path().join("other.db");
    env.bare()
        .env("ROLLCALL_DB", &other)
        .args(["ingest", "members"])
        .arg(&m)
        .assert()
        .success();
    assert!(other.is_dir());
    let out = env
        .bare()
        .env("ROLLCALL_DB", &other)
        .args(["query", "SHOW COLLECTIONS", "--format", "csv"])
        .assert()
        .success();
    assert!(stdout_of(&out).contains("All Desktops"));
    env.bare()
        .env("ROLLCALL_DB", env.path().join("nowhere"))
        .args(["--db", "rollcall.db", "query", "STATES AT 2026-10-04"])
        .assert()
        .success();
}

#[test]
fn piped_statements_run_as_a_batch() {
    let env = fixture();
    let input = "STATES IN \"All Desktops\"\n  AT 2026-10-04;\n.format ndjson\n-- a comment\nCLIENTS IN \"Pilot Ring\" AT 2026-10-04;\n";
    let out = env.cmd().write_stdin(input).assert().success();
    assert_eq!(
        stdout_of(&out),
        format!(
            "{HEADER}2026-10-04T00:00:00Z,0,2,0,0,1,0,3\n\n{{\"client\":\"PC-4\",\"state\":\"NotStarted\",\"since\":null}}\n"
        )
    );
    // The first error stops the batch with its exit code.
    let out = env
        .cmd()
        .write_stdin("STATES AT 2026-10-04;\nSTATES AT;\nSTATES AT 2026-10-05;\n")
        .assert()
        .code(2);
    assert_eq!(
        stdout_of(&out),
        format!("{HEADER}2026-10-04T00:00:00Z,1,2,0,0,1,0,4\n")
    );
}

#[test]
fn broken_pipe_exits_quietly_with_0() {
    let env = fixture();
    let mut child = std::process::Command::new(common::bin())
        .arg("--db")
        .arg(env.db())
        .args(["query", "FAILURES FROM 2026-01-01 TO 2026-03-01 EVERY 1m"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn rollcall");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut first = [0u8; 16];
    stdout.read_exact(&mut first).expect("read the first bytes");
    assert_eq!(&first, b"bucket,failures\n");
    drop(stdout);
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .expect("read stderr");
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(0), "stderr: {stderr}");
    assert_eq!(stderr, "");
}
