//! What stands in front of every handler: the bearer token, admission to
//! the worker pool (429 when full), JSON error answers and the request log.
//!
//! Invariants:
//! * with a token set, nothing but `GET /` (the page, which holds no data)
//!   is answered without `Authorization: Bearer <token>`; the comparison
//!   takes the same time whatever the bytes (`subtle`);
//! * every request writes exactly one line to standard error once its
//!   answer's head is ready: time, peer, method, path, status, body bytes
//!   (when known) and milliseconds; the token is never logged.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use axum::body::HttpBody as _;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::Value as Json;
use subtle::ConstantTimeEq as _;

use super::App;
use super::query::plain_error;

/// A JSON error answer.
pub(crate) fn error_response(status: StatusCode, error: Json) -> Response {
    let mut body = error.to_string();
    body.push('\n');
    let mut r = (status, body).into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

/// A place among the admitted requests; gives it back when dropped.
#[derive(Debug)]
pub(crate) struct Ticket(Arc<App>);

impl Drop for Ticket {
    fn drop(&mut self) {
        self.0.admitted.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Admits a request that needs a worker, or answers 429 when the workers
/// are busy and the queue is full.
#[allow(clippy::result_large_err)]
pub(crate) fn admit(app: &Arc<App>) -> Result<Ticket, Response> {
    let cap = app.limits.workers + app.limits.queue;
    let before = app.admitted.fetch_add(1, Ordering::SeqCst);
    let ticket = Ticket(app.clone());
    if before >= cap {
        let mut r = error_response(
            StatusCode::TOO_MANY_REQUESTS,
            plain_error(
                "busy",
                format!(
                    "{} requests are running or waiting (--workers {} + --queue {}); try again shortly",
                    before, app.limits.workers, app.limits.queue
                ),
            ),
        );
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return Err(r);
    }
    Ok(ticket)
}

fn authorized(app: &App, req: &Request) -> bool {
    let Some(token) = &app.token else {
        return true;
    };
    let Some(given) = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return false;
    };
    bool::from(given.trim().as_bytes().ct_eq(token.as_bytes()))
}

/// The middleware: token, then the handler, then the log line.
pub(crate) async fn guard(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let open_page = method == axum::http::Method::GET && path == "/";
    let response = if open_page || authorized(&app, &req) {
        next.run(req).await
    } else {
        let mut r = error_response(
            StatusCode::UNAUTHORIZED,
            plain_error(
                "unauthorized",
                "this server needs `Authorization: Bearer <token>` (the --token it was started with)",
            ),
        );
        r.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        r
    };
    let bytes = response
        .body()
        .size_hint()
        .exact()
        .map_or_else(|| "-".to_owned(), |n| n.to_string());
    crate::note(&format!(
        "{} {peer} {method} {} {} {bytes} {:.1}ms",
        crate::session::wall_clock(),
        clip(&path),
        response.status().as_u16(),
        started.elapsed().as_secs_f64() * 1000.0
    ));
    response
}

/// A path as logged: at most 200 characters, control characters escaped.
fn clip(path: &str) -> String {
    path.chars()
        .take(200)
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}
