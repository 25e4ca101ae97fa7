//! Readers alongside a writer, in one process and across processes; a second
//! writer refused; a segment truncated under a reader.
//!
//! The in-process test gives every transaction a recognisable shape: a
//! *unit* is, for each of `K` clients, one `Failed` transition and one
//! `join` of "grp" at the unit's own time. A transaction commits one or two
//! units (two units overflow `txn_spill_rows`, so those commit by spilling to
//! staged segments and one manifest rename). Whatever a reader snapshot sees
//! must therefore be a whole number of committed transactions: transitions
//! and joins both `K × u` with `u` a prefix sum of the transaction sizes,
//! failure histograms (with and without the collection, by error) summing to
//! the same number, every client `Failed` at the last visible unit — while
//! the writer flushes and compacts underneath.

mod common;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rollcall_engine::{Batch, Change, ErrorCode, Options, State, Store, Timestamp};

/// Clients per unit.
const K: u64 = 40;
/// Milliseconds between two units.
const STEP: i64 = 1_000;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

/// The rows of unit `u`.
fn unit(batch: &mut Batch, u: u64) {
    let t = Timestamp(u as i64 * STEP);
    for k in 0..K {
        let client = format!("c-{k:03}");
        let code = ErrorCode(0x8007_0000 + (u % 3) as u32);
        batch
            .push_transition(t, &client, "production", State::Failed, Some(code))
            .expect("valid transition");
        batch
            .push_membership(t, &client, "grp", Change::Join)
            .expect("valid membership");
    }
}

/// What one snapshot shows, checked against the transaction plan.
fn check_snapshot(snap: &rollcall_engine::Snapshot, prefix_units: &[u64]) -> Result<u64, String> {
    let st = snap.stats();
    let (t, m) = (st.transitions, st.membership_changes);
    if t != m || t % K != 0 {
        return Err(format!("{t} transitions and {m} joins: not whole units of {K}"));
    }
    let units = t / K;
    let prod = snap.deployment_id("production");
    let c7 = snap.client_id("c-007");
    let e = |e: rollcall_engine::Error| e.to_string();
    if prefix_units.binary_search(&units).is_err() {
        let times: Vec<i64> = match (prod, c7) {
            (Some(p), Some(c)) => snap
                .client_history(c, Some(p), None)
                .map_err(e)?
                .iter()
                .map(|r| r.time.0 / STEP)
                .collect(),
            _ => Vec::new(),
        };
        return Err(format!(
            "{units} units visible: not a whole number of transactions; the units seen: {times:?}"
        ));
    }
    if units == 0 {
        return Ok(0);
    }
    let (prod, c7) = (prod.ok_or("no production")?, c7.ok_or("no c-007")?);
    let grp = snap.collection_id("grp").ok_or("no grp")?;
    let end = Timestamp(units as i64 * STEP);
    let every = (units as i64 * STEP + 6) / 7;
    for coll in [None, Some(grp)] {
        let total: u64 = snap
            .failure_histogram(prod, coll, Timestamp(0), end, every)
            .map_err(e)?
            .iter()
            .map(|(_, n)| n)
            .sum();
        if total != t {
            return Err(format!(
                "failure histogram counts {total}, the store holds {t} failures"
            ));
        }
    }
    let by_error: u64 = snap
        .failure_histogram_by_error(prod, Some(grp), Timestamp(0), end, every)
        .map_err(e)?
        .iter()
        .map(|b| b.failures)
        .sum();
    if by_error != t {
        return Err(format!("failures by error count {by_error}, expected {t}"));
    }
    let last = Timestamp((units as i64 - 1) * STEP);
    let counts = snap.state_counts(prod, Some(grp), last, None).map_err(e)?;
    if counts.get(State::Failed) != K || counts.total() != K {
        return Err(format!("at the last unit: {counts:?}, expected {K} Failed"));
    }
    let clients = snap.clients_at(prod, Some(grp), last, None, None).map_err(e)?;
    if clients.len() as u64 != K {
        return Err(format!("{} clients in grp, expected {K}", clients.len()));
    }
    let history = snap.client_history(c7, Some(prod), None).map_err(e)?;
    let times: Vec<i64> = history.iter().map(|r| r.time.0 / STEP).collect();
    if times != (0..units as i64).collect::<Vec<_>>() {
        return Err(format!("c-007 has units {times:?}, expected 0..{units}"));
    }
    Ok(units)
}

