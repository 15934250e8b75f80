//! The moves themselves, through `openat`-style calls on directory descriptors (Linux and
//! macOS): each path walked one directory at a time with `O_NOFOLLOW`, the identity
//! re-checked with `fstatat`, renames that never replace.

use std::os::fd::OwnedFd;
use std::path::{Component, Path, PathBuf};

use chrono::Utc;
use rustix::fs::{AtFlags, CWD, Mode, OFlags, RenameFlags};

use super::{
    EnforceOptions, EnforceOutcome, MANIFEST, QUARANTINE_DIR, QuarantinedFile, Skipped, admit,
};
use crate::error::{Error, Result};
use crate::policy::audit::{self, AuditEvent};
use crate::policy::{Action, Facts, Plan, PlannedFile};
use crate::scan::{FileKind, FileMeta, Timestamp};
use crate::sys::user_name;

/// Share of failed attempts (after the first ten) that stops a run.
const MAX_ERROR_RATE: f64 = 0.1;

fn dir_flags() -> OFlags {
    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC
}

/// The root `path` lies under, and the path's parts below it.
fn split_under<'p>(
    roots: &'p [crate::RawPath],
    path: &'p Path,
) -> Option<(&'p Path, Vec<&'p std::ffi::OsStr>)> {
    roots
        .iter()
        .map(|r| r.as_path())
        .filter(|root| path.starts_with(root))
        .max_by_key(|root| root.as_os_str().len())
        .and_then(|root| {
            let parts: Vec<&std::ffi::OsStr> = path
                .strip_prefix(root)
                .ok()?
                .components()
                .map(|c| match c {
                    Component::Normal(name) => Some(name),
                    _ => None,
                })
                .collect::<Option<_>>()?;
            (!parts.is_empty()).then_some((root, parts))
        })
}

/// Opens each directory below `root_fd` without following symlinks or leaving `dev`.
fn walk_dirs(
    root_fd: &OwnedFd,
    dev: u64,
    dirs: &[&std::ffi::OsStr],
) -> std::result::Result<OwnedFd, String> {
    let mut fd = rustix::io::dup(root_fd).map_err(|e| e.to_string())?;
    for name in dirs {
        fd = rustix::fs::openat(&fd, *name, dir_flags(), Mode::empty()).map_err(|e| {
            format!(
                "cannot open directory {:?} without following links: {e}",
                name
            )
        })?;
        let st = rustix::fs::fstat(&fd).map_err(|e| e.to_string())?;
        if device_of(&st) != dev {
            return Err(format!(
                "{:?} is on another filesystem (a mount point)",
                name
            ));
        }
    }
    Ok(fd)
}

fn stat_line(meta: &FileMeta) -> String {
    let (dev, ino) = meta.identity().unwrap_or_default();
    format!(
        "{dev}:{ino} size={} mtime={}",
        meta.size,
        meta.mtime.map_or(-1, |t| t.secs)
    )
}

/// Why `now` is not the file the plan saw, if it is not.
fn changed_since_plan(planned: &PlannedFile, now: &FileMeta) -> Option<String> {
    if now.kind != FileKind::File {
        return Some(format!("it is now a {:?}, not a regular file", now.kind));
    }
    if now.identity().is_none() || (now.dev, now.ino) != (planned.dev, planned.ino) {
        return Some("it was replaced (device or inode changed)".into());
    }
    if now.size != planned.size || now.mtime != planned.mtime {
        return Some("it was modified since the plan (size or mtime changed)".into());
    }
    None
}

