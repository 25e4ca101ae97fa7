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

use rollcall_engine::{ErrorCode, State, Timestamp};

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
    /// `FLOW ...` (SPEC 7.3)
    Flow(FlowQuery),
    /// `DURATIONS ...` (SPEC 7.4)
    Durations(DurationsQuery),
    /// `GATE ...` (SPEC 7.9)
    Gate(GateQuery),
    /// `EXPLAIN statement` (never an `EXPLAIN` inside).
    Explain(Box<Statement>),
}

/// The clauses every query may end with (SPEC 7.8's order): `TIME ZONE z`,
/// then `AS KNOWN AT t`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Tail {
    /// `TIME ZONE name`: local times of the statement are in this zone, and
    /// output times print in it.
    pub time_zone: Option<Name>,
    /// `AS KNOWN AT time`: only data committed by then.
    pub known_at: Option<TimeExpr>,
}

impl Tail {
    /// True when neither clause is there.
    pub fn is_empty(&self) -> bool {
        self.time_zone.is_none() && self.known_at.is_none()
    }
}

/// `STATES [FOR d, ...] [IN c | BY COLLECTION] when [STALE AFTER s] tail`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatesQuery {
    /// `FOR` deployments in the order written; empty means the default
    /// deployment. More than one adds a leading `deployment` column.
    pub deployments: Vec<Name>,
    /// Which clients.
    pub scope: Scope,
    /// One time or a series.
    pub when: When,
    /// `STALE AFTER` duration.
    pub stale_after: Option<DurationExpr>,
    /// `TIME ZONE`, `AS KNOWN AT`.
    pub tail: Tail,
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

/// `FAILURES [FOR d, ...] [IN c] FROM a TO b EVERY w [BY ERROR] tail`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FailuresQuery {
    /// `FOR` deployments in the order written; empty means the default.
    pub deployments: Vec<Name>,
    /// `IN` collection.
    pub collection: Option<Name>,
    /// Buckets.
    pub series: Series,
    /// `BY ERROR`.
    pub by_error: bool,
    /// `TIME ZONE`, `AS KNOWN AT`.
    pub tail: Tail,
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
    /// `TIME ZONE`, `AS KNOWN AT`.
    pub tail: Tail,
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
    /// `TIME ZONE`, `AS KNOWN AT`.
    pub tail: Tail,
}

/// `FLOW [FOR d] [IN c] FROM a TO b tail`: from-state x to-state counts of
/// the members at `b`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowQuery {
    /// `FOR` deployment.
    pub deployment: Option<Name>,
    /// `IN` collection.
    pub collection: Option<Name>,
    /// `FROM a TO b`.
    pub range: TimeRange,
    /// `TIME ZONE`, `AS KNOWN AT`.
    pub tail: Tail,
}

/// `DURATIONS [FOR d] [IN c] FROM a TO b UNTIL s [SINCE s] tail`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DurationsQuery {
    /// `FOR` deployment.
    pub deployment: Option<Name>,
    /// `IN` collection.
    pub collection: Option<Name>,
    /// `FROM a TO b`.
    pub range: TimeRange,
    /// `UNTIL state`: the end.
    pub until: Spanned<State>,
    /// `SINCE state` (default `InProgress`): the start.
    pub since: Option<Spanned<State>>,
    /// `TIME ZONE`, `AS KNOWN AT`.
    pub tail: Tail,
}

/// `GATE [FOR d] [IN c] AT t WHEN cond [AND cond]... [STALE AFTER s] tail`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GateQuery {
    /// `FOR` deployment.
    pub deployment: Option<Name>,
    /// `IN` collection.
    pub collection: Option<Name>,
    /// `AT` time.
    pub at: TimeExpr,
    /// The conditions, in the order written; never empty.
    pub conditions: Vec<Condition>,
    /// `STALE AFTER` duration.
    pub stale_after: Option<DurationExpr>,
    /// `TIME ZONE`, `AS KNOWN AT`.
    pub tail: Tail,
}

/// `state op threshold` in a `GATE`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Condition {
    /// The state counted.
    pub state: Spanned<State>,
    /// The comparison.
    pub op: CompareOp,
    /// A share of `total` or a count.
    pub threshold: Spanned<Threshold>,
}

/// A comparison of a `GATE` condition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompareOp {
    /// `>=`
    AtLeast,
    /// `<=`
    AtMost,
    /// `>`
    Above,
    /// `<`
    Below,
}

