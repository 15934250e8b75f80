//! Quotas: a soft and a hard limit per subject — `team:NAME`, `user:NAME`, `backend:NAME`, or
//! `root:/PATH` (a root measured by snapshots) — optionally on one backend (`?backend=NAME`),
//! with what is used against them now (the file index where there is one, else the newest
//! snapshots, saying which) and their level (`ok`, `soft`, `hard`) since when. Admins set
//! them; viewers read them. `/api/v1/quotas…` is the same API under its earlier name.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use chrono::Utc;
use serde::Deserialize;
use serde_json::json;

use super::{ApiError, AppState};
use crate::auth::{Admin, User, Viewer};
use crate::governance::{self, QuotaSubject, QuotaUsage};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/quota", get(list))
        .route(
            "/api/v1/quota/{*subject}",
            get(read).put(set).delete(remove),
        )
        .route("/api/v1/quotas", get(list))
        .route(
            "/api/v1/quotas/{*subject}",
            get(read).put(set).delete(remove),
        )
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListParams {
    limit: Option<usize>,
    cursor: Option<String>,
}

/// Quotas by (subject, backend), a page at a time from the database, each with its usage.
async fn list(
    State(state): State<AppState>,
    _: Viewer,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Query(params) = params?;
    let (limit, after) = super::governance::page::<(String, Option<String>)>(
        params.limit,
        params.cursor.as_deref(),
    )?;
    let quotas = state.store.quotas_page(after.as_ref(), limit + 1).await?;
    let (page, next) = super::governance::one_page(quotas, limit, |quota| {
        (quota.subject.clone(), quota.backend.clone())
    });
    let items = governance::usage_of_quotas(&state.store, page).await?;
    Ok(Json(json!({ "items": items, "next_cursor": next })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OnBackend {
    /// The one backend the quota counts [default: every backend].
    backend: Option<String>,
}

async fn find(
    state: &AppState,
    subject: &str,
    backend: Option<&str>,
) -> Result<QuotaUsage, ApiError> {
    governance::quota_usage(&state.store)
        .await?
        .into_iter()
        .find(|q| q.quota.subject == subject && q.quota.backend.as_deref() == backend)
        .ok_or_else(|| ApiError::not_found(format!("no quota for {subject:?}")))
}

async fn read(
    State(state): State<AppState>,
    _: Viewer,
    subject: Result<Path<String>, PathRejection>,
    on: Result<Query<OnBackend>, QueryRejection>,
) -> Result<Json<QuotaUsage>, ApiError> {
    let (Path(subject), Query(on)) = (subject?, on?);
    Ok(Json(find(&state, &subject, on.backend.as_deref()).await?))
}

/// A size: bytes, or text with a unit (`500TB`, `1.5GiB`).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Size {
    Bytes(i64),
    Text(String),
}

impl Size {
    fn bytes(self, field: &str) -> Result<i64, ApiError> {
        let bytes = match self {
            Size::Bytes(bytes) => bytes,
            Size::Text(text) => spectra_core::units::parse_size(&text)
                .map_err(|e| ApiError::bad_request(format!("{field}: {e}")))
                .map(|bytes| i64::try_from(bytes).unwrap_or(i64::MAX))?,
        };
        if bytes < 0 {
            return Err(ApiError::bad_request(format!(
                "{field}: {bytes} is negative"
            )));
        }
        Ok(bytes)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Limits {
    soft: Option<Size>,
    hard: Option<Size>,
    /// The earlier form: a hard limit in bytes.
    limit_bytes: Option<Size>,
}

async fn set(
    State(state): State<AppState>,
    User(caller): Admin,
    subject: Result<Path<String>, PathRejection>,
    on: Result<Query<OnBackend>, QueryRejection>,
    body: Result<Json<Limits>, JsonRejection>,
) -> Result<Json<QuotaUsage>, ApiError> {
    let (Path(subject), Query(on)) = (subject?, on?);
    let Json(limits) = body?;
    QuotaSubject::parse(&subject)?;
    if let Some(backend) = &on.backend {
        spectra_core::protocol::check_backend_name(backend)?;
    }
    let soft = limits.soft.map(|s| s.bytes("soft")).transpose()?;
    let hard = match (limits.hard, limits.limit_bytes) {
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request(
                "limit_bytes: give hard or limit_bytes (its earlier name), not both",
            ));
        }
        (hard, legacy) => hard
            .map(|h| h.bytes("hard"))
            .or_else(|| legacy.map(|l| l.bytes("limit_bytes")))
            .transpose()?,
    };
    governance::check_limits(soft, hard).map_err(ApiError::bad_request)?;
    let now = Utc::now();
    state
        .store
        .set_quota(
            &subject,
            on.backend.as_deref(),
            soft,
            hard,
            &caller.label(),
            now,
        )
        .await?;
    governance::evaluate_quotas(&state.store, now).await?;
    Ok(Json(find(&state, &subject, on.backend.as_deref()).await?))
}

async fn remove(
    State(state): State<AppState>,
    _: Admin,
    subject: Result<Path<String>, PathRejection>,
    on: Result<Query<OnBackend>, QueryRejection>,
) -> Result<StatusCode, ApiError> {
    let (Path(subject), Query(on)) = (subject?, on?);
    if !state
        .store
        .delete_quota(&subject, on.backend.as_deref())
        .await?
    {
        return Err(ApiError::not_found(format!("no quota for {subject:?}")));
    }
    Ok(StatusCode::NO_CONTENT)
}