/// Enforces a delete plan: re-checks and quarantines each file, returns what happened, and
/// records every step in the audit log.
pub(super) fn enforce(plan: &Plan, options: &EnforceOptions) -> Result<EnforceOutcome> {
    admit(plan, options)?;
    let policy = plan.policy.compile()?;
    let now = Utc::now().timestamp();
    let noatime = crate::policy::noatime_devices();
    let mut outcome = EnforceOutcome {
        plan_id: plan.id.clone(),
        quarantined: Vec::new(),
        skipped: Vec::new(),
        stopped: false,
    };
    let mut events = Vec::new();
    let mut attempts = 0u32;
    let mut failures = 0u32;
    let event = |action: &str,
                 path: &Path,
                 before: Option<String>,
                 result: String,
                 stored: Option<String>| AuditEvent {
        at: Utc::now(),
        plan_id: plan.id.clone(),
        policy: plan.policy.name.clone(),
        who: options.who.clone(),
        on_behalf_of: options.on_behalf_of.clone(),
        action: action.into(),
        path: path.display().to_string(),
        before,
        result,
        quarantine_path: stored,
    };
    let verb = match plan.policy.action {
        Action::Archive { .. } => "archive",
        Action::Move { .. } => "move",
        Action::Delete | Action::Report => "quarantine",
    };
    let total = plan.files.len() as u64;
    for planned in &plan.files {
        if options.hooks.cancel.is_cancelled() {
            break;
        }
        let path = planned.path.as_path();
        attempts += 1;
        let attempt = act_on_one(plan, &policy, planned, now, &noatime);
        match attempt {
            Ok((stored, before)) => {
                events.push(event(
                    verb,
                    path,
                    Some(stat_line(&before)),
                    "done".into(),
                    Some(stored.display().to_string()),
                ));
                outcome.quarantined.push(QuarantinedFile {
                    original: path.to_path_buf(),
                    stored_as: stored,
                    size: before.size,
                });
            }
            Err(Attempt::Skip(reason)) => {
                events.push(event("skip", path, None, reason.clone(), None));
                outcome.skipped.push(Skipped {
                    path: path.to_path_buf(),
                    reason,
                });
            }
            Err(Attempt::Failed(reason)) => {
                failures += 1;
                events.push(event("error", path, None, reason.clone(), None));
                outcome.skipped.push(Skipped {
                    path: path.to_path_buf(),
                    reason,
                });
                if attempts >= 10 && f64::from(failures) > MAX_ERROR_RATE * f64::from(attempts) {
                    outcome.stopped = true;
                    break;
                }
            }
        }
        options
            .hooks
            .report("enforce", u64::from(attempts), Some(total), path);
    }
    audit::append(&options.audit_log, &events)?;
    let handled = attempts;
    options.hooks.finish(outcome, || {
        format!(
            "enforcing plan {} (after {handled} of {total} files, each in the audit log)",
            plan.id
        )
    })
}

enum Attempt {
    /// The file is no longer what the plan selected: leave it, that is the point.
    Skip(String),
    Failed(String),
}

/// Re-checks one planned file and, if it is still what the plan selected, acts on it.
fn act_on_one(
    plan: &Plan,
    policy: &crate::policy::CompiledPolicy,
    planned: &PlannedFile,
    now: i64,
    noatime: &std::collections::HashSet<u64>,
) -> std::result::Result<(PathBuf, FileMeta), Attempt> {
    let path = planned.path.as_path();
    let Some((root, parts)) = split_under(&plan.roots, path) else {
        return Err(Attempt::Skip("outside the plan's roots".into()));
    };
    let scope = &plan.policy.scope;
    if !scope.is_empty() && !scope.iter().any(|allowed| path.starts_with(allowed)) {
        return Err(Attempt::Skip("outside the policy's scope".into()));
    }
    let (name, dirs) = parts
        .split_last()
        .ok_or_else(|| Attempt::Skip("the root itself".into()))?;
    let root_fd = rustix::fs::open(
        root,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Attempt::Failed(format!("cannot open root {}: {e}", root.display())))?;
    let root_dev =
        device_of(&rustix::fs::fstat(&root_fd).map_err(|e| Attempt::Failed(e.to_string()))?);
    let parent = walk_dirs(&root_fd, root_dev, dirs).map_err(Attempt::Skip)?;
    let st =
        rustix::fs::statat(&parent, *name, AtFlags::SYMLINK_NOFOLLOW).map_err(|e| match e {
            rustix::io::Errno::NOENT => Attempt::Skip("it no longer exists".into()),
            other => Attempt::Failed(other.to_string()),
        })?;
    let meta = crate::policy::trusted(&meta_from_stat(&st), noatime);
    if let Some(why) = changed_since_plan(planned, &meta) {
        return Err(Attempt::Skip(why));
    }
    let links = meta.nlink.unwrap_or(1);
    if links > 1 && !plan.policy.limits.allow_hard_links {
        return Err(Attempt::Skip(format!(
            "it has {links} hard links (allow_hard_links is off)"
        )));
    }
    let extension = crate::scan::extension_of(name.as_encoded_bytes())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let group = meta.gid.and_then(crate::sys::group_name);
    let owner = meta.uid.and_then(user_name);
    let facts = Facts {
        path: path.as_os_str().as_encoded_bytes(),
        name: name.as_encoded_bytes(),
        extension: &extension,
        meta: &meta,
        depth: parts.len(),
        owner: owner.as_deref(),
        group: group.as_deref(),
        now,
    };
    if !policy.matches(&facts) {
        return Err(Attempt::Skip(
            "the policy's rules no longer match it".into(),
        ));
    }
    let relative: PathBuf = parts.iter().collect();
    if let Action::Archive {
        destination: Some(destination),
    }
    | Action::Move {
        destination: Some(destination),
    } = &plan.policy.action
    {
        let target = transfer(&parent, name, &meta, destination, dirs)?;
        return Ok((target, meta));
    }
    let store = quarantine_parent(&root_fd, &plan.id, dirs).map_err(Attempt::Failed)?;
    rustix::fs::renameat_with(&parent, *name, &store, *name, RenameFlags::NOREPLACE)
        .map_err(|e| Attempt::Failed(format!("moving into the quarantine: {e}")))?;
    let manifest_line = serde_json::to_string(&QuarantinedFile {
        original: path.to_path_buf(),
        stored_as: relative.clone(),
        size: meta.size,
    })
    .map_err(|e| Attempt::Failed(e.to_string()))?;
    append_manifest(root, &plan.id, &manifest_line).map_err(Attempt::Failed)?;
    Ok((relative, meta))
}

