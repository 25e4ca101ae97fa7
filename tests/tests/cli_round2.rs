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
