//! What admins and operators call: the agent inventory, commands, tokens, and the Go agent's
//! `/admin/trigger_*` aliases.

use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use spectra_core::diagnose::Severity;
use spectra_core::protocol::Diagnostic;

use super::{ApiError, AppState};
use crate::auth::{self, Admin, Operator, Role, User, Viewer};
use crate::store::{AgentRecord, CommandRecord};

/// Heartbeats within this make an agent `online`.
pub const ONLINE_WITHIN: chrono::Duration = chrono::Duration::seconds(90);
/// Beyond `online`, heartbeats within this make it `stale` (missed a few; may come back);
/// older, or none at all, is `offline`.
pub const STALE_WITHIN: chrono::Duration = chrono::Duration::minutes(15);

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/agents", get(list_agents))
        .route("/api/v1/agents/{id}", get(get_agent).delete(delete_agent))
        .route("/api/v1/agents/{id}/approve", post(approve_agent))
        .route("/api/v1/agents/{id}/commands", post(queue_command))
        .route("/api/v1/commands/{id}", get(get_command))
        .route("/api/v1/tokens", get(list_tokens).post(create_token))
        .route("/api/v1/tokens/{id}", axum::routing::delete(delete_token))
        .route("/admin/trigger_logs", post(trigger_logs))
        .route("/admin/trigger_disk", post(trigger_disk))
        .route("/admin/trigger_network", post(trigger_network))
}

#[derive(Debug, Serialize)]
struct AgentView {
    #[serde(flatten)]
    agent: AgentRecord,
    /// `online`, `stale` or `offline`, by the last heartbeat.
    status: &'static str,
    /// `approved` or `pending`.
    approval: &'static str,
}

fn view(agent: AgentRecord, now: DateTime<Utc>) -> AgentView {
    let status = match agent.last_seen.map(|seen| now - seen) {
        Some(age) if age <= ONLINE_WITHIN => "online",
        Some(age) if age <= STALE_WITHIN => "stale",
        _ => "offline",
    };
    let approval = if agent.approved {
        "approved"
    } else {
        "pending"
    };
    AgentView {
        agent,
        status,
        approval,
    }
}

async fn list_agents(
    State(state): State<AppState>,
    _: Viewer,
) -> Result<Json<serde_json::Value>, ApiError> {
    let now = Utc::now();
    let agents: Vec<AgentView> = state
        .store
        .agents()
        .await?
        .into_iter()
        .map(|agent| view(agent, now))
        .collect();
    Ok(Json(json!({ "agents": agents })))
}

