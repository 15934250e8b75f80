//! Quotas: soft and hard limits per subject (and optionally per backend), where each stands,
//! and every change of level.

use super::*;
use spectra_core::alert::QuotaLevel;

/// A level as the quota tables keep it.
fn stored_level(text: &str) -> StoreResult<QuotaLevel> {
    QuotaLevel::named(text).ok_or_else(|| StoreError::Corrupt {
        what: "quota level",
        message: format!("{text:?} is not ok, soft or hard"),
    })
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QuotaRecord {
    /// `team:NAME`, `user:NAME`, `backend:NAME` or `root:/PATH`.
    pub subject: String,
    /// The one backend the quota counts (`null`: every backend).
    pub backend: Option<String>,
    pub soft_bytes: Option<i64>,
    pub hard_bytes: Option<i64>,
    pub updated_at: DateTime<Utc>,
    pub updated_by: String,
}

/// A recorded change of a quota's level (`ok`, `soft`, `hard`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QuotaCrossing {
    pub subject: String,
    pub backend: Option<String>,
    pub level: QuotaLevel,
    pub previous: QuotaLevel,
    pub at: DateTime<Utc>,
    pub used_bytes: i64,
    /// The limit crossed (the hard one for `hard`, the soft one for `soft`).
    pub limit_bytes: Option<i64>,
}

fn backend_key(backend: Option<&str>) -> &str {
    backend.unwrap_or("")
}

fn backend_of(key: String) -> Option<String> {
    (!key.is_empty()).then_some(key)
}

impl Store {
    /// Every quota, by subject and backend.
    pub async fn quotas(&self) -> StoreResult<Vec<QuotaRecord>> {
        self.quotas_page(None, usize::MAX).await
    }

    /// One page of quotas by (subject, backend) after the quota `after` names.
    pub async fn quotas_page(
        &self,
        after: Option<&(String, Option<String>)>,
        limit: usize,
    ) -> StoreResult<Vec<QuotaRecord>> {
        let mut sql = "SELECT subject, backend, soft_bytes, hard_bytes, updated_at, updated_by
             FROM quota_limits"
            .to_owned();
        if after.is_some() {
            sql.push_str(" WHERE subject > $1 OR (subject = $1 AND backend > $2)");
        }
        sql.push_str(" ORDER BY subject, backend");
        if limit != usize::MAX {
            sql.push_str(&format!(" LIMIT {}", limit.min(MAX_PAGE_SIZE + 1)));
        }
        let mut query = sqlx::query(AssertSqlSafe(sql));
        if let Some((subject, backend)) = after {
            query = query
                .bind(subject.clone())
                .bind(backend_key(backend.as_deref()).to_owned());
        }
        let rows = query.fetch_all(self.reader()).await?;
        rows.iter()
            .map(|row| {
                Ok(QuotaRecord {
                    subject: row.try_get("subject")?,
                    backend: backend_of(row.try_get("backend")?),
                    soft_bytes: row.try_get("soft_bytes")?,
                    hard_bytes: row.try_get("hard_bytes")?,
                    updated_at: from_millis(row.try_get("updated_at")?),
                    updated_by: row.try_get("updated_by")?,
                })
            })
            .collect()
    }

    /// Sets (creates or replaces) the quota of `subject` on `backend` (`None`: every one).
    pub async fn set_quota(
        &self,
        subject: &str,
        backend: Option<&str>,
        soft_bytes: Option<i64>,
        hard_bytes: Option<i64>,
        by: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO quota_limits (subject, backend, soft_bytes, hard_bytes, updated_at,
                                       updated_by)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (subject, backend) DO UPDATE SET soft_bytes = excluded.soft_bytes,
                 hard_bytes = excluded.hard_bytes, updated_at = excluded.updated_at,
                 updated_by = excluded.updated_by",
        )
        .bind(subject)
        .bind(backend_key(backend))
        .bind(soft_bytes)
        .bind(hard_bytes)
        .bind(millis(now))
        .bind(by)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn delete_quota(&self, subject: &str, backend: Option<&str>) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("DELETE FROM quota_limits WHERE subject = $1 AND backend = $2")
            .bind(subject)
            .bind(backend_key(backend))
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM quota_state WHERE subject = $1 AND backend = $2")
            .bind(subject)
            .bind(backend_key(backend))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    /// The recorded level of every quota and since when: `(subject, backend) → (level, since)`.
    pub async fn quota_levels(
        &self,
    ) -> StoreResult<HashMap<(String, Option<String>), (QuotaLevel, DateTime<Utc>)>> {
        let rows: Vec<(String, String, String, i64)> =
            sqlx::query_as("SELECT subject, backend, level, since FROM quota_state")
                .fetch_all(self.reader())
                .await?;
        rows.into_iter()
            .map(|(subject, backend, level, since)| {
                let level = stored_level(&level)?;
                Ok(((subject, backend_of(backend)), (level, from_millis(since))))
            })
            .collect()
    }

    /// Records that the quota stands at `level` now; a change of level is also kept as a
    /// crossing. Answers the previous level when it changed.
    pub async fn record_quota_level(
        &self,
        crossing: &QuotaCrossing,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<QuotaLevel>> {
        let backend = backend_key(crossing.backend.as_deref());
        let mut tx = self.begin_write().await?;
        let previous: Option<String> =
            sqlx::query_scalar("SELECT level FROM quota_state WHERE subject = $1 AND backend = $2")
                .bind(&crossing.subject)
                .bind(backend)
                .fetch_optional(&mut *tx)
                .await?;
        let previous = previous.map_or(Ok(QuotaLevel::Ok), |level| stored_level(&level))?;
        let changed = previous != crossing.level;
        sqlx::query(
            "INSERT INTO quota_state (subject, backend, level, since, used_bytes, checked_at)
             VALUES ($1, $2, $3, $4, $5, $4)
             ON CONFLICT (subject, backend) DO UPDATE SET
                 since = CASE WHEN quota_state.level = excluded.level THEN quota_state.since
                              ELSE excluded.since END,
                 level = excluded.level, used_bytes = excluded.used_bytes,
                 checked_at = excluded.checked_at",
        )
        .bind(&crossing.subject)
        .bind(backend)
        .bind(crossing.level.as_str())
        .bind(millis(now))
        .bind(crossing.used_bytes)
        .execute(&mut *tx)
        .await?;
        if changed {
            sqlx::query(
                "INSERT INTO quota_crossings (subject, backend, level, previous, at, used_bytes,
                                              limit_bytes)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&crossing.subject)
            .bind(backend)
            .bind(crossing.level.as_str())
            .bind(previous.as_str())
            .bind(millis(now))
            .bind(crossing.used_bytes)
            .bind(crossing.limit_bytes)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(changed.then_some(previous))
    }

    /// Every change of a quota's level from `since` on, oldest first.
    pub async fn quota_crossings(&self, since: DateTime<Utc>) -> StoreResult<Vec<QuotaCrossing>> {
        let rows = sqlx::query(
            "SELECT subject, backend, level, previous, at, used_bytes, limit_bytes
             FROM quota_crossings WHERE at >= $1 ORDER BY at, subject",
        )
        .bind(millis(since))
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(QuotaCrossing {
                    subject: row.try_get("subject")?,
                    backend: backend_of(row.try_get("backend")?),
                    level: stored_level(&row.try_get::<String, _>("level")?)?,
                    previous: stored_level(&row.try_get::<String, _>("previous")?)?,
                    at: from_millis(row.try_get("at")?),
                    used_bytes: row.try_get("used_bytes")?,
                    limit_bytes: row.try_get("limit_bytes")?,
                })
            })
            .collect()
    }
}
