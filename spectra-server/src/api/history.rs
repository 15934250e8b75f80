//! History: snapshots (time travel), growth, and metric series.

use std::collections::BTreeMap;

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{ApiError, AppState, parse_time};
use crate::auth::Viewer;
use crate::maintenance::{ROLLUP_1H, ROLLUP_5M};
use crate::series::{Aggregate, Buckets, add_to_buckets};
use crate::store::millis;

/// Points a metric query returns when no step is given.
const DEFAULT_POINTS: i64 = 300;
/// Most points a query may ask for per field.
const MAX_POINTS: i64 = 10_000;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/snapshots", get(list_snapshots))
        .route("/api/v1/snapshots/{id}", get(get_snapshot))
        .route("/api/v1/growth", get(growth))
        .route("/api/v1/metrics/query", get(query_metrics))
        .route("/api/v1/agents/{id}/latest", get(latest))
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct SnapshotParams {
    agent: Option<String>,
    root: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

fn range(
    from: Option<&str>,
    to: Option<&str>,
    default_span: chrono::Duration,
) -> Result<(DateTime<Utc>, DateTime<Utc>), ApiError> {
    let now = Utc::now();
    let to = to.map_or(Ok(now), |t| parse_time("to", t, now))?;
    let from = from.map_or(Ok(to - default_span), |f| parse_time("from", f, now))?;
    if from > to {
        return Err(ApiError::bad_request(format!(
            "from ({from}) is after to ({to})"
        )));
    }
    Ok((from, to))
}

/// Snapshot summaries in a time range (default: the last 30 days), oldest first.
async fn list_snapshots(
    State(state): State<AppState>,
    _: Viewer,
    params: Result<Query<SnapshotParams>, QueryRejection>,
) -> Result<Json<SnapshotList>, ApiError> {
    let Query(params) = params?;
    let (from, to) = range(
        params.from.as_deref(),
        params.to.as_deref(),
        chrono::Duration::days(30),
    )?;
    let snapshots = state
        .store
        .snapshots(
            params.agent.as_deref(),
            params.root.as_deref(),
            millis(from),
            millis(to).saturating_add(1),
        )
        .await?;
    Ok(Json(SnapshotList {
        from,
        to,
        snapshots,
    }))
}

/// Snapshot summaries in a range, oldest first.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub(super) struct SnapshotList {
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    snapshots: Vec<crate::store::SnapshotSummary>,
}

