//! The REPL driven through a pseudo-terminal: multi-line statements, tab
//! completion, Ctrl-C (abandon input, cancel a running query), dot-commands,
//! errors that do not end the session, the history file.

mod common;

use std::path::Path;
use std::process::Command;

use common::Env;
use rexpect::session::{PtySession, spawn_command};

const PROMPT: &str = "rollcall> ";

/// Types `text` without a newline (rexpect buffers until flushed).
fn send(p: &mut PtySession, text: &str) {
    p.send(text).expect("type into the pty");
    p.flush().expect("flush the pty");
}

/// `text` as rexpect sees it: it reads the pty byte by byte as Latin-1, so
/// non-ASCII output (box drawing, bars) is matched through its UTF-8 bytes.
fn pty_text(text: &str) -> String {
    text.bytes().map(char::from).collect()
}

fn repl(env: &Env, history: &Path) -> PtySession {
    repl_with(env, history, &[])
}

fn repl_with(env: &Env, history: &Path, vars: &[(&str, &str)]) -> PtySession {
    let mut cmd = Command::new(common::bin());
    cmd.envs(vars.iter().copied());
    cmd.current_dir(env.path())
        .env_remove("ROLLCALL_DB")
        .env("ROLLCALL_HISTORY", history)
        .env("NO_COLOR", "1")
        .env("TERM", "xterm")
        .arg("--db")
        .arg(env.db())
        .arg("repl");
    let mut p = spawn_command(cmd, Some(30_000)).expect("spawn the REPL in a pty");
    p.exp_string(PROMPT).expect("the first prompt");
    p
}

#[test]
fn multi_line_statements_formats_and_errors() {
    let env = Env::new();
    env.load_fixture();
    let history = env.path().join("hist");
    let mut p = repl(&env, &history);
    p.send_line(".format csv").unwrap();
    p.exp_string(PROMPT).unwrap();
    // One statement over two lines: nothing runs until the `;`.
    p.send_line("STATES IN \"All Desktops\"").unwrap();
    p.send_line("  AT 2026-10-04T00:00:00Z;").unwrap();
    p.exp_string("2026-10-04T00:00:00Z,0,2,0,0,1,0,3").unwrap();
    p.exp_string(PROMPT).unwrap();
    // Errors are shown with a caret and the REPL goes on.
    p.send_line("STATES IN \"All Desktop\" AT 2026-10-04;").unwrap();
    p.exp_string("did you mean \"All Desktops\"?").unwrap();
    p.exp_string(PROMPT).unwrap();
    p.send_line("STATES AT NOOW;").unwrap();
    p.exp_string("^^^^").unwrap();
    p.exp_string(PROMPT).unwrap();
    p.send_line(".nonsense").unwrap();
    p.exp_string("unknown command .nonsense").unwrap();
    p.exp_string(PROMPT).unwrap();
    // Parameters.
    p.send_line(".param day 2026-10-04").unwrap();
    p.exp_string(PROMPT).unwrap();
    p.send_line("CLIENTS IN \"All Desktops\" AT $day WHERE STATE = Failed;")
        .unwrap();
    p.exp_string("PC-2,Failed,2026-10-03T08:00:00Z").unwrap();
    p.exp_string(PROMPT).unwrap();
    p.send_line(".collections").unwrap();
    p.exp_string("Pilot Ring").unwrap();
    p.exp_string(PROMPT).unwrap();
    p.send_line(".quit").unwrap();
    p.exp_eof().unwrap();
    let saved = std::fs::read_to_string(&history).expect("the history file is written");
    assert!(saved.contains(".format csv"), "{saved}");
    assert!(saved.contains("AT 2026-10-04T00:00:00Z;"), "{saved}");
    assert!(saved.contains(".param day 2026-10-04"), "{saved}");
}

#[test]
fn tab_completes_collection_names_and_keywords() {
    let env = Env::new();
    env.load_fixture();
    let mut p = repl(&env, &env.path().join("hist"));
    p.send_line(".format csv").unwrap();
    p.exp_string(PROMPT).unwrap();
    send(&mut p, "CLIENTS IN \"Pil");
    send(&mut p, "\t");
    send(&mut p, " AT 2026-10-04;");
    send(&mut p, "\r");
    p.exp_string("PC-4,NotStarted,").unwrap();
    p.exp_string(PROMPT).unwrap();
    send(&mut p, "clients in Pil");
    send(&mut p, "\t");
    send(&mut p, " at 2026-10-04;\r");
    p.exp_string("PC-4,NotStarted,").unwrap();
    p.exp_string(PROMPT).unwrap();
    p.send_control('d').unwrap();
    p.exp_eof().unwrap();
}

