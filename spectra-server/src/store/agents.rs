//! Agents: enrollment, approval, the event trail, heartbeats and auth failures.

use super::tokens::insert_token;
use super::*;

#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct AgentRecord {
    pub id: String,
    pub hostname: String,
    pub os: String,
    pub version: String,
    pub capabilities: Vec<String>,
    pub machine_id: Option<String>,
    pub labels: std::collections::BTreeMap<String, String>,
    pub approved: bool,
    pub registered_at: DateTime<Utc>,
    pub last_seen: Option<DateTime<Utc>>,
    pub last_snapshot_id: Option<String>,
    pub last_snapshot_at: Option<DateTime<Utc>>,
    /// A Go agent admitted by `--legacy-agents`: known by hostname, with no token.
    pub legacy: bool,
    /// For a pending re-enrollment request: the approved agent whose identity approving it
    /// hands over (see [`Store::enroll`]).
    pub replaces: Option<String>,
    /// Requests refused since its last enrollment because they carried one of its replaced
    /// tokens (a process still running with an old identity, or someone holding a copy).
    pub auth_failures: i64,
    /// The last such request, and the address it came from.
    pub auth_failed_at: Option<DateTime<Utc>>,
    pub auth_failed_from: Option<String>,
}

/// How many agents are in each state (see [`Store::agent_counts`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct AgentCounts {
    pub online: i64,
    pub stale: i64,
    pub offline: i64,
    pub pending: i64,
    /// Agents a request with a replaced token was refused for, within the stale window.
    pub failing_auth: i64,
    pub total: i64,
}

/// `text` for a LIKE pattern with `\` as the escape: its own `%`, `_` and `\` match
/// themselves.
fn escape_like(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Who uploads, as far as the store needs to know: the agent, and when it was last seen (so
/// an upload refreshes `last_seen` only when it is stale).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uploader {
    pub id: String,
    pub last_seen: Option<DateTime<Utc>>,
}

impl From<&AgentRecord> for Uploader {
    fn from(agent: &AgentRecord) -> Self {
        Uploader {
            id: agent.id.clone(),
            last_seen: agent.last_seen,
        }
    }
}

/// How an enrollment proved itself, which decides what a re-enrollment keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enrollment<'a> {
    /// The enrollment token alone.
    Token,
    /// The enrollment token and the current token of agent `.0`.
    Proven(&'a str),
}

/// One entry of an agent's identity trail.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct AgentEvent {
    pub agent_id: String,
    pub at: DateTime<Utc>,
    /// `enrolled`, `re-enrolled`, `re-enrolled-unproven`, `approved`, `deregistered`.
    pub event: String,
    /// Who caused it: `agent`, a token label, or the client address of an unproven request.
    pub actor: String,
    pub detail: String,
}

/// An upload is a sign of life: `last_seen` moves to `now` in the upload's own transaction
/// when it is older than [`crate::auth::ALIVE_REFRESH`]. The statement is skipped when the
/// agent's record, read to authenticate the upload, was fresh already (most uploads).
pub(super) async fn touch_agent(
    conn: &mut AnyConnection,
    agent: &Uploader,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    if let Some(refresh_before) = stale_since(agent, now) {
        sqlx::query(TOUCH_AGENT)
            .bind(agent.id.as_str())
            .bind(millis(now))
            .bind(refresh_before)
            .execute(conn)
            .await?;
    }
    Ok(())
}

/// Moves an agent's (`$1`) `last_seen` to `$2` unless it is at `$3` or later already.
pub(super) const TOUCH_AGENT: &str =
    "UPDATE agents SET last_seen = $2 WHERE id = $1 AND (last_seen IS NULL OR last_seen < $3)";

/// When `agent`'s `last_seen` needs refreshing at `now`: the time before which it is stale.
pub(super) fn stale_since(agent: &Uploader, now: DateTime<Utc>) -> Option<i64> {
    let fresh = agent
        .last_seen
        .is_some_and(|seen| now - seen < crate::auth::ALIVE_REFRESH);
    (!fresh).then(|| millis(now) - crate::auth::ALIVE_REFRESH.num_milliseconds())
}

