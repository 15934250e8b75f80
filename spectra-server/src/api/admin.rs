//! What admins and operators call: the agent inventory, commands, tokens, and the Go agent's
//! `/admin/trigger_*` aliases.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
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
use crate::store::{AgentRecord, CommandRecord, TokenRecord};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/agents", get(list_agents))
        .route("/api/v1/agents/{id}", get(get_agent).delete(delete_agent))
        .route("/api/v1/agents/{id}/approve", post(approve_agent))
        .route("/api/v1/agents/{id}/events", get(agent_events))
        .route("/api/v1/agents/{id}/commands", post(queue_command))
        .route("/api/v1/commands/{id}", get(get_command))
        .route("/api/v1/tokens", get(list_tokens).post(create_token))
        .route("/api/v1/tokens/{id}", axum::routing::delete(delete_token))
        .route("/admin/trigger_logs", post(trigger_logs))
        .route("/admin/trigger_disk", post(trigger_disk))
        .route("/admin/trigger_network", post(trigger_network))
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub(super) struct AgentView {
    #[serde(flatten)]
    agent: AgentRecord,
    /// `online`, `stale` or `offline`, by the last heartbeat.
    status: &'static str,
    /// `approved` or `pending`.
    approval: &'static str,
    /// False for legacy Go agents, which are known by hostname and carry no token.
    authenticated: bool,
    /// A request with one of its replaced tokens was refused within the last 15 minutes
    /// (`auth_failures`, `auth_failed_at` and `auth_failed_from` say more).
    auth_failing: bool,
}

