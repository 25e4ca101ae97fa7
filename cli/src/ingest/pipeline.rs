//! The ingest pipeline: rows parsed on the calling thread (which also looks
//! their names up), batches handed through a queue of two to a writer
//! thread that owns the store, one transaction per file, standard input
//! committed every `--commit-every` rows.
//!
//! Invariants: memory is bounded by four batches of [`BATCH_ROWS`] rows; a
//! commit is acknowledged (and printed) only after the writer reports it
//! durable; closing the queue without a `Commit` abandons the open
//! transaction, so a bad row (without `--skip-bad-rows`) stores nothing of
//! the file, or nothing after the last stdin commit.

use std::io::{self, Read};
use std::path::Path;
use std::time::Instant;

use anyhow::Context as _;
use rollcall_engine::{AppendReport, Batch, Store};

use super::csv_input::CsvSource;
use super::input::{Counting, display_name, format_of, open_input, skip_bom};
use super::ndjson_input::NdjsonSource;
use super::progress::progress_bar;
use super::rejects::{Rejects, reject_path};
use super::rows::{BadRow, RowSource};
use super::{BATCH_ROWS, BadInput, IngestOptions, IngestSummary, RowKind};
use crate::args::InputFormat;

/// Least time between two "committed ... rows" notes for commits made
/// because standard input paused or kept flowing for [`COMMIT_AFTER`].
const NOTE_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// Longest standard input's open transaction stays open while rows keep
/// coming (a steady feed never pauses): readers see a live feed within
/// about this time.
const COMMIT_AFTER: std::time::Duration = std::time::Duration::from_secs(1);

/// Rows per batch read from standard input: small enough that
/// [`COMMIT_AFTER`] is checked several times a second at feed rates.
const STDIN_BATCH_ROWS: usize = 4096;

