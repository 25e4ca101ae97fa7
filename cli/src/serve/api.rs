//! The handlers: `POST /query` and the small JSON API the dashboard and
//! other tools read.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::body::{Body, HttpBody as _};
use axum::extract::{Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt as _;
use rollcall_engine::{State as ClientState, Timestamp};
use rollcall_query::{OutputFormat, Params};
use serde_json::{Value as Json, json};
use tokio::time::Instant;

use super::App;
use super::guard::{admit, error_response};
use super::query::{self, Answer, content_type, parse_format, plain_error};
use crate::session::wall_clock;

fn bad_request(code: &str, message: impl Into<String>) -> Response {
    error_response(StatusCode::BAD_REQUEST, plain_error(code, message))
}

fn timed_out(app: &App) -> Response {
    error_response(
        StatusCode::REQUEST_TIMEOUT,
        plain_error(
            "timeout",
            format!(
                "the request took longer than the server's {} s limit (--timeout)",
                app.limits.timeout.as_secs()
            ),
        ),
    )
}

/// A JSON answer that no cache keeps.
fn json_response(value: &Json) -> Response {
    let mut body = value.to_string();
    body.push('\n');
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// Reads a body of at most `max` bytes before `deadline`.
async fn read_body(mut body: Body, max: usize, deadline: Instant, app: &App) -> Result<Vec<u8>, Response> {
    let too_large = || {
        error_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            plain_error(
                "too_large",
                format!("the body is larger than the server's limit of {max} bytes (--max-body)"),
            ),
        )
    };
    if usize::try_from(body.size_hint().lower()).map_or(true, |n| n > max) {
        return Err(too_large());
    }
    let mut out = Vec::new();
    loop {
        let frame = match tokio::time::timeout_at(deadline, body.frame()).await {
            Err(_) => return Err(timed_out(app)),
            Ok(None) => break,
            Ok(Some(Err(e))) => return Err(bad_request("body", format!("could not read the body: {e}"))),
            Ok(Some(Ok(frame))) => frame,
        };
        if let Ok(data) = frame.into_data() {
            if out.len() + data.len() > max {
                return Err(too_large());
            }
            out.extend_from_slice(&data);
        }
    }
    Ok(out)
}

/// The `?name=value` pairs of a request, or a 400.
#[allow(clippy::result_large_err)]
fn query_pairs(req: &Request) -> Result<Vec<(String, String)>, Response> {
    Query::<Vec<(String, String)>>::try_from_uri(req.uri())
        .map(|q| q.0)
        .map_err(|e| bad_request("query_string", format!("the query string does not decode: {e}")))
}

/// `POST /query`.
pub(crate) async fn query(State(app): State<Arc<App>>, req: Request) -> Response {
    let deadline = Instant::now() + app.limits.timeout;
    let ticket = match admit(&app) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let mut format = OutputFormat::Json;
    let mut params = Params::new();
    let pairs = match query_pairs(&req) {
        Ok(p) => p,
        Err(r) => return r,
    };
    for (key, value) in pairs {
        if key == "format" {
            match parse_format(&value) {
                Some(f) => format = f,
                None => {
                    return bad_request(
                        "format",
                        format!("format={value}: expected json, csv, ndjson or html"),
                    );
                }
            }
        } else if let Some(name) = key.strip_prefix("param.").filter(|n| !n.is_empty()) {
            if params.insert(name.to_owned(), value).is_some() {
                return bad_request("parameter", format!("param.{name} is given twice"));
            }
        } else {
            return bad_request(
                "query_string",
                format!("unknown query parameter `{key}`: /query takes format= and param.NAME="),
            );
        }
    }
    let body = match read_body(req.into_body(), app.limits.max_body, deadline, &app).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let Ok(source) = String::from_utf8(body) else {
        return bad_request("body", "the body is not UTF-8 text");
    };
    let Ok(Ok(permit)) = tokio::time::timeout_at(deadline, app.workers.clone().acquire_owned()).await else {
        return timed_out(&app);
    };
    let snapshot = app.live.current().snapshot.fork();
    let cancel = Arc::new(AtomicBool::new(false));
    let flag = cancel.clone();
    let task = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        query::run(&snapshot, &source, format, params, flag)
    });
    let answer = match tokio::time::timeout_at(deadline, task).await {
        Ok(Ok(a)) => a,
        Ok(Err(_)) => {
            return error_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                plain_error("internal", "the statement stopped unexpectedly"),
            );
        }
        Err(_) => {
            // The worker stops at its next cancellation point and gives
            // its permit back.
            cancel.store(true, Ordering::SeqCst);
            return timed_out(&app);
        }
    };
    drop(ticket);
    match answer {
        Answer::Tables { body, gates_failed } => {
            let mut r = body.into_response();
            let h = r.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(content_type(format)),
            );
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            h.insert("x-rollcall-gates-failed", HeaderValue::from(gates_failed));
            r
        }
        Answer::Failed { status, error } => error_response(status, error),
    }
}

