//! Opening an input: a file or standard input, a leading UTF-8 byte order
//! mark dropped, bytes counted (for progress), reads fenced so that one
//! record cannot grow without bound, and the format told by extension.
//!
//! Invariants: a reader never reads past its fence (it returns
//! `RecordTooLong` instead), so memory per record is bounded by
//! [`MAX_RECORD_BYTES`] plus the read-ahead; the BOM is dropped before any
//! parser sees the bytes, so it never shifts a line or a column.

use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use anyhow::Context as _;

use crate::args::InputFormat;

/// The longest CSV record read (a row is far smaller; this bounds memory
/// and time on a file that is not CSV, or has a runaway quote).
pub const MAX_RECORD_BYTES: u64 = 1 << 20;

/// The error a [`Counting`] reader returns at its fence.
#[derive(Debug)]
pub(super) struct RecordTooLong;

impl fmt::Display for RecordTooLong {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a record is longer than {MAX_RECORD_BYTES} bytes")
    }
}

impl std::error::Error for RecordTooLong {}

/// Counts bytes read, for the progress bar; refuses to read past `fence`
/// (moved forward by the CSV reader after each record).
pub(super) struct Counting<R> {
    inner: R,
    pub(super) bytes: u64,
    pub(super) fence: u64,
}

impl<R> Counting<R> {
    pub(super) fn new(inner: R) -> Counting<R> {
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
pub(super) fn skip_bom<R: Read>(mut r: R) -> io::Result<io::Chain<io::Cursor<Vec<u8>>, R>> {
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

pub(super) type Input = Counting<Box<dyn Read>>;

pub(super) fn open_input(path: &Path) -> anyhow::Result<(Input, Option<u64>)> {
    if path.as_os_str() == "-" {
        let r: Box<dyn Read> = Box::new(skip_bom(io::stdin().lock()).context("read standard input")?);
        return Ok((Counting::new(r), None));
    }
    let file = File::open(path).with_context(|| format!("open {}", path.display()))?;
    let len = file.metadata().ok().map(|m| m.len());
    let r: Box<dyn Read> = Box::new(skip_bom(file).with_context(|| format!("read {}", path.display()))?);
    Ok((Counting::new(r), len))
}

pub(super) fn display_name(path: &Path) -> String {
    if path.as_os_str() == "-" {
        "<stdin>".to_owned()
    } else {
        path.display().to_string()
    }
}

/// The format of `path`: its extension, or `--input-format` for standard input.
pub(super) fn format_of(
    path: &Path,
    stdin_format: Option<InputFormat>,
) -> Result<InputFormat, crate::UsageError> {
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
