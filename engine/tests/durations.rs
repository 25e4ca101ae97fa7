//! `DURATIONS` has three ways to find each client's first `SINCE` and its
//! first `UNTIL` after it: one in-order pass over the base (cut into time
//! windows read side by side, then merged); that pass for the clients no
//! delta row touches plus the touched clients' own rows sorted, when delta
//! rows in range touch at most an eighth of the clients; and order-free
//! minima over `(time, tier, order)` when they touch more. All must give
//! the same answer for the same rows, ties at one time included (decided
//! by ingest order), whichever mix of base, delta and memtable holds them
//! (with 300 clients, a delta part touches fewer or more than 37 of them
//! from case to case, so both delta paths are taken).

use proptest::prelude::*;
use rollcall_engine::{Batch, Change, DurationsReport, Options, Snapshot, State, Store, Timestamp};

const CLIENTS: u16 = 300;

#[derive(Debug, Clone)]
enum Op {
    Transition {
        minute: i64,
        client: u16,
        pilot: bool,
        state: u8,
    },
    Membership {
        minute: i64,
        client: u16,
        join: bool,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        // Few distinct minutes, so many rows share a time.
        6 => (0i64..120, 0..CLIENTS, proptest::bool::weighted(0.2), 0u8..6).prop_map(
            |(minute, client, pilot, state)| Op::Transition { minute, client, pilot, state }
        ),
        1 => (0i64..120, 0..CLIENTS, proptest::bool::weighted(0.8))
            .prop_map(|(minute, client, join)| Op::Membership { minute, client, join }),
    ]
}

fn batch(ops: &[Op]) -> Batch {
    let mut b = Batch::new();
    for op in ops {
        match *op {
            Op::Transition {
                minute,
                client,
                pilot,
                state,
            } => b
                .push_transition(
                    Timestamp(minute * 60_000),
                    &format!("PC-{client}"),
                    if pilot { "pilot" } else { "production" },
                    State::ALL[usize::from(state)],
                    None,
                )
                .unwrap(),
            Op::Membership { minute, client, join } => b
                .push_membership(
                    Timestamp(minute * 60_000),
                    &format!("PC-{client}"),
                    "Ring",
                    if join { Change::Join } else { Change::Leave },
                )
                .unwrap(),
        }
    }
    b
}

/// Every `DURATIONS` question asked of `snap`, in one list.
fn answers(snap: &Snapshot) -> Vec<(String, DurationsReport)> {
    let mut out = Vec::new();
    let ring = snap.collection_id("Ring");
    for deployment in ["production", "pilot"] {
        let Some(d) = snap.deployment_id(deployment) else {
            continue;
        };
        for (from, to) in [(0, 120), (10, 60), (30, 31), (-5, 200)] {
            for (since, until) in [
                (State::InProgress, State::Compliant),
                (State::Failed, State::Compliant),
                (State::NotStarted, State::Failed),
                (State::Unknown, State::Unknown),
            ] {
                for collection in [None, ring] {
                    let (f, t) = (Timestamp(from * 60_000), Timestamp(to * 60_000));
                    let report = snap.durations(d, collection, f, t, since, until).unwrap();
                    out.push((
                        format!("{deployment} {from}..{to} {since:?}->{until:?} {collection:?}"),
                        report,
                    ));
                }
            }
        }
    }
    out
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
    fn base_pass_and_minima_agree(
        ops in proptest::collection::vec(op(), 1..1500),
        split in 0usize..1500,
    ) {
        let split = split.min(ops.len());
        let opts = || Options { checkpoint_interval_rows: 64, ..Options::default() };

        // All rows in the base (several runs: one per 4 checkpoint
        // intervals): the in-order pass.
        let a_dir = tempfile::tempdir().unwrap();
        let mut a = Store::create(a_dir.path(), opts()).unwrap();
        a.append(&batch(&ops[..split])).unwrap();
        a.append(&batch(&ops[split..])).unwrap();
        a.compact().unwrap();
        let want = answers(&a.snapshot());
        prop_assert!(want.iter().any(|(_, r)| r.started > 0) || ops.len() < 50);

        // The first part in the base, the rest in a delta segment and then
        // in the memtable: the minima.
        let b_dir = tempfile::tempdir().unwrap();
        let mut b = Store::create(b_dir.path(), opts()).unwrap();
        b.append(&batch(&ops[..split])).unwrap();
        b.compact().unwrap();
        b.append(&batch(&ops[split..])).unwrap();
        let in_memtable = answers(&b.snapshot());
        b.flush().unwrap();
        let in_delta = answers(&b.snapshot());
        for ((what, w), ((_, m), (_, d))) in want.iter().zip(in_memtable.iter().zip(&in_delta)) {
            prop_assert_eq!(w, m, "memtable: {}", what);
            prop_assert_eq!(w, d, "delta segment: {}", what);
        }
    }
}
