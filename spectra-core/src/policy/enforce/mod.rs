//! Enforcement of a plan's `delete`: every file is checked again and moved into a quarantine
//! on the same filesystem, from which [`restore`] puts it back.
//!
//! The safety rules of DESIGN.md, as this module applies them:
//! - only an existing, unaltered plan ([`Plan::verify`]) made from a complete scan, and not
//!   older than [`EnforceOptions::max_plan_age`];
//! - the plan's limits (files, bytes, share of the scanned bytes) refuse it unless overridden;
//! - each file is re-checked just before acting: same device, inode, size and mtime as planned,
//!   still a regular file, and the policy's rules still match;
//! - a file outside the policy's `scope` (when it has one) is skipped; the path is walked from
//!   the scan root one directory at a time with `O_NOFOLLOW`, so no symlink is ever followed,
//!   nothing outside the roots is reached, and a directory on another device (a mount point)
//!   stops the walk;
//! - files with several hard links are skipped unless the policy allows them;
//! - the move is a `renameat2(RENAME_NOREPLACE)` into `ROOT/.spectra-quarantine/PLAN_ID/`,
//!   keeping the relative path (and so mode, owner and times), with a manifest;
//! - every action and skip is written to the hash-chained audit log;
//! - a run stops when more than a tenth of its attempts fail.
//!
//! Archive and move go to the policy's destination, keeping the path relative to the scan
//! root: a rename on the same filesystem, else a copy that is synced and verified (size and
//! SHA-256) before the unchanged source is removed. [`purge`] deletes quarantines for good once
//! they are old enough.

#[cfg(spectra_safe_moves)]
mod unix;

use std::path::{Path, PathBuf};

use chrono::Utc;
use serde::{Deserialize, Serialize};

use super::audit::{self, AuditEvent};
use super::{Action, Plan};
use crate::error::{Error, Result};

const MANIFEST: &str = "manifest.jsonl";

/// The quarantine's directory name, under each root.
pub const QUARANTINE_DIR: &str = ".spectra-quarantine";

#[derive(Debug, Clone)]
pub struct EnforceOptions {
    /// Who enforces, for the audit log ([`invoking_user`] for the process's own user).
    pub who: String,
    /// Who asked for it when the request came from elsewhere: the API token or agent that a
    /// server or agent acts for. Recorded beside `who`.
    pub on_behalf_of: Option<String>,
    pub audit_log: PathBuf,
    /// Enforce even when the plan exceeds its limits.
    pub override_limits: bool,
    /// Older plans are refused: the tree has moved on since (a day unless set).
    pub max_plan_age: chrono::Duration,
    /// Progress and cancellation of the run.
    pub hooks: ActionHooks,
}

/// How an enforcement, a restore or a purge reports progress and is stopped: after each file
/// (or quarantine) the progress hook is called, and a cancelled token stops the run before
/// the next one — what was done stays done and is in the audit log, and the call returns
/// [`Error::Cancelled`] saying how far it got.
#[derive(Clone, Default)]
pub struct ActionHooks {
    pub cancel: crate::CancelToken,
    pub progress: Option<ProgressHook>,
}

/// Called after each file (or quarantine) an enforcement, restore or purge handles.
pub type ProgressHook = std::sync::Arc<dyn Fn(&ActionProgress) + Send + Sync>;

impl std::fmt::Debug for ActionHooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActionHooks")
            .field("cancel", &self.cancel)
            .field("progress", &self.progress.as_ref().map(|_| "Fn"))
            .finish()
    }
}

/// Where a running enforcement, restore or purge is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActionProgress {
    /// `enforce`, `restore` or `purge`.
    pub action: &'static str,
    /// Files (quarantines, for a purge) handled so far, done or skipped.
    pub handled: u64,
    /// How many there are in all, when known beforehand.
    pub total: Option<u64>,
    /// The one just handled.
    pub current: PathBuf,
}

