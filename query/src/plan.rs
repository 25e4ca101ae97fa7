//! Planning: a parsed [`Statement`] becomes a [`Plan`] — parameters bound,
//! times evaluated (`NOW` from the caller), ranges and steps checked, and
//! names resolved against the snapshot's dictionaries.
//!
//! Invariants: a plan holds only resolved ids and concrete times, so `exec`
//! never sees text; checks that do not need the store (parameters, ranges,
//! steps, point caps) run before name resolution, so a mistake in the query
//! is reported as one (exit code 2) even against an empty store; the
//! default deployment `production` is always known, even when the store
//! never saw it.

use rollcall_engine::{ClientId, CollectionId, DeploymentId, Snapshot, State, Timestamp, limits};

use crate::bind::Bindings;
use crate::error::{ErrorKind, NameKind, QueryError};
use crate::exec::ExecOptions;
use crate::suggest::{self, Suggester};
use crate::syntax::{self, DurationExpr, Name, Scope, Show, Span, Statement, TimeExpr, When};

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

/// A half-open range of points `from + k*every < to`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Steps {
    pub from: Timestamp,
    pub to: Timestamp,
    pub every: i64,
    pub count: u64,
}

impl Steps {
    pub(crate) fn points(&self) -> impl Iterator<Item = Timestamp> + '_ {
        (0..self.count).map(|k| Timestamp(self.from.0 + k as i64 * self.every))
    }
}

/// What a statement will do, every name and time resolved.
#[derive(Clone, Debug)]
pub(crate) enum Plan {
    StatesAt {
        deployment: Deployment,
        collection: Option<Collection>,
        at: Timestamp,
        stale_after: Option<i64>,
    },
    StatesSeries {
        deployment: Deployment,
        collection: Option<Collection>,
        steps: Steps,
        stale_after: Option<i64>,
    },
    StatesByCollection {
        deployment: Deployment,
        /// One point (`AT`) or a series.
        at: Result<Timestamp, Steps>,
        stale_after: Option<i64>,
    },
    Failures {
        deployment: Deployment,
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
    ShowCollections,
    ShowDeployments,
    ShowErrors {
        deployment: Deployment,
        collection: Option<Collection>,
        from: Timestamp,
        to: Timestamp,
    },
    ShowStats,
    Explain(Box<Plan>),
}

/// Binds, checks and resolves one statement.
pub(crate) fn plan(snap: &Snapshot, statement: &Statement, opts: &ExecOptions) -> Result<Plan, QueryError> {
    let mut uses = Vec::new();
    syntax::statement_params(statement, &mut uses);
    uses.sort_by_key(|(_, span)| span.start);
    if let Some(e) = crate::exec::unbound(&uses, &opts.params) {
        return Err(e);
    }
    let mut p = Planner { snap, opts };
    p.statement(statement)
}

struct Planner<'a> {
    snap: &'a Snapshot,
    opts: &'a ExecOptions,
}

impl Planner<'_> {
    fn statement(&mut self, statement: &Statement) -> Result<Plan, QueryError> {
        // Store-independent checks first, then names.
        match statement {
            Statement::States(s) => {
                let stale_after = s.stale_after.as_ref().map(|d| self.duration(d)).transpose()?;
                let at = match &s.when {
                    When::At(t) => Ok(self.time(t)?),
                    When::Series(se) => Err(self.steps(&se.from, &se.to, Some(&se.every))?),
                };
                let deployment = self.deployment(s.deployment.as_ref())?;
                match &s.scope {
                    Scope::ByCollection => {
                        if let Err(steps) = &at {
                            let rows = steps.count.saturating_mul(self.snap.collections().len() as u64);
                            if rows > MAX_SERIES_ROWS {
                                let span = match &s.when {
                                    When::Series(se) => se.from.span().to(se.every.span),
                                    When::At(t) => t.span(),
                                };
                                return Err(QueryError::invalid(
                                    span,
                                    format!(
                                        "the series has {} points for each of {} collections, {rows} rows; the limit is {MAX_SERIES_ROWS}",
                                        steps.count,
                                        self.snap.collections().len()
                                    ),
                                    Some("widen EVERY or narrow the range".to_owned()),
                                ));
                            }
                        }
                        Ok(Plan::StatesByCollection {
                            deployment,
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
                                deployment,
                                collection,
                                at,
                                stale_after,
                            },
                            Err(steps) => Plan::StatesSeries {
                                deployment,
                                collection,
                                steps,
                                stale_after,
                            },
                        })
                    }
                }
            }
            Statement::Failures(f) => {
                let steps = self.steps(&f.series.from, &f.series.to, Some(&f.series.every))?;
                let deployment = self.deployment(f.deployment.as_ref())?;
                let collection = f.collection.as_ref().map(|c| self.collection(c)).transpose()?;
                Ok(Plan::Failures {
                    deployment,
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
                Ok(Plan::History {
                    client,
                    deployment,
                    range,
                })
            }
            Statement::Show(Show::Collections) => Ok(Plan::ShowCollections),
            Statement::Show(Show::Deployments) => Ok(Plan::ShowDeployments),
            Statement::Show(Show::Stats) => Ok(Plan::ShowStats),
            Statement::Show(Show::Errors(e)) => {
                let s = self.steps(&e.range.from, &e.range.to, None)?;
                let deployment = self.deployment(e.deployment.as_ref())?;
                let collection = e.collection.as_ref().map(|c| self.collection(c)).transpose()?;
                Ok(Plan::ShowErrors {
                    deployment,
                    collection,
                    from: s.from,
                    to: s.to,
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
        }
    }

    fn duration(&self, d: &DurationExpr) -> Result<i64, QueryError> {
        self.bindings().duration(d)
    }

    fn time(&self, t: &TimeExpr) -> Result<Timestamp, QueryError> {
        self.bindings().time(t)
    }

    /// `FROM a TO b [EVERY w]`: checked and counted (a plain range is one
    /// step as wide as the range).
    fn steps(
        &self,
        from: &TimeExpr,
        to: &TimeExpr,
        every: Option<&DurationExpr>,
    ) -> Result<Steps, QueryError> {
        self.bindings().steps(from, to, every)
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
