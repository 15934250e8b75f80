//! SQLite's writer of metric uploads: a thread of its own that drives SQLite directly.
//!
//! Metric uploads are nearly all of a busy server's writes. Through sqlx each statement is a
//! round trip to the connection's worker thread and back to a Tokio task, and an upload is
//! five or six statements; at 1,000 uploads a second those hand-offs, each waiting for a
//! turn on a busy runtime, were a third of the tail latency. Here one thread owns a
//! connection, takes the uploads waiting when it comes free, and writes them with prepared
//! statements in one transaction, each upload under a savepoint: a refused upload (over its
//! rate) or a failing one is rolled back to its savepoint and leaves the others alone. Every
//! upload is answered only after the commit — `synchronous=FULL`, so after the WAL is synced
//! — which is what acknowledged means.
//!
//! The same thread writes the file index and access telemetry (`sqlite_governance`), in the
//! same groups, each batch under its savepoint like an upload: tens of thousands of rows a
//! batch, which through sqlx were as many hand-offs between threads (a row channel of 50
//! between the connection's worker and the task) and most of the time an upload took. A group
//! is bounded in rows as well as in jobs, since it holds every job until its commit.
//!
//! The statements are the shared SQL text of `metrics`, `agents`, `index`, `telemetry` and
//! the rate counter; the other writes of the server keep going through the sqlx writer, and
//! the two connections take SQLite's write lock in turn (`busy_timeout`).

use std::path::Path;
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, named_params};
use tokio::sync::{mpsc, oneshot};

use super::agents::{TOUCH_AGENT, stale_since};
use super::index::IndexRows;
use super::metrics::{
    INSERT_BATCH, INSERT_METRICS, MARK_LATE_HOUR, PreparedBatch, STORED_HASH, UPSERT_LATEST_HEAD,
    UPSERT_LATEST_TAIL,
};
use super::telemetry::TelemetryRows;
use super::*;

/// Most uploads committed together.
pub(super) const MAX_GROUP: usize = 128;

/// How long a write waits for the lock the sqlx writer holds, as that connection does.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// A metric batch waiting for the group commit.
pub(super) struct PendingBatch {
    pub(super) agent: Uploader,
    pub(super) batch: MetricBatch,
    pub(super) prepared: PreparedBatch,
    pub(super) now: DateTime<Utc>,
    pub(super) requests_per_minute: u32,
    pub(super) reply: oneshot::Sender<StoreResult<Ingested>>,
    /// Set once written.
    pub(super) outcome: Option<StoreResult<Ingested>>,
}

/// An index batch waiting for the writer.
pub(super) struct PendingIndex {
    pub(super) agent: Uploader,
    pub(super) batch: IndexBatch,
    pub(super) rows: IndexRows,
    pub(super) now: DateTime<Utc>,
    pub(super) reply: oneshot::Sender<StoreResult<IndexOutcome>>,
    pub(super) outcome: Option<StoreResult<IndexOutcome>>,
}

/// A telemetry batch waiting for the writer.
pub(super) struct PendingTelemetry {
    pub(super) agent: Uploader,
    pub(super) rows: TelemetryRows,
    pub(super) now: DateTime<Utc>,
    pub(super) reply: oneshot::Sender<StoreResult<TelemetryOutcome>>,
    pub(super) outcome: Option<StoreResult<TelemetryOutcome>>,
}

/// What the writer thread is asked to write.
pub(super) enum WriterJob {
    Metrics(PendingBatch),
    Index(PendingIndex),
    Telemetry(PendingTelemetry),
}

/// Opens the writer's connection to an existing database (the schema is already migrated).
pub(super) fn open(path: &Path, cache_kib: u32) -> StoreResult<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get::<_, String>(0))?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "journal_size_limit", 67_108_864)?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.pragma_update(None, "cache_size", -i64::from(cache_kib))?;
    // Metric uploads, index and telemetry batches: about 25 statements in all.
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

