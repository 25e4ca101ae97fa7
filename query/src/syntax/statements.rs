//! One parser function per RQL statement (SPEC sections 3 and 7), on top of
//! the shared pieces in `parse` (names, times, durations, ranges).
//!
//! Invariants: the clause order of every statement is its section-3 form,
//! then `STALE AFTER`, then `TIME ZONE`, then `AS KNOWN AT` (SPEC 7.8), and
//! each statement's [`Ctx`] lists its clause keywords so that a clause in
//! the wrong place is answered with the usage line; a `TIME ZONE` name is
//! checked against the bundled tz database here, so a misspelt zone is a
//! query mistake (exit code 2) found before anything runs.

use rollcall_engine::{ErrorCode, State};

use super::ast::*;
use super::lex::{self, digits, ident, is_keyword, keyword, trivia};
use super::parse::{Ctx, PResult, Parser, clip, invalid};
use crate::error::{ErrorKind, NameKind};
use crate::suggest;
use crate::zone::Zone;

const TAIL_USAGE: &str = "[TIME ZONE zone] [AS KNOWN AT time]";

pub(super) const STATES: Ctx = Ctx {
    name: "STATES",
    clauses: &[
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
        "TIME",
        "ZONE",
        "AS",
        "KNOWN",
    ],
    usage: "STATES [FOR deployment, ...] [IN collection | BY COLLECTION] (AT time | FROM time TO time EVERY duration) [STALE AFTER duration] [TIME ZONE zone] [AS KNOWN AT time]",
};
const FAILURES: Ctx = Ctx {
    name: "FAILURES",
    clauses: &[
        "FOR", "IN", "FROM", "TO", "EVERY", "BY", "ERROR", "TIME", "ZONE", "AS", "KNOWN",
    ],
    usage: "FAILURES [FOR deployment, ...] [IN collection] FROM time TO time EVERY duration [BY ERROR] [TIME ZONE zone] [AS KNOWN AT time]",
};
const CLIENTS: Ctx = Ctx {
    name: "CLIENTS",
    clauses: &[
        "FOR", "IN", "AT", "WHERE", "STATE", "LIMIT", "TIME", "ZONE", "AS", "KNOWN",
    ],
    usage: "CLIENTS [FOR deployment] [IN collection] AT time [WHERE STATE = state | WHERE STATE IN (state, ...)] [LIMIT n] [TIME ZONE zone] [AS KNOWN AT time]",
};
const HISTORY: Ctx = Ctx {
    name: "HISTORY",
    clauses: &["FOR", "FROM", "TO", "TIME", "ZONE", "AS", "KNOWN"],
    usage: "HISTORY client [FOR deployment] [FROM time TO time] [TIME ZONE zone] [AS KNOWN AT time]",
};
const FLOW: Ctx = Ctx {
    name: "FLOW",
    clauses: &["FOR", "IN", "FROM", "TO", "TIME", "ZONE", "AS", "KNOWN"],
    usage: "FLOW [FOR deployment] [IN collection] FROM time TO time [TIME ZONE zone] [AS KNOWN AT time]",
};
const DURATIONS: Ctx = Ctx {
    name: "DURATIONS",
    clauses: &[
        "FOR", "IN", "FROM", "TO", "UNTIL", "SINCE", "TIME", "ZONE", "AS", "KNOWN",
    ],
    usage: "DURATIONS [FOR deployment] [IN collection] FROM time TO time UNTIL state [SINCE state] [TIME ZONE zone] [AS KNOWN AT time]",
};
const GATE: Ctx = Ctx {
    name: "GATE",
    clauses: &[
        "FOR", "IN", "AT", "WHEN", "AND", "STALE", "AFTER", "TIME", "ZONE", "AS", "KNOWN",
    ],
    usage: "GATE [FOR deployment] [IN collection] AT time WHEN state (>=|<=|>|<) number[%] [AND ...] [STALE AFTER duration] [TIME ZONE zone] [AS KNOWN AT time]",
};
const SHOW: Ctx = Ctx {
    name: "SHOW",
    clauses: &["FOR", "IN", "FROM", "TO"],
    usage: "SHOW COLLECTIONS | SHOW DEPLOYMENTS | SHOW ERRORS [FOR deployment] [IN collection] FROM time TO time | SHOW ERROR code | SHOW STATS",
};

