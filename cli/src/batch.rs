//! The non-interactive query commands: `query 'RQL'`, `run FILE.rql` and
//! `rollcall` with statements piped to it.
//!
//! Decisions (also in the README): results go to standard output, one table
//! per statement, separated by a blank line in every format; with
//! `--output-dir` each statement gets its own file (`<name>.<ext>` from its
//! `-- name:` line, else its position `01.csv`), and the default format there
//! is csv; parameters are all checked before anything runs; a bound
//! parameter that the script does not use is an error (exit 2, naming the
//! closest used one). In
//! the HTML format standard output gets one page holding every statement,
//! and `--output-dir` a page per statement plus `index.html` linking them
//! (so no statement may be named `index`).

use std::collections::HashSet;
use std::io::{self, BufWriter, IsTerminal};
use std::path::Path;

use anyhow::Context as _;
use rollcall_query::{OutputFormat, Params};

use crate::UsageError;
use crate::args::{FormatArg, Param, QueryArgs, RunArgs};
use crate::session::{DirSink, INDEX_PAGE, Session, StreamSink, extension, file_stem};

/// The format for standard output: `--format`, else table on a terminal, else csv.
pub fn stdout_format(arg: Option<FormatArg>) -> OutputFormat {
    match arg {
        Some(f) => to_output_format(f),
        None if io::stdout().is_terminal() => OutputFormat::Table,
        None => OutputFormat::Csv,
    }
}

/// The query crate's format for a command-line format.
pub fn to_output_format(f: FormatArg) -> OutputFormat {
    match f {
        FormatArg::Table => OutputFormat::Table,
        FormatArg::Csv => OutputFormat::Csv,
        FormatArg::Json => OutputFormat::Json,
        FormatArg::Ndjson => OutputFormat::Ndjson,
        FormatArg::Html => OutputFormat::Html,
    }
}

fn params_of(list: &[Param]) -> Params {
    list.iter().map(|p| (p.name.clone(), p.value.clone())).collect()
}

/// A `--param` the statements do not use is a mistake (most often a typo
/// of one they do use, which then has no value): refused before anything
/// runs, exit code 2, with the closest used name.
fn refuse_unused(session: &Session, source: &str, origin: &str) -> anyhow::Result<()> {
    let unused = session.unused_params(source);
    if unused.is_empty() {
        return Ok(());
    }
    let used = rollcall_query::parse_script(source)
        .map(|s| s.parameters())
        .unwrap_or_default();
    let lines: Vec<String> = unused
        .iter()
        .map(|p| {
            let value = session.params.get(p).map(String::as_str).unwrap_or_default();
            let hint = match rollcall_query::closest_name(p, used.iter().map(String::as_str)) {
                Some(m) => format!(" (did you mean `{m}`?)"),
                None if used.is_empty() => " (it uses no parameters)".to_owned(),
                None => format!(
                    " (it uses {})",
                    used.iter()
                        .map(|u| format!("`{u}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            format!("--param {p}={value}: {origin} does not use parameter `{p}`{hint}")
        })
        .collect();
    Err(UsageError(lines.join("\nerror: ")).into())
}

/// `rollcall query 'RQL'`.
pub fn query(db: &Path, a: &QueryArgs) -> anyhow::Result<()> {
    let mut session = Session::new(db, stdout_format(a.format));
    session.params = params_of(&a.params);
    if a.rql.trim().is_empty() {
        return Err(UsageError("the query is empty; give one or more RQL statements".into()).into());
    }
    refuse_unused(&session, &a.rql, "the query")?;
    let stdout = io::stdout().lock();
    let mut sink = StreamSink::new(BufWriter::new(stdout), session.format);
    sink.set_title("rollcall query");
    let n = session.run_script(&a.rql, "query", &mut sink)?;
    if n == 0 {
        return Err(
            UsageError("the query holds only comments; give one or more RQL statements".into()).into(),
        );
    }
    gates(&session)
}

/// Exit code 3 when a `GATE` failed, after everything ran and printed.
fn gates(session: &Session) -> anyhow::Result<()> {
    match session.gates_failed {
        0 => Ok(()),
        n => Err(crate::GateFailed(n).into()),
    }
}

/// `rollcall run FILE.rql`.
pub fn run(db: &Path, a: &RunArgs) -> anyhow::Result<()> {
    let origin = a.file.display().to_string();
    let source = std::fs::read_to_string(&a.file).with_context(|| format!("read {origin}"))?;
    let format = match (a.format, &a.output_dir) {
        (Some(f), _) => to_output_format(f),
        (None, Some(_)) => OutputFormat::Csv,
        (None, None) => stdout_format(None),
    };
    let mut session = Session::new(db, format);
    session.params = params_of(&a.params);
    // Parse and check parameters before creating any output.
    refuse_unused(&session, &source, &origin)?;
    let script = rollcall_query::parse_script(&source).map_err(|e| {
        anyhow::Error::new(crate::Rendered {
            text: e.render(&source, &origin),
            code: u8::try_from(e.exit_code()).unwrap_or(2),
        })
    })?;
    rollcall_query::check_params(&script, &session.params).map_err(|e| {
        anyhow::Error::new(crate::Rendered {
            text: e.render(&source, &origin),
            code: u8::try_from(e.exit_code()).unwrap_or(2),
        })
    })?;
    if script.statements.is_empty() {
        return Err(UsageError(format!("{origin} holds no statement")).into());
    }
    match &a.output_dir {
        Some(dir) => {
            let count = script.statements.len();
            let mut seen = HashSet::new();
            if format == OutputFormat::Html {
                seen.insert(INDEX_PAGE.to_owned());
            }
            for (i, st) in script.statements.iter().enumerate() {
                let file = format!(
                    "{}.{}",
                    file_stem(i, count, st.name.as_deref()),
                    extension(format)
                );
                if !seen.insert(file.clone()) {
                    return Err(UsageError(format!(
                        "{origin}: {} would write {file}; give them different `-- name:` lines",
                        if file == INDEX_PAGE {
                            "a statement and the index page"
                        } else {
                            "two statements"
                        }
                    ))
                    .into());
                }
            }
            let mut sink = DirSink::new(dir, format)?;
            sink.title.clone_from(&origin);
            session.run_script(&source, &origin, &mut sink)?;
        }
        None => {
            let stdout = io::stdout().lock();
            let mut sink = StreamSink::new(BufWriter::new(stdout), format);
            sink.set_title(&origin);
            session.run_script(&source, &origin, &mut sink)?;
        }
    }
    gates(&session)
}

/// `rollcall` with statements piped to standard input: runs them as they
/// complete; the first error stops the batch.
pub fn piped(db: &Path) -> anyhow::Result<()> {
    let mut session = Session::new(db, stdout_format(None));
    let stdin = io::stdin();
    let mut input = stdin.lock();
    let stdout = io::stdout().lock();
    let mut out = BufWriter::new(stdout);
    crate::session::run_lines(&mut session, &mut input, "<stdin>", &mut out)?;
    std::io::Write::flush(&mut out)?;
    gates(&session)
}
