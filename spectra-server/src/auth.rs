//! Tokens and who may do what.
//!
//! A token reads `spectra_<id>_<secret>`: the id finds the stored row, and the SHA-256 of the
//! secret is compared with the stored hash in constant time. Secrets are 256 random bits, so a
//! plain hash is enough (nothing to brute-force) and the database never holds a usable token.
//! Roles rank `viewer` < `operator` < `admin`; agents hold tokens of their own, which open the
//! agent endpoints and nothing else.

use std::str::FromStr;

use std::net::IpAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::Method;
use axum::http::header::{AUTHORIZATION, COOKIE};
use axum::http::request::Parts;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::accounts;
use crate::api::{ApiError, AppState};
use crate::serve::ClientAddr;
use crate::store::{AgentRecord, SessionRecord, TokenRecord};

const PREFIX: &str = "spectra_";

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Agent,
    Viewer,
    Operator,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Agent => "agent",
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(text: &str) -> Result<Role, String> {
        match text {
            "agent" => Ok(Role::Agent),
            "viewer" => Ok(Role::Viewer),
            "operator" => Ok(Role::Operator),
            "admin" => Ok(Role::Admin),
            other => Err(format!(
                "unknown role {other:?}: expected viewer, operator or admin"
            )),
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A new token: the record to store and the text to hand out once.
#[derive(Debug)]
pub struct IssuedToken {
    pub record: TokenRecord,
    pub token: String,
}

/// Makes a token with fresh random id and secret.
pub fn issue(role: Role, name: &str, now: DateTime<Utc>) -> Result<IssuedToken, ApiError> {
    let mut bytes = [0u8; 40];
    getrandom::fill(&mut bytes)
        .map_err(|e| ApiError::internal(format!("no randomness for a token: {e}")))?;
    let id = hex(&bytes[..8]);
    let secret = hex(&bytes[8..]);
    Ok(IssuedToken {
        token: format!("{PREFIX}{id}_{secret}"),
        record: TokenRecord {
            id,
            secret_hash: hash(&secret),
            role,
            name: name.to_owned(),
            agent_id: None,
            created_at: now,
        },
    })
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hash(secret: &str) -> String {
    sha256_hex(secret.as_bytes())
}

/// The SHA-256 of `bytes` in lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Compares two secrets in time independent of where they differ (hashing first makes the
/// lengths equal too).
pub fn secrets_match(given: &str, expected: &str) -> bool {
    Sha256::digest(given.as_bytes())
        .ct_eq(&Sha256::digest(expected.as_bytes()))
        .into()
}

/// Who called: the token and, for an agent token, the agent. A signed-in user's browser
/// calls with a session cookie instead: `token` then stands for the user (id `session`, the
/// user's role and name) and `session` is set.
#[derive(Debug, Clone)]
pub struct Caller {
    pub token: TokenRecord,
    pub agent: Option<AgentRecord>,
    pub session: Option<SessionRecord>,
}

impl Caller {
    /// The name recorded with what this caller changes.
    pub fn label(&self) -> String {
        format!("{}:{}", self.token.role, self.token.name)
    }
}

/// Failed authentications a token id may see per minute before it is refused outright (with
/// a 429) for the rest of the minute. Secrets are 256 random bits, so this is not what keeps
/// them safe; it keeps a flood of guesses cheap for the server and visible in its log.
pub const MAX_FAILURES_PER_TOKEN: i64 = 10;
/// The same for one client address, over every token id and the enrollment token.
pub const MAX_FAILURES_PER_ADDRESS: i64 = 30;

/// The subjects failed authentications are counted under.
fn failure_subjects(token_id: Option<&str>, addr: Option<IpAddr>) -> Vec<String> {
    let mut subjects = Vec::with_capacity(2);
    if let Some(id) = token_id {
        subjects.push(format!("token:{id}"));
    }
    if let Some(addr) = addr {
        subjects.push(format!("addr:{addr}"));
    }
    subjects
}

/// Turns a failed authentication into its answer: a 429 when `token_id` or `addr` has
/// already failed too often this minute (nothing more is written then, so a flood costs one
/// read per request), else `error` after counting and logging the failure. Only failures
/// pay: a valid token is never slowed down or locked out by someone else's guesses.
pub(crate) async fn failed(
    state: &AppState,
    token_id: Option<&str>,
    addr: Option<IpAddr>,
    error: ApiError,
) -> ApiError {
    match count_failure(state, token_id, addr, &error).await {
        Ok(None) => error,
        Ok(Some(throttled)) => throttled,
        Err(store) => store,
    }
}

async fn count_failure(
    state: &AppState,
    token_id: Option<&str>,
    addr: Option<IpAddr>,
    error: &ApiError,
) -> Result<Option<ApiError>, ApiError> {
    let now = Utc::now();
    let by_token = match token_id {
        Some(id) => {
            let subjects = failure_subjects(Some(id), None);
            state.store.auth_failures(&subjects, now).await?
        }
        None => 0,
    };
    let by_address = match addr {
        Some(addr) => {
            let subjects = failure_subjects(None, Some(addr));
            state.store.auth_failures(&subjects, now).await?
        }
        None => 0,
    };
    if by_token >= MAX_FAILURES_PER_TOKEN || by_address >= MAX_FAILURES_PER_ADDRESS {
        let retry_after = u64::try_from(60 - now.timestamp().rem_euclid(60)).unwrap_or(60);
        return Ok(Some(ApiError::auth_throttled(retry_after)));
    }
    let subjects = failure_subjects(token_id, addr);
    let count = state.store.record_auth_failure(&subjects, now).await?;
    tracing::warn!(
        token_id = token_id.unwrap_or("-"),
        client = %addr.map_or_else(|| "-".to_owned(), |a| a.to_string()),
        failures_this_minute = count,
        reason = %error.message(),
        "authentication failed"
    );
    Ok(None)
}

/// The client's address, when the server was started with connection info (tests through
/// `oneshot` may leave it out).
pub fn client_addr(parts: &Parts) -> Option<IpAddr> {
    parts
        .extensions
        .get::<ConnectInfo<ClientAddr>>()
        .map(|info| info.0.0.ip())
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let unauthorized = |message: &str| ApiError::unauthorized(message);
        let addr = client_addr(parts);
        let Some(header) = parts.headers.get(AUTHORIZATION) else {
            return match session_cookie(parts) {
                Some(secret) => session_caller(parts, state, &secret).await,
                None => Err(unauthorized(
                    "missing Authorization: Bearer token (or a signed-in session)",
                )),
            };
        };
        let parsed = header
            .to_str()
            .ok()
            .and_then(|value| value.strip_prefix("Bearer "))
            .map(|text| {
                text.trim()
                    .strip_prefix(PREFIX)
                    .and_then(|rest| rest.split_once('_'))
            });
        let (id, secret) = match parsed {
            None => {
                let error = unauthorized("Authorization must be 'Bearer <token>'");
                return Err(failed(state, None, addr, error).await);
            }
            Some(None) => {
                return Err(failed(state, None, addr, unauthorized("malformed token")).await);
            }
            Some(Some(parts)) => parts,
        };
        let found = state.store.token(id).await?;
        if found.is_none() {
            // A token an enrollment replaced: the agent it was issued to is shown failing.
            let from = addr.map(|addr| addr.to_string());
            state
                .store
                .note_revoked_token_use(id, from.as_deref(), Utc::now(), crate::fleet::STALE_WITHIN)
                .await?;
        }
        let Some((token, agent)) = found.filter(|(token, _)| {
            bool::from(hash(secret).as_bytes().ct_eq(token.secret_hash.as_bytes()))
        }) else {
            let error = unauthorized("unknown or revoked token");
            return Err(failed(state, Some(id), addr, error).await);
        };
        Ok(Caller {
            token,
            agent,
            session: None,
        })
    }
}

/// The session secret in the request's cookie, if any.
pub fn session_cookie(parts: &Parts) -> Option<String> {
    parts
        .headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == accounts::SESSION_COOKIE)
        .map(|(_, secret)| secret.to_owned())
}

/// A signed-in user's request: the session must be live, and a request that may change
/// anything must echo the session's CSRF token in [`accounts::CSRF_HEADER`] (SameSite cookies
/// alone leave older browsers and same-site pages open).
async fn session_caller(parts: &Parts, state: &AppState, secret: &str) -> Result<Caller, ApiError> {
    let (session, user) = accounts::session(&state.store, secret, Utc::now()).await?;
    let safe = matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
    if !safe {
        let echoed = parts
            .headers
            .get(accounts::CSRF_HEADER)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("");
        if !secrets_match(echoed, &session.csrf_token) {
            return Err(ApiError::forbidden(format!(
                "missing or wrong {} header: a signed-in request that changes anything must \
                 carry the session's CSRF token",
                accounts::CSRF_HEADER
            )));
        }
    }
    Ok(Caller {
        token: TokenRecord {
            id: "session".to_owned(),
            secret_hash: String::new(),
            role: user.role,
            name: user.name,
            agent_id: None,
            created_at: session.created_at,
        },
        agent: None,
        session: Some(session),
    })
}

/// The agent whose token `token` is, for a re-enrollment's proof; anything else is a 401
/// counted like any failed authentication.
pub(crate) async fn agent_of_token(
    state: &AppState,
    token: &str,
    addr: Option<IpAddr>,
) -> Result<String, ApiError> {
    let refused = || ApiError::unauthorized("agent_token: not this server's token of an agent");
    let Some((id, secret)) = token
        .trim()
        .strip_prefix(PREFIX)
        .and_then(|rest| rest.split_once('_'))
    else {
        return Err(failed(state, None, addr, refused()).await);
    };
    match state.store.token(id).await? {
        Some((record, Some(agent)))
            if record.role == Role::Agent
                && bool::from(hash(secret).as_bytes().ct_eq(record.secret_hash.as_bytes())) =>
        {
            Ok(agent.id)
        }
        _ => Err(failed(state, Some(id), addr, refused()).await),
    }
}

/// A person's (or a dashboard's) token of at least role `MIN` (1 viewer, 2 operator, 3 admin).
#[derive(Debug, Clone)]
pub struct User<const MIN: u8>(pub Caller);

pub type Viewer = User<1>;
pub type Operator = User<2>;
pub type Admin = User<3>;

fn rank(role: Role) -> u8 {
    match role {
        Role::Agent => 0,
        Role::Viewer => 1,
        Role::Operator => 2,
        Role::Admin => 3,
    }
}

fn role_of_rank(min: u8) -> Role {
    match min {
        0 | 1 => Role::Viewer,
        2 => Role::Operator,
        _ => Role::Admin,
    }
}

impl<const MIN: u8> FromRequestParts<AppState> for User<MIN> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let caller = Caller::from_request_parts(parts, state).await?;
        let role = caller.token.role;
        if role == Role::Agent {
            return Err(ApiError::forbidden(
                "an agent token cannot use this endpoint".to_string(),
            ));
        }
        if rank(role) < MIN {
            return Err(ApiError::forbidden(format!(
                "this needs role {} or higher; the token has {role}",
                role_of_rank(MIN)
            )));
        }
        Ok(User(caller))
    }
}

