//! PostgreSQL, for fleets with several server replicas over one database.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::AnyPool;
use sqlx::any::AnyPoolOptions;
use sqlx::postgres::PgListener;
use sqlx::{Any, Transaction};

use super::migrate::migrate;
use super::{Backend, StoreResult, Wakeups};

/// The channel on which a queued command's agent id is announced to every replica.
const COMMAND_CHANNEL: &str = "spectra_commands";
/// Held while migrating, so replicas starting together apply each version once.
const MIGRATION_LOCK: &str = "SELECT pg_advisory_xact_lock(7365636) AS locked";
const CONNECTIONS: u32 = 16;

/// PostgreSQL. Claims use `FOR UPDATE SKIP LOCKED`; a queued command is announced with
/// `NOTIFY`, and each replica `LISTEN`s and wakes its own waiting polls.
#[derive(Debug)]
pub(super) struct PostgresStore {
    pool: AnyPool,
    wakeups: Arc<Wakeups>,
    listener: tokio::task::JoinHandle<()>,
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

impl PostgresStore {
    /// Connects to `url` (`postgres://…`; a `?options=-csearch_path%3Dname` selects a schema),
    /// brings the schema up to date and starts listening for queued commands.
    pub(super) async fn connect(url: &str) -> StoreResult<PostgresStore> {
        super::install_drivers();
        let pool = AnyPoolOptions::new()
            .max_connections(CONNECTIONS)
            .acquire_timeout(Duration::from_secs(30))
            // A prepared statement's generic plan is made from the statistics of its first
            // runs: one planned while the file index was empty kept scanning all of it (1 s a
            // lookup at 1M rows) after the table grew. Planning each execution with its
            // parameters and the table's size now costs well under a millisecond.
            .after_connect(|conn, _| {
                Box::pin(async move {
                    sqlx::raw_sql("SET plan_cache_mode = force_custom_plan")
                        .execute(conn)
                        .await?;
                    Ok(())
                })
            })
            .connect(url)
            .await?;
        let wakeups = Arc::new(Wakeups::default());
        let mut listener = PgListener::connect(url).await?;
        listener.listen(COMMAND_CHANNEL).await?;
        let listener = tokio::spawn(relay_notifications(listener, wakeups.clone()));
        let store = PostgresStore {
            pool,
            wakeups,
            listener,
        };
        migrate(&store, Some(MIGRATION_LOCK)).await?;
        Ok(store)
    }
}

/// Wakes this replica's polls for each announced agent. `PgListener` reconnects by itself;
/// a notification lost meanwhile is caught by the polls' periodic re-check.
async fn relay_notifications(mut listener: PgListener, wakeups: Arc<Wakeups>) {
    loop {
        match listener.recv().await {
            Ok(notification) => wakeups.wake(notification.payload()),
            Err(e) => {
                tracing::warn!(error = %e, "LISTEN connection lost; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

#[async_trait]
impl Backend for PostgresStore {
    fn name(&self) -> &'static str {
        "postgres"
    }

    fn reader(&self) -> &AnyPool {
        &self.pool
    }

    async fn begin_write(&self) -> StoreResult<Transaction<'static, Any>> {
        Ok(self.pool.begin().await?)
    }

    fn claim_lock_clause(&self) -> &'static str {
        "FOR UPDATE SKIP LOCKED"
    }

    async fn announce_command(&self, agent_id: &str) -> StoreResult<()> {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(COMMAND_CHANNEL)
            .bind(agent_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    fn wakeups(&self) -> &Wakeups {
        &self.wakeups
    }
}
