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
    (8, include_str!("schema_8.sql")),
    (9, include_str!("schema_9.sql")),
    (10, include_str!("schema_10.sql")),
    (11, include_str!("schema_11.sql")),
    (12, include_str!("schema_12.sql")),
];

/// Where a schema file says `/* sqlite: WITHOUT ROWID */`, SQLite makes the table WITHOUT
/// ROWID; PostgreSQL, which has no such tables, reads a comment.
const SQLITE_WITHOUT_ROWID: &str = "/* sqlite: WITHOUT ROWID */";

/// A schema file as `backend` (`sqlite` or `postgres`) runs it.
pub(super) fn schema_for(backend: &str, sql: &str) -> String {
    if backend == "sqlite" {
        sql.replace(SQLITE_WITHOUT_ROWID, "WITHOUT ROWID")
    } else {
        sql.to_owned()
    }
}

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
            sqlx::raw_sql(AssertSqlSafe(schema_for(store.name(), sql)))
                .execute(&mut *tx)
                .await?;
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

#[cfg(test)]
mod tests {
    use sqlx::Connection;

    use super::*;

    /// Applies the schema up to version `last` as `migrate` does.
    async fn migrate_to(url: &str, backend: &str, last: i64) {
        let mut conn = AnyConnection::connect(url).await.expect("connect");
        sqlx::query(
            "CREATE TABLE spectra_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
        )
        .execute(&mut conn)
        .await
        .expect("migrations table");
        for &(version, sql) in SCHEMA.iter().filter(|(version, _)| *version <= last) {
            sqlx::raw_sql(AssertSqlSafe(schema_for(backend, sql)))
                .execute(&mut conn)
                .await
                .expect("schema");
            sqlx::query("INSERT INTO spectra_migrations (version, applied_at) VALUES ($1, 0)")
                .bind(version)
                .execute(&mut conn)
                .await
                .expect("version");
        }
        sqlx::raw_sql(
            "INSERT INTO access_daily (backend, path_hash, user_name, day, path, events, reads,
                                       bytes_read, last_access)
                 VALUES ('data', 7, 'ana', 86400000, '/data/a', 3, 2, 4096, 86400500);
             INSERT INTO file_access (backend, path_hash, last_access) VALUES ('data', 7, 86400500)",
        )
        .execute(&mut conn)
        .await
        .expect("rows of version 7");
    }

    /// The telemetry aggregates of version 7 survive version 8's new keys.
    async fn telemetry_survives_version_8(url: &str, db: &str, backend: &str) {
        install_drivers();
        migrate_to(url, backend, 7).await;
        let store = super::super::open(db).await.expect("migrated");
        let reads = store.user_reads("ana").await.expect("reads");
        assert_eq!(reads.len(), 1, "{reads:?}");
        assert_eq!(
            (
                reads[0].files,
                reads[0].events,
                reads[0].reads,
                reads[0].bytes_read
            ),
            (1, 3, 2, 4096)
        );
        let last: i64 = sqlx::query_scalar(
            "SELECT last_access FROM file_access WHERE backend = 'data' AND path_hash = 7",
        )
        .fetch_one(store.reader())
        .await
        .expect("file access");
        assert_eq!(last, 86_400_500);
    }

    #[tokio::test]
    async fn sqlite_keeps_telemetry_through_version_8_without_rowids() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("m.db");
        let db = path.to_string_lossy().into_owned();
        telemetry_survives_version_8(&format!("sqlite://{db}?mode=rwc"), &db, "sqlite").await;
        let store = super::super::open(&db).await.expect("open");
        for table in ["access_daily", "file_access"] {
            let sql: String = sqlx::query_scalar(
                "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = $1",
            )
            .bind(table)
            .fetch_one(store.reader())
            .await
            .expect("table");
            assert!(sql.ends_with("WITHOUT ROWID"), "{sql}");
        }
    }

    #[tokio::test]
    async fn postgres_keeps_telemetry_through_version_8() {
        install_drivers();
        let base = std::env::var("SPECTRA_TEST_POSTGRES")
            .unwrap_or_else(|_| "postgres://root@127.0.0.1:5432/test".to_owned());
        let mut admin = match AnyConnection::connect(&base).await {
            Ok(conn) => conn,
            Err(e) if std::env::var("SPECTRA_REQUIRE_POSTGRES").is_ok_and(|v| v == "1") => {
                panic!("PostgreSQL is required but {base} failed: {e}")
            }
            Err(e) => {
                eprintln!("note: PostgreSQL at {base} unreachable ({e}); skipped");
                return;
            }
        };
        let schema = format!("spectra_migrate_{}", Uuid::new_v4().simple());
        sqlx::raw_sql(AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
            .execute(&mut admin)
            .await
            .expect("schema");
        let url = format!("{base}?options=-c%20search_path%3D{schema}");
        telemetry_survives_version_8(&url, &url, "postgres").await;
        sqlx::raw_sql(AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
            .execute(&mut admin)
            .await
            .expect("drop schema");
    }
}
