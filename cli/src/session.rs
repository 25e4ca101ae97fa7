//! [`Session`]: running RQL text against the store, shared by the REPL, the
//! piped batch mode, `query` and `run`.
//!
//! A session holds what a person sets once and keeps (output format,
//! parameters, timing, output target) and runs scripts: parse, check every
//! parameter before anything runs, open a fresh read-only snapshot, run the
//! statements in order, hand each table to a [`Sink`]. It also interprets the
//! dot-commands.
//!
//! Invariants: `NOW` is read from the wall clock once per script (the only
//! clock read of the query path), unless the session was given a fixed
//! `now`; every script opens its own read-only store, so it sees every ingest
//! acknowledged before it started; a failing statement stops the script and
//! is named (position and `-- name:`) in the error.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use rollcall_engine::{Snapshot, Store, Timestamp};
use rollcall_query::{ErrorKind, ExecOptions, Layout, OutputFormat, Params, QueryError, Table, TableStyle};

use crate::{Rendered, UsageError};

/// The wall clock as a [`Timestamp`] (what `NOW` means on the command line).
pub fn wall_clock() -> Timestamp {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    Timestamp(ms)
}

/// A statement whose table a [`Sink`] receives.
#[derive(Clone, Copy, Debug)]
pub struct StatementInfo<'a> {
    /// Its position in the script, 0-based.
    pub index: usize,
    /// How many statements the script has.
    pub count: usize,
    /// Its `-- name:`, if any.
    pub name: Option<&'a str>,
    /// Its text as written in the script.
    pub text: &'a str,
}

/// Where tables go.
pub trait Sink {
    /// Receives the table of statement `index` (0-based) of `count`.
    fn table(&mut self, index: usize, count: usize, name: Option<&str>, table: &Table) -> anyhow::Result<()>;

    /// Receives the table of a statement with its text; by default
    /// [`Sink::table`].
    fn statement(&mut self, st: &StatementInfo<'_>, table: &Table) -> anyhow::Result<()> {
        self.table(st.index, st.count, st.name, table)
    }

    /// The script ended, after its last statement or a failing one: write
    /// what was held back (the HTML page of every table). By default nothing.
    fn finish(&mut self) -> anyhow::Result<()> {
        Ok(())
    }
}

/// A table held back for an HTML page: (1-based number, name, text, table).
type Held = (usize, Option<String>, Option<String>, Table);

/// Writes one HTML page holding `held` to `out`.
fn write_held_page(title: &str, held: &[Held], out: &mut dyn Write) -> io::Result<()> {
    let sections: Vec<rollcall_query::html::Section<'_>> = held
        .iter()
        .map(|(number, name, text, table)| rollcall_query::html::Section {
            number: *number,
            name: name.as_deref(),
            statement: text.as_deref(),
            table,
        })
        .collect();
    rollcall_query::html::write_page(title, None, &sections, out)
}

/// Writes tables to a stream, separated by a blank line; in the HTML
/// format, holds them back and writes one page per script
/// ([`Sink::finish`]).
#[derive(Debug)]
pub struct StreamSink<W: Write> {
    out: W,
    format: OutputFormat,
    style: TableStyle,
    written: usize,
    title: String,
    held: Vec<Held>,
}

impl<W: Write> StreamSink<W> {
    /// A sink writing `format` to `out`.
    pub fn new(out: W, format: OutputFormat) -> StreamSink<W> {
        StreamSink {
            out,
            format,
            style: TableStyle::default(),
            written: 0,
            title: "rollcall".to_owned(),
            held: Vec::new(),
        }
    }

    /// The title of the HTML page (`rollcall` unless set).
    pub fn set_title(&mut self, title: &str) {
        title.clone_into(&mut self.title);
    }

    /// The stream back.
    pub fn into_inner(self) -> W {
        self.out
    }

    /// The underlying stream (for dot-command output).
    pub fn writer(&mut self) -> &mut W {
        &mut self.out
    }

    /// Changes the format of the next tables.
    pub fn set_format(&mut self, format: OutputFormat) {
        self.format = format;
    }

