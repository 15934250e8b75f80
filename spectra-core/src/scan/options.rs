use std::path::PathBuf;

use globset::{GlobSet, GlobSetBuilder};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Which size of a file the report ranks by (largest files, directories, extensions, owners,
/// age histograms). The totals always carry both.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SizeMode {
    /// Bytes allocated on disk (`st_blocks * 512`), what `du` shows by default.
    #[default]
    Disk,
    /// The length of the file (`st_size`), what `du --apparent-size` shows.
    Apparent,
}

impl SizeMode {
    /// The size this mode ranks by, given both.
    pub fn pick(self, apparent: u64, disk: u64) -> u64 {
        match self {
            SizeMode::Disk => disk,
            SizeMode::Apparent => apparent,
        }
    }

    /// `"disk"` or `"apparent"`, as in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            SizeMode::Disk => "disk",
            SizeMode::Apparent => "apparent",
        }
    }
}

/// What to scan and how. Build it with [`ScanOptions::new`] and the `with_*` methods, or fill
/// the public fields; [`crate::scan::Scanner::new`] validates it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ScanOptions {
    /// Where to start. A root given as a symlink is followed (as `find -H` does); symlinks
    /// below a root follow [`ScanOptions::follow_symlinks`].
    pub roots: Vec<PathBuf>,
    /// Worker threads; `None` uses [`DEFAULT_THREADS_PER_CPU`] per CPU the process may run
    /// on, at most [`MAX_DEFAULT_THREADS`].
    pub threads: Option<usize>,
    /// Descend into symlinked directories and measure symlink targets (off by default).
    /// Loops and directories reached twice are detected and skipped.
    pub follow_symlinks: bool,
    /// Do not descend into directories on another filesystem than their root (`du -x`).
    pub one_file_system: bool,
    /// Glob patterns of entries to leave out, with gitignore-like anchoring: a pattern without
    /// `/` matches a name at any depth (`*.tmp`, `node_modules`); a pattern with `/` matches the
    /// path relative to its root (`build/**/*.o`, `/cache`). An excluded directory is not read.
    pub exclude: Vec<String>,
    /// Do not descend below this depth (the root is depth 0, its entries depth 1).
    pub max_depth: Option<usize>,
    /// Which size the report ranks by.
    pub size_mode: SizeMode,
    /// Count a file with several hard links once, like `du` (on by default).
    pub count_hard_links_once: bool,
    /// How many of the largest files and directories the report keeps.
    pub top: usize,
    /// How many extensions the report lists by name (the rest are summed as "other").
    pub top_extensions: usize,
    /// Which walker reads the tree; `None` resolves through [`crate::Backend::resolve`]
    /// (`SPECTRA_BACKEND`, else native on Linux, portable elsewhere).
    pub backend: Option<crate::Backend>,
}

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions {
            roots: Vec::new(),
            threads: None,
            follow_symlinks: false,
            one_file_system: false,
            exclude: Vec::new(),
            max_depth: None,
            size_mode: SizeMode::Disk,
            count_hard_links_once: true,
            top: DEFAULT_TOP,
            top_extensions: 10,
            backend: None,
        }
    }
}

/// How many of the largest files and directories a report lists unless told otherwise: the
/// one default every frontend (CLI, Python, Node, C, uniffi) uses.
pub const DEFAULT_TOP: usize = 10;

/// Above this, a top-N list stops being a summary and becomes an index held in memory.
pub const MAX_TOP: usize = 100_000;
/// More threads than this only add contention on any machine Spectra runs on.
pub const MAX_THREADS: usize = 1024;
/// Default workers per CPU. A scan mostly waits: on a cold page cache for the disk, warm for
/// the kernel's directory and inode caches. Measured on 500k files with 2 CPUs
/// (`benches/README.md`): cold, 2 threads take 2.30 s, 4 take 1.63 s, 8 take 1.22 s and 12
/// take 1.14 s; warm, 2 to 16 threads all take 0.43–0.45 s and peak RSS stays under 9 MB. So
/// the default keeps the disk busy without costing the warm case.
pub const DEFAULT_THREADS_PER_CPU: usize = 6;
/// The default never exceeds this, however many CPUs: past it a cold disk's queue is full
/// and threads only add contention and memory.
pub const MAX_DEFAULT_THREADS: usize = 64;

