//! The file index: crawls applied batch by batch (see `spectra_core::protocol::IndexBatch`),
//! with each backend's totals and its usage by owner changed by the same transaction that
//! changes the rows, so that usage never needs a scan of the index.
//!
//! What a batch does is decided here once ([`IndexRows`], [`claim`], the SQL text); the
//! writes run through sqlx on PostgreSQL (below, as multi-row statements, since every
//! statement is a round trip) and on SQLite's writer thread (`sqlite_governance`, one
//! prepared row at a time, since there a statement costs no round trip).

use std::collections::{BTreeMap, HashMap, HashSet};

use spectra_core::protocol::{CrawlEnd, IndexBatch};

use super::*;

/// What applying an index batch did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexOutcome {
    Applied {
        /// On the crawl's last batch: the files the backend now holds.
        files: Option<i64>,
        /// On the last batch: the server's count differs from the agent's, so its next
        /// crawl must be a full one.
        resync: bool,
    },
    Duplicate,
    /// The batch is a delta against a crawl the server does not hold as its last (or its
    /// crawl was superseded, or lost batches): nothing was applied; send a full crawl.
    Resync(String),
}

/// One backend of the index with its totals.
/// How [`Store::usage_page`] groups the index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsageGroup {
    Team,
    User,
    Backend,
}

/// One group's sums, as [`Store::usage_page`] reads them.
#[derive(Debug, Clone, PartialEq)]
pub struct UsageSums {
    /// The team, user or backend; `None` for users in no team.
    pub name: Option<String>,
    pub files: i64,
    pub size_bytes: i64,
    pub disk_bytes: i64,
    pub last_access: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BackendRecord {
    pub name: String,
    pub agent_id: String,
    pub root: String,
    pub files: i64,
    pub apparent_bytes: i64,
    pub disk_bytes: i64,
    pub last_crawl_at: Option<DateTime<Utc>>,
    pub last_complete_crawl_at: Option<DateTime<Utc>>,
}

/// Files, apparent and disk bytes: one owner's, one backend's, a change to them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    pub files: i64,
    pub apparent_bytes: i64,
    pub disk_bytes: i64,
}

impl Totals {
    fn add(&mut self, other: Totals) {
        self.files += other.files;
        self.apparent_bytes += other.apparent_bytes;
        self.disk_bytes += other.disk_bytes;
    }

    fn negated(self) -> Totals {
        Totals {
            files: -self.files,
            apparent_bytes: -self.apparent_bytes,
            disk_bytes: -self.disk_bytes,
        }
    }
}

/// Changes to usage by owner, applied once per batch.
#[derive(Debug, Default)]
pub(super) struct UsageChanges(BTreeMap<String, Totals>);

impl UsageChanges {
    /// A row with these values joined the index.
    pub(super) fn add(&mut self, owner: &str, totals: Totals) {
        match self.0.get_mut(owner) {
            Some(sum) => sum.add(totals),
            None => {
                self.0.insert(owner.to_owned(), totals);
            }
        }
    }

    /// A row with these values left the index (or is about to be rewritten).
    pub(super) fn remove(&mut self, owner: &str, totals: Totals) {
        self.add(owner, totals.negated());
    }

    /// The owners whose usage changed, and the sum of all changes.
    pub(super) fn nonzero(&self) -> (Vec<(&str, Totals)>, Totals) {
        let mut sum = Totals::default();
        let changed = self
            .0
            .iter()
            .filter(|(_, change)| **change != Totals::default())
            .map(|(owner, change)| {
                sum.add(*change);
                (owner.as_str(), *change)
            })
            .collect();
        (changed, sum)
    }
}

/// Rows per multi-row statement of known rows (14 parameters a row: 7,000, well under
/// PostgreSQL's limit).
const INDEX_CHUNK: usize = 500;

/// Rows per statement of new files, which PostgreSQL takes as one JSON parameter
/// (`json_populate_recordset`): parsing it costs the server a fraction of binding 14 values
/// a row (34k → 60k files/s at 1M files in `benches/governance-load.sh`).
const INDEX_JSON_CHUNK: usize = 10_000;

pub(crate) fn hash_param(hash: u64) -> i64 {
    i64::from_ne_bytes(hash.to_ne_bytes())
}

fn time_ms(t: Option<spectra_core::scan::Timestamp>) -> Option<i64> {
    t.map(|t| {
        t.secs
            .saturating_mul(1000)
            .saturating_add(i64::from(t.nanos / 1_000_000))
    })
}

/// One file of a batch as the columns `file_index` keeps of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct IndexRow {
    pub(super) path_hash: i64,
    pub(super) path: String,
    pub(super) size: i64,
    pub(super) disk_bytes: i64,
    pub(super) mtime: Option<i64>,
    pub(super) atime: Option<i64>,
    pub(super) uid: Option<u32>,
    pub(super) gid: Option<u32>,
    pub(super) ino: Option<i64>,
    pub(super) owner: String,
}

