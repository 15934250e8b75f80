//! Storage quotas: a limit per user (`user:NAME`) or per scanned root (`root:PATH`), and how
//! much of it the newest snapshots show in use. Admins set them; viewers read them.

use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{Path, State};
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
    Router::new().route("/api/v1/quotas", get(list)).route(
        "/api/v1/quotas/{*subject}",
        get(read).put(set).delete(remove),
    )
}

/// What a quota limits, parsed from its subject.
async fn list(
    State(state): State<AppState>,
    _: Viewer,
) -> Result<Json<serde_json::Value>, ApiError> {
    let quotas = governance::quota_usage(&state.store).await?;
    Ok(Json(json!({ "quotas": quotas })))
}

async fn find(state: &AppState, subject: &str) -> Result<QuotaUsage, ApiError> {
    governance::quota_usage(&state.store)
        .await?
        .into_iter()
        .find(|q| q.quota.subject == subject)
        .ok_or_else(|| ApiError::not_found(format!("no quota for {subject:?}")))
}

async fn read(
    State(state): State<AppState>,
    _: Viewer,
    subject: Result<Path<String>, PathRejection>,
) -> Result<Json<QuotaUsage>, ApiError> {
    let Path(subject) = subject?;
    Ok(Json(find(&state, &subject).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Limit {
    limit_bytes: i64,
}

async fn set(
    State(state): State<AppState>,
    User(caller): Admin,
    subject: Result<Path<String>, PathRejection>,
    body: Result<Json<Limit>, JsonRejection>,
) -> Result<Json<QuotaUsage>, ApiError> {
    let Path(subject) = subject?;
    let Json(limit) = body?;
    QuotaSubject::parse(&subject)?;
    if limit.limit_bytes < 0 {
        return Err(ApiError::bad_request(format!(
            "limit_bytes: {} is negative",
            limit.limit_bytes
        )));
    }
    state
        .store
        .set_quota(&subject, limit.limit_bytes, &caller.label(), Utc::now())
        .await?;
    Ok(Json(find(&state, &subject).await?))
}

async fn remove(
    State(state): State<AppState>,
    _: Admin,
    subject: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    let Path(subject) = subject?;
    if !state.store.delete_quota(&subject).await? {
        return Err(ApiError::not_found(format!("no quota for {subject:?}")));
    }
    Ok(StatusCode::NO_CONTENT)
}
