//! `GET /api/v1/overview`: the web app's fleet page in one request (see
//! [`crate::overview`]).

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use chrono::Utc;
use serde::{Deserialize, Serialize};

use super::governance::{cursor_of, page};
use super::{ApiError, AppState};
use crate::auth::Viewer;
use crate::overview::{Overview, OverviewQuery, STATUSES, SortKey, overview};

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/overview", get(fleet_overview))
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct Params {
    #[schemars(extend("enum" = ["online", "stale", "offline", "pending"]))]
    status: Option<String>,
    os: Option<String>,
    /// `key=value[,key=value…]`.
    label: Option<String>,
    q: Option<String>,
    #[schemars(extend("enum" = ["hostname", "status", "os", "cpu", "memory", "disk", "last_seen"]))]
    sort: Option<String>,
    #[schemars(extend("enum" = ["asc", "desc"]))]
    order: Option<String>,
    limit: Option<usize>,
    cursor: Option<String>,
}

async fn fleet_overview(
    State(state): State<AppState>,
    _: Viewer,
    params: Result<Query<Params>, QueryRejection>,
) -> Result<Json<OverviewPage>, ApiError> {
    let Query(params) = params?;
    if let Some(status) = &params.status
        && !STATUSES.contains(&status.as_str())
    {
        return Err(ApiError::bad_request(format!(
            "status: {status:?} is not one of {}",
            STATUSES.join(", ")
        )));
    }
    let sort_name = params.sort.as_deref().unwrap_or("hostname");
    let sort = SortKey::named(sort_name).ok_or_else(|| {
        ApiError::bad_request(format!(
            "sort: {sort_name:?} is not one of {}",
            SortKey::NAMES.join(", ")
        ))
    })?;
    let descending = match params.order.as_deref().unwrap_or("asc") {
        "asc" => false,
        "desc" => true,
        other => {
            return Err(ApiError::bad_request(format!(
                "order: {other:?} is not asc or desc"
            )));
        }
    };
    let labels = params
        .label
        .as_deref()
        .filter(|text| !text.is_empty())
        .map(super::admin::label_filter)
        .transpose()?
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let (limit, offset) = page::<usize>(params.limit, params.cursor.as_deref())?;
    let query = OverviewQuery {
        status: params.status,
        os: params.os.filter(|os| !os.is_empty()),
        labels,
        search: params.q.filter(|q| !q.trim().is_empty()),
        sort,
        descending,
        offset: offset.unwrap_or(0),
        limit,
    };
    let overview = overview(&state.store, &query, Utc::now()).await?;
    let next_cursor = overview.next_offset.map(|offset| cursor_of(&offset));
    Ok(Json(OverviewPage {
        overview,
        next_cursor,
    }))
}

/// The overview with the cursor of the next page of its table.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub(super) struct OverviewPage {
    #[serde(flatten)]
    overview: Overview,
    next_cursor: Option<String>,
}
