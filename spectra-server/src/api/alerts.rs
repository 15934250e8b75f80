//! Alerts: rules (admins write them, viewers read), alerts as they stand, delivery attempts,
//! and silences (operators and admins add and lift them).

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use chrono::Utc;
use serde::Deserialize;
use serde_json::json;
use spectra_core::alert::{AlertRule, AlertState};

use super::{ApiError, AppState};
use crate::auth::{Admin, Operator, User, Viewer};
use crate::store::Silence;

/// Most delivery attempts one request lists (a log, newest first: `limit` only).
const MAX_DELIVERIES: usize = 1000;
/// Longest silence accepted.
const MAX_SILENCE: std::time::Duration = std::time::Duration::from_secs(366 * 86_400);

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/alert-rules", get(list_rules).post(create_rule))
        .route(
            "/api/v1/alert-rules/{name}",
            get(read_rule).put(put_rule).delete(delete_rule),
        )
        .route("/api/v1/alerts", get(list_alerts))
        .route("/api/v1/alert-deliveries", get(list_deliveries))
        .route("/api/v1/silences", get(list_silences).post(add_silence))
        .route(
            "/api/v1/silences/{id}",
            axum::routing::delete(delete_silence),
        )
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListParams {
    limit: Option<usize>,
    cursor: Option<String>,
}

/// `{items, next_cursor}`: one page of `items` (in their order) after `cursor`'s position.
fn paged<T: serde::Serialize, P: serde::Serialize + serde::de::DeserializeOwned + PartialOrd>(
    items: Vec<T>,
    limit: Option<usize>,
    cursor: Option<&str>,
    position: impl Fn(&T) -> P,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (limit, after) = super::governance::page::<P>(limit, cursor)?;
    let rest: Vec<T> = items
        .into_iter()
        .filter(|item| after.as_ref().is_none_or(|after| position(item) > *after))
        .collect();
    let (items, next) = super::governance::one_page(rest, limit, position);
    Ok(Json(json!({ "items": items, "next_cursor": next })))
}

async fn list_rules(
    State(state): State<AppState>,
    _: Viewer,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Query(params) = params?;
    paged(
        state.store.alert_rules().await?,
        params.limit,
        params.cursor.as_deref(),
        |r| r.rule.name.clone(),
    )
}

async fn read_rule(
    State(state): State<AppState>,
    _: Viewer,
    name: Result<Path<String>, PathRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Path(name) = name?;
    let rule = state
        .store
        .alert_rules()
        .await?
        .into_iter()
        .find(|r| r.rule.name == name)
        .ok_or_else(|| ApiError::not_found(format!("no alert rule {name:?}")))?;
    Ok(Json(json!(rule)))
}

async fn store_rule(
    state: &AppState,
    by: &str,
    rule: AlertRule,
) -> Result<(bool, serde_json::Value), ApiError> {
    let compiled =
        crate::alerts::check_rule(&state.config.alerts, &rule).map_err(ApiError::bad_request)?;
    let created = state.store.put_alert_rule(&rule, by, Utc::now()).await?;
    Ok((
        created,
        json!({
            "rule": rule,
            "source": compiled.condition.selector.source(),
            "for_secs": compiled.condition.for_duration.as_secs_f64(),
            "cooldown_secs": compiled.cooldown.as_secs_f64(),
        }),
    ))
}

async fn create_rule(
    State(state): State<AppState>,
    User(caller): Admin,
    body: Result<Json<AlertRule>, JsonRejection>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let Json(rule) = body?;
    if state
        .store
        .alert_rules()
        .await?
        .iter()
        .any(|r| r.rule.name == rule.name)
    {
        return Err(ApiError::conflict(format!(
            "alert rule {:?} exists; PUT /api/v1/alert-rules/{{name}} replaces it",
            rule.name
        )));
    }
    let (_, body) = store_rule(&state, &caller.label(), rule).await?;
    Ok((StatusCode::CREATED, Json(body)))
}

async fn put_rule(
    State(state): State<AppState>,
    User(caller): Admin,
    name: Result<Path<String>, PathRejection>,
    body: Result<Json<AlertRule>, JsonRejection>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let (Path(name), Json(rule)) = (name?, body?);
    if rule.name != name {
        return Err(ApiError::bad_request(format!(
            "name: the body names {:?}, the path {name:?}",
            rule.name
        )));
    }
    let (created, body) = store_rule(&state, &caller.label(), rule).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(body)))
}

