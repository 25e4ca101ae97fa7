//! Every query of the performance issue, on the engine's typed API, at each
//! fleet size of `ROLLCALL_BENCH_CLIENTS` (default 10 000 clients).
//!
//! `ROLLCALL_BENCH_CLIENTS=1000000 cargo bench -p rollcall-benches --bench queries`

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use rollcall_benches::{config, fleet_store, sizes};
use rollcall_engine::{State, Store, Timestamp};

const DAY: i64 = 86_400_000;
const HOUR: i64 = 3_600_000;

fn queries(c: &mut Criterion) {
    let mut group = c.benchmark_group("queries");
    group.sample_size(20);
    for clients in sizes() {
        let dir = fleet_store(clients);
        let store = Store::open_read_only(&dir).expect("open bench store");
        let snap = store.snapshot();
        let prod = snap.deployment_id("production").expect("production");
        let coll = snap.collection_id("All Desktops");
        let now = config(clients).now;
        let at = Timestamp(now.0 - DAY);
        group.bench_with_input(
            BenchmarkId::new("states_in_collection_at", clients),
            &at,
            |b, &at| b.iter(|| snap.state_counts(prod, coll, at, None).expect("query")),
        );
        group.bench_with_input(
            BenchmarkId::new("states_by_collection_at", clients),
            &at,
            |b, &at| b.iter(|| snap.state_counts_by_collection(prod, at, None).expect("query")),
        );
        group.bench_with_input(
            BenchmarkId::new("states_series_90d_1d", clients),
            &now,
            |b, &now| {
                b.iter(|| {
                    snap.state_series(prod, coll, Timestamp(now.0 - 90 * DAY), now, DAY, None)
                        .expect("query")
                })
            },
        );
        group.bench_with_input(
            BenchmarkId::new("failures_in_collection_30d_1h", clients),
            &now,
            |b, &now| {
                b.iter(|| {
                    snap.failure_histogram(prod, coll, Timestamp(now.0 - 30 * DAY), now, HOUR)
                        .expect("query")
                })
            },
        );
        group.bench_with_input(
            BenchmarkId::new("failures_by_error_90d_1d", clients),
            &now,
            |b, &now| {
                b.iter(|| {
                    snap.failure_histogram_by_error(prod, None, Timestamp(now.0 - 90 * DAY), now, DAY)
                        .expect("query")
                })
            },
        );
        group.bench_with_input(
            BenchmarkId::new("clients_failed_in_collection", clients),
            &at,
            |b, &at| {
                b.iter(|| {
                    snap.clients_at(prod, coll, at, Some(&[State::Failed]), None)
                        .expect("query")
                })
            },
        );
        group.bench_with_input(
            BenchmarkId::new("open_and_first_query", clients),
            &at,
            |b, &at| {
                b.iter(|| {
                    let store = Store::open_read_only(&dir).expect("open");
                    let snap = store.snapshot();
                    let coll = snap.collection_id("All Desktops");
                    snap.state_counts(prod, coll, at, None).expect("query")
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, queries);
criterion_main!(benches);
