//! Maintenance: rollups of the metric history, retention and command expiry. Domain code
//! over the store and its own settings; the server's timer and the tests call it, the API
//! only reads what it wrote.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::Utc;

use crate::config::Retention;
use crate::series::{Buckets, add_to_buckets};
use crate::store::{Rollup, Store, StoreError, millis};

/// Rollup resolutions, in seconds: 5 minutes and 1 hour.
pub const ROLLUP_5M: i64 = 300;
pub const ROLLUP_1H: i64 = 3600;

/// Computes the rollups of every resolution for buckets that have ended (with a minute's
/// grace), recomputing the last two buckets each time so data a little late lands; then
/// recomputes the hours that later data reached (an agent back from an outage, a replayed
/// spool), which ingest marks, so late envelopes are in the rollups like any others.
pub async fn roll_up(store: &Store, retention: &Retention) -> Result<usize, StoreError> {
    const GRACE_MS: i64 = 60_000;
    let now = millis(Utc::now());
    let raw_horizon = now - i64::try_from(retention.raw.as_millis()).unwrap_or(i64::MAX);
    let mut written = 0;
    for resolution in [ROLLUP_5M, ROLLUP_1H] {
        let width = resolution * 1000;
        let until = (now - GRACE_MS).div_euclid(width) * width;
        let done = store.rollup_progress(resolution).await?;
        let start = done
            .map_or(raw_horizon, |done| done - 2 * width)
            .max(raw_horizon)
            .div_euclid(width)
            * width;
        // One hour of raw rows per transaction keeps each step's memory bounded.
        let mut chunk_start = start;
        while chunk_start < until {
            let chunk_end = (chunk_start + width.max(ROLLUP_1H * 1000)).min(until);
            written += roll_up_range(store, resolution, chunk_start, chunk_end, true).await?;
            chunk_start = chunk_end;
        }
    }
    let hour_ms = ROLLUP_1H * 1000;
    for (hour, marked_at) in store.dirty_hours().await? {
        for resolution in [ROLLUP_5M, ROLLUP_1H] {
            written += roll_up_range(store, resolution, hour, hour + hour_ms, false).await?;
        }
        store.clear_dirty_hour(hour, marked_at).await?;
    }
    Ok(written)
}

/// Recomputes the rollups of `resolution` over `[from, to)` from raw rows.
async fn roll_up_range(
    store: &Store,
    resolution: i64,
    from: i64,
    to: i64,
    advance: bool,
) -> Result<usize, StoreError> {
    let width = resolution * 1000;
    let mut keys: BTreeMap<(String, String), Buckets> = BTreeMap::new();
    for row in store.metrics_between(None, None, from, to).await? {
        if let Ok(data) = serde_json::from_str(&row.data) {
            add_to_buckets(
                keys.entry((row.agent_id, row.kind)).or_default(),
                &data,
                row.ts,
                width,
            );
        }
    }
    let rollups: Vec<Rollup> = keys
        .into_iter()
        .flat_map(|((agent_id, kind), series)| {
            series.into_iter().map(move |((field, bucket), a)| Rollup {
                agent_id: agent_id.clone(),
                kind: kind.clone(),
                field,
                bucket,
                samples: a.samples,
                total: a.total,
                low: a.low,
                high: a.high,
            })
        })
        .collect();
    store
        .write_rollups(resolution, from, to, &rollups, advance)
        .await?;
    Ok(rollups.len())
}

/// Deletes what retention no longer keeps, expires commands unanswered for longer than
/// `command_timeout`, and forgets replaced agent tokens older than
/// [`crate::store::REVOKED_TOKEN_MEMORY`] and sessions past their idle timeout or lifetime.
pub async fn prune(
    store: &Store,
    retention: &Retention,
    command_timeout: Duration,
) -> Result<u64, StoreError> {
    let now = Utc::now();
    let before = |keep: Duration| millis(now) - i64::try_from(keep.as_millis()).unwrap_or(i64::MAX);
    let deleted = store
        .prune(
            before(retention.raw),
            &[
                (ROLLUP_5M, before(retention.rollup_5m)),
                (ROLLUP_1H, before(retention.rollup_1h)),
            ],
            now,
        )
        .await?;
    let expired = store.expire_commands(before(command_timeout), now).await?;
    let forgotten = store.prune_revoked_tokens(now).await?;
    let sessions = store
        .prune_sessions(
            now - crate::accounts::SESSION_IDLE,
            now - crate::accounts::SESSION_LIFETIME,
        )
        .await?;
    Ok(deleted + expired + forgotten + sessions)
}
