//! Linux's walker: `openat` relative to the parent's descriptor, `getdents64` to list, and
//! `statx(dirfd, name, AT_SYMLINK_NOFOLLOW)` for each entry.

use std::ffi::CStr;
use std::io;
use std::os::fd::OwnedFd;
use std::path::Path;

use rustix::fs::{AtFlags, CWD, Mode, OFlags, RawDir, Statx, StatxFlags};

use super::{DirReader, ListEach};
use crate::scan::entry::{FileKind, FileMeta, Timestamp};

/// `getdents64` buffer per directory task.
const DIRENT_BUFFER: usize = 32 * 1024;

pub(crate) struct Native;

impl DirReader for Native {
    type Dir = OwnedFd;

    fn stat_root(&self, path: &Path) -> io::Result<FileMeta> {
        let st = rustix::fs::statx(CWD, path, AtFlags::empty(), StatxFlags::BASIC_STATS)?;
        Ok(meta_from_statx(&st))
    }

    fn stat_path(&self, path: &Path) -> io::Result<FileMeta> {
        let st = rustix::fs::statx(
            CWD,
            path,
            AtFlags::SYMLINK_NOFOLLOW,
            StatxFlags::BASIC_STATS,
        )?;
        Ok(meta_from_statx(&st))
    }

    fn open_root(&self, path: &Path) -> io::Result<OwnedFd> {
        Ok(rustix::fs::open(path, dir_flags(true), Mode::empty())?)
    }

    fn open_child(&self, parent: &OwnedFd, name: &[u8], follow: bool) -> io::Result<OwnedFd> {
        Ok(rustix::fs::openat(
            parent,
            name,
            dir_flags(follow),
            Mode::empty(),
        )?)
    }

    fn list(&self, dir: &OwnedFd, each: &mut ListEach<'_>) -> io::Result<()> {
        let mut buffer: Vec<u8> = Vec::with_capacity(DIRENT_BUFFER);
        let mut listing = RawDir::new(dir, buffer.spare_capacity_mut());
        while let Some(item) = listing.next() {
            let item = item?;
            let name = item.file_name();
            if matches!(name.to_bytes(), b"." | b"..") {
                continue;
            }
            let stat = |follow: bool| stat_entry(dir, name, follow);
            if each(name.to_bytes(), &stat).is_break() {
                break;
            }
        }
        Ok(())
    }
}

fn dir_flags(follow: bool) -> OFlags {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    if follow {
        flags
    } else {
        flags | OFlags::NOFOLLOW
    }
}

/// Stats `name` in the directory `fd`, and follows it when it is a symlink and `follow`.
fn stat_entry(fd: &OwnedFd, name: &CStr, follow: bool) -> io::Result<(FileMeta, bool)> {
    let meta = meta_from_statx(&rustix::fs::statx(
        fd,
        name,
        AtFlags::SYMLINK_NOFOLLOW,
        StatxFlags::BASIC_STATS,
    )?);
    if meta.kind != FileKind::Symlink || !follow {
        return Ok((meta, false));
    }
    match rustix::fs::statx(fd, name, AtFlags::empty(), StatxFlags::BASIC_STATS) {
        Ok(st) => Ok((meta_from_statx(&st), true)),
        // A dangling or unreadable link is still an entry: the link itself.
        Err(_) => Ok((meta, false)),
    }
}

fn meta_from_statx(st: &Statx) -> FileMeta {
    let has = |flag: StatxFlags| st.stx_mask & flag.bits() != 0;
    let time = |flag: StatxFlags, t: &rustix::fs::StatxTimestamp| {
        has(flag).then_some(Timestamp {
            secs: t.tv_sec,
            nanos: t.tv_nsec,
        })
    };
    let mode = u32::from(st.stx_mode);
    FileMeta {
        kind: FileKind::from_mode(mode),
        mode,
        size: st.stx_size,
        disk_size: st.stx_blocks.saturating_mul(512),
        mtime: time(StatxFlags::MTIME, &st.stx_mtime),
        atime: time(StatxFlags::ATIME, &st.stx_atime),
        ctime: time(StatxFlags::CTIME, &st.stx_ctime),
        uid: Some(st.stx_uid),
        gid: Some(st.stx_gid),
        dev: Some(rustix::fs::makedev(st.stx_dev_major, st.stx_dev_minor)),
        ino: Some(st.stx_ino),
        nlink: Some(u64::from(st.stx_nlink)),
    }
}
