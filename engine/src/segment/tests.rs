//! Segment round trips against a plain `Vec` model, corruption sweeps and
//! writer input checks.

use std::path::PathBuf;

use proptest::prelude::*;

use super::*;
use crate::bytes;
use crate::error::Error;
use crate::model::{
    Change, ClientId, CollectionId, DeploymentId, ErrorCode, MembershipRow, Seq, State, Timestamp,
    TransitionRow,
};
use crate::run::Run;

fn path() -> PathBuf {
    PathBuf::from("test.seg")
}

fn t(time: i64, seq: u64, client: u32, deployment: u32, state: State, error: Option<u32>) -> TransitionRow {
    TransitionRow {
        time: Timestamp(time),
        seq: Seq(seq),
        client: ClientId(client),
        deployment: DeploymentId(deployment),
        state,
        error: error.map(ErrorCode),
    }
}

fn m(time: i64, seq: u64, client: u32, collection: u32, change: Change) -> MembershipRow {
    MembershipRow {
        time: Timestamp(time),
        seq: Seq(seq),
        client: ClientId(client),
        collection: CollectionId(collection),
        change,
    }
}

fn write(rows: &[TransitionRow], members: &[MembershipRow], block_rows: usize) -> (Vec<u8>, SegmentSummary) {
    let mut w = SegmentWriter::new(Vec::new(), path()).with_block_rows(block_rows);
    // Feed in uneven chunks to exercise streaming across calls.
    for chunk in rows.chunks(3) {
        w.push_transitions(chunk).expect("push");
    }
    w.finish(members.to_vec()).expect("finish")
}

fn open(file: &[u8]) -> crate::error::Result<SegmentReader> {
    SegmentReader::open(bytes::owned(file.to_vec()), path())
}

fn scan(r: &dyn Run, lo: i64, hi: i64) -> Vec<TransitionRow> {
    let mut out = Vec::new();
    let n = r
        .scan_transitions(Timestamp(lo), Timestamp(hi), &mut |rows| {
            out.extend_from_slice(rows);
            Ok(())
        })
        .expect("scan");
    assert_eq!(n, out.len() as u64);
    out
}

fn scan_failures(r: &dyn Run, lo: i64, hi: i64) -> Vec<TransitionRow> {
    let mut out = Vec::new();
    let n = r
        .scan_failures(Timestamp(lo), Timestamp(hi), &mut |rows| {
            out.extend_from_slice(rows);
            Ok(())
        })
        .expect("scan failures");
    assert_eq!(n, out.len() as u64);
    out
}

fn scan_members(r: &dyn Run, c: Option<u32>, hi: i64) -> Vec<MembershipRow> {
    let mut out = Vec::new();
    let n = r
        .scan_memberships(c.map(CollectionId), Timestamp(hi), &mut |rows| {
            out.extend_from_slice(rows);
            Ok(())
        })
        .expect("scan memberships");
    assert_eq!(n, out.len() as u64);
    out
}

