//! Property test: random appends (late rows, exact duplicates, same-ms ties,
//! joins and leaves, two deployments), flushes, compactions and reopens,
//! checked after every step against the plain model of SPEC.md for every
//! query function.

use proptest::prelude::*;
use rollcall_engine::{Batch, Change, ErrorBucket, Options, Snapshot, State, Store};
use rollcall_tests::model::{Model, ModelBatch, ModelMembership, ModelTransition, code, ts};

const CLIENTS: &[&str] = &["pc-0", "pc-1", "pc-2", "PC-3", "ü-4"];
const COLLECTIONS: &[&str] = &["All Desktops", "Pilot", "b"];
const DEPLOYMENTS: &[&str] = &["production", "preproduction"];
const ERRORS: &[Option<u32>] = &[None, Some(5), Some(0x8007_0005)];
const HORIZON: i64 = 24;

/// Whether `Store::open` brings back what was written (durable engine).
const REOPEN_SUPPORTED: bool = true;

#[derive(Debug, Clone)]
enum Op {
    Append(ModelBatch),
    Flush,
    Compact,
    Reopen,
}

fn transition() -> impl Strategy<Value = ModelTransition> {
    (
        0..HORIZON,
        0..CLIENTS.len(),
        prop_oneof![4 => Just(0usize), 1 => Just(1usize)],
        0..6u8,
        0..ERRORS.len(),
    )
        .prop_map(|(time, c, d, s, e)| ModelTransition {
            time,
            client: CLIENTS[c].to_owned(),
            deployment: DEPLOYMENTS[d].to_owned(),
            state: State::from_index(s).unwrap_or(State::Unknown),
            error: ERRORS[e],
        })
}

fn membership() -> impl Strategy<Value = ModelMembership> {
    (
        0..HORIZON,
        0..CLIENTS.len(),
        0..COLLECTIONS.len(),
        prop_oneof![3 => Just(Change::Join), 1 => Just(Change::Leave)],
    )
        .prop_map(|(time, c, k, change)| ModelMembership {
            time,
            client: CLIENTS[c].to_owned(),
            collection: COLLECTIONS[k].to_owned(),
            change,
        })
}

fn batch() -> impl Strategy<Value = ModelBatch> {
    (
        prop::collection::vec(transition(), 0..8),
        prop::collection::vec(membership(), 0..5),
    )
        .prop_map(|(mut transitions, memberships)| {
            // Re-send an earlier row now and then: an in-batch exact duplicate.
            if transitions.len() > 2 {
                let again = transitions[0].clone();
                transitions.push(again);
            }
            ModelBatch {
                transitions,
                memberships,
            }
        })
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => batch().prop_map(Op::Append),
        2 => Just(Op::Flush),
        2 => Just(Op::Compact),
        2 => Just(Op::Reopen),
    ]
}

fn to_batch(m: &ModelBatch) -> Batch {
    let mut b = Batch::new();
    for t in &m.transitions {
        b.push_transition(ts(t.time), &t.client, &t.deployment, t.state, code(t.error))
            .expect("valid names");
    }
    for mm in &m.memberships {
        b.push_membership(ts(mm.time), &mm.client, &mm.collection, mm.change)
            .expect("valid names");
    }
    b
}

fn options() -> Options {
    Options {
        memtable_max_rows: 7,
        checkpoint_interval_rows: 3,
        membership_snapshot_rows: 2,
        ..Options::default()
    }
}

