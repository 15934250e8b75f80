//! Where the server keeps everything: one concrete [`Store`] over SQL, on SQLite (the
//! zero-setup default) or PostgreSQL (for several replicas over one database).
//!
//! Both speak the same SQL (the schema uses only types both read alike, and `$N`
//! placeholders, which SQLite accepts too), so every operation is written once, as a method of
//! [`Store`] in the file of its domain (`tokens`, `agents`, `metrics`, `rollups`, `snapshots`,
//! `policies`, `quotas`, `commands`, `migrate`). A small private `Backend` trait holds only
//! what really differs: how a write transaction takes its lock, how a command queue row is
//! claimed without two replicas taking the same one, how waiting long-polls learn that a
//! command was queued, and (SQLite) the group commit of metric uploads. No sqlx type is part
//! of the public API.
//!
//! Nothing a replica keeps in memory is needed by another: tokens, agents, the command queue
//! and the per-agent rate counters are all rows. Every write commits (SQLite: WAL with
//! `synchronous=FULL`; PostgreSQL: `synchronous_commit` as configured, on by default) before
//! the handler that made it answers.

mod accounts;
mod agents;
mod alerts;
mod commands;
mod index;
mod metrics;
mod migrate;
mod plans;
mod policies;
mod postgres;
mod quotas;
mod rollups;
mod snapshots;
mod sqlite;
mod sqlite_governance;
mod sqlite_writer;
mod teams;
mod telemetry;
mod tokens;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};
use spectra_core::protocol::flatten::series_key;
use spectra_core::protocol::{
    AgentInfo, CommandOutcome, CommandResult, Diagnostic, IndexBatch, MetricBatch, Snapshot,
};
use sqlx::any::AnyRow;
use sqlx::{Any, AnyConnection, AnyPool, AssertSqlSafe, Row, Transaction};
use tokio::sync::Notify;
use uuid::Uuid;

use crate::auth::{Role, hex, sha256_hex};
use metrics::write_batch;

pub use accounts::{AuditEntry, ReplicaRecord, SessionRecord, UserChange, UserRecord};
pub use agents::{
    AgentCounts, AgentEvent, AgentRecord, Enrollment, LEGACY_MACHINE_PREFIX, REVOKED_TOKEN_MEMORY,
    Uploader,
};
pub use alerts::{AlertRecord, AlertRuleRecord, DeliveryAttempt, OutboxRow, Silence};
pub use commands::{CommandRecord, CommandStatus, Finished};
pub use index::{
    BackendRecord, IndexOutcome, StaleFile, StaleQuery, Totals, UsageGroup, UsageSums,
};
pub use metrics::MetricRow;
pub use plans::PlanRecord;
pub use policies::PolicyRecord;
pub use quotas::{QuotaCrossing, QuotaRecord};
pub use rollups::Rollup;
pub use snapshots::SnapshotSummary;
pub use teams::TeamMember;
pub use telemetry::{TelemetryOutcome, UserReads};
pub use tokens::TokenRecord;

/// Rows per multi-row INSERT: well under both databases' bound-parameter limits.
const INSERT_CHUNK: usize = 400;

/// Items of a list page when the caller does not say.
pub const DEFAULT_PAGE_SIZE: usize = 100;
/// The most items one page of any list may hold: the bound every paged query keeps.
pub const MAX_PAGE_SIZE: usize = 1000;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[source] DatabaseError),
    #[error("stored {what} does not decode: {message}")]
    Corrupt { what: &'static str, message: String },
    #[error("the shared commit of this upload's group failed: {0}")]
    GroupCommit(String),
    #[error("database {url:?}: {message}")]
    Config { url: String, message: String },
}

pub type StoreResult<T> = Result<T, StoreError>;

/// A failure of the database driver (sqlx, or SQLite's own library on the SQLite writer
/// thread), kept opaque so that no driver type is part of this crate's API.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct DatabaseError(Box<dyn std::error::Error + Send + Sync>);

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        StoreError::Database(DatabaseError(Box::new(error)))
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(error: rusqlite::Error) -> Self {
        StoreError::Database(DatabaseError(Box::new(error)))
    }
}

/// Opens the store a `--db` value names: `postgres://…` (or `postgresql://…`), else SQLite
/// at a path (`sqlite://PATH` or a bare path), created if missing.
pub async fn open(db: &str) -> StoreResult<Arc<Store>> {
    let backend: Box<dyn Backend> =
        if db.starts_with("postgres://") || db.starts_with("postgresql://") {
            Box::new(postgres::PostgresStore::connect(db).await?)
        } else {
            let path = db.strip_prefix("sqlite://").unwrap_or(db);
            Box::new(sqlite::SqliteStore::open(std::path::Path::new(path)).await?)
        };
    Ok(Arc::new(Store { backend }))
}

/// The store: every query of the server, over one of the two databases.
#[derive(Debug)]
pub struct Store {
    backend: Box<dyn Backend>,
}

