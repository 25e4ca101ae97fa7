//! `rollcall ingest`: formats, validation, all-or-nothing files, reject
//! files, standard input, membership snapshots (SPEC.md section 2).

mod common;

use common::{EVENTS_CSV, Env, MEMBERS_CSV, stderr_of};
use predicates::prelude::*;

const AT_OCT4: &str = "STATES IN \"All Desktops\" AT 2026-10-04T00:00:00Z";

#[test]
fn csv_files_load_and_summary_counts_rows() {
    let env = Env::new();
    let m = env.write("members.csv", MEMBERS_CSV);
    let e = env.write("events.csv", EVENTS_CSV);
    let a = env.cmd().args(["ingest", "members"]).arg(&m).assert().success();
    assert!(stderr_of(&a).contains("5 rows read, 5 stored, 0 duplicates ignored, 0 rejected"));
    let a = env
        .cmd()
        .args(["ingest", "events"])
        .arg(&e)
        .assert()
        .success()
        .stdout("");
    let err = stderr_of(&a);
    assert!(
        err.contains("events.csv: 9 rows read, 9 stored, 0 duplicates ignored, 0 rejected in "),
        "{err}"
    );
    assert_eq!(env.stat("transitions"), "9");
    assert_eq!(env.stat("membership_changes"), "5");
    // Re-ingesting a file changes nothing.
    let a = env.cmd().args(["ingest", "events"]).arg(&e).assert().success();
    assert!(stderr_of(&a).contains("9 rows read, 0 stored, 9 duplicates ignored"));
    assert_eq!(env.stat("transitions"), "9");
}

#[test]
fn columns_in_any_order_bom_crlf_quotes_and_blank_lines() {
    let env = Env::new();
    env.load_fixture();
    let before = env.query_csv(AT_OCT4);
    let other = Env::new();
    other
        .cmd()
        .args(["ingest", "members"])
        .arg(other.write("m.csv", MEMBERS_CSV))
        .assert()
        .success();
    // Reordered, upper-case header, BOM, CRLF, quoted fields, blank lines,
    // other spellings of states, times and codes.
    let events = "\u{feff}Client,ERROR,State,Time,Deployment\r\n\
        \"PC-1\",,in progress,2026-10-01T12:00:00+02:00,\r\n\
        \r\n\
        PC-1,2147942405,FAILED,1790852400000,production\r\n\
        \"PC-1\",\"\",compliant,2026-10-02T09:00:00Z,\"\"\r\n\
        PC-2,,In_Progress,2026-10-01T10:00:00Z,\r\n\
        PC-2,0x87d00324,failed,2026-10-01T12:00:00Z,\r\n\
        PC-2,0x87D00324,Failed,2026-10-03T08:00:00Z,\r\n\
        PC-3,,Compliant,2026-10-01,\r\n\
        \r\n";
    other
        .cmd()
        .args(["ingest", "events"])
        .arg(other.write("e.csv", events))
        .assert()
        .success()
        .stderr(predicate::str::contains("7 rows read, 7 stored"));
    assert_eq!(other.query_csv(AT_OCT4), before);
    assert_eq!(
        before,
        "time,NotStarted,Compliant,InProgress,NonCompliant,Failed,Unknown,total\n\
         2026-10-04T00:00:00Z,0,2,0,0,1,0,3\n"
    );
}

#[test]
fn ndjson_and_jsonl_load_like_csv() {
    let env = Env::new();
    env.write(
        "m.jsonl",
        r#"{"time":"2026-10-01T00:00:00Z","client":"PC-1","collection":"All Desktops","change":"join"}
{"client":"PC-2","collection":"All Desktops","change":"JOIN","time":1790812800000}
"#,
    );
    env.write(
        "e.ndjson",
        r#"{"time":"2026-10-01T11:00:00Z","client":"PC-1","state":"Failed","error":"0x80070005"}

{"time":"2026-10-01T12:00:00Z","client":"PC-2","state":"failed","error":2278556452,"deployment":null}
{"time":"2026-10-02T09:00:00Z","client":"PC-1","state":"Compliant","error":null,"deployment":"production"}
"#,
    );
    env.cmd()
        .args(["ingest", "members", "m.jsonl"])
        .current_dir(env.path())
        .assert()
        .success();
    env.cmd()
        .args(["ingest", "events", "e.ndjson"])
        .current_dir(env.path())
        .assert()
        .success()
        .stderr(predicate::str::contains("3 rows read, 3 stored"));
    assert_eq!(
        env.query_csv("FAILURES IN \"All Desktops\" FROM 2026-10-01 TO 2026-10-03 EVERY 1d BY ERROR"),
        "bucket,error,failures\n\
         2026-10-01T00:00:00Z,0x80070005,1\n\
         2026-10-01T00:00:00Z,0x87d00324,1\n"
    );
}