/// `GET /api/collections`: every collection name, sorted.
pub(crate) async fn collections(State(app): State<Arc<App>>) -> Response {
    json_response(&json!(app.live.current().snapshot.collections()))
}

/// `GET /api/deployments`: every deployment name, sorted.
pub(crate) async fn deployments(State(app): State<Arc<App>>) -> Response {
    json_response(&json!(app.live.current().snapshot.deployments()))
}

/// `GET /api/version`: the change counter, and what the dashboard needs to
/// lay out its time slider.
pub(crate) async fn version(State(app): State<Arc<App>>) -> Response {
    let c = app.live.current();
    let (first, last) = match c.stats.time_range {
        Some((a, b)) => (json!(a.to_string()), json!(b.to_string())),
        None => (Json::Null, Json::Null),
    };
    json_response(&json!({
        "version": c.version,
        "marker": format!("{:016x}", c.marker.value()),
        "store": app.store_name,
        "now": wall_clock().to_string(),
        "first": first,
        "last": last,
        "clients": c.stats.clients,
        "transitions": c.stats.transitions,
    }))
}

fn parse_time(text: &str) -> Option<Timestamp> {
    match text.trim() {
        "" | "now" | "NOW" => Some(wall_clock()),
        t => Timestamp::parse(t).ok(),
    }
}

/// `GET /api/failed?collection=&deployment=&at=&limit=`: the clients Failed
/// at `at` (default now), each with the time it failed and the error code
/// and text of that transition; `more` when `limit` (default 50) cut the list.
pub(crate) async fn failed(State(app): State<Arc<App>>, req: Request) -> Response {
    let deadline = Instant::now() + app.limits.timeout;
    let ticket = match admit(&app) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let pairs = match query_pairs(&req) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let (mut collection, mut deployment, mut at, mut limit) = (None, None, wall_clock(), 50usize);
    for (key, value) in pairs {
        match key.as_str() {
            "collection" => collection = Some(value).filter(|v| !v.is_empty()),
            "deployment" => deployment = Some(value).filter(|v| !v.is_empty()),
            "at" => match parse_time(&value) {
                Some(t) => at = t,
                None => {
                    return bad_request(
                        "at",
                        format!("at={value}: expected an RFC 3339 time or epoch milliseconds"),
                    );
                }
            },
            "limit" => match value.parse::<usize>() {
                Ok(n) if (1..=1000).contains(&n) => limit = n,
                _ => return bad_request("limit", format!("limit={value}: expected 1 to 1000")),
            },
            _ => {
                return bad_request(
                    "query_string",
                    format!(
                        "unknown query parameter `{key}`: /api/failed takes collection, deployment, at and limit"
                    ),
                );
            }
        }
    }
    let Ok(Ok(permit)) = tokio::time::timeout_at(deadline, app.workers.clone().acquire_owned()).await else {
        return timed_out(&app);
    };
    let snapshot = app.live.current().snapshot.fork();
    let task = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        failed_clients(&snapshot, collection.as_deref(), deployment.as_deref(), at, limit)
    });
    let answer = match tokio::time::timeout_at(deadline, task).await {
        Ok(Ok(a)) => a,
        Ok(Err(_)) => Err(error_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            plain_error("internal", "the lookup stopped unexpectedly"),
        )),
        Err(_) => Err(timed_out(&app)),
    };
    drop(ticket);
    match answer {
        Ok(v) => json_response(&v),
        Err(r) => r,
    }
}

