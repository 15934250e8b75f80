//! Metric batches: ingest, raw rows, the newest envelope of each series.

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
    // Each envelope's data is serialised once: for its row, for the newest-per-series row,
    // and (with kind, time and host) for the batch's content hash.
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
    let content_hash = hex(&hasher.finalize());
    let fresh = sqlx::query(
        "INSERT INTO metric_batches (agent_id, batch_id, content_hash, received_at, envelopes)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (agent_id, batch_id) DO NOTHING",
    )
    .bind(agent_id)
    .bind(batch.batch_id.to_string())
    .bind(&content_hash)
    .bind(millis(now))
    .bind(saturating_i64(batch.envelopes.len() as u64))
    .execute(&mut *conn)
    .await?;
    if fresh.rows_affected() == 0 {
        let stored: String = sqlx::query_scalar(
            "SELECT content_hash FROM metric_batches WHERE agent_id = $1 AND batch_id = $2",
        )
        .bind(agent_id)
        .bind(batch.batch_id.to_string())
        .fetch_one(&mut *conn)
        .await?;
        // Rows from before content hashes were kept have none: taken as the same upload.
        return Ok(if stored.is_empty() || stored == content_hash {
            Ingested::Duplicate
        } else {
            Ingested::Conflict
        });
    }
    mark_late_hours(conn, batch, now).await?;
    let rows: Vec<(&spectra_core::protocol::Envelope, &String)> =
        batch.envelopes.iter().zip(&data).collect();
    for chunk in rows.chunks(INSERT_CHUNK) {
        let sql = format!(
            "INSERT INTO metrics (agent_id, kind, ts, hostname, data) VALUES {}",
            placeholders(chunk.len(), 5)
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for (envelope, data) in chunk {
            query = query
                .bind(agent_id)
                .bind(envelope.kind.as_str())
                .bind(millis(envelope.timestamp))
                .bind(envelope.hostname.as_str())
                .bind(data.as_str());
        }
        query.execute(&mut *conn).await?;
    }
    write_latest(conn, agent_id, &rows).await?;
    Ok(Ingested::Stored)
}

/// Keeps `latest_metrics` at the newest envelope of each series in `batch` (an older batch
/// arriving late changes nothing).
pub(super) async fn write_latest(
    conn: &mut AnyConnection,
    agent_id: &str,
    rows: &[(&spectra_core::protocol::Envelope, &String)],
) -> StoreResult<()> {
    type Row<'a> = (&'a spectra_core::protocol::Envelope, &'a String);
    let mut newest: HashMap<(&str, String), Row<'_>> = HashMap::new();
    for &(envelope, data) in rows {
        let key = (envelope.kind.as_str(), series_key(&envelope.data));
        let slot = newest.entry(key).or_insert((envelope, data));
        if envelope.timestamp >= slot.0.timestamp {
            *slot = (envelope, data);
        }
    }
    if newest.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "INSERT INTO latest_metrics (agent_id, kind, series, ts, hostname, data) VALUES {}
         ON CONFLICT (agent_id, kind, series) DO UPDATE SET ts = excluded.ts,
             hostname = excluded.hostname, data = excluded.data
         WHERE excluded.ts >= latest_metrics.ts",
        placeholders(newest.len(), 6)
    );
    let mut query = sqlx::query(AssertSqlSafe(sql));
    for ((kind, series), (envelope, data)) in newest {
        query = query
            .bind(agent_id)
            .bind(kind)
            .bind(series)
            .bind(millis(envelope.timestamp))
            .bind(envelope.hostname.as_str())
            .bind(data.as_str());
    }
    query.execute(conn).await?;
    Ok(())
}

/// Envelopes older than this when they arrive may miss the rollup pass that covers their
/// bucket; their hours are marked for recomputation. Newer ones are always recomputed: each
/// pass redoes the last two buckets of each resolution, which reach back further than this.
pub(super) const LATE_AFTER_MS: i64 = 5 * 60_000;

pub(super) const HOUR_MS: i64 = 3_600_000;

/// Marks the hours of `batch`'s late envelopes for the next rollup pass.
pub(super) async fn mark_late_hours(
    conn: &mut AnyConnection,
    batch: &MetricBatch,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let late_before = millis(now) - LATE_AFTER_MS;
    let hours: std::collections::BTreeSet<i64> = batch
        .envelopes
        .iter()
        .map(|envelope| millis(envelope.timestamp))
        .filter(|&ts| ts < late_before)
        .map(|ts| ts.div_euclid(HOUR_MS) * HOUR_MS)
        .collect();
    for hour in hours {
        sqlx::query(
            "INSERT INTO rollup_dirty (hour, marked_at) VALUES ($1, $2)
             ON CONFLICT (hour) DO UPDATE SET marked_at = excluded.marked_at",
        )
        .bind(hour)
        .bind(millis(now))
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

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
}