    /// Changes the layout and width of the next tables in the table format.
    pub fn set_style(&mut self, style: TableStyle) {
        self.style = style;
    }
}

impl<W: Write> StreamSink<W> {
    fn write_table(&mut self, table: &Table) -> anyhow::Result<()> {
        if self.written > 0 {
            self.out.write_all(b"\n")?;
        }
        rollcall_query::render_styled(table, self.format, self.style, &mut self.out)?;
        self.out.flush()?;
        self.written += 1;
        Ok(())
    }
}

impl<W: Write> Sink for StreamSink<W> {
    fn table(
        &mut self,
        index: usize,
        _count: usize,
        name: Option<&str>,
        table: &Table,
    ) -> anyhow::Result<()> {
        if self.format == OutputFormat::Html {
            self.held
                .push((index + 1, name.map(str::to_owned), None, table.clone()));
            return Ok(());
        }
        self.write_table(table)
    }

    fn statement(&mut self, st: &StatementInfo<'_>, table: &Table) -> anyhow::Result<()> {
        if self.format == OutputFormat::Html {
            self.held.push((
                st.index + 1,
                st.name.map(str::to_owned),
                Some(st.text.to_owned()),
                table.clone(),
            ));
            return Ok(());
        }
        self.write_table(table)
    }

    fn finish(&mut self) -> anyhow::Result<()> {
        if self.held.is_empty() {
            return Ok(());
        }
        let held = std::mem::take(&mut self.held);
        if self.written > 0 {
            self.out.write_all(b"\n")?;
        }
        write_held_page(&self.title, &held, &mut self.out)?;
        self.out.flush()?;
        self.written += 1;
        Ok(())
    }
}

/// The file extension for a format.
pub fn extension(format: OutputFormat) -> &'static str {
    match format {
        OutputFormat::Table => "txt",
        OutputFormat::Csv => "csv",
        OutputFormat::Json => "json",
        OutputFormat::Ndjson => "ndjson",
        OutputFormat::Html => "html",
    }
}

/// The file stem for statement `index` of `count`: its `-- name:` made safe
/// for a file name, or its 1-based position zero-padded (`01`).
pub fn file_stem(index: usize, count: usize, name: Option<&str>) -> String {
    if let Some(name) = name {
        let safe: String = name
            .trim()
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        if !safe.is_empty() && !safe.starts_with('.') {
            return safe;
        }
    }
    let width = count.to_string().len().max(2);
    format!("{:0width$}", index + 1)
}

/// The index page `run --format html --output-dir` writes beside the
/// statements' pages.
pub const INDEX_PAGE: &str = "index.html";

/// A line of the index page: file name, name, text, rows, gate verdict.
type IndexLine = (String, Option<String>, String, usize, Option<bool>);

/// Writes each table to its own file in a directory; in the HTML format
/// also an index page ([`INDEX_PAGE`]) linking them ([`Sink::finish`]).
#[derive(Debug)]
pub struct DirSink {
    dir: PathBuf,
    format: OutputFormat,
    /// Files written, with their row counts.
    pub written: Vec<(PathBuf, usize)>,
    /// The title of the HTML pages (`rollcall` unless set).
    pub title: String,
    index: Vec<IndexLine>,
}

impl DirSink {
    /// A sink writing into `dir` (created when missing).
    pub fn new(dir: &Path, format: OutputFormat) -> anyhow::Result<DirSink> {
        std::fs::create_dir_all(dir).with_context(|| format!("create output directory {}", dir.display()))?;
        Ok(DirSink {
            dir: dir.to_path_buf(),
            format,
            written: Vec::new(),
            title: "rollcall".to_owned(),
            index: Vec::new(),
        })
    }

