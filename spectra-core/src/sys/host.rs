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

/// Most bytes a kept file may hold (meminfo and cgroup files are a few KiB).
const MAX_KEPT_FILE: usize = 1 << 20;

/// A `/proc` or `/sys` file kept open and read again from its start on every call (`pread`
/// at offset 0): the kernel generates the text anew each time, and a sampler saves the open
/// and close of a fresh file, and the allocation of a new buffer, per sample.
#[derive(Debug)]
pub(crate) struct KeptFile {
    path: PathBuf,
    file: Option<std::fs::File>,
    text: Vec<u8>,
}

impl KeptFile {
    pub(crate) fn new(path: PathBuf) -> Self {
        KeptFile {
            path,
            file: None,
            text: Vec::with_capacity(4096),
        }
    }

    /// The file's current text (opened on first use; reopened after an error).
    pub(crate) fn read(&mut self) -> Result<&str> {
        use std::os::unix::fs::FileExt;
        let file = match &mut self.file {
            Some(file) => file,
            slot => {
                slot.insert(std::fs::File::open(&self.path).map_err(|e| Error::io(&self.path, e))?)
            }
        };
        self.text.clear();
        let mut chunk = [0u8; 8192];
        loop {
            match file.read_at(&mut chunk, self.text.len() as u64) {
                Ok(0) => break,
                Ok(n) => self.text.extend_from_slice(&chunk[..n]),
                Err(e) => {
                    self.file = None;
                    return Err(Error::io(&self.path, e));
                }
            }
            if self.text.len() > MAX_KEPT_FILE {
                return Err(Error::TooLarge {
                    what: self.path.display().to_string(),
                    limit: MAX_KEPT_FILE as u64,
                    unit: "bytes",
                });
            }
        }
        std::str::from_utf8(&self.text)
            .map_err(|e| malformed(&self.path.display().to_string(), e.to_string()))
    }
}
