//! What agents call: enroll, heartbeat, upload metrics and snapshots, read policies, poll for
//! commands and report their results.

use std::time::Duration;

use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::json;
use spectra_core::protocol::{
    self, Command, CommandResult, Compression, Limits, Registration, Snapshot,
};

use super::{ApiError, AppState, ConnectInfoOpt, legacy, read_body};
use crate::auth::{self, ApprovedAgent, EnrolledAgent, Role};
use crate::store::{Enrollment, Finished, Ingested, LEGACY_MACHINE_PREFIX};

/// The longest a command poll waits.
pub const MAX_POLL: Duration = Duration::from_secs(30);

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/agent/register", post(register))
        .route("/api/v1/agent/heartbeat", post(heartbeat))
        .route("/api/v1/metrics", post(metrics))
        .route("/api/v1/ingest", post(ingest))
        .route("/api/v1/agent/plans", post(plan_report))
        .route("/api/v1/agent/command", get(next_command))
        .route("/api/v1/agent/command_result", post(command_result))
}

#[derive(Debug, Serialize)]
struct Enrolled {
    agent_id: String,
    agent_token: String,
    /// `approved`, or `pending` until an admin approves the agent.
    status: &'static str,
}

/// Enrolls an agent with the enrollment token (and, on re-enrollment, its current agent
/// token as proof); or, from a `--legacy-agents` network, registers a Go agent by hostname.
async fn register(
    State(state): State<AppState>,
    ConnectInfoOpt(addr): ConnectInfoOpt,
    body: Body,
) -> Result<Response, ApiError> {
    let bytes = read_body(body, state.config.limits.max_body_bytes, "registration").await?;
    let limits = decode_limits(&state);
    let value: serde_json::Value =
        protocol::decode("registration", &bytes, Compression::sniff(&bytes), &limits)?;
    if !value.is_object() {
        return Err(ApiError::invalid_data(format!(
            "registration: expected a JSON object, got {}",
            json_kind(&value)
        )));
    }
    if value.get("enrollment_token").is_none() {
        return legacy::register(&state, addr, &value).await;
    }
    let registration: Registration = serde_json::from_value(value)
        .map_err(|e| ApiError::invalid_data(format!("registration: {e}")))?;
    let Some(expected) = &state.config.enrollment_token else {
        return Err(ApiError::forbidden(
            "enrollment is closed: the server has no enrollment token set",
        ));
    };
    if !auth::secrets_match(&registration.enrollment_token, expected) {
        let error = ApiError::unauthorized("wrong enrollment token");
        return Err(auth::failed(&state, None, addr, error).await);
    }
    registration.agent.validate()?;
    if registration
        .agent
        .machine_id
        .as_deref()
        .is_some_and(|id| id.starts_with(LEGACY_MACHINE_PREFIX))
    {
        return Err(ApiError::bad_request(format!(
            "machine_id: the prefix {LEGACY_MACHINE_PREFIX:?} is reserved for legacy Go agents"
        )));
    }
    let proven_id = match &registration.agent_token {
        Some(token) => Some(auth::agent_of_token(&state, token, addr).await?),
        None => None,
    };
    let proof = match &proven_id {
        Some(id) => Enrollment::Proven(id),
        None => Enrollment::Token,
    };
    let actor = match (&proven_id, addr) {
        (Some(_), _) => "agent token".to_owned(),
        (None, Some(addr)) => format!("enrollment token from {addr}"),
        (None, None) => "enrollment token".to_owned(),
    };
    let now = Utc::now();
    let issued = auth::issue(Role::Agent, &registration.agent.hostname, now)?;
    let (agent, _) = state
        .store
        .enroll(
            &registration.agent,
            state.config.approval,
            proof,
            &actor,
            issued.record,
            now,
        )
        .await?;
    tracing::info!(agent_id = %agent.id, hostname = %agent.hostname, approved = agent.approved,
                   proven = proven_id.is_some(), "agent enrolled");
    Ok((
        StatusCode::CREATED,
        Json(Enrolled {
            agent_id: agent.id,
            agent_token: issued.token,
            status: if agent.approved {
                "approved"
            } else {
                "pending"
            },
        }),
    )
        .into_response())
}

/// What kind of JSON value `value` is, for an error that says what was sent instead.
fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

async fn heartbeat(
    State(state): State<AppState>,
    EnrolledAgent(agent): EnrolledAgent,
) -> Result<Json<serde_json::Value>, ApiError> {
    let now = Utc::now();
    state.store.heartbeat(&agent.id, now).await?;
    Ok(Json(json!({
        "agent_id": agent.id,
        "status": if agent.approved { "approved" } else { "pending" },
        "server_time": now,
    })))
}

pub(super) fn decode_limits(state: &AppState) -> Limits {
    let limits = &state.config.limits;
    Limits {
        max_body_bytes: limits.max_body_bytes,
        max_decoded_bytes: limits.max_decoded_bytes,
        max_envelopes: limits.max_envelopes,
        ..Limits::default()
    }
}

/// The outcome of an upload, as the agent sees it. `stored` is the answer's body, which holds
/// the upload's id under `id_field`.
fn acknowledge(
    outcome: Ingested,
    stored: serde_json::Value,
    id_field: &str,
) -> Result<Response, ApiError> {
    match outcome {
        Ingested::Stored => Ok((StatusCode::OK, Json(stored)).into_response()),
        Ingested::Duplicate => {
            let mut body = stored;
            body["duplicate"] = json!(true);
            Ok((StatusCode::OK, Json(body)).into_response())
        }
        Ingested::RateLimited { retry_after_secs } => Err(ApiError::rate_limited(retry_after_secs)),
        Ingested::Conflict => Err(ApiError::conflict(format!(
            "{id_field} {} was already used for other content; nothing was stored (send new \
             content under a new id)",
            stored[id_field]
        ))),
    }
}

