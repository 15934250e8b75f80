//! Enforcing delete plans on generated trees: quarantine, restore, the re-checks and refusals
//! of the safety rules, and the audit chain. Everything happens under temp dirs. Builds
//! without Unix calls refuse to enforce (`src/policy/tests.rs` checks that they say so).
#![cfg(spectra_safe_moves)]

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use spectra_core::ErrorCode;
use spectra_core::policy::{self, EnforceOptions, Plan, Policy, QUARANTINE_DIR, audit};

#[path = "support/skip.rs"]
mod skip;
use spectra_core::scan::{CancelToken, ScanControl, ScanOptions};

const OLD: Duration = Duration::from_secs(200 * 86_400);

fn old_log(path: &Path, bytes: &[u8]) {
    fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    fs::write(path, bytes).expect("write");
    fs::set_permissions(path, fs::Permissions::from_mode(0o640)).expect("chmod");
    fs::File::options()
        .write(true)
        .open(path)
        .expect("open")
        .set_modified(SystemTime::now() - OLD)
        .expect("age");
}

fn policy(limits: &str) -> policy::CompiledPolicy {
    let text = format!(
        r#"{{"name": "Cleanup Old Logs", "rules": ["extension == 'log'", "days_since_modified > 90"], "action": "DELETE"{limits}}}"#
    );
    Policy::from_json(&text)
        .expect("policy")
        .compile()
        .expect("compile")
}

fn plan_of(root: &Path, limits: &str) -> Plan {
    // Generous default limits for tests that are not about limits: these trees are tiny, so
    // a quarter of the scanned bytes would refuse almost any plan.
    let limits = if limits.is_empty() {
        r#", "limits": {"max_fraction": 1.0}"#
    } else {
        limits
    };
    policy::plan(&policy(limits), ScanOptions::new(root), ScanControl::new())
        .expect("plan")
        .0
}

fn options(dir: &Path) -> EnforceOptions {
    EnforceOptions::new("test", dir.join("audit.jsonl"))
}

struct Setup {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    state: PathBuf,
}

fn setup() -> Setup {
    let tmp = tempfile::tempdir().expect("tmp");
    let root = tmp.path().join("tree");
    let state = tmp.path().join("state");
    fs::create_dir_all(&state).expect("mkdir");
    old_log(&root.join("app/a.log"), b"alpha alpha");
    old_log(&root.join("app/deep/b.log"), b"bravo");
    fs::write(root.join("keep.txt"), vec![b'k'; 4000]).expect("write");
    Setup {
        _tmp: tmp,
        root,
        state,
    }
}

#[test]
fn quarantine_and_restore_round_trip_bytes_modes_and_times() {
    let s = setup();
    let before: Vec<(Vec<u8>, u32, i64)> = ["app/a.log", "app/deep/b.log"]
        .iter()
        .map(|p| {
            let path = s.root.join(p);
            let m = fs::metadata(&path).expect("stat");
            (fs::read(&path).expect("read"), m.mode(), m.mtime())
        })
        .collect();
    let plan = plan_of(&s.root, "");
    assert_eq!(plan.files.len(), 2);
    let outcome = policy::enforce(&plan, &options(&s.state)).expect("enforce");
    assert_eq!(outcome.quarantined.len(), 2, "{:?}", outcome.skipped);
    assert!(!s.root.join("app/a.log").exists() && !s.root.join("app/deep/b.log").exists());
    let stored = s
        .root
        .join(QUARANTINE_DIR)
        .join(&plan.id)
        .join("app/deep/b.log");
    assert_eq!(fs::read(&stored).expect("in quarantine"), b"bravo");
    assert!(
        s.root.join("keep.txt").exists(),
        "files the policy does not select stay"
    );
    assert!(
        plan_of(&s.root, "").files.is_empty(),
        "the quarantine is never planned again"
    );

    let restored = policy::restore(&plan.id, std::slice::from_ref(&s.root), &options(&s.state))
        .expect("restore");
    assert_eq!(restored.len(), 2);
    for (p, (bytes, mode, mtime)) in ["app/a.log", "app/deep/b.log"].iter().zip(before) {
        let path = s.root.join(p);
        let m = fs::metadata(&path).expect("restored");
        assert_eq!(
            (fs::read(&path).expect("read"), m.mode(), m.mtime()),
            (bytes, mode, mtime),
            "{p}"
        );
    }
    assert_eq!(
        audit::verify(&s.state.join("audit.jsonl")).expect("chain"),
        4,
        "2 quarantines + 2 restores"
    );
    assert!(
        !s.root.join(QUARANTINE_DIR).exists(),
        "an emptied quarantine leaves no directory or manifest behind"
    );
}

