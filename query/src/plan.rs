//! Planning: a parsed [`Statement`] becomes a [`Plan`] — parameters bound,
//! times evaluated (`NOW` from the caller), ranges and steps checked, and
//! names resolved against the snapshot's dictionaries.
//!
//! `TIME ZONE` resolves first, so every local time of the statement (a bare
//! date, a date-time without offset, in the text or in a `--param`) is read
//! in it, and `EVERY` of whole days or months becomes a calendar grid.
//!
//! Invariants: a plan holds only resolved ids and concrete times, so `exec`
//! never sees text; checks that do not need the store (parameters, ranges,
//! steps, point caps) run before name resolution, so a mistake in the query
//! is reported as one (exit code 2) even against an empty store; the
//! default deployment `production` is always known, even when the store
//! never saw it.

use rollcall_engine::{ClientId, CollectionId, DeploymentId, ErrorCode, Snapshot, State, Timestamp, limits};

use crate::bind::Bindings;
use crate::error::{ErrorKind, NameKind, QueryError};
use crate::exec::ExecOptions;
use crate::suggest::{self, Suggester};
use crate::syntax::{
    self, CompareOp, DurationExpr, Name, Scope, Show, Span, Statement, Threshold, TimeExpr, When,
};
use crate::zone::{CalendarStep, Zone};

/// The most points a `STATES` series or buckets a `FAILURES` histogram may
/// have.
pub const MAX_POINTS: u64 = 100_000;

/// The most rows `STATES BY COLLECTION FROM ... EVERY` may produce
/// (points times collections).
pub const MAX_SERIES_ROWS: u64 = 1_000_000;

/// A deployment id that no stored row carries: what the default deployment
/// resolves to in a store that never saw it, so that every query answers as
/// for a deployment with no transitions.
const NO_DEPLOYMENT: DeploymentId = DeploymentId(u32::MAX);

/// A resolved deployment.
#[derive(Clone, Debug)]
pub(crate) struct Deployment {
    pub id: DeploymentId,
    pub name: String,
}

/// A resolved collection.
#[derive(Clone, Debug)]
pub(crate) struct Collection {
    pub id: CollectionId,
    pub name: String,
}

/// How a grid steps: an exact length, or calendar days or months of the
/// statement's zone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    Exact(i64),
    Calendar(CalendarStep),
}

/// The points of `FROM a TO b EVERY w`, `a <= p < b`, strictly increasing;
/// point `k`'s bucket is `[p_k, p_k+1)`, the last one cut at `to`.
#[derive(Clone, Debug)]
pub(crate) struct Steps {
    pub from: Timestamp,
    pub to: Timestamp,
    pub step: Step,
    points: Vec<Timestamp>,
}

impl Steps {
    /// `from + k*every < to`.
    pub(crate) fn exact(from: Timestamp, to: Timestamp, every: i64, count: u64) -> Steps {
        let points = (0..count).map(|k| Timestamp(from.0 + k as i64 * every)).collect();
        Steps {
            from,
            to,
            step: Step::Exact(every),
            points,
        }
    }

    /// A calendar grid computed by `zone::calendar_points`.
    pub(crate) fn calendar(from: Timestamp, to: Timestamp, step: Step, points: Vec<Timestamp>) -> Steps {
        Steps {
            from,
            to,
            step,
            points,
        }
    }

    pub(crate) fn points(&self) -> &[Timestamp] {
        &self.points
    }

    pub(crate) fn count(&self) -> u64 {
        self.points.len() as u64
    }

    /// The width `w` when the engine's grid `from + k*w`, cut at `to`, is
    /// exactly these points (always for exact steps; for calendar steps
    /// when no DST change or month length breaks the spacing).
    pub(crate) fn uniform(&self) -> Option<i64> {
        match self.step {
            Step::Exact(w) => Some(w),
            Step::Calendar(_) => {
                let w = match self.points.as_slice() {
                    [] => return None,
                    [only] => return Some(self.to.0 - only.0),
                    [a, b, ..] => b.0 - a.0,
                };
                let even = self.points.windows(2).all(|p| p[1].0 - p[0].0 == w);
                let last = *self.points.last()?;
                (even && self.to.0 - last.0 <= w).then_some(w)
            }
        }
    }

