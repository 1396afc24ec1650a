//! The status page at `/ui`: three files built into the binary (no CDN, it
//! works offline). They hold no data and need no token; the page fetches
//! the admin endpoints with the token the operator gives it, so it shows
//! exactly what a script with that token could read.

use axum::http::header;
use axum::response::IntoResponse;

const PAGE: &str = include_str!("../../ui/index.html");
const SCRIPT: &str = include_str!("../../ui/app.js");
const STYLE: &str = include_str!("../../ui/style.css");

/// Only this origin's files and endpoints: nothing the page loads can come
/// from elsewhere, and nothing injected into a cell could run.
const POLICY: &str = "default-src 'self'; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'";

fn file(ctype: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, ctype),
            (header::CONTENT_SECURITY_POLICY, POLICY),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
}

pub(super) async fn page() -> impl IntoResponse {
    file("text/html; charset=utf-8", PAGE)
}

pub(super) async fn script() -> impl IntoResponse {
    file("text/javascript; charset=utf-8", SCRIPT)
}

pub(super) async fn style() -> impl IntoResponse {
    file("text/css; charset=utf-8", STYLE)
}
