//! Writes the demo fleet as CSV files in SPEC.md's ingest format, for loading
//! into rollcall (`rollcall ingest`) or other engines.
//!
//! `cargo run --release -p rollcall --example fleet_csv -- OUT_DIR [CLIENTS] [SEED]`
//! writes `OUT_DIR/members.csv` and `OUT_DIR/events.csv`.

use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;

use rollcall_cli::fleet::{Fleet, FleetConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().ok_or("usage: fleet_csv OUT_DIR [CLIENTS] [SEED]")?);
    let clients: u32 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(100_000);
    let seed: u64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(42);
    std::fs::create_dir_all(&dir)?;
    let fleet = Fleet::new(FleetConfig {
        clients,
        seed,
        ..FleetConfig::default()
    });
    let mut events = BufWriter::new(File::create(dir.join("events.csv"))?);
    let mut members = BufWriter::new(File::create(dir.join("members.csv"))?);
    let counts = fleet.write_csv(&mut events, &mut members)?;
    eprintln!(
        "wrote {} transitions to {} and {} membership changes to {}",
        counts.transitions,
        dir.join("events.csv").display(),
        counts.memberships,
        dir.join("members.csv").display()
    );
    Ok(())
}