/// How stale `last_seen` may get before a request refreshes it: any authenticated agent
/// request is a sign of life, but one write per request would be a write too many.
pub(crate) const ALIVE_REFRESH: chrono::Duration = chrono::Duration::seconds(10);

/// Records that `agent` was heard from now (a poll or a result counts as much as a
/// heartbeat), at most every [`ALIVE_REFRESH`]. Uploads record it in their own transaction
/// instead (see the store's batch and snapshot writes), so they cost no extra commit.
pub(crate) async fn mark_alive(state: &AppState, agent: &AgentRecord) -> Result<(), ApiError> {
    let now = Utc::now();
    if agent
        .last_seen
        .is_none_or(|seen| now - seen >= ALIVE_REFRESH)
    {
        state.store.heartbeat(&agent.id, now).await?;
    }
    Ok(())
}

/// An enrolled agent, approved or still pending (heartbeats and polls are allowed to wait).
#[derive(Debug, Clone)]
pub struct EnrolledAgent(pub AgentRecord);

/// An approved agent: the only kind that may send data.
#[derive(Debug, Clone)]
pub struct ApprovedAgent(pub AgentRecord);

impl FromRequestParts<AppState> for EnrolledAgent {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let caller = Caller::from_request_parts(parts, state).await?;
        match caller.agent {
            Some(agent) if caller.token.role == Role::Agent => Ok(EnrolledAgent(agent)),
            _ => Err(ApiError::forbidden(
                "this endpoint is for agents; use an agent token".to_string(),
            )),
        }
    }
}

