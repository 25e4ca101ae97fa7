//! The crash matrix: fail every disk operation of a workload in turn (append,
//! large transaction, flush, compaction, automatic maintenance, recovery), then crash the simulated
//! disk in several ways, reopen, and demand exactly the acknowledged batches
//! — the one in flight may be wholly present or wholly absent, nothing else.

mod common;

use std::collections::{BTreeSet, HashMap};

use common::{Gen, answers, assert_same, batch_in, fingerprint, reference, small_options};
use rollcall_engine::{Batch, Crash, DiskOp, Fault, FaultyDisk, IoFault, Store, Timestamp};

#[derive(Debug, Clone, Copy)]
enum Step {
    Append(usize),
    Txn(usize, usize),
    Flush,
    Compact,
    /// Automatic maintenance (`Store::maintain`): flushes a long log tail
    /// and compacts a due delta; `true` as at the end of an ingest command.
    Maintain(bool),
}

const SCRIPT: &[Step] = &[
    Step::Append(0),
    Step::Append(1),
    Step::Flush,
    Step::Append(2),
    Step::Txn(3, 4),
    Step::Compact,
    Step::Append(5),
    Step::Append(6),
    Step::Flush,
    Step::Compact,
    Step::Append(7),
    Step::Maintain(false),
    Step::Append(8),
    Step::Maintain(true),
];

/// Batches 0 to 4 anywhere in the first half of the fingerprint's span,
/// then each later one in its own 10 s after it, so that later compactions
/// keep a base prefix: they add files to the checkpoint chain, merge them,
/// and add or merge membership segments.
fn batches() -> Vec<Batch> {
    let mut g = Gen::new(7);
    (0..10)
        .map(|i| match i {
            0..5 => batch_in(&mut g, 30, 24, 0, 50_000),
            _ => batch_in(&mut g, 30, 24, 50_000 + (i as i64 - 5) * 10_000, 10_000),
        })
        .collect()
}

/// The commit time the script gives the step that commits batch `i` last.
fn committed_at(i: usize) -> Timestamp {
    Timestamp(1_000 * (i as i64 + 1))
}

#[derive(Debug, Default)]
struct Outcome {
    acked: Vec<usize>,
    in_flight: Option<Vec<usize>>,
    /// Compactions run by `Step::Maintain`.
    maintained: usize,
}

/// Runs the script until the first error.
fn run(store: &mut Store, batches: &[Batch]) -> Outcome {
    let mut out = Outcome::default();
    for step in SCRIPT {
        let (ids, r) = match *step {
            Step::Append(i) => (vec![i], store.append_at(&batches[i], committed_at(i)).map(|_| ())),
            Step::Txn(i, j) => (
                vec![i, j],
                (|| {
                    let mut t = store.begin()?;
                    t.append(&batches[i])?;
                    t.append(&batches[j])?;
                    t.commit_at(committed_at(j)).map(|_| ())
                })(),
            ),
            Step::Flush => (vec![], store.flush()),
            Step::Compact => (vec![], store.compact().map(|_| ())),
            Step::Maintain(finish) => (
                vec![],
                store.maintain(finish).map(|r| {
                    out.maintained += usize::from(r.compacted.is_some());
                }),
            ),
        };
        match r {
            Ok(()) => out.acked.extend(ids),
            Err(e) => {
                assert!(
                    matches!(e, rollcall_engine::Error::Io { .. }),
                    "{step:?} failed with {e}, expected the injected I/O error"
                );
                out.in_flight = Some(ids);
                // The store must refuse further writes now.
                assert!(matches!(
                    store.append(&batches[8]),
                    Err(rollcall_engine::Error::Poisoned(_))
                ));
                break;
            }
        }
    }
    out
}

struct Expect {
    batches: Vec<Batch>,
    cache: HashMap<Vec<usize>, String>,
}

impl Expect {
    fn answers(&mut self, ids: &[usize]) -> &str {
        let batches = &self.batches;
        self.cache.entry(ids.to_vec()).or_insert_with(|| {
            let chosen: Vec<Batch> = ids.iter().map(|&i| batches[i].clone()).collect();
            fingerprint(&reference(&chosen))
        })
    }

    /// The reopened store holds the acknowledged batches, plus possibly the
    /// in-flight ones (all or nothing). Returns the batches it holds.
    fn check(&mut self, store: &Store, out: &Outcome, context: &str) -> Vec<usize> {
        let held = self.held(store, out, context);
        self.check_known(store, &held, context);
        held
    }

    fn held(&mut self, store: &Store, out: &Outcome, context: &str) -> Vec<usize> {
        let got = fingerprint(store);
        if got == self.answers(&out.acked) {
            return out.acked.clone();
        }
        if let Some(extra) = &out.in_flight {
            let mut with: Vec<usize> = out.acked.clone();
            with.extend(extra);
            if got == self.answers(&with) {
                return with;
            }
        }
        let want = self.answers(&out.acked).to_owned();
        assert_same(&got, &want, context);
        unreachable!()
    }