impl IndexRow {
    pub(super) fn totals(&self) -> Totals {
        Totals {
            files: 1,
            apparent_bytes: self.size,
            disk_bytes: self.disk_bytes,
        }
    }
}

/// A batch's files and removals as the index keeps them, made on the request's task (beside
/// other requests, not on a writer). Each path comes once, in key order: a path may come
/// twice in a hand-made batch, and then the last wins, as in a replay.
#[derive(Debug)]
pub(super) struct IndexRows {
    pub(super) rows: Vec<IndexRow>,
    pub(super) removed: Vec<i64>,
}

impl IndexRows {
    pub(super) fn new(batch: &IndexBatch) -> IndexRows {
        let mut rows: BTreeMap<i64, IndexRow> = BTreeMap::new();
        for entry in &batch.entries {
            let path_hash = hash_param(spectra_core::protocol::path_hash(entry.path.as_bytes()));
            rows.insert(
                path_hash,
                IndexRow {
                    path_hash,
                    path: entry.path.to_string_lossy().into_owned(),
                    size: saturating_i64(entry.size),
                    disk_bytes: saturating_i64(entry.disk_bytes),
                    mtime: time_ms(entry.mtime),
                    atime: time_ms(entry.atime),
                    uid: entry.uid,
                    gid: entry.gid,
                    ino: entry.ino.map(saturating_i64),
                    owner: entry.owner_key(),
                },
            );
        }
        let mut removed: Vec<i64> = batch.removed.iter().map(|hash| hash_param(*hash)).collect();
        removed.sort_unstable();
        removed.dedup();
        IndexRows {
            rows: rows.into_values().collect(),
            removed,
        }
    }
}

/// What a batch does to its backend's crawl state.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Claim {
    /// The backend is new: insert it, with this crawl pending.
    Create,
    /// This crawl becomes the backend's pending one (and the agent its owner).
    Take,
    /// The crawl is already the pending one, this agent's.
    Continue,
    Refuse(String),
}

/// The crawl state of a backend as [`SELECT_CRAWL_STATE`] reads it: agent, applied crawl,
/// pending crawl.
pub(super) type CrawlState = (String, Option<String>, Option<String>);

/// Whether `batch`'s crawl may go on, given its backend's `state` (`None`: no such backend).
pub(super) fn claim(state: Option<CrawlState>, agent: &Uploader, batch: &IndexBatch) -> Claim {
    let crawl = batch.crawl_id.to_string();
    let base = batch.base_crawl.map(|base| base.to_string());
    let Some((owner, applied, pending)) = state else {
        return match base {
            Some(_) => Claim::Refuse(format!("backend {:?} has no index here yet", batch.backend)),
            None => Claim::Create,
        };
    };
    if pending.as_deref() == Some(crawl.as_str()) {
        return if owner == agent.id {
            Claim::Continue
        } else {
            Claim::Refuse(format!(
                "backend {:?} is being crawled by another agent",
                batch.backend
            ))
        };
    }
    let starts = match &base {
        None => true,
        Some(base) => pending.is_none() && applied.as_ref() == Some(base) && owner == agent.id,
    };
    if starts {
        return Claim::Take;
    }
    Claim::Refuse(format!(
        "backend {:?}: crawl {crawl} is a delta against {}, but the last crawl applied \
         here is {} (and {} is under way)",
        batch.backend,
        base.as_deref().unwrap_or("nothing"),
        applied.as_deref().unwrap_or("none"),
        pending.as_deref().unwrap_or("none"),
    ))
}

/// The refusal of a crawl's last batch when batches of it are missing here.
pub(super) fn missing_batches(crawl: &str, received: i64, end: &CrawlEnd) -> Option<String> {
    (received != i64::from(end.batches)).then(|| {
        format!(
            "crawl {crawl} has {received} of its {} batches here",
            end.batches
        )
    })
}

/// Whether the last batch of a crawl removes what the crawl did not see: a complete full
/// crawl does; a partial one, or a delta (which names its removals), does not.
pub(super) fn removes_unseen(batch: &IndexBatch, end: &CrawlEnd) -> bool {
    end.complete && batch.base_crawl.is_none()
}

// The statements of an index batch, shared by both writers. Parameters are numbered in the
// order they are bound.
pub(super) const INSERT_INDEX_BATCH: &str =
    "INSERT INTO index_batches (batch_id, crawl_id, seq, received_at)
     VALUES ($1, $2, $3, $4) ON CONFLICT (batch_id) DO NOTHING";
pub(super) const SELECT_CRAWL_STATE: &str =
    "SELECT agent_id, applied_crawl, pending_crawl FROM backends WHERE name = $1";
/// Name, agent, root, crawl.
pub(super) const INSERT_BACKEND: &str =
    "INSERT INTO backends (name, agent_id, root, pending_crawl) VALUES ($1, $2, $3, $4)";
