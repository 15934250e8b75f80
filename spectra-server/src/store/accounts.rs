//! Users, their sessions, the audit list and one-time server secrets.

use super::*;

/// A person who signs in. `password_hash` is an argon2id PHC string and never leaves the
/// server (it is skipped when serialized).
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct UserRecord {
    pub name: String,
    #[serde(skip)]
    pub password_hash: String,
    pub role: Role,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A signed-in browser. The cookie's secret is not kept; `id_hash` is its SHA-256.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionRecord {
    #[serde(rename = "id")]
    pub id_hash: String,
    pub user: String,
    #[serde(skip)]
    pub csrf_token: String,
    pub created_at: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    pub from_addr: Option<String>,
}

/// One line of the audit list.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct AuditEntry {
    pub id: String,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub subject: String,
    pub detail: String,
    pub from_addr: Option<String>,
}

/// What changes in a user; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct UserChange {
    pub role: Option<Role>,
    pub disabled: Option<bool>,
    pub password_hash: Option<String>,
}

const USER_COLUMNS: &str = "name, password_hash, role, disabled, created_at, updated_at";
const SESSION_COLUMNS: &str = "id_hash, user_name, csrf_token, created_at, last_seen, from_addr";

fn user_from_row(row: &AnyRow) -> StoreResult<UserRecord> {
    let role: String = row.try_get("role")?;
    Ok(UserRecord {
        name: row.try_get("name")?,
        password_hash: row.try_get("password_hash")?,
        role: role.parse().map_err(|message| StoreError::Corrupt {
            what: "user role",
            message,
        })?,
        disabled: row.try_get::<i64, _>("disabled")? != 0,
        created_at: from_millis(row.try_get("created_at")?),
        updated_at: from_millis(row.try_get("updated_at")?),
    })
}

/// A session from `row`, whose creation time is in column `created_column`.
fn session_from_row(row: &AnyRow, created_column: &str) -> StoreResult<SessionRecord> {
    Ok(SessionRecord {
        id_hash: row.try_get("id_hash")?,
        user: row.try_get("user_name")?,
        csrf_token: row.try_get("csrf_token")?,
        created_at: from_millis(row.try_get(created_column)?),
        last_seen: from_millis(row.try_get("last_seen")?),
        from_addr: row.try_get("from_addr")?,
    })
}

async fn insert_audit(conn: &mut AnyConnection, entry: &AuditEntry) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO audit_log (id, at, actor, action, subject, detail, from_addr)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&entry.id)
    .bind(millis(entry.at))
    .bind(&entry.actor)
    .bind(&entry.action)
    .bind(&entry.subject)
    .bind(&entry.detail)
    .bind(&entry.from_addr)
    .execute(conn)
    .await?;
    Ok(())
}