pub(super) async fn find_agent(state: &AppState, id: &str) -> Result<AgentRecord, ApiError> {
    state
        .store
        .agent(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no agent {id}")))
}

async fn get_agent(
    State(state): State<AppState>,
    _: Viewer,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<AgentView>, ApiError> {
    let Path(id) = id?;
    Ok(Json(view(find_agent(&state, &id).await?, Utc::now())))
}

async fn delete_agent(
    State(state): State<AppState>,
    User(caller): Admin,
    id: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    let Path(id) = id?;
    if !state.store.delete_agent(&id).await? {
        return Err(ApiError::not_found(format!("no agent {id}")));
    }
    tracing::info!(agent_id = %id, by = %caller.label(), "agent deregistered");
    Ok(StatusCode::NO_CONTENT)
}

async fn approve_agent(
    State(state): State<AppState>,
    User(caller): Admin,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<AgentView>, ApiError> {
    let Path(id) = id?;
    if !state.store.approve_agent(&id).await? {
        return Err(ApiError::not_found(format!("no agent {id}")));
    }
    tracing::info!(agent_id = %id, by = %caller.label(), "agent approved");
    Ok(Json(view(find_agent(&state, &id).await?, Utc::now())))
}

async fn queue(
    state: &AppState,
    caller: &auth::Caller,
    agent_id: &str,
    diagnostic: Diagnostic,
) -> Result<(StatusCode, Json<CommandRecord>), ApiError> {
    diagnostic.validate()?;
    let agent = find_agent(state, agent_id).await?;
    if !agent.approved {
        return Err(ApiError::conflict(format!(
            "agent {agent_id} is pending approval; approve it before sending commands"
        )));
    }
    let record = state
        .store
        .queue_command(agent_id, &diagnostic, &caller.label(), Utc::now())
        .await?;
    tracing::info!(command_id = %record.id, agent_id, kind = diagnostic.kind(), "command queued");
    Ok((StatusCode::ACCEPTED, Json(record)))
}

/// Queues a diagnostic (`{"kind": "ping", "args": {"host": "…"}}`) for an agent.
async fn queue_command(
    State(state): State<AppState>,
    User(caller): Operator,
    id: Result<Path<String>, PathRejection>,
    body: Result<Json<Diagnostic>, JsonRejection>,
) -> Result<(StatusCode, Json<CommandRecord>), ApiError> {
    let Path(id) = id?;
    let Json(diagnostic) = body?;
    queue(&state, &caller, &id, diagnostic).await
}

async fn get_command(
    State(state): State<AppState>,
    _: Viewer,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<CommandRecord>, ApiError> {
    let Path(id) = id?;
    state
        .store
        .command(&id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no command {id}")))
}

/// The Go agent's trigger bodies: the agent, plus the trigger's own optional arguments.
#[derive(Debug, Deserialize)]
pub(super) struct Trigger {
    agent_id: String,
    #[serde(default)]
    lines: Option<usize>,
    #[serde(default)]
    severity: Option<Severity>,
    #[serde(default)]
    path: Option<std::path::PathBuf>,
    #[serde(default)]
    host: Option<String>,
}

/// `/admin/trigger_logs`: the agent's recent logs (`lines`, `severity`).
pub(super) async fn trigger_logs(
    State(state): State<AppState>,
    User(caller): Operator,
    body: Result<Json<Trigger>, JsonRejection>,
) -> Result<(StatusCode, Json<CommandRecord>), ApiError> {
    let Json(trigger) = body?;
    let diagnostic = Diagnostic::Logs {
        severity: trigger.severity.unwrap_or(Severity::Warning),
        lines: trigger.lines.unwrap_or(200),
    };
    queue(&state, &caller, &trigger.agent_id, diagnostic).await
}

/// `/admin/trigger_disk`: what fills `path` (default `/`).
pub(super) async fn trigger_disk(
    State(state): State<AppState>,
    User(caller): Operator,
    body: Result<Json<Trigger>, JsonRejection>,
) -> Result<(StatusCode, Json<CommandRecord>), ApiError> {
    let Json(trigger) = body?;
    let diagnostic = Diagnostic::DiskUsage {
        path: trigger.path.unwrap_or_else(|| "/".into()),
        top: 20,
    };
    queue(&state, &caller, &trigger.agent_id, diagnostic).await
}

/// `/admin/trigger_network`: a ping of `host` when one is given, else the agent's sockets.
pub(super) async fn trigger_network(
    State(state): State<AppState>,
    User(caller): Operator,
    body: Result<Json<Trigger>, JsonRejection>,
) -> Result<(StatusCode, Json<CommandRecord>), ApiError> {
    let Json(trigger) = body?;
    let diagnostic = match trigger.host {
        Some(host) => Diagnostic::Ping { host, count: 4 },
        None => Diagnostic::Netstat,
    };
    queue(&state, &caller, &trigger.agent_id, diagnostic).await
}

#[derive(Debug, Deserialize)]
struct NewToken {
    role: String,
    #[serde(default)]
    name: String,
}

async fn create_token(
    State(state): State<AppState>,
    User(caller): Admin,
    body: Result<Json<NewToken>, JsonRejection>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let Json(request) = body?;
    let role: Role = request.role.parse().map_err(ApiError::bad_request)?;
    if role == Role::Agent {
        return Err(ApiError::bad_request(
            "agent tokens come from enrollment, not from this endpoint",
        ));
    }
    let issued = auth::issue(role, &request.name, Utc::now())?;
    state.store.insert_token(&issued.record).await?;
    tracing::info!(token_id = %issued.record.id, %role, by = %caller.label(), "token created");
    Ok((
        StatusCode::CREATED,
        Json(json!({"token": issued.token, "record": issued.record})),
    ))
}

async fn list_tokens(
    State(state): State<AppState>,
    _: Admin,
) -> Result<Json<serde_json::Value>, ApiError> {
    Ok(Json(json!({ "tokens": state.store.tokens().await? })))
}

async fn delete_token(
    State(state): State<AppState>,
    User(caller): Admin,
    id: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    let Path(id) = id?;
    if !state.store.delete_token(&id).await? {
        return Err(ApiError::not_found(format!("no token {id}")));
    }
    tracing::info!(token_id = %id, by = %caller.label(), "token revoked");
    Ok(StatusCode::NO_CONTENT)
}
