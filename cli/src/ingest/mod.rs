//! Streaming ingest of SPEC.md section 2: CSV and NDJSON transitions and
//! membership changes, and membership snapshots.
//!
//! What this module owns: reading and validating input rows, turning them into
//! engine [`Batch`]es, transaction boundaries, reject files and the per-file
//! summary. What it does not do: storage, duplicate detection (the engine
//! drops exact duplicates) or any aggregation.
//!
//! Invariants and decisions (also in the README):
//! * memory is bounded by four batches of [`BATCH_ROWS`] rows, whatever the
//!   input size: one being parsed, two queued, one being stored (the engine's
//!   transaction holds the rows it will store, spilling past its limit);
//! * parsing runs on the calling thread and storing on a writer thread that
//!   owns the store; a commit waits for the writer's report, so a commit is
//!   acknowledged (and printed) only once the store has made it durable;
//! * a file is one transaction: a bad row rejects the whole file and nothing
//!   from it is stored, unless `--skip-bad-rows`; standard input is committed
//!   every `--commit-every` rows, and the summary says how many commits it took;
//! * header names are matched case-insensitively after trimming spaces;
//!   columns may come in any order; a missing required column or a repeated
//!   column is an error; an unknown column that looks like a misspelling of
//!   one of the kind's fields (`deploymnet`, `clinet`) is an error, so that it
//!   cannot silently load rows into `production`; any other extra column
//!   (`note`, `source`) is ignored, with a warning for CSV headers, since
//!   exports from other tools often carry extra columns;
//! * positions are `file:line:column`, with the column the 1-based field
//!   number for CSV and the 1-based byte column of the field's key for NDJSON;
//! * names (client, deployment, collection) are opaque and not trimmed;
//!   times, states, error codes and changes are trimmed;
//! * bad input rows exit with code 1 (they are a runtime error about data,
//!   not a usage error).
//!
//! Layout: `mod.rs` (here) holds the options, the summary and [`BadInput`];
//! `rows.rs` validates one row into a batch and defines the `RowSource`
//! interface; `input.rs` opens inputs (BOM, byte counting, the record
//! fence, format by extension); `header.rs` matches CSV headers and NDJSON
//! keys to the kind's fields; `csv_input.rs` and `ndjson_input.rs` are the
//! two row sources; `rejects.rs` the reject file; `progress.rs` the progress
//! bar; `pipeline.rs` the parsing thread / writer thread pipeline,
//! transactions and stdin batching; `snapshot_list.rs` membership snapshots.

use std::fmt;
use std::path::PathBuf;

use crate::args::InputFormat;

mod csv_input;
mod header;
mod input;
mod ndjson_input;
mod pipeline;
mod progress;
mod rejects;
mod rows;
mod snapshot_list;

pub use input::MAX_RECORD_BYTES;
pub use pipeline::{ingest_file, parse_rows};
pub use rejects::reject_path;
pub use snapshot_list::{SnapshotSummary, ingest_snapshot};

/// Rows per batch handed to the engine.
pub const BATCH_ROWS: usize = 64 * 1024;

/// Which kind of rows a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowKind {
    /// Transitions: `time,client,state[,deployment][,error]`.
    Events,
    /// Membership changes: `time,client,collection,change`.
    Members,
}

impl RowKind {
    fn fields(self) -> &'static [&'static str] {
        match self {
            RowKind::Events => &["time", "client", "state", "deployment", "error"],
            RowKind::Members => &["time", "client", "collection", "change"],
        }
    }

    fn required(self, field: usize) -> bool {
        match self {
            RowKind::Events => field < 3,
            RowKind::Members => true,
        }
    }
}

/// How to ingest.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// Format of standard input (files use their extension).
    pub stdin_format: Option<InputFormat>,
    /// Store good rows and write bad ones to a reject file.
    pub skip_bad_rows: bool,
    /// Rows per commit for standard input.
    pub commit_every: u64,
    /// Allow a progress bar on standard error.
    pub progress: bool,
}

impl Default for IngestOptions {
    fn default() -> IngestOptions {
        IngestOptions {
            stdin_format: None,
            skip_bad_rows: false,
            commit_every: 1_000_000,
            progress: false,
        }
    }
}

/// What one input file did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IngestSummary {
    /// The file name as given (`-` for standard input).
    pub source: String,
    /// Data rows read (blank lines and the header not counted).
    pub read: u64,
    /// Rows stored.
    pub stored: u64,
    /// Rows ignored as exact duplicates.
    pub duplicates: u64,
    /// Rows rejected (only with `--skip-bad-rows`).
    pub rejected: u64,
    /// Transactions committed.
    pub commits: u64,
    /// Wall-clock seconds.
    pub seconds: f64,
    /// Where rejected rows were written.
    pub reject_file: Option<PathBuf>,
}

impl fmt::Display for IngestSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} read, {} stored, {} ignored, {} rejected in {:.2} s",
            self.source,
            crate::plural(self.read, "row", "rows"),
            self.stored,
            crate::plural(self.duplicates, "duplicate", "duplicates"),
            self.rejected,
            self.seconds
        )?;
        if self.commits > 1 {
            write!(f, " ({} commits)", self.commits)?;
        }
        if self.seconds > 0.0 && self.read >= 100_000 {
            write!(f, " ({:.0} rows/s)", self.read as f64 / self.seconds)?;
        }
        Ok(())
    }
}

/// A bad input row (or header), with its position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadInput {
    /// File name as given.
    pub file: String,
    /// 1-based line.
    pub line: u64,
    /// 1-based column (field number for CSV, byte column for NDJSON), when known.
    pub column: Option<u64>,
    /// What is wrong.
    pub reason: String,
    /// Extra sentence about what was (not) stored.
    pub note: Option<String>,
}

impl fmt::Display for BadInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.column {
            Some(c) => write!(f, "{}:{}:{}: {}", self.file, self.line, c, self.reason)?,
            None => write!(f, "{}:{}: {}", self.file, self.line, self.reason)?,
        }
        if let Some(note) = &self.note {
            write!(f, "; {note}")?;
        }
        Ok(())
    }
}

impl std::error::Error for BadInput {}
