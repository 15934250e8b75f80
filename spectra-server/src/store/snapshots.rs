//! Scan snapshots (time travel).

use super::agents::touch_agent;
use super::*;

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

pub(super) const SNAPSHOT_COLUMNS: &str = "id, agent_id, root, taken_at, received_at, apparent_bytes, \
                                disk_bytes, files, dirs, partial";

pub(super) fn snapshot_from_row(row: &AnyRow) -> StoreResult<SnapshotSummary> {
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

impl Store {
    pub async fn ingest_snapshot(
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
    pub async fn snapshots(
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
    pub async fn snapshot(
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

    /// The newest snapshot of every (agent, root), with its report: what is on disk now.
    pub async fn latest_snapshots(&self) -> StoreResult<Vec<(SnapshotSummary, serde_json::Value)>> {
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
}
