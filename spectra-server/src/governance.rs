//! Usage, stale data, quotas and growth below the HTTP layer, so the API, the admin commands
//! and the dashboard all give the same figures: from the file index (and its kept aggregates)
//! where agents upload one, from the stored snapshots otherwise.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use spectra_core::scan::ScanReport;

use crate::store::{QuotaRecord, SnapshotSummary, Store, StoreResult, Totals, millis};

/// How `GET /api/v1/usage` groups the index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    Team,
    User,
    Backend,
}

/// One group's usage. `name` is the team, user or backend (`null`: users in no team).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UsageRow {
    pub name: Option<String>,
    pub files: i64,
    /// Apparent bytes (the sum of file sizes).
    pub size_bytes: i64,
    pub disk_bytes: i64,
    /// The group's last use of any file, as telemetry saw it.
    pub last_access: Option<DateTime<Utc>>,
}

/// Usage from the index, grouped, largest first (ties by name); `backend` narrows it to one.
pub async fn usage(
    store: &Store,
    group_by: GroupBy,
    backend: Option<&str>,
) -> StoreResult<Vec<UsageRow>> {
    let teams: BTreeMap<String, String> = store
        .team_members()
        .await?
        .into_iter()
        .map(|member| (member.user, member.team))
        .collect();
    let group_of = |backend: &str, user: &str| -> Option<String> {
        match group_by {
            GroupBy::Team => teams.get(user).cloned(),
            GroupBy::User => Some(user.to_owned()),
            GroupBy::Backend => Some(backend.to_owned()),
        }
    };
    let mut groups: BTreeMap<Option<String>, UsageRow> = BTreeMap::new();
    fn row_of(
        groups: &mut BTreeMap<Option<String>, UsageRow>,
        name: Option<String>,
    ) -> &mut UsageRow {
        groups.entry(name.clone()).or_insert(UsageRow {
            name,
            files: 0,
            size_bytes: 0,
            disk_bytes: 0,
            last_access: None,
        })
    }
    for (on, owner, totals) in store.index_usage(backend).await? {
        let Totals {
            files,
            apparent_bytes,
            disk_bytes,
        } = totals;
        let row = row_of(&mut groups, group_of(&on, &owner));
        row.files += files;
        row.size_bytes += apparent_bytes;
        row.disk_bytes += disk_bytes;
    }
    for (on, user, at) in store.user_last_access().await? {
        if backend.is_some_and(|backend| backend != on) {
            continue;
        }
        let row = row_of(&mut groups, group_of(&on, &user));
        row.last_access = row.last_access.max(Some(at));
    }
    let mut rows: Vec<UsageRow> = groups.into_values().collect();
    rows.sort_by(|a, b| {
        b.size_bytes
            .cmp(&a.size_bytes)
            .then_with(|| a.name.cmp(&b.name))
    });
    Ok(rows)
}

