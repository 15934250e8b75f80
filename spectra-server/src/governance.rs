//! Usage, stale data, quotas and growth below the HTTP layer, so the API, the admin commands
//! and the dashboard all give the same figures: from the file index (and its kept aggregates)
//! where agents upload one, from the stored snapshots otherwise.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use spectra_core::alert::QuotaLevel;
use spectra_core::scan::OwnerUsage;

use crate::store::{QuotaRecord, SnapshotSummary, Store, StoreResult, Totals, UsageGroup, millis};

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
    /// The group's quota (`team:`, `user:` or `backend:` with this name, on every backend or
    /// on the one asked for) and its level: `soft` or `hard` mark the group over quota.
    pub quota: Option<QuotaMark>,
}

/// A quota as rows that show its subject carry it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QuotaMark {
    pub level: QuotaLevel,
    pub used_bytes: u64,
    pub soft_bytes: Option<i64>,
    pub hard_bytes: Option<i64>,
}

impl QuotaMark {
    /// The mark of the quota of `subject` on `backend` among `quotas` (every backend's
    /// quota when there is none for the one backend).
    pub fn find(quotas: &[QuotaUsage], subject: &str, backend: Option<&str>) -> Option<QuotaMark> {
        let on = |backend: Option<&str>| {
            quotas
                .iter()
                .find(|q| q.quota.subject == subject && q.quota.backend.as_deref() == backend)
        };
        backend
            .and_then(|b| on(Some(b)))
            .or_else(|| on(None))
            .map(|q| QuotaMark {
                level: q.level,
                used_bytes: q.used_bytes,
                soft_bytes: q.quota.soft_bytes,
                hard_bytes: q.quota.hard_bytes,
            })
    }
}

/// A page of usage grouped by `group_by` (on `backend`, or all), largest first, after
/// `after` (a previous page's last position), each row with its group's quota. Grouped and
/// cut in the database ([`Store::usage_page`]).
pub async fn usage(
    store: &Store,
    group_by: GroupBy,
    backend: Option<&str>,
    after: Option<&(i64, Option<String>)>,
    limit: usize,
) -> StoreResult<Vec<UsageRow>> {
    let (group, kind) = match group_by {
        GroupBy::Team => (UsageGroup::Team, "team"),
        GroupBy::User => (UsageGroup::User, "user"),
        GroupBy::Backend => (UsageGroup::Backend, "backend"),
    };
    let sums = store.usage_page(group, backend, after, limit).await?;
    let quotas = quota_usage(store).await?;
    Ok(sums
        .into_iter()
        .map(|sums| UsageRow {
            quota: sums
                .name
                .as_ref()
                .and_then(|name| QuotaMark::find(&quotas, &format!("{kind}:{name}"), backend)),
            name: sums.name,
            files: sums.files,
            size_bytes: sums.size_bytes,
            disk_bytes: sums.disk_bytes,
            last_access: sums.last_access,
        })
        .collect())
}

