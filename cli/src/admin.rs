//! The store-level commands: `ingest`, `check`, `compact`, `stats`,
//! `completions`. Each opens the store, calls one engine operation and prints
//! a short report; none holds storage logic.
//!
//! Output rule: results (the `stats` table, the `check` verdict, completion
//! scripts) go to standard output; progress and summaries of writes go to
//! standard error.

use std::io::{self, IsTerminal, Write};
use std::path::Path;
use std::time::Instant;

use anyhow::Context as _;
use clap::CommandFactory;
use rollcall_engine::{Options, Store, StoreStats, Timestamp};

use crate::args::{Cli, IngestFiles, ShellArg, SnapshotArgs};
use crate::ingest::{self, IngestOptions, RowKind};
use crate::plural;
use crate::{UsageError, note};

/// Opens the store for writing, creating it when there is none.
pub fn open_writer(db: &Path) -> anyhow::Result<Store> {
    Store::open_or_create(db, writer_options()?).with_context(|| format!("open store {}", db.display()))
}

/// The writer's options: the defaults, with the maintenance policy's delta
/// bound taken from `ROLLCALL_DELTA_MAX_SEGMENTS` when set (how many delta
/// segments may pile up before the writer folds them into the base; a
/// smaller number keeps queries closer to compacted speed at more
/// compaction work).
fn writer_options() -> anyhow::Result<Options> {
    let mut opts = Options::default();
    if let Some(v) = std::env::var_os("ROLLCALL_DELTA_MAX_SEGMENTS") {
        let v = v.to_string_lossy();
        opts.delta_max_segments = v.trim().parse().ok().filter(|n| *n >= 1).ok_or_else(|| {
            UsageError(format!(
                "ROLLCALL_DELTA_MAX_SEGMENTS={v:?}: expected a whole number of segments, at least 1"
            ))
        })?;
    }
    Ok(opts)
}

/// Opens the store read-only (it must exist).
pub fn open_reader(db: &Path) -> anyhow::Result<Store> {
    Store::open_read_only(db).with_context(|| format!("open store {}", db.display()))
}

/// `rollcall ingest events|members FILE...`.
pub fn ingest(db: &Path, kind: RowKind, a: &IngestFiles) -> anyhow::Result<()> {
    let stdin_count = a.files.iter().filter(|f| f.as_os_str() == "-").count();
    if stdin_count > 1 {
        return Err(UsageError("standard input (-) can be read only once".into()).into());
    }
    let opts = IngestOptions {
        stdin_format: a.input_format,
        skip_bad_rows: a.skip_bad_rows,
        commit_every: a.commit_every,
        progress: io::stderr().is_terminal(),
    };
    // Check every file's format before storing anything.
    for f in &a.files {
        if f.as_os_str() == "-" && a.input_format.is_none() {
            return Err(UsageError(
                "reading standard input (-) needs --input-format csv or --input-format ndjson".into(),
            )
            .into());
        }
    }
    let mut store = open_writer(db)?;
    let ingested = (|| -> anyhow::Result<()> {
        for f in &a.files {
            let summary = ingest::ingest_file(&mut store, kind, f, &opts)?;
            note(&summary.to_string());
            if let Some(path) = &summary.reject_file {
                note(&format!(
                    "{}: {} written to {}",
                    summary.source,
                    crate::plural(summary.rejected, "rejected row", "rejected rows"),
                    path.display()
                ));
            }
        }
        Ok(())
    })();
    // What was committed (all of it, or what came before a bad row) is
    // left query-ready: no log for a reader to replay, a delta folded
    // once it is large (SPEC 7.8).
    let maintained = finish_maintenance(&mut store);
    ingested?;
    maintained
}

/// The end-of-command maintenance of a writer: flushes the log tail and
/// compacts when the delta is due ([`Store::maintain`]).
fn finish_maintenance(store: &mut Store) -> anyhow::Result<()> {
    let started = Instant::now();
    let report = store
        .maintain(true)
        .context("maintain the store (what was committed is stored)")?;
    if let Some(c) = &report.compacted {
        note(&format!(
            "maintenance: folded {} into the base ({}) in {:.2} s",
            plural(c.runs_in, "run", "runs"),
            plural(c.rows, "row", "rows"),
            started.elapsed().as_secs_f64()
        ));
    }
    Ok(())
}