/// Checks every `Run` method of the segment against a filter over the input.
fn check_against_model(
    rows: &[TransitionRow],
    members: &[MembershipRow],
    block_rows: usize,
    probes: &[(i64, i64)],
) {
    let (file, summary) = write(rows, members, block_rows);
    assert_eq!(summary.bytes, file.len() as u64);
    let r = open(&file).expect("open");
    r.verify().expect("verify");
    assert_eq!(r.summary(), summary);
    assert_eq!(r.transition_count(), rows.len() as u64);
    assert_eq!(r.membership_count(), members.len() as u64);
    assert_eq!(r.bytes_on_disk(), file.len() as u64);
    let bounds = rows.first().map(|f| (f.time, rows[rows.len() - 1].time));
    assert_eq!(r.transition_bounds(), bounds);
    let seqs = rows.iter().map(|r| r.seq).chain(members.iter().map(|m| m.seq));
    let seq_bounds = seqs.clone().min().map(|a| (a, seqs.max().unwrap_or(a)));
    assert_eq!(summary.seq_bounds, seq_bounds);

    assert_eq!(scan(&r, i64::MIN, i64::MAX), rows);
    for &(lo, hi) in probes {
        let want: Vec<TransitionRow> = rows
            .iter()
            .filter(|x| lo <= x.time.0 && x.time.0 <= hi)
            .copied()
            .collect();
        assert_eq!(scan(&r, lo, hi), want, "scan [{lo}, {hi}]");
        // The estimate counts whole blocks: at most one partial block at
        // each edge too many, never too few.
        let estimate = r.transitions_between(Timestamp(lo), Timestamp(hi));
        assert!(
            want.len() as u64 <= estimate && estimate <= (want.len() + 2 * block_rows) as u64,
            "estimate [{lo}, {hi}]: {estimate} for {} rows",
            want.len()
        );
        let failed: Vec<TransitionRow> = want
            .iter()
            .filter(|x| x.state == State::Failed)
            .copied()
            .collect();
        assert_eq!(scan_failures(&r, lo, hi), failed, "failures [{lo}, {hi}]");
        let mut sorted = members.to_vec();
        sorted.sort_by_key(|x| (x.collection, x.time, x.seq));
        let want_all: Vec<MembershipRow> = sorted.iter().filter(|x| x.time.0 <= hi).copied().collect();
        assert_eq!(scan_members(&r, None, hi), want_all, "all memberships <= {hi}");
        let mut collections: Vec<u32> = members.iter().map(|x| x.collection.0).collect();
        collections.extend([0, u32::MAX, 7]);
        for c in collections {
            let want: Vec<MembershipRow> = want_all.iter().filter(|x| x.collection.0 == c).copied().collect();
            assert_eq!(scan_members(&r, Some(c), hi), want, "collection {c} <= {hi}");
        }
    }
    for x in rows {
        assert!(r.contains_transition(&x.identity()).expect("probe"));
        let mut other = x.identity();
        other.state = State::ALL[(other.state.index() + 1) % 6];
        let expected = rows.iter().any(|y| y.identity() == other);
        assert_eq!(r.contains_transition(&other).expect("probe"), expected);
        let mut later = x.identity();
        later.time = Timestamp(later.time.0.wrapping_add(1));
        let expected = rows.iter().any(|y| y.identity() == later);
        assert_eq!(r.contains_transition(&later).expect("probe"), expected);
    }
    for x in members {
        assert!(r.contains_membership(&x.identity()).expect("probe"));
        let mut other = x.identity();
        other.change = if other.change == Change::Join {
            Change::Leave
        } else {
            Change::Join
        };
        let expected = members.iter().any(|y| y.identity() == other);
        assert_eq!(r.contains_membership(&other).expect("probe"), expected);
        other.client = ClientId(other.client.0.wrapping_add(1));
        let expected = members.iter().any(|y| y.identity() == other);
        assert_eq!(r.contains_membership(&other).expect("probe"), expected);
    }
}

fn edge_probes(rows: &[TransitionRow]) -> Vec<(i64, i64)> {
    let mut p = vec![
        (i64::MIN, i64::MAX),
        (0, 0),
        (1, 0),
        (i64::MIN, i64::MIN),
        (i64::MAX, i64::MAX),
    ];
    for r in rows {
        p.push((r.time.0, r.time.0));
        p.push((r.time.0, i64::MAX));
        p.push((i64::MIN, r.time.0));
        p.push((r.time.0.saturating_add(1), r.time.0.saturating_add(10)));
    }
    p
}

#[test]
fn empty_segment_round_trips() {
    let (file, summary) = write(&[], &[], 4);
    assert_eq!(summary.transitions, 0);
    assert_eq!(summary.time_bounds, None);
    assert_eq!(summary.seq_bounds, None);
    let r = open(&file).expect("open");
    r.verify().expect("verify");
    assert!(scan(&r, i64::MIN, i64::MAX).is_empty());
    assert!(scan_members(&r, None, i64::MAX).is_empty());
    assert!(scan_members(&r, Some(0), i64::MAX).is_empty());
    check_against_model(&[], &[], 4, &[(i64::MIN, i64::MAX)]);
}

#[test]
fn one_row_segment_round_trips() {
    let rows = [t(1_000, 1, 0, 0, State::Failed, Some(0x80070005))];
    check_against_model(&rows, &[], 4096, &edge_probes(&rows));
    let members = [m(5, 2, 3, 4, Change::Join)];
    check_against_model(&[], &members, 4096, &[(i64::MIN, i64::MAX), (4, 4), (5, 5)]);
}

