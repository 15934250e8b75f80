//! The fleet overview: what the web app's first page shows, in one answer — the agents by
//! status, firing alerts by severity, and one page of the fleet table with each agent's CPU,
//! memory and root-disk use now and its CPU over the last hour.
//!
//! Filtering, searching, sorting and paging happen here, on the server: the browser never
//! loads the whole fleet. The current values come from the newest samples (`latest_metrics`,
//! one small row per agent and series, ignored once older than
//! [`spectra_core::alert::METRIC_FRESH_WITHIN`]); the trend from the 5-minute rollups of the
//! page's agents only.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use spectra_core::alert::{AlertState, fresh_from};
use spectra_core::protocol::flatten::samples;

use crate::fleet::liveness;
use crate::maintenance::ROLLUP_5M;
use crate::store::{AgentRecord, Store, StoreResult, millis};

/// How far back the CPU trend of each row reaches, in [`ROLLUP_5M`] buckets.
pub const TREND_SPAN: Duration = Duration::hours(1);

/// The columns the table sorts by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    Hostname,
    Status,
    Os,
    Cpu,
    Memory,
    Disk,
    LastSeen,
}

impl SortKey {
    pub const NAMES: [&'static str; 7] = [
        "hostname",
        "status",
        "os",
        "cpu",
        "memory",
        "disk",
        "last_seen",
    ];

    pub fn named(name: &str) -> Option<SortKey> {
        Some(match name {
            "hostname" => SortKey::Hostname,
            "status" => SortKey::Status,
            "os" => SortKey::Os,
            "cpu" => SortKey::Cpu,
            "memory" => SortKey::Memory,
            "disk" => SortKey::Disk,
            "last_seen" => SortKey::LastSeen,
            _ => return None,
        })
    }
}

/// The statuses the table filters by: liveness, or `pending` approval.
pub const STATUSES: [&str; 4] = ["online", "stale", "offline", "pending"];

/// Which agents, in which order, which page.
#[derive(Debug, Clone)]
pub struct OverviewQuery {
    pub status: Option<String>,
    pub os: Option<String>,
    /// Agents carrying every one of these labels.
    pub labels: Vec<(String, String)>,
    /// Case-insensitive text in the hostname, the id or a `key=value` label.
    pub search: Option<String>,
    pub sort: SortKey,
    pub descending: bool,
    pub offset: usize,
    pub limit: usize,
}

