//! Planning: a dry run that evaluates a policy during a scan (one pass, as a visitor) and
//! records every match with what identifies the file now, so enforcement can later check that
//! it is still the same file. A plan changes nothing anywhere.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{CompiledPolicy, Facts, Field, Policy};
use crate::RawPath;
use crate::error::{Error, Result};
use crate::scan::{Entry, ScanControl, ScanOptions, ScanReport, Scanner, Timestamp, Visitor};

/// One file a plan would act on, as it was when planned: what identifies it (device, inode)
/// and the values the rules saw (every rule matched: they are joined by AND). An atime the
/// rules could not trust (a `noatime` mount) is recorded as unknown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedFile {
    pub path: RawPath,
    /// `None` (with `ino`, `uid`, `gid`, `nlink`) where the platform has no such fact.
    pub dev: Option<u64>,
    pub ino: Option<u64>,
    pub size: u64,
    pub disk_size: u64,
    pub mtime: Option<Timestamp>,
    pub atime: Option<Timestamp>,
    pub ctime: Option<Timestamp>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub nlink: Option<u64>,
}

/// What a dry run found. Its id is the SHA-256 of everything else in it, so a plan cannot be
/// altered without changing its id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub id: String,
    pub policy: Policy,
    pub created_at: DateTime<Utc>,
    pub roots: Vec<RawPath>,
    /// True when the scan behind the plan was partial: such a plan may not be enforced.
    pub scan_partial: bool,
    pub scanned_bytes: u64,
    pub files: Vec<PlannedFile>,
    pub total_bytes: u64,
}

#[derive(Serialize)]
struct PlanContents<'a> {
    policy: &'a Policy,
    created_at: &'a DateTime<Utc>,
    roots: &'a [RawPath],
    scan_partial: bool,
    scanned_bytes: u64,
    files: &'a [PlannedFile],
    total_bytes: u64,
}

impl Plan {
    /// The roots the plan was made under, as paths.
    pub fn roots(&self) -> Vec<std::path::PathBuf> {
        self.roots
            .iter()
            .map(|r| r.as_path().to_path_buf())
            .collect()
    }

    fn content_id(&self) -> Result<String> {
        let contents = PlanContents {
            policy: &self.policy,
            created_at: &self.created_at,
            roots: &self.roots,
            scan_partial: self.scan_partial,
            scanned_bytes: self.scanned_bytes,
            files: &self.files,
            total_bytes: self.total_bytes,
        };
        let bytes =
            serde_json::to_vec(&contents).map_err(|e| Error::invalid("plan", e.to_string()))?;
        Ok(Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect())
    }

    /// Checks that the id still matches the contents (a plan read back from disk).
    pub fn verify(&self) -> Result<()> {
        let expected = self.content_id()?;
        if expected != self.id {
            return Err(Error::InvalidData {
                what: format!("plan {}", self.id),
                message: format!("its contents hash to {expected}: the plan was altered"),
            });
        }
        Ok(())
    }
}

/// Which costly facts the policy's rules read.
#[derive(Debug, Clone, Copy)]
struct Needs {
    path: bool,
    owner: bool,
    group: bool,
}

/// What [`PlanStore::list`] says of one saved plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanSummary {
    pub id: String,
    pub policy: String,
    /// What enforcing it does: `delete` (into a quarantine), `archive` or `move`.
    pub action: String,
    pub created_at: DateTime<Utc>,
    pub roots: Vec<RawPath>,
    pub files: usize,
    pub total_bytes: u64,
    /// A plan from a partial scan may not be enforced.
    pub scan_partial: bool,
}

impl PlanSummary {
    fn of(plan: &Plan) -> PlanSummary {
        PlanSummary {
            id: plan.id.clone(),
            policy: plan.policy.name.clone(),
            action: plan.policy.action.name().to_owned(),
            created_at: plan.created_at,
            roots: plan.roots.clone(),
            files: plan.files.len(),
            total_bytes: plan.total_bytes,
            scan_partial: plan.scan_partial,
        }
    }
}

/// A file in the plan directory that is not a plan that can be enforced, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnreadablePlan {
    pub path: std::path::PathBuf,
    pub reason: String,
}

/// The saved plans, newest first, and the files that could not be read as one.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PlanListing {
    pub plans: Vec<PlanSummary>,
    pub unreadable: Vec<UnreadablePlan>,
}

/// Plans kept by id in a directory, so `enforce PLAN_ID` acts on exactly what was reviewed.
#[derive(Debug, Clone)]
pub struct PlanStore {
    dir: std::path::PathBuf,
}

impl PlanStore {
    pub fn new(dir: impl Into<std::path::PathBuf>) -> Self {
        PlanStore { dir: dir.into() }
    }

