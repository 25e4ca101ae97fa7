//! `rollcall export --format parquet` and `rollcall translate`, end to end.
//!
//! A fixture store (late rows after a compaction, exact duplicates, same-ms
//! ties, joins and leaves including same-ms ones, two deployments, stale
//! clients, names that need escaping) is exported in two incremental runs;
//! then every statement kind of SPEC.md section 3 but SHOW and EXPLAIN is
//! translated for DuckDB and ClickHouse, run on DuckDB and on chDB
//! (in-process ClickHouse) over the exported files, and compared row for
//! row with `rollcall query --format csv`.
//!
//! The engines are Python packages (`tests/scripts/requirements.txt`),
//! installed by `tests/scripts/setup-python.sh` into `target/pyenv`
//! (or point `ROLLCALL_PYTHON` at an interpreter that has them). Without
//! them the comparison fails when `CI` is set, and is skipped loudly
//! otherwise.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_rollcall-e2e");

/// The fixture's "now": 2026-11-01T00:00:00Z. Every row lies in October.
const NOW: &str = "2026-11-01T00:00:00Z";
const OCT1_MS: i64 = 1_790_812_800_000;
const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

const ODD_COLLECTION: &str = "Lab \"B\", O'Neil";
const ODD_CLIENT: &str = "O'Brien, \"the\" PC";

fn rollcall(db: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("--db")
        .arg(db)
        .args(args)
        .env_remove("ROLLCALL_DB")
        .output()
        .expect("run rollcall")
}