/// The agents by status (every agent, whatever the filter).
#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct Tally {
    pub total: usize,
    pub online: usize,
    pub stale: usize,
    pub offline: usize,
    pub pending: usize,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct OverviewRow {
    pub id: String,
    pub hostname: String,
    pub labels: BTreeMap<String, String>,
    pub os: String,
    /// `online`, `stale` or `offline` by the last time it was heard from.
    pub status: &'static str,
    /// `approved` or `pending`.
    pub approval: &'static str,
    pub last_seen: Option<DateTime<Utc>>,
    /// `cpu.total.usage_percent` now (percent); `null` without a fresh sample.
    pub cpu_percent: Option<f64>,
    /// `memory.used` over `memory.total` now (percent).
    pub memory_percent: Option<f64>,
    /// `disk.usage_percent` of `/`, or of the fullest mount where there is no `/` (percent).
    pub disk_percent: Option<f64>,
    /// The mount `disk_percent` is of.
    pub disk_mount: Option<String>,
    /// Mean CPU use (percent) per 5-minute bucket over the last hour, oldest first; `null`
    /// where the agent sent nothing. The newest bucket is still open and not rolled up yet:
    /// until it is, it holds the newest sample (`cpu_percent`).
    pub cpu_trend: Vec<Option<f64>>,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Overview {
    pub agents: Tally,
    /// Firing alerts by severity.
    pub alerts_firing: BTreeMap<String, usize>,
    /// Every OS and label key in the fleet, for the filters.
    pub os_values: Vec<String>,
    pub label_keys: Vec<String>,
    /// How many agents the filter matched (over every page).
    pub total_matching: usize,
    pub items: Vec<OverviewRow>,
    /// Where the next page starts, when there is one (the API answers it as an opaque
    /// `next_cursor`).
    #[serde(skip)]
    pub next_offset: Option<usize>,
    pub generated_at: DateTime<Utc>,
}

/// What the newest samples say now.
#[derive(Debug, Default, Clone)]
struct Vitals {
    cpu: Option<f64>,
    memory_used: Option<f64>,
    memory_total: Option<f64>,
    disk: Option<(String, f64)>,
}

impl Vitals {
    fn memory_percent(&self) -> Option<f64> {
        match (self.memory_used, self.memory_total) {
            (Some(used), Some(total)) if total > 0.0 => Some(used / total * 100.0),
            _ => None,
        }
    }
}

async fn vitals(store: &Store, now: DateTime<Utc>) -> StoreResult<HashMap<String, Vitals>> {
    let fresh = fresh_from(millis(now));
    let mut by_agent: HashMap<String, Vitals> = HashMap::new();
    for row in store.latest_metrics_of(&["cpu", "memory", "disk"]).await? {
        if row.ts < fresh {
            continue;
        }
        let Ok(data) = serde_json::from_str::<serde_json::Value>(&row.data) else {
            continue;
        };
        let vitals = by_agent.entry(row.agent_id).or_default();
        for sample in samples(&data) {
            let path: Vec<&str> = sample.path.iter().map(String::as_str).collect();
            match (row.kind.as_str(), path.as_slice()) {
                ("cpu", ["total", "usage_percent"]) => vitals.cpu = Some(sample.value),
                ("memory", ["used"]) => vitals.memory_used = Some(sample.value),
                ("memory", ["total"]) => vitals.memory_total = Some(sample.value),
                ("disk", ["usage_percent"]) => {
                    let mount = sample
                        .labels
                        .iter()
                        .find(|(key, _)| key == "mount_point")
                        .map_or_else(String::new, |(_, value)| value.clone());
                    let better = match &vitals.disk {
                        None => true,
                        Some((current, _)) if current == "/" => false,
                        Some((_, used)) => mount == "/" || sample.value > *used,
                    };
                    if better {
                        vitals.disk = Some((mount, sample.value));
                    }
                }
                _ => {}
            }
        }
    }
    Ok(by_agent)
}

fn status_of(agent: &AgentRecord, now: DateTime<Utc>) -> &'static str {
    liveness(agent.last_seen, now)
}

fn matches(agent: &AgentRecord, query: &OverviewQuery, now: DateTime<Utc>) -> bool {
    if let Some(status) = &query.status {
        let holds = if status == "pending" {
            !agent.approved
        } else {
            status_of(agent, now) == status
        };
        if !holds {
            return false;
        }
    }
    if query.os.as_ref().is_some_and(|os| *os != agent.os) {
        return false;
    }
    if !query
        .labels
        .iter()
        .all(|(key, value)| agent.labels.get(key) == Some(value))
    {
        return false;
    }
    match &query.search {
        None => true,
        Some(text) => {
            let text = text.to_lowercase();
            agent.hostname.to_lowercase().contains(&text)
                || agent.id.to_lowercase().contains(&text)
                || agent
                    .labels
                    .iter()
                    .any(|(k, v)| format!("{k}={v}").to_lowercase().contains(&text))
        }
    }
}

/// Orders two optional numbers with the missing ones last whichever the direction.
fn by_value(a: Option<f64>, b: Option<f64>, descending: bool) -> std::cmp::Ordering {
    match (a, b) {
        (Some(a), Some(b)) => {
            let order = a.total_cmp(&b);
            if descending { order.reverse() } else { order }
        }
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => std::cmp::Ordering::Equal,
    }
}

fn status_rank(status: &str) -> u8 {
    match status {
        "offline" => 0,
        "stale" => 1,
        _ => 2,
    }
}