    fn path_of(&self, id: &str) -> Result<std::path::PathBuf> {
        // An id is a SHA-256 in hex: anything else (a path, `..`) is refused before use.
        if id.len() != 64 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Error::invalid(
                "plan id",
                format!("{id:?} is not a plan id (64 hex digits)"),
            ));
        }
        Ok(self.dir.join(format!("{id}.json")))
    }

    pub fn save(&self, plan: &Plan) -> Result<std::path::PathBuf> {
        std::fs::create_dir_all(&self.dir).map_err(|e| Error::io(&self.dir, e))?;
        let path = self.path_of(&plan.id)?;
        let bytes =
            serde_json::to_vec_pretty(plan).map_err(|e| Error::invalid("plan", e.to_string()))?;
        std::fs::write(&path, bytes).map_err(|e| Error::io(&path, e))?;
        Ok(path)
    }

    /// Every saved plan, newest first. A file that cannot be read or was altered is listed
    /// among the unreadable with its reason and does not stop the listing; no directory yet
    /// is no plans.
    pub fn list(&self) -> Result<PlanListing> {
        let mut listing = PlanListing::default();
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(listing),
            Err(e) => return Err(Error::io(&self.dir, e)),
        };
        for entry in entries {
            let entry = entry.map_err(|e| Error::io(&self.dir, e))?;
            let name = entry.file_name();
            let Some(id) = name.to_str().and_then(|n| n.strip_suffix(".json")) else {
                continue;
            };
            match self.load(id) {
                Ok(plan) => listing.plans.push(PlanSummary::of(&plan)),
                Err(error) => listing.unreadable.push(UnreadablePlan {
                    path: entry.path(),
                    reason: error.to_string(),
                }),
            }
        }
        listing
            .plans
            .sort_by(|a, b| b.created_at.cmp(&a.created_at).then(a.id.cmp(&b.id)));
        Ok(listing)
    }

    /// Loads a plan and checks it was not altered since it was saved.
    pub fn load(&self, id: &str) -> Result<Plan> {
        let path = self.path_of(id)?;
        let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
        let plan: Plan = serde_json::from_slice(&bytes).map_err(|e| Error::InvalidData {
            what: format!("plan {}", path.display()),
            message: e.to_string(),
        })?;
        plan.verify()?;
        Ok(plan)
    }
}

/// The visitor that evaluates a policy on every entry of a scan.
#[derive(Debug)]
struct Planner<'p> {
    policy: &'p CompiledPolicy,
    needs: Needs,
    noatime: &'p std::collections::HashSet<u64>,
    now: i64,
    matches: Vec<PlannedFile>,
    owners: HashMap<Option<u32>, Option<String>>,
    groups: HashMap<Option<u32>, Option<String>>,
}

impl Visitor for Planner<'_> {
    fn visit(&mut self, entry: &Entry<'_>) {
        let trusted = super::trusted(&entry.meta, self.noatime);
        let meta = &trusted;
        // Policies act on regular files: a symlink is never a target (what it points to may
        // be anywhere), and directories empty out as their files go.
        if meta.kind != crate::scan::FileKind::File {
            return;
        }
        // Only what some rule reads is computed for every entry; the path of a match is
        // built once it matches.
        let path = self.needs.path.then(|| entry.path());
        let raw_extension = entry.extension().unwrap_or_default();
        let extension = if raw_extension.iter().any(u8::is_ascii_uppercase) {
            std::borrow::Cow::Owned(raw_extension.to_ascii_lowercase())
        } else {
            std::borrow::Cow::Borrowed(raw_extension)
        };
        let owner = if self.needs.owner {
            self.owners
                .entry(meta.uid)
                .or_insert_with(|| meta.uid.and_then(crate::sys::user_name))
                .as_deref()
        } else {
            None
        };
        let group = if self.needs.group {
            self.groups
                .entry(meta.gid)
                .or_insert_with(|| meta.gid.and_then(crate::sys::group_name))
                .as_deref()
        } else {
            None
        };
        let facts = Facts {
            path: path
                .as_ref()
                .map_or(&[][..], |p| p.as_os_str().as_encoded_bytes()),
            name: entry.name_bytes(),
            extension: &extension,
            meta,
            depth: entry.depth,
            owner,
            group,
            now: self.now,
        };
        let in_scope = || {
            let scope = &self.policy.policy().scope;
            scope.is_empty()
                || path
                    .as_ref()
                    .is_some_and(|p| scope.iter().any(|allowed| p.starts_with(allowed)))
        };
        if self.policy.matches(&facts) && in_scope() {
            self.matches.push(PlannedFile {
                path: path.unwrap_or_else(|| entry.path()).into(),
                dev: meta.dev,
                ino: meta.ino,
                size: meta.size,
                disk_size: meta.disk_size,
                mtime: meta.mtime,
                atime: meta.atime,
                ctime: meta.ctime,
                uid: meta.uid,
                gid: meta.gid,
                nlink: meta.nlink,
            });
        }
    }

    fn merge(&mut self, other: Self) {
        self.matches.extend(other.matches);
    }
}

/// Scans with `options` and evaluates `policy` on every entry in the same pass. Returns the
/// plan and the scan's report. Nothing on disk changes.
pub fn plan(
    policy: &CompiledPolicy,
    options: ScanOptions,
    control: ScanControl<'_>,
) -> Result<(Plan, ScanReport)> {
    let created_at = Utc::now();
    let now = created_at.timestamp();
    // What an earlier run quarantined is not for the policy to select again.
    let mut options = options;
    options.exclude.push(format!("/{}", super::QUARANTINE_DIR));
    let scanner = Scanner::new(options)?;
    let needs = Needs {
        path: policy.uses(Field::Path) || !policy.policy().scope.is_empty(),
        owner: policy.uses(Field::Owner),
        group: policy.uses(Field::Group),
    };
    let noatime = super::noatime_devices();
    let make = || Planner {
        policy,
        needs,
        noatime: &noatime,
        now,
        matches: Vec::new(),
        owners: HashMap::new(),
        groups: HashMap::new(),
    };
    let (report, planner) = scanner.scan_with(make, control)?;
    let mut files = planner.matches;
    // Thread timing decides the order of matches; the plan (and so its id) must not.
    files.sort_by(|a, b| a.path.cmp(&b.path));
    let mut plan = Plan {
        id: String::new(),
        policy: policy.policy().clone(),
        created_at,
        roots: report.roots.clone(),
        scan_partial: report.partial,
        scanned_bytes: report.totals.apparent_bytes,
        total_bytes: files.iter().map(|f| f.size).sum(),
        files,
    };
    plan.id = plan.content_id()?;
    Ok((plan, report))
}
