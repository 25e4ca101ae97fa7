//! `rollcall translate --dialect duckdb|clickhouse [--source PATH_OR_URL]
//! [--param k=v]... 'RQL'|-`: prints, for each statement, one SQL query
//! over an export that returns the rows `rollcall query` returns (`-` reads
//! the statements, e.g. a saved `.rql` file, from standard input).
//!
//! Glue only: the SQL is written by `rollcall_query::translate`. This
//! command reads the wall clock once for `NOW`, binds `--param`s as `run`
//! does, and checks names against the store at `--db` when that directory
//! exists (when it does not, it says so on standard error and translates
//! anyway). Queries go to standard output, one per statement, separated by
//! a blank line (a query never holds a blank line itself), so the output of
//! a whole `.rql` file can be piped into an SQL shell or split on blank
//! lines.

use std::io::{self, BufWriter, Write};
use std::path::Path;

use anyhow::Context as _;
use rollcall_engine::Store;
use rollcall_query::translate::{Dialect, TranslateOptions, translate};
use rollcall_query::{Params, QueryError};

use crate::args::{self, TranslateArgs};
use crate::{Rendered, UsageError};

fn rendered(e: &QueryError, source: &str, origin: &str) -> anyhow::Error {
    anyhow::Error::new(Rendered {
        text: e.render(source, origin),
        code: u8::try_from(e.exit_code()).unwrap_or(1),
    })
}

/// `rollcall translate`.
pub fn run(db: &Path, a: &TranslateArgs) -> anyhow::Result<()> {
    let text = if a.rql == "-" {
        io::read_to_string(io::stdin().lock()).context("read standard input")?
    } else {
        a.rql.clone()
    };
    let source = text.as_str();
    let origin = if a.rql == "-" { "<stdin>" } else { "query" };
    if source.trim().is_empty() {
        return Err(UsageError("the query is empty; give one or more RQL statements".into()).into());
    }
    let script = rollcall_query::parse_script(source).map_err(|e| rendered(&e, source, origin))?;
    let params: Params = a
        .params
        .iter()
        .map(|p| (p.name.clone(), p.value.clone()))
        .collect();
    rollcall_query::check_params(&script, &params).map_err(|e| rendered(&e, source, origin))?;
    if script.statements.is_empty() {
        return Err(
            UsageError("the query holds only comments; give one or more RQL statements".into()).into(),
        );
    }
    let store = if db.exists() {
        Some(Store::open_read_only(db).with_context(|| format!("open store {}", db.display()))?)
    } else {
        crate::note(&format!(
            "note: no store at {}; translating without checking names (give --db to check them)",
            db.display()
        ));
        None
    };
    let snapshot = store.as_ref().map(Store::snapshot);
    let opts = TranslateOptions {
        dialect: match a.dialect {
            args::Dialect::Duckdb => Dialect::DuckDb,
            args::Dialect::Clickhouse => Dialect::ClickHouse,
        },
        source: a.source.clone(),
        now: crate::session::wall_clock(),
        params,
    };
    // Translate everything before printing anything: a bad statement
    // leaves no half-written output.
    let mut queries = Vec::with_capacity(script.statements.len());
    for st in &script.statements {
        queries.push(translate(st, &opts, snapshot.as_ref()).map_err(|e| rendered(&e, source, origin))?);
    }
    let mut out = BufWriter::new(io::stdout().lock());
    for (i, q) in queries.iter().enumerate() {
        if i > 0 {
            out.write_all(b"\n")?;
        }
        out.write_all(q.as_bytes())?;
    }
    out.flush()?;
    Ok(())
}
