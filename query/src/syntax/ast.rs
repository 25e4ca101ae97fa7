//! The RQL syntax tree (SPEC.md section 3) and its pretty-printer.
//!
//! Invariants:
//! * every node that came from text carries the byte [`Span`] it was parsed
//!   from, inside a [`Spanned`]; spans never take part in equality, so a tree
//!   printed with `Display` and parsed again compares equal to the original;
//! * the tree is flat where input could make it deep: a time expression is a
//!   base plus a list of offsets, and `EXPLAIN` wraps exactly one statement
//!   that is not itself an `EXPLAIN` (the parser refuses `EXPLAIN EXPLAIN`),
//!   so dropping, printing or walking a tree never recurses without bound;
//! * values are already checked: times are in range, durations fit in `i64`
//!   milliseconds, state names are one of the six states, `LIMIT` fits `u32`.
//!
//! The tree holds names as written; resolving them against a store is
//! `plan`'s job.

use std::fmt;

use rollcall_engine::{State, Timestamp};

use super::KEYWORDS;

/// A byte range `start..end` of the parsed source.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Span {
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

impl Span {
    /// A span from byte offsets.
    pub fn new(start: usize, end: usize) -> Span {
        Span {
            start,
            end: end.max(start),
        }
    }

    /// The smallest span covering both.
    pub fn to(self, other: Span) -> Span {
        Span::new(self.start.min(other.start), self.end.max(other.end))
    }

    /// As a `Range`.
    pub fn range(self) -> std::ops::Range<usize> {
        self.start..self.end
    }
}

impl From<std::ops::Range<usize>> for Span {
    fn from(r: std::ops::Range<usize>) -> Span {
        Span::new(r.start, r.end)
    }
}

/// A value with the span it was parsed from. Equality compares the value
/// only.
#[derive(Clone, Debug)]
pub struct Spanned<T> {
    /// The value.
    pub value: T,
    /// Where it was written.
    pub span: Span,
}

impl<T> Spanned<T> {
    /// Wraps a value.
    pub fn new(value: T, span: Span) -> Spanned<T> {
        Spanned { value, span }
    }

    /// Wraps a value built by code rather than parsed (empty span).
    pub fn synthetic(value: T) -> Spanned<T> {
        Spanned {
            value,
            span: Span::default(),
        }
    }
}

impl<T: PartialEq> PartialEq for Spanned<T> {
    fn eq(&self, other: &Spanned<T>) -> bool {
        self.value == other.value
    }
}

impl<T: Eq> Eq for Spanned<T> {}

/// A collection, deployment or client name as written (unescaped).
pub type Name = Spanned<String>;

/// One RQL statement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Statement {
    /// `STATES ...`
    States(StatesQuery),
    /// `FAILURES ...`
    Failures(FailuresQuery),
    /// `CLIENTS ...`
    Clients(ClientsQuery),
    /// `HISTORY ...`
    History(HistoryQuery),
    /// `SHOW ...`
    Show(Show),
    /// `EXPLAIN statement` (never an `EXPLAIN` inside).
    Explain(Box<Statement>),
}

/// `STATES [FOR d] [IN c | BY COLLECTION] when [STALE AFTER s]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatesQuery {
    /// `FOR` deployment.
    pub deployment: Option<Name>,
    /// Which clients.
    pub scope: Scope,
    /// One time or a series.
    pub when: When,
    /// `STALE AFTER` duration.
    pub stale_after: Option<DurationExpr>,
}

/// Which clients a `STATES` statement counts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Every client (no `IN`).
    All,
    /// `IN name`.
    In(Name),
    /// `BY COLLECTION`: one row per collection.
    ByCollection,
}

/// `AT time` or `FROM a TO b EVERY w`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum When {
    /// `AT time`.
    At(TimeExpr),
    /// `FROM a TO b EVERY w`.
    Series(Series),
}

/// `FROM a TO b EVERY w`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Series {
    /// Start, included.
    pub from: TimeExpr,
    /// End, excluded.
    pub to: TimeExpr,
    /// Step.
    pub every: DurationExpr,
}