/// The overview at `now` for `query`.
pub async fn overview(
    store: &Store,
    query: &OverviewQuery,
    now: DateTime<Utc>,
) -> StoreResult<Overview> {
    let agents = store.agents().await?;
    let vitals = vitals(store, now).await?;
    let mut tally = Tally::default();
    let mut os_values = BTreeSet::new();
    let mut label_keys = BTreeSet::new();
    for agent in &agents {
        tally.total += 1;
        match status_of(agent, now) {
            "online" => tally.online += 1,
            "stale" => tally.stale += 1,
            _ => tally.offline += 1,
        }
        if !agent.approved {
            tally.pending += 1;
        }
        os_values.insert(agent.os.clone());
        label_keys.extend(agent.labels.keys().cloned());
    }
    let none = Vitals::default();
    let vitals_of = |agent: &AgentRecord| vitals.get(&agent.id).unwrap_or(&none);
    let mut matching: Vec<&AgentRecord> =
        agents.iter().filter(|a| matches(a, query, now)).collect();
    let descending = query.descending;
    matching.sort_by(|a, b| {
        let (va, vb) = (vitals_of(a), vitals_of(b));
        let primary = match query.sort {
            SortKey::Hostname => a.hostname.cmp(&b.hostname),
            SortKey::Os => a.os.cmp(&b.os),
            SortKey::Status => status_rank(status_of(a, now)).cmp(&status_rank(status_of(b, now))),
            SortKey::LastSeen => a.last_seen.cmp(&b.last_seen),
            SortKey::Cpu => {
                return by_value(va.cpu, vb.cpu, descending)
                    .then_with(|| a.hostname.cmp(&b.hostname));
            }
            SortKey::Memory => {
                return by_value(va.memory_percent(), vb.memory_percent(), descending)
                    .then_with(|| a.hostname.cmp(&b.hostname));
            }
            SortKey::Disk => {
                let disk = |v: &Vitals| v.disk.as_ref().map(|(_, used)| *used);
                return by_value(disk(va), disk(vb), descending)
                    .then_with(|| a.hostname.cmp(&b.hostname));
            }
        };
        let primary = if descending {
            primary.reverse()
        } else {
            primary
        };
        primary
            .then_with(|| a.hostname.cmp(&b.hostname))
            .then_with(|| a.id.cmp(&b.id))
    });
    let total_matching = matching.len();
    let page: Vec<&AgentRecord> = matching
        .into_iter()
        .skip(query.offset)
        .take(query.limit)
        .collect();
    let next_offset =
        (query.offset + page.len() < total_matching).then_some(query.offset + page.len());

    let buckets = usize::try_from(TREND_SPAN.num_seconds() / ROLLUP_5M).unwrap_or(12);
    let step_ms = ROLLUP_5M * 1000;
    let first_bucket = (millis(now) / step_ms - (buckets as i64 - 1)) * step_ms;
    let ids: Vec<String> = page.iter().map(|a| a.id.clone()).collect();
    let mut trends: HashMap<String, Vec<Option<f64>>> = HashMap::new();
    for (agent, bucket, mean) in store
        .rollup_field_of_agents(&ids, "cpu", "total.usage_percent", ROLLUP_5M, first_bucket)
        .await?
    {
        let slot = usize::try_from((bucket - first_bucket) / step_ms).unwrap_or(usize::MAX);
        if slot < buckets {
            trends.entry(agent).or_insert_with(|| vec![None; buckets])[slot] = Some(mean);
        }
    }
    let items = page
        .into_iter()
        .map(|agent| {
            let v = vitals_of(agent);
            OverviewRow {
                id: agent.id.clone(),
                hostname: agent.hostname.clone(),
                labels: agent.labels.clone(),
                os: agent.os.clone(),
                status: status_of(agent, now),
                approval: if agent.approved {
                    "approved"
                } else {
                    "pending"
                },
                last_seen: agent.last_seen,
                cpu_percent: v.cpu,
                memory_percent: v.memory_percent(),
                disk_percent: v.disk.as_ref().map(|(_, used)| *used),
                disk_mount: v.disk.as_ref().map(|(mount, _)| mount.clone()),
                cpu_trend: {
                    let mut trend = trends
                        .remove(&agent.id)
                        .unwrap_or_else(|| vec![None; buckets]);
                    // The open bucket is not rolled up yet: the newest sample stands for it.
                    if let Some(newest) = trend.last_mut()
                        && newest.is_none()
                    {
                        *newest = v.cpu;
                    }
                    trend
                },
            }
        })
        .collect();

    let mut alerts_firing = BTreeMap::new();
    for alert in store.alerts(Some(AlertState::Firing)).await? {
        *alerts_firing.entry(alert.severity).or_insert(0) += 1;
    }
    Ok(Overview {
        agents: tally,
        alerts_firing,
        os_values: os_values.into_iter().collect(),
        label_keys: label_keys.into_iter().collect(),
        total_matching,
        items,
        next_offset,
        generated_at: now,
    })
}