/// Compares every query of the engine with the model (the statistics only
/// when `exact_stats`: an `AS KNOWN AT` view counts upper bounds).
fn check_all(snap: &Snapshot, model: &Model, exact_stats: bool) -> Result<(), TestCaseError> {
    let mut collections: Vec<Option<&str>> = vec![None];
    collections.extend(COLLECTIONS.iter().map(|c| Some(*c)));
    for dep in DEPLOYMENTS {
        let Some(dep_id) = snap.deployment_id(dep) else {
            prop_assert!(
                model.transitions.iter().all(|t| t.deployment != *dep),
                "deployment {dep} missing"
            );
            continue;
        };
        for at in [-1, 0, 7, 18, 30] {
            for stale in [None, Some(5)] {
                let got = snap
                    .state_counts_by_collection(dep_id, ts(at), stale)
                    .expect("by collection");
                let mut names = snap.collections();
                names.sort_unstable_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
                let want: Vec<_> = names
                    .into_iter()
                    .map(|c| {
                        let counts = model.state_counts(dep, Some(&c), at, stale);
                        (c, counts)
                    })
                    .collect();
                prop_assert_eq!(
                    got,
                    want,
                    "STATES FOR {} BY COLLECTION AT {} STALE {:?}",
                    dep,
                    at,
                    stale
                );
            }
        }
        for coll in &collections {
            let coll_id = match coll {
                Some(c) => match snap.collection_id(c) {
                    Some(id) => Some(id),
                    None => {
                        prop_assert!(!model.collections().contains(*c), "collection {c} missing");
                        continue;
                    }
                },
                None => None,
            };
            for at in [-1, 0, 3, 7, 12, 18, 23, 30] {
                for stale in [None, Some(0), Some(5)] {
                    let got = snap
                        .state_counts(dep_id, coll_id, ts(at), stale)
                        .expect("state_counts");
                    let want = model.state_counts(dep, *coll, at, stale);
                    prop_assert_eq!(
                        got,
                        want,
                        "STATES FOR {} IN {:?} AT {} STALE {:?}",
                        dep,
                        coll,
                        at,
                        stale
                    );
                }
                let got: Vec<(String, State, Option<i64>)> = snap
                    .clients_at(dep_id, coll_id, ts(at), None, None)
                    .expect("clients_at")
                    .into_iter()
                    .map(|r| (r.client, r.state, r.since.map(|t| t.0)))
                    .collect();
                prop_assert_eq!(
                    got,
                    model.clients(dep, *coll, at, None),
                    "CLIENTS {} {:?} {}",
                    dep,
                    coll,
                    at
                );
            }
            for stale in [None, Some(4)] {
                let series = snap
                    .state_series(dep_id, coll_id, ts(-1), ts(HORIZON + 2), 3, stale)
                    .expect("series");
                let want: Vec<_> = (-1..HORIZON + 2)
                    .step_by(3)
                    .map(|t| (ts(t), model.state_counts(dep, *coll, t, stale)))
                    .collect();
                prop_assert_eq!(series, want, "series {} {:?} stale {:?}", dep, coll, stale);
            }
            let hist = snap
                .failure_histogram(dep_id, coll_id, ts(0), ts(HORIZON), 5)
                .expect("histogram");
            let want: Vec<_> = model
                .failure_histogram(dep, *coll, 0, HORIZON, 5)
                .into_iter()
                .map(|(b, n)| (ts(b), n))
                .collect();
            prop_assert_eq!(hist, want, "FAILURES {} {:?}", dep, coll);
            let by_error: Vec<(i64, Option<u32>, u64)> = snap
                .failure_histogram_by_error(dep_id, coll_id, ts(1), ts(HORIZON), 7)
                .expect("by error")
                .into_iter()
                .map(
                    |ErrorBucket {
                         bucket,
                         error,
                         failures,
                     }| (bucket.0, error.map(|e| e.0), failures),
                )
                .collect();
            prop_assert_eq!(by_error, model.failures_by_error(dep, *coll, 1, HORIZON, 7));
        }
    }
    check_rollout(snap, model)?;
    for client in model.all_client_names() {
        let id = snap.client_id(&client).expect("known client");
        let got: Vec<(i64, String, State, Option<u32>)> = snap
            .client_history(id, None, None)
            .expect("history")
            .into_iter()
            .map(|h| (h.time.0, h.deployment, h.state, h.error.map(|e| e.0)))
            .collect();
        prop_assert_eq!(got, model.history(&client, None, None), "HISTORY {}", client);
    }
    if exact_stats {
        let stats = snap.stats();
        prop_assert_eq!(stats.transitions, model.transitions.len() as u64);
        prop_assert_eq!(stats.membership_changes, model.memberships.len() as u64);
    }
    Ok(())
}

