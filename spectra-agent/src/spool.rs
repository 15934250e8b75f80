//! The on-disk spool: every metric batch is written here before it is sent, and removed only
//! once the server has acknowledged it, so neither a server outage nor an agent restart loses
//! one. Bounded in bytes: when full, the oldest batches are dropped and counted.
//!
//! One file per batch, named by a sequence number (oldest first), written through a synced
//! temporary file and a rename, so a crash leaves whole batches only. A batch carries its id,
//! so sending one twice (a crash between the server's answer and the removal) stores it once.

use std::path::{Path, PathBuf};

use crate::AgentError;
use crate::identity::write_private;

const SUFFIX: &str = "batch";

#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    max_bytes: u64,
    next: u64,
}

/// What the spool holds, and what it had to drop since the count was last reported.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SpoolStats {
    pub batches: u64,
    pub bytes: u64,
    pub dropped: u64,
}

impl Spool {
    /// Opens (creating) the spool in `dir`, resuming whatever an earlier run left there.
    pub fn open(dir: &Path, max_bytes: u64) -> Result<Spool, AgentError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| AgentError::State(format!("{}: {e}", dir.display())))?;
        let mut spool = Spool {
            dir: dir.to_path_buf(),
            max_bytes,
            next: 0,
        };
        spool.next = spool.entries()?.last().map_or(0, |(seq, _)| seq + 1);
        Ok(spool)
    }

    /// Keeps `batch` (encoded bytes); drops the oldest batches while the spool is over its
    /// bound, never the one just added.
    pub fn push(&mut self, batch: &[u8]) -> Result<(), AgentError> {
        let path = self.dir.join(format!("{:020}.{SUFFIX}", self.next));
        write_private(&path, batch)?;
        self.next += 1;
        let mut entries = self.entries()?;
        let mut bytes: u64 = entries.iter().map(|(_, size)| *size).sum::<u64>();
        let mut dropped = 0;
        while bytes > self.max_bytes && entries.len() > 1 {
            let (seq, size) = entries.remove(0);
            let _ = std::fs::remove_file(self.file(seq));
            bytes -= size;
            dropped += 1;
        }
        if dropped > 0 {
            let total = self.dropped() + dropped;
            tracing::warn!(dropped, total, "spool full: dropped the oldest batches");
            write_private(&self.dir.join("dropped"), total.to_string().as_bytes())?;
        }
        Ok(())
    }

    /// The oldest batch: its sequence number and bytes.
    pub fn oldest(&self) -> Result<Option<(u64, Vec<u8>)>, AgentError> {
        for (seq, _) in self.entries()? {
            match std::fs::read(self.file(seq)) {
                Ok(bytes) => return Ok(Some((seq, bytes))),
                // Dropped by a concurrent push between the listing and the read.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(AgentError::State(format!("spool: {e}"))),
            }
        }
        Ok(None)
    }

    /// Forgets batch `seq` (the server has it, or it can never take it).
    pub fn remove(&self, seq: u64) -> Result<(), AgentError> {
        match std::fs::remove_file(self.file(seq)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(AgentError::State(format!("spool: {e}")))
            }
            _ => Ok(()),
        }
    }

    pub fn stats(&self) -> Result<SpoolStats, AgentError> {
        let entries = self.entries()?;
        Ok(SpoolStats {
            batches: entries.len() as u64,
            bytes: entries.iter().map(|(_, size)| size).sum(),
            dropped: self.dropped(),
        })
    }

    /// The dropped count, reset once it has been reported.
    pub fn take_dropped(&self) -> Result<u64, AgentError> {
        let dropped = self.dropped();
        if dropped > 0 {
            write_private(&self.dir.join("dropped"), b"0")?;
        }
        Ok(dropped)
    }

    fn dropped(&self) -> u64 {
        std::fs::read_to_string(self.dir.join("dropped"))
            .ok()
            .and_then(|text| text.trim().parse().ok())
            .unwrap_or(0)
    }

    fn file(&self, seq: u64) -> PathBuf {
        self.dir.join(format!("{seq:020}.{SUFFIX}"))
    }

    /// Sequence numbers and sizes, oldest first.
    fn entries(&self) -> Result<Vec<(u64, u64)>, AgentError> {
        let listing = std::fs::read_dir(&self.dir)
            .map_err(|e| AgentError::State(format!("{}: {e}", self.dir.display())))?;
        let mut entries: Vec<(u64, u64)> = listing
            .flatten()
            .filter_map(|entry| {
                let name = entry.file_name();
                let seq = name
                    .to_str()?
                    .strip_suffix(&format!(".{SUFFIX}"))?
                    .parse()
                    .ok()?;
                Some((seq, entry.metadata().ok()?.len()))
            })
            .collect();
        entries.sort_unstable();
        Ok(entries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_come_back_oldest_first_and_survive_a_reopen() {
        let dir = tempfile::tempdir().expect("tmp");
        let mut spool = Spool::open(dir.path(), 1 << 20).expect("open");
        spool.push(b"one").expect("push");
        spool.push(b"two").expect("push");
        let (first, bytes) = spool.oldest().expect("read").expect("a batch");
        assert_eq!(bytes, b"one");
        spool.remove(first).expect("remove");
        drop(spool);
        let mut again = Spool::open(dir.path(), 1 << 20).expect("reopen");
        again.push(b"three").expect("push");
        let mut seen = Vec::new();
        while let Some((seq, bytes)) = again.oldest().expect("read") {
            seen.push(bytes);
            again.remove(seq).expect("remove");
        }
        assert_eq!(seen, [b"two".to_vec(), b"three".to_vec()]);
    }

    #[test]
    fn a_full_spool_drops_the_oldest_and_counts_them() {
        let dir = tempfile::tempdir().expect("tmp");
        let mut spool = Spool::open(dir.path(), 25).expect("open");
        for i in 0..10u8 {
            spool.push(&[i; 10]).expect("push");
        }
        let stats = spool.stats().expect("stats");
        assert_eq!((stats.batches, stats.bytes, stats.dropped), (2, 20, 8));
        assert_eq!(
            spool.oldest().expect("read").expect("batch").1,
            vec![8u8; 10]
        );
        assert_eq!(spool.take_dropped().expect("take"), 8);
        assert_eq!(spool.stats().expect("stats").dropped, 0);
    }
}