/// Name: after a backend's record is created, what the index already holds of it counts —
/// nothing for a new backend, but rows outlive a lost record (a hand-edited or partly restored
/// database), and a crawl's totals only add what changed.
pub(super) const RECOUNT_BACKEND: [&str; 3] = [
    "UPDATE backends SET
         files = (SELECT COUNT(*) FROM file_index WHERE backend = $1),
         apparent_bytes = (SELECT COALESCE(CAST(SUM(size) AS BIGINT), 0)
                           FROM file_index WHERE backend = $1),
         disk_bytes = (SELECT COALESCE(CAST(SUM(disk_bytes) AS BIGINT), 0)
                       FROM file_index WHERE backend = $1)
     WHERE name = $1",
    "DELETE FROM index_usage WHERE backend = $1",
    "INSERT INTO index_usage (backend, owner, files, apparent_bytes, disk_bytes)
     SELECT backend, owner, COUNT(*), CAST(SUM(size) AS BIGINT), CAST(SUM(disk_bytes) AS BIGINT)
     FROM file_index WHERE backend = $1 GROUP BY backend, owner",
];
/// Name, agent, root, crawl.
pub(super) const TAKE_BACKEND: &str =
    "UPDATE backends SET agent_id = $2, root = $3, pending_crawl = $4 WHERE name = $1";
pub(super) const COUNT_CRAWL_BATCHES: &str =
    "SELECT COUNT(*) FROM index_batches WHERE crawl_id = $1";
/// Backend, crawl: the usage of the rows the crawl did not see.
pub(super) const UNSEEN_USAGE: &str =
    "SELECT owner, COUNT(*), CAST(SUM(size) AS BIGINT), CAST(SUM(disk_bytes) AS BIGINT)
     FROM file_index WHERE backend = $1 AND seen_crawl <> $2 GROUP BY owner";
pub(super) const DELETE_UNSEEN: &str =
    "DELETE FROM file_index WHERE backend = $1 AND seen_crawl <> $2";
/// Backend, owner, files, apparent bytes, disk bytes (a change).
pub(super) const ADD_USAGE: &str =
    "INSERT INTO index_usage (backend, owner, files, apparent_bytes, disk_bytes)
     VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (backend, owner) DO UPDATE SET
         files = index_usage.files + excluded.files,
         apparent_bytes = index_usage.apparent_bytes + excluded.apparent_bytes,
         disk_bytes = index_usage.disk_bytes + excluded.disk_bytes";
pub(super) const DELETE_EMPTY_USAGE: &str =
    "DELETE FROM index_usage WHERE backend = $1 AND files = 0";
/// Backend, files, apparent bytes, disk bytes (a change): answers the new totals.
pub(super) const ADD_BACKEND_TOTALS: &str =
    "UPDATE backends SET files = files + $2, apparent_bytes = apparent_bytes + $3,
         disk_bytes = disk_bytes + $4
     WHERE name = $1 RETURNING files, apparent_bytes, disk_bytes";
/// Backend, the crawl now applied (none when the server must ask for a full one), when it
/// finished, whether it was complete (1/0).
pub(super) const FINISH_CRAWL: &str =
    "UPDATE backends SET applied_crawl = $2, pending_crawl = NULL, last_crawl_at = $3,
         last_complete_crawl_at = CASE WHEN $4 = 1 THEN $3 ELSE last_complete_crawl_at END
     WHERE name = $1";
/// Backend, day, files, apparent bytes, disk bytes.
pub(super) const RECORD_GROWTH: &str =
    "INSERT INTO index_growth (backend, day, files, apparent_bytes, disk_bytes)
     VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (backend, day) DO UPDATE SET files = excluded.files,
         apparent_bytes = excluded.apparent_bytes, disk_bytes = excluded.disk_bytes";

pub(super) const INDEX_COLUMNS: usize = 14;
/// The columns of a `file_index` row in the order both writers bind them.
pub(super) const INDEX_COLUMN_NAMES: &str = "backend, path_hash, path, size, disk_bytes, mtime, atime, uid, gid, ino, owner, \
     first_seen, last_crawled, seen_crawl";
/// What a crawl's write of a known row changes (all but `first_seen`).
pub(super) const ON_CONFLICT_UPDATE: &str = "ON CONFLICT (backend, path_hash) DO UPDATE SET
    path = excluded.path, size = excluded.size, disk_bytes = excluded.disk_bytes,
    mtime = excluded.mtime, atime = excluded.atime, uid = excluded.uid, gid = excluded.gid,
    ino = excluded.ino, owner = excluded.owner, last_crawled = excluded.last_crawled,
    seen_crawl = excluded.seen_crawl";

impl Store {
    /// Applies one batch of a crawl, all of it or nothing, once by its id.
    pub async fn ingest_index(
        &self,
        agent: &Uploader,
        mut batch: IndexBatch,
        now: DateTime<Utc>,
    ) -> StoreResult<IndexOutcome> {
        let rows = IndexRows::new(&batch);
        // The rows hold everything of the entries now.
        batch.entries = Vec::new();
        self.backend.write_index(agent, batch, rows, now).await
    }

