//! `POST /query`: RQL in the body, the result in the body of the answer,
//! byte for byte what `rollcall query --format F` prints (SPEC 7.7).
//!
//! The statements run on one snapshot, in order, through the same
//! [`StreamSink`] the command line writes with, so the two cannot drift
//! apart. A failure is a JSON error, `{"error", "line", "column",
//! "message"}`, and nothing of the result: 400 for a mistake in the query
//! (syntax, unbound or unused parameter, an invalid statement), 422 for a
//! name the store does not know, 408 when the time limit cancelled it, 500
//! when the engine failed.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use rollcall_engine::Snapshot;
use rollcall_query::{ErrorKind, ExecOptions, OutputFormat, Params, QueryError};
use serde_json::{Value as Json, json};

use crate::session::{Sink as _, StatementInfo, StreamSink, wall_clock};
use axum::http::StatusCode as Status;

/// A finished `POST /query`.
#[derive(Debug)]
pub(crate) enum Answer {
    /// The rendered tables, and how many `GATE`s failed (SPEC 7.9: the
    /// command would exit 3; the server says so in a header).
    Tables { body: Vec<u8>, gates_failed: usize },
    /// A JSON error and its status.
    Failed { status: Status, error: Json },
}

/// The formats `?format=` takes (SPEC 7.7 names json, csv and ndjson; html
/// is the page `--format html` prints).
pub(crate) fn parse_format(text: &str) -> Option<OutputFormat> {
    match text {
        "json" => Some(OutputFormat::Json),
        "csv" => Some(OutputFormat::Csv),
        "ndjson" => Some(OutputFormat::Ndjson),
        "html" => Some(OutputFormat::Html),
        _ => None,
    }
}

/// The `Content-Type` of a format.
pub(crate) fn content_type(format: OutputFormat) -> &'static str {
    match format {
        OutputFormat::Csv => "text/csv; charset=utf-8",
        OutputFormat::Ndjson => "application/x-ndjson",
        OutputFormat::Html => "text/html; charset=utf-8",
        OutputFormat::Table => "text/plain; charset=utf-8",
        _ => "application/json",
    }
}

/// A JSON error without a place in the query.
pub(crate) fn plain_error(code: &str, message: impl Into<String>) -> Json {
    json!({ "error": code, "line": null, "column": null, "message": message.into() })
}

fn query_error(e: &QueryError, source: &str, statement: Option<(usize, usize)>) -> Answer {
    let status = match e.kind() {
        ErrorKind::UnknownName { .. } => Status::UNPROCESSABLE_ENTITY,
        ErrorKind::Cancelled => Status::REQUEST_TIMEOUT,
        ErrorKind::Engine(_) => Status::INTERNAL_SERVER_ERROR,
        _ => Status::BAD_REQUEST,
    };
    let (line, column) = match e.line_column(source) {
        Some((l, c)) => (json!(l), json!(c)),
        None => (Json::Null, Json::Null),
    };
    let mut message = e.to_string();
    if let Some(help) = e.help() {
        message.push_str("; ");
        message.push_str(&help);
    }
    let mut error = json!({
        "error": e.code(),
        "line": line,
        "column": column,
        "message": message,
        "diagnostic": e.render(source, "query"),
    });
    if let Some((index, count)) = statement {
        error["statement"] = json!(index + 1);
        error["statements"] = json!(count);
    }
    Answer::Failed { status, error }
}

/// Runs `source` on `snapshot` and renders it in `format` (blocking).
pub(crate) fn run(
    snapshot: &Snapshot,
    source: &str,
    format: OutputFormat,
    params: Params,
    cancel: Arc<AtomicBool>,
) -> Answer {
    let bad = |code: &str, message: String| Answer::Failed {
        status: Status::BAD_REQUEST,
        error: plain_error(code, message),
    };
    if source.trim().is_empty() {
        return bad(
            "empty",
            "the body is empty; send one or more RQL statements".into(),
        );
    }
    let script = match rollcall_query::parse_script(source) {
        Ok(s) => s,
        Err(e) => return query_error(&e, source, None),
    };
    if script.statements.is_empty() {
        return bad(
            "empty",
            "the body holds only comments; send one or more RQL statements".into(),
        );
    }
    // As `rollcall query` does: a parameter the statements do not use is a
    // mistake (most often a misspelt one), refused before anything runs.
    let used = script.parameters();
    if let Some(unused) = params.keys().find(|k| !used.contains(*k)) {
        let hint = rollcall_query::closest_name(unused, used.iter().map(String::as_str))
            .map(|m| format!(" (did you mean `param.{m}`?)"))
            .unwrap_or_default();
        return bad(
            "unused_parameter",
            format!("param.{unused}: the query does not use parameter `{unused}`{hint}"),
        );
    }
    if let Err(e) = rollcall_query::check_params(&script, &params) {
        return query_error(&e, source, None);
    }
    let count = script.statements.len();
    let now = wall_clock();
    let mut sink = StreamSink::new(Vec::new(), format);
    sink.set_title("rollcall serve");
    let mut gates_failed = 0;
    for (i, st) in script.statements.iter().enumerate() {
        let opts = ExecOptions {
            now,
            params: params.clone(),
            cancel: Some(cancel.clone()),
        };
        let table = match rollcall_query::execute(snapshot, &st.statement, &opts) {
            Ok(t) => t,
            Err(e) => return query_error(&e, source, (count > 1).then_some((i, count))),
        };
        if table.gate_failed() {
            gates_failed += 1;
        }
        let text = source
            .get(st.span.clone())
            .map_or_else(|| st.statement.to_string(), |t| t.trim().to_owned());
        let info = StatementInfo {
            index: i,
            count,
            name: st.name.as_deref(),
            text: &text,
        };
        if let Err(e) = sink.statement(&info, &table) {
            return Answer::Failed {
                status: Status::INTERNAL_SERVER_ERROR,
                error: plain_error("render", format!("{e:#}")),
            };
        }
    }
    if let Err(e) = sink.finish() {
        return Answer::Failed {
            status: Status::INTERNAL_SERVER_ERROR,
            error: plain_error("render", format!("{e:#}")),
        };
    }
    Answer::Tables {
        body: sink.into_inner(),
        gates_failed,
    }
}