impl ActionHooks {
    fn report(&self, action: &'static str, handled: u64, total: Option<u64>, current: &Path) {
        if let Some(progress) = &self.progress {
            progress(&ActionProgress {
                action,
                handled,
                total,
                current: current.to_path_buf(),
            });
        }
    }

    /// After the audit records are written: `Cancelled` when the caller stopped the run.
    fn finish<T>(&self, done: T, what: impl FnOnce() -> String) -> Result<T> {
        if self.cancel.is_cancelled() {
            Err(Error::cancelled(what()))
        } else {
            Ok(done)
        }
    }
}

/// The user this process runs as, for the audit log: `name (uid N)`, plus the account that ran
/// `sudo` when there is one. Taken from the real uid, not from `$USER`, which may be unset (a
/// service, a container) or say anything.
#[cfg(spectra_unix)]
pub fn invoking_user() -> String {
    let uid = nix::unistd::getuid().as_raw();
    let name = crate::sys::user_name(uid).unwrap_or_else(|| "?".into());
    match std::env::var("SUDO_USER") {
        Ok(sudo) if uid == 0 && !sudo.is_empty() => {
            format!("{name} (uid {uid}, via sudo from {sudo})")
        }
        _ => format!("{name} (uid {uid})"),
    }
}

/// The user this process runs as, for the audit log, where there are no uids (Windows): the
/// account name the system gives the process, `?` when it gives none.
#[cfg(not(spectra_unix))]
pub fn invoking_user() -> String {
    std::env::var("USERNAME").unwrap_or_else(|_| "?".into())
}

impl EnforceOptions {
    pub fn new(who: impl Into<String>, audit_log: impl Into<PathBuf>) -> Self {
        EnforceOptions {
            who: who.into(),
            on_behalf_of: None,
            audit_log: audit_log.into(),
            override_limits: false,
            max_plan_age: chrono::Duration::hours(24),
            hooks: ActionHooks::default(),
        }
    }
}

