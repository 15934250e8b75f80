//! The HTTP API: [`app`] builds the router over an [`AppState`].
//!
//! Every endpoint but `/healthz` and `/readyz` needs a token (see [`crate::auth`]); errors are
//! JSON `{code, message}` ([`ApiError`]). `/openapi.json` describes every route.

mod accounts;
mod admin;
mod agent;
mod alerts;
mod error;
mod governance;
mod history;
pub mod legacy;
mod overview;
mod policies;
mod prometheus;
mod quotas;
pub mod schemas;
pub mod web;

use std::sync::Arc;
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

pub use error::ApiError;
pub use prometheus::{RequestStats, RouteStats};

use crate::config::ServeConfig;
use crate::store::Store;

/// What every handler shares. Cheap to clone; nothing in it must be shared between replicas.
#[derive(Debug, Clone)]
pub struct AppState {
    pub store: Arc<Store>,
    pub config: Arc<ServeConfig>,
    pub stats: Arc<RequestStats>,
    /// Cancelled when the server begins to shut down: long-polls return at once.
    pub shutdown: CancellationToken,
    /// Alert evaluations this replica has run (its alert loop counts them; `/metrics` shows
    /// them, so a test or an operator can wait for the next ones).
    pub alert_evaluations: Arc<std::sync::atomic::AtomicU64>,
    /// When this replica's state was made (its server health page counts from here).
    pub started_at: DateTime<Utc>,
    /// This replica's id in the `replicas` table (new at every start).
    pub replica_id: String,
}

impl AppState {
    pub fn new(store: Arc<Store>, config: ServeConfig) -> Self {
        AppState {
            store,
            config: Arc::new(config),
            stats: Arc::new(RequestStats::default()),
            shutdown: CancellationToken::new(),
            alert_evaluations: Arc::default(),
            started_at: Utc::now(),
            replica_id: uuid::Uuid::new_v4().to_string(),
        }
    }

    /// This replica as the `replicas` table records it, seen at `now`.
    pub fn replica(&self, now: DateTime<Utc>) -> crate::store::ReplicaRecord {
        crate::store::ReplicaRecord {
            id: self.replica_id.clone(),
            started_at: self.started_at,
            last_seen: now,
            version: env!("CARGO_PKG_VERSION").to_owned(),
            listen: self.config.listen.to_string(),
        }
    }
}

/// The whole API over `state`.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/api/v1/status", get(status))
        .route("/openapi.json", get(openapi))
        .route("/api/v1/metric-fields", get(metric_fields))
        .route("/api/v1/server-health", get(server_health))
        .route("/metrics", get(prometheus::exposition))
        .merge(accounts::routes())
        .merge(overview::routes())
        .merge(agent::routes())
        .merge(alerts::routes())
        .merge(admin::routes())
        .merge(history::routes())
        .merge(policies::routes())
        .merge(quotas::routes())
        .merge(governance::routes())
        // The app's files are gzipped for browsers that ask (its script shrinks to a third);
        // the API's answers are not: agents and scripts replay what they sent, compressed or not.
        .fallback_service(
            axum::routing::any(web::fallback)
                .layer(tower_http::compression::CompressionLayer::new().gzip(true)),
        )
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            record_request,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            web::security_headers,
        ))
        // A panic left in a library must not close a connection without an answer.
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(panicked))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

fn panicked(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    ApiError::internal("the request failed inside the server (a bug); nothing was stored")
        .into_response()
}

/// The client's address when the server runs with connection info; `None` in `oneshot` tests
/// that leave it out.
#[derive(Debug, Clone, Copy)]
pub struct ConnectInfoOpt(pub Option<std::net::IpAddr>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ConnectInfoOpt {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(ConnectInfoOpt(crate::auth::client_addr(parts)))
    }
}

async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "ok"}))
}

/// Ready when the database answers.
async fn readyz(State(state): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    state.store.ping().await?;
    Ok(Json(
        serde_json::json!({"status": "ready", "store": state.store.backend()}),
    ))
}

/// The fleet at a glance (what `spectra status` prints): the store's health, agents by how
/// recently they were heard from, the backends' last crawls and the quotas over a limit.
async fn status(
    State(state): State<AppState>,
    _: crate::auth::Viewer,
) -> Result<Json<serde_json::Value>, ApiError> {
    state.store.ping().await?;
    let status = crate::fleet::status(&state.store, Utc::now()).await?;
    let mut body = serde_json::to_value(status).unwrap_or_default();
    body["server"] = serde_json::json!({"status": "ready", "store": state.store.backend()});
    Ok(Json(body))
}

/// Core's metric schema: every series' name, unit and kind (the web app formats by it).
async fn metric_fields(_: crate::auth::Viewer) -> Json<serde_json::Value> {
    Json(serde_json::json!({"items": spectra_core::metrics::fields(), "next_cursor": null}))
}

