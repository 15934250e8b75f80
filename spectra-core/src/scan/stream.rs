//! A scan as a stream of entries, for callers that want every file rather than a summary
//! (a binding's iterator, an index uploader) without holding them all.

use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::thread::JoinHandle;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::Scanner;
use super::control::{CancelToken, ScanControl};
use super::entry::{Entry, FileKind, Timestamp};
use super::report::ScanReport;
use super::visitor::Visitor;
use crate::error::{Error, Result};
use crate::raw_path::RawPath;

/// Entries a [`FileStream`] lets the walk run ahead of its reader unless told otherwise:
/// every frontend's default.
pub const DEFAULT_STREAM_CAPACITY: usize = 4096;

/// One entry of a streamed scan, owned and serializable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRecord {
    pub path: RawPath,
    pub kind: FileKind,
    /// Apparent size (`st_size`).
    pub size: u64,
    /// Bytes allocated on disk.
    pub disk_size: u64,
    pub mtime: Option<Timestamp>,
    pub atime: Option<Timestamp>,
    /// `None` where the platform has no Unix owners (Windows).
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    /// The inode number (`None` on Windows).
    pub ino: Option<u64>,
    /// 0 for a root, 1 for its entries, and so on.
    pub depth: usize,
}

impl FileRecord {
    fn of(entry: &Entry<'_>) -> Self {
        FileRecord {
            path: RawPath::from(entry.path()),
            kind: entry.meta.kind,
            size: entry.meta.size,
            disk_size: entry.meta.disk_size,
            mtime: entry.meta.mtime,
            atime: entry.meta.atime,
            uid: entry.meta.uid,
            gid: entry.meta.gid,
            ino: entry.meta.ino,
            depth: entry.depth,
        }
    }
}

/// What waiting on a [`FileStream`] gave.
#[derive(Debug)]
pub enum Next {
    Entry(FileRecord),
    /// Nothing arrived within the timeout; the scan goes on.
    Waiting,
    /// The scan is over and every entry was delivered.
    Done,
}

/// Entries of a scan running on its own threads, delivered as they are found. The channel is
/// bounded, so a slow consumer slows the walk instead of filling memory; dropping the stream
/// cancels the walk.
#[derive(Debug)]
pub struct FileStream {
    entries: Receiver<FileRecord>,
    cancel: CancelToken,
    worker: Option<JoinHandle<Result<ScanReport>>>,
}

struct Forward {
    sender: SyncSender<FileRecord>,
    cancel: CancelToken,
}

impl Visitor for Forward {
    fn visit(&mut self, entry: &Entry<'_>) {
        let mut record = FileRecord::of(entry);
        loop {
            match self.sender.try_send(record) {
                Ok(()) => return,
                Err(TrySendError::Disconnected(_)) => return self.cancel.cancel(),
                Err(TrySendError::Full(back)) => {
                    if self.cancel.is_cancelled() {
                        return;
                    }
                    record = back;
                    std::thread::sleep(Duration::from_micros(200));
                }
            }
        }
    }

    fn merge(&mut self, _other: Self) {}
}

impl Scanner {
    /// Starts the scan on its own threads and returns the stream of its entries; at most
    /// `capacity` entries wait unread. [`FileStream::finish`] gives the report at the end.
    pub fn stream(self, capacity: usize) -> FileStream {
        let (sender, entries) = sync_channel(capacity.max(1));
        let cancel = CancelToken::new();
        let token = cancel.clone();
        let worker = std::thread::spawn(move || {
            let control = ScanControl::new().cancel_with(token.clone());
            let new_visitor = || Forward {
                sender: sender.clone(),
                cancel: token.clone(),
            };
            let result = self
                .scan_with(new_visitor, control)
                .map(|(report, _)| report);
            drop(sender);
            result
        });
        FileStream {
            entries,
            cancel,
            worker: Some(worker),
        }
    }
}

impl FileStream {
    /// Waits up to `timeout` for the next entry (so a caller can check for interrupts).
    pub fn next_timeout(&mut self, timeout: Duration) -> Next {
        match self.entries.recv_timeout(timeout) {
            Ok(record) => Next::Entry(record),
            Err(RecvTimeoutError::Timeout) => Next::Waiting,
            Err(RecvTimeoutError::Disconnected) => Next::Done,
        }
    }

    /// Stops the walk; entries already queued can still be read.
    pub fn cancel(&self) {
        self.cancel.cancel();
    }

    /// Waits for the walk to end (cancelling it first if entries are left unread) and returns
    /// its report.
    pub fn finish(mut self) -> Result<ScanReport> {
        self.cancel.cancel();
        self.join()
    }

    fn join(&mut self) -> Result<ScanReport> {
        // Unblock a walker waiting for room in the channel.
        while self.entries.try_recv().is_ok() {}
        match self.worker.take().map(JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(Error::invalid("scan", "the scan thread panicked")),
            None => Err(Error::invalid("scan", "the stream was already finished")),
        }
    }
}

impl Iterator for FileStream {
    type Item = FileRecord;

    fn next(&mut self) -> Option<FileRecord> {
        self.entries.recv().ok()
    }
}

impl Drop for FileStream {
    fn drop(&mut self) {
        if self.worker.is_some() {
            self.cancel.cancel();
            let _ = self.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::ScanOptions;

    #[test]
    fn every_entry_is_streamed_once_and_the_report_agrees() {
        let dir = tempfile::tempdir().expect("tempdir");
        for i in 0..300 {
            let sub = dir.path().join(format!("d{}", i % 7));
            std::fs::create_dir_all(&sub).expect("dir");
            std::fs::write(sub.join(format!("f{i}")), vec![0u8; i]).expect("file");
        }
        let scanner = Scanner::new(ScanOptions::new(dir.path()).with_threads(2)).expect("scanner");
        let mut stream = scanner.stream(8);
        let mut files = std::collections::BTreeSet::new();
        let mut bytes = 0;
        loop {
            match stream.next_timeout(Duration::from_secs(10)) {
                Next::Entry(record) if record.kind == FileKind::File => {
                    bytes += record.size;
                    assert!(files.insert(record.path.to_string_lossy().into_owned()));
                }
                Next::Entry(_) => {}
                Next::Waiting => panic!("a 300-file scan stalled"),
                Next::Done => break,
            }
        }
        let report = stream.finish().expect("report");
        assert_eq!(files.len(), 300);
        assert_eq!(report.totals.files, 300);
        assert_eq!(bytes, (0..300).sum::<usize>() as u64);
    }

    #[test]
    fn dropping_the_stream_stops_the_walk() {
        let dir = tempfile::tempdir().expect("tempdir");
        for i in 0..2000 {
            std::fs::write(dir.path().join(format!("f{i}")), b"x").expect("file");
        }
        let scanner = Scanner::new(ScanOptions::new(dir.path())).expect("scanner");
        let mut stream = scanner.stream(1);
        assert!(matches!(
            stream.next_timeout(Duration::from_secs(10)),
            Next::Entry(_)
        ));
        let report = stream.finish().expect("report");
        assert!(report.cancelled, "stopped early, and says so");
    }
}
