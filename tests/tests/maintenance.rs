//! SPEC 7.8 through the real binary: a store that keeps itself query-ready.
//!
//! * A slow feed on standard input is visible to readers while the writer
//!   still holds its input open (it commits when the input pauses), and a
//!   burst is still one commit; a steady feed that never pauses is
//!   committed at least about once a second.
//! * After every `ingest` command a read-only open replays nothing (no
//!   memtable rows), and a long series of small ingests never piles up
//!   delta segments past the policy's bound: the writer compacts on its own,
//!   and every answer equals the one after a manual `compact`.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn rollcall(db: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_rollcall-e2e"));
    c.arg("--db")
        .arg(db)
        .env("NO_COLOR", "1")
        .env_remove("ROLLCALL_DB");
    c
}

fn output(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null()).output().expect("run rollcall")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `rollcall stats` as (key, value) pairs.
fn stats(db: &Path) -> Vec<(String, String)> {
    let out = output(rollcall(db).arg("stats"));
    assert!(out.status.success(), "stats: {}", text(&out.stderr));
    text(&out.stdout)
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k.to_owned(), v.trim().to_owned()))
        })
        .collect()
}

fn stat(db: &Path, key: &str) -> u64 {
    stats(db)
        .into_iter()
        .find(|(k, _)| k == key)
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or_else(|| panic!("no numeric {key} in stats"))
}

fn query(db: &Path, q: &str) -> String {
    let out = output(rollcall(db).args(["query", "--format", "csv", q]));
    assert!(out.status.success(), "{q}: {}", text(&out.stderr));
    text(&out.stdout)
}

/// `ingest events -` on `db`, with its standard input to feed.
fn stdin_writer(db: &Path) -> (std::process::Child, std::process::ChildStdin) {
    let mut child = rollcall(db)
        .args(["ingest", "events", "-", "--input-format", "csv"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the writer");
    let input = child.stdin.take().expect("stdin");
    (child, input)
}

#[test]
fn a_steady_feed_that_never_pauses_is_visible_while_it_flows() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let db = dir.path().join("store");
    let (child, mut input) = stdin_writer(&db);
    input.write_all(b"time,client,state\n").expect("feed");
    // A row every 20 ms (well inside the 200 ms pause), for up to 30 s:
    // the rows must show up in another process while the feed flows.
    let started = Instant::now();
    let mut sent = 0u64;
    let mut seen = 0;
    while started.elapsed() < Duration::from_secs(30) {
        let row = format!(
            "2026-10-01T10:{:02}:{:02}Z,pc-{sent},Compliant\n",
            (sent / 60) % 60,
            sent % 60
        );
        input.write_all(row.as_bytes()).expect("feed");
        input.flush().expect("feed");
        sent += 1;
        std::thread::sleep(Duration::from_millis(20));
        if sent.is_multiple_of(25) && db.join("MANIFEST").exists() {
            seen = stat(&db, "transitions");
            if seen > 0 {
                break;
            }
        }
    }
    assert!(seen > 0, "nothing of a steady feed was visible after {sent} rows");
    assert!(seen < sent, "the feed had already been committed to its end");
    drop(input);
    let out = child.wait_with_output().expect("wait");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(stat(&db, "transitions"), sent);
}

#[test]
fn a_paused_feed_is_visible_while_standard_input_stays_open() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let db = dir.path().join("store");
    let (mut child, mut input) = stdin_writer(&db);
    let mut burst = String::from("time,client,state\n");
    for i in 0..50 {
        burst.push_str(&format!("2026-10-01T10:00:{:02}Z,pc-{i},Failed\n", i % 60));
    }
    input.write_all(burst.as_bytes()).expect("feed");
    input.flush().expect("feed");
    // The input stays open: the rows must become visible anyway.
    let started = Instant::now();
    while !db.join("MANIFEST").exists() || stat(&db, "transitions") < 50 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the paused feed was not committed while its input stayed open"
        );
        assert!(
            child.try_wait().expect("poll").is_none(),
            "the writer ended early"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(stat(&db, "transitions"), 50);
    let more: String = (0..10)
        .map(|i| format!("2026-10-01T11:00:{i:02}Z,pc-{i},Compliant\n"))
        .collect();
    input.write_all(more.as_bytes()).expect("feed");
    drop(input);
    let out = child.wait_with_output().expect("wait");
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    // Two pauses at most (the burst, then the end): not one commit per row.
    assert!(
        err.contains("60 stored") && (err.contains("(2 commits)") || err.contains("(3 commits)")),
        "{err}"
    );
    assert_eq!(stat(&db, "transitions"), 60);
    assert_eq!(
        stat(&db, "memtable_rows"),
        0,
        "a reader would replay the log tail"
    );
}

#[test]
fn many_small_ingests_stay_query_ready_without_a_manual_compact() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let db = dir.path().join("store");
    let members = dir.path().join("members.csv");
    let mut m = String::from("time,client,collection,change\n");
    for c in 0..40 {
        m.push_str(&format!("2026-09-01T00:00:00Z,pc-{c},ring-{},join\n", c % 3));
    }
    std::fs::write(&members, m).expect("write members");
    let out = output(rollcall(&db).args(["ingest", "members"]).arg(&members));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let states = ["Failed", "InProgress", "Compliant", "NonCompliant"];
    let mut segments_seen = Vec::new();
    for round in 0..40u64 {
        let file = dir.path().join(format!("events-{round:02}.csv"));
        let mut rows = String::from("time,client,state\n");
        for c in 0..40u64 {
            // Some rounds arrive late: their times lie before earlier rounds'.
            let late = round % 7 == 3;
            let hour = if late { round / 2 } else { round };
            let state = states[((c + round) % 4) as usize];
            rows.push_str(&format!(
                "2026-10-{:02}T{:02}:{:02}:{:02}Z,pc-{c},{state}\n",
                1 + hour / 24,
                hour % 24,
                c,
                if late { 30 } else { 0 }
            ));
        }
        std::fs::write(&file, rows).expect("write events");
        let out = output(rollcall(&db).args(["ingest", "events"]).arg(&file));
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert_eq!(
            stat(&db, "memtable_rows"),
            0,
            "round {round}: a read-only open would replay the log"
        );
        segments_seen.push(stat(&db, "segments"));
    }
    let most = *segments_seen.iter().max().expect("rounds");
    assert!(
        most <= 20,
        "delta segments piled up without a compaction: {segments_seen:?}"
    );
    let queries = [
        "STATES AT 2026-10-03",
        "STATES IN \"ring-1\" AT 2026-10-01T12:00:00Z",
        "STATES BY COLLECTION AT 2026-10-01T18:30:00Z",
        "FAILURES FROM 2026-10-01 TO 2026-10-02 EVERY 1h",
        "STATES IN \"ring-2\" FROM 2026-10-01 TO 2026-10-02 EVERY 6h",
    ];
    let before: Vec<String> = queries.iter().map(|q| query(&db, q)).collect();
    let out = output(rollcall(&db).arg("compact"));
    assert!(out.status.success(), "{}", text(&out.stderr));
    for (q, want) in queries.iter().zip(&before) {
        assert_eq!(&query(&db, q), want, "{q} changed after a manual compact");
    }
    assert_eq!(stat(&db, "transitions"), 40 * 40);
}
