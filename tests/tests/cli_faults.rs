//! Regression tests for faults found by testing from outside (issue 18 and
//! issue 19): reported lines of CSV rows whatever the line ends, integer
//! times in the wrong unit, the line of a piped statement, and a bounded
//! echo of a long source line. Each failed before its fix.

mod common;

use common::{Env, stderr_of};

/// Every way a row can sit on line 5 of its file: LF, CRLF, a byte order
/// mark, blank lines, a quoted field spanning lines, NDJSON with CRLF.
const LINE_5: &[(&str, &str)] = &[
    (
        "lf.csv",
        "time,client,state\n2026-10-01,a,Failed\n2026-10-01,b,Failed\n2026-10-01,c,Failed\n2026-10-01,d,Done\n",
    ),
    (
        "crlf.csv",
        "time,client,state\r\n2026-10-01,a,Failed\r\n2026-10-01,b,Failed\r\n2026-10-01,c,Failed\r\n2026-10-01,d,Done\r\n",
    ),
    (
        "bom.csv",
        "\u{feff}time,client,state\r\n2026-10-01,a,Failed\r\n\r\n2026-10-01,c,Failed\r\n2026-10-01,d,Done\r\n",
    ),
    ("blank.csv", "time,client,state\n\n\n\n2026-10-01,d,Done"),
    (
        "quoted.csv",
        "time,client,state\r\n\"2026-10-01\",\"a\r\nb\",Failed\r\n\r\n2026-10-01,d,Done\r\n",
    ),
    (
        "quoted-lf.csv",
        "time,client,state\n2026-10-01,\"a\nb\nc\",Failed\n2026-10-01,d,Done\n",
    ),
    (
        "crlf.ndjson",
        "{\"time\":\"2026-10-01\",\"client\":\"a\",\"state\":\"Failed\"}\r\n\r\n{\"time\":\"2026-10-01\",\"client\":\"b\",\"state\":\"Failed\"}\r\n\r\n{\"time\":\"2026-10-01\",\"client\":\"d\",\"state\":\"Done\"}\r\n",
    ),
];

#[test]
fn the_reported_line_is_the_files_line_whatever_the_line_ends() {
    let env = Env::new();
    for (name, content) in LINE_5 {
        let path = env.write(name, content);
        let a = env.cmd().args(["ingest", "events"]).arg(&path).assert().code(1);
        let err = stderr_of(&a);
        assert!(
            err.contains(&format!("{name}:5:")),
            "{name}: the error should name line 5: {err}"
        );
        env.cmd()
            .args(["ingest", "events", "--skip-bad-rows"])
            .arg(&path)
            .assert()
            .success();
        let rejects = std::fs::read_to_string(env.path().join(format!("{name}.rejects.csv")))
            .unwrap_or_else(|e| panic!("{name}: no reject file: {e}"));
        let row = rejects.lines().nth(1).unwrap_or_default();
        assert!(
            row.starts_with("5,"),
            "{name}: the reject file should say line 5: {rejects}"
        );
    }
}

#[test]
fn integer_times_in_micro_or_nanoseconds_are_refused_with_the_likely_unit() {
    let env = Env::new();
    let path = env.write(
        "units.csv",
        "time,client,state\n1790590979333,ms,Failed\n1790590979333000,us,Failed\n1790590979333000000,ns,Failed\n",
    );
    let a = env.cmd().args(["ingest", "events"]).arg(&path).assert().code(1);
    let err = stderr_of(&a);
    assert!(
        err.contains("units.csv:3:1") && err.contains("looks like epoch microseconds"),
        "{err}"
    );
    env.cmd()
        .args(["ingest", "events", "--skip-bad-rows"])
        .arg(&path)
        .assert()
        .success();
    let rejects = std::fs::read_to_string(env.path().join("units.csv.rejects.csv")).expect("reject file");
    assert!(rejects.contains("looks like epoch nanoseconds"), "{rejects}");
    assert!(rejects.contains("2026-09-28T10:22:59.333Z if it is"), "{rejects}");
    assert_eq!(env.stat("transitions"), "1");
    // The far end of the millisecond range still loads.
    let far = env.write("far.csv", "time,client,state\n253402300799999,far,Failed\n");
    env.cmd().args(["ingest", "events"]).arg(&far).assert().success();
}