/// Moves one re-checked file to `destination/DIRS/NAME`: a rename on the same filesystem;
/// otherwise a copy (mode, times and — for root — owner kept) that is synced and verified by size and SHA-256
/// before the source — unchanged meanwhile — is removed. Never overwrites.
fn transfer(
    parent: &OwnedFd,
    name: &std::ffi::OsStr,
    meta: &FileMeta,
    destination: &Path,
    dirs: &[&std::ffi::OsStr],
) -> std::result::Result<PathBuf, Attempt> {
    let failed = |what: &str, e: rustix::io::Errno| Attempt::Failed(format!("{what}: {e}"));
    let base = rustix::fs::open(
        destination,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| failed("opening the destination", e))?;
    let target_dir = create_dirs(&base, dirs, 0o755).map_err(Attempt::Failed)?;
    let target: PathBuf = destination
        .join(dirs.iter().collect::<PathBuf>())
        .join(name);
    let same_filesystem = Some(device_of(
        &rustix::fs::fstat(&target_dir).map_err(|e| failed("destination", e))?,
    )) == meta.dev;
    if same_filesystem {
        rustix::fs::renameat_with(parent, name, &target_dir, name, RenameFlags::NOREPLACE)
            .map_err(|e| failed("renaming to the destination", e))?;
        return Ok(target);
    }
    let source = rustix::fs::openat(
        parent,
        name,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| failed("opening the source", e))?;
    let copy = rustix::fs::openat(
        &target_dir,
        name,
        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(meta.mode & 0o7777),
    )
    .map_err(|e| failed("creating the copy", e))?;
    let written = copy_hashing(&source, &copy).and_then(|digest| {
        rustix::fs::fsync(&copy).map_err(|e| format!("syncing the copy: {e}"))?;
        let times = |t: Option<Timestamp>| rustix::fs::Timespec {
            tv_sec: t.map_or(0, |t| t.secs),
            tv_nsec: t.map_or(rustix::fs::UTIME_OMIT, |t| i64::from(t.nanos)),
        };
        let stamps = rustix::fs::Timestamps {
            last_access: times(meta.atime),
            last_modification: times(meta.mtime),
        };
        rustix::fs::futimens(&copy, &stamps)
            .map_err(|e| format!("setting the copy's times: {e}"))?;
        // Only root may give a file away; anyone else keeps ownership of the copy.
        let uid = meta.uid.map(rustix::fs::Uid::from_raw);
        let gid = meta.gid.map(rustix::fs::Gid::from_raw);
        match rustix::fs::fchown(&copy, uid, gid) {
            Ok(()) | Err(rustix::io::Errno::PERM) => {}
            Err(e) => return Err(format!("setting the copy's owner: {e}")),
        }
        // chown clears set-id bits; put the mode back exactly.
        rustix::fs::fchmod(&copy, Mode::from_raw_mode(meta.mode & 0o7777))
            .map_err(|e| format!("setting the copy's mode: {e}"))?;
        let reread = rustix::fs::openat(
            &target_dir,
            name,
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| format!("re-reading the copy: {e}"))?;
        let (size, check) = hash_file(&reread)?;
        if (size, check) != (meta.size, digest) {
            return Err("the copy does not match the source (size or SHA-256)".to_string());
        }
        let now = rustix::fs::fstat(&source).map_err(|e| e.to_string())?;
        let now = meta_from_stat(&now);
        if now.size != meta.size || now.mtime.map(|t| t.secs) != meta.mtime.map(|t| t.secs) {
            return Err("the source changed while it was copied".to_string());
        }
        Ok(())
    });
    if let Err(why) = written {
        // Leave the source alone and take back the partial copy.
        let _ = rustix::fs::unlinkat(&target_dir, name, AtFlags::empty());
        return Err(Attempt::Failed(why));
    }
    rustix::fs::unlinkat(parent, name, AtFlags::empty())
        .map_err(|e| failed("removing the source after copying", e))?;
    Ok(target)
}

