//! Times RQL statements in-process on a store, for the side-by-side harness.
//!
//! `rctime --db DIR --runs N [--warmup W] --queries queries.json` (`W`
//! untimed runs of each statement first, default 0) where the file holds
//! `[{"name": ..., "rql": ...}]`; prints a JSON array of
//! `{"name", "times_ms" (in run order), "median_ms", "min_ms", "runs", "csv"}`. Each run takes a fresh
//! snapshot handle, as a query in the REPL would.

use std::path::PathBuf;
use std::time::Instant;

use rollcall_engine::{Store, Timestamp};
use rollcall_query::{ExecOptions, OutputFormat, Params, execute, parse_script, render};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut db = PathBuf::from("rollcall.db");
    let mut runs = 7usize;
    let mut warmup = 0usize;
    let mut queries = PathBuf::from("queries.json");
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--db" => db = PathBuf::from(value),
            "--runs" => runs = value.parse()?,
            "--warmup" => warmup = value.parse()?,
            "--queries" => queries = PathBuf::from(value),
            _ => return Err(format!("unknown flag {flag}").into()),
        }
    }
    let list: Vec<serde_json::Value> = serde_json::from_str(&std::fs::read_to_string(&queries)?)?;
    let store = Store::open_read_only(&db)?;
    let opts = ExecOptions {
        now: Timestamp(0),
        params: Params::new(),
        cancel: None,
    };
    let mut out = Vec::new();
    for q in list {
        let name = q["name"].as_str().unwrap_or_default().to_owned();
        let rql = q["rql"].as_str().unwrap_or_default();
        let script = parse_script(rql).map_err(|e| e.render(rql, "query"))?;
        let statement = &script.statements.first().ok_or("empty query")?.statement;
        for _ in 0..warmup {
            execute(&store.snapshot(), statement, &opts).map_err(|e| e.render(rql, "query"))?;
        }
        let mut times = Vec::with_capacity(runs);
        let mut csv = Vec::new();
        for _ in 0..runs.max(1) {
            let snap = store.snapshot();
            let started = Instant::now();
            let table = execute(&snap, statement, &opts).map_err(|e| e.render(rql, "query"))?;
            times.push(started.elapsed().as_secs_f64() * 1000.0);
            csv.clear();
            render(&table, OutputFormat::Csv, &mut csv)?;
        }
        let in_order = times.clone();
        times.sort_by(f64::total_cmp);
        out.push(serde_json::json!({
            "times_ms": in_order,
            "name": name,
            "median_ms": times[times.len() / 2],
            "min_ms": times[0],
            "runs": times.len(),
            "csv": String::from_utf8(csv)?,
        }));
    }
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}
