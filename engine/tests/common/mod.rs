//! Shared helpers for the engine's integration tests: deterministic batch
//! generators, a reference store, and a fingerprint of every query answer.
#![allow(dead_code, reason = "each test binary uses a different subset of the helpers")]

use std::fmt::Write as _;

use rollcall_engine::{Batch, Change, ErrorCode, FaultyDisk, Options, State, Store, Timestamp};

/// A small deterministic generator (xorshift64*).
#[derive(Debug, Clone)]
pub struct Gen(u64);

impl Gen {
    pub fn new(seed: u64) -> Gen {
        Gen(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// Times fall in `[0, SPAN)` ms.
pub const SPAN: i64 = 100_000;

/// A batch of `rows` transitions over `clients` clients (with repeats, so
/// that some rows are exact duplicates) and a few membership changes.
pub fn batch(g: &mut Gen, rows: usize, clients: u64) -> Batch {
    batch_in(g, rows, clients, 0, SPAN)
}

/// Like [`batch`], with times in `[from, from + span)` (rounded to 100 ms).
pub fn batch_in(g: &mut Gen, rows: usize, clients: u64, from: i64, span: i64) -> Batch {
    let mut b = Batch::new();
    let time = |g: &mut Gen| Timestamp(from + g.below((span as u64 / 100).max(1)) as i64 * 100);
    for _ in 0..rows {
        let client = format!("PC-{:04}", g.below(clients));
        let deployment = if g.below(4) == 0 {
            "preproduction"
        } else {
            "production"
        };
        let state = State::ALL[g.below(6) as usize];
        let error =
            (state == State::Failed && g.below(2) == 0).then(|| ErrorCode(0x8007_0000 + g.below(3) as u32));
        let time = time(g);
        b.push_transition(time, &client, deployment, state, error)
            .unwrap();
    }
    for _ in 0..rows / 4 + 1 {
        let client = format!("PC-{:04}", g.below(clients));
        let collection = ["All Desktops", "Pilot", "Servers"][g.below(3) as usize];
        let change = if g.below(3) == 0 {
            Change::Leave
        } else {
            Change::Join
        };
        let time = time(g);
        b.push_membership(time, &client, collection, change).unwrap();
    }
    b
}

/// Options that make every mechanism run on small data.
pub fn small_options() -> Options {
    Options {
        memtable_max_rows: 64,
        // Checkpoints every 12 base rows, base segments every 48.
        checkpoint_interval_rows: 12,
        membership_snapshot_rows: 4,
        auto_flush: true,
        txn_spill_rows: 40,
        mmap: true,
        // Automatic maintenance folds a delta of 50 rows (or a quarter of
        // the base) or 3 segments.
        log_tail_rows: 20,
        delta_min_rows: 50,
        delta_ratio: 0.25,
        delta_max_segments: 3,
    }
}

/// A store that only ever holds rows in memory: the reference the durable
/// paths must agree with.
pub fn reference(batches: &[Batch]) -> Store {
    let disk = FaultyDisk::new();
    let mut s = Store::create_on(
        &disk,
        Options {
            memtable_max_rows: usize::MAX,
            auto_flush: false,
            txn_spill_rows: usize::MAX,
            ..Options::default()
        },
    )
    .unwrap();
    for b in batches {
        s.append(b).unwrap();
    }
    s
}

/// Every query answer worth comparing, as text.
pub fn fingerprint(store: &Store) -> String {
    let snap = store.snapshot();
    let stats = snap.stats();
    format!(
        "clients={} collections={} deployments={} transitions={} memberships={} range={:?}\n{}",
        stats.clients,
        stats.collections,
        stats.deployments,
        stats.transitions,
        stats.membership_changes,
        stats.time_range,
        answers(&snap)
    )
}

/// Every query answer of a snapshot (or an `AS KNOWN AT` view of one,
/// whose statistics are upper bounds), as text.
pub fn answers(snap: &rollcall_engine::Snapshot) -> String {
    let mut out = String::new();
    writeln!(out, "collections {:?}", snap.collections()).unwrap();
    writeln!(out, "deployments {:?}", snap.deployments()).unwrap();
    let times = [-1, 0, 5_000, 25_000, 49_900, 50_000, 75_000, SPAN, i64::MAX - 1];
    for d in snap.deployments() {
        let dep = snap.deployment_id(&d).unwrap();
        let mut collections: Vec<Option<String>> = vec![None];
        collections.extend(snap.collections().into_iter().map(Some));
        for c in &collections {
            let cid = c.as_deref().map(|c| snap.collection_id(c).unwrap());
            for t in times {
                let counts = snap.state_counts(dep, cid, Timestamp(t), None).unwrap();
                let stale = snap.state_counts(dep, cid, Timestamp(t), Some(20_000)).unwrap();
                writeln!(out, "{d} {c:?} @{t}: {:?} stale {:?}", counts.0, stale.0).unwrap();
            }
            let hist = snap
                .failure_histogram(dep, cid, Timestamp(0), Timestamp(SPAN), 10_000)
                .unwrap();
            writeln!(out, "{d} {c:?} failures {hist:?}").unwrap();
            let by_error = snap
                .failure_histogram_by_error(dep, cid, Timestamp(0), Timestamp(SPAN), 25_000)
                .unwrap();
            writeln!(out, "{d} {c:?} by error {by_error:?}").unwrap();
            let clients = snap.clients_at(dep, cid, Timestamp(50_000), None, None).unwrap();
            writeln!(out, "{d} {c:?} clients {clients:?}").unwrap();
            let series = snap
                .state_series(dep, cid, Timestamp(0), Timestamp(SPAN), 12_500, None)
                .unwrap();
            writeln!(out, "{d} {c:?} series {series:?}").unwrap();
        }
        // Every collection at once (its own member-set path, buffers reused
        // from collection to collection).
        for t in times {
            let all = snap.state_counts_by_collection(dep, Timestamp(t), None).unwrap();
            let stale = snap
                .state_counts_by_collection(dep, Timestamp(t), Some(20_000))
                .unwrap();
            writeln!(out, "{d} by collection @{t}: {all:?} stale {stale:?}").unwrap();
        }
    }
    let mut names = Vec::new();
    snap.for_each_client_name(|_, n| names.push(n.to_owned()));
    names.sort();
    for n in names {
        let id = snap.client_id(&n).unwrap();
        let h = snap.client_history(id, None, None).unwrap();
        writeln!(out, "history {n}: {h:?}").unwrap();
    }
    out
}

/// Asserts two fingerprints are equal, showing the first differing line.
pub fn assert_same(got: &str, want: &str, context: &str) {
    if got != want {
        let line = got
            .lines()
            .zip(want.lines())
            .find(|(a, b)| a != b)
            .map(|(a, b)| format!("got:  {a}\nwant: {b}"))
            .unwrap_or_else(|| "one fingerprint is a prefix of the other".into());
        panic!("{context}: answers differ\n{line}");
    }
}