pub(super) async fn record_agent_event(
    conn: &mut AnyConnection,
    agent_id: &str,
    at: DateTime<Utc>,
    event: &str,
    actor: &str,
    detail: &str,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO agent_events (id, agent_id, at, event, actor, detail)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(Uuid::new_v4().to_string())
    .bind(agent_id)
    .bind(millis(at))
    .bind(event)
    .bind(actor)
    .bind(detail)
    .execute(conn)
    .await?;
    Ok(())
}

/// Writes what an agent says about itself over its row.
async fn describe_agent(conn: &mut AnyConnection, id: &str, info: &AgentInfo) -> StoreResult<()> {
    sqlx::query(
        "UPDATE agents SET hostname = $2, os = $3, version = $4, capabilities = $5, labels = $6
         WHERE id = $1",
    )
    .bind(id)
    .bind(&info.hostname)
    .bind(&info.os)
    .bind(&info.version)
    .bind(serde_json::to_string(&info.capabilities).unwrap_or_default())
    .bind(serde_json::to_string(&info.labels).unwrap_or_default())
    .execute(conn)
    .await?;
    Ok(())
}

/// The pending request to replace `agent`, made or (when one is already waiting) described
/// anew: one request per agent, however often the enrollment token is tried. Its row has no
/// machine id, so it never meets the agent it names in a lookup by machine.
async fn replacement_request(
    conn: &mut AnyConnection,
    agent: &AgentRecord,
    info: &AgentInfo,
    now: DateTime<Utc>,
) -> StoreResult<String> {
    let waiting: Option<String> = sqlx::query_scalar("SELECT id FROM agents WHERE replaces = $1")
        .bind(&agent.id)
        .fetch_optional(&mut *conn)
        .await?;
    if let Some(id) = waiting {
        describe_agent(conn, &id, info).await?;
        return Ok(id);
    }
    let id = Uuid::new_v4().to_string();
    sqlx::query(
        "INSERT INTO agents (id, hostname, os, version, capabilities, machine_id, approved,
                             registered_at, labels, replaces)
         VALUES ($1, $2, $3, $4, $5, NULL, 0, $6, $7, $8)",
    )
    .bind(&id)
    .bind(&info.hostname)
    .bind(&info.os)
    .bind(&info.version)
    .bind(serde_json::to_string(&info.capabilities).unwrap_or_default())
    .bind(millis(now))
    .bind(serde_json::to_string(&info.labels).unwrap_or_default())
    .bind(&agent.id)
    .execute(conn)
    .await?;
    Ok(id)
}

/// Approves the re-enrollment `request`: the agent it names takes the request's description
/// and token (its own token stops working), the request's row goes, and the request's id
/// stays an alias of the agent (what it spooled under that id is the agent's).
async fn hand_over_identity(
    conn: &mut AnyConnection,
    request: &AgentRecord,
    agent_id: &str,
    actor: &str,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let info = AgentInfo {
        hostname: request.hostname.clone(),
        os: request.os.clone(),
        version: request.version.clone(),
        capabilities: request.capabilities.clone(),
        machine_id: None,
        labels: request.labels.clone(),
    };
    describe_agent(conn, agent_id, &info).await?;
    revoke_agent_tokens(conn, agent_id, now).await?;
    sqlx::query("UPDATE tokens SET agent_id = $2 WHERE agent_id = $1")
        .bind(&request.id)
        .bind(agent_id)
        .execute(&mut *conn)
        .await?;
    sqlx::query("DELETE FROM agents WHERE id = $1")
        .bind(&request.id)
        .execute(&mut *conn)
        .await?;
    sqlx::query("INSERT INTO agent_aliases (alias, agent_id) VALUES ($1, $2)")
        .bind(&request.id)
        .bind(agent_id)
        .execute(&mut *conn)
        .await?;
    let detail = format!(
        "re-enrollment request {} approved: its token replaces this agent's; hostname {:?}",
        request.id, request.hostname
    );
    record_agent_event(conn, agent_id, now, "identity-replaced", actor, &detail).await?;
    let detail = format!("approved: merged into agent {agent_id}");
    record_agent_event(conn, &request.id, now, "approved", actor, &detail).await
}

