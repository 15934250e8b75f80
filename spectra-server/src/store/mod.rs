//! Where the server keeps everything: one [`Store`] trait over SQL, implemented for SQLite
//! ([`SqliteStore`], the zero-setup default) and PostgreSQL ([`PostgresStore`], for several
//! replicas over one database).
//!
//! Both speak the same SQL (the schema in `schema.sql` uses only types both read alike, and
//! `$N` placeholders, which SQLite accepts too), so nearly every operation is written once as a
//! provided method of the trait. An implementation supplies only what really differs: how a
//! write transaction takes its lock, how a command queue row is claimed without two replicas
//! taking the same one, and how waiting long-polls learn that a command was queued.
//!
//! Nothing a replica keeps in memory is needed by another: tokens, agents, the command queue
//! and the per-agent rate counters are all rows. Every write commits (SQLite: WAL with
//! `synchronous=FULL`; PostgreSQL: `synchronous_commit` as configured, on by default) before
//! the handler that made it answers.

mod postgres;
mod sqlite;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use spectra_core::protocol::{
    AgentInfo, CommandOutcome, CommandResult, Diagnostic, MetricBatch, Snapshot,
};
use sqlx::any::AnyRow;
use sqlx::{Any, AnyConnection, Row, Transaction};
use sqlx::{AnyPool, AssertSqlSafe};
use tokio::sync::Notify;

use sha2::{Digest, Sha256};

use crate::auth::{hex, sha256_hex};
use crate::series::series_key;
use uuid::Uuid;

pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

use crate::auth::Role;

const SCHEMA: &[(i64, &str)] = &[
    (1, include_str!("schema.sql")),
    (2, include_str!("schema_2.sql")),
    (3, include_str!("schema_3.sql")),
];
/// Rows per multi-row INSERT: well under both databases' bound-parameter limits.
const INSERT_CHUNK: usize = 400;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("stored {what} does not decode: {message}")]
    Corrupt { what: &'static str, message: String },
    #[error("the shared commit of this upload's group failed: {0}")]
    GroupCommit(String),
    #[error("database {url:?}: {message}")]
    Config { url: String, message: String },
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Opens the store a `--db` value names: `postgres://…` (or `postgresql://…`), else SQLite
/// at a path (`sqlite://PATH` or a bare path), created if missing.
pub async fn open(db: &str) -> StoreResult<Arc<dyn Store>> {
    if db.starts_with("postgres://") || db.starts_with("postgresql://") {
        Ok(Arc::new(PostgresStore::connect(db).await?))
    } else {
        let path = db.strip_prefix("sqlite://").unwrap_or(db);
        Ok(Arc::new(
            SqliteStore::open(std::path::Path::new(path)).await?,
        ))
    }
}

fn install_drivers() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(sqlx::any::install_default_drivers);
}