    /// Every backend of the index, by name.
    pub async fn index_backends(&self) -> StoreResult<Vec<BackendRecord>> {
        self.index_backends_page(None, usize::MAX).await
    }

    /// Backends by name after `after`, at most `limit` (bounded by [`MAX_PAGE_SIZE`] + 1 when
    /// paging; `usize::MAX` for every one).
    pub async fn index_backends_page(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<BackendRecord>> {
        let limit = if limit == usize::MAX {
            String::new()
        } else {
            format!(" LIMIT {}", limit.min(MAX_PAGE_SIZE + 1))
        };
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT name, agent_id, root, files, apparent_bytes, disk_bytes, last_crawl_at,
                    last_complete_crawl_at
             FROM backends WHERE $1 IS NULL OR name > $1 ORDER BY name{limit}"
        )))
        .bind(after)
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(BackendRecord {
                    name: row.try_get("name")?,
                    agent_id: row.try_get("agent_id")?,
                    root: row.try_get("root")?,
                    files: row.try_get("files")?,
                    apparent_bytes: row.try_get("apparent_bytes")?,
                    disk_bytes: row.try_get("disk_bytes")?,
                    last_crawl_at: row
                        .try_get::<Option<i64>, _>("last_crawl_at")?
                        .map(from_millis),
                    last_complete_crawl_at: row
                        .try_get::<Option<i64>, _>("last_complete_crawl_at")?
                        .map(from_millis),
                })
            })
            .collect()
    }

    /// Usage by backend and owner, from the kept aggregate; `backend` narrows it to one.
    pub async fn index_usage(
        &self,
        backend: Option<&str>,
    ) -> StoreResult<Vec<(String, String, Totals)>> {
        const SELECT: &str =
            "SELECT backend, owner, files, apparent_bytes, disk_bytes FROM index_usage";
        let rows = match backend {
            Some(backend) => {
                sqlx::query(AssertSqlSafe(format!("{SELECT} WHERE backend = $1")))
                    .bind(backend)
                    .fetch_all(self.reader())
                    .await?
            }
            None => sqlx::query(SELECT).fetch_all(self.reader()).await?,
        };
        rows.iter()
            .map(|row| {
                Ok((
                    row.try_get("backend")?,
                    row.try_get("owner")?,
                    Totals {
                        files: row.try_get("files")?,
                        apparent_bytes: row.try_get("apparent_bytes")?,
                        disk_bytes: row.try_get("disk_bytes")?,
                    },
                ))
            })
            .collect()
    }

    /// A page of usage grouped by `group` (on `backend`, or all): files and bytes from the
    /// kept aggregate, the last use from telemetry (a group that only read is a row too),
    /// largest first, ties by name with the group of no name (users in no team) first, after
    /// `after`'s position; at most `limit` (bounded by [`MAX_PAGE_SIZE`] + 1). Grouped, sorted
    /// and cut in the database.
    pub async fn usage_page(
        &self,
        group: UsageGroup,
        backend: Option<&str>,
        after: Option<&(i64, Option<String>)>,
        limit: usize,
    ) -> StoreResult<Vec<UsageSums>> {
        let (owned, read, join_owned, join_read) = match group {
            UsageGroup::User => ("u.owner", "a.user_name", "", ""),
            UsageGroup::Backend => ("u.backend", "a.backend", "", ""),
            UsageGroup::Team => (
                "t.team",
                "t.team",
                "LEFT JOIN teams t ON t.user_name = u.owner",
                "LEFT JOIN teams t ON t.user_name = a.user_name",
            ),
        };
        // Keyset: smaller, or as large with a later name (no name sorts first).
        let keyset = match after {
            None => "1 = 1",
            Some((_, None)) => "(size_bytes < $2 OR (size_bytes = $2 AND name IS NOT NULL))",
            Some((_, Some(_))) => {
                "(size_bytes < $2 OR (size_bytes = $2 AND name IS NOT NULL AND name > $3))"
            }
        };
        let sql = format!(
            "WITH owned AS (
                 SELECT {owned} AS name, CAST(SUM(u.files) AS BIGINT) AS files,
                        CAST(SUM(u.apparent_bytes) AS BIGINT) AS size_bytes,
                        CAST(SUM(u.disk_bytes) AS BIGINT) AS disk_bytes
                 FROM index_usage u {join_owned}
                 WHERE $1 IS NULL OR u.backend = $1 GROUP BY {owned}),
             used AS (
                 SELECT {read} AS name, MAX(a.last_access) AS last_access
                 FROM user_access a {join_read}
                 WHERE $1 IS NULL OR a.backend = $1 GROUP BY {read}),
             grouped AS (
                 SELECT g.name AS name, COALESCE(o.files, 0) AS files,
                        COALESCE(o.size_bytes, 0) AS size_bytes,
                        COALESCE(o.disk_bytes, 0) AS disk_bytes, r.last_access AS last_access
                 FROM (SELECT name FROM owned UNION SELECT name FROM used) g
                 LEFT JOIN owned o ON o.name IS NOT DISTINCT FROM g.name
                 LEFT JOIN used r ON r.name IS NOT DISTINCT FROM g.name)
             SELECT name, files, size_bytes, disk_bytes, last_access FROM grouped
             WHERE {keyset}
             ORDER BY size_bytes DESC, CASE WHEN name IS NULL THEN 0 ELSE 1 END, name
             LIMIT {}",
            limit.min(MAX_PAGE_SIZE + 1)
        );
        let mut query = sqlx::query(AssertSqlSafe(sql)).bind(backend);
        if let Some((size, name)) = after {
            query = query.bind(*size);
            if let Some(name) = name {
                query = query.bind(name.as_str());
            }
        }
        let rows = query.fetch_all(self.reader()).await?;
        rows.iter()
            .map(|row| {
                Ok(UsageSums {
                    name: row.try_get("name")?,
                    files: row.try_get("files")?,
                    size_bytes: row.try_get("size_bytes")?,
                    disk_bytes: row.try_get("disk_bytes")?,
                    last_access: row
                        .try_get::<Option<i64>, _>("last_access")?
                        .map(from_millis),
                })
            })
            .collect()
    }

    /// The largest files `owner` has in the index: `(backend, path, size, disk bytes)`.
    pub async fn largest_files_of(
        &self,
        owner: &str,
        limit: usize,
    ) -> StoreResult<Vec<(String, String, i64, i64)>> {
        Ok(sqlx::query_as(AssertSqlSafe(format!(
            "SELECT backend, path, size, disk_bytes FROM file_index WHERE owner = $1
             ORDER BY size DESC LIMIT {limit}"
        )))
        .bind(owner)
        .fetch_all(self.reader())
        .await?)
    }

    /// A backend's daily totals from `since` on.
    pub async fn index_growth(
        &self,
        backend: &str,
        since: DateTime<Utc>,
    ) -> StoreResult<Vec<(DateTime<Utc>, Totals)>> {
        let rows = sqlx::query(
            "SELECT day, files, apparent_bytes, disk_bytes FROM index_growth
             WHERE backend = $1 AND day >= $2 ORDER BY day",
        )
        .bind(backend)
        .bind(millis(since).div_euclid(DAY_MS) * DAY_MS)
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|row| {
                Ok((
                    from_millis(row.try_get("day")?),
                    Totals {
                        files: row.try_get("files")?,
                        apparent_bytes: row.try_get("apparent_bytes")?,
                        disk_bytes: row.try_get("disk_bytes")?,
                    },
                ))
            })
            .collect()
    }
}

