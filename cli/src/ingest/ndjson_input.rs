//! The NDJSON row source: one JSON object per line, fields as strings or
//! numbers (kept as their text), `null` as missing.
//!
//! Invariants: line numbers count every `\n` (blank lines and CRLF ends
//! included); the column of a field error is the 1-based byte column of
//! its key; a line is at most `MAX_LINE_BYTES` long (a longer one is a bad
//! row and is skipped to its end).

use std::borrow::Cow;
use std::fmt;
use std::io::{BufRead, BufReader, Read};

use anyhow::Context as _;
use rollcall_engine::Batch;
use serde::de::{self, DeserializeSeed, MapAccess, Visitor};

use super::RowKind;
use super::header::{describe_fields, misspelt_field};
use super::input::{FILL_AT_MOST, Input};
use super::rows::{BadRow, OnBad, RowSource, push_row};

pub(super) struct NdjsonSource {
    rdr: BufReader<Input>,
    kind: RowKind,
    buf: Vec<u8>,
    read: u64,
    line: u64,
    /// The last `fill` stopped because standard input paused.
    paused: bool,
}

impl NdjsonSource {
    pub(super) fn new(input: Input, kind: RowKind) -> NdjsonSource {
        NdjsonSource {
            rdr: BufReader::with_capacity(256 * 1024, input),
            kind,
            buf: Vec::with_capacity(512),
            read: 0,
            line: 0,
            paused: false,
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
pub(super) fn key_column(line: &[u8], key: &str) -> Option<u64> {
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
        let began = std::time::Instant::now();
        while batch.len() < max {
            if !batch.is_empty() && self.rdr.buffer().is_empty() && self.rdr.get_ref().paused() {
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

    fn take_paused(&mut self) -> bool {
        std::mem::take(&mut self.paused)
    }
}

pub(super) fn json_reason(e: &serde_json::Error) -> String {
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