#[test]
fn readers_see_whole_transactions_while_the_writer_flushes_and_compacts() {
    let txns = env_u64("ROLLCALL_CONCURRENCY_TXNS", 240);
    let dir = tempfile::tempdir().expect("temporary directory");
    let opts = Options {
        memtable_max_rows: 700,
        checkpoint_interval_rows: 1_500,
        membership_snapshot_rows: 300,
        txn_spill_rows: 3 * K as usize,
        ..Options::default()
    };
    let store = Store::create(dir.path(), opts).expect("create");
    // Transaction sizes in units: every fifth commits two (and spills).
    let sizes: Vec<u64> = (0..txns).map(|i| if i % 5 == 3 { 2 } else { 1 }).collect();
    let mut prefix = vec![0u64];
    for s in &sizes {
        prefix.push(prefix.last().copied().unwrap_or(0) + s);
    }
    let prefix = Arc::new(prefix);
    let store = Arc::new(Mutex::new(store));
    let committed = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));

    let mut readers = Vec::new();
    for r in 0..5 {
        let (store, prefix, committed, done) =
            (store.clone(), prefix.clone(), committed.clone(), done.clone());
        let path = dir.path().to_path_buf();
        readers.push(std::thread::spawn(move || -> Result<(u64, u64), String> {
            let mut seen = 0u64;
            let mut snapshots = 0u64;
            loop {
                // Read before the snapshot: once `done` is seen, the snapshot
                // must hold the last commit.
                let finished = done.load(Ordering::Acquire);
                let floor = committed.load(Ordering::Acquire);
                // Readers 0-2 snapshot the writer's store (the lock is held only
                // to take the snapshot; queries run without it); 3-4 open the
                // directory read-only, racing flushes and compactions.
                let units = if r < 3 {
                    let snap = store.lock().map_err(|_| "lock poisoned")?.snapshot();
                    check_snapshot(&snap, &prefix)?
                } else {
                    let ro = Store::open_read_only(&path).map_err(|e| format!("open read-only: {e}"))?;
                    check_snapshot(&ro.snapshot(), &prefix)?
                };
                if units < floor {
                    return Err(format!(
                        "a snapshot shows {units} units, {floor} were committed before it"
                    ));
                }
                if units < seen {
                    return Err(format!("went back from {seen} to {units} units"));
                }
                seen = units;
                snapshots += 1;
                if finished && snapshots >= 3 {
                    break;
                }
            }
            Ok((snapshots, seen))
        }));
    }

    let mut u = 0u64;
    for (i, size) in sizes.iter().enumerate() {
        let mut batch = Batch::new();
        {
            let mut w = store.lock().expect("writer lock");
            let mut txn = w.begin().expect("begin");
            for _ in 0..*size {
                batch.clear();
                unit(&mut batch, u);
                txn.append(&batch).expect("append");
                u += 1;
            }
            txn.commit().expect("commit");
        }
        committed.store(u, Ordering::Release);
        let mut w = store.lock().expect("writer lock");
        if i % 17 == 16 {
            w.flush().expect("flush");
        }
        if i % 53 == 52 {
            w.compact().expect("compact");
        }
        drop(w);
        std::thread::yield_now();
    }
    done.store(true, Ordering::Release);
    let mut total_snapshots = 0;
    for (r, h) in readers.into_iter().enumerate() {
        let (n, last) = h
            .join()
            .expect("reader thread panicked")
            .unwrap_or_else(|e| panic!("reader {r}: {e}"));
        assert_eq!(last, u, "reader {r} never saw the last commit");
        total_snapshots += n;
    }
    let w = store.lock().expect("lock");
    assert_eq!(check_snapshot(&w.snapshot(), &prefix), Ok(u));
    println!("{txns} transactions ({u} units of {K}), {total_snapshots} reader snapshots checked");
}

// ----- across processes ----------------------------------------------------------

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_rollcall-e2e")
}

