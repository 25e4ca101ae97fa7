//! `stats`, `check`, `compact`, `demo`, `completions`, the declared but
//! unbuilt `export`/`translate`, help and usage errors.

mod common;

use common::{Env, stderr_of, stdout_of};
use predicates::prelude::*;

#[test]
fn stats_reports_counts_and_time_range() {
    let env = Env::new();
    env.load_fixture();
    assert_eq!(env.stat("clients"), "4");
    assert_eq!(env.stat("collections"), "2");
    assert_eq!(env.stat("deployments"), "2");
    assert_eq!(env.stat("transitions"), "9");
    assert_eq!(env.stat("membership_changes"), "5");
    assert_eq!(
        env.stat("time_range"),
        "2026-10-01T10:00:00Z .. 2026-10-06T10:00:00Z"
    );
    let out = env.cmd().arg("stats").assert().success();
    let text = stdout_of(&out);
    for key in ["segments", "bytes_on_disk", "bytes_per_transition"] {
        assert!(text.contains(key), "{text}");
    }
}

#[test]
fn compact_keeps_answers_and_check_verifies() {
    let env = Env::new();
    env.load_fixture();
    let rql = "STATES IN \"All Desktops\" FROM 2026-10-01 TO 2026-10-08 EVERY 1d";
    let before = env.query_csv(rql);
    env.cmd()
        .arg("compact")
        .assert()
        .success()
        .stdout("")
        .stderr(predicate::str::contains("compacted"));
    assert_eq!(env.query_csv(rql), before);
    env.cmd()
        .arg("check")
        .assert()
        .success()
        .stdout(predicate::str::starts_with("ok: "));
}

#[test]
fn check_reports_damage_with_file_and_offset() {
    let env = Env::new();
    env.load_fixture();
    env.cmd().arg("compact").assert().success();
    let seg_dir = env.db().join("seg");
    let seg = std::fs::read_dir(&seg_dir)
        .expect("a segment directory")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "seg"))
        .expect("a segment file after compaction");
    let mut bytes = std::fs::read(&seg).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&seg, bytes).unwrap();
    let a = env.cmd().arg("check").assert().code(1);
    let err = stderr_of(&a);
    let name = seg.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        err.contains("damage: ") && err.contains(&name) && err.contains("at offset"),
        "{err}"
    );
    assert!(err.contains("is damaged"), "{err}");
}

#[test]
fn check_compact_and_stats_on_a_missing_store_fail() {
    let env = Env::new();
    for cmd in ["check", "compact", "stats"] {
        env.cmd()
            .arg(cmd)
            .assert()
            .code(1)
            .stderr(predicate::str::contains("no rollcall store"));
    }
    assert!(!env.db().exists(), "nothing was created");
}

#[test]
fn demo_builds_a_fleet_and_shows_the_headlines() {
    let env = Env::new();
    let a = env
        .cmd()
        .args(["demo", "--clients", "300", "--now", "2026-11-01T00:00:00Z"])
        .assert()
        .success();
    let out = stdout_of(&a);
    for needle in [
        "STATES IN \"All Desktops\" AT NOW;",
        "STATES BY COLLECTION AT NOW;",
        "FAILURES IN \"All Desktops\" FROM NOW - 30d TO NOW EVERY 1d;",
        "BY ERROR",
        "WHERE STATE = Failed LIMIT 10;",
        "2026-11-01T00:00:00Z",
        "repl",
    ] {
        assert!(out.contains(needle), "missing {needle:?} in:\n{out}");
    }
    assert!(stderr_of(&a).contains("stored"));
    // The fleet is in the store for later commands.
    let n: u64 = env.stat("clients").parse().unwrap();
    assert_eq!(n, 300);
    // A store with data is refused, unless --force.
    env.cmd()
        .args(["demo", "--clients", "300", "--now", "2026-11-01T00:00:00Z"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("already holds data"));
    let before = env.stat("transitions");
    env.cmd()
        .args([
            "demo",
            "--clients",
            "300",
            "--now",
            "2026-11-01T00:00:00Z",
            "--force",
        ])
        .assert()
        .success();
    assert_eq!(
        env.stat("transitions"),
        before,
        "the same fleet again is all duplicates"
    );
}

#[test]
fn completions_for_each_shell() {
    let env = Env::new();
    for shell in ["bash", "zsh", "fish"] {
        let a = env.bare().args(["completions", shell]).assert().success();
        let out = stdout_of(&a);
        assert!(
            out.contains("rollcall") && out.contains("ingest"),
            "{shell}: {out}"
        );
    }
    env.bare().args(["completions", "tcsh"]).assert().code(2);
}

#[test]
fn every_command_has_help_with_an_example() {
    let env = Env::new();
    for cmd in [
        &["ingest", "events"][..],
        &["ingest", "members"],
        &["ingest", "snapshot"],
        &["query"],
        &["run"],
        &["repl"],
        &["check"],
        &["compact"],
        &["stats"],
        &["demo"],
        &["completions"],
        &["export"],
        &["translate"],
    ] {
        let a = env.bare().args(cmd).arg("--help").assert().success().stderr("");
        let out = stdout_of(&a);
        assert!(out.contains("Example"), "{cmd:?}: {out}");
    }
    let a = env.bare().arg("--help").assert().success();
    assert!(stdout_of(&a).contains("Exit codes"));
    env.bare()
        .arg("--version")
        .assert()
        .success()
        .stdout(predicate::str::starts_with("rollcall "));
}

#[test]
fn usage_errors_exit_2() {
    let env = Env::new();
    env.bare().arg("frobnicate").assert().code(2).stdout("");
    env.bare().arg("query").assert().code(2).stdout("");
    env.bare().args(["ingest", "events"]).assert().code(2);
    env.bare().args(["demo", "--clients", "0"]).assert().code(2);
    env.bare()
        .args(["ingest", "events", "-", "-", "--input-format", "csv"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("only once"));
}
