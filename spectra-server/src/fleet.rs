//! The fleet at a glance: how recently agents were heard from, the backends' last crawls and
//! the quotas over a limit — what `GET /api/v1/status` and `spectra status` show. Domain code
//! over the store; every count is made in the database and every list is bounded.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::governance::{QuotaUsage, quota_usage};
use crate::store::{AgentCounts, BackendRecord, Store, StoreResult};

/// Heard from within this makes an agent `online`.
pub const ONLINE_WITHIN: chrono::Duration = chrono::Duration::seconds(90);
/// Beyond `online`, heard from within this makes it `stale` (missed a few; may come back);
/// older, or never, is `offline`.
pub const STALE_WITHIN: chrono::Duration = chrono::Duration::minutes(15);
/// Most backends and quotas the status lists (the totals count them all).
pub const STATUS_LIST_LIMIT: usize = 100;

/// `online`, `stale` or `offline` for an agent last heard from at `last_seen`.
pub fn liveness(last_seen: Option<DateTime<Utc>>, now: DateTime<Utc>) -> &'static str {
    match last_seen.map(|seen| now - seen) {
        Some(age) if age <= ONLINE_WITHIN => "online",
        Some(age) if age <= STALE_WITHIN => "stale",
        _ => "offline",
    }
}

/// Whether an agent is failing authentication: a request with one of its replaced tokens was
/// refused within [`STALE_WITHIN`] (see `Store::note_revoked_token_use`).
pub fn auth_failing(failed_at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    failed_at.is_some_and(|at| now - at <= STALE_WITHIN)
}

#[derive(Debug, Clone, Serialize)]
pub struct FleetStatus {
    pub agents: AgentCounts,
    /// The first backends by name, with their last crawls.
    pub backends: Vec<BackendRecord>,
    pub backends_total: usize,
    /// Quotas over their soft or hard limit, hard ones first.
    pub quotas_over: Vec<QuotaUsage>,
    pub quotas_over_total: usize,
}

pub async fn status(store: &Store, now: DateTime<Utc>) -> StoreResult<FleetStatus> {
    let agents = store.agent_counts(now, ONLINE_WITHIN, STALE_WITHIN).await?;
    let mut backends = store.index_backends().await?;
    let backends_total = backends.len();
    backends.truncate(STATUS_LIST_LIMIT);
    let mut quotas_over: Vec<QuotaUsage> = quota_usage(store)
        .await?
        .into_iter()
        .filter(|quota| quota.level != spectra_core::alert::QuotaLevel::Ok)
        .collect();
    quotas_over.sort_by(|a, b| {
        b.level
            .cmp(&a.level)
            .then_with(|| a.quota.subject.cmp(&b.quota.subject))
    });
    let quotas_over_total = quotas_over.len();
    quotas_over.truncate(STATUS_LIST_LIMIT);
    Ok(FleetStatus {
        agents,
        backends,
        backends_total,
        quotas_over,
        quotas_over_total,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn liveness_follows_the_thresholds() {
        let now = Utc::now();
        assert_eq!(liveness(Some(now), now), "online");
        assert_eq!(liveness(Some(now - ONLINE_WITHIN), now), "online");
        let just_stale = now - ONLINE_WITHIN - chrono::Duration::seconds(1);
        assert_eq!(liveness(Some(just_stale), now), "stale");
        let gone = now - STALE_WITHIN - chrono::Duration::seconds(1);
        assert_eq!(liveness(Some(gone), now), "offline");
        assert_eq!(liveness(None, now), "offline");
    }
}
