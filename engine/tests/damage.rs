//! Torn and damaged files: a log cut anywhere in its last transaction reopens
//! to exactly the transactions before it; a flipped bit anywhere else, in any
//! kind of file, is reported as damage naming the file (and, where the
//! format allows, the offset) — by open, by a query, or by `check`.

mod common;

use std::path::Path;

use common::{Gen, assert_same, batch, fingerprint, reference, small_options};
use rollcall_engine::{Batch, Crash, Error, FaultyDisk, Options, Store, Timestamp};

fn batches(n: usize) -> Vec<Batch> {
    let mut g = Gen::new(11);
    (0..n).map(|_| batch(&mut g, 20, 12)).collect()
}

fn no_flush() -> Options {
    Options {
        auto_flush: false,
        ..small_options()
    }
}

const LOG: &str = "wal/000000000001.log";

#[test]
fn a_log_cut_anywhere_in_its_last_transaction_keeps_the_ones_before() {
    let bs = batches(4);
    let disk = FaultyDisk::new();
    let mut store = Store::create_on(&disk, no_flush()).unwrap();
    store.append(&bs[0]).unwrap();
    store.append(&bs[1]).unwrap();
    let start = disk.read_file(LOG).unwrap().len() as u64;
    store.append(&bs[2]).unwrap();
    let end = disk.read_file(LOG).unwrap().len() as u64;
    drop(store);
    let two = fingerprint(&reference(&bs[..2]));
    let three = fingerprint(&reference(&bs[..3]));
    for cut in start..=end {
        let image = disk.fork(Crash::KeepWritten);
        image.truncate_file(LOG, cut);
        let want = if cut == end { &three } else { &two };
        let ro = Store::open_read_only_on(&image).unwrap();
        assert_same(&fingerprint(&ro), want, &format!("read-only, cut at {cut}"));
        assert_eq!(
            image.read_file(LOG).unwrap().len() as u64,
            cut,
            "read-only open wrote"
        );
        drop(ro);

        let mut store = Store::open_on(&image, no_flush()).unwrap();
        assert_same(&fingerprint(&store), want, &format!("writer, cut at {cut}"));
        let kept = if cut == end { end } else { start };
        assert_eq!(
            image.read_file(LOG).unwrap().len() as u64,
            kept,
            "torn tail not cut"
        );
        store.append(&bs[3]).unwrap();
        drop(store);
        let store = Store::open_on(&image.fork(Crash::LoseUnsynced), no_flush()).unwrap();
        let mut held: Vec<Batch> = bs[..if cut == end { 3 } else { 2 }].to_vec();
        held.push(bs[3].clone());
        assert_same(
            &fingerprint(&store),
            &fingerprint(&reference(&held)),
            "append after cut",
        );
    }
}

/// Asserts `e` reports damage in `file` at or before `at` (when it has an offset).
fn assert_damage(e: &Error, file: &str, at: u64, context: &str) {
    match e {
        Error::Corrupt { file: f, offset, .. } => {
            assert!(
                f.ends_with(file),
                "{context}: damage reported in {f:?}, not {file}"
            );
            assert!(
                *offset <= at,
                "{context}: offset {offset} after the damage at {at}: {e}"
            );
        }
        Error::UnsupportedVersion { file: f, .. } => {
            assert!(
                f.ends_with(file),
                "{context}: version reported in {f:?}, not {file}"
            );
        }
        other => panic!("{context}: expected damage in {file}, got {other}"),
    }
}

fn assert_check_reports(disk: &FaultyDisk, file: &str, context: &str) {
    let report = Store::check_on(disk).unwrap();
    assert!(
        report.damage.iter().any(|d| d.file.ends_with(file)),
        "{context}: check did not report {file}: {:?}",
        report.damage
    );
}

/// Flips each bit position `bit` of every byte of `file` in `range`, and
/// demands that opening (writer and read-only) or `check` reports it.
fn sweep(disk: &FaultyDisk, file: &str, range: std::ops::Range<u64>, must_fail_open: bool) {
    let flips = range.end - range.start;
    for (n, at) in range.enumerate() {
        let image = disk.fork(Crash::KeepWritten);
        assert!(image.flip_bit(file, at, (n % 8) as u8));
        let context = format!("{file} byte {at}");
        assert_check_reports(&image, file, &context);
        match Store::open_read_only_on(&image) {
            Err(e) => assert_damage(&e, file, at, &context),
            Ok(store) => {
                assert!(!must_fail_open, "{context}: read-only open accepted damage");
                let report = store.check().unwrap();
                assert!(
                    report.damage.iter().any(|d| d.file.ends_with(file)),
                    "{context}: {:?}",
                    report.damage
                );
            }
        }
        match Store::open_on(&image, small_options()) {
            Err(e) => assert_damage(&e, file, at, &context),
            Ok(_) => assert!(!must_fail_open, "{context}: open accepted damage"),
        }
    }
    // Printed with --nocapture: the figure docs/reliability.md reports.
    println!("{file}: {flips} bit flips, each reported");
}