/// This replica's own measurements, for the server health page: traffic and latency per
/// route, alert evaluations, the store and its size. (`/metrics` has the same for
/// Prometheus.)
async fn server_health(
    State(state): State<AppState>,
    _: crate::auth::Viewer,
) -> Result<Json<ServerHealth>, ApiError> {
    let now = Utc::now();
    // This replica's own row is written now, so the page lists it from the first request.
    state.store.note_replica(&state.replica(now)).await?;
    let horizon = chrono::Duration::from_std(state.config.maintenance_interval * 3)
        .unwrap_or(chrono::Duration::minutes(3))
        + chrono::Duration::seconds(30);
    Ok(Json(ServerHealth {
        replicas: state.store.replicas_since(now - horizon).await?,
        this_replica: state.replica_id.clone(),
        generated_at: now,
        started_at: state.started_at,
        version: env!("CARGO_PKG_VERSION"),
        store: StoreHealth {
            backend: state.store.backend(),
            size_bytes: state.store.size_bytes().await?,
        },
        alert_evaluations: state
            .alert_evaluations
            .load(std::sync::atomic::Ordering::Relaxed),
        routes: state.stats.routes(),
    }))
}

#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
pub(crate) struct ServerHealth {
    generated_at: DateTime<Utc>,
    started_at: DateTime<Utc>,
    version: &'static str,
    store: StoreHealth,
    /// Alert evaluations this replica has run since it started.
    alert_evaluations: u64,
    /// Requests per route since this replica started.
    routes: Vec<RouteStats>,
    /// The replicas sharing the store, seen within three maintenance intervals.
    replicas: Vec<crate::store::ReplicaRecord>,
    /// Which of them answered.
    this_replica: String,
}

#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
pub(crate) struct StoreHealth {
    backend: &'static str,
    size_bytes: i64,
}

/// Whether the first admin is still to be created.
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
pub(crate) struct SetupState {
    pub needed: bool,
}

async fn openapi(_: crate::auth::Viewer) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        schemas::document(),
    )
}

async fn method_not_allowed(request: Request) -> ApiError {
    ApiError::method_not_allowed(format!(
        "{} is not allowed on {}",
        request.method(),
        request.uri().path()
    ))
}

/// Counts each request by route and status and times it, for `/metrics`.
async fn record_request(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = request.method().clone();
    let started = Instant::now();
    let response = next.run(request).await;
    state.stats.record(
        method.as_str(),
        &route,
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

/// Reads a body of at most `limit` bytes; more is a 413 that says the limit.
pub(crate) async fn read_body(body: Body, limit: u64, what: &str) -> Result<Bytes, ApiError> {
    let limit_usize = usize::try_from(limit).unwrap_or(usize::MAX);
    let read = axum::body::to_bytes(body, limit_usize).await;
    if read.as_ref().map_or(true, |bytes| {
        bytes.len() >= crate::serve::LARGE_REQUEST_BYTES
    }) {
        crate::serve::note_large_request();
    }
    read.map_err(|e| {
        let too_long = std::iter::successors(Some(&e as &(dyn std::error::Error + 'static)), |e| {
            e.source()
        })
        .any(|e| e.is::<http_body_util::LengthLimitError>());
        if too_long {
            ApiError::too_large(format!(
                "{what} body is larger than the limit of {limit} bytes; nothing was stored"
            ))
        } else {
            ApiError::bad_request(format!("{what} body could not be read: {e}"))
        }
    })
}

/// Reads a time parameter: RFC 3339, Unix seconds, `now`, or an offset back from now such as
/// `-24h` or `-30d`.
pub(crate) fn parse_time(
    name: &str,
    text: &str,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, ApiError> {
    let text = text.trim();
    if text == "now" {
        return Ok(now);
    }
    if let Some(back) = text.strip_prefix('-') {
        let span = spectra_core::units::parse_duration(back)
            .map_err(|e| ApiError::bad_request(format!("{name}: {e}")))?;
        let span = chrono::Duration::from_std(span)
            .map_err(|_| ApiError::bad_request(format!("{name}: {text} is too far back")))?;
        return Ok(now - span);
    }
    if let Ok(secs) = text.parse::<i64>() {
        return DateTime::from_timestamp(secs, 0)
            .ok_or_else(|| ApiError::bad_request(format!("{name}: {secs} is out of range")));
    }
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            ApiError::bad_request(format!(
                "{name}: {text:?} is not RFC 3339, Unix seconds, 'now' or '-DURATION' ({e})"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_in_every_documented_form() {
        let now: DateTime<Utc> = "2026-11-23T12:00:00Z".parse().expect("now");
        let at = |text| parse_time("from", text, now).expect(text);
        assert_eq!(at("now"), now);
        assert_eq!(at("-2h"), now - chrono::Duration::hours(2));
        assert_eq!(at("-30d"), now - chrono::Duration::days(30));
        assert_eq!(at("0").timestamp(), 0);
        assert_eq!(at("2026-11-23T13:00:00+01:00"), now);
        let err = parse_time("from", "yesterday", now).expect_err("refused");
        assert!(err.message().starts_with("from:"), "{}", err.message());
    }
}
