//! Metric batches: ingest, raw rows, the newest envelope of each series.
//!
//! An upload's statements are written once as SQL text here; the shared path runs them
//! through sqlx ([`write_batch`]) and SQLite's dedicated writer thread runs the same text
//! through prepared statements (`sqlite_writer`). What an upload computes before it writes —
//! the serialised envelopes, the content hash, the newest envelope per series, the late
//! hours — is computed by the functions below, once, for both.

use std::collections::BTreeSet;

use spectra_core::protocol::Envelope;

use super::agents::touch_agent;
use super::*;

/// One raw metric row.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricRow {
    pub agent_id: String,
    pub hostname: String,
    pub kind: String,
    pub ts: i64,
    pub data: String,
}

/// Records the batch id; changes nothing when the agent sent that id before.
pub(super) const INSERT_BATCH: &str =
    "INSERT INTO metric_batches (agent_id, batch_id, content_hash, received_at, envelopes)
     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (agent_id, batch_id) DO NOTHING";
/// The content hash an earlier upload of the same batch id stored.
pub(super) const STORED_HASH: &str =
    "SELECT content_hash FROM metric_batches WHERE agent_id = $1 AND batch_id = $2";
/// Followed by `($1, …, $5)` once per row.
pub(super) const INSERT_METRICS: &str =
    "INSERT INTO metrics (agent_id, kind, ts, hostname, data) VALUES ";
/// Put between [`INSERT_METRICS`]-style rows `($1, …, $6)` of `latest_metrics` and
/// [`UPSERT_LATEST_TAIL`].
pub(super) const UPSERT_LATEST_HEAD: &str =
    "INSERT INTO latest_metrics (agent_id, kind, series, ts, hostname, data) VALUES ";
pub(super) const UPSERT_LATEST_TAIL: &str =
    " ON CONFLICT (agent_id, kind, series) DO UPDATE SET ts = excluded.ts,
         hostname = excluded.hostname, data = excluded.data
     WHERE excluded.ts >= latest_metrics.ts";
/// Marks one hour for the next rollup pass.
pub(super) const MARK_LATE_HOUR: &str = "INSERT INTO rollup_dirty (hour, marked_at) VALUES ($1, $2)
     ON CONFLICT (hour) DO UPDATE SET marked_at = excluded.marked_at";

/// What an upload writes beside its envelopes, computed before any statement runs (on
/// SQLite, on the request's task rather than on the one writer thread).
#[derive(Debug)]
pub(super) struct PreparedBatch {
    /// Each envelope's data, serialised once: for its row, for the newest-per-series row, and
    /// (with kind, time and host) for the content hash.
    data: Vec<String>,
    pub(super) content_hash: String,
    pub(super) late_hours: BTreeSet<i64>,
    /// The series key and envelope index of the newest envelope of each (kind, series).
    newest: Vec<(String, usize)>,
}

impl PreparedBatch {
    pub(super) fn new(batch: &MetricBatch, now: DateTime<Utc>) -> Self {
        let data: Vec<String> = batch.envelopes.iter().map(|e| e.data.to_string()).collect();
        let mut hasher = Sha256::new();
        for (envelope, data) in batch.envelopes.iter().zip(&data) {
            hasher.update(envelope.kind.as_bytes());
            hasher.update([0]);
            hasher.update(millis(envelope.timestamp).to_le_bytes());
            hasher.update(envelope.hostname.as_bytes());
            hasher.update([0]);
            hasher.update(data.as_bytes());
            hasher.update([0]);
        }
        let late_before = millis(now) - LATE_AFTER_MS;
        let late_hours = batch
            .envelopes
            .iter()
            .map(|envelope| millis(envelope.timestamp))
            .filter(|&ts| ts < late_before)
            .map(|ts| ts.div_euclid(HOUR_MS) * HOUR_MS)
            .collect();
        let mut newest: HashMap<(&str, String), usize> = HashMap::new();
        for (index, envelope) in batch.envelopes.iter().enumerate() {
            let key = (envelope.kind.as_str(), series_key(&envelope.data));
            let slot = newest.entry(key).or_insert(index);
            if envelope.timestamp >= batch.envelopes[*slot].timestamp {
                *slot = index;
            }
        }
        PreparedBatch {
            content_hash: hex(&hasher.finalize()),
            data,
            late_hours,
            newest: newest
                .into_iter()
                .map(|((_, series), index)| (series, index))
                .collect(),
        }
    }