pub(crate) const DAY_MS: i64 = 86_400_000;

/// Applies a batch through sqlx (PostgreSQL): the batch's rows as few multi-row statements.
pub(super) async fn write_with_sqlx(
    mut tx: Transaction<'static, Any>,
    agent: &Uploader,
    batch: &IndexBatch,
    rows: IndexRows,
    now: DateTime<Utc>,
) -> StoreResult<IndexOutcome> {
    let crawl = batch.crawl_id.to_string();
    let fresh = sqlx::query(INSERT_INDEX_BATCH)
        .bind(batch.batch_id.to_string())
        .bind(&crawl)
        .bind(i64::from(batch.seq))
        .bind(millis(now))
        .execute(&mut *tx)
        .await?;
    if fresh.rows_affected() == 0 {
        return Ok(IndexOutcome::Duplicate);
    }
    let state: Option<CrawlState> = sqlx::query_as(SELECT_CRAWL_STATE)
        .bind(&batch.backend)
        .fetch_optional(&mut *tx)
        .await?;
    let write_backend = |sql: &'static str| {
        sqlx::query(sql)
            .bind(batch.backend.clone())
            .bind(agent.id.clone())
            .bind(batch.root.to_string_lossy().into_owned())
            .bind(crawl.clone())
    };
    match claim(state, agent, batch) {
        Claim::Refuse(why) => {
            tx.rollback().await?;
            return Ok(IndexOutcome::Resync(why));
        }
        Claim::Create => {
            write_backend(INSERT_BACKEND).execute(&mut *tx).await?;
            for sql in RECOUNT_BACKEND {
                sqlx::query(sql)
                    .bind(batch.backend.clone())
                    .execute(&mut *tx)
                    .await?;
            }
        }
        Claim::Take => {
            write_backend(TAKE_BACKEND).execute(&mut *tx).await?;
        }
        Claim::Continue => {}
    }
    let mut changes = UsageChanges::default();
    for chunk in rows.rows.chunks(INDEX_JSON_CHUNK) {
        upsert_rows(&mut tx, &batch.backend, &crawl, chunk, now, &mut changes).await?;
    }
    for chunk in rows.removed.chunks(INDEX_CHUNK) {
        remove_rows(&mut tx, &batch.backend, chunk, &mut changes).await?;
    }
    let Some(end) = &batch.end else {
        apply_usage(&mut tx, &batch.backend, &changes).await?;
        tx.commit().await?;
        return Ok(IndexOutcome::Applied {
            files: None,
            resync: false,
        });
    };
    let received: i64 = sqlx::query_scalar(COUNT_CRAWL_BATCHES)
        .bind(&crawl)
        .fetch_one(&mut *tx)
        .await?;
    if let Some(why) = missing_batches(&crawl, received, end) {
        tx.rollback().await?;
        return Ok(IndexOutcome::Resync(why));
    }
    if removes_unseen(batch, end) {
        let unseen: Vec<(String, i64, i64, i64)> = sqlx::query_as(UNSEEN_USAGE)
            .bind(&batch.backend)
            .bind(&crawl)
            .fetch_all(&mut *tx)
            .await?;
        for (owner, files, apparent_bytes, disk_bytes) in unseen {
            changes.remove(
                &owner,
                Totals {
                    files,
                    apparent_bytes,
                    disk_bytes,
                },
            );
        }
        sqlx::query(DELETE_UNSEEN)
            .bind(&batch.backend)
            .bind(&crawl)
            .execute(&mut *tx)
            .await?;
    }
    let totals = apply_usage(&mut tx, &batch.backend, &changes).await?;
    let resync = u64::try_from(totals.files).ok() != Some(end.files);
    let finished = millis(end.finished_at);
    sqlx::query(FINISH_CRAWL)
        .bind(&batch.backend)
        .bind((!resync).then(|| crawl.clone()))
        .bind(finished)
        .bind(i64::from(end.complete))
        .execute(&mut *tx)
        .await?;
    sqlx::query(RECORD_GROWTH)
        .bind(&batch.backend)
        .bind(finished.div_euclid(DAY_MS) * DAY_MS)
        .bind(totals.files)
        .bind(totals.apparent_bytes)
        .bind(totals.disk_bytes)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(IndexOutcome::Applied {
        files: Some(totals.files),
        resync,
    })
}

