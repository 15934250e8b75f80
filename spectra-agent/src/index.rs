//! The file index of an opted-in root: one streamed scan, crawled by core's
//! [`Crawl`] against the baseline the server last acknowledged, uploaded batch by batch as the
//! walk goes (only metadata leaves the host).
//!
//! The baseline (16 bytes a file) lives in `STATE_DIR/index/`; it is replaced only once the
//! server has applied the whole crawl, so an upload cut short is simply sent again as a delta
//! against the old one. When the server answers that it does not hold the crawl a delta is
//! against (its database was restored, another agent crawled the backend), the agent drops
//! its baseline and crawls again in full, once.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;
use spectra_core::index::{Baseline, Crawl};
use spectra_core::protocol::{self, Compression, DEFAULT_INDEX_BATCH, IndexBatch};
use spectra_core::scan::{ScanOptions, ScanReport, Scanner};
use tokio::sync::mpsc;

use crate::AgentError;
use crate::client::{Client, Delivery, IndexAnswer};

/// Tries of one batch before the crawl's upload gives up (with 1, 2, 4, … s between).
const TRIES: u32 = 6;

/// What an index upload did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IndexUpload {
    pub backend: String,
    pub crawl_id: String,
    /// Only changes were sent (against the last acknowledged crawl).
    pub delta: bool,
    pub batches: u32,
    pub files_sent: u64,
    pub removed: u64,
    /// Files the server's index holds for the backend now.
    pub files: Option<i64>,
    /// The server's count differed from the agent's: the next crawl is a full one.
    pub resync: bool,
}

/// Where the baseline of `backend` is kept.
pub fn baseline_path(state_dir: &Path, backend: &str) -> PathBuf {
    let name = protocol::path_hash(backend.as_bytes());
    state_dir.join("index").join(format!("{name:016x}.idx"))
}

/// Scans `options`' one root and uploads its index as `backend`; the scan's report too.
pub async fn crawl_and_upload(
    client: &Client,
    token: &str,
    state_dir: &Path,
    backend: &str,
    options: ScanOptions,
) -> Result<(ScanReport, IndexUpload), AgentError> {
    let [root] = options.roots.as_slice() else {
        return Err(AgentError::Config(format!(
            "an index crawls one root, not {}",
            options.roots.len()
        )));
    };
    let root = root.clone();
    let path = baseline_path(state_dir, backend);
    std::fs::create_dir_all(path.parent().unwrap_or(state_dir))
        .map_err(|e| AgentError::State(format!("{}: {e}", path.display())))?;
    let base = Baseline::load(&path).unwrap_or_else(|e| {
        tracing::warn!(error = %e, "index baseline unreadable: crawling in full");
        None
    });
    let first = attempt(client, token, backend, &root, options.clone(), base).await?;
    let (report, upload, baseline) = match first {
        Attempt::Done(done) => *done,
        Attempt::Resync(why) => {
            tracing::info!(backend, reason = %why, "the server wants a full crawl");
            let _ = std::fs::remove_file(&path);
            match attempt(client, token, backend, &root, options, None).await? {
                Attempt::Done(done) => *done,
                Attempt::Resync(why) => {
                    return Err(AgentError::Server(format!(
                        "index of {backend}: a full crawl was refused: {why}"
                    )));
                }
            }
        }
    };
    if upload.resync {
        let _ = std::fs::remove_file(&path);
    } else {
        baseline.save(&path).map_err(AgentError::from)?;
    }
    Ok((report, upload))
}

enum Attempt {
    Done(Box<(ScanReport, IndexUpload, Baseline)>),
    Resync(String),
}

async fn attempt(
    client: &Client,
    token: &str,
    backend: &str,
    root: &Path,
    options: ScanOptions,
    base: Option<Baseline>,
) -> Result<Attempt, AgentError> {
    let mut crawl = Crawl::new(backend, root, base, DEFAULT_INDEX_BATCH)?;
    let scanner = Scanner::new(options)?;
    let mut upload = IndexUpload {
        backend: backend.to_owned(),
        crawl_id: crawl.crawl_id().to_string(),
        delta: crawl.is_delta(),
        batches: 0,
        files_sent: 0,
        removed: 0,
        files: None,
        resync: false,
    };
    let (batches, mut received) = mpsc::channel::<IndexBatch>(2);
    let walker = tokio::task::spawn_blocking(move || {
        let mut stream = scanner.stream(4096);
        for record in &mut stream {
            if let Some(batch) = crawl.add(&record)
                && batches.blocking_send(batch).is_err()
            {
                // The upload stopped: dropping the stream cancels the walk.
                return None;
            }
        }
        let report = stream.finish();
        let complete = report.as_ref().is_ok_and(|report| !report.partial);
        let (last, baseline) = crawl.finish(complete);
        for batch in last {
            if batches.blocking_send(batch).is_err() {
                return None;
            }
        }
        Some((report, baseline))
    });
    while let Some(batch) = received.recv().await {
        let body = protocol::encode(&batch, Compression::Gzip).map_err(AgentError::from)?;
        let answer = send(client, token, body).await?;
        let answer = match answer {
            Ok(answer) => answer,
            Err(why) => {
                drop(received);
                let _ = walker.await;
                return Ok(Attempt::Resync(why));
            }
        };
        upload.batches += 1;
        upload.files_sent += batch.entries.len() as u64;
        upload.removed += batch.removed.len() as u64;
        if batch.end.is_some() {
            upload.files = answer["files"].as_i64();
            upload.resync = answer["resync"].as_bool().unwrap_or(false);
        }
    }
    match walker.await {
        Ok(Some((report, baseline))) => {
            let report = report?;
            Ok(Attempt::Done(Box::new((report, upload, baseline))))
        }
        Ok(None) => Err(AgentError::State("the index crawl stopped early".into())),
        Err(e) => Err(AgentError::State(format!("the index crawl failed: {e}"))),
    }
}

/// Sends one batch, retrying what the server may take later; `Err` is a resync.
async fn send(
    client: &Client,
    token: &str,
    body: Vec<u8>,
) -> Result<Result<serde_json::Value, String>, AgentError> {
    let mut wait = Duration::from_secs(1);
    for attempt in 1..=TRIES {
        match client.send_index(token, body.clone()).await {
            IndexAnswer::Applied(answer) => return Ok(Ok(answer)),
            IndexAnswer::Resync(why) => return Ok(Err(why)),
            IndexAnswer::Failed(Delivery::Retry { after, why }) if attempt < TRIES => {
                tracing::warn!(reason = %why, "index batch not delivered; trying again");
                tokio::time::sleep(after.unwrap_or(wait)).await;
                wait *= 2;
            }
            IndexAnswer::Failed(failure) => {
                return Err(AgentError::Server(format!(
                    "index batch not delivered: {failure:?}"
                )));
            }
        }
    }
    Err(AgentError::Server("index batch not delivered".into()))
}
