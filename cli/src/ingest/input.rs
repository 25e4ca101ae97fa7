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
use std::sync::mpsc::{Receiver, RecvTimeoutError, sync_channel};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

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
/// (moved forward by the CSV reader after each record). Standard input
/// also carries a [`PauseProbe`].
pub(super) struct Counting<R> {
    inner: R,
    pub(super) bytes: u64,
    pub(super) fence: u64,
    pub(super) pause: Option<PauseProbe>,
    /// Where the newlines read so far are, when the parser asks for lines
    /// by byte offset (see [`Counting::track_lines`]).
    lines: Option<LineMap>,
}

/// Offsets of the `\n` bytes read but not yet passed by a query, and how
/// many newlines came before them: the line of a byte offset, whatever the
/// line ends (LF or CRLF) and however quoted fields span lines.
#[derive(Default)]
struct LineMap {
    newlines: std::collections::VecDeque<u64>,
    before: u64,
}

impl<R> Counting<R> {
    pub(super) fn new(inner: R) -> Counting<R> {
        Counting {
            inner,
            bytes: 0,
            fence: u64::MAX,
            pause: None,
            lines: None,
        }
    }

    /// Starts recording newline offsets, for [`Counting::line_of`]. Called
    /// before the first read.
    pub(super) fn track_lines(&mut self) {
        self.lines = Some(LineMap::default());
    }

    /// The 1-based line that holds byte `offset` (a newline byte belongs
    /// to the line it ends). Offsets asked for must not decrease (records
    /// are read in order); the memory kept is the newlines of the
    /// read-ahead only.
    pub(super) fn line_of(&mut self, offset: u64) -> Option<u64> {
        let map = self.lines.as_mut()?;
        while map.newlines.front().is_some_and(|&nl| nl < offset) {
            map.newlines.pop_front();
            map.before += 1;
        }
        Some(map.before + 1)
    }

    /// Whether this is standard input (which can pause and keep flowing).
    pub(super) fn is_stream(&self) -> bool {
        self.pause.is_some()
    }

    /// Whether the input has paused: nothing arrived for [`PAUSE`] past
    /// what was read (never for a file).
    pub(super) fn paused(&self) -> bool {
        self.pause.as_ref().is_some_and(|p| p.paused(PAUSE))
    }
}

/// How long standard input must stay quiet before the rows read so far
/// are committed (a feed that stops for a while is visible to readers
/// within this time; a burst is still one commit).
pub const PAUSE: Duration = Duration::from_millis(200);

/// Longest one fill of a batch from standard input takes while rows keep
/// coming, so that the ingest loop can commit a steady feed on time.
pub const FILL_AT_MOST: Duration = Duration::from_millis(250);

/// Chunks of standard input read ahead by the feed thread (bounded memory:
/// this many chunks of [`FEED_CHUNK`] bytes).
const FEED_QUEUE: usize = 16;
const FEED_CHUNK: usize = 64 << 10;

/// Standard input, read on its own thread so that the parser can ask
/// whether more input is waiting (see [`PauseProbe`]) without blocking.
struct Feed {
    shared: Arc<Mutex<FeedState>>,
}

struct FeedState {
    chunks: Receiver<io::Result<Vec<u8>>>,
    cur: Vec<u8>,
    pos: usize,
    /// A read error of the feed thread, kept for the parser's next read.
    error: Option<io::Error>,
    ended: bool,
}

impl FeedState {
    /// Takes the next chunk (or the end, or an error), waiting at most
    /// `wait` (`None`: forever). Returns false when nothing came in time.
    fn next_chunk(&mut self, wait: Option<Duration>) -> bool {
        let got = match wait {
            None => self.chunks.recv().map_err(|_| RecvTimeoutError::Disconnected),
            Some(d) => self.chunks.recv_timeout(d),
        };
        match got {
            Ok(Ok(chunk)) => {
                self.cur = chunk;
                self.pos = 0;
            }
            Ok(Err(e)) => {
                self.error = Some(e);
                self.ended = true;
            }
            Err(RecvTimeoutError::Disconnected) => self.ended = true,
            Err(RecvTimeoutError::Timeout) => return false,
        }
        true
    }
}

impl Read for Feed {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut st = self.shared.lock().unwrap_or_else(PoisonError::into_inner);
        while st.pos == st.cur.len() {
            if let Some(e) = st.error.take() {
                return Err(e);
            }
            if st.ended || buf.is_empty() {
                return Ok(0);
            }
            st.next_chunk(None);
        }
        let n = buf.len().min(st.cur.len() - st.pos);
        buf[..n].copy_from_slice(&st.cur[st.pos..st.pos + n]);
        st.pos += n;
        Ok(n)
    }
}

/// Tells the parser of standard input whether the input has paused.
#[derive(Clone)]
pub(super) struct PauseProbe {
    shared: Arc<Mutex<FeedState>>,
}

impl PauseProbe {
    /// True when no unread input is waiting and none arrives within `wait`
    /// (the end of the input, or an error, is not a pause: the parser
    /// reads it next).
    pub(super) fn paused(&self, wait: Duration) -> bool {
        let mut st = self.shared.lock().unwrap_or_else(PoisonError::into_inner);
        if st.pos < st.cur.len() || st.ended {
            return false;
        }
        !st.next_chunk(Some(wait))
    }
}

/// Starts the thread that reads standard input ahead.
fn stdin_feed() -> (Feed, PauseProbe) {
    let (tx, chunks) = sync_channel::<io::Result<Vec<u8>>>(FEED_QUEUE);
    std::thread::spawn(move || {
        let mut stdin = io::stdin().lock();
        loop {
            let mut buf = vec![0u8; FEED_CHUNK];
            match stdin.read(&mut buf) {
                Ok(0) => return,
                Ok(n) => {
                    buf.truncate(n);
                    if tx.send(Ok(buf)).is_err() {
                        return;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            }
        }
    });
    let shared = Arc::new(Mutex::new(FeedState {
        chunks,
        cur: Vec::new(),
        pos: 0,
        error: None,
        ended: false,
    }));
    let probe = PauseProbe {
        shared: Arc::clone(&shared),
    };
    (Feed { shared }, probe)
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let room = self.fence.saturating_sub(self.bytes);
        if room == 0 && !buf.is_empty() {
            return Err(io::Error::new(io::ErrorKind::InvalidData, RecordTooLong));
        }
        let len = buf.len().min(usize::try_from(room).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..len])?;
        if let Some(map) = &mut self.lines {
            map.newlines
                .extend(memchr::memchr_iter(b'\n', &buf[..n]).map(|i| self.bytes + i as u64));
        }
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
        let (feed, probe) = stdin_feed();
        let r: Box<dyn Read> = Box::new(skip_bom(feed).context("read standard input")?);
        let mut input = Counting::new(r);
        input.pause = Some(probe);
        return Ok((input, None));
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
