//! Membership snapshots: a list of client names (one per line, a
//! one-column CSV with header `client`, or NDJSON objects with a `client`
//! field) becomes the joins and leaves that turn a collection's membership
//! at a time into that list, as one transaction.
//!
//! Invariants: the reported line of a bad entry is its physical line; a
//! bad entry rejects the whole snapshot and nothing is stored.

use std::collections::HashSet;
use std::fmt;
use std::io::Read;
use std::path::Path;
use std::time::Instant;

use anyhow::Context as _;
use rollcall_engine::{Batch, Change, Store, Timestamp, limits};

use super::input::{display_name, open_input};
use super::ndjson_input::{json_reason, key_column};
use super::{BATCH_ROWS, BadInput};
use crate::args::SnapshotFormat;

/// What a membership snapshot recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct SnapshotSummary {
    /// The input as given.
    pub source: String,
    /// The collection.
    pub collection: String,
    /// The snapshot's time.
    pub at: Timestamp,
    /// Distinct clients listed.
    pub listed: u64,
    /// Members before (as of `at`).
    pub before: u64,
    /// Joins recorded.
    pub joins: u64,
    /// Leaves recorded.
    pub leaves: u64,
    /// Wall-clock seconds.
    pub seconds: f64,
}

impl fmt::Display for SnapshotSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} clients listed for {:?} at {}; {} were members; recorded {} joins and {} leaves in {:.2} s",
            self.source,
            self.listed,
            self.collection,
            self.at,
            self.before,
            self.joins,
            self.leaves,
            self.seconds
        )
    }
}

/// Reads the client names of a snapshot: one per line, or a one-column CSV
/// with header `client`, or NDJSON objects with a `client` field.
fn read_snapshot_names(path: &Path, format: Option<SnapshotFormat>) -> anyhow::Result<Vec<(u64, String)>> {
    let file = display_name(path);
    let (mut input, _) = open_input(path)?;
    let format = format.unwrap_or_else(|| {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("csv") => SnapshotFormat::Csv,
            Some("ndjson" | "jsonl") => SnapshotFormat::Ndjson,
            _ => SnapshotFormat::Lines,
        }
    });
    let mut bytes = Vec::new();
    input
        .read_to_end(&mut bytes)
        .with_context(|| format!("read {file}"))?;
    let bad = |line: u64, column: Option<u64>, reason: String| {
        anyhow::Error::new(BadInput {
            file: file.clone(),
            line,
            column,
            reason,
            note: Some("nothing from this snapshot was stored".to_owned()),
        })
    };
    let check = |line: u64, column: u64, name: &[u8]| -> anyhow::Result<String> {
        let name = std::str::from_utf8(name)
            .map_err(|_| bad(line, Some(column), "client: not valid UTF-8".into()))?;
        if name.is_empty() {
            return Err(bad(line, Some(column), "client: empty name".into()));
        }
        if name.len() > limits::CLIENT_NAME_MAX {
            return Err(bad(
                line,
                Some(column),
                format!(
                    "client: name is {} bytes long, the limit is {}",
                    name.len(),
                    limits::CLIENT_NAME_MAX
                ),
            ));
        }
        Ok(name.to_owned())
    };
    let first_line = bytes
        .split(|b| *b == b'\n')
        .map(|l| l.trim_ascii())
        .find(|l| !l.is_empty())
        .unwrap_or_default();
    let looks_like_header =
        first_line.eq_ignore_ascii_case(b"client") || first_line.eq_ignore_ascii_case(b"\"client\"");
    let mut names = Vec::new();
    match format {
        SnapshotFormat::Lines if !looks_like_header => {
            for (i, line) in bytes.split(|b| *b == b'\n').enumerate() {
                let line_no = i as u64 + 1;
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                if line.trim_ascii().is_empty() {
                    continue;
                }
                names.push((line_no, check(line_no, 1, line)?));
            }
        }
        SnapshotFormat::Lines | SnapshotFormat::Csv => {
            let mut rdr = csv::ReaderBuilder::new()
                .has_headers(false)
                .flexible(true)
                .from_reader(&bytes[..]);
            let mut rec = csv::ByteRecord::new();
            let mut header_seen = false;
            while rdr
                .read_byte_record(&mut rec)
                .map_err(|e| anyhow::anyhow!("{file}: {e}"))?
            {
                let line = rec.position().map_or(0, |p| p.line());
                if rec.len() == 1 && rec[0].trim_ascii().is_empty() {
                    continue;
                }
                if !header_seen {
                    header_seen = true;
                    if rec.len() != 1 || !rec[0].trim_ascii().eq_ignore_ascii_case(b"client") {
                        return Err(bad(
                            line,
                            Some(1),
                            "a snapshot CSV has exactly one column, with header \"client\"".into(),
                        ));
                    }
                    continue;
                }
                if rec.len() != 1 {
                    return Err(bad(
                        line,
                        None,
                        format!("expected 1 field as in the header, found {}", rec.len()),
                    ));
                }
                names.push((line, check(line, 1, &rec[0])?));
            }
        }
        SnapshotFormat::Ndjson => {
            for (i, line) in bytes.split(|b| *b == b'\n').enumerate() {
                let line_no = i as u64 + 1;
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                if line.trim_ascii().is_empty() {
                    continue;
                }
                #[derive(serde::Deserialize)]
                #[serde(deny_unknown_fields)]
                struct Row {
                    client: String,
                }
                let row: Row = serde_json::from_slice(line)
                    .map_err(|e| bad(line_no, Some(e.column().max(1) as u64), json_reason(&e)))?;
                let column = key_column(line, "client").unwrap_or(1);
                names.push((line_no, check(line_no, column, row.client.as_bytes())?));
            }
        }
    }
    Ok(names)
}

