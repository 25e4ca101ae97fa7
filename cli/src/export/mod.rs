//! `rollcall export --format parquet DIR [--since TIME]` and `rollcall
//! translate`: the store as Parquet files for other engines, and RQL as SQL
//! over them (the SQL itself is written by `rollcall_query::translate`).
//!
//! Layout (documented for users in `docs/scale-out.md`):
//!
//! ```text
//! DIR/_rollcall_export.json                       manifest: high_seq, next_part, runs
//! DIR/transitions/day=2026-11-01/part-00000001.parquet
//! DIR/memberships/day=2026-10-01/part-00000002.parquet
//! ```
//!
//! Incremental design: `seq` (the store's one ingest counter) is the
//! watermark, not time. A run exports the rows with `seq` above the
//! manifest's `high_seq` (and, with `--since`, `time >= since`), then
//! records the store's highest `seq`. Late rows (old times, new seqs) land
//! in their own day partitions as new part files; nothing is rewritten.
//!
//! Streaming with bounded memory: a counting pass reads ids only and finds
//! the days that have new rows; then, per table, the days are taken in
//! windows of at most [`ExportOptions::window_days`], each window one pass
//! over its time range with one open writer per day. So a run writes at most
//! one part file per (table, day), holds at most `window_days` files open,
//! and buffers at most one row group per open writer; past
//! [`ExportOptions::memory_budget`] the largest writer flushes its row group
//! early. Client names are read once into a table (memory proportional to
//! the number of clients, like the store's own dictionary).
//!
//! Invariants: the CLI is glue (ARCHITECTURE.md): rows come only from the
//! engine's public read API (`Snapshot::for_each_transition`,
//! `for_each_membership`, the name lookups); part files become visible
//! (renamed from a temporary name) only when complete and synced, and the
//! manifest only after all of them (see `manifest.rs` for recovery).

#[cfg(feature = "parquet")]
pub mod manifest;
#[cfg(feature = "parquet")]
pub mod schema;
pub mod translate;
#[cfg(feature = "parquet")]
mod writer;

use std::path::Path;

use crate::args::ExportArgs;

#[cfg(feature = "parquet")]
pub use writer::{ExportOptions, ExportReport, export_snapshot};

/// `rollcall export`.
pub fn run(db: &Path, args: &ExportArgs) -> anyhow::Result<()> {
    #[cfg(feature = "parquet")]
    {
        writer::run(db, args)
    }
    #[cfg(not(feature = "parquet"))]
    {
        let _ = (db, args);
        Err(anyhow::anyhow!(
            "this rollcall was built without Parquet support (cargo feature `parquet` of the `rollcall` package is off); rebuild it with default features to export"
        ))
    }
}
