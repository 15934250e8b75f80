//! The web app: its built files embedded in the binary (see `build.rs`), served at `/`, and
//! the security headers every answer carries.
//!
//! Hashed files under `/assets/` never change, so browsers keep them a year; `index.html` is
//! revalidated on every load so a new server's app is picked up at once. Any other path that
//! is not the API's and names no file is one of the app's own pages (`/agents/ID?tab=…`):
//! it gets `index.html`, and the app's router shows the page.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::Method;
use axum::http::header::{self, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::{ApiError, AppState};

include!(concat!(env!("OUT_DIR"), "/web_assets.rs"));

/// No inline script or style, nothing from elsewhere, never in a frame.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; \
     object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Paths that belong to the API (or to machines), never to the app's pages.
const NOT_PAGES: [&str; 6] = [
    "/api/",
    "/admin/",
    "/metrics",
    "/openapi.json",
    "/healthz",
    "/readyz",
];

fn asset(path: &str) -> Option<&'static [u8]> {
    ASSETS
        .iter()
        .find(|(url, _)| *url == path)
        .map(|(_, bytes)| *bytes)
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("json") => "application/json",
        Some("woff2") => "font/woff2",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

fn file(path: &str, bytes: &'static [u8]) -> Response {
    let cache = if path.starts_with("/assets/") {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    (
        [
            (header::CONTENT_TYPE, content_type(path)),
            (header::CACHE_CONTROL, cache),
        ],
        Body::from(bytes),
    )
        .into_response()
}

/// What a request no route took gets: a file of the app, the app's page, or the API's 404.
pub(super) async fn fallback(request: Request) -> Response {
    let path = request.uri().path();
    let readable = matches!(*request.method(), Method::GET | Method::HEAD);
    let api = NOT_PAGES.iter().any(|prefix| path.starts_with(prefix));
    if readable && !api {
        if let Some(bytes) = asset(path) {
            return file(path, bytes);
        }
        let last = path.rsplit('/').next().unwrap_or("");
        if !last.contains('.')
            && let Some(index) = asset("/index.html")
        {
            return file("/index.html", index);
        }
    }
    ApiError::not_found(format!("no route for {path}")).into_response()
}

/// Adds the security headers to every answer (HSTS only when the server speaks TLS).
pub(super) async fn security_headers(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let set = [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
    ];
    for (name, value) in set {
        headers.insert(name, HeaderValue::from_static(value));
    }
    if state.config.tls.is_some() {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
    response
}

/// Whether the binary holds a built app (a build without `web-dist/` serves the API only).
pub fn embedded() -> bool {
    asset("/index.html").is_some()
}
