//! The file index: crawls applied batch by batch (see `spectra_core::protocol::IndexBatch`),
//! with each backend's totals and its usage by owner changed by the same transaction that
//! changes the rows, so that usage never needs a scan of the index.

use std::collections::{BTreeMap, HashMap, HashSet};

use spectra_core::protocol::{IndexBatch, IndexEntry};

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
type UsageChanges = BTreeMap<String, Totals>;

/// Rows per multi-row statement of the index (14 parameters a row: 7,000, under both
/// databases' limits).
const INDEX_CHUNK: usize = 500;

/// Rows per statement of new files on PostgreSQL, which takes them as one JSON parameter
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

impl Store {
    /// Applies one batch of a crawl, all of it or nothing, once by its id.
    pub async fn ingest_index(
        &self,
        agent: &Uploader,
        batch: &IndexBatch,
        now: DateTime<Utc>,
    ) -> StoreResult<IndexOutcome> {
        let crawl = batch.crawl_id.to_string();
        let mut tx = self.begin_write().await?;
        let fresh = sqlx::query(
            "INSERT INTO index_batches (batch_id, crawl_id, seq, received_at)
             VALUES ($1, $2, $3, $4) ON CONFLICT (batch_id) DO NOTHING",
        )
        .bind(batch.batch_id.to_string())
        .bind(&crawl)
        .bind(i64::from(batch.seq))
        .bind(millis(now))
        .execute(&mut *tx)
        .await?;
        if fresh.rows_affected() == 0 {
            return Ok(IndexOutcome::Duplicate);
        }
        if let Some(refusal) = claim_crawl(&mut tx, agent, batch).await? {
            tx.rollback().await?;
            return Ok(IndexOutcome::Resync(refusal));
        }
        let mut changes = UsageChanges::new();
        let params = Params::of(self);
        let chunk = match params {
            Params::Positional => INDEX_CHUNK,
            Params::Numbered => INDEX_JSON_CHUNK,
        };
        for chunk in batch.entries.chunks(chunk) {
            upsert_entries(
                &mut tx,
                params,
                &batch.backend,
                &crawl,
                chunk,
                now,
                &mut changes,
            )
            .await?;
        }
        for chunk in batch.removed.chunks(INDEX_CHUNK) {
            remove_hashes(&mut tx, params, &batch.backend, chunk, &mut changes).await?;
        }
        let Some(end) = batch.end else {
            apply_usage(&mut tx, &batch.backend, &changes).await?;
            tx.commit().await?;
            return Ok(IndexOutcome::Applied {
                files: None,
                resync: false,
            });
        };
        let received: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM index_batches WHERE crawl_id = $1")
                .bind(&crawl)
                .fetch_one(&mut *tx)
                .await?;
        if received != i64::from(end.batches) {
            tx.rollback().await?;
            return Ok(IndexOutcome::Resync(format!(
                "crawl {crawl} has {received} of its {} batches here",
                end.batches
            )));
        }
        if end.complete && batch.base_crawl.is_none() {
            remove_unseen(&mut tx, &batch.backend, &crawl, &mut changes).await?;
        }
        let totals = apply_usage(&mut tx, &batch.backend, &changes).await?;
        let resync = u64::try_from(totals.files).ok() != Some(end.files);
        let finished = millis(end.finished_at);
        sqlx::query(
            "UPDATE backends SET applied_crawl = $2, pending_crawl = NULL, last_crawl_at = $3,
                 last_complete_crawl_at = CASE WHEN $4 = 1 THEN $3 ELSE last_complete_crawl_at END
             WHERE name = $1",
        )
        .bind(&batch.backend)
        .bind((!resync).then(|| crawl.clone()))
        .bind(finished)
        .bind(i64::from(end.complete))
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO index_growth (backend, day, files, apparent_bytes, disk_bytes)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (backend, day) DO UPDATE SET files = excluded.files,
                 apparent_bytes = excluded.apparent_bytes, disk_bytes = excluded.disk_bytes",
        )
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