/// Whose usage a quota limits: a team's users, a user (by name, or uid where the agent could
/// not resolve it), a backend of the file index, or a root measured by snapshots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaSubject<'a> {
    Team(&'a str),
    User(&'a str),
    Backend(&'a str),
    Root(&'a str),
}

impl<'a> QuotaSubject<'a> {
    /// `team:NAME`, `user:NAME`, `backend:NAME` or `root:/PATH`.
    pub fn parse(subject: &'a str) -> spectra_core::Result<QuotaSubject<'a>> {
        let invalid = |message: String| spectra_core::Error::InvalidInput {
            what: "quota subject".into(),
            message,
        };
        let name = |kind: &str, name: &'a str| {
            if !name.is_empty()
                && name.chars().count() <= 253
                && !name.chars().any(char::is_control)
            {
                Ok(name)
            } else {
                Err(invalid(format!(
                    "{subject:?}: a {kind} name is 1 to 253 characters, none a control character"
                )))
            }
        };
        match subject.split_once(':') {
            Some(("team", team)) => Ok(QuotaSubject::Team(name("team", team)?)),
            Some(("user", user)) => Ok(QuotaSubject::User(name("user", user)?)),
            Some(("backend", backend)) => Ok(QuotaSubject::Backend(name("backend", backend)?)),
            Some(("root", path)) => {
                spectra_core::protocol::check_path("quota subject root", path.as_bytes())?;
                Ok(QuotaSubject::Root(path))
            }
            _ => Err(invalid(format!(
                "{subject:?}: expected team:NAME, user:NAME, backend:NAME or root:PATH"
            ))),
        }
    }
}

/// A quota with what is used against it now.
#[derive(Debug, Clone, Serialize)]
pub struct QuotaUsage {
    #[serde(flatten)]
    pub quota: QuotaRecord,
    /// Disk bytes the subject uses (within the quota's backend, if it names one).
    pub used_bytes: u64,
    /// Of the hard limit, else of the soft one.
    pub used_percent: Option<f64>,
    /// `ok`, `soft` (over the soft limit: a warning) or `hard` (over the hard limit:
    /// critical).
    pub level: QuotaLevel,
    /// When the quota reached its level, as last recorded.
    pub since: Option<DateTime<Utc>>,
    /// Whether the hard limit is crossed.
    pub over: bool,
    /// What the usage was measured on: `index` (the file index) or `snapshots` (the newest
    /// scan of each agent's roots, where no index exists).
    pub source: &'static str,
}

/// Everything quotas are measured on, loaded once.
#[derive(Debug)]
pub struct Usage {
    /// The newest snapshot of every (agent, root).
    snapshots: Vec<SnapshotSummary>,
    /// What each owner holds across them.
    snapshot_owners: Vec<OwnerUsage>,
    /// `(backend, owner, totals)` of the file index.
    index: Vec<(String, String, Totals)>,
    backends: Vec<crate::store::BackendRecord>,
    teams: BTreeMap<String, Vec<String>>,
}

impl Usage {
    pub async fn load(store: &Store) -> StoreResult<Usage> {
        let (snapshots, snapshot_owners) = store.latest_snapshots_by_owner().await?;
        let mut teams: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for member in store.team_members().await? {
            teams.entry(member.team).or_default().push(member.user);
        }
        Ok(Usage {
            snapshots,
            snapshot_owners,
            index: store.index_usage(None).await?,
            backends: store.index_backends().await?,
            teams,
        })
    }

    /// Whether the file index covers `backend` (or, with none, has any backend at all).
    fn indexed(&self, backend: Option<&str>) -> bool {
        match backend {
            Some(backend) => self.backends.iter().any(|b| b.name == backend),
            None => !self.backends.is_empty(),
        }
    }

    fn owned_in_index(&self, users: &[&str], backend: Option<&str>) -> u64 {
        self.index
            .iter()
            .filter(|(on, owner, _)| {
                backend.is_none_or(|b| b == on) && users.contains(&owner.as_str())
            })
            .map(|(_, _, totals)| u64::try_from(totals.disk_bytes).unwrap_or(0))
            .sum()
    }

    fn owned_in_snapshots(&self, name: &str) -> u64 {
        self.snapshot_owners
            .iter()
            .filter(|owner| {
                owner.user.as_deref() == Some(name)
                    || owner.uid.is_some_and(|uid| uid.to_string() == name)
            })
            .map(|owner| owner.bytes)
            .sum()
    }

    /// Bytes `subject` uses on `backend` (or every backend), and what measured them.
    pub fn of(&self, subject: QuotaSubject<'_>, backend: Option<&str>) -> (u64, &'static str) {
        let members = |subject: QuotaSubject<'_>| -> Vec<String> {
            match subject {
                QuotaSubject::Team(team) => self.teams.get(team).cloned().unwrap_or_default(),
                QuotaSubject::User(user) => vec![user.to_owned()],
                _ => Vec::new(),
            }
        };
        match subject {
            QuotaSubject::Team(_) | QuotaSubject::User(_) if self.indexed(backend) => {
                let users = members(subject);
                let users: Vec<&str> = users.iter().map(String::as_str).collect();
                (self.owned_in_index(&users, backend), "index")
            }
            QuotaSubject::Team(_) | QuotaSubject::User(_) => (
                members(subject)
                    .iter()
                    .map(|user| self.owned_in_snapshots(user))
                    .sum(),
                "snapshots",
            ),
            QuotaSubject::Backend(name) => (
                self.backends
                    .iter()
                    .filter(|b| b.name == name && backend.is_none_or(|only| only == name))
                    .map(|b| u64::try_from(b.disk_bytes).unwrap_or(0))
                    .sum(),
                "index",
            ),
            QuotaSubject::Root(path) => (
                self.snapshots
                    .iter()
                    .filter(|summary| summary.root == path)
                    .map(|summary| u64::try_from(summary.disk_bytes).unwrap_or(0))
                    .sum(),
                "snapshots",
            ),
        }
    }

    /// `quota` with its usage and level; `since` is the recorded time of that level.
    pub fn against(
        &self,
        quota: QuotaRecord,
        recorded: Option<&(QuotaLevel, DateTime<Utc>)>,
    ) -> QuotaUsage {
        let (used_bytes, source) = QuotaSubject::parse(&quota.subject)
            .map_or((0, "index"), |subject| {
                self.of(subject, quota.backend.as_deref())
            });
        let used = i64::try_from(used_bytes).unwrap_or(i64::MAX);
        let level = QuotaLevel::of(used, quota.soft_bytes, quota.hard_bytes);
        let used_percent = quota.hard_bytes.or(quota.soft_bytes).map(|limit| {
            if limit > 0 {
                used_bytes as f64 / limit as f64 * 100.0
            } else {
                100.0
            }
        });
        QuotaUsage {
            used_bytes,
            used_percent,
            level,
            since: recorded
                .filter(|(at, _)| *at == level)
                .map(|(_, since)| *since),
            over: level == QuotaLevel::Hard,
            source,
            quota,
        }
    }
}

/// Whether a quota's limits make one: at least one of them, the soft one not above the hard
/// one. The error names the field.
pub fn check_limits<T: PartialOrd + std::fmt::Display>(
    soft: Option<T>,
    hard: Option<T>,
) -> Result<(), String> {
    match (soft, hard) {
        (None, None) => {
            Err("soft, hard: give at least one limit (sizes take units: 500TB)".to_owned())
        }
        (Some(soft), Some(hard)) if soft > hard => Err(format!(
            "soft: {soft} bytes is above the hard limit of {hard}"
        )),
        _ => Ok(()),
    }
}

/// Every quota with its usage, as it stands now.
pub async fn quota_usage(store: &Store) -> StoreResult<Vec<QuotaUsage>> {
    let quotas = store.quotas().await?;
    usage_of_quotas(store, quotas).await
}

/// `quotas` (a page of them, say) with their usage, as it stands now.
pub async fn usage_of_quotas(
    store: &Store,
    quotas: Vec<QuotaRecord>,
) -> StoreResult<Vec<QuotaUsage>> {
    if quotas.is_empty() {
        return Ok(Vec::new());
    }
    let usage = Usage::load(store).await?;
    let levels = store.quota_levels().await?;
    Ok(quotas
        .into_iter()
        .map(|quota| {
            let recorded = levels.get(&(quota.subject.clone(), quota.backend.clone()));
            usage.against(quota, recorded)
        })
        .collect())
}

/// Measures every quota and records each one's level; a quota that changed level is kept as
/// a crossing (for alerts) and logged: a warning for soft, an error for hard. Called after
/// whatever changes usage (a completed crawl, a snapshot, a quota set) and on the server's
/// maintenance tick. Answers the quotas as they stand.
pub async fn evaluate_quotas(store: &Store, now: DateTime<Utc>) -> StoreResult<Vec<QuotaUsage>> {
    let mut quotas = quota_usage(store).await?;
    for quota in &mut quotas {
        let crossing = crate::store::QuotaCrossing {
            subject: quota.quota.subject.clone(),
            backend: quota.quota.backend.clone(),
            level: quota.level,
            previous: QuotaLevel::Ok,
            at: now,
            used_bytes: i64::try_from(quota.used_bytes).unwrap_or(i64::MAX),
            limit_bytes: match quota.level {
                QuotaLevel::Hard => quota.quota.hard_bytes,
                QuotaLevel::Soft => quota.quota.soft_bytes,
                QuotaLevel::Ok => quota.quota.hard_bytes.or(quota.quota.soft_bytes),
            },
        };
        let Some(previous) = store.record_quota_level(&crossing, now).await? else {
            continue;
        };
        quota.since = Some(now);
        let (subject, backend) = (
            &crossing.subject,
            crossing.backend.as_deref().unwrap_or("all"),
        );
        let previous = previous.as_str();
        match quota.level {
            QuotaLevel::Hard => {
                tracing::error!(subject, backend, used = quota.used_bytes, limit = ?crossing.limit_bytes, previous, "quota: hard limit crossed")
            }
            QuotaLevel::Soft => {
                tracing::warn!(subject, backend, used = quota.used_bytes, limit = ?crossing.limit_bytes, previous, "quota: soft limit crossed")
            }
            QuotaLevel::Ok => tracing::info!(
                subject,
                backend,
                used = quota.used_bytes,
                previous,
                "quota: back under its limits"
            ),
        }
    }
    Ok(quotas)
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
    fn quota_subjects_are_teams_users_backends_or_absolute_roots() {
        assert_eq!(
            QuotaSubject::parse("user:ana").ok(),
            Some(QuotaSubject::User("ana"))
        );
        assert_eq!(
            QuotaSubject::parse("root:/srv").ok(),
            Some(QuotaSubject::Root("/srv"))
        );
        assert_eq!(
            QuotaSubject::parse("team:vision").ok(),
            Some(QuotaSubject::Team("vision"))
        );
        assert_eq!(
            QuotaSubject::parse("backend:s3:training").ok(),
            Some(QuotaSubject::Backend("s3:training"))
        );
        for bad in ["user:", "root:srv", "group:x", "ana", "user:a\nb", "team:"] {
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

/// Files shown per list of a user's drill-down.
pub const USER_FILES: usize = 20;

/// What one user owns on each backend of the index.
#[derive(Debug, Clone, Serialize)]
pub struct Owned {
    pub backend: String,
    pub files: i64,
    pub size_bytes: i64,
    pub disk_bytes: i64,
}

/// One of a user's files: the largest (with sizes) or the most recently used (with when).
#[derive(Debug, Clone, Serialize)]
pub struct UserFile {
    pub backend: String,
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disk_bytes: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_access: Option<DateTime<Utc>>,
}

/// Everything about one user across backends (`GET /api/v1/user/{id}`).
#[derive(Debug, Clone, Serialize)]
pub struct UserDetail {
    pub user: String,
    pub team: Option<String>,
    pub quota: Option<QuotaMark>,
    pub owned: Vec<Owned>,
    pub read: Vec<crate::store::UserReads>,
    pub largest_files: Vec<UserFile>,
    pub recently_used: Vec<UserFile>,
}

/// What `user` owns and read on every backend, their largest and most recently used files,
/// team and quota; `None` when they own nothing in the index and read nothing.
pub async fn user_detail(store: &Store, user: &str) -> StoreResult<Option<UserDetail>> {
    let owned: Vec<Owned> = store
        .index_usage(None)
        .await?
        .into_iter()
        .filter(|(_, owner, _)| owner == user)
        .map(|(backend, _, totals)| Owned {
            backend,
            files: totals.files,
            size_bytes: totals.apparent_bytes,
            disk_bytes: totals.disk_bytes,
        })
        .collect();
    let read = store.user_reads(user).await?;
    if owned.is_empty() && read.is_empty() {
        return Ok(None);
    }
    let team = store
        .team_members()
        .await?
        .into_iter()
        .find(|member| member.user == user)
        .map(|member| member.team);
    let quotas = quota_usage(store).await?;
    let largest_files = store
        .largest_files_of(user, USER_FILES)
        .await?
        .into_iter()
        .map(|(backend, path, size, disk)| UserFile {
            backend,
            path,
            size: Some(size),
            disk_bytes: Some(disk),
            last_access: None,
        })
        .collect();
    let recently_used = store
        .user_recent_files(user, USER_FILES)
        .await?
        .into_iter()
        .map(|(backend, path, at)| UserFile {
            backend,
            path,
            size: None,
            disk_bytes: None,
            last_access: Some(at),
        })
        .collect();
    Ok(Some(UserDetail {
        user: user.to_owned(),
        team,
        quota: QuotaMark::find(&quotas, &format!("user:{user}"), None),
        owned,
        read,
        largest_files,
        recently_used,
    }))
}

/// A backend of the index with how it grew over the growth period.
#[derive(Debug, Clone, Serialize)]
pub struct BackendGrowth {
    #[serde(flatten)]
    pub backend: crate::store::BackendRecord,
    /// Since the first point of the period (`null` fields without one).
    pub growth_30d: Growth,
}

#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Growth {
    pub files: Option<i64>,
    pub apparent_bytes: Option<i64>,
    pub disk_bytes: Option<i64>,
}

/// `backends` (a page of them) with their growth since `since`.
pub async fn backends_with_growth(
    store: &Store,
    backends: Vec<crate::store::BackendRecord>,
    since: DateTime<Utc>,
) -> StoreResult<Vec<BackendGrowth>> {
    let mut out = Vec::with_capacity(backends.len());
    for backend in backends {
        let series = store.index_growth(&backend.name, since).await?;
        let first = series.first().map(|(_, totals)| *totals);
        out.push(BackendGrowth {
            growth_30d: Growth {
                files: first.map(|t| backend.files - t.files),
                apparent_bytes: first.map(|t| backend.apparent_bytes - t.apparent_bytes),
                disk_bytes: first.map(|t| backend.disk_bytes - t.disk_bytes),
            },
            backend,
        });
    }
    Ok(out)
}
