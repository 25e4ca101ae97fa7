//! Durable ingest of the fleet into a fresh store (one transaction), and
//! compaction, at each size of `ROLLCALL_BENCH_INGEST_CLIENTS` (default 2 000).

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rollcall_benches::{config, ingest_fleet, sizes_from};
use rollcall_engine::{Options, Store};

fn sizes() -> Vec<u32> {
    sizes_from("ROLLCALL_BENCH_INGEST_CLIENTS", 2_000)
}

fn ingest(c: &mut Criterion) {
    let mut group = c.benchmark_group("ingest");
    group.sample_size(10);
    for clients in sizes() {
        // Count the rows once so throughput is reported in rows per second.
        let probe = tempfile::tempdir().expect("tempdir");
        let mut store = Store::create(probe.path(), Options::default()).expect("create");
        let rows = ingest_fleet(&mut store, config(clients)).expect("ingest");
        drop(store);
        group.throughput(Throughput::Elements(rows));
        group.bench_function(BenchmarkId::new("fleet_one_transaction", clients), |b| {
            b.iter_batched(
                || tempfile::tempdir().expect("tempdir"),
                |dir| {
                    let mut store = Store::create(dir.path(), Options::default()).expect("create");
                    ingest_fleet(&mut store, config(clients)).expect("ingest");
                    dir
                },
                BatchSize::PerIteration,
            )
        });
        group.bench_function(BenchmarkId::new("compact", clients), |b| {
            b.iter_batched(
                || {
                    let dir = tempfile::tempdir().expect("tempdir");
                    let mut store = Store::create(dir.path(), Options::default()).expect("create");
                    ingest_fleet(&mut store, config(clients)).expect("ingest");
                    (dir, store)
                },
                |(dir, mut store)| {
                    store.compact().expect("compact");
                    dir
                },
                BatchSize::PerIteration,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, ingest);
criterion_main!(benches);
