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

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context as _;
use indicatif::{ProgressBar, ProgressStyle};
use rollcall_engine::{AppendReport, Batch, Change, ErrorCode, State, Store, Timestamp, limits};
use serde::de::{self, DeserializeSeed, MapAccess, Visitor};

use crate::args::{InputFormat, SnapshotFormat};

/// Rows per batch handed to the engine.
pub const BATCH_ROWS: usize = 64 * 1024;

/// Inputs larger than this show a progress bar (when standard error is a terminal).
const PROGRESS_MIN_BYTES: u64 = 32 << 20;

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
            "{}: {} rows read, {} stored, {} duplicates ignored, {} rejected in {:.2} s",
            self.source, self.read, self.stored, self.duplicates, self.rejected, self.seconds
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

/// A problem with one row: which field (index into the kind's field list, or
/// none for the row as a whole) and why.
#[derive(Debug)]
struct RowError {
    field: Option<usize>,
    reason: String,
}

impl RowError {
    fn row(reason: impl Into<String>) -> RowError {
        RowError {
            field: None,
            reason: reason.into(),
        }
    }
}

fn field_error(kind: RowKind, field: usize, reason: impl fmt::Display) -> RowError {
    RowError {
        field: Some(field),
        reason: format!("{}: {reason}", kind.fields()[field]),
    }
}

const STATE_NAMES: &str = "NotStarted, Compliant, InProgress, NonCompliant, Failed, Unknown";

fn check_name(kind: RowKind, field: usize, name: Option<&str>, max: usize) -> Result<&str, RowError> {
    let Some(name) = name else {
        return Err(field_error(kind, field, "missing"));
    };
    if name.is_empty() {
        return Err(field_error(kind, field, "empty name"));
    }
    if name.len() > max {
        return Err(field_error(
            kind,
            field,
            format_args!("name is {} bytes long, the limit is {max}", name.len()),
        ));
    }
    Ok(name)
}

fn parse_time(kind: RowKind, text: Option<&str>) -> Result<Timestamp, RowError> {
    let Some(text) = text else {
        return Err(field_error(kind, 0, "missing"));
    };
    if text.trim().is_empty() {
        return Err(field_error(kind, 0, "empty time"));
    }
    Timestamp::parse(text).map_err(|e| field_error(kind, 0, format_args!("{e}, found {:?}", text)))
}

/// Validates one row and pushes it into `batch`. `vals` is indexed like the
/// kind's field list; `None` is a missing field.
fn push_row(kind: RowKind, batch: &mut Batch, vals: &[Option<&str>; 5]) -> Result<(), RowError> {
    let time = parse_time(kind, vals[0])?;
    let client = check_name(kind, 1, vals[1], limits::CLIENT_NAME_MAX)?;
    match kind {
        RowKind::Events => {
            let Some(state_text) = vals[2] else {
                return Err(field_error(kind, 2, "missing"));
            };
            if state_text.trim().is_empty() {
                return Err(field_error(kind, 2, "empty state"));
            }
            let state = State::parse(state_text.trim()).ok_or_else(|| {
                field_error(
                    kind,
                    2,
                    format_args!("unknown state {state_text:?}; expected one of {STATE_NAMES}"),
                )
            })?;
            let deployment = match vals[3] {
                None | Some("") => limits::DEFAULT_DEPLOYMENT,
                Some(d) => check_name(kind, 3, Some(d), limits::DEPLOYMENT_NAME_MAX)?,
            };
            let error = match vals[4].map(str::trim) {
                None | Some("") => None,
                Some(e) => Some(ErrorCode::parse(e).ok_or_else(|| {
                    field_error(
                        kind,
                        4,
                        format_args!(
                            "bad error code {e:?}; expected 0x-prefixed hex (0x80070005) or a 32-bit decimal"
                        ),
                    )
                })?),
            };
            batch
                .push_transition(time, client, deployment, state, error)
                .map_err(|e| RowError::row(e.to_string()))
        }
        RowKind::Members => {
            let collection = check_name(kind, 2, vals[2], limits::COLLECTION_NAME_MAX)?;
            let Some(change_text) = vals[3].map(str::trim) else {
                return Err(field_error(kind, 3, "missing"));
            };
            let change = Change::parse(change_text).ok_or_else(|| {
                field_error(
                    kind,
                    3,
                    format_args!("expected join or leave, found {change_text:?}"),
                )
            })?;
            batch
                .push_membership(time, client, collection, change)
                .map_err(|e| RowError::row(e.to_string()))
        }
    }
}