pub(crate) fn millis(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

pub(crate) fn from_millis(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or(DateTime::UNIX_EPOCH)
}

fn saturating_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// Long-polls waiting in this process, by agent. A queued command wakes them; on PostgreSQL
/// the wake-up arrives through `LISTEN`, so a poll on one replica hears a command queued on
/// another.
#[derive(Debug, Default)]
pub struct Wakeups {
    waiting: Mutex<HashMap<String, Arc<Notify>>>,
}

impl Wakeups {
    /// The handle to wait on for `agent_id`. Create the `notified()` future and `enable()` it
    /// *before* looking at the queue, so a command queued in between is not missed.
    pub fn handle(&self, agent_id: &str) -> Arc<Notify> {
        let mut waiting = self.waiting.lock().unwrap_or_else(PoisonError::into_inner);
        waiting.retain(|_, notify| Arc::strong_count(notify) > 1);
        waiting.entry(agent_id.to_owned()).or_default().clone()
    }

    pub fn wake(&self, agent_id: &str) {
        let waiting = self.waiting.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(notify) = waiting.get(agent_id) {
            notify.notify_waiters();
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgentRecord {
    pub id: String,
    pub hostname: String,
    pub os: String,
    pub version: String,
    pub capabilities: Vec<String>,
    pub machine_id: Option<String>,
    pub approved: bool,
    pub registered_at: DateTime<Utc>,
    pub last_seen: Option<DateTime<Utc>>,
    pub last_snapshot_id: Option<String>,
    pub last_snapshot_at: Option<DateTime<Utc>>,
    /// A Go agent admitted by `--legacy-agents`: known by hostname, with no token.
    pub legacy: bool,
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
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgentEvent {
    pub agent_id: String,
    pub at: DateTime<Utc>,
    /// `enrolled`, `re-enrolled`, `re-enrolled-unproven`, `approved`, `deregistered`.
    pub event: String,
    /// Who caused it: `agent`, a token label, or the client address of an unproven request.
    pub actor: String,
    pub detail: String,
}

/// A token as stored: only the hash of its secret is kept.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TokenRecord {
    pub id: String,
    #[serde(skip)]
    pub secret_hash: String,
    pub role: Role,
    pub name: String,
    pub agent_id: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CommandStatus {
    Queued,
    Running,
    Succeeded,
    Failed,
    /// Claimed by its agent but never answered within the command timeout.
    Expired,
}

impl CommandStatus {
    fn as_str(self) -> &'static str {
        match self {
            CommandStatus::Queued => "queued",
            CommandStatus::Running => "running",
            CommandStatus::Succeeded => "succeeded",
            CommandStatus::Failed => "failed",
            CommandStatus::Expired => "expired",
        }
    }

    fn parse(text: &str) -> StoreResult<Self> {
        Ok(match text {
            "queued" => CommandStatus::Queued,
            "running" => CommandStatus::Running,
            "succeeded" => CommandStatus::Succeeded,
            "failed" => CommandStatus::Failed,
            "expired" => CommandStatus::Expired,
            other => {
                return Err(StoreError::Corrupt {
                    what: "command status",
                    message: format!("unknown status {other:?}"),
                });
            }
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CommandRecord {
    pub id: Uuid,
    pub agent_id: String,
    pub diagnostic: Diagnostic,
    pub status: CommandStatus,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub claimed_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// The agent's report: `{"status": "succeeded", "output": …}` or `{"status": "failed", …}`.
    pub result: Option<serde_json::Value>,
}

/// What storing a result did.
#[derive(Debug, Clone, PartialEq)]
pub enum Finished {
    Stored,
    /// No such command for this agent.
    Unknown,
    /// The command is not running (never claimed, or already answered or expired).
    NotRunning(CommandStatus),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SnapshotSummary {
    pub id: String,
    pub agent_id: String,
    pub root: String,
    pub taken_at: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
    pub apparent_bytes: i64,
    pub disk_bytes: i64,
    pub files: i64,
    pub dirs: i64,
    pub partial: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PolicyRecord {
    pub name: String,
    /// The policy as JSON (core's `Policy`).
    pub body: serde_json::Value,
    pub updated_at: DateTime<Utc>,
    pub updated_by: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QuotaRecord {
    /// `user:NAME` or `root:PATH`.
    pub subject: String,
    pub limit_bytes: i64,
    pub updated_at: DateTime<Utc>,
    pub updated_by: String,
}

/// What an upload did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ingested {
    Stored,
    /// Seen before (same batch or snapshot id): kept once, acknowledged again.
    Duplicate,
    /// Over the agent's requests per minute; nothing was stored.
    RateLimited {
        retry_after_secs: u64,
    },
    /// The id was used before for other content (by this agent, or for a snapshot by
    /// another agent); nothing was stored.
    Conflict,
}

/// One raw metric row.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricRow {
    pub agent_id: String,
    pub hostname: String,
    pub kind: String,
    pub ts: i64,
    pub data: String,
}

/// The aggregate of one numeric field over one bucket.
#[derive(Debug, Clone, PartialEq)]
pub struct Rollup {
    pub agent_id: String,
    pub kind: String,
    pub field: String,
    pub bucket: i64,
    pub samples: i64,
    pub total: f64,
    pub low: f64,
    pub high: f64,
}

/// What the store can do. Implementors supply the few database-specific parts; everything
/// else is provided here in SQL both databases accept.
#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug {
    /// `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;
    /// Connections for reads.
    fn reader(&self) -> &AnyPool;
    /// Starts a transaction that holds the write lock from its first statement (SQLite's
    /// deferred `BEGIN` could fail on upgrading from read to write).
    async fn begin_write(&self) -> StoreResult<Transaction<'static, Any>>;
    /// Appended to the sub-select that picks the next queued command, so concurrent
    /// claimers skip a row another holds instead of taking it too.
    fn claim_lock_clause(&self) -> &'static str;
    /// Tells the long-polls of every replica that `agent_id` has a new command.
    async fn announce_command(&self, agent_id: &str) -> StoreResult<()>;
    /// The long-polls waiting in this process.
    fn wakeups(&self) -> &Wakeups;

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(self.reader()).await?;
        Ok(())
    }

    // ---- tokens

    async fn insert_token(&self, token: &TokenRecord) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        insert_token(&mut tx, token).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The token with this id and, for an agent token, its agent.
    async fn token(&self, id: &str) -> StoreResult<Option<(TokenRecord, Option<AgentRecord>)>> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT t.id, t.secret_hash, t.role, t.name, t.agent_id, t.created_at, {AGENT_COLUMNS}
             FROM tokens t LEFT JOIN agents a ON a.id = t.agent_id WHERE t.id = $1"
        )))
        .bind(id)
        .fetch_optional(self.reader())
        .await?;
        let Some(row) = row else { return Ok(None) };
        let token = token_from_row(&row)?;
        let agent = match row.try_get::<Option<String>, _>("a_id")? {
            Some(_) => Some(agent_from_row(&row)?),
            None => None,
        };
        Ok(Some((token, agent)))
    }

    async fn tokens(&self) -> StoreResult<Vec<TokenRecord>> {
        let rows = sqlx::query(
            "SELECT id, secret_hash, role, name, agent_id, created_at FROM tokens
             WHERE agent_id IS NULL ORDER BY created_at, id",
        )
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(token_from_row).collect()
    }

    async fn delete_token(&self, id: &str) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("DELETE FROM tokens WHERE id = $1 AND agent_id IS NULL")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    // ---- agents

    /// Enrolls an agent, or re-enrolls one with a known `machine_id` (which keeps its id and
    /// history and replaces its token). What a re-enrollment may change depends on its proof:
    /// with the agent's current token it keeps the approval and updates the description;
    /// without it, when `approval_required`, an approved agent goes back to pending (and keeps
    /// its description) until an admin approves again, so the enrollment token alone can never
    /// take over an approved identity. Every case is written to the agent's event trail with
    /// `actor`. `token.agent_id` is set to the agent's id.
    async fn enroll(
        &self,
        info: &AgentInfo,
        approval_required: bool,
        proof: Enrollment<'_>,
        actor: &str,
        mut token: TokenRecord,
        now: DateTime<Utc>,
    ) -> StoreResult<(AgentRecord, TokenRecord)> {
        let capabilities = serde_json::to_string(&info.capabilities).unwrap_or_default();
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
                                         approved, registered_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(&id)
                .bind(&info.hostname)
                .bind(&info.os)
                .bind(&info.version)
                .bind(&capabilities)
                .bind(info.machine_id.clone())
                .bind(i64::from(!approval_required))
                .bind(millis(now))
                .execute(&mut *tx)
                .await?;
                let detail = format!("hostname {:?}", info.hostname);
                (id, "enrolled", detail)
            }
            Some(agent) => {
                let proven = proof == Enrollment::Proven(agent.id.as_str());
                let withdraw = !proven && approval_required && agent.approved;
                let (event, detail) = if proven {
                    (
                        "re-enrolled",
                        format!("proved by its agent token; hostname {:?}", info.hostname),
                    )
                } else if withdraw {
                    (
                        "re-enrolled-unproven",
                        format!(
                            "without the agent's token: approval withdrawn until an admin \
                             approves again; hostname {:?} claimed, {:?} kept",
                            info.hostname, agent.hostname
                        ),
                    )
                } else {
                    (
                        "re-enrolled-unproven",
                        format!("without the agent's token; hostname {:?}", info.hostname),
                    )
                };
                if withdraw {
                    sqlx::query("UPDATE agents SET approved = 0 WHERE id = $1")
                        .bind(&agent.id)
                        .execute(&mut *tx)
                        .await?;
                } else {
                    sqlx::query(
                        "UPDATE agents SET hostname = $2, os = $3, version = $4, capabilities = $5
                         WHERE id = $1",
                    )
                    .bind(&agent.id)
                    .bind(&info.hostname)
                    .bind(&info.os)
                    .bind(&info.version)
                    .bind(&capabilities)
                    .execute(&mut *tx)
                    .await?;
                }
                (agent.id, event, detail)
            }
        };
        sqlx::query("DELETE FROM tokens WHERE agent_id = $1")
            .bind(&id)
            .execute(&mut *tx)
            .await?;
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
    async fn legacy_agent(
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

    async fn agent_events(&self, agent_id: &str) -> StoreResult<Vec<AgentEvent>> {
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
    async fn record_auth_failure(
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
    async fn auth_failures(&self, subjects: &[String], now: DateTime<Utc>) -> StoreResult<i64> {
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

    async fn agents(&self) -> StoreResult<Vec<AgentRecord>> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {AGENT_COLUMNS} FROM agents a ORDER BY a.hostname, a.id"
        )))
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(agent_from_row).collect()
    }

    async fn agent(&self, id: &str) -> StoreResult<Option<AgentRecord>> {
        let mut conn = self.reader().acquire().await?;
        fetch_agent(&mut conn, id).await
    }

    async fn approve_agent(&self, id: &str, actor: &str, now: DateTime<Utc>) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("UPDATE agents SET approved = 1 WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 1 {
            record_agent_event(&mut tx, id, now, "approved", actor, "").await?;
        }
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    /// Deregisters an agent: its tokens stop working and its history and queue are deleted
    /// (its event trail is kept, with the deregistration).
    async fn delete_agent(&self, id: &str, actor: &str, now: DateTime<Utc>) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        for table in [
            "tokens",
            "metrics",
            "latest_metrics",
            "metric_batches",
            "metric_rollups",
            "snapshots",
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

    async fn heartbeat(&self, id: &str, now: DateTime<Utc>) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("UPDATE agents SET last_seen = $2 WHERE id = $1")
            .bind(id)
            .bind(millis(now))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    // ---- metrics

    /// Stores a batch once (by its id) within the agent's rate limit, all in one transaction:
    /// either every envelope is durable or none is.
    async fn ingest_batch(
        &self,
        agent: &Uploader,
        batch: MetricBatch,
        now: DateTime<Utc>,
        requests_per_minute: u32,
    ) -> StoreResult<Ingested> {
        let mut tx = self.begin_write().await?;
        let outcome = write_batch(&mut tx, agent, &batch, now, requests_per_minute).await?;
        if matches!(outcome, Ingested::RateLimited { .. }) {
            tx.rollback().await?;
        } else {
            tx.commit().await?;
        }
        Ok(outcome)
    }

    /// Raw rows of one series (or of every kind when `kind` is `None`), oldest first.
    async fn metrics_between(
        &self,
        agent_id: Option<&str>,
        kind: Option<&str>,
        from: i64,
        to: i64,
    ) -> StoreResult<Vec<MetricRow>> {
        let rows = sqlx::query(
            "SELECT agent_id, hostname, kind, ts, data FROM metrics
             WHERE ($1 IS NULL OR agent_id = $1) AND ($2 IS NULL OR kind = $2)
               AND ts >= $3 AND ts < $4
             ORDER BY ts",
        )
        .bind(agent_id.map(str::to_owned))
        .bind(kind.map(str::to_owned))
        .bind(from)
        .bind(to)
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(metric_from_row).collect()
    }

    /// The newest row of every (agent, kind).
    async fn latest_metrics(&self) -> StoreResult<Vec<MetricRow>> {
        let rows = sqlx::query(
            "SELECT agent_id, hostname, kind, ts, data FROM latest_metrics
             ORDER BY agent_id, kind, series",
        )
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(metric_from_row).collect()
    }

    async fn rollups_between(
        &self,
        agent_id: &str,
        kind: &str,
        resolution_secs: i64,
        from: i64,
        to: i64,
    ) -> StoreResult<Vec<Rollup>> {
        let rows = sqlx::query(
            "SELECT agent_id, kind, field, bucket, samples, total, low, high FROM metric_rollups
             WHERE agent_id = $1 AND kind = $2 AND resolution = $3 AND bucket >= $4 AND bucket < $5
             ORDER BY bucket, field",
        )
        .bind(agent_id)
        .bind(kind)
        .bind(resolution_secs)
        .bind(from)
        .bind(to)
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(Rollup {
                    agent_id: row.try_get("agent_id")?,
                    kind: row.try_get("kind")?,
                    field: row.try_get("field")?,
                    bucket: row.try_get("bucket")?,
                    samples: row.try_get("samples")?,
                    total: row.try_get("total")?,
                    low: row.try_get("low")?,
                    high: row.try_get("high")?,
                })
            })
            .collect()
    }

    /// Up to where (ms, exclusive) rollups of this resolution are complete.
    async fn rollup_progress(&self, resolution_secs: i64) -> StoreResult<Option<i64>> {
        Ok(
            sqlx::query_scalar("SELECT done_until FROM rollup_progress WHERE resolution = $1")
                .bind(resolution_secs)
                .fetch_optional(self.reader())
                .await?,
        )
    }

    /// Replaces the rollups of `[from, to)` with `rollups` and, when `advance`, records
    /// progress up to `to` (a recomputation of a late hour leaves progress alone).
    /// Recomputing from raw rows makes this safe to run on several replicas at once.
    async fn write_rollups(
        &self,
        resolution_secs: i64,
        from: i64,
        to: i64,
        rollups: &[Rollup],
        advance: bool,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "DELETE FROM metric_rollups WHERE resolution = $1 AND bucket >= $2 AND bucket < $3",
        )
        .bind(resolution_secs)
        .bind(from)
        .bind(to)
        .execute(&mut *tx)
        .await?;
        for chunk in rollups.chunks(INSERT_CHUNK) {
            let sql = format!(
                "INSERT INTO metric_rollups
                 (agent_id, kind, resolution, field, bucket, samples, total, low, high)
                 VALUES {}
                 ON CONFLICT (agent_id, kind, resolution, field, bucket) DO UPDATE SET
                 samples = excluded.samples, total = excluded.total, low = excluded.low,
                 high = excluded.high",
                placeholders(chunk.len(), 9)
            );
            let mut query = sqlx::query(AssertSqlSafe(sql));
            for rollup in chunk {
                query = query
                    .bind(rollup.agent_id.as_str())
                    .bind(rollup.kind.as_str())
                    .bind(resolution_secs)
                    .bind(rollup.field.as_str())
                    .bind(rollup.bucket)
                    .bind(rollup.samples)
                    .bind(rollup.total)
                    .bind(rollup.low)
                    .bind(rollup.high);
            }
            query.execute(&mut *tx).await?;
        }
        if advance {
            sqlx::query(
                "INSERT INTO rollup_progress (resolution, done_until) VALUES ($1, $2)
                 ON CONFLICT (resolution) DO UPDATE SET done_until = excluded.done_until
                 WHERE rollup_progress.done_until < excluded.done_until",
            )
            .bind(resolution_secs)
            .bind(to)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Hours marked for recomputation by late envelopes, oldest first, with their marks.
    async fn dirty_hours(&self) -> StoreResult<Vec<(i64, i64)>> {
        let rows = sqlx::query("SELECT hour, marked_at FROM rollup_dirty ORDER BY hour")
            .fetch_all(self.reader())
            .await?;
        rows.iter()
            .map(|row| Ok((row.try_get("hour")?, row.try_get("marked_at")?)))
            .collect()
    }

    /// Clears the mark of `hour` if nothing marked it again after `marked_at`.
    async fn clear_dirty_hour(&self, hour: i64, marked_at: i64) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM rollup_dirty WHERE hour = $1 AND marked_at <= $2")
            .bind(hour)
            .bind(marked_at)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Deletes what retention no longer keeps: raw rows (and batch ids) before `raw_before`,
    /// rollups of each resolution before its bound, and spent rate windows.
    async fn prune(
        &self,
        raw_before: i64,
        rollups_before: &[(i64, i64)],
        now: DateTime<Utc>,
    ) -> StoreResult<u64> {
        let mut tx = self.begin_write().await?;
        let mut deleted = 0;
        deleted += sqlx::query("DELETE FROM metrics WHERE ts < $1")
            .bind(raw_before)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        sqlx::query("DELETE FROM metric_batches WHERE received_at < $1")
            .bind(raw_before)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM auth_failures WHERE window_start < $1")
            .bind(rate_window(now) - RATE_WINDOW_MS)
            .execute(&mut *tx)
            .await?;
        for &(resolution, before) in rollups_before {
            deleted +=
                sqlx::query("DELETE FROM metric_rollups WHERE resolution = $1 AND bucket < $2")
                    .bind(resolution)
                    .bind(before)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
        }
        sqlx::query("DELETE FROM agent_rates WHERE window_start < $1")
            .bind(rate_window(now) - RATE_WINDOW_MS)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(deleted)
    }

    // ---- snapshots

    async fn ingest_snapshot(
        &self,
        agent: &Uploader,
        snapshot: &Snapshot,
        now: DateTime<Utc>,
        requests_per_minute: u32,
    ) -> StoreResult<Ingested> {
        let report = serde_json::to_string(&snapshot.report).unwrap_or_default();
        let content_hash = sha256_hex(report.as_bytes());
        let totals = &snapshot.report.totals;
        let taken_at = millis(snapshot.report.finished_at);
        let id = snapshot.snapshot_id.to_string();
        let agent_id = agent.id.as_str();
        let mut tx = self.begin_write().await?;
        if let Some(limited) = count_request(&mut tx, agent_id, now, requests_per_minute).await? {
            return Ok(limited);
        }
        touch_agent(&mut tx, agent, now).await?;
        let fresh = sqlx::query(
            "INSERT INTO snapshots (id, agent_id, root, taken_at, received_at, apparent_bytes,
                                    disk_bytes, files, dirs, partial, report, content_hash)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(&id)
        .bind(agent_id)
        .bind(snapshot.root())
        .bind(taken_at)
        .bind(millis(now))
        .bind(saturating_i64(totals.apparent_bytes))
        .bind(saturating_i64(totals.disk_bytes))
        .bind(saturating_i64(totals.files))
        .bind(saturating_i64(totals.dirs))
        .bind(i64::from(snapshot.report.partial))
        .bind(report)
        .bind(&content_hash)
        .execute(&mut *tx)
        .await?;
        if fresh.rows_affected() == 0 {
            let (owner, stored_hash): (String, String) =
                sqlx::query_as("SELECT agent_id, content_hash FROM snapshots WHERE id = $1")
                    .bind(&id)
                    .fetch_one(&mut *tx)
                    .await?;
            let same = owner == agent_id && (stored_hash.is_empty() || stored_hash == content_hash);
            tx.commit().await?;
            return Ok(if same {
                Ingested::Duplicate
            } else {
                Ingested::Conflict
            });
        }
        sqlx::query(
            "UPDATE agents SET last_snapshot_id = $2, last_snapshot_at = $3
             WHERE id = $1 AND (last_snapshot_at IS NULL OR last_snapshot_at <= $3)",
        )
        .bind(agent_id)
        .bind(&id)
        .bind(taken_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Ingested::Stored)
    }

    /// Snapshot summaries, oldest first.
    async fn snapshots(
        &self,
        agent_id: Option<&str>,
        root: Option<&str>,
        from: i64,
        to: i64,
    ) -> StoreResult<Vec<SnapshotSummary>> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {SNAPSHOT_COLUMNS} FROM snapshots
             WHERE ($1 IS NULL OR agent_id = $1) AND ($2 IS NULL OR root = $2)
               AND taken_at >= $3 AND taken_at < $4
             ORDER BY taken_at, id"
        )))
        .bind(agent_id.map(str::to_owned))
        .bind(root.map(str::to_owned))
        .bind(from)
        .bind(to)
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(snapshot_from_row).collect()
    }

    /// A snapshot with its full report (JSON).
    async fn snapshot(
        &self,
        id: &str,
    ) -> StoreResult<Option<(SnapshotSummary, serde_json::Value)>> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {SNAPSHOT_COLUMNS}, report FROM snapshots WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(self.reader())
        .await?;
        let Some(row) = row else { return Ok(None) };
        let report: String = row.try_get("report")?;
        let report = serde_json::from_str(&report).map_err(|e| StoreError::Corrupt {
            what: "snapshot report",
            message: e.to_string(),
        })?;
        Ok(Some((snapshot_from_row(&row)?, report)))
    }

    // ---- policies

    async fn policies(&self) -> StoreResult<Vec<PolicyRecord>> {
        let rows =
            sqlx::query("SELECT name, body, updated_at, updated_by FROM policies ORDER BY name")
                .fetch_all(self.reader())
                .await?;
        rows.iter().map(policy_from_row).collect()
    }

    async fn policy(&self, name: &str) -> StoreResult<Option<PolicyRecord>> {
        let row =
            sqlx::query("SELECT name, body, updated_at, updated_by FROM policies WHERE name = $1")
                .bind(name)
                .fetch_optional(self.reader())
                .await?;
        row.as_ref().map(policy_from_row).transpose()
    }

    /// Creates a policy; false when one of that name exists.
    async fn create_policy(
        &self,
        name: &str,
        body: &serde_json::Value,
        by: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "INSERT INTO policies (name, body, updated_at, updated_by) VALUES ($1, $2, $3, $4)
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(body.to_string())
        .bind(millis(now))
        .bind(by)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    /// Replaces a policy; false when there is none of that name.
    async fn replace_policy(
        &self,
        name: &str,
        body: &serde_json::Value,
        by: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE policies SET body = $2, updated_at = $3, updated_by = $4 WHERE name = $1",
        )
        .bind(name)
        .bind(body.to_string())
        .bind(millis(now))
        .bind(by)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    async fn delete_policy(&self, name: &str) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("DELETE FROM policies WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    // ---- quotas

    async fn quotas(&self) -> StoreResult<Vec<QuotaRecord>> {
        let rows = sqlx::query(
            "SELECT subject, limit_bytes, updated_at, updated_by FROM quotas ORDER BY subject",
        )
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(QuotaRecord {
                    subject: row.try_get("subject")?,
                    limit_bytes: row.try_get("limit_bytes")?,
                    updated_at: from_millis(row.try_get("updated_at")?),
                    updated_by: row.try_get("updated_by")?,
                })
            })
            .collect()
    }

    /// Sets (creates or replaces) the quota of `subject`.
    async fn set_quota(
        &self,
        subject: &str,
        limit_bytes: i64,
        by: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO quotas (subject, limit_bytes, updated_at, updated_by)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (subject) DO UPDATE SET limit_bytes = excluded.limit_bytes,
                 updated_at = excluded.updated_at, updated_by = excluded.updated_by",
        )
        .bind(subject)
        .bind(limit_bytes)
        .bind(millis(now))
        .bind(by)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn delete_quota(&self, subject: &str) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("DELETE FROM quotas WHERE subject = $1")
            .bind(subject)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    /// The newest snapshot of every (agent, root), with its report: what is on disk now.
    async fn latest_snapshots(&self) -> StoreResult<Vec<(SnapshotSummary, serde_json::Value)>> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {SNAPSHOT_COLUMNS}, report FROM snapshots s
             WHERE taken_at = (SELECT MAX(taken_at) FROM snapshots n
                               WHERE n.agent_id = s.agent_id AND n.root = s.root)
             ORDER BY agent_id, root"
        )))
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|row| {
                let report: String = row.try_get("report")?;
                let report = serde_json::from_str(&report).map_err(|e| StoreError::Corrupt {
                    what: "snapshot report",
                    message: e.to_string(),
                })?;
                Ok((snapshot_from_row(row)?, report))
            })
            .collect()
    }

    // ---- commands

    async fn queue_command(
        &self,
        agent_id: &str,
        diagnostic: &Diagnostic,
        by: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<CommandRecord> {
        let record = CommandRecord {
            id: Uuid::new_v4(),
            agent_id: agent_id.to_owned(),
            diagnostic: diagnostic.clone(),
            status: CommandStatus::Queued,
            created_at: from_millis(millis(now)),
            created_by: by.to_owned(),
            claimed_at: None,
            finished_at: None,
            result: None,
        };
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO commands (id, agent_id, kind, diagnostic, status, created_at, created_by)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(record.id.to_string())
        .bind(agent_id)
        .bind(diagnostic.kind())
        .bind(serde_json::to_string(diagnostic).unwrap_or_default())
        .bind(CommandStatus::Queued.as_str())
        .bind(millis(now))
        .bind(by)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.announce_command(agent_id).await?;
        Ok(record)
    }

    async fn command(&self, id: &str) -> StoreResult<Option<CommandRecord>> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {COMMAND_COLUMNS} FROM commands WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(self.reader())
        .await?;
        row.as_ref().map(command_from_row).transpose()
    }

    /// Takes the oldest queued command of `agent_id` and marks it running, so no other poll
    /// (on any replica) gets it too.
    async fn claim_command(
        &self,
        agent_id: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<CommandRecord>> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(AssertSqlSafe(format!(
            "UPDATE commands SET status = 'running', claimed_at = $2
             WHERE id = (SELECT id FROM commands WHERE agent_id = $1 AND status = 'queued'
                         ORDER BY created_at, id LIMIT 1 {})
             RETURNING {COMMAND_COLUMNS}",
            self.claim_lock_clause()
        )))
        .bind(agent_id)
        .bind(millis(now))
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        row.as_ref().map(command_from_row).transpose()
    }

    async fn finish_command(
        &self,
        agent_id: &str,
        result: &CommandResult,
        now: DateTime<Utc>,
    ) -> StoreResult<Finished> {
        let status = match result.outcome {
            CommandOutcome::Succeeded { .. } => CommandStatus::Succeeded,
            CommandOutcome::Failed { .. } => CommandStatus::Failed,
        };
        let body = serde_json::to_value(&result.outcome).unwrap_or_default();
        let id = result.command_id.to_string();
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE commands SET status = $3, finished_at = $4, result = $5
             WHERE id = $1 AND agent_id = $2 AND status = 'running'",
        )
        .bind(&id)
        .bind(agent_id)
        .bind(status.as_str())
        .bind(millis(now))
        .bind(body.to_string())
        .execute(&mut *tx)
        .await?;
        let outcome = if done.rows_affected() == 1 {
            Finished::Stored
        } else {
            let current: Option<String> =
                sqlx::query_scalar("SELECT status FROM commands WHERE id = $1 AND agent_id = $2")
                    .bind(&id)
                    .bind(agent_id)
                    .fetch_optional(&mut *tx)
                    .await?;
            match current {
                Some(status) => Finished::NotRunning(CommandStatus::parse(&status)?),
                None => Finished::Unknown,
            }
        };
        tx.commit().await?;
        Ok(outcome)
    }

    /// Marks commands claimed before `claimed_before` and never answered as expired.
    async fn expire_commands(&self, claimed_before: i64, now: DateTime<Utc>) -> StoreResult<u64> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE commands SET status = 'expired', finished_at = $2
             WHERE status = 'running' AND claimed_at < $1",
        )
        .bind(claimed_before)
        .bind(millis(now))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }

    /// Waits up to `wait` for a command for `agent_id`, claiming it. `shutdown` ends the
    /// wait early (with `None`) so a stopping server does not hold polls open.
    async fn next_command(
        &self,
        agent_id: &str,
        wait: Duration,
        shutdown: &tokio_util::sync::CancellationToken,
    ) -> StoreResult<Option<CommandRecord>> {
        // A missed wake-up (a LISTEN connection re-established, say) costs at most this.
        const RECHECK: Duration = Duration::from_secs(5);
        let deadline = tokio::time::Instant::now() + wait;
        let notify = self.wakeups().handle(agent_id);
        loop {
            let notified = notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            // Look before claiming: the look is a read, the claim a write transaction, and
            // most wake-ups and re-checks find nothing.
            let queued: Option<i64> = sqlx::query_scalar(
                "SELECT 1 FROM commands WHERE agent_id = $1 AND status = 'queued' LIMIT 1",
            )
            .bind(agent_id)
            .fetch_optional(self.reader())
            .await?;
            if queued.is_some()
                && let Some(command) = self.claim_command(agent_id, Utc::now()).await?
            {
                return Ok(Some(command));
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            let nap = (deadline - now).min(RECHECK);
            tokio::select! {
                () = notified => {}
                () = tokio::time::sleep(nap) => {}
                () = shutdown.cancelled() => return Ok(None),
            }
        }
    }
}