fn len(disk: &FaultyDisk, file: &str) -> u64 {
    disk.read_file(file).unwrap().len() as u64
}

#[test]
fn damage_in_the_log_before_its_last_record_is_refused() {
    let bs = batches(3);
    let disk = FaultyDisk::new();
    let mut store = Store::create_on(&disk, no_flush()).unwrap();
    store.append(&bs[0]).unwrap();
    store.append(&bs[1]).unwrap();
    let before_last = len(&disk, LOG);
    store.append(&bs[2]).unwrap();
    drop(store);
    sweep(&disk, LOG, 0..before_last, true);
}

#[test]
fn damage_in_the_manifest_is_refused() {
    let bs = batches(2);
    let disk = FaultyDisk::new();
    let mut store = Store::create_on(&disk, small_options()).unwrap();
    store.append(&bs[0]).unwrap();
    store.flush().unwrap();
    drop(store);
    sweep(&disk, "MANIFEST", 0..len(&disk, "MANIFEST"), true);
}

#[test]
fn damage_in_the_dictionary_is_refused() {
    let bs = batches(2);
    let disk = FaultyDisk::new();
    let mut store = Store::create_on(&disk, small_options()).unwrap();
    store.append(&bs[0]).unwrap();
    store.flush().unwrap();
    drop(store);
    sweep(&disk, "names.dict", 0..len(&disk, "names.dict"), true);
}

fn only(disk: &FaultyDisk, prefix: &str) -> String {
    let files: Vec<String> = disk
        .files()
        .into_iter()
        .filter(|f| f.starts_with(prefix))
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    files[0].clone()
}

#[test]
fn damage_in_a_segment_is_reported() {
    let bs = batches(2);
    let disk = FaultyDisk::new();
    let mut store = Store::create_on(&disk, small_options()).unwrap();
    store.append(&bs[0]).unwrap();
    store.flush().unwrap();
    drop(store);
    let seg = only(&disk, "seg/");
    sweep(&disk, &seg, 0..len(&disk, &seg), false);
}

#[test]
fn damage_in_a_checkpoint_file_is_reported() {
    let bs = batches(3);
    let disk = FaultyDisk::new();
    let mut store = Store::create_on(&disk, small_options()).unwrap();
    store.append(&bs[0]).unwrap();
    store.append(&bs[1]).unwrap();
    store.compact().unwrap();
    drop(store);
    let ckpt = only(&disk, "ckpt/");
    sweep(&disk, &ckpt, 0..len(&disk, &ckpt), false);
}

#[test]
fn a_segment_damaged_after_open_fails_queries_not_silently() {
    let bs = batches(2);
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::create(
        dir.path(),
        Options {
            mmap: false,
            ..small_options()
        },
    )
    .unwrap();
    store.append(&bs[0]).unwrap();
    store.flush().unwrap();
    drop(store);
    let seg_dir = dir.path().join("seg");
    let seg = std::fs::read_dir(&seg_dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut bytes = std::fs::read(&seg).unwrap();
    // Damage the middle of the file (a data block, not the footer).
    let mid = bytes.len() / 3;
    bytes[mid] ^= 0x40;
    std::fs::write(&seg, &bytes).unwrap();
    match Store::open_read_only(dir.path()) {
        Err(e) => assert!(e.is_corruption(), "{e}"),
        Ok(store) => {
            let report = store.check().unwrap();
            assert!(!report.is_clean());
            assert!(
                report.damage[0]
                    .file
                    .ends_with(Path::new(seg.file_name().unwrap()))
            );
            assert!(report.damage[0].offset.is_some());
            let snap = store.snapshot();
            let prod = snap.deployment_id("production").unwrap();
            let far = Timestamp(i64::MAX - 1);
            let errors = [
                snap.state_counts(prod, None, far, None).err(),
                snap.failure_histogram(prod, None, Timestamp(0), Timestamp(common::SPAN), 1_000)
                    .err(),
                snap.clients_at(prod, snap.collection_id("Pilot"), far, None, None)
                    .err(),
            ];
            assert!(
                errors.iter().flatten().any(|e| e.is_corruption()),
                "queries read damaged data silently: {:?}",
                report.damage
            );
        }
    }
    let report = Store::check_dir(dir.path()).unwrap();
    assert!(!report.is_clean());
}
