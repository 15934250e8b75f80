//! Building the file index of one root as [`IndexBatch`]es, against what the server already
//! holds.
//!
//! A [`Baseline`] is what the server acknowledged after the last crawl: for every file, the
//! [`path_hash`] of its path and the [`IndexEntry::fingerprint`] of its metadata (16 bytes a
//! file, kept in the agent's state directory). A [`Crawl`] against a baseline sends only the
//! files that are new or changed and, when the scan completed, the hashes of the files that
//! are gone; without one it sends every file (a full crawl). Once the server has every batch,
//! [`Crawl::finish`]'s baseline replaces the old one.
//!
//! ```
//! use spectra_core::index::Crawl;
//! use spectra_core::scan::{ScanOptions, Scanner};
//!
//! let dir = tempfile::tempdir()?;
//! std::fs::write(dir.path().join("a.csv"), b"1,2")?;
//! let scanner = Scanner::new(ScanOptions::new(dir.path()))?;
//! let mut crawl = Crawl::new("demo", dir.path(), None, 1000)?;
//! let mut batches = Vec::new();
//! let mut stream = scanner.stream(1024);
//! for record in &mut stream {
//!     batches.extend(crawl.add(&record));
//! }
//! let report = stream.finish()?;
//! let (last, baseline) = crawl.finish(!report.partial);
//! batches.extend(last);
//! assert_eq!(batches.iter().map(|b| b.entries.len()).sum::<usize>(), 1);
//! assert_eq!(baseline.len(), 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::Path;

/// Files not used for this many days are stale unless a query says otherwise: the server's
/// `GET /api/v1/stale`, and so `spectra stale`, the web app and every binding.
pub const DEFAULT_STALE_DAYS: u32 = 90;
/// How far back growth looks unless a query says otherwise.
pub const DEFAULT_GROWTH_PERIOD: std::time::Duration =
    std::time::Duration::from_secs(30 * 24 * 3600);

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::protocol::{
    CrawlEnd, INDEX_BATCH_PATH_BYTES, IndexBatch, IndexEntry, MAX_INDEX_ENTRIES, PROTOCOL_VERSION,
    check_backend_name, path_hash,
};
use crate::raw_path::{RawPath, check_path};
use crate::scan::{FileKind, FileRecord};

/// Files a baseline file may hold; a larger count is taken for corruption.
pub const MAX_BASELINE_FILES: u64 = 200_000_000;

const MAGIC: &[u8; 8] = b"SPXIDX1\n";

/// What the server holds for one backend after a crawl: path hash → fingerprint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Baseline {
    /// The crawl the server applied last; the next crawl is a delta against it.
    pub crawl_id: Uuid,
    pub backend: String,
    files: HashMap<u64, u64>,
}

impl Baseline {
    /// Files in the baseline.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Reads a baseline written by [`Baseline::save`]; `Ok(None)` when there is none.
    pub fn load(path: &Path) -> Result<Option<Baseline>> {
        let mut file = match std::fs::File::open(path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(path, e)),
        };
        let corrupt = |message: &str| Error::InvalidData {
            what: format!("index baseline {}", path.display()),
            message: message.to_owned(),
        };
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)
            .map_err(|e| Error::io(path, e))?;
        let rest = bytes
            .strip_prefix(MAGIC.as_slice())
            .ok_or_else(|| corrupt("not a baseline file"))?;
        let mut reader = Cursor(rest);
        let crawl_id = Uuid::from_bytes(reader.take().ok_or_else(|| corrupt("truncated"))?);
        let name_len = u32::from_le_bytes(reader.take().ok_or_else(|| corrupt("truncated"))?);
        let name = reader
            .take_slice(name_len as usize)
            .ok_or_else(|| corrupt("truncated backend name"))?;
        let backend = String::from_utf8(name.to_vec())
            .map_err(|_| corrupt("the backend name is not UTF-8"))?;
        let count = u64::from_le_bytes(reader.take().ok_or_else(|| corrupt("truncated"))?);
        if count > MAX_BASELINE_FILES || reader.0.len() as u64 != count.saturating_mul(16) {
            return Err(corrupt("the file count does not match the file's length"));
        }
        let mut files = HashMap::with_capacity(count as usize);
        while let (Some(hash), Some(fingerprint)) = (reader.take(), reader.take()) {
            files.insert(u64::from_le_bytes(hash), u64::from_le_bytes(fingerprint));
        }
        Ok(Some(Baseline {
            crawl_id,
            backend,
            files,
        }))
    }

    /// Writes the baseline to `path` atomically (a temporary file renamed over it).
    pub fn save(&self, path: &Path) -> Result<()> {
        let mut out = Vec::with_capacity(40 + self.backend.len() + self.files.len() * 16);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(self.crawl_id.as_bytes());
        out.extend_from_slice(&(self.backend.len() as u32).to_le_bytes());
        out.extend_from_slice(self.backend.as_bytes());
        out.extend_from_slice(&(self.files.len() as u64).to_le_bytes());
        for (hash, fingerprint) in &self.files {
            out.extend_from_slice(&hash.to_le_bytes());
            out.extend_from_slice(&fingerprint.to_le_bytes());
        }
        let temporary = path.with_extension("tmp");
        let write = || -> std::io::Result<()> {
            let mut file = std::fs::File::create(&temporary)?;
            file.write_all(&out)?;
            file.sync_all()?;
            std::fs::rename(&temporary, path)
        };
        write().map_err(|e| Error::io(path, e))
    }
}

struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take_slice(N)?.try_into().ok()
    }

    fn take_slice(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Some(head)
    }
}

/// One crawl of one root in the making: feed it the scan's records, send what it returns.
#[derive(Debug)]
pub struct Crawl {
    backend: String,
    root: RawPath,
    crawl_id: Uuid,
    base: Option<Baseline>,
    seen: HashMap<u64, u64>,
    pending: Vec<IndexEntry>,
    /// Bytes of the pending entries' paths (see [`INDEX_BATCH_PATH_BYTES`]).
    pending_path_bytes: usize,
    batch_size: usize,
    seq: u32,
    started_at: DateTime<Utc>,
    owners: HashMap<u32, Option<String>>,
}

impl Crawl {
    /// A crawl of `root` for `backend`, a delta against `base` when it is the same backend's
    /// (else a full crawl); at most `batch_size` entries a batch (capped at
    /// [`MAX_INDEX_ENTRIES`]; [`DEFAULT_INDEX_BATCH`](crate::protocol::DEFAULT_INDEX_BATCH) is what the agent and the CLI use), and
    /// fewer when their paths reach [`INDEX_BATCH_PATH_BYTES`].
    pub fn new(
        backend: &str,
        root: &Path,
        base: Option<Baseline>,
        batch_size: usize,
    ) -> Result<Crawl> {
        check_backend_name(backend)?;
        let root = RawPath::from(root);
        check_path("index root", root.as_bytes())?;
        Ok(Crawl {
            backend: backend.to_owned(),
            root,
            crawl_id: Uuid::new_v4(),
            base: base.filter(|base| base.backend == backend),
            seen: HashMap::new(),
            pending: Vec::new(),
            pending_path_bytes: 0,
            batch_size: batch_size.clamp(1, MAX_INDEX_ENTRIES),
            seq: 0,
            started_at: Utc::now(),
            owners: HashMap::new(),
        })
    }

    pub fn crawl_id(&self) -> Uuid {
        self.crawl_id
    }

    /// Whether this crawl sends only changes (it has a baseline).
    pub fn is_delta(&self) -> bool {
        self.base.is_some()
    }

