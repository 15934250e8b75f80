//! The audit log: append-only JSON lines, each record chained to the one before by a SHA-256
//! hash, so removing, reordering or editing a record breaks [`verify`].

use std::io::{BufRead, Write};
use std::path::Path;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// What happened to one file (or to a whole run), as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEvent {
    pub at: DateTime<Utc>,
    pub plan_id: String,
    pub policy: String,
    pub who: String,
    /// The API token or agent the enforcing process acted for, when it acted for another.
    /// Left out of records without one, so older records keep their hashes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_behalf_of: Option<String>,
    /// `quarantine`, `restore`, `skip`, `error`.
    pub action: String,
    pub path: String,
    /// The stat before acting: `dev:ino size mtime`.
    pub before: Option<String>,
    pub result: String,
    pub quarantine_path: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Record {
    seq: u64,
    prev: String,
    event: AuditEvent,
    hash: String,
}

const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

fn chain_hash(seq: u64, prev: &str, event: &AuditEvent) -> Result<String> {
    let body = serde_json::to_vec(&(seq, prev, event))
        .map_err(|e| Error::invalid("audit event", e.to_string()))?;
    Ok(Sha256::digest(&body)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

fn read_records(path: &Path) -> Result<Vec<Record>> {
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(path, e)),
    };
    std::io::BufReader::new(file)
        .lines()
        .enumerate()
        .map(|(i, line)| {
            let line = line.map_err(|e| Error::io(path, e))?;
            serde_json::from_str(&line).map_err(|e| Error::InvalidData {
                what: format!("audit log {}", path.display()),
                message: format!("line {}: {e}", i + 1),
            })
        })
        .collect()
}

/// Appends `events` to the log at `path`, chained after its last record, and syncs the file.
pub fn append(path: &Path, events: &[AuditEvent]) -> Result<()> {
    let records = read_records(path)?;
    let (mut seq, mut prev) = records
        .last()
        .map_or((0, GENESIS.to_string()), |r| (r.seq + 1, r.hash.clone()));
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| Error::io(path, e))?;
    let mut lines = Vec::new();
    for event in events {
        let hash = chain_hash(seq, &prev, event)?;
        let record = Record {
            seq,
            prev: prev.clone(),
            event: event.clone(),
            hash: hash.clone(),
        };
        serde_json::to_writer(&mut lines, &record)
            .map_err(|e| Error::invalid("audit record", e.to_string()))?;
        lines.push(b'\n');
        seq += 1;
        prev = hash;
    }
    file.write_all(&lines)
        .and_then(|()| file.sync_all())
        .map_err(|e| Error::io(path, e))
}

/// Checks the whole chain; returns how many records it holds, or where it breaks.
pub fn verify(path: &Path) -> Result<u64> {
    let mut prev = GENESIS.to_string();
    let records = read_records(path)?;
    for (expected_seq, record) in records.iter().enumerate() {
        let broken = |why: &str| Error::InvalidData {
            what: format!("audit log {}", path.display()),
            message: format!("record {} ({}): {why}", expected_seq + 1, record.event.path),
        };
        if record.seq != expected_seq as u64 {
            return Err(broken("a record is missing or out of order"));
        }
        if record.prev != prev {
            return Err(broken("it does not follow the record before it"));
        }
        if chain_hash(record.seq, &record.prev, &record.event)? != record.hash {
            return Err(broken("its contents were changed"));
        }
        prev = record.hash.clone();
    }
    Ok(records.len() as u64)
}
