//! Tokens and who may do what.
//!
//! A token reads `spectra_<id>_<secret>`: the id finds the stored row, and the SHA-256 of the
//! secret is compared with the stored hash in constant time. Secrets are 256 random bits, so a
//! plain hash is enough (nothing to brute-force) and the database never holds a usable token.
//! Roles rank `viewer` < `operator` < `admin`; agents hold tokens of their own, which open the
//! agent endpoints and nothing else.

use std::str::FromStr;

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::api::{ApiError, AppState};
use crate::store::{AgentRecord, TokenRecord};

const PREFIX: &str = "spectra_";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
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

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hash(secret: &str) -> String {
    hex(&Sha256::digest(secret.as_bytes()))
}

/// Compares two secrets in time independent of where they differ (hashing first makes the
/// lengths equal too).
pub fn secrets_match(given: &str, expected: &str) -> bool {
    Sha256::digest(given.as_bytes())
        .ct_eq(&Sha256::digest(expected.as_bytes()))
        .into()
}

/// Who called: the token and, for an agent token, the agent.
#[derive(Debug, Clone)]
pub struct Caller {
    pub token: TokenRecord,
    pub agent: Option<AgentRecord>,
}

impl Caller {
    /// The name recorded with what this caller changes.
    pub fn label(&self) -> String {
        format!("{}:{}", self.token.role, self.token.name)
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let unauthorized = |message: &str| ApiError::unauthorized(message);
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .ok_or_else(|| unauthorized("missing Authorization: Bearer token"))?;
        let text = header
            .to_str()
            .ok()
            .and_then(|value| value.strip_prefix("Bearer "))
            .ok_or_else(|| unauthorized("Authorization must be 'Bearer <token>'"))?;
        let (id, secret) = text
            .trim()
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split_once('_'))
            .ok_or_else(|| unauthorized("malformed token"))?;
        let (token, agent) = state
            .store
            .token(id)
            .await?
            .ok_or_else(|| unauthorized("unknown or revoked token"))?;
        let presented = hash(secret);
        if !bool::from(presented.as_bytes().ct_eq(token.secret_hash.as_bytes())) {
            return Err(unauthorized("unknown or revoked token"));
        }
        Ok(Caller { token, agent })
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