#[test]
fn a_refused_restore_keeps_its_file_and_manifest_until_a_later_restore_succeeds() {
    let s = setup();
    let plan = plan_of(&s.root, "");
    let outcome = policy::enforce(&plan, &options(&s.state)).expect("enforce");
    assert_eq!(outcome.quarantined.len(), 2, "{:?}", outcome.skipped);
    fs::write(s.root.join("app/a.log"), b"newcomer").expect("occupy the original path");
    let quarantine = s.root.join(QUARANTINE_DIR).join(&plan.id);

    let restored = policy::restore(&plan.id, std::slice::from_ref(&s.root), &options(&s.state))
        .expect("restore");
    assert_eq!(restored, vec![s.root.join("app/deep/b.log")]);
    assert_eq!(
        fs::read(quarantine.join("app/a.log")).expect("kept"),
        b"alpha alpha"
    );
    assert!(quarantine.join("manifest.jsonl").exists());
    assert!(
        !quarantine.join("app/deep").exists(),
        "only the emptied directories go"
    );
    assert_eq!(
        fs::read(s.root.join("app/a.log")).expect("untouched"),
        b"newcomer"
    );

    fs::remove_file(s.root.join("app/a.log")).expect("make way");
    let restored = policy::restore(&plan.id, std::slice::from_ref(&s.root), &options(&s.state))
        .expect("restore again");
    assert_eq!(restored, vec![s.root.join("app/a.log")]);
    assert_eq!(
        fs::read(s.root.join("app/a.log")).expect("back"),
        b"alpha alpha"
    );
    assert!(!s.root.join(QUARANTINE_DIR).exists());
}

#[test]
fn a_file_changed_after_planning_is_skipped() {
    let s = setup();
    let plan = plan_of(&s.root, "");
    fs::write(s.root.join("app/a.log"), b"rewritten since the plan").expect("write");
    let outcome = policy::enforce(&plan, &options(&s.state)).expect("enforce");
    assert_eq!(outcome.quarantined.len(), 1);
    assert_eq!(outcome.skipped.len(), 1);
    assert!(
        outcome.skipped[0]
            .reason
            .contains("modified since the plan"),
        "{:?}",
        outcome.skipped
    );
    assert_eq!(
        fs::read(s.root.join("app/a.log")).expect("still there"),
        b"rewritten since the plan"
    );
}

#[test]
fn a_directory_swapped_for_a_symlink_is_never_followed() {
    let s = setup();
    let outside = s.state.join("outside");
    old_log(&outside.join("deep/b.log"), b"bravo");
    let plan = plan_of(&s.root, "");
    // After planning, app/ is replaced by a link to a look-alike tree outside the root.
    fs::rename(s.root.join("app"), s.root.join("app.moved")).expect("move away");
    std::os::unix::fs::symlink(&outside, s.root.join("app")).expect("symlink");
    let outcome = policy::enforce(&plan, &options(&s.state)).expect("enforce");
    assert!(outcome.quarantined.is_empty(), "{:?}", outcome.quarantined);
    assert!(
        outcome
            .skipped
            .iter()
            .all(|k| k.reason.contains("without following links")),
        "{:?}",
        outcome.skipped
    );
    assert_eq!(
        fs::read(outside.join("deep/b.log")).expect("untouched"),
        b"bravo"
    );
}

