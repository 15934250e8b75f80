//! People's accounts for the web app: argon2id passwords, server-side sessions with a CSRF
//! token, throttled logins, the first-admin setup link and the audit list.
//!
//! Choices (documented in the README): a session ends after [`SESSION_IDLE`] without a
//! request or [`SESSION_LIFETIME`] after login, whichever is first; a password has at least
//! [`MIN_PASSWORD_CHARS`] characters; an account sees at most [`MAX_LOGIN_FAILURES_PER_USER`]
//! failed logins a minute and an address [`crate::auth::MAX_FAILURES_PER_ADDRESS`] (counted
//! in the database, so every replica refuses alike); an unknown user's login costs one
//! argon2id verification like a wrong password's, so timing does not tell which names exist.

use std::net::IpAddr;
use std::sync::OnceLock;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::auth::{Role, hex, sha256_hex};
use crate::store::{AuditEntry, SessionRecord, Store, StoreError, UserChange, UserRecord};

pub const SESSION_IDLE: Duration = Duration::hours(12);
pub const SESSION_LIFETIME: Duration = Duration::days(7);
pub const MIN_PASSWORD_CHARS: usize = 10;
/// Longer passwords are refused before hashing: argon2 reads all of it.
pub const MAX_PASSWORD_CHARS: usize = 1024;
pub const MAX_LOGIN_FAILURES_PER_USER: i64 = 5;
/// The cookie that carries a session's secret.
pub const SESSION_COOKIE: &str = "spectra_session";
/// The header a state-changing request of a session must carry its CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// How often a used session's `last_seen` is written (each request would be a write too many).
const TOUCH_EVERY: Duration = Duration::seconds(60);
/// The name of the first-admin setup secret in the store.
const SETUP_SECRET: &str = "setup";

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("{0}")]
    Invalid(String),
    #[error("wrong user name or password")]
    WrongCredentials,
    #[error("too many failed logins for this account or address; retry in {retry_after_secs} s")]
    Throttled { retry_after_secs: u64 },
    #[error("no user {0:?}")]
    NoSuchUser(String),
    #[error("{0}")]
    Conflict(String),
    #[error("the session has ended: log in again")]
    SessionEnded,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("password hashing failed: {0}")]
    Hashing(String),
}

pub type AccountResult<T> = Result<T, AccountError>;

/// What [`check_user_name`] admits, for the API's document.
pub const USER_NAME_PATTERN: &str = "^[A-Za-z0-9._@-]{1,64}$";

/// A user name: 1 to 64 characters of letters, digits, `.`, `_`, `-` and `@`.
pub fn check_user_name(name: &str) -> AccountResult<()> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if valid {
        Ok(())
    } else {
        Err(AccountError::Invalid(format!(
            "user name {name:?}: 1 to 64 characters of letters, digits, '.', '_', '-' and '@'"
        )))
    }
}

pub fn check_password(password: &str) -> AccountResult<()> {
    let chars = password.chars().count();
    if chars > MAX_PASSWORD_CHARS {
        return Err(AccountError::Invalid(format!(
            "password: longer than {MAX_PASSWORD_CHARS} characters"
        )));
    }
    if chars < MIN_PASSWORD_CHARS {
        return Err(AccountError::Invalid(format!(
            "password: at least {MIN_PASSWORD_CHARS} characters"
        )));
    }
    Ok(())
}

fn role_for_user(role: Role) -> AccountResult<Role> {
    if role == Role::Agent {
        return Err(AccountError::Invalid(
            "role: a user is a viewer, operator or admin".to_owned(),
        ));
    }
    Ok(role)
}

fn random_hex(bytes: usize) -> AccountResult<String> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|e| AccountError::Hashing(format!("no randomness: {e}")))?;
    Ok(hex(&buf))
}

/// Hashes `password` with argon2id (the crate's defaults: OWASP's 19 MiB, 2 passes), off the
/// async threads.
pub async fn hash_password(password: &str) -> AccountResult<String> {
    check_password(password)?;
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut salt = [0u8; 16];
        getrandom::fill(&mut salt).map_err(|e| AccountError::Hashing(e.to_string()))?;
        let salt =
            SaltString::encode_b64(&salt).map_err(|e| AccountError::Hashing(e.to_string()))?;
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|e| AccountError::Hashing(e.to_string()))
    })
    .await
    .map_err(|e| AccountError::Hashing(e.to_string()))?
}

/// A hash no password matches, verified against when the user does not exist so that the
/// answer takes as long as a wrong password's.
fn decoy_hash() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| {
        SaltString::encode_b64(b"spectra-decoy-16")
            .ok()
            .and_then(|salt| {
                Argon2::default()
                    .hash_password(b"no password is this one", &salt)
                    .ok()
                    .map(|hash| hash.to_string())
            })
            .unwrap_or_default()
    })
}

