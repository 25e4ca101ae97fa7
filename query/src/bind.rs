//! Binding of values: `$params` and `NOW` resolved to times and durations.
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
use crate::plan::{MAX_POINTS, Steps};
use crate::syntax::{self, DurationExpr, DurationValue, Sign, Span, TimeBase, TimeExpr};

/// The values a statement is bound with.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bindings<'a> {
    pub params: &'a Params,
    pub now: Timestamp,
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

    /// `FROM a TO b [EVERY w]`: checked and counted (a plain range is one
    /// step as wide as the range).
    pub(crate) fn steps(
        &self,
        from: &TimeExpr,
        to: &TimeExpr,
        every: Option<&DurationExpr>,
    ) -> Result<Steps, QueryError> {
        let a = self.time(from)?;
        let b = self.time(to)?;
        if a >= b {
            return Err(QueryError::invalid(
                from.span().to(to.span()),
                format!("FROM {a} is not before TO {b}"),
                Some("ranges are half-open, [FROM, TO): FROM must be earlier than TO".to_owned()),
            ));
        }
        let span = i128::from(b.0) - i128::from(a.0);
        let Some(every_expr) = every else {
            return Ok(Steps {
                from: a,
                to: b,
                every: i64::try_from(span).unwrap_or(i64::MAX),
                count: 1,
            });
        };
        let w = self.duration(every_expr)?;
        if w <= 0 {
            return Err(QueryError::invalid(
                every_expr.span,
                "EVERY must be longer than zero",
                Some("write a step such as EVERY 1h or EVERY 1d".to_owned()),
            ));
        }
        let count = (span + i128::from(w) - 1) / i128::from(w);
        if count > i128::from(MAX_POINTS) {
            return Err(QueryError::invalid(
                from.span().to(every_expr.span),
                format!(
                    "FROM {a} TO {b} EVERY {} makes {count} points; the limit is {MAX_POINTS}",
                    syntax::Duration(w)
                ),
                Some("widen EVERY or narrow the range".to_owned()),
            ));
        }
        Ok(Steps {
            from: a,
            to: b,
            every: w,
            count: count as u64,
        })
    }
}