    /// Every envelope of `batch` (the batch this was prepared from) with its serialised data.
    pub(super) fn rows<'a>(
        &'a self,
        batch: &'a MetricBatch,
    ) -> impl Iterator<Item = (&'a Envelope, &'a str)> {
        batch
            .envelopes
            .iter()
            .zip(self.data.iter().map(String::as_str))
    }

    /// The newest envelope of each (kind, series) of `batch`, with its series key.
    pub(super) fn newest_per_series<'a>(
        &'a self,
        batch: &'a MetricBatch,
    ) -> impl Iterator<Item = (&'a str, &'a Envelope, &'a str)> {
        self.newest.iter().map(|(series, index)| {
            (
                series.as_str(),
                &batch.envelopes[*index],
                self.data[*index].as_str(),
            )
        })
    }

    /// What a second upload of an already stored batch id is, given the hash stored with it.
    pub(super) fn repeat_outcome(&self, stored_hash: &str) -> Ingested {
        // Rows from before content hashes were kept have none: taken as the same upload.
        if stored_hash.is_empty() || stored_hash == self.content_hash {
            Ingested::Duplicate
        } else {
            Ingested::Conflict
        }
    }
}

/// The statements of one batch upload, inside the caller's transaction. A rate-limited upload
/// has written nothing.
pub(super) async fn write_batch(
    conn: &mut AnyConnection,
    agent: &Uploader,
    batch: &MetricBatch,
    now: DateTime<Utc>,
    requests_per_minute: u32,
) -> StoreResult<Ingested> {
    let agent_id = agent.id.as_str();
    if let Some(limited) = count_request(conn, agent_id, now, requests_per_minute).await? {
        return Ok(limited);
    }
    touch_agent(conn, agent, now).await?;
    let prepared = PreparedBatch::new(batch, now);
    let batch_id = batch.batch_id.to_string();
    let fresh = sqlx::query(INSERT_BATCH)
        .bind(agent_id)
        .bind(&batch_id)
        .bind(&prepared.content_hash)
        .bind(millis(now))
        .bind(saturating_i64(batch.envelopes.len() as u64))
        .execute(&mut *conn)
        .await?;
    if fresh.rows_affected() == 0 {
        let stored: String = sqlx::query_scalar(STORED_HASH)
            .bind(agent_id)
            .bind(&batch_id)
            .fetch_one(&mut *conn)
            .await?;
        return Ok(prepared.repeat_outcome(&stored));
    }
    for &hour in &prepared.late_hours {
        sqlx::query(MARK_LATE_HOUR)
            .bind(hour)
            .bind(millis(now))
            .execute(&mut *conn)
            .await?;
    }
    let rows: Vec<(&Envelope, &str)> = prepared.rows(batch).collect();
    for chunk in rows.chunks(INSERT_CHUNK) {
        let sql = format!("{INSERT_METRICS}{}", placeholders(chunk.len(), 5));
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for (envelope, data) in chunk {
            query = query
                .bind(agent_id)
                .bind(envelope.kind.as_str())
                .bind(millis(envelope.timestamp))
                .bind(envelope.hostname.as_str())
                .bind(*data);
        }
        query.execute(&mut *conn).await?;
    }
    let newest: Vec<_> = prepared.newest_per_series(batch).collect();
    for chunk in newest.chunks(INSERT_CHUNK) {
        let sql = format!(
            "{UPSERT_LATEST_HEAD}{}{UPSERT_LATEST_TAIL}",
            placeholders(chunk.len(), 6)
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for (series, envelope, data) in chunk {
            query = query
                .bind(agent_id)
                .bind(envelope.kind.as_str())
                .bind(*series)
                .bind(millis(envelope.timestamp))
                .bind(envelope.hostname.as_str())
                .bind(*data);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(Ingested::Stored)
}

/// Envelopes older than this when they arrive may miss the rollup pass that covers their
/// bucket; their hours are marked for recomputation. Newer ones are always recomputed: each
/// pass redoes the last two buckets of each resolution, which reach back further than this.
pub(super) const LATE_AFTER_MS: i64 = 5 * 60_000;

pub(super) const HOUR_MS: i64 = 3_600_000;

pub(super) fn metric_from_row(row: &AnyRow) -> StoreResult<MetricRow> {
    Ok(MetricRow {
        agent_id: row.try_get("agent_id")?,
        hostname: row.try_get("hostname")?,
        kind: row.try_get("kind")?,
        ts: row.try_get("ts")?,
        data: row.try_get("data")?,
    })
}

impl Store {
    /// Stores a batch once (by its id) within the agent's rate limit, all in one transaction:
    /// either every envelope is durable or none is. (SQLite commits concurrent uploads
    /// together; see its backend.)
    pub async fn ingest_batch(
        &self,
        agent: &Uploader,
        batch: MetricBatch,
        now: DateTime<Utc>,
        requests_per_minute: u32,
    ) -> StoreResult<Ingested> {
        self.backend
            .ingest_batch(agent, batch, now, requests_per_minute)
            .await
    }

    /// Raw rows of one series (or of every kind when `kind` is `None`), oldest first.
    pub async fn metrics_between(
        &self,
        agent_id: Option<&str>,
        kind: Option<&str>,
        from: i64,
        to: i64,
    ) -> StoreResult<Vec<MetricRow>> {
        let rows = sqlx::query(
            "SELECT agent_id, hostname, kind, ts, data FROM metrics
             WHERE ($1 IS NULL OR agent_id = $1) AND ($2 IS NULL OR kind = $2)
               AND ts >= $3 AND ts < $4
             ORDER BY ts",
        )
        .bind(agent_id.map(str::to_owned))
        .bind(kind.map(str::to_owned))
        .bind(from)
        .bind(to)
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(metric_from_row).collect()
    }

    /// The newest row of every (agent, kind).
    pub async fn latest_metrics(&self) -> StoreResult<Vec<MetricRow>> {
        let rows = sqlx::query(
            "SELECT agent_id, hostname, kind, ts, data FROM latest_metrics
             ORDER BY agent_id, kind, series",
        )
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(metric_from_row).collect()
    }

    /// The newest row of every (agent, kind, series) of the given kinds.
    pub async fn latest_metrics_of(&self, kinds: &[&str]) -> StoreResult<Vec<MetricRow>> {
        let mut rows = Vec::new();
        for kind in kinds {
            let found = sqlx::query(
                "SELECT agent_id, hostname, kind, ts, data FROM latest_metrics WHERE kind = $1",
            )
            .bind(*kind)
            .fetch_all(self.reader())
            .await?;
            for row in &found {
                rows.push(metric_from_row(row)?);
            }
        }
        Ok(rows)
    }

    /// The newest envelope of every series of `kind` from `agent_id` (at most
    /// [`MAX_PAGE_SIZE`]: a host's services or containers).
    pub async fn latest_metrics_of_agent(
        &self,
        agent_id: &str,
        kind: &str,
    ) -> StoreResult<Vec<MetricRow>> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT agent_id, hostname, kind, ts, data FROM latest_metrics
             WHERE agent_id = $1 AND kind = $2 ORDER BY series LIMIT {MAX_PAGE_SIZE}"
        )))
        .bind(agent_id)
        .bind(kind)
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(metric_from_row).collect()
    }
}