// ----- input plumbing ----------------------------------------------------------

/// The longest CSV record read (a row is far smaller; this bounds memory
/// and time on a file that is not CSV, or has a runaway quote).
pub const MAX_RECORD_BYTES: u64 = 1 << 20;

/// Bytes the CSV reader may read ahead of the record it parses (its buffer).
const CSV_READ_AHEAD: u64 = 64 << 10;

/// The error a [`Counting`] reader returns at its fence.
#[derive(Debug)]
struct RecordTooLong;

impl fmt::Display for RecordTooLong {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a record is longer than {MAX_RECORD_BYTES} bytes")
    }
}

impl std::error::Error for RecordTooLong {}

/// Counts bytes read, for the progress bar; refuses to read past `fence`
/// (moved forward by the CSV reader after each record).
struct Counting<R> {
    inner: R,
    bytes: u64,
    fence: u64,
}

impl<R> Counting<R> {
    fn new(inner: R) -> Counting<R> {
        Counting {
            inner,
            bytes: 0,
            fence: u64::MAX,
        }
    }
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let room = self.fence.saturating_sub(self.bytes);
        if room == 0 && !buf.is_empty() {
            return Err(io::Error::new(io::ErrorKind::InvalidData, RecordTooLong));
        }
        let len = buf.len().min(usize::try_from(room).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..len])?;
        self.bytes += n as u64;
        Ok(n)
    }
}