/// Owner and totals of the rows of `hashes` that exist.
async fn existing(
    tx: &mut AnyConnection,
    backend: &str,
    hashes: &[i64],
) -> StoreResult<HashMap<i64, (String, Totals)>> {
    let sql = format!(
        "SELECT path_hash, owner, size, disk_bytes FROM file_index
         WHERE backend = $1 AND path_hash IN ({})",
        numbered(2, hashes.len())
    );
    let mut query = sqlx::query(AssertSqlSafe(sql)).bind(backend);
    for hash in hashes {
        query = query.bind(*hash);
    }
    let rows = query.fetch_all(&mut *tx).await?;
    rows.iter()
        .map(|row| {
            Ok((
                row.try_get("path_hash")?,
                (
                    row.try_get("owner")?,
                    Totals {
                        files: 1,
                        apparent_bytes: row.try_get("size")?,
                        disk_bytes: row.try_get("disk_bytes")?,
                    },
                ),
            ))
        })
        .collect()
}

async fn upsert_rows(
    tx: &mut AnyConnection,
    backend: &str,
    crawl: &str,
    rows: &[IndexRow],
    now: DateTime<Utc>,
    changes: &mut UsageChanges,
) -> StoreResult<()> {
    // New paths first, with an insert that skips the known ones and answers which it wrote:
    // a new file (all of a first crawl) costs no lookup.
    let inserted: HashSet<i64> = sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO file_index ({INDEX_COLUMN_NAMES})
         SELECT {INDEX_COLUMN_NAMES} FROM json_populate_recordset(NULL::file_index, $1::json)
         ON CONFLICT (backend, path_hash) DO NOTHING RETURNING path_hash"
    )))
    .bind(json_rows(backend, crawl, rows, now)?)
    .fetch_all(&mut *tx)
    .await?
    .iter()
    .map(|row| row.try_get("path_hash"))
    .collect::<Result<_, _>>()?;
    let (new, known): (Vec<&IndexRow>, Vec<&IndexRow>) = rows
        .iter()
        .partition(|row| inserted.contains(&row.path_hash));
    for row in new {
        changes.add(&row.owner, row.totals());
    }
    // Known paths: their old owner and sizes leave the usage, the new ones come in.
    for known in known.chunks(INDEX_CHUNK) {
        let hashes: Vec<i64> = known.iter().map(|row| row.path_hash).collect();
        for (owner, totals) in existing(tx, backend, &hashes).await?.values() {
            changes.remove(owner, *totals);
        }
        let sql = format!(
            "INSERT INTO file_index ({INDEX_COLUMN_NAMES}) VALUES {} {ON_CONFLICT_UPDATE}",
            placeholders(known.len(), INDEX_COLUMNS)
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for row in known {
            query = query
                .bind(backend.to_owned())
                .bind(row.path_hash)
                .bind(row.path.clone())
                .bind(row.size)
                .bind(row.disk_bytes)
                .bind(row.mtime)
                .bind(row.atime)
                .bind(row.uid.map(i64::from))
                .bind(row.gid.map(i64::from))
                .bind(row.ino)
                .bind(row.owner.clone())
                .bind(millis(now))
                .bind(millis(now))
                .bind(crawl.to_owned());
            changes.add(&row.owner, row.totals());
        }
        query.execute(&mut *tx).await?;
    }
    Ok(())
}