/// Whose usage a quota limits: a user (by name or uid) on every agent, or one scanned root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaSubject<'a> {
    User(&'a str),
    Root(&'a str),
}

impl<'a> QuotaSubject<'a> {
    /// `user:NAME` or `root:PATH`.
    pub fn parse(subject: &'a str) -> spectra_core::Result<QuotaSubject<'a>> {
        let invalid = |message: String| spectra_core::Error::InvalidInput {
            what: "quota subject".into(),
            message,
        };
        match subject.split_once(':') {
            Some(("user", name))
                if !name.is_empty() && name.len() <= 256 && !name.chars().any(char::is_control) =>
            {
                Ok(QuotaSubject::User(name))
            }
            Some(("user", _)) => Err(invalid(format!(
                "{subject:?}: a user name is 1 to 256 characters, none a control character"
            ))),
            Some(("root", path)) => {
                spectra_core::protocol::check_path("quota subject root", path.as_bytes())?;
                Ok(QuotaSubject::Root(path))
            }
            _ => Err(invalid(format!(
                "{subject:?}: expected user:NAME or root:PATH"
            ))),
        }
    }
}

/// A quota with what is used against it now.
#[derive(Debug, Clone, Serialize)]
pub struct QuotaUsage {
    #[serde(flatten)]
    pub quota: QuotaRecord,
    pub used_bytes: u64,
    pub used_percent: f64,
    pub over: bool,
}

/// The newest snapshot of every agent and root, what usage is measured on.
#[derive(Debug)]
pub struct Usage(Vec<(SnapshotSummary, ScanReport)>);

impl Usage {
    pub async fn load(store: &Store) -> StoreResult<Usage> {
        let latest = store.latest_snapshots().await?;
        Ok(Usage(
            latest
                .into_iter()
                .filter_map(|(summary, report)| {
                    serde_json::from_value(report).ok().map(|r| (summary, r))
                })
                .collect(),
        ))
    }

    /// Bytes `subject` uses: a user's owned bytes summed over every agent's newest scans,
    /// or a root's disk usage in its newest scan on every agent.
    pub fn of(&self, subject: QuotaSubject<'_>) -> u64 {
        match subject {
            QuotaSubject::User(name) => self
                .0
                .iter()
                .flat_map(|(_, report)| &report.owners)
                .filter(|owner| {
                    owner.user.as_deref() == Some(name)
                        || owner.uid.is_some_and(|uid| uid.to_string() == name)
                })
                .map(|owner| owner.bytes)
                .sum(),
            QuotaSubject::Root(path) => self
                .0
                .iter()
                .filter(|(summary, _)| summary.root == path)
                .map(|(summary, _)| u64::try_from(summary.disk_bytes).unwrap_or(0))
                .sum(),
        }
    }

    /// `quota` with its usage; a limit of 0 is 100 % used.
    pub fn against(&self, quota: QuotaRecord) -> QuotaUsage {
        let used_bytes = QuotaSubject::parse(&quota.subject).map_or(0, |subject| self.of(subject));
        let limit = quota.limit_bytes.max(0) as f64;
        QuotaUsage {
            used_percent: if limit > 0.0 {
                used_bytes as f64 / limit * 100.0
            } else {
                100.0
            },
            over: used_bytes as f64 > limit,
            used_bytes,
            quota,
        }
    }
}

/// Every quota with its usage.
pub async fn quota_usage(store: &Store) -> StoreResult<Vec<QuotaUsage>> {
    let usage = Usage::load(store).await?;
    Ok(store
        .quotas()
        .await?
        .into_iter()
        .map(|quota| usage.against(quota))
        .collect())
}

/// Size and file count of one root over time, with growth per day.
#[derive(Debug, Clone, Serialize)]
pub struct GrowthSeries {
    pub root: String,
    pub points: Vec<GrowthPoint>,
    /// (last − first) / days between them; null with fewer than two snapshots.
    pub growth_bytes_per_day: Option<f64>,
    pub growth_files_per_day: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct GrowthPoint {
    pub snapshot_id: String,
    pub taken_at: DateTime<Utc>,
    pub apparent_bytes: i64,
    pub disk_bytes: i64,
    pub files: i64,
}

/// The growth of each root of `agent` (or of `root` only) over the `period` before `now`.
pub async fn growth(
    store: &Store,
    agent: &str,
    root: Option<&str>,
    period: chrono::Duration,
    now: DateTime<Utc>,
) -> StoreResult<Vec<GrowthSeries>> {
    let snapshots = store
        .snapshots(
            Some(agent),
            root,
            millis(now - period),
            millis(now).saturating_add(1),
        )
        .await?;
    let mut by_root: BTreeMap<String, Vec<SnapshotSummary>> = BTreeMap::new();
    for snapshot in snapshots {
        by_root
            .entry(snapshot.root.clone())
            .or_default()
            .push(snapshot);
    }
    Ok(by_root
        .into_iter()
        .map(|(root, snapshots)| growth_series(root, &snapshots))
        .collect())
}

fn growth_series(root: String, snapshots: &[SnapshotSummary]) -> GrowthSeries {
    let per_day = |value: fn(&SnapshotSummary) -> i64| {
        let (first, last) = (snapshots.first()?, snapshots.last()?);
        let days = (last.taken_at - first.taken_at).num_milliseconds() as f64 / 86_400_000.0;
        (days > 0.0).then(|| (value(last) - value(first)) as f64 / days)
    };
    GrowthSeries {
        growth_bytes_per_day: per_day(|s| s.apparent_bytes),
        growth_files_per_day: per_day(|s| s.files),
        points: snapshots
            .iter()
            .map(|s| GrowthPoint {
                snapshot_id: s.id.clone(),
                taken_at: s.taken_at,
                apparent_bytes: s.apparent_bytes,
                disk_bytes: s.disk_bytes,
                files: s.files,
            })
            .collect(),
        root,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quota_subjects_are_users_or_absolute_roots() {
        assert_eq!(
            QuotaSubject::parse("user:ana").ok(),
            Some(QuotaSubject::User("ana"))
        );
        assert_eq!(
            QuotaSubject::parse("root:/srv").ok(),
            Some(QuotaSubject::Root("/srv"))
        );
        for bad in ["user:", "root:srv", "team:x", "ana", "user:a\nb"] {
            let err = QuotaSubject::parse(bad).expect_err(bad);
            assert_eq!(err.code(), spectra_core::ErrorCode::InvalidInput, "{bad}");
        }
    }

    #[test]
    fn growth_is_per_day_between_the_first_and_last_snapshot() {
        let at = |day: i64, bytes: i64| SnapshotSummary {
            id: format!("s{day}"),
            agent_id: "a".into(),
            root: "/srv".into(),
            taken_at: DateTime::UNIX_EPOCH + chrono::Duration::days(day),
            received_at: DateTime::UNIX_EPOCH,
            apparent_bytes: bytes,
            disk_bytes: bytes,
            files: day * 10,
            dirs: 1,
            partial: false,
        };
        let series = growth_series("/srv".into(), &[at(0, 100), at(2, 300)]);
        assert_eq!(series.growth_bytes_per_day, Some(100.0));
        assert_eq!(series.growth_files_per_day, Some(10.0));
        let single = growth_series("/srv".into(), &[at(0, 100)]);
        assert_eq!(
            single.growth_bytes_per_day, None,
            "one snapshot has no growth"
        );
    }
}