    /// Every backend of the index, by name.
    pub async fn index_backends(&self) -> StoreResult<Vec<BackendRecord>> {
        let rows = sqlx::query(
            "SELECT name, agent_id, root, files, apparent_bytes, disk_bytes, last_crawl_at,
                    last_complete_crawl_at
             FROM backends ORDER BY name",
        )
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

/// Makes `batch`'s crawl the backend's pending one, or says why it cannot be.
async fn claim_crawl(
    tx: &mut AnyConnection,
    agent: &Uploader,
    batch: &IndexBatch,
) -> StoreResult<Option<String>> {
    let crawl = batch.crawl_id.to_string();
    let root = batch.root.to_string_lossy();
    let row: Option<(String, Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT agent_id, applied_crawl, pending_crawl FROM backends WHERE name = $1",
    )
    .bind(&batch.backend)
    .fetch_optional(&mut *tx)
    .await?;
    let base = batch.base_crawl.map(|base| base.to_string());
    let Some((owner, applied, pending)) = row else {
        if base.is_some() {
            return Ok(Some(format!(
                "backend {:?} has no index here yet",
                batch.backend
            )));
        }
        sqlx::query(
            "INSERT INTO backends (name, agent_id, root, pending_crawl) VALUES ($1, $2, $3, $4)",
        )
        .bind(&batch.backend)
        .bind(&agent.id)
        .bind(root.as_ref())
        .bind(&crawl)
        .execute(&mut *tx)
        .await?;
        return Ok(None);
    };
    if pending.as_deref() == Some(crawl.as_str()) {
        return Ok((owner != agent.id).then(|| {
            format!(
                "backend {:?} is being crawled by another agent",
                batch.backend
            )
        }));
    }
    let starts = match &base {
        None => true,
        Some(base) => pending.is_none() && applied.as_ref() == Some(base) && owner == agent.id,
    };
    if !starts {
        return Ok(Some(format!(
            "backend {:?}: crawl {crawl} is a delta against {}, but the last crawl applied \
             here is {} (and {} is under way)",
            batch.backend,
            base.as_deref().unwrap_or("nothing"),
            applied.as_deref().unwrap_or("none"),
            pending.as_deref().unwrap_or("none"),
        )));
    }
    sqlx::query("UPDATE backends SET pending_crawl = $2, agent_id = $3, root = $4 WHERE name = $1")
        .bind(&batch.backend)
        .bind(&crawl)
        .bind(&agent.id)
        .bind(root.as_ref())
        .execute(&mut *tx)
        .await?;
    Ok(None)
}

/// Owner, size and disk bytes of the rows of `hashes` that exist.
async fn existing(
    tx: &mut AnyConnection,
    params: Params,
    backend: &str,
    hashes: &[i64],
) -> StoreResult<HashMap<i64, (String, Totals)>> {
    let sql = format!(
        "SELECT path_hash, owner, size, disk_bytes FROM file_index
         WHERE backend = {} AND path_hash IN ({})",
        params.nth(1),
        params.list(2, hashes.len())
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

async fn upsert_entries(
    tx: &mut AnyConnection,
    params: Params,
    backend: &str,
    crawl: &str,
    entries: &[IndexEntry],
    now: DateTime<Utc>,
    changes: &mut UsageChanges,
) -> StoreResult<()> {
    // A path may come twice in one batch (a file seen through two names of one directory is
    // one path, but a hand-made batch may repeat one): the last wins, as in a replay.
    let mut rows: BTreeMap<i64, &IndexEntry> = BTreeMap::new();
    for entry in entries {
        rows.insert(
            hash_param(spectra_core::protocol::path_hash(entry.path.as_bytes())),
            entry,
        );
    }
    let rows: Vec<(i64, &IndexEntry)> = rows.into_iter().collect();
    // New paths first, with an insert that skips the known ones and answers which it wrote:
    // a new file (all of a first crawl) costs no lookup, and on SQLite no statement journal
    // (which it keeps for a many-row upsert: a copy of every page the statement touches).
    let insert_new = match params {
        Params::Positional => bind_rows(
            sqlx::query(AssertSqlSafe(format!(
                "INSERT OR IGNORE INTO file_index ({INDEX_COLUMN_NAMES}) VALUES {}
                 RETURNING path_hash",
                params.rows(rows.len(), INDEX_COLUMNS)
            ))),
            backend,
            crawl,
            &rows,
            now,
        ),
        Params::Numbered => sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO file_index ({INDEX_COLUMN_NAMES})
             SELECT {INDEX_COLUMN_NAMES} FROM json_populate_recordset(NULL::file_index, $1::json)
             ON CONFLICT (backend, path_hash) DO NOTHING RETURNING path_hash"
        )))
        .bind(json_rows(backend, crawl, &rows, now)?),
    };
    let inserted: HashSet<i64> = insert_new
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|row| row.try_get("path_hash"))
        .collect::<Result<_, _>>()?;
    let (new, known): (Vec<_>, Vec<_>) = rows
        .into_iter()
        .partition(|(hash, _)| inserted.contains(hash));
    count_rows(&new, changes);
    // Known paths: their old owner and sizes leave the usage, the new ones come in.
    for known in known.chunks(INDEX_CHUNK) {
        let hashes: Vec<i64> = known.iter().map(|(hash, _)| *hash).collect();
        for (owner, totals) in existing(tx, params, backend, &hashes).await?.values() {
            changes
                .entry(owner.clone())
                .or_default()
                .add(totals.negated());
        }
        let sql = format!(
            "INSERT INTO file_index ({INDEX_COLUMN_NAMES}) VALUES {} {ON_CONFLICT_UPDATE}",
            params.rows(known.len(), INDEX_COLUMNS)
        );
        bind_rows(sqlx::query(AssertSqlSafe(sql)), backend, crawl, known, now)
            .execute(&mut *tx)
            .await?;
        count_rows(known, changes);
    }
    Ok(())
}