async fn verify_password(password: &str, stored: &str) -> bool {
    let password = password.to_owned();
    let stored = stored.to_owned();
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&stored).is_ok_and(|hash| {
            Argon2::default()
                .verify_password(password.as_bytes(), &hash)
                .is_ok()
        })
    })
    .await
    .unwrap_or(false)
}

/// The audit record of `action` by `actor` on `subject`.
pub fn audit_entry(
    actor: &str,
    action: &str,
    subject: &str,
    detail: impl Into<String>,
    from: Option<IpAddr>,
    at: DateTime<Utc>,
) -> AuditEntry {
    AuditEntry {
        id: uuid::Uuid::new_v4().to_string(),
        at,
        actor: actor.to_owned(),
        action: action.to_owned(),
        subject: subject.to_owned(),
        detail: detail.into(),
        from_addr: from.map(|addr| addr.to_string()),
    }
}

/// A new session: the secret for the cookie (shown once, never stored) and the stored record.
#[derive(Debug)]
pub struct NewSession {
    pub secret: String,
    pub record: SessionRecord,
    pub user: UserRecord,
}

/// What the web app learns about its signed-in user.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct SessionView {
    pub user: String,
    pub role: Role,
    pub csrf_token: String,
    pub expires_at: DateTime<Utc>,
    pub idle_timeout_secs: i64,
}

impl SessionView {
    pub fn of(session: &SessionRecord, user: &UserRecord) -> SessionView {
        SessionView {
            user: user.name.clone(),
            role: user.role,
            csrf_token: session.csrf_token.clone(),
            expires_at: session.created_at + SESSION_LIFETIME,
            idle_timeout_secs: SESSION_IDLE.num_seconds(),
        }
    }
}

fn login_subjects(user: &str, from: Option<IpAddr>) -> (String, Option<String>) {
    (
        format!("login:{user}"),
        from.map(|addr| format!("addr:{addr}")),
    )
}

async fn throttled(
    store: &Store,
    user: &str,
    from: Option<IpAddr>,
    now: DateTime<Utc>,
) -> AccountResult<()> {
    let (by_user, by_addr) = login_subjects(user, from);
    let user_failures = store.auth_failures(&[by_user], now).await?;
    let addr_failures = match by_addr {
        Some(subject) => store.auth_failures(&[subject], now).await?,
        None => 0,
    };
    if user_failures >= MAX_LOGIN_FAILURES_PER_USER
        || addr_failures >= crate::auth::MAX_FAILURES_PER_ADDRESS
    {
        let retry_after_secs = u64::try_from(60 - now.timestamp().rem_euclid(60)).unwrap_or(60);
        return Err(AccountError::Throttled { retry_after_secs });
    }
    Ok(())
}

/// Counts a wrong password against the account and the address.
async fn count_failure(
    store: &Store,
    user: &str,
    from: Option<IpAddr>,
    now: DateTime<Utc>,
) -> AccountResult<()> {
    let (by_user, by_addr) = login_subjects(user, from);
    let subjects: Vec<String> = std::iter::once(by_user).chain(by_addr).collect();
    store.record_auth_failure(&subjects, now).await?;
    Ok(())
}

/// Checks `user`'s `password` and opens a session. Every failure (unknown user, disabled,
/// wrong password) reads the same and is counted against the account and the address.
pub async fn login(
    store: &Store,
    user: &str,
    password: &str,
    from: Option<IpAddr>,
    now: DateTime<Utc>,
) -> AccountResult<NewSession> {
    throttled(store, user, from, now).await?;
    let found = store.user(user).await?;
    let stored = found
        .as_ref()
        .filter(|u| !u.disabled)
        .map_or_else(|| decoy_hash().to_owned(), |u| u.password_hash.clone());
    // A long guess costs no more than a short one (4 bytes a character at the most).
    let matches =
        password.len() <= 4 * MAX_PASSWORD_CHARS && verify_password(password, &stored).await;
    let Some(account) = found.filter(|u| matches && !u.disabled) else {
        count_failure(store, user, from, now).await?;
        let name = if user.len() <= 64 { user } else { "(too long)" };
        store
            .audit(&audit_entry(name, "login-failed", name, "", from, now))
            .await?;
        tracing::warn!(user = name, client = ?from, "login failed");
        return Err(AccountError::WrongCredentials);
    };
    open_session(store, account, "login", from, now).await
}