#[test]
fn bad_row_rejects_the_whole_file_with_its_position() {
    let env = Env::new();
    let bad = "time,client,state\n\
        2026-10-01T10:00:00Z,PC-1,InProgress\n\
        2026-10-01T11:00:00Z,PC-1,Done\n\
        2026-10-01T12:00:00Z,PC-2,Failed\n";
    let path = env.write("bad.csv", bad);
    let a = env
        .cmd()
        .args(["ingest", "events"])
        .arg(&path)
        .assert()
        .code(1)
        .stdout("");
    let err = stderr_of(&a);
    assert!(
        err.contains("bad.csv:3:3: state: unknown state \"Done\""),
        "the error names file, line, column and reason: {err}"
    );
    assert!(err.contains("nothing from this input was stored"), "{err}");
    assert_eq!(env.stat("transitions"), "0");
}

#[test]
fn each_field_is_validated() {
    let cases: &[(&str, &str)] = &[
        ("time,client,state\nyesterday,PC-1,Failed\n", "2:1: time:"),
        (
            "time,client,state\n2026-13-01T00:00:00Z,PC-1,Failed\n",
            "2:1: time: month out of range",
        ),
        (
            "time,client,state\n2026-10-01,,Failed\n",
            "2:2: client: empty name",
        ),
        (
            "time,client,state,error\n2026-10-01,PC-1,Failed,0xZZ\n",
            "2:4: error: bad error code \"0xZZ\"",
        ),
        (
            "time,client,state,error\n2026-10-01,PC-1,Failed,4294967296\n",
            "2:4: error: bad error code",
        ),
        (
            "time,client,state\n2026-10-01,PC-1\n",
            "2: expected 3 fields as in the header, found 2",
        ),
        (
            "time,client,state\n2026-10-01,PC-1,Failed,extra\n",
            "2: expected 3 fields as in the header, found 4",
        ),
    ];
    for (input, expected) in cases {
        let env = Env::new();
        let path = env.write("in.csv", input);
        let a = env.cmd().args(["ingest", "events"]).arg(&path).assert().code(1);
        let err = stderr_of(&a);
        assert!(err.contains(&format!("in.csv:{expected}")), "{input:?}: {err}");
    }
    let env = Env::new();
    let long = "x".repeat(257);
    let path = env.write("in.csv", format!("time,client,state\n2026-10-01,{long},Failed\n"));
    let a = env.cmd().args(["ingest", "events"]).arg(&path).assert().code(1);
    assert!(stderr_of(&a).contains("in.csv:2:2: client: name is 257 bytes long, the limit is 256"));
    let long_dep = "d".repeat(129);
    let path = env.write(
        "in2.csv",
        format!("time,client,state,deployment\n2026-10-01,PC-1,Failed,{long_dep}\n"),
    );
    let a = env.cmd().args(["ingest", "events"]).arg(&path).assert().code(1);
    assert!(stderr_of(&a).contains("in2.csv:2:4: deployment: name is 129 bytes long, the limit is 128"));
    let path = env.write(
        "m.csv",
        "time,client,collection,change\n2026-10-01,PC-1,X,enter\n",
    );
    let a = env.cmd().args(["ingest", "members"]).arg(&path).assert().code(1);
    assert!(stderr_of(&a).contains("m.csv:2:4: change: expected join or leave, found \"enter\""));
}