impl Store {
    /// How many users exist (the first-admin setup is open only while this is 0).
    pub async fn user_count(&self) -> StoreResult<i64> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(self.reader())
            .await?)
    }

    pub async fn user(&self, name: &str) -> StoreResult<Option<UserRecord>> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {USER_COLUMNS} FROM users WHERE name = $1"
        )))
        .bind(name)
        .fetch_optional(self.reader())
        .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    /// Users after `after` by name, at most `limit` (bounded by [`MAX_PAGE_SIZE`] + 1).
    pub async fn users_page(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<UserRecord>> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {USER_COLUMNS} FROM users WHERE $1 IS NULL OR name > $1 ORDER BY name LIMIT {}",
            limit.min(MAX_PAGE_SIZE + 1)
        )))
        .bind(after)
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(user_from_row).collect()
    }

    /// Adds `user`; false when the name is taken. `only_if_first` makes it fail (false) when
    /// any user exists, in the same transaction: two setup requests cannot both win.
    pub async fn create_user(
        &self,
        user: &UserRecord,
        only_if_first: bool,
        audit: &AuditEntry,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        if only_if_first {
            let existing: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
                .fetch_one(&mut *tx)
                .await?;
            if existing > 0 {
                return Ok(false);
            }
        }
        let done = sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO users ({USER_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (name) DO NOTHING"
        )))
        .bind(&user.name)
        .bind(&user.password_hash)
        .bind(user.role.as_str())
        .bind(i64::from(user.disabled))
        .bind(millis(user.created_at))
        .bind(millis(user.updated_at))
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        insert_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Changes `name` as `change` says; false when there is no such user. A new password or
    /// a disabled account also ends the user's sessions.
    pub async fn update_user(
        &self,
        name: &str,
        change: &UserChange,
        now: DateTime<Utc>,
        audit: &AuditEntry,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE users SET role = COALESCE($2, role), disabled = COALESCE($3, disabled),
                 password_hash = COALESCE($4, password_hash), updated_at = $5
             WHERE name = $1",
        )
        .bind(name)
        .bind(change.role.map(Role::as_str))
        .bind(change.disabled.map(i64::from))
        .bind(change.password_hash.as_deref())
        .bind(millis(now))
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        if change.password_hash.is_some() || change.disabled == Some(true) {
            sqlx::query("DELETE FROM sessions WHERE user_name = $1")
                .bind(name)
                .execute(&mut *tx)
                .await?;
        }
        insert_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Removes `name` and their sessions; false when there is no such user.
    pub async fn delete_user(&self, name: &str, audit: &AuditEntry) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("DELETE FROM users WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        sqlx::query("DELETE FROM sessions WHERE user_name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        insert_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// The number of enabled admins other than `except` (the last admin cannot be removed).
    pub async fn other_admins(&self, except: &str) -> StoreResult<i64> {
        Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM users WHERE role = 'admin' AND disabled = 0 AND name <> $1",
        )
        .bind(except)
        .fetch_one(self.reader())
        .await?)
    }

    pub async fn create_session(
        &self,
        session: &SessionRecord,
        audit: &AuditEntry,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO sessions ({SESSION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)"
        )))
        .bind(&session.id_hash)
        .bind(&session.user)
        .bind(&session.csrf_token)
        .bind(millis(session.created_at))
        .bind(millis(session.last_seen))
        .bind(&session.from_addr)
        .execute(&mut *tx)
        .await?;
        insert_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The session whose secret hashes to `id_hash`, with its user.
    pub async fn session(&self, id_hash: &str) -> StoreResult<Option<(SessionRecord, UserRecord)>> {
        // The session's own columns under other names, so that the user's read as a user's.
        let row = sqlx::query(
            "SELECT s.id_hash, s.user_name, s.csrf_token, s.created_at AS session_created_at,
                    s.last_seen, s.from_addr,
                    u.name, u.password_hash, u.role, u.disabled, u.created_at, u.updated_at
             FROM sessions s JOIN users u ON u.name = s.user_name WHERE s.id_hash = $1",
        )
        .bind(id_hash)
        .fetch_optional(self.reader())
        .await?;
        let Some(row) = row else { return Ok(None) };
        let session = session_from_row(&row, "session_created_at")?;
        let user = user_from_row(&row)?;
        Ok(Some((session, user)))
    }

    /// Marks `id_hash` used at `now` (the idle timeout counts from here).
    pub async fn touch_session(&self, id_hash: &str, now: DateTime<Utc>) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("UPDATE sessions SET last_seen = $2 WHERE id_hash = $1")
            .bind(id_hash)
            .bind(millis(now))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Ends one session (`Some`) or every session of `user` (`None`); how many ended.
    pub async fn end_sessions(
        &self,
        user: &str,
        id_hash: Option<&str>,
        audit: &AuditEntry,
    ) -> StoreResult<u64> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "DELETE FROM sessions WHERE user_name = $1 AND ($2 IS NULL OR id_hash = $2)",
        )
        .bind(user)
        .bind(id_hash)
        .execute(&mut *tx)
        .await?;
        insert_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }

    /// The sessions of `user`, newest first (a user has few).
    pub async fn sessions_of(&self, user: &str) -> StoreResult<Vec<SessionRecord>> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {SESSION_COLUMNS} FROM sessions WHERE user_name = $1
             ORDER BY created_at DESC LIMIT {MAX_PAGE_SIZE}"
        )))
        .bind(user)
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|row| session_from_row(row, "created_at"))
            .collect()
    }

    /// Removes sessions idle since before `idle_before` or created before `created_before`.
    pub async fn prune_sessions(
        &self,
        idle_before: DateTime<Utc>,
        created_before: DateTime<Utc>,
    ) -> StoreResult<u64> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("DELETE FROM sessions WHERE last_seen < $1 OR created_at < $2")
            .bind(millis(idle_before))
            .bind(millis(created_before))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }

    pub async fn audit(&self, entry: &AuditEntry) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        insert_audit(&mut tx, entry).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Audit entries before the `(at, id)` cursor, newest first, at most `limit`.
    pub async fn audit_page(
        &self,
        before: Option<(DateTime<Utc>, &str)>,
        limit: usize,
    ) -> StoreResult<Vec<AuditEntry>> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT id, at, actor, action, subject, detail, from_addr FROM audit_log
             WHERE $1 IS NULL OR at < $1 OR (at = $1 AND id < $2)
             ORDER BY at DESC, id DESC LIMIT {}",
            limit.min(MAX_PAGE_SIZE + 1)
        )))
        .bind(before.map(|(at, _)| millis(at)))
        .bind(before.map_or("", |(_, id)| id))
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(AuditEntry {
                    id: row.try_get("id")?,
                    at: from_millis(row.try_get("at")?),
                    actor: row.try_get("actor")?,
                    action: row.try_get("action")?,
                    subject: row.try_get("subject")?,
                    detail: row.try_get("detail")?,
                    from_addr: row.try_get("from_addr")?,
                })
            })
            .collect()
    }

    /// Stores the hash of a one-time secret under `name`, replacing any earlier one.
    pub async fn put_secret(
        &self,
        name: &str,
        secret_hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO server_secrets (name, secret_hash, created_at) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO UPDATE SET secret_hash = excluded.secret_hash,
                 created_at = excluded.created_at",
        )
        .bind(name)
        .bind(secret_hash)
        .bind(millis(now))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The stored hash of the secret `name`.
    pub async fn secret(&self, name: &str) -> StoreResult<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT secret_hash FROM server_secrets WHERE name = $1")
                .bind(name)
                .fetch_optional(self.reader())
                .await?,
        )
    }

    pub async fn delete_secret(&self, name: &str) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM server_secrets WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// A server replica as it last reported itself.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct ReplicaRecord {
    pub id: String,
    pub started_at: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    pub version: String,
    /// The address it listens on, as it sees it.
    pub listen: String,
}

