//! The embedded default: one SQLite file in WAL mode.

use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use spectra_core::protocol::{IndexBatch, MetricBatch};
use sqlx::any::AnyPoolOptions;
use sqlx::{Any, AnyPool, AssertSqlSafe, Transaction};
use tokio::sync::{mpsc, oneshot};

use super::index::IndexRows;
use super::metrics::PreparedBatch;
use super::migrate::migrate;
use super::sqlite_writer::{
    self, MAX_GROUP, PendingBatch, PendingIndex, PendingTelemetry, WriterJob,
};
use super::telemetry::TelemetryRows;
use super::{
    Backend, IndexOutcome, Ingested, StoreError, StoreResult, TelemetryOutcome, Uploader, Wakeups,
};

/// Readers beside the one writer; WAL lets them run while it writes.
const READERS: u32 = 4;
/// Page caches (SQLite fills them as it reads, up to these sizes): the writer thread's holds
/// the file index's B-trees while a crawl is applied (random keys touch pages all over them;
/// at 1M files they are ~300 MB); the sqlx writer's and each reader's, what they read most.
const WRITER_THREAD_CACHE_KIB: u32 = 512 * 1024;
const CACHE_KIB: u32 = 64 * 1024;
/// How often the WAL is checkpointed.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);
/// SQLite, with a few readers and two writing connections that take SQLite's one write lock
/// in turn. Metric uploads, the bulk of all writes, go to a thread of their own
/// (`sqlite_writer`) that commits the uploads waiting when it comes free in one transaction,
/// so one sync covers many uploads, and answers each only after the commit. Every other write
/// goes through a pool of one sqlx connection (queueing there is cheaper than retrying on
/// `SQLITE_BUSY`). Commits are durable: `synchronous=FULL` syncs the WAL on every commit.
#[derive(Debug)]
pub(super) struct SqliteStore {
    writer: AnyPool,
    reader: AnyPool,
    wakeups: Wakeups,
    jobs: mpsc::Sender<WriterJob>,
    checkpoints: tokio::task::JoinHandle<()>,
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        self.checkpoints.abort();
    }
}

/// Copies WAL pages back into the database from a reader connection, beside the writes. The
/// writer's own automatic checkpoint (every 1000 pages, which keeps the WAL from growing) then
/// finds most pages copied already, so it holds up commits for less time.
async fn checkpoint(reader: AnyPool) {
    let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&reader)
            .await
        {
            tracing::warn!(error = %e, "WAL checkpoint failed; will retry");
        }
    }
}

/// Creates the database file, when there is none, readable by its owner only: it holds token
/// hashes and the fleet's data. SQLite gives its WAL and shared-memory files the database's
/// mode. An existing file keeps the mode it has.
fn create_private(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    pub(super) async fn open(path: &Path) -> StoreResult<SqliteStore> {
        super::install_drivers();
        let text = path.to_string_lossy();
        let bad = |message: String| StoreError::Config {
            url: text.to_string(),
            message,
        };
        if text.is_empty() || text.contains(['?', '#', '%']) {
            return Err(bad(
                "a SQLite path must be non-empty and free of '?', '#' and '%'".into(),
            ));
        }
        create_private(path).map_err(|e| bad(format!("cannot create the database: {e}")))?;
        let url = format!("sqlite://{text}?mode=rwc");
        let pool = |size: u32, cache_kib: u32| {
            AnyPoolOptions::new()
                .max_connections(size)
                .acquire_timeout(Duration::from_secs(30))
                .after_connect(move |conn, _| {
                    Box::pin(async move {
                        sqlx::raw_sql(AssertSqlSafe(format!(
                            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;
                             PRAGMA busy_timeout = 10000;
                             PRAGMA journal_size_limit = 67108864;
                             PRAGMA temp_store = MEMORY;
                             PRAGMA cache_size = -{cache_kib};"
                        )))
                        .execute(conn)
                        .await?;
                        Ok(())
                    })
                })
                .connect(&url)
        };
        let writer = pool(1, CACHE_KIB).await?;
        let reader = pool(READERS, CACHE_KIB).await?;
        let (jobs, queue) = mpsc::channel(4 * MAX_GROUP);
        let checkpoints = tokio::spawn(checkpoint(reader.clone()));
        let store = SqliteStore {
            writer,
            reader,
            wakeups: Wakeups::default(),
            jobs,
            checkpoints,
        };
        migrate(&store, None).await?;
        let connection = sqlite_writer::open(path, WRITER_THREAD_CACHE_KIB)?;
        sqlite_writer::spawn(connection, queue)
            .map_err(|e| bad(format!("cannot start the writer thread: {e}")))?;
        Ok(store)
    }
}

