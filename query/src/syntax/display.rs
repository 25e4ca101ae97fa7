//! The pretty-printer: every syntax tree node back to canonical RQL.
//!
//! Invariant: printing a tree and parsing the text gives an equal tree
//! (upper-case keywords, single spaces, names bare when they can be, clauses
//! in SPEC 7.8's order, no trailing `;`).

use std::fmt;

use super::ast::*;

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
    write_for_list(f, deployment.as_slice())?;
    if let Some(c) = collection {
        write!(f, " IN {}", NameFmt(&c.value))?;
    }
    Ok(())
}

fn write_for_list(f: &mut fmt::Formatter<'_>, deployments: &[Name]) -> fmt::Result {
    for (i, d) in deployments.iter().enumerate() {
        f.write_str(if i == 0 { " FOR " } else { ", " })?;
        write_name(f, &d.value)?;
    }
    Ok(())
}

fn write_stale(f: &mut fmt::Formatter<'_>, stale_after: &Option<DurationExpr>) -> fmt::Result {
    match stale_after {
        Some(d) => write!(f, " STALE AFTER {}", d.value),
        None => Ok(()),
    }
}

impl fmt::Display for Tail {
    /// ` TIME ZONE z AS KNOWN AT t`, each part only when present (with its
    /// leading space).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(z) = &self.time_zone {
            write!(f, " TIME ZONE {}", NameFmt(&z.value))?;
        }
        if let Some(t) = &self.known_at {
            write!(f, " AS KNOWN AT {t}")?;
        }
        Ok(())
    }
}

/// A local time as written without an offset: a bare date at midnight, else
/// the date-time without `Z`.
pub(crate) fn write_local(f: &mut impl fmt::Write, t: rollcall_engine::Timestamp) -> fmt::Result {
    let text = t.to_string();
    let text = text.strip_suffix('Z').unwrap_or(&text);
    f.write_str(text.strip_suffix("T00:00:00").unwrap_or(text))
}

impl fmt::Display for TimeBase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TimeBase::Literal(t) => t.fmt(f),
            TimeBase::Local(t) => write_local(f, *t),
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
        write_for_list(f, &self.deployments)?;
        match &self.scope {
            Scope::All => {}
            Scope::In(c) => write!(f, " IN {}", NameFmt(&c.value))?,
            Scope::ByCollection => f.write_str(" BY COLLECTION")?,
        }
        match &self.when {
            When::At(t) => write!(f, " AT {t}")?,
            When::Series(s) => write!(f, " {s}")?,
        }
        write_stale(f, &self.stale_after)?;
        self.tail.fmt(f)
    }
}

impl fmt::Display for FailuresQuery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FAILURES")?;
        write_for_list(f, &self.deployments)?;
        if let Some(c) = &self.collection {
            write!(f, " IN {}", NameFmt(&c.value))?;
        }
        write!(f, " {}", self.series)?;
        if self.by_error {
            f.write_str(" BY ERROR")?;
        }
        self.tail.fmt(f)
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
        self.tail.fmt(f)
    }
}

impl fmt::Display for HistoryQuery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HISTORY {}", NameFmt(&self.client.value))?;
        write_for_in(f, &self.deployment, &None)?;
        if let Some(r) = &self.range {
            write!(f, " {r}")?;
        }
        self.tail.fmt(f)
    }
}

impl fmt::Display for FlowQuery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FLOW")?;
        write_for_in(f, &self.deployment, &self.collection)?;
        write!(f, " {}", self.range)?;
        self.tail.fmt(f)
    }
}

impl fmt::Display for DurationsQuery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DURATIONS")?;
        write_for_in(f, &self.deployment, &self.collection)?;
        write!(f, " {} UNTIL {}", self.range, self.until.value)?;
        if let Some(s) = &self.since {
            write!(f, " SINCE {}", s.value)?;
        }
        self.tail.fmt(f)
    }
}

impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let div = 10u64.pow(self.scale);
        write!(f, "{}", self.units / div)?;
        if self.scale > 0 {
            write!(f, ".{:0width$}", self.units % div, width = self.scale as usize)?;
        }
        Ok(())
    }
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Threshold::Percent(d) => write!(f, "{d}%"),
            Threshold::Count(n) => write!(f, "{n}"),
        }
    }
}

impl fmt::Display for Condition {
    /// The normalised text of SPEC 7.9: `Compliant >= 95%`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {}",
            self.state.value,
            self.op.symbol(),
            self.threshold.value
        )
    }
}

impl fmt::Display for GateQuery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("GATE")?;
        write_for_in(f, &self.deployment, &self.collection)?;
        write!(f, " AT {} WHEN ", self.at)?;
        for (i, c) in self.conditions.iter().enumerate() {
            if i > 0 {
                f.write_str(" AND ")?;
            }
            c.fmt(f)?;
        }
        write_stale(f, &self.stale_after)?;
        self.tail.fmt(f)
    }
}

impl fmt::Display for Show {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Show::Collections => f.write_str("SHOW COLLECTIONS"),
            Show::Deployments => f.write_str("SHOW DEPLOYMENTS"),
            Show::Stats => f.write_str("SHOW STATS"),
            Show::Error(code) => write!(f, "SHOW ERROR {}", code.value),
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
            Statement::Flow(s) => s.fmt(f),
            Statement::Durations(s) => s.fmt(f),
            Statement::Gate(s) => s.fmt(f),
            Statement::Explain(inner) => write!(f, "EXPLAIN {inner}"),
        }
    }
}
