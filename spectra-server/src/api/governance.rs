//! Governance: the file index and access telemetry agents upload, and what admins read from
//! them — usage by team, user or backend, stale files, backends, teams.
//!
//! Every list is paginated: `limit` (default 100, at most 1000) and the `next_cursor` of the
//! previous page as `cursor` (opaque); `next_cursor` is `null` on the last page. Sizes in
//! parameters take units (`min_size=1GB`, `500MiB`; a plain number is bytes).

use axum::body::Body;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as CURSOR;
use chrono::Utc;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::json;
use spectra_core::protocol::{self, Compression, IndexBatch, TelemetryBatch};

use super::agent::decode_limits;
use super::{ApiError, AppState, read_body};
use crate::auth::{Admin, ApprovedAgent, User, Viewer};
use crate::governance::{self, GroupBy};
use crate::store::{IndexOutcome, StaleQuery, TelemetryOutcome};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/index", post(index))
        .route("/api/v1/telemetry", post(telemetry))
        .route("/api/v1/usage", get(usage))
        .route("/api/v1/stale", get(stale))
        .route("/api/v1/backends", get(backends))
        .route("/api/v1/user/{id}", get(user))
        .route("/api/v1/teams", get(teams))
        .route("/api/v1/teams/{name}", get(team))
        .route(
            "/api/v1/teams/{name}/members/{id}",
            put(add_member).delete(remove_member),
        )
}

use crate::store::{DEFAULT_PAGE_SIZE as DEFAULT_PAGE, MAX_PAGE_SIZE as MAX_PAGE};

/// `limit` checked, and the position `cursor` holds.
pub(super) fn page<P: DeserializeOwned>(
    limit: Option<usize>,
    cursor: Option<&str>,
) -> Result<(usize, Option<P>), ApiError> {
    let limit = limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "limit: {limit} is not between 1 and {MAX_PAGE}"
        )));
    }
    // `?cursor=` (empty) is the first page, as no cursor is.
    let position = cursor
        .filter(|cursor| !cursor.is_empty())
        .map(|cursor| {
            CURSOR
                .decode(cursor)
                .ok()
                .and_then(|bytes| serde_json::from_slice(&bytes).ok())
                .ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "cursor: {cursor:?} is not a cursor this list gave"
                    ))
                })
        })
        .transpose()?;
    Ok((limit, position))
}

pub(super) fn cursor_of<P: Serialize>(position: &P) -> String {
    CURSOR.encode(serde_json::to_vec(position).unwrap_or_default())
}

/// The first `limit` of `items` (asked for with one more, to know whether there are more) and
/// the cursor to the next page, made from the last item's position.
pub(super) fn one_page<T, P: Serialize>(
    mut items: Vec<T>,
    limit: usize,
    position: impl Fn(&T) -> P,
) -> (Vec<T>, Option<String>) {
    let more = items.len() > limit;
    items.truncate(limit);
    let next = more
        .then(|| items.last().map(|item| cursor_of(&position(item))))
        .flatten();
    (items, next)
}

/// The growth period of `text` (`30d`), or core's default when there is none.
pub(super) fn growth_period(text: Option<&str>) -> Result<chrono::Duration, ApiError> {
    let period = match text {
        Some(text) => spectra_core::units::parse_duration(text)
            .map_err(|e| ApiError::bad_request(format!("period: {e}")))?,
        None => spectra_core::index::DEFAULT_GROWTH_PERIOD,
    };
    chrono::Duration::from_std(period).map_err(|_| {
        ApiError::bad_request(format!("period: {} is too long", text.unwrap_or_default()))
    })
}

fn min_size(text: Option<&str>) -> Result<u64, ApiError> {
    text.map_or(Ok(0), |text| {
        spectra_core::units::parse_size(text)
            .map_err(|e| ApiError::bad_request(format!("min_size: {e}")))
    })
}