/// Starts the writer thread; it stops when every sender of `queue` is dropped.
pub(super) fn spawn(
    conn: Connection,
    queue: mpsc::Receiver<WriterJob>,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("spectra-sqlite-writer".into())
        .spawn(move || run(conn, queue))
}

/// Most rows (metric envelopes, index entries, telemetry aggregates) a group gathers: index
/// and telemetry batches are large, and a group's jobs are all held until its commit.
const MAX_GROUP_ROWS: usize = 200_000;

fn run(mut conn: Connection, mut queue: mpsc::Receiver<WriterJob>) {
    let statements = Statements::new();
    while let Some(first) = queue.blocking_recv() {
        let mut rows = first.rows();
        let mut group = vec![first];
        while group.len() < MAX_GROUP && rows < MAX_GROUP_ROWS {
            match queue.try_recv() {
                Ok(next) => {
                    rows += next.rows();
                    group.push(next);
                }
                Err(_) => break,
            }
        }
        let committed = commit_group(&mut conn, &statements, &mut group);
        let failure = committed.err().map(|e| e.to_string());
        for job in group {
            job.answer(failure.as_deref());
        }
    }
}

impl WriterJob {
    /// The rows the job writes, as a group counts them.
    fn rows(&self) -> usize {
        match self {
            WriterJob::Metrics(pending) => pending.batch.envelopes.len(),
            WriterJob::Index(pending) => pending.rows.rows.len() + pending.rows.removed.len(),
            WriterJob::Telemetry(pending) => pending.rows.daily.len(),
        }
    }

    /// Writes the job (in the savepoint `conn` is in) and keeps its outcome; answers whether
    /// what it wrote stays: a refused upload, a repeated batch or a refused crawl leaves
    /// nothing.
    fn write(&mut self, conn: &Connection, statements: &Statements) -> StoreResult<bool> {
        match self {
            WriterJob::Metrics(pending) => {
                let outcome = write_upload(conn, statements, pending)?;
                let kept = !matches!(outcome, Ingested::RateLimited { .. });
                pending.outcome = Some(Ok(outcome));
                Ok(kept)
            }
            WriterJob::Index(pending) => {
                let outcome = sqlite_governance::write_index(conn, pending)?;
                let kept = matches!(outcome, IndexOutcome::Applied { .. });
                pending.outcome = Some(Ok(outcome));
                Ok(kept)
            }
            WriterJob::Telemetry(pending) => {
                let outcome = sqlite_governance::write_telemetry(conn, pending)?;
                let kept = matches!(outcome, TelemetryOutcome::Stored { .. });
                pending.outcome = Some(Ok(outcome));
                Ok(kept)
            }
        }
    }

    /// Keeps a failure of the job's own (one that left the group's transaction going).
    fn failed(&mut self, error: StoreError) {
        match self {
            WriterJob::Metrics(pending) => pending.outcome = Some(Err(error)),
            WriterJob::Index(pending) => pending.outcome = Some(Err(error)),
            WriterJob::Telemetry(pending) => pending.outcome = Some(Err(error)),
        }
    }

    /// Sends the job's outcome, or the group's failure (then nothing of the group stayed).
    pub(super) fn answer(self, group_failure: Option<&str>) {
        fn outcome<T>(kept: Option<StoreResult<T>>, group_failure: Option<&str>) -> StoreResult<T> {
            match (group_failure, kept) {
                (None, Some(outcome)) => outcome,
                (Some(message), _) => Err(StoreError::GroupCommit(message.to_owned())),
                (None, None) => Err(StoreError::GroupCommit("the job was not written".into())),
            }
        }
        match self {
            WriterJob::Metrics(pending) => {
                let _ = pending.reply.send(outcome(pending.outcome, group_failure));
            }
            WriterJob::Index(pending) => {
                let _ = pending.reply.send(outcome(pending.outcome, group_failure));
            }
            WriterJob::Telemetry(pending) => {
                let _ = pending.reply.send(outcome(pending.outcome, group_failure));
            }
        }
    }
}

/// The one-row forms of the shared multi-row statements.
pub(super) struct Statements {
    insert_metric: String,
    upsert_latest: String,
}