async fn open_session(
    store: &Store,
    user: UserRecord,
    action: &str,
    from: Option<IpAddr>,
    now: DateTime<Utc>,
) -> AccountResult<NewSession> {
    let secret = random_hex(32)?;
    let record = SessionRecord {
        id_hash: sha256_hex(secret.as_bytes()),
        user: user.name.clone(),
        csrf_token: random_hex(32)?,
        created_at: now,
        last_seen: now,
        from_addr: from.map(|addr| addr.to_string()),
    };
    let audit = audit_entry(&user.name, action, &user.name, "", from, now);
    store.create_session(&record, &audit).await?;
    Ok(NewSession {
        secret,
        record,
        user,
    })
}

/// The live session whose cookie secret is `secret`: ended (and removed) when idle or old,
/// or when its user is disabled.
pub async fn session(
    store: &Store,
    secret: &str,
    now: DateTime<Utc>,
) -> AccountResult<(SessionRecord, UserRecord)> {
    let id_hash = sha256_hex(secret.as_bytes());
    let Some((session, user)) = store.session(&id_hash).await? else {
        return Err(AccountError::SessionEnded);
    };
    let expired = now - session.last_seen > SESSION_IDLE
        || now - session.created_at > SESSION_LIFETIME
        || user.disabled;
    if expired {
        let audit = audit_entry(&user.name, "session-expired", &user.name, "", None, now);
        store
            .end_sessions(&user.name, Some(&id_hash), &audit)
            .await?;
        return Err(AccountError::SessionEnded);
    }
    if now - session.last_seen >= TOUCH_EVERY {
        store.touch_session(&id_hash, now).await?;
    }
    Ok((session, user))
}

/// Whether the first-admin setup is still open (no user exists).
pub async fn setup_open(store: &Store) -> AccountResult<bool> {
    Ok(store.user_count().await? == 0)
}

/// Makes a fresh one-time setup secret when no user exists (replacing an earlier one, so only
/// the link printed last works); `None` once there are users.
pub async fn prepare_setup(store: &Store, now: DateTime<Utc>) -> AccountResult<Option<String>> {
    if !setup_open(store).await? {
        store.delete_secret(SETUP_SECRET).await?;
        return Ok(None);
    }
    let secret = random_hex(24)?;
    store
        .put_secret(SETUP_SECRET, &sha256_hex(secret.as_bytes()), now)
        .await?;
    Ok(Some(secret))
}

/// Creates the first admin with the setup secret and signs them in.
pub async fn complete_setup(
    store: &Store,
    setup_secret: &str,
    name: &str,
    password: &str,
    from: Option<IpAddr>,
    now: DateTime<Utc>,
) -> AccountResult<NewSession> {
    let expected = store.secret(SETUP_SECRET).await?;
    let valid = expected
        .as_deref()
        .is_some_and(|hash| crate::auth::secrets_match(&sha256_hex(setup_secret.as_bytes()), hash));
    if !valid {
        return Err(AccountError::Invalid(
            "token: not this server's setup token (the newest link printed at start works)"
                .to_owned(),
        ));
    }
    check_user_name(name)?;
    let user = new_user(name, Role::Admin, password, now).await?;
    let audit = audit_entry(name, "setup", name, "first admin", from, now);
    if !store.create_user(&user, true, &audit).await? {
        return Err(AccountError::Conflict(
            "setup is done: users exist already".to_owned(),
        ));
    }
    store.delete_secret(SETUP_SECRET).await?;
    open_session(store, user, "login", from, now).await
}

async fn new_user(
    name: &str,
    role: Role,
    password: &str,
    now: DateTime<Utc>,
) -> AccountResult<UserRecord> {
    check_user_name(name)?;
    Ok(UserRecord {
        name: name.to_owned(),
        password_hash: hash_password(password).await?,
        role: role_for_user(role)?,
        disabled: false,
        created_at: now,
        updated_at: now,
    })
}

/// Adds a user (an admin's act, or the CLI's through the API).
pub async fn add_user(
    store: &Store,
    actor: &str,
    name: &str,
    role: Role,
    password: &str,
    from: Option<IpAddr>,
    now: DateTime<Utc>,
) -> AccountResult<UserRecord> {
    let user = new_user(name, role, password, now).await?;
    let audit = audit_entry(actor, "user-added", name, format!("role {role}"), from, now);
    if !store.create_user(&user, false, &audit).await? {
        return Err(AccountError::Conflict(format!(
            "user {name:?} exists already"
        )));
    }
    Ok(user)
}

/// What an admin may change in a user.
#[derive(Debug, Clone, Default)]
pub struct UserUpdate {
    pub role: Option<Role>,
    pub disabled: Option<bool>,
    pub password: Option<String>,
}