    /// Takes one scanned entry (regular files only are indexed); a batch when one is full.
    pub fn add(&mut self, record: &FileRecord) -> Option<IndexBatch> {
        if record.kind != FileKind::File {
            return None;
        }
        let owner = record.uid.and_then(|uid| {
            self.owners
                .entry(uid)
                .or_insert_with(|| crate::sys::user_name(uid))
                .clone()
        });
        let entry = IndexEntry {
            path: record.path.clone(),
            size: record.size,
            disk_bytes: record.disk_size,
            mtime: record.mtime,
            atime: record.atime,
            uid: record.uid,
            owner,
            gid: record.gid,
            ino: record.ino,
        };
        let hash = path_hash(entry.path.as_bytes());
        let fingerprint = entry.fingerprint();
        self.seen.insert(hash, fingerprint);
        let unchanged = self
            .base
            .as_ref()
            .is_some_and(|base| base.files.get(&hash) == Some(&fingerprint));
        if !unchanged {
            self.pending_path_bytes += entry.path.as_bytes().len();
            self.pending.push(entry);
        }
        let full = self.pending.len() >= self.batch_size
            || self.pending_path_bytes >= INDEX_BATCH_PATH_BYTES;
        full.then(|| {
            self.pending_path_bytes = 0;
            let entries = std::mem::take(&mut self.pending);
            self.batch(entries, Vec::new(), None)
        })
    }

    fn batch(
        &mut self,
        entries: Vec<IndexEntry>,
        removed: Vec<u64>,
        end: Option<CrawlEnd>,
    ) -> IndexBatch {
        let batch = IndexBatch {
            version: PROTOCOL_VERSION,
            batch_id: Uuid::new_v4(),
            crawl_id: self.crawl_id,
            base_crawl: self.base.as_ref().map(|base| base.crawl_id),
            backend: self.backend.clone(),
            root: self.root.clone(),
            seq: self.seq,
            entries,
            removed,
            end,
        };
        self.seq += 1;
        batch
    }