impl Statements {
    pub(super) fn new() -> Self {
        Statements {
            insert_metric: format!("{INSERT_METRICS}{}", placeholders(1, 5)),
            upsert_latest: format!(
                "{UPSERT_LATEST_HEAD}{}{UPSERT_LATEST_TAIL}",
                placeholders(1, 6)
            ),
        }
    }
}

/// Writes the group in one transaction, one savepoint a job, and keeps each job's outcome;
/// an error of the transaction itself (begin, commit, or a failure that took the transaction
/// with it) is the whole group's, and then nothing of the group was committed.
pub(super) fn commit_group(
    conn: &mut Connection,
    statements: &Statements,
    group: &mut [WriterJob],
) -> StoreResult<()> {
    let mut tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    for job in group.iter_mut() {
        let savepoint = tx.savepoint()?;
        match job.write(&savepoint, statements) {
            Ok(true) => savepoint.commit()?,
            // Dropping the savepoint rolls it back.
            Ok(false) => drop(savepoint),
            Err(e) => {
                drop(savepoint);
                // Some failures (a full disk, an I/O error) roll back the whole transaction;
                // the jobs before this one are then gone too and must not be answered as
                // stored.
                if tx.is_autocommit() {
                    return Err(e);
                }
                job.failed(e);
            }
        }
    }
    tx.commit()?;
    Ok(())
}

/// One upload's statements (the same as the shared `write_batch`).
fn write_upload(
    conn: &Connection,
    statements: &Statements,
    pending: &PendingBatch,
) -> rusqlite::Result<Ingested> {
    let agent_id = pending.agent.id.as_str();
    let now = millis(pending.now);
    let requests: i64 = conn.prepare_cached(COUNT_REQUEST)?.query_row(
        named_params! {"$1": agent_id, "$2": rate_window(pending.now)},
        |row| row.get(0),
    )?;
    if let Some(refused) = over_rate(pending.now, requests, pending.requests_per_minute) {
        return Ok(refused);
    }
    if let Some(refresh_before) = stale_since(&pending.agent, pending.now) {
        conn.prepare_cached(TOUCH_AGENT)?
            .execute(named_params! {"$1": agent_id, "$2": now, "$3": refresh_before})?;
    }
    let prepared = &pending.prepared;
    let batch_id = pending.batch.batch_id.to_string();
    let fresh = conn.prepare_cached(INSERT_BATCH)?.execute(named_params! {
        "$1": agent_id,
        "$2": batch_id,
        "$3": prepared.content_hash,
        "$4": now,
        "$5": saturating_i64(pending.batch.envelopes.len() as u64),
    })?;
    if fresh == 0 {
        let stored: Option<String> = conn
            .prepare_cached(STORED_HASH)?
            .query_row(named_params! {"$1": agent_id, "$2": batch_id}, |row| {
                row.get(0)
            })
            .optional()?;
        return Ok(prepared.repeat_outcome(stored.as_deref().unwrap_or_default()));
    }
    let mut mark = conn.prepare_cached(MARK_LATE_HOUR)?;
    for &hour in &prepared.late_hours {
        mark.execute(named_params! {"$1": hour, "$2": now})?;
    }
    let mut insert = conn.prepare_cached(&statements.insert_metric)?;
    for (envelope, data) in prepared.rows(&pending.batch) {
        insert.execute(named_params! {
            "$1": agent_id,
            "$2": envelope.kind,
            "$3": millis(envelope.timestamp),
            "$4": envelope.hostname,
            "$5": data,
        })?;
    }
    let mut upsert = conn.prepare_cached(&statements.upsert_latest)?;
    for (series, envelope, data) in prepared.newest_per_series(&pending.batch) {
        upsert.execute(named_params! {
            "$1": agent_id,
            "$2": envelope.kind,
            "$3": series,
            "$4": millis(envelope.timestamp),
            "$5": envelope.hostname,
            "$6": data,
        })?;
    }
    Ok(Ingested::Stored)
}