fn ok(out: Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// A small deterministic generator (64-bit LCG, high bits).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

fn client(i: usize) -> String {
    match i {
        40 => ODD_CLIENT.to_owned(),
        41 => "Ünïcode-PC".to_owned(),
        _ => format!("PC-{i:04}"),
    }
}

const STATES: [&str; 6] = [
    "NotStarted",
    "Compliant",
    "InProgress",
    "NonCompliant",
    "Failed",
    "Unknown",
];
const ERRORS: [&str; 4] = ["0x80070005", "0x87d00324", "0", ""];

struct Fixture {
    _dir: tempfile::TempDir,
    db: PathBuf,
    export: PathBuf,
    work: PathBuf,
    /// A commit time between the first batch and the later ones.
    known: String,
}

/// Writes the fixture's input files.
fn write_inputs(work: &Path) {
    let mut rng = Lcg(42);
    // --- membership changes -------------------------------------------------
    let mut m = String::from("time,client,collection,change\n");
    let mut member = |t: i64, c: &str, coll: &str, change: &str| {
        let _ = writeln!(m, "{t},{},{},{change}", csv_field(c), csv_field(coll));
    };
    for i in 0..42 {
        member(OCT1_MS + (i as i64) * 1000, &client(i), "All Desktops", "join");
    }
    for i in 0..10 {
        member(OCT1_MS, &client(i), "Pilot Ring", "join");
    }
    for i in [3, 7, 40, 41, 44] {
        member(OCT1_MS + 2 * DAY, &client(i), ODD_COLLECTION, "join");
    }
    // Leaves mid-month, a rejoin, and same-millisecond pairs (ingest order decides).
    member(OCT1_MS + 10 * DAY, &client(5), "All Desktops", "leave");
    member(OCT1_MS + 12 * DAY, &client(6), "All Desktops", "leave");
    member(OCT1_MS + 20 * DAY, &client(6), "All Desktops", "join");
    member(OCT1_MS + 15 * DAY, &client(8), "All Desktops", "leave");
    member(OCT1_MS + 15 * DAY, &client(8), "All Desktops", "join"); // member again
    member(OCT1_MS + 16 * DAY, &client(9), "Pilot Ring", "join");
    member(OCT1_MS + 16 * DAY, &client(9), "Pilot Ring", "leave"); // not a member
    // A collection everybody leaves: listed with zeros.
    member(OCT1_MS + DAY, &client(11), "Retired", "join");
    member(OCT1_MS + 3 * DAY, &client(11), "Retired", "leave");
    // A client known only by membership (no transition at all).
    member(OCT1_MS + 5 * DAY, &client(42), "All Desktops", "join");
    std::fs::write(work.join("members.csv"), m).expect("write members");

    // --- transitions, first file ---------------------------------------------
    let mut e1 = String::from("time,client,state,deployment,error\n");
    let mut rows1: Vec<String> = Vec::new();
    for i in 0..42 {
        // Stale clients (every 7th) stop reporting after the first days.
        let horizon = if i % 7 == 0 { 4 * DAY } else { 30 * DAY };
        let mut t = OCT1_MS + (rng.next(6 * HOUR as u64) as i64);
        while t < OCT1_MS + horizon {
            let state = STATES[1 + rng.next(4) as usize];
            let error = if matches!(state, "Failed" | "NonCompliant") {
                ERRORS[rng.next(4) as usize]
            } else {
                ""
            };
            let deployment = if i % 5 == 0 && rng.next(3) == 0 {
                "preproduction"
            } else {
                ""
            };
            rows1.push(format!(
                "{t},{},{state},{deployment},{error}",
                csv_field(&client(i))
            ));
            // Whole seconds mostly, some odd milliseconds.
            let step = (rng.next(40) as i64 + 2) * HOUR + if rng.next(4) == 0 { 250 } else { 0 };
            t += step;
        }
    }
    // Same-millisecond ties: the row ingested last wins.
    let tie = OCT1_MS + 14 * DAY + 123;
    rows1.push(format!("{tie},PC-0003,Failed,,0x80070005"));
    rows1.push(format!("{tie},PC-0003,Compliant,,"));
    rows1.push(format!("{tie},PC-0004,Compliant,,"));
    rows1.push(format!("{tie},PC-0004,InProgress,,"));
    // A client with only preproduction transitions.
    rows1.push(format!(
        "{},PC-0043,Failed,preproduction,0x80070005",
        OCT1_MS + 3 * DAY
    ));
    rows1.push(format!(
        "{},PC-0042,InProgress,preproduction,",
        OCT1_MS + 26 * DAY
    ));
    for r in &rows1 {
        e1.push_str(r);
        e1.push('\n');
    }
    std::fs::write(work.join("events1.csv"), e1).expect("write events1");

    // --- transitions, second file: late rows and duplicates --------------------
    let mut e2 = String::from("time,client,state,deployment,error\n");
    for r in rows1.iter().step_by(9) {
        e2.push_str(r); // exact duplicates: ignored
        e2.push('\n');
    }
    for i in (0..42).step_by(3) {
        // Late rows, in the past of what is stored already.
        let t = OCT1_MS + (rng.next(25) as i64) * DAY + (rng.next(1000) as i64);
        let state = STATES[rng.next(6) as usize];
        let _ = writeln!(e2, "{t},{},{state},,", csv_field(&client(i)));
    }
    // Failures for the BY ERROR and IN checks, in the last week.
    for i in 0..20 {
        let t = OCT1_MS + 25 * DAY + (i as i64) * 7 * HOUR;
        let _ = writeln!(e2, "{t},{},Failed,,{}", csv_field(&client(i * 2)), ERRORS[i % 4]);
    }
    let _ = writeln!(e2, "{},PC-0042,Failed,,0x80070005", OCT1_MS + 27 * DAY + 5);
    // Failures at the very millisecond of a membership change: the change
    // counts (a join at t, a leave-then-join at t: member; join-then-leave: not).
    let _ = writeln!(e2, "{},PC-0042,Failed,,0x80070005", OCT1_MS + 5 * DAY);
    let _ = writeln!(e2, "{},PC-0008,Failed,,0x80070005", OCT1_MS + 15 * DAY);
    let _ = writeln!(e2, "{},PC-0009,Failed,,5", OCT1_MS + 16 * DAY);
    let _ = writeln!(
        e2,
        "{},{},NonCompliant,preproduction,0x87d00324",
        OCT1_MS + 28 * DAY,
        csv_field(ODD_CLIENT)
    );
    std::fs::write(work.join("events2.csv"), e2).expect("write events2");

    let mut m2 = String::from("time,client,collection,change\n");
    let _ = writeln!(m2, "{},PC-0012,All Desktops,leave", OCT1_MS + 26 * DAY);
    let _ = writeln!(
        m2,
        "{},PC-0013,{},join",
        OCT1_MS + 9 * DAY,
        csv_field(ODD_COLLECTION)
    );
    std::fs::write(work.join("members2.csv"), m2).expect("write members2");
}

/// Builds the store in two steps with an export after each: the second
/// export is incremental and carries the late rows.
fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("fleet.db");
    let export = dir.path().join("export");
    let work = dir.path().to_path_buf();
    write_inputs(&work);
    let s = |p: &str| work.join(p).to_string_lossy().into_owned();
    ok(
        rollcall(&db, &["ingest", "members", &s("members.csv")]),
        "ingest members",
    );
    ok(
        rollcall(&db, &["ingest", "events", &s("events1.csv")]),
        "ingest events1",
    );
    ok(rollcall(&db, &["compact"]), "compact");
    // A wall-clock time between the first batch's commits and the next
    // ones: `AS KNOWN AT $known` sees the first batch only.
    std::thread::sleep(std::time::Duration::from_millis(30));
    let known_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let known = rollcall_engine::Timestamp(known_ms).to_string();
    std::thread::sleep(std::time::Duration::from_millis(30));
    let e = export.to_string_lossy().into_owned();
    ok(
        rollcall(&db, &["export", "--format", "parquet", &e]),
        "first export",
    );
    ok(
        rollcall(&db, &["ingest", "events", &s("events2.csv")]),
        "ingest events2",
    );
    ok(
        rollcall(&db, &["ingest", "members", &s("members2.csv")]),
        "ingest members2",
    );
    ok(
        rollcall(&db, &["export", "--format", "parquet", &e]),
        "second export",
    );
    Fixture {
        _dir: dir,
        db,
        export,
        work,
        known,
    }
}

