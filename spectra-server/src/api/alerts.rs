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

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct ListParams {
    limit: Option<usize>,
    cursor: Option<String>,
}

/// `{items, next_cursor}`: a page the store read after `after`'s position (asked for one
/// more than `limit`, to know whether there are more).
fn page_of<T: serde::Serialize, P: serde::Serialize>(
    items: Vec<T>,
    limit: usize,
    position: impl Fn(&T) -> P,
) -> Json<serde_json::Value> {
    let (items, next) = super::governance::one_page(items, limit, position);
    Json(json!({ "items": items, "next_cursor": next }))
}

async fn list_rules(
    State(state): State<AppState>,
    _: Viewer,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Query(params) = params?;
    let (limit, after) = super::governance::page::<String>(params.limit, params.cursor.as_deref())?;
    let rules = state
        .store
        .alert_rules_page(after.as_deref(), limit + 1)
        .await?;
    Ok(page_of(rules, limit, |r| r.rule.name.clone()))
}

async fn read_rule(
    State(state): State<AppState>,
    _: Viewer,
    name: Result<Path<String>, PathRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Path(name) = name?;
    let rule = state
        .store
        .alert_rule(&name)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no alert rule {name:?}")))?;
    Ok(Json(json!(rule)))
}

/// How a rule is written: created only if its name is free, or created or replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RuleWrite {
    Create,
    CreateOrReplace,
}

/// Checks and writes `rule`; answers whether it is new and the body to send. A `Create` of a
/// name that exists is a 409, decided by the store's one insert.
async fn store_rule(
    state: &AppState,
    by: &str,
    rule: AlertRule,
    write: RuleWrite,
) -> Result<(bool, serde_json::Value), ApiError> {
    // A condition that does not parse is answered with its column, so a form can put a caret
    // under it (the message carries the CLI's caret too).
    if let Err(error) = spectra_core::alert::Condition::parse(&rule.condition) {
        let mut refused = ApiError::bad_request(format!("condition: {error}"));
        refused.body.column = Some(error.column as u64);
        return Err(refused);
    }
    let compiled =
        crate::alerts::check_rule(&state.config.alerts, &rule).map_err(ApiError::bad_request)?;
    let now = Utc::now();
    let created = match write {
        RuleWrite::Create => {
            if !state.store.create_alert_rule(&rule, by, now).await? {
                return Err(ApiError::conflict(format!(
                    "alert rule {:?} exists; PUT /api/v1/alert-rules/{{name}} replaces it",
                    rule.name
                )));
            }
            true
        }
        RuleWrite::CreateOrReplace => state.store.put_alert_rule(&rule, by, now).await?,
    };
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
    let (_, body) = store_rule(&state, &caller.label(), rule, RuleWrite::Create).await?;
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
    let (created, body) =
        store_rule(&state, &caller.label(), rule, RuleWrite::CreateOrReplace).await?;
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

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct AlertFilter {
    /// `pending`, `firing` or `resolved`.
    #[schemars(extend("enum" = ["pending", "firing", "resolved"]))]
    state: Option<String>,
    rule: Option<String>,
    limit: Option<usize>,
    cursor: Option<String>,
}

/// Alerts by rule and series, a page at a time from the database.
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
    let (limit, after) =
        super::governance::page::<(String, String)>(filter.limit, filter.cursor.as_deref())?;
    let alerts = state
        .store
        .alerts_page(wanted, filter.rule.as_deref(), after.as_ref(), limit + 1)
        .await?;
    let alerts = crate::alerts::views(&state.store, alerts).await?;
    Ok(page_of(alerts, limit, |a| {
        (a.alert.rule.clone(), a.alert.series.clone())
    }))
}

/// Delivery attempts, newest first, a page at a time from the database.
async fn list_deliveries(
    State(state): State<AppState>,
    _: Viewer,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Query(params) = params?;
    let (limit, after) =
        super::governance::page::<(i64, String, i64)>(params.limit, params.cursor.as_deref())?;
    let attempts = state.store.deliveries(after.as_ref(), limit + 1).await?;
    Ok(page_of(attempts, limit, |d| {
        (crate::store::millis(d.at), d.outbox_id.clone(), d.attempt)
    }))
}

/// Silences not yet ended, soonest ending first.
async fn list_silences(
    State(state): State<AppState>,
    _: Viewer,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Query(params) = params?;
    let (limit, after) =
        super::governance::page::<(i64, String)>(params.limit, params.cursor.as_deref())?;
    let silences = state
        .store
        .silences_page(Utc::now(), after.as_ref(), limit + 1)
        .await?;
    Ok(page_of(silences, limit, |s| {
        (crate::store::millis(s.ends_at), s.id.clone())
    }))
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewSilence {
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
    let silence = crate::alerts::silence(
        crate::alerts::SilenceRequest {
            rule: new.rule,
            agent: new.agent,
            label: new.label,
            duration: new.duration,
            reason: new.reason,
        },
        caller.label(),
        Utc::now(),
    )
    .map_err(ApiError::bad_request)?;
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