/// Revokes the tokens of `agent_id`, remembering their ids (see `revoked_agent_tokens`), and
/// starts its count of refused requests afresh: what failed before this enrollment is over.
async fn revoke_agent_tokens(
    conn: &mut AnyConnection,
    agent_id: &str,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO revoked_agent_tokens (token_id, agent_id, revoked_at)
         SELECT id, agent_id, $2 FROM tokens WHERE agent_id = $1
         ON CONFLICT (token_id) DO NOTHING",
    )
    .bind(agent_id)
    .bind(millis(now))
    .execute(&mut *conn)
    .await?;
    sqlx::query("DELETE FROM tokens WHERE agent_id = $1")
        .bind(agent_id)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "UPDATE agents SET auth_failures = 0, auth_failed_at = NULL, auth_failed_from = NULL
         WHERE id = $1",
    )
    .bind(agent_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// How long a replaced token is remembered for attributing refused requests to its agent.
pub const REVOKED_TOKEN_MEMORY: chrono::Duration = chrono::Duration::days(30);

pub(super) const AGENT_COLUMNS: &str = "a.id AS a_id, a.hostname AS a_hostname, a.os AS a_os,
    a.version AS a_version, a.capabilities AS a_capabilities, a.machine_id AS a_machine_id,
    a.approved AS a_approved, a.registered_at AS a_registered_at, a.last_seen AS a_last_seen,
    a.last_snapshot_id AS a_last_snapshot_id, a.last_snapshot_at AS a_last_snapshot_at,
    a.legacy AS a_legacy, a.labels AS a_labels, a.replaces AS a_replaces,
    a.auth_failures AS a_auth_failures, a.auth_failed_at AS a_auth_failed_at,
    a.auth_failed_from AS a_auth_failed_from";

/// The machine identities of legacy Go agents: `legacy:HOSTNAME`. Real agents may not enroll
/// with one (see the register handler).
pub const LEGACY_MACHINE_PREFIX: &str = "legacy:";

pub(super) async fn fetch_agent(
    conn: &mut sqlx::AnyConnection,
    id: &str,
) -> StoreResult<Option<AgentRecord>> {
    let row = sqlx::query(AssertSqlSafe(format!(
        "SELECT {AGENT_COLUMNS} FROM agents a WHERE a.id = $1"
    )))
    .bind(id)
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(agent_from_row).transpose()
}

/// The agent row this transaction has just written, which must be there.
pub(super) async fn agent_written(
    conn: &mut AnyConnection,
    id: &str,
    while_doing: &str,
) -> StoreResult<AgentRecord> {
    fetch_agent(conn, id)
        .await?
        .ok_or_else(|| StoreError::Corrupt {
            what: "agent",
            message: format!("{id} vanished while {while_doing}"),
        })
}

pub(super) fn agent_from_row(row: &AnyRow) -> StoreResult<AgentRecord> {
    let capabilities: String = row.try_get("a_capabilities")?;
    Ok(AgentRecord {
        id: row.try_get("a_id")?,
        hostname: row.try_get("a_hostname")?,
        os: row.try_get("a_os")?,
        version: row.try_get("a_version")?,
        capabilities: serde_json::from_str(&capabilities).map_err(|e| StoreError::Corrupt {
            what: "agent capabilities",
            message: e.to_string(),
        })?,
        machine_id: row.try_get("a_machine_id")?,
        labels: serde_json::from_str(&row.try_get::<String, _>("a_labels")?).map_err(|e| {
            StoreError::Corrupt {
                what: "agent labels",
                message: e.to_string(),
            }
        })?,
        approved: row.try_get::<i64, _>("a_approved")? != 0,
        registered_at: from_millis(row.try_get("a_registered_at")?),
        last_seen: row
            .try_get::<Option<i64>, _>("a_last_seen")?
            .map(from_millis),
        last_snapshot_id: row.try_get("a_last_snapshot_id")?,
        last_snapshot_at: row
            .try_get::<Option<i64>, _>("a_last_snapshot_at")?
            .map(from_millis),
        legacy: row.try_get::<i64, _>("a_legacy")? != 0,
        replaces: row.try_get("a_replaces")?,
        auth_failures: row.try_get("a_auth_failures")?,
        auth_failed_at: row
            .try_get::<Option<i64>, _>("a_auth_failed_at")?
            .map(from_millis),
        auth_failed_from: row.try_get("a_auth_failed_from")?,
    })
}

impl Store {
    /// Enrolls an agent, or re-enrolls one with a known `machine_id` (which keeps its id and
    /// history and replaces its token). What a re-enrollment may change depends on its proof:
    /// with the agent's current token it keeps the approval and updates the description;
    /// without it, when `approval_required` and the agent is approved, the agent is not
    /// touched at all (its token keeps working): the enrollment becomes a pending request of
    /// its own that names the agent ([`AgentRecord::replaces`]), and only an admin's approval
    /// hands the identity over. So the enrollment token alone can neither take over nor knock
    /// out an approved agent. Every case is written to the agent's event trail with `actor`.
    /// `token.agent_id` is set to the id the token now opens (the request's, for a request).
    pub async fn enroll(
        &self,
        info: &AgentInfo,
        approval_required: bool,
        proof: Enrollment<'_>,
        actor: &str,
        mut token: TokenRecord,
        now: DateTime<Utc>,
    ) -> StoreResult<(AgentRecord, TokenRecord)> {
        let capabilities = serde_json::to_string(&info.capabilities).unwrap_or_default();
        let labels = serde_json::to_string(&info.labels).unwrap_or_default();
        let mut tx = self.begin_write().await?;
        let existing = match &info.machine_id {
            Some(machine_id) => {
                let row = sqlx::query(AssertSqlSafe(format!(
                    "SELECT {AGENT_COLUMNS} FROM agents a WHERE a.machine_id = $1"
                )))
                .bind(machine_id)
                .fetch_optional(&mut *tx)
                .await?;
                row.as_ref().map(agent_from_row).transpose()?
            }
            None => None,
        };
        let (id, event, detail) = match existing {
            None => {
                let id = Uuid::new_v4().to_string();
                sqlx::query(
                    "INSERT INTO agents (id, hostname, os, version, capabilities, machine_id,
                                         approved, registered_at, labels)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(&id)
                .bind(&info.hostname)
                .bind(&info.os)
                .bind(&info.version)
                .bind(&capabilities)
                .bind(info.machine_id.clone())
                .bind(i64::from(!approval_required))
                .bind(millis(now))
                .bind(&labels)
                .execute(&mut *tx)
                .await?;
                let detail = format!("hostname {:?}", info.hostname);
                (id, "enrolled", detail)
            }
            Some(agent)
                if proof != Enrollment::Proven(agent.id.as_str())
                    && approval_required
                    && agent.approved =>
            {
                let request = replacement_request(&mut tx, &agent, info, now).await?;
                let detail = format!(
                    "without the agent's token, by {actor}: a pending request {request} \
                     (hostname {:?}) that an admin may approve (it then replaces this agent's \
                     identity) or delete (rejected); this agent is unchanged",
                    info.hostname
                );
                record_agent_event(
                    &mut tx,
                    &agent.id,
                    now,
                    "re-enrollment-requested",
                    actor,
                    &detail,
                )
                .await?;
                let detail = format!("would replace agent {} ({:?})", agent.id, agent.hostname);
                (request, "re-enrollment-request", detail)
            }
            Some(agent) => {
                let proven = proof == Enrollment::Proven(agent.id.as_str());
                let (event, detail) = if proven {
                    (
                        "re-enrolled",
                        format!("proved by its agent token; hostname {:?}", info.hostname),
                    )
                } else {
                    (
                        "re-enrolled-unproven",
                        format!("without the agent's token; hostname {:?}", info.hostname),
                    )
                };
                describe_agent(&mut tx, &agent.id, info).await?;
                (agent.id, event, detail)
            }
        };
        revoke_agent_tokens(&mut tx, &id, now).await?;
        token.agent_id = Some(id.clone());
        insert_token(&mut tx, &token).await?;
        record_agent_event(&mut tx, &id, now, event, actor, &detail).await?;
        let agent = agent_written(&mut tx, &id, "enrolling").await?;
        tx.commit().await?;
        Ok((agent, token))
    }

    /// The Go agent named `hostname`, admitted by `--legacy-agents`: registered (or its
    /// description updated) on first sight. It has no token; its machine identity is its
    /// hostname, in a namespace (`legacy:`) real agents cannot enroll into.
    pub async fn legacy_agent(
        &self,
        hostname: &str,
        description: Option<(&str, &str)>,
        approved: bool,
        actor: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<AgentRecord> {
        let machine_id = format!("{LEGACY_MACHINE_PREFIX}{hostname}");
        let known = sqlx::query(AssertSqlSafe(format!(
            "SELECT {AGENT_COLUMNS} FROM agents a WHERE a.machine_id = $1"
        )))
        .bind(&machine_id)
        .fetch_optional(self.reader())
        .await?;
        if let (Some(row), None) = (&known, description) {
            return agent_from_row(row);
        }
        let (os, version) = description.unwrap_or(("unknown", "unknown"));
        let mut tx = self.begin_write().await?;
        let id: String = sqlx::query_scalar(
            "INSERT INTO agents (id, hostname, os, version, capabilities, machine_id, approved,
                                 registered_at, legacy)
             VALUES ($1, $2, $3, $4, '[]', $5, $6, $7, 1)
             ON CONFLICT (machine_id) DO UPDATE SET os = excluded.os, version = excluded.version
             RETURNING id",
        )
        .bind(Uuid::new_v4().to_string())
        .bind(hostname)
        .bind(os)
        .bind(version)
        .bind(&machine_id)
        .bind(i64::from(approved))
        .bind(millis(now))
        .fetch_one(&mut *tx)
        .await?;
        if known.is_none() {
            record_agent_event(
                &mut tx,
                &id,
                now,
                "enrolled",
                actor,
                &format!("legacy Go agent {hostname:?}, unauthenticated"),
            )
            .await?;
        }
        let agent = agent_written(&mut tx, &id, "registering").await?;
        tx.commit().await?;
        Ok(agent)
    }

    pub async fn agent_events(&self, agent_id: &str) -> StoreResult<Vec<AgentEvent>> {
        let rows = sqlx::query(
            "SELECT agent_id, at, event, actor, detail FROM agent_events WHERE agent_id = $1
             ORDER BY at, id",
        )
        .bind(agent_id)
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(AgentEvent {
                    agent_id: row.try_get("agent_id")?,
                    at: from_millis(row.try_get("at")?),
                    event: row.try_get("event")?,
                    actor: row.try_get("actor")?,
                    detail: row.try_get("detail")?,
                })
            })
            .collect()
    }

    /// Counts one failed authentication of each subject (`token:ID`, `addr:IP`) in the
    /// current minute and returns the highest count among them.
    pub async fn record_auth_failure(
        &self,
        subjects: &[String],
        now: DateTime<Utc>,
    ) -> StoreResult<i64> {
        let mut tx = self.begin_write().await?;
        let mut highest = 0;
        for subject in subjects {
            let failures: i64 = sqlx::query_scalar(
                "INSERT INTO auth_failures (subject, window_start, failures) VALUES ($1, $2, 1)
                 ON CONFLICT (subject, window_start)
                 DO UPDATE SET failures = auth_failures.failures + 1
                 RETURNING failures",
            )
            .bind(subject)
            .bind(rate_window(now))
            .fetch_one(&mut *tx)
            .await?;
            highest = highest.max(failures);
        }
        tx.commit().await?;
        Ok(highest)
    }

    /// The highest count of failed authentications among `subjects` in the current minute.
    pub async fn auth_failures(&self, subjects: &[String], now: DateTime<Utc>) -> StoreResult<i64> {
        let mut highest = 0;
        for subject in subjects {
            let failures: Option<i64> = sqlx::query_scalar(
                "SELECT failures FROM auth_failures WHERE subject = $1 AND window_start = $2",
            )
            .bind(subject)
            .bind(rate_window(now))
            .fetch_optional(self.reader())
            .await?;
            highest = highest.max(failures.unwrap_or(0));
        }
        Ok(highest)
    }

    pub async fn agents(&self) -> StoreResult<Vec<AgentRecord>> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {AGENT_COLUMNS} FROM agents a ORDER BY a.hostname, a.id"
        )))
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(agent_from_row).collect()
    }

    /// One page of agents in (hostname, id) order after `after`, carrying every one of
    /// `labels` (matched in SQL on the labels' JSON text, where `"key":"value"` can only be that
    /// pair: keys and values are JSON strings, so a quote inside one is escaped).
    pub async fn agents_page(
        &self,
        labels: &[(&str, &str)],
        after: Option<&(String, String)>,
        limit: usize,
    ) -> StoreResult<Vec<AgentRecord>> {
        let mut sql = format!("SELECT {AGENT_COLUMNS} FROM agents a WHERE 1 = 1");
        let mut binds: Vec<String> = Vec::new();
        for (key, value) in labels {
            let pair = format!(
                "{}:{}",
                serde_json::Value::from(*key),
                serde_json::Value::from(*value)
            );
            binds.push(format!("%{}%", escape_like(&pair)));
            sql.push_str(&format!(" AND a.labels LIKE ${} ESCAPE '\\'", binds.len()));
        }
        if let Some((hostname, id)) = after {
            binds.push(hostname.clone());
            binds.push(id.clone());
            let (h, i) = (binds.len() - 1, binds.len());
            sql.push_str(&format!(
                " AND (a.hostname > ${h} OR (a.hostname = ${h} AND a.id > ${i}))"
            ));
        }
        sql.push_str(&format!(
            " ORDER BY a.hostname, a.id LIMIT {}",
            limit.min(MAX_PAGE_SIZE + 1)
        ));
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for bind in binds {
            query = query.bind(bind);
        }
        let rows = query.fetch_all(self.reader()).await?;
        rows.iter().map(agent_from_row).collect()
    }

    /// Agents by how recently they were heard from (online within `online`, stale within
    /// `stale`, else offline), pending approval, and in all; counted in the database.
    pub async fn agent_counts(
        &self,
        now: DateTime<Utc>,
        online: chrono::Duration,
        stale: chrono::Duration,
    ) -> StoreResult<AgentCounts> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS total,
                    COALESCE(SUM(CASE WHEN last_seen >= $1 THEN 1 ELSE 0 END), 0) AS online,
                    COALESCE(SUM(CASE WHEN last_seen < $1 AND last_seen >= $2 THEN 1 ELSE 0 END), 0)
                        AS stale,
                    COALESCE(SUM(CASE WHEN approved = 0 THEN 1 ELSE 0 END), 0) AS pending,
                    COALESCE(SUM(CASE WHEN auth_failed_at >= $2 THEN 1 ELSE 0 END), 0)
                        AS failing_auth
             FROM agents",
        )
        .bind(millis(now - online))
        .bind(millis(now - stale))
        .fetch_one(self.reader())
        .await?;
        let total: i64 = row.try_get("total")?;
        let online: i64 = row.try_get("online")?;
        let stale: i64 = row.try_get("stale")?;
        Ok(AgentCounts {
            total,
            online,
            stale,
            offline: total - online - stale,
            pending: row.try_get("pending")?,
            failing_auth: row.try_get("failing_auth")?,
        })
    }

    /// Attributes a refused request carrying the replaced token `token_id` to its agent:
    /// counts it, with when and from where, and records an `auth-failing` event when the agent
    /// was not already failing within `quiet_after` (so a process retrying every minute is one
    /// event, not thousands). Returns the agent's id, or `None` for a token nobody had.
    pub async fn note_revoked_token_use(
        &self,
        token_id: &str,
        from: Option<&str>,
        now: DateTime<Utc>,
        quiet_after: chrono::Duration,
    ) -> StoreResult<Option<String>> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(
            "SELECT a.id AS id, a.auth_failed_at AS failed_at FROM revoked_agent_tokens r
             JOIN agents a ON a.id = r.agent_id WHERE r.token_id = $1",
        )
        .bind(token_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let agent_id: String = row.try_get("id")?;
        let failed_at: Option<i64> = row.try_get("failed_at")?;
        if failed_at.is_none_or(|at| from_millis(at) < now - quiet_after) {
            let detail = format!(
                "a request with its replaced token {token_id} was refused (from {})",
                from.unwrap_or("an unknown address")
            );
            record_agent_event(&mut tx, &agent_id, now, "auth-failing", "server", &detail).await?;
        }
        sqlx::query(
            "UPDATE agents SET auth_failures = auth_failures + 1, auth_failed_at = $2,
                    auth_failed_from = $3
             WHERE id = $1",
        )
        .bind(&agent_id)
        .bind(millis(now))
        .bind(from)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(agent_id))
    }

    /// Forgets replaced tokens older than [`REVOKED_TOKEN_MEMORY`]; returns how many.
    pub async fn prune_revoked_tokens(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("DELETE FROM revoked_agent_tokens WHERE revoked_at < $1")
            .bind(millis(now - REVOKED_TOKEN_MEMORY))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }

    pub async fn agent(&self, id: &str) -> StoreResult<Option<AgentRecord>> {
        let mut conn = self.reader().acquire().await?;
        fetch_agent(&mut conn, id).await
    }

    /// Approves agent `id`, or, when `id` is a re-enrollment request, hands the agent it names
    /// the request's identity. Returns the id of the agent now approved (`None`: no such row).
    pub async fn approve_agent(
        &self,
        id: &str,
        actor: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<String>> {
        let mut tx = self.begin_write().await?;
        let Some(agent) = fetch_agent(&mut tx, id).await? else {
            return Ok(None);
        };
        let approved = agent.replaces.clone().unwrap_or_else(|| agent.id.clone());
        if let Some(replaced) = &agent.replaces {
            hand_over_identity(&mut tx, &agent, replaced, actor, now).await?;
        } else {
            sqlx::query("UPDATE agents SET approved = 1 WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            record_agent_event(&mut tx, id, now, "approved", actor, "").await?;
        }
        tx.commit().await?;
        Ok(Some(approved))
    }

    /// Deregisters an agent: its tokens stop working and its history and queue are deleted
    /// (its event trail is kept, with the deregistration).
    pub async fn delete_agent(
        &self,
        id: &str,
        actor: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        if let Some(replaced) = fetch_agent(&mut tx, id).await?.and_then(|a| a.replaces) {
            let detail = format!("re-enrollment request {id} rejected (deleted)");
            record_agent_event(
                &mut tx,
                &replaced,
                now,
                "re-enrollment-rejected",
                actor,
                &detail,
            )
            .await?;
        }
        for table in [
            "tokens",
            "revoked_agent_tokens",
            "metrics",
            "latest_metrics",
            "metric_batches",
            "metric_rollups",
            "snapshots",
            "snapshot_owners",
            "commands",
            "agent_rates",
        ] {
            sqlx::query(AssertSqlSafe(format!(
                "DELETE FROM {table} WHERE agent_id = $1"
            )))
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        let done = sqlx::query("DELETE FROM agents WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 1 {
            record_agent_event(&mut tx, id, now, "deregistered", actor, "history deleted").await?;
        }
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    /// Whether `alias` is the id of an approved re-enrollment request that `agent_id` took over.
    pub async fn is_alias_of(&self, alias: &str, agent_id: &str) -> StoreResult<bool> {
        let found: Option<String> =
            sqlx::query_scalar("SELECT agent_id FROM agent_aliases WHERE alias = $1")
                .bind(alias)
                .fetch_optional(self.reader())
                .await?;
        Ok(found.as_deref() == Some(agent_id))
    }

    pub async fn heartbeat(&self, id: &str, now: DateTime<Utc>) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("UPDATE agents SET last_seen = $2 WHERE id = $1")
            .bind(id)
            .bind(millis(now))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}
