//! Scan snapshots (time travel).

use super::agents::touch_agent;
use super::*;
use spectra_core::scan::{OwnerUsage, ScanReport};

#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
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
        for owners in snapshot.report.owners.chunks(INSERT_CHUNK / 6) {
            let mut sql = "INSERT INTO snapshot_owners (snapshot_id, agent_id, uid, user_name,
                                                      files, bytes) VALUES "
                .to_owned();
            for (i, _) in owners.iter().enumerate() {
                let at = i * 6;
                sql.push_str(&format!(
                    "{}(${}, ${}, ${}, ${}, ${}, ${})",
                    if i == 0 { "" } else { ", " },
                    at + 1,
                    at + 2,
                    at + 3,
                    at + 4,
                    at + 5,
                    at + 6
                ));
            }
            let mut query = sqlx::query(AssertSqlSafe(sql));
            for owner in owners {
                query = query
                    .bind(id.clone())
                    .bind(agent_id.to_owned())
                    .bind(owner.uid.map(i64::from))
                    .bind(owner.user.clone())
                    .bind(saturating_i64(owner.count))
                    .bind(saturating_i64(owner.bytes));
            }
            query.execute(&mut *tx).await?;
        }
        sqlx::query("UPDATE snapshots SET owners_kept = 1 WHERE id = $1")
            .bind(&id)
            .execute(&mut *tx)
            .await?;
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
    /// The newest snapshot of every (agent, root), and what their owners hold across them:
    /// bytes and files by (uid, user), summed in the database over the owner rows kept when
    /// each snapshot was stored (a snapshot stored before they were kept adds its report's).
    pub async fn latest_snapshots_by_owner(
        &self,
    ) -> StoreResult<(Vec<SnapshotSummary>, Vec<OwnerUsage>)> {
        const LATEST: &str = "s.taken_at = (SELECT MAX(taken_at) FROM snapshots n
                                              WHERE n.agent_id = s.agent_id AND n.root = s.root)";
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {SNAPSHOT_COLUMNS}, owners_kept FROM snapshots s WHERE {LATEST}
             ORDER BY agent_id, root"
        )))
        .fetch_all(self.reader())
        .await?;
        let totals = sqlx::query(AssertSqlSafe(format!(
            "SELECT uid, user_name, CAST(SUM(files) AS BIGINT) AS files,
                    CAST(SUM(bytes) AS BIGINT) AS bytes
             FROM snapshot_owners
             WHERE snapshot_id IN (SELECT s.id FROM snapshots s WHERE {LATEST})
             GROUP BY uid, user_name"
        )))
        .fetch_all(self.reader())
        .await?;
        let mut owners: HashMap<(Option<u32>, Option<String>), (u64, u64)> = HashMap::new();
        for row in &totals {
            let unsigned = |column: &str| -> StoreResult<u64> {
                Ok(u64::try_from(row.try_get::<i64, _>(column)?).unwrap_or(0))
            };
            let uid = row
                .try_get::<Option<i64>, _>("uid")?
                .and_then(|uid| u32::try_from(uid).ok());
            let entry = owners.entry((uid, row.try_get("user_name")?)).or_default();
            entry.0 += unsigned("files")?;
            entry.1 += unsigned("bytes")?;
        }
        let mut latest = Vec::with_capacity(rows.len());
        for row in &rows {
            let summary = snapshot_from_row(row)?;
            if row.try_get::<i64, _>("owners_kept")? == 0 {
                for owner in self.owners_from_report(&summary.id).await? {
                    let entry = owners.entry((owner.uid, owner.user)).or_default();
                    entry.0 += owner.count;
                    entry.1 += owner.bytes;
                }
            }
            latest.push(summary);
        }
        let owners = owners
            .into_iter()
            .map(|((uid, user), (count, bytes))| OwnerUsage {
                uid,
                user,
                count,
                bytes,
            })
            .collect();
        Ok((latest, owners))
    }

    /// The owners of a snapshot stored before owner rows were kept, from its report.
    async fn owners_from_report(&self, id: &str) -> StoreResult<Vec<OwnerUsage>> {
        let report: String = sqlx::query_scalar("SELECT report FROM snapshots WHERE id = $1")
            .bind(id)
            .fetch_one(self.reader())
            .await?;
        let report: ScanReport =
            serde_json::from_str(&report).map_err(|e| StoreError::Corrupt {
                what: "snapshot report",
                message: e.to_string(),
            })?;
        Ok(report.owners)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use spectra_core::scan::{ScanOptions, Scanner};

    #[tokio::test]
    async fn owners_come_from_their_rows_or_from_an_older_snapshots_report() {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::write(dir.path().join("f"), b"data").expect("write");
        let store = open(&dir.path().join("s.db").display().to_string())
            .await
            .expect("store");
        let mut report = Scanner::new(ScanOptions::new(dir.path()))
            .expect("scanner")
            .scan()
            .expect("scan");
        report.owners = (0..700u32)
            .map(|i| OwnerUsage {
                uid: Some(1000 + i),
                user: (i % 2 == 0).then(|| format!("user{i}")),
                count: u64::from(i),
                bytes: u64::from(i) * 10,
            })
            .collect();
        let snapshot = Snapshot::new("h", report.clone());
        let agent = Uploader {
            id: "a1".into(),
            last_seen: None,
        };
        let stored = store
            .ingest_snapshot(&agent, &snapshot, Utc::now(), 1000)
            .await
            .expect("ingest");
        assert!(matches!(stored, Ingested::Stored));
        let sorted = |mut owners: Vec<OwnerUsage>| {
            owners.sort_by_key(|o| o.uid);
            owners
        };
        let (latest, owners) = store.latest_snapshots_by_owner().await.expect("latest");
        assert_eq!(latest.len(), 1);
        assert_eq!(
            sorted(owners),
            report.owners,
            "every owner, over several inserts"
        );

        // A second agent's snapshot of the same owners: summed in the database.
        let other = Uploader {
            id: "a2".into(),
            last_seen: None,
        };
        store
            .ingest_snapshot(
                &other,
                &Snapshot::new("h2", report.clone()),
                Utc::now(),
                1000,
            )
            .await
            .expect("ingest");
        let (latest, owners) = store.latest_snapshots_by_owner().await.expect("latest");
        assert_eq!(latest.len(), 2);
        let doubled: Vec<OwnerUsage> = report
            .owners
            .iter()
            .map(|o| OwnerUsage {
                count: o.count * 2,
                bytes: o.bytes * 2,
                ..o.clone()
            })
            .collect();
        assert_eq!(sorted(owners), doubled);

        // Snapshots stored before owner rows were kept: read from their reports.
        let mut tx = store.begin_write().await.expect("tx");
        sqlx::raw_sql("UPDATE snapshots SET owners_kept = 0; DELETE FROM snapshot_owners")
            .execute(&mut *tx)
            .await
            .expect("forget");
        tx.commit().await.expect("commit");
        let (_, owners) = store.latest_snapshots_by_owner().await.expect("latest");
        assert_eq!(sorted(owners), doubled);
    }
}
