//! Binding: a parsed statement becomes a [`Bound`] one, with every time
//! evaluated (`NOW` and `$params` resolved at translation time) and every
//! name as text, checked against a store when one is given.
//!
//! Invariants: the time, range and step rules are those of `plan.rs` (a unit
//! test holds the two to the same answers) and the same mistakes are refused
//! with the same diagnostics; an unknown name is an error only with a store,
//! and then suggests the closest known name; the default deployment is
//! always known.

use rollcall_engine::{Snapshot, State, limits};

use super::TranslateOptions;
use crate::bind::Bindings;
use crate::error::{ErrorKind, NameKind, QueryError};
use crate::plan::MAX_SERIES_ROWS;
use crate::suggest::{self, Suggester};
use crate::syntax::{DurationExpr, Name, Scope, Span, Statement, Threshold, TimeExpr, When};
use crate::zone::Zone;

/// A half-open range of points `from <= p < to`, `count` of them: either
/// the uniform grid `from + k*every` (`listed: None`), or calendar points
/// (days of a zone across a DST change, months) listed one by one, as
/// `zone::calendar_points` computed them for the engine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Steps {
    pub(super) from: i64,
    pub(super) to: i64,
    /// The grid's width (0 when the points are listed).
    pub(super) every: i64,
    pub(super) count: u64,
    pub(super) listed: Option<Vec<i64>>,
}

impl Steps {
    pub(super) fn last(&self) -> i64 {
        match &self.listed {
            Some(points) => points.last().copied().unwrap_or(self.from),
            None => self.from + (self.count as i64 - 1) * self.every,
        }
    }
}

/// Which clients a statement looks at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Population {
    /// Every client with a transition for the deployment or a membership
    /// change at or before the time.
    All,
    /// Members of a collection at the time.
    In(String),
}

/// A statement with every time evaluated and every name as text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Bound {
    StatesAt {
        deployment: String,
        population: Population,
        at: i64,
        stale_after: Option<i64>,
    },
    StatesSeries {
        deployment: String,
        population: Population,
        steps: Steps,
        stale_after: Option<i64>,
    },
    ByCollectionAt {
        deployment: String,
        at: i64,
        stale_after: Option<i64>,
    },
    ByCollectionSeries {
        deployment: String,
        steps: Steps,
        stale_after: Option<i64>,
    },
    Failures {
        deployment: String,
        population: Population,
        steps: Steps,
        by_error: bool,
    },
    Clients {
        deployment: String,
        population: Population,
        at: i64,
        states: Option<Vec<State>>,
        limit: Option<u32>,
    },
    History {
        client: String,
        deployment: Option<String>,
        range: Option<(i64, i64)>,
    },
    /// `GATE`: the conditions against the counts of `STATES ... AT`.
    Gate {
        deployment: String,
        population: Population,
        at: i64,
        stale_after: Option<i64>,
        conditions: Vec<GateCondition>,
    },
    /// `FLOW`: state as of `from` against state as of `to`.
    Flow {
        deployment: String,
        population: Population,
        from: i64,
        to: i64,
    },
    /// `DURATIONS`: from the first `since` to the first `until` after it.
    Durations {
        deployment: String,
        population: Population,
        from: i64,
        to: i64,
        since: State,
        until: State,
    },
    /// Several deployments in `FOR` (SPEC 7.2): each one's statement, in
    /// the order written, and the result columns after `deployment`.
    Several {
        parts: Vec<(String, Bound)>,
        columns: Vec<&'static str>,
    },
}

/// One `GATE` condition, as `plan` normalises it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct GateCondition {
    /// `Compliant >= 95%`.
    pub(super) text: String,
    pub(super) state: State,
    /// `>=`, `<=`, `>` or `<`.
    pub(super) op: &'static str,
    /// A share `units / 10^scale` percent, or a count.
    pub(super) threshold: Threshold,
}