#[test]
fn ctrl_c_abandons_input_and_ctrl_d_leaves() {
    let env = Env::new();
    env.load_fixture();
    let mut p = repl(&env, &env.path().join("hist"));
    send(&mut p, "STATES IN \"All Desktops\"");
    send(&mut p, "\r");
    p.send_control('c').unwrap();
    p.exp_string("^C").unwrap();
    p.exp_string(PROMPT).unwrap();
    p.send_line(".format csv").unwrap();
    p.exp_string(PROMPT).unwrap();
    p.send_line("STATES IN \"Pilot Ring\" AT 2026-10-04;").unwrap();
    p.exp_string("2026-10-04T00:00:00Z,1,0,0,0,0,0,1").unwrap();
    p.exp_string(PROMPT).unwrap();
    p.send_control('d').unwrap();
    p.exp_eof().unwrap();
}

#[test]
fn ctrl_c_cancels_a_long_query_and_returns_to_the_prompt() {
    let env = Env::new();
    env.cmd()
        .args(["demo", "--clients", "3000", "--now", "2026-11-01T00:00:00Z"])
        .assert()
        .success();
    let mut p = repl(&env, &env.path().join("hist"));
    p.send_line(".format csv").unwrap();
    p.exp_string(PROMPT).unwrap();
    // ~65 000 points, each an as-of over the whole fleet: many seconds.
    p.send_line("STATES FROM 2026-08-01 TO 2026-11-01 EVERY 2m;")
        .unwrap();
    // The echo shows the line was read; the pause lets the statement start
    // (a Ctrl-C before that would only abandon an empty prompt).
    p.exp_string("EVERY 2m;").unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    p.send_control('c').unwrap();
    p.exp_string("query cancelled").unwrap();
    p.exp_string(PROMPT).unwrap();
    p.send_line("STATES IN \"Pilot Ring\" AT 2026-11-01;").unwrap();
    p.exp_string("2026-11-01T00:00:00Z,").unwrap();
    p.exp_string(PROMPT).unwrap();
    p.send_line(".quit").unwrap();
    p.exp_eof().unwrap();
}

#[test]
fn sees_data_ingested_by_another_process_meanwhile() {
    let env = Env::new();
    env.load_fixture();
    let mut p = repl(&env, &env.path().join("hist"));
    p.send_line(".format csv").unwrap();
    p.exp_string(PROMPT).unwrap();
    p.send_line("CLIENTS IN \"Pilot Ring\" AT 2026-10-04;").unwrap();
    p.exp_string("PC-4,NotStarted,").unwrap();
    p.exp_string(PROMPT).unwrap();
    let events = env.write(
        "more.csv",
        "time,client,state\n2026-10-03T00:00:00Z,PC-4,Compliant\n",
    );
    env.cmd()
        .args(["ingest", "events"])
        .arg(events)
        .assert()
        .success();
    p.send_line("CLIENTS IN \"Pilot Ring\" AT 2026-10-04;").unwrap();
    p.exp_string("PC-4,Compliant,2026-10-03T00:00:00Z").unwrap();
    p.exp_string(PROMPT).unwrap();
    p.send_line(".quit").unwrap();
    p.exp_eof().unwrap();
}

#[test]
fn continuation_prompt_until_the_semicolon() {
    let env = Env::new();
    env.load_fixture();
    let mut p = repl(&env, &env.path().join("hist"));
    p.send_line(".format csv").unwrap();
    p.exp_string(PROMPT).unwrap();
    p.send_line("STATES IN \"Pilot Ring\"").unwrap();
    p.exp_string("       -> ").unwrap();
    p.send_line("").unwrap();
    p.exp_string("       -> ").unwrap();
    p.send_line("AT 2026-10-04;").unwrap();
    p.exp_string("2026-10-04T00:00:00Z,1,0,0,0,0,0,1").unwrap();
    p.exp_string(PROMPT).unwrap();
    // `exit` inside an unfinished statement does not leave; it says how.
    p.send_line("STATES").unwrap();
    p.exp_string("       -> ").unwrap();
    p.send_line("exit").unwrap();
    p.exp_string("is not finished").unwrap();
    p.exp_string("       -> ").unwrap();
    p.send_control('c').unwrap();
    p.exp_string(PROMPT).unwrap();
    p.send_control('d').unwrap();
    p.exp_eof().unwrap();
}

#[test]
fn help_and_exit_typed_without_a_semicolon() {
    let env = Env::new();
    env.load_fixture();
    let mut p = repl(&env, &env.path().join("hist"));
    p.send_line("help").unwrap();
    p.exp_string(".timing on|off").unwrap();
    p.exp_string(PROMPT).unwrap();
    p.send_line("\\?").unwrap();
    p.exp_string(".param NAME VALUE").unwrap();
    p.exp_string(PROMPT).unwrap();
    p.send_line("exit").unwrap();
    p.exp_eof().unwrap();
    let mut p = repl(&env, &env.path().join("hist"));
    p.send_line("quit").unwrap();
    p.exp_eof().unwrap();
}

