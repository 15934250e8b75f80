//! Rollups (5 m and 1 h) and retention.

use super::*;

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

impl Store {
    /// One field's buckets of `resolution_secs` from `from` on, for each of `agent_ids` (a
    /// page of the overview: at most [`MAX_PAGE_SIZE`] agents), as (agent, bucket, mean).
    pub async fn rollup_field_of_agents(
        &self,
        agent_ids: &[String],
        kind: &str,
        field: &str,
        resolution_secs: i64,
        from: i64,
    ) -> StoreResult<Vec<(String, i64, f64)>> {
        let mut points = Vec::new();
        for chunk in agent_ids.chunks(INSERT_CHUNK) {
            let placeholders: Vec<String> =
                (0..chunk.len()).map(|i| format!("${}", i + 5)).collect();
            let mut query = sqlx::query_as::<_, (String, i64, i64, f64)>(AssertSqlSafe(format!(
                "SELECT agent_id, bucket, samples, total FROM metric_rollups
                 WHERE kind = $1 AND field = $2 AND resolution = $3 AND bucket >= $4
                   AND agent_id IN ({})
                 ORDER BY agent_id, bucket",
                placeholders.join(", ")
            )))
            .bind(kind)
            .bind(field)
            .bind(resolution_secs)
            .bind(from);
            for id in chunk {
                query = query.bind(id);
            }
            for (agent, bucket, samples, total) in query.fetch_all(self.reader()).await? {
                if samples > 0 {
                    points.push((agent, bucket, total / samples as f64));
                }
            }
        }
        Ok(points)
    }

    pub async fn rollups_between(
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
    pub async fn rollup_progress(&self, resolution_secs: i64) -> StoreResult<Option<i64>> {
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
    pub async fn write_rollups(
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
    pub async fn dirty_hours(&self) -> StoreResult<Vec<(i64, i64)>> {
        let rows = sqlx::query("SELECT hour, marked_at FROM rollup_dirty ORDER BY hour")
            .fetch_all(self.reader())
            .await?;
        rows.iter()
            .map(|row| Ok((row.try_get("hour")?, row.try_get("marked_at")?)))
            .collect()
    }

    /// Clears the mark of `hour` if nothing marked it again after `marked_at`.
    pub async fn clear_dirty_hour(&self, hour: i64, marked_at: i64) -> StoreResult<()> {
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
    pub async fn prune(
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
}