    /// The step as written back (`1d`, `1mo`), for `EXPLAIN`.
    pub(crate) fn label(&self) -> String {
        match self.step {
            Step::Exact(w) => syntax::Duration(w).to_string(),
            Step::Calendar(CalendarStep::Days(n)) => format!("{n}d (calendar days)"),
            Step::Calendar(CalendarStep::Months(n)) => format!("{n}mo (calendar months)"),
        }
    }
}

/// Conditions of a `GATE`, as planned.
#[derive(Clone, Debug)]
pub(crate) struct GateCondition {
    pub text: String,
    pub state: State,
    pub op: CompareOp,
    pub threshold: Threshold,
}

/// What a statement will do, every name and time resolved.
#[derive(Clone, Debug)]
pub(crate) enum Plan {
    StatesAt {
        deployments: Deployments,
        collection: Option<Collection>,
        at: Timestamp,
        stale_after: Option<i64>,
    },
    StatesSeries {
        deployments: Deployments,
        collection: Option<Collection>,
        steps: Steps,
        stale_after: Option<i64>,
    },
    StatesByCollection {
        deployments: Deployments,
        /// One point (`AT`) or a series.
        at: Result<Timestamp, Steps>,
        stale_after: Option<i64>,
    },
    Failures {
        deployments: Deployments,
        collection: Option<Collection>,
        steps: Steps,
        by_error: bool,
    },
    Clients {
        deployment: Deployment,
        collection: Option<Collection>,
        at: Timestamp,
        states: Option<Vec<State>>,
        limit: Option<u32>,
    },
    History {
        client: (ClientId, String),
        deployment: Option<Deployment>,
        range: Option<(Timestamp, Timestamp)>,
    },
    Flow {
        deployment: Deployment,
        collection: Option<Collection>,
        from: Timestamp,
        to: Timestamp,
    },
    Durations {
        deployment: Deployment,
        collection: Option<Collection>,
        from: Timestamp,
        to: Timestamp,
        since: State,
        until: State,
    },
    Gate {
        deployment: Deployment,
        collection: Option<Collection>,
        at: Timestamp,
        stale_after: Option<i64>,
        conditions: Vec<GateCondition>,
    },
    ShowCollections,
    ShowDeployments,
    ShowErrors {
        deployment: Deployment,
        collection: Option<Collection>,
        from: Timestamp,
        to: Timestamp,
    },
    ShowError(ErrorCode),
    ShowStats,
    Explain(Box<Plan>),
}

/// The deployments of a `FOR` list, in the order written, and whether the
/// result needs a `deployment` column (more than one was written).
#[derive(Clone, Debug)]
pub(crate) struct Deployments {
    pub list: Vec<Deployment>,
    pub column: bool,
}

/// What a statement's tail clauses resolved to.
#[derive(Clone, Debug, Default)]
pub(crate) struct Context {
    /// `TIME ZONE`: output times print in it.
    pub zone: Option<Zone>,
    /// `AS KNOWN AT`: the wall-clock cut-off.
    pub known_at: Option<Timestamp>,
}

/// Binds, checks and resolves one statement.
pub(crate) fn plan(
    snap: &Snapshot,
    statement: &Statement,
    opts: &ExecOptions,
) -> Result<(Plan, Context), QueryError> {
    let mut uses = Vec::new();
    syntax::statement_params(statement, &mut uses);
    uses.sort_by_key(|(_, span)| span.start);
    if let Some(e) = crate::exec::unbound(&uses, &opts.params) {
        return Err(e);
    }
    let inner = match statement {
        Statement::Explain(inner) => inner.as_ref(),
        other => other,
    };
    let zone = match inner.tail().and_then(|t| t.time_zone.as_ref()) {
        Some(name) => Some(Zone::lookup(&name.value).map_err(|suggestion| {
            QueryError::new(ErrorKind::UnknownName {
                kind: NameKind::TimeZone,
                name: name.value.clone(),
                span: name.span,
                suggestion,
            })
        })?),
        None => None,
    };
    let mut p = Planner {
        snap,
        opts,
        zone: zone.as_ref(),
    };
    let known_at = match inner.tail().and_then(|t| t.known_at.as_ref()) {
        Some(t) => Some(p.time(t)?),
        None => None,
    };
    let plan = p.statement(statement)?;
    Ok((plan, Context { zone, known_at }))
}

