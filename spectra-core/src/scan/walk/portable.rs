//! The portable walker: `std::fs::read_dir` and each entry's `DirEntry::metadata` (on Unix an
//! `fstatat` relative to the listing's descriptor, on Windows the facts the listing itself
//! returned), run on every platform.
//!
//! On Unix the facts come from `MetadataExt`, so owners, groups, inodes (hard links counted
//! once, loops detected), devices (`-x`) and allocated blocks work as on Linux. On Windows
//! owner, group, device, inode and link count are unknown (`None`); disk usage is the apparent
//! size, and the report says so; `-x` holds because std reports a mount point or junction as
//! a symlink, which the walk does not descend into; following symlinks is refused (no
//! identity to detect loops with).
//!
//! Unlike the native walker, directories are opened by path: one swapped for a symlink
//! between its listing and its reading is followed (a scan only reads, so this can only
//! count something outside the tree, never act on it), and a tree deeper than the
//! platform's path limit gives errors below that depth.

use std::fs::Metadata;
use std::io;
use std::path::{Path, PathBuf};
#[cfg(any(not(spectra_unix), test))]
use std::time::SystemTime;

use super::{DirReader, ListEach};
use crate::scan::entry::{FileKind, FileMeta, Timestamp};

/// Whether files have a `(device, inode)` identity here.
pub(crate) const HAS_IDENTITY: bool = cfg!(spectra_unix);
/// Whether the platform reports allocated blocks (else disk usage is the apparent size).
pub(crate) const HAS_BLOCKS: bool = cfg!(spectra_unix);

pub(crate) struct Portable;

impl DirReader for Portable {
    type Dir = PathBuf;

    fn stat_root(&self, path: &Path) -> io::Result<FileMeta> {
        std::fs::metadata(path).map(|m| meta_from_std(&m))
    }

    fn stat_path(&self, path: &Path) -> io::Result<FileMeta> {
        std::fs::symlink_metadata(path).map(|m| meta_from_std(&m))
    }

    fn open_root(&self, path: &Path) -> io::Result<PathBuf> {
        Ok(path.to_path_buf())
    }

    fn open_child(&self, parent: &PathBuf, name: &[u8], _follow: bool) -> io::Result<PathBuf> {
        Ok(parent.join(&*crate::os_str_from_bytes(name)))
    }

    fn list(&self, dir: &PathBuf, each: &mut ListEach<'_>) -> io::Result<()> {
        for item in std::fs::read_dir(dir)? {
            let item = item?;
            let name = item.file_name();
            let stat = |follow: bool| {
                let meta = meta_from_std(&item.metadata()?);
                if meta.kind != FileKind::Symlink || !follow {
                    return Ok((meta, false));
                }
                match std::fs::metadata(item.path()) {
                    Ok(target) => Ok((meta_from_std(&target), true)),
                    // A dangling or unreadable link is still an entry: the link itself.
                    Err(_) => Ok((meta, false)),
                }
            };
            if each(name.as_encoded_bytes(), &stat).is_break() {
                break;
            }
        }
        Ok(())
    }
}

#[cfg(spectra_unix)]
fn meta_from_std(m: &Metadata) -> FileMeta {
    use std::os::unix::fs::MetadataExt;
    let time = |secs: i64, nanos: i64| {
        Some(Timestamp {
            secs,
            nanos: u32::try_from(nanos).unwrap_or(0),
        })
    };
    FileMeta {
        kind: FileKind::from_mode(m.mode()),
        mode: m.mode(),
        size: m.size(),
        disk_size: m.blocks().saturating_mul(512),
        mtime: time(m.mtime(), m.mtime_nsec()),
        atime: time(m.atime(), m.atime_nsec()),
        ctime: time(m.ctime(), m.ctime_nsec()),
        uid: Some(m.uid()),
        gid: Some(m.gid()),
        dev: Some(m.dev()),
        ino: Some(m.ino()),
        nlink: Some(m.nlink()),
    }
}

#[cfg(not(spectra_unix))]
fn meta_from_std(m: &Metadata) -> FileMeta {
    let file_type = m.file_type();
    let (kind, type_bits) = if file_type.is_dir() {
        (FileKind::Dir, 0o040_111)
    } else if file_type.is_symlink() {
        (FileKind::Symlink, 0o120_000)
    } else {
        (FileKind::File, 0o100_000)
    };
    let permissions = if m.permissions().readonly() {
        0o444
    } else {
        0o666
    };
    FileMeta {
        kind,
        mode: type_bits | permissions,
        size: m.len(),
        disk_size: m.len(),
        mtime: m.modified().ok().map(timestamp),
        atime: m.accessed().ok().map(timestamp),
        // Windows has a creation time, not a change time: unknown rather than wrong.
        ctime: None,
        uid: None,
        gid: None,
        dev: None,
        ino: None,
        nlink: None,
    }
}

/// A system time as seconds and nanoseconds since the epoch (negative seconds before it).
#[cfg(any(not(spectra_unix), test))]
fn timestamp(time: SystemTime) -> Timestamp {
    match time.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(after) => Timestamp {
            secs: i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
            nanos: after.subsec_nanos(),
        },
        Err(before) => {
            let before = before.duration();
            let secs = i64::try_from(before.as_secs()).unwrap_or(i64::MAX);
            match before.subsec_nanos() {
                0 => Timestamp {
                    secs: -secs,
                    nanos: 0,
                },
                nanos => Timestamp {
                    secs: -secs - 1,
                    nanos: 1_000_000_000 - nanos,
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn times_before_the_epoch_count_down_in_seconds_and_up_in_nanoseconds() {
        let at = |offset: i64, nanos: u32| {
            let d = Duration::new(offset.unsigned_abs(), nanos);
            let t = if offset >= 0 {
                SystemTime::UNIX_EPOCH + d
            } else {
                SystemTime::UNIX_EPOCH - d
            };
            timestamp(t)
        };
        assert_eq!(
            at(5, 250),
            Timestamp {
                secs: 5,
                nanos: 250
            }
        );
        assert_eq!(at(-5, 0), Timestamp { secs: -5, nanos: 0 });
        assert_eq!(
            at(-5, 250_000_000),
            Timestamp {
                secs: -6,
                nanos: 750_000_000
            }
        );
    }
}
