//! `rollcall run FILE.rql`: parameters checked first, statements in order,
//! `--output-dir` file naming, the failing statement named.

mod common;

use common::{Env, stderr_of, stdout_of};
use predicates::prelude::*;

const WEEKLY: &str = "\
-- The weekly report.
-- name: desktops
STATES IN \"All Desktops\" AT $at;

FAILURES IN \"All Desktops\" FROM $from TO $from + 3d EVERY 1d;
";

fn fixture() -> Env {
    let env = Env::new();
    env.load_fixture();
    env
}

#[test]
fn runs_statements_in_order_to_stdout() {
    let env = fixture();
    let rql = env.write("weekly.rql", WEEKLY);
    let out = env
        .cmd()
        .arg("run")
        .arg(&rql)
        .args(["--param", "at=2026-10-04", "--param", "from=2026-10-01"])
        .assert()
        .success();
    assert_eq!(
        stdout_of(&out),
        "time,NotStarted,Compliant,InProgress,NonCompliant,Failed,Unknown,total\n\
         2026-10-04T00:00:00Z,0,2,0,0,1,0,3\n\
         \n\
         bucket,failures\n\
         2026-10-01T00:00:00Z,2\n\
         2026-10-02T00:00:00Z,0\n\
         2026-10-03T00:00:00Z,1\n"
    );
}

#[test]
fn output_dir_writes_one_file_per_statement() {
    let env = fixture();
    let rql = env.write("weekly.rql", WEEKLY);
    let dir = env.path().join("out");
    let a = env
        .cmd()
        .arg("run")
        .arg(&rql)
        .args([
            "--param",
            "at=2026-10-04",
            "--param",
            "from=2026-10-01",
            "--output-dir",
        ])
        .arg(&dir)
        .assert()
        .success()
        .stdout("");
    assert!(stderr_of(&a).contains("desktops.csv (1 row)"));
    assert_eq!(
        std::fs::read_to_string(dir.join("desktops.csv")).unwrap(),
        "time,NotStarted,Compliant,InProgress,NonCompliant,Failed,Unknown,total\n2026-10-04T00:00:00Z,0,2,0,0,1,0,3\n"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("02.csv")).unwrap(),
        "bucket,failures\n2026-10-01T00:00:00Z,2\n2026-10-02T00:00:00Z,0\n2026-10-03T00:00:00Z,1\n"
    );
    env.cmd()
        .arg("run")
        .arg(&rql)
        .args([
            "-p",
            "at=2026-10-04",
            "-p",
            "from=2026-10-01",
            "--format",
            "json",
            "--output-dir",
        ])
        .arg(&dir)
        .assert()
        .success();
    let json = std::fs::read_to_string(dir.join("02.json")).unwrap();
    assert!(
        json.starts_with("[\n  {\"bucket\":\"2026-10-01T00:00:00Z\",\"failures\":2}"),
        "{json}"
    );
    assert!(dir.join("desktops.json").is_file());
}

#[test]
fn unbound_parameters_fail_before_anything_runs() {
    let env = fixture();
    let rql = env.write("weekly.rql", WEEKLY);
    let dir = env.path().join("out");
    let a = env
        .cmd()
        .arg("run")
        .arg(&rql)
        .args(["--param", "at=2026-10-04", "--output-dir"])
        .arg(&dir)
        .assert()
        .code(2)
        .stdout("");
    let err = stderr_of(&a);
    assert!(err.contains("parameter $from has no value"), "{err}");
    assert!(
        err.contains("weekly.rql:5:"),
        "the diagnostic points into the file: {err}"
    );
    assert!(!dir.exists(), "nothing ran, nothing was written");
}

#[test]
fn a_failing_statement_is_named_and_stops_the_run() {
    let env = fixture();
    let rql = env.write(
        "report.rql",
        "STATES IN \"All Desktops\" AT 2026-10-04;\n-- name: pilots\nSTATES IN \"Pilot Rng\" AT 2026-10-04;\nSTATES AT 2026-10-04;\n",
    );
    let a = env.cmd().arg("run").arg(&rql).assert().code(1);
    assert_eq!(
        stdout_of(&a),
        "time,NotStarted,Compliant,InProgress,NonCompliant,Failed,Unknown,total\n2026-10-04T00:00:00Z,0,2,0,0,1,0,3\n"
    );
    let err = stderr_of(&a);
    assert!(err.contains("unknown collection \"Pilot Rng\""), "{err}");
    assert!(err.contains("report.rql:3:11"), "{err}");
    assert!(err.contains("statement 2 of 3 (pilots) failed"), "{err}");
}

#[test]
fn syntax_errors_and_missing_files() {
    let env = fixture();
    let rql = env.write("bad.rql", "STATES AT 2026-10-04;\nSTATES BY AT NOW;\n");
    env.cmd()
        .arg("run")
        .arg(&rql)
        .assert()
        .code(2)
        .stdout("")
        .stderr(predicate::str::contains("bad.rql:2:"));
    env.cmd()
        .args(["run", "missing.rql"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("read missing.rql"));
}

#[test]
fn duplicate_output_names_are_a_usage_error() {
    let env = fixture();
    let rql = env.write(
        "dup.rql",
        "-- name: 02\nSTATES AT 2026-10-04;\nSTATES AT 2026-10-05;\n",
    );
    env.cmd()
        .arg("run")
        .arg(&rql)
        .arg("--output-dir")
        .arg(env.path().join("o"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("two statements would write 02.csv"));
}

#[test]
fn an_unused_parameter_is_an_error_with_the_closest_used_name() {
    let env = fixture();
    let rql = env.write("one.rql", "STATES AT 2026-10-04;");
    env.cmd()
        .arg("run")
        .arg(&rql)
        .args(["--param", "form=2026-10-01"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "does not use parameter `form` (it uses no parameters)",
        ));
    // A typo of a used parameter: refused before the unbound one is
    // reported, with the name meant.
    let rql = env.write(
        "two.rql",
        "STATES AT $from;\nFAILURES FROM $from TO 2026-10-05 EVERY 1d;",
    );
    let a = env
        .cmd()
        .arg("run")
        .arg(&rql)
        .args(["--param", "fro=2026-10-01"])
        .assert()
        .code(2);
    let err = String::from_utf8_lossy(&a.get_output().stderr).into_owned();
    assert!(
        err.contains("does not use parameter `fro` (did you mean `from`?)"),
        "{err}"
    );
    assert!(!err.contains("has no value"), "{err}");
}

#[test]
fn a_bad_parameter_value_is_reported_once_however_often_it_is_used() {
    let env = fixture();
    let rql = env.write(
        "three.rql",
        "STATES AT $from;\nFAILURES FROM $from TO NOW EVERY 1d;\nSTATES IN \"All Desktops\" AT $from;\n",
    );
    let a = env
        .cmd()
        .arg("run")
        .arg(&rql)
        .args(["--param", "from=yesterday"])
        .assert()
        .code(2);
    let err = String::from_utf8_lossy(&a.get_output().stderr).into_owned();
    assert_eq!(err.matches("error:").count(), 1, "{err}");
    assert!(
        err.contains("--param from=\"yesterday\" is not a time (used 3 times, first here)"),
        "{err}"
    );
    assert!(err.contains("three.rql:1:11"), "{err}");
}
