//! Access telemetry, aggregated as it arrives: per file, user and day (events, reads, bytes
//! read, last access), and the last use of each file and by each user.

use std::collections::BTreeMap;

use spectra_core::protocol::{AccessOp, TelemetryBatch, path_hash};

use super::index::{DAY_MS, hash_param};
use super::*;

/// Rows per multi-row statement on PostgreSQL (9 parameters a row at most: 4,500).
const TELEMETRY_CHUNK: usize = 500;

/// What a telemetry upload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TelemetryOutcome {
    Stored {
        events: usize,
    },
    Duplicate,
    /// `events[index]` names no backend and its path is under none of the agent's indexed
    /// roots; nothing was stored.
    Unattributed {
        index: usize,
        path: String,
    },
}

/// What one user read on one backend.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UserReads {
    pub backend: String,
    /// Distinct files.
    pub files: i64,
    pub events: i64,
    pub reads: i64,
    pub bytes_read: i64,
    pub last_access: DateTime<Utc>,
}

/// One (backend, file, user, day)'s share of a batch.
#[derive(Debug, Default)]
pub(super) struct Daily {
    pub(super) path: String,
    pub(super) events: i64,
    pub(super) reads: i64,
    pub(super) bytes_read: i64,
    pub(super) last_access: i64,
}

/// (backend, path hash, user, day).
pub(super) type DayKey = (String, i64, String, i64);

/// A batch aggregated as its rows will be added, made on the request's task (beside other
/// requests, not on a writer), each list in key order.
#[derive(Debug)]
pub(super) struct TelemetryRows {
    pub(super) batch_id: String,
    pub(super) events: usize,
    pub(super) daily: Vec<(DayKey, Daily)>,
    /// The last use of each (backend, path hash).
    pub(super) files: Vec<((String, i64), i64)>,
    /// The last use by each (backend, user).
    pub(super) users: Vec<((String, String), i64)>,
}

/// Reads, writes, opens and creates use a file; a `stat` or a listing does not make it fresh.
fn uses_content(op: AccessOp) -> bool {
    !op.is_metadata() && !matches!(op, AccessOp::Delete | AccessOp::Rename)
}

fn later<K: Ord>(map: &mut BTreeMap<K, i64>, key: K, at: i64) {
    let last = map.entry(key).or_insert(at);
    *last = (*last).max(at);
}

/// `CASE` rather than `max()`/`GREATEST()`, which the two databases spell differently.
const LATER: &str = "CASE WHEN excluded.last_access > {t}.last_access THEN excluded.last_access \
                     ELSE {t}.last_access END";

pub(super) const INSERT_TELEMETRY_BATCH: &str =
    "INSERT INTO telemetry_batches (batch_id, agent_id, events, received_at)
     VALUES ($1, $2, $3, $4) ON CONFLICT (batch_id) DO NOTHING";

/// The three tables a batch adds to.
#[derive(Debug, Clone, Copy)]
pub(super) enum Aggregate {
    /// Per file, user and day: backend, path hash, user, day, path, events, reads, bytes
    /// read, last access.
    Daily,
    /// The last use of each file: backend, path hash, last access.
    File,
    /// The last use by each user: backend, user, last access.
    User,
}

impl Aggregate {
    /// The upsert of `rows` rows into this aggregate (shared by both writers).
    pub(super) fn upsert(self, rows: usize) -> String {
        match self {
            Aggregate::Daily => format!(
                "INSERT INTO access_daily (backend, path_hash, user_name, day, path, events,
                                           reads, bytes_read, last_access)
                 VALUES {}
                 ON CONFLICT (user_name, backend, path_hash, day) DO UPDATE SET
                     events = access_daily.events + excluded.events,
                     reads = access_daily.reads + excluded.reads,
                     bytes_read = access_daily.bytes_read + excluded.bytes_read,
                     last_access = {}",
                placeholders(rows, 9),
                LATER.replace("{t}", "access_daily")
            ),
            Aggregate::File => format!(
                "INSERT INTO file_access (backend, path_hash, last_access) VALUES {}
                 ON CONFLICT (backend, path_hash) DO UPDATE SET last_access = {}",
                placeholders(rows, 3),
                LATER.replace("{t}", "file_access")
            ),
            Aggregate::User => format!(
                "INSERT INTO user_access (backend, user_name, last_access) VALUES {}
                 ON CONFLICT (backend, user_name) DO UPDATE SET last_access = {}",
                placeholders(rows, 3),
                LATER.replace("{t}", "user_access")
            ),
        }
    }
}

