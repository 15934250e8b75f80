use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::io;
use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::entry::{Entry, FileKind, FinishedDir, Timestamp};
use super::options::{ScanOptions, SizeMode};
use super::visitor::Visitor;
use crate::error::ErrorCode;
use crate::raw_path::RawPath;

/// How many unreadable entries a report describes one by one; the rest are only counted.
pub const ERROR_SAMPLE: usize = 20;
/// Distinct extensions one worker tracks by name. Past this (a tree of generated names), new
/// extensions are summed into "other" so memory stays bounded whatever the tree holds.
const TRACKED_EXTENSIONS: usize = 4096;
/// Upper bounds (exclusive, in days) of the age histogram's buckets; a last bucket takes the rest.
pub const AGE_BUCKET_DAYS: [u64; 8] = [1, 7, 30, 90, 180, 365, 730, 1825];

/// What a scan found: totals, the largest files and directories, and usage by extension,
/// owner and age.
///
/// Sizes rank by [`ScanReport::size_mode`]; totals carry both apparent and on-disk bytes, which
/// agree with `du -sb` and `du -sB1` (directories included, hard links counted once).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScanReport {
    pub roots: Vec<RawPath>,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub duration_secs: f64,
    /// True when some entries could not be read or the scan was cancelled.
    pub partial: bool,
    pub cancelled: bool,
    pub size_mode: SizeMode,
    pub totals: Totals,
    /// Largest regular files, largest first.
    pub largest_files: Vec<SizedPath>,
    /// Largest directories by cumulative size, largest first.
    pub largest_dirs: Vec<SizedPath>,
    /// Regular files by extension (lowercased), largest first; `""` is "no extension".
    pub extensions: Vec<Usage>,
    /// Regular files whose extension is not among `extensions`.
    pub other_extensions: Usage,
    /// Every counted entry by owner, largest first.
    pub owners: Vec<OwnerUsage>,
    /// Regular files by time since last modification.
    pub age_by_mtime: Vec<AgeBucket>,
    /// Regular files by time since last access (meaningless on `noatime` mounts).
    pub age_by_atime: Vec<AgeBucket>,
    pub errors: ErrorSummary,
    /// Entries that disappeared between listing and stat.
    pub vanished: u64,
    /// Entries left out by an exclude pattern (their contents were not read).
    pub excluded: u64,
    /// Directories on another filesystem, skipped with `one_file_system`.
    pub mount_points_skipped: u64,
    /// Directories reached a second time through a symlink (loops), skipped.
    pub revisits_skipped: u64,
    /// Which walker produced the report.
    #[serde(default = "native_backend")]
    pub backend: crate::Backend,
    /// True where the platform reports no allocated blocks (Windows): every disk size in the
    /// report is then the apparent size.
    #[serde(default)]
    pub disk_bytes_are_apparent: bool,
}

/// Reports from before the portable backend were all native.
fn native_backend() -> crate::Backend {
    crate::Backend::Native
}

/// One figure of a report in long form (`section`, `name`, `count`, `bytes`): what a CSV file
/// or a DataFrame of the whole report holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SummaryRow {
    /// `totals`, `largest_file`, `largest_dir`, `extension`, `owner`, `age_mtime`,
    /// `age_atime` or `errors`.
    pub section: &'static str,
    pub name: String,
    pub count: u64,
    /// Bytes in the report's size mode (totals name theirs).
    pub bytes: u64,
}

