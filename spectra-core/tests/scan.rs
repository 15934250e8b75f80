//! The scanner against real trees: generated ones with a known truth, `du`, and the hard cases
//! real trees contain.

mod support;

use std::collections::BTreeSet;
use std::fs;
use std::ops::ControlFlow;
use std::os::unix::ffi::OsStrExt;
#[cfg(spectra_unix)]
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use proptest::prelude::*;
use spectra_core::scan::{
    CancelToken, Entry, FileKind, ScanControl, ScanOptions, ScanReport, Scanner, SizeMode, Visitor,
};
use spectra_core::{ErrorCode, RawPath};
use support::{Tree, du, is_root, truth};

fn scan(options: ScanOptions) -> ScanReport {
    Scanner::new(options)
        .expect("valid options")
        .scan()
        .expect("scan")
}

fn assert_matches_truth(report: &ScanReport, root: &Path) {
    let t = truth(root);
    let got = &report.totals;
    assert_eq!(
        (
            got.apparent_bytes,
            got.disk_bytes,
            got.files,
            got.dirs,
            got.symlinks,
            got.others
        ),
        (
            t.apparent_bytes,
            t.disk_bytes,
            t.files,
            t.dirs,
            t.symlinks,
            t.others
        ),
        "report totals differ from the std::fs truth for {}",
        root.display()
    );
    assert_eq!(got.hard_links_skipped, t.hard_links_skipped);
}

fn sample_tree() -> Tree {
    let tree = Tree::new();
    tree.file("a.log", 1000);
    tree.file("b.LOG", 3000);
    tree.file("docs/readme.md", 120);
    tree.file("docs/big.bin", 70_000);
    tree.file("docs/deep/er/leaf.txt", 5);
    tree.file(".hidden", 10);
    tree.dir("empty");
    tree.hard_link("docs/big.bin", "big-again.bin");
    tree.symlink("docs/big.bin", "link-to-big");
    tree.symlink("/nonexistent/target", "dangling");
    tree
}

#[test]
fn a_generated_tree_matches_the_truth_and_du() {
    let tree = sample_tree();
    let report = scan(ScanOptions::new(tree.root()));
    assert_matches_truth(&report, tree.root());
    assert_eq!(report.totals.files, if support::NO_UNIX { 7 } else { 6 });
    assert_eq!(report.totals.symlinks, 2);
    assert_eq!(
        report.totals.hard_links_skipped,
        if support::NO_UNIX { 0 } else { 1 }
    );
    assert_eq!(report.disk_bytes_are_apparent, support::NO_UNIX);
    assert_eq!(report.totals.apparent_bytes, du("-b", tree.root()));
    assert_eq!(report.totals.disk_bytes, du("-B1", tree.root()));
    assert!(!report.partial && !report.cancelled);
    assert_eq!(report.errors.count, 0);
}

