//! The round-2 statements through the real binary (SPEC 7.1, 7.6, 7.9): a
//! failed `GATE` makes `query`, `run` and piped batches exit 3 after every
//! statement ran and printed; a passing gate exits 0; an unknown zone is a
//! query mistake (exit 2) with a suggestion; zoned output and `SHOW ERROR`.

mod common;

use common::{Env, stderr_of, stdout_of};

fn fixture() -> Env {
    let env = Env::new();
    env.load_fixture();
    env
}

const FAILING_GATE: &str =
    "GATE FOR preproduction IN \"Pilot Ring\" AT 2026-10-03 WHEN Compliant >= 95% AND Failed <= 2%";
const PASSING_GATE: &str = "GATE IN \"All Desktops\" AT 2026-10-03 WHEN Compliant >= 60% AND Failed <= 1";

#[test]
fn a_failed_gate_exits_3_after_every_statement_printed() {
    let env = fixture();
    let rql = format!("{FAILING_GATE}; SHOW DEPLOYMENTS");
    let a = env
        .cmd()
        .args(["query", &rql, "--format", "csv"])
        .assert()
        .code(3);
    assert_eq!(
        stdout_of(&a),
        "condition,actual,passed\n\
         Compliant >= 95%,0.0%,false\n\
         Failed <= 2%,100.0%,false\n\
         \n\
         deployment\n\
         preproduction\n\
         production\n"
    );
    assert!(stderr_of(&a).contains("gate failed"), "{}", stderr_of(&a));

    let a = env
        .cmd()
        .args(["query", PASSING_GATE, "--format", "json"])
        .assert()
        .success();
    assert_eq!(
        stdout_of(&a),
        "[\n  {\"condition\":\"Compliant >= 60%\",\"actual\":\"66.7%\",\"passed\":true},\n  \
         {\"condition\":\"Failed <= 1\",\"actual\":1,\"passed\":true}\n]\n"
    );
}

#[test]
fn run_and_piped_batches_exit_3_on_a_failed_gate() {
    let env = fixture();
    let file = env.write(
        "nightly.rql",
        format!("{PASSING_GATE};\n{FAILING_GATE};\nSHOW COLLECTIONS;\n"),
    );
    let a = env
        .cmd()
        .args(["run", file.to_str().unwrap(), "--format", "csv"])
        .assert()
        .code(3);
    let out = stdout_of(&a);
    assert!(out.contains("Compliant >= 60%,66.7%,true"), "{out}");
    assert!(out.contains("Failed <= 2%,100.0%,false"), "{out}");
    assert!(out.ends_with("collection\nAll Desktops\nPilot Ring\n"), "{out}");

    let dir = env.path().join("out");
    env.cmd()
        .args([
            "run",
            file.to_str().unwrap(),
            "--output-dir",
            dir.to_str().unwrap(),
        ])
        .assert()
        .code(3);
    assert!(dir.join("02.csv").exists(), "every statement wrote its file");
    assert!(dir.join("03.csv").exists(), "every statement wrote its file");

    env.cmd()
        .write_stdin(format!("{FAILING_GATE};\n"))
        .assert()
        .code(3);
    env.cmd()
        .write_stdin(format!("{PASSING_GATE};\n"))
        .assert()
        .success();
}

#[test]
fn zones_in_the_cli() {
    let env = fixture();
    assert_eq!(
        env.query_csv("FAILURES FROM 2026-10-01 TO 2026-10-03 EVERY 1d TIME ZONE \"America/New_York\""),
        // Local days start at 04:00Z (EDT); PC-1 failed at 11:00Z and PC-2
        // at 12:00Z on 10-01, both on the local 10-01.
        "bucket,failures\n2026-10-01T00:00:00-04:00,2\n2026-10-02T00:00:00-04:00,0\n"
    );
    let a = env
        .cmd()
        .args(["query", "STATES AT NOW TIME ZONE \"Europe/Berln\""])
        .assert()
        .code(2);
    let err = stderr_of(&a);
    assert!(err.contains("unknown time zone \"Europe/Berln\""), "{err}");
    assert!(err.contains("did you mean \"Europe/Berlin\"?"), "{err}");
}

#[test]
fn show_error_and_error_text_in_the_table_form() {
    let env = fixture();
    let out = env.query_csv("SHOW ERROR 0x87D00324");
    assert!(
        out.contains("text,The application was not detected after installation completed.\n"),
        "{out}"
    );
    let a = env
        .cmd()
        .args(["query", "HISTORY \"PC-1\"", "--format", "table"])
        .assert()
        .success();
    assert!(
        stdout_of(&a).contains("0x80070005 Access is denied."),
        "{}",
        stdout_of(&a)
    );
}

/// The wall clock in ms, as the ingest command records it.
fn wall_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Waits (bounded, a few ms) until the wall clock has passed `t`, so that a
/// commit made afterwards has a later commit time.
fn after(t: i64) {
    let until = std::time::Instant::now() + std::time::Duration::from_secs(2);
    while wall_ms() <= t && std::time::Instant::now() < until {
        std::thread::yield_now();
    }
}

#[test]
fn as_known_at_gives_back_the_report_as_it_was_before_late_rows() {
    let env = fixture();
    let rql = "STATES IN \"All Desktops\" AT 2026-10-04";
    let before = env.query_csv(rql);
    let sent = wall_ms();
    after(sent);
    // Late status messages rewrite 10-03: PC-1 fails again, PC-3 is InProgress.
    let late = env.write(
        "late.csv",
        "time,client,state,deployment,error\n\
         2026-10-03T12:00:00Z,PC-1,Failed,,0x80070643\n\
         2026-10-03T13:00:00Z,PC-3,InProgress,,\n",
    );
    env.cmd().args(["ingest", "events"]).arg(late).assert().success();
    let now = env.query_csv(rql);
    assert_ne!(now, before, "the late rows changed the answer");
    let sent_text = rollcall_engine::Timestamp(sent).to_string();
    let as_sent = env.query_csv(&format!("{rql} AS KNOWN AT {sent_text}"));
    assert_eq!(as_sent, before);
    // Every statement kind of SPEC 7.5 takes the clause.
    for q in [
        "FAILURES IN \"All Desktops\" FROM 2026-10-01 TO 2026-10-05 EVERY 1d",
        "CLIENTS IN \"All Desktops\" AT 2026-10-04",
        "FLOW IN \"All Desktops\" FROM 2026-10-02 TO 2026-10-04",
        "DURATIONS IN \"All Desktops\" FROM 2026-10-01 TO 2026-10-05 UNTIL Failed SINCE Compliant",
    ] {
        let a = env.query_csv(&format!("{q} AS KNOWN AT {sent_text}"));
        let b = env.query_csv(&format!("{q} AS KNOWN AT NOW"));
        assert_ne!(a, b, "{q}: the late rows show only in the later report");
    }
    // A time before every commit: nothing was known.
    assert_eq!(
        env.query_csv(&format!("{rql} AS KNOWN AT 2000-01-01")),
        "time,NotStarted,Compliant,InProgress,NonCompliant,Failed,Unknown,total\n\
         2026-10-04T00:00:00Z,0,0,0,0,0,0,0\n"
    );
    // After a compaction the earlier report is the same.
    env.cmd().arg("compact").assert().success();
    assert_eq!(env.query_csv(&format!("{rql} AS KNOWN AT {sent_text}")), before);
}
