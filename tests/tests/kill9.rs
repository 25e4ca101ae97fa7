//! The kill -9 harness: drives the real `rollcall` binary and kills it with
//! SIGKILL at random moments, then proves that no acknowledged write was lost
//! and no transaction was half applied.
//!
//! Each round runs one command against the store under test `K` — `ingest
//! events|members` of one or two generated files (late rows, same-ms ties,
//! exact duplicates within the file and of earlier files, several time and
//! state spellings), or `compact` — and kills it after a delay drawn from a
//! seeded RNG between 0 and 1.1 times the command's normal run time (the
//! clean store's run of the same files, or the last completed compaction). Then:
//!
//! * `rollcall check` on `K` must exit 0;
//! * the answers of `K` (`stats` counts and a dozen RQL statements: states by
//!   collection, series, failure histograms by error, clients, histories)
//!   must equal those of a clean store `C` that ingested, without kills, the
//!   files of every earlier round plus a prefix of this round's files: all of
//!   them when the command exited 0 before the kill; for a killed command any
//!   prefix (a file is one transaction: all of its rows or none); for a
//!   compaction, exactly the earlier files;
//! * the killed command is then run again to completion (resume) and `K`
//!   must equal `C` with every file of the round.
//!
//! Ingests run with `ROLLCALL_DELTA_MAX_SEGMENTS=2`, so that their automatic
//! maintenance (SPEC 7.8: the flush at the end of a command and the
//! compaction once the delta is due) runs every few rounds and kills land
//! inside it; the test fails if no ingest ran one.
//!
//! `ROLLCALL_KILL9_ROUNDS` sets the number of rounds (default 30, the CI
//! variant, a few seconds) and `ROLLCALL_KILL9_SEED` the seed. The long variant is
//! `tests/scripts/kill9-long.sh` (500 rounds, release build).

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use rollcall_engine::Timestamp;

/// The binary under test: this package's copy of the `rollcall` entry point.
fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_rollcall-e2e")
}

/// SplitMix64: small, seedable, good enough to pick delays and rows.
#[derive(Debug)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// 2026-10-01T00:00:00Z in epoch milliseconds.
const T0: i64 = 1_790_812_800_000;
const DAY: i64 = 86_400_000;
const CLIENTS: u64 = 2_000;
const COLLECTIONS: &[&str] = &["All Desktops", "ring-0", "ring-1", "ring-2", "Pilot Ring"];
const HISTORY_CLIENTS: &[&str] = &["pc-00007", "pc-00042", "pc-01999"];

/// The statements whose answers must match (one `rollcall query` run).
const QUERIES: &str = r#"
STATES BY COLLECTION AT 2026-10-16T00:00:00Z;
STATES BY COLLECTION AT 2026-11-02T00:00:00Z STALE AFTER 7d;
STATES FOR preproduction AT 2026-11-02;
STATES IN "All Desktops" FROM 2026-10-01 TO 2026-11-01 EVERY 1d;
FAILURES FROM 2026-10-01 TO 2026-11-01 EVERY 1h BY ERROR;
FAILURES IN "ring-1" FROM 2026-10-01 TO 2026-11-01 EVERY 6h;
CLIENTS IN "ring-2" AT 2026-10-20 WHERE STATE = Failed;
HISTORY "pc-00007";
HISTORY "pc-00042";
HISTORY "pc-01999";
"#;

/// `stats` lines that describe content (not layout: segments differ).
const STAT_KEYS: &[&str] = &[
    "clients",
    "collections",
    "deployments",
    "transitions",
    "membership_changes",
    "time_range",
];

/// Delta segments the writer lets pile up before it folds them in (SPEC
/// 7.8): small, so that ingests run automatic compactions often and the
/// kills land inside them too.
const DELTA_MAX_SEGMENTS: &str = "2";