impl ScanReport {
    /// Every figure of the report as rows, sections in a fixed order.
    pub fn summary_rows(&self) -> Vec<SummaryRow> {
        let row = |section, name: String, count, bytes| SummaryRow {
            section,
            name,
            count,
            bytes,
        };
        let t = &self.totals;
        let entries = t.files + t.dirs + t.symlinks + t.others;
        let mut rows = vec![
            row("totals", "apparent_bytes".into(), entries, t.apparent_bytes),
            row("totals", "disk_bytes".into(), entries, t.disk_bytes),
        ];
        for (section, paths) in [
            ("largest_file", &self.largest_files),
            ("largest_dir", &self.largest_dirs),
        ] {
            rows.extend(
                paths
                    .iter()
                    .map(|p| row(section, p.path.to_string(), 1, p.bytes(self.size_mode))),
            );
        }
        rows.extend(
            self.extensions
                .iter()
                .map(|u| row("extension", u.name.clone(), u.count, u.bytes)),
        );
        rows.push(row(
            "extension",
            "(other)".into(),
            self.other_extensions.count,
            self.other_extensions.bytes,
        ));
        rows.extend(
            self.owners
                .iter()
                .map(|o| row("owner", o.label(), o.count, o.bytes)),
        );
        for (section, buckets) in [
            ("age_mtime", &self.age_by_mtime),
            ("age_atime", &self.age_by_atime),
        ] {
            rows.extend(
                buckets
                    .iter()
                    .map(|b| row(section, b.label.clone(), b.count, b.bytes)),
            );
        }
        rows.push(row("errors", "unreadable".into(), self.errors.count, 0));
        rows
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    /// Sum of `st_size` over every counted entry (directories and symlinks included).
    pub apparent_bytes: u64,
    /// Sum of allocated bytes over every counted entry.
    pub disk_bytes: u64,
    pub files: u64,
    pub dirs: u64,
    pub symlinks: u64,
    /// FIFOs, sockets and device nodes.
    pub others: u64,
    /// Further links of hard-linked files, seen but not counted again.
    pub hard_links_skipped: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SizedPath {
    pub path: RawPath,
    pub apparent_bytes: u64,
    pub disk_bytes: u64,
}

impl SizedPath {
    /// The size in `mode`.
    pub fn bytes(&self, mode: SizeMode) -> u64 {
        mode.pick(self.apparent_bytes, self.disk_bytes)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// What is counted: an extension, or empty for the aggregate rows.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    pub count: u64,
    /// Bytes in the report's size mode.
    pub bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnerUsage {
    /// `None` gathers the entries whose owner the platform does not report (Windows).
    pub uid: Option<u32>,
    /// The user name, when the system resolves the uid.
    pub user: Option<String>,
    pub count: u64,
    pub bytes: u64,
}

impl OwnerUsage {
    /// How every frontend names the owner: the user name, else the uid, else `(unknown)`.
    pub fn label(&self) -> String {
        match (&self.user, self.uid) {
            (Some(user), _) => user.clone(),
            (None, Some(uid)) => uid.to_string(),
            (None, None) => "(unknown)".to_owned(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgeBucket {
    /// `"<1d"`, `"1d-7d"`, …, `">=1825d"`, plus `"future"` and `"unknown"`.
    pub label: String,
    /// Inclusive lower bound in days (absent for `future` and `unknown`).
    pub min_days: Option<u64>,
    /// Exclusive upper bound in days (absent for the last bucket).
    pub max_days: Option<u64>,
    pub count: u64,
    pub bytes: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorSummary {
    /// How many entries could not be read.
    pub count: u64,
    /// The first few of them, with what went wrong.
    pub sample: Vec<ScanError>,
}

/// One entry the scan could not read. The walk goes on past it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanError {
    pub path: RawPath,
    pub code: ErrorCode,
    pub message: String,
}

/// Per-entry failures, counted in full and described for the first [`ERROR_SAMPLE`].
#[derive(Debug, Default)]
pub(crate) struct ErrorLog {
    pub(crate) count: u64,
    sample: Vec<ScanError>,
}

impl ErrorLog {
    pub(crate) fn record(&mut self, path: impl FnOnce() -> PathBuf, error: io::Error) {
        self.count += 1;
        if self.sample.len() < ERROR_SAMPLE {
            self.sample.push(ScanError {
                path: path().into(),
                code: ErrorCode::from_io_kind(error.kind()),
                message: error.to_string(),
            });
        }
    }
}

/// What the walk itself observed, beside what the visitors saw.
#[derive(Debug)]
pub(crate) struct WalkStats {
    pub(crate) errors: ErrorLog,
    pub(crate) vanished: u64,
    pub(crate) excluded: u64,
    pub(crate) mount_points_skipped: u64,
    pub(crate) revisits_skipped: u64,
    pub(crate) cancelled: bool,
    pub(crate) backend: crate::Backend,
    pub(crate) disk_bytes_are_apparent: bool,
}

/// An item ranked by size; among equal sizes the path that sorts first (byte by byte) ranks
/// higher, so which items a full top-N keeps never depends on the order in which threads saw
/// them. Bytes, not path components: the order only has to be total, and comparing bytes is
/// several times cheaper (ties are common: every small file takes one 4 KiB block).
#[derive(Debug, PartialEq, Eq)]
struct Ranked {
    size: u64,
    item: SizedPath,
}

impl Ord for Ranked {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        fn bytes(ranked: &Ranked) -> &[u8] {
            ranked.item.path.as_path().as_os_str().as_encoded_bytes()
        }
        self.size
            .cmp(&other.size)
            .then_with(|| bytes(other).cmp(bytes(self)))
    }
}

impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// The `n` largest items seen, in O(n) memory.
#[derive(Debug)]
struct TopN {
    limit: usize,
    /// A min-heap: the weakest kept item is on top, ready to be displaced.
    heap: BinaryHeap<Reverse<Ranked>>,
}

impl TopN {
    fn new(limit: usize) -> Self {
        TopN {
            limit,
            heap: BinaryHeap::with_capacity(limit.min(1024) + 1),
        }
    }

    /// Builds the item (its path is the expensive part) only when it may be kept; once full,
    /// a newcomer that outranks the weakest takes its place in one sift.
    fn push(&mut self, size: u64, item: impl FnOnce() -> SizedPath) {
        if self.heap.len() < self.limit {
            self.heap.push(Reverse(Ranked { size, item: item() }));
            return;
        }
        let Some(mut weakest) = self.heap.peek_mut() else {
            return;
        };
        if size < weakest.0.size {
            return;
        }
        let candidate = Ranked { size, item: item() };
        if candidate > weakest.0 {
            *weakest = Reverse(candidate);
        }
    }

    fn merge(&mut self, other: TopN) {
        for Reverse(ranked) in other.heap {
            self.push(ranked.size, || ranked.item);
        }
    }

    fn into_sorted(self) -> Vec<SizedPath> {
        self.heap
            .into_sorted_vec()
            .into_iter()
            .map(|Reverse(r)| r.item)
            .collect()
    }
}

#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    count: u64,
    bytes: u64,
}

impl Tally {
    fn add(&mut self, bytes: u64) {
        self.count += 1;
        self.bytes += bytes;
    }

    fn absorb(&mut self, other: Tally) {
        self.count += other.count;
        self.bytes += other.bytes;
    }
}

#[derive(Debug, Clone, Copy)]
struct AgeHistogram {
    /// One per [`AGE_BUCKET_DAYS`] bound, then "older", "future", "unknown".
    buckets: [Tally; AGE_BUCKET_DAYS.len() + 3],
}

impl AgeHistogram {
    const OLDER: usize = AGE_BUCKET_DAYS.len();
    const FUTURE: usize = AGE_BUCKET_DAYS.len() + 1;
    const UNKNOWN: usize = AGE_BUCKET_DAYS.len() + 2;

    fn new() -> Self {
        AgeHistogram {
            buckets: [Tally::default(); AGE_BUCKET_DAYS.len() + 3],
        }
    }

    fn add(&mut self, now_secs: i64, time: Option<Timestamp>, bytes: u64) {
        let index = match time {
            None => Self::UNKNOWN,
            Some(t) if t.secs > now_secs => Self::FUTURE,
            Some(t) => {
                let days = ((now_secs - t.secs) / 86_400) as u64;
                AGE_BUCKET_DAYS
                    .iter()
                    .position(|&bound| days < bound)
                    .unwrap_or(Self::OLDER)
            }
        };
        self.buckets[index].add(bytes);
    }

    fn absorb(&mut self, other: &AgeHistogram) {
        for (mine, theirs) in self.buckets.iter_mut().zip(other.buckets.iter()) {
            mine.absorb(*theirs);
        }
    }

    fn into_buckets(self) -> Vec<AgeBucket> {
        let bucket = |label: String, min_days, max_days, tally: Tally| AgeBucket {
            label,
            min_days,
            max_days,
            count: tally.count,
            bytes: tally.bytes,
        };
        let mut out = Vec::with_capacity(self.buckets.len());
        let mut lower = 0;
        for (i, &upper) in AGE_BUCKET_DAYS.iter().enumerate() {
            let label = if lower == 0 {
                format!("<{upper}d")
            } else {
                format!("{lower}d-{upper}d")
            };
            out.push(bucket(label, Some(lower), Some(upper), self.buckets[i]));
            lower = upper;
        }
        out.push(bucket(
            format!(">={lower}d"),
            Some(lower),
            None,
            self.buckets[Self::OLDER],
        ));
        out.push(bucket(
            "future".into(),
            None,
            None,
            self.buckets[Self::FUTURE],
        ));
        out.push(bucket(
            "unknown".into(),
            None,
            None,
            self.buckets[Self::UNKNOWN],
        ));
        out
    }
}

/// The visitor that builds a [`ScanReport`]; one per worker thread, merged at the end.
#[derive(Debug)]
pub(crate) struct ReportBuilder {
    size_mode: SizeMode,
    top_extensions: usize,
    now_secs: i64,
    totals: Totals,
    largest_files: TopN,
    largest_dirs: TopN,
    extensions: HashMap<Box<[u8]>, Tally>,
    untracked_extensions: Tally,
    owners: HashMap<Option<u32>, Tally>,
    by_mtime: AgeHistogram,
    by_atime: AgeHistogram,
}

impl ReportBuilder {
    pub(crate) fn new(options: &ScanOptions, now: DateTime<Utc>) -> Self {
        ReportBuilder {
            size_mode: options.size_mode,
            top_extensions: options.top_extensions,
            now_secs: now.timestamp(),
            totals: Totals::default(),
            largest_files: TopN::new(options.top),
            largest_dirs: TopN::new(options.top),
            extensions: HashMap::new(),
            untracked_extensions: Tally::default(),
            owners: HashMap::new(),
            by_mtime: AgeHistogram::new(),
            by_atime: AgeHistogram::new(),
        }
    }

    fn add_extension(&mut self, extension: Option<&[u8]>, bytes: u64) {
        let raw = extension.unwrap_or_default();
        let lowered;
        let key = if raw.iter().any(u8::is_ascii_uppercase) {
            lowered = raw.to_ascii_lowercase();
            &lowered[..]
        } else {
            raw
        };
        if let Some(tally) = self.extensions.get_mut(key) {
            tally.add(bytes);
        } else if self.extensions.len() < TRACKED_EXTENSIONS {
            let mut tally = Tally::default();
            tally.add(bytes);
            self.extensions.insert(key.into(), tally);
        } else {
            self.untracked_extensions.add(bytes);
        }
    }

    pub(crate) fn finish(
        self,
        stats: WalkStats,
        started_at: DateTime<Utc>,
        took: Duration,
        roots: &[PathBuf],
    ) -> ScanReport {
        let mut extensions: Vec<Usage> = self
            .extensions
            .into_iter()
            .map(|(ext, t)| Usage {
                name: String::from_utf8_lossy(&ext).into_owned(),
                count: t.count,
                bytes: t.bytes,
            })
            .collect();
        extensions.sort_by(|a, b| b.bytes.cmp(&a.bytes).then_with(|| a.name.cmp(&b.name)));
        let mut other_extensions = Usage::default();
        for rest in extensions.drain(self.top_extensions.min(extensions.len())..) {
            other_extensions.count += rest.count;
            other_extensions.bytes += rest.bytes;
        }
        other_extensions.count += self.untracked_extensions.count;
        other_extensions.bytes += self.untracked_extensions.bytes;
        let mut owners: Vec<OwnerUsage> = self
            .owners
            .into_iter()
            .map(|(uid, t)| OwnerUsage {
                uid,
                user: uid.and_then(crate::sys::user_name),
                count: t.count,
                bytes: t.bytes,
            })
            .collect();
        owners.sort_by(|a, b| b.bytes.cmp(&a.bytes).then_with(|| a.uid.cmp(&b.uid)));
        let cancelled = stats.cancelled;
        ScanReport {
            roots: roots.iter().map(|r| RawPath::from(r.as_path())).collect(),
            started_at,
            finished_at: started_at + took,
            duration_secs: took.as_secs_f64(),
            partial: cancelled || stats.errors.count > 0,
            cancelled,
            size_mode: self.size_mode,
            totals: self.totals,
            largest_files: self.largest_files.into_sorted(),
            largest_dirs: self.largest_dirs.into_sorted(),
            extensions,
            other_extensions,
            owners,
            age_by_mtime: self.by_mtime.into_buckets(),
            age_by_atime: self.by_atime.into_buckets(),
            errors: ErrorSummary {
                count: stats.errors.count,
                sample: stats.errors.sample,
            },
            vanished: stats.vanished,
            excluded: stats.excluded,
            mount_points_skipped: stats.mount_points_skipped,
            revisits_skipped: stats.revisits_skipped,
            backend: stats.backend,
            disk_bytes_are_apparent: stats.disk_bytes_are_apparent,
        }
    }
}

impl Visitor for ReportBuilder {
    fn visit(&mut self, entry: &Entry<'_>) {
        let meta = &entry.meta;
        if !entry.counted {
            self.totals.hard_links_skipped += 1;
            return;
        }
        self.totals.apparent_bytes += meta.size;
        self.totals.disk_bytes += meta.disk_size;
        let bytes = self.size_mode.pick(meta.size, meta.disk_size);
        self.owners.entry(meta.uid).or_default().add(bytes);
        match meta.kind {
            FileKind::File => {
                self.totals.files += 1;
                self.largest_files.push(bytes, || SizedPath {
                    path: entry.path().into(),
                    apparent_bytes: meta.size,
                    disk_bytes: meta.disk_size,
                });
                self.add_extension(entry.extension(), bytes);
                self.by_mtime.add(self.now_secs, meta.mtime, bytes);
                self.by_atime.add(self.now_secs, meta.atime, bytes);
            }
            FileKind::Dir => self.totals.dirs += 1,
            FileKind::Symlink => self.totals.symlinks += 1,
            FileKind::Fifo | FileKind::Socket | FileKind::BlockDevice | FileKind::CharDevice => {
                self.totals.others += 1;
            }
        }
    }

    fn finish_dir(&mut self, dir: &FinishedDir<'_>) {
        let bytes = self.size_mode.pick(dir.apparent_bytes, dir.disk_bytes);
        self.largest_dirs.push(bytes, || SizedPath {
            path: dir.path().into(),
            apparent_bytes: dir.apparent_bytes,
            disk_bytes: dir.disk_bytes,
        });
    }

    fn merge(&mut self, other: Self) {
        let t = &mut self.totals;
        let o = other.totals;
        t.apparent_bytes += o.apparent_bytes;
        t.disk_bytes += o.disk_bytes;
        t.files += o.files;
        t.dirs += o.dirs;
        t.symlinks += o.symlinks;
        t.others += o.others;
        t.hard_links_skipped += o.hard_links_skipped;
        self.largest_files.merge(other.largest_files);
        self.largest_dirs.merge(other.largest_dirs);
        for (ext, tally) in other.extensions {
            self.extensions.entry(ext).or_default().absorb(tally);
        }
        self.untracked_extensions.absorb(other.untracked_extensions);
        for (uid, tally) in other.owners {
            self.owners.entry(uid).or_default().absorb(tally);
        }
        self.by_mtime.absorb(&other.by_mtime);
        self.by_atime.absorb(&other.by_atime);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sized(path: &str, size: u64) -> SizedPath {
        SizedPath {
            path: PathBuf::from(path).into(),
            apparent_bytes: size,
            disk_bytes: size,
        }
    }

    #[test]
    fn top_n_keeps_the_largest_and_orders_ties_by_path() {
        let mut a = TopN::new(3);
        let mut b = TopN::new(3);
        for (i, size) in [5u64, 1, 9, 7].into_iter().enumerate() {
            a.push(size, || sized(&format!("a{i}"), size));
        }
        b.push(7, || sized("b7", 7));
        b.push(100, || sized("b100", 100));
        a.merge(b);
        let names: Vec<String> = a
            .into_sorted()
            .into_iter()
            .map(|s| s.path.to_string())
            .collect();
        assert_eq!(names, ["b100", "a2", "a3"]);
        let mut none = TopN::new(0);
        none.push(10, || unreachable!("a zero limit never builds a path"));
        assert!(none.into_sorted().is_empty());
    }

    /// With many ties, in any order and split across workers, the kept items are exactly the
    /// first `n` of a full sort: by size, then by path bytes.
    #[test]
    fn top_n_with_ties_matches_a_full_sort_whatever_the_order() {
        let items: Vec<(u64, String)> = (0..500u64)
            .map(|i| (i * 7919 % 13 * 4096, format!("d{}/f{i}", i % 17)))
            .collect();
        let mut expected = items.clone();
        expected.sort_by(|a, b| {
            b.0.cmp(&a.0)
                .then_with(|| a.1.as_bytes().cmp(b.1.as_bytes()))
        });
        let expected: Vec<String> = expected.into_iter().take(25).map(|(_, p)| p).collect();
        for stride in [1usize, 3, 7, 11] {
            let mut workers = [TopN::new(25), TopN::new(25), TopN::new(25)];
            for k in 0..items.len() {
                let (size, path) = &items[k * stride % items.len()];
                workers[k % 3].push(*size, || sized(path, *size));
            }
            let [mut all, b, c] = workers;
            all.merge(b);
            all.merge(c);
            let kept: Vec<String> = all
                .into_sorted()
                .into_iter()
                .map(|s| s.path.to_string())
                .collect();
            assert_eq!(kept, expected, "stride {stride}");
        }
    }

    #[test]
    fn ages_fall_into_their_buckets() {
        let now = 1_000 * 86_400;
        let mut h = AgeHistogram::new();
        let at = |days: i64| {
            Some(Timestamp {
                secs: now - days * 86_400,
                nanos: 0,
            })
        };
        h.add(now, at(0), 1);
        h.add(now, at(6), 2);
        h.add(now, at(7), 4);
        h.add(now, at(900), 8);
        h.add(now, at(-2), 16);
        h.add(now, None, 32);
        let buckets = h.into_buckets();
        let find = |label: &str| buckets.iter().find(|b| b.label == label).map(|b| b.bytes);
        assert_eq!(find("<1d"), Some(1));
        assert_eq!(find("1d-7d"), Some(2));
        assert_eq!(find("7d-30d"), Some(4));
        assert_eq!(find("730d-1825d"), Some(8));
        assert_eq!(find("future"), Some(16));
        assert_eq!(find("unknown"), Some(32));
        assert_eq!(buckets.iter().map(|b| b.count).sum::<u64>(), 6);
    }
}