#[test]
fn header_problems_are_reported() {
    let env = Env::new();
    let path = env.write("h1.csv", "time,client\n2026-10-01,PC-1\n");
    let a = env.cmd().args(["ingest", "events"]).arg(&path).assert().code(1);
    assert!(stderr_of(&a).contains("h1.csv:1: the header has no \"state\" column"));
    let path = env.write(
        "h2.csv",
        "time,client,state,deploymnet\n2026-10-01,PC-1,Failed,x\n",
    );
    let a = env.cmd().args(["ingest", "events"]).arg(&path).assert().code(1);
    let err = stderr_of(&a);
    assert!(err.contains("h2.csv:1:4: unknown column \"deploymnet\""), "{err}");
    let path = env.write("h3.csv", "time,client,state,time\n");
    let a = env.cmd().args(["ingest", "events"]).arg(&path).assert().code(1);
    assert!(stderr_of(&a).contains("h3.csv:1:4: column \"time\" appears twice"));
    assert_eq!(env.stat("transitions"), "0");
}

#[test]
fn extra_columns_are_ignored_but_misspelt_ones_are_not() {
    let env = Env::new();
    let path = env.write(
        "x.csv",
        "note,time,client,state,source\nfirst,2026-10-01,PC-1,Failed,sccm\n",
    );
    let a = env.cmd().args(["ingest", "events"]).arg(&path).assert().code(0);
    let err = stderr_of(&a);
    assert!(
        err.contains("x.csv:1:1: ignoring unknown column \"note\""),
        "{err}"
    );
    assert!(
        err.contains("x.csv:1:5: ignoring unknown column \"source\""),
        "{err}"
    );
    let path = env.write(
        "x.ndjson",
        "{\"time\":\"2026-10-02\",\"client\":\"PC-1\",\"state\":\"Failed\",\"colour\":{\"a\":[1,2]}}\n",
    );
    env.cmd().args(["ingest", "events"]).arg(&path).assert().code(0);
    assert_eq!(env.stat("transitions"), "2");
    let path = env.write("y.csv", "time,clinet,state\n2026-10-01,PC-1,Failed\n");
    let a = env.cmd().args(["ingest", "events"]).arg(&path).assert().code(1);
    assert!(stderr_of(&a).contains("y.csv:1:2: unknown column \"clinet\" (did you mean \"client\"?)"));
    assert_eq!(env.stat("transitions"), "2");
}

#[test]
fn ndjson_errors_name_line_and_column() {
    let env = Env::new();
    let path = env.write(
        "e.ndjson",
        "{\"time\":\"2026-10-01\",\"client\":\"PC-1\",\"state\":\"Failed\"}\n{\"time\":\"2026-10-01\",\"client\":\"PC-1\",\"state\":\"Nope\"}\n",
    );
    let a = env.cmd().args(["ingest", "events"]).arg(&path).assert().code(1);
    let err = stderr_of(&a);
    assert!(
        err.contains("e.ndjson:2:38: state: unknown state \"Nope\""),
        "{err}"
    );
    let path = env.write(
        "f.ndjson",
        "{\"time\":\"2026-10-01\",\"client\":\"PC-1\",\"state\":\"Failed\",\"eror\":\"0x5\"}\n",
    );
    let a = env.cmd().args(["ingest", "events"]).arg(&path).assert().code(1);
    assert!(stderr_of(&a).contains("unknown field \"eror\" (did you mean \"error\"?)"));
    let path = env.write("g.ndjson", "{\"time\":\"2026-10-01\",\n");
    let a = env.cmd().args(["ingest", "events"]).arg(&path).assert().code(1);
    assert!(stderr_of(&a).contains("g.ndjson:1:"), "{}", stderr_of(&a));
    assert_eq!(env.stat("transitions"), "0");
}