/// A metric batch: gzip or plain JSON, a `MetricBatch` or the Go agent's bare envelopes.
async fn metrics(
    State(state): State<AppState>,
    legacy::Sender(agent): legacy::Sender,
    body: Body,
) -> Result<Response, ApiError> {
    let limits = decode_limits(&state);
    let bytes = read_body(body, limits.max_body_bytes, "metric batch").await?;
    let batch = protocol::decode_metric_batch(&bytes, Compression::sniff(&bytes), &limits)?;
    if let Some(claimed) = &batch.agent_id
        && claimed != &agent.id
        && !state.store.is_alias_of(claimed, &agent.id).await?
    {
        // A conflict, not a refusal of the token: this batch can never be stored, and an agent
        // that enrolled again under a new id (its old one deleted) drops what it spooled
        // under the old one rather than retrying it forever.
        return Err(ApiError::conflict(format!(
            "the batch names agent {claimed}, but the token is agent {}'s; it can never be \
             stored under this token",
            agent.id
        )));
    }
    let stored = json!({"batch_id": batch.batch_id, "accepted": batch.envelopes.len()});
    let outcome = state
        .store
        .ingest_batch(
            &(&agent).into(),
            batch,
            Utc::now(),
            state.config.limits.agent_requests_per_minute,
        )
        .await?;
    acknowledge(outcome, stored, "batch_id")
}

/// A scan snapshot (gzip or plain JSON).
async fn ingest(
    State(state): State<AppState>,
    ApprovedAgent(agent): ApprovedAgent,
    body: Body,
) -> Result<Response, ApiError> {
    let limits = decode_limits(&state);
    let bytes = read_body(body, limits.max_body_bytes, "snapshot").await?;
    let snapshot: Snapshot =
        protocol::decode("snapshot", &bytes, Compression::sniff(&bytes), &limits)?;
    snapshot.validate()?;
    let outcome = state
        .store
        .ingest_snapshot(
            &(&agent).into(),
            &snapshot,
            Utc::now(),
            state.config.limits.agent_requests_per_minute,
        )
        .await?;
    if outcome == Ingested::Stored {
        super::governance::evaluate_quotas_after_upload(&state).await;
    }
    acknowledge(
        outcome,
        json!({"snapshot_id": snapshot.snapshot_id}),
        "snapshot_id",
    )
}

/// What an agent's policy loop planned (and enforced, where its configuration allows).
async fn plan_report(
    State(state): State<AppState>,
    ApprovedAgent(agent): ApprovedAgent,
    body: Body,
) -> Result<Json<serde_json::Value>, ApiError> {
    let limits = decode_limits(&state);
    let bytes = read_body(body, limits.max_body_bytes, "plan report").await?;
    let report: spectra_core::protocol::PlanReport =
        protocol::decode("plan report", &bytes, Compression::sniff(&bytes), &limits)?;
    report.validate()?;
    let new = state
        .store
        .record_plan(&agent.id, &report, Utc::now())
        .await?;
    Ok(Json(json!({"plan_id": report.plan_id, "duplicate": !new})))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PollParams {
    /// Seconds to wait for a command, 0–30 (default 30).
    wait: Option<u64>,
    /// A legacy Go agent's name (read by [`legacy::Poller`]; ignored with a token).
    #[allow(dead_code)]
    hostname: Option<String>,
}

/// The next queued command, waiting up to `wait` seconds for one; 204 when none came.
async fn next_command(
    State(state): State<AppState>,
    legacy::Poller(agent): legacy::Poller,
    params: Result<Query<PollParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(params) = params?;
    let wait = Duration::from_secs(params.wait.unwrap_or(MAX_POLL.as_secs())).min(MAX_POLL);
    if !agent.approved {
        // A pending agent may poll, but gets nothing until approved.
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = state.shutdown.cancelled() => {}
        }
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let command = state
        .store
        .next_command(&agent.id, wait, &state.shutdown)
        .await?;
    Ok(match command {
        Some(record) if agent.legacy => Json(legacy::command(&record)).into_response(),
        Some(record) => Json(Command {
            command_id: record.id,
            diagnostic: record.diagnostic,
            issued_at: record.created_at,
        })
        .into_response(),
        None => StatusCode::NO_CONTENT.into_response(),
    })
}

/// A command's result: `CommandResult` JSON, gzip-compressed or plain (the Go agent's
/// `{id, type, payload, error}` from a legacy agent).
async fn command_result(
    State(state): State<AppState>,
    legacy::Sender(agent): legacy::Sender,
    body: Body,
) -> Result<Json<serde_json::Value>, ApiError> {
    auth::mark_alive(&state, &agent).await?;
    let limits = decode_limits(&state);
    let bytes = read_body(body, limits.max_body_bytes, "command result").await?;
    let compression = Compression::sniff(&bytes);
    let result: CommandResult = if agent.legacy {
        legacy::result(protocol::decode(
            "command result",
            &bytes,
            compression,
            &limits,
        )?)
    } else {
        protocol::decode("command result", &bytes, compression, &limits)?
    };
    match state
        .store
        .finish_command(&agent.id, &result, Utc::now())
        .await?
    {
        Finished::Stored => Ok(Json(
            json!({"command_id": result.command_id, "stored": true}),
        )),
        Finished::Unknown => Err(ApiError::not_found(format!(
            "agent {} has no command {}",
            agent.id, result.command_id
        ))),
        Finished::NotRunning(status) => Err(ApiError::conflict(format!(
            "command {} is {}, not running: its result was not stored",
            result.command_id,
            serde_json::to_value(status).unwrap_or_default()
        ))),
    }
}
