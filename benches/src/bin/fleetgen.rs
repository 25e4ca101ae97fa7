//! Writes the benchmark fleet as CSV files in SPEC.md's ingest format:
//! `transitions.csv`, `memberships.csv`, and `fleet.json` (what was written).
//!
//! `fleetgen --clients 1000000 --seed 42 --out target/compare`

use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;

use rollcall_cli::fleet::{Fleet, FleetConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut cfg = FleetConfig::default();
    let mut out = PathBuf::from(".");
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--clients" => cfg.clients = value.parse()?,
            "--seed" => cfg.seed = value.parse()?,
            "--days" => cfg.days = value.parse()?,
            "--out" => out = PathBuf::from(value),
            _ => {
                return Err(
                    format!("unknown flag {flag}; use --clients N --seed S --days D --out DIR").into(),
                );
            }
        }
    }
    std::fs::create_dir_all(&out)?;
    let fleet = Fleet::new(cfg);
    let mut t = BufWriter::with_capacity(1 << 20, File::create(out.join("transitions.csv"))?);
    let mut m = BufWriter::with_capacity(1 << 20, File::create(out.join("memberships.csv"))?);
    let started = std::time::Instant::now();
    let counts = fleet.write_csv(&mut t, &mut m)?;
    drop((t, m));
    let meta = serde_json::json!({
        "clients": cfg.clients,
        "seed": cfg.seed,
        "days": cfg.days,
        "now_ms": cfg.now.0,
        "now": cfg.now.to_string(),
        "transitions": counts.transitions,
        "memberships": counts.memberships,
        "collections": fleet.collections().len(),
    });
    std::fs::write(out.join("fleet.json"), serde_json::to_string_pretty(&meta)?)?;
    eprintln!(
        "fleetgen: {} transitions, {} membership changes, {} collections in {:.1}s -> {}",
        counts.transitions,
        counts.memberships,
        fleet.collections().len(),
        started.elapsed().as_secs_f64(),
        out.display()
    );
    Ok(())
}
