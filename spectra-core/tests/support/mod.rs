//! Builds real trees in temp dirs and computes their truth independently of the scanner.

#![allow(dead_code)] // each test binary uses its own subset

use std::collections::HashSet;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Tree {
    dir: tempfile::TempDir,
}

impl Tree {
    pub fn new() -> Tree {
        let dir = tempfile::Builder::new()
            .prefix("spectra-test-")
            .tempdir()
            .expect("temp dir");
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).expect("chmod");
        Tree { dir }
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn path(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// A file of exactly `size` bytes (real data, so it has blocks on disk).
    pub fn file(&self, rel: impl AsRef<Path>, size: usize) -> PathBuf {
        let path = self.path(rel);
        fs::create_dir_all(path.parent().expect("parent")).expect("mkdir -p");
        fs::write(&path, vec![b'x'; size]).expect("write");
        path
    }

    pub fn dir(&self, rel: impl AsRef<Path>) -> PathBuf {
        let path = self.path(rel);
        fs::create_dir_all(&path).expect("mkdir -p");
        path
    }

    pub fn hard_link(&self, existing: impl AsRef<Path>, new: impl AsRef<Path>) {
        fs::hard_link(self.path(existing), self.path(new)).expect("link");
    }

    pub fn symlink(&self, target: impl AsRef<Path>, link: impl AsRef<Path>) {
        std::os::unix::fs::symlink(target, self.path(link)).expect("symlink");
    }
}

/// What a scan of `root` must report, computed with `std::fs` (no shared code with the scanner).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Truth {
    pub apparent_bytes: u64,
    pub disk_bytes: u64,
    pub files: u64,
    pub dirs: u64,
    pub symlinks: u64,
    pub others: u64,
    pub hard_links_skipped: u64,
}

/// Whether the scanner under test is built as for Windows (`--cfg spectra_no_unix`): no
/// owners, inodes or blocks, so disk bytes are apparent bytes, every hard link counts, and
/// whatever is neither a directory nor a symlink is a file.
pub const NO_UNIX: bool = cfg!(spectra_no_unix);

pub fn truth(root: &Path) -> Truth {
    let mut t = Truth::default();
    let mut seen = HashSet::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(path) = stack.pop() {
        let meta = fs::symlink_metadata(&path).expect("lstat");
        let ft = meta.file_type();
        if !NO_UNIX && !ft.is_dir() && meta.nlink() > 1 && !seen.insert((meta.dev(), meta.ino())) {
            t.hard_links_skipped += 1;
            continue;
        }
        t.apparent_bytes += meta.len();
        t.disk_bytes += if NO_UNIX {
            meta.len()
        } else {
            meta.blocks() * 512
        };
        if ft.is_dir() {
            t.dirs += 1;
            for entry in fs::read_dir(&path).expect("read_dir") {
                stack.push(entry.expect("entry").path());
            }
        } else if ft.is_symlink() {
            t.symlinks += 1;
        } else if ft.is_file() || NO_UNIX {
            t.files += 1;
        } else {
            t.others += 1;
        }
    }
    t
}

/// `du -s` with the given block-size flag (`-b` apparent, `-B1` disk), in bytes; as a
/// [`NO_UNIX`] scanner counts, `du -sbl` (apparent, every link) for both.
pub fn du(flag: &str, path: &Path) -> u64 {
    let flags: &[&str] = if NO_UNIX { &["-b", "-l"] } else { &[flag] };
    let out = Command::new("du")
        .arg("-s")
        .args(flags)
        .arg(path)
        .output()
        .expect("run du");
    assert!(
        out.status.success(),
        "du failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("utf-8");
    text.split_whitespace()
        .next()
        .expect("du output")
        .parse()
        .expect("a number")
}

pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}