#[test]
fn extreme_values_round_trip() {
    let rows = vec![
        t(i64::MIN, 3, u32::MAX, u32::MAX, State::NotStarted, Some(0)),
        t(i64::MIN, 9, 0, 0, State::Compliant, Some(u32::MAX)),
        t(-1, 1, 5, 1, State::InProgress, None),
        t(0, 0, 5, 1, State::NonCompliant, Some(0x80070005)),
        t(0, u64::MAX / 2, 5, 1, State::Failed, Some(u32::MAX)),
        t(0, u64::MAX, 6, 0, State::Unknown, None),
        t(i64::MAX, 2, u32::MAX, 0, State::Failed, None),
        t(i64::MAX, 4, 1, 0, State::Failed, Some(0)),
    ];
    let members = vec![
        m(i64::MIN, 10, u32::MAX, u32::MAX, Change::Join),
        m(i64::MAX, 11, 0, u32::MAX, Change::Leave),
        m(0, 12, 1, 0, Change::Join),
        m(0, 13, 2, 0, Change::Join),
        m(0, 14, 1, 0, Change::Leave),
    ];
    for block_rows in [1, 2, 3, 4096] {
        check_against_model(&rows, &members, block_rows, &edge_probes(&rows));
    }
}

#[test]
fn ties_gaps_states_and_many_collections_round_trip() {
    let mut rows = Vec::new();
    let mut seq = 1u64;
    for i in 0..500u32 {
        let time = i64::from(i / 7) * 1_000; // runs of equal times
        seq += if i % 50 == 0 { 1 << 40 } else { 1 }; // huge seq gaps
        let state = State::ALL[(i % 6) as usize];
        let error = match i % 5 {
            0 => None,
            1 => Some(0),
            2 => Some(u32::MAX),
            _ => Some(0x8007_0000 + i % 3),
        };
        rows.push(t(time, seq, i.wrapping_mul(2_654_435_761), i % 3, state, error));
    }
    let mut members = Vec::new();
    for i in 0..700u32 {
        // Many collections, several changes at the same time.
        members.push(m(
            i64::from(i % 4),
            10_000 + u64::from(i),
            i,
            i % 97,
            if i % 3 == 0 { Change::Leave } else { Change::Join },
        ));
    }
    let probes = [
        (i64::MIN, i64::MAX),
        (0, 0),
        (3_000, 3_000),
        (2_500, 40_000),
        (-5, 1),
        (0, 2),
        (70_000, i64::MAX),
    ];
    for block_rows in [1, 5, 64, 4096] {
        check_against_model(&rows, &members, block_rows, &probes);
    }
}

#[test]
fn writer_rejects_out_of_order_rows() {
    let mut w = SegmentWriter::new(Vec::new(), path());
    w.push_transitions(&[t(5, 2, 0, 0, State::Compliant, None)])
        .expect("first");
    for bad in [
        t(4, 9, 0, 0, State::Compliant, None),
        t(5, 2, 1, 0, State::Compliant, None),
        t(5, 1, 0, 0, State::Compliant, None),
    ] {
        assert!(matches!(w.push_transitions(&[bad]), Err(Error::InvalidInput(_))));
    }
    // Disorder inside one chunk is rejected too, and nothing of it is taken.
    let chunk = [
        t(7, 3, 0, 0, State::Failed, None),
        t(6, 4, 0, 0, State::Failed, None),
    ];
    assert!(matches!(w.push_transitions(&chunk), Err(Error::InvalidInput(_))));
    w.push_transitions(&[t(5, 3, 0, 0, State::Failed, None)])
        .expect("in order");
    let (file, summary) = w.finish(Vec::new()).expect("finish");
    assert_eq!(summary.transitions, 2);
    assert_eq!(scan(&open(&file).expect("open"), i64::MIN, i64::MAX).len(), 2);
}

#[test]
fn newer_version_is_refused() {
    let (mut file, _) = write(&[t(1, 1, 0, 0, State::Failed, None)], &[], 4);
    file[8..12].copy_from_slice(&(SEGMENT_FORMAT_VERSION + 1).to_le_bytes());
    let crc = crc32fast::hash(&file[..12]);
    file[12..16].copy_from_slice(&crc.to_le_bytes());
    match open(&file) {
        Err(Error::UnsupportedVersion { found, supported, .. }) => {
            assert_eq!(
                (found, supported),
                (SEGMENT_FORMAT_VERSION + 1, SEGMENT_FORMAT_VERSION)
            );
        }
        other => panic!("expected UnsupportedVersion, got {other:?}"),
    }
}