/// One batch of an agent's file index crawl.
async fn index(
    State(state): State<AppState>,
    ApprovedAgent(agent): ApprovedAgent,
    body: Body,
) -> Result<Json<serde_json::Value>, ApiError> {
    let limits = decode_limits(&state);
    let bytes = read_body(body, limits.max_body_bytes, "index batch").await?;
    let batch: IndexBatch =
        protocol::decode("index batch", &bytes, Compression::sniff(&bytes), &limits)?;
    batch.validate()?;
    let (batch_id, crawl_id, last) = (batch.batch_id, batch.crawl_id, batch.end.is_some());
    let outcome = state
        .store
        .ingest_index(&(&agent).into(), batch, Utc::now())
        .await?;
    if last && matches!(outcome, IndexOutcome::Applied { .. }) {
        evaluate_quotas_after_upload(&state).await;
    }
    match outcome {
        IndexOutcome::Applied { files, resync } => Ok(Json(json!({
            "batch_id": batch_id,
            "crawl_id": crawl_id,
            "files": files,
            "resync": resync,
        }))),
        IndexOutcome::Duplicate => Ok(Json(json!({
            "batch_id": batch_id,
            "crawl_id": crawl_id,
            "duplicate": true,
        }))),
        IndexOutcome::Resync(why) => Err(ApiError::conflict(format!(
            "{why}; nothing of this batch was applied: send a full crawl (no base_crawl)"
        ))),
    }
}

/// Quota levels after an upload changed usage; the upload itself is kept whatever happens
/// here (the maintenance tick measures again).
pub(super) async fn evaluate_quotas_after_upload(state: &AppState) {
    if let Err(e) = governance::evaluate_quotas(&state.store, Utc::now()).await {
        tracing::warn!(error = %e, "quota evaluation after an upload failed");
    }
}