/// Ingests one file (or `-`) of transitions or membership changes.
///
/// A file is one transaction; standard input is committed every
/// `opts.commit_every` rows, when it pauses, and at least every
/// [`COMMIT_AFTER`] while rows keep coming. Without `skip_bad_rows` the first bad row
/// abandons the open transaction and returns a [`BadInput`] error.
pub fn ingest_file(
    store: &mut Store,
    kind: RowKind,
    path: &Path,
    opts: &IngestOptions,
) -> anyhow::Result<IngestSummary> {
    let started = Instant::now();
    let format = format_of(path, opts.stdin_format)?;
    let file = display_name(path);
    let (input, len) = open_input(path)?;
    let mut source: Box<dyn RowSource> = match format {
        InputFormat::Csv => Box::new(CsvSource::new(input, kind, &file)?),
        InputFormat::Ndjson => Box::new(NdjsonSource::new(input, kind)),
    };
    let is_stdin = path.as_os_str() == "-";
    let commit_every = is_stdin.then_some(opts.commit_every);
    let pb = progress_bar(opts.progress, len);
    let mut rejects = opts.skip_bad_rows.then(|| Rejects::new(reject_path(path)));
    let mut on_bad = |bad: BadRow| -> anyhow::Result<()> {
        match &mut rejects {
            Some(r) => r.write(bad.line, bad.column, &bad.reason, &bad.raw),
            None => Err(anyhow::Error::new(BadInput {
                file: file.clone(),
                line: bad.line,
                column: bad.column,
                reason: bad.reason,
                note: None,
            })),
        }
    };
    let mut total = AppendReport::default();
    let mut commits = 0u64;
    let mut committed_rows = 0u64;
    let mut committed_line = 0u64;
    // Parsing (this thread) and storing (a writer thread that owns the
    // store) overlap: batches go to the writer through a queue of two, and
    // each commit waits for the writer's report, so what is acknowledged
    // and printed is exactly what the store committed.
    std::thread::scope(|scope| -> anyhow::Result<()> {
        let (to_writer, batches) = std::sync::mpsc::sync_channel::<ToWriter>(2);
        let (report_tx, reports) = std::sync::mpsc::channel::<AppendReport>();
        // Names are looked up here too, so that the writer mostly finds
        // their ids ready (it checks they are still valid).
        let resolver = store.name_resolver();
        let writer = scope.spawn(move || write_batches(store, batches, report_tx));
        // The writer's error when it stopped early (its queue is closed).
        let writer_failed = |writer: std::thread::ScopedJoinHandle<'_, anyhow::Result<()>>| -> anyhow::Error {
            match writer.join() {
                Ok(Err(e)) => e,
                Ok(Ok(())) => anyhow::anyhow!("the writer stopped before the input ended"),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        };
        let mut last_note: Option<Instant> = None;
        loop {
            let mut in_txn = 0u64;
            let mut paused = false;
            let mut opened: Option<Instant> = None;
            let eof = loop {
                let room = match commit_every {
                    Some(n) => (n - in_txn).min(STDIN_BATCH_ROWS as u64) as usize,
                    None => BATCH_ROWS,
                };
                let mut batch = Box::new(Batch::with_capacity(room.max(1)));
                let eof = match source.fill(&mut batch, room.max(1), &mut on_bad) {
                    Ok(eof) => eof,
                    Err(e) => {
                        // Closing the queue abandons the open transaction.
                        drop(to_writer);
                        // A writer error explains more than the bad row.
                        writer.join().unwrap_or_else(|p| std::panic::resume_unwind(p))?;
                        if let Some(pb) = &pb {
                            pb.finish_and_clear();
                        }
                        return Err(explain_abandon(
                            e,
                            is_stdin,
                            commits,
                            committed_rows,
                            committed_line,
                        ));
                    }
                };
                if !batch.is_empty() {
                    opened.get_or_insert_with(Instant::now);
                    in_txn += batch.len() as u64;
                    resolver.resolve(&mut batch);
                    if to_writer.send(ToWriter::Rows(batch)).is_err() {
                        return Err(writer_failed(writer));
                    }
                }
                if let Some(pb) = &pb {
                    pb.set_position(source.bytes_read());
                }
                if eof {
                    break true;
                }
                if commit_every.is_some_and(|n| in_txn >= n) {
                    break false;
                }
                // Standard input paused: commit what came, so that readers
                // see a slow feed within `PAUSE` (a burst is one commit).
                if source.take_paused() && in_txn > 0 {
                    paused = true;
                    break false;
                }
                // A steady feed: commit at least every `COMMIT_AFTER`.
                if commit_every.is_some() && opened.is_some_and(|t| t.elapsed() >= COMMIT_AFTER) {
                    paused = true;
                    break false;
                }
            };
            if in_txn > 0 {
                let committed = match to_writer.send(ToWriter::Commit) {
                    Ok(()) => reports.recv().ok(),
                    Err(_) => None,
                };
                let Some(txn_report) = committed else {
                    return Err(writer_failed(writer));
                };
                commits += 1;
                add(&mut total, txn_report);
                committed_rows += txn_report.transitions + txn_report.memberships;
                committed_line = source.line();
                // A paused feed commits often; say so at most every few
                // seconds.
                let quiet = paused && last_note.is_some_and(|t| t.elapsed() < NOTE_EVERY);
                if !eof && !quiet {
                    last_note = Some(Instant::now());
                    let msg = format!(
                        "{file}: committed {} through line {committed_line} ({} so far)",
                        crate::plural(total.transitions + total.memberships, "row", "rows"),
                        crate::plural(commits, "commit", "commits")
                    );
                    match &pb {
                        Some(pb) => pb.suspend(|| crate::note(&msg)),
                        None => crate::note(&msg),
                    }
                }
            }
            if eof {
                break;
            }
        }
        drop(to_writer);
        writer.join().unwrap_or_else(|p| std::panic::resume_unwind(p))
    })?;
    if let Some(pb) = &pb {
        pb.finish_and_clear();
    }
    let (rejected, reject_file) = match rejects {
        Some(r) => {
            let n = r.count;
            (n, r.finish()?)
        }
        None => (0, None),
    };
    Ok(IngestSummary {
        source: file.clone(),
        read: source.rows_read(),
        stored: total.transitions + total.memberships,
        duplicates: total.duplicates,
        rejected,
        commits,
        seconds: started.elapsed().as_secs_f64(),
        reject_file,
    })
}

