//! Policies: read by anyone with a token, written by operators. Every write is checked with
//! core's parser first, so a bad rule is a 400 with the caret message and nothing is stored.

use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use chrono::Utc;
use spectra_core::policy::Policy;

use super::{ApiError, AppState};
use crate::auth::{Caller, Operator, User, Viewer};
use crate::store::PolicyRecord;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/policies", get(list).post(create))
        .route("/api/v1/plans", get(plans))
        .route(
            "/api/v1/policies/{name}",
            get(read).put(replace).delete(remove),
        )
}

/// Agents read the policies to evaluate them locally; people read them too.
async fn list(
    State(state): State<AppState>,
    _caller: Caller,
) -> Result<Json<serde_json::Value>, ApiError> {
    let policies = state.store.policies().await?;
    Ok(Json(serde_json::json!({ "policies": policies })))
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct PlanFilter {
    agent: Option<String>,
}

/// What agents' policy loops planned and enforced, newest first (at most 1,000).
async fn plans(
    State(state): State<AppState>,
    _: Viewer,
    filter: Result<axum::extract::Query<PlanFilter>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let axum::extract::Query(filter) = filter?;
    let plans = state.store.plans(filter.agent.as_deref()).await?;
    Ok(Json(serde_json::json!({ "plans": plans })))
}

/// Parses and compiles the policy, returning it as the JSON to store.
fn validated(policy: &Policy) -> Result<serde_json::Value, ApiError> {
    if policy.name.trim().is_empty() {
        return Err(ApiError::bad_request("policy name must not be empty"));
    }
    policy.compile()?;
    serde_json::to_value(policy).map_err(|e| ApiError::internal(e.to_string()))
}

async fn create(
    State(state): State<AppState>,
    User(caller): Operator,
    body: Result<Json<Policy>, JsonRejection>,
) -> Result<(StatusCode, Json<PolicyRecord>), ApiError> {
    let Json(policy) = body?;
    let json = validated(&policy)?;
    if !state
        .store
        .create_policy(&policy.name, &json, &caller.label(), Utc::now())
        .await?
    {
        return Err(ApiError::conflict(format!(
            "a policy named {:?} exists; PUT /api/v1/policies/{{name}} replaces it",
            policy.name
        )));
    }
    Ok((
        StatusCode::CREATED,
        Json(stored(&state, &policy.name).await?),
    ))
}

async fn stored(state: &AppState, name: &str) -> Result<PolicyRecord, ApiError> {
    state
        .store
        .policy(name)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no policy {name:?}")))
}

async fn read(
    State(state): State<AppState>,
    _: Viewer,
    name: Result<Path<String>, PathRejection>,
) -> Result<Json<PolicyRecord>, ApiError> {
    let Path(name) = name?;
    Ok(Json(stored(&state, &name).await?))
}

async fn replace(
    State(state): State<AppState>,
    User(caller): Operator,
    name: Result<Path<String>, PathRejection>,
    body: Result<Json<Policy>, JsonRejection>,
) -> Result<Json<PolicyRecord>, ApiError> {
    let Path(name) = name?;
    let Json(policy) = body?;
    if policy.name != name {
        return Err(ApiError::bad_request(format!(
            "the body names policy {:?} but the path {name:?}; renaming is delete and create",
            policy.name
        )));
    }
    let json = validated(&policy)?;
    if !state
        .store
        .replace_policy(&name, &json, &caller.label(), Utc::now())
        .await?
    {
        return Err(ApiError::not_found(format!("no policy {name:?}")));
    }
    Ok(Json(stored(&state, &name).await?))
}

async fn remove(
    State(state): State<AppState>,
    _: Operator,
    name: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    let Path(name) = name?;
    if !state.store.delete_policy(&name).await? {
        return Err(ApiError::not_found(format!("no policy {name:?}")));
    }
    Ok(StatusCode::NO_CONTENT)
}