/// A batch of access events from an agent (which forwards what embedders record).
async fn telemetry(
    State(state): State<AppState>,
    ApprovedAgent(agent): ApprovedAgent,
    body: Body,
) -> Result<Json<serde_json::Value>, ApiError> {
    let limits = decode_limits(&state);
    let bytes = read_body(body, limits.max_body_bytes, "telemetry batch").await?;
    let batch: TelemetryBatch = protocol::decode(
        "telemetry batch",
        &bytes,
        Compression::sniff(&bytes),
        &limits,
    )?;
    batch.validate()?;
    match state
        .store
        .ingest_telemetry(&(&agent).into(), &batch, Utc::now())
        .await?
    {
        TelemetryOutcome::Stored { events } => {
            Ok(Json(json!({"batch_id": batch.batch_id, "events": events})))
        }
        TelemetryOutcome::Duplicate => {
            Ok(Json(json!({"batch_id": batch.batch_id, "duplicate": true})))
        }
        TelemetryOutcome::Unattributed { index, path } => Err(ApiError::bad_request(format!(
            "events[{index}].backend: missing, and {path} is under none of this agent's \
             indexed roots; nothing was stored"
        ))),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UsageParams {
    group_by: Option<GroupBy>,
    /// A backend's name, or `all` (the default).
    backend: Option<String>,
    limit: Option<usize>,
    cursor: Option<String>,
}

fn one_backend(backend: Option<&str>) -> Option<&str> {
    backend.filter(|backend| *backend != "all")
}

async fn usage(
    State(state): State<AppState>,
    _: Viewer,
    params: Result<Query<UsageParams>, QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Query(params) = params?;
    let group_by = params.group_by.unwrap_or(GroupBy::User);
    let (limit, after) = page::<(i64, Option<String>)>(params.limit, params.cursor.as_deref())?;
    let rows = governance::usage(
        &state.store,
        group_by,
        one_backend(params.backend.as_deref()),
        after.as_ref(),
        limit + 1,
    )
    .await?;
    let position = |row: &governance::UsageRow| (row.size_bytes, row.name.clone());
    let (items, next) = one_page(rows, limit, position);
    Ok(Json(json!({
        "group_by": group_by,
        "backend": params.backend.unwrap_or_else(|| "all".to_owned()),
        "items": items,
        "next_cursor": next,
    })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StaleParams {
    /// Not used for this many days [default: core's `DEFAULT_STALE_DAYS`, 90].
    days: Option<u32>,
    min_size: Option<String>,
    backend: Option<String>,
    owner: Option<String>,
    team: Option<String>,
    limit: Option<usize>,
    cursor: Option<String>,
}

async fn stale(
    State(state): State<AppState>,
    _: Viewer,
    params: Result<Query<StaleParams>, QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Query(params) = params?;
    let days = params
        .days
        .unwrap_or(spectra_core::index::DEFAULT_STALE_DAYS);
    let (limit, after) = page(params.limit, params.cursor.as_deref())?;
    let query = StaleQuery {
        cutoff: Utc::now() - chrono::Duration::days(i64::from(days)),
        min_size: min_size(params.min_size.as_deref())?,
        backend: one_backend(params.backend.as_deref()).map(str::to_owned),
        owner: params.owner,
        team: params.team,
        after,
        limit: limit + 1,
    };
    let files = state.store.stale_files(&query).await?;
    let (files, next) = one_page(files, limit, |file| file.position.clone());
    Ok(Json(json!({
        "days": days,
        "min_size": query.min_size,
        "items": files,
        "next_cursor": next,
    })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListParams {
    limit: Option<usize>,
    cursor: Option<String>,
}

/// Backends with their files, bytes, last crawl and growth over 30 days.
async fn backends(
    State(state): State<AppState>,
    _: Viewer,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Query(params) = params?;
    let (limit, after) = page::<String>(params.limit, params.cursor.as_deref())?;
    let since = Utc::now() - growth_period(None)?;
    let rest = state
        .store
        .index_backends_page(after.as_deref(), limit + 1)
        .await?;
    let (page, next) = one_page(rest, limit, |backend| backend.name.clone());
    let items = governance::backends_with_growth(&state.store, page, since).await?;
    Ok(Json(json!({"items": items, "next_cursor": next})))
}

/// Everything one user owns or read, across backends: per backend what they own and what
/// they read, their largest files and the files they used last, their team and quota.
async fn user(
    State(state): State<AppState>,
    _: Viewer,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<governance::UserDetail>, ApiError> {
    let Path(id) = id?;
    check_name("user", &id)?;
    governance::user_detail(&state.store, &id)
        .await?
        .map(Json)
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "user {id:?} owns nothing in the index and read nothing"
            ))
        })
}

/// Teams with their members, by name.
async fn teams(
    State(state): State<AppState>,
    _: Viewer,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Query(params) = params?;
    let (limit, after) = page::<String>(params.limit, params.cursor.as_deref())?;
    let quotas = governance::quota_usage(&state.store).await?;
    let teams = state.store.teams_page(after.as_deref(), limit + 1).await?;
    let (teams, next) = one_page(teams, limit, |(team, _)| team.clone());
    let items: Vec<_> = teams
        .into_iter()
        .map(|(team, members)| {
            let quota = governance::QuotaMark::find(&quotas, &format!("team:{team}"), None);
            json!({"team": team, "members": members, "quota": quota})
        })
        .collect();
    Ok(Json(json!({"items": items, "next_cursor": next})))
}

async fn team(
    State(state): State<AppState>,
    _: Viewer,
    name: Result<Path<String>, PathRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Path(name) = name?;
    let members: Vec<_> = state
        .store
        .team_members()
        .await?
        .into_iter()
        .filter(|member| member.team == name)
        .collect();
    if members.is_empty() {
        return Err(ApiError::not_found(format!("no team {name:?}")));
    }
    let quotas = governance::quota_usage(&state.store).await?;
    let quota = governance::QuotaMark::find(&quotas, &format!("team:{name}"), None);
    Ok(Json(
        json!({"team": name, "members": members, "quota": quota}),
    ))
}

fn check_name(what: &str, name: &str) -> Result<(), ApiError> {
    let ok = !name.is_empty() && name.chars().count() <= 253 && !name.chars().any(char::is_control);
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "{what}: {name:?} is not 1 to 253 characters without control characters"
        )))
    }
}

/// Puts a user in the team (moving them from any other); the body may be empty or `{}`.
async fn add_member(
    State(state): State<AppState>,
    User(caller): Admin,
    names: Result<Path<(String, String)>, PathRejection>,
    body: Result<Json<serde_json::Map<String, serde_json::Value>>, JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Path((team, user)) = names?;
    if let Ok(Json(fields)) = body
        && let Some(field) = fields.keys().next()
    {
        return Err(ApiError::bad_request(format!(
            "{field}: unknown field (the team and user are in the path)"
        )));
    }
    check_name("team", &team)?;
    check_name("user", &user)?;
    state
        .store
        .set_team(&user, &team, &caller.label(), Utc::now())
        .await?;
    Ok(Json(json!({"team": team, "user": user})))
}

async fn remove_member(
    State(state): State<AppState>,
    _: Admin,
    names: Result<Path<(String, String)>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    let Path((team, user)) = names?;
    if !state.store.remove_from_team(&user, &team).await? {
        return Err(ApiError::not_found(format!(
            "{user:?} is not in team {team:?}"
        )));
    }
    Ok(StatusCode::NO_CONTENT)
}
