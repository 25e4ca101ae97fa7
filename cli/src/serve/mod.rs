//! `rollcall serve`: a read-only HTTP server on a store (SPEC 7.7).
//!
//! ```text
//! GET  /                  the dashboard (one self-contained page)
//! POST /query             RQL in the body; ?format=json|csv|ndjson|html, ?param.NAME=VALUE
//! GET  /api/collections   ["All Desktops", ...]
//! GET  /api/deployments   ["preproduction", "production"]
//! GET  /api/version       {"version", "marker", "first", "last", ...}: the change counter
//! GET  /api/failed        ?collection=&deployment=&at=&limit=: failed clients with error text
//! ```
//!
//! Built on axum over tokio and hyper, the most used Rust HTTP stack, with
//! only the features the server needs. Decisions (docs/serve.md):
//! * the store is opened read-only and followed ([`live`]): a background
//!   task looks at the store's change marker every `--poll-ms` and reopens
//!   when it moved, so commits and compactions show without a restart;
//! * statements run on a blocking pool of `--workers` threads; at most
//!   `--queue` requests wait for one, the next get 429; a request that
//!   takes longer than `--timeout` (reading its body included) gets 408 and
//!   its statement is cancelled; a body over `--max-body` gets 413;
//! * loopback by default; any other address needs `--token`, compared in
//!   constant time, sent as `Authorization: Bearer T` on every request but
//!   `GET /` (the page holds no data: it asks for the token and sends it);
//! * no write endpoint, no CORS headers (browsers keep other origins out),
//!   one line per request on standard error.

mod api;
mod dashboard;
mod guard;
mod live;
mod query;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use axum::routing::{get, post};
use tokio::sync::Semaphore;

use crate::UsageError;
use crate::args::ServeArgs;

/// Limits of the server.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Statements running at once.
    pub workers: usize,
    /// Requests waiting for a worker.
    pub queue: usize,
    /// Time limit of a whole request.
    pub timeout: Duration,
    /// Largest request body.
    pub max_body: usize,
}

/// What every handler shares.
#[derive(Debug)]
pub(crate) struct App {
    pub live: live::Live,
    pub token: Option<String>,
    pub limits: Limits,
    /// One permit per worker.
    pub workers: Arc<Semaphore>,
    /// Requests admitted (running or waiting).
    pub admitted: std::sync::atomic::AtomicUsize,
    /// The store's directory name, for the page title.
    pub store_name: String,
}

fn parse_listen(text: &str) -> anyhow::Result<SocketAddr> {
    let text = text.trim();
    let with_host = if text.starts_with(':') {
        format!("127.0.0.1{text}")
    } else {
        text.to_owned()
    };
    with_host.parse().map_err(|_| {
        UsageError(format!(
            "--listen {text:?}: expected an address and port such as 127.0.0.1:7878 or [::1]:7878"
        ))
        .into()
    })
}

/// Builds the routes on `app` (the tests of this module use it too).
pub(crate) fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/", get(dashboard::page))
        .route("/query", post(api::query))
        .route("/api/collections", get(api::collections))
        .route("/api/deployments", get(api::deployments))
        .route("/api/version", get(api::version))
        .route("/api/failed", get(api::failed))
        .fallback(api::not_found)
        .method_not_allowed_fallback(api::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(app.clone(), guard::guard))
        .with_state(app)
}

/// `rollcall serve`.
pub fn run(db: &Path, a: &ServeArgs) -> anyhow::Result<()> {
    let addr = parse_listen(&a.listen)?;
    let token = a.token.clone().filter(|t| !t.is_empty());
    if token.as_ref().is_some_and(|t| t.len() < 16) {
        return Err(UsageError(
            "--token is shorter than 16 characters; use a long random one (openssl rand -hex 16)".into(),
        )
        .into());
    }
    if !addr.ip().is_loopback() && token.is_none() {
        return Err(UsageError(format!(
            "refusing to serve on {addr} without --token: any other address than loopback \
             (127.0.0.1, [::1]) reaches the network; give --token T (or $ROLLCALL_SERVE_TOKEN) \
             and send `Authorization: Bearer T`"
        ))
        .into());
    }
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let limits = Limits {
        workers: a.workers.map_or(cores, usize::from),
        queue: usize::from(a.queue),
        timeout: Duration::from_secs(a.timeout),
        max_body: usize::try_from(a.max_body).unwrap_or(usize::MAX),
    };
    let live = live::Live::open(db)?;
    let store_name = db
        .canonicalize()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| db.display().to_string());
    let app = Arc::new(App {
        live,
        token,
        limits,
        workers: Arc::new(Semaphore::new(limits.workers)),
        admitted: Default::default(),
        store_name,
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cores.min(4))
        .max_blocking_threads(limits.workers + 2)
        .enable_all()
        .thread_name("rollcall-serve")
        .build()
        .context("start the server's threads")?;
    runtime.block_on(serve(app, addr, Duration::from_millis(a.poll_ms), db))
}

async fn serve(app: Arc<App>, addr: SocketAddr, poll: Duration, db: &Path) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("listen on {addr}"))?;
    let bound = listener.local_addr().context("read the listening address")?;
    crate::note(&format!(
        "rollcall serve: listening on http://{bound}/ (store {}, read-only; {} workers, queue {}, {} s limit; Ctrl-C stops)",
        db.display(),
        app.limits.workers,
        app.limits.queue,
        app.limits.timeout.as_secs()
    ));
    let follower = tokio::spawn(follow(app.clone(), poll));
    let service = router(app).into_make_service_with_connect_info::<SocketAddr>();
    let served = axum::serve(listener, service)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .context("serve HTTP");
    follower.abort();
    crate::note("rollcall serve: stopped");
    served
}

/// Follows the store: reopens it whenever its change marker moved.
async fn follow(app: Arc<App>, poll: Duration) {
    let mut failing = false;
    loop {
        tokio::time::sleep(poll).await;
        let app2 = app.clone();
        match tokio::task::spawn_blocking(move || app2.live.refresh()).await {
            Ok(Ok(Some(version))) => {
                failing = false;
                let c = app.live.current();
                crate::note(&format!(
                    "{} store changed: version {version}, {} transitions",
                    crate::session::wall_clock(),
                    c.stats.transitions
                ));
            }
            Ok(Ok(None)) => failing = false,
            Ok(Err(e)) => {
                // Said once, not every poll; the last good view stays.
                if !failing {
                    crate::note(&format!(
                        "error: follow the store: {e:#} (still serving the last view)"
                    ));
                }
                failing = true;
            }
            Err(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses() {
        assert_eq!(parse_listen("127.0.0.1:7878").unwrap().port(), 7878);
        assert!(parse_listen(":0").unwrap().ip().is_loopback());
        assert!(parse_listen("[::1]:80").unwrap().ip().is_loopback());
        assert!(parse_listen("localhost").is_err());
        assert!(parse_listen("1.2.3.4").is_err());
    }
}