impl<'a> Parser<'a> {
    pub(super) fn states(&self, i: &'a str) -> PResult<'a, StatesQuery> {
        let c = &STATES;
        let (i, deployments) = self.opt_for_list(i, c)?;
        let (i, scope) = if let Some(rest) = self.eat(i, "IN") {
            let (rest, n) = self.name(rest, "a collection name after IN", c)?;
            (rest, Scope::In(n))
        } else if let Some(rest) = self.eat(i, "BY") {
            let (rest, ()) = self.expect_kw(rest, "COLLECTION", "COLLECTION after BY", c)?;
            (rest, Scope::ByCollection)
        } else {
            (i, Scope::All)
        };
        let (i, when) = if let Some(rest) = self.eat(i, "AT") {
            let (rest, t) = self.time(rest, "AT", c)?;
            (rest, When::At(t))
        } else if let Some(rest) = self.eat(i, "FROM") {
            let (rest, s) = self.series(rest, c)?;
            (rest, When::Series(s))
        } else {
            let expected = match (&scope, !deployments.is_empty()) {
                (Scope::In(_), _) => "AT or FROM after the collection name",
                (Scope::ByCollection, _) => "AT or FROM after BY COLLECTION",
                (Scope::All, true) => "IN, BY COLLECTION, AT or FROM after the deployment name",
                (Scope::All, false) => "FOR, IN, BY COLLECTION, AT or FROM after STATES",
            };
            return self.expected(i, expected, Some(c));
        };
        let (i, stale_after) = self.opt_stale(i, c)?;
        let (i, tail) = self.tail(i, c)?;
        self.end(i, c)?;
        Ok((
            i,
            StatesQuery {
                deployments,
                scope,
                when,
                stale_after,
                tail,
            },
        ))
    }

    pub(super) fn failures(&self, i: &'a str) -> PResult<'a, FailuresQuery> {
        let c = &FAILURES;
        let (i, deployments) = self.opt_for_list(i, c)?;
        let (i, collection) = self.opt_in(i, c)?;
        let Some(i) = self.eat(i, "FROM") else {
            let expected = match (&collection, deployments.is_empty()) {
                (Some(_), _) => "FROM after the collection name",
                (None, false) => "IN or FROM after the deployment name",
                (None, true) => "FOR, IN or FROM after FAILURES",
            };
            return self.expected(i, expected, Some(c));
        };
        let (i, series) = self.series(i, c)?;
        let (i, by_error) = match self.eat(i, "BY") {
            Some(rest) => {
                let (rest, ()) = self.expect_kw(rest, "ERROR", "ERROR after BY", c)?;
                (rest, true)
            }
            None => (i, false),
        };
        let (i, tail) = self.tail(i, c)?;
        self.end(i, c)?;
        Ok((
            i,
            FailuresQuery {
                deployments,
                collection,
                series,
                by_error,
                tail,
            },
        ))
    }

    pub(super) fn state(&self, i: &'a str, expected: &str, ctx: &Ctx) -> PResult<'a, Spanned<State>> {
        let j = trivia(i);
        let (rest, text) = if j.starts_with('"') {
            self.quoted(j)?
        } else {
            match ident(j) {
                Ok((rest, w)) if !is_keyword(w) => (rest, w.to_owned()),
                _ => return self.expected(i, expected, Some(ctx)),
            }
        };
        let span = self.span(j, rest);
        match State::parse(&text) {
            Some(s) => Ok((rest, Spanned::new(s, span))),
            None => {
                let folded: String = text.chars().filter(|c| !matches!(c, ' ' | '_' | '-')).collect();
                Err(Box::new(ErrorKind::UnknownName {
                    kind: NameKind::State,
                    name: text,
                    span,
                    suggestion: suggest::closest(&folded, State::ALL.iter().map(|s| s.name())),
                }))
            }
        }
    }

    pub(super) fn state_filter(&self, i: &'a str, ctx: &Ctx) -> PResult<'a, StateFilter> {
        let (i, ()) = self.expect_kw(i, "STATE", "STATE after WHERE", ctx)?;
        if let Some(rest) = self.eat_char(i, '=') {
            let (rest, s) = self.state(rest, "a state after `=`", ctx)?;
            return Ok((rest, StateFilter::Eq(s)));
        }
        let Some(i) = self.eat(i, "IN") else {
            return self.expected(i, "`=` or IN after WHERE STATE", Some(ctx));
        };
        let Some(mut i) = self.eat_char(i, '(') else {
            return self.expected(i, "`(` after WHERE STATE IN", Some(ctx));
        };
        let mut list = Vec::new();
        loop {
            let (rest, s) = self.state(i, "a state name in the list", ctx)?;
            list.push(s);
            if let Some(rest) = self.eat_char(rest, ',') {
                i = rest;
            } else if let Some(rest) = self.eat_char(rest, ')') {
                return Ok((rest, StateFilter::In(list)));
            } else {
                return self.expected(rest, "`,` or `)` in the state list", Some(ctx));
            }
        }
    }

    pub(super) fn limit(&self, i: &'a str, ctx: &Ctx) -> PResult<'a, Spanned<u32>> {
        let j = trivia(i);
        let Ok((rest, number)) = digits(j) else {
            return self.expected(i, "a number after LIMIT", Some(ctx));
        };
        let span = self.span(j, rest);
        match number.parse::<u32>() {
            Ok(n) => Ok((rest, Spanned::new(n, span))),
            Err(_) => Err(invalid(
                span,
                format!("LIMIT {} is too large; the largest is {}", clip(number), u32::MAX),
                None,
            )),
        }
    }

    pub(super) fn clients(&self, i: &'a str) -> PResult<'a, ClientsQuery> {
        let c = &CLIENTS;
        let (i, deployment) = self.opt_for(i, c)?;
        let (i, collection) = self.opt_in(i, c)?;
        let Some(i) = self.eat(i, "AT") else {
            let expected = match (&collection, &deployment) {
                (Some(_), _) => "AT after the collection name",
                (None, Some(_)) => "IN or AT after the deployment name",
                (None, None) => "FOR, IN or AT after CLIENTS",
            };
            return self.expected(i, expected, Some(c));
        };
        let (i, at) = self.time(i, "AT", c)?;
        let (i, filter) = match self.eat(i, "WHERE") {
            Some(rest) => {
                let (rest, f) = self.state_filter(rest, c)?;
                (rest, Some(f))
            }
            None => (i, None),
        };
        let (i, limit) = match self.eat(i, "LIMIT") {
            Some(rest) => {
                let (rest, n) = self.limit(rest, c)?;
                (rest, Some(n))
            }
            None => (i, None),
        };
        let (i, tail) = self.tail(i, c)?;
        self.end(i, c)?;
        Ok((
            i,
            ClientsQuery {
                deployment,
                collection,
                at,
                filter,
                limit,
                tail,
            },
        ))
    }

    pub(super) fn history(&self, i: &'a str) -> PResult<'a, HistoryQuery> {
        let c = &HISTORY;
        let (i, client) = self.name(i, "a client name after HISTORY", c)?;
        let (i, deployment) = self.opt_for(i, c)?;
        let (i, range) = match self.eat(i, "FROM") {
            Some(rest) => {
                let (rest, r) = self.range(rest, c)?;
                (rest, Some(r))
            }
            None => (i, None),
        };
        let (i, tail) = self.tail(i, c)?;
        self.end(i, c)?;
        Ok((
            i,
            HistoryQuery {
                client,
                deployment,
                range,
                tail,
            },
        ))
    }

    pub(super) fn show(&self, i: &'a str) -> PResult<'a, Show> {
        let c = &SHOW;
        let (i, show) = if let Some(rest) = self.eat(i, "COLLECTIONS") {
            (rest, Show::Collections)
        } else if let Some(rest) = self.eat(i, "DEPLOYMENTS") {
            (rest, Show::Deployments)
        } else if let Some(rest) = self.eat(i, "STATS") {
            (rest, Show::Stats)
        } else if let Some(rest) = self.eat(i, "ERROR") {
            let (rest, code) = self.error_code(rest, c)?;
            (rest, Show::Error(code))
        } else if let Some(rest) = self.eat(i, "ERRORS") {
            let (rest, deployment) = self.opt_for(rest, c)?;
            let (rest, collection) = self.opt_in(rest, c)?;
            let Some(rest) = self.eat(rest, "FROM") else {
                let expected = match (&collection, &deployment) {
                    (Some(_), _) => "FROM after the collection name",
                    (None, Some(_)) => "IN or FROM after the deployment name",
                    (None, None) => "FOR, IN or FROM after SHOW ERRORS",
                };
                return self.expected(rest, expected, Some(c));
            };
            let (rest, range) = self.range(rest, c)?;
            (
                rest,
                Show::Errors(Box::new(ShowErrors {
                    deployment,
                    collection,
                    range,
                })),
            )
        } else {
            return self.expected(
                i,
                "COLLECTIONS, DEPLOYMENTS, ERRORS, ERROR or STATS after SHOW",
                None,
            );
        };
        self.end(i, c)?;
        Ok((i, show))
    }

    /// One statement, without its `;`.
    pub(crate) fn statement(&self, i: &'a str) -> PResult<'a, Statement> {
        let j = trivia(i);
        if let Some(rest) = keyword(j, "STATES") {
            let (rest, s) = self.states(rest)?;
            Ok((rest, Statement::States(s)))
        } else if let Some(rest) = keyword(j, "FAILURES") {
            let (rest, s) = self.failures(rest)?;
            Ok((rest, Statement::Failures(s)))
        } else if let Some(rest) = keyword(j, "CLIENTS") {
            let (rest, s) = self.clients(rest)?;
            Ok((rest, Statement::Clients(s)))
        } else if let Some(rest) = keyword(j, "HISTORY") {
            let (rest, s) = self.history(rest)?;
            Ok((rest, Statement::History(s)))
        } else if let Some(rest) = keyword(j, "FLOW") {
            let (rest, s) = self.flow(rest)?;
            Ok((rest, Statement::Flow(s)))
        } else if let Some(rest) = keyword(j, "DURATIONS") {
            let (rest, s) = self.durations(rest)?;
            Ok((rest, Statement::Durations(s)))
        } else if let Some(rest) = keyword(j, "GATE") {
            let (rest, s) = self.gate(rest)?;
            Ok((rest, Statement::Gate(s)))
        } else if let Some(rest) = keyword(j, "SHOW") {
            let (rest, s) = self.show(rest)?;
            Ok((rest, Statement::Show(s)))
        } else if let Some(rest) = keyword(j, "EXPLAIN") {
            let k = trivia(rest);
            if let Some(after) = keyword(k, "EXPLAIN") {
                return Err(invalid(
                    self.span(k, after),
                    "EXPLAIN cannot explain an EXPLAIN",
                    Some("write EXPLAIN once, before the statement to explain"),
                ));
            }
            let (rest, s) = self.statement(rest)?;
            Ok((rest, Statement::Explain(Box::new(s))))
        } else {
            self.expected(
                i,
                "a statement (STATES, FAILURES, CLIENTS, HISTORY, FLOW, DURATIONS, GATE, SHOW or EXPLAIN)",
                None,
            )
        }
    }

    /// `FOR a[, b ...]` (STATES and FAILURES may compare deployments).
    pub(super) fn opt_for_list(&self, i: &'a str, ctx: &Ctx) -> PResult<'a, Vec<Name>> {
        let Some(mut i) = self.eat(i, "FOR") else {
            return Ok((i, Vec::new()));
        };
        let mut list: Vec<Name> = Vec::new();
        loop {
            let (rest, n) = self.name(i, "a deployment name after FOR", ctx)?;
            if list.iter().any(|d| d.value == n.value) {
                return Err(invalid(
                    n.span,
                    format!("deployment `{}` is listed twice", clip(&n.value)),
                    Some("list each deployment once"),
                ));
            }
            list.push(n);
            match self.eat_char(rest, ',') {
                Some(after) => i = after,
                None => return Ok((rest, list)),
            }
        }
    }

    /// `[STALE AFTER duration]`.
    pub(super) fn opt_stale(&self, i: &'a str, c: &Ctx) -> PResult<'a, Option<DurationExpr>> {
        match self.eat(i, "STALE") {
            Some(rest) => {
                let (rest, ()) = self.expect_kw(rest, "AFTER", "AFTER after STALE", c)?;
                let (rest, d) = self.exact_duration(rest, "a duration after STALE AFTER", c)?;
                Ok((rest, Some(d)))
            }
            None => Ok((i, None)),
        }
    }

    /// `[TIME ZONE zone] [AS KNOWN AT time]`.
    pub(super) fn tail(&self, i: &'a str, c: &Ctx) -> PResult<'a, Tail> {
        let (i, time_zone) = match self.eat(i, "TIME") {
            Some(rest) => {
                let (rest, ()) = self.expect_kw(rest, "ZONE", "ZONE after TIME", c)?;
                let (rest, z) = self.zone(rest, c)?;
                (rest, Some(z))
            }
            None => (i, None),
        };
        let (i, known_at) = match self.eat(i, "AS") {
            Some(rest) => {
                let (rest, ()) = self.expect_kw(rest, "KNOWN", "KNOWN after AS", c)?;
                let (rest, ()) = self.expect_kw(rest, "AT", "AT after AS KNOWN", c)?;
                let (rest, t) = self.time(rest, "AS KNOWN AT", c)?;
                (rest, Some(t))
            }
            None => (i, None),
        };
        Ok((i, Tail { time_zone, known_at }))
    }

    /// A zone name after `TIME ZONE`, quoted or bare (`"Europe/Berlin"`,
    /// `Europe/Berlin`, `UTC`), checked against the tz database.
    fn zone(&self, i: &'a str, c: &Ctx) -> PResult<'a, Name> {
        let j = trivia(i);
        let (rest, text) = if j.starts_with('"') {
            self.quoted(j)?
        } else {
            match lex::zone_name(j) {
                Ok((rest, w)) if !is_keyword(w) => (rest, w.to_owned()),
                _ => {
                    let mut err = self
                        .expected::<()>(i, "a time zone name after TIME ZONE", Some(c))
                        .err();
                    if let Some(ErrorKind::Syntax { help, .. }) = err.as_deref_mut() {
                        *help = Some(format!(
                            "write an IANA zone such as \"Europe/Berlin\", \"America/New_York\" or UTC; {} clauses end with {TAIL_USAGE}",
                            c.name
                        ));
                    }
                    return Err(err.unwrap_or_else(|| invalid(self.span(j, j), "expected a zone", None)));
                }
            }
        };
        let span = self.span(j, rest);
        match Zone::lookup(&text) {
            Ok(_) => Ok((rest, Spanned::new(text, span))),
            Err(suggestion) => Err(Box::new(ErrorKind::UnknownName {
                kind: NameKind::TimeZone,
                name: text,
                span,
                suggestion,
            })),
        }
    }

    /// An error code after `SHOW ERROR`: `0x87D00324`, `2278556452` or
    /// `-2016410844` (as Configuration Manager logs print them).
    fn error_code(&self, i: &'a str, c: &Ctx) -> PResult<'a, Spanned<ErrorCode>> {
        let j = trivia(i);
        let negative = j.starts_with('-');
        let body = if negative { &j[1..] } else { j };
        let end = body
            .find(|ch: char| !ch.is_ascii_alphanumeric() && ch != '_')
            .unwrap_or(body.len());
        if end == 0 || !body.starts_with(|ch: char| ch.is_ascii_digit()) {
            let mut err = self
                .expected::<()>(i, "an error code after SHOW ERROR", Some(c))
                .err();
            if let Some(ErrorKind::Syntax { help, .. }) = err.as_deref_mut() {
                *help = Some(
                    "write the code in hex (0x87D00324) or decimal (2278556452 or -2016410844)".to_owned(),
                );
            }
            return Err(err.unwrap_or_else(|| invalid(self.span(j, j), "expected an error code", None)));
        }
        let rest = &body[end..];
        let text = &j[..j.len() - rest.len()];
        let span = self.span(j, rest);
        match ErrorCode::parse(text) {
            Some(code) => Ok((rest, Spanned::new(code, span))),
            None => Err(invalid(
                span,
                format!("`{}` is not an error code", clip(text)),
                Some("error codes are 32-bit: 0x followed by up to 8 hex digits, or a decimal number"),
            )),
        }
    }

    pub(super) fn flow(&self, i: &'a str) -> PResult<'a, FlowQuery> {
        let c = &FLOW;
        let (i, deployment) = self.opt_for(i, c)?;
        let (i, collection) = self.opt_in(i, c)?;
        let Some(i) = self.eat(i, "FROM") else {
            return self.expected(
                i,
                self.expected_before_from(&collection, &deployment, "FLOW"),
                Some(c),
            );
        };
        let (i, range) = self.range(i, c)?;
        if let Some(rest) = self.eat(i, "STALE") {
            return Err(invalid(
                self.span(trivia(i), rest),
                "FLOW does not take STALE AFTER",
                Some("FLOW compares the states as of FROM and TO; staleness is a STATES question"),
            ));
        }
        let (i, tail) = self.tail(i, c)?;
        self.end(i, c)?;
        Ok((
            i,
            FlowQuery {
                deployment,
                collection,
                range,
                tail,
            },
        ))
    }

    fn expected_before_from(
        &self,
        collection: &Option<Name>,
        deployment: &Option<Name>,
        what: &str,
    ) -> String {
        match (collection, deployment) {
            (Some(_), _) => "FROM after the collection name".to_owned(),
            (None, Some(_)) => "IN or FROM after the deployment name".to_owned(),
            (None, None) => format!("FOR, IN or FROM after {what}"),
        }
    }

    pub(super) fn durations(&self, i: &'a str) -> PResult<'a, DurationsQuery> {
        let c = &DURATIONS;
        let (i, deployment) = self.opt_for(i, c)?;
        let (i, collection) = self.opt_in(i, c)?;
        let Some(i) = self.eat(i, "FROM") else {
            return self.expected(
                i,
                self.expected_before_from(&collection, &deployment, "DURATIONS"),
                Some(c),
            );
        };
        let (i, range) = self.range(i, c)?;
        let (i, ()) = self.expect_kw(i, "UNTIL", "UNTIL after the TO time", c)?;
        let (i, until) = self.state(i, "a state after UNTIL", c)?;
        let (i, since) = match self.eat(i, "SINCE") {
            Some(rest) => {
                let (rest, s) = self.state(rest, "a state after SINCE", c)?;
                (rest, Some(s))
            }
            None => (i, None),
        };
        let (i, tail) = self.tail(i, c)?;
        self.end(i, c)?;
        Ok((
            i,
            DurationsQuery {
                deployment,
                collection,
                range,
                until,
                since,
                tail,
            },
        ))
    }

    pub(super) fn gate(&self, i: &'a str) -> PResult<'a, GateQuery> {
        let c = &GATE;
        let (i, deployment) = self.opt_for(i, c)?;
        let (i, collection) = self.opt_in(i, c)?;
        let Some(i) = self.eat(i, "AT") else {
            let expected = match (&collection, &deployment) {
                (Some(_), _) => "AT after the collection name",
                (None, Some(_)) => "IN or AT after the deployment name",
                (None, None) => "FOR, IN or AT after GATE",
            };
            return self.expected(i, expected, Some(c));
        };
        let (i, at) = self.time(i, "AT", c)?;
        let (mut i, ()) = self.expect_kw(i, "WHEN", "WHEN and a condition after the AT time", c)?;
        let mut conditions = Vec::new();
        loop {
            let (rest, cond) = self.condition(i, c)?;
            conditions.push(cond);
            match self.eat(rest, "AND") {
                Some(after) => i = after,
                None => {
                    i = rest;
                    break;
                }
            }
        }
        let (i, stale_after) = self.opt_stale(i, c)?;
        let (i, tail) = self.tail(i, c)?;
        self.end(i, c)?;
        Ok((
            i,
            GateQuery {
                deployment,
                collection,
                at,
                conditions,
                stale_after,
                tail,
            },
        ))
    }

    /// `state (>= | <= | > | <) number[%]`.
    fn condition(&self, i: &'a str, c: &Ctx) -> PResult<'a, Condition> {
        let (i, state) = self.state(i, "a state in the condition (as in Compliant >= 95%)", c)?;
        let j = trivia(i);
        let (op, len) = if j.starts_with(">=") {
            (CompareOp::AtLeast, 2)
        } else if j.starts_with("<=") {
            (CompareOp::AtMost, 2)
        } else if j.starts_with('>') {
            (CompareOp::Above, 1)
        } else if j.starts_with('<') {
            (CompareOp::Below, 1)
        } else {
            return self.expected(i, "a comparison (>=, <=, > or <) after the state", Some(c));
        };
        let (i, threshold) = self.threshold(&j[len..], c)?;
        Ok((i, Condition { state, op, threshold }))
    }

    /// `95%`, `2.5%` or a count `10`.
    fn threshold(&self, i: &'a str, c: &Ctx) -> PResult<'a, Spanned<Threshold>> {
        let j = trivia(i);
        let Ok((after_int, int)) = digits(j) else {
            return self.expected(i, "a number after the comparison (95% or a count)", Some(c));
        };
        let (after_num, frac) = match after_int.strip_prefix('.') {
            Some(f) => match digits(f) {
                Ok((rest, d)) => (rest, Some(d)),
                Err(_) => {
                    return Err(invalid(
                        self.span(j, f),
                        "a digit must follow the decimal point",
                        None,
                    ));
                }
            },
            None => (after_int, None),
        };
        let percent = after_num.starts_with('%');
        let rest = if percent { &after_num[1..] } else { after_num };
        let span = self.span(j, rest);
        if rest.starts_with(|ch: char| ch.is_ascii_alphanumeric() || ch == '_') {
            let word = lex::time_like(j);
            return Err(invalid(
                Span::new(span.start, span.start + word.len()),
                format!("`{}` is not a number or a percentage", clip(word)),
                Some("write a share such as 95% or 2.5%, or a count such as 10"),
            ));
        }
        let too_big = || {
            invalid(
                span,
                format!("`{}` is too large", clip(&j[..j.len() - rest.len()])),
                None,
            )
        };
        if !percent {
            if frac.is_some() {
                return Err(invalid(
                    span,
                    "a count of clients is a whole number",
                    Some("write a share with %, as in 2.5%, or a whole count, as in 10"),
                ));
            }
            let n: u64 = int.parse().map_err(|_| too_big())?;
            return Ok((rest, Spanned::new(Threshold::Count(n), span)));
        }
        let frac = frac.unwrap_or("");
        let frac = frac.trim_end_matches('0');
        if frac.len() > Decimal::MAX_SCALE as usize {
            return Err(invalid(
                span,
                format!(
                    "a share has at most {} digits after the point",
                    Decimal::MAX_SCALE
                ),
                None,
            ));
        }
        let whole: u64 = int.parse().map_err(|_| too_big())?;
        let scale = frac.len() as u32;
        let units = whole
            .checked_mul(10u64.pow(scale))
            .and_then(|w| {
                w.checked_add(if frac.is_empty() {
                    0
                } else {
                    frac.parse::<u64>().ok()?
                })
            })
            .ok_or_else(too_big)?;
        let d = Decimal::new(units, scale);
        if d.units > 100 * 10u64.pow(d.scale) {
            return Err(invalid(
                span,
                format!("{d}% is more than 100%"),
                Some("a share is of the clients counted (total), from 0% to 100%"),
            ));
        }
        Ok((rest, Spanned::new(Threshold::Percent(d), span)))
    }
}