    fn write_file(
        &mut self,
        st: &StatementInfo<'_>,
        text: Option<&str>,
        table: &Table,
    ) -> anyhow::Result<()> {
        let file_name = format!(
            "{}.{}",
            file_stem(st.index, st.count, st.name),
            extension(self.format)
        );
        let path = self.dir.join(&file_name);
        let file = File::create(&path).with_context(|| format!("create {}", path.display()))?;
        let mut w = BufWriter::new(file);
        match self.format {
            OutputFormat::Html => {
                let section = rollcall_query::html::Section {
                    number: st.index + 1,
                    name: st.name,
                    statement: text,
                    table,
                };
                rollcall_query::html::write_page(&self.title, Some(INDEX_PAGE), &[section], &mut w)
            }
            format => rollcall_query::render(table, format, &mut w),
        }
        .with_context(|| format!("write {}", path.display()))?;
        w.flush().with_context(|| format!("write {}", path.display()))?;
        crate::note(&format!(
            "wrote {} ({})",
            path.display(),
            crate::plural(table.rows.len() as u64, "row", "rows")
        ));
        self.written.push((path, table.rows.len()));
        self.index.push((
            file_name,
            st.name.map(str::to_owned),
            text.unwrap_or_default().to_owned(),
            table.rows.len(),
            rollcall_query::html::gate_passed(table),
        ));
        Ok(())
    }
}

impl Sink for DirSink {
    fn table(&mut self, index: usize, count: usize, name: Option<&str>, table: &Table) -> anyhow::Result<()> {
        let st = StatementInfo {
            index,
            count,
            name,
            text: "",
        };
        self.write_file(&st, None, table)
    }

    fn statement(&mut self, st: &StatementInfo<'_>, table: &Table) -> anyhow::Result<()> {
        self.write_file(st, Some(st.text), table)
    }

    fn finish(&mut self) -> anyhow::Result<()> {
        if self.format != OutputFormat::Html || self.index.is_empty() {
            return Ok(());
        }
        let entries: Vec<rollcall_query::html::IndexEntry<'_>> = self
            .index
            .iter()
            .map(
                |(href, name, text, rows, gate)| rollcall_query::html::IndexEntry {
                    href,
                    name: name.as_deref(),
                    statement: text,
                    rows: *rows,
                    gate_passed: *gate,
                },
            )
            .collect();
        let path = self.dir.join(INDEX_PAGE);
        let file = File::create(&path).with_context(|| format!("create {}", path.display()))?;
        let mut w = BufWriter::new(file);
        rollcall_query::html::write_index(&self.title, &entries, &mut w)
            .and_then(|()| w.flush())
            .with_context(|| format!("write {}", path.display()))?;
        crate::note(&format!(
            "wrote {} ({})",
            path.display(),
            crate::plural(entries.len() as u64, "page", "pages")
        ));
        Ok(())
    }
}

/// Where the REPL's `.output` sends results.
#[derive(Debug)]
enum Output {
    Stdout,
    File(PathBuf, BufWriter<File>),
}

/// What a dot-command asks of the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DotOutcome {
    /// Keep going.
    Continue,
    /// Leave the REPL / stop the batch.
    Quit,
}

/// The REPL's and batch mode's state, and the runner of scripts.
#[derive(Debug)]
pub struct Session {
    db: PathBuf,
    /// Result format.
    pub format: OutputFormat,
    /// Layout and width of the table format (`.mode`; the REPL sets the
    /// width to the terminal's before each statement).
    pub style: TableStyle,
    /// Print the time each statement took (to standard error).
    pub timing: bool,
    /// `$name` values.
    pub params: Params,
    /// A fixed `NOW` (the demo); `None` reads the wall clock per script.
    pub now: Option<Timestamp>,
    cancel: Arc<AtomicBool>,
    output: Output,
    fixed: Option<Snapshot>,
    last: Option<Snapshot>,
    /// `GATE` statements run so far with a failed condition (SPEC 7.9: a
    /// batch exits 3 after running everything; the REPL only shows them).
    pub gates_failed: usize,
}

impl Session {
    /// A session on the store in `db`.
    pub fn new(db: &Path, format: OutputFormat) -> Session {
        Session {
            db: db.to_path_buf(),
            format,
            style: TableStyle::default(),
            timing: false,
            params: Params::new(),
            now: None,
            cancel: Arc::new(AtomicBool::new(false)),
            output: Output::Stdout,
            fixed: None,
            last: None,
            gates_failed: 0,
        }
    }

