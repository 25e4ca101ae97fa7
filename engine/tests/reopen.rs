//! A store reopened (cleanly or after a crash) answers every query exactly
//! as before, through flushes, compactions, large transactions and late
//! data; checked against a store that only ever held rows in memory.

mod common;

use common::{Gen, assert_same, batch, batch_in, fingerprint, reference, small_options};
use proptest::prelude::*;
use rollcall_engine::{Batch, Crash, FaultyDisk, Options, Store};

#[test]
fn reopen_keeps_everything_on_real_files() {
    let dir = tempfile::tempdir().unwrap();
    let mut g = Gen::new(1);
    let batches: Vec<Batch> = (0..12).map(|_| batch(&mut g, 40, 30)).collect();
    let mut store = Store::create(dir.path(), small_options()).unwrap();
    for b in &batches[..4] {
        store.append(b).unwrap();
    }
    store.flush().unwrap();
    let report = store.compact().unwrap();
    assert!(report.runs_out >= 2, "{report:?}");
    assert!(report.checkpoints > 0, "{report:?}");
    for b in &batches[4..8] {
        store.append(b).unwrap();
    }
    let want = fingerprint(&reference(&batches[..8]));
    assert_same(&fingerprint(&store), &want, "before reopen");
    drop(store);

    let mut store = Store::open(dir.path(), small_options()).unwrap();
    assert_same(&fingerprint(&store), &want, "after reopen");
    store.compact().unwrap();
    for b in &batches[8..] {
        store.append(b).unwrap();
    }
    store.flush().unwrap();
    store.compact().unwrap();
    drop(store);
    let store = Store::open(dir.path(), small_options()).unwrap();
    let want = fingerprint(&reference(&batches));
    assert_same(&fingerprint(&store), &want, "after second reopen");
    let report = store.check().unwrap();
    assert!(report.is_clean(), "{:?}", report.damage);
    assert!(report.orphans.is_empty(), "{:?}", report.orphans);
    assert!(report.files_checked >= 4, "{report:?}");
    let ro = Store::open_read_only(dir.path()).unwrap();
    assert_same(&fingerprint(&ro), &want, "read-only");
}

#[test]
fn re_ingesting_after_reopen_changes_nothing() {
    let disk = FaultyDisk::new();
    let mut g = Gen::new(2);
    let batches: Vec<Batch> = (0..5).map(|_| batch(&mut g, 30, 20)).collect();
    let mut store = Store::create_on(&disk, small_options()).unwrap();
    for b in &batches {
        store.append(b).unwrap();
    }
    store.compact().unwrap();
    drop(store);
    let mut store = Store::open_on(&disk, small_options()).unwrap();
    let before = fingerprint(&store);
    for b in &batches {
        let r = store.append(b).unwrap();
        assert_eq!((r.transitions, r.memberships), (0, 0), "{r:?}");
        assert_eq!(r.duplicates as usize, b.len());
    }
    // The same rows again as one large transaction that spills.
    let mut t = store.begin().unwrap();
    for b in &batches {
        let r = t.append(b).unwrap();
        assert_eq!(r.duplicates as usize, b.len());
    }
    t.commit().unwrap();
    assert_same(&fingerprint(&store), &before, "after re-ingest");
}