/// Opens, verifies and fully scans a file; returns the first error.
fn read_everything(file: &[u8], verify_first: bool) -> crate::error::Result<()> {
    let r = open(file)?;
    if verify_first {
        r.verify()?;
    }
    r.scan_transitions(Timestamp::MIN, Timestamp::MAX, &mut |_| Ok(()))?;
    r.scan_failures(Timestamp::MIN, Timestamp::MAX, &mut |_| Ok(()))?;
    r.scan_memberships(None, Timestamp::MAX, &mut |_| Ok(()))?;
    Ok(())
}

fn small_segment() -> Vec<u8> {
    let rows = vec![
        t(10, 1, 0, 0, State::InProgress, None),
        t(10, 2, 1, 0, State::Failed, Some(0x80070005)),
        t(20, 3, 0, 1, State::Compliant, None),
        t(35, 6, 2, 0, State::Failed, Some(5)),
    ];
    let members = vec![
        m(0, 4, 0, 0, Change::Join),
        m(0, 5, 1, 1, Change::Join),
        m(30, 7, 0, 0, Change::Leave),
    ];
    write(&rows, &members, 2).0
}

#[test]
fn every_flipped_bit_is_detected() {
    let file = small_segment();
    read_everything(&file, true).expect("intact file reads");
    for offset in 0..file.len() {
        for bit in [0u8, 3, 7] {
            let mut bad = file.clone();
            bad[offset] ^= 1 << bit;
            for verify_first in [true, false] {
                match read_everything(&bad, verify_first) {
                    Err(e) => assert!(e.is_corruption(), "offset {offset} bit {bit}: {e}"),
                    Ok(()) => panic!(
                        "flip at offset {offset} bit {bit} went unnoticed (verify first: {verify_first})"
                    ),
                }
            }
        }
    }
}

#[test]
fn every_truncation_is_detected() {
    let file = small_segment();
    for len in 0..file.len() {
        match read_everything(&file[..len], true) {
            Err(e) => assert!(e.is_corruption(), "length {len}: {e}"),
            Ok(()) => panic!("truncation to {len} bytes went unnoticed"),
        }
    }
    let mut longer = file.clone();
    longer.push(0);
    assert!(
        read_everything(&longer, true).is_err(),
        "a trailing byte went unnoticed"
    );
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(32)
}

fn arb_transitions() -> impl Strategy<Value = Vec<TransitionRow>> {
    let time = prop_oneof![8 => -20i64..20, 1 => any::<i64>(), 1 => Just(i64::MIN), 1 => Just(i64::MAX)];
    let state = (0usize..6).prop_map(|i| State::ALL[i]);
    let error = prop_oneof![3 => Just(None), 2 => (0u32..4).prop_map(Some), 1 => any::<u32>().prop_map(Some)];
    let client = prop_oneof![4 => 0u32..8, 1 => any::<u32>()];
    proptest::collection::vec((time, client, 0u32..3, state, error), 0..60).prop_map(|raw| {
        let mut rows: Vec<TransitionRow> = raw
            .into_iter()
            .enumerate()
            .map(|(i, (time, client, d, state, error))| {
                // Distinct seqs, not in time order (late rows), some far apart.
                let seq = (i as u64).wrapping_mul(0x9E37_79B9) % 1_000 + (i as u64) * 1_000;
                t(time, seq, client, d, state, error)
            })
            .collect();
        rows.sort_by_key(|r| (r.time, r.seq));
        rows
    })
}