/// Unix only: it ranks a hard-linked file once, by inode.
#[cfg(spectra_unix)]
#[test]
fn the_report_ranks_files_directories_extensions_and_owners() {
    let tree = sample_tree();
    let report = scan(
        ScanOptions::new(tree.root())
            .with_size_mode(SizeMode::Apparent)
            .with_top(3),
    );
    let largest: Vec<(PathBuf, u64)> = report
        .largest_files
        .iter()
        .map(|f| (f.path.as_path().to_path_buf(), f.apparent_bytes))
        .collect();
    // The hard link is counted once: whichever name was seen first, 70_000 appears once.
    assert_eq!(largest.len(), 3);
    assert_eq!(largest[0].1, 70_000);
    assert_eq!(largest[1], (tree.path("b.LOG"), 3000));
    assert_eq!(largest[2], (tree.path("a.log"), 1000));

    let dirs: Vec<PathBuf> = report
        .largest_dirs
        .iter()
        .map(|d| d.path.as_path().to_path_buf())
        .collect();
    assert_eq!(dirs[0], tree.root());
    assert_eq!(
        report.largest_dirs[0].apparent_bytes,
        report.totals.apparent_bytes
    );
    assert_eq!(dirs[1], tree.path("docs"));
    // A hard-linked file's bytes belong to the directory where it was seen first (as in du).
    let big_counted_in_docs = largest[0].0 == tree.path("docs/big.bin");
    let docs =
        truth(&tree.path("docs")).apparent_bytes - if big_counted_in_docs { 0 } else { 70_000 };
    assert_eq!(report.largest_dirs[1].apparent_bytes, docs);

    let ext = |name: &str| {
        report
            .extensions
            .iter()
            .find(|e| e.name == name)
            .map(|e| (e.count, e.bytes))
    };
    assert_eq!(
        ext("log"),
        Some((2, 4000)),
        "extensions are grouped case-insensitively"
    );
    assert_eq!(ext(""), Some((1, 10)), ".hidden has no extension");
    let ext_total: u64 =
        report.extensions.iter().map(|e| e.count).sum::<u64>() + report.other_extensions.count;
    assert_eq!(ext_total, report.totals.files);

    let owner_bytes: u64 = report.owners.iter().map(|o| o.bytes).sum();
    assert_eq!(
        owner_bytes, report.totals.apparent_bytes,
        "owners account for every counted byte"
    );
    let me = fs::metadata(tree.root()).expect("stat").uid();
    assert!(
        report
            .owners
            .iter()
            .any(|o| o.uid == Some(me) && o.user.is_some())
    );

    let aged: u64 = report.age_by_mtime.iter().map(|b| b.count).sum();
    assert_eq!(aged, report.totals.files);
    assert_eq!(report.age_by_mtime[0].label, "<1d");
    assert_eq!(
        report.age_by_mtime[0].count, report.totals.files,
        "every file was just written"
    );
}

#[test]
fn hard_links_can_be_counted_every_time() {
    let tree = sample_tree();
    let mut options = ScanOptions::new(tree.root()).with_size_mode(SizeMode::Apparent);
    options.count_hard_links_once = false;
    let report = scan(options);
    assert_eq!(report.totals.hard_links_skipped, 0);
    assert_eq!(report.totals.files, 7);
    // Where links are never matched (NO_UNIX) the truth already counts every link.
    let once = truth(tree.root());
    let second_link = if support::NO_UNIX { 0 } else { 70_000 };
    assert_eq!(
        report.totals.apparent_bytes,
        once.apparent_bytes + second_link
    );
}

#[test]
fn a_real_system_directory_agrees_with_du() {
    let dir = Path::new("/usr/share");
    let report = scan(ScanOptions::new(dir));
    assert!(
        report.totals.files > 1000,
        "expected a populated {}",
        dir.display()
    );
    assert_eq!(
        report.totals.apparent_bytes,
        du("-b", dir),
        "apparent bytes vs du -sb"
    );
    assert_eq!(
        report.totals.disk_bytes,
        du("-B1", dir),
        "disk bytes vs du -sB1"
    );
}

#[test]
fn symlinks_are_not_followed_unless_asked_and_loops_end() {
    let tree = Tree::new();
    tree.file("real/data.bin", 4096);
    let outside = Tree::new();
    outside.file("elsewhere.bin", 50_000);
    tree.symlink(outside.root(), "to-outside");
    tree.symlink(tree.path("real"), "real/loop");
    tree.symlink("..", "real/up");

    let plain = scan(ScanOptions::new(tree.root()).with_size_mode(SizeMode::Apparent));
    assert_matches_truth(&plain, tree.root());
    assert!(
        plain
            .largest_files
            .iter()
            .all(|f| f.apparent_bytes != 50_000)
    );

    let follow = ScanOptions::new(tree.root())
        .with_follow_symlinks(true)
        .with_size_mode(SizeMode::Apparent);
    if support::NO_UNIX {
        let refused = Scanner::new(follow).expect_err("no identity to detect loops with");
        assert_eq!(refused.code(), ErrorCode::Unsupported, "{refused}");
        return;
    }
    let followed = scan(follow);
    assert!(
        followed
            .largest_files
            .iter()
            .any(|f| f.apparent_bytes == 50_000),
        "target outside is measured"
    );
    assert!(
        followed.revisits_skipped >= 2,
        "both loops are cut: {}",
        followed.revisits_skipped
    );
    assert_eq!(followed.totals.files, 2);
    assert_eq!(followed.errors.count, 0);
}