/// `rows` as a JSON array of `file_index` records.
fn json_rows(
    backend: &str,
    crawl: &str,
    rows: &[IndexRow],
    now: DateTime<Utc>,
) -> StoreResult<String> {
    #[derive(Serialize)]
    struct Record<'a> {
        backend: &'a str,
        path_hash: i64,
        path: &'a str,
        size: i64,
        disk_bytes: i64,
        mtime: Option<i64>,
        atime: Option<i64>,
        uid: Option<u32>,
        gid: Option<u32>,
        ino: Option<i64>,
        owner: &'a str,
        first_seen: i64,
        last_crawled: i64,
        seen_crawl: &'a str,
    }
    let records: Vec<Record<'_>> = rows
        .iter()
        .map(|row| Record {
            backend,
            path_hash: row.path_hash,
            path: &row.path,
            size: row.size,
            disk_bytes: row.disk_bytes,
            mtime: row.mtime,
            atime: row.atime,
            uid: row.uid,
            gid: row.gid,
            ino: row.ino,
            owner: &row.owner,
            first_seen: millis(now),
            last_crawled: millis(now),
            seen_crawl: crawl,
        })
        .collect();
    serde_json::to_string(&records).map_err(|e| StoreError::Corrupt {
        what: "index rows",
        message: e.to_string(),
    })
}

async fn remove_rows(
    tx: &mut AnyConnection,
    backend: &str,
    hashes: &[i64],
    changes: &mut UsageChanges,
) -> StoreResult<()> {
    let gone = existing(tx, backend, hashes).await?;
    if gone.is_empty() {
        return Ok(());
    }
    for (owner, totals) in gone.values() {
        changes.remove(owner, *totals);
    }
    let sql = format!(
        "DELETE FROM file_index WHERE backend = $1 AND path_hash IN ({})",
        numbered(2, gone.len())
    );
    let mut query = sqlx::query(AssertSqlSafe(sql)).bind(backend.to_owned());
    for hash in gone.keys() {
        query = query.bind(*hash);
    }
    query.execute(&mut *tx).await?;
    Ok(())
}

/// Adds `changes` to the backend's usage by owner and to its totals; answers the totals.
async fn apply_usage(
    tx: &mut AnyConnection,
    backend: &str,
    changes: &UsageChanges,
) -> StoreResult<Totals> {
    let (changed, sum) = changes.nonzero();
    for (owner, change) in changed {
        sqlx::query(ADD_USAGE)
            .bind(backend)
            .bind(owner)
            .bind(change.files)
            .bind(change.apparent_bytes)
            .bind(change.disk_bytes)
            .execute(&mut *tx)
            .await?;
    }
    sqlx::query(DELETE_EMPTY_USAGE)
        .bind(backend)
        .execute(&mut *tx)
        .await?;
    let (files, apparent_bytes, disk_bytes): (i64, i64, i64) = sqlx::query_as(ADD_BACKEND_TOTALS)
        .bind(backend)
        .bind(sum.files)
        .bind(sum.apparent_bytes)
        .bind(sum.disk_bytes)
        .fetch_one(&mut *tx)
        .await?;
    Ok(Totals {
        files,
        apparent_bytes,
        disk_bytes,
    })
}

/// What `GET /api/v1/stale` asks for.
#[derive(Debug, Clone, Default)]
pub struct StaleQuery {
    /// Files last used before this are stale.
    pub cutoff: DateTime<Utc>,
    pub min_size: u64,
    pub backend: Option<String>,
    pub owner: Option<String>,
    pub team: Option<String>,
    /// The position after which the page starts: `(size, backend, path_hash)` of the last
    /// file of the previous page.
    pub after: Option<(i64, String, i64)>,
    pub limit: usize,
}

/// A stale file, and what decided when it was last used.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StaleFile {
    pub backend: String,
    pub path: String,
    pub size: i64,
    pub disk_bytes: i64,
    pub owner: String,
    pub mtime: Option<DateTime<Utc>>,
    pub atime: Option<DateTime<Utc>>,
    /// The last use telemetry saw, if any.
    pub last_access: Option<DateTime<Utc>>,
    /// `telemetry`, `atime`, `mtime`, or `unknown` (no time at all: always stale).
    pub decided_by: &'static str,
    pub last_used: Option<DateTime<Utc>>,
    #[serde(skip)]
    pub position: (i64, String, i64),
}

/// The share of the index (0–1) above which an owner filter walks the size index.
const OWNER_SHARE_FOR_SIZE_WALK: f64 = 0.01;

