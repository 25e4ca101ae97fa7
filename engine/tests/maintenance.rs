//! Automatic maintenance over a long stream: every compaction adds a file to
//! the checkpoint chain (or merges the newest ones), and a store maintained
//! that way, reopened now and then, answers exactly like one that only ever
//! held rows in memory.

mod common;

use std::fmt::Write as _;

use common::{Gen, assert_same, batch_in, fingerprint, reference, small_options};
use rollcall_engine::{Batch, Change, Store, Timestamp};

/// Ten minutes: the stream's step.
const STEP: i64 = 600_000;
const HOUR: i64 = 3_600_000;

/// Answers over the whole stream (the shared fingerprint looks at its first
/// 100 s only): counts at a time every 100 minutes, by collection, hourly
/// failure histograms (answered from the rollup over the base) and
/// ten-minute ones (swept from the rows), members' clients.
fn stream_answers(store: &Store, steps: i64) -> String {
    let snap = store.snapshot();
    let mut out = String::new();
    // On a whole three hours, so that hourly grids are answered from the rollup.
    let end = Timestamp(((steps + 1) * STEP / (3 * HOUR) + 1) * 3 * HOUR);
    for d in snap.deployments() {
        let dep = snap.deployment_id(&d).unwrap();
        let mut collections: Vec<Option<String>> = vec![None];
        collections.extend(snap.collections().into_iter().map(Some));
        for c in &collections {
            let cid = c.as_deref().map(|c| snap.collection_id(c).unwrap());
            for t in (0..=steps).step_by(10).map(|k| Timestamp(k * STEP + 7)) {
                let counts = snap.state_counts(dep, cid, t, None).unwrap();
                let clients = snap.clients_at(dep, cid, t, None, None).unwrap();
                writeln!(out, "{d} {c:?} @{t:?}: {:?} {clients:?}", counts.0).unwrap();
            }
            for every in [HOUR, 3 * HOUR, STEP] {
                let hist = snap
                    .failure_histogram(dep, cid, Timestamp(0), end, every)
                    .unwrap();
                writeln!(out, "{d} {c:?} failures/{every} {hist:?}").unwrap();
            }
            let by_error = snap
                .failure_histogram_by_error(dep, cid, Timestamp(0), end, HOUR)
                .unwrap();
            writeln!(out, "{d} {c:?} by error {by_error:?}").unwrap();
        }
        for t in (0..=steps).step_by(20).map(|k| Timestamp(k * STEP + 3)) {
            let all = snap.state_counts_by_collection(dep, t, None).unwrap();
            writeln!(out, "{d} by collection @{t:?}: {all:?}").unwrap();
        }
    }
    out
}

/// Checkpoint files in the store's `ckpt/` directory.
fn checkpoint_files(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir.join("ckpt"))
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter(|e| e.file_name().to_string_lossy().ends_with(".ckpt"))
                .count()
        })
        .unwrap_or(0)
}

/// Bytes of the checkpoint files in the store's `ckpt/` directory.
fn checkpoint_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir.join("ckpt"))
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter(|e| e.file_name().to_string_lossy().ends_with(".ckpt"))
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// Checks that records superseded by later checkpoint files are at most a
/// quarter of the chain's bytes (what maintenance keeps after each
/// compaction); returns the dead bytes.
fn assert_few_dead(store: &Store, dir: &std::path::Path, step: i64) -> u64 {
    let dead = store.snapshot().stats().checkpoint_dead_bytes;
    let total = checkpoint_bytes(dir);
    assert!(
        dead * 4 <= total,
        "step {step}: {dead} of {total} checkpoint bytes are dead"
    );
    dead
}