/// Reads `r`, dropping a leading UTF-8 byte order mark.
fn skip_bom<R: Read>(mut r: R) -> io::Result<io::Chain<io::Cursor<Vec<u8>>, R>> {
    let mut head = Vec::with_capacity(3);
    let mut byte = [0u8; 1];
    while head.len() < 3 {
        match r.read(&mut byte) {
            Ok(0) => break,
            Ok(_) => {
                head.push(byte[0]);
                if head[..] != b"\xEF\xBB\xBF"[..head.len()] {
                    break;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    if head == b"\xEF\xBB\xBF" {
        head.clear();
    }
    Ok(io::Cursor::new(head).chain(r))
}

type Input = Counting<Box<dyn Read>>;

fn open_input(path: &Path) -> anyhow::Result<(Input, Option<u64>)> {
    if path.as_os_str() == "-" {
        let r: Box<dyn Read> = Box::new(skip_bom(io::stdin().lock()).context("read standard input")?);
        return Ok((Counting::new(r), None));
    }
    let file = File::open(path).with_context(|| format!("open {}", path.display()))?;
    let len = file.metadata().ok().map(|m| m.len());
    let r: Box<dyn Read> = Box::new(skip_bom(file).with_context(|| format!("read {}", path.display()))?);
    Ok((Counting::new(r), len))
}

fn display_name(path: &Path) -> String {
    if path.as_os_str() == "-" {
        "<stdin>".to_owned()
    } else {
        path.display().to_string()
    }
}

/// The format of `path`: its extension, or `--input-format` for standard input.
fn format_of(path: &Path, stdin_format: Option<InputFormat>) -> Result<InputFormat, crate::UsageError> {
    if path.as_os_str() == "-" {
        return stdin_format.ok_or_else(|| {
            crate::UsageError(
                "reading standard input needs --input-format csv or --input-format ndjson".into(),
            )
        });
    }
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("csv") => Ok(InputFormat::Csv),
        Some("ndjson" | "jsonl") => Ok(InputFormat::Ndjson),
        _ => stdin_format.ok_or_else(|| {
            crate::UsageError(format!(
                "{}: cannot tell the format from the extension; name it .csv, .ndjson or .jsonl, or pass --input-format",
                path.display()
            ))
        }),
    }
}

/// Where rejected rows of `path` go: `<input>.rejects.csv` next to the input,
/// or `stdin.rejects.csv` in the current directory.
pub fn reject_path(path: &Path) -> PathBuf {
    if path.as_os_str() == "-" {
        return PathBuf::from("stdin.rejects.csv");
    }
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".rejects.csv");
    path.with_file_name(name)
}

/// The reject file, created on the first rejected row.
struct Rejects {
    path: PathBuf,
    writer: Option<csv::Writer<File>>,
    count: u64,
}

impl Rejects {
    fn new(path: PathBuf) -> Rejects {
        Rejects {
            path,
            writer: None,
            count: 0,
        }
    }

    fn write(&mut self, line: u64, column: Option<u64>, reason: &str, row: &str) -> anyhow::Result<()> {
        if self.writer.is_none() {
            let file = File::create(&self.path)
                .with_context(|| format!("create reject file {}", self.path.display()))?;
            let mut w = csv::Writer::from_writer(file);
            w.write_record(["line", "column", "reason", "row"])?;
            self.writer = Some(w);
        }
        if let Some(w) = &mut self.writer {
            let line = line.to_string();
            let column = column.map(|c| c.to_string()).unwrap_or_default();
            w.write_record([line.as_str(), column.as_str(), reason, row])
                .with_context(|| format!("write reject file {}", self.path.display()))?;
        }
        self.count += 1;
        Ok(())
    }

    fn finish(self) -> anyhow::Result<Option<PathBuf>> {
        match self.writer {
            Some(mut w) => {
                w.flush()
                    .with_context(|| format!("write reject file {}", self.path.display()))?;
                Ok(Some(self.path))
            }
            None => Ok(None),
        }
    }
}

fn progress_bar(enabled: bool, len: Option<u64>) -> Option<ProgressBar> {
    if !enabled {
        return None;
    }
    match len {
        Some(n) if n >= PROGRESS_MIN_BYTES => {
            let pb = ProgressBar::new(n);
            if let Ok(style) =
                ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
            {
                pb.set_style(style);
            }
            Some(pb)
        }
        Some(_) => None,
        None => {
            let pb = ProgressBar::new_spinner();
            if let Ok(style) = ProgressStyle::with_template("{spinner} {bytes} read, {bytes_per_sec}") {
                pb.set_style(style);
            }
            Some(pb)
        }
    }
}

// ----- row sources ---------------------------------------------------------------

/// A bad row found while reading.
#[derive(Debug)]
struct BadRow {
    line: u64,
    column: Option<u64>,
    reason: String,
    raw: String,
}

type OnBad<'a> = dyn FnMut(BadRow) -> anyhow::Result<()> + 'a;

/// Something that turns input rows into batch rows.
trait RowSource {
    /// Reads rows into `batch` until it holds `max` rows or the input ends;
    /// returns true at the end of the input. Bad rows go to `on_bad`.
    fn fill(&mut self, batch: &mut Batch, max: usize, on_bad: &mut OnBad<'_>) -> anyhow::Result<bool>;
    /// Data rows read so far.
    fn rows_read(&self) -> u64;
    /// Line of the last row read.
    fn line(&self) -> u64;
    /// Input bytes consumed so far.
    fn bytes_read(&self) -> u64;
}

/// The field `name` is probably a misspelling of: within one edit of a
/// field of up to five letters, two edits of a longer one (transpositions
/// count as two).
fn misspelt_field(name: &str, fields: &[&'static str]) -> Option<&'static str> {
    fields.iter().copied().find(|f| {
        let limit = if f.len() <= 5 { 1 } else { 2 };
        name != *f && edit_distance(name, f) <= limit
    })
}

/// Levenshtein distance over bytes (names here are short ASCII).
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, &ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let subst = prev[j] + usize::from(ca != cb);
            cur[j + 1] = subst.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

fn header_error(file: &str, line: u64, column: Option<u64>, reason: String) -> anyhow::Error {
    anyhow::Error::new(BadInput {
        file: file.to_owned(),
        line,
        column,
        reason,
        note: Some("nothing from this file was stored".to_owned()),
    })
}

struct CsvSource {
    rdr: csv::Reader<Input>,
    kind: RowKind,
    /// Header position of each of the kind's fields.
    cols: [Option<usize>; 5],
    width: usize,
    rec: csv::ByteRecord,
    read: u64,
    line: u64,
    file: String,
}

impl CsvSource {
    fn new(input: Input, kind: RowKind, file: &str) -> anyhow::Result<CsvSource> {
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(input);
        let mut rec = csv::ByteRecord::new();
        let mut cols = [None; 5];
        let mut width = 0;
        let mut line = 0;
        loop {
            move_fence(&mut rdr);
            let more = rdr
                .read_byte_record(&mut rec)
                .map_err(|e| csv_error(file, line + 1, e))?;
            if !more {
                break;
            }
            line = rec.position().map_or(1, |p| p.line());
            if rec.len() == 1 && rec[0].trim_ascii().is_empty() {
                continue;
            }
            width = rec.len();
            let fields = kind.fields();
            for (j, raw) in rec.iter().enumerate() {
                let name = String::from_utf8_lossy(raw).trim().to_ascii_lowercase();
                let Some(i) = fields.iter().position(|f| *f == name) else {
                    if let Some(meant) = misspelt_field(&name, fields) {
                        return Err(header_error(
                            file,
                            line,
                            Some(j as u64 + 1),
                            format!(
                                "unknown column {:?} (did you mean {meant:?}?); the columns are {}",
                                String::from_utf8_lossy(raw),
                                describe_fields(kind)
                            ),
                        ));
                    }
                    eprintln!(
                        "warning: {file}:{line}:{}: ignoring unknown column {:?}",
                        j + 1,
                        String::from_utf8_lossy(raw)
                    );
                    continue;
                };
                if cols[i].is_some() {
                    return Err(header_error(
                        file,
                        line,
                        Some(j as u64 + 1),
                        format!("column {name:?} appears twice"),
                    ));
                }
                cols[i] = Some(j);
            }
            for (i, f) in fields.iter().enumerate() {
                if kind.required(i) && cols[i].is_none() {
                    return Err(header_error(
                        file,
                        line,
                        None,
                        format!(
                            "the header has no {f:?} column; the columns are {}",
                            describe_fields(kind)
                        ),
                    ));
                }
            }
            break;
        }
        Ok(CsvSource {
            rdr,
            kind,
            cols,
            width,
            rec,
            read: 0,
            line,
            file: file.to_owned(),
        })
    }

    fn raw(&self) -> String {
        let mut w = csv::WriterBuilder::new().from_writer(Vec::new());
        if w.write_byte_record(&self.rec).is_err() {
            return String::new();
        }
        let bytes = w.into_inner().unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes);
        text.trim_end_matches(['\r', '\n']).to_owned()
    }
}

fn describe_fields(kind: RowKind) -> String {
    let fields = kind.fields();
    fields
        .iter()
        .enumerate()
        .map(|(i, f)| {
            if kind.required(i) {
                (*f).to_owned()
            } else {
                format!("{f} (optional)")
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Lets the CSV reader read one record of at most [`MAX_RECORD_BYTES`] past
/// where it stands.
fn move_fence(rdr: &mut csv::Reader<Input>) {
    let at = rdr.position().byte();
    rdr.get_mut().fence = at.saturating_add(MAX_RECORD_BYTES + CSV_READ_AHEAD);
}

/// `line` is the line the reader stood on, for errors that carry no position.
fn csv_error(file: &str, line: u64, e: csv::Error) -> anyhow::Error {
    let line = e.position().map_or(line, |p| p.line());
    match e.into_kind() {
        csv::ErrorKind::Io(io) if io.get_ref().is_some_and(|e| e.is::<RecordTooLong>()) => {
            anyhow::Error::new(BadInput {
                file: file.to_owned(),
                line,
                column: None,
                reason: format!("{RecordTooLong} (the limit); is this a CSV file, or is a quote left open?"),
                note: Some("nothing from this file was stored".to_owned()),
            })
        }
        csv::ErrorKind::Io(io) => anyhow::Error::new(io).context(format!("read {file}")),
        other => anyhow::Error::new(BadInput {
            file: file.to_owned(),
            line,
            column: None,
            reason: format!("{other:?}"),
            note: None,
        }),
    }
}

impl RowSource for CsvSource {
    fn fill(&mut self, batch: &mut Batch, max: usize, on_bad: &mut OnBad<'_>) -> anyhow::Result<bool> {
        if self.width == 0 {
            return Ok(true);
        }
        while batch.len() < max {
            move_fence(&mut self.rdr);
            let more = self
                .rdr
                .read_byte_record(&mut self.rec)
                .map_err(|e| csv_error(&self.file, self.line + 1, e))?;
            if !more {
                return Ok(true);
            }
            self.line = self.rec.position().map_or(self.line + 1, |p| p.line());
            if self.rec.len() == 1 && self.rec[0].trim_ascii().is_empty() {
                continue;
            }
            self.read += 1;
            if self.rec.len() != self.width {
                on_bad(BadRow {
                    line: self.line,
                    column: None,
                    reason: format!(
                        "expected {} fields as in the header, found {}",
                        self.width,
                        self.rec.len()
                    ),
                    raw: self.raw(),
                })?;
                continue;
            }
            let mut vals: [Option<&str>; 5] = [None; 5];
            let mut utf8_error = None;
            for (i, col) in self.cols.iter().enumerate() {
                if let Some(j) = *col {
                    match std::str::from_utf8(&self.rec[j]) {
                        Ok(s) => vals[i] = Some(s),
                        Err(_) => {
                            utf8_error = Some((j, i));
                            break;
                        }
                    }
                }
            }
            let result = match utf8_error {
                Some((_, i)) => Err(field_error(self.kind, i, "not valid UTF-8")),
                None => push_row(self.kind, batch, &vals),
            };
            if let Err(e) = result {
                let column = e.field.and_then(|f| self.cols[f]).map(|j| j as u64 + 1);
                let raw = self.raw();
                on_bad(BadRow {
                    line: self.line,
                    column,
                    reason: e.reason,
                    raw,
                })?;
            }
        }
        Ok(false)
    }

    fn rows_read(&self) -> u64 {
        self.read
    }

    fn line(&self) -> u64 {
        self.line
    }

    fn bytes_read(&self) -> u64 {
        self.rdr.get_ref().bytes
    }
}

struct NdjsonSource {
    rdr: BufReader<Input>,
    kind: RowKind,
    buf: Vec<u8>,
    read: u64,
    line: u64,
}

impl NdjsonSource {
    fn new(input: Input, kind: RowKind) -> NdjsonSource {
        NdjsonSource {
            rdr: BufReader::with_capacity(256 * 1024, input),
            kind,
            buf: Vec::with_capacity(512),
            read: 0,
            line: 0,
        }
    }
}

/// The longest NDJSON line read (a row is far smaller; this bounds memory).
const MAX_LINE_BYTES: usize = 1 << 20;

/// Consumes input up to and including the next newline.
fn skip_line(r: &mut impl BufRead) -> anyhow::Result<()> {
    loop {
        let avail = r.fill_buf().context("read input")?;
        if avail.is_empty() {
            return Ok(());
        }
        match avail.iter().position(|b| *b == b'\n') {
            Some(i) => {
                r.consume(i + 1);
                return Ok(());
            }
            None => {
                let n = avail.len();
                r.consume(n);
            }
        }
    }
}

/// 1-based byte column of `"key"` used as an object key in `line`.
fn key_column(line: &[u8], key: &str) -> Option<u64> {
    let pat = format!("\"{key}\"");
    let pat = pat.as_bytes();
    let mut from = 0;
    while let Some(i) = line[from..].windows(pat.len()).position(|w| w == pat) {
        let at = from + i;
        let after = &line[at + pat.len()..];
        if after.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b':') {
            return Some(at as u64 + 1);
        }
        from = at + 1;
    }
    None
}

impl RowSource for NdjsonSource {
    fn fill(&mut self, batch: &mut Batch, max: usize, on_bad: &mut OnBad<'_>) -> anyhow::Result<bool> {
        while batch.len() < max {
            self.buf.clear();
            let n = (&mut self.rdr)
                .take(MAX_LINE_BYTES as u64 + 1)
                .read_until(b'\n', &mut self.buf)
                .context("read input")?;
            if n == 0 {
                return Ok(true);
            }
            self.line += 1;
            if self.buf.len() > MAX_LINE_BYTES && self.buf.last() != Some(&b'\n') {
                skip_line(&mut self.rdr)?;
                self.read += 1;
                let head = String::from_utf8_lossy(&self.buf[..200]).into_owned();
                on_bad(BadRow {
                    line: self.line,
                    column: None,
                    reason: format!("line is longer than {MAX_LINE_BYTES} bytes"),
                    raw: format!("{head}..."),
                })?;
                continue;
            }
            while matches!(self.buf.last(), Some(b'\n' | b'\r')) {
                self.buf.pop();
            }
            if self.buf.trim_ascii().is_empty() {
                continue;
            }
            self.read += 1;
            let kind = self.kind;
            let mut de = serde_json::Deserializer::from_slice(&self.buf);
            let parsed = ObjectSeed { kind }
                .deserialize(&mut de)
                .and_then(|vals| de.end().map(|()| vals));
            let bad = match parsed {
                Err(e) => Some((Some(e.column().max(1) as u64), json_reason(&e))),
                Ok(vals) => {
                    let refs: [Option<&str>; 5] = std::array::from_fn(|i| vals[i].as_deref());
                    match push_row(kind, batch, &refs) {
                        Ok(()) => None,
                        Err(e) => {
                            let column = e
                                .field
                                .map(|f| key_column(&self.buf, kind.fields()[f]).unwrap_or(1));
                            Some((column, e.reason))
                        }
                    }
                }
            };
            if let Some((column, reason)) = bad {
                on_bad(BadRow {
                    line: self.line,
                    column,
                    reason,
                    raw: String::from_utf8_lossy(&self.buf).into_owned(),
                })?;
            }
        }
        Ok(false)
    }

    fn rows_read(&self) -> u64 {
        self.read
    }

    fn line(&self) -> u64 {
        self.line
    }

    fn bytes_read(&self) -> u64 {
        self.rdr.get_ref().bytes
    }
}

fn json_reason(e: &serde_json::Error) -> String {
    // serde_json appends " at line L column C"; the position is printed
    // separately, so keep the message only.
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(i) => format!("bad JSON: {}", &text[..i]),
        None => format!("bad JSON: {text}"),
    }
}

/// Deserializes one NDJSON object into the kind's fields (strings borrowed
/// from the line when they hold no escapes; numbers kept as their text).
struct ObjectSeed {
    kind: RowKind,
}

type Fields<'de> = [Option<Cow<'de, str>>; 5];

impl<'de> DeserializeSeed<'de> for ObjectSeed {
    type Value = Fields<'de>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ObjectSeed {
    type Value = Fields<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a JSON object with fields {}", describe_fields(self.kind))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let fields = self.kind.fields();
        let mut vals: Fields<'de> = Default::default();
        let mut seen = [false; 5];
        while let Some(key) = map.next_key::<JsonStr<'de>>()? {
            let Some(i) = fields.iter().position(|f| *f == key.0) else {
                if let Some(meant) = misspelt_field(&key.0, fields) {
                    return Err(de::Error::custom(format_args!(
                        "unknown field {:?} (did you mean {meant:?}?); the fields are {}",
                        key.0,
                        describe_fields(self.kind)
                    )));
                }
                map.next_value::<de::IgnoredAny>()?;
                continue;
            };
            if seen[i] {
                return Err(de::Error::custom(format_args!("field {:?} appears twice", key.0)));
            }
            seen[i] = true;
            vals[i] = map.next_value::<JsonScalar<'de>>()?.0;
        }
        Ok(vals)
    }
}

/// A JSON string, borrowed when possible.
struct JsonStr<'de>(Cow<'de, str>);

impl<'de> de::Deserialize<'de> for JsonStr<'de> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = JsonStr<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(JsonStr(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(JsonStr(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(JsonStr(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// A field value: a string or a number (as text), `None` for null.
struct JsonScalar<'de>(Option<Cow<'de, str>>);

impl<'de> de::Deserialize<'de> for JsonScalar<'de> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = JsonScalar<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string, a number or null")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(JsonScalar(Some(Cow::Borrowed(v))))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(JsonScalar(Some(Cow::Owned(v.to_owned()))))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(JsonScalar(Some(Cow::Owned(v))))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(JsonScalar(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(JsonScalar(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Ok(JsonScalar(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(JsonScalar(None))
            }
            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(JsonScalar(None))
            }
        }
        d.deserialize_any(V)
    }
}

// ----- the driver ----------------------------------------------------------------

/// Ingests one file (or `-`) of transitions or membership changes.
///
/// A file is one transaction; standard input is committed every
/// `opts.commit_every` rows. Without `skip_bad_rows` the first bad row
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
        loop {
            let mut in_txn = 0u64;
            let eof = loop {
                let room = match commit_every {
                    Some(n) => (n - in_txn).min(BATCH_ROWS as u64) as usize,
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
                if !eof {
                    let msg = format!(
                        "{file}: committed {} rows through line {committed_line} ({commits} commits so far)",
                        total.transitions + total.memberships
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

// ----- membership snapshots ------------------------------------------------------

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
