//! The failure rollup (hourly counts over the compacted base) must give the
//! same answers as sweeping rows, in every state a store can be in: right
//! after compaction, with delta segments and memtable rows on top, with late
//! failures, and with membership changes that arrive after compaction (where
//! the rollup must step aside for collection queries).

use proptest::prelude::*;
use rollcall_engine::{Batch, Change, ErrorCode, Options, Snapshot, State, Store, Timestamp};

const HOUR: i64 = 3_600_000;

#[derive(Debug, Clone)]
enum Op {
    Transition {
        minute: i64,
        client: u8,
        deployment: u8,
        state: u8,
        error: Option<u8>,
    },
    Membership {
        minute: i64,
        client: u8,
        collection: u8,
        join: bool,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0i64..(12 * 60), 0u8..24, 0u8..2, 0u8..6, proptest::option::of(0u8..4)).prop_map(
            |(minute, client, deployment, state, error)| Op::Transition {
                minute,
                client,
                deployment,
                // Mostly failures, so every bucket has some.
                state: if state < 3 { 4 } else { state },
                error,
            }
        ),
        1 => (0i64..(12 * 60), 0u8..24, 0u8..3, any::<bool>()).prop_map(|(minute, client, collection, join)| {
            Op::Membership {
                minute,
                client,
                collection,
                join,
            }
        }),
    ]
}

fn batch(ops: &[Op]) -> Batch {
    let mut b = Batch::new();
    for op in ops {
        match *op {
            Op::Transition {
                minute,
                client,
                deployment,
                state,
                error,
            } => b
                .push_transition(
                    // Some rows land exactly on an hour boundary.
                    Timestamp(minute * 60_000 + i64::from(client % 2) * 7),
                    &format!("PC-{client}"),
                    ["production", "pilot"][usize::from(deployment)],
                    State::ALL[usize::from(state)],
                    error.map(|e| ErrorCode(0x8007_0000 + u32::from(e))),
                )
                .unwrap(),
            Op::Membership {
                minute,
                client,
                collection,
                join,
            } => b
                .push_membership(
                    Timestamp(minute * 60_000),
                    &format!("PC-{client}"),
                    &format!("C{collection}"),
                    if join { Change::Join } else { Change::Leave },
                )
                .unwrap(),
        }
    }
    b
}

/// Every aligned failure query on `snap` answers like the row sweep.
fn assert_rollup_agrees(snap: &Snapshot, context: &str) {
    let sweep = snap.without_rollup();
    let mut collections: Vec<Option<rollcall_engine::CollectionId>> = vec![None];
    collections.extend((0..3).map(|c| snap.collection_id(&format!("C{c}"))));
    for deployment in ["production", "pilot"] {
        let Some(d) = snap.deployment_id(deployment) else {
            continue;
        };
        for &(from_h, to_h, every_h) in &[(0, 12, 1), (-2, 14, 3), (3, 7, 2), (5, 6, 1), (0, 12, 12)] {
            let (from, to, every) = (Timestamp(from_h * HOUR), Timestamp(to_h * HOUR), every_h * HOUR);
            for &c in &collections {
                assert_eq!(
                    snap.failure_histogram(d, c, from, to, every).unwrap(),
                    sweep.failure_histogram(d, c, from, to, every).unwrap(),
                    "{context}: {deployment} {c:?} {from_h}..{to_h} every {every_h}h"
                );
                assert_eq!(
                    snap.failure_histogram_by_error(d, c, from, to, every).unwrap(),
                    sweep.failure_histogram_by_error(d, c, from, to, every).unwrap(),
                    "{context}: by error, {deployment} {c:?} {from_h}..{to_h} every {every_h}h"
                );
            }
        }
        // Buckets at listed edges (calendar days across a DST change look
        // like this): on whole hours (the rollup's path) and off them (the
        // sweep's), each equal to the sweep and to the sum of its pieces
        // from an evenly spaced histogram.
        for (edges_min, to_min) in [
            (&[0, 60, 240, 300, 540][..], 720),
            (&[-120, 0, 660][..], 840),
            (&[30, 90, 91, 400][..], 700),
        ] {
            let edges: Vec<Timestamp> = edges_min.iter().map(|m| Timestamp(m * 60_000)).collect();
            let to = Timestamp(to_min * 60_000);
            let fine = snap.failure_histogram(d, None, edges[0], to, 60_000).unwrap();
            let want: Vec<(Timestamp, u64)> = edges
                .iter()
                .enumerate()
                .map(|(k, &e)| {
                    let end = edges.get(k + 1).copied().unwrap_or(to);
                    let n = fine
                        .iter()
                        .filter(|(t, _)| *t >= e && *t < end)
                        .map(|(_, n)| n)
                        .sum();
                    (e, n)
                })
                .collect();
            for &c in &collections {
                let got = snap.failure_histogram_at(d, c, &edges, to).unwrap();
                assert_eq!(
                    got,
                    sweep.failure_histogram_at(d, c, &edges, to).unwrap(),
                    "{context}: at edges {edges_min:?}, {deployment} {c:?}"
                );
                if c.is_none() {
                    assert_eq!(
                        got, want,
                        "{context}: at edges {edges_min:?} vs pieces, {deployment}"
                    );
                }
                assert_eq!(
                    snap.failure_histogram_by_error_at(d, c, &edges, to).unwrap(),
                    sweep.failure_histogram_by_error_at(d, c, &edges, to).unwrap(),
                    "{context}: by error at edges {edges_min:?}, {deployment} {c:?}"
                );
            }
        }
    }
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(32)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn the_rollup_answers_like_the_sweep(
        first in proptest::collection::vec(op(), 1..120),
        later in proptest::collection::vec(op(), 0..40),
        more in proptest::collection::vec(op(), 0..20),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let opts = Options {
            memtable_max_rows: 16,
            checkpoint_interval_rows: 8,
            membership_snapshot_rows: 3,
            ..Options::default()
        };
        let mut store = Store::create(dir.path(), opts).unwrap();
        store.append(&batch(&first)).unwrap();
        store.flush().unwrap();
        store.compact().unwrap();
        let snap = store.snapshot();
        assert_rollup_agrees(&snap, "after compaction");
        // With nothing outside the base, aligned failure queries read no
        // rows at all: the rollup answered them.
        if let Some(d) = snap.deployment_id("production") {
            let probe = snap.fork();
            probe.failure_histogram(d, None, Timestamp(0), Timestamp(12 * HOUR), HOUR).unwrap();
            prop_assert_eq!(probe.probe().rows_scanned, 0);
            let sweep = snap.without_rollup();
            sweep.failure_histogram(d, None, Timestamp(0), Timestamp(12 * HOUR), HOUR).unwrap();
            let failures = first.iter().any(|o| matches!(o, Op::Transition { state: 4, .. }));
            prop_assert_eq!(sweep.probe().rows_scanned > 0, failures);
        }
        // Late rows and membership changes, some flushed, some in memory.
        store.append(&batch(&later)).unwrap();
        store.flush().unwrap();
        store.append(&batch(&more)).unwrap();
        assert_rollup_agrees(&store.snapshot(), "with delta rows");
        store.flush().unwrap();
        store.compact().unwrap();
        assert_rollup_agrees(&store.snapshot(), "after the second compaction");
        // Reopened, the rollup comes from the checkpoint file.
        drop(store);
        let store = Store::open_read_only(dir.path()).unwrap();
        assert_rollup_agrees(&store.snapshot(), "after reopening");
        prop_assert!(store.check().unwrap().damage.is_empty());
    }
}