/// FLOW and DURATIONS (SPEC 7.3, 7.4) against the model, for every
/// deployment and collection, over ranges that start before, at and after
/// the data.
fn check_rollout(snap: &rollcall_engine::Snapshot, model: &Model) -> Result<(), TestCaseError> {
    let mut collections: Vec<Option<&str>> = vec![None];
    collections.extend(COLLECTIONS.iter().map(|c| Some(*c)));
    for dep in DEPLOYMENTS {
        let Some(dep_id) = snap.deployment_id(dep) else {
            continue;
        };
        for coll in &collections {
            let coll_id = match coll {
                Some(c) => match snap.collection_id(c) {
                    Some(id) => Some(id),
                    None => continue,
                },
                None => None,
            };
            for (from, to) in [(-1, 30), (0, 12), (5, 18), (12, 13)] {
                let got = snap.state_flow(dep_id, coll_id, ts(from), ts(to)).expect("flow");
                prop_assert_eq!(
                    got,
                    model.flow(dep, *coll, from, to),
                    "FLOW FOR {} IN {:?} FROM {} TO {}",
                    dep,
                    coll,
                    from,
                    to
                );
                for (since, until) in [
                    (State::InProgress, State::Compliant),
                    (State::Failed, State::Compliant),
                    (State::Failed, State::Failed),
                ] {
                    let got = snap
                        .durations(dep_id, coll_id, ts(from), ts(to), since, until)
                        .expect("durations");
                    let (started, reached) = model.durations(dep, *coll, from, to, since, until);
                    prop_assert_eq!(
                        (got.started, got.reached_ms),
                        (started, reached),
                        "DURATIONS FOR {} IN {:?} FROM {} TO {} SINCE {:?} UNTIL {:?}",
                        dep,
                        coll,
                        from,
                        to,
                        since,
                        until
                    );
                }
            }
        }
    }
    Ok(())
}

fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = Store::create(dir.path(), options()).expect("create");
    let mut model = Model::default();
    for (step, op) in ops.into_iter().enumerate() {
        match op {
            Op::Append(b) => {
                // Commit times 10, 20, ... by step; every fifth step commits
                // without one (it is known from the next timed commit on).
                let at = (step % 5 != 4).then_some(10 * (step as i64 + 1));
                let dups = model.append_at(&b, at);
                let report = match at {
                    Some(t) => store.append_at(&to_batch(&b), ts(t)),
                    None => store.append(&to_batch(&b)),
                }
                .expect("append");
                prop_assert_eq!(report.duplicates, dups, "duplicates of {:?}", b);
            }
            Op::Flush => store.flush().expect("flush"),
            Op::Compact => {
                store.compact().expect("compact");
            }
            Op::Reopen => {
                if REOPEN_SUPPORTED {
                    drop(store);
                    store = Store::open(dir.path(), options()).expect("reopen");
                }
            }
        }
        let snap = store.snapshot();
        check_all(&snap, &model, true)?;
        // AS KNOWN AT before, at, and between the commit times so far.
        for t in [
            5,
            10 * (step as i64 + 1),
            10 * (step as i64) + 5,
            10 * (step as i64 / 2) + 10,
        ] {
            check_all(&snap.as_known_at(ts(t)), &model.known_at(t), false)?;
        }
    }
    Ok(())
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn engine_matches_model(ops in prop::collection::vec(op(), 1..12)) {
        run(ops)?;
    }
}

/// A hand-picked case: a tie on the same millisecond where a duplicate of the
/// first row arrives after a different row — the duplicate is ignored, so the
/// second row keeps winning the tie.
#[test]
fn duplicate_does_not_win_a_tie() {
    let t = |state| ModelTransition {
        time: 5,
        client: "pc-0".into(),
        deployment: "production".into(),
        state,
        error: None,
    };
    let ops = vec![
        Op::Append(ModelBatch {
            transitions: vec![t(State::Failed), t(State::Compliant)],
            memberships: vec![],
        }),
        Op::Flush,
        Op::Append(ModelBatch {
            transitions: vec![t(State::Failed)],
            memberships: vec![],
        }),
        Op::Compact,
    ];
    run(ops).expect("engine matches model");
}