const INDEX_COLUMNS: usize = 14;
const INDEX_COLUMN_NAMES: &str = "backend, path_hash, path, size, disk_bytes, mtime, atime, uid, \
                                  gid, ino, owner, first_seen, last_crawled, seen_crawl";
const ON_CONFLICT_UPDATE: &str = "ON CONFLICT (backend, path_hash) DO UPDATE SET
    path = excluded.path, size = excluded.size, disk_bytes = excluded.disk_bytes,
    mtime = excluded.mtime, atime = excluded.atime, uid = excluded.uid, gid = excluded.gid,
    ino = excluded.ino, owner = excluded.owner, last_crawled = excluded.last_crawled,
    seen_crawl = excluded.seen_crawl";

fn entry_totals(entry: &IndexEntry) -> Totals {
    Totals {
        files: 1,
        apparent_bytes: saturating_i64(entry.size),
        disk_bytes: saturating_i64(entry.disk_bytes),
    }
}

/// Adds `rows`, now in the index, to `changes`.
fn count_rows(rows: &[(i64, &IndexEntry)], changes: &mut UsageChanges) {
    for (_, entry) in rows {
        changes
            .entry(entry.owner_key())
            .or_default()
            .add(entry_totals(entry));
    }
}

/// `rows` as a JSON array of `file_index` records.
fn json_rows(
    backend: &str,
    crawl: &str,
    rows: &[(i64, &IndexEntry)],
    now: DateTime<Utc>,
) -> StoreResult<String> {
    #[derive(Serialize)]
    struct Record<'a> {
        backend: &'a str,
        path_hash: i64,
        path: std::borrow::Cow<'a, str>,
        size: i64,
        disk_bytes: i64,
        mtime: Option<i64>,
        atime: Option<i64>,
        uid: Option<u32>,
        gid: Option<u32>,
        ino: Option<i64>,
        owner: String,
        first_seen: i64,
        last_crawled: i64,
        seen_crawl: &'a str,
    }
    let records: Vec<Record<'_>> = rows
        .iter()
        .map(|(hash, entry)| {
            let totals = entry_totals(entry);
            Record {
                backend,
                path_hash: *hash,
                path: entry.path.to_string_lossy(),
                size: totals.apparent_bytes,
                disk_bytes: totals.disk_bytes,
                mtime: time_ms(entry.mtime),
                atime: time_ms(entry.atime),
                uid: entry.uid,
                gid: entry.gid,
                ino: entry.ino.map(saturating_i64),
                owner: entry.owner_key(),
                first_seen: millis(now),
                last_crawled: millis(now),
                seen_crawl: crawl,
            }
        })
        .collect();
    serde_json::to_string(&records).map_err(|e| StoreError::Corrupt {
        what: "index rows",
        message: e.to_string(),
    })
}