/// One quarantined file, as the manifest records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuarantinedFile {
    pub original: PathBuf,
    /// Relative to the plan's quarantine directory.
    pub stored_as: PathBuf,
    pub size: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Skipped {
    pub path: PathBuf,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnforceOutcome {
    pub plan_id: String,
    /// Files moved away: into the quarantine (delete; `stored_as` relative to it) or to the
    /// destination (archive and move; `stored_as` is the new full path).
    pub quarantined: Vec<QuarantinedFile>,
    pub skipped: Vec<Skipped>,
    /// True when the run stopped early because too many attempts failed.
    pub stopped: bool,
}

fn refuse(plan: &Plan, why: String) -> Error {
    Error::invalid(format!("plan {}", plan.id), why)
}

/// Checks the plan may be enforced at all: intact, from a complete scan, a delete, in limits.
fn admit(plan: &Plan, options: &EnforceOptions) -> Result<()> {
    plan.verify()?;
    let age = Utc::now() - plan.created_at;
    if age > options.max_plan_age {
        return Err(refuse(
            plan,
            format!(
                "it expired: made {} hours ago, plans last {} hours",
                age.num_hours(),
                options.max_plan_age.num_hours()
            ),
        ));
    }
    if plan.scan_partial {
        return Err(refuse(
            plan,
            "it was made from a partial scan; plan again once every entry can be read".into(),
        ));
    }
    match &plan.policy.action {
        Action::Delete => {}
        Action::Report => {
            return Err(refuse(
                plan,
                "a report policy has nothing to enforce".into(),
            ));
        }
        Action::Archive { destination } | Action::Move { destination } => {
            let Some(destination) = destination else {
                return Err(refuse(plan, "archive and move need a destination".into()));
            };
            if !destination.is_dir() {
                return Err(refuse(
                    plan,
                    format!(
                        "the destination {} is not an existing directory",
                        destination.display()
                    ),
                ));
            }
        }
    }
    let limits = &plan.policy.limits;
    let over = [
        (plan.files.len() as u64 > limits.max_files).then(|| {
            format!(
                "{} files > max_files {}",
                plan.files.len(),
                limits.max_files
            )
        }),
        (plan.total_bytes > limits.max_bytes).then(|| {
            format!(
                "{} bytes > max_bytes {}",
                plan.total_bytes, limits.max_bytes
            )
        }),
        (plan.total_bytes as f64 > limits.max_fraction * plan.scanned_bytes as f64).then(|| {
            format!(
                "{} of {} scanned bytes > max_fraction {}",
                plan.total_bytes, plan.scanned_bytes, limits.max_fraction
            )
        }),
    ];
    let over: Vec<String> = over.into_iter().flatten().collect();
    if !over.is_empty() && !options.override_limits {
        return Err(refuse(
            plan,
            format!(
                "above its limits ({}); to enforce anyway, pass override_limits (the CLI's \
                 --override-limits)",
                over.join("; ")
            ),
        ));
    }
    Ok(())
}

/// Enforces a plan: re-checks each file and quarantines it (a delete) or moves it to the
/// destination (archive, move), returns what happened, and records every step in the audit
/// log. Where the platform has no `openat`-style calls, inode identity and a rename that never
/// replaces (Windows, the BSDs), an
/// admissible plan is refused as [`ErrorCode::Unsupported`](crate::ErrorCode::Unsupported):
/// the safety rules could not be kept.
pub fn enforce(plan: &Plan, options: &EnforceOptions) -> Result<EnforceOutcome> {
    #[cfg(spectra_safe_moves)]
    {
        unix::enforce(plan, options)
    }
    #[cfg(not(spectra_safe_moves))]
    {
        admit(plan, options)?;
        Err(no_safe_moves("enforcing a plan"))
    }
}

/// Puts back every file a plan quarantined under `roots`, refusing to overwrite anything that
/// now stands at the original path. Returns the restored paths; records them in the audit log.
/// Unsupported where [`enforce`] is.
pub fn restore(plan_id: &str, roots: &[PathBuf], options: &EnforceOptions) -> Result<Vec<PathBuf>> {
    #[cfg(spectra_safe_moves)]
    {
        unix::restore(plan_id, roots, options)
    }
    #[cfg(not(spectra_safe_moves))]
    {
        let _ = (plan_id, roots, options);
        Err(no_safe_moves("restoring a plan"))
    }
}

#[cfg(not(spectra_safe_moves))]
fn no_safe_moves(what: &str) -> Error {
    Error::unsupported(
        what,
        "moving files safely needs openat-style calls on directory descriptors, inode \
         identity and a rename that never replaces (no symlink followed, identity re-checked, \
         no mount crossed, nothing overwritten), which this platform lacks",
    )
}

/// One plan's quarantine under one root, as [`quarantines`] finds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Quarantine {
    pub plan_id: String,
    pub root: PathBuf,
    pub directory: PathBuf,
    /// Files of the manifest still held here (not restored, not purged).
    pub files: u64,
    /// Their size as quarantined.
    pub bytes: u64,
    /// When its manifest was last written (the last enforcement): what `purge --older-than`
    /// measures.
    pub last_used: Option<chrono::DateTime<Utc>>,
    /// Why the manifest could not be read in full, when it could not.
    pub problem: Option<String>,
}

/// Most manifest lines [`quarantines`] reads of one quarantine.
const MAX_LISTED_MANIFEST_LINES: usize = 10_000_000;