#[test]
fn excludes_and_max_depth_prune_the_walk() {
    let tree = sample_tree();
    tree.file("node_modules/pkg/index.js", 9999);
    tree.file("build/x/y/obj.o", 777);
    tree.file("src/build/keep.o", 1);
    let report = scan(
        ScanOptions::new(tree.root())
            .with_exclude("node_modules")
            .with_exclude("build/**/*.o")
            .with_exclude("*.md")
            .with_size_mode(SizeMode::Apparent),
    );
    assert_eq!(report.excluded, 3);
    let paths: Vec<String> = report
        .largest_files
        .iter()
        .map(|f| f.path.to_string())
        .collect();
    assert!(
        paths
            .iter()
            .all(|p| !p.contains("node_modules") && !p.ends_with("obj.o")),
        "{paths:?}"
    );
    assert!(
        report
            .extensions
            .iter()
            .all(|e| e.name != "md" && e.name != "js")
    );
    assert!(
        report
            .extensions
            .iter()
            .any(|e| e.name == "o" && e.count == 1),
        "src/build/keep.o stays"
    );

    let shallow = scan(ScanOptions::new(tree.root()).with_max_depth(1));
    // Depth 1: the root's own entries, nothing below them.
    let top_level = fs::read_dir(tree.root()).expect("read_dir").count() as u64;
    let t = &shallow.totals;
    assert_eq!(
        t.files + t.dirs + t.symlinks + t.others + t.hard_links_skipped,
        top_level + 1
    );
}

#[test]
fn bad_options_and_missing_roots_are_clear_errors() {
    let missing = Scanner::new(ScanOptions::new("/definitely/not/here"))
        .expect("valid")
        .scan();
    let err = missing.expect_err("a missing root is fatal");
    assert_eq!(err.code(), ErrorCode::NotFound);
    assert!(err.to_string().contains("/definitely/not/here"), "{err}");
    let glob = Scanner::new(ScanOptions::new("/").with_exclude("a[")).expect_err("bad glob");
    assert_eq!(glob.code(), ErrorCode::InvalidPattern);
    assert!(glob.to_string().contains("a["), "{glob}");
}

#[test]
fn a_file_root_is_reported_as_itself() {
    let tree = sample_tree();
    let report =
        scan(ScanOptions::new(tree.path("docs/big.bin")).with_size_mode(SizeMode::Apparent));
    assert_eq!(report.totals.files, 1);
    assert_eq!(report.totals.apparent_bytes, 70_000);
    assert_eq!(
        report.largest_files[0].path.as_path(),
        tree.path("docs/big.bin")
    );
    assert!(report.largest_dirs.is_empty());
}

/// Unix only: hard links are matched by inode, which Windows builds do not have.
#[cfg(spectra_unix)]
#[test]
fn several_roots_share_hard_link_accounting() {
    let tree = sample_tree();
    let report = scan(
        ScanOptions::new(tree.path("docs"))
            .with_root(tree.root())
            .with_size_mode(SizeMode::Apparent),
    );
    // docs is inside the root, so everything in docs is seen twice; hard-link dedup only
    // applies to multiply-linked files, so files in docs are counted twice except big.bin.
    assert_eq!(report.roots.len(), 2);
    assert_eq!(
        report
            .largest_files
            .iter()
            .filter(|f| f.apparent_bytes == 70_000)
            .count(),
        1
    );
}

/// Unix only: only Unix names are bytes.
#[cfg(spectra_unix)]
#[test]
fn non_utf8_names_survive_losslessly() {
    let tree = Tree::new();
    let name = std::ffi::OsStr::from_bytes(b"bad-\xff\xfe.bin");
    fs::write(tree.root().join(name), vec![0u8; 4321]).expect("write");
    let report = scan(ScanOptions::new(tree.root()).with_size_mode(SizeMode::Apparent));
    let file = &report.largest_files[0];
    assert_eq!(file.path.as_path(), tree.root().join(name));
    assert!(file.path.to_string().contains("bad-\u{fffd}\u{fffd}.bin"));
    let json = serde_json::to_string(&report).expect("serialize");
    let back: ScanReport = serde_json::from_str(&json).expect("deserialize");
    assert_eq!(back.largest_files[0].path.as_bytes(), file.path.as_bytes());
    assert_eq!(back, report);
}

