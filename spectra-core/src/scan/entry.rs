use std::borrow::Cow;
use std::ffi::OsStr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize};

use serde::{Deserialize, Serialize};

/// What kind of filesystem object an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileKind {
    File,
    Dir,
    Symlink,
    Fifo,
    Socket,
    BlockDevice,
    CharDevice,
}

impl FileKind {
    /// Every kind, in declaration order.
    pub const ALL: [FileKind; 7] = [
        FileKind::File,
        FileKind::Dir,
        FileKind::Symlink,
        FileKind::Fifo,
        FileKind::Socket,
        FileKind::BlockDevice,
        FileKind::CharDevice,
    ];

    /// The one name of the kind, used by the rule language (`kind == 'fifo'`), JSON and every
    /// binding.
    pub fn as_str(self) -> &'static str {
        match self {
            FileKind::File => "file",
            FileKind::Dir => "dir",
            FileKind::Symlink => "symlink",
            FileKind::Fifo => "fifo",
            FileKind::Socket => "socket",
            FileKind::BlockDevice => "block_device",
            FileKind::CharDevice => "char_device",
        }
    }

    #[cfg(any(spectra_unix, test))]
    pub(crate) fn from_mode(mode: u32) -> FileKind {
        match mode & 0o170000 {
            0o040000 => FileKind::Dir,
            0o120000 => FileKind::Symlink,
            0o010000 => FileKind::Fifo,
            0o140000 => FileKind::Socket,
            0o060000 => FileKind::BlockDevice,
            0o020000 => FileKind::CharDevice,
            _ => FileKind::File,
        }
    }
}

/// A point in time as the kernel reports it: seconds since the Unix epoch and nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Timestamp {
    pub secs: i64,
    pub nanos: u32,
}

/// The metadata of one entry, taken without following symlinks (unless the scan follows them).
///
/// A time is `None` when the filesystem did not report it; callers must treat it as unknown,
/// never as zero. Likewise the Unix facts — owner, group, device, inode, link count — are
/// `None` where the platform has none (Windows): the rule language treats them as unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileMeta {
    pub kind: FileKind,
    /// Permission bits and file type, as in `st_mode`. Without Unix modes (Windows) the type
    /// bits with `0o444` for a read-only entry, `0o666` otherwise (`0o111` added for a
    /// directory).
    pub mode: u32,
    /// Apparent size (`st_size`).
    pub size: u64,
    /// Bytes allocated on disk (`st_blocks * 512`); the apparent size where the platform does
    /// not report blocks (Windows), which the scan report says
    /// ([`crate::scan::ScanReport::disk_bytes_are_apparent`]).
    pub disk_size: u64,
    pub mtime: Option<Timestamp>,
    pub atime: Option<Timestamp>,
    pub ctime: Option<Timestamp>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub dev: Option<u64>,
    pub ino: Option<u64>,
    pub nlink: Option<u64>,
}

impl FileMeta {
    /// `(device, inode)`, the identity of the file behind a name, when the platform has one.
    pub fn identity(&self) -> Option<(u64, u64)> {
        self.dev.zip(self.ino)
    }
}

/// A directory in the walk, shared by the entries it holds and the directories below it.
///
/// Only the name is kept: the full path is rebuilt from the parent chain when somebody asks
/// for it, so a deep tree costs memory proportional to its depth, not to depth squared.
#[derive(Debug)]
pub(crate) struct DirNode {
    /// For a root, the root path as given; otherwise the name within the parent.
    pub(crate) name: Box<[u8]>,
    pub(crate) parent: Option<Arc<DirNode>>,
    pub(crate) depth: usize,
    /// The device of the root this directory was reached from (for `one_file_system`).
    pub(crate) root_dev: Option<u64>,
    /// Cumulative sizes of everything below, this directory included.
    pub(crate) apparent: AtomicU64,
    pub(crate) disk: AtomicU64,
    /// This directory's own listing plus each subdirectory not yet finished.
    pub(crate) pending: AtomicUsize,
}

impl DirNode {
    /// The names from this directory up to its root, the root's (the root path) last.
    fn ancestry(&self) -> Vec<&[u8]> {
        let mut names: Vec<&[u8]> = Vec::with_capacity(self.depth + 1);
        let mut node = Some(self);
        while let Some(dir) = node {
            names.push(&dir.name);
            node = dir.parent.as_deref();
        }
        names
    }

    pub(crate) fn path(&self) -> PathBuf {
        join_reversed(&self.ancestry(), None)
    }

    /// The path of `name` below this directory, relative to the root (no leading root).
    pub(crate) fn relative_path_of(&self, name: &[u8]) -> Vec<u8> {
        let names = self.ancestry();
        let below_root = &names[..names.len() - 1];
        let mut out = Vec::new();
        for part in below_root.iter().rev() {
            out.extend_from_slice(part);
            out.push(b'/');
        }
        out.extend_from_slice(name);
        out
    }
}

