//! The embedded default: one SQLite file in WAL mode.

use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use spectra_core::protocol::MetricBatch;
use sqlx::any::AnyPoolOptions;
use sqlx::{Any, AnyPool, Transaction};
use tokio::sync::{mpsc, oneshot};

use super::migrate::migrate;
use super::{Backend, Ingested, StoreError, StoreResult, Uploader, Wakeups, write_batch};

/// Readers beside the one writer; WAL lets them run while it writes.
const READERS: u32 = 4;
/// How often the WAL is checkpointed.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);
/// Most uploads committed together.
const MAX_GROUP: usize = 128;

/// A metric batch waiting for the group commit.
struct PendingBatch {
    agent: Uploader,
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
/// the writer comes free are written in one transaction and each is answered only after it
/// commits, so one sync covers many uploads. A refused upload (duplicate, over its rate) writes
/// nothing and leaves the others alone; should one fail outright, the group is rolled back and
/// written again one upload per transaction.
#[derive(Debug)]
pub(super) struct SqliteStore {
    writer: AnyPool,
    reader: AnyPool,
    wakeups: Wakeups,
    uploads: mpsc::Sender<PendingBatch>,
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
        let url = format!("sqlite://{text}?mode=rwc");
        let pool = |size: u32| {
            AnyPoolOptions::new()
                .max_connections(size)
                .acquire_timeout(Duration::from_secs(30))
                .after_connect(|conn, _| {
                    Box::pin(async move {
                        sqlx::raw_sql(
                            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;
                             PRAGMA busy_timeout = 10000;
                             PRAGMA journal_size_limit = 67108864;",
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
        let checkpoints = tokio::spawn(checkpoint(reader.clone()));
        let store = SqliteStore {
            writer,
            reader,
            wakeups: Wakeups::default(),
            uploads,
            checkpoints,
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
    match write_together(writer, group).await {
        Ok(outcomes) => Ok(outcomes.into_iter().map(Ok).collect()),
        // One upload failed and took the transaction with it: write each on its own, so only
        // that one fails. (Rare: refusals are outcomes, not errors.)
        Err(_) if group.len() > 1 => {
            let mut outcomes = Vec::with_capacity(group.len());
            for pending in group {
                let outcome = write_together(writer, std::slice::from_ref(pending))
                    .await
                    .map(|mut one| one.remove(0));
                outcomes.push(outcome);
            }
            Ok(outcomes)
        }
        Err(e) => Err(e),
    }
}

/// Writes the uploads in one transaction: all or none.
async fn write_together(writer: &AnyPool, group: &[PendingBatch]) -> StoreResult<Vec<Ingested>> {
    let mut tx = writer.begin_with("BEGIN IMMEDIATE").await?;
    let mut outcomes = Vec::with_capacity(group.len());
    for pending in group {
        outcomes.push(
            write_batch(
                &mut tx,
                &pending.agent,
                &pending.batch,
                pending.now,
                pending.requests_per_minute,
            )
            .await?,
        );
    }
    tx.commit().await?;
    Ok(outcomes)
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
            batch,
            now,
            requests_per_minute,
            reply,
        };
        let closed = || StoreError::GroupCommit("the writer has stopped".into());
        self.uploads.send(pending).await.map_err(|_| closed())?;
        answer.await.map_err(|_| closed())?
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

    fn pending(
        agent: &str,
        kind: &str,
    ) -> (PendingBatch, oneshot::Receiver<StoreResult<Ingested>>) {
        let (reply, answer) = oneshot::channel();
        let envelope = Envelope::new(kind, "h", serde_json::json!({"v": 1}));
        let batch = PendingBatch {
            agent: Uploader {
                id: agent.to_owned(),
                last_seen: None,
            },
            batch: MetricBatch::new(None, vec![envelope]),
            now: Utc::now(),
            requests_per_minute: 100,
            reply,
        };
        (batch, answer)
    }

    #[tokio::test]
    async fn one_failing_upload_in_a_group_fails_alone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let sqlite = SqliteStore::open(&dir.path().join("s.db"))
            .await
            .expect("open");
        let (writer, reader) = (sqlite.writer.clone(), sqlite.reader.clone());
        let store = super::super::Store {
            backend: Box::new(sqlite),
        };
        // A stand-in for any failure of one upload's statements.
        sqlx::raw_sql(
            "CREATE TRIGGER poison BEFORE INSERT ON metrics WHEN NEW.kind = 'poison'
             BEGIN SELECT RAISE(ABORT, 'poisoned'); END;",
        )
        .execute(&writer)
        .await
        .expect("trigger");
        let group = [
            pending("a", "cpu").0,
            pending("b", "poison").0,
            pending("c", "memory").0,
        ];
        let outcomes = commit_group(&writer, &group).await.expect("group");
        assert!(matches!(outcomes[0], Ok(Ingested::Stored)));
        let err = outcomes[1].as_ref().expect_err("poisoned");
        assert!(err.to_string().contains("poisoned"), "{err}");
        assert!(matches!(outcomes[2], Ok(Ingested::Stored)));
        let kept = store
            .metrics_between(None, None, 0, i64::MAX)
            .await
            .expect("rows");
        let kinds: Vec<&str> = kept.iter().map(|row| row.kind.as_str()).collect();
        assert_eq!(kinds.len(), 2, "{kinds:?}");
        assert!(!kinds.contains(&"poison"));
        // The poisoned upload did not count against its agent's rate either.
        let counted: Option<i64> =
            sqlx::query_scalar("SELECT requests FROM agent_rates WHERE agent_id = 'b'")
                .fetch_optional(&reader)
                .await
                .expect("rate");
        assert_eq!(counted, None);
    }
}