/// A history, then a feed whose every batch reaches five hours back: each
/// compaction cuts the checkpoints of those hours, which earlier files hold.
/// Without merges that count dead bytes, those records piled up in files the
/// size-based counter did not merge again (27% of the chain's bytes by
/// step 68 here, when this test was written).
#[test]
fn late_rows_do_not_leave_the_chain_mostly_dead() {
    let dir = tempfile::tempdir().unwrap();
    let mut g = Gen::new(5);
    let mut store = Store::create(dir.path(), small_options()).unwrap();
    let mut batches: Vec<Batch> = Vec::new();
    let (mut most_dead, mut compactions) = (0u64, 0);
    for step in 0..150i64 {
        let from = if step >= 60 {
            (step - 30) * STEP
        } else {
            step * STEP
        };
        let b = batch_in(&mut g, 30, 60, from, STEP);
        store.append(&b).unwrap();
        batches.push(b);
        let b = batch_in(&mut g, 30, 60, step * STEP, STEP);
        store.append(&b).unwrap();
        batches.push(b);
        if store.maintain(false).unwrap().compacted.is_some() {
            compactions += 1;
            most_dead = most_dead.max(assert_few_dead(&store, dir.path(), step));
        }
    }
    assert!(compactions >= 20, "only {compactions} automatic compactions");
    assert!(most_dead > 0, "no compaction left a dead checkpoint record");
    drop(store);
    let store = Store::open(dir.path(), small_options()).unwrap();
    let reference = reference(&batches);
    assert_same(&fingerprint(&store), &fingerprint(&reference), "at the end");
    assert_same(
        &stream_answers(&store, 150),
        &stream_answers(&reference, 150),
        "at the end, over the stream",
    );
}

#[test]
fn a_long_stream_keeps_a_short_checkpoint_chain_and_exact_answers() {
    let dir = tempfile::tempdir().unwrap();
    let mut g = Gen::new(11);
    let mut store = Store::create(dir.path(), small_options()).unwrap();
    let mut batches: Vec<Batch> = Vec::new();
    let (mut compactions, mut most_files, mut merged) = (0, 0, false);
    let mut most_dead = 0u64;
    for step in 0..160i64 {
        // Time moves forward ten minutes a step; one batch in five is late,
        // by up to three hours, as a collector's backlog would be.
        let from = if step % 5 == 4 {
            (step - 18).max(0) * STEP
        } else {
            step * STEP
        };
        let mut b = batch_in(&mut g, 24, 40, from, STEP);
        // The shared batches join three times as often as they leave, so
        // that membership soon saturates; these keep it moving both ways.
        for _ in 0..8 {
            let client = format!("PC-{:04}", g.below(40));
            let collection = ["All Desktops", "Pilot", "Servers"][g.below(3) as usize];
            let change = if g.below(2) == 0 {
                Change::Leave
            } else {
                Change::Join
            };
            let time = Timestamp(from + g.below(STEP as u64 / 100) as i64 * 100);
            b.push_membership(time, &client, collection, change).unwrap();
        }
        store.append(&b).unwrap();
        batches.push(b);
        let before = checkpoint_files(dir.path());
        let compacted = store.maintain(false).unwrap().compacted.is_some();
        if compacted {
            compactions += 1;
            // A compaction that keeps the chain adds one file; one that
            // merged added fewer.
            let after = checkpoint_files(dir.path());
            merged |= after >= 2 && after <= before;
            most_files = most_files.max(after);
            most_dead = most_dead.max(assert_few_dead(&store, dir.path(), step));
        }
        if step % 40 == 39 {
            drop(store);
            store = Store::open(dir.path(), small_options()).unwrap();
        }
        // Right after a compaction nothing is left in the delta, so the
        // failure rollup answers per collection too (a delta with
        // membership changes would send those queries to the rows).
        if step % 16 == 15 || compacted {
            let reference = reference(&batches);
            assert_same(
                &fingerprint(&store),
                &fingerprint(&reference),
                &format!("step {step}"),
            );
            assert_same(
                &stream_answers(&store, step),
                &stream_answers(&reference, step),
                &format!("step {step}, over the stream"),
            );
        }
    }
    assert!(compactions >= 20, "only {compactions} automatic compactions");
    assert!(merged, "no compaction merged checkpoint files");
    assert!(most_dead > 0, "no compaction left a dead checkpoint record");
    assert!(
        (2..=12).contains(&most_files),
        "the chain held at most {most_files} files"
    );
    drop(store);
    let store = Store::open(dir.path(), small_options()).unwrap();
    assert_same(
        &fingerprint(&store),
        &fingerprint(&reference(&batches)),
        "at the end",
    );
    let report = store.check().unwrap();
    assert!(report.is_clean(), "{:?}", report.damage);
    assert!(report.orphans.is_empty(), "{:?}", report.orphans);
    let ro = Store::open_read_only(dir.path()).unwrap();
    assert_same(&fingerprint(&ro), &fingerprint(&reference(&batches)), "read-only");
}