/// Records the joins and leaves that turn the membership of `collection` as
/// of `at` into the list in `path`, as one transaction.
pub fn ingest_snapshot(
    store: &mut Store,
    collection: &str,
    at: Timestamp,
    path: &Path,
    format: Option<SnapshotFormat>,
) -> anyhow::Result<SnapshotSummary> {
    let started = Instant::now();
    if collection.is_empty() || collection.len() > limits::COLLECTION_NAME_MAX {
        return Err(crate::UsageError(format!(
            "--collection must be 1..={} bytes long",
            limits::COLLECTION_NAME_MAX
        ))
        .into());
    }
    let listed: HashSet<String> = read_snapshot_names(path, format)?
        .into_iter()
        .map(|(_, n)| n)
        .collect();
    let snap = store.snapshot();
    let before: Vec<String> = match (
        snap.collection_id(collection),
        snap.deployment_id(limits::DEFAULT_DEPLOYMENT),
    ) {
        (Some(c), Some(d)) => snap
            .clients_at(d, Some(c), at, None, None)
            .context("read the collection's membership")?
            .into_iter()
            .map(|r| r.client)
            .collect(),
        _ => Vec::new(),
    };
    let before_set: HashSet<&str> = before.iter().map(String::as_str).collect();
    let mut joins: Vec<&str> = listed
        .iter()
        .map(String::as_str)
        .filter(|n| !before_set.contains(n))
        .collect();
    let mut leaves: Vec<&str> = before
        .iter()
        .map(String::as_str)
        .filter(|n| !listed.contains(*n))
        .collect();
    joins.sort_unstable();
    leaves.sort_unstable();
    let mut txn = store.begin().context("begin a transaction")?;
    let mut batch = Batch::new();
    let changes = joins
        .iter()
        .map(|n| (*n, Change::Join))
        .chain(leaves.iter().map(|n| (*n, Change::Leave)));
    for (name, change) in changes {
        batch.push_membership(at, name, collection, change)?;
        if batch.len() >= BATCH_ROWS {
            txn.append(&batch).context("store membership changes")?;
            batch.clear();
        }
    }
    if !batch.is_empty() {
        txn.append(&batch).context("store membership changes")?;
    }
    txn.commit_at(crate::session::wall_clock()).context("commit")?;
    Ok(SnapshotSummary {
        source: display_name(path),
        collection: collection.to_owned(),
        at,
        listed: listed.len() as u64,
        before: before.len() as u64,
        joins: joins.len() as u64,
        leaves: leaves.len() as u64,
        seconds: started.elapsed().as_secs_f64(),
    })
}