/// Reads `bytes` as an input file of `kind` rows in `format`, exactly as
/// `rollcall ingest` reads one, without a store: returns the number of good
/// rows and every bad row (as `--skip-bad-rows` would record them). A bad
/// header or a record over the size limit is an error. Used by the fuzz
/// targets (`fuzz/`) and the limits tests; not a stable API.
#[doc(hidden)]
pub fn parse_rows(kind: RowKind, format: InputFormat, bytes: &[u8]) -> anyhow::Result<(u64, Vec<BadInput>)> {
    let file = "<input>";
    let r: Box<dyn Read> = Box::new(skip_bom(io::Cursor::new(bytes.to_vec())).context("read input")?);
    let input = Counting::new(r);
    let mut source: Box<dyn RowSource> = match format {
        InputFormat::Csv => Box::new(CsvSource::new(input, kind, file)?),
        InputFormat::Ndjson => Box::new(NdjsonSource::new(input, kind)),
    };
    let mut bad = Vec::new();
    let mut on_bad = |b: BadRow| -> anyhow::Result<()> {
        bad.push(BadInput {
            file: file.to_owned(),
            line: b.line,
            column: b.column,
            reason: b.reason,
            note: None,
        });
        Ok(())
    };
    let mut batch = Batch::new();
    let mut rows = 0u64;
    loop {
        let eof = source.fill(&mut batch, BATCH_ROWS, &mut on_bad)?;
        rows += batch.len() as u64;
        batch.clear();
        if eof {
            break;
        }
    }
    Ok((rows, bad))
}

/// What the parsing thread sends the writer thread.
enum ToWriter {
    /// Rows for the open transaction (one is begun when none is open).
    Rows(Box<Batch>),
    /// Commit the open transaction and send its report back.
    Commit,
}

/// The writer thread of `ingest_file`: appends batches to one transaction
/// at a time and commits on request. When the queue closes without a
/// `Commit`, the open transaction is dropped, which abandons it.
fn write_batches(
    store: &mut Store,
    batches: std::sync::mpsc::Receiver<ToWriter>,
    reports: std::sync::mpsc::Sender<AppendReport>,
) -> anyhow::Result<()> {
    'txns: loop {
        let batch = match batches.recv() {
            Ok(ToWriter::Rows(batch)) => batch,
            Ok(ToWriter::Commit) => {
                let _ = reports.send(AppendReport::default());
                continue;
            }
            Err(_) => return Ok(()),
        };
        let mut txn = store.begin().context("begin a transaction")?;
        let mut report = txn.append(&batch).context("store rows")?;
        loop {
            match batches.recv() {
                Ok(ToWriter::Rows(batch)) => add(&mut report, txn.append(&batch).context("store rows")?),
                Ok(ToWriter::Commit) => {
                    txn.commit_at(crate::session::wall_clock()).context("commit")?;
                    // The parsing thread waits for this report; if it is
                    // gone, so is everything it would do with it.
                    let _ = reports.send(report);
                    // Keep the store query-ready (SPEC 7.8): flush a long
                    // log tail, fold a large delta. The commit above is
                    // durable whatever happens here.
                    store
                        .maintain(false)
                        .context("maintain the store after a commit (the commit itself is stored)")?;
                    continue 'txns;
                }
                // The queue closed without a commit: dropping `txn`
                // abandons the transaction.
                Err(_) => return Ok(()),
            }
        }
    }
}

fn explain_abandon(
    e: anyhow::Error,
    is_stdin: bool,
    commits: u64,
    committed_rows: u64,
    committed_line: u64,
) -> anyhow::Error {
    match e.downcast::<BadInput>() {
        Ok(mut bad) => {
            bad.note = Some(if is_stdin && commits > 0 {
                format!(
                    "{committed_rows} rows through line {committed_line} were committed earlier and stay stored; nothing after line {committed_line} was stored (fix the row, or pass --skip-bad-rows)"
                )
            } else {
                "nothing from this input was stored (fix the row, or pass --skip-bad-rows to store the good rows)"
                    .to_owned()
            });
            anyhow::Error::new(bad)
        }
        Err(e) => e,
    }
}

fn add(total: &mut AppendReport, r: AppendReport) {
    total.transitions += r.transitions;
    total.memberships += r.memberships;
    total.duplicates += r.duplicates;
}