fn arb_memberships() -> impl Strategy<Value = Vec<MembershipRow>> {
    let time = prop_oneof![8 => -20i64..20, 1 => any::<i64>()];
    let collection = prop_oneof![4 => 0u32..5, 1 => any::<u32>()];
    let change = prop_oneof![Just(Change::Join), Just(Change::Leave)];
    proptest::collection::vec((time, 0u32..6, collection, change), 0..40).prop_map(|raw| {
        raw.into_iter()
            .enumerate()
            .map(|(i, (time, client, c, change))| m(time, 1_000_000 + i as u64, client, c, change))
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn segment_matches_vec_model(
        rows in arb_transitions(),
        members in arb_memberships(),
        block_rows in 1usize..6,
        probes in proptest::collection::vec((-25i64..25, -25i64..25), 1..6),
    ) {
        let mut probes = probes;
        probes.push((i64::MIN, i64::MAX));
        check_against_model(&rows, &members, block_rows, &probes);
    }

    #[test]
    fn streamed_memberships_write_the_same_file(
        rows in arb_transitions(),
        members in arb_memberships(),
        block_rows in 1usize..6,
        chunk in 1usize..7,
    ) {
        // What compaction hands over: sorted, in chunks of any size.
        let (whole, summary) = write(&rows, &members, block_rows);
        let mut sorted = members.clone();
        sorted.sort_unstable_by_key(|r| (r.collection, r.time, r.seq));
        let mut w = SegmentWriter::new(Vec::new(), path()).with_block_rows(block_rows);
        w.push_transitions(&rows).expect("push");
        let (streamed, streamed_summary) = w
            .finish_streamed(|sink| sorted.chunks(chunk).try_for_each(sink))
            .expect("finish");
        prop_assert_eq!(&whole, &streamed);
        prop_assert_eq!(summary, streamed_summary);
        // Out of order is refused, not written.
        if sorted.len() >= 2 {
            let mut w = SegmentWriter::new(Vec::new(), path()).with_block_rows(block_rows);
            w.push_transitions(&rows).expect("push");
            let backwards: Vec<MembershipRow> = sorted.iter().rev().copied().collect();
            prop_assert!(w.finish_streamed(|sink| sink(&backwards)).is_err());
        }
    }

    #[test]
    fn random_bytes_never_panic(file in proptest::collection::vec(any::<u8>(), 0..400), keep in 0usize..400) {
        // Random garbage, and a valid file with a random tail pasted on.
        let _ = read_everything(&file, true);
        let mut spliced = small_segment();
        let cut = keep.min(spliced.len());
        spliced.truncate(cut);
        spliced.extend_from_slice(&file);
        let _ = read_everything(&spliced, true);
    }
}

/// A deterministic pseudo-random stream (splitmix64).
struct Mix(u64);

impl Mix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Rows resembling the demo fleet: `n` transitions of `clients` clients
/// over 90 days, six states, ~5% failed with a skewed mix of ten codes,
/// ~2% arriving late (a later seq than their time order suggests).
pub(crate) fn demo_like_rows(n: usize, clients: u32, time_unit_ms: i64) -> Vec<TransitionRow> {
    demo_like_rows_over(n, clients, time_unit_ms, 90)
}

/// [`demo_like_rows`] over `days` days.
fn demo_like_rows_over(n: usize, clients: u32, time_unit_ms: i64, days: i64) -> Vec<TransitionRow> {
    let mut rng = Mix(42);
    let span = days * 86_400_000i64 / time_unit_ms;
    let start = 1_735_689_600_000i64; // 2025-01-01
    let codes = [
        0x8007_0005u32,
        0x8007_0643,
        0x87D0_0324,
        0x8024_4022,
        0x8007_0002,
        0x8000_4005,
        0x8024_002E,
        0x8007_0070,
        0x8024_0017,
        0x8009_0300,
    ];
    let mut times: Vec<i64> = (0..n)
        .map(|_| start + (rng.below(span as u64) as i64) * time_unit_ms)
        .collect();
    times.sort_unstable();
    let mut late = n as u64;
    let mut rows: Vec<TransitionRow> = times
        .iter()
        .enumerate()
        .map(|(i, &time)| {
            let seq = if rng.below(50) == 0 {
                late += 1;
                late
            } else {
                i as u64
            };
            let roll = rng.below(100);
            let (state, error) = match roll {
                0..=4 => {
                    // Zipf-like: code k with weight 1/(k+1).
                    let mut k = 0;
                    while k < codes.len() - 1 && rng.below(2) == 1 {
                        k += 1;
                    }
                    (State::Failed, Some(ErrorCode(codes[k])))
                }
                5..=44 => (State::Compliant, None),
                45..=74 => (State::InProgress, None),
                75..=84 => (
                    State::NonCompliant,
                    (rng.below(4) == 0).then_some(ErrorCode(0x87D0_0227)),
                ),
                85..=94 => (State::Unknown, None),
                _ => (State::NotStarted, None),
            };
            let deployment = u32::from(rng.below(10) == 0);
            t(
                time,
                seq,
                rng.below(u64::from(clients)) as u32,
                deployment,
                state,
                error.map(|e| e.0),
            )
        })
        .collect();
    rows.sort_unstable_by_key(|r| (r.time, r.seq));
    rows
}

/// Measures size and decode speed on demo-like data. Run with
/// `cargo test -p rollcall-engine --release -- --ignored --nocapture measure_`.
#[test]
#[ignore = "measurement, run by hand in --release"]
fn measure_demo_like_segment() {
    for (unit, label) in [(1, "ms"), (1_000, "s")] {
        let rows = demo_like_rows(1_000_000, 100_000, unit);
        let (file, summary) = write(&rows, &[], BLOCK_ROWS);
        let r = open(&file).expect("open");
        let started = std::time::Instant::now();
        let mut n = 0u64;
        for _ in 0..5 {
            n += r
                .scan_transitions(Timestamp::MIN, Timestamp::MAX, &mut |_| Ok(()))
                .expect("scan");
        }
        let secs = started.elapsed().as_secs_f64();
        let failures = scan_failures(&r, i64::MIN, i64::MAX).len();
        println!(
            "times in {label}: {} rows, {} bytes, {:.3} bytes/transition, {failures} failures, decode {:.1} M rows/s",
            summary.transitions,
            file.len(),
            file.len() as f64 / summary.transitions as f64,
            n as f64 / secs / 1e6
        );
        assert_eq!(scan(&r, i64::MIN, i64::MAX), rows);
    }
}

#[test]
#[ignore = "measurement, run by hand in --release"]
fn measure_columns() {
    for unit in [1, 1_000] {
        let rows = demo_like_rows(1_000_000, 100_000, unit);
        let mut sizes = [0usize; 6];
        let mut buf = Vec::new();
        for chunk in rows.chunks(BLOCK_ROWS) {
            let cols: [Vec<u64>; 6] = [
                chunk.iter().map(|r| r.time.0 as u64).collect(),
                chunk.iter().map(|r| r.seq.0).collect(),
                chunk.iter().map(|r| u64::from(r.client.0)).collect(),
                chunk.iter().map(|r| u64::from(r.deployment.0)).collect(),
                chunk.iter().map(|r| r.state as u64).collect(),
                chunk.iter().map(|r| u64::from(r.error.is_some())).collect(),
            ];
            for (k, c) in cols.iter().enumerate() {
                buf.clear();
                encode_column(c, &mut buf);
                sizes[k] += buf.len();
            }
        }
        let bits: Vec<String> = sizes
            .iter()
            .map(|s| format!("{:.2}", *s as f64 * 8.0 / rows.len() as f64))
            .collect();
        println!("unit {unit}: bits/row time, seq, client, deployment, state, error: {bits:?}");
    }
}

#[test]
#[ignore = "measurement, run by hand in --release"]
fn measure_demo_like_checkpoints() {
    let rows = demo_like_rows(1_000_000, 100_000, 1);
    for interval in [250_000, 1_000_000, 2 << 20] {
        let cps = crate::compaction::checkpoints_over(&rows, 100_000, 2, interval);
        let bytes = crate::checkpoint::encode_checkpoints(&cps);
        let started = std::time::Instant::now();
        let back = crate::checkpoint::decode_checkpoints(&bytes, std::path::Path::new("x")).expect("decode");
        let secs = started.elapsed().as_secs_f64();
        assert_eq!(back.len(), cps.len());
        println!(
            "interval {interval}: {} checkpoints, {} bytes, {:.3} bytes/transition, {:.2} bits/client/checkpoint, decode {:.1} ms",
            cps.len(),
            bytes.len(),
            bytes.len() as f64 / rows.len() as f64,
            bytes.len() as f64 * 8.0 / (cps.len() as f64 * 100_000.0),
            secs * 1e3
        );
    }
}

#[test]
#[ignore = "measurement, run by hand in --release"]
fn measure_decode_parts() {
    let rows = demo_like_rows(1_000_000, 100_000, 1);
    let (file, _) = write(&rows, &[], BLOCK_ROWS);
    let r = open(&file).expect("open");
    r.verify().expect("verify");
    let mut cols = Vec::new();
    for chunk in rows.chunks(BLOCK_ROWS) {
        let mut buf = Vec::new();
        encode_column(
            &chunk.iter().map(|r| u64::from(r.client.0)).collect::<Vec<_>>(),
            &mut buf,
        );
        cols.push((buf, chunk.len()));
    }
    let mut out = Vec::new();
    let started = std::time::Instant::now();
    let mut sum = 0u64;
    for _ in 0..10 {
        for (buf, n) in &cols {
            let (c, _) = columns::Column::parse(buf, *n).expect("parse");
            c.decode(&mut out);
            sum = sum.wrapping_add(out[0]);
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "client column alone: {:.1} M values/s ({sum})",
        10.0 * rows.len() as f64 / secs / 1e6
    );
    let started = std::time::Instant::now();
    let mut n = 0;
    for _ in 0..40 {
        n += r
            .scan_transitions(Timestamp::MIN, Timestamp::MAX, &mut |_| Ok(()))
            .expect("scan");
    }
    let secs = started.elapsed().as_secs_f64();
    println!("full rows: {:.1} M rows/s", n as f64 / secs / 1e6);
}

#[test]
fn reader_is_shareable_across_threads() {
    fn shareable<T: Send + Sync + std::fmt::Debug>() {}
    shareable::<SegmentReader>();
    let rows = demo_like_rows(20_000, 500, 1);
    let (file, _) = write(&rows, &[], 512);
    let r = std::sync::Arc::new(open(&file).expect("open"));
    let handles: Vec<_> = (0..4)
        .map(|k| {
            let r = r.clone();
            let rows = rows.clone();
            std::thread::spawn(move || {
                // Every thread probes and scans; the probe cache is shared.
                for x in rows.iter().skip(k).step_by(97) {
                    assert!(r.contains_transition(&x.identity()).expect("probe"));
                }
                assert_eq!(scan(r.as_ref(), i64::MIN, i64::MAX), rows);
            })
        })
        .collect();
    for h in handles {
        h.join().expect("thread");
    }
}

/// Rows of the committed version-1 files in `engine/test_data/format/`.
fn format_sample() -> (Vec<TransitionRow>, Vec<MembershipRow>) {
    let mut rows = Vec::new();
    for i in 0..40u32 {
        let state = State::ALL[(i % 6) as usize];
        let error = (state == State::Failed).then_some(0x8007_0000 + i % 3);
        rows.push(t(
            1_700_000_000_000 + i64::from(i / 3) * 1_000,
            u64::from(i) + 1,
            i % 7,
            i % 2,
            state,
            error,
        ));
    }
    let members = (0..12u32)
        .map(|i| {
            m(
                1_700_000_000_000 + i64::from(i % 4),
                100 + u64::from(i),
                i % 5,
                i % 3,
                if i % 4 == 3 { Change::Leave } else { Change::Join },
            )
        })
        .collect();
    (rows, members)
}

fn format_file(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("test_data/format")
        .join(name)
}

/// A committed version-1 segment reads back as written, and today's writer
/// still produces it byte for byte. After a deliberate format change, bump
/// the version, keep the old file, and regenerate with
/// `ROLLCALL_UPDATE_FORMAT_FILES=1`.
#[test]
fn committed_v1_segment_still_reads() {
    let (rows, members) = format_sample();
    let (written, _) = write(&rows, &members, 16);
    let path = format_file("segment-v1.seg");
    if std::env::var_os("ROLLCALL_UPDATE_FORMAT_FILES").is_some() {
        // Test-only write; the next build embeds the new file.
        std::fs::write(&path, &written).expect("update committed file");
    }
    let committed = include_bytes!("../../test_data/format/segment-v1.seg").to_vec();
    let r = open(&committed).expect("open v1");
    r.verify().expect("verify v1");
    assert_eq!(scan(&r, i64::MIN, i64::MAX), rows);
    let mut sorted = members.clone();
    sorted.sort_by_key(|x| (x.collection, x.time, x.seq));
    assert_eq!(scan_members(&r, None, i64::MAX), sorted);
    assert!(
        written == committed,
        "the writer's output changed; see this test's doc"
    );
}

#[test]
fn committed_checkpoint_files_still_read() {
    use crate::checkpoint::{Checkpoint, CheckpointFileWriter, CheckpointSet, decode_checkpoints};
    use crate::rollup::FailureRollup;
    use crate::run::MemRun;
    use std::sync::Arc;
    let (rows, members) = format_sample();
    let cps: Vec<Checkpoint> = crate::compaction::checkpoints_over(&rows, 7, 2, 10);
    // Version 1 (checkpoints only) still reads, and has no rollup.
    let path = format_file("checkpoints-v1.ckp");
    let v1 = include_bytes!("../../test_data/format/checkpoints-v1.ckp").to_vec();
    assert_eq!(decode_checkpoints(&v1, &path).expect("decode v1"), cps);
    let set = CheckpointSet::open(crate::bytes::owned(v1), path).expect("open v1");
    assert!(set.rollup().expect("v1 rollup").is_none());
    // Version 2: the checkpoints, then the failure rollup; no membership
    // snapshots.
    let collections = members
        .iter()
        .map(|m| m.collection.0 as usize + 1)
        .max()
        .unwrap_or(0);
    let run: Arc<dyn Run> = Arc::new(MemRun::new(rows.clone(), members.clone()));
    let rollup = FailureRollup::build(&[Arc::clone(&run)], 7, collections).expect("rollup");
    let path = format_file("checkpoints-v2.ckp");
    let v2 = include_bytes!("../../test_data/format/checkpoints-v2.ckp").to_vec();
    assert_eq!(decode_checkpoints(&v2, &path).expect("decode v2"), cps);
    let set = CheckpointSet::open(crate::bytes::owned(v2.clone()), path).expect("open v2");
    assert!(set.rollup().expect("v2 rollup") == Some(rollup));
    let rollup = FailureRollup::build(&[Arc::clone(&run)], 7, collections).expect("rollup");
    assert!(set.member_snapshots().is_empty());
    // Version 3: the checkpoints, the failure rollup, then membership
    // snapshots. Version 5 writes the same records under a header with the
    // chain's cut times. The writer's output is pinned: a change must come
    // with a new format version (or ROLLCALL_UPDATE_FORMAT_FILES=1 when the
    // change is deliberate and readers of the committed file still agree).
    let mut w = CheckpointFileWriter::new();
    for cp in &cps {
        w.push(cp);
    }
    w.push_rollup(&rollup);
    let mut snapshots = Vec::new();
    crate::members::build_member_snapshots(&[run], 7, collections, 2, None, |m| {
        w.push_members(&m);
        snapshots.push(m);
    })
    .expect("membership snapshots");
    assert!(!snapshots.is_empty());
    let written = w.finish();
    let v5_path = format_file("checkpoints-v5.ckp");
    if std::env::var_os("ROLLCALL_UPDATE_FORMAT_FILES").is_some() {
        std::fs::write(&v5_path, &written).expect("update committed file");
    }
    let v5 = include_bytes!("../../test_data/format/checkpoints-v5.ckp").to_vec();
    assert!(written == v5, "the checkpoint encoder's output changed");
    // The version 5 file holds what the version 3 one does.
    let path = format_file("checkpoints-v3.ckp");
    let v3 = include_bytes!("../../test_data/format/checkpoints-v3.ckp").to_vec();
    assert_eq!(v5.len(), v3.len() + 24, "the same records under a longer header");
    assert_eq!(v5[44..], v3[20..]);
    assert_eq!(decode_checkpoints(&v5, &v5_path).expect("decode v5"), cps);
    assert_eq!(decode_checkpoints(&v3, &path).expect("decode v3"), cps);
    let set = CheckpointSet::open(crate::bytes::owned(v3.clone()), path).expect("open v3");
    assert_eq!(set.rollup().expect("v3 rollup"), Some(rollup));
    // Each snapshot equals the replay of its collection's changes up to its time.
    let listed = set.member_snapshots();
    assert_eq!(listed.len(), snapshots.len());
    for (i, (collection, time, clients)) in listed.into_iter().enumerate() {
        let mut expected = vec![0u64; 1];
        let mut log: Vec<_> = members
            .iter()
            .filter(|m| m.collection == collection && m.time <= time)
            .collect();
        log.sort_by_key(|m| (m.time, m.seq));
        for m in log {
            crate::members::apply_change(&mut expected, m);
        }
        assert_eq!(set.members(i, clients).expect("snapshot").1, expected);
    }
}

/// The density of 50M transitions of 1M clients over 90 days, on a tenth of
/// the days: 5M rows, 1M clients, 9 days.
#[test]
#[ignore = "measurement, run by hand in --release"]
fn measure_target_density() {
    for (unit, label) in [(1, "ms"), (1_000, "s")] {
        let rows = demo_like_rows_over(5_000_000, 1_000_000, unit, 9);
        let (file, summary) = write(&rows, &[], BLOCK_ROWS);
        println!(
            "target density, times in {label}: {:.3} bytes/transition",
            file.len() as f64 / summary.transitions as f64
        );
    }
}
