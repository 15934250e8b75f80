//! The file index an agent uploads for the roots its configuration opts in: per-file metadata
//! (never contents), in batches that make up one *crawl* of one backend.
//!
//! A crawl is either **full** (`base_crawl` is `None`: the server marks every row it sees and,
//! when the crawl completes, removes the rows it did not) or a **delta** against the last
//! crawl the server applied (`base_crawl`): only new and changed files are sent, and the files
//! that are gone travel as the [`path_hash`]es of their paths in the last batch. So re-crawling
//! an unchanged tree sends one small batch and rewrites nothing. A partial crawl (the scan hit
//! errors or was cancelled) never removes anything. [`crate::index::Crawl`] builds the batches.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::messages::check_label;
use super::{PROTOCOL_VERSION, first_version};
use crate::error::{Error, Result};
use crate::raw_path::{RawPath, check_path};
use crate::scan::Timestamp;

/// Most entries, and most removed paths, in one batch.
pub const MAX_INDEX_ENTRIES: usize = 50_000;

/// Entries a crawl puts in one batch unless told otherwise. Large on purpose: the server's
/// cost is the B-tree pages each commit dirties, and with random path hashes a batch of
/// 5,000 files dirtied ~2 index pages a file at 1M files, 50,000 files ~0.4 (benches/README).
pub const DEFAULT_INDEX_BATCH: usize = MAX_INDEX_ENTRIES;

/// A crawl also closes a batch once its entries' paths reach this many bytes, so that a batch
/// of long paths stays well inside the server's default body limits (8 MiB as sent, 64 MiB
/// decoded).
pub const INDEX_BATCH_PATH_BYTES: usize = 16 << 20;

/// One file of the index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexEntry {
    pub path: RawPath,
    /// Apparent size.
    pub size: u64,
    /// Bytes allocated on disk.
    pub disk_bytes: u64,
    #[serde(default)]
    pub mtime: Option<Timestamp>,
    /// `None` when the filesystem does not keep it.
    #[serde(default)]
    pub atime: Option<Timestamp>,
    #[serde(default)]
    pub uid: Option<u32>,
    /// The owner's user name, when the agent's host resolves `uid`.
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default)]
    pub gid: Option<u32>,
    #[serde(default)]
    pub ino: Option<u64>,
}

impl IndexEntry {
    /// Who owns the file, as usage is grouped: the user name, else the uid, else `unknown`
    /// (Windows has no Unix owner).
    pub fn owner_key(&self) -> String {
        owner_key(self.owner.as_deref(), self.uid)
    }

    /// A digest of everything the index keeps about the file but its path: two crawls that
    /// give the same fingerprint need not send the file again.
    pub fn fingerprint(&self) -> u64 {
        let mut hash = Sha256::new();
        let time = |t: Option<Timestamp>| t.map_or([0u8; 13], stamp_bytes);
        hash.update(self.size.to_le_bytes());
        hash.update(self.disk_bytes.to_le_bytes());
        hash.update(time(self.mtime));
        hash.update(time(self.atime));
        for id in [self.uid, self.gid] {
            hash.update(id.map_or([0u8; 5], |id| prefixed(id.to_le_bytes())));
        }
        hash.update(self.ino.map_or([0u8; 9], |ino| prefixed(ino.to_le_bytes())));
        hash.update(self.owner.as_deref().unwrap_or("\0").as_bytes());
        first_u64(&hash.finalize())
    }
}

fn stamp_bytes(t: Timestamp) -> [u8; 13] {
    let mut out = [1u8; 13];
    out[1..9].copy_from_slice(&t.secs.to_le_bytes());
    out[9..].copy_from_slice(&t.nanos.to_le_bytes());
    out
}

/// `bytes` after a 1 marking "known", so that `Some(0)` and `None` differ.
fn prefixed<const N: usize, const M: usize>(bytes: [u8; N]) -> [u8; M] {
    let mut out = [1u8; M];
    out[1..].copy_from_slice(&bytes);
    out
}

fn first_u64(digest: &[u8]) -> u64 {
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}

/// The name usage is grouped by: `owner`, else the uid in decimal, else `unknown`.
pub fn owner_key(owner: Option<&str>, uid: Option<u32>) -> String {
    match (owner, uid) {
        (Some(name), _) => name.to_owned(),
        (None, Some(uid)) => uid.to_string(),
        (None, None) => "unknown".to_owned(),
    }
}

/// The identity of a path in the index: the first 8 bytes of the SHA-256 of its exact bytes.
/// Removals travel as these, and the server keys its rows on them, so a name that is not
/// UTF-8 is still one row.
pub fn path_hash(path: &[u8]) -> u64 {
    first_u64(&Sha256::digest(path))
}

