//! The old Go agent, unchanged, as a migration path: off unless `--legacy-agents` lists the
//! networks it may come from.
//!
//! A Go agent has no credentials. It registers with a description and no enrollment token,
//! sends `?hostname=H` with every request, uploads gzip arrays of envelopes, polls
//! `GET /api/v1/agent/command?hostname=H` for `{id, type, payload}` (`payload` base64 of
//! JSON; types `FETCH_LOGS`, `DISK_USAGE`, `LIST_MOUNTS`, `NETWORK_DIAG`) and posts gzip
//! `{id, type, payload, error}` results. From a listed network such a request is taken as the
//! legacy agent of that hostname — shown as `legacy` in the inventory, limited to those four
//! endpoints and to the diagnostics the Go agent runs. Anywhere else it is a 401 that says
//! how to enable the mode.

use std::net::IpAddr;

use axum::Json;
use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};
use spectra_core::diagnose::Severity;
use spectra_core::protocol::{AgentInfo, CommandOutcome, CommandResult, Diagnostic};
use uuid::Uuid;

use super::{ApiError, AppState};
use crate::auth::{self, ApprovedAgent, EnrolledAgent};
use crate::store::{AgentRecord, CommandRecord};

/// What a request without a token hears when legacy mode does not admit it.
fn not_admitted(addr: Option<IpAddr>) -> ApiError {
    let from = addr.map_or_else(String::new, |a| format!(" ({a})"));
    ApiError::unauthorized(format!(
        "missing Authorization: Bearer token. Agents enroll with the enrollment token; old Go \
         agents, which have no token, are accepted only from networks the server lists in \
         --legacy-agents CIDR,... (SPECTRA_LEGACY_AGENTS), and this client's address{from} is \
         not in one"
    ))
}

fn admitted(state: &AppState, addr: Option<IpAddr>) -> bool {
    addr.is_some_and(|addr| {
        state
            .config
            .legacy_agents
            .iter()
            .any(|net| net.contains(addr))
    })
}

/// The legacy agent a token-less request stands for, by its `?hostname=`.
async fn legacy_caller(parts: &Parts, state: &AppState) -> Result<AgentRecord, ApiError> {
    let addr = auth::client_addr(parts);
    if !admitted(state, addr) {
        return Err(not_admitted(addr));
    }
    let query =
        axum::extract::Query::<std::collections::HashMap<String, String>>::try_from_uri(&parts.uri)
            .map_err(ApiError::from)?;
    let hostname =
        query.0.get("hostname").cloned().ok_or_else(|| {
            ApiError::bad_request("hostname: a legacy agent must send ?hostname=")
        })?;
    check_hostname(&hostname)?;
    let actor = format!(
        "legacy request from {}",
        addr.map_or_else(String::new, |a| a.to_string())
    );
    let agent = state
        .store
        .legacy_agent(&hostname, None, !state.config.approval, &actor, Utc::now())
        .await?;
    Ok(agent)
}

fn check_hostname(hostname: &str) -> Result<(), ApiError> {
    AgentInfo {
        hostname: hostname.to_owned(),
        os: String::new(),
        version: String::new(),
        capabilities: Vec::new(),
        labels: Default::default(),
        machine_id: None,
    }
    .validate()
    .map_err(ApiError::from)
}

/// An approved agent that may send data: a Spectra agent by its token, or a legacy agent.
#[derive(Debug, Clone)]
pub struct Sender(pub AgentRecord);

impl FromRequestParts<AppState> for Sender {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if parts.headers.contains_key(AUTHORIZATION) {
            let ApprovedAgent(agent) = ApprovedAgent::from_request_parts(parts, state).await?;
            return Ok(Sender(agent));
        }
        let agent = legacy_caller(parts, state).await?;
        if !agent.approved {
            return Err(ApiError::forbidden(format!(
                "legacy agent {} is pending approval by an admin",
                agent.id
            )));
        }
        Ok(Sender(agent))
    }
}

/// An agent that may poll for commands (pending ones wait and get nothing); polling is a
/// sign of life.
#[derive(Debug, Clone)]
pub struct Poller(pub AgentRecord);

impl FromRequestParts<AppState> for Poller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let agent = if parts.headers.contains_key(AUTHORIZATION) {
            EnrolledAgent::from_request_parts(parts, state).await?.0
        } else {
            legacy_caller(parts, state).await?
        };
        auth::mark_alive(state, &agent).await?;
        Ok(Poller(agent))
    }
}

