//! [`QueryError`]: everything that can go wrong between RQL text and a
//! result table, and its rendering as a diagnostic with a caret under the
//! fault.
//!
//! Invariants: every error that comes from the text carries a [`Span`] into
//! the source it was parsed from (the whole script, not one statement);
//! rendering never panics, whatever the span (out-of-range or mid-character
//! spans are clamped); exit codes follow SPEC.md section 5 (2 for mistakes
//! in the query itself, 1 for what only running it could find).

use std::fmt;

use crate::syntax::Span;

/// What kind of name an [`ErrorKind::UnknownName`] is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameKind {
    /// A collection (`IN`).
    Collection,
    /// A deployment (`FOR`).
    Deployment,
    /// A client (`HISTORY`).
    Client,
    /// A state (`WHERE STATE`).
    State,
    /// A time zone (`TIME ZONE`).
    TimeZone,
}

impl NameKind {
    /// `collection`, `deployment`, `client` or `state`.
    pub fn as_str(self) -> &'static str {
        match self {
            NameKind::Collection => "collection",
            NameKind::Deployment => "deployment",
            NameKind::Client => "client",
            NameKind::State => "state",
            NameKind::TimeZone => "time zone",
        }
    }
}

/// One diagnostic.
#[derive(Debug)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The text does not follow the grammar.
    Syntax {
        /// Where.
        span: Span,
        /// What the grammar allows here (`AT or FROM after the collection name`).
        expected: String,
        /// What was there instead (`keyword \`LIMIT\``, `end of input`).
        found: String,
        /// A further hint (the clause order of the statement...).
        help: Option<String>,
    },
    /// A `$param` with no value.
    UnboundParam {
        /// The parameter name, without `$`.
        name: String,
        /// Where it is first used.
        span: Span,
    },
    /// A collection, deployment, client or state that does not exist.
    UnknownName {
        /// What kind of name.
        kind: NameKind,
        /// The name as written.
        name: String,
        /// Where.
        span: Span,
        /// The closest known name.
        suggestion: Option<String>,
    },
    /// A statement that parses but cannot run as written (`FROM` not before
    /// `TO`, `EVERY 0s`, too many points, a bad parameter value...).
    Invalid {
        /// Where.
        span: Span,
        /// What is wrong, facts first.
        message: String,
        /// How to fix it.
        help: Option<String>,
    },
    /// The engine failed (I/O, damaged store...).
    Engine(rollcall_engine::Error),
    /// The query was cancelled through its cancel flag.
    Cancelled,
}

impl ErrorKind {
    fn exit_code(&self) -> i32 {
        match self {
            ErrorKind::Syntax { .. } | ErrorKind::UnboundParam { .. } | ErrorKind::Invalid { .. } => 2,
            ErrorKind::UnknownName { kind, .. } => match kind {
                NameKind::State | NameKind::TimeZone => 2,
                _ => 1,
            },
            ErrorKind::Engine(_) | ErrorKind::Cancelled => 1,
        }
    }

    fn span(&self) -> Option<Span> {
        match self {
            ErrorKind::Syntax { span, .. }
            | ErrorKind::UnboundParam { span, .. }
            | ErrorKind::UnknownName { span, .. }
            | ErrorKind::Invalid { span, .. } => Some(*span),
            ErrorKind::Engine(_) | ErrorKind::Cancelled => None,
        }
    }

    fn help(&self) -> Option<String> {
        match self {
            ErrorKind::Syntax { help, .. } | ErrorKind::Invalid { help, .. } => help.clone(),
            ErrorKind::UnboundParam { name, .. } => Some(format!("bind it with --param {name}=VALUE")),
            ErrorKind::UnknownName {
                suggestion: Some(s),
                kind,
                ..
            } => Some(match kind {
                NameKind::State => format!("did you mean {s}?"),
                _ => format!("did you mean {}?", quote(s)),
            }),
            ErrorKind::UnknownName {
                kind: NameKind::State,
                ..
            } => Some(
                "states are NotStarted, Compliant, InProgress, NonCompliant, Failed and Unknown".to_owned(),
            ),
            ErrorKind::UnknownName { kind, .. } => Some(
                match kind {
                    NameKind::Collection => "SHOW COLLECTIONS lists the known collections",
                    NameKind::Deployment => "SHOW DEPLOYMENTS lists the known deployments",
                    NameKind::TimeZone => {
                        "time zones are IANA names such as \"Europe/Berlin\", \"America/New_York\" or UTC"
                    }
                    _ => "CLIENTS AT NOW lists the known clients",
                }
                .to_owned(),
            ),
            ErrorKind::Engine(_) | ErrorKind::Cancelled => None,
        }
    }
}

fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::Syntax { expected, found, .. } => write!(f, "expected {expected}, found {found}"),
            ErrorKind::UnboundParam { name, .. } => write!(f, "parameter ${name} has no value"),
            ErrorKind::UnknownName { kind, name, .. } => {
                write!(f, "unknown {} {}", kind.as_str(), quote(name))
            }
            ErrorKind::Invalid { message, .. } => f.write_str(message),
            ErrorKind::Engine(e) => write!(f, "{e}"),
            ErrorKind::Cancelled => f.write_str("query cancelled"),
        }
    }
}

/// An error from parsing, checking or running RQL. Usually one diagnostic;
/// [`crate::check_params`] reports every unbound parameter at once.
#[derive(Debug)]
pub struct QueryError {
    first: Box<ErrorKind>,
    more: Vec<ErrorKind>,
}

impl QueryError {
    /// An error with one diagnostic.
    pub fn new(kind: ErrorKind) -> QueryError {
        QueryError {
            first: Box::new(kind),
            more: Vec::new(),
        }
    }

    /// An error with several diagnostics; `None` when `kinds` is empty.
    pub fn many(kinds: Vec<ErrorKind>) -> Option<QueryError> {
        let mut it = kinds.into_iter();
        let first = it.next()?;
        Some(QueryError {
            first: Box::new(first),
            more: it.collect(),
        })
    }

    pub(crate) fn invalid(span: Span, message: impl Into<String>, help: Option<String>) -> QueryError {
        QueryError::new(ErrorKind::Invalid {
            span,
            message: message.into(),
            help,
        })
    }

    /// The first (usually only) diagnostic.
    pub fn kind(&self) -> &ErrorKind {
        &self.first
    }

    /// Every diagnostic, the first one first.
    pub fn kinds(&self) -> impl Iterator<Item = &ErrorKind> {
        std::iter::once(self.first.as_ref()).chain(self.more.iter())
    }

    /// True when the text stopped before the statement was complete (the
    /// parser wanted more at the end of input, or a quoted name is still
    /// open): a REPL should read another line rather than report it.
    ///
    /// ```
    /// use rollcall_query::parse_script;
    /// assert!(parse_script("STATES IN \"All Desktops\"").unwrap_err().is_incomplete());
    /// assert!(parse_script("STATES IN \"All Desk").unwrap_err().is_incomplete());
    /// assert!(!parse_script("STATES IN x NOW").unwrap_err().is_incomplete());
    /// ```
    pub fn is_incomplete(&self) -> bool {
        match self.first.as_ref() {
            ErrorKind::Syntax { found, .. } => found == "end of input",
            ErrorKind::Invalid { message, .. } => message.ends_with("has no closing `\"`"),
            _ => false,
        }
    }

    /// The process exit code SPEC.md section 5 gives this error: 2 for a
    /// mistake in the query (syntax, unbound parameter, invalid statement,
    /// unknown state), 1 for a runtime failure (unknown collection,
    /// deployment or client; engine or I/O errors; cancellation).
    pub fn exit_code(&self) -> i32 {
        self.kinds().map(ErrorKind::exit_code).max().unwrap_or(1)
    }

