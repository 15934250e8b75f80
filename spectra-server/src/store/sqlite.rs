//! The embedded default: one SQLite file in WAL mode.

use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::AnyPool;
use sqlx::any::AnyPoolOptions;
use sqlx::{Any, Transaction};

use super::{Store, StoreError, StoreResult, Wakeups, migrate};

/// Readers beside the one writer; WAL lets them run while it writes.
const READERS: u32 = 4;

/// SQLite, with one writer connection (SQLite takes one writer at a time anyway; queueing in
/// the pool is cheaper than retrying on `SQLITE_BUSY`) and a few readers. Commits are durable:
/// `synchronous=FULL` syncs the WAL on every commit.
#[derive(Debug)]
pub struct SqliteStore {
    writer: AnyPool,
    reader: AnyPool,
    wakeups: Wakeups,
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
        let store = SqliteStore {
            writer,
            reader,
            wakeups: Wakeups::default(),
        };
        migrate(&store, None).await?;
        Ok(store)
    }
}

#[async_trait]
impl Store for SqliteStore {
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