/// Applies the schema versions not yet applied, in one transaction per version. `lock` (run
/// first inside each) keeps two processes starting at once from applying one version twice.
async fn migrate(store: &dyn Store, lock: Option<&'static str>) -> StoreResult<()> {
    let mut tx = store.begin_write().await?;
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS spectra_migrations (
             version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    for &(version, sql) in SCHEMA {
        let mut tx = store.begin_write().await?;
        if let Some(lock) = lock {
            sqlx::query(lock).execute(&mut *tx).await?;
        }
        let applied: Option<i64> =
            sqlx::query_scalar("SELECT version FROM spectra_migrations WHERE version = $1")
                .bind(version)
                .fetch_optional(&mut *tx)
                .await?;
        if applied.is_none() {
            sqlx::raw_sql(sql).execute(&mut *tx).await?;
            sqlx::query("INSERT INTO spectra_migrations (version, applied_at) VALUES ($1, $2)")
                .bind(version)
                .bind(millis(Utc::now()))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
    }
    Ok(())
}

/// The statements of one batch upload, inside the caller's transaction. A rate-limited upload
/// has written nothing.
pub(crate) async fn write_batch(
    conn: &mut AnyConnection,
    agent: &Uploader,
    batch: &MetricBatch,
    now: DateTime<Utc>,
    requests_per_minute: u32,
) -> StoreResult<Ingested> {
    let agent_id = agent.id.as_str();
    if let Some(limited) = count_request(conn, agent_id, now, requests_per_minute).await? {
        return Ok(limited);
    }
    touch_agent(conn, agent, now).await?;
    // Each envelope's data is serialised once: for its row, for the newest-per-series row,
    // and (with kind, time and host) for the batch's content hash.
    let data: Vec<String> = batch.envelopes.iter().map(|e| e.data.to_string()).collect();
    let mut hasher = Sha256::new();
    for (envelope, data) in batch.envelopes.iter().zip(&data) {
        hasher.update(envelope.kind.as_bytes());
        hasher.update([0]);
        hasher.update(millis(envelope.timestamp).to_le_bytes());
        hasher.update(envelope.hostname.as_bytes());
        hasher.update([0]);
        hasher.update(data.as_bytes());
        hasher.update([0]);
    }
    let content_hash = hex(&hasher.finalize());
    let fresh = sqlx::query(
        "INSERT INTO metric_batches (agent_id, batch_id, content_hash, received_at, envelopes)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (agent_id, batch_id) DO NOTHING",
    )
    .bind(agent_id)
    .bind(batch.batch_id.to_string())
    .bind(&content_hash)
    .bind(millis(now))
    .bind(saturating_i64(batch.envelopes.len() as u64))
    .execute(&mut *conn)
    .await?;
    if fresh.rows_affected() == 0 {
        let stored: String = sqlx::query_scalar(
            "SELECT content_hash FROM metric_batches WHERE agent_id = $1 AND batch_id = $2",
        )
        .bind(agent_id)
        .bind(batch.batch_id.to_string())
        .fetch_one(&mut *conn)
        .await?;
        // Rows from before content hashes were kept have none: taken as the same upload.
        return Ok(if stored.is_empty() || stored == content_hash {
            Ingested::Duplicate
        } else {
            Ingested::Conflict
        });
    }
    mark_late_hours(conn, batch, now).await?;
    let rows: Vec<(&spectra_core::protocol::Envelope, &String)> =
        batch.envelopes.iter().zip(&data).collect();
    for chunk in rows.chunks(INSERT_CHUNK) {
        let sql = format!(
            "INSERT INTO metrics (agent_id, kind, ts, hostname, data) VALUES {}",
            placeholders(chunk.len(), 5)
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for (envelope, data) in chunk {
            query = query
                .bind(agent_id)
                .bind(envelope.kind.as_str())
                .bind(millis(envelope.timestamp))
                .bind(envelope.hostname.as_str())
                .bind(data.as_str());
        }
        query.execute(&mut *conn).await?;
    }
    write_latest(conn, agent_id, &rows).await?;
    Ok(Ingested::Stored)
}

/// Keeps `latest_metrics` at the newest envelope of each series in `batch` (an older batch
/// arriving late changes nothing).
async fn write_latest(
    conn: &mut AnyConnection,
    agent_id: &str,
    rows: &[(&spectra_core::protocol::Envelope, &String)],
) -> StoreResult<()> {
    type Row<'a> = (&'a spectra_core::protocol::Envelope, &'a String);
    let mut newest: HashMap<(&str, String), Row<'_>> = HashMap::new();
    for &(envelope, data) in rows {
        let key = (envelope.kind.as_str(), series_key(&envelope.data));
        let slot = newest.entry(key).or_insert((envelope, data));
        if envelope.timestamp >= slot.0.timestamp {
            *slot = (envelope, data);
        }
    }
    if newest.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "INSERT INTO latest_metrics (agent_id, kind, series, ts, hostname, data) VALUES {}
         ON CONFLICT (agent_id, kind, series) DO UPDATE SET ts = excluded.ts,
             hostname = excluded.hostname, data = excluded.data
         WHERE excluded.ts >= latest_metrics.ts",
        placeholders(newest.len(), 6)
    );
    let mut query = sqlx::query(AssertSqlSafe(sql));
    for ((kind, series), (envelope, data)) in newest {
        query = query
            .bind(agent_id)
            .bind(kind)
            .bind(series)
            .bind(millis(envelope.timestamp))
            .bind(envelope.hostname.as_str())
            .bind(data.as_str());
    }
    query.execute(conn).await?;
    Ok(())
}

/// Envelopes older than this when they arrive may miss the rollup pass that covers their
/// bucket; their hours are marked for recomputation. Newer ones are always recomputed: each
/// pass redoes the last two buckets of each resolution, which reach back further than this.
pub(crate) const LATE_AFTER_MS: i64 = 5 * 60_000;
const HOUR_MS: i64 = 3_600_000;

/// Marks the hours of `batch`'s late envelopes for the next rollup pass.
async fn mark_late_hours(
    conn: &mut AnyConnection,
    batch: &MetricBatch,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let late_before = millis(now) - LATE_AFTER_MS;
    let hours: std::collections::BTreeSet<i64> = batch
        .envelopes
        .iter()
        .map(|envelope| millis(envelope.timestamp))
        .filter(|&ts| ts < late_before)
        .map(|ts| ts.div_euclid(HOUR_MS) * HOUR_MS)
        .collect();
    for hour in hours {
        sqlx::query(
            "INSERT INTO rollup_dirty (hour, marked_at) VALUES ($1, $2)
             ON CONFLICT (hour) DO UPDATE SET marked_at = excluded.marked_at",
        )
        .bind(hour)
        .bind(millis(now))
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// An upload is a sign of life: `last_seen` moves to `now` in the upload's own transaction
/// when it is older than [`crate::auth::ALIVE_REFRESH`]. The statement is skipped when the
/// agent's record, read to authenticate the upload, was fresh already (most uploads).
async fn touch_agent(
    conn: &mut AnyConnection,
    agent: &Uploader,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    if agent
        .last_seen
        .is_some_and(|seen| now - seen < crate::auth::ALIVE_REFRESH)
    {
        return Ok(());
    }
    let agent_id = agent.id.as_str();
    let refresh = millis(now) - crate::auth::ALIVE_REFRESH.num_milliseconds();
    sqlx::query(
        "UPDATE agents SET last_seen = $2 WHERE id = $1 AND (last_seen IS NULL OR last_seen < $3)",
    )
    .bind(agent_id)
    .bind(millis(now))
    .bind(refresh)
    .execute(conn)
    .await?;
    Ok(())
}

async fn record_agent_event(
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

/// `($1, $2), ($3, $4)` for `rows` rows of `columns` parameters.
fn placeholders(rows: usize, columns: usize) -> String {
    (0..rows)
        .map(|row| {
            let params: Vec<String> = (1..=columns)
                .map(|column| format!("${}", row * columns + column))
                .collect();
            format!("({})", params.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Rate windows are whole minutes.
const RATE_WINDOW_MS: i64 = 60_000;

fn rate_window(now: DateTime<Utc>) -> i64 {
    millis(now).div_euclid(RATE_WINDOW_MS) * RATE_WINDOW_MS
}

/// Counts one request of `agent_id` in the current minute; over the limit, takes the count
/// back and says when to retry.
async fn count_request(
    conn: &mut AnyConnection,
    agent_id: &str,
    now: DateTime<Utc>,
    requests_per_minute: u32,
) -> StoreResult<Option<Ingested>> {
    let window = rate_window(now);
    let requests: i64 = sqlx::query_scalar(
        "INSERT INTO agent_rates (agent_id, window_start, requests) VALUES ($1, $2, 1)
         ON CONFLICT (agent_id, window_start)
         DO UPDATE SET requests = agent_rates.requests + 1
         RETURNING requests",
    )
    .bind(agent_id)
    .bind(window)
    .fetch_one(&mut *conn)
    .await?;
    if requests > i64::from(requests_per_minute) {
        // A refused request does not count, whether or not the caller rolls back.
        sqlx::query(
            "UPDATE agent_rates SET requests = requests - 1
             WHERE agent_id = $1 AND window_start = $2",
        )
        .bind(agent_id)
        .bind(window)
        .execute(conn)
        .await?;
        let retry_after_ms = window + RATE_WINDOW_MS - millis(now);
        return Ok(Some(Ingested::RateLimited {
            retry_after_secs: u64::try_from((retry_after_ms + 999) / 1000)
                .unwrap_or(1)
                .max(1),
        }));
    }
    Ok(None)
}

async fn insert_token(tx: &mut Transaction<'static, Any>, token: &TokenRecord) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO tokens (id, secret_hash, role, name, agent_id, created_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&token.id)
    .bind(&token.secret_hash)
    .bind(token.role.as_str())
    .bind(&token.name)
    .bind(token.agent_id.clone())
    .bind(millis(token.created_at))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

const AGENT_COLUMNS: &str = "a.id AS a_id, a.hostname AS a_hostname, a.os AS a_os,
    a.version AS a_version, a.capabilities AS a_capabilities, a.machine_id AS a_machine_id,
    a.approved AS a_approved, a.registered_at AS a_registered_at, a.last_seen AS a_last_seen,
    a.last_snapshot_id AS a_last_snapshot_id, a.last_snapshot_at AS a_last_snapshot_at,
    a.legacy AS a_legacy";

/// The machine identities of legacy Go agents: `legacy:HOSTNAME`. Real agents may not enroll
/// with one (see the register handler).
pub const LEGACY_MACHINE_PREFIX: &str = "legacy:";

async fn fetch_agent(conn: &mut sqlx::AnyConnection, id: &str) -> StoreResult<Option<AgentRecord>> {
    let row = sqlx::query(AssertSqlSafe(format!(
        "SELECT {AGENT_COLUMNS} FROM agents a WHERE a.id = $1"
    )))
    .bind(id)
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(agent_from_row).transpose()
}

/// The agent row this transaction has just written, which must be there.
async fn agent_written(
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

fn agent_from_row(row: &AnyRow) -> StoreResult<AgentRecord> {
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
    })
}

fn token_from_row(row: &AnyRow) -> StoreResult<TokenRecord> {
    let role: String = row.try_get("role")?;
    Ok(TokenRecord {
        id: row.try_get("id")?,
        secret_hash: row.try_get("secret_hash")?,
        role: role.parse().map_err(|message| StoreError::Corrupt {
            what: "token role",
            message,
        })?,
        name: row.try_get("name")?,
        agent_id: row.try_get("agent_id")?,
        created_at: from_millis(row.try_get("created_at")?),
    })
}

fn metric_from_row(row: &AnyRow) -> StoreResult<MetricRow> {
    Ok(MetricRow {
        agent_id: row.try_get("agent_id")?,
        hostname: row.try_get("hostname")?,
        kind: row.try_get("kind")?,
        ts: row.try_get("ts")?,
        data: row.try_get("data")?,
    })
}

const SNAPSHOT_COLUMNS: &str = "id, agent_id, root, taken_at, received_at, apparent_bytes, \
                                disk_bytes, files, dirs, partial";

fn snapshot_from_row(row: &AnyRow) -> StoreResult<SnapshotSummary> {
    Ok(SnapshotSummary {
        id: row.try_get("id")?,
        agent_id: row.try_get("agent_id")?,
        root: row.try_get("root")?,
        taken_at: from_millis(row.try_get("taken_at")?),
        received_at: from_millis(row.try_get("received_at")?),
        apparent_bytes: row.try_get("apparent_bytes")?,
        disk_bytes: row.try_get("disk_bytes")?,
        files: row.try_get("files")?,
        dirs: row.try_get("dirs")?,
        partial: row.try_get::<i64, _>("partial")? != 0,
    })
}

fn policy_from_row(row: &AnyRow) -> StoreResult<PolicyRecord> {
    let body: String = row.try_get("body")?;
    Ok(PolicyRecord {
        name: row.try_get("name")?,
        body: serde_json::from_str(&body).map_err(|e| StoreError::Corrupt {
            what: "policy",
            message: e.to_string(),
        })?,
        updated_at: from_millis(row.try_get("updated_at")?),
        updated_by: row.try_get("updated_by")?,
    })
}

const COMMAND_COLUMNS: &str =
    "id, agent_id, diagnostic, status, created_at, created_by, claimed_at, finished_at, result";

fn command_from_row(row: &AnyRow) -> StoreResult<CommandRecord> {
    let corrupt = |what: &'static str| {
        move |e: serde_json::Error| StoreError::Corrupt {
            what,
            message: e.to_string(),
        }
    };
    let id: String = row.try_get("id")?;
    let diagnostic: String = row.try_get("diagnostic")?;
    let status: String = row.try_get("status")?;
    let result: Option<String> = row.try_get("result")?;
    Ok(CommandRecord {
        id: id.parse().map_err(|e: uuid::Error| StoreError::Corrupt {
            what: "command id",
            message: e.to_string(),
        })?,
        agent_id: row.try_get("agent_id")?,
        diagnostic: serde_json::from_str(&diagnostic).map_err(corrupt("command diagnostic"))?,
        status: CommandStatus::parse(&status)?,
        created_at: from_millis(row.try_get("created_at")?),
        created_by: row.try_get("created_by")?,
        claimed_at: row
            .try_get::<Option<i64>, _>("claimed_at")?
            .map(from_millis),
        finished_at: row
            .try_get::<Option<i64>, _>("finished_at")?
            .map(from_millis),
        result: result
            .map(|text| serde_json::from_str(&text))
            .transpose()
            .map_err(corrupt("command result"))?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_number_every_parameter_once() {
        assert_eq!(placeholders(2, 3), "($1, $2, $3), ($4, $5, $6)");
        assert_eq!(placeholders(1, 1), "($1)");
        assert_eq!(placeholders(0, 5), "");
    }

    #[test]
    fn command_statuses_round_trip() {
        for status in [
            CommandStatus::Queued,
            CommandStatus::Running,
            CommandStatus::Succeeded,
            CommandStatus::Failed,
            CommandStatus::Expired,
        ] {
            assert_eq!(CommandStatus::parse(status.as_str()).ok(), Some(status));
            assert_eq!(
                serde_json::to_value(status).ok(),
                Some(status.as_str().into())
            );
        }
        assert!(CommandStatus::parse("lost").is_err());
    }
}