/// One batch of a crawl.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexBatch {
    #[serde(default = "first_version")]
    pub version: u32,
    /// Chosen by the agent, so a retried batch is applied once.
    pub batch_id: Uuid,
    pub crawl_id: Uuid,
    /// The crawl this one is a delta against; `None` for a full crawl.
    #[serde(default)]
    pub base_crawl: Option<Uuid>,
    /// The storage location: `host:/root` by default, or the name the agent's config gives.
    pub backend: String,
    /// The crawled root; every entry is under it.
    pub root: RawPath,
    /// 0, 1, … within the crawl.
    pub seq: u32,
    #[serde(default)]
    pub entries: Vec<IndexEntry>,
    /// [`path_hash`]es of the files gone since the base crawl (delta crawls that completed).
    #[serde(default)]
    pub removed: Vec<u64>,
    /// Set on the crawl's last batch.
    #[serde(default)]
    pub end: Option<CrawlEnd>,
}

/// How a crawl ended, sent with its last batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CrawlEnd {
    /// Every directory was read: only then are unseen files removed.
    pub complete: bool,
    /// Files the index holds for the backend after this crawl (the server checks it).
    pub files: u64,
    /// Batches in the crawl, this one included.
    pub batches: u32,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
}

impl IndexBatch {
    /// Checks what the server relies on, naming the field at fault.
    pub fn validate(&self) -> Result<()> {
        if self.version > PROTOCOL_VERSION {
            return Err(Error::InvalidData {
                what: "index batch".into(),
                message: format!(
                    "protocol version {} is newer than the supported {PROTOCOL_VERSION}",
                    self.version
                ),
            });
        }
        check_backend_name(&self.backend)?;
        check_path("root", self.root.as_bytes())?;
        if self.entries.len() > MAX_INDEX_ENTRIES || self.removed.len() > MAX_INDEX_ENTRIES {
            return Err(Error::invalid(
                "index batch",
                format!(
                    "{} entries and {} removed: at most {MAX_INDEX_ENTRIES} of each",
                    self.entries.len(),
                    self.removed.len()
                ),
            ));
        }
        let root = self.root.as_bytes();
        for (at, entry) in self.entries.iter().enumerate() {
            let what = format!("entries[{at}].path");
            check_path(&what, entry.path.as_bytes())?;
            if !is_under(entry.path.as_bytes(), root) {
                return Err(Error::invalid(
                    &what,
                    format!(
                        "{} is not under the root {}",
                        entry.path.to_string_lossy(),
                        self.root.to_string_lossy()
                    ),
                ));
            }
            if let Some(owner) = &entry.owner {
                check_label(&format!("entries[{at}].owner"), owner, false)?;
            }
        }
        if !self.removed.is_empty() && self.base_crawl.is_none() {
            return Err(Error::invalid(
                "removed",
                "only a delta crawl (with base_crawl) removes by hash",
            ));
        }
        if let Some(end) = &self.end {
            if end.batches != self.seq.saturating_add(1) {
                return Err(Error::invalid(
                    "end.batches",
                    format!(
                        "{} but this last batch is number {} (from 0)",
                        end.batches, self.seq
                    ),
                ));
            }
            if !end.complete && !self.removed.is_empty() {
                return Err(Error::invalid("removed", "a partial crawl removes nothing"));
            }
        }
        Ok(())
    }
}

fn is_under(path: &[u8], root: &[u8]) -> bool {
    let root = root.strip_suffix(b"/").unwrap_or(root);
    path == root || (path.starts_with(root) && path.get(root.len()) == Some(&b'/'))
}

/// Which of `roots` holds `path`, component by component (`/srv/datax` is not under
/// `/srv/data`), the longest root winning: how an access event is attributed to the indexed
/// root (and so the backend) it belongs to, by the agent and by the server alike.
///
/// ```
/// use spectra_core::protocol::holding_root;
/// let roots = [(&b"/srv"[..], "all"), (&b"/srv/data/"[..], "data")];
/// assert_eq!(holding_root(roots, b"/srv/data/x"), Some("data"));
/// assert_eq!(holding_root(roots, b"/srv/datax"), Some("all"));
/// assert_eq!(holding_root(roots, b"/home"), None);
/// ```
pub fn holding_root<'r, T>(
    roots: impl IntoIterator<Item = (&'r [u8], T)>,
    path: &[u8],
) -> Option<T> {
    roots
        .into_iter()
        .filter(|(root, _)| is_under(path, root))
        .max_by_key(|(root, _)| root.strip_suffix(b"/").unwrap_or(root).len())
        .map(|(_, found)| found)
}