    /// The store directory.
    pub fn db(&self) -> &Path {
        &self.db
    }

    /// The flag that cancels the running statement (set it from a Ctrl-C
    /// handler). Once set, every statement fails with [`Cancelled`] until
    /// [`Session::reset_cancel`].
    pub fn cancel_flag(&self) -> Arc<AtomicBool> {
        self.cancel.clone()
    }

    /// Clears the cancel flag (the REPL does so before reading each input,
    /// so a Ctrl-C pressed while a statement runs is never lost).
    pub fn reset_cancel(&self) {
        self.cancel.store(false, Ordering::SeqCst);
    }

    /// The snapshot the last script ran on (the REPL completes names from it).
    pub fn last_snapshot(&self) -> Option<&Snapshot> {
        self.last.as_ref()
    }

    /// Makes every script read `snapshot` instead of opening the store (the
    /// demo, which already holds the writer).
    pub fn use_snapshot(&mut self, snapshot: Snapshot) {
        self.fixed = Some(snapshot);
    }

    /// Opens a fresh read-only snapshot of the store.
    pub fn snapshot(&self) -> anyhow::Result<Snapshot> {
        if let Some(s) = &self.fixed {
            return Ok(s.fork());
        }
        let store =
            Store::open_read_only(&self.db).with_context(|| format!("open store {}", self.db.display()))?;
        Ok(store.snapshot())
    }

    fn query_failure(
        e: &QueryError,
        source: &str,
        (origin, first_line): (&str, usize),
        note: Option<String>,
    ) -> anyhow::Error {
        if matches!(e.kind(), ErrorKind::Cancelled) {
            return anyhow::Error::new(Cancelled);
        }
        let mut text = e.render_from_line(source, origin, first_line);
        if let Some(note) = note {
            if !text.ends_with('\n') {
                text.push('\n');
            }
            text.push_str(&note);
        }
        anyhow::Error::new(Rendered {
            text,
            code: u8::try_from(e.exit_code()).unwrap_or(1),
        })
    }

    /// Runs every statement of `source` in order, handing each table to
    /// `sink`. Parse errors and unbound parameters are reported before
    /// anything runs (exit code 2); the first failing statement stops the
    /// run. Returns the number of statements run.
    pub fn run_script(&mut self, source: &str, origin: &str, sink: &mut dyn Sink) -> anyhow::Result<usize> {
        self.run_script_from_line(source, (origin, 1), sink)
    }

    /// [`Session::run_script`] for a `source` that starts on line
    /// `first_line` of `origin` (diagnostics name the origin's lines).
    pub fn run_script_from_line(
        &mut self,
        source: &str,
        at: (&str, usize),
        sink: &mut dyn Sink,
    ) -> anyhow::Result<usize> {
        let script =
            rollcall_query::parse_script(source).map_err(|e| Self::query_failure(&e, source, at, None))?;
        rollcall_query::check_params(&script, &self.params)
            .map_err(|e| Self::query_failure(&e, source, at, None))?;
        let count = script.statements.len();
        if count == 0 {
            return Ok(0);
        }
        let snapshot = self.snapshot()?;
        self.last = Some(snapshot.fork());
        let mut held = Vec::new();
        let ran = self.run_statements(&script, &snapshot, source, at, sink, &mut held);
        // What was held back for a page is written even when a statement
        // failed: the tables before it, as the other formats print them.
        let finished = sink.finish();
        let page = match &mut self.output {
            Output::File(path, w) if !held.is_empty() => write_held_page(at.0, &held, w)
                .and_then(|()| w.write_all(b"\n"))
                .and_then(|()| w.flush())
                .with_context(|| format!("write {}", path.display())),
            _ => Ok(()),
        };
        let count = ran?;
        finished?;
        page?;
        Ok(count)
    }

