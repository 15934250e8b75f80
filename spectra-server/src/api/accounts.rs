//! Signing in and out, the signed-in user's account, the first-admin setup, users (admins)
//! and the audit list (admins). Decisions are [`crate::accounts`]'s.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::governance::{one_page, page};
use super::{ApiError, AppState, ConnectInfoOpt};
use crate::accounts::{
    self, NewSession, SESSION_COOKIE, SESSION_LIFETIME, SessionView, UserUpdate,
};
use crate::auth::{Admin, Caller, Role, User, Viewer};
use crate::store::SessionRecord;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/session",
            get(current_session).post(log_in).delete(log_out),
        )
        .route("/api/v1/setup", get(setup_state).post(set_up))
        .route(
            "/api/v1/account/sessions",
            get(own_sessions).delete(log_out_everywhere),
        )
        .route(
            "/api/v1/account/password",
            axum::routing::post(change_password),
        )
        .route("/api/v1/users", get(list_users).post(add_user))
        .route(
            "/api/v1/users/{name}",
            patch(change_user).delete(delete_user),
        )
        .route("/api/v1/audit", get(audit_list))
}

/// The cookie that carries `secret`: `Secure` when the server speaks TLS.
fn session_cookie(
    state: &AppState,
    secret: &str,
    max_age_secs: i64,
) -> Result<HeaderValue, ApiError> {
    let secure = if state.config.tls.is_some() {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={secret}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_secs}{secure}"
    ))
    .map_err(|e| ApiError::internal(format!("session cookie: {e}")))
}

fn signed_in(state: &AppState, session: NewSession) -> Result<Response, ApiError> {
    let cookie = session_cookie(state, &session.secret, SESSION_LIFETIME.num_seconds())?;
    let view = SessionView::of(&session.record, &session.user);
    Ok(([(SET_COOKIE, cookie)], Json(view)).into_response())
}