/// Changes a user; the last enabled admin can be neither demoted nor disabled.
pub async fn update_user(
    store: &Store,
    actor: &str,
    name: &str,
    update: UserUpdate,
    from: Option<IpAddr>,
    now: DateTime<Utc>,
) -> AccountResult<UserRecord> {
    let Some(current) = store.user(name).await? else {
        return Err(AccountError::NoSuchUser(name.to_owned()));
    };
    let role = update.role.map(role_for_user).transpose()?;
    let loses_admin = current.role == Role::Admin
        && !current.disabled
        && (role.is_some_and(|r| r != Role::Admin) || update.disabled == Some(true));
    if loses_admin && store.other_admins(name).await? == 0 {
        return Err(AccountError::Conflict(format!(
            "{name:?} is the last enabled admin: add another admin first"
        )));
    }
    let password_hash = match &update.password {
        Some(password) => Some(hash_password(password).await?),
        None => None,
    };
    let mut changed = Vec::new();
    if let Some(role) = role {
        changed.push(format!("role {} -> {role}", current.role));
    }
    if let Some(disabled) = update.disabled {
        changed.push(if disabled { "disabled" } else { "enabled" }.to_owned());
    }
    if password_hash.is_some() {
        changed.push("password set".to_owned());
    }
    let change = UserChange {
        role,
        disabled: update.disabled,
        password_hash,
    };
    let audit = audit_entry(actor, "user-changed", name, changed.join(", "), from, now);
    if !store.update_user(name, &change, now, &audit).await? {
        return Err(AccountError::NoSuchUser(name.to_owned()));
    }
    store
        .user(name)
        .await?
        .ok_or_else(|| AccountError::NoSuchUser(name.to_owned()))
}

/// Removes a user; the last enabled admin stays.
pub async fn delete_user(
    store: &Store,
    actor: &str,
    name: &str,
    from: Option<IpAddr>,
    now: DateTime<Utc>,
) -> AccountResult<()> {
    let Some(current) = store.user(name).await? else {
        return Err(AccountError::NoSuchUser(name.to_owned()));
    };
    if current.role == Role::Admin && !current.disabled && store.other_admins(name).await? == 0 {
        return Err(AccountError::Conflict(format!(
            "{name:?} is the last enabled admin: add another admin first"
        )));
    }
    let audit = audit_entry(actor, "user-deleted", name, "", from, now);
    if !store.delete_user(name, &audit).await? {
        return Err(AccountError::NoSuchUser(name.to_owned()));
    }
    Ok(())
}

/// A user changes their own password, proving the current one; every session ends (the
/// caller opens a new one for the browser that asked).
pub async fn change_own_password(
    store: &Store,
    name: &str,
    current: &str,
    new: &str,
    from: Option<IpAddr>,
    now: DateTime<Utc>,
) -> AccountResult<NewSession> {
    throttled(store, name, from, now).await?;
    let Some(user) = store.user(name).await? else {
        return Err(AccountError::SessionEnded);
    };
    if !verify_password(current, &user.password_hash).await {
        count_failure(store, name, from, now).await?;
        return Err(AccountError::Invalid(
            "current_password: not this account's password".to_owned(),
        ));
    }
    let change = UserChange {
        password_hash: Some(hash_password(new).await?),
        ..UserChange::default()
    };
    let audit = audit_entry(name, "password-changed", name, "", from, now);
    store.update_user(name, &change, now, &audit).await?;
    let user = store
        .user(name)
        .await?
        .ok_or_else(|| AccountError::NoSuchUser(name.to_owned()))?;
    open_session(store, user, "login", from, now).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_passwords_are_checked_with_what_and_why() {
        assert!(check_user_name("alice.b@example-1").is_ok());
        for bad in ["", "a b", "<script>", &"x".repeat(65)] {
            let err = check_user_name(bad).expect_err(bad);
            assert!(err.to_string().starts_with("user name"), "{err}");
        }
        assert!(check_password("correct horse").is_ok());
        let short = check_password("short").expect_err("short");
        assert!(short.to_string().contains("at least 10"), "{short}");
        let long = check_password(&"x".repeat(MAX_PASSWORD_CHARS + 1)).expect_err("long");
        assert!(long.to_string().contains("1024 characters"), "{long}");
    }

    #[tokio::test]
    async fn hashes_are_argon2id_salted_and_verify() {
        let a = hash_password("correct horse battery").await.expect("hash");
        let b = hash_password("correct horse battery").await.expect("hash");
        assert!(a.starts_with("$argon2id$"), "{a}");
        assert_ne!(a, b, "salted");
        assert!(verify_password("correct horse battery", &a).await);
        assert!(!verify_password("correct horse batterY", &a).await);
        assert!(!verify_password("correct horse battery", decoy_hash()).await);
        assert!(decoy_hash().starts_with("$argon2id$"));
    }
}