    fn run_statements(
        &mut self,
        script: &rollcall_query::Script,
        snapshot: &Snapshot,
        source: &str,
        at: (&str, usize),
        sink: &mut dyn Sink,
        held: &mut Vec<Held>,
    ) -> anyhow::Result<usize> {
        let count = script.statements.len();
        let now = self.now.unwrap_or_else(wall_clock);
        for (i, st) in script.statements.iter().enumerate() {
            let opts = ExecOptions {
                now,
                params: self.params.clone(),
                cancel: Some(self.cancel.clone()),
            };
            let started = Instant::now();
            let table = rollcall_query::execute(snapshot, &st.statement, &opts).map_err(|e| {
                let note = (count > 1).then(|| {
                    let named = st.name.as_deref().map(|n| format!(" ({n})")).unwrap_or_default();
                    let before = match i {
                        0 => "nothing ran before it".to_owned(),
                        1 => "the statement before it ran".to_owned(),
                        n => format!("the {n} statements before it ran"),
                    };
                    format!("note: statement {} of {count}{named} failed; {before}", i + 1)
                });
                Self::query_failure(&e, source, at, note)
            })?;
            let elapsed = started.elapsed();
            for n in &table.notes {
                crate::note(n);
            }
            if table.gate_failed() {
                self.gates_failed += 1;
            }
            // The statement as written (the HTML pages show it).
            let text = source
                .get(st.span.clone())
                .map_or_else(|| st.statement.to_string(), |t| t.trim().to_owned());
            match &mut self.output {
                Output::Stdout => sink.statement(
                    &StatementInfo {
                        index: i,
                        count,
                        name: st.name.as_deref(),
                        text: &text,
                    },
                    &table,
                )?,
                Output::File(..) if self.format == OutputFormat::Html => {
                    held.push((i + 1, st.name.clone(), Some(text), table.clone()));
                }
                Output::File(path, w) => {
                    rollcall_query::render(&table, self.format, w)
                        .and_then(|()| w.write_all(b"\n"))
                        .and_then(|()| w.flush())
                        .with_context(|| format!("write {}", path.display()))?;
                }
            }
            if self.timing {
                crate::note(&format!(
                    "({}, {:.1} ms)",
                    crate::plural(table.rows.len() as u64, "row", "rows"),
                    elapsed.as_secs_f64() * 1000.0
                ));
            }
        }
        Ok(count)
    }

    /// Parameters the script uses that no `--param` binds are errors; this
    /// lists the opposite: bound parameters the script never uses.
    pub fn unused_params(&self, source: &str) -> Vec<String> {
        let Ok(script) = rollcall_query::parse_script(source) else {
            return Vec::new();
        };
        let used: BTreeSet<String> = script.parameters();
        self.params
            .keys()
            .filter(|k| !used.contains(*k))
            .cloned()
            .collect()
    }

    /// `.format F` / `.mode M`: a format (`csv`...) or a layout of the table
    /// format (`vertical`, `auto`; `.mode table` keeps columns side by side
    /// whatever the width, `.format table` chooses by the width).
    fn set_mode(&mut self, cmd: &str, rest: &str, out: &mut dyn Write) -> anyhow::Result<()> {
        if rest.is_empty() {
            match self.format {
                OutputFormat::Table => writeln!(out, "table (layout {})", self.style.layout.as_str())?,
                f => writeln!(out, "{f}")?,
            }
            return Ok(());
        }
        let layout = match rest.parse::<Layout>() {
            Ok(Layout::Table) if cmd == ".format" => Some(Layout::Auto),
            Ok(l) => Some(l),
            Err(_) => None,
        };
        if let Some(layout) = layout {
            self.format = OutputFormat::Table;
            self.style.layout = layout;
            return Ok(());
        }
        self.format = rest.parse().map_err(|e| {
            UsageError(format!(
                "{e}, or a table layout: vertical (a record per block), auto"
            ))
        })?;
        Ok(())
    }