impl ScanOptions {
    /// Options that scan `root` with every default.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        ScanOptions {
            roots: vec![root.into()],
            ..ScanOptions::default()
        }
    }

    /// Options for planning a policy over `roots`: every default, except that the scan stays
    /// on each root's filesystem (`-x`), since enforcement never crosses a mount point and a
    /// plan should not list what could never be acted on. Every frontend plans with these.
    pub fn for_policy(roots: impl IntoIterator<Item = impl Into<PathBuf>>) -> Self {
        ScanOptions {
            roots: roots.into_iter().map(Into::into).collect(),
            one_file_system: true,
            ..ScanOptions::default()
        }
    }

    pub fn with_root(mut self, root: impl Into<PathBuf>) -> Self {
        self.roots.push(root.into());
        self
    }

    pub fn with_threads(mut self, threads: usize) -> Self {
        self.threads = Some(threads);
        self
    }

    pub fn with_exclude(mut self, pattern: impl Into<String>) -> Self {
        self.exclude.push(pattern.into());
        self
    }

    pub fn with_top(mut self, top: usize) -> Self {
        self.top = top;
        self
    }

    pub fn with_size_mode(mut self, size_mode: SizeMode) -> Self {
        self.size_mode = size_mode;
        self
    }

    pub fn with_one_file_system(mut self, on: bool) -> Self {
        self.one_file_system = on;
        self
    }

    pub fn with_follow_symlinks(mut self, on: bool) -> Self {
        self.follow_symlinks = on;
        self
    }

    pub fn with_max_depth(mut self, depth: usize) -> Self {
        self.max_depth = Some(depth);
        self
    }

    pub fn with_backend(mut self, backend: crate::Backend) -> Self {
        self.backend = Some(backend);
        self
    }

    pub(crate) fn validate(&self) -> Result<()> {
        if self.roots.is_empty() {
            return Err(Error::invalid(
                "roots",
                "at least one path to scan is required",
            ));
        }
        if let Some(root) = self.roots.iter().find(|r| r.as_os_str().is_empty()) {
            return Err(Error::invalid("roots", format!("empty path in {:?}", root)));
        }
        match self.threads {
            Some(0) => return Err(Error::invalid("threads", "must be at least 1")),
            Some(n) if n > MAX_THREADS => {
                return Err(Error::invalid(
                    "threads",
                    format!("{n} is above {MAX_THREADS}"),
                ));
            }
            _ => {}
        }
        for (what, value) in [("top", self.top), ("top_extensions", self.top_extensions)] {
            if value > MAX_TOP {
                return Err(Error::invalid(what, format!("{value} is above {MAX_TOP}")));
            }
        }
        Ok(())
    }

    pub(crate) fn thread_count(&self) -> usize {
        self.threads.unwrap_or_else(|| {
            let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
            cpus.saturating_mul(DEFAULT_THREADS_PER_CPU)
                .min(MAX_DEFAULT_THREADS)
        })
    }
}

/// The compiled exclude patterns, split by what they match against.
#[derive(Debug)]
pub(crate) struct Excludes {
    by_name: GlobSet,
    by_relative_path: GlobSet,
}

impl Excludes {
    /// `None` when there is nothing to exclude, so the walk skips the check entirely.
    pub(crate) fn compile(patterns: &[String]) -> Result<Option<Excludes>> {
        if patterns.is_empty() {
            return Ok(None);
        }
        let mut by_name = GlobSetBuilder::new();
        let mut by_relative_path = GlobSetBuilder::new();
        for pattern in patterns {
            if pattern.is_empty() {
                return Err(Error::InvalidPattern {
                    pattern: pattern.clone(),
                    message: "empty pattern".into(),
                });
            }
            let anchored = pattern.trim_start_matches('/');
            let glob =
                crate::glob::build(anchored, true).map_err(|error| Error::InvalidPattern {
                    pattern: pattern.clone(),
                    message: error.message,
                })?;
            if pattern.contains('/') {
                by_relative_path.add(glob);
            } else {
                by_name.add(glob);
            }
        }
        let build = |builder: GlobSetBuilder| {
            builder.build().map_err(|e| Error::InvalidPattern {
                pattern: patterns.join(", "),
                message: e.to_string(),
            })
        };
        Ok(Some(Excludes {
            by_name: build(by_name)?,
            by_relative_path: build(by_relative_path)?,
        }))
    }

    pub(crate) fn needs_relative_path(&self) -> bool {
        !self.by_relative_path.is_empty()
    }

    /// `relative` is the path below the root; it is only computed when a pattern needs it.
    pub(crate) fn is_excluded(&self, name: &[u8], relative: Option<&[u8]>) -> bool {
        let matches = |set: &globset::GlobSet, bytes: &[u8]| {
            set.is_match(std::path::Path::new(&*crate::os_str_from_bytes(bytes)))
        };
        matches(&self.by_name, name)
            || relative.is_some_and(|rel| matches(&self.by_relative_path, rel))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_runs_more_workers_than_cpus_within_a_bound() {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let default = ScanOptions::new("/").thread_count();
        assert!(default <= MAX_DEFAULT_THREADS, "{default}");
        if cpus < MAX_DEFAULT_THREADS {
            assert!(
                default > cpus,
                "I/O-bound: more workers than CPUs ({default} vs {cpus})"
            );
        }
        assert_eq!(ScanOptions::new("/").with_threads(3).thread_count(), 3);
    }

    #[test]
    fn validation_names_the_bad_option() {
        let no_roots = ScanOptions::default().validate().expect_err("no roots");
        assert!(no_roots.to_string().contains("roots"), "{no_roots}");
        let zero = ScanOptions::new("/")
            .with_threads(0)
            .validate()
            .expect_err("0 threads");
        assert!(zero.to_string().contains("threads"), "{zero}");
        let huge = ScanOptions::new("/")
            .with_top(MAX_TOP + 1)
            .validate()
            .expect_err("top");
        assert!(huge.to_string().contains("top"), "{huge}");
        ScanOptions::new("/")
            .validate()
            .expect("defaults are valid");
    }

    #[test]
    fn excludes_anchor_like_gitignore() {
        let ex = Excludes::compile(&["*.tmp".into(), "build/**/*.o".into(), "/cache".into()])
            .expect("compile")
            .expect("some");
        assert!(ex.is_excluded(b"a.tmp", Some(b"x/y/a.tmp")));
        assert!(!ex.is_excluded(b"a.tmpx", Some(b"a.tmpx")));
        assert!(ex.is_excluded(b"m.o", Some(b"build/x/y/m.o")));
        assert!(!ex.is_excluded(b"m.o", Some(b"src/build/x/m.o")));
        assert!(ex.is_excluded(b"cache", Some(b"cache")));
        assert!(!ex.is_excluded(b"cache", Some(b"sub/cache")));
        assert!(ex.needs_relative_path());
    }

    #[test]
    fn a_bad_glob_names_the_pattern() {
        let err = Excludes::compile(&["[abc".into()]).expect_err("unclosed class");
        assert!(err.to_string().contains("[abc"), "{err}");
        assert!(Excludes::compile(&[]).expect("empty is fine").is_none());
    }
}