fn session_of(caller: &Caller) -> Result<&SessionRecord, ApiError> {
    caller.session.as_ref().ok_or_else(|| {
        ApiError::forbidden("this is for a signed-in user's session, not an API token")
    })
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct Login {
    user: String,
    password: String,
}

async fn log_in(
    State(state): State<AppState>,
    ConnectInfoOpt(from): ConnectInfoOpt,
    body: Result<Json<Login>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(login) = body?;
    let session =
        accounts::login(&state.store, &login.user, &login.password, from, Utc::now()).await?;
    tracing::info!(user = %session.user.name, client = ?from, "signed in");
    signed_in(&state, session)
}

/// Who is signed in, with the CSRF token the page must send with every change.
async fn current_session(
    State(state): State<AppState>,
    User(caller): Viewer,
) -> Result<Json<SessionView>, ApiError> {
    let session = session_of(&caller)?;
    let user = state
        .store
        .user(&session.user)
        .await?
        .ok_or_else(|| ApiError::unauthorized("the session's user no longer exists"))?;
    Ok(Json(SessionView::of(session, &user)))
}

async fn log_out(
    State(state): State<AppState>,
    ConnectInfoOpt(from): ConnectInfoOpt,
    User(caller): Viewer,
) -> Result<Response, ApiError> {
    let session = session_of(&caller)?;
    let audit = accounts::audit_entry(&session.user, "logout", &session.user, "", from, Utc::now());
    state
        .store
        .end_sessions(&session.user, Some(&session.id_hash), &audit)
        .await?;
    let cleared = session_cookie(&state, "", 0)?;
    Ok(([(SET_COOKIE, cleared)], StatusCode::NO_CONTENT).into_response())
}

async fn log_out_everywhere(
    State(state): State<AppState>,
    ConnectInfoOpt(from): ConnectInfoOpt,
    User(caller): Viewer,
) -> Result<Response, ApiError> {
    let session = session_of(&caller)?;
    let audit = accounts::audit_entry(
        &session.user,
        "logout-everywhere",
        &session.user,
        "",
        from,
        Utc::now(),
    );
    let ended = state
        .store
        .end_sessions(&session.user, None, &audit)
        .await?;
    let cleared = session_cookie(&state, "", 0)?;
    Ok(([(SET_COOKIE, cleared)], Json(json!({"ended": ended}))).into_response())
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub(super) struct SessionItem {
    created_at: DateTime<Utc>,
    last_seen: DateTime<Utc>,
    from_addr: Option<String>,
    current: bool,
}

async fn own_sessions(
    State(state): State<AppState>,
    User(caller): Viewer,
) -> Result<Json<serde_json::Value>, ApiError> {
    let current = session_of(&caller)?;
    let items: Vec<SessionItem> = state
        .store
        .sessions_of(&current.user)
        .await?
        .into_iter()
        .map(|s| SessionItem {
            current: s.id_hash == current.id_hash,
            created_at: s.created_at,
            last_seen: s.last_seen,
            from_addr: s.from_addr,
        })
        .collect();
    Ok(Json(json!({"items": items, "next_cursor": null})))
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct PasswordChange {
    current_password: String,
    #[schemars(length(min = accounts::MIN_PASSWORD_CHARS, max = accounts::MAX_PASSWORD_CHARS))]
    new_password: String,
}

/// Changes the signed-in user's password: every session ends, this browser gets a new one.
async fn change_password(
    State(state): State<AppState>,
    ConnectInfoOpt(from): ConnectInfoOpt,
    User(caller): Viewer,
    body: Result<Json<PasswordChange>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(change) = body?;
    let user = session_of(&caller)?.user.clone();
    let session = accounts::change_own_password(
        &state.store,
        &user,
        &change.current_password,
        &change.new_password,
        from,
        Utc::now(),
    )
    .await?;
    signed_in(&state, session)
}

async fn setup_state(State(state): State<AppState>) -> Result<Json<super::SetupState>, ApiError> {
    Ok(Json(super::SetupState {
        needed: accounts::setup_open(&state.store).await?,
    }))
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct Setup {
    token: String,
    #[schemars(regex(pattern = accounts::USER_NAME_PATTERN))]
    user: String,
    #[schemars(length(min = accounts::MIN_PASSWORD_CHARS, max = accounts::MAX_PASSWORD_CHARS))]
    password: String,
}

/// Creates the first admin with the one-time token printed at the server's start.
async fn set_up(
    State(state): State<AppState>,
    ConnectInfoOpt(from): ConnectInfoOpt,
    body: Result<Json<Setup>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(setup) = body?;
    let session = accounts::complete_setup(
        &state.store,
        &setup.token,
        &setup.user,
        &setup.password,
        from,
        Utc::now(),
    )
    .await?;
    tracing::info!(user = %session.user.name, "first admin created");
    signed_in(&state, session)
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct PageQuery {
    limit: Option<usize>,
    cursor: Option<String>,
}

async fn list_users(
    State(state): State<AppState>,
    _: Admin,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Query(query) = query?;
    let (limit, after) = page::<String>(query.limit, query.cursor.as_deref())?;
    let users = state.store.users_page(after.as_deref(), limit + 1).await?;
    let (items, next) = one_page(users, limit, |user| user.name.clone());
    Ok(Json(json!({"items": items, "next_cursor": next})))
}

/// The roles a user may have, for the document (an agent's role is for agents' tokens; the
/// server refuses it for a user).
#[derive(schemars::JsonSchema)]
#[schemars(rename_all = "snake_case")]
#[allow(dead_code)]
enum UserRole {
    Viewer,
    Operator,
    Admin,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewUser {
    #[schemars(regex(pattern = accounts::USER_NAME_PATTERN))]
    name: String,
    #[schemars(with = "UserRole")]
    role: Role,
    #[schemars(length(min = accounts::MIN_PASSWORD_CHARS, max = accounts::MAX_PASSWORD_CHARS))]
    password: String,
}

async fn add_user(
    State(state): State<AppState>,
    ConnectInfoOpt(from): ConnectInfoOpt,
    User(caller): Admin,
    body: Result<Json<NewUser>, JsonRejection>,
) -> Result<(StatusCode, Json<crate::store::UserRecord>), ApiError> {
    let Json(new) = body?;
    let user = accounts::add_user(
        &state.store,
        &caller.label(),
        &new.name,
        new.role,
        &new.password,
        from,
        Utc::now(),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(user)))
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct ChangeUser {
    #[schemars(with = "Option<UserRole>")]
    role: Option<Role>,
    disabled: Option<bool>,
    #[schemars(length(min = accounts::MIN_PASSWORD_CHARS, max = accounts::MAX_PASSWORD_CHARS))]
    password: Option<String>,
}

async fn change_user(
    State(state): State<AppState>,
    ConnectInfoOpt(from): ConnectInfoOpt,
    User(caller): Admin,
    name: Result<Path<String>, PathRejection>,
    body: Result<Json<ChangeUser>, JsonRejection>,
) -> Result<Json<crate::store::UserRecord>, ApiError> {
    let Path(name) = name?;
    let Json(change) = body?;
    let update = UserUpdate {
        role: change.role,
        disabled: change.disabled,
        password: change.password,
    };
    let user = accounts::update_user(
        &state.store,
        &caller.label(),
        &name,
        update,
        from,
        Utc::now(),
    )
    .await?;
    Ok(Json(user))
}

async fn delete_user(
    State(state): State<AppState>,
    ConnectInfoOpt(from): ConnectInfoOpt,
    User(caller): Admin,
    name: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    let Path(name) = name?;
    accounts::delete_user(&state.store, &caller.label(), &name, from, Utc::now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Logins, failures, sign-outs and changes to users, newest first.
async fn audit_list(
    State(state): State<AppState>,
    _: Admin,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Query(query) = query?;
    let (limit, before) = page::<(DateTime<Utc>, String)>(query.limit, query.cursor.as_deref())?;
    let entries = state
        .store
        .audit_page(
            before.as_ref().map(|(at, id)| (*at, id.as_str())),
            limit + 1,
        )
        .await?;
    let (items, next) = one_page(entries, limit, |entry| (entry.at, entry.id.clone()));
    Ok(Json(json!({"items": items, "next_cursor": next})))
}
