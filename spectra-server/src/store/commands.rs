//! The command queue of diagnostics.

use super::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
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

#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
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

pub(super) const COMMAND_COLUMNS: &str =
    "id, agent_id, diagnostic, status, created_at, created_by, claimed_at, finished_at, result";

pub(super) fn command_from_row(row: &AnyRow) -> StoreResult<CommandRecord> {
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

impl Store {
    pub async fn queue_command(
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

    pub async fn command(&self, id: &str) -> StoreResult<Option<CommandRecord>> {
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
    pub async fn claim_command(
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

    pub async fn finish_command(
        &self,
        agent_id: &str,
        result: &CommandResult,
        now: DateTime<Utc>,
    ) -> StoreResult<Finished> {
        let status = match result.outcome {
            CommandOutcome::Succeeded { .. } => CommandStatus::Succeeded,
            CommandOutcome::Failed(_) => CommandStatus::Failed,
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
    pub async fn expire_commands(
        &self,
        claimed_before: i64,
        now: DateTime<Utc>,
    ) -> StoreResult<u64> {
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
    pub async fn next_command(
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

#[cfg(test)]
mod tests {
    use super::*;

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
