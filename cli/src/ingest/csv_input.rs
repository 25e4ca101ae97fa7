//! The CSV row source: a header row, then one record per row (quoted
//! fields may span lines).
//!
//! Invariants: the reported line of a row (errors and the reject file) is
//! the input's physical line where the record starts; the reported column
//! is the 1-based field number; blank lines are skipped; one record is at
//! most [`MAX_RECORD_BYTES`] long.

use rollcall_engine::Batch;

use super::header::{describe_fields, header_error, misspelt_field};
use super::input::{FILL_AT_MOST, Input, MAX_RECORD_BYTES, RecordTooLong};
use super::rows::{BadRow, OnBad, RowSource, field_error, push_row};
use super::{BadInput, RowKind};

/// Bytes the CSV reader may read ahead of the record it parses (its buffer).
const CSV_READ_AHEAD: u64 = 64 << 10;

pub(super) struct CsvSource {
    rdr: csv::Reader<Input>,
    kind: RowKind,
    /// Header position of each of the kind's fields.
    cols: [Option<usize>; 5],
    width: usize,
    rec: csv::ByteRecord,
    read: u64,
    line: u64,
    file: String,
    /// The last `fill` stopped because standard input paused.
    paused: bool,
}

impl CsvSource {
    pub(super) fn new(mut input: Input, kind: RowKind, file: &str) -> anyhow::Result<CsvSource> {
        // The csv crate's own line count goes wrong on CRLF ends; lines are
        // counted from the bytes instead.
        input.track_lines();
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
                .map_err(|e| csv_error(&mut rdr, file, line + 1, e))?;
            if !more {
                break;
            }
            line = record_line(&mut rdr, &rec, line + 1);
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
            paused: false,
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

/// Lets the CSV reader read one record of at most [`MAX_RECORD_BYTES`] past
/// where it stands.
fn move_fence(rdr: &mut csv::Reader<Input>) {
    let at = rdr.position().byte();
    rdr.get_mut().fence = at.saturating_add(MAX_RECORD_BYTES + CSV_READ_AHEAD);
}

/// The input line where `rec`, just read, starts (`fallback` when the
/// reader has no position). The csv crate's own line count goes wrong on
/// CRLF ends, and its record start may lie before skipped blank lines, so
/// the line is found from the record's last byte (its terminator, or its
/// last byte at the end of the input) less the newlines inside its quoted
/// fields.
fn record_line(rdr: &mut csv::Reader<Input>, rec: &csv::ByteRecord, fallback: u64) -> u64 {
    let end = rdr.position().byte();
    let inside: u64 = rec
        .iter()
        .map(|f| memchr::memchr_iter(b'\n', f).count() as u64)
        .sum();
    match end.checked_sub(1).and_then(|last| rdr.get_mut().line_of(last)) {
        Some(line) => line.saturating_sub(inside).max(1),
        None => fallback,
    }
}

/// `line` is the line the reader stood on, for errors that carry no position.
fn csv_error(rdr: &mut csv::Reader<Input>, file: &str, line: u64, e: csv::Error) -> anyhow::Error {
    // The reader stands at the record's start, or before blank lines
    // skipped ahead of it: at worst an earlier line.
    let line = e
        .position()
        .and_then(|p| rdr.get_mut().line_of(p.byte()))
        .unwrap_or(line)
        .max(line);
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
        let began = std::time::Instant::now();
        if self.width == 0 {
            return Ok(true);
        }
        while batch.len() < max {
            // Every byte read has been parsed (a CR's LF may be left) and
            // the input has paused: hand back what there is.
            let unparsed = self.rdr.get_ref().bytes - self.rdr.position().byte();
            if !batch.is_empty() && unparsed <= 1 && self.rdr.get_ref().paused() {
                self.paused = true;
                return Ok(false);
            }
            // A steady feed never pauses: hand back a short batch in time.
            if !batch.is_empty()
                && batch.len().is_multiple_of(8)
                && self.rdr.get_ref().is_stream()
                && began.elapsed() >= FILL_AT_MOST
            {
                return Ok(false);
            }
            move_fence(&mut self.rdr);
            let more = self
                .rdr
                .read_byte_record(&mut self.rec)
                .map_err(|e| csv_error(&mut self.rdr, &self.file, self.line + 1, e))?;
            if !more {
                return Ok(true);
            }
            self.line = record_line(&mut self.rdr, &self.rec, self.line + 1);
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

    fn take_paused(&mut self) -> bool {
        std::mem::take(&mut self.paused)
    }
}