impl TelemetryRows {
    /// Aggregates `batch`; an event without a backend goes to the agent's indexed root
    /// (`roots`: backend name and root) that holds its path, the longest.
    fn new(
        batch: &TelemetryBatch,
        roots: &[(String, String)],
    ) -> Result<TelemetryRows, TelemetryOutcome> {
        let mut daily: BTreeMap<DayKey, Daily> = BTreeMap::new();
        let mut files: BTreeMap<(String, i64), i64> = BTreeMap::new();
        let mut users: BTreeMap<(String, String), i64> = BTreeMap::new();
        for (index, event) in batch.events.iter().enumerate() {
            let path = event.path.to_string_lossy();
            let backend = match &event.backend {
                Some(backend) => backend.clone(),
                None => match attribute(roots, event.path.as_bytes()) {
                    Some(backend) => backend,
                    None => {
                        return Err(TelemetryOutcome::Unattributed {
                            index,
                            path: path.into_owned(),
                        });
                    }
                },
            };
            let at = millis(event.timestamp);
            let hash = hash_param(path_hash(event.path.as_bytes()));
            let user = event.user_key();
            let day = at.div_euclid(DAY_MS) * DAY_MS;
            let entry = daily
                .entry((backend.clone(), hash, user.clone(), day))
                .or_default();
            if entry.events == 0 {
                entry.path = path.into_owned();
                entry.last_access = at;
            }
            entry.events += 1;
            entry.last_access = entry.last_access.max(at);
            if event.op == AccessOp::Read {
                entry.reads += 1;
                entry.bytes_read = entry.bytes_read.saturating_add(saturating_i64(event.bytes));
            }
            if uses_content(event.op) {
                later(&mut files, (backend.clone(), hash), at);
                later(&mut users, (backend, user), at);
            }
        }
        Ok(TelemetryRows {
            batch_id: batch.batch_id.to_string(),
            events: batch.events.len(),
            daily: daily.into_iter().collect(),
            files: files.into_iter().collect(),
            users: users.into_iter().collect(),
        })
    }
}

impl Store {
    /// Aggregates a batch of access events once by its id. An event without a backend is
    /// attributed to the uploading agent's indexed root that holds its path (the longest).
    pub async fn ingest_telemetry(
        &self,
        agent: &Uploader,
        batch: &TelemetryBatch,
        now: DateTime<Utc>,
    ) -> StoreResult<TelemetryOutcome> {
        let roots: Vec<(String, String)> =
            sqlx::query_as("SELECT name, root FROM backends WHERE agent_id = $1")
                .bind(&agent.id)
                .fetch_all(self.reader())
                .await?;
        match TelemetryRows::new(batch, &roots) {
            Ok(rows) => self.backend.write_telemetry(agent, rows, now).await,
            Err(unattributed) => Ok(unattributed),
        }
    }

