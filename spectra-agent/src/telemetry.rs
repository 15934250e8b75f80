//! Access telemetry from embedders: the agent listens on a Unix socket (core's
//! `telemetry::AgentSink` connects to it), takes one JSON `AccessEvent` per line, attributes
//! each to the backend of the indexed root that holds its path, batches them, spools them and
//! forwards them to `POST /api/v1/telemetry` like its metrics.
//!
//! The socket is the agent's user's only (mode 0600). An event that does not parse, is longer
//! than core's `MAX_EVENT_LINE`, or lies under none of the agent's indexed roots is left out
//! and counted (`events_rejected`); a connection that sends a line that long is closed. The
//! channel to the batcher is bounded, so a flood slows the senders instead of filling memory.

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use spectra_core::protocol::{AccessEvent, Compression, TelemetryBatch};
use spectra_core::telemetry::MAX_EVENT_LINE;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;

use crate::runtime::Shared;

/// Connections served at once; more wait to be accepted.
const MAX_CONNECTIONS: usize = 64;
/// Events in one spooled batch, and the longest an event waits for its batch.
const BATCH_EVENTS: usize = 5_000;
const BATCH_AGE: Duration = Duration::from_secs(1);

/// Serves the socket until shutdown.
pub(crate) async fn listen(
    shared: Arc<Shared>,
    socket: PathBuf,
    events: mpsc::Sender<AccessEvent>,
    shutdown: CancellationToken,
) {
    let listener = match bind(&socket) {
        Ok(listener) => listener,
        Err(e) => {
            tracing::error!(socket = %socket.display(), error = %e, "telemetry socket not served");
            return;
        }
    };
    tracing::info!(socket = %socket.display(), "telemetry socket served");
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
            return;
        };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = shutdown.cancelled() => break,
        };
        match accepted {
            Ok((stream, _)) => {
                let (shared, events) = (Arc::clone(&shared), events.clone());
                tokio::spawn(async move {
                    serve(&shared, stream, &events).await;
                    drop(slot);
                });
            }
            Err(e) => tracing::warn!(error = %e, "telemetry socket accept failed"),
        }
    }
    let _ = std::fs::remove_file(&socket);
}

/// Binds `socket`, replacing a stale socket file (never any other kind of file), owner-only.
fn bind(socket: &Path) -> std::io::Result<tokio::net::UnixListener> {
    match std::fs::symlink_metadata(socket) {
        Ok(meta) if meta.file_type().is_socket() => std::fs::remove_file(socket)?,
        Ok(_) => {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "a file that is not a socket is in the way",
            ));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    if let Some(parent) = socket.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let listener = tokio::net::UnixListener::bind(socket)?;
    std::fs::set_permissions(socket, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

async fn serve(
    shared: &Shared,
    stream: tokio::net::UnixStream,
    events: &mpsc::Sender<AccessEvent>,
) {
    let mut reader = BufReader::new(stream);
    let mut line = Vec::new();
    loop {
        line.clear();
        let read = (&mut reader)
            .take(MAX_EVENT_LINE as u64 + 1)
            .read_until(b'\n', &mut line)
            .await;
        match read {
            Ok(0) => return,
            Ok(_) if line.last() != Some(&b'\n') && line.len() > MAX_EVENT_LINE => {
                tracing::warn!("telemetry: a line over {MAX_EVENT_LINE} bytes; connection closed");
                shared.update(|s| s.events_rejected += 1);
                return;
            }
            Ok(_) => {}
            Err(e) => {
                tracing::debug!(error = %e, "telemetry connection ended");
                return;
            }
        }
        let text = line.strip_suffix(b"\n").unwrap_or(&line);
        if text.is_empty() {
            continue;
        }
        match accept(shared, text) {
            Ok(event) => {
                if events.send(event).await.is_err() {
                    return;
                }
            }
            Err(why) => {
                tracing::debug!(reason = %why, "telemetry event left out");
                shared.update(|s| s.events_rejected += 1);
            }
        }
    }
}

/// The event of one line, checked, with its user resolved and its backend attributed.
fn accept(shared: &Shared, line: &[u8]) -> Result<AccessEvent, String> {
    let event: AccessEvent = serde_json::from_slice(line).map_err(|e| e.to_string())?;
    event.validate("event").map_err(|e| e.to_string())?;
    let mut event = event.with_resolved_user();
    if event.backend.is_none() {
        event.backend = Some(
            attribute(&shared.settings.scans, event.path.as_bytes()).ok_or_else(|| {
                format!(
                    "{} is under none of the indexed roots",
                    event.path.to_string_lossy()
                )
            })?,
        );
    }
    Ok(event)
}

/// The backend of the indexed root holding `path` (core's rule: the longest such root).
fn attribute(scans: &[crate::config::ScheduledScan], path: &[u8]) -> Option<String> {
    let indexed = scans.iter().filter_map(|scan| {
        let backend = scan.index_as.as_ref()?;
        Some((scan.root.as_os_str().as_encoded_bytes(), backend))
    });
    spectra_core::protocol::holding_root(indexed, path).cloned()
}

/// Gathers events into batches and spools each: when full, or [`BATCH_AGE`] after its
/// first event; at shutdown, what is queued (connections still open cannot hold it back).
pub(crate) async fn batch(
    shared: Arc<Shared>,
    mut received: mpsc::Receiver<AccessEvent>,
    shutdown: CancellationToken,
) {
    let mut pending: Vec<AccessEvent> = Vec::new();
    let mut deadline = tokio::time::Instant::now();
    loop {
        let next = tokio::select! {
            next = received.recv() => next,
            () = tokio::time::sleep_until(deadline), if !pending.is_empty() => {
                spool(&shared, std::mem::take(&mut pending));
                continue;
            }
            () = shutdown.cancelled() => {
                while let Ok(event) = received.try_recv() {
                    pending.push(event);
                }
                None
            }
        };
        match next {
            Some(event) => {
                if pending.is_empty() {
                    deadline = tokio::time::Instant::now() + BATCH_AGE;
                }
                pending.push(event);
                if pending.len() >= BATCH_EVENTS {
                    spool(&shared, std::mem::take(&mut pending));
                }
            }
            None => {
                for events in pending.chunks(BATCH_EVENTS) {
                    spool(&shared, events.to_vec());
                }
                return;
            }
        }
    }
}

fn spool(shared: &Shared, events: Vec<AccessEvent>) {
    let count = events.len() as u64;
    let batch = TelemetryBatch::new(events);
    let written = spectra_core::protocol::encode(&batch, Compression::Gzip)
        .map_err(|e| crate::AgentError::State(e.to_string()))
        .and_then(|bytes| shared.telemetry.push(&bytes));
    match written {
        Ok(()) => shared.update(|s| s.events_received += count),
        Err(e) => tracing::error!(error = %e, events = count, "could not spool telemetry"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ScheduledScan;

    #[test]
    fn events_go_to_the_longest_indexed_root() {
        let scan = |root: &str, index_as: Option<&str>| ScheduledScan {
            root: PathBuf::from(root),
            every: Duration::from_secs(60),
            index_as: index_as.map(str::to_owned),
        };
        let scans = [
            scan("/srv", Some("all")),
            scan("/srv/data/", Some("data")),
            scan("/home", None),
        ];
        assert_eq!(attribute(&scans, b"/srv/data/x").as_deref(), Some("data"));
        assert_eq!(attribute(&scans, b"/srv/database").as_deref(), Some("all"));
        assert_eq!(attribute(&scans, b"/home/a"), None, "not indexed");
        assert_eq!(attribute(&scans, b"/elsewhere"), None);
    }
}