fn copy_hashing(source: &OwnedFd, copy: &OwnedFd) -> std::result::Result<[u8; 32], String> {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 256 * 1024];
    loop {
        let n = rustix::io::read(source, &mut buffer)
            .map_err(|e| format!("reading the source: {e}"))?;
        if n == 0 {
            return Ok(hasher.finalize().into());
        }
        hasher.update(&buffer[..n]);
        let mut chunk = &buffer[..n];
        while !chunk.is_empty() {
            let written =
                rustix::io::write(copy, chunk).map_err(|e| format!("writing the copy: {e}"))?;
            chunk = &chunk[written..];
        }
    }
}

fn hash_file(file: &OwnedFd) -> std::result::Result<(u64, [u8; 32]), String> {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 256 * 1024];
    let mut size = 0u64;
    loop {
        let n =
            rustix::io::read(file, &mut buffer).map_err(|e| format!("re-reading the copy: {e}"))?;
        if n == 0 {
            return Ok((size, hasher.finalize().into()));
        }
        size += n as u64;
        hasher.update(&buffer[..n]);
    }
}

/// Opens (creating as needed, with `mode`) each directory of `names` below `base`, without
/// following symlinks.
fn create_dirs(
    base: &OwnedFd,
    names: &[&std::ffi::OsStr],
    mode: u32,
) -> std::result::Result<OwnedFd, String> {
    let mut fd = rustix::io::dup(base).map_err(|e| e.to_string())?;
    for name in names {
        match rustix::fs::mkdirat(&fd, *name, Mode::from_raw_mode(mode)) {
            Ok(()) | Err(rustix::io::Errno::EXIST) => {}
            Err(e) => return Err(format!("creating {:?}: {e}", name)),
        }
        fd = rustix::fs::openat(&fd, *name, dir_flags(), Mode::empty())
            .map_err(|e| format!("opening {:?}: {e}", name))?;
    }
    Ok(fd)
}

/// `ROOT/.spectra-quarantine/PLAN_ID/DIRS…`, created as needed (0700), opened without links.
fn quarantine_parent(
    root_fd: &OwnedFd,
    plan_id: &str,
    dirs: &[&std::ffi::OsStr],
) -> std::result::Result<OwnedFd, String> {
    let mut names = vec![
        std::ffi::OsStr::new(QUARANTINE_DIR),
        std::ffi::OsStr::new(plan_id),
    ];
    names.extend_from_slice(dirs);
    create_dirs(root_fd, &names, 0o700).map_err(|e| format!("the quarantine: {e}"))
}

fn quarantine_dir(root: &Path, plan_id: &str) -> PathBuf {
    root.join(QUARANTINE_DIR).join(plan_id)
}