#[test]
fn piped_statements_report_the_line_of_the_whole_input() {
    let env = Env::new();
    env.load_fixture();
    let cases = [
        (
            "SHOW DEPLOYMENTS;\n\n\nSTATES IN \"Nope\" AT NOW;\n",
            "<stdin>:4:11",
        ),
        (
            "-- a comment\nSHOW DEPLOYMENTS;\n\n-- another\nHISTORY \"nope\";\n",
            "<stdin>:5:9",
        ),
        (
            "STATES\n  IN \"All Desktops\"\n  AT NOW;\n.mode table\nSTATES\nAT\nNOPE;\n",
            "<stdin>:7:1",
        ),
        ("SHOW DEPLOYMENTS; STATES AT\n  NOPE;\n", "<stdin>:2:3"),
    ];
    for (input, want) in cases {
        let a = env.cmd().write_stdin(input).assert().failure();
        let err = stderr_of(&a);
        assert!(err.contains(want), "{input:?}: expected {want}: {err}");
    }
}

#[test]
fn a_long_source_line_is_echoed_as_a_bounded_window() {
    let env = Env::new();
    env.load_fixture();
    // Under the script size limit, one 500,000-character line with the
    // fault in its middle.
    let mut src = "-- ".to_owned() + &"x".repeat(1000) + "\n";
    src.push_str(&format!(
        "STATES AT {}NOW {};\n",
        " ".repeat(250_000),
        "y".repeat(250_000)
    ));
    let path = env.write("long.rql", &src);
    let a = env.cmd().arg("run").arg(&path).assert().code(2);
    let err = stderr_of(&a);
    assert!(err.len() < 2_000, "the error is {} bytes long", err.len());
    assert!(err.contains("long.rql:2:"), "{err}");
    assert!(err.contains("...") && err.contains('^'), "{err}");
    // Over the limit: refused, still briefly.
    let huge = "-- ".to_owned() + &"x".repeat(3 << 20) + "\nSTATES AT NOW;\n";
    let path = env.write("huge.rql", &huge);
    let a = env.cmd().arg("run").arg(&path).assert().failure();
    let err = stderr_of(&a);
    assert!(err.len() < 2_000, "the error is {} bytes long", err.len());
}

#[test]
fn counts_of_one_are_singular() {
    let env = Env::new();
    env.load_fixture();
    let a = env
        .cmd()
        .write_stdin(".timing on\nSTATES AT 2026-10-04;\n")
        .assert()
        .success();
    let err = stderr_of(&a);
    assert!(err.contains("(1 row, "), "{err}");
    let bad = env.write(
        "one-bad.csv",
        "time,client,state\n2026-10-01,a,Failed\n2026-10-01,b,Done\n",
    );
    let a = env
        .cmd()
        .args(["ingest", "events", "--skip-bad-rows"])
        .arg(&bad)
        .assert()
        .success();
    let err = stderr_of(&a);
    assert!(err.contains("1 rejected row written to"), "{err}");
    assert!(
        err.contains("2 rows read, 1 stored, 0 duplicates ignored, 1 rejected"),
        "{err}"
    );
    let one = env.write("one.csv", "time,client,state\n2026-10-01,a,Failed\n");
    let a = env.cmd().args(["ingest", "events"]).arg(&one).assert().success();
    assert!(
        stderr_of(&a).contains("1 row read, 0 stored, 1 duplicate ignored"),
        "{}",
        stderr_of(&a)
    );
}