/// What differs between SQLite and PostgreSQL; everything else is written once on [`Store`].
#[async_trait]
trait Backend: Send + Sync + std::fmt::Debug {
    /// `sqlite` or `postgres`.
    fn name(&self) -> &'static str;
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

    /// Applies a batch of a crawl, all of it or nothing, once by its id (see `index`).
    async fn write_index(
        &self,
        agent: &Uploader,
        batch: IndexBatch,
        rows: index::IndexRows,
        now: DateTime<Utc>,
    ) -> StoreResult<IndexOutcome> {
        index::write_with_sqlx(self.begin_write().await?, agent, &batch, rows, now).await
    }

    /// Adds a batch of access events, aggregated, once by its id (see `telemetry`).
    async fn write_telemetry(
        &self,
        agent: &Uploader,
        rows: telemetry::TelemetryRows,
        now: DateTime<Utc>,
    ) -> StoreResult<TelemetryOutcome> {
        telemetry::write_with_sqlx(self.begin_write().await?, agent, &rows, now).await
    }
}

impl Store {
    /// `sqlite` or `postgres`.
    pub fn backend(&self) -> &'static str {
        self.backend.name()
    }

    /// The long-polls waiting in this process.
    pub fn wakeups(&self) -> &Wakeups {
        self.backend.wakeups()
    }

    /// The database's size on disk in bytes (SQLite: the main file's pages; PostgreSQL: the
    /// whole database).
    pub async fn size_bytes(&self) -> StoreResult<i64> {
        let sql = if self.backend() == "sqlite" {
            "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()"
        } else {
            "SELECT pg_database_size(current_database())"
        };
        Ok(sqlx::query_scalar(sql).fetch_one(self.reader()).await?)
    }

    pub async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(self.reader()).await?;
        Ok(())
    }

    fn reader(&self) -> &AnyPool {
        self.backend.reader()
    }

    async fn begin_write(&self) -> StoreResult<Transaction<'static, Any>> {
        self.backend.begin_write().await
    }

    fn claim_lock_clause(&self) -> &'static str {
        self.backend.claim_lock_clause()
    }

    async fn announce_command(&self, agent_id: &str) -> StoreResult<()> {
        self.backend.announce_command(agent_id).await
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

/// `$first, …`: `count` numbered parameters. (On SQLite, whose driver looks each numbered
/// parameter up by name, a many-parameter statement would cost n² to bind: `perf` once showed
/// 56 % of an index upload in `sqlite3_bind_parameter_name`. Its bulk writes bind one row of
/// a prepared statement at a time instead, on the writer thread.)
fn numbered(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `($1, $2), ($3, $4)` for `rows` rows of `columns` parameters.
fn placeholders(rows: usize, columns: usize) -> String {
    (0..rows)
        .map(|row| format!("({})", numbered(row * columns + 1, columns)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Rate windows are whole minutes.
const RATE_WINDOW_MS: i64 = 60_000;

fn rate_window(now: DateTime<Utc>) -> i64 {
    millis(now).div_euclid(RATE_WINDOW_MS) * RATE_WINDOW_MS
}

/// Counts one request of an agent (`$1`) in the minute starting at `$2`, answering the count.
const COUNT_REQUEST: &str =
    "INSERT INTO agent_rates (agent_id, window_start, requests) VALUES ($1, $2, 1)
     ON CONFLICT (agent_id, window_start)
     DO UPDATE SET requests = agent_rates.requests + 1
     RETURNING requests";
/// Takes a refused request's count back, so that it does not count whether or not the
/// caller rolls back.
const UNCOUNT_REQUEST: &str = "UPDATE agent_rates SET requests = requests - 1
     WHERE agent_id = $1 AND window_start = $2";

/// The refusal of a request that made the minute's count `requests`, if over the limit.
fn over_rate(now: DateTime<Utc>, requests: i64, requests_per_minute: u32) -> Option<Ingested> {
    if requests <= i64::from(requests_per_minute) {
        return None;
    }
    let retry_after_ms = rate_window(now) + RATE_WINDOW_MS - millis(now);
    Some(Ingested::RateLimited {
        retry_after_secs: u64::try_from((retry_after_ms + 999) / 1000)
            .unwrap_or(1)
            .max(1),
    })
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
    let requests: i64 = sqlx::query_scalar(COUNT_REQUEST)
        .bind(agent_id)
        .bind(window)
        .fetch_one(&mut *conn)
        .await?;
    let refused = over_rate(now, requests, requests_per_minute);
    if refused.is_some() {
        sqlx::query(UNCOUNT_REQUEST)
            .bind(agent_id)
            .bind(window)
            .execute(conn)
            .await?;
    }
    Ok(refused)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_number_every_parameter_once() {
        assert_eq!(placeholders(2, 3), "($1, $2, $3), ($4, $5, $6)");
        assert_eq!(placeholders(1, 1), "($1)");
        assert_eq!(placeholders(0, 5), "");
        assert_eq!(numbered(3, 2), "$3, $4");
    }
}