/// Unix only: Windows has no fifos or sockets in its filesystems.
#[cfg(spectra_unix)]
#[test]
fn special_files_are_counted_as_others_and_never_opened() {
    let tree = Tree::new();
    let fifo = tree.path("pipe");
    let status = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(status.success());
    let _socket = std::os::unix::net::UnixListener::bind(tree.path("sock")).expect("bind");
    let report = scan(ScanOptions::new(tree.root()));
    assert_eq!(report.totals.others, 2);
    assert_matches_truth(&report, tree.root());
}

/// Builds `root/d/d/.../d/leaf` with `levels` directories, using directory descriptors, since
/// the full path is far longer than PATH_MAX.
fn build_deep_chain(root: &Path, levels: usize) {
    use rustix::fs::{Mode, OFlags, mkdirat, openat};
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let mut fd = openat(rustix::fs::CWD, root, flags, Mode::empty()).expect("open root");
    for _ in 0..levels {
        mkdirat(&fd, "d", Mode::from_raw_mode(0o755)).expect("mkdirat");
        fd = openat(&fd, "d", flags, Mode::empty()).expect("openat");
    }
    let leaf = openat(
        &fd,
        "leaf",
        OFlags::WRONLY | OFlags::CREATE | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o644),
    )
    .expect("create leaf");
    rustix::io::write(&leaf, b"hello").expect("write leaf");
}

/// Removes the chain built above with short paths only: lift `d/d` to the top, drop the
/// emptied `d`, repeat.
fn remove_deep_chain(root: &Path) {
    let top = root.join("d");
    let lifted = root.join("lifted");
    while top.join("d").exists() {
        fs::rename(top.join("d"), &lifted).expect("lift");
        fs::remove_dir(&top).expect("rmdir");
        fs::rename(&lifted, &top).expect("rename back");
    }
    fs::remove_file(top.join("leaf")).expect("rm leaf");
    fs::remove_dir(&top).expect("rmdir last");
}

#[test]
fn a_tree_ten_thousand_levels_deep_is_walked_without_overflow() {
    let tree = Tree::new();
    let levels = 10_000;
    build_deep_chain(tree.root(), levels);
    let report = scan(
        ScanOptions::new(tree.root())
            .with_size_mode(SizeMode::Apparent)
            .with_top(2),
    );
    let outcome = (report.totals.dirs, report.totals.files, report.errors.count);
    remove_deep_chain(tree.root());
    if report.backend == spectra_core::Backend::Portable {
        // The portable walker opens directories by path (README, "Platforms"): below the
        // path limit it reports one positioned error and a partial report, never a crash.
        let (dirs, files, errors) = outcome;
        assert!(
            dirs > 1000 && dirs <= levels as u64 && files == 0,
            "{outcome:?}"
        );
        assert_eq!(errors, 1);
        assert!(report.partial);
        let error = report.errors.sample.first().expect("sampled");
        assert!(error.message.contains("too long"), "{error:?}");
        return;
    }
    assert_eq!(
        outcome,
        (levels as u64 + 1, 1, 0),
        "errors: {:?}",
        report.errors.sample.first()
    );
    let leaf = &report.largest_files[0];
    assert!(
        leaf.path.as_bytes().len() > 2 * levels,
        "the full path is kept, beyond PATH_MAX"
    );
    assert!(leaf.path.as_bytes().ends_with(b"/d/d/leaf"));
}

#[test]
fn files_vanishing_mid_scan_are_not_errors() {
    // The race is real, so its outcome varies: each attempt deletes the tree while it is
    // scanned, and some attempt must catch files between listing and stat (`vanished`), none
    // of which may ever count as an error or as a file.
    const FILES: u64 = 4000;
    let mut vanished_seen = 0;
    for _attempt in 0..50 {
        let tree = Tree::new();
        for d in 0..40 {
            for f in 0..100 {
                tree.file(format!("d{d}/f{f}"), 10);
            }
        }
        let report = std::thread::scope(|s| {
            s.spawn(|| {
                for d in (0..40).rev() {
                    for f in 0..100 {
                        let _ = fs::remove_file(tree.path(format!("d{d}/f{f}")));
                    }
                }
            });
            scan(ScanOptions::new(tree.root()))
        });
        assert_eq!(report.errors.count, 0, "{:?}", report.errors.sample);
        assert!(
            report.totals.files + report.vanished <= FILES,
            "a file is counted or vanished, never both: {} + {}",
            report.totals.files,
            report.vanished
        );
        vanished_seen += report.vanished;
        if vanished_seen > 0 {
            break;
        }
    }
    assert!(
        vanished_seen > 0,
        "no attempt saw a file vanish between listing and stat"
    );
}

