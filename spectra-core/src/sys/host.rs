use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Where a collector finds `/proc`, `/sys` and `/etc`: `/` on a real host, a directory of
/// recorded files in tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    root: PathBuf,
}

impl Host {
    pub fn real() -> Host {
        Host {
            root: PathBuf::from("/"),
        }
    }

    /// A host whose files live under `root` (`root/proc/stat`, `root/sys/class/net`, …):
    /// the tests' recorded samples.
    #[cfg(test)]
    pub fn at(root: impl Into<PathBuf>) -> Host {
        Host { root: root.into() }
    }

    pub fn is_real(&self) -> bool {
        self.root == Path::new("/")
    }

    /// `rel` (like `proc/stat`) under this host's root.
    pub fn path(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.root.join(rel)
    }

    pub fn read(&self, rel: impl AsRef<Path>) -> Result<String> {
        let path = self.path(rel);
        read_small(&path).map_err(|e| Error::io(&path, e))
    }

    /// The file's text with surrounding white space trimmed, or `None` if it cannot be read
    /// (optional sysfs attributes are often absent).
    pub fn read_opt(&self, rel: impl AsRef<Path>) -> Option<String> {
        read_small(&self.path(rel))
            .ok()
            .map(|s| s.trim().to_string())
    }

    /// The process ids listed in this host's `/proc`, in no particular order. Read with
    /// `getdents64` into one buffer: no allocation per process.
    pub fn pids(&self) -> Vec<u32> {
        use rustix::fs::{Mode, OFlags, RawDir};
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let Ok(fd) = rustix::fs::open(self.path("proc"), flags, Mode::empty()) else {
            return Vec::new();
        };
        let mut buffer: Vec<u8> = Vec::with_capacity(32 * 1024);
        let mut listing = RawDir::new(&fd, buffer.spare_capacity_mut());
        let mut pids = Vec::new();
        while let Some(Ok(entry)) = listing.next() {
            let name = entry.file_name().to_bytes();
            if let Some(pid) = std::str::from_utf8(name).ok().and_then(|n| n.parse().ok()) {
                pids.push(pid);
            }
        }
        pids
    }

    /// Names in a directory, sorted; empty if it does not exist.
    pub fn list(&self, rel: impl AsRef<Path>) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.path(rel))
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }
}

/// Reads a whole `/proc` or `/sys` file. Unlike `fs::read_to_string` it skips the `statx` for
/// a size hint: these files report size 0 (or 4096) whatever they hold, and collectors read
/// them many times a minute.
fn read_small(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut text = String::with_capacity(4096);
    std::fs::File::open(path)?.read_to_string(&mut text)?;
    Ok(text)
}

/// Parses the value of a `key: value` or `key value` line field.
pub(crate) fn parse_u64(text: &str) -> Option<u64> {
    text.trim().parse().ok()
}

/// A parse failure that names the file and what was wrong in it.
pub(crate) fn malformed(file: &str, message: impl Into<String>) -> Error {
    Error::InvalidData {
        what: file.to_string(),
        message: message.into(),
    }
}