#[test]
fn skip_bad_rows_stores_good_rows_and_writes_a_reject_file() {
    let env = Env::new();
    let input = "time,client,state,error\n\
        2026-10-01T10:00:00Z,PC-1,InProgress,\n\
        2026-10-01T11:00:00Z,PC-1,Done,\n\
        2026-10-01T12:00:00Z,\"PC, 2\",Failed,0x80070005\n\
        not-a-time,PC-3,Failed,\n";
    let path = env.write("mixed.csv", input);
    let a = env
        .cmd()
        .args(["ingest", "events", "--skip-bad-rows"])
        .arg(&path)
        .assert()
        .success();
    let err = stderr_of(&a);
    assert!(
        err.contains("4 rows read, 2 stored, 0 duplicates ignored, 2 rejected"),
        "{err}"
    );
    let reject = env.path().join("mixed.csv.rejects.csv");
    assert!(
        err.contains(&reject.display().to_string()),
        "the reject file path is printed: {err}"
    );
    let rejects = std::fs::read_to_string(&reject).unwrap();
    assert_eq!(
        rejects,
        "line,column,reason,row\n\
         3,3,\"state: unknown state \"\"Done\"\"; expected one of NotStarted, Compliant, InProgress, NonCompliant, Failed, Unknown\",\"2026-10-01T11:00:00Z,PC-1,Done,\"\n\
         5,1,\"time: expected an RFC 3339 time or integer epoch milliseconds, found \"\"not-a-time\"\"\",\"not-a-time,PC-3,Failed,\"\n"
    );
    assert_eq!(env.stat("transitions"), "2");
    assert_eq!(
        env.query_csv("CLIENTS AT 2026-10-02"),
        "client,state,since\n\"PC, 2\",Failed,2026-10-01T12:00:00Z\nPC-1,InProgress,2026-10-01T10:00:00Z\n"
    );
}

#[test]
fn stdin_needs_input_format_and_then_loads() {
    let env = Env::new();
    env.cmd()
        .args(["ingest", "members", "-"])
        .write_stdin(MEMBERS_CSV)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--input-format"));
    env.cmd()
        .args(["ingest", "members", "-", "--input-format", "csv"])
        .write_stdin(MEMBERS_CSV)
        .assert()
        .success()
        .stderr(predicate::str::contains("<stdin>: 5 rows read, 5 stored"));
    let ndjson = "{\"time\":\"2026-10-01T11:00:00Z\",\"client\":\"PC-1\",\"state\":\"Failed\"}\n";
    env.cmd()
        .args(["ingest", "events", "--input-format", "ndjson", "-"])
        .write_stdin(ndjson)
        .assert()
        .success();
    assert_eq!(env.stat("transitions"), "1");
}

#[test]
fn stdin_commits_in_batches_and_keeps_earlier_commits_on_error() {
    let env = Env::new();
    let mut input = String::from("time,client,state\n");
    for i in 0..5 {
        input.push_str(&format!("2026-10-01T10:00:0{i}Z,PC-{i},Compliant\n"));
    }
    input.push_str("2026-10-01T10:00:09Z,PC-9,Bogus\n");
    let a = env
        .cmd()
        .args([
            "ingest",
            "events",
            "-",
            "--input-format",
            "csv",
            "--commit-every",
            "2",
        ])
        .write_stdin(input)
        .assert()
        .code(1);
    let err = stderr_of(&a);
    assert!(err.contains("<stdin>: committed 2 rows through line 3"), "{err}");
    assert!(
        err.contains("<stdin>:7:3: state: unknown state \"Bogus\""),
        "{err}"
    );
    assert!(
        err.contains("4 rows through line 5 were committed earlier and stay stored"),
        "{err}"
    );
    assert_eq!(env.stat("transitions"), "4");
}

#[test]
fn unknown_extension_is_a_usage_error() {
    let env = Env::new();
    let path = env.write("events.txt", EVENTS_CSV);
    env.cmd()
        .args(["ingest", "events"])
        .arg(&path)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("cannot tell the format"));
    env.cmd()
        .args(["ingest", "events", "--input-format", "csv"])
        .arg(&path)
        .assert()
        .success();
}