fn view(agent: AgentRecord, now: DateTime<Utc>) -> AgentView {
    let status = crate::fleet::liveness(agent.last_seen, now);
    let approval = if agent.approved {
        "approved"
    } else {
        "pending"
    };
    AgentView {
        authenticated: !agent.legacy,
        auth_failing: crate::fleet::auth_failing(agent.auth_failed_at, now),
        agent,
        status,
        approval,
    }
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct AgentFilter {
    /// `key=value[,key=value…]`: agents carrying every one of these labels.
    label: Option<String>,
    limit: Option<usize>,
    cursor: Option<String>,
}

/// The `key=value` pairs of a label filter, each key checked as agents' keys are.
pub(super) fn label_filter(text: &str) -> Result<Vec<(&str, &str)>, ApiError> {
    text.split(',')
        .map(|pair| {
            let (key, value) = pair.split_once('=').ok_or_else(|| {
                ApiError::bad_request(format!("label: {pair:?} is not key=value"))
            })?;
            spectra_core::protocol::check_label_key(key)?;
            Ok((key, value))
        })
        .collect()
}

/// Agents in (hostname, id) order, a page at a time, filtered by labels in the database.
async fn list_agents(
    State(state): State<AppState>,
    _: Viewer,
    filter: Result<Query<AgentFilter>, QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Query(filter) = filter?;
    let wanted = filter
        .label
        .as_deref()
        .map(label_filter)
        .transpose()?
        .unwrap_or_default();
    let (limit, after) =
        super::governance::page::<(String, String)>(filter.limit, filter.cursor.as_deref())?;
    let agents = state
        .store
        .agents_page(&wanted, after.as_ref(), limit + 1)
        .await?;
    let (agents, next) = super::governance::one_page(agents, limit, |agent| {
        (agent.hostname.clone(), agent.id.clone())
    });
    let now = Utc::now();
    let items: Vec<AgentView> = agents.into_iter().map(|agent| view(agent, now)).collect();
    Ok(Json(json!({ "items": items, "next_cursor": next })))
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
    if !state
        .store
        .delete_agent(&id, &caller.label(), Utc::now())
        .await?
    {
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
    let Some(approved) = state
        .store
        .approve_agent(&id, &caller.label(), Utc::now())
        .await?
    else {
        return Err(ApiError::not_found(format!("no agent {id}")));
    };
    tracing::info!(agent_id = %approved, request = %id, by = %caller.label(), "agent approved");
    // Approving a re-enrollment request answers the agent it merged into.
    Ok(Json(view(find_agent(&state, &approved).await?, Utc::now())))
}

/// The agent's identity trail: enrollments, re-enrollments with or without proof,
/// approvals, deregistration (kept after the agent is gone).
async fn agent_events(
    State(state): State<AppState>,
    _: Viewer,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Path(id) = id?;
    let events = state.store.agent_events(&id).await?;
    if events.is_empty() && state.store.agent(&id).await?.is_none() {
        return Err(ApiError::not_found(format!("no agent {id}")));
    }
    Ok(Json(json!({"agent_id": id, "events": events})))
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
    if agent.legacy && super::legacy::go_form(&diagnostic).is_none() {
        return Err(ApiError::unsupported(format!(
            "agent {agent_id} is a legacy Go agent, which cannot run {}",
            diagnostic.kind()
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

/// The arguments of the Go admin's `/admin/trigger_*` calls, as query parameters (as the Go
/// admin sends them) or a JSON body; unknown names are refused. The agent is `agent_id` or
/// its `hostname`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Trigger {
    agent_id: Option<String>,
    hostname: Option<String>,
    /// Logs: the lowest severity (`ERROR`, `warning`, `err`, …; default error, as the Go
    /// agent asks) and how many lines.
    level: Option<String>,
    lines: Option<usize>,
    /// Disk usage: where, and how many of the largest to list.
    path: Option<String>,
    top_n: Option<usize>,
    /// Network: `ping`, `connect` (target `host:port`), `traceroute` or `netstat`.
    action: Option<String>,
    target: Option<String>,
    count: Option<u32>,
}

impl Trigger {
    /// The query's arguments with the body's; an argument given in both is refused.
    fn read(query: Option<&str>, body: &[u8]) -> Result<Trigger, ApiError> {
        let from_query: Trigger = serde_urlencoded_query(query.unwrap_or_default())?;
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(from_query);
        }
        let from_body: Trigger = serde_json::from_slice(body)
            .map_err(|e| ApiError::invalid_data(format!("trigger body: {e}")))?;
        fn one<T>(name: &str, a: Option<T>, b: Option<T>) -> Result<Option<T>, ApiError> {
            match (a, b) {
                (Some(_), Some(_)) => Err(ApiError::bad_request(format!(
                    "{name}: given both in the query and in the body"
                ))),
                (a, b) => Ok(a.or(b)),
            }
        }
        Ok(Trigger {
            agent_id: one("agent_id", from_query.agent_id, from_body.agent_id)?,
            hostname: one("hostname", from_query.hostname, from_body.hostname)?,
            level: one("level", from_query.level, from_body.level)?,
            lines: one("lines", from_query.lines, from_body.lines)?,
            path: one("path", from_query.path, from_body.path)?,
            top_n: one("top_n", from_query.top_n, from_body.top_n)?,
            action: one("action", from_query.action, from_body.action)?,
            target: one("target", from_query.target, from_body.target)?,
            count: one("count", from_query.count, from_body.count)?,
        })
    }

    /// The agent by id, or by hostname when that names exactly one.
    async fn agent(&self, state: &AppState) -> Result<String, ApiError> {
        match (&self.agent_id, &self.hostname) {
            (Some(id), _) => Ok(id.clone()),
            (None, Some(hostname)) => {
                let ids: Vec<String> = state
                    .store
                    .agents()
                    .await?
                    .into_iter()
                    .filter(|agent| &agent.hostname == hostname)
                    .map(|agent| agent.id)
                    .collect();
                match ids.as_slice() {
                    [id] => Ok(id.clone()),
                    [] => Err(ApiError::not_found(format!(
                        "no agent with hostname {hostname:?}"
                    ))),
                    _ => Err(ApiError::conflict(format!(
                        "{} agents have hostname {hostname:?}; name one by agent_id",
                        ids.len()
                    ))),
                }
            }
            (None, None) => Err(ApiError::bad_request(
                "agent_id or hostname: name the agent",
            )),
        }
    }
}

/// Query parameters into `T` through the same rules as JSON (unknown names refused).
fn serde_urlencoded_query<T: serde::de::DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    axum::extract::Query::<T>::try_from_uri(
        &format!("/?{query}")
            .parse()
            .map_err(|_| ApiError::bad_request("the query string is not valid"))?,
    )
    .map(|axum::extract::Query(value)| value)
    .map_err(ApiError::from)
}

/// A diagnostic from its wire arguments, so core's defaults fill what the trigger left out.
fn diagnostic(kind: &str, args: serde_json::Value) -> Result<Diagnostic, ApiError> {
    serde_json::from_value(json!({"kind": kind, "args": args}))
        .map_err(|e| ApiError::bad_request(format!("{kind}: {e}")))
}

async fn trigger(
    state: &AppState,
    caller: &auth::Caller,
    request: axum::extract::Request,
    build: fn(&Trigger) -> Result<Diagnostic, ApiError>,
) -> Result<(StatusCode, Json<CommandRecord>), ApiError> {
    let query = request.uri().query().map(str::to_owned);
    let body = super::read_body(
        request.into_body(),
        state.config.limits.max_body_bytes,
        "trigger",
    )
    .await?;
    let trigger = Trigger::read(query.as_deref(), &body)?;
    let agent_id = trigger.agent(state).await?;
    queue(state, caller, &agent_id, build(&trigger)?).await
}

/// `/admin/trigger_logs`: the agent's recent logs (`level`, default error; `lines`).
pub(super) async fn trigger_logs(
    State(state): State<AppState>,
    User(caller): Operator,
    request: axum::extract::Request,
) -> Result<(StatusCode, Json<CommandRecord>), ApiError> {
    trigger(&state, &caller, request, |t| {
        let severity: Severity = t
            .level
            .as_deref()
            .unwrap_or("error")
            .to_ascii_lowercase()
            .parse()?;
        let mut args = json!({"severity": severity});
        if let Some(lines) = t.lines {
            args["lines"] = json!(lines);
        }
        diagnostic("logs", args)
    })
    .await
}

/// `/admin/trigger_disk`: what fills `path` (default `/`), the `top_n` largest.
pub(super) async fn trigger_disk(
    State(state): State<AppState>,
    User(caller): Operator,
    request: axum::extract::Request,
) -> Result<(StatusCode, Json<CommandRecord>), ApiError> {
    trigger(&state, &caller, request, |t| {
        let mut args = json!({"path": t.path.as_deref().unwrap_or("/")});
        if let Some(top) = t.top_n {
            args["top"] = json!(top);
        }
        diagnostic("disk_usage", args)
    })
    .await
}

/// `/admin/trigger_network`: `action` ping, connect (`target` `host:port`), traceroute or
/// netstat.
pub(super) async fn trigger_network(
    State(state): State<AppState>,
    User(caller): Operator,
    request: axum::extract::Request,
) -> Result<(StatusCode, Json<CommandRecord>), ApiError> {
    trigger(&state, &caller, request, |t| {
        let target = || {
            t.target
                .clone()
                .ok_or_else(|| ApiError::bad_request("target: this action needs a target"))
        };
        match t.action.as_deref() {
            Some("ping") => {
                let mut args = json!({"host": target()?});
                if let Some(count) = t.count.filter(|c| *c > 0) {
                    args["count"] = json!(count);
                }
                diagnostic("ping", args)
            }
            Some("connect") => {
                let target = target()?;
                let (host, port) = target
                    .rsplit_once(':')
                    .and_then(|(host, port)| Some((host, port.parse::<u16>().ok()?)))
                    .ok_or_else(|| {
                        ApiError::bad_request(format!("target: {target:?} is not host:port"))
                    })?;
                let host = host.trim_start_matches('[').trim_end_matches(']');
                diagnostic("tcp_connect", json!({"host": host, "port": port}))
            }
            Some("traceroute") => diagnostic("traceroute", json!({"host": target()?})),
            Some("netstat") => Ok(Diagnostic::Netstat),
            Some(other) => Err(ApiError::bad_request(format!(
                "action: {other:?} is not ping, connect, traceroute or netstat"
            ))),
            None => Err(ApiError::bad_request(
                "action: required (ping, connect, traceroute or netstat)",
            )),
        }
    })
    .await
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewToken {
    #[schemars(regex(pattern = "^(viewer|operator|admin)$"))]
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

async fn list_tokens(State(state): State<AppState>, _: Admin) -> Result<Json<TokenList>, ApiError> {
    Ok(Json(TokenList {
        tokens: state.store.tokens().await?,
    }))
}

/// Every API and agent token (their secrets are never kept, so never shown).
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub(super) struct TokenList {
    tokens: Vec<TokenRecord>,
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
