//! `rollcall demo`: generate a realistic fleet ([`crate::fleet`]) into the
//! store, run the automatic maintenance an ingest runs, and show the
//! headline queries through the query crate.
//!
//! Decisions: the demo refuses a store that already holds data (it would mix
//! its fleet into someone's data) unless `--force`; its queries run with
//! `NOW` fixed to the fleet's end (`--now`, default the current hour), so
//! `AT NOW` in the REPL right after shows the same picture; results are
//! always drawn as tables (the demo is for people), progress goes to
//! standard error.

use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::Path;
use std::time::Instant;

use anyhow::Context as _;
use rollcall_engine::{Batch, Timestamp};
use rollcall_query::OutputFormat;

use crate::admin::{human_bytes, open_writer};
use crate::args::DemoArgs;
use crate::fleet::{ALL_DESKTOPS, Fleet, FleetConfig};
use crate::session::{Session, StreamSink, wall_clock};
use crate::{UsageError, note};

/// The headline statements the demo shows, with a one-line caption each.
pub fn headline_queries() -> Vec<(&'static str, String)> {
    let big = ALL_DESKTOPS;
    vec![
        (
            "Where every desktop stands right now",
            format!("STATES IN \"{big}\" AT NOW;"),
        ),
        (
            "Every collection at a glance",
            "STATES BY COLLECTION AT NOW;".to_owned(),
        ),
        (
            "Desktop failures per day over the last 30 days (a new revision rolled out ~28 days ago)",
            format!("FAILURES IN \"{big}\" FROM NOW - 30d TO NOW EVERY 1d;"),
        ),
        (
            "Failures by error code, per 30-day revision cycle (the fixes work)",
            "FAILURES FROM NOW - 90d TO NOW EVERY 30d BY ERROR;".to_owned(),
        ),
        (
            "Desktops failing right now",
            format!("CLIENTS IN \"{big}\" AT NOW WHERE STATE = Failed LIMIT 10;"),
        ),
    ]
}

/// `rollcall demo`.
pub fn run(db: &Path, a: &DemoArgs) -> anyhow::Result<()> {
    let now = match &a.now {
        Some(text) => Timestamp::parse(text).map_err(|e| UsageError(format!("--now {text:?}: {e}")))?,
        None => {
            let t = wall_clock();
            Timestamp(t.0 - t.0.rem_euclid(3_600_000))
        }
    };
    let mut store = open_writer(db)?;
    let before = store.snapshot().stats();
    if (before.transitions > 0 || before.membership_changes > 0) && !a.force {
        return Err(anyhow::anyhow!(
            "store {} already holds data ({} transitions, {} membership changes); the demo needs an empty store: \
             pass --db NEW_DIR, remove {} first, or pass --force to add the demo fleet anyway",
            db.display(),
            before.transitions,
            before.membership_changes,
            db.display()
        ));
    }
    let fleet = Fleet::new(FleetConfig {
        clients: a.clients,
        seed: a.seed,
        now,
        days: 90,
    });
    note(&format!(
        "generating {} clients in {} collections, 90 days of history ending {now}, into {}",
        a.clients,
        fleet.collections().len(),
        db.display()
    ));
    let started = Instant::now();
    let progress = io::stderr().is_terminal().then(|| {
        let pb = indicatif::ProgressBar::new_spinner();
        if let Ok(style) = indicatif::ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
            pb.set_style(style);
        }
        pb
    });
    let mut rows = fleet.rows();
    let mut batch = Batch::new();
    let (mut transitions, mut memberships, mut duplicates) = (0u64, 0u64, 0u64);
    loop {
        batch.clear();
        let n = rows
            .fill_batch(&mut batch, crate::ingest::BATCH_ROWS)
            .context("generate rows")?;
        if n == 0 {
            break;
        }
        let r = store
            .append_at(&batch, crate::session::wall_clock())
            .context("store rows")?;
        transitions += r.transitions;
        memberships += r.memberships;
        duplicates += r.duplicates;
        if let Some(pb) = &progress {
            pb.set_message(format!("{} rows stored", transitions + memberships));
        }
    }
    if let Some(pb) = &progress {
        pb.finish_and_clear();
    }
    let generated = started.elapsed();
    // The end-of-command maintenance every ingest runs (SPEC 7.8), not a
    // manual compact: the demo shows the store as a user's ingest leaves it.
    let maintain_started = Instant::now();
    store.maintain(true).context("maintain the store")?;
    let stats = store.snapshot().stats();
    note(&format!(
        "stored {transitions} transitions and {memberships} membership changes ({duplicates} duplicates ignored) in {:.1} s; \
         automatic maintenance took {:.1} s; {} on disk",
        generated.as_secs_f64(),
        maintain_started.elapsed().as_secs_f64(),
        human_bytes(stats.bytes_on_disk)
    ));
    // The headline answers, through the query crate, on this process's view.
    let mut session = Session::new(db, OutputFormat::Table);
    session.now = Some(now);
    session.use_snapshot(store.snapshot());
    drop(store);
    let stdout = io::stdout().lock();
    let mut out = BufWriter::new(stdout);
    writeln!(out, "NOW is {now} (the end of the demo fleet's history).")?;
    for (caption, rql) in headline_queries() {
        writeln!(out, "\n## {caption}\n{rql}\n")?;
        out.flush()?;
        let started = Instant::now();
        let mut sink = StreamSink::new(&mut out, OutputFormat::Table);
        session.run_script(&rql, "demo", &mut sink)?;
        writeln!(out, "({:.1} ms)", started.elapsed().as_secs_f64() * 1000.0)?;
    }
    let db_arg = shell_quote(&db.display().to_string());
    writeln!(
        out,
        "\nExplore further:  rollcall --db {db_arg} repl\n\
         (NOW in the REPL is the wall clock; the demo's NOW was {now}, so try\n \
         STATES BY COLLECTION AT {now};  or  HISTORY \"{}\";)",
        fleet.client_name(0)
    )?;
    out.flush()?;
    Ok(())
}

fn shell_quote(s: &str) -> String {
    if s.chars().all(|c| c.is_ascii_alphanumeric() || "/._-".contains(c)) {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}