fn rollcall(db: &Path) -> Command {
    let mut c = Command::new(bin());
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

/// `transitions` from `rollcall stats` (a read-only open).
fn transitions(db: &Path) -> u64 {
    let out = output(rollcall(db).arg("stats"));
    assert!(out.status.success(), "stats: {}", text(&out.stderr));
    text(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("transitions"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no transitions in {}", text(&out.stdout)))
}

/// Failures in the whole range, by `rollcall query` (a read-only open).
fn failures(db: &Path) -> u64 {
    let out = output(rollcall(db).args([
        "query",
        "FAILURES FROM 2026-10-01 TO 2026-10-02 EVERY 1d",
        "--format",
        "csv",
    ]));
    assert!(out.status.success(), "query: {}", text(&out.stderr));
    text(&out.stdout)
        .lines()
        .skip(1)
        .filter_map(|l| l.rsplit(',').next()?.parse::<u64>().ok())
        .sum()
}

/// `n` failures of distinct clients, starting at client `from`, as CSV rows.
fn rows(from: u64, n: u64) -> String {
    (from..from + n)
        .map(|i| {
            format!(
                "2026-10-01T{:02}:{:02}:00Z,pc-{i:06},Failed\n",
                (i / 60) % 24,
                i % 60
            )
        })
        .collect()
}

/// Polls `f` until it returns true (the writer commits on its own schedule).
fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

struct Writer {
    child: Child,
}

impl Drop for Writer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn read_only_processes_see_whole_commits_while_a_writer_process_ingests() {
    const CHUNK: u64 = 500;
    const CHUNKS: u64 = 6;
    let dir = tempfile::tempdir().expect("temporary directory");
    let db = dir.path().join("store");
    let seed = dir.path().join("seed.csv");
    std::fs::write(&seed, format!("time,client,state\n{}", rows(0, 10))).expect("write seed");
    let out = output(rollcall(&db).args(["ingest", "events"]).arg(&seed));
    assert!(out.status.success(), "{}", text(&out.stderr));

    // The writer reads standard input and commits every CHUNK rows, so it
    // holds the lock for as long as the test keeps its input open.
    let mut writer = Writer {
        child: rollcall(&db)
            .args(["ingest", "events", "-", "--input-format", "csv", "--commit-every"])
            .arg(CHUNK.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn the writer"),
    };
    let pid = writer.child.id();
    let mut input = writer.child.stdin.take().expect("writer stdin");
    input.write_all(b"time,client,state\n").expect("feed the writer");

    for c in 0..CHUNKS {
        input
            .write_all(rows(10 + c * CHUNK, CHUNK).as_bytes())
            .expect("feed the writer");
        input.flush().expect("feed the writer");
        let want = 10 + (c + 1) * CHUNK;
        // Every read-only view is a whole number of commits, never more
        // than what was fed, and stats agree with the failure histogram.
        wait_for("the writer's commit", || {
            let n = transitions(&db);
            assert!(
                n <= want && (n - 10).is_multiple_of(CHUNK),
                "a reader saw {n} transitions"
            );
            let f = failures(&db);
            assert!(
                f >= n && f <= want && (f - 10).is_multiple_of(CHUNK),
                "a reader saw {f} failures"
            );
            n == want
        });
        if c == 1 {
            // A second writer is refused while the first holds the lock.
            let other = dir.path().join("other.csv");
            std::fs::write(&other, "time,client,state\n2026-10-02,pc-x,Failed\n").expect("write");
            let out = output(rollcall(&db).args(["ingest", "events"]).arg(&other));
            let err = text(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{err}");
            assert!(
                err.contains("locked by another writer") && err.contains(&format!("(pid {pid})")),
                "the refusal should name the holder: {err}"
            );
            assert!(!err.contains("panicked"), "{err}");
        }
    }
    drop(input);
    let status = writer.child.wait().expect("wait for the writer");
    assert!(status.success(), "writer: {status}");
    assert_eq!(transitions(&db), 10 + CHUNKS * CHUNK);
    let out = output(rollcall(&db).arg("check"));
    assert!(out.status.success(), "{}", text(&out.stderr));
}

// ----- a segment truncated under a reader ------------------------------------------

/// Set in the child process of the SIGBUS test: the store to open.
const SIGBUS_CHILD: &str = "ROLLCALL_SIGBUS_CHILD_STORE";

fn segment_files(db: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(db.join("seg"))
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    v.retain(|p| p.extension().is_some_and(|e| e == "seg"));
    v.sort();
    v
}

/// A store with one segment of about 20 000 transitions (several blocks).
fn store_with_a_segment(db: &Path, opts: Options) -> u64 {
    let mut store = Store::create(db, opts).expect("create");
    let mut batch = Batch::new();
    // Irregular clients, times and codes, so the file spans many pages.
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    for i in 0..20_000u64 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let failed = i % 4 == 0;
        batch
            .push_transition(
                Timestamp(i as i64 * 1000 + (x % 997) as i64),
                &format!("pc-{:05}", x % 3000),
                "production",
                if failed { State::Failed } else { State::Compliant },
                failed.then_some(ErrorCode((x >> 40) as u32)),
            )
            .expect("valid row");
    }
    store.append(&batch).expect("append");
    store.flush().expect("flush");
    20_000 / 4
}

/// Cuts every segment of `db` to `cut` bytes (`None`: half its length), as
/// another program might.
fn truncate_segments(db: &Path, cut: Option<u64>) {
    for seg in segment_files(db) {
        let len = std::fs::metadata(&seg).expect("stat").len();
        let f = std::fs::OpenOptions::new().write(true).open(&seg).expect("open");
        f.set_len(cut.unwrap_or(len / 2)).expect("truncate");
    }
}

fn query_all_failures(store: &Store) -> Result<u64, rollcall_engine::Error> {
    let snap = store.snapshot();
    let prod = snap.deployment_id("production").expect("production");
    let h = snap.failure_histogram(prod, None, Timestamp(0), Timestamp(20_000_000), 1_000_000)?;
    Ok(h.iter().map(|(_, n)| n).sum())
}

/// Child half of the SIGBUS test: opens the store, truncates its segments
/// and queries. Does nothing unless the parent set [`SIGBUS_CHILD`].
#[test]
fn sigbus_child() {
    let Some(db) = std::env::var_os(SIGBUS_CHILD) else {
        return;
    };
    let db = PathBuf::from(db);
    let cut = std::env::var("ROLLCALL_SIGBUS_CUT")
        .ok()
        .and_then(|c| c.parse().ok());
    let store = Store::open_read_only(&db).expect("open read-only");
    // A first query reads (and checks) every block while the file is whole,
    // so the second cannot lean on a first-use check.
    match query_all_failures(&store) {
        Ok(n) => println!("child: before the cut the query answered {n}"),
        Err(e) => println!("child: before the cut the query failed: {e}"),
    }
    truncate_segments(&db, cut);
    match query_all_failures(&store) {
        Ok(n) => println!("child: query answered {n}"),
        Err(e) => println!("child: query failed: {e}"),
    }
}

#[test]
fn a_segment_truncated_under_a_read_only_store_does_not_kill_the_process() {
    use std::os::unix::process::ExitStatusExt;
    let dir = tempfile::tempdir().expect("temporary directory");
    let db = dir.path().join("store");
    let failures = store_with_a_segment(&db, Options::default());
    let seg = segment_files(&db);
    assert_eq!(seg.len(), 1);
    let len = std::fs::metadata(&seg[0]).expect("stat").len();
    assert!(
        len > 3 * 4096,
        "the segment should span several pages ({len} bytes)"
    );
    // "half": the blocks read lie in the part of the file kept or in its
    // last, zero-filled page. "4096" and "0": they lie in pages past the end
    // of the file, and touching those raises SIGBUS.
    for cut in ["half", "4096", "0"] {
        let copy = dir.path().join(format!("cut-{cut}"));
        common::copy_dir(&db, &copy);
        let out = Command::new(std::env::current_exe().expect("test binary"))
            .args(["--exact", "sigbus_child", "--nocapture", "--test-threads=1"])
            .env(SIGBUS_CHILD, &copy)
            .env("ROLLCALL_SIGBUS_CUT", cut)
            .output()
            .expect("run the child");
        let stdout = text(&out.stdout);
        let signal = out.status.signal();
        assert_eq!(
            signal,
            None,
            "cut to {cut}: the reader died of signal {signal:?} ({}) when a segment was truncated under it; stdout:\n{stdout}",
            if signal == Some(7) { "SIGBUS" } else { "?" },
        );
        assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
        assert!(
            stdout.contains(&format!("before the cut the query answered {failures}")),
            "{stdout}"
        );
        if cut == "half" {
            // Blocks in the kept half still check out; the rest fail.
            assert!(
                stdout.contains("child: query failed")
                    || stdout.contains(&format!("child: query answered {failures}")),
                "cut to {cut}: {stdout}"
            );
        } else {
            // Every block lies past the new end: the query must refuse, and
            // say why.
            assert!(
                stdout.contains("child: query failed") && stdout.contains("truncated by another program"),
                "cut to {cut}: {stdout}"
            );
        }
    }
}

#[test]
fn without_mmap_a_truncated_segment_does_not_disturb_an_open_store() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let db = dir.path().join("store");
    let opts = Options {
        mmap: false,
        ..Options::default()
    };
    let failures = store_with_a_segment(&db, opts.clone());
    let store = Store::open(&db, opts).expect("open");
    truncate_segments(&db, Some(0));
    // The open store read the segment into memory: it answers correctly.
    assert_eq!(query_all_failures(&store).expect("query"), failures);
    drop(store);
    // A fresh open reports the damage instead of guessing.
    let err = Store::open_read_only(&db).expect_err("a truncated segment must not open");
    assert!(err.to_string().contains("seg"), "{err}");
}