struct Planner<'a> {
    snap: &'a Snapshot,
    opts: &'a ExecOptions,
    zone: Option<&'a Zone>,
}

impl Planner<'_> {
    fn statement(&mut self, statement: &Statement) -> Result<Plan, QueryError> {
        // Store-independent checks first, then names.
        match statement {
            Statement::States(s) => {
                let stale_after = s.stale_after.as_ref().map(|d| self.duration(d)).transpose()?;
                let at = match &s.when {
                    When::At(t) => Ok(self.time(t)?),
                    When::Series(se) => Err(self.bindings().steps(&se.from, &se.to, &se.every)?),
                };
                let deployments = self.deployments(&s.deployments)?;
                match &s.scope {
                    Scope::ByCollection => {
                        if let Err(steps) = &at {
                            let rows = steps
                                .count()
                                .saturating_mul(self.snap.collections().len() as u64)
                                .saturating_mul(deployments.list.len() as u64);
                            if rows > MAX_SERIES_ROWS {
                                let span = match &s.when {
                                    When::Series(se) => se.from.span().to(se.every.span),
                                    When::At(t) => t.span(),
                                };
                                return Err(QueryError::invalid(
                                    span,
                                    format!(
                                        "the series has {} points for each of {} collections, {rows} rows; the limit is {MAX_SERIES_ROWS}",
                                        steps.count(),
                                        self.snap.collections().len()
                                    ),
                                    Some("widen EVERY or narrow the range".to_owned()),
                                ));
                            }
                        }
                        Ok(Plan::StatesByCollection {
                            deployments,
                            at,
                            stale_after,
                        })
                    }
                    scope => {
                        let collection = match scope {
                            Scope::In(c) => Some(self.collection(c)?),
                            _ => None,
                        };
                        Ok(match at {
                            Ok(at) => Plan::StatesAt {
                                deployments,
                                collection,
                                at,
                                stale_after,
                            },
                            Err(steps) => Plan::StatesSeries {
                                deployments,
                                collection,
                                steps,
                                stale_after,
                            },
                        })
                    }
                }
            }
            Statement::Failures(f) => {
                let steps = self
                    .bindings()
                    .steps(&f.series.from, &f.series.to, &f.series.every)?;
                let deployments = self.deployments(&f.deployments)?;
                let collection = f.collection.as_ref().map(|c| self.collection(c)).transpose()?;
                Ok(Plan::Failures {
                    deployments,
                    collection,
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
                let collection = c.collection.as_ref().map(|n| self.collection(n)).transpose()?;
                Ok(Plan::Clients {
                    deployment,
                    collection,
                    at,
                    states,
                    limit: c.limit.as_ref().map(|l| l.value),
                })
            }
            Statement::History(h) => {
                let range = match &h.range {
                    Some(r) => Some(self.bindings().range(&r.from, &r.to)?),
                    None => None,
                };
                let deployment = match &h.deployment {
                    Some(d) => Some(self.deployment(Some(d))?),
                    None => None,
                };
                let client = self.client(&h.client)?;
                Ok(Plan::History {
                    client,
                    deployment,
                    range,
                })
            }
            Statement::Flow(f) => {
                let (from, to) = self.bindings().range(&f.range.from, &f.range.to)?;
                let deployment = self.deployment(f.deployment.as_ref())?;
                let collection = f.collection.as_ref().map(|c| self.collection(c)).transpose()?;
                Ok(Plan::Flow {
                    deployment,
                    collection,
                    from,
                    to,
                })
            }
            Statement::Durations(d) => {
                let (from, to) = self.bindings().range(&d.range.from, &d.range.to)?;
                let deployment = self.deployment(d.deployment.as_ref())?;
                let collection = d.collection.as_ref().map(|c| self.collection(c)).transpose()?;
                Ok(Plan::Durations {
                    deployment,
                    collection,
                    from,
                    to,
                    since: d.since.as_ref().map_or(State::InProgress, |s| s.value),
                    until: d.until.value,
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
                        op: c.op,
                        threshold: c.threshold.value,
                    })
                    .collect();
                let deployment = self.deployment(g.deployment.as_ref())?;
                let collection = g.collection.as_ref().map(|c| self.collection(c)).transpose()?;
                Ok(Plan::Gate {
                    deployment,
                    collection,
                    at,
                    stale_after,
                    conditions,
                })
            }
            Statement::Show(Show::Collections) => Ok(Plan::ShowCollections),
            Statement::Show(Show::Deployments) => Ok(Plan::ShowDeployments),
            Statement::Show(Show::Stats) => Ok(Plan::ShowStats),
            Statement::Show(Show::Error(code)) => Ok(Plan::ShowError(code.value)),
            Statement::Show(Show::Errors(e)) => {
                let (from, to) = self.bindings().range(&e.range.from, &e.range.to)?;
                let deployment = self.deployment(e.deployment.as_ref())?;
                let collection = e.collection.as_ref().map(|c| self.collection(c)).transpose()?;
                Ok(Plan::ShowErrors {
                    deployment,
                    collection,
                    from,
                    to,
                })
            }
            Statement::Explain(inner) => {
                if matches!(**inner, Statement::Explain(_)) {
                    return Err(QueryError::invalid(
                        Span::default(),
                        "EXPLAIN cannot explain an EXPLAIN",
                        Some("write EXPLAIN once, before the statement to explain".to_owned()),
                    ));
                }
                Ok(Plan::Explain(Box::new(self.statement(inner)?)))
            }
        }
    }

    // ----- values -------------------------------------------------------------

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

    fn time(&self, t: &TimeExpr) -> Result<Timestamp, QueryError> {
        self.bindings().time(t)
    }

    // ----- names --------------------------------------------------------------

    fn deployment(&self, name: Option<&Name>) -> Result<Deployment, QueryError> {
        let Some(name) = name else {
            let text = limits::DEFAULT_DEPLOYMENT;
            return Ok(Deployment {
                id: self.snap.deployment_id(text).unwrap_or(NO_DEPLOYMENT),
                name: text.to_owned(),
            });
        };
        match self.snap.deployment_id(&name.value) {
            Some(id) => Ok(Deployment {
                id,
                name: name.value.clone(),
            }),
            None if name.value == limits::DEFAULT_DEPLOYMENT => Ok(Deployment {
                id: NO_DEPLOYMENT,
                name: name.value.clone(),
            }),
            None => {
                let mut known = self.snap.deployments();
                if !known.iter().any(|d| d == limits::DEFAULT_DEPLOYMENT) {
                    known.push(limits::DEFAULT_DEPLOYMENT.to_owned());
                }
                Err(unknown(
                    NameKind::Deployment,
                    name,
                    suggest::closest(&name.value, known.iter().map(String::as_str)),
                ))
            }
        }
    }

    /// A `FOR` list: the default deployment when empty.
    fn deployments(&self, names: &[Name]) -> Result<Deployments, QueryError> {
        let list = if names.is_empty() {
            vec![self.deployment(None)?]
        } else {
            names
                .iter()
                .map(|n| self.deployment(Some(n)))
                .collect::<Result<_, _>>()?
        };
        Ok(Deployments {
            list,
            column: names.len() > 1,
        })
    }

    fn collection(&self, name: &Name) -> Result<Collection, QueryError> {
        match self.snap.collection_id(&name.value) {
            Some(id) => Ok(Collection {
                id,
                name: name.value.clone(),
            }),
            None => {
                let known = self.snap.collections();
                Err(unknown(
                    NameKind::Collection,
                    name,
                    suggest::closest(&name.value, known.iter().map(String::as_str)),
                ))
            }
        }
    }

    fn client(&self, name: &Name) -> Result<(ClientId, String), QueryError> {
        match self.snap.client_id(&name.value) {
            Some(id) => Ok((id, name.value.clone())),
            None => {
                let mut s = Suggester::new(&name.value);
                self.snap.for_each_client_name(|_, n| s.offer(n));
                Err(unknown(NameKind::Client, name, s.finish()))
            }
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