#[test]
fn missing_file_is_a_runtime_error() {
    let env = Env::new();
    env.cmd()
        .args(["ingest", "events", "nope.csv"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("open nope.csv"));
}

#[test]
fn a_bad_file_stops_before_later_files() {
    let env = Env::new();
    let good = env.write("a.csv", "time,client,state\n2026-10-01,PC-1,Failed\n");
    let bad = env.write("b.csv", "time,client,state\n2026-10-01,PC-2,Nope\n");
    let later = env.write("c.csv", "time,client,state\n2026-10-01,PC-3,Failed\n");
    env.cmd()
        .args(["ingest", "events"])
        .args([&good, &bad, &later])
        .assert()
        .code(1);
    assert_eq!(
        env.query_csv("CLIENTS AT 2026-10-02"),
        "client,state,since\nPC-1,Failed,2026-10-01T00:00:00Z\n"
    );
}

#[test]
fn snapshot_records_joins_and_leaves() {
    let env = Env::new();
    env.load_fixture();
    // All Desktops at 10-06 is PC-1, PC-2 (PC-3 left). The snapshot says
    // PC-2 and PC-5: PC-1 leaves, PC-5 joins.
    let list = env.write("desktops.txt", "PC-2\r\n\nPC-5\nPC-2\n");
    let a = env
        .cmd()
        .args([
            "ingest",
            "snapshot",
            "--collection",
            "All Desktops",
            "--at",
            "2026-10-06T00:00:00Z",
        ])
        .arg(&list)
        .assert()
        .success();
    let err = stderr_of(&a);
    assert!(err.contains("2 clients listed"), "{err}");
    assert!(
        err.contains("2 were members; recorded 1 joins and 1 leaves"),
        "{err}"
    );
    assert_eq!(
        env.query_csv("CLIENTS IN \"All Desktops\" AT 2026-10-07"),
        "client,state,since\nPC-2,Failed,2026-10-03T08:00:00Z\nPC-5,NotStarted,\n"
    );
    // Before the snapshot time nothing changed.
    assert_eq!(
        env.query_csv("CLIENTS IN \"All Desktops\" AT 2026-10-05T12:00:00Z"),
        "client,state,since\nPC-1,Compliant,2026-10-02T09:00:00Z\nPC-2,Failed,2026-10-03T08:00:00Z\n"
    );
    // The same snapshot again records nothing.
    let a = env
        .cmd()
        .args([
            "ingest",
            "snapshot",
            "--collection",
            "All Desktops",
            "--at",
            "2026-10-06T00:00:00Z",
        ])
        .arg(&list)
        .assert()
        .success();
    assert!(stderr_of(&a).contains("recorded 0 joins and 0 leaves"));
}

#[test]
fn snapshot_reads_csv_with_client_header_and_stdin() {
    let env = Env::new();
    env.cmd()
        .args([
            "ingest",
            "snapshot",
            "--collection",
            "Pilot",
            "--at",
            "2026-10-01",
            "-",
        ])
        .write_stdin("client\n\"PC, 1\"\nPC-2\n")
        .assert()
        .success();
    let csv = env.write("pilot.csv", "client\nPC-2\n");
    env.cmd()
        .args([
            "ingest",
            "snapshot",
            "--collection",
            "Pilot",
            "--at",
            "2026-10-02",
        ])
        .arg(&csv)
        .assert()
        .success()
        .stderr(predicate::str::contains("recorded 0 joins and 1 leaves"));
    assert_eq!(
        env.query_csv("CLIENTS IN Pilot AT 2026-10-01T12:00:00Z"),
        "client,state,since\n\"PC, 1\",NotStarted,\nPC-2,NotStarted,\n"
    );
    assert_eq!(
        env.query_csv("CLIENTS IN Pilot AT 2026-10-03"),
        "client,state,since\nPC-2,NotStarted,\n"
    );
    let bad = env.write("bad.csv", "name\nPC-1\n");
    env.cmd()
        .args([
            "ingest",
            "snapshot",
            "--collection",
            "Pilot",
            "--at",
            "2026-10-02",
        ])
        .arg(&bad)
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "bad.csv:1:1: a snapshot CSV has exactly one column",
        ));
    env.cmd()
        .args([
            "ingest",
            "snapshot",
            "--collection",
            "Pilot",
            "--at",
            "someday",
            "-",
        ])
        .write_stdin("PC-1\n")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--at \"someday\""));
}

#[test]
fn overlong_ndjson_lines_are_bad_rows_not_memory() {
    let env = Env::new();
    let mut input = format!(
        "{{\"time\":\"2026-10-01\",\"client\":\"{}\",\"state\":\"Failed\"}}\n",
        "x".repeat(2 << 20)
    );
    input.push_str("{\"time\":\"2026-10-01\",\"client\":\"PC-1\",\"state\":\"Failed\"}\n");
    let path = env.write("long.ndjson", &input);
    env.cmd()
        .args(["ingest", "events"])
        .arg(&path)
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "long.ndjson:1: line is longer than 1048576 bytes",
        ));
    env.cmd()
        .args(["ingest", "events", "--skip-bad-rows"])
        .arg(&path)
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "2 rows read, 1 stored, 0 duplicates ignored, 1 rejected",
        ));
}