#[test]
fn compaction_rewrites_only_the_base_suffix_late_data_touches() {
    use rollcall_engine::{State, Timestamp};
    let disk = FaultyDisk::new();
    // Base segments of 100 rows (four checkpoint intervals).
    let opts = Options {
        checkpoint_interval_rows: 25,
        membership_snapshot_rows: 5,
        ..small_options()
    };
    let mut store = Store::create_on(&disk, opts.clone()).unwrap();
    let mut all = Vec::new();
    for k in 0..10 {
        let mut b = Batch::new();
        for i in 0..100 {
            // Every client appears once: a checkpoint must carry the state of
            // every earlier segment.
            let t = Timestamp(k * 1_000 + i * 10);
            b.push_transition(
                t,
                &format!("PC-{}", k * 100 + i),
                "production",
                State::InProgress,
                None,
            )
            .unwrap();
        }
        store.append(&b).unwrap();
        all.push(b);
    }
    let first = store.compact().unwrap();
    assert_eq!(first.runs_out, 10, "{first:?}");
    // Late data in the last tenth of time rewrites only the last segment.
    let mut late = Batch::new();
    late.push_transition(Timestamp(9_985), "PC-1", "production", State::Failed, None)
        .unwrap();
    store.append(&late).unwrap();
    all.push(late);
    let second = store.compact().unwrap();
    assert_eq!(second.runs_in, 2, "{second:?}");
    assert_eq!(second.rows, 101, "{second:?}");
    assert_same(
        &fingerprint(&store),
        &fingerprint(&reference(&all)),
        "after suffix rewrite",
    );
    // Late data before everything rewrites everything.
    let base_segments = store.stats().segments;
    let mut early = Batch::new();
    early
        .push_transition(Timestamp(-5), "PC-2", "production", State::Failed, None)
        .unwrap();
    store.append(&early).unwrap();
    all.push(early);
    let third = store.compact().unwrap();
    assert_eq!(third.runs_in, base_segments + 1, "{third:?}");
    drop(store);
    let store = Store::open_on(&disk, opts).unwrap();
    assert_same(
        &fingerprint(&store),
        &fingerprint(&reference(&all)),
        "after full rewrite",
    );
}

#[test]
fn snapshots_keep_retired_files_until_dropped() {
    let disk = FaultyDisk::new();
    let mut g = Gen::new(3);
    let batches: Vec<Batch> = (0..4).map(|_| batch(&mut g, 30, 20)).collect();
    let mut store = Store::create_on(&disk, small_options()).unwrap();
    store.append(&batches[0]).unwrap();
    store.flush().unwrap();
    store.append(&batches[1]).unwrap();
    store.flush().unwrap();
    let segs = |d: &FaultyDisk| {
        d.files()
            .into_iter()
            .filter(|f| f.starts_with("seg/"))
            .collect::<Vec<_>>()
    };
    let before = segs(&disk);
    assert_eq!(before.len(), 2);
    let snap = store.snapshot();
    let want = fingerprint(&store);
    store.compact().unwrap();
    // The snapshot still reads the old segments, so they are still there.
    for f in &before {
        assert!(disk.files().contains(f), "{f} deleted under a live snapshot");
    }
    assert_eq!(snap.stats().transitions, store.snapshot().stats().transitions);
    drop(snap);
    for f in &before {
        assert!(
            !disk.files().contains(f),
            "{f} not deleted after the last snapshot"
        );
    }
    assert_same(&fingerprint(&store), &want, "after compaction");
}