    /// Every commit the store holds kept its time: as known at each commit
    /// time (and just before the first), the store answers with exactly
    /// the batches committed by then.
    fn check_known(&mut self, store: &Store, held: &[usize], context: &str) {
        let snap = store.snapshot();
        let time_of = |i: usize| committed_at(if i == 3 { 4 } else { i });
        let mut times: Vec<Timestamp> = held.iter().map(|&i| time_of(i)).collect();
        times.push(Timestamp(500));
        times.sort();
        times.dedup();
        for t in times {
            let known: Vec<usize> = held.iter().copied().filter(|&i| time_of(i) <= t).collect();
            let want = answers(
                &reference(&known.iter().map(|&i| self.batches[i].clone()).collect::<Vec<_>>()).snapshot(),
            );
            assert_same(
                &answers(&snap.as_known_at(t)),
                &want,
                &format!("{context}, as known at {t:?}"),
            );
        }
    }
}

fn op_count_of_script(batches: &[Batch]) -> u64 {
    let disk = FaultyDisk::new();
    let mut store = Store::create_on(&disk, small_options()).unwrap();
    let before = disk.op_count();
    let out = run(&mut store, batches);
    assert_eq!(out.in_flight, None);
    assert_eq!(out.acked, vec![0, 1, 2, 3, 4, 5, 6, 7, 8]);
    // The failpoints below land inside automatic compactions too.
    assert!(out.maintained >= 1, "no Step::Maintain compacted: {out:?}");
    // ... and inside a compaction that chains a checkpoint file to kept
    // ones and merges the chain (two files created in one compaction).
    let created: Vec<String> = disk
        .ops()
        .into_iter()
        .filter(|(op, name)| *op == DiskOp::Create && name.ends_with(".ckpt.tmp"))
        .map(|(_, name)| name)
        .collect();
    let compactions = SCRIPT.iter().filter(|s| matches!(s, Step::Compact)).count() + out.maintained;
    assert!(created.len() > compactions, "no checkpoint merge: {created:?}");
    disk.op_count() - before
}

#[test]
fn every_failpoint_then_crash_keeps_exactly_the_acknowledged_batches() {
    let batches = batches();
    let n = op_count_of_script(&batches);
    assert!(n > 50, "the script should exercise many disk operations, did {n}");
    let mut expect = Expect {
        batches: batches.clone(),
        cache: HashMap::new(),
    };
    let mut exercised: BTreeSet<String> = BTreeSet::new();
    let modes = [
        Crash::LoseUnsynced,
        Crash::Torn { keep: 1 },
        Crash::Torn { keep: 45 },
        Crash::KeepWritten,
    ];
    for i in 1..=n {
        let disk = FaultyDisk::new();
        let mut store = Store::create_on(&disk, small_options()).unwrap();
        let error = if i % 2 == 0 { IoFault::Eio } else { IoFault::Enospc };
        disk.arm(Fault::nth_op(i).with(error));
        let before = disk.op_count();
        let out = run(&mut store, &batches);
        assert!(disk.fault_fired(), "fault {i} of {n} did not fire");
        let trace = disk.ops();
        let (op, file) = trace[(before + i - 1) as usize].clone();
        let cleanup = op == DiskOp::Remove
            || (op == DiskOp::SyncDir && trace[(before + i - 2) as usize].0 == DiskOp::Remove);
        let point = format!("{op:?} {}", file_kind(&file));
        exercised.insert(point.clone());
        // Only best-effort removals of files no manifest names (and the
        // directory fsync after them) may fail without failing the step.
        assert!(
            out.in_flight.is_some() || cleanup,
            "fault at {point} was swallowed"
        );
        drop(store);

        // Crash in every way a disk may, and also just reopen (process exit).
        let mut images: Vec<(String, FaultyDisk)> =
            modes.iter().map(|m| (format!("{m:?}"), disk.fork(*m))).collect();
        disk.disarm();
        images.push(("reopen".into(), disk.clone()));
        for (mode, image) in images {
            let context = format!("fault {i}/{n} at {point}, then {mode}");
            let store = Store::open_on(&image, small_options())
                .unwrap_or_else(|e| panic!("{context}: reopen failed: {e}"));
            let held = expect.check(&store, &out, &context);
            let report = store.check().unwrap();
            assert!(report.is_clean(), "{context}: {:?}", report.damage);
            assert!(
                report.orphans.is_empty(),
                "{context}: orphans {:?}",
                report.orphans
            );
            // Writes work again, and survive another crash. Batch 8 is the
            // script's last: when it was acknowledged, every row of it is a
            // duplicate and the append stores nothing (this once found a
            // reopened writer that removed old logs before the manifest it
            // read was durable).
            let mut store = store;
            store
                .append(&batches[8])
                .unwrap_or_else(|e| panic!("{context}: append after reopen failed: {e}"));
            store
                .flush()
                .unwrap_or_else(|e| panic!("{context}: flush after reopen failed: {e}"));
            drop(store);
            let again = image.fork(Crash::LoseUnsynced);
            let store = Store::open_on(&again, small_options())
                .unwrap_or_else(|e| panic!("{context}, after a new append and a crash: reopen failed: {e}"));
            let mut with = held.clone();
            with.push(8);
            let want = expect.answers(&with).to_owned();
            assert_same(
                &fingerprint(&store),
                &want,
                &format!("{context}, after a new append"),
            );
        }
    }
    for kind in [
        "Write wal",
        "Sync wal",
        "Create wal",
        "SyncDir wal",
        "Write seg",
        "Sync seg",
        "Rename seg",
        "SyncDir seg",
        "Rename MANIFEST",
        "SyncDir root",
        "Sync names.dict",
        "Rename ckpt",
        "Remove seg",
        "Remove wal",
        "Write commits.log",
        "Sync commits.log",
        "Create commits.log",
    ] {
        assert!(
            exercised.contains(kind),
            "failpoint {kind} not exercised: {exercised:?}"
        );
    }
    eprintln!("{n} failpoints exercised, of kinds {exercised:?}");
}