    /// A short, stable name for the kind of the first diagnostic, for
    /// programs (the `error` field of `rollcall serve`'s JSON errors):
    /// `syntax`, `unbound_parameter`, `unknown_name`, `invalid`, `engine` or
    /// `cancelled`.
    ///
    /// ```
    /// let err = rollcall_query::parse_script("STATES AT").unwrap_err();
    /// assert_eq!(err.code(), "syntax");
    /// ```
    pub fn code(&self) -> &'static str {
        match self.first.as_ref() {
            ErrorKind::Syntax { .. } => "syntax",
            ErrorKind::UnboundParam { .. } => "unbound_parameter",
            ErrorKind::UnknownName { .. } => "unknown_name",
            ErrorKind::Invalid { .. } => "invalid",
            ErrorKind::Engine(_) => "engine",
            ErrorKind::Cancelled => "cancelled",
        }
    }

    /// Where the first diagnostic points in `source` (the text it was
    /// parsed from): 1-based line and column, the column counted in
    /// characters as [`QueryError::render`] shows it. `None` for errors
    /// with no place (the engine failed, the query was cancelled).
    ///
    /// ```
    /// let source = "SHOW STATS;\nSTATES IN x NOW";
    /// let err = rollcall_query::parse_script(source).unwrap_err();
    /// assert_eq!(err.line_column(source), Some((2, 13)));
    /// ```
    pub fn line_column(&self, source: &str) -> Option<(usize, usize)> {
        let span = self.first.span()?;
        let start = floor_char_boundary(source, span.start.min(source.len()));
        let line_start = source[..start].rfind('\n').map_or(0, |p| p + 1);
        let line = source[..start].matches('\n').count() + 1;
        let column = source[line_start..start].chars().count() + 1;
        Some((line, column))
    }

    /// The help line of the first diagnostic (`did you mean "All Desktops"?`), if any.
    pub fn help(&self) -> Option<String> {
        self.first.help()
    }

    /// The diagnostic for a person: `error: ...`, then `--> origin:line:col`,
    /// the source line, a caret under the fault and a help line when there
    /// is one. `source` is the text the statement was parsed from (the whole
    /// script) and `origin` names it (`query`, a file name...).
    ///
    /// ```
    /// let source = "STATES IN \"All Desktops\" NOW";
    /// let err = rollcall_query::parse_script(source).unwrap_err();
    /// let text = err.render(source, "query");
    /// assert!(text.starts_with("error: expected AT or FROM after the collection name, found keyword `NOW`"));
    /// assert!(text.contains(" --> query:1:26"));
    /// assert!(text.contains("^^^"));
    /// ```
    pub fn render(&self, source: &str, origin: &str) -> String {
        self.render_from_line(source, origin, 1)
    }

    /// [`QueryError::render`] for a `source` that starts on line
    /// `first_line` of its origin (a statement read from the middle of a
    /// piped batch), so that the reported line is the origin's.
    ///
    /// ```
    /// let source = "\nSTATES AT;";
    /// let err = rollcall_query::parse_script(source).unwrap_err();
    /// assert!(err.render_from_line(source, "<stdin>", 4).contains(" --> <stdin>:5:10"));
    /// ```
    pub fn render_from_line(&self, source: &str, origin: &str, first_line: usize) -> String {
        let mut out = String::new();
        for (n, kind) in self.kinds().enumerate() {
            if n > 0 {
                out.push('\n');
            }
            render_one(&mut out, kind, source, origin, first_line);
        }
        out
    }
}

/// Characters of the source line echoed under a diagnostic, at most: a
/// longer line is shown as a window around the caret, marked with `...`.
pub const ECHO_CHARS: usize = 120;

/// Characters of the message line kept, at most (a message quotes what it
/// found, which may be a whole runaway token).
const MESSAGE_CHARS: usize = 400;