/// A backend name: 1 to 253 characters, none a control character.
pub fn check_backend_name(name: &str) -> Result<()> {
    check_backend_at("backend", name)
}

/// [`check_backend_name`], naming the field as `what`.
pub(super) fn check_backend_at(what: &str, name: &str) -> Result<()> {
    check_label(what, name, false)
}

/// A batch of access events for `POST /api/v1/telemetry`, applied once by its id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TelemetryBatch {
    #[serde(default = "first_version")]
    pub version: u32,
    pub batch_id: Uuid,
    pub events: Vec<super::AccessEvent>,
}

/// Most events in one telemetry batch.
pub const MAX_TELEMETRY_EVENTS: usize = 20_000;

impl TelemetryBatch {
    pub fn new(events: Vec<super::AccessEvent>) -> TelemetryBatch {
        TelemetryBatch {
            version: PROTOCOL_VERSION,
            batch_id: Uuid::new_v4(),
            events,
        }
    }

    /// Checks every event, naming the first at fault.
    pub fn validate(&self) -> Result<()> {
        if self.version > PROTOCOL_VERSION {
            return Err(Error::InvalidData {
                what: "telemetry batch".into(),
                message: format!(
                    "protocol version {} is newer than the supported {PROTOCOL_VERSION}",
                    self.version
                ),
            });
        }
        if self.events.len() > MAX_TELEMETRY_EVENTS {
            return Err(Error::invalid(
                "telemetry batch",
                format!(
                    "{} events: at most {MAX_TELEMETRY_EVENTS}",
                    self.events.len()
                ),
            ));
        }
        for (at, event) in self.events.iter().enumerate() {
            event.validate(&format!("events[{at}]"))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str) -> IndexEntry {
        IndexEntry {
            path: RawPath::from(std::path::PathBuf::from(path)),
            size: 10,
            disk_bytes: 4096,
            mtime: Some(Timestamp { secs: 5, nanos: 0 }),
            atime: None,
            uid: Some(0),
            owner: None,
            gid: Some(0),
            ino: Some(7),
        }
    }

    fn batch(entries: Vec<IndexEntry>) -> IndexBatch {
        IndexBatch {
            version: PROTOCOL_VERSION,
            batch_id: Uuid::new_v4(),
            crawl_id: Uuid::new_v4(),
            base_crawl: None,
            backend: "web-1:/srv".into(),
            root: RawPath::from(std::path::PathBuf::from("/srv")),
            seq: 0,
            entries,
            removed: vec![],
            end: None,
        }
    }

    #[test]
    fn fingerprints_tell_every_kept_fact_apart() {
        let base = entry("/srv/a");
        let mut changed = vec![];
        let mut e = base.clone();
        e.size += 1;
        changed.push(e);
        let mut e = base.clone();
        e.atime = Some(Timestamp { secs: 0, nanos: 0 });
        changed.push(e);
        let mut e = base.clone();
        e.uid = None;
        changed.push(e);
        let mut e = base.clone();
        e.owner = Some("ana".into());
        changed.push(e);
        let mut e = base.clone();
        e.ino = Some(8);
        changed.push(e);
        for other in &changed {
            assert_ne!(base.fingerprint(), other.fingerprint(), "{other:?}");
        }
        let mut moved = base.clone();
        moved.path = RawPath::from(std::path::PathBuf::from("/srv/b"));
        assert_eq!(
            base.fingerprint(),
            moved.fingerprint(),
            "the path is not in it"
        );
    }

    #[test]
    fn batches_name_what_is_wrong() {
        batch(vec![entry("/srv/a"), entry("/srv")])
            .validate()
            .expect("valid");
        let err = batch(vec![entry("/srv/a"), entry("/srvx/b")])
            .validate()
            .expect_err("outside the root");
        assert!(err.to_string().contains("entries[1].path"), "{err}");
        let mut removing = batch(vec![]);
        removing.removed = vec![1];
        assert!(
            removing.validate().is_err(),
            "a full crawl removes nothing by hash"
        );
        let mut ended = batch(vec![]);
        ended.seq = 2;
        ended.end = Some(CrawlEnd {
            complete: true,
            files: 0,
            batches: 2,
            started_at: Utc::now(),
            finished_at: Utc::now(),
        });
        let err = ended.validate().expect_err("batch count");
        assert!(err.to_string().contains("end.batches"), "{err}");
        let mut named = batch(vec![]);
        named.backend = "a\u{7}".into();
        assert!(named.validate().is_err());
    }

    #[test]
    fn owners_group_by_name_then_uid() {
        assert_eq!(owner_key(Some("ana"), Some(1000)), "ana");
        assert_eq!(owner_key(None, Some(1000)), "1000");
        assert_eq!(owner_key(None, None), "unknown");
    }
}