impl FromRequestParts<AppState> for ApprovedAgent {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let EnrolledAgent(agent) = EnrolledAgent::from_request_parts(parts, state).await?;
        if !agent.approved {
            return Err(ApiError::forbidden(format!(
                "agent {} is pending approval by an admin",
                agent.id
            )));
        }
        Ok(ApprovedAgent(agent))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_tokens_verify_and_differ() {
        let now = Utc::now();
        let a = issue(Role::Viewer, "a", now).expect("token");
        let b = issue(Role::Viewer, "b", now).expect("token");
        assert_ne!(a.token, b.token);
        let (id, secret) = a
            .token
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split_once('_'))
            .expect("shape");
        assert_eq!(id, a.record.id);
        assert_eq!(hash(secret), a.record.secret_hash);
        assert!(
            !a.record.secret_hash.contains(secret),
            "only the hash is kept"
        );
        assert!(secrets_match("enroll-me", "enroll-me"));
        assert!(!secrets_match("enroll-me", "enroll-mE"));
        assert!(!secrets_match("", "x"));
    }

    #[test]
    fn roles_parse_and_rank() {
        for role in [Role::Agent, Role::Viewer, Role::Operator, Role::Admin] {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        }
        assert!("root".parse::<Role>().is_err());
        assert!(rank(Role::Admin) > rank(Role::Operator));
        assert_eq!(role_of_rank(2), Role::Operator);
    }
}