async fn delete_rule(
    State(state): State<AppState>,
    _: Admin,
    name: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    let Path(name) = name?;
    if !state.store.delete_alert_rule(&name).await? {
        return Err(ApiError::not_found(format!("no alert rule {name:?}")));
    }
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AlertFilter {
    /// `pending`, `firing` or `resolved`.
    state: Option<String>,
    rule: Option<String>,
    limit: Option<usize>,
    cursor: Option<String>,
}

/// Alerts by rule and series.
async fn list_alerts(
    State(state): State<AppState>,
    _: Viewer,
    filter: Result<Query<AlertFilter>, QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Query(filter) = filter?;
    let wanted = match filter.state.as_deref() {
        None => None,
        Some(name) => Some(AlertState::named(name).ok_or_else(|| {
            ApiError::bad_request(format!(
                "state: {name:?} is not pending, firing or resolved"
            ))
        })?),
    };
    let alerts: Vec<_> = state
        .store
        .alerts(wanted)
        .await?
        .into_iter()
        .filter(|a| filter.rule.as_ref().is_none_or(|rule| *rule == a.rule))
        .collect();
    paged(alerts, filter.limit, filter.cursor.as_deref(), |a| {
        (a.rule.clone(), a.series.clone())
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeliveryFilter {
    limit: Option<usize>,
}

async fn list_deliveries(
    State(state): State<AppState>,
    _: Viewer,
    filter: Result<Query<DeliveryFilter>, QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Query(filter) = filter?;
    let limit = filter.limit.unwrap_or(100).clamp(1, MAX_DELIVERIES);
    Ok(Json(
        json!({ "deliveries": state.store.deliveries(limit).await? }),
    ))
}

/// Silences not yet ended, soonest ending first.
async fn list_silences(
    State(state): State<AppState>,
    _: Viewer,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Query(params) = params?;
    paged(
        state.store.silences(Utc::now()).await?,
        params.limit,
        params.cursor.as_deref(),
        |s| (crate::store::millis(s.ends_at), s.id.clone()),
    )
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewSilence {
    rule: Option<String>,
    agent: Option<String>,
    /// `key=value`: agents carrying this label.
    label: Option<String>,
    /// How long from now, e.g. `2h`.
    duration: String,
    reason: String,
}

async fn add_silence(
    State(state): State<AppState>,
    User(caller): Operator,
    body: Result<Json<NewSilence>, JsonRejection>,
) -> Result<(StatusCode, Json<Silence>), ApiError> {
    let Json(new) = body?;
    if new.rule.is_none() && new.agent.is_none() && new.label.is_none() {
        return Err(ApiError::bad_request(
            "rule, agent, label: a silence names at least one of them",
        ));
    }
    if new.reason.trim().is_empty() {
        return Err(ApiError::bad_request("reason: say why"));
    }
    let label = match &new.label {
        None => None,
        Some(text) => Some(
            text.split_once('=')
                .filter(|(key, _)| !key.is_empty())
                .map(|(key, value)| (key.to_owned(), value.to_owned()))
                .ok_or_else(|| {
                    ApiError::bad_request(format!("label: {text:?} is not key=value"))
                })?,
        ),
    };
    let duration = spectra_core::policy::parse_duration(&new.duration)
        .map_err(|e| ApiError::bad_request(format!("duration: {e}")))?;
    if duration.is_zero() || duration > MAX_SILENCE {
        return Err(ApiError::bad_request(
            "duration: from 1s to 366d".to_owned(),
        ));
    }
    let now = Utc::now();
    let silence = Silence {
        id: uuid::Uuid::new_v4().to_string(),
        rule: new.rule,
        agent_id: new.agent,
        label,
        starts_at: now,
        ends_at: now + chrono::Duration::from_std(duration).unwrap_or_default(),
        created_by: caller.label(),
        reason: new.reason,
    };
    state.store.add_silence(&silence).await?;
    Ok((StatusCode::CREATED, Json(silence)))
}

async fn delete_silence(
    State(state): State<AppState>,
    _: Operator,
    id: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    let Path(id) = id?;
    if !state.store.delete_silence(&id).await? {
        return Err(ApiError::not_found(format!("no silence {id:?}")));
    }
    Ok(StatusCode::NO_CONTENT)
}