fn append_manifest(root: &Path, plan_id: &str, line: &str) -> std::result::Result<(), String> {
    use std::io::Write;
    let path = quarantine_dir(root, plan_id).join(MANIFEST);
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    writeln!(file, "{line}")
        .and_then(|()| file.sync_all())
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// Puts back every file a plan quarantined under `roots`, refusing to overwrite anything that
/// now stands at the original path. Returns the restored paths; records them in the audit log.
pub(super) fn restore(
    plan_id: &str,
    roots: &[PathBuf],
    options: &EnforceOptions,
) -> Result<Vec<PathBuf>> {
    let mut restored = Vec::new();
    let mut events = Vec::new();
    let mut found_any = false;
    let mut handled = 0u64;
    'roots: for root in roots {
        let dir = quarantine_dir(root, plan_id);
        let manifest = dir.join(MANIFEST);
        let Ok(text) = std::fs::read_to_string(&manifest) else {
            continue;
        };
        found_any = true;
        // Whether a quarantined file is still there (refused, failed, or not reached): then
        // the manifest stays, for another restore or a purge.
        let mut kept_any = false;
        for line in text.lines() {
            if options.hooks.cancel.is_cancelled() {
                break 'roots;
            }
            let entry: QuarantinedFile =
                serde_json::from_str(line).map_err(|e| Error::InvalidData {
                    what: format!("manifest {}", manifest.display()),
                    message: e.to_string(),
                })?;
            let stored = dir.join(&entry.stored_as);
            let parent = entry.original.parent().unwrap_or(root);
            std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
            let result = rustix::fs::renameat_with(
                CWD,
                &stored,
                CWD,
                &entry.original,
                RenameFlags::NOREPLACE,
            );
            let (outcome, done) = match result {
                Ok(()) => ("done".to_string(), true),
                Err(rustix::io::Errno::EXIST) => (
                    "refused: a file now stands at the original path".to_string(),
                    false,
                ),
                Err(rustix::io::Errno::NOENT) => ("already restored or purged".to_string(), false),
                Err(e) => (e.to_string(), false),
            };
            events.push(AuditEvent {
                at: Utc::now(),
                plan_id: plan_id.into(),
                policy: String::new(),
                who: options.who.clone(),
                on_behalf_of: options.on_behalf_of.clone(),
                action: "restore".into(),
                path: entry.original.display().to_string(),
                before: None,
                result: outcome,
                quarantine_path: Some(entry.stored_as.display().to_string()),
            });
            handled += 1;
            options
                .hooks
                .report("restore", handled, None, &entry.original);
            if done {
                restored.push(entry.original);
            }
            if std::fs::symlink_metadata(&stored).is_ok() {
                kept_any = true;
            }
        }
        if !kept_any {
            let _ = std::fs::remove_file(&manifest);
        }
        remove_emptied_directories(root, &dir);
    }
    if !found_any {
        return Err(Error::invalid(
            "plan id",
            format!("no quarantine for plan {plan_id} under the given roots"),
        ));
    }
    audit::append(&options.audit_log, &events)?;
    options.hooks.finish(restored, || {
        format!("restoring plan {plan_id} (after {handled} files, each in the audit log)")
    })
}

/// After a restore, removes the quarantine's directories that are now empty: those that held
/// the restored files, the plan's directory once its manifest is gone, and the quarantine base
/// when no other plan uses it. Only empty directories (`remove_dir` removes nothing else, and
/// symlinks are never followed). Best effort: what cannot be removed stays and harms nothing.
fn remove_emptied_directories(root: &Path, dir: &Path) {
    let mut directories = vec![dir.to_path_buf()];
    let mut index = 0;
    // Breadth first, without recursion; a quarantine deeper than this keeps its deepest
    // (empty) directories.
    while index < directories.len() && directories.len() < MAX_TIDY_DIRECTORIES {
        if let Ok(entries) = std::fs::read_dir(&directories[index]) {
            for entry in entries.flatten() {
                if entry.file_type().is_ok_and(|kind| kind.is_dir()) {
                    directories.push(entry.path());
                }
            }
        }
        index += 1;
    }
    for directory in directories.iter().rev() {
        let _ = std::fs::remove_dir(directory);
    }
    let _ = std::fs::remove_dir(root.join(QUARANTINE_DIR));
}

/// Most directories [`remove_emptied_directories`] looks at.
const MAX_TIDY_DIRECTORIES: usize = 100_000;

/// `st_dev`, whose type differs between Linux (`u64`) and macOS (`i32`).
#[allow(clippy::unnecessary_cast)]
fn device_of(st: &rustix::fs::Stat) -> u64 {
    st.st_dev as u64
}

/// The facts of an `fstatat`, as the walker takes them (the field types differ between
/// platforms, hence the casts).
#[allow(clippy::unnecessary_cast)]
fn meta_from_stat(st: &rustix::fs::Stat) -> FileMeta {
    let mode = st.st_mode as u32;
    let time = |secs: i64, nanos: i64| {
        Some(Timestamp {
            secs,
            nanos: u32::try_from(nanos).unwrap_or(0),
        })
    };
    FileMeta {
        kind: FileKind::from_mode(mode),
        mode,
        size: st.st_size as u64,
        disk_size: (st.st_blocks as u64).saturating_mul(512),
        mtime: time(st.st_mtime as i64, st.st_mtime_nsec as i64),
        atime: time(st.st_atime as i64, st.st_atime_nsec as i64),
        ctime: time(st.st_ctime as i64, st.st_ctime_nsec as i64),
        uid: Some(st.st_uid),
        gid: Some(st.st_gid),
        dev: Some(device_of(st)),
        ino: Some(st.st_ino as u64),
        nlink: Some(st.st_nlink as u64),
    }
}