/// Completed ingests whose automatic maintenance folded the delta in.
static MAINTENANCE_RUNS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn run(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(bin())
        .args(args)
        .env("NO_COLOR", "1")
        .env("ROLLCALL_DELTA_MAX_SEGMENTS", DELTA_MAX_SEGMENTS)
        .env_remove("ROLLCALL_DB")
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", bin()))
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A store directory and the commands run against it.
#[derive(Debug)]
struct Db {
    path: PathBuf,
}

impl Db {
    fn args<'a>(&'a self, rest: &[&'a std::ffi::OsStr]) -> Vec<&'a std::ffi::OsStr> {
        let mut v = vec!["--db".as_ref(), self.path.as_os_str()];
        v.extend_from_slice(rest);
        v
    }

    fn must(&self, rest: &[&std::ffi::OsStr]) -> Output {
        let out = run(&self.args(rest));
        assert!(
            out.status.success(),
            "{:?} failed ({}):\n{}{}",
            rest,
            out.status,
            text(&out.stdout),
            text(&out.stderr)
        );
        out
    }

    /// Everything a reader can see: content stats and the query answers.
    fn answers(&self) -> String {
        let stats = text(&self.must(&["stats".as_ref()]).stdout);
        let mut all = String::new();
        for line in stats.lines() {
            if let Some((k, v)) = line.split_once(char::is_whitespace)
                && STAT_KEYS.contains(&k)
            {
                let _ = writeln!(all, "{k} {}", v.trim());
            }
        }
        let q = self.must(&[
            "query".as_ref(),
            QUERIES.as_ref(),
            "--format".as_ref(),
            "csv".as_ref(),
        ]);
        all.push_str(&text(&q.stdout));
        all
    }

    fn check(&self) {
        let out = run(&self.args(&["check".as_ref()]));
        assert!(
            out.status.success(),
            "check failed after a kill ({}):\n{}{}",
            out.status,
            text(&out.stdout),
            text(&out.stderr)
        );
    }
}

/// What a round runs.
#[derive(Debug, Clone)]
enum Job {
    Ingest { kind: &'static str, files: Vec<PathBuf> },
    Compact,
}

impl Job {
    fn args(&self) -> Vec<&std::ffi::OsStr> {
        match self {
            Job::Ingest { kind, files } => {
                let mut v: Vec<&std::ffi::OsStr> = vec!["ingest".as_ref(), kind.as_ref()];
                v.extend(files.iter().map(|f| f.as_os_str()));
                v
            }
            Job::Compact => vec!["compact".as_ref()],
        }
    }
}

/// Writes generated input files; remembers earlier rows to duplicate them.
#[derive(Debug)]
struct Generator {
    dir: PathBuf,
    files: u64,
    old_events: Vec<String>,
    old_members: Vec<String>,
    max_rows: u64,
}

const STATES: &[&str] = &[
    "NotStarted",
    "Compliant",
    "compliant",
    "InProgress",
    "in_progress",
    "NonCompliant",
    "non compliant",
    "Failed",
    "Failed",
    "failed",
    "FAILED",
    "Unknown",
];
const ERRORS: &[&str] = &["0x80070005", "2147942405", "0x87D00324", "0x80070652", "1603"];

impl Generator {
    fn time(rng: &mut Rng) -> String {
        // Whole seconds mostly (ties on the same ms are common), any order.
        let mut t = T0 + (rng.below(31 * 86_400) as i64) * 1000;
        if rng.chance(20) {
            t += rng.below(1000) as i64;
        }
        if rng.chance(50) {
            t.to_string()
        } else {
            Timestamp(t).to_string()
        }
    }

    fn client(rng: &mut Rng) -> String {
        format!("pc-{:05}", rng.below(CLIENTS))
    }

    fn event(rng: &mut Rng) -> String {
        let client = if rng.chance(5) {
            (*rng.pick(HISTORY_CLIENTS)).to_owned()
        } else {
            Self::client(rng)
        };
        let state = *rng.pick(STATES);
        let failing = state.eq_ignore_ascii_case("failed") || state.starts_with('N');
        let error = if failing && rng.chance(80) {
            *rng.pick(ERRORS)
        } else {
            ""
        };
        let deployment = if rng.chance(15) { "preproduction" } else { "" };
        format!("{},{client},{state},{deployment},{error}", Self::time(rng))
    }

    fn member(rng: &mut Rng) -> String {
        let change = if rng.chance(75) { "join" } else { "leave" };
        format!(
            "{},{},\"{}\",{change}",
            Self::time(rng),
            Self::client(rng),
            rng.pick(COLLECTIONS)
        )
    }

    fn rows(&mut self, rng: &mut Rng) -> u64 {
        let n = *rng.pick(&[50, 400, 3_000, 12_000, 40_000]);
        n.min(self.max_rows)
    }

    /// One input file of `kind` rows with late rows and duplicates.
    fn file(&mut self, rng: &mut Rng, kind: &str) -> PathBuf {
        self.files += 1;
        let n = self.rows(rng);
        let (header, old) = if kind == "events" {
            ("time,client,state,deployment,error", &mut self.old_events)
        } else {
            ("time,client,collection,change", &mut self.old_members)
        };
        let mut out = String::with_capacity(n as usize * 48);
        out.push_str(header);
        out.push('\n');
        let mut mine: Vec<String> = Vec::new();
        for _ in 0..n {
            let line = if !old.is_empty() && rng.chance(3) {
                rng.pick(old).clone()
            } else if !mine.is_empty() && rng.chance(3) {
                rng.pick(&mine).clone()
            } else if kind == "events" {
                Self::event(rng)
            } else {
                Self::member(rng)
            };
            out.push_str(&line);
            out.push('\n');
            mine.push(line);
        }
        for line in mine.into_iter().step_by(7) {
            if old.len() < 4_000 {
                old.push(line);
            } else {
                let i = rng.below(old.len() as u64) as usize;
                old[i] = line;
            }
        }
        let path = self.dir.join(format!("f{:05}-{kind}.csv", self.files));
        std::fs::write(&path, out).expect("write an input file");
        path
    }

    /// The first files: every client in "All Desktops", and a transition for
    /// each history client, so every statement has names to resolve.
    fn base(&mut self) -> Vec<Job> {
        let mut m = String::from("time,client,collection,change\n");
        for c in 0..CLIENTS {
            let _ = writeln!(m, "{},pc-{c:05},All Desktops,join", T0 - DAY);
        }
        for (i, coll) in COLLECTIONS.iter().enumerate() {
            let _ = writeln!(m, "{},pc-{i:05},\"{coll}\",join", T0 - DAY);
        }
        let mut e = String::from("time,client,state,deployment,error\n");
        for c in HISTORY_CLIENTS {
            let _ = writeln!(e, "{},{c},InProgress,,", T0);
            let _ = writeln!(e, "{},{c},InProgress,preproduction,", T0);
        }
        let mp = self.dir.join("base-members.csv");
        let ep = self.dir.join("base-events.csv");
        std::fs::write(&mp, m).expect("write base members");
        std::fs::write(&ep, e).expect("write base events");
        vec![
            Job::Ingest {
                kind: "members",
                files: vec![mp],
            },
            Job::Ingest {
                kind: "events",
                files: vec![ep],
            },
        ]
    }
}

/// How the killed command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Exited 0 before the kill.
    Completed,
    /// Killed by SIGKILL.
    Killed,
}

/// Starts `args` against `db` and SIGKILLs it after `delay` unless it ended.
fn run_and_kill(db: &Db, args: &[&std::ffi::OsStr], delay: Duration) -> (Outcome, Duration) {
    use std::os::unix::process::ExitStatusExt;
    let started = Instant::now();
    let mut child = Command::new(bin())
        .args(db.args(args))
        .env("NO_COLOR", "1")
        .env("ROLLCALL_DELTA_MAX_SEGMENTS", DELTA_MAX_SEGMENTS)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn rollcall");
    // A kill harness needs wall-clock delays: the point is to stop the
    // process at an arbitrary moment of its real run.
    while started.elapsed() < delay {
        if child.try_wait().expect("poll the child").is_some() {
            break;
        }
        std::thread::sleep(Duration::from_micros(200).min(delay));
    }
    let _ = child.kill();
    let out = child.wait_with_output().expect("wait for rollcall");
    let took = started.elapsed();
    if text(&out.stderr).contains("maintenance: folded") {
        MAINTENANCE_RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    match (out.status.code(), out.status.signal()) {
        (Some(0), _) => (Outcome::Completed, took),
        (_, Some(9)) => (Outcome::Killed, took),
        _ => panic!(
            "{args:?} failed on its own ({}):\n{}",
            out.status,
            text(&out.stderr)
        ),
    }
}

fn env_u64(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not a number")),
        Err(_) => default,
    }
}

/// The first line where two answer texts differ, for a readable failure.
fn first_difference(a: &str, b: &str) -> String {
    for (i, (x, y)) in a.lines().zip(b.lines()).enumerate() {
        if x != y {
            return format!("line {}: store {x:?} vs clean {y:?}", i + 1);
        }
    }
    format!("lengths {} vs {} lines", a.lines().count(), b.lines().count())
}

#[test]
fn sigkill_at_random_moments_loses_no_acknowledged_write() {
    let rounds = env_u64("ROLLCALL_KILL9_ROUNDS", 30);
    let seed = env_u64("ROLLCALL_KILL9_SEED", 0x5EED_0009);
    let long = rounds > 30;
    let tmp = tempfile::tempdir().expect("temporary directory");
    let killed_db = Db {
        path: tmp.path().join("killed"),
    };
    let clean_db = Db {
        path: tmp.path().join("clean"),
    };
    let mut rng = Rng(seed);
    let mut gen_ = Generator {
        dir: tmp.path().to_path_buf(),
        files: 0,
        old_events: Vec::new(),
        old_members: Vec::new(),
        max_rows: if long { 40_000 } else { 3_000 },
    };
    for job in gen_.base() {
        killed_db.must(&job.args());
        clean_db.must(&job.args());
    }
    let mut clean_answers = clean_db.answers();
    assert_eq!(killed_db.answers(), clean_answers);

    let started = Instant::now();
    let (mut killed, mut completed, mut absent, mut partial_prefix, mut compactions) = (0, 0, 0, 0, 0);
    let mut compact_time = Duration::from_millis(40);
    let (mut killed_in_maintenance, mut clean_maintenances) = (0, 0);
    for round in 0..rounds {
        let job = match rng.below(100) {
            0..=14 => Job::Compact,
            p => {
                let kind = if p < 70 { "events" } else { "members" };
                let n = if rng.chance(20) { 2 } else { 1 };
                let files = (0..n).map(|_| gen_.file(&mut rng, kind)).collect();
                Job::Ingest { kind, files }
            }
        };
        // The clean store takes the round's files one by one (no kills); its
        // answers after each prefix are the only states `K` may be in.
        let mut allowed = vec![clean_answers.clone()];
        let mut typical = compact_time;
        // When the clean run of this job ran its automatic maintenance: the
        // last `maintenance` of the `typical` run time.
        let mut maintenance = Duration::ZERO;
        if let Job::Ingest { kind, files } = &job {
            typical = Duration::ZERO;
            for f in files {
                let t = Instant::now();
                let out = clean_db.must(&["ingest".as_ref(), kind.as_ref(), f.as_os_str()]);
                typical += t.elapsed();
                maintenance = maintenance_time(&text(&out.stderr)).unwrap_or(Duration::ZERO);
                allowed.push(clean_db.answers());
            }
        }
        // Rounds whose clean run folded its delta aim the kill into that fold
        // (every one until a kill landed there, then half of them; the killed
        // store's delta may differ, so this aims, it does not guarantee); the
        // others kill at any moment of the run.
        if !maintenance.is_zero() {
            clean_maintenances += 1;
        }
        let aimed =
            !maintenance.is_zero() && maintenance < typical && (killed_in_maintenance == 0 || rng.chance(50));
        let delay = if aimed {
            let span = maintenance.as_micros() as u64;
            typical - maintenance + Duration::from_micros(rng.below(span + 1))
        } else {
            Duration::from_micros(rng.below(typical.as_micros() as u64 * 11 / 10 + 1))
        };
        let (outcome, took) = run_and_kill(&killed_db, &job.args(), delay);
        if aimed && outcome == Outcome::Killed {
            killed_in_maintenance += 1;
        }
        if matches!(job, Job::Compact) {
            compactions += 1;
            if outcome == Outcome::Completed {
                compact_time = took;
            }
        }
        killed_db.check();
        let got = killed_db.answers();
        let last = allowed.len() - 1;
        let at = match outcome {
            Outcome::Completed => {
                completed += 1;
                (got == allowed[last]).then_some(last)
            }
            Outcome::Killed => {
                killed += 1;
                allowed.iter().position(|a| *a == got)
            }
        };
        let Some(at) = at else {
            panic!(
                "round {round} (seed {seed:#x}): {job:?} {outcome:?} after {delay:?}: the store matches no allowed state; {}",
                first_difference(&got, &allowed[last])
            );
        };
        if at < last {
            if at == 0 {
                absent += 1;
            } else {
                partial_prefix += 1;
            }
        }
        // Resume: run the command to completion; files already in are
        // exact duplicates and change nothing.
        if at < last || (outcome == Outcome::Killed && rng.chance(30)) {
            killed_db.must(&job.args());
            let again = killed_db.answers();
            assert!(
                again == allowed[last],
                "round {round} (seed {seed:#x}): after resuming {job:?}: {}",
                first_difference(&again, &allowed[last])
            );
        }
        clean_answers = allowed.swap_remove(last);
        if long && round % 25 == 24 {
            println!(
                "round {}: {killed} killed ({absent} rolled back whole, {partial_prefix} kept a prefix of files), {completed} completed, {compactions} compactions, {:.0} s",
                round + 1,
                started.elapsed().as_secs_f64()
            );
        }
    }
    let maintained = MAINTENANCE_RUNS.load(std::sync::atomic::Ordering::Relaxed);
    println!(
        "kill9: {rounds} rounds survived (seed {seed:#x}): {killed} killed mid-run ({absent} with the file rolled back whole, {partial_prefix} keeping a prefix of a two-file command), {completed} completed before the kill, {compactions} compactions, {killed_in_maintenance} killed at a moment aimed inside the automatic maintenance (of {clean_maintenances} rounds whose clean run ran one), {maintained} ran it to the end; 0 acknowledged writes lost; {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert!(killed > 0 || rounds < 4, "no round was killed mid-run");
    assert!(
        maintained + killed_in_maintenance > 0 || rounds < 10,
        "no ingest ran its automatic maintenance and none was killed inside it: the harness does not cover it"
    );
}

/// How long the automatic maintenance took, from the line an ingest prints
/// after it (`maintenance: folded … in 0.12 s`).
fn maintenance_time(stderr: &str) -> Option<Duration> {
    let line = stderr
        .lines()
        .rev()
        .find(|l| l.starts_with("maintenance: folded"))?;
    let secs = line.rsplit_once(" in ")?.1.strip_suffix(" s")?;
    secs.parse::<f64>().ok().map(Duration::from_secs_f64)
}
