//! Shared helpers for rollcall's benchmarks: building (once) and reopening
//! a store of the deterministic demo fleet at a given size.
//!
//! Stores are cached under `target/bench-data/fleet-<clients>-<seed>` so a
//! criterion run does not regenerate 50M rows per benchmark; a `READY` file
//! marks a complete build (an interrupted build is thrown away).

use std::path::{Path, PathBuf};

use rollcall_cli::fleet::{Fleet, FleetConfig};
use rollcall_engine::{Batch, Options, Store, Timestamp};

/// Fleet sizes (clients) to benchmark: `ROLLCALL_BENCH_CLIENTS=10000,1000000`.
pub fn sizes() -> Vec<u32> {
    sizes_from("ROLLCALL_BENCH_CLIENTS", 10_000)
}

/// Comma-separated client counts from environment variable `var`, or
/// `default` when it is unset or holds none.
pub fn sizes_from(var: &str, default: u32) -> Vec<u32> {
    std::env::var(var)
        .ok()
        .map(|v| {
            v.split(',')
                .filter_map(|s| s.trim().parse().ok())
                .collect::<Vec<u32>>()
        })
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| vec![default])
}

/// The fleet configuration of a benchmark size.
pub fn config(clients: u32) -> FleetConfig {
    FleetConfig {
        clients,
        ..FleetConfig::default()
    }
}

fn data_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("bench-data")
}

/// Appends the whole fleet to `store` as one transaction; returns rows read.
pub fn ingest_fleet(store: &mut Store, cfg: FleetConfig) -> rollcall_engine::Result<u64> {
    let fleet = Fleet::new(cfg);
    let mut rows = fleet.rows();
    let mut txn = store.begin()?;
    let mut batch = Batch::new();
    let mut total = 0u64;
    loop {
        batch.clear();
        let n = rows.fill_batch(&mut batch, 65_536)?;
        if n == 0 {
            break;
        }
        total += n as u64;
        txn.append(&batch)?;
    }
    txn.commit()?;
    Ok(total)
}

/// Appends the fleet as a real feed arrives: one transaction per generated
/// day, committed (`commit_at`) an hour after that day ends, so that `AS
/// KNOWN AT` has a commit history to cut. Returns rows read.
pub fn ingest_fleet_daily(store: &mut Store, cfg: FleetConfig) -> rollcall_engine::Result<u64> {
    let fleet = Fleet::new(cfg);
    let mut rows = fleet.rows();
    let mut batch = Batch::new();
    let mut total = 0u64;
    let mut txn = store.begin()?;
    let mut day = rows.generated_until();
    loop {
        batch.clear();
        let n = rows.fill_batch(&mut batch, 65_536)?;
        if n > 0 {
            total += n as u64;
            txn.append(&batch)?;
        }
        let now = rows.generated_until();
        if n == 0 || now != day {
            txn.commit_at(Timestamp(day.0 + 3_600_000))?;
            if n == 0 {
                break;
            }
            day = now;
            txn = store.begin()?;
        }
    }
    Ok(total)
}

/// [`fleet_store`] built with [`ingest_fleet_daily`] (one commit per day,
/// with its commit time), compacted; cached as `fleet-daily-<clients>-<seed>`.
pub fn fleet_store_daily(clients: u32) -> PathBuf {
    if let Some(dir) = std::env::var_os("ROLLCALL_BENCH_STORE_DAILY") {
        return PathBuf::from(dir);
    }
    let cfg = config(clients);
    let dir = data_dir().join(format!("fleet-daily-{}-{}", cfg.clients, cfg.seed));
    if dir.join("READY").exists() {
        return dir;
    }
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create bench data dir");
    let started = std::time::Instant::now();
    let mut store = Store::create(&dir, Options::default()).expect("create store");
    let rows = ingest_fleet_daily(&mut store, cfg).expect("ingest fleet");
    store.compact().expect("compact");
    drop(store);
    std::fs::write(dir.join("READY"), b"").expect("mark ready");
    eprintln!(
        "built bench store {} ({rows} rows, a commit per day) in {:.1}s",
        dir.display(),
        started.elapsed().as_secs_f64()
    );
    dir
}

/// A compacted store of the fleet with `clients` clients, built on first use.
/// `ROLLCALL_BENCH_STORE=DIR` uses an existing store of that size instead
/// (for example the one `benches/compare/run.sh` loaded through the CLI).
pub fn fleet_store(clients: u32) -> PathBuf {
    if let Some(dir) = std::env::var_os("ROLLCALL_BENCH_STORE") {
        return PathBuf::from(dir);
    }
    let cfg = config(clients);
    let dir = data_dir().join(format!("fleet-{}-{}", cfg.clients, cfg.seed));
    if dir.join("READY").exists() {
        return dir;
    }
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create bench data dir");
    let started = std::time::Instant::now();
    let mut store = Store::create(&dir, Options::default()).expect("create store");
    let rows = ingest_fleet(&mut store, cfg).expect("ingest fleet");
    store.compact().expect("compact");
    drop(store);
    std::fs::write(dir.join("READY"), b"").expect("mark ready");
    eprintln!(
        "built bench store {} ({rows} rows) in {:.1}s",
        dir.display(),
        started.elapsed().as_secs_f64()
    );
    dir
}
