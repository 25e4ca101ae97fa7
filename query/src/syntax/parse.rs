//! The RQL grammar of SPEC.md section 3: one small function per construct,
//! on top of the nom lexers in `lex`.
//!
//! Invariants:
//! * every function takes the input *before* leading trivia and returns the
//!   input right after its last token, so spans never include whitespace or
//!   comments and an error at the end of input points just past the last
//!   token;
//! * the grammar is LL(1) on keywords: once a keyword is read, a failure is
//!   final and reported as is (no backtracking that would lose the best
//!   message);
//! * recursion is bounded: the only recursive call is `EXPLAIN statement`,
//!   and `EXPLAIN EXPLAIN` is refused before recursing; `+`/`-` chains are
//!   loops building a flat list;
//! * every error carries a span into the whole script and says what was
//!   expected at that point; when the token found belongs to the statement
//!   but comes in the wrong place, the help shows the clause order.

use rollcall_engine::Timestamp;

use super::ast::*;
use super::lex::{self, QuotedError, describe, digits, ident, is_keyword, keyword, quoted, trivia};
use super::{MAX_NAME_BYTES, MAX_SCRIPT_BYTES, Script, ScriptStatement};
use crate::error::{ErrorKind, QueryError};
use crate::suggest;

pub(super) type PResult<'a, T> = Result<(&'a str, T), Box<ErrorKind>>;

/// The earliest time a literal may denote (0000-01-01T00:00:00Z), so that
/// every literal prints back as a four-digit year.
const MIN_LITERAL: i64 = -62_167_219_200_000;
/// The latest (9999-12-31T23:59:59.999Z).
const MAX_LITERAL: i64 = 253_402_300_799_999;

/// Per-statement facts for diagnostics: its keyword, its clause keywords and
/// its clause order.
pub(super) struct Ctx {
    pub(super) name: &'static str,
    pub(super) clauses: &'static [&'static str],
    pub(super) usage: &'static str,
}

pub(super) const STATEMENT_KEYWORDS: [&str; 9] = [
    "STATES",
    "FAILURES",
    "CLIENTS",
    "HISTORY",
    "FLOW",
    "DURATIONS",
    "GATE",
    "SHOW",
    "EXPLAIN",
];

pub(super) const DURATION_HELP: &str = "durations are one or more <integer><unit> with units ms, s, m, h, d (24 h) and w (7 d), as in 15m, 1h30m or 7d; EVERY also takes calendar months, as in 1mo";
pub(super) const TIME_HELP: &str = "a time is RFC 3339 (2026-11-01T12:00:00Z, 2026-11-01T14:00:00.250+02:00), a date (2026-11-01), NOW or $param, optionally followed by + or - durations (NOW - 7d)";

pub(super) fn invalid(span: Span, message: impl Into<String>, help: Option<&str>) -> Box<ErrorKind> {
    Box::new(ErrorKind::Invalid {
        span,
        message: message.into(),
        help: help.map(str::to_owned),
    })
}

/// The grammar, over one script source.
pub(crate) struct Parser<'a> {
    src: &'a str,
}

impl<'a> Parser<'a> {
    pub(crate) fn new(src: &'a str) -> Parser<'a> {
        Parser { src }
    }

    pub(super) fn off(&self, i: &str) -> usize {
        self.src.len() - i.len()
    }

    pub(super) fn span(&self, from: &str, to: &str) -> Span {
        Span::new(self.off(from), self.off(to))
    }

    /// A syntax error at the next token of `i`.
    pub(super) fn expected<T>(
        &self,
        i: &'a str,
        expected: impl Into<String>,
        ctx: Option<&Ctx>,
    ) -> PResult<'a, T> {
        let j = trivia(i);
        let (found, len) = describe(j);
        let span = if j.is_empty() {
            Span::new(self.off(i), self.off(i))
        } else {
            Span::new(self.off(j), self.off(j) + len)
        };
        let word = ident(j).ok().map(|(_, w)| w.to_ascii_uppercase());
        let help = match (ctx, &word) {
            (Some(c), Some(w)) if c.clauses.contains(&w.as_str()) => {
                Some(format!("{} clauses go in this order: {}", c.name, c.usage))
            }
            (None, Some(w)) if w.len() <= 12 && !STATEMENT_KEYWORDS.contains(&w.as_str()) => {
                suggest::closest(w, STATEMENT_KEYWORDS.iter().copied()).map(|k| format!("did you mean {k}?"))
            }
            _ => None,
        };
        Err(Box::new(ErrorKind::Syntax {
            span,
            expected: expected.into(),
            found,
            help,
        }))
    }

