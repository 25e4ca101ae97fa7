//! `GET /`: the dashboard, one self-contained page (`dashboard.html`: inline
//! CSS and script, SVG drawn in the page, no fetch but this server's API).
//!
//! The page holds no data; it reads everything through the API, with the
//! bearer token when the server has one (asked for once, kept for the tab).
//! Its content security policy allows nothing but itself and this origin.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use super::App;

const PAGE: &str = include_str!("dashboard.html");

/// `GET /`.
pub(crate) async fn page(State(app): State<Arc<App>>) -> Response {
    let title = html_escape(&app.store_name);
    let body = PAGE.replace("{{STORE}}", &title).replace(
        "{{TOKEN_REQUIRED}}",
        if app.token.is_some() { "true" } else { "false" },
    );
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
