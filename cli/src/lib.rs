//! The rollcall command line as a library: used by the `rollcall` binary, the
//! end-to-end tests and the benchmarks (which use [`fleet`]).
//!
//! The CLI is glue (ARCHITECTURE.md): it parses arguments and input files,
//! calls the engine and the query crate, and maps errors to exit codes. It
//! holds no storage or aggregation logic.
//!
//! Exit codes (SPEC.md section 5): 0 success; 1 runtime error (I/O, damaged
//! store, unknown name, bad input rows); 2 usage or query syntax error. A
//! closed standard output (`rollcall query ... | head`) ends the command
//! quietly with 0.

#![forbid(unsafe_code)]

pub mod admin;
pub mod args;
pub mod batch;
pub mod demo;
pub mod export;
pub mod fleet;
pub mod ingest;
pub mod repl;
pub mod serve;
pub mod session;
pub mod watch;

use std::io::{self, IsTerminal, Write};
use std::process::ExitCode;

use clap::Parser;

use crate::args::{Cli, Command, Ingest};

/// The README's Rust examples, compiled and run as doc tests so that the
/// tour's embedding example stays true.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;

/// A usage error: exit code 2.
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// One or more `GATE` conditions failed: every statement ran and printed,
/// and the command exits 3 (SPEC 7.9) so that a pipeline stops.
#[derive(Debug)]
pub struct GateFailed(pub usize);

impl std::fmt::Display for GateFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            1 => f.write_str("a promotion gate failed (see the `passed` column); exit code 3"),
            n => write!(
                f,
                "{n} promotion gates failed (see the `passed` columns); exit code 3"
            ),
        }
    }
}

impl std::error::Error for GateFailed {}

/// An error already rendered for people (a query diagnostic), with its exit code.
#[derive(Debug)]
pub struct Rendered {
    /// The full text to print.
    pub text: String,
    /// Exit code.
    pub code: u8,
}

impl std::fmt::Display for Rendered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.text.trim_end())
    }
}

impl std::error::Error for Rendered {}

/// Prints one line to standard error, ignoring a closed stderr.
/// `1 row`, `2 rows`: a count with its noun in the right number.
pub(crate) fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

pub(crate) fn note(msg: &str) {
    let mut err = io::stderr().lock();
    let _ = writeln!(err, "{msg}");
}

/// True when the error (or any cause) is a closed pipe.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    })
}

/// The exit code for an error.
pub fn exit_code(err: &anyhow::Error) -> u8 {
    if is_broken_pipe(err) {
        return 0;
    }
    for cause in err.chain() {
        if cause.downcast_ref::<UsageError>().is_some() {
            return 2;
        }
        if cause.downcast_ref::<GateFailed>().is_some() {
            return 3;
        }
        if let Some(r) = cause.downcast_ref::<Rendered>() {
            return r.code;
        }
    }
    1
}

/// Runs the command line in `std::env::args_os()` and returns the exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // Help and version go to stdout with 0; usage errors to stderr with 2.
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            let code = exit_code(&err);
            if code != 0 || !is_broken_pipe(&err) {
                report(&err);
            }
            ExitCode::from(code)
        }
    }
}

/// Prints an error for a person: a rendered query diagnostic as is, anything
/// else as `error: ...` with its causes.
pub fn report_error(err: &anyhow::Error) {
    report(err);
}

fn report(err: &anyhow::Error) {
    if let Some(r) = err.chain().find_map(|c| c.downcast_ref::<Rendered>()) {
        note(r.text.trim_end());
        return;
    }
    note(&format!("error: {err:#}"));
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    let db = cli.db;
    match cli.command {
        Some(Command::Ingest(Ingest::Events(a))) => admin::ingest(&db, ingest::RowKind::Events, &a),
        Some(Command::Ingest(Ingest::Members(a))) => admin::ingest(&db, ingest::RowKind::Members, &a),
        Some(Command::Ingest(Ingest::Snapshot(a))) => admin::ingest_snapshot(&db, &a),
        Some(Command::Check) => admin::check(&db),
        Some(Command::Compact) => admin::compact(&db),
        Some(Command::Stats) => admin::stats(&db),
        Some(Command::Completions(a)) => admin::completions(a.shell),
        Some(Command::Export(a)) => export::run(&db, &a),
        Some(Command::Translate(a)) => export::translate::run(&db, &a),
        Some(Command::Query(a)) => batch::query(&db, &a),
        Some(Command::Run(a)) => batch::run(&db, &a),
        Some(Command::Repl) => repl::run(&db),
        Some(Command::Demo(a)) => demo::run(&db, &a),
        Some(Command::Serve(a)) => serve::run(&db, &a),
        None if io::stdin().is_terminal() => repl::run(&db),
        None => batch::piped(&db),
    }
}
