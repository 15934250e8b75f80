//! The embedded default: one SQLite file in WAL mode.

use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use spectra_core::protocol::MetricBatch;
use sqlx::any::AnyPoolOptions;
use sqlx::{Acquire, Any, AnyPool, Transaction};
use tokio::sync::{mpsc, oneshot};

use super::{Ingested, Store, StoreError, StoreResult, Wakeups, migrate, write_batch};

/// Readers beside the one writer; WAL lets them run while it writes.
const READERS: u32 = 4;
/// Most uploads committed together.
const MAX_GROUP: usize = 128;

/// A metric batch waiting for the group commit.
struct PendingBatch {
    agent_id: String,
    batch: MetricBatch,
    now: DateTime<Utc>,
    requests_per_minute: u32,
    reply: oneshot::Sender<StoreResult<Ingested>>,
}

/// SQLite, with one writer connection (SQLite takes one writer at a time anyway; queueing in
/// the pool is cheaper than retrying on `SQLITE_BUSY`) and a few readers. Commits are durable:
/// `synchronous=FULL` syncs the WAL on every commit.
///
/// Metric uploads, the bulk of all writes, go through a group commit: the uploads waiting when
/// the writer comes free are written in one transaction, each in its own savepoint (so one
/// refused upload leaves the others alone), and each is answered only after that transaction
/// commits. One sync then covers many uploads.
#[derive(Debug)]
pub struct SqliteStore {
    writer: AnyPool,
    reader: AnyPool,
    wakeups: Wakeups,
    uploads: mpsc::Sender<PendingBatch>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    pub async fn open(path: &Path) -> StoreResult<SqliteStore> {
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
        let url = format!("sqlite://{text}?mode=rwc");
        let pool = |size: u32| {
            AnyPoolOptions::new()
                .max_connections(size)
                .acquire_timeout(Duration::from_secs(30))
                .after_connect(|conn, _| {
                    Box::pin(async move {
                        sqlx::raw_sql(
                            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;
                             PRAGMA busy_timeout = 10000;",
                        )
                        .execute(conn)
                        .await?;
                        Ok(())
                    })
                })
                .connect(&url)
        };
        let writer = pool(1).await?;
        let reader = pool(READERS).await?;
        let (uploads, queue) = mpsc::channel(4 * MAX_GROUP);
        tokio::spawn(group_commit(writer.clone(), queue));
        let store = SqliteStore {
            writer,
            reader,
            wakeups: Wakeups::default(),
            uploads,
        };
        migrate(&store, None).await?;
        Ok(store)
    }
}

/// Writes queued uploads in groups until the store (the queue's sender) is dropped.
async fn group_commit(writer: AnyPool, mut queue: mpsc::Receiver<PendingBatch>) {
    while let Some(first) = queue.recv().await {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match queue.try_recv() {
                Ok(next) => group.push(next),
                Err(_) => break,
            }
        }
        match commit_group(&writer, &group).await {
            Ok(outcomes) => {
                for (pending, outcome) in group.into_iter().zip(outcomes) {
                    let _ = pending.reply.send(outcome);
                }
            }
            Err(e) => {
                let message = e.to_string();
                for pending in group {
                    let _ = pending
                        .reply
                        .send(Err(StoreError::GroupCommit(message.clone())));
                }
            }
        }
    }
}

async fn commit_group(
    writer: &AnyPool,
    group: &[PendingBatch],
) -> StoreResult<Vec<StoreResult<Ingested>>> {
    let mut tx = writer.begin_with("BEGIN IMMEDIATE").await?;
    let mut outcomes = Vec::with_capacity(group.len());
    for pending in group {
        let mut savepoint = tx.begin().await?;
        let outcome = write_batch(
            &mut savepoint,
            &pending.agent_id,
            &pending.batch,
            pending.now,
            pending.requests_per_minute,
        )
        .await;
        match outcome {
            Ok(Ingested::Stored | Ingested::Duplicate) => savepoint.commit().await?,
            Ok(Ingested::RateLimited { .. }) | Err(_) => savepoint.rollback().await?,
        }
        outcomes.push(outcome);
    }
    tx.commit().await?;
    Ok(outcomes)
}

#[async_trait]
impl Store for SqliteStore {
    async fn ingest_batch(
        &self,
        agent_id: &str,
        batch: MetricBatch,
        now: DateTime<Utc>,
        requests_per_minute: u32,
    ) -> StoreResult<Ingested> {
        let (reply, answer) = oneshot::channel();
        let pending = PendingBatch {
            agent_id: agent_id.to_owned(),
            batch,
            now,
            requests_per_minute,
            reply,
        };
        let closed = || StoreError::GroupCommit("the writer has stopped".into());
        self.uploads.send(pending).await.map_err(|_| closed())?;
        answer.await.map_err(|_| closed())?
    }

    fn backend(&self) -> &'static str {
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