fn unknown(kind: &str, name: &str, known: Vec<String>) -> Response {
    let hint = rollcall_query::closest_name(name, known.iter().map(String::as_str))
        .map(|m| format!("; did you mean {m:?}?"))
        .unwrap_or_default();
    error_response(
        StatusCode::UNPROCESSABLE_ENTITY,
        plain_error("unknown_name", format!("unknown {kind} {name:?}{hint}")),
    )
}

#[allow(clippy::result_large_err)]
fn failed_clients(
    snapshot: &rollcall_engine::Snapshot,
    collection: Option<&str>,
    deployment: Option<&str>,
    at: Timestamp,
    limit: usize,
) -> Result<Json, Response> {
    let deployment_name = deployment.unwrap_or(rollcall_engine::limits::DEFAULT_DEPLOYMENT);
    let Some(dep) = snapshot.deployment_id(deployment_name) else {
        return Err(unknown("deployment", deployment_name, snapshot.deployments()));
    };
    let coll = match collection {
        None => None,
        Some(c) => match snapshot.collection_id(c) {
            Some(id) => Some(id),
            None => return Err(unknown("collection", c, snapshot.collections())),
        },
    };
    let engine_failed = |e: rollcall_engine::Error| {
        error_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            plain_error("engine", e.to_string()),
        )
    };
    let mut rows = snapshot
        .clients_at(dep, coll, at, Some(&[ClientState::Failed]), Some(limit + 1))
        .map_err(engine_failed)?;
    let more = rows.len() > limit;
    rows.truncate(limit);
    let mut clients = Vec::with_capacity(rows.len());
    for row in rows {
        let mut error = None;
        if let (Some(since), Some(id)) = (row.since, snapshot.client_id(&row.client)) {
            let history = snapshot
                .client_history(id, Some(dep), Some((since, Timestamp(since.0.saturating_add(1)))))
                .map_err(engine_failed)?;
            error = history
                .iter()
                .rev()
                .find(|h| h.state == ClientState::Failed)
                .and_then(|h| h.error);
        }
        clients.push(json!({
            "client": row.client,
            "since": row.since.map(|t| t.to_string()),
            "error": error.map(|e| format!("0x{:08x}", e.0)),
            "text": error.and_then(rollcall_query::error_text),
        }));
    }
    Ok(json!({
        "at": at.to_string(),
        "deployment": deployment_name,
        "collection": collection,
        "clients": clients,
        "more": more,
    }))
}

/// Any other path: 404 as JSON.
pub(crate) async fn not_found(req: Request) -> Response {
    error_response(
        StatusCode::NOT_FOUND,
        plain_error(
            "not_found",
            format!(
                "no {} here: the server answers GET /, POST /query and GET /api/collections, /api/deployments, /api/version, /api/failed",
                req.uri().path()
            ),
        ),
    )
}

/// A known path with another method: 405 as JSON (the server never writes).
pub(crate) async fn method_not_allowed(req: Request) -> Response {
    error_response(
        StatusCode::METHOD_NOT_ALLOWED,
        plain_error(
            "method",
            format!(
                "{} {} is not answered: the server is read-only (GET pages and lists, POST /query)",
                req.method(),
                req.uri().path()
            ),
        ),
    )
}