impl CompareOp {
    /// The operator as written.
    pub fn symbol(self) -> &'static str {
        match self {
            CompareOp::AtLeast => ">=",
            CompareOp::AtMost => "<=",
            CompareOp::Above => ">",
            CompareOp::Below => "<",
        }
    }

    /// Applies the comparison to two values of one unit.
    pub fn holds<T: Ord>(self, actual: T, threshold: T) -> bool {
        match self {
            CompareOp::AtLeast => actual >= threshold,
            CompareOp::AtMost => actual <= threshold,
            CompareOp::Above => actual > threshold,
            CompareOp::Below => actual < threshold,
        }
    }
}

/// The right-hand side of a `GATE` condition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Threshold {
    /// `95%`, `2.5%`: a share of `total`, exact as written.
    Percent(Decimal),
    /// `10`: a number of clients.
    Count(u64),
}

/// A non-negative decimal number as written: `units / 10^scale`
/// (`2.5` is `Decimal { units: 25, scale: 1 }`), normalised without
/// trailing zeros so that equal numbers compare equal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decimal {
    /// The digits without the point.
    pub units: u64,
    /// Digits after the point (at most [`Decimal::MAX_SCALE`]).
    pub scale: u32,
}

impl Decimal {
    /// The most digits after the point a threshold may have.
    pub const MAX_SCALE: u32 = 6;

    /// `units / 10^scale`, trailing zeros removed.
    pub fn new(mut units: u64, mut scale: u32) -> Decimal {
        while scale > 0 && units.is_multiple_of(10) {
            units /= 10;
            scale -= 1;
        }
        Decimal { units, scale }
    }
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
    /// `SHOW ERROR code`: the code decoded (SPEC 7.6).
    Error(Spanned<ErrorCode>),
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
    /// An RFC 3339 time with an offset (`Z`, `+02:00`).
    Literal(Timestamp),
    /// A bare date or a date-time written without an offset: a local time
    /// in the statement's `TIME ZONE` (UTC without one), held as the
    /// instant it names in UTC.
    Local(Timestamp),
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
    /// `<n>mo`: calendar months (only in `EVERY`).
    Months(u32),
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
            DurationValue::Months(n) => write!(f, "{n}mo"),
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

impl Statement {
    /// The statement's `TIME ZONE` / `AS KNOWN AT` clauses (`SHOW` and
    /// `EXPLAIN` have none of their own).
    pub fn tail(&self) -> Option<&Tail> {
        match self {
            Statement::States(s) => Some(&s.tail),
            Statement::Failures(s) => Some(&s.tail),
            Statement::Clients(s) => Some(&s.tail),
            Statement::History(s) => Some(&s.tail),
            Statement::Flow(s) => Some(&s.tail),
            Statement::Durations(s) => Some(&s.tail),
            Statement::Gate(s) => Some(&s.tail),
            Statement::Show(_) | Statement::Explain(_) => None,
        }
    }

    /// Calls `f` with every time expression of the statement.
    pub fn for_each_time(&self, f: &mut dyn FnMut(&TimeExpr)) {
        let range = |r: &TimeRange, f: &mut dyn FnMut(&TimeExpr)| {
            f(&r.from);
            f(&r.to);
        };
        match self {
            Statement::States(s) => match &s.when {
                When::At(t) => f(t),
                When::Series(se) => {
                    f(&se.from);
                    f(&se.to);
                }
            },
            Statement::Failures(s) => {
                f(&s.series.from);
                f(&s.series.to);
            }
            Statement::Clients(s) => f(&s.at),
            Statement::History(s) => {
                if let Some(r) = &s.range {
                    range(r, f);
                }
            }
            Statement::Flow(s) => range(&s.range, f),
            Statement::Durations(s) => range(&s.range, f),
            Statement::Gate(s) => f(&s.at),
            Statement::Show(Show::Errors(e)) => range(&e.range, f),
            Statement::Show(_) => {}
            Statement::Explain(inner) => inner.for_each_time(f),
        }
        if let Some(t) = self.tail().and_then(|t| t.known_at.as_ref()) {
            f(t);
        }
    }

    /// Calls `f` with every duration expression of the statement, including
    /// the offsets inside time expressions.
    pub fn for_each_duration(&self, f: &mut dyn FnMut(&DurationExpr)) {
        self.for_each_time(&mut |t| t.offsets.iter().for_each(|o| f(&o.by)));
        match self {
            Statement::Explain(inner) => {
                // Offsets of the inner statement were visited above through
                // `for_each_time`; only its own durations remain.
                inner.for_each_own_duration(f);
            }
            other => other.for_each_own_duration(f),
        }
    }

    /// The durations written as clauses (`EVERY`, `STALE AFTER`), not as
    /// offsets of times.
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
            Statement::Gate(s) => {
                if let Some(d) = &s.stale_after {
                    f(d);
                }
            }
            _ => {}
        }
    }
}