/// `FAILURES [FOR d] [IN c] FROM a TO b EVERY w [BY ERROR]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FailuresQuery {
    /// `FOR` deployment.
    pub deployment: Option<Name>,
    /// `IN` collection.
    pub collection: Option<Name>,
    /// Buckets.
    pub series: Series,
    /// `BY ERROR`.
    pub by_error: bool,
}

/// `CLIENTS [FOR d] [IN c] AT t [WHERE ...] [LIMIT n]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientsQuery {
    /// `FOR` deployment.
    pub deployment: Option<Name>,
    /// `IN` collection.
    pub collection: Option<Name>,
    /// `AT` time.
    pub at: TimeExpr,
    /// `WHERE STATE ...`.
    pub filter: Option<StateFilter>,
    /// `LIMIT n`.
    pub limit: Option<Spanned<u32>>,
}

/// `WHERE STATE = s` or `WHERE STATE IN (s, ...)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StateFilter {
    /// `= s`.
    Eq(Spanned<State>),
    /// `IN (s, ...)`, never empty.
    In(Vec<Spanned<State>>),
}

impl StateFilter {
    /// The states the filter keeps, in the order written.
    pub fn states(&self) -> Vec<State> {
        match self {
            StateFilter::Eq(s) => vec![s.value],
            StateFilter::In(list) => list.iter().map(|s| s.value).collect(),
        }
    }
}

/// `HISTORY name [FOR d] [FROM a TO b]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryQuery {
    /// The client.
    pub client: Name,
    /// `FOR` deployment (every deployment when absent).
    pub deployment: Option<Name>,
    /// `FROM a TO b`.
    pub range: Option<TimeRange>,
}

/// `FROM a TO b`, half-open.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimeRange {
    /// Start, included.
    pub from: TimeExpr,
    /// End, excluded.
    pub to: TimeExpr,
}

/// `SHOW ...`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Show {
    /// `SHOW COLLECTIONS`.
    Collections,
    /// `SHOW DEPLOYMENTS`.
    Deployments,
    /// `SHOW ERRORS [FOR d] [IN c] FROM a TO b`.
    Errors(Box<ShowErrors>),
    /// `SHOW STATS`.
    Stats,
}

/// `SHOW ERRORS [FOR d] [IN c] FROM a TO b`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShowErrors {
    /// `FOR` deployment.
    pub deployment: Option<Name>,
    /// `IN` collection.
    pub collection: Option<Name>,
    /// The range.
    pub range: TimeRange,
}

/// A time: a base and zero or more `+ duration` / `- duration` offsets,
/// applied left to right.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimeExpr {
    /// The starting point.
    pub base: Spanned<TimeBase>,
    /// Offsets in the order written.
    pub offsets: Vec<Offset>,
}

impl TimeExpr {
    /// A plain literal time.
    pub fn literal(t: Timestamp) -> TimeExpr {
        TimeExpr {
            base: Spanned::synthetic(TimeBase::Literal(t)),
            offsets: Vec::new(),
        }
    }

    /// Where the whole expression was written.
    pub fn span(&self) -> Span {
        match self.offsets.last() {
            Some(o) => self.base.span.to(o.by.span),
            None => self.base.span,
        }
    }
}

/// The starting point of a time expression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TimeBase {
    /// An RFC 3339 time or a bare date.
    Literal(Timestamp),
    /// `NOW`, given by the caller.
    Now,
    /// `$name`, bound by the caller.
    Param(String),
}

/// `+ duration` or `- duration`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Offset {
    /// Direction.
    pub sign: Sign,
    /// Amount.
    pub by: DurationExpr,
}

/// Direction of an offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sign {
    /// `+`
    Plus,
    /// `-`
    Minus,
}

/// A duration literal or a `$param` bound to one.
pub type DurationExpr = Spanned<DurationValue>;

/// A duration as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DurationValue {
    /// A literal such as `1h30m`.
    Literal(Duration),
    /// `$name`, bound by the caller.
    Param(String),
}