impl Store {
    /// Records that replica `replica` is alive at `now`.
    pub async fn note_replica(&self, replica: &ReplicaRecord) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO replicas (id, started_at, last_seen, version, listen)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (id) DO UPDATE SET last_seen = excluded.last_seen",
        )
        .bind(&replica.id)
        .bind(millis(replica.started_at))
        .bind(millis(replica.last_seen))
        .bind(&replica.version)
        .bind(&replica.listen)
        .execute(&mut *tx)
        .await?;
        // Replicas gone for a day are forgotten.
        sqlx::query("DELETE FROM replicas WHERE last_seen < $1")
            .bind(millis(replica.last_seen) - 86_400_000)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Replicas heard from since `since`, newest first (bounded: a fleet has few).
    pub async fn replicas_since(&self, since: DateTime<Utc>) -> StoreResult<Vec<ReplicaRecord>> {
        let rows: Vec<(String, i64, i64, String, String)> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT id, started_at, last_seen, version, listen FROM replicas WHERE last_seen >= $1
             ORDER BY last_seen DESC LIMIT {MAX_PAGE_SIZE}"
        )))
        .bind(millis(since))
        .fetch_all(self.reader())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, started, seen, version, listen)| ReplicaRecord {
                id,
                started_at: from_millis(started),
                last_seen: from_millis(seen),
                version,
                listen,
            })
            .collect())
    }
}
