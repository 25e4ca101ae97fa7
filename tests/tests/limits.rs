//! Hostile input is refused quickly, clearly and in bounded memory.
//!
//! Each case runs the real `rollcall ingest` under an address-space limit
//! (`ulimit -v`, 384 MiB) and a time budget, on input built to exhaust
//! memory or time if a limit were missing: a 100 MB CSV line, a 10 MB field,
//! a million columns (in the header and in a row), 300-byte names, an NDJSON
//! line of 100 MB and deeply nested JSON. Each must exit 1 with a message
//! naming the problem, and store nothing.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Address space the command may use, in KiB (the binary, its thread
/// stacks and allocator arenas fit easily; a 100 MB buffer does not fit
/// twice).
const MEMORY_KIB: u64 = 384 * 1024;
/// Wall-clock budget per command (generous for a debug build on a busy CI
/// machine; without the limits these inputs take far longer or fail).
const BUDGET: Duration = Duration::from_secs(20);

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_rollcall-e2e")
}

/// Runs `rollcall --db DB ingest <kind> FILE` under the memory limit.
fn ingest_limited(db: &Path, kind: &str, file: &Path, extra: &[&str]) -> (Output, Duration) {
    let started = Instant::now();
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -v {MEMORY_KIB} && exec \"$0\" \"$@\""))
        .arg(bin())
        .arg("--db")
        .arg(db)
        .args(["ingest", kind])
        .args(extra)
        .arg(file)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .expect("run sh");
    (out, started.elapsed())
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

struct Case {
    dir: tempfile::TempDir,
}

impl Case {
    fn new() -> Case {
        Case {
            dir: tempfile::tempdir().expect("temporary directory"),
        }
    }

    fn db(&self) -> PathBuf {
        self.dir.path().join("store")
    }

    fn file(&self, name: &str, parts: &[&[u8]]) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, parts.concat()).expect("write input");
        path
    }

    /// Asserts exit 1 within the budget, a message containing `want`, no
    /// panic, and (when the store exists) no rows stored.
    fn refused(&self, kind: &str, file: &Path, extra: &[&str], want: &str) {
        let (out, took) = ingest_limited(&self.db(), kind, file, extra);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{}: {err}", file.display());
        assert!(
            err.contains(want),
            "{}: expected {want:?} in: {err}",
            file.display()
        );
        assert!(!err.contains("panicked"), "{err}");
        assert!(took < BUDGET, "{} took {took:?}", file.display());
        let stats = Command::new(bin())
            .arg("--db")
            .arg(self.db())
            .arg("stats")
            .output()
            .expect("run stats");
        if stats.status.success() {
            let text = String::from_utf8_lossy(&stats.stdout).into_owned();
            let line = text.lines().find(|l| l.starts_with("transitions")).unwrap_or("");
            assert!(line.ends_with(" 0"), "rows were stored: {line}");
        }
    }
}

#[test]
fn the_memory_limit_leaves_room_for_a_normal_ingest() {
    let c = Case::new();
    let f = c.file("ok.csv", &[b"time,client,state\n2026-10-01,PC-1,Failed\n"]);
    let (out, _) = ingest_limited(&c.db(), "events", &f, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn a_100_mb_csv_line_is_refused_after_a_megabyte() {
    let c = Case::new();
    let big = vec![b'x'; 100_000_000];
    let f = c.file(
        "line.csv",
        &[
            b"time,client,state\n2026-10-01,",
            &big,
            b",Failed\n2026-10-01,PC-1,Failed\n",
        ],
    );
    c.refused(
        "events",
        &f,
        &[],
        "line.csv:2: a record is longer than 1048576 bytes",
    );
    // Skipping bad rows cannot resynchronise inside a runaway record.
    c.refused("events", &f, &["--skip-bad-rows"], "longer than 1048576 bytes");
    // An unterminated quote makes the rest of the file one record.
    let f = c.file(
        "quote.csv",
        &[
            b"time,client,state\n2026-10-01,\"PC-1,Failed\n",
            &big[..5_000_000],
        ],
    );
    c.refused("events", &f, &[], "longer than 1048576 bytes");
}

#[test]
fn a_10_mb_field_is_refused() {
    let c = Case::new();
    let big = vec![b'y'; 10_000_000];
    let f = c.file(
        "field.csv",
        &[b"time,client,state\n2026-10-01,PC-1,\"", &big, b"\"\n"],
    );
    c.refused(
        "events",
        &f,
        &[],
        "field.csv:2: a record is longer than 1048576 bytes",
    );
}

#[test]
fn a_million_columns_are_refused() {
    let c = Case::new();
    let mut header = b"time,client,state".to_vec();
    for i in 0..1_000_000 {
        header.extend_from_slice(format!(",c{i}").as_bytes());
    }
    let f = c.file("wide-header.csv", &[&header, b"\n"]);
    c.refused(
        "events",
        &f,
        &[],
        "wide-header.csv:1: a record is longer than 1048576 bytes",
    );
    // Under the record limit: a row of a million empty fields.
    let commas = vec![b','; 999_999];
    let f = c.file("wide-row.csv", &[b"time,client,state\n", &commas, b"\n"]);
    c.refused(
        "events",
        &f,
        &[],
        "wide-row.csv:2: expected 3 fields as in the header, found 1000000",
    );
}

#[test]
fn names_over_the_limits_are_refused() {
    let c = Case::new();
    let long = "n".repeat(300);
    let f = c.file(
        "client.csv",
        &[format!("time,client,state\n2026-10-01,{long},Failed\n").as_bytes()],
    );
    c.refused(
        "events",
        &f,
        &[],
        "client.csv:2:2: client: name is 300 bytes long, the limit is 256",
    );
    let f = c.file(
        "coll.csv",
        &[format!("time,client,collection,change\n2026-10-01,PC-1,{long},join\n").as_bytes()],
    );
    c.refused(
        "members",
        &f,
        &[],
        "coll.csv:2:3: collection: name is 300 bytes long, the limit is 256",
    );
    let f = c.file(
        "dep.ndjson",
        &[
            format!("{{\"time\":1,\"client\":\"PC-1\",\"state\":\"Failed\",\"deployment\":\"{long}\"}}\n")
                .as_bytes(),
        ],
    );
    c.refused(
        "events",
        &f,
        &[],
        "deployment: name is 300 bytes long, the limit is 128",
    );
}

#[test]
fn hostile_ndjson_is_refused() {
    let c = Case::new();
    let big = vec![b'z'; 100_000_000];
    let f = c.file(
        "line.ndjson",
        &[b"{\"time\":1,\"client\":\"", &big, b"\",\"state\":\"Failed\"}\n"],
    );
    c.refused(
        "events",
        &f,
        &[],
        "line.ndjson:1: line is longer than 1048576 bytes",
    );
    // Nesting far beyond any recursion limit, as a whole line and as a value.
    let depth = 400_000;
    let nested = [vec![b'['; depth], vec![b']'; depth]].concat();
    let f = c.file("deep.ndjson", &[&nested, b"\n"]);
    c.refused("events", &f, &[], "deep.ndjson:1:1: bad JSON");
    let f = c.file(
        "deep-value.ndjson",
        &[
            b"{\"time\":",
            &nested,
            b",\"client\":\"a\",\"state\":\"Failed\"}\n",
        ],
    );
    c.refused("events", &f, &[], "deep-value.ndjson:1");
    let objects = b"{\"a\":".repeat(depth / 5);
    let f = c.file("deep-object.ndjson", &[b"{\"time\":", &objects, b"1\n"]);
    c.refused("events", &f, &[], "deep-object.ndjson:1");
}