/// Binds `rows` to `query`, a write of [`INDEX_COLUMNS`] a row.
fn bind_rows<'q>(
    mut query: sqlx::query::Query<'q, Any, sqlx::any::AnyArguments>,
    backend: &str,
    crawl: &str,
    rows: &[(i64, &IndexEntry)],
    now: DateTime<Utc>,
) -> sqlx::query::Query<'q, Any, sqlx::any::AnyArguments> {
    for (hash, entry) in rows {
        let totals = entry_totals(entry);
        query = query
            .bind(backend.to_owned())
            .bind(*hash)
            .bind(entry.path.to_string_lossy().into_owned())
            .bind(totals.apparent_bytes)
            .bind(totals.disk_bytes)
            .bind(time_ms(entry.mtime))
            .bind(time_ms(entry.atime))
            .bind(entry.uid.map(i64::from))
            .bind(entry.gid.map(i64::from))
            .bind(entry.ino.map(saturating_i64))
            .bind(entry.owner_key())
            .bind(millis(now))
            .bind(millis(now))
            .bind(crawl.to_owned());
    }
    query
}

async fn remove_hashes(
    tx: &mut AnyConnection,
    params: Params,
    backend: &str,
    removed: &[u64],
    changes: &mut UsageChanges,
) -> StoreResult<()> {
    let hashes: Vec<i64> = removed.iter().map(|hash| hash_param(*hash)).collect();
    let gone = existing(tx, params, backend, &hashes).await?;
    if gone.is_empty() {
        return Ok(());
    }
    for (owner, totals) in gone.values() {
        changes
            .entry(owner.clone())
            .or_default()
            .add(totals.negated());
    }
    let sql = format!(
        "DELETE FROM file_index WHERE backend = {} AND path_hash IN ({})",
        params.nth(1),
        params.list(2, gone.len())
    );
    let mut query = sqlx::query(AssertSqlSafe(sql)).bind(backend.to_owned());
    for hash in gone.keys() {
        query = query.bind(*hash);
    }
    query.execute(&mut *tx).await?;
    Ok(())
}

/// After a complete full crawl: the rows it did not see are gone.
async fn remove_unseen(
    tx: &mut AnyConnection,
    backend: &str,
    crawl: &str,
    changes: &mut UsageChanges,
) -> StoreResult<()> {
    let rows = sqlx::query(
        "SELECT owner, COUNT(*) AS files, CAST(SUM(size) AS BIGINT) AS apparent_bytes,
                CAST(SUM(disk_bytes) AS BIGINT) AS disk_bytes
         FROM file_index WHERE backend = $1 AND seen_crawl <> $2 GROUP BY owner",
    )
    .bind(backend)
    .bind(crawl)
    .fetch_all(&mut *tx)
    .await?;
    for row in &rows {
        let totals = Totals {
            files: row.try_get("files")?,
            apparent_bytes: row.try_get("apparent_bytes")?,
            disk_bytes: row.try_get("disk_bytes")?,
        };
        changes
            .entry(row.try_get("owner")?)
            .or_default()
            .add(totals.negated());
    }
    sqlx::query("DELETE FROM file_index WHERE backend = $1 AND seen_crawl <> $2")
        .bind(backend)
        .bind(crawl)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// Adds `changes` to the backend's usage by owner and to its totals; answers the totals.
async fn apply_usage(
    tx: &mut AnyConnection,
    backend: &str,
    changes: &UsageChanges,
) -> StoreResult<Totals> {
    let mut sum = Totals::default();
    for (owner, change) in changes.iter().filter(|(_, c)| **c != Totals::default()) {
        sum.add(*change);
        sqlx::query(
            "INSERT INTO index_usage (backend, owner, files, apparent_bytes, disk_bytes)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (backend, owner) DO UPDATE SET
                 files = index_usage.files + excluded.files,
                 apparent_bytes = index_usage.apparent_bytes + excluded.apparent_bytes,
                 disk_bytes = index_usage.disk_bytes + excluded.disk_bytes",
        )
        .bind(backend)
        .bind(owner)
        .bind(change.files)
        .bind(change.apparent_bytes)
        .bind(change.disk_bytes)
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query("DELETE FROM index_usage WHERE backend = $1 AND files = 0")
        .bind(backend)
        .execute(&mut *tx)
        .await?;
    let (files, apparent_bytes, disk_bytes): (i64, i64, i64) = sqlx::query_as(
        "UPDATE backends SET files = files + $2, apparent_bytes = apparent_bytes + $3,
             disk_bytes = disk_bytes + $4
         WHERE name = $1 RETURNING files, apparent_bytes, disk_bytes",
    )
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
