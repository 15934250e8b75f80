//! The schema and its migrations.

use super::*;

pub(super) const SCHEMA: &[(i64, &str)] = &[
    (1, include_str!("schema.sql")),
    (2, include_str!("schema_2.sql")),
    (3, include_str!("schema_3.sql")),
    (4, include_str!("schema_4.sql")),
    (5, include_str!("schema_5.sql")),
    (6, include_str!("schema_6.sql")),
    (7, include_str!("schema_7.sql")),
];

/// Applies the schema versions not yet applied, in one transaction per version. `lock` (run
/// first inside each) keeps two processes starting at once from applying one version twice.
pub(super) async fn migrate(store: &dyn Backend, lock: Option<&'static str>) -> StoreResult<()> {
    let mut tx = store.begin_write().await?;
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS spectra_migrations (
             version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    for &(version, sql) in SCHEMA {
        let mut tx = store.begin_write().await?;
        if let Some(lock) = lock {
            sqlx::query(lock).execute(&mut *tx).await?;
        }
        let applied: Option<i64> =
            sqlx::query_scalar("SELECT version FROM spectra_migrations WHERE version = $1")
                .bind(version)
                .fetch_optional(&mut *tx)
                .await?;
        if applied.is_none() {
            sqlx::raw_sql(sql).execute(&mut *tx).await?;
            sqlx::query("INSERT INTO spectra_migrations (version, applied_at) VALUES ($1, $2)")
                .bind(version)
                .bind(millis(Utc::now()))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
    }
    Ok(())
}