fn stat(db: &Path, name: &str) -> u64 {
    let out = ok(
        rollcall(db, &["query", "--format", "csv", "SHOW STATS"]),
        "SHOW STATS",
    );
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("{name},")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("SHOW STATS has no {name}: {out}"))
}

fn manifest(export: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(export.join("_rollcall_export.json")).expect("manifest");
    serde_json::from_str(&text).expect("manifest is JSON")
}

fn part_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for day in std::fs::read_dir(dir).expect("table dir") {
        let day = day.expect("entry").path();
        let name = day
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        assert!(name.starts_with("day=") && name.len() == 14, "partition {name}");
        for f in std::fs::read_dir(&day).expect("day dir") {
            out.push(f.expect("entry").path());
        }
    }
    out.sort();
    out
}

#[test]
fn export_is_incremental_partitioned_and_idempotent() {
    let f = fixture();
    let m = manifest(&f.export);
    let runs = m["runs"].as_array().expect("runs");
    assert_eq!(runs.len(), 2, "{m}");
    let total_t = stat(&f.db, "transitions");
    let total_m = stat(&f.db, "membership_changes");
    let sum = |key: &str| runs.iter().map(|r| r[key].as_u64().expect("count")).sum::<u64>();
    // Every stored row exported exactly once over the two runs.
    assert_eq!(sum("transitions"), total_t, "{m}");
    assert_eq!(sum("memberships"), total_m, "{m}");
    // The second run wrote only what came after the first.
    assert!(runs[1]["transitions"].as_u64() > Some(0));
    assert!(runs[1]["transitions"].as_u64() < Some(total_t / 2), "{m}");
    assert_eq!(runs[1]["after_seq"], runs[0]["high_seq"]);
    // Late rows went to their own (old) day partitions as new part files.
    let files = part_files(&f.export.join("transitions"));
    assert!(
        files
            .iter()
            .all(|p| p.extension().is_some_and(|e| e == "parquet")),
        "{files:?}"
    );
    let first_end = runs[0]["end_part"].as_u64().expect("end_part");
    let late = files
        .iter()
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            let n: u64 = name
                .trim_start_matches("part-")
                .trim_end_matches(".parquet")
                .parse()
                .unwrap_or(0);
            n >= first_end
        })
        .count();
    assert!(late >= 5, "late rows should touch several old days: {files:?}");

    // Nothing new: a third run writes nothing and moves nothing.
    let before = part_files(&f.export.join("transitions")).len();
    let e = f.export.to_string_lossy().into_owned();
    let out = rollcall(&f.db, &["export", "--format", "parquet", &e]);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("exported 0 transitions and 0 membership changes"),
        "{err}"
    );
    assert_eq!(part_files(&f.export.join("transitions")).len(), before);

    // An export directory made from another store is refused.
    let other = f.work.join("other.db");
    let o = f.work.join("members.csv").to_string_lossy().into_owned();
    ok(rollcall(&other, &["ingest", "members", &o]), "ingest other");
    let out = rollcall(&other, &["export", "--format", "parquet", &e]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("another store"));

    // --since keeps only rows at or after TIME, in a fresh directory.
    let since_dir = f.work.join("since").to_string_lossy().into_owned();
    ok(
        rollcall(
            &f.db,
            &[
                "export",
                "--format",
                "parquet",
                &since_dir,
                "--since",
                "2026-10-25",
            ],
        ),
        "export --since",
    );
    let days: Vec<String> = std::fs::read_dir(f.work.join("since").join("transitions"))
        .expect("since transitions")
        .map(|d| d.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!days.is_empty());
    assert!(days.iter().all(|d| d.as_str() >= "day=2026-10-25"), "{days:?}");
    let bad = rollcall(
        &f.db,
        &[
            "export",
            "--format",
            "parquet",
            &since_dir,
            "--since",
            "yesterday",
        ],
    );
    assert_eq!(bad.status.code(), Some(2));
}