const COUNT_COLUMNS: [&str; 7] = [
    "NotStarted",
    "Compliant",
    "InProgress",
    "NonCompliant",
    "Failed",
    "Unknown",
    "total",
];

/// The one deployment of a `FOR` list (none: the default), for the
/// statements that take several only side by side.
fn single(list: &[Name], whole: Span) -> Result<Option<&Name>, QueryError> {
    match list {
        [] => Ok(None),
        [one] => Ok(Some(one)),
        _ => Err(QueryError::invalid(
            whole,
            "several deployments in FOR have no SQL translation for BY COLLECTION",
            Some("translate one deployment at a time".to_owned()),
        )),
    }
}

/// Evaluates times and checks names. The time rules are those of
/// `plan.rs` (a unit test holds the two to the same answers).
pub(super) struct Binder<'a> {
    pub(super) opts: &'a TranslateOptions,
    pub(super) store: Option<&'a Snapshot>,
    /// The statement's `TIME ZONE` (local times are read in it).
    pub(super) zone: Option<&'a Zone>,
}

/// The zone of a statement's `TIME ZONE`, or the unknown-zone error with
/// the closest name (as `plan` reports it).
pub(super) fn statement_zone(statement: &Statement) -> Result<Option<Zone>, QueryError> {
    let inner = match statement {
        Statement::Explain(inner) => inner.as_ref(),
        other => other,
    };
    match inner.tail().and_then(|t| t.time_zone.as_ref()) {
        Some(name) => Zone::lookup(&name.value).map(Some).map_err(|suggestion| {
            QueryError::new(ErrorKind::UnknownName {
                kind: NameKind::TimeZone,
                name: name.value.clone(),
                span: name.span,
                suggestion,
            })
        }),
        None => Ok(None),
    }
}