    /// Runs a dot-command (`.help`, `.format csv`...). Errors are usage
    /// errors for the caller to print; they never end a REPL.
    pub fn dot_command(&mut self, line: &str, out: &mut dyn Write) -> anyhow::Result<DotOutcome> {
        let line = line.trim().trim_end_matches(';').trim();
        let (cmd, rest) = match line.split_once(char::is_whitespace) {
            Some((c, r)) => (c, r.trim()),
            None => (line, ""),
        };
        match cmd {
            ".help" => {
                out.write_all(DOT_HELP.as_bytes())?;
            }
            ".quit" | ".exit" => return Ok(DotOutcome::Quit),
            ".format" | ".mode" => self.set_mode(cmd, rest, out)?,
            ".timing" => match rest {
                "on" => self.timing = true,
                "off" => self.timing = false,
                "" => writeln!(out, "{}", if self.timing { "on" } else { "off" })?,
                other => return Err(UsageError(format!(".timing takes on or off, not {other:?}")).into()),
            },
            ".output" => match rest {
                "" => writeln!(
                    out,
                    "{}",
                    match &self.output {
                        Output::Stdout => "stdout".to_owned(),
                        Output::File(p, _) => p.display().to_string(),
                    }
                )?,
                "stdout" | "-" => self.output = Output::Stdout,
                path => {
                    let path = PathBuf::from(path);
                    let file = File::create(&path).with_context(|| format!("create {}", path.display()))?;
                    self.output = Output::File(path, BufWriter::new(file));
                }
            },
            ".read" => {
                if rest.is_empty() {
                    return Err(UsageError(".read needs a file name: .read weekly.rql".into()).into());
                }
                let source = std::fs::read_to_string(rest).with_context(|| format!("read {rest}"))?;
                let mut sink = StreamSink::new(&mut *out, self.format);
                sink.set_style(self.style);
                self.run_script(&source, rest, &mut sink)?;
            }
            ".param" => {
                let mut parts = rest.splitn(2, char::is_whitespace);
                match (
                    parts.next().filter(|s| !s.is_empty()),
                    parts.next().map(str::trim),
                ) {
                    (None, _) => {
                        for (k, v) in &self.params {
                            writeln!(out, "{k} = {v}")?;
                        }
                    }
                    (Some(k), Some(v)) if !v.is_empty() => {
                        let p = crate::args::parse_param(&format!("{k}={v}")).map_err(UsageError)?;
                        self.params.insert(p.name, p.value);
                    }
                    (Some(k), _) => {
                        let k = k.strip_prefix('$').unwrap_or(k);
                        if self.params.remove(k).is_none() {
                            return Err(UsageError(format!("parameter {k} is not set")).into());
                        }
                    }
                }
            }
            ".watch" => crate::watch::watch(self, rest, out)?,
            ".collections" => {
                let snap = self.snapshot()?;
                for c in snap.collections() {
                    writeln!(out, "{c}")?;
                }
            }
            other => {
                return Err(UsageError(format!("unknown command {other}; .help lists the commands")).into());
            }
        }
        out.flush()?;
        Ok(DotOutcome::Continue)
    }
}

/// A statement stopped through the session's cancel flag (Ctrl-C).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cancelled;

impl std::fmt::Display for Cancelled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("query cancelled")
    }
}

impl std::error::Error for Cancelled {}

/// True when `e` (or a cause) is a cancelled statement.
pub fn is_cancelled(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.downcast_ref::<Cancelled>().is_some())
}

/// The dot-commands, as `.help` prints them.
pub const DOT_HELP: &str = "\
Statements end with `;` and may span lines (the prompt shows `->` until the
`;`). Ctrl-C abandons the input or cancels the running statement; Ctrl-D
leaves.

.help                 this text (also help or \\? at an empty prompt)
.format F             result format: table, csv, json, ndjson, html (no F:
                      show it; html: one page per input, best with .output)
.mode M               table layout: auto (vertical records when the table is
                      wider than the terminal), table, vertical; or a format
.timing on|off        print how long each statement took
.output FILE|stdout   send results to FILE (truncated) or back to the screen
.read FILE.rql        run the statements in FILE
.param NAME VALUE     bind $NAME (.param NAME unbinds it, .param lists them)
.watch 5s [N] STMT    run STMT every 5s (N times, or until Ctrl-C), each
                      time on a fresh snapshot, and say what changed
.collections          list the collections in the store
.quit                 leave (also .exit, exit, quit, \\q, Ctrl-D)