    /// The keyword `kw` next, if it is there.
    pub(super) fn eat(&self, i: &'a str, kw: &str) -> Option<&'a str> {
        keyword(trivia(i), kw)
    }

    pub(super) fn expect_kw(&self, i: &'a str, kw: &str, expected: &str, ctx: &Ctx) -> PResult<'a, ()> {
        match self.eat(i, kw) {
            Some(rest) => Ok((rest, ())),
            None => self.expected(i, expected, Some(ctx)),
        }
    }

    pub(super) fn eat_char(&self, i: &'a str, c: char) -> Option<&'a str> {
        trivia(i).strip_prefix(c)
    }

    /// A quoted or bare name.
    pub(super) fn name(&self, i: &'a str, expected: &str, ctx: &Ctx) -> PResult<'a, Name> {
        let j = trivia(i);
        let (rest, text) = if j.starts_with('"') {
            self.quoted(j)?
        } else if let Ok((rest, w)) = ident(j) {
            if is_keyword(w) {
                let mut err = self.expected::<()>(i, expected, Some(ctx)).err();
                if let Some(ErrorKind::Syntax { help, .. }) = err.as_deref_mut() {
                    help.get_or_insert_with(|| format!("to use `{w}` as a name, quote it: \"{w}\""));
                }
                return Err(
                    err.unwrap_or_else(|| invalid(self.span(j, rest), "keyword used as a name", None))
                );
            }
            (rest, w.to_owned())
        } else {
            return self.expected(i, expected, Some(ctx));
        };
        let span = self.span(j, rest);
        if text.is_empty() {
            return Err(invalid(span, "empty name", Some("names are 1 to 256 bytes long")));
        }
        if text.len() > MAX_NAME_BYTES {
            return Err(invalid(
                span,
                format!(
                    "name is {} bytes long; names are at most {MAX_NAME_BYTES} bytes",
                    text.len()
                ),
                None,
            ));
        }
        Ok((rest, Spanned::new(text, span)))
    }

    pub(super) fn quoted(&self, j: &'a str) -> PResult<'a, String> {
        let start = self.off(j);
        match quoted(j) {
            Ok(ok) => Ok(ok),
            Err(QuotedError::Unterminated) => Err(invalid(
                Span::new(start, start + 1),
                "this name has no closing `\"`",
                Some("names are written \"like this\", with \\\" for a quote inside"),
            )),
            Err(QuotedError::BadEscape(at)) => {
                let esc = &j[at..];
                let len = 1 + esc[1..].chars().next().map_or(0, char::len_utf8);
                Err(invalid(
                    Span::new(start + at, start + at + len),
                    format!("unknown escape `{}` in a name", &esc[..len]),
                    Some("inside a quoted name only \\\" and \\\\ are escapes"),
                ))
            }
        }
    }

    pub(super) fn opt_for(&self, i: &'a str, ctx: &Ctx) -> PResult<'a, Option<Name>> {
        match self.eat(i, "FOR") {
            Some(rest) => {
                let (rest, n) = self.name(rest, "a deployment name after FOR", ctx)?;
                Ok((rest, Some(n)))
            }
            None => Ok((i, None)),
        }
    }

    pub(super) fn opt_in(&self, i: &'a str, ctx: &Ctx) -> PResult<'a, Option<Name>> {
        match self.eat(i, "IN") {
            Some(rest) => {
                let (rest, n) = self.name(rest, "a collection name after IN", ctx)?;
                Ok((rest, Some(n)))
            }
            None => Ok((i, None)),
        }
    }

    // ----- times and durations ----------------------------------------------

    pub(super) fn time(&self, i: &'a str, after: &str, ctx: &Ctx) -> PResult<'a, TimeExpr> {
        let (mut i, base) = self.time_base(i, after, ctx)?;
        let mut offsets = Vec::new();
        loop {
            let j = trivia(i);
            let sign = match j.as_bytes().first() {
                Some(b'+') => Sign::Plus,
                Some(b'-') => Sign::Minus,
                _ => break,
            };
            let what = if sign == Sign::Plus { "+" } else { "-" };
            let (rest, by) = self.exact_duration(&j[1..], &format!("a duration after `{what}`"), ctx)?;
            offsets.push(Offset { sign, by });
            i = rest;
        }
        Ok((i, TimeExpr { base, offsets }))
    }

    pub(super) fn time_base(&self, i: &'a str, after: &str, ctx: &Ctx) -> PResult<'a, Spanned<TimeBase>> {
        let j = trivia(i);
        if let Some(rest) = lex::now(j) {
            return Ok((rest, Spanned::new(TimeBase::Now, self.span(j, rest))));
        }
        if let Ok((rest, name)) = lex::param(j) {
            return Ok((
                rest,
                Spanned::new(TimeBase::Param(name.to_owned()), self.span(j, rest)),
            ));
        }
        if j.starts_with(|c: char| c.is_ascii_digit()) {
            let whole = lex::time_like(j);
            let whole_span = Span::new(self.off(j), self.off(j) + whole.len());
            let lit = lex::time_literal(j).ok().filter(|(rest, _)| {
                !rest.starts_with(|c: char| c.is_ascii_alphanumeric() || c == ':' || c == '.')
            });
            let Some((rest, text)) = lit else {
                if whole.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(invalid(
                        whole_span,
                        format!(
                            "`{}` is not a time: RQL does not read epoch milliseconds",
                            clip(whole)
                        ),
                        Some(TIME_HELP),
                    ));
                }
                return Err(invalid(
                    whole_span,
                    format!("malformed time `{}`", clip(whole)),
                    Some(TIME_HELP),
                ));
            };
            let span = self.span(j, rest);
            let t = Timestamp::parse(text)
                .map_err(|e| invalid(span, format!("invalid time `{text}`: {e}"), Some(TIME_HELP)))?;
            if !(MIN_LITERAL..=MAX_LITERAL).contains(&t.0) {
                return Err(invalid(
                    span,
                    format!("time `{text}` is outside the years 0000 to 9999"),
                    None,
                ));
            }
            let base = if lex::has_offset(text) {
                TimeBase::Literal(t)
            } else {
                TimeBase::Local(t)
            };
            return Ok((rest, Spanned::new(base, span)));
        }
        let mut err = self
            .expected::<()>(i, format!("a time after {after}"), Some(ctx))
            .err();
        if let Some(ErrorKind::Syntax { help, .. }) = err.as_deref_mut() {
            help.get_or_insert_with(|| TIME_HELP.to_owned());
        }
        Err(err.unwrap_or_else(|| invalid(Span::new(self.off(j), self.off(j)), "expected a time", None)))
    }

    pub(super) fn duration(&self, i: &'a str, expected: &str, ctx: &Ctx) -> PResult<'a, DurationExpr> {
        let j = trivia(i);
        if let Ok((rest, name)) = lex::param(j) {
            return Ok((
                rest,
                Spanned::new(DurationValue::Param(name.to_owned()), self.span(j, rest)),
            ));
        }
        if !j.starts_with(|c: char| c.is_ascii_digit()) {
            let mut err = self.expected::<()>(i, expected, Some(ctx)).err();
            if let Some(ErrorKind::Syntax { help, .. }) = err.as_deref_mut() {
                help.get_or_insert_with(|| DURATION_HELP.to_owned());
            }
            return Err(err.unwrap_or_else(|| invalid(Span::default(), "expected a duration", None)));
        }
        let mut total: i64 = 0;
        let mut k = j;
        while let Ok((after_digits, number)) = digits(k) {
            if let Ok((rest, unit)) = lex::unit(after_digits)
                && unit.eq_ignore_ascii_case("mo")
            {
                return self.months(j, k, number, rest);
            }
            let Ok((rest, unit)) = lex::unit(after_digits) else {
                return Err(invalid(
                    self.span(k, after_digits),
                    format!("`{}` needs a unit", clip(number)),
                    Some(DURATION_HELP),
                ));
            };
            let Some(ms) = UNITS
                .iter()
                .find(|(u, _)| u.eq_ignore_ascii_case(unit))
                .map(|(_, ms)| *ms)
            else {
                return Err(invalid(
                    self.span(after_digits, rest),
                    format!("unknown duration unit `{}`", clip(unit)),
                    Some(DURATION_HELP),
                ));
            };
            let too_long = || {
                invalid(
                    self.span(j, rest),
                    "duration is too long",
                    Some("durations must fit in 2^63 milliseconds (about 292 million years)"),
                )
            };
            let n: i64 = number.parse().map_err(|_| too_long())?;
            total = n
                .checked_mul(ms)
                .and_then(|v| total.checked_add(v))
                .ok_or_else(too_long)?;
            k = rest;
        }
        Ok((
            k,
            Spanned::new(DurationValue::Literal(Duration(total)), self.span(j, k)),
        ))
    }

    /// `<n>mo` at `k` (the duration began at `j`): calendar months, only as
    /// the whole duration.
    fn months(&self, j: &'a str, k: &'a str, number: &str, rest: &'a str) -> PResult<'a, DurationExpr> {
        let combined = || {
            invalid(
                self.span(j, rest.trim_start_matches(|c: char| c.is_ascii_alphanumeric())),
                "calendar months cannot be combined with other units",
                Some("write months alone, as in EVERY 1mo or EVERY 3mo"),
            )
        };
        if k.len() != j.len() || rest.starts_with(|c: char| c.is_ascii_digit()) {
            return Err(combined());
        }
        let span = self.span(j, rest);
        match number.parse::<u32>() {
            Ok(0) => Err(invalid(
                span,
                "EVERY must be longer than zero",
                Some("write a step such as EVERY 1mo"),
            )),
            Ok(n) if n <= 12_000 => Ok((rest, Spanned::new(DurationValue::Months(n), span))),
            _ => Err(invalid(
                span,
                format!("{}mo is too long; the most is 12000mo", clip(number)),
                None,
            )),
        }
    }

    /// A duration that must be an exact length (an offset, `STALE AFTER`):
    /// calendar months are refused.
    pub(super) fn exact_duration(&self, i: &'a str, expected: &str, ctx: &Ctx) -> PResult<'a, DurationExpr> {
        let (rest, d) = self.duration(i, expected, ctx)?;
        if let DurationValue::Months(_) = d.value {
            return Err(invalid(
                d.span,
                "calendar months step only in EVERY",
                Some("write an exact length here, such as 30d"),
            ));
        }
        Ok((rest, d))
    }

    /// `FROM` was read: `time TO time`.
    pub(super) fn range(&self, i: &'a str, ctx: &Ctx) -> PResult<'a, TimeRange> {
        let (i, from) = self.time(i, "FROM", ctx)?;
        let (i, ()) = self.expect_kw(i, "TO", "TO after the FROM time", ctx)?;
        let (i, to) = self.time(i, "TO", ctx)?;
        check_order(&from, &to)?;
        Ok((i, TimeRange { from, to }))
    }

    /// `FROM` was read: `time TO time EVERY duration`.
    pub(super) fn series(&self, i: &'a str, ctx: &Ctx) -> PResult<'a, Series> {
        let (i, TimeRange { from, to }) = self.range(i, ctx)?;
        let (i, ()) = self.expect_kw(i, "EVERY", "EVERY after the TO time", ctx)?;
        let (i, every) = self.duration(i, "a duration after EVERY", ctx)?;
        if every.value == DurationValue::Literal(Duration(0)) {
            return Err(invalid(
                every.span,
                "EVERY must be longer than zero",
                Some("write a step such as EVERY 1h or EVERY 1d"),
            ));
        }
        Ok((i, Series { from, to, every }))
    }

    // ----- statements --------------------------------------------------------

    /// After a statement: `;` or the end of input must follow.
    pub(super) fn end(&self, i: &'a str, ctx: &Ctx) -> PResult<'a, ()> {
        let j = trivia(i);
        if j.is_empty() || j.starts_with(';') {
            return Ok((i, ()));
        }
        if let Ok((_, w)) = ident(j)
            && STATEMENT_KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(w))
        {
            return self.expected(i, "`;` between two statements", None);
        }
        self.expected(i, format!("the end of the {} statement", ctx.name), Some(ctx))
    }

    /// Skips trivia and returns the last `-- name: x` comment in it.
    fn trivia_names(&self, mut i: &'a str) -> Result<(&'a str, Option<Spanned<String>>), Box<ErrorKind>> {
        let mut name = None;
        loop {
            let j = i.trim_start();
            let Ok((rest, text)) = lex::comment(j) else {
                return Ok((j, name));
            };
            let body = text[2..].trim();
            if body.len() >= 5 && body.is_char_boundary(5) && body[..5].eq_ignore_ascii_case("name:") {
                let value = body[5..].trim();
                let span = self.span(j, rest);
                let ok = !value.is_empty()
                    && value.len() <= 128
                    && value.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
                    && value
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
                if !ok {
                    return Err(invalid(
                        span,
                        format!("statement name `{}` is not usable as a file name", clip(value)),
                        Some(
                            "use up to 128 letters, digits, `_`, `.` and `-`, starting with a letter, digit or `_`",
                        ),
                    ));
                }
                name = Some(Spanned::new(value.to_owned(), span));
            }
            i = rest;
        }
    }

    pub(crate) fn script(&self) -> Result<Script, Box<ErrorKind>> {
        let mut statements: Vec<ScriptStatement> = Vec::new();
        let mut names: std::collections::HashMap<String, Span> = Default::default();
        let mut i = self.src;
        loop {
            let (j, name) = self.trivia_names(i)?;
            if j.is_empty() {
                break;
            }
            if let Some(rest) = j.strip_prefix(';') {
                i = rest;
                continue;
            }
            let (rest, statement) = self.statement(j)?;
            let span = self.off(j)..self.off(rest);
            if let Some(n) = &name
                && let Some(first) = names.insert(n.value.clone(), n.span)
            {
                let line = self.src[..first.start].matches('\n').count() + 1;
                return Err(invalid(
                    n.span,
                    format!(
                        "statement name `{}` is used twice (first on line {line})",
                        n.value
                    ),
                    Some("each named statement writes its own result; give each a different name"),
                ));
            }
            statements.push(ScriptStatement {
                name: name.map(|n| n.value),
                statement,
                span,
            });
            let k = trivia(rest);
            i = k.strip_prefix(';').unwrap_or(k);
        }
        Ok(Script { statements })
    }
}

/// Refuses `FROM a TO b` with `a >= b` when that holds whatever `NOW` and
/// the parameters are: both ends literal, or both on the same base.
pub(super) fn check_order(from: &TimeExpr, to: &TimeExpr) -> Result<(), Box<ErrorKind>> {
    fn offset_sum(t: &TimeExpr) -> Option<i128> {
        t.offsets.iter().try_fold(0i128, |acc, o| match &o.by.value {
            DurationValue::Literal(d) => Some(match o.sign {
                Sign::Plus => acc + i128::from(d.0),
                Sign::Minus => acc - i128::from(d.0),
            }),
            DurationValue::Months(_) | DurationValue::Param(_) => None,
        })
    }
    let (Some(a), Some(b)) = (offset_sum(from), offset_sum(to)) else {
        return Ok(());
    };
    let (a, b) = match (&from.base.value, &to.base.value) {
        (TimeBase::Literal(x), TimeBase::Literal(y)) | (TimeBase::Local(x), TimeBase::Local(y)) => {
            (a + i128::from(x.0), b + i128::from(y.0))
        }
        (TimeBase::Now, TimeBase::Now) => (a, b),
        (TimeBase::Param(x), TimeBase::Param(y)) if x == y => (a, b),
        _ => return Ok(()),
    };
    if a >= b {
        return Err(invalid(
            from.span().to(to.span()),
            format!(
                "FROM {} is not before TO {}",
                clip(&from.to_string()),
                clip(&to.to_string())
            ),
            Some("ranges are half-open, [FROM, TO): FROM must be earlier than TO"),
        ));
    }
    Ok(())
}

pub(super) fn clip(s: &str) -> String {
    const MAX: usize = 40;
    if s.chars().count() > MAX {
        format!("{}...", s.chars().take(MAX).collect::<String>())
    } else {
        s.to_owned()
    }
}

/// Parses a script; see [`crate::parse_script`].
pub(crate) fn parse_script(src: &str) -> Result<Script, QueryError> {
    if src.len() > MAX_SCRIPT_BYTES {
        let mut at = MAX_SCRIPT_BYTES;
        while !src.is_char_boundary(at) {
            at -= 1;
        }
        return Err(QueryError::invalid(
            Span::new(at, at),
            format!(
                "the script is {} bytes; the limit is {MAX_SCRIPT_BYTES} bytes (1 MiB)",
                src.len()
            ),
            Some("split it into several files".to_owned()),
        ));
    }
    Parser::new(src).script().map_err(|e| QueryError::new(*e))
}

const PARAM: Ctx = Ctx {
    name: "parameter",
    clauses: &[],
    usage: "",
};

fn whole<T>(text: &str, r: PResult<'_, T>) -> Result<T, String> {
    match r {
        Ok((rest, v)) if trivia(rest).is_empty() => Ok(v),
        Ok((rest, _)) => Err(format!("unexpected `{}` after the value", clip(trivia(rest)))),
        Err(e) => Err(match *e {
            ErrorKind::Syntax { expected, found, .. } => format!("expected {expected}, found {found}"),
            other => other.to_string(),
        })
        .map_err(|m: String| {
            if text.is_empty() {
                "the value is empty".to_owned()
            } else {
                m
            }
        }),
    }
}

/// A parameter value used as a time: an RQL time expression without
/// parameters (`2026-10-01`, `NOW - 7d`), or integer epoch milliseconds.
pub(crate) fn parse_time_value(text: &str) -> Result<TimeExpr, String> {
    let p = Parser::new(text);
    let parsed = whole(text, p.time(text, "the parameter", &PARAM));
    match parsed {
        Ok(t)
            if matches!(t.base.value, TimeBase::Param(_))
                || t.offsets
                    .iter()
                    .any(|o| matches!(o.by.value, DurationValue::Param(_))) =>
        {
            Err("a parameter value cannot name another parameter".to_owned())
        }
        Ok(t) => Ok(t),
        Err(e) => Timestamp::parse(text).map(TimeExpr::literal).map_err(|_| e),
    }
}

/// A parameter value used as a duration (`1h30m`); also the interval of
/// the REPL's `.watch`.
///
/// ```
/// assert_eq!(rollcall_query::syntax::parse_duration_value("1m30s").map(|d| d.millis()), Ok(90_000));
/// assert!(rollcall_query::syntax::parse_duration_value("soon").is_err());
/// ```
pub fn parse_duration_value(text: &str) -> Result<Duration, String> {
    let p = Parser::new(text);
    match whole(text, p.duration(text, "a duration", &PARAM))? {
        Spanned {
            value: DurationValue::Literal(d),
            ..
        } => Ok(d),
        Spanned {
            value: DurationValue::Months(_),
            ..
        } => Err("calendar months cannot be passed as a parameter; write EVERY 1mo in the query".to_owned()),
        Spanned { .. } => Err("a parameter value cannot name another parameter".to_owned()),
    }
}