/// Unix only: without device numbers (Windows) mount points stop the walk as the reparse points std reports as symlinks, which Linux cannot stage.
#[cfg(spectra_unix)]
#[test]
fn one_file_system_does_not_cross_mount_points() {
    struct Devices(BTreeSet<u64>);
    impl Visitor for Devices {
        fn visit(&mut self, entry: &Entry<'_>) {
            self.0.extend(entry.meta.dev);
        }
        fn merge(&mut self, other: Self) {
            self.0.extend(other.0);
        }
    }
    let root_dev = fs::metadata("/").expect("stat /").dev();
    let proc_dev = fs::metadata("/proc").expect("stat /proc").dev();
    assert_ne!(root_dev, proc_dev, "this test needs /proc mounted");
    let scanner = Scanner::new(
        ScanOptions::new("/")
            .with_one_file_system(true)
            .with_max_depth(1),
    )
    .expect("options");
    let (report, devices) = scanner
        .scan_with(|| Devices(BTreeSet::new()), ScanControl::new())
        .expect("scan");
    assert_eq!(devices.0, BTreeSet::from([root_dev]));
    assert!(report.mount_points_skipped >= 1);
}

#[test]
fn several_visitors_share_one_walk() {
    #[derive(Default)]
    struct Paths(BTreeSet<Vec<u8>>);
    impl Visitor for Paths {
        fn visit(&mut self, entry: &Entry<'_>) {
            self.0.insert(entry.path().as_os_str().as_bytes().to_vec());
        }
        fn merge(&mut self, other: Self) {
            self.0.extend(other.0);
        }
    }
    #[derive(Default)]
    struct Dirs(u64);
    impl Visitor for Dirs {
        fn visit(&mut self, entry: &Entry<'_>) {
            self.0 += u64::from(entry.meta.kind == FileKind::Dir);
        }
        fn merge(&mut self, other: Self) {
            self.0 += other.0;
        }
    }
    let tree = sample_tree();
    let scanner = Scanner::new(ScanOptions::new(tree.root()).with_threads(2)).expect("options");
    let (report, (paths, dirs)) = scanner
        .scan_with(|| (Paths::default(), Dirs::default()), ScanControl::new())
        .expect("scan");
    let mut expected = BTreeSet::new();
    let mut stack = vec![tree.root().to_path_buf()];
    while let Some(p) = stack.pop() {
        if fs::symlink_metadata(&p).expect("lstat").is_dir() {
            stack.extend(
                fs::read_dir(&p)
                    .expect("read_dir")
                    .map(|e| e.expect("entry").path()),
            );
        }
        expected.insert(p.as_os_str().as_bytes().to_vec());
    }
    assert_eq!(paths.0, expected);
    assert_eq!(dirs.0, report.totals.dirs);
}