impl Binder<'_> {
    pub(super) fn statement(&self, statement: &Statement, whole: Span) -> Result<Bound, QueryError> {
        match statement {
            Statement::States(s) if s.deployments.len() > 1 && !matches!(s.scope, Scope::ByCollection) => {
                let mut columns = vec!["time"];
                columns.extend(COUNT_COLUMNS);
                let mut parts = Vec::new();
                for d in &s.deployments {
                    let mut one = s.clone();
                    one.deployments = vec![d.clone()];
                    parts.push((
                        self.deployment(Some(d))?,
                        self.statement(&Statement::States(one), whole)?,
                    ));
                }
                Ok(Bound::Several { parts, columns })
            }
            Statement::Failures(f) if f.deployments.len() > 1 => {
                let columns = if f.by_error {
                    vec!["bucket", "error", "failures"]
                } else {
                    vec!["bucket", "failures"]
                };
                let mut parts = Vec::new();
                for d in &f.deployments {
                    let mut one = f.clone();
                    one.deployments = vec![d.clone()];
                    parts.push((
                        self.deployment(Some(d))?,
                        self.statement(&Statement::Failures(one), whole)?,
                    ));
                }
                Ok(Bound::Several { parts, columns })
            }
            Statement::States(s) => {
                let stale_after = s.stale_after.as_ref().map(|d| self.duration(d)).transpose()?;
                let when = match &s.when {
                    When::At(t) => Ok(self.time(t)?),
                    When::Series(se) => Err(self.steps(&se.from, &se.to, Some(&se.every))?),
                };
                let deployment = self.deployment(single(&s.deployments, whole)?)?;
                match (&s.scope, when) {
                    (Scope::ByCollection, Ok(at)) => Ok(Bound::ByCollectionAt {
                        deployment,
                        at,
                        stale_after,
                    }),
                    (Scope::ByCollection, Err(steps)) => {
                        if let Some(store) = self.store {
                            let collections = store.collections().len() as u64;
                            let rows = steps.count.saturating_mul(collections);
                            if rows > MAX_SERIES_ROWS {
                                return Err(QueryError::invalid(
                                    whole,
                                    format!(
                                        "the series has {} points for each of {collections} collections, {rows} rows; the limit is {MAX_SERIES_ROWS}",
                                        steps.count
                                    ),
                                    Some("widen EVERY or narrow the range".to_owned()),
                                ));
                            }
                        }
                        Ok(Bound::ByCollectionSeries {
                            deployment,
                            steps,
                            stale_after,
                        })
                    }
                    (scope, when) => {
                        let population = match scope {
                            Scope::In(c) => Population::In(self.collection(c)?),
                            _ => Population::All,
                        };
                        Ok(match when {
                            Ok(at) => Bound::StatesAt {
                                deployment,
                                population,
                                at,
                                stale_after,
                            },
                            Err(steps) => Bound::StatesSeries {
                                deployment,
                                population,
                                steps,
                                stale_after,
                            },
                        })
                    }
                }
            }
            Statement::Failures(f) => {
                let steps = self.steps(&f.series.from, &f.series.to, Some(&f.series.every))?;
                let deployment = self.deployment(single(&f.deployments, whole)?)?;
                let population = match &f.collection {
                    Some(c) => Population::In(self.collection(c)?),
                    None => Population::All,
                };
                Ok(Bound::Failures {
                    deployment,
                    population,
                    steps,
                    by_error: f.by_error,
                })
            }
            Statement::Clients(c) => {
                let at = self.time(&c.at)?;
                let states = c.filter.as_ref().map(|f| {
                    let mut v = f.states();
                    v.sort();
                    v.dedup();
                    v
                });
                let deployment = self.deployment(c.deployment.as_ref())?;
                let population = match &c.collection {
                    Some(n) => Population::In(self.collection(n)?),
                    None => Population::All,
                };
                Ok(Bound::Clients {
                    deployment,
                    population,
                    at,
                    states,
                    limit: c.limit.as_ref().map(|l| l.value),
                })
            }
            Statement::History(h) => {
                let range = match &h.range {
                    Some(r) => {
                        let s = self.steps(&r.from, &r.to, None)?;
                        Some((s.from, s.to))
                    }
                    None => None,
                };
                let deployment = match &h.deployment {
                    Some(d) => Some(self.deployment(Some(d))?),
                    None => None,
                };
                let client = self.client(&h.client)?;
                Ok(Bound::History {
                    client,
                    deployment,
                    range,
                })
            }
            Statement::Gate(g) => {
                let at = self.time(&g.at)?;
                let stale_after = g.stale_after.as_ref().map(|d| self.duration(d)).transpose()?;
                let conditions = g
                    .conditions
                    .iter()
                    .map(|c| GateCondition {
                        text: c.to_string(),
                        state: c.state.value,
                        op: c.op.symbol(),
                        threshold: c.threshold.value,
                    })
                    .collect();
                let deployment = self.deployment(g.deployment.as_ref())?;
                let population = match &g.collection {
                    Some(c) => Population::In(self.collection(c)?),
                    None => Population::All,
                };
                Ok(Bound::Gate {
                    deployment,
                    population,
                    at,
                    stale_after,
                    conditions,
                })
            }
            Statement::Flow(f) => {
                let (from, to) = self.bindings().range(&f.range.from, &f.range.to)?;
                let deployment = self.deployment(f.deployment.as_ref())?;
                let population = match &f.collection {
                    Some(c) => Population::In(self.collection(c)?),
                    None => Population::All,
                };
                Ok(Bound::Flow {
                    deployment,
                    population,
                    from: from.0,
                    to: to.0,
                })
            }
            Statement::Durations(d) => {
                let (from, to) = self.bindings().range(&d.range.from, &d.range.to)?;
                let deployment = self.deployment(d.deployment.as_ref())?;
                let population = match &d.collection {
                    Some(c) => Population::In(self.collection(c)?),
                    None => Population::All,
                };
                Ok(Bound::Durations {
                    deployment,
                    population,
                    from: from.0,
                    to: to.0,
                    since: d.since.as_ref().map_or(State::InProgress, |s| s.value),
                    until: d.until.value,
                })
            }
            Statement::Show(_) | Statement::Explain(_) => Err(QueryError::invalid(
                whole,
                "SHOW and EXPLAIN have no SQL translation: they describe the store, not the exported data",
                Some(
                    "run them with `rollcall query`; translate STATES, FAILURES, CLIENTS and HISTORY"
                        .to_owned(),
                ),
            )),
        }
    }

    /// `AS KNOWN AT t` of a statement, evaluated (local times in its zone).
    pub(super) fn known_at(&self, statement: &Statement) -> Result<Option<i64>, QueryError> {
        match statement.tail().and_then(|t| t.known_at.as_ref()) {
            Some(t) => self.time(t).map(Some),
            None => Ok(None),
        }
    }

    fn bindings(&self) -> Bindings<'_> {
        Bindings {
            params: &self.opts.params,
            now: self.opts.now,
            zone: self.zone,
        }
    }

    fn duration(&self, d: &DurationExpr) -> Result<i64, QueryError> {
        self.bindings().duration(d)
    }

    fn time(&self, t: &TimeExpr) -> Result<i64, QueryError> {
        self.bindings().time(t).map(|t| t.0)
    }

    /// `FROM a TO b [EVERY w]`, checked and counted as `plan` does (a plain
    /// range is one step as wide as the range).
    fn steps(
        &self,
        from: &TimeExpr,
        to: &TimeExpr,
        every: Option<&DurationExpr>,
    ) -> Result<Steps, QueryError> {
        let Some(every) = every else {
            let (a, b) = self.bindings().range(from, to)?;
            return Ok(Steps {
                from: a.0,
                to: b.0,
                every: b.0.saturating_sub(a.0),
                count: 1,
                listed: None,
            });
        };
        let s = self.bindings().steps(from, to, every)?;
        Ok(match s.uniform() {
            Some(w) => Steps {
                from: s.from.0,
                to: s.to.0,
                every: w,
                count: s.count(),
                listed: None,
            },
            None => Steps {
                from: s.from.0,
                to: s.to.0,
                every: 0,
                count: s.count(),
                listed: Some(s.points().iter().map(|p| p.0).collect()),
            },
        })
    }

    fn deployment(&self, name: Option<&Name>) -> Result<String, QueryError> {
        let Some(name) = name else {
            return Ok(limits::DEFAULT_DEPLOYMENT.to_owned());
        };
        let Some(store) = self.store else {
            return Ok(name.value.clone());
        };
        if store.deployment_id(&name.value).is_some() || name.value == limits::DEFAULT_DEPLOYMENT {
            return Ok(name.value.clone());
        }
        let mut known = store.deployments();
        if !known.iter().any(|d| d == limits::DEFAULT_DEPLOYMENT) {
            known.push(limits::DEFAULT_DEPLOYMENT.to_owned());
        }
        Err(unknown(
            NameKind::Deployment,
            name,
            suggest::closest(&name.value, known.iter().map(String::as_str)),
        ))
    }

    fn collection(&self, name: &Name) -> Result<String, QueryError> {
        match self.store {
            Some(store) if store.collection_id(&name.value).is_none() => {
                let known = store.collections();
                Err(unknown(
                    NameKind::Collection,
                    name,
                    suggest::closest(&name.value, known.iter().map(String::as_str)),
                ))
            }
            _ => Ok(name.value.clone()),
        }
    }

    fn client(&self, name: &Name) -> Result<String, QueryError> {
        match self.store {
            Some(store) if store.client_id(&name.value).is_none() => {
                let mut s = Suggester::new(&name.value);
                store.for_each_client_name(|_, n| s.offer(n));
                Err(unknown(NameKind::Client, name, s.finish()))
            }
            _ => Ok(name.value.clone()),
        }
    }
}

fn unknown(kind: NameKind, name: &Name, suggestion: Option<String>) -> QueryError {
    QueryError::new(ErrorKind::UnknownName {
        kind,
        name: name.value.clone(),
        span: name.span,
        suggestion,
    })
}
