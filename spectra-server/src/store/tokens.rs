//! API and agent tokens.

use super::agents::{AGENT_COLUMNS, agent_from_row};
use super::*;

/// A token as stored: only the hash of its secret is kept.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct TokenRecord {
    pub id: String,
    #[serde(skip)]
    pub secret_hash: String,
    pub role: Role,
    pub name: String,
    pub agent_id: Option<String>,
    pub created_at: DateTime<Utc>,
}

pub(super) async fn insert_token(
    tx: &mut Transaction<'static, Any>,
    token: &TokenRecord,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO tokens (id, secret_hash, role, name, agent_id, created_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&token.id)
    .bind(&token.secret_hash)
    .bind(token.role.as_str())
    .bind(&token.name)
    .bind(token.agent_id.clone())
    .bind(millis(token.created_at))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub(super) fn token_from_row(row: &AnyRow) -> StoreResult<TokenRecord> {
    let role: String = row.try_get("role")?;
    Ok(TokenRecord {
        id: row.try_get("id")?,
        secret_hash: row.try_get("secret_hash")?,
        role: role.parse().map_err(|message| StoreError::Corrupt {
            what: "token role",
            message,
        })?,
        name: row.try_get("name")?,
        agent_id: row.try_get("agent_id")?,
        created_at: from_millis(row.try_get("created_at")?),
    })
}

impl Store {
    pub async fn insert_token(&self, token: &TokenRecord) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        insert_token(&mut tx, token).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The token with this id and, for an agent token, its agent.
    pub async fn token(&self, id: &str) -> StoreResult<Option<(TokenRecord, Option<AgentRecord>)>> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT t.id, t.secret_hash, t.role, t.name, t.agent_id, t.created_at, {AGENT_COLUMNS}
             FROM tokens t LEFT JOIN agents a ON a.id = t.agent_id WHERE t.id = $1"
        )))
        .bind(id)
        .fetch_optional(self.reader())
        .await?;
        let Some(row) = row else { return Ok(None) };
        let token = token_from_row(&row)?;
        let agent = match row.try_get::<Option<String>, _>("a_id")? {
            Some(_) => Some(agent_from_row(&row)?),
            None => None,
        };
        Ok(Some((token, agent)))
    }

    pub async fn tokens(&self) -> StoreResult<Vec<TokenRecord>> {
        let rows = sqlx::query(
            "SELECT id, secret_hash, role, name, agent_id, created_at FROM tokens
             WHERE agent_id IS NULL ORDER BY created_at, id",
        )
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(token_from_row).collect()
    }

    pub async fn delete_token(&self, id: &str) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("DELETE FROM tokens WHERE id = $1 AND agent_id IS NULL")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }
}
