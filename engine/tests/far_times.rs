//! Regression (issue 18): one row with a far-off time made compaction
//! allocate without bound — the failure rollup kept a dense hourly series
//! from the earliest to the latest failure, so rows at 0000-01-01 and
//! 9999-12-31 (or one time in epoch microseconds) meant 87 million hours,
//! gigabytes in memory and in the checkpoint file. Every structure
//! compaction builds must stay bounded by the data, and answers must not
//! change.

use proptest::prelude::*;
use rollcall_engine::{Batch, Change, Options, State, Store, Timestamp};

const HOUR: i64 = 3_600_000;
/// 0000-01-01T00:00:00Z and 9999-12-31T23:59:59Z.
const EARLIEST: i64 = -62_167_219_200_000;
const LATEST: i64 = 253_402_300_799_000;

fn store_with_failures(times: &[i64]) -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::create(dir.path(), Options::default()).unwrap();
    let mut b = Batch::new();
    for (i, &t) in times.iter().enumerate() {
        let c = format!("PC-{i}");
        b.push_membership(Timestamp(EARLIEST), &c, "Ring", Change::Join)
            .unwrap();
        b.push_transition(Timestamp(t), &c, "production", State::Failed, None)
            .unwrap();
    }
    store.append(&b).unwrap();
    (dir, store)
}

/// A histogram: (bucket start, failures).
type Histogram = Vec<(Timestamp, u64)>;

/// The same histogram from the rollup path (where it can answer) and from
/// the row sweep.
fn histograms(store: &Store, from: i64, to: i64, every: i64) -> (Histogram, Histogram) {
    let snap = store.snapshot();
    let dep = snap.deployment_id("production").unwrap();
    let ring = snap.collection_id("Ring");
    let fast = snap
        .failure_histogram(dep, ring, Timestamp(from), Timestamp(to), every)
        .unwrap();
    let swept = snap
        .without_rollup()
        .failure_histogram(dep, ring, Timestamp(from), Timestamp(to), every)
        .unwrap();
    (fast, swept)
}

#[test]
fn times_at_both_ends_of_the_range_compact_small_and_answer_the_same() {
    let (_d, mut store) = store_with_failures(&[EARLIEST, LATEST, 1_790_590_979_333_000, 1_767_225_600_000]);
    let report = store.compact().unwrap();
    assert!(report.checkpoints <= 4, "{report:?}");
    let bytes = store.stats().bytes_on_disk;
    assert!(bytes < 1 << 20, "the store takes {bytes} bytes after compaction");
    // Whole-hour buckets around each failure: the rollup path (if any) and
    // the row sweep agree.
    for t in [EARLIEST, LATEST, 1_767_225_600_000] {
        let from = t.div_euclid(HOUR) * HOUR - 24 * HOUR;
        let (fast, swept) = histograms(&store, from, from + 48 * HOUR, HOUR);
        assert_eq!(fast, swept);
        assert_eq!(fast.iter().map(|(_, n)| n).sum::<u64>(), 1, "around {t}");
    }
    // A reopened store answers the same, without a dense rebuild.
    let dir = store.path().to_path_buf();
    drop(store);
    let store = Store::open_read_only(&dir).unwrap();
    let (fast, swept) = histograms(
        &store,
        LATEST.div_euclid(HOUR) * HOUR,
        LATEST.div_euclid(HOUR) * HOUR + HOUR,
        HOUR,
    );
    assert_eq!(fast, swept);
}

/// Found by the proptest below in CI: two failures 73 years apart (hours
/// 5,170,000 and 5,810,000 after the epoch, one collection) spanned fewer
/// hourly cells than the first budget (8M), so compaction wrote a 10 MB
/// dense rollup for two rows. The budget is now 2^18 cells.
#[test]
fn two_failures_decades_apart_keep_the_store_small() {
    let span = 24 * 365 * 3000 * HOUR;
    let times: Vec<i64> = [0.220_908_033_591_331_52f64, 0.196_589_827_614_088_22]
        .iter()
        .map(|f| (f * span as f64) as i64)
        .collect();
    let (_d, mut store) = store_with_failures(&times);
    store.compact().unwrap();
    let bytes = store.stats().bytes_on_disk;
    assert!(bytes < 4 << 20, "the store takes {bytes} bytes after compaction");
    let from = times[1].div_euclid(HOUR) * HOUR;
    let (fast, swept) = histograms(&store, from, from + 2000 * HOUR, HOUR);
    assert_eq!(fast, swept);
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(24),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Failures spread over random spans, from a day to the whole range:
    /// compaction stays small and every hourly answer equals the sweep.
    #[test]
    fn random_spans_stay_bounded_and_exact(
        base in EARLIEST..LATEST,
        span_hours in prop::sample::select(vec![24i64, 24 * 90, 24 * 365 * 30, 24 * 365 * 3000]),
        fractions in prop::collection::vec(0.0f64..1.0, 1..20),
    ) {
        let span = span_hours * HOUR;
        let base = base.min(LATEST - span);
        let times: Vec<i64> = fractions.iter().map(|f| base + (f * span as f64) as i64).collect();
        let (_d, mut store) = store_with_failures(&times);
        store.compact().unwrap();
        prop_assert!(store.stats().bytes_on_disk < 4 << 20, "{} bytes", store.stats().bytes_on_disk);
        let from = base.div_euclid(HOUR) * HOUR;
        // A window of at most 2000 hours at the start of the span.
        let to = from + span_hours.min(2000) * HOUR;
        let (fast, swept) = histograms(&store, from, to, HOUR);
        prop_assert_eq!(fast, swept);
    }
}