#[test]
fn limits_refuse_an_oversize_plan_unless_overridden() {
    let s = setup();
    let plan = plan_of(
        &s.root,
        r#", "limits": {"max_files": 1, "max_fraction": 1.0}"#,
    );
    let err = policy::enforce(&plan, &options(&s.state)).expect_err("over max_files");
    assert_eq!(err.code(), ErrorCode::InvalidInput);
    assert!(err.to_string().contains("2 files > max_files 1"), "{err}");
    assert!(
        s.root.join("app/a.log").exists(),
        "a refused plan touches nothing"
    );
    let fraction = plan_of(&s.root, r#", "limits": {"max_fraction": 0.0001}"#);
    assert!(
        policy::enforce(&fraction, &options(&s.state))
            .expect_err("over fraction")
            .to_string()
            .contains("max_fraction")
    );
    let forced = EnforceOptions {
        override_limits: true,
        ..options(&s.state)
    };
    assert_eq!(
        policy::enforce(&plan, &forced)
            .expect("override")
            .quarantined
            .len(),
        2
    );
}

#[test]
fn partial_altered_and_hard_linked_plans_are_refused_or_skipped() {
    let s = setup();
    let token = CancelToken::new();
    token.cancel();
    let (partial, _) = policy::plan(
        &policy(""),
        ScanOptions::new(&s.root),
        ScanControl::new().cancel_with(token),
    )
    .expect("plan");
    assert!(partial.scan_partial);
    assert!(
        policy::enforce(&partial, &options(&s.state))
            .expect_err("partial")
            .to_string()
            .contains("partial scan")
    );

    let mut expired = plan_of(&s.root, "");
    expired.created_at -= chrono::Duration::hours(25);
    let store = policy::PlanStore::new(s.state.join("plans"));
    assert!(store.save(&expired).is_ok());
    assert_eq!(
        store
            .load(&expired.id)
            .expect_err("id no longer matches")
            .code(),
        ErrorCode::InvalidData
    );
    let fresh = plan_of(&s.root, "");
    store.save(&fresh).expect("save");
    assert_eq!(store.load(&fresh.id).expect("load"), fresh);
    assert_eq!(
        store
            .load("../../etc/passwd")
            .expect_err("not an id")
            .code(),
        ErrorCode::InvalidInput
    );
    let stale = EnforceOptions {
        max_plan_age: chrono::Duration::zero(),
        ..options(&s.state)
    };
    std::thread::sleep(Duration::from_millis(20));
    assert!(
        policy::enforce(&fresh, &stale)
            .expect_err("expired")
            .to_string()
            .contains("expired")
    );

    let mut altered = plan_of(&s.root, "");
    altered.files[0].size += 1;
    assert_eq!(
        policy::enforce(&altered, &options(&s.state))
            .expect_err("altered")
            .code(),
        ErrorCode::InvalidData
    );

    fs::hard_link(s.root.join("app/a.log"), s.state.join("second-name.log")).expect("link");
    let plan = plan_of(&s.root, "");
    let outcome = policy::enforce(&plan, &options(&s.state)).expect("enforce");
    assert!(
        outcome
            .skipped
            .iter()
            .any(|k| k.reason.contains("hard links")),
        "{:?}",
        outcome.skipped
    );
    assert!(s.root.join("app/a.log").exists());
}

#[test]
fn a_tampered_audit_log_fails_verification() {
    let s = setup();
    let plan = plan_of(&s.root, "");
    policy::enforce(&plan, &options(&s.state)).expect("enforce");
    let log = s.state.join("audit.jsonl");
    assert_eq!(audit::verify(&log).expect("intact"), 2);
    let text = fs::read_to_string(&log).expect("read");
    fs::write(&log, text.replacen("\"done\"", "\"skipped\"", 1)).expect("tamper");
    let err = audit::verify(&log).expect_err("tampered");
    assert!(
        err.to_string().contains("record 1") && err.to_string().contains("changed"),
        "{err}"
    );
    let lines: Vec<&str> = text.lines().collect();
    fs::write(&log, format!("{}\n", lines[1])).expect("drop the first record");
    assert!(
        audit::verify(&log)
            .expect_err("missing")
            .to_string()
            .contains("missing or out of order")
    );
}

#[test]
fn purge_deletes_old_quarantines_for_good_and_only_them() {
    let s = setup();
    let plan = plan_of(&s.root, "");
    policy::enforce(&plan, &options(&s.state)).expect("enforce");
    let quarantine = s.root.join(QUARANTINE_DIR).join(&plan.id);
    assert!(quarantine.is_dir());
    let young = policy::purge(
        std::slice::from_ref(&s.root),
        Duration::from_secs(14 * 86_400),
        None,
        &options(&s.state),
    )
    .expect("purge");
    assert!(young.is_empty(), "a fresh quarantine is kept");
    // Something that is not a plan's quarantine is never touched.
    let stranger = s.root.join(QUARANTINE_DIR).join("not-a-plan");
    fs::create_dir_all(&stranger).expect("mkdir");
    fs::write(stranger.join("manifest.jsonl"), b"").expect("write");
    let purged = policy::purge(
        std::slice::from_ref(&s.root),
        Duration::ZERO,
        None,
        &options(&s.state),
    )
    .expect("purge");
    assert_eq!(purged, std::slice::from_ref(&plan.id));
    assert!(!quarantine.exists() && stranger.exists());
    assert!(
        policy::restore(&plan.id, std::slice::from_ref(&s.root), &options(&s.state)).is_err(),
        "purged is gone"
    );
    assert_eq!(
        audit::verify(&s.state.join("audit.jsonl")).expect("chain"),
        3
    );
}

#[test]
fn symlinks_are_never_planned_and_scope_limits_enforcement() {
    let s = setup();
    let outside = s.state.join("outside");
    old_log(&outside.join("target.log"), b"precious");
    std::os::unix::fs::symlink(outside.join("target.log"), s.root.join("link.log"))
        .expect("symlink");
    let plan = plan_of(&s.root, "");
    assert!(
        plan.files
            .iter()
            .all(|f| !f.path.to_string().ends_with("link.log")),
        "a symlink is not a target"
    );
    policy::enforce(&plan, &options(&s.state)).expect("enforce");
    assert_eq!(
        fs::read(outside.join("target.log")).expect("untouched"),
        b"precious"
    );
    assert!(fs::symlink_metadata(s.root.join("link.log")).is_ok());

    let s = setup();
    let scoped = format!(
        r#", "limits": {{"max_fraction": 1.0}}, "scope": ["{}"]"#,
        s.root.join("app/deep").display()
    );
    let plan = plan_of(&s.root, &scoped);
    assert_eq!(
        plan.files.len(),
        1,
        "the dry run lists only what the real run may touch"
    );
    let outcome = policy::enforce(&plan, &options(&s.state)).expect("enforce");
    assert_eq!(outcome.quarantined.len(), 1);
    assert!(outcome.skipped.is_empty());
    assert!(s.root.join("app/a.log").exists());
}

fn archive_plan(root: &Path, destination: &Path) -> Plan {
    let text = format!(
        r#"{{"name": "archive logs", "rules": ["extension == 'log'", "days_since_modified > 90"], "action": {{"type": "archive", "destination": "{}"}}, "limits": {{"max_fraction": 1.0}}}}"#,
        destination.display()
    );
    let compiled = Policy::from_json(&text)
        .expect("policy")
        .compile()
        .expect("compile");
    policy::plan(&compiled, ScanOptions::new(root), ScanControl::new())
        .expect("plan")
        .0
}

fn assert_archived(s: &Setup, destination: &Path) {
    for (rel, bytes) in [
        ("app/a.log", &b"alpha alpha"[..]),
        ("app/deep/b.log", b"bravo"),
    ] {
        assert!(!s.root.join(rel).exists(), "{rel} left its place");
        let moved = destination.join(rel);
        assert_eq!(fs::read(&moved).expect("archived"), bytes, "{rel}");
        let m = fs::metadata(&moved).expect("stat");
        assert_eq!(m.mode() & 0o7777, 0o640, "mode kept");
        let age = SystemTime::now()
            .duration_since(m.modified().expect("mtime"))
            .expect("past");
        assert!(age > Duration::from_secs(199 * 86_400), "mtime kept");
    }
}

#[test]
fn archive_renames_on_the_same_filesystem() {
    let s = setup();
    let destination = s.state.join("archive");
    fs::create_dir(&destination).expect("mkdir");
    let outcome =
        policy::enforce(&archive_plan(&s.root, &destination), &options(&s.state)).expect("enforce");
    assert_eq!(outcome.quarantined.len(), 2, "{:?}", outcome.skipped);
    assert_archived(&s, &destination);
    assert!(
        !s.root.join(QUARANTINE_DIR).exists(),
        "archive does not use the quarantine"
    );
    let missing = archive_plan(&s.root, &s.state.join("nowhere"));
    assert!(
        policy::enforce(&missing, &options(&s.state))
            .expect_err("no destination")
            .to_string()
            .contains("not an existing directory")
    );
}

/// Unmounts on drop, so a failed assertion never leaves a mount behind.
struct Mounted(PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn archive_copies_verifies_and_removes_across_filesystems() {
    if !rustix::process::geteuid().is_root() {
        skip::skipped(
            "archive across filesystems",
            "mounting a second filesystem needs root",
        );
        return;
    }
    let s = setup();
    let destination = s.state.join("other-fs");
    fs::create_dir(&destination).expect("mkdir");
    let status = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=4m", "spectra-archive-test"])
        .arg(&destination)
        .status()
        .expect("mount");
    assert!(status.success(), "root could not mount a tmpfs");
    let _mounted = Mounted(destination.clone());
    std::os::unix::fs::chown(s.root.join("app/a.log"), Some(65534), Some(65534))
        .expect("chown to nobody");
    assert_ne!(
        fs::metadata(&destination).expect("stat").dev(),
        fs::metadata(&s.root).expect("stat").dev()
    );
    let outcome =
        policy::enforce(&archive_plan(&s.root, &destination), &options(&s.state)).expect("enforce");
    assert_eq!(outcome.quarantined.len(), 2, "{:?}", outcome.skipped);
    assert_archived(&s, &destination);
    let owner = fs::metadata(destination.join("app/a.log")).expect("stat");
    assert_eq!(
        (owner.uid(), owner.gid()),
        (65534, 65534),
        "root's copy keeps the owner"
    );
    assert_eq!(
        audit::verify(&s.state.join("audit.jsonl")).expect("chain"),
        2
    );
}

/// Mount options come from Linux's mount table: the portable backend (macOS, Windows) has
/// none, and trusts every access time (README, "Platforms").
#[cfg(spectra_native)]
#[test]
fn access_times_on_noatime_mounts_are_unknown_to_rules() {
    if !rustix::process::geteuid().is_root() {
        skip::skipped("noatime access times", "mounting needs root");
        return;
    }
    let tmp = tempfile::tempdir().expect("tmp");
    let normal = tmp.path().join("normal");
    let frozen = tmp.path().join("frozen");
    for dir in [&normal, &frozen] {
        fs::create_dir(dir).expect("mkdir");
    }
    let status = std::process::Command::new("mount")
        .args([
            "-t",
            "tmpfs",
            "-o",
            "size=1m,noatime",
            "spectra-noatime-test",
        ])
        .arg(&frozen)
        .status()
        .expect("mount");
    assert!(status.success(), "root could not mount a tmpfs");
    let _mounted = Mounted(frozen.clone());
    let long_ago = SystemTime::now() - OLD;
    for dir in [&normal, &frozen] {
        let file = dir.join("data.bin");
        fs::write(&file, b"x").expect("write");
        fs::File::options()
            .write(true)
            .open(&file)
            .expect("open")
            .set_times(
                fs::FileTimes::new()
                    .set_accessed(long_ago)
                    .set_modified(long_ago),
            )
            .expect("age");
    }
    let compiled = Policy::from_json(
        r#"{"name": "unread", "rules": ["days_since_accessed > 90"], "action": "report"}"#,
    )
    .expect("policy")
    .compile()
    .expect("compile");
    let planned = |root: &Path| {
        policy::plan(&compiled, ScanOptions::new(root), ScanControl::new())
            .expect("plan")
            .0
            .files
            .len()
    };
    assert_eq!(planned(&normal), 1, "a real access time counts");
    assert_eq!(
        planned(&frozen),
        0,
        "a noatime mount's access time is unknown, so never matches"
    );
}

/// The workflow every frontend calls: plan and save on a `StateDir`, enforce the saved plan
/// with progress, restore it, and a cancelled run that stops early and says so.
#[test]
fn the_state_dir_workflow_plans_enforces_restores_and_cancels() {
    use std::sync::{Arc, Mutex};

    use spectra_core::policy::{ActionHooks, ActionProgress, StateDir};

    let tmp = tempfile::tempdir().expect("tmp");
    let s = Setup {
        root: tmp.path().join("tree"),
        state: tmp.path().join("state"),
        _tmp: tmp,
    };
    for i in 0..5 {
        old_log(&s.root.join(format!("logs/{i}.log")), b"old log line\n");
    }
    let state = StateDir::resolve(Some(s.state.clone()));
    let policy = Policy::from_json(
        r#"{"name": "Cleanup Old Logs", "rules": ["extension == 'log'", "days_since_modified > 90"],
            "action": "delete", "limits": {"max_fraction": 1.0}}"#,
    )
    .expect("policy");
    let saved = state
        .plan(
            &policy,
            ScanOptions::for_policy([&s.root]),
            ScanControl::new(),
        )
        .expect("plan");
    assert!(saved.report.totals.files >= 5 && saved.saved_as.is_file());
    assert_eq!(saved.plan.files.len(), 5);
    assert!(
        ScanOptions::for_policy([&s.root]).one_file_system,
        "plans stay on one filesystem, as enforcement does"
    );

    let seen: Arc<Mutex<Vec<ActionProgress>>> = Arc::default();
    let record = Arc::clone(&seen);
    let hooks = ActionHooks {
        progress: Some(Arc::new(move |p: &ActionProgress| {
            record.lock().expect("lock").push(p.clone());
        })),
        ..ActionHooks::default()
    };
    let (plan, outcome) = state
        .enforce(&saved.plan.id, false, hooks)
        .expect("enforce");
    assert_eq!(outcome.quarantined.len(), 5);
    let progress = seen.lock().expect("lock").clone();
    assert_eq!(
        progress.iter().map(|p| p.handled).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5]
    );
    assert!(
        progress
            .iter()
            .all(|p| p.action == "enforce" && p.total == Some(5))
    );

    let restored = state
        .restore(&plan.id, ActionHooks::default())
        .expect("restore");
    assert_eq!(restored.len(), 5);
    assert!(s.root.join("logs/0.log").is_file());

    // Cancelled after the second file: two are done (and audited), the call says cancelled.
    let again = state
        .plan(
            &policy,
            ScanOptions::for_policy([&s.root]),
            ScanControl::new(),
        )
        .expect("plan again");
    let cancel = CancelToken::new();
    let stop = cancel.clone();
    let hooks = ActionHooks {
        cancel,
        progress: Some(Arc::new(move |p: &ActionProgress| {
            if p.handled == 2 {
                stop.cancel();
            }
        })),
    };
    let err = state
        .enforce(&again.plan.id, false, hooks)
        .expect_err("cancelled");
    assert_eq!(err.code(), ErrorCode::Cancelled);
    assert!(err.to_string().contains("after 2 of 5 files"), "{err}");
    let left = (0..5)
        .filter(|i| s.root.join(format!("logs/{i}.log")).exists())
        .count();
    assert_eq!(
        left, 3,
        "exactly the two handled before the cancel were quarantined"
    );
    let records = audit::verify(&state.audit_log()).expect("audit chain");
    assert_eq!(
        records,
        5 + 5 + 2,
        "enforce, restore, and the two of the cancelled run"
    );

    let held = state.quarantines(&[]).expect("quarantines");
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!(
        (held[0].plan_id.as_str(), held[0].files),
        (again.plan.id.as_str(), 2)
    );
    assert_eq!(held[0].bytes, 2 * b"old log line\n".len() as u64);

    // A plan altered on disk and a file that is no plan are listed as unreadable, with why,
    // beside the plans that are fine.
    let plans_dir = s.state.join("plans");
    let altered = fs::read_to_string(&saved.saved_as)
        .expect("plan")
        .replace("Cleanup Old Logs", "Cleanup Everything");
    fs::write(&saved.saved_as, altered).expect("alter");
    fs::write(plans_dir.join("notes.json"), b"{").expect("write");
    let listing = state.plans().list().expect("list");
    assert_eq!(
        listing
            .plans
            .iter()
            .map(|p| p.id.as_str())
            .collect::<Vec<_>>(),
        [again.plan.id.as_str()]
    );
    assert_eq!(listing.plans[0].files, 5);
    assert_eq!(listing.unreadable.len(), 2, "{:?}", listing.unreadable);
    assert!(
        listing
            .unreadable
            .iter()
            .any(|u| u.path == saved.saved_as && u.reason.contains("altered")),
        "{:?}",
        listing.unreadable
    );

    let purged = state
        .purge_plan(&again.plan.id, ActionHooks::default())
        .expect("purge");
    assert_eq!(purged, std::slice::from_ref(&again.plan.id));
    assert!(state.quarantines(&[]).expect("quarantines").is_empty());
}