/// `rollcall ingest snapshot --collection NAME --at TIME FILE`.
pub fn ingest_snapshot(db: &Path, a: &SnapshotArgs) -> anyhow::Result<()> {
    let at = Timestamp::parse(&a.at).map_err(|e| {
        UsageError(format!(
            "--at {:?}: {e}; expected an RFC 3339 time, a date or epoch milliseconds",
            a.at
        ))
    })?;
    let mut store = open_writer(db)?;
    let ingested = ingest::ingest_snapshot(&mut store, &a.collection, at, &a.file, a.input_format);
    let maintained = finish_maintenance(&mut store);
    note(&ingested?.to_string());
    maintained
}

/// `rollcall check`: verifies every checksum; damage is an error (exit 1).
///
/// The verdict goes to standard output; each damaged spot is listed on
/// standard error as `file at offset N: what`.
pub fn check(db: &Path) -> anyhow::Result<()> {
    let started = Instant::now();
    let report = Store::check_dir(db).with_context(|| format!("check store {}", db.display()))?;
    let mut out = io::stdout().lock();
    for orphan in &report.orphans {
        writeln!(
            out,
            "note: {} is not part of the store (left by an interrupted operation; the next writer removes it)",
            orphan.display()
        )?;
    }
    for n in &report.notes {
        writeln!(out, "note: {n}")?;
    }
    if report.is_clean() {
        writeln!(
            out,
            "ok: {} files, {} verified in {:.2} s",
            report.files_checked,
            human_bytes(report.bytes_checked),
            started.elapsed().as_secs_f64()
        )?;
        out.flush()?;
        return Ok(());
    }
    out.flush()?;
    for d in &report.damage {
        note(&format!("damage: {d}"));
    }
    Err(anyhow::anyhow!(
        "store {} is damaged: {} problem{} in {} files checked; restore the named files from a backup",
        db.display(),
        report.damage.len(),
        if report.damage.len() == 1 { "" } else { "s" },
        report.files_checked
    ))
}

/// `rollcall compact`.
pub fn compact(db: &Path) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut store =
        Store::open(db, Options::default()).with_context(|| format!("open store {}", db.display()))?;
    let r = store.compact().context("compact")?;
    note(&format!(
        "compacted {} into {} ({}, {}) in {:.2} s",
        plural(r.runs_in, "run", "runs"),
        r.runs_out,
        plural(r.rows, "row", "rows"),
        plural(r.checkpoints, "checkpoint", "checkpoints"),
        started.elapsed().as_secs_f64()
    ));
    Ok(())
}

/// Bytes in a readable unit (`1.5 MiB`).
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// The `stats` report as `name value` lines.
pub fn stats_lines(db: &Path, s: &StoreStats) -> Vec<(&'static str, String)> {
    let per = if s.transitions > 0 {
        format!("{:.2}", s.bytes_on_disk as f64 / s.transitions as f64)
    } else {
        "-".to_owned()
    };
    let range = match s.time_range {
        Some((lo, hi)) => format!("{lo} .. {hi}"),
        None => "-".to_owned(),
    };
    vec![
        ("store", db.display().to_string()),
        ("clients", s.clients.to_string()),
        ("collections", s.collections.to_string()),
        ("deployments", s.deployments.to_string()),
        ("transitions", s.transitions.to_string()),
        ("membership_changes", s.membership_changes.to_string()),
        ("segments", s.segments.to_string()),
        ("memtable_rows", s.memtable_rows.to_string()),
        ("unfolded_rows", s.unfolded_rows.to_string()),
        (
            "bytes_on_disk",
            format!("{} ({})", s.bytes_on_disk, human_bytes(s.bytes_on_disk)),
        ),
        (
            "checkpoint_dead_bytes",
            format!(
                "{} ({})",
                s.checkpoint_dead_bytes,
                human_bytes(s.checkpoint_dead_bytes)
            ),
        ),
        ("bytes_per_transition", per),
        ("time_range", range),
    ]
}

/// `rollcall stats`.
pub fn stats(db: &Path) -> anyhow::Result<()> {
    let store = open_reader(db)?;
    let s = store.snapshot().stats();
    let mut out = io::stdout().lock();
    for (k, v) in stats_lines(db, &s) {
        writeln!(out, "{k:<22}{v}")?;
    }
    out.flush()?;
    Ok(())
}

/// `rollcall completions SHELL`.
pub fn completions(shell: ShellArg) -> anyhow::Result<()> {
    use clap_complete::Shell;
    let shell = match shell {
        ShellArg::Bash => Shell::Bash,
        ShellArg::Zsh => Shell::Zsh,
        ShellArg::Fish => Shell::Fish,
    };
    let mut cmd = Cli::command();
    let mut out = io::stdout().lock();
    clap_complete::generate(shell, &mut cmd, "rollcall", &mut out);
    out.flush()?;
    Ok(())
}
