//! Quotas.

use super::*;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QuotaRecord {
    /// `user:NAME` or `root:PATH`.
    pub subject: String,
    pub limit_bytes: i64,
    pub updated_at: DateTime<Utc>,
    pub updated_by: String,
}

impl Store {
    pub async fn quotas(&self) -> StoreResult<Vec<QuotaRecord>> {
        let rows = sqlx::query(
            "SELECT subject, limit_bytes, updated_at, updated_by FROM quotas ORDER BY subject",
        )
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(QuotaRecord {
                    subject: row.try_get("subject")?,
                    limit_bytes: row.try_get("limit_bytes")?,
                    updated_at: from_millis(row.try_get("updated_at")?),
                    updated_by: row.try_get("updated_by")?,
                })
            })
            .collect()
    }

    /// Sets (creates or replaces) the quota of `subject`.
    pub async fn set_quota(
        &self,
        subject: &str,
        limit_bytes: i64,
        by: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO quotas (subject, limit_bytes, updated_at, updated_by)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (subject) DO UPDATE SET limit_bytes = excluded.limit_bytes,
                 updated_at = excluded.updated_at, updated_by = excluded.updated_by",
        )
        .bind(subject)
        .bind(limit_bytes)
        .bind(millis(now))
        .bind(by)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn delete_quota(&self, subject: &str) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("DELETE FROM quotas WHERE subject = $1")
            .bind(subject)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }
}
