//! RQL text to syntax tree: lexing, parsing, spans, pretty-printing.
//!
//! Invariants: this module knows nothing of stores or snapshots; from the
//! engine it uses only the model's value types and their text forms
//! (`Timestamp::parse`, `State::parse`), so that a bad date or state name is
//! a parse error with a span, found before any statement runs. Parsing is
//! linear in the input, refuses scripts over [`MAX_SCRIPT_BYTES`], and never
//! panics.

mod ast;
mod display;
mod lex;
mod parse;
mod statements;

use std::collections::BTreeSet;

pub use ast::*;
pub use parse::parse_duration_value;

/// The largest script [`crate::parse_script`] accepts (1 MiB).
pub const MAX_SCRIPT_BYTES: usize = 1 << 20;

/// The longest name (collection, deployment, client) in bytes.
pub const MAX_NAME_BYTES: usize = rollcall_engine::limits::CLIENT_NAME_MAX;

/// Every reserved word of RQL, upper-case. Keywords match case-insensitively
/// and cannot be bare names (quote them: `"stats"`).
pub const KEYWORDS: &[&str] = &[
    "STATES",
    "FAILURES",
    "CLIENTS",
    "HISTORY",
    "SHOW",
    "EXPLAIN",
    "FOR",
    "IN",
    "BY",
    "COLLECTION",
    "AT",
    "FROM",
    "TO",
    "EVERY",
    "STALE",
    "AFTER",
    "ERROR",
    "WHERE",
    "STATE",
    "LIMIT",
    "COLLECTIONS",
    "DEPLOYMENTS",
    "ERRORS",
    "STATS",
    "NOW",
    "TIME",
    "ZONE",
    "AS",
    "KNOWN",
    "FLOW",
    "DURATIONS",
    "UNTIL",
    "SINCE",
    "GATE",
    "WHEN",
    "AND",
];

/// A parsed script: statements in source order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Script {
    /// The statements.
    pub statements: Vec<ScriptStatement>,
}

/// One statement of a script.
#[derive(Clone, Debug)]
pub struct ScriptStatement {
    /// From a `-- name: weekly_failures` comment just before the statement.
    pub name: Option<String>,
    /// The statement.
    pub statement: Statement,
    /// Byte range of the statement in the source (without its `;`).
    pub span: std::ops::Range<usize>,
}

impl PartialEq for ScriptStatement {
    /// Compares name and statement; the span is where, not what.
    fn eq(&self, other: &ScriptStatement) -> bool {
        self.name == other.name && self.statement == other.statement
    }
}

impl Eq for ScriptStatement {}

impl Script {
    /// Every `$name` used by the script (without the `$`).
    pub fn parameters(&self) -> BTreeSet<String> {
        self.parameter_uses().into_iter().map(|(name, _)| name).collect()
    }

    /// Every use of a parameter, in source order, with its span.
    pub(crate) fn parameter_uses(&self) -> Vec<(String, Span)> {
        let mut out = Vec::new();
        for s in &self.statements {
            statement_params(&s.statement, &mut out);
        }
        out.sort_by_key(|(_, span)| span.start);
        out
    }
}

/// Every use of a parameter in one statement, with its span, in no
/// particular order.
pub(crate) fn statement_params(s: &Statement, out: &mut Vec<(String, Span)>) {
    s.for_each_time(&mut |t| {
        if let TimeBase::Param(p) = &t.base.value {
            out.push((p.clone(), t.base.span));
        }
    });
    s.for_each_duration(&mut |d| {
        if let DurationValue::Param(p) = &d.value {
            out.push((p.clone(), d.span));
        }
    });
}

pub(crate) use parse::{parse_script, parse_time_value};
