//! Storage quotas: a limit per user (`user:NAME`) or per scanned root (`root:PATH`), and how
//! much of it the newest snapshots show in use. Admins set them; viewers read them.

use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::json;
use spectra_core::scan::ScanReport;

use super::{ApiError, AppState};
use crate::auth::{Admin, User, Viewer};
use crate::store::{QuotaRecord, SnapshotSummary};

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/quotas", get(list)).route(
        "/api/v1/quotas/{*subject}",
        get(read).put(set).delete(remove),
    )
}

/// What a quota limits, parsed from its subject.
enum Subject<'a> {
    User(&'a str),
    Root(&'a str),
}

fn parse(subject: &str) -> Result<Subject<'_>, ApiError> {
    let bad = || {
        ApiError::bad_request(format!(
            "quota subject {subject:?}: expected user:NAME or root:PATH"
        ))
    };
    match subject.split_once(':') {
        Some(("user", name))
            if !name.is_empty() && name.len() <= 256 && !name.chars().any(char::is_control) =>
        {
            Ok(Subject::User(name))
        }
        Some(("user", _)) => Err(ApiError::bad_request(format!(
            "quota subject {subject:?}: a user name is 1 to 256 characters, none a control \
             character"
        ))),
        Some(("root", path)) => {
            spectra_core::protocol::check_path("quota subject root", path.as_bytes())?;
            Ok(Subject::Root(path))
        }
        _ => Err(bad()),
    }
}

#[derive(Debug, Serialize)]
struct QuotaView {
    #[serde(flatten)]
    quota: QuotaRecord,
    /// On-disk bytes in the newest snapshot of every agent and root.
    used_bytes: u64,
    used_percent: f64,
    over: bool,
}

/// The newest snapshots, decoded once for every quota of a request.
struct Usage(Vec<(SnapshotSummary, ScanReport)>);

impl Usage {
    async fn load(state: &AppState) -> Result<Usage, ApiError> {
        let latest = state.store.latest_snapshots().await?;
        Ok(Usage(
            latest
                .into_iter()
                .filter_map(|(summary, report)| {
                    serde_json::from_value(report).ok().map(|r| (summary, r))
                })
                .collect(),
        ))
    }

    fn of(&self, subject: &Subject<'_>) -> u64 {
        match subject {
            Subject::User(name) => self
                .0
                .iter()
                .flat_map(|(_, report)| &report.owners)
                .filter(|owner| {
                    owner.user.as_deref() == Some(*name) || owner.uid.to_string() == *name
                })
                .map(|owner| owner.bytes)
                .sum(),
            Subject::Root(path) => self
                .0
                .iter()
                .filter(|(summary, _)| summary.root == *path)
                .map(|(summary, _)| u64::try_from(summary.disk_bytes).unwrap_or(0))
                .sum(),
        }
    }

    fn view(&self, quota: QuotaRecord) -> QuotaView {
        let used_bytes = parse(&quota.subject).map_or(0, |subject| self.of(&subject));
        let limit = quota.limit_bytes.max(0) as f64;
        QuotaView {
            used_percent: if limit > 0.0 {
                used_bytes as f64 / limit * 100.0
            } else {
                100.0
            },
            over: used_bytes as f64 > limit,
            used_bytes,
            quota,
        }
    }
}

async fn list(
    State(state): State<AppState>,
    _: Viewer,
) -> Result<Json<serde_json::Value>, ApiError> {
    let usage = Usage::load(&state).await?;
    let quotas: Vec<QuotaView> = state
        .store
        .quotas()
        .await?
        .into_iter()
        .map(|quota| usage.view(quota))
        .collect();
    Ok(Json(json!({ "quotas": quotas })))
}

async fn find(state: &AppState, subject: &str) -> Result<QuotaView, ApiError> {
    let quota = state
        .store
        .quotas()
        .await?
        .into_iter()
        .find(|q| q.subject == subject)
        .ok_or_else(|| ApiError::not_found(format!("no quota for {subject:?}")))?;
    Ok(Usage::load(state).await?.view(quota))
}

async fn read(
    State(state): State<AppState>,
    _: Viewer,
    subject: Result<Path<String>, PathRejection>,
) -> Result<Json<QuotaView>, ApiError> {
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
) -> Result<Json<QuotaView>, ApiError> {
    let Path(subject) = subject?;
    let Json(limit) = body?;
    parse(&subject)?;
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