#[derive(Debug, Clone)]
enum Op {
    Append(u64, usize),
    Txn(Vec<(u64, usize)>),
    Abandon(u64, usize),
    Flush,
    Compact,
    Reopen,
    Crash,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (any::<u64>(), 1..40usize).prop_map(|(s, n)| Op::Append(s, n)),
        1 => prop::collection::vec((any::<u64>(), 1..40usize), 1..4).prop_map(Op::Txn),
        1 => (any::<u64>(), 1..60usize).prop_map(|(s, n)| Op::Abandon(s, n)),
        1 => Just(Op::Flush),
        1 => Just(Op::Compact),
        1 => Just(Op::Reopen),
        1 => Just(Op::Crash),
    ]
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(24)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    /// Random appends, transactions, flushes, compactions, reopens and
    /// crashes answer like the plain in-memory reference.
    #[test]
    fn random_histories_match_the_reference(ops in prop::collection::vec(op(), 1..14)) {
        let disk = FaultyDisk::new();
        let mut store = Store::create_on(&disk, small_options()).unwrap();
        let mut acked: Vec<Batch> = Vec::new();
        // Later operations tend to carry later times (with overlap and some
        // late data), so compactions keep a base prefix as often as not.
        let gen_batch = |seed: u64, n: usize, step: usize| {
            let from = if seed.is_multiple_of(5) { 0 } else { step as i64 * 6_000 };
            batch_in(&mut Gen::new(seed), n, 30, from, 12_000)
        };
        for (step, op) in ops.iter().enumerate() {
            match op {
                Op::Append(seed, n) => {
                    let b = gen_batch(*seed, *n, step);
                    store.append(&b).unwrap();
                    acked.push(b);
                }
                Op::Txn(parts) => {
                    let mut t = store.begin().unwrap();
                    let mut bs = Vec::new();
                    for (seed, n) in parts {
                        let b = gen_batch(*seed, *n, step);
                        t.append(&b).unwrap();
                        bs.push(b);
                    }
                    t.commit().unwrap();
                    acked.extend(bs);
                }
                Op::Abandon(seed, n) => {
                    let mut t = store.begin().unwrap();
                    t.append(&gen_batch(*seed, *n, step)).unwrap();
                    drop(t);
                }
                Op::Flush => store.flush().unwrap(),
                Op::Compact => {
                    store.compact().unwrap();
                }
                Op::Reopen => {
                    drop(store);
                    store = Store::open_on(&disk, small_options()).unwrap();
                }
                Op::Crash => {
                    drop(store);
                    disk.crash(Crash::LoseUnsynced);
                    store = Store::open_on(&disk, small_options()).unwrap();
                }
            }
        }
        let want = fingerprint(&reference(&acked));
        assert_same(&fingerprint(&store), &want, &format!("{ops:?}"));
        drop(store);
        disk.crash(Crash::LoseUnsynced);
        let store = Store::open_on(&disk, small_options()).unwrap();
        assert_same(&fingerprint(&store), &want, "after a final crash");
        let report = store.check().unwrap();
        prop_assert!(report.is_clean(), "{:?}", report.damage);
        prop_assert!(report.orphans.is_empty(), "{:?}", report.orphans);
    }
}

/// After a compaction, membership at a time comes from membership snapshots
/// plus the changes after them, and answers exactly like a replay of the
/// whole change log; membership changes arriving later (delta) switch the
/// store back to the log until the next compaction.
#[test]
fn membership_snapshots_answer_like_the_change_log() {
    let dir = tempfile::tempdir().unwrap();
    let mut g = Gen::new(11);
    let batches: Vec<Batch> = (0..10).map(|_| batch(&mut g, 60, 40)).collect();
    let mut store = Store::create(dir.path(), small_options()).unwrap();
    for b in &batches[..8] {
        store.append(b).unwrap();
    }
    store.flush().unwrap();
    store.compact().unwrap();
    let used = |store: &Store| {
        let snap = store.snapshot();
        let d = snap.deployment_id("production").unwrap();
        let c = snap.collection_id("All Desktops");
        for t in [10_000, 50_000, 99_900] {
            snap.state_counts(d, c, rollcall_engine::Timestamp(t), None)
                .unwrap();
        }
        snap.probe().member_snapshots_used
    };
    assert!(used(&store) > 0, "compacted store reads snapshots");
    assert_same(
        &fingerprint(&store),
        &fingerprint(&reference(&batches[..8])),
        "snapshots",
    );
    for b in &batches[8..] {
        store.append(b).unwrap();
    }
    assert_eq!(used(&store), 0, "delta membership changes: the log");
    let want = fingerprint(&reference(&batches));
    assert_same(&fingerprint(&store), &want, "with delta");
    store.flush().unwrap();
    store.compact().unwrap();
    drop(store);
    let store = Store::open(dir.path(), small_options()).unwrap();
    assert!(used(&store) > 0);
    assert_same(&fingerprint(&store), &want, "reopened");
    assert!(store.check().unwrap().is_clean());
}