fn file_kind(name: &str) -> &str {
    if name.is_empty() {
        "root"
    } else if name.starts_with("MANIFEST") {
        "MANIFEST"
    } else if name.starts_with("names.dict") {
        "names.dict"
    } else {
        name.split('/').next().unwrap_or(name)
    }
}

/// A crash with no fault at all, after every operation of the script.
#[test]
fn crash_after_any_operation_keeps_the_acknowledged_prefix() {
    let batches = batches();
    let n = op_count_of_script(&batches);
    let mut expect = Expect {
        batches: batches.clone(),
        cache: HashMap::new(),
    };
    for i in 1..=n {
        // Stop the world right before operation i by failing it, with the
        // store then abandoned as if the process died there.
        let disk = FaultyDisk::new();
        let mut store = Store::create_on(&disk, small_options()).unwrap();
        disk.arm(Fault::nth_op(i).sticky());
        let out = run(&mut store, &batches);
        drop(store);
        for mode in [Crash::LoseUnsynced, Crash::KeepWritten] {
            let image = disk.fork(mode);
            let store = Store::open_on(&image, small_options()).unwrap();
            expect.check(&store, &out, &format!("crash before op {i} ({mode:?})"));
        }
    }
}

/// Recovery itself can be interrupted: fail each operation of a recovering
/// open, crash again, and open once more.
#[test]
fn interrupted_recovery_recovers() {
    let batches = batches();
    let mut expect = Expect {
        batches: batches.clone(),
        cache: HashMap::new(),
    };
    // Leave a store that needs recovery: a torn log tail, an orphan segment,
    // dictionary bytes past the manifest.
    let disk = FaultyDisk::new();
    let mut store = Store::create_on(&disk, small_options()).unwrap();
    store.append(&batches[0]).unwrap();
    store.flush().unwrap();
    store.append(&batches[1]).unwrap();
    // The third rename of the transaction is its manifest: it fails after the
    // staged segments and the dictionary entries were written.
    disk.arm(Fault::nth(DiskOp::Rename, 3));
    let mut t = store.begin().unwrap();
    t.append(&batches[2]).unwrap();
    t.append(&batches[3]).unwrap();
    assert!(t.commit().is_err());
    assert!(
        disk.files().contains(&"MANIFEST.tmp".to_owned()),
        "{:?}",
        disk.files()
    );
    drop(store);
    let crashed = disk.fork(Crash::Torn { keep: 30 });
    let out = Outcome {
        acked: vec![0, 1],
        in_flight: Some(vec![2, 3]),
        maintained: 0,
    };
    let probe = crashed.fork(Crash::KeepWritten);
    let before = probe.op_count();
    drop(Store::open_on(&probe, small_options()).unwrap());
    let ops = probe.op_count() - before;
    assert!(ops > 0, "recovery had nothing to do");
    for i in 1..=ops {
        let image = crashed.fork(Crash::KeepWritten);
        image.arm(Fault::nth_op(i));
        drop(Store::open_on(&image, small_options()));
        assert!(image.fault_fired(), "recovery op {i} of {ops} never ran");
        for mode in [Crash::LoseUnsynced, Crash::KeepWritten] {
            let again = image.fork(mode);
            let store = Store::open_on(&again, small_options()).unwrap();
            // The script above commits without times: only the held rows are checked.
            expect.held(&store, &out, &format!("recovery op {i} failed, {mode:?}"));
            assert!(store.check().unwrap().orphans.is_empty());
        }
    }
}