impl SqliteStore {
    /// Hands `job` to the writer thread and waits for its answer.
    async fn write<T>(
        &self,
        job: WriterJob,
        answer: oneshot::Receiver<StoreResult<T>>,
    ) -> StoreResult<T> {
        let closed = || StoreError::GroupCommit("the writer has stopped".into());
        self.jobs.send(job).await.map_err(|_| closed())?;
        answer.await.map_err(|_| closed())?
    }
}

#[async_trait]
impl Backend for SqliteStore {
    async fn ingest_batch(
        &self,
        agent: &Uploader,
        batch: MetricBatch,
        now: DateTime<Utc>,
        requests_per_minute: u32,
    ) -> StoreResult<Ingested> {
        let (reply, answer) = oneshot::channel();
        let pending = PendingBatch {
            agent: agent.clone(),
            // Serialising and hashing happen here, on the request's task, beside other
            // requests, rather than on the one writer thread.
            prepared: PreparedBatch::new(&batch, now),
            batch,
            now,
            requests_per_minute,
            reply,
            outcome: None,
        };
        self.write(WriterJob::Metrics(pending), answer).await
    }

    async fn write_index(
        &self,
        agent: &Uploader,
        batch: IndexBatch,
        rows: IndexRows,
        now: DateTime<Utc>,
    ) -> StoreResult<IndexOutcome> {
        let (reply, answer) = oneshot::channel();
        let pending = PendingIndex {
            agent: agent.clone(),
            batch,
            rows,
            now,
            reply,
            outcome: None,
        };
        self.write(WriterJob::Index(pending), answer).await
    }

    async fn write_telemetry(
        &self,
        agent: &Uploader,
        rows: TelemetryRows,
        now: DateTime<Utc>,
    ) -> StoreResult<TelemetryOutcome> {
        let (reply, answer) = oneshot::channel();
        let pending = PendingTelemetry {
            agent: agent.clone(),
            rows,
            now,
            reply,
            outcome: None,
        };
        self.write(WriterJob::Telemetry(pending), answer).await
    }