/// One snapshot with its whole report: what the tree looked like then.
async fn get_snapshot(
    State(state): State<AppState>,
    _: Viewer,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Path(id) = id?;
    let (summary, report) = state
        .store
        .snapshot(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no snapshot {id}")))?;
    let mut body = serde_json::to_value(summary).unwrap_or_default();
    body["report"] = report;
    Ok(Json(body))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GrowthParams {
    /// An agent's snapshots …
    agent: Option<String>,
    root: Option<String>,
    /// … or a backend of the file index.
    backend: Option<String>,
    /// How far back, e.g. `30d` (the default).
    period: Option<String>,
}

/// Size and file count of each root over `period`, with growth per day.
async fn growth(
    State(state): State<AppState>,
    _: Viewer,
    params: Result<Query<GrowthParams>, QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Query(params) = params?;
    let period = super::governance::growth_period(params.period.as_deref())?;
    // The period as asked, or core's default in days.
    let period_text = params
        .period
        .clone()
        .unwrap_or_else(|| format!("{}d", period.num_days()));
    let now = Utc::now();
    let (agent, backend) = match (params.agent, params.backend) {
        (Some(agent), None) => (agent, None),
        (None, Some(backend)) => (String::new(), Some(backend)),
        _ => {
            return Err(ApiError::bad_request(
                "agent or backend: give one of them (an agent's snapshots, or a backend of the \
                 file index)",
            ));
        }
    };
    if let Some(backend) = backend {
        let days = state.store.index_growth(&backend, now - period).await?;
        if days.is_empty()
            && !state
                .store
                .index_backends()
                .await?
                .iter()
                .any(|b| b.name == backend)
        {
            return Err(ApiError::not_found(format!("no backend {backend:?}")));
        }
        let points: Vec<_> = days
            .iter()
            .map(|(day, totals)| {
                json!({
                    "day": day,
                    "files": totals.files,
                    "apparent_bytes": totals.apparent_bytes,
                    "disk_bytes": totals.disk_bytes,
                })
            })
            .collect();
        return Ok(Json(json!({
            "backend": backend,
            "period": period_text,
            "points": points,
        })));
    }
    super::admin::find_agent(&state, &agent).await?;
    let series =
        crate::governance::growth(&state.store, &agent, params.root.as_deref(), period, now)
            .await?;
    Ok(Json(json!({
        "agent": agent,
        "period": period_text,
        "series": series,
    })))
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct MetricQuery {
    agent: String,
    #[serde(rename = "type")]
    kind: String,
    from: Option<String>,
    to: Option<String>,
    /// Bucket width, e.g. `60s`, `5m`, `1h`; default: the range in about 300 points.
    step: Option<String>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub(super) struct Point {
    t: DateTime<Utc>,
    mean: f64,
    min: f64,
    max: f64,
    samples: i64,
}

/// A metric's numeric fields over time, bucketed by `step`. Steps of 5 minutes or more read
/// the rollups (1-hour ones for steps of an hour or more), and so do ranges reaching past raw
/// retention; the not yet rolled-up tail of such a range comes from raw rows.
async fn query_metrics(
    State(state): State<AppState>,
    _: Viewer,
    params: Result<Query<MetricQuery>, QueryRejection>,
) -> Result<Json<MetricHistory>, ApiError> {
    let Query(params) = params?;
    super::admin::find_agent(&state, &params.agent).await?;
    let (from, to) = range(
        params.from.as_deref(),
        params.to.as_deref(),
        chrono::Duration::hours(1),
    )?;
    let (from_ms, to_ms) = (millis(from), millis(to).saturating_add(1));
    let span_ms = (to_ms - from_ms).max(1);
    let mut step_ms = match &params.step {
        Some(text) => {
            let step = spectra_core::units::parse_duration(text)
                .map_err(|e| ApiError::bad_request(format!("step: {e}")))?;
            i64::try_from(step.as_millis()).unwrap_or(i64::MAX)
        }
        None => (span_ms / DEFAULT_POINTS).max(1000),
    };
    if step_ms < 1000 {
        return Err(ApiError::bad_request("step: must be at least 1s"));
    }
    let raw_horizon = millis(Utc::now())
        - i64::try_from(state.config.retention.raw.as_millis()).unwrap_or(i64::MAX);
    let resolution = if step_ms >= ROLLUP_1H * 1000 {
        Some(ROLLUP_1H)
    } else if step_ms >= ROLLUP_5M * 1000 || from_ms < raw_horizon {
        Some(ROLLUP_5M)
    } else {
        None
    };
    if let Some(resolution) = resolution {
        step_ms = step_ms.max(resolution * 1000);
    }
    if span_ms / step_ms > MAX_POINTS {
        return Err(ApiError::bad_request(format!(
            "step: {} points per field is more than the limit of {MAX_POINTS}; use a larger step",
            span_ms / step_ms
        )));
    }
    let mut buckets = Buckets::new();
    let mut raw_from = from_ms;
    if let Some(resolution) = resolution {
        let done_until = state
            .store
            .rollup_progress(resolution)
            .await?
            .unwrap_or(from_ms)
            .clamp(from_ms, to_ms);
        for rollup in state
            .store
            .rollups_between(&params.agent, &params.kind, resolution, from_ms, done_until)
            .await?
        {
            let bucket = rollup.bucket.div_euclid(step_ms) * step_ms;
            let aggregate = Aggregate {
                samples: rollup.samples,
                total: rollup.total,
                low: rollup.low,
                high: rollup.high,
            };
            buckets
                .entry((rollup.field, bucket))
                .and_modify(|a| a.merge(aggregate))
                .or_insert(aggregate);
        }
        raw_from = done_until;
    }
    for row in state
        .store
        .metrics_between(Some(&params.agent), Some(&params.kind), raw_from, to_ms)
        .await?
    {
        if let Ok(data) = serde_json::from_str(&row.data) {
            add_to_buckets(&mut buckets, &data, row.ts, step_ms);
        }
    }
    let mut series: BTreeMap<String, Vec<Point>> = BTreeMap::new();
    for ((field, bucket), aggregate) in buckets {
        series.entry(field).or_default().push(Point {
            t: crate::store::from_millis(bucket),
            mean: aggregate.mean(),
            min: aggregate.low,
            max: aggregate.high,
            samples: aggregate.samples,
        });
    }
    let series = series
        .into_iter()
        .map(|(field, points)| MetricSeries {
            // Each series with its unit from core's schema (null for a field it does not know).
            unit: spectra_core::metrics::field_of_series(&params.kind, &field)
                .map(|known| known.unit),
            field,
            points,
        })
        .collect();
    Ok(Json(MetricHistory {
        agent: params.agent,
        kind: params.kind,
        from,
        to,
        step_secs: step_ms as f64 / 1000.0,
        source: match resolution {
            None => "raw",
            Some(ROLLUP_5M) => "rollup_5m",
            Some(_) => "rollup_1h",
        },
        series,
    }))
}

/// A metric's fields over a range, bucketed.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub(super) struct MetricHistory {
    agent: String,
    #[serde(rename = "type")]
    kind: String,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    step_secs: f64,
    /// `raw`, `rollup_5m` or `rollup_1h`: where the points came from.
    source: &'static str,
    series: Vec<MetricSeries>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub(super) struct MetricSeries {
    /// The field's key, with its labels: `usage_percent{mount_point="/"}`.
    field: String,
    unit: Option<spectra_core::metrics::Unit>,
    points: Vec<Point>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct LatestParams {
    #[serde(rename = "type")]
    kind: String,
}

/// The newest envelope of each series of one kind from one agent: what its processes,
/// services, containers and applications tabs show.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub(super) struct Latest {
    #[serde(rename = "type")]
    kind: String,
    items: Vec<LatestEnvelope>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub(super) struct LatestEnvelope {
    at: DateTime<Utc>,
    /// The envelope's data as the agent sent it (see the metric schema for its fields).
    data: serde_json::Value,
}

async fn latest(
    State(state): State<AppState>,
    _: Viewer,
    id: Result<Path<String>, PathRejection>,
    params: Result<Query<LatestParams>, QueryRejection>,
) -> Result<Json<Latest>, ApiError> {
    let Path(id) = id?;
    let Query(params) = params?;
    super::admin::find_agent(&state, &id).await?;
    if !spectra_core::metrics::kinds().contains(&params.kind.as_str()) {
        return Err(ApiError::bad_request(format!(
            "type: {:?} is not one of {}",
            params.kind,
            spectra_core::metrics::kinds().join(", ")
        )));
    }
    let items = state
        .store
        .latest_metrics_of_agent(&id, &params.kind)
        .await?
        .into_iter()
        .filter_map(|row| {
            Some(LatestEnvelope {
                at: crate::store::from_millis(row.ts),
                data: serde_json::from_str(&row.data).ok()?,
            })
        })
        .collect();
    Ok(Json(Latest {
        kind: params.kind,
        items,
    }))
}