/// The Python interpreter with duckdb and chdb, or why there is none.
fn python() -> Result<PathBuf, String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let py = match std::env::var_os("ROLLCALL_PYTHON") {
        Some(p) => PathBuf::from(p),
        None => root.join("target").join("pyenv").join("bin").join("python"),
    };
    if !py.exists() {
        return Err(format!("no Python at {}", py.display()));
    }
    let probe = Command::new(&py)
        .args(["-c", "import duckdb, chdb"])
        .output()
        .map_err(|e| format!("cannot run {}: {e}", py.display()))?;
    if !probe.status.success() {
        return Err(format!(
            "{} lacks duckdb or chdb: {}",
            py.display(),
            String::from_utf8_lossy(&probe.stderr).trim()
        ));
    }
    Ok(py)
}

/// Every statement kind of SPEC.md section 3 but SHOW and EXPLAIN, in the
/// shapes of its examples, over the fixture. `$now` is bound to [`NOW`];
/// statements with `NOW` itself are compared against rollcall run at the
/// instant the translation recorded.
const STATEMENTS: &[&str] = &[
    "STATES IN \"All Desktops\" AT 2026-10-20T12:00:00Z",
    "STATES FOR preproduction IN \"Pilot Ring\" AT $now",
    "STATES FOR preproduction IN \"Pilot Ring\" AT NOW",
    "STATES IN \"All Desktops\" FROM 2026-10-01 TO 2026-11-01 EVERY 1d",
    "STATES FROM 2026-10-01 TO 2026-11-01 EVERY 12h STALE AFTER 3d",
    "STATES IN \"Lab \\\"B\\\", O'Neil\" FROM 2026-10-01T07:00:00Z TO 2026-10-31 EVERY 2d",
    "STATES BY COLLECTION AT $now - 1d STALE AFTER 7d",
    "STATES BY COLLECTION AT NOW - 1d STALE AFTER 7d",
    "STATES BY COLLECTION FROM 2026-10-05 TO 2026-10-25 EVERY 5d STALE AFTER 4d",
    "STATES AT 2026-10-15 STALE AFTER 2d",
    "STATES AT 2026-10-15T00:00:00.123Z",
    "STATES FOR preproduction AT $now",
    "FAILURES IN \"All Desktops\" FROM 2026-10-01 TO 2026-11-01 EVERY 1h",
    "FAILURES FROM $now - 30d TO $now EVERY 1d BY ERROR",
    "FAILURES FROM NOW - 30d TO NOW EVERY 1d BY ERROR",
    "FAILURES IN \"Pilot Ring\" FROM 2026-10-01 TO 2026-10-31T07:00:00Z EVERY 2d BY ERROR",
    "FAILURES FOR preproduction FROM 2026-10-01 TO 2026-11-01 EVERY 7d",
    "FAILURES IN \"All Desktops\" FROM 2026-10-15T00:00:00.123Z TO 2026-10-16 EVERY 90m",
    "CLIENTS IN \"All Desktops\" AT $now WHERE STATE = Failed LIMIT 50",
    "CLIENTS IN \"All Desktops\" AT NOW WHERE STATE = Failed LIMIT 50",
    "CLIENTS AT 2026-10-15",
    "CLIENTS IN \"All Desktops\" AT 2026-10-16 WHERE STATE IN (NotStarted, Compliant, Unknown) LIMIT 7",
    "CLIENTS FOR preproduction AT 2026-10-29",
    "CLIENTS AT 2026-10-15T00:00:00.123Z WHERE STATE IN (Failed, Compliant, InProgress)",
    "CLIENTS IN \"All Desktops\" AT 2026-10-16",
    "CLIENTS IN \"Pilot Ring\" AT 2026-10-17",
    "STATES IN \"All Desktops\" FROM 2026-10-15T00:00:00.123Z TO 2026-10-16 EVERY 6h",
    "HISTORY \"PC-0042\" FROM $now - 7d TO $now",
    "HISTORY \"PC-0042\" FROM NOW - 7d TO NOW",
    "HISTORY \"O'Brien, \\\"the\\\" PC\"",
    "HISTORY \"PC-0003\" FOR production FROM 2026-10-14 TO 2026-10-16",
    "HISTORY \"PC-0010\"",
    // SPEC 7.1: local days across the end of summer time (listed points),
    // months (listed, UTC and a zone), whole days without a DST change (a
    // uniform grid printed in the zone), local times, zoned output times.
    "STATES IN \"All Desktops\" FROM 2026-10-20 TO 2026-11-01 EVERY 1d TIME ZONE \"Europe/Berlin\"",
    "FAILURES FROM 2026-10-01 TO 2026-11-01 EVERY 1d TIME ZONE \"Europe/Berlin\"",
    "FAILURES IN \"All Desktops\" FROM 2026-10-20 TO 2026-11-04 EVERY 2d BY ERROR TIME ZONE \"America/New_York\"",
    "STATES FROM 2026-08-31 TO 2026-11-01 EVERY 1mo STALE AFTER 3d",
    "FAILURES IN \"Pilot Ring\" FROM 2026-09-30T12:00:00 TO 2026-12-01 EVERY 1mo TIME ZONE \"Europe/Berlin\"",
    "STATES BY COLLECTION FROM 2026-10-22 TO 2026-10-28 EVERY 1d TIME ZONE \"Europe/Berlin\"",
    "STATES IN \"All Desktops\" FROM 2026-10-01 TO 2026-10-05 EVERY 1d TIME ZONE \"Asia/Tokyo\"",
    "STATES IN \"All Desktops\" AT 2026-10-20T12:00:00 TIME ZONE \"Europe/Berlin\"",
    "CLIENTS IN \"All Desktops\" AT 2026-10-26 TIME ZONE \"Europe/Berlin\"",
    "HISTORY \"PC-0003\" FROM 2026-10-14 TO 2026-10-16 TIME ZONE \"America/New_York\"",
    // SPEC 7.2: several deployments, in the order written.
    "STATES FOR preproduction, production IN \"Pilot Ring\" AT 2026-10-20",
    "STATES FOR production, preproduction FROM 2026-10-01 TO 2026-11-01 EVERY 2d",
    "FAILURES FOR production, preproduction FROM 2026-10-01 TO 2026-11-01 EVERY 1d BY ERROR",
    "FAILURES FOR preproduction, production FROM 2026-10-20 TO 2026-11-01 EVERY 1d TIME ZONE \"Europe/Berlin\"",
    // SPEC 7.9: gates, passing and failing, shares and counts, and an
    // empty population.
    "GATE IN \"All Desktops\" AT 2026-10-20 WHEN Compliant >= 50% AND Failed <= 3 AND Unknown < 12.5%",
    "GATE FOR preproduction IN \"Pilot Ring\" AT NOW WHEN Compliant > 33.3% AND NotStarted <= 0 STALE AFTER 5d",
    "GATE IN \"Pilot Ring\" AT 2026-09-01 WHEN Compliant >= 95% AND Failed < 1",
    // SPEC 7.3, 7.4: where clients went, how long they took.
    "FLOW IN \"All Desktops\" FROM 2026-10-05 TO 2026-10-25",
    "FLOW FOR preproduction FROM 2026-10-01T12:00:00Z TO NOW",
    "FLOW IN \"Pilot Ring\" FROM 2026-10-10 TO 2026-10-12",
    "DURATIONS IN \"All Desktops\" FROM 2026-10-01 TO 2026-11-01 UNTIL Compliant",
    "DURATIONS FROM 2026-10-01 TO 2026-10-20 UNTIL Compliant SINCE Failed",
    "DURATIONS IN \"Pilot Ring\" FROM 2026-10-03 TO 2026-10-04 UNTIL Failed SINCE InProgress",
    "DURATIONS FROM 2026-10-01 TO 2026-11-01 UNTIL Failed SINCE Failed",
    "DURATIONS IN \"All Desktops\" FROM 2026-09-01 TO 2026-09-02 UNTIL Compliant",
    // SPEC 7.5: the report as it was, before the second batch landed.
    "STATES IN \"All Desktops\" AT 2026-10-29 AS KNOWN AT $known",
    "STATES BY COLLECTION AT 2026-10-29 AS KNOWN AT $known",
    "FAILURES FROM 2026-10-01 TO 2026-11-01 EVERY 1d BY ERROR AS KNOWN AT $known",
    "CLIENTS IN \"All Desktops\" AT 2026-10-29 WHERE STATE = Failed AS KNOWN AT $known",
    "FLOW IN \"All Desktops\" FROM 2026-10-05 TO 2026-10-29 AS KNOWN AT $known",
    "DURATIONS IN \"All Desktops\" FROM 2026-10-01 TO 2026-11-01 UNTIL Compliant AS KNOWN AT $known",
    "STATES FROM 2026-10-20 TO 2026-11-01 EVERY 1d TIME ZONE \"Europe/Berlin\" AS KNOWN AT $known",
    "STATES IN \"All Desktops\" AT 2026-10-29 AS KNOWN AT 2000-01-01",
    "FAILURES FROM 2026-10-01 TO 2026-11-01 EVERY 7d AS KNOWN AT NOW",
];