    fn name(&self) -> &'static str {
        "sqlite"
    }

    fn reader(&self) -> &AnyPool {
        &self.reader
    }

    async fn begin_write(&self) -> StoreResult<Transaction<'static, Any>> {
        Ok(self.writer.begin_with("BEGIN IMMEDIATE").await?)
    }

    fn claim_lock_clause(&self) -> &'static str {
        // The single writer already serializes claims.
        ""
    }

    async fn announce_command(&self, agent_id: &str) -> StoreResult<()> {
        // One SQLite file has one server process: waking this process's polls is enough.
        self.wakeups.wake(agent_id);
        Ok(())
    }

    fn wakeups(&self) -> &Wakeups {
        &self.wakeups
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use spectra_core::protocol::Envelope;
    use sqlite_writer::Statements;

    #[cfg(unix)]
    #[tokio::test]
    async fn a_new_database_and_its_wal_are_readable_by_the_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("spectra.db");
        let _store = SqliteStore::open(&path).await.expect("opens");
        for file in [path.clone(), path.with_extension("db-wal")] {
            let mode = std::fs::metadata(&file)
                .expect("exists")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{}: {mode:o}", file.display());
        }
    }

    fn pending(
        agent: &str,
        kind: &str,
    ) -> (PendingBatch, oneshot::Receiver<StoreResult<Ingested>>) {
        let (reply, answer) = oneshot::channel();
        let envelope = Envelope::new(kind, "h", serde_json::json!({"v": 1}));
        let batch = MetricBatch::new(None, vec![envelope]);
        let now = Utc::now();
        let pending = PendingBatch {
            agent: uploader(agent),
            prepared: PreparedBatch::new(&batch, now),
            batch,
            now,
            requests_per_minute: 100,
            reply,
            outcome: None,
        };
        (pending, answer)
    }

    fn uploader(id: &str) -> Uploader {
        Uploader {
            id: id.to_owned(),
            last_seen: None,
        }
    }

    /// Commits `group` as the writer thread does and answers each job.
    fn commit(conn: &mut rusqlite::Connection, group: Vec<WriterJob>) {
        let mut group = group;
        sqlite_writer::commit_group(conn, &Statements::new(), &mut group).expect("group");
        for job in group {
            job.answer(None);
        }
    }

    fn answer<T>(mut receiver: oneshot::Receiver<StoreResult<T>>) -> StoreResult<T> {
        receiver.try_recv().expect("answered")
    }

    #[tokio::test]
    async fn one_failing_or_refused_job_in_a_group_leaves_the_others_alone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("s.db");
        let sqlite = SqliteStore::open(&path).await.expect("open");
        let reader = sqlite.reader.clone();
        let store = super::super::Store {
            backend: Box::new(sqlite),
        };
        let mut conn = sqlite_writer::open(&path, CACHE_KIB).expect("writer connection");
        // A stand-in for any failure of one upload's statements.
        conn.execute_batch(
            "CREATE TRIGGER poison BEFORE INSERT ON metrics WHEN NEW.kind = 'poison'
             BEGIN SELECT RAISE(ABORT, 'poisoned'); END;",
        )
        .expect("trigger");
        let (cpu, cpu_answer) = pending("a", "cpu");
        let cpu_batch = cpu.batch.clone();
        let (poison, poison_answer) = pending("b", "poison");
        let (mut over_rate, over_rate_answer) = pending("d", "disk");
        over_rate.requests_per_minute = 0;
        let (memory, memory_answer) = pending("c", "memory");
        // An index batch that is refused (a delta against a crawl never applied here) after
        // it recorded its id: its savepoint is rolled back.
        let (reply, index_answer) = oneshot::channel();
        let delta = IndexBatch {
            version: spectra_core::protocol::PROTOCOL_VERSION,
            batch_id: uuid::Uuid::new_v4(),
            crawl_id: uuid::Uuid::new_v4(),
            base_crawl: Some(uuid::Uuid::new_v4()),
            backend: "data".into(),
            root: std::path::PathBuf::from("/data").into(),
            seq: 0,
            entries: Vec::new(),
            removed: Vec::new(),
            end: None,
        };
        let refused = PendingIndex {
            agent: uploader("a"),
            rows: IndexRows::new(&delta),
            batch: delta,
            now: Utc::now(),
            reply,
            outcome: None,
        };
        commit(
            &mut conn,
            vec![
                WriterJob::Metrics(cpu),
                WriterJob::Metrics(poison),
                WriterJob::Index(refused),
                WriterJob::Metrics(over_rate),
                WriterJob::Metrics(memory),
            ],
        );
        assert!(matches!(answer(cpu_answer), Ok(Ingested::Stored)));
        let err = answer(poison_answer).expect_err("poisoned");
        assert!(err.to_string().contains("poisoned"), "{err}");
        let over_rate = answer(over_rate_answer);
        assert!(
            matches!(over_rate, Ok(Ingested::RateLimited { retry_after_secs }) if retry_after_secs >= 1),
            "{over_rate:?}"
        );
        assert!(matches!(answer(memory_answer), Ok(Ingested::Stored)));
        let index = answer(index_answer);
        assert!(
            matches!(&index, Ok(IndexOutcome::Resync(why)) if why.contains("no index here yet")),
            "{index:?}"
        );
        let kept = store
            .metrics_between(None, None, 0, i64::MAX)
            .await
            .expect("rows");
        let kinds: Vec<&str> = kept.iter().map(|row| row.kind.as_str()).collect();
        assert_eq!(kinds.len(), 2, "{kinds:?}");
        assert!(
            kinds.contains(&"cpu") && kinds.contains(&"memory"),
            "{kinds:?}"
        );
        let index_batches: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM index_batches")
            .fetch_one(&reader)
            .await
            .expect("count");
        assert_eq!(index_batches, 0, "the refused batch's id was rolled back");
        // Neither the poisoned nor the refused upload counted against its agent's rate; the
        // stored ones did.
        let counted: Vec<(String, i64)> =
            sqlx::query_as("SELECT agent_id, requests FROM agent_rates ORDER BY agent_id")
                .fetch_all(&reader)
                .await
                .expect("rate");
        assert_eq!(counted, [("a".into(), 1), ("c".into(), 1)]);
        // The same batch again is a duplicate, and its id with other content a conflict.
        let (mut again, again_answer) = pending("a", "cpu");
        again.batch = cpu_batch.clone();
        again.prepared = PreparedBatch::new(&again.batch, again.now);
        let (mut other, other_answer) = pending("a", "disk");
        other.batch.batch_id = cpu_batch.batch_id;
        other.prepared = PreparedBatch::new(&other.batch, other.now);
        commit(
            &mut conn,
            vec![WriterJob::Metrics(again), WriterJob::Metrics(other)],
        );
        let again = answer(again_answer);
        assert!(matches!(again, Ok(Ingested::Duplicate)), "{again:?}");
        let other = answer(other_answer);
        assert!(matches!(other, Ok(Ingested::Conflict)), "{other:?}");
    }
}