/// The Go agent's registration: a description and no enrollment token. Answered 200 (it
/// ignores the body).
pub(super) async fn register(
    state: &AppState,
    addr: Option<IpAddr>,
    body: &Value,
) -> Result<Response, ApiError> {
    if !admitted(state, addr) {
        let error = not_admitted(addr);
        return Err(ApiError::unauthorized(format!(
            "registration without an enrollment token: {}",
            error.message()
        )));
    }
    let text = |field: &str| body.get(field).and_then(Value::as_str).unwrap_or_default();
    let hostname = text("hostname");
    check_hostname(hostname)?;
    let os = if text("platform").is_empty() {
        text("os").to_owned()
    } else {
        format!(
            "{} ({} {})",
            text("os"),
            text("platform"),
            text("platform_ver")
        )
    };
    let version = format!("go-agent {}", text("agent_version"));
    let actor = format!(
        "legacy registration from {}",
        addr.map_or_else(String::new, |a| a.to_string())
    );
    let agent = state
        .store
        .legacy_agent(
            hostname,
            Some((&os, &version)),
            !state.config.approval,
            &actor,
            Utc::now(),
        )
        .await?;
    auth::mark_alive(state, &agent).await?;
    tracing::info!(agent_id = %agent.id, hostname, "legacy Go agent registered");
    Ok((
        StatusCode::OK,
        Json(json!({"agent_id": agent.id, "status": "legacy"})),
    )
        .into_response())
}

/// The Go agent's command type and payload for `diagnostic`, or `None` for what it cannot run.
pub fn go_form(diagnostic: &Diagnostic) -> Option<(&'static str, Value)> {
    Some(match diagnostic {
        Diagnostic::Logs { severity, lines } => (
            "FETCH_LOGS",
            json!({"min_level": go_level(*severity), "lines": lines}),
        ),
        Diagnostic::DiskUsage { path, top } => (
            "DISK_USAGE",
            json!({"path": path.to_string_lossy(), "top_n": top}),
        ),
        Diagnostic::Mounts => ("LIST_MOUNTS", json!({})),
        Diagnostic::Ping { host, count } => (
            "NETWORK_DIAG",
            json!({"action": "ping", "target": host, "count": count}),
        ),
        Diagnostic::TcpConnect { host, port } => {
            let target = if host.contains(':') {
                format!("[{host}]:{port}")
            } else {
                format!("{host}:{port}")
            };
            (
                "NETWORK_DIAG",
                json!({"action": "connect", "target": target}),
            )
        }
        Diagnostic::Traceroute { host, .. } => (
            "NETWORK_DIAG",
            json!({"action": "traceroute", "target": host}),
        ),
        Diagnostic::Netstat => ("NETWORK_DIAG", json!({"action": "netstat"})),
    })
}

fn go_level(severity: Severity) -> &'static str {
    match severity {
        Severity::Emergency => "EMERGENCY",
        Severity::Alert => "ALERT",
        Severity::Critical => "CRITICAL",
        Severity::Error => "ERROR",
        Severity::Warning => "WARNING",
        Severity::Notice => "NOTICE",
        Severity::Info => "INFO",
        Severity::Debug => "DEBUG",
    }
}

/// A queued command as the Go agent reads it: `payload` is base64 of JSON (its `[]byte`).
pub(super) fn command(record: &CommandRecord) -> Value {
    let (kind, payload) = go_form(&record.diagnostic).unwrap_or(("UNSUPPORTED", json!({})));
    let encoded = base64::engine::general_purpose::STANDARD.encode(payload.to_string());
    json!({"id": record.id, "type": kind, "payload": encoded})
}

/// The Go agent's command result.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct GoResult {
    id: Uuid,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    payload: Value,
    #[serde(default)]
    error: Option<String>,
}

/// The Go agent's result as a [`CommandResult`]: its `error`, when set, is the failure; the
/// payload is the output.
pub(super) fn result(go: GoResult) -> CommandResult {
    let outcome = match go.error.filter(|e| !e.is_empty()) {
        Some(message) => {
            CommandOutcome::Failed(spectra_core::ErrorBody::new("agent_error", message))
        }
        None => CommandOutcome::Succeeded {
            output: json!({"type": go.kind, "payload": go.payload}),
        },
    };
    CommandResult {
        command_id: go.id,
        outcome,
    }
}