Every statement reads a fresh snapshot of the store: commits made by another
process (an `ingest` running beside the REPL) show up in the next statement.
";

/// How far an input has come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// Only blanks and comments.
    Blank,
    /// Ignoring `--` comments and quoted names, the last significant
    /// character is `;`.
    Complete,
    /// Anything else (including an unclosed quoted name).
    Open,
}

/// Whether `text` is a finished input: ignoring `--` comments and quoted
/// names, its last significant character is `;`. Text that is only blanks
/// and comments counts as finished (there is nothing to wait for).
pub fn is_complete(text: &str) -> bool {
    ending(text) != Ending::Open
}

/// See [`Ending`].
pub fn ending(text: &str) -> Ending {
    let mut last = None;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                let mut closed = false;
                while let Some(d) = chars.next() {
                    match d {
                        '\\' => {
                            chars.next();
                        }
                        '"' => {
                            closed = true;
                            break;
                        }
                        _ => {}
                    }
                }
                if !closed {
                    return Ending::Open;
                }
                last = Some('"');
            }
            '-' if chars.peek() == Some(&'-') => {
                for d in chars.by_ref() {
                    if d == '\n' {
                        break;
                    }
                }
            }
            c if c.is_whitespace() => {}
            c => last = Some(c),
        }
    }
    match last {
        None => Ending::Blank,
        Some(';') => Ending::Complete,
        Some(_) => Ending::Open,
    }
}

/// Reads statements and dot-commands from `input` line by line and runs
/// them as they complete (the batch mode of `rollcall` with piped input).
/// Stops at the first error, which it returns.
pub fn run_lines(
    session: &mut Session,
    input: &mut dyn io::BufRead,
    origin: &str,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let mut sink = StreamSink::new(out, session.format);
    let mut buf = String::new();
    let mut line = String::new();
    // Line number (1-based) of the line read last, and of `buf`'s first.
    let mut line_no = 0usize;
    let mut buf_line = 1usize;
    loop {
        line.clear();
        let n = input.read_line(&mut line).context("read standard input")?;
        if n == 0 {
            break;
        }
        line_no += 1;
        if ending(&buf) == Ending::Blank && line.trim_start().starts_with('.') {
            buf.clear();
            if session.dot_command(&line, sink.writer())? == DotOutcome::Quit {
                return Ok(());
            }
            continue;
        }
        // Blank lines and comments before a statement stay with it (a
        // `-- name:` comment names it); its text starts on `buf_line`.
        if buf.is_empty() {
            buf_line = line_no;
        }
        buf.push_str(&line);
        if ending(&buf) == Ending::Complete {
            sink.set_format(session.format);
            sink.set_style(session.style);
            session.run_script_from_line(&buf, (origin, buf_line), &mut sink)?;
            buf.clear();
        }
    }
    if ending(&buf) != Ending::Blank {
        sink.set_format(session.format);
        sink.set_style(session.style);
        session.run_script_from_line(&buf, (origin, buf_line), &mut sink)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completeness_ignores_strings_and_comments() {
        assert!(is_complete("STATES AT NOW;"));
        assert!(is_complete("STATES AT NOW; -- trailing comment"));
        assert!(is_complete(""));
        assert!(is_complete("  -- only a comment\n"));
        assert!(!is_complete("STATES AT NOW"));
        assert!(!is_complete("STATES IN \"a;b"));
        assert!(!is_complete("STATES IN \"a;\" AT NOW -- ;"));
        assert!(is_complete("STATES IN \"a\\\";\" AT NOW;"));
        assert!(!is_complete("STATES\nIN x"));
    }

    #[test]
    fn file_stems() {
        assert_eq!(file_stem(0, 3, None), "01");
        assert_eq!(file_stem(9, 120, None), "010");
        assert_eq!(file_stem(0, 3, Some("weekly failures")), "weekly_failures");
        assert_eq!(file_stem(1, 3, Some("../x")), "02");
        assert_eq!(file_stem(1, 3, Some("a/b")), "a_b");
    }
}
