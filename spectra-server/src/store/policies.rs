//! Policies kept by the server.

use super::*;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PolicyRecord {
    pub name: String,
    /// The policy as JSON (core's `Policy`).
    pub body: serde_json::Value,
    pub updated_at: DateTime<Utc>,
    pub updated_by: String,
}

pub(super) fn policy_from_row(row: &AnyRow) -> StoreResult<PolicyRecord> {
    let body: String = row.try_get("body")?;
    Ok(PolicyRecord {
        name: row.try_get("name")?,
        body: serde_json::from_str(&body).map_err(|e| StoreError::Corrupt {
            what: "policy",
            message: e.to_string(),
        })?,
        updated_at: from_millis(row.try_get("updated_at")?),
        updated_by: row.try_get("updated_by")?,
    })
}

impl Store {
    pub async fn policies(&self) -> StoreResult<Vec<PolicyRecord>> {
        let rows =
            sqlx::query("SELECT name, body, updated_at, updated_by FROM policies ORDER BY name")
                .fetch_all(self.reader())
                .await?;
        rows.iter().map(policy_from_row).collect()
    }

    pub async fn policy(&self, name: &str) -> StoreResult<Option<PolicyRecord>> {
        let row =
            sqlx::query("SELECT name, body, updated_at, updated_by FROM policies WHERE name = $1")
                .bind(name)
                .fetch_optional(self.reader())
                .await?;
        row.as_ref().map(policy_from_row).transpose()
    }

    /// Creates a policy; false when one of that name exists.
    pub async fn create_policy(
        &self,
        name: &str,
        body: &serde_json::Value,
        by: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "INSERT INTO policies (name, body, updated_at, updated_by) VALUES ($1, $2, $3, $4)
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(body.to_string())
        .bind(millis(now))
        .bind(by)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    /// Replaces a policy; false when there is none of that name.
    pub async fn replace_policy(
        &self,
        name: &str,
        body: &serde_json::Value,
        by: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE policies SET body = $2, updated_at = $3, updated_by = $4 WHERE name = $1",
        )
        .bind(name)
        .bind(body.to_string())
        .bind(millis(now))
        .bind(by)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn delete_policy(&self, name: &str) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("DELETE FROM policies WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }
}