fn render_one(out: &mut String, kind: &ErrorKind, source: &str, origin: &str, first_line: usize) {
    use std::fmt::Write;
    let message = kind.to_string();
    let _ = writeln!(out, "error: {}", clip_chars(&message, MESSAGE_CHARS));
    if let Some(span) = kind.span() {
        let start = floor_char_boundary(source, span.start.min(source.len()));
        let end = floor_char_boundary(source, span.end.min(source.len())).max(start);
        let line_start = source[..start].rfind('\n').map_or(0, |p| p + 1);
        let line_end = source[start..].find('\n').map_or(source.len(), |p| start + p);
        let line_no = source[..start].matches('\n').count() + first_line;
        let line = source[line_start..line_end].trim_end_matches('\r');
        let col = source[line_start..start].chars().count() + 1;
        let gutter = line_no.to_string().len();
        let pad = " ".repeat(gutter);
        let _ = writeln!(out, "{pad}--> {origin}:{line_no}:{col}");
        let _ = writeln!(out, "{pad} |");
        // The echoed window: the whole line when it is short, else
        // ECHO_CHARS characters starting a third of the way before the caret.
        let chars: Vec<char> = line.chars().collect();
        let caret = col - 1;
        let (from, to) = if chars.len() <= ECHO_CHARS {
            (0, chars.len())
        } else {
            let from = caret
                .saturating_sub(ECHO_CHARS / 3)
                .min(chars.len().saturating_sub(ECHO_CHARS));
            (from, (from + ECHO_CHARS).min(chars.len()))
        };
        let lead = if from > 0 { "..." } else { "" };
        let tail = if to < chars.len() { "..." } else { "" };
        let shown: String = chars[from..to].iter().collect();
        let _ = writeln!(out, "{line_no} | {lead}{shown}{tail}");
        // Echo tabs so the caret lines up under tab-indented text.
        let indent: String = " ".repeat(lead.len())
            + &chars[from..caret.clamp(from, to)]
                .iter()
                .map(|c| if *c == '\t' { '\t' } else { ' ' })
                .collect::<String>();
        let under_end = end.min(line_end).max(start);
        let width = source[start..under_end].chars().count().max(1);
        let width = width.min(to.saturating_sub(caret).max(1));
        let _ = writeln!(out, "{pad} | {indent}{}", "^".repeat(width));
    }
    if let Some(help) = kind.help() {
        let _ = writeln!(out, "  = help: {}", clip_chars(&help, MESSAGE_CHARS));
    }
}

/// `text` cut to `max` characters, with `...` when cut.
fn clip_chars(text: &str, max: usize) -> std::borrow::Cow<'_, str> {
    match text.char_indices().nth(max) {
        None => text.into(),
        Some((i, _)) => format!("{}...", &text[..i]).into(),
    }
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

impl fmt::Display for QueryError {
    /// The first diagnostic as one line, without source context.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.first.fmt(f)?;
        if !self.more.is_empty() {
            write!(f, " (and {} more)", self.more.len())?;
        }
        Ok(())
    }
}

impl std::error::Error for QueryError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self.first.as_ref() {
            ErrorKind::Engine(e) => Some(e),
            _ => None,
        }
    }
}

impl From<rollcall_engine::Error> for QueryError {
    fn from(e: rollcall_engine::Error) -> QueryError {
        match e {
            rollcall_engine::Error::Cancelled => QueryError::new(ErrorKind::Cancelled),
            e => QueryError::new(ErrorKind::Engine(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_clamps_bad_spans() {
        let e = QueryError::invalid(Span::new(100, 200), "x", None);
        let text = e.render("ab\ncd", "q");
        assert!(text.contains("q:2:3"), "{text}");
        let e = QueryError::invalid(Span::new(1, 2), "x", None);
        let text = e.render("é", "q");
        assert!(text.contains("q:1:1"), "{text}");
    }

    #[test]
    fn exit_codes() {
        assert_eq!(QueryError::invalid(Span::default(), "x", None).exit_code(), 2);
        assert_eq!(QueryError::new(ErrorKind::Cancelled).exit_code(), 1);
        let unknown = |kind| {
            QueryError::new(ErrorKind::UnknownName {
                kind,
                name: "x".into(),
                span: Span::default(),
                suggestion: None,
            })
        };
        assert_eq!(unknown(NameKind::Collection).exit_code(), 1);
        assert_eq!(unknown(NameKind::State).exit_code(), 2);
    }
}