/// The quarantines under `roots`, by root then plan id. A quarantine whose manifest cannot be
/// read is listed with the problem and does not stop the listing; a root without a quarantine
/// has none.
pub fn quarantines(roots: &[PathBuf]) -> Vec<Quarantine> {
    let mut found = Vec::new();
    for root in roots {
        let base = root.join(QUARANTINE_DIR);
        let Ok(entries) = std::fs::read_dir(&base) else {
            continue;
        };
        let mut of_root = Vec::new();
        for entry in entries.flatten() {
            let plan_id = entry.file_name().to_string_lossy().into_owned();
            let is_plan_dir = plan_id.len() == 64
                && plan_id.bytes().all(|b| b.is_ascii_hexdigit())
                && entry.file_type().is_ok_and(|t| t.is_dir());
            if !is_plan_dir {
                continue;
            }
            let directory = entry.path();
            let manifest = directory.join(MANIFEST);
            let mut quarantine = Quarantine {
                plan_id,
                root: root.clone(),
                directory: directory.clone(),
                files: 0,
                bytes: 0,
                last_used: std::fs::symlink_metadata(&manifest)
                    .and_then(|m| m.modified())
                    .ok()
                    .map(chrono::DateTime::<Utc>::from),
                problem: None,
            };
            match std::fs::read_to_string(&manifest) {
                Err(e) => quarantine.problem = Some(format!("{}: {e}", manifest.display())),
                Ok(text) => {
                    for (number, line) in text.lines().take(MAX_LISTED_MANIFEST_LINES).enumerate() {
                        match serde_json::from_str::<QuarantinedFile>(line) {
                            Ok(file) => {
                                if std::fs::symlink_metadata(directory.join(&file.stored_as))
                                    .is_ok()
                                {
                                    quarantine.files += 1;
                                    quarantine.bytes += file.size;
                                }
                            }
                            Err(e) => {
                                quarantine.problem = Some(format!(
                                    "{} line {}: {e}",
                                    manifest.display(),
                                    number + 1
                                ));
                                break;
                            }
                        }
                    }
                }
            }
            of_root.push(quarantine);
        }
        of_root.sort_by(|a, b| a.plan_id.cmp(&b.plan_id));
        found.extend(of_root);
    }
    found
}

/// Deletes for good the quarantines under `roots` whose last enforcement is older than
/// `older_than` (zero purges them all), or only plan `only` when given. Returns the purged plan
/// ids; records them in the audit log. Only directories this module created are removed, and
/// never through a symlink.
pub fn purge(
    roots: &[PathBuf],
    older_than: std::time::Duration,
    only: Option<&str>,
    options: &EnforceOptions,
) -> Result<Vec<String>> {
    let mut purged = Vec::new();
    let mut events = Vec::new();
    'roots: for root in roots {
        let base = root.join(QUARANTINE_DIR);
        let Ok(entries) = std::fs::read_dir(&base) else {
            continue;
        };
        for entry in entries.flatten() {
            if options.hooks.cancel.is_cancelled() {
                break 'roots;
            }
            let id = entry.file_name().to_string_lossy().into_owned();
            let dir = entry.path();
            let is_plan_dir = id.len() == 64
                && id.bytes().all(|b| b.is_ascii_hexdigit())
                && entry.file_type().is_ok_and(|t| t.is_dir());
            let Ok(manifest) = std::fs::symlink_metadata(dir.join(MANIFEST)) else {
                continue;
            };
            let age = manifest
                .modified()
                .ok()
                .and_then(|m| m.elapsed().ok())
                .unwrap_or_default();
            if !is_plan_dir || age < older_than || only.is_some_and(|o| o != id) {
                continue;
            }
            // remove_dir_all removes symlinks themselves, never what they point to.
            std::fs::remove_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
            events.push(AuditEvent {
                at: Utc::now(),
                plan_id: id.clone(),
                policy: String::new(),
                who: options.who.clone(),
                on_behalf_of: options.on_behalf_of.clone(),
                action: "purge".into(),
                path: dir.display().to_string(),
                before: None,
                result: "done".into(),
                quarantine_path: None,
            });
            purged.push(id);
            options
                .hooks
                .report("purge", purged.len() as u64, None, &dir);
        }
    }
    audit::append(&options.audit_log, &events)?;
    let count = purged.len();
    options.hooks.finish(purged, || {
        format!("purging (after {count} quarantines, each in the audit log)")
    })
}