    /// What `user` read on each backend: distinct files, events, reads, bytes read, last
    /// access.
    pub async fn user_reads(&self, user: &str) -> StoreResult<Vec<UserReads>> {
        let rows = sqlx::query(
            "SELECT backend, COUNT(DISTINCT path_hash) AS files,
                    CAST(SUM(events) AS BIGINT) AS events, CAST(SUM(reads) AS BIGINT) AS reads,
                    CAST(SUM(bytes_read) AS BIGINT) AS bytes_read, MAX(last_access) AS last_access
             FROM access_daily WHERE user_name = $1 GROUP BY backend ORDER BY backend",
        )
        .bind(user)
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(UserReads {
                    backend: row.try_get("backend")?,
                    files: row.try_get("files")?,
                    events: row.try_get("events")?,
                    reads: row.try_get("reads")?,
                    bytes_read: row.try_get("bytes_read")?,
                    last_access: from_millis(row.try_get("last_access")?),
                })
            })
            .collect()
    }

    /// The files `user` used most recently, newest first: `(backend, path, last access)`.
    pub async fn user_recent_files(
        &self,
        user: &str,
        limit: usize,
    ) -> StoreResult<Vec<(String, String, DateTime<Utc>)>> {
        let rows: Vec<(String, String, i64)> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT backend, path, MAX(last_access) AS at FROM access_daily
             WHERE user_name = $1 GROUP BY backend, path_hash, path ORDER BY at DESC LIMIT {limit}"
        )))
        .bind(user)
        .fetch_all(self.reader())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(backend, path, at)| (backend, path, from_millis(at)))
            .collect())
    }

    /// The last use of anything by each user on each backend: `(backend, user, at)`.
    pub async fn user_last_access(&self) -> StoreResult<Vec<(String, String, DateTime<Utc>)>> {
        let rows: Vec<(String, String, i64)> =
            sqlx::query_as("SELECT backend, user_name, last_access FROM user_access")
                .fetch_all(self.reader())
                .await?;
        Ok(rows
            .into_iter()
            .map(|(backend, user, at)| (backend, user, from_millis(at)))
            .collect())
    }
}

/// Adds a batch through sqlx (PostgreSQL): a few multi-row upserts.
pub(super) async fn write_with_sqlx(
    mut tx: Transaction<'static, Any>,
    agent: &Uploader,
    rows: &TelemetryRows,
    now: DateTime<Utc>,
) -> StoreResult<TelemetryOutcome> {
    let fresh = sqlx::query(INSERT_TELEMETRY_BATCH)
        .bind(&rows.batch_id)
        .bind(&agent.id)
        .bind(rows.events as i64)
        .bind(millis(now))
        .execute(&mut *tx)
        .await?;
    if fresh.rows_affected() == 0 {
        return Ok(TelemetryOutcome::Duplicate);
    }
    for chunk in rows.daily.chunks(TELEMETRY_CHUNK) {
        let mut query = sqlx::query(AssertSqlSafe(Aggregate::Daily.upsert(chunk.len())));
        for ((backend, hash, user, day), row) in chunk {
            query = query
                .bind(backend.clone())
                .bind(*hash)
                .bind(user.clone())
                .bind(*day)
                .bind(row.path.clone())
                .bind(row.events)
                .bind(row.reads)
                .bind(row.bytes_read)
                .bind(row.last_access);
        }
        query.execute(&mut *tx).await?;
    }
    for chunk in rows.files.chunks(TELEMETRY_CHUNK) {
        let mut query = sqlx::query(AssertSqlSafe(Aggregate::File.upsert(chunk.len())));
        for ((backend, hash), at) in chunk {
            query = query.bind(backend.clone()).bind(*hash).bind(*at);
        }
        query.execute(&mut *tx).await?;
    }
    for chunk in rows.users.chunks(TELEMETRY_CHUNK) {
        let mut query = sqlx::query(AssertSqlSafe(Aggregate::User.upsert(chunk.len())));
        for ((backend, user), at) in chunk {
            query = query.bind(backend.clone()).bind(user.clone()).bind(*at);
        }
        query.execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(TelemetryOutcome::Stored {
        events: rows.events,
    })
}

/// The backend whose root holds `path` (core's rule: the longest root winning).
fn attribute(roots: &[(String, String)], path: &[u8]) -> Option<String> {
    let roots = roots.iter().map(|(name, root)| (root.as_bytes(), name));
    spectra_core::protocol::holding_root(roots, path).cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_go_to_the_longest_root_that_holds_them() {
        let roots = vec![
            ("all".to_owned(), "/srv".to_owned()),
            ("data".to_owned(), "/srv/data/".to_owned()),
        ];
        assert_eq!(attribute(&roots, b"/srv/data/x").as_deref(), Some("data"));
        assert_eq!(attribute(&roots, b"/srv/datax/y").as_deref(), Some("all"));
        assert_eq!(attribute(&roots, b"/srv").as_deref(), Some("all"));
        assert_eq!(attribute(&roots, b"/home/a"), None);
    }
}