/// An exact, non-negative duration in milliseconds (`d` = 24 h, `w` = 7 d).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration(pub i64);

impl Duration {
    /// Milliseconds.
    pub fn millis(self) -> i64 {
        self.0
    }
}

/// Duration units, largest first, with their length in milliseconds.
pub(crate) const UNITS: [(&str, i64); 6] = [
    ("w", 7 * 86_400_000),
    ("d", 86_400_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1_000),
    ("ms", 1),
];

impl fmt::Display for Duration {
    /// Largest unit first, days rather than weeks (`90m` prints `1h30m`,
    /// `2w` prints `14d`); zero prints `0s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 <= 0 {
            return f.write_str("0s");
        }
        let mut rest = self.0;
        for (unit, ms) in UNITS.into_iter().skip(1) {
            let n = rest / ms;
            if n > 0 {
                write!(f, "{n}{unit}")?;
                rest -= n * ms;
            }
        }
        Ok(())
    }
}

impl fmt::Display for DurationValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DurationValue::Literal(d) => d.fmt(f),
            DurationValue::Param(p) => write!(f, "${p}"),
        }
    }
}

/// True when `text` can be written as a bare identifier: it matches
/// `[A-Za-z_][A-Za-z0-9_.-]*` and is not a keyword.
pub fn is_bare_name(text: &str) -> bool {
    let mut chars = text.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    (first.is_ascii_alphabetic() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        && !KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(text))
}

/// Writes a name bare when it can be, else double-quoted with `\"` and `\\`.
pub fn write_name(f: &mut impl fmt::Write, text: &str) -> fmt::Result {
    if is_bare_name(text) {
        return f.write_str(text);
    }
    f.write_char('"')?;
    for c in text.chars() {
        if c == '"' || c == '\\' {
            f.write_char('\\')?;
        }
        f.write_char(c)?;
    }
    f.write_char('"')
}

struct NameFmt<'a>(&'a str);

impl fmt::Display for NameFmt<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_name(f, self.0)
    }
}

fn write_for_in(
    f: &mut fmt::Formatter<'_>,
    deployment: &Option<Name>,
    collection: &Option<Name>,
) -> fmt::Result {
    if let Some(d) = deployment {
        write!(f, " FOR {}", NameFmt(&d.value))?;
    }
    if let Some(c) = collection {
        write!(f, " IN {}", NameFmt(&c.value))?;
    }
    Ok(())
}

impl fmt::Display for TimeBase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TimeBase::Literal(t) => t.fmt(f),
            TimeBase::Now => f.write_str("NOW"),
            TimeBase::Param(p) => write!(f, "${p}"),
        }
    }
}

impl fmt::Display for TimeExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.base.value.fmt(f)?;
        for o in &self.offsets {
            let sign = match o.sign {
                Sign::Plus => '+',
                Sign::Minus => '-',
            };
            write!(f, " {sign} {}", o.by.value)?;
        }
        Ok(())
    }
}

impl fmt::Display for Series {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FROM {} TO {} EVERY {}", self.from, self.to, self.every.value)
    }
}

impl fmt::Display for TimeRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FROM {} TO {}", self.from, self.to)
    }
}

impl fmt::Display for StatesQuery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("STATES")?;
        write_for_in(f, &self.deployment, &None)?;
        match &self.scope {
            Scope::All => {}
            Scope::In(c) => write!(f, " IN {}", NameFmt(&c.value))?,
            Scope::ByCollection => f.write_str(" BY COLLECTION")?,
        }
        match &self.when {
            When::At(t) => write!(f, " AT {t}")?,
            When::Series(s) => write!(f, " {s}")?,
        }
        if let Some(d) = &self.stale_after {
            write!(f, " STALE AFTER {}", d.value)?;
        }
        Ok(())
    }
}

impl fmt::Display for FailuresQuery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FAILURES")?;
        write_for_in(f, &self.deployment, &self.collection)?;
        write!(f, " {}", self.series)?;
        if self.by_error {
            f.write_str(" BY ERROR")?;
        }
        Ok(())
    }
}