    /// The crawl's last batches (the files still pending, the removals of a `complete` crawl,
    /// and the end) and the baseline to keep once the server has them all. A partial crawl
    /// removes nothing: files it did not see stay in the baseline as they were.
    pub fn finish(mut self, complete: bool) -> (Vec<IndexBatch>, Baseline) {
        let mut files = std::mem::take(&mut self.seen);
        let mut removed = Vec::new();
        if let Some(base) = self.base.take() {
            for (hash, fingerprint) in &base.files {
                if !files.contains_key(hash) {
                    if complete {
                        removed.push(*hash);
                    } else {
                        files.insert(*hash, *fingerprint);
                    }
                }
            }
            self.base = Some(base);
        }
        removed.sort_unstable();
        let mut batches = Vec::new();
        let mut pending = std::mem::take(&mut self.pending);
        let mut removed = removed.as_slice();
        loop {
            let entries: Vec<IndexEntry> = pending
                .drain(..pending.len().min(MAX_INDEX_ENTRIES))
                .collect();
            let (now, later) = removed.split_at(removed.len().min(MAX_INDEX_ENTRIES));
            removed = later;
            let last = pending.is_empty() && removed.is_empty();
            let end = last.then(|| CrawlEnd {
                complete,
                files: files.len() as u64,
                batches: self.seq + 1,
                started_at: self.started_at,
                finished_at: Utc::now(),
            });
            batches.push(self.batch(entries, now.to_vec(), end));
            if last {
                break;
            }
        }
        let baseline = Baseline {
            crawl_id: self.crawl_id,
            backend: self.backend,
            files,
        };
        (batches, baseline)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::Timestamp;

    fn record(path: &str, size: u64) -> FileRecord {
        FileRecord {
            path: RawPath::from(std::path::PathBuf::from(path)),
            kind: FileKind::File,
            size,
            disk_size: size.div_ceil(4096) * 4096,
            mtime: Some(Timestamp { secs: 1, nanos: 0 }),
            atime: None,
            uid: Some(u32::MAX - 7),
            gid: Some(0),
            ino: Some(size),
            depth: 1,
        }
    }

    fn crawl(
        base: Option<Baseline>,
        records: &[FileRecord],
        complete: bool,
    ) -> (Vec<IndexBatch>, Baseline) {
        let mut crawl = Crawl::new("b", Path::new("/srv"), base, 2).expect("crawl");
        let mut batches: Vec<IndexBatch> = records.iter().filter_map(|r| crawl.add(r)).collect();
        let (last, baseline) = crawl.finish(complete);
        batches.extend(last);
        for batch in &batches {
            batch.validate().expect("valid batch");
        }
        (batches, baseline)
    }

    fn sent(batches: &[IndexBatch]) -> Vec<String> {
        batches
            .iter()
            .flat_map(|b| &b.entries)
            .map(|e| e.path.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn long_paths_close_a_batch_before_it_is_full() {
        let mut crawl = Crawl::new(
            "b",
            Path::new("/srv"),
            None,
            crate::protocol::DEFAULT_INDEX_BATCH,
        )
        .expect("crawl");
        let long = "d/".repeat(1999);
        assert_eq!(format!("/srv/{long}f00000").len(), 4009);
        assert_eq!(INDEX_BATCH_PATH_BYTES, 16 << 20);
        // The batch closes on the path that reaches 16 MiB: the 4,185th, since
        // 4,184 × 4,009 = 16,773,656 < 16,777,216 ≤ 4,185 × 4,009 = 16,777,665.
        let per_batch = 4185;
        let records: Vec<FileRecord> = (0..per_batch + 10)
            .map(|i| record(&format!("/srv/{long}f{i:05}"), 1))
            .collect();
        let batches: Vec<IndexBatch> = records.iter().filter_map(|r| crawl.add(r)).collect();
        assert_eq!(batches.len(), 1, "one batch closed by its paths' bytes");
        assert_eq!(batches[0].entries.len(), per_batch);
        let (last, _) = crawl.finish(true);
        assert_eq!(last[0].entries.len(), 10, "the rest start a new batch");
    }

    #[test]
    fn a_delta_sends_only_changes_and_removes_only_when_complete() {
        let first = [
            record("/srv/a", 1),
            record("/srv/b", 2),
            record("/srv/c", 3),
        ];
        let (batches, base) = crawl(None, &first, true);
        assert_eq!(sent(&batches).len(), 3);
        assert_eq!(
            batches.len(),
            2,
            "two full batches of 2 and 1 — the last with the end"
        );
        let end = batches.last().and_then(|b| b.end).expect("end");
        assert_eq!((end.files, end.batches, end.complete), (3, 2, true));
        assert!(batches.iter().all(|b| b.base_crawl.is_none()));

        let (same, again) = crawl(Some(base.clone()), &first, true);
        assert_eq!(same.len(), 1, "an unchanged tree is one empty batch");
        assert!(sent(&same).is_empty() && same[0].removed.is_empty());
        assert_eq!(same[0].base_crawl, Some(base.crawl_id));
        assert_eq!(again.len(), 3);

        let second = [
            record("/srv/a", 1),
            record("/srv/b", 20),
            record("/srv/d", 4),
        ];
        let (delta, next) = crawl(Some(base.clone()), &second, true);
        assert_eq!(sent(&delta), ["/srv/b", "/srv/d"]);
        let removed: Vec<u64> = delta.iter().flat_map(|b| b.removed.clone()).collect();
        assert_eq!(removed, [path_hash(b"/srv/c")]);
        assert_eq!(next.len(), 3);

        let (partial, kept) = crawl(Some(base), &second[..1], false);
        assert!(partial.iter().all(|b| b.removed.is_empty()));
        assert_eq!(kept.len(), 3, "a partial crawl keeps what it did not see");
        assert_eq!(
            partial.last().and_then(|b| b.end).map(|e| e.complete),
            Some(false)
        );
    }

    #[test]
    fn baselines_round_trip_and_refuse_corruption() {
        let (_, base) = crawl(None, &[record("/srv/a", 1), record("/srv/b", 2)], true);
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("b.idx");
        assert_eq!(Baseline::load(&path).expect("none yet"), None);
        base.save(&path).expect("save");
        assert_eq!(Baseline::load(&path).expect("load"), Some(base));
        let mut bytes = std::fs::read(&path).expect("read");
        bytes.pop();
        std::fs::write(&path, &bytes).expect("write");
        let err = Baseline::load(&path).expect_err("truncated");
        assert_eq!(err.code(), crate::ErrorCode::InvalidData);
        std::fs::write(&path, b"hello").expect("write");
        assert!(Baseline::load(&path).is_err());
    }

    #[test]
    fn another_backends_baseline_means_a_full_crawl() {
        let (_, base) = crawl(None, &[record("/srv/a", 1)], true);
        let other = Crawl::new("other", Path::new("/srv"), Some(base), 10).expect("crawl");
        assert!(!other.is_delta());
    }
}