impl Store {
    /// The share of the index's files that the query's owner and team filters leave (1 with
    /// neither), from the kept aggregates.
    async fn owners_share(&self, query: &StaleQuery) -> StoreResult<f64> {
        if query.owner.is_none() && query.team.is_none() {
            return Ok(1.0);
        }
        let members: Option<Vec<String>> = match &query.team {
            Some(team) => Some(
                sqlx::query_scalar("SELECT user_name FROM teams WHERE team = $1")
                    .bind(team)
                    .fetch_all(self.reader())
                    .await?,
            ),
            None => None,
        };
        let (mut total, mut kept) = (0i64, 0i64);
        for (_, owner, totals) in self.index_usage(query.backend.as_deref()).await? {
            total += totals.files;
            let by_owner = query.owner.as_ref().is_none_or(|o| *o == owner);
            let by_team = members.as_ref().is_none_or(|m| m.contains(&owner));
            if by_owner && by_team {
                kept += totals.files;
            }
        }
        Ok(if total == 0 {
            0.0
        } else {
            kept as f64 / total as f64
        })
    }

    /// Files not used since `query.cutoff` — by telemetry where there is any for the file,
    /// else atime where known, else mtime — largest first.
    pub async fn stale_files(&self, query: &StaleQuery) -> StoreResult<Vec<StaleFile>> {
        let mut conditions = vec![
            "f.size >= $1".to_owned(),
            "COALESCE(a.last_access, f.atime, f.mtime, 0) < $2".to_owned(),
        ];
        let mut texts: Vec<String> = Vec::new();
        let mut next = 3;
        let mut text_condition = |conditions: &mut Vec<String>, sql: &str, value: &str| {
            conditions.push(sql.replace('?', &format!("${next}")));
            texts.push(value.to_owned());
            next += 1;
        };
        if let Some(backend) = &query.backend {
            text_condition(&mut conditions, "f.backend = ?", backend);
        }
        // Owners that hold a good share of the index are found fastest by walking the size
        // index and skipping other owners' files; a small owner's files, through the owner
        // index and a sort. `|| ''` keeps a planner (SQLite's, which has no statistics to
        // weigh the two) off the owner index.
        let owner_column = if self.owners_share(query).await? >= OWNER_SHARE_FOR_SIZE_WALK {
            "f.owner || ''"
        } else {
            "f.owner"
        };
        if let Some(owner) = &query.owner {
            text_condition(&mut conditions, &format!("{owner_column} = ?"), owner);
        }
        if let Some(team) = &query.team {
            text_condition(
                &mut conditions,
                &format!("{owner_column} IN (SELECT user_name FROM teams WHERE team = ?)"),
                team,
            );
        }
        if query.after.is_some() {
            conditions.push(format!(
                "(f.size, f.backend, f.path_hash) < (${}, ${}, ${})",
                next,
                next + 1,
                next + 2
            ));
        }
        let sql = format!(
            "SELECT f.backend, f.path, f.path_hash, f.size, f.disk_bytes, f.owner, f.mtime,
                    f.atime, a.last_access
             FROM file_index f
             LEFT JOIN file_access a ON a.backend = f.backend AND a.path_hash = f.path_hash
             WHERE {}
             ORDER BY f.size DESC, f.backend DESC, f.path_hash DESC
             LIMIT {}",
            conditions.join(" AND "),
            query.limit
        );
        let mut select = sqlx::query(AssertSqlSafe(sql))
            .bind(saturating_i64(query.min_size))
            .bind(millis(query.cutoff));
        for text in texts {
            select = select.bind(text);
        }
        if let Some((size, backend, hash)) = &query.after {
            select = select.bind(*size).bind(backend.clone()).bind(*hash);
        }
        let rows = select.fetch_all(self.reader()).await?;
        rows.iter()
            .map(|row| {
                let time = |column: &str| -> StoreResult<Option<DateTime<Utc>>> {
                    Ok(row.try_get::<Option<i64>, _>(column)?.map(from_millis))
                };
                let (mtime, atime, last_access) =
                    (time("mtime")?, time("atime")?, time("last_access")?);
                let (decided_by, last_used) = match (last_access, atime, mtime) {
                    (Some(at), _, _) => ("telemetry", Some(at)),
                    (None, Some(at), _) => ("atime", Some(at)),
                    (None, None, Some(at)) => ("mtime", Some(at)),
                    (None, None, None) => ("unknown", None),
                };
                let backend: String = row.try_get("backend")?;
                let size: i64 = row.try_get("size")?;
                Ok(StaleFile {
                    position: (size, backend.clone(), row.try_get("path_hash")?),
                    backend,
                    path: row.try_get("path")?,
                    size,
                    disk_bytes: row.try_get("disk_bytes")?,
                    owner: row.try_get("owner")?,
                    mtime,
                    atime,
                    last_access,
                    decided_by,
                    last_used,
                })
            })
            .collect()
    }
}