impl Drop for DirNode {
    // The default drop would recurse once per ancestor and overflow the stack on trees
    // thousands of levels deep; unlink the chain iteratively instead.
    fn drop(&mut self) {
        let mut parent = self.parent.take();
        while let Some(node) = parent {
            match Arc::try_unwrap(node) {
                Ok(mut owned) => parent = owned.parent.take(),
                Err(_) => break,
            }
        }
    }
}

fn join_reversed(names: &[&[u8]], last: Option<&[u8]>) -> PathBuf {
    let len = names.iter().map(|n| n.len() + 1).sum::<usize>() + last.map_or(0, <[u8]>::len);
    let mut out = Vec::with_capacity(len);
    for (i, part) in names.iter().rev().enumerate() {
        if i > 0 && out.last() != Some(&b'/') {
            out.push(b'/');
        }
        out.extend_from_slice(part);
    }
    if let Some(name) = last {
        if out.last() != Some(&b'/') {
            out.push(b'/');
        }
        out.extend_from_slice(name);
    }
    PathBuf::from(crate::os_string_from_bytes(out))
}

/// One entry of the walk, as handed to every [`crate::scan::Visitor`].
///
/// An entry borrows from the walker; its path is built only when asked for, since most
/// visitors need it for a handful of entries only.
#[derive(Debug)]
pub struct Entry<'a> {
    pub(crate) parent: Option<&'a DirNode>,
    pub(crate) name: &'a [u8],
    /// The entry's metadata.
    pub meta: FileMeta,
    /// 0 for a root, 1 for the entries of a root, and so on.
    pub depth: usize,
    /// False for the second and later links of a hard-linked file when hard links are counted
    /// once; such an entry adds nothing to totals.
    pub counted: bool,
}

impl Entry<'_> {
    /// The full path (the root as given, joined with the names below it).
    pub fn path(&self) -> PathBuf {
        match self.parent {
            None => PathBuf::from(&*crate::os_str_from_bytes(self.name)),
            Some(dir) => join_reversed(&dir.ancestry(), Some(self.name)),
        }
    }

    /// The file name (for a root, the root path as given). Borrowed on Unix; see
    /// [`Entry::name_bytes`] for the exact bytes everywhere.
    pub fn name(&self) -> Cow<'_, OsStr> {
        crate::os_str_from_bytes(self.name)
    }

    /// The file name's bytes (on Windows, std's WTF-8 encoding of the UTF-16 name).
    pub fn name_bytes(&self) -> &[u8] {
        self.name
    }

    /// The extension: what follows the last `.` of the name, unless the name starts with its
    /// only dot (`.bashrc` has none) or ends with it.
    pub fn extension(&self) -> Option<&[u8]> {
        self.parent.and_then(|_| extension_of(self.name))
    }
}

pub(crate) fn extension_of(name: &[u8]) -> Option<&[u8]> {
    let dot = name.iter().rposition(|&b| b == b'.')?;
    (dot > 0 && dot + 1 < name.len()).then(|| &name[dot + 1..])
}

/// A directory whose whole subtree has been walked, with its cumulative sizes.
#[derive(Debug)]
pub struct FinishedDir<'a> {
    pub(crate) node: &'a DirNode,
    /// Apparent bytes of the directory and everything below it.
    pub apparent_bytes: u64,
    /// On-disk bytes of the directory and everything below it.
    pub disk_bytes: u64,
}

impl FinishedDir<'_> {
    pub fn path(&self) -> PathBuf {
        self.node.path()
    }

    pub fn depth(&self) -> usize {
        self.node.depth
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_names_are_the_serialized_names() {
        for kind in FileKind::ALL {
            let json = serde_json::to_value(kind).expect("json");
            assert_eq!(json, kind.as_str());
        }
    }

    #[test]
    fn extensions_follow_the_last_dot() {
        assert_eq!(extension_of(b"a.tar.gz"), Some(&b"gz"[..]));
        assert_eq!(extension_of(b".bashrc"), None);
        assert_eq!(extension_of(b"trailing."), None);
        assert_eq!(extension_of(b"noext"), None);
        assert_eq!(extension_of(b"..x"), Some(&b"x"[..]));
    }

    #[test]
    fn kinds_come_from_the_mode() {
        assert_eq!(FileKind::from_mode(0o100644), FileKind::File);
        assert_eq!(FileKind::from_mode(0o040755), FileKind::Dir);
        assert_eq!(FileKind::from_mode(0o120777), FileKind::Symlink);
        assert_eq!(FileKind::from_mode(0o010644), FileKind::Fifo);
        assert_eq!(FileKind::from_mode(0o140755), FileKind::Socket);
    }

    #[test]
    fn paths_join_without_doubled_slashes() {
        assert_eq!(
            join_reversed(&[b"b", b"/"], Some(b"c")),
            PathBuf::from("/b/c")
        );
        assert_eq!(
            join_reversed(&[b"b", b"root/"], Some(b"c")),
            PathBuf::from("root/b/c")
        );
        assert_eq!(join_reversed(&[b"."], None), PathBuf::from("."));
    }
}