#[test]
fn vertical_records_when_the_table_is_wider_than_70_columns() {
    let env = Env::new();
    env.load_fixture();
    let mut p = repl_with(&env, &env.path().join("hist"), &[("COLUMNS", "70")]);
    p.send_line("STATES IN \"All Desktops\" AT 2026-10-04;").unwrap();
    p.exp_string(&pty_text("─[ row 1 ]─")).unwrap();
    p.exp_string(&pty_text("NonCompliant │ 0")).unwrap();
    p.exp_string(&pty_text("Failed       │ 1")).unwrap();
    // The per-state bars fit the 70 columns too: 31 cells of text, 39 of bar.
    p.exp_string(&pty_text(&format!(
        "Compliant           2   66.7% {}\r\n",
        "█".repeat(26)
    )))
    .unwrap();
    p.exp_string("(1 row)").unwrap();
    p.exp_string(PROMPT).unwrap();
    // `.mode table` keeps the columns side by side; `.format vertical` always stacks.
    p.send_line(".mode table").unwrap();
    p.exp_string(PROMPT).unwrap();
    p.send_line("STATES IN \"All Desktops\" AT 2026-10-04;").unwrap();
    p.exp_string(" NotStarted ").unwrap();
    p.exp_string("2026-10-04T00:00:00Z ").unwrap();
    p.exp_string(PROMPT).unwrap();
    p.send_line(".format vertical").unwrap();
    p.exp_string(PROMPT).unwrap();
    p.send_line("CLIENTS IN \"Pilot Ring\" AT 2026-10-04;").unwrap();
    p.exp_string(&pty_text("─[ row 1 ]─")).unwrap();
    p.exp_string(&pty_text("client │ PC-4")).unwrap();
    p.exp_string(PROMPT).unwrap();
    p.send_line(".mode").unwrap();
    p.exp_string("table (layout vertical)").unwrap();
    p.exp_string(PROMPT).unwrap();
    p.send_control('d').unwrap();
    p.exp_eof().unwrap();
}

#[test]
fn completes_lowercase_keywords_and_deployment_lists() {
    let env = Env::new();
    env.load_fixture();
    let mut p = repl(&env, &env.path().join("hist"));
    p.send_line(".format csv").unwrap();
    p.exp_string(PROMPT).unwrap();
    // `sta` starts a statement: only `states` fits, completed in lower case.
    send(&mut p, "sta");
    send(&mut p, "\t");
    p.exp_string("rollcall> states").unwrap();
    // After `FOR a,` only deployments are offered, the listed one left out.
    send(&mut p, " for production,");
    send(&mut p, "\t");
    p.exp_string("preproduction").unwrap();
    send(&mut p, " in \"Pilot Ring\" at 2026-10-04;\r");
    p.exp_string("preproduction,2026-10-04T00:00:00Z,0,0,0,0,1,0,1")
        .unwrap();
    p.exp_string(PROMPT).unwrap();
    p.send_control('d').unwrap();
    p.exp_eof().unwrap();
}

#[test]
fn watch_reruns_and_shows_a_commit_made_by_another_process_until_ctrl_c() {
    let env = Env::new();
    env.load_fixture();
    let mut p = repl(&env, &env.path().join("hist"));
    p.send_line(".format csv").unwrap();
    p.exp_string(PROMPT).unwrap();
    p.send_line(".watch 300ms STATES IN \"Pilot Ring\" AT 2026-10-04")
        .unwrap();
    p.exp_string("run 1").unwrap();
    p.exp_string("2026-10-04T00:00:00Z,1,0,0,0,0,0,1").unwrap();
    p.exp_string("changed: nothing since the last run").unwrap();
    let events = env.write(
        "more.csv",
        "time,client,state\n2026-10-03T00:00:00Z,PC-4,Compliant\n",
    );
    env.cmd()
        .args(["ingest", "events"])
        .arg(events)
        .assert()
        .success();
    p.exp_string("2026-10-04T00:00:00Z,0,1,0,0,0,0,1").unwrap();
    p.exp_string("changed: NotStarted: 1 -> 0 (-1)").unwrap();
    p.exp_string("changed: Compliant: 0 -> 1 (+1)").unwrap();
    send(&mut p, "\x03");
    p.exp_string("watch stopped").unwrap();
    p.exp_string(PROMPT).unwrap();
    // A count ends the watch by itself.
    p.send_line(".watch 100ms 2 SHOW DEPLOYMENTS").unwrap();
    p.exp_string("run 2 of 2").unwrap();
    p.exp_string(PROMPT).unwrap();
    p.send_line(".quit").unwrap();
    p.exp_eof().unwrap();
}

#[test]
fn a_multi_line_statement_reports_its_own_line() {
    let env = Env::new();
    env.load_fixture();
    let mut p = repl(&env, &env.path().join("hist"));
    p.send_line("STATES").unwrap();
    p.send_line("  IN \"Nope\"").unwrap();
    p.send_line("  AT NOW;").unwrap();
    p.exp_string("error: unknown collection \"Nope\"").unwrap();
    p.exp_string("input:2:6").unwrap();
    p.exp_string(PROMPT).unwrap();
    p.send_line(".quit").unwrap();
    p.exp_eof().unwrap();
}