/// `rql` with every `NOW` keyword (not the `NOW` inside `KNOWN`) replaced.
fn replace_now(rql: &str, time: &str) -> String {
    let mut out = String::new();
    let mut rest = rql;
    while let Some(i) = rest.find("NOW") {
        let before = rest[..i].chars().next_back();
        let after = rest[i + 3..].chars().next();
        let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
        out.push_str(&rest[..i]);
        out.push_str(if word(before) || word(after) { "NOW" } else { time });
        rest = &rest[i + 3..];
    }
    out.push_str(rest);
    out
}

#[test]
fn translated_sql_matches_rollcall_on_duckdb_and_clickhouse() {
    let py = match python() {
        Ok(p) => p,
        Err(why) => {
            if std::env::var_os("CI").is_some_and(|v| !v.is_empty()) {
                panic!("{why}; CI must run this test: run `bash tests/scripts/setup-python.sh` first");
            }
            eprintln!(
                "\n!!!! SKIPPED translated_sql_matches_rollcall_on_duckdb_and_clickhouse: {why}.\n\
                 !!!! Run `bash tests/scripts/setup-python.sh` to install DuckDB and chDB.\n"
            );
            return;
        }
    };
    let f = fixture();
    let source = f.export.to_string_lossy().into_owned();
    let now_param = format!("now={NOW}");
    let known_param = format!("known={}", f.known);
    let mut cases = Vec::new();
    for (i, rql) in STATEMENTS.iter().enumerate() {
        let mut sql = serde_json::Map::new();
        let mut expected = serde_json::Map::new();
        for dialect in ["duckdb", "clickhouse"] {
            let text = ok(
                rollcall(
                    &f.db,
                    &[
                        "translate",
                        "--dialect",
                        dialect,
                        "--source",
                        &source,
                        "-p",
                        &now_param,
                        "-p",
                        &known_param,
                        rql,
                    ],
                ),
                &format!("translate {rql}"),
            );
            // rollcall itself, at the NOW this translation recorded.
            let now_used = text.lines().find_map(|l| l.strip_prefix("-- NOW = "));
            let expected_rql = match now_used {
                Some(t) if rql.contains("NOW") => replace_now(rql, t.trim()),
                _ => (*rql).to_owned(),
            };
            // `query` refuses a parameter the statement does not use.
            let mut query = vec!["query", "--format", "csv"];
            if expected_rql.contains("$now") {
                query.extend(["-p", now_param.as_str()]);
            }
            if expected_rql.contains("$known") {
                query.extend(["-p", known_param.as_str()]);
            }
            query.push(&expected_rql);
            let out = rollcall(&f.db, &query);
            // A failed GATE prints its rows and exits 3 (SPEC 7.9).
            let want = if rql.starts_with("GATE") && out.status.code() == Some(3) {
                String::from_utf8(out.stdout).expect("utf-8 output")
            } else {
                ok(out, &format!("query {expected_rql}"))
            };
            sql.insert(dialect.to_owned(), serde_json::Value::String(text));
            expected.insert(dialect.to_owned(), serde_json::Value::String(want));
        }
        cases.push(serde_json::json!({
            "name": format!("{i:02} {rql}"),
            "rql": rql,
            "expected_csv": expected,
            "sql": sql,
        }));
    }
    // Row counts of the exported tables equal the store's: no row lost or
    // doubled by the two incremental runs.
    for (table, stat_name) in [
        ("transitions", "transitions"),
        ("memberships", "membership_changes"),
    ] {
        let n = stat(&f.db, stat_name);
        let glob = format!("{source}/{table}/*/*.parquet");
        cases.push(serde_json::json!({
            "name": format!("row count of {table}"),
            "rql": "",
            "expected_csv": format!("n\n{n}\n"),
            "sql": {
                "duckdb": format!("SELECT n FROM (SELECT count(*) AS n, count(DISTINCT seq) AS d FROM read_parquet('{glob}')) AS t WHERE n = d"),
                "clickhouse": format!("SELECT n FROM (SELECT count() AS n, uniqExact(seq) AS d FROM file('{glob}', 'Parquet')) AS t WHERE n = d"),
            },
        }));
    }
    let cases_path = f.work.join("cases.json");
    std::fs::write(&cases_path, serde_json::json!({ "cases": cases }).to_string()).expect("write cases");
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scripts")
        .join("compare_sql.py");
    let out = Command::new(&py)
        .arg(&script)
        .arg(&cases_path)
        .output()
        .expect("run compare_sql.py");
    assert!(
        out.status.success(),
        "compare_sql.py failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("compare_sql.py prints JSON");
    let results = report["results"].as_array().expect("results");
    let mut failures = Vec::new();
    let mut passed: std::collections::BTreeMap<String, usize> = Default::default();
    for r in results {
        let engine = r["engine"].as_str().unwrap_or("?").to_owned();
        if r["ok"].as_bool() == Some(true) {
            eprintln!("ok [{engine}] {} rows: {}", r["rows"], r["name"]);
            *passed.entry(engine).or_default() += 1;
        } else {
            failures.push(format!("[{engine}] {}: {}", r["name"], r["detail"]));
        }
    }
    eprintln!("engines: {}; passed per engine: {passed:?}", report["engines"]);
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
    let want = STATEMENTS.len() + 2;
    assert_eq!(passed.get("duckdb"), Some(&want), "every case ran on DuckDB");
    assert_eq!(
        passed.get("clickhouse"),
        Some(&want),
        "every case ran on ClickHouse"
    );
}

#[test]
fn translate_checks_names_when_a_store_is_there() {
    let f = fixture();
    let out = rollcall(
        &f.db,
        &[
            "translate",
            "--dialect",
            "duckdb",
            "STATES IN \"All Desktop\" AT NOW",
        ],
    );
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("unknown collection \"All Desktop\""), "{err}");
    assert!(err.contains("did you mean \"All Desktops\"?"), "{err}");
    assert!(out.stdout.is_empty(), "nothing printed on error");

    // No store: translated as written, with a note.
    let none = f.work.join("no-such.db");
    let out = rollcall(
        &none,
        &[
            "translate",
            "--dialect",
            "clickhouse",
            "STATES IN \"All Desktop\" AT NOW",
        ],
    );
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("translating without checking names"));
    assert!(String::from_utf8_lossy(&out.stdout).contains("'All Desktop'"));

    // SHOW and EXPLAIN have no translation; syntax errors are usage errors.
    for (rql, code) in [
        ("SHOW COLLECTIONS", 2),
        ("EXPLAIN STATES AT NOW", 2),
        ("STATES AT", 2),
    ] {
        let out = rollcall(&f.db, &["translate", "--dialect", "duckdb", rql]);
        assert_eq!(
            out.status.code(),
            Some(code),
            "{rql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // Statements from standard input, one query each, in order.
    let mut child = Command::new(BIN)
        .arg("--db")
        .arg(&f.db)
        .args(["translate", "--dialect", "duckdb", "-p", "from=2026-10-01", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    {
        use std::io::Write as _;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin
            .write_all(b"-- name: first\nHISTORY \"PC-0001\";\nFAILURES FROM $from TO $from + 1d EVERY 1h\n")
            .expect("write stdin");
    }
    let out = child.wait_with_output().expect("wait");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let queries: Vec<&str> = text.trim().split("\n\n").collect();
    assert_eq!(queries.len(), 2, "{text}");
    assert!(queries[0].contains("-- name: first") && queries[0].contains("client_history AS ("));
    assert!(queries[1].contains("-- with $from = 2026-10-01") && queries[1].contains("buckets AS ("));
}
