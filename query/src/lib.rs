//! rollcall-query: RQL (SPEC.md section 3) parsed with nom, planned against
//! an engine snapshot, run through the engine's typed queries, and rendered
//! as the tables of SPEC.md section 4.
//!
//! ```text
//! text ──syntax──> Script/Statement ──plan──> Plan ──exec──> Table ──render──> csv | json | ndjson | table | html
//! ```
//!
//! Invariants: `query` uses only `engine`'s public read API (a [`Snapshot`](rollcall_engine::Snapshot));
//! it never reads the clock (`NOW` comes from [`ExecOptions::now`]); no input
//! text makes it panic, hang, recurse without bound or allocate without
//! bound (scripts are capped at 1 MiB, series at [`MAX_POINTS`] points).
#![forbid(unsafe_code)]

mod bind;
mod error;
mod error_text;
mod exec;
#[doc(hidden)]
pub mod fuzzing;
mod plan;
mod render;
mod result;
mod suggest;
pub mod syntax;
pub mod translate;
pub mod zone;

pub use error::{ErrorKind, NameKind, QueryError};
pub use exec::{ExecOptions, Params, check_params, execute};
pub use plan::MAX_POINTS;
pub use render::html;
pub use render::{Layout, OutputFormat, TableStyle, UnknownFormat, render, render_styled};
pub use result::{Chart, Table, Value};
pub use suggest::closest as closest_name;
pub use syntax::{KEYWORDS, Script, ScriptStatement, Statement};

/// Parses an RQL script: one or more statements separated by `;` (optional
/// after the last), with `--` comments; a `-- name: x` comment line just
/// before a statement names it.
///
/// ```
/// let script = rollcall_query::parse_script(
///     "-- name: desktops\nSTATES IN \"All Desktops\" AT 2026-11-01T12:00:00Z;\nFAILURES FROM $from TO NOW EVERY 1d",
/// )?;
/// assert_eq!(script.statements.len(), 2);
/// assert_eq!(script.statements[0].name.as_deref(), Some("desktops"));
/// assert_eq!(
///     script.statements[1].statement.to_string(),
///     "FAILURES FROM $from TO NOW EVERY 1d"
/// );
/// assert!(script.parameters().contains("from"));
/// # Ok::<(), rollcall_query::QueryError>(())
/// ```
pub fn parse_script(source: &str) -> Result<Script, QueryError> {
    syntax::parse_script(source)
}

/// The text of a Windows or Configuration Manager error code, when the
/// table of SPEC 7.6 knows it (a Win32 code is also looked up as its
/// HRESULT).
///
/// ```
/// use rollcall_engine::ErrorCode;
/// assert_eq!(rollcall_query::error_text(ErrorCode(0x8007_0005)), Some("Access is denied."));
/// assert_eq!(rollcall_query::error_text(ErrorCode(0x1234_5678)), None);
/// ```
pub fn error_text(code: rollcall_engine::ErrorCode) -> Option<&'static str> {
    error_text::describe(code)
}
