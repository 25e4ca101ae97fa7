//! Rendering a [`Table`] as CSV, JSON, NDJSON, an aligned table with bars
//! (SPEC.md section 4) or an HTML page with charts ([`html`], SPEC 7.7).
//!
//! Invariants: CSV, JSON and NDJSON are the stable interface — column names
//! and order come from the table unchanged, times print as RFC 3339 UTC
//! (`.sss` only when milliseconds are non-zero), error codes as `0x%08x`,
//! nothing as an empty field (CSV) or `null` (JSON); the table format is for
//! people and deterministic (no terminal probing, no colour), so it can be
//! snapshot-tested.

mod bars;
mod csv;
pub mod html;
mod json;
mod table;
mod vertical;

use std::fmt;
use std::io::{self, Write};
use std::str::FromStr;

use crate::result::Table;

/// An output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OutputFormat {
    /// Aligned columns with bars, for people.
    Table,
    /// Header row plus rows, RFC 4180 quoting.
    Csv,
    /// One JSON array of objects keyed by column name.
    Json,
    /// One JSON object per line.
    Ndjson,
    /// A self-contained HTML page: tables, and SVG charts for `STATES`
    /// and `FAILURES`.
    Html,
}

impl OutputFormat {
    /// Every format, in the order `--help` lists them.
    pub const ALL: [OutputFormat; 5] = [
        OutputFormat::Table,
        OutputFormat::Csv,
        OutputFormat::Json,
        OutputFormat::Ndjson,
        OutputFormat::Html,
    ];

    /// `table`, `csv`, `json`, `ndjson` or `html`.
    pub fn as_str(self) -> &'static str {
        match self {
            OutputFormat::Table => "table",
            OutputFormat::Csv => "csv",
            OutputFormat::Json => "json",
            OutputFormat::Ndjson => "ndjson",
            OutputFormat::Html => "html",
        }
    }
}

impl fmt::Display for OutputFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An output format name that is none of `table`, `csv`, `json`, `ndjson`,
/// `html`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown output format {0:?}; use table, csv, json, ndjson or html")]
pub struct UnknownFormat(pub String);

impl FromStr for OutputFormat {
    type Err = UnknownFormat;

    /// Case-insensitive `table`, `csv`, `json`, `ndjson` or `html`.
    fn from_str(s: &str) -> Result<OutputFormat, UnknownFormat> {
        OutputFormat::ALL
            .into_iter()
            .find(|f| f.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| UnknownFormat(s.to_owned()))
    }
}

/// How the `table` format lays records out (the other formats ignore it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Layout {
    /// Columns side by side, unless a width is given and the table would
    /// not fit in it: then [`Layout::Vertical`] (psql's `\x auto`).
    #[default]
    Auto,
    /// Always columns side by side.
    Table,
    /// One record after another, a `column │ value` line per field (psql
    /// `\x`, duckdb `.mode line`).
    Vertical,
}

impl Layout {
    /// `auto`, `table` or `vertical`.
    pub fn as_str(self) -> &'static str {
        match self {
            Layout::Auto => "auto",
            Layout::Table => "table",
            Layout::Vertical => "vertical",
        }
    }
}

impl FromStr for Layout {
    type Err = String;

    /// Case-insensitive `auto`, `table` or `vertical`.
    fn from_str(s: &str) -> Result<Layout, String> {
        [Layout::Auto, Layout::Table, Layout::Vertical]
            .into_iter()
            .find(|l| l.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| format!("unknown layout {s:?}; use auto, table or vertical"))
    }
}

/// The caller's say in the `table` format: the layout and the width to fit
/// (a terminal's columns). Rendering stays deterministic: the renderer never
/// probes a terminal; with no width, bars have their fixed widths and `Auto`
/// means side by side.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct TableStyle {
    /// Side by side, vertical, or chosen by the width.
    pub layout: Layout,
    /// Columns available; `None` for a fixed, terminal-independent output.
    pub width: Option<usize>,
}

/// Writes `table` to `out` in `format`, the `table` format laid out and
/// fitted as `style` says ([`render`] is this with the default style).
pub fn render_styled(
    table: &Table,
    format: OutputFormat,
    style: TableStyle,
    out: &mut dyn Write,
) -> io::Result<()> {
    match format {
        OutputFormat::Table => table::write(table, style, out),
        other => render(table, other, out),
    }
}

/// Writes `table` to `out` in `format` (`html`: a page of its own; several
/// tables on one page, or an index page, are [`html::write_page`] and
/// [`html::write_index`]).
///
/// ```
/// use rollcall_query::{Chart, OutputFormat, Table, Value, render};
/// let table = Table {
///     columns: vec!["client".into(), "state".into(), "since".into()],
///     rows: vec![vec![
///         Value::Text("PC, 1".into()),
///         Value::State(rollcall_engine::State::Failed),
///         Value::Null,
///     ]],
///     chart: Chart::None,
///     notes: Vec::new(),
/// };
/// let mut csv = Vec::new();
/// render(&table, OutputFormat::Csv, &mut csv)?;
/// assert_eq!(String::from_utf8(csv).unwrap(), "client,state,since\n\"PC, 1\",Failed,\n");
///
/// let mut json = Vec::new();
/// render(&table, "JSON".parse().unwrap(), &mut json)?;
/// assert_eq!(
///     String::from_utf8(json).unwrap(),
///     "[\n  {\"client\":\"PC, 1\",\"state\":\"Failed\",\"since\":null}\n]\n"
/// );
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn render(table: &Table, format: OutputFormat, out: &mut dyn Write) -> io::Result<()> {
    match format {
        OutputFormat::Table => table::write(table, TableStyle::default(), out),
        OutputFormat::Csv => csv::write(table, out),
        OutputFormat::Json => json::write_array(table, out),
        OutputFormat::Ndjson => json::write_lines(table, out),
        OutputFormat::Html => html::write(table, out),
    }
}