#[test]
fn progress_is_reported_on_the_calling_thread_and_can_cancel() {
    let tree = Tree::new();
    for d in 0..30 {
        for f in 0..50 {
            tree.file(format!("d{d}/f{f}"), 1);
        }
    }
    let caller = std::thread::current().id();
    let mut calls = Vec::new();
    let control = ScanControl::new()
        .every(Duration::from_millis(1))
        .on_progress(|p| {
            assert_eq!(std::thread::current().id(), caller);
            calls.push(p.entries);
            ControlFlow::Continue(())
        });
    let report = Scanner::new(ScanOptions::new(tree.root()))
        .expect("options")
        .scan_controlled(control)
        .expect("scan");
    assert!(!calls.is_empty(), "progress was never reported");
    assert!(
        calls.windows(2).all(|w| w[0] <= w[1]),
        "progress only grows: {calls:?}"
    );
    let t = &report.totals;
    assert_eq!(
        calls.last().copied(),
        Some(t.files + t.dirs),
        "the last report is the final count"
    );

    let stopped = Scanner::new(ScanOptions::new(tree.root()))
        .expect("options")
        .scan_controlled(
            ScanControl::new()
                .every(Duration::from_millis(1))
                .on_progress(|_| ControlFlow::Break(())),
        )
        .expect("scan");
    assert!(stopped.cancelled && stopped.partial);

    let token = CancelToken::new();
    token.cancel();
    let before = Scanner::new(ScanOptions::new(tree.root()))
        .expect("options")
        .scan_controlled(ScanControl::new().cancel_with(token))
        .expect("scan");
    assert!(before.cancelled && before.partial);
    assert_eq!(
        before.totals.files, 0,
        "a scan cancelled before it starts reads no directory"
    );
}

/// Runs the test named `name` again in this binary as `nobody` (root reads everything, so
/// unreadable directories only exist for an unprivileged user). Returns true in the parent.
fn rerun_unprivileged(name: &str) -> bool {
    if !is_root() || std::env::var_os("SPECTRA_TEST_UNPRIVILEGED").is_some() {
        return false;
    }
    // nobody cannot reach the build directory under /root: run a copy of this binary.
    let staging = tempfile::tempdir().expect("temp dir");
    fs::set_permissions(
        staging.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .expect("chmod");
    let exe = staging.path().join("scan-test");
    fs::copy(std::env::current_exe().expect("current exe"), &exe).expect("copy test binary");
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(&exe)
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env("SPECTRA_TEST_UNPRIVILEGED", "1")
        .env("TMPDIR", "/tmp")
        .output()
        .expect("run setpriv");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "unprivileged run failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    true
}

#[test]
fn unreadable_directories_are_counted_not_fatal() {
    if rerun_unprivileged("unreadable_directories_are_counted_not_fatal") {
        return;
    }
    let tree = Tree::new();
    tree.file("open/visible.txt", 100);
    tree.file("locked/secret.txt", 100);
    tree.file("locked/inner/more.txt", 100);
    fs::set_permissions(
        tree.path("locked"),
        std::os::unix::fs::PermissionsExt::from_mode(0o000),
    )
    .expect("chmod");
    let report = scan(ScanOptions::new(tree.root()));
    fs::set_permissions(
        tree.path("locked"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .expect("chmod back");
    assert!(report.partial && !report.cancelled);
    assert_eq!(report.errors.count, 1);
    let error = &report.errors.sample[0];
    assert_eq!(error.code, ErrorCode::PermissionDenied);
    assert_eq!(error.path, RawPath::from(tree.path("locked")));
    assert_eq!(report.totals.files, 1, "the readable file is still counted");
    assert_eq!(
        report.totals.dirs, 3,
        "root, open and the locked directory itself"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn random_trees_report_exact_totals_and_top_files(
        files in prop::collection::vec((prop::collection::vec(0u8..3, 0..4), 0usize..20_000), 1..40),
        top in 1usize..6,
    ) {
        let tree = Tree::new();
        let mut sizes = Vec::new();
        for (i, (dirs, size)) in files.iter().enumerate() {
            let mut rel = PathBuf::new();
            for d in dirs {
                rel.push(format!("d{d}"));
            }
            rel.push(format!("f{i}"));
            tree.file(&rel, *size);
            sizes.push(*size as u64);
        }
        let report = scan(ScanOptions::new(tree.root()).with_size_mode(SizeMode::Apparent).with_top(top));
        assert_matches_truth(&report, tree.root());
        prop_assert_eq!(report.totals.files, files.len() as u64);
        sizes.sort_unstable_by(|a, b| b.cmp(a));
        sizes.truncate(top);
        let got: Vec<u64> = report.largest_files.iter().map(|f| f.apparent_bytes).collect();
        prop_assert_eq!(got, sizes);
        let dirs = &report.largest_dirs;
        prop_assert!(dirs.windows(2).all(|w| w[0].apparent_bytes >= w[1].apparent_bytes));
        prop_assert_eq!(dirs[0].apparent_bytes, report.totals.apparent_bytes);
    }
}