impl fmt::Display for ClientsQuery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CLIENTS")?;
        write_for_in(f, &self.deployment, &self.collection)?;
        write!(f, " AT {}", self.at)?;
        match &self.filter {
            None => {}
            Some(StateFilter::Eq(s)) => write!(f, " WHERE STATE = {}", s.value)?,
            Some(StateFilter::In(list)) => {
                f.write_str(" WHERE STATE IN (")?;
                for (i, s) in list.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    s.value.fmt(f)?;
                }
                f.write_str(")")?;
            }
        }
        if let Some(n) = &self.limit {
            write!(f, " LIMIT {}", n.value)?;
        }
        Ok(())
    }
}

impl fmt::Display for HistoryQuery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HISTORY {}", NameFmt(&self.client.value))?;
        write_for_in(f, &self.deployment, &None)?;
        if let Some(r) = &self.range {
            write!(f, " {r}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Show {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Show::Collections => f.write_str("SHOW COLLECTIONS"),
            Show::Deployments => f.write_str("SHOW DEPLOYMENTS"),
            Show::Stats => f.write_str("SHOW STATS"),
            Show::Errors(e) => {
                f.write_str("SHOW ERRORS")?;
                write_for_in(f, &e.deployment, &e.collection)?;
                write!(f, " {}", e.range)
            }
        }
    }
}

impl fmt::Display for Statement {
    /// Canonical RQL: upper-case keywords, single spaces, names bare when
    /// they can be, no trailing `;`. Parsing the text gives an equal tree.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Statement::States(s) => s.fmt(f),
            Statement::Failures(s) => s.fmt(f),
            Statement::Clients(s) => s.fmt(f),
            Statement::History(s) => s.fmt(f),
            Statement::Show(s) => s.fmt(f),
            Statement::Explain(inner) => write!(f, "EXPLAIN {inner}"),
        }
    }
}

impl Statement {
    /// Calls `f` with every time expression of the statement.
    pub fn for_each_time(&self, f: &mut dyn FnMut(&TimeExpr)) {
        let series = |s: &Series, f: &mut dyn FnMut(&TimeExpr)| {
            f(&s.from);
            f(&s.to);
        };
        match self {
            Statement::States(s) => match &s.when {
                When::At(t) => f(t),
                When::Series(se) => series(se, f),
            },
            Statement::Failures(s) => series(&s.series, f),
            Statement::Clients(s) => f(&s.at),
            Statement::History(s) => {
                if let Some(r) = &s.range {
                    f(&r.from);
                    f(&r.to);
                }
            }
            Statement::Show(Show::Errors(e)) => {
                f(&e.range.from);
                f(&e.range.to);
            }
            Statement::Show(_) => {}
            Statement::Explain(inner) => inner.for_each_time(f),
        }
    }

    /// Calls `f` with every duration expression of the statement, including
    /// the offsets inside time expressions.
    pub fn for_each_duration(&self, f: &mut dyn FnMut(&DurationExpr)) {
        self.for_each_time(&mut |t| t.offsets.iter().for_each(|o| f(&o.by)));
        match self {
            Statement::States(s) => {
                if let When::Series(se) = &s.when {
                    f(&se.every);
                }
                if let Some(d) = &s.stale_after {
                    f(d);
                }
            }
            Statement::Failures(s) => f(&s.series.every),
            Statement::Explain(inner) => {
                // Offsets of the inner statement were visited above through
                // `for_each_time`; only its own durations remain.
                inner.for_each_own_duration(f);
            }
            _ => {}
        }
    }

    fn for_each_own_duration(&self, f: &mut dyn FnMut(&DurationExpr)) {
        match self {
            Statement::States(s) => {
                if let When::Series(se) = &s.when {
                    f(&se.every);
                }
                if let Some(d) = &s.stale_after {
                    f(d);
                }
            }
            Statement::Failures(s) => f(&s.series.every),
            _ => {}
        }
    }
}
