//! Every example of SPEC.md section 3 parses, prints back to an equal tree,
//! and runs on the fixture store (NOW = 2026-10-03T00:00:00Z) with the rows
//! worked out by hand from the fixture's layout (`common/mod.rs`).

mod common;

use rollcall_query::{ErrorKind, ExecOptions, OutputFormat, Table, execute, parse_script, render};

const EXAMPLES: &str = r#"
STATES IN "All Desktops" AT 2026-11-01T12:00:00Z;
STATES FOR preproduction IN "Pilot Ring" AT NOW;
STATES IN "All Desktops" FROM 2026-10-01 TO 2026-11-01 EVERY 1d;
STATES BY COLLECTION AT NOW - 1d STALE AFTER 7d;
FAILURES IN "All Desktops" FROM 2026-10-01 TO 2026-11-01 EVERY 1h;
FAILURES FROM NOW - 30d TO NOW EVERY 1d BY ERROR;
CLIENTS IN "All Desktops" AT NOW WHERE STATE = Failed LIMIT 50;
HISTORY "PC-0042" FROM NOW - 7d TO NOW;
"#;

/// The statements SPEC section 7 writes out, and its examples of clauses.
const ROUND_TWO: &str = r#"
STATES FOR preproduction, production IN "Pilot Ring" AT NOW;
GATE FOR preproduction IN "Pilot Ring" AT NOW WHEN Compliant >= 95% AND Failed <= 2%;
STATES IN "All Desktops" FROM 2025-10-25 TO 2025-10-28 EVERY 1d TIME ZONE "Europe/Berlin";
FAILURES FROM 2026-09-01 TO 2026-12-01 EVERY 1mo BY ERROR TIME ZONE "America/New_York" AS KNOWN AT NOW;
FLOW IN "All Desktops" FROM NOW - 1d TO NOW TIME ZONE UTC;
DURATIONS IN "All Desktops" FROM NOW - 30d TO NOW UNTIL Compliant SINCE InProgress;
STATES BY COLLECTION AT NOW STALE AFTER 7d TIME ZONE "Europe/Berlin" AS KNOWN AT NOW - 1h;
SHOW ERROR 0x87D00324;
"#;

#[test]
fn spec_section_7_statements_parse_and_round_trip() {
    let script = parse_script(ROUND_TWO).unwrap_or_else(|e| panic!("{}", e.render(ROUND_TWO, "spec")));
    assert_eq!(script.statements.len(), 8);
    for s in &script.statements {
        let printed = s.statement.to_string();
        let again = parse_script(&printed).unwrap_or_else(|e| panic!("{printed}: {e}"));
        assert_eq!(again.statements[0].statement, s.statement, "{printed}");
    }
    // Clause order (SPEC 7.8): STALE AFTER, then TIME ZONE, then AS KNOWN AT.
    for wrong in [
        "STATES AT NOW TIME ZONE UTC STALE AFTER 1d",
        "STATES AT NOW AS KNOWN AT NOW TIME ZONE UTC",
        "FAILURES FROM NOW - 1d TO NOW EVERY 1h TIME ZONE UTC BY ERROR",
    ] {
        let err = parse_script(wrong).expect_err(wrong);
        assert_eq!(err.exit_code(), 2, "{wrong}");
    }
}

fn csv(t: &Table) -> Vec<String> {
    let mut out = Vec::new();
    render(t, OutputFormat::Csv, &mut out).expect("render");
    String::from_utf8(out)
        .expect("utf-8")
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn spec_examples_parse_and_round_trip() {
    let script = parse_script(EXAMPLES).expect("the SPEC examples parse");
    assert_eq!(script.statements.len(), 8);
    for s in &script.statements {
        let printed = s.statement.to_string();
        let again = parse_script(&printed).expect("printed form parses");
        assert_eq!(again.statements[0].statement, s.statement, "{printed}");
    }
}

#[test]
fn spec_examples_run_on_the_fixture() {
    let (_d, store) = common::fixture();
    let snap = store.snapshot();
    let script = parse_script(EXAMPLES).expect("parse");
    let opts = ExecOptions::new(common::now());
    let run = |i: usize| execute(&snap, &script.statements[i].statement, &opts);

    // 1. Nothing changes after 10-02T09:00:00.250: members PC-01..04, PC-06.
    let t = run(0).expect("1");
    assert_eq!(csv(&t)[1], "2026-11-01T12:00:00Z,1,2,1,0,1,0,5");

    // 2. Pilot Ring at NOW: PC-01 Compliant, PC-02 Failed, PC-03 none.
    assert_eq!(csv(&run(1).expect("2"))[1], "2026-10-03T00:00:00Z,1,1,0,0,1,0,3");

    // 3. 31 daily points; from 10-03 on every point equals the NOW answer.
    let lines = csv(&run(2).expect("3"));
    assert_eq!(lines.len(), 1 + 31);
    assert_eq!(lines[1], "2026-10-01T00:00:00Z,5,0,0,0,0,0,5");
    assert_eq!(lines[2], "2026-10-02T00:00:00Z,0,2,0,1,1,0,4");
    assert_eq!(lines[3], "2026-10-03T00:00:00Z,1,2,1,0,1,0,5");
    assert_eq!(lines[31], "2026-10-31T00:00:00Z,1,2,1,0,1,0,5");

    // 4. At 10-02T00 nobody is older than 7 days.
    assert_eq!(
        csv(&run(3).expect("4"))[1..],
        [
            "All Desktops,0,2,0,1,1,0,4",
            "Laptops,0,1,0,0,0,0,1",
            "Pilot Ring,0,1,0,0,1,0,2"
        ]
    );

    // 5. 744 hourly buckets, five failures by members of All Desktops.
    let lines = csv(&run(4).expect("5"));
    assert_eq!(lines.len(), 1 + 31 * 24);
    let nonzero: Vec<&str> = lines[1..]
        .iter()
        .filter(|l| !l.ends_with(",0"))
        .map(String::as_str)
        .collect();
    assert_eq!(
        nonzero,
        [
            "2026-10-01T01:00:00Z,1",
            "2026-10-01T03:00:00Z,1",
            "2026-10-01T05:00:00Z,1",
            "2026-10-01T06:00:00Z,1",
            "2026-10-02T02:00:00Z,1"
        ]
    );

    // 6. Buckets start at NOW - 30d = 09-03T00, so days align with dates.
    assert_eq!(
        csv(&run(5).expect("6"))[1..],
        [
            "2026-10-01T00:00:00Z,0x80070005,3",
            "2026-10-01T00:00:00Z,,1",
            "2026-10-02T00:00:00Z,0x80070005,1",
            "2026-10-02T00:00:00Z,0x80070643,1"
        ]
    );

    // 7.
    assert_eq!(
        csv(&run(6).expect("7"))[1..],
        ["PC-02,Failed,2026-10-02T02:00:00Z"]
    );

    // 8. The fixture has no PC-0042: an unknown client, with a suggestion.
    let err = run(7).expect_err("8");
    match err.kind() {
        ErrorKind::UnknownName { name, suggestion, .. } => {
            assert_eq!(name, "PC-0042");
            assert_eq!(suggestion.as_deref(), Some("PC-02"));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(err.exit_code(), 1);
    let fixed = parse_script(r#"HISTORY "PC-02" FROM NOW - 7d TO NOW"#).expect("parse");
    let t = execute(&snap, &fixed.statements[0].statement, &opts).expect("8 on a known client");
    assert_eq!(t.rows.len(), 5);
}
