//! Binding of values: `$params` and `NOW` resolved to times and durations,
//! local times (written without an offset) resolved in the statement's
//! `TIME ZONE`, and `EVERY` turned into the grid of points it names.
//!
//! One resolver shared by the planner (`plan.rs`) and the SQL translator
//! (`translate/`), so a statement binds to the same times whichever runs it.
//!
//! Invariant: every error points at the span of the value that failed (the
//! parameter use, or the whole time expression for overflow) and says what
//! to pass instead.

use rollcall_engine::Timestamp;

use crate::error::{ErrorKind, QueryError};
use crate::exec::Params;
use crate::plan::{MAX_POINTS, Step, Steps};
use crate::syntax::{self, DurationExpr, DurationValue, Sign, Span, TimeBase, TimeExpr};
use crate::zone::{self, CalendarStep, GridError, Zone};

const DAY_MS: i64 = 86_400_000;

/// The values a statement is bound with.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bindings<'a> {
    pub params: &'a Params,
    pub now: Timestamp,
    /// The statement's `TIME ZONE` (UTC without one).
    pub zone: Option<&'a Zone>,
}

impl<'a> Bindings<'a> {
    /// The text of parameter `name`, or the unbound-parameter error at `span`.
    pub(crate) fn param(&self, name: &str, span: Span) -> Result<&'a str, QueryError> {
        self.params.get(name).map(String::as_str).ok_or_else(|| {
            QueryError::new(ErrorKind::UnboundParam {
                name: name.to_owned(),
                span,
            })
        })
    }

    /// A duration in milliseconds.
    pub(crate) fn duration(&self, d: &DurationExpr) -> Result<i64, QueryError> {
        match &d.value {
            DurationValue::Literal(v) => Ok(v.0),
            DurationValue::Months(_) => Err(QueryError::invalid(
                d.span,
                "calendar months step only in EVERY",
                Some("write an exact length here, such as 30d".to_owned()),
            )),
            DurationValue::Param(name) => {
                let text = self.param(name, d.span)?;
                syntax::parse_duration_value(text).map(|v| v.0).map_err(|why| {
                    QueryError::invalid(
                        d.span,
                        format!("parameter ${name} = {text:?} is not a duration: {why}"),
                        Some("pass a duration such as --param step=1h".to_owned()),
                    )
                })
            }
        }
    }

    /// A time: a literal, `NOW` or a parameter (which may itself hold `NOW`
    /// and offsets), plus the expression's own offsets.
    pub(crate) fn time(&self, t: &TimeExpr) -> Result<Timestamp, QueryError> {
        let (base, offsets_from_param) = match &t.base.value {
            TimeBase::Literal(v) => (*v, None),
            TimeBase::Local(v) => (self.local(*v, t.base.span)?, None),
            TimeBase::Now => (self.now, None),
            TimeBase::Param(name) => {
                let text = self.param(name, t.base.span)?;
                let bad = |why: String| {
                    QueryError::invalid(
                        t.base.span,
                        format!("parameter ${name} = {text:?} is not a time: {why}"),
                        Some(
                            "pass a time such as --param from=2026-10-01 or --param from=\"NOW - 7d\""
                                .to_owned(),
                        ),
                    )
                };
                let value = syntax::parse_time_value(text).map_err(bad)?;
                let base = match value.base.value {
                    TimeBase::Literal(v) => v,
                    TimeBase::Local(v) => self.local(v, t.base.span)?,
                    TimeBase::Now => self.now,
                    TimeBase::Param(_) => return Err(bad("a parameter cannot name another".to_owned())),
                };
                (base, Some(value.offsets))
            }
        };
        let mut ms = base.0;
        let out_of_range = || {
            QueryError::invalid(
                t.span(),
                "this time is out of the representable range".to_owned(),
                Some("times must stay within about 292 million years of 1970".to_owned()),
            )
        };
        for o in offsets_from_param.iter().flatten().chain(t.offsets.iter()) {
            let d = self.duration(&o.by)?;
            ms = match o.sign {
                Sign::Plus => ms.checked_add(d),
                Sign::Minus => ms.checked_sub(d),
            }
            .ok_or_else(out_of_range)?;
        }
        Ok(Timestamp(ms))
    }

    /// A local time (written without an offset) as an instant: in the
    /// statement's zone, else UTC.
    fn local(&self, wall: Timestamp, span: Span) -> Result<Timestamp, QueryError> {
        match self.zone {
            None => Ok(wall),
            Some(z) => z.instant_of_local(wall).ok_or_else(|| {
                QueryError::invalid(
                    span,
                    format!(
                        "this local time is outside the years the time zone {} covers",
                        z.name()
                    ),
                    None,
                )
            }),
        }
    }

    /// `FROM a TO b` checked: `a < b`.
    pub(crate) fn range(&self, from: &TimeExpr, to: &TimeExpr) -> Result<(Timestamp, Timestamp), QueryError> {
        let a = self.time(from)?;
        let b = self.time(to)?;
        if a >= b {
            return Err(QueryError::invalid(
                from.span().to(to.span()),
                format!("FROM {a} is not before TO {b}"),
                Some("ranges are half-open, [FROM, TO): FROM must be earlier than TO".to_owned()),
            ));
        }
        Ok((a, b))
    }

    /// `FROM a TO b EVERY w`: the points `a + k*w < b`. Whole days and
    /// weeks, and months, step on the calendar of the statement's zone
    /// (UTC without one, where a day is 24 hours); any other step is an
    /// exact length.
    pub(crate) fn steps(
        &self,
        from: &TimeExpr,
        to: &TimeExpr,
        every: &DurationExpr,
    ) -> Result<Steps, QueryError> {
        let (a, b) = self.range(from, to)?;
        let too_many = |count: String| {
            QueryError::invalid(
                from.span().to(every.span),
                format!(
                    "FROM {a} TO {b} EVERY {} makes {count} points; the limit is {MAX_POINTS}",
                    every.value
                ),
                Some("widen EVERY or narrow the range".to_owned()),
            )
        };
        let calendar = match &every.value {
            DurationValue::Months(n) => CalendarStep::Months(*n),
            _ => {
                let w = self.duration(every)?;
                if w <= 0 {
                    return Err(QueryError::invalid(
                        every.span,
                        "EVERY must be longer than zero",
                        Some("write a step such as EVERY 1h or EVERY 1d".to_owned()),
                    ));
                }
                if w % DAY_MS == 0 && self.zone.is_some() {
                    CalendarStep::Days(w / DAY_MS)
                } else {
                    // Days in UTC are exactly 24 hours: the exact grid is the
                    // calendar grid.
                    let span = i128::from(b.0) - i128::from(a.0);
                    let count = (span + i128::from(w) - 1) / i128::from(w);
                    if count > i128::from(MAX_POINTS) {
                        return Err(too_many(count.to_string()));
                    }
                    return Ok(Steps::exact(a, b, w, count as u64));
                }
            }
        };
        let utc = Zone::utc();
        let zone = self.zone.unwrap_or(&utc);
        match zone::calendar_points(zone, a, b, calendar, MAX_POINTS) {
            Ok(points) => Ok(Steps::calendar(a, b, Step::Calendar(calendar), points)),
            Err(GridError::TooMany) => Err(too_many(format!("more than {MAX_POINTS}"))),
            Err(GridError::OutOfRange) => Err(QueryError::invalid(
                from.span().to(every.span),
                "this calendar series reaches past the years 9999 or -9999",
                Some("narrow the range".to_owned()),
            )),
        }
    }
}
