//! Access telemetry for embedders: a FUSE layer, a desktop tool or an agent reports who
//! touched which file, and Spectra learns what is used and what is stale.
//!
//! [`Recorder::record`] never blocks the caller: events go into a bounded queue (when it is
//! full the event is dropped and counted), a worker thread writes them to a [`Sink`] in
//! batches, and metadata operations (`stat`, `list`), which are frequent and cheap, are kept
//! only at a sampling rate — deterministically, one in every `1/rate`.
//!
//! ```
//! use spectra_core::protocol::{AccessEvent, AccessOp};
//! use spectra_core::telemetry::{JsonLinesSink, Recorder, RecorderOptions};
//!
//! let dir = tempfile::tempdir()?;
//! let log = dir.path().join("access.jsonl");
//! let recorder = Recorder::new(Box::new(JsonLinesSink::create(&log)?), RecorderOptions::default())?;
//! recorder.record(AccessEvent::new(AccessOp::Read, "/srv/data/report.csv").with_bytes(4096));
//! let stats = recorder.close()?;
//! assert_eq!(stats.written, 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::protocol::AccessEvent;

/// Where recorded events go, a batch at a time (on the recorder's worker thread).
pub trait Sink: Send {
    fn write(&mut self, batch: &[AccessEvent]) -> Result<()>;
}

/// Appends each event as one JSON line to a file.
#[derive(Debug)]
pub struct JsonLinesSink {
    path: std::path::PathBuf,
    file: std::fs::File,
}

impl JsonLinesSink {
    pub fn create(path: &Path) -> Result<Self> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| Error::io(path, e))?;
        Ok(JsonLinesSink {
            path: path.to_path_buf(),
            file,
        })
    }
}

impl Sink for JsonLinesSink {
    fn write(&mut self, batch: &[AccessEvent]) -> Result<()> {
        self.file
            .write_all(&event_lines(batch)?)
            .map_err(|e| Error::io(&self.path, e))
    }
}

/// Most bytes of one event as a line on the agent's socket; the agent drops a connection that
/// sends a longer line.
pub const MAX_EVENT_LINE: usize = 64 * 1024;

/// The agent's state directory when its configuration names none: `$SPECTRA_AGENT_STATE_DIR`,
/// else `~/.local/state/spectra-agent`. Kept in core so that an embedder finds the agent's
/// socket with no configuration of its own.
pub fn default_agent_state_dir() -> std::path::PathBuf {
    std::env::var_os("SPECTRA_AGENT_STATE_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::env::var_os("HOME")
                .map(std::path::PathBuf::from)
                .unwrap_or_else(std::env::temp_dir)
                .join(".local/state/spectra-agent")
        })
}

/// The file name of the agent's telemetry socket in its state directory.
pub const AGENT_SOCKET_NAME: &str = "telemetry.sock";

/// Where an agent with a default configuration listens for access events.
pub fn default_agent_socket() -> std::path::PathBuf {
    default_agent_state_dir().join(AGENT_SOCKET_NAME)
}

/// A sink to the local agent's socket at `socket`, or at [`default_agent_socket`] when
/// `None` (an error now if nothing listens there): an [`AgentSink`] where there are Unix
/// sockets, `Unsupported` elsewhere. What the bindings call.
pub fn agent_sink(socket: Option<&Path>) -> Result<Box<dyn Sink>> {
    let socket = socket.map_or_else(default_agent_socket, Path::to_path_buf);
    #[cfg(spectra_unix)]
    return Ok(Box::new(AgentSink::connect(&socket)?));
    #[cfg(not(spectra_unix))]
    return Err(Error::unsupported(
        format!("the agent's telemetry socket {}", socket.display()),
        "Unix sockets are not available on this platform",
    ));
}

/// Hands events to the local `spectra agent` over its Unix socket (`telemetry_socket` in the
/// agent's configuration; by default `telemetry.sock` in its state directory), one JSON line
/// per event. The agent batches, spools and forwards them to the server like its metrics, so
/// an embedder needs no token, no HTTP and no retry logic. A broken connection (the agent
/// restarted) is opened again once per write; if that fails the batch counts as failed.
#[cfg(spectra_unix)]
#[derive(Debug)]
pub struct AgentSink {
    path: std::path::PathBuf,
    stream: Option<std::os::unix::net::UnixStream>,
}

#[cfg(spectra_unix)]
impl AgentSink {
    /// Connects to the agent's socket at `path` (an error now if nothing listens there).
    pub fn connect(path: &Path) -> Result<AgentSink> {
        let stream =
            std::os::unix::net::UnixStream::connect(path).map_err(|e| Error::io(path, e))?;
        Ok(AgentSink {
            path: path.to_path_buf(),
            stream: Some(stream),
        })
    }
}

#[cfg(spectra_unix)]
impl Sink for AgentSink {
    fn write(&mut self, batch: &[AccessEvent]) -> Result<()> {
        let lines = event_lines(batch)?;
        for attempt in 0..2 {
            let stream = match self.stream.take() {
                Some(stream) => stream,
                None => std::os::unix::net::UnixStream::connect(&self.path)
                    .map_err(|e| Error::io(&self.path, e))?,
            };
            match send_all(&stream, &lines) {
                Ok(()) => {
                    self.stream = Some(stream);
                    return Ok(());
                }
                Err(e) if attempt == 1 => return Err(Error::io(&self.path, e)),
                Err(_) => {}
            }
        }
        Ok(())
    }
}

/// Writes all of `bytes` with `MSG_NOSIGNAL`: an agent that went away is an error to handle,
/// never a `SIGPIPE` that kills the embedding process (Python, Node and C programs do not
/// ignore it the way Rust programs do).
#[cfg(spectra_unix)]
fn send_all(stream: &std::os::unix::net::UnixStream, mut bytes: &[u8]) -> std::io::Result<()> {
    while !bytes.is_empty() {
        match rustix::net::send(stream, bytes, rustix::net::SendFlags::NOSIGNAL) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => bytes = &bytes[n..],
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// `batch` as JSON lines, every line within [`MAX_EVENT_LINE`].
fn event_lines(batch: &[AccessEvent]) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(batch.len() * 128);
    for event in batch {
        let start = out.len();
        serde_json::to_writer(&mut out, event)
            .map_err(|e| Error::invalid("access event", e.to_string()))?;
        if out.len() - start >= MAX_EVENT_LINE {
            return Err(Error::invalid(
                "access event",
                format!("longer than {MAX_EVENT_LINE} bytes as JSON"),
            ));
        }
        out.push(b'\n');
    }
    Ok(out)
}

/// How a [`Recorder`] queues, batches and samples.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecorderOptions {
    /// Events that may wait for the worker; beyond this, `record` drops.
    pub queue_capacity: usize,
    /// Most events per sink write.
    pub batch_size: usize,
    /// A partial batch is written after this long.
    pub flush_interval: Duration,
    /// Share of metadata operations (`stat`, `list`) kept, 0–1.
    pub metadata_sample_rate: f64,
}

impl Default for RecorderOptions {
    fn default() -> Self {
        RecorderOptions {
            queue_capacity: 10_000,
            batch_size: 500,
            flush_interval: Duration::from_secs(1),
            metadata_sample_rate: 0.1,
        }
    }
}

impl RecorderOptions {
    fn validate(&self) -> Result<()> {
        if self.queue_capacity == 0 || self.batch_size == 0 {
            return Err(Error::invalid(
                "recorder options",
                "queue_capacity and batch_size must be at least 1",
            ));
        }
        if !(0.0..=1.0).contains(&self.metadata_sample_rate) {
            return Err(Error::invalid(
                "metadata_sample_rate",
                format!("{} is outside 0..=1", self.metadata_sample_rate),
            ));
        }
        if self.flush_interval.is_zero() {
            return Err(Error::invalid("flush_interval", "must be more than 0"));
        }
        Ok(())
    }
}

/// What a recorder has done so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecorderStats {
    /// Events accepted into the queue.
    pub recorded: u64,
    /// Metadata operations left out by sampling.
    pub sampled_out: u64,
    /// Events dropped because the queue was full.
    pub dropped: u64,
    /// Events the sink accepted.
    pub written: u64,
    /// Events lost in failed sink writes.
    pub failed: u64,
}

#[derive(Debug, Default)]
struct Counters {
    recorded: AtomicU64,
    sampled_out: AtomicU64,
    dropped: AtomicU64,
    written: AtomicU64,
    failed: AtomicU64,
    metadata_seen: AtomicU64,
}

enum Message {
    Event(AccessEvent),
    /// Write everything queued before this, then answer.
    Flush(SyncSender<Option<String>>),
    /// Flush, answer, and end the worker: the sink (a file, the agent's connection) is
    /// released now rather than when the recorder is dropped.
    Close(SyncSender<Option<String>>),
}

/// Records access events without blocking the caller. See the module docs.
pub struct Recorder {
    queue: SyncSender<Message>,
    counters: Arc<Counters>,
    sample_every: Option<u64>,
    closed: AtomicBool,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl Recorder {
    pub fn new(sink: Box<dyn Sink>, options: RecorderOptions) -> Result<Recorder> {
        options.validate()?;
        let (queue, receiver) = sync_channel(options.queue_capacity);
        let counters = Arc::new(Counters::default());
        let sample_every = (options.metadata_sample_rate > 0.0)
            .then(|| (1.0 / options.metadata_sample_rate).round().max(1.0) as u64);
        // The worker ends when the recorder (the queue's only sender) is dropped, after
        // writing what is left.
        {
            let counters = counters.clone();
            std::thread::Builder::new()
                .name("spectra-telemetry".into())
                .spawn(move || drain(receiver, sink, &options, &counters))
                .map_err(|e| Error::invalid("recorder", format!("cannot start: {e}")))?;
        }
        Ok(Recorder {
            queue,
            counters,
            sample_every,
            closed: AtomicBool::new(false),
        })
    }

    /// Queues `event`; false when it was sampled out or dropped (queue full or closed).
    pub fn record(&self, event: AccessEvent) -> bool {
        if self.closed.load(Ordering::Relaxed) {
            self.counters.dropped.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        if event.op.is_metadata() {
            let seen = self.counters.metadata_seen.fetch_add(1, Ordering::Relaxed);
            let keep = self.sample_every.is_some_and(|every| seen % every == 0);
            if !keep {
                self.counters.sampled_out.fetch_add(1, Ordering::Relaxed);
                return false;
            }
        }
        match self.queue.try_send(Message::Event(event)) {
            Ok(()) => {
                self.counters.recorded.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.counters.dropped.fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }

    /// Waits until everything recorded so far has gone to the sink; the sink's last error,
    /// if a write failed meanwhile.
    pub fn flush(&self) -> Result<()> {
        self.ask(Message::Flush)
    }

    fn ask(&self, message: fn(SyncSender<Option<String>>) -> Message) -> Result<()> {
        let (answer, reply) = sync_channel(1);
        self.queue
            .send(message(answer))
            .map_err(|_| Error::invalid("recorder", "it is closed"))?;
        match reply.recv() {
            Ok(None) => Ok(()),
            Ok(Some(message)) => Err(Error::InvalidData {
                what: "telemetry sink".into(),
                message,
            }),
            Err(_) => Err(Error::invalid("recorder", "it is closed")),
        }
    }

    pub fn stats(&self) -> RecorderStats {
        let c = &self.counters;
        RecorderStats {
            recorded: c.recorded.load(Ordering::Relaxed),
            sampled_out: c.sampled_out.load(Ordering::Relaxed),
            dropped: c.dropped.load(Ordering::Relaxed),
            written: c.written.load(Ordering::Relaxed),
            failed: c.failed.load(Ordering::Relaxed),
        }
    }

    /// Flushes, stops accepting events and releases the sink; returns the final counts.
    /// Closing again just returns them.
    pub fn close(&self) -> Result<RecorderStats> {
        if self.closed.swap(true, Ordering::Relaxed) {
            return Ok(self.stats());
        }
        self.ask(Message::Close).map(|()| self.stats())
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        if !self.closed.load(Ordering::Relaxed) {
            // Best effort: an embedder that never closed still gets its events written.
            let _ = self.flush();
        }
    }
}

/// The worker: batches events, writes them, answers flushes.
fn drain(
    receiver: Receiver<Message>,
    mut sink: Box<dyn Sink>,
    options: &RecorderOptions,
    counters: &Counters,
) {
    let mut batch = Vec::with_capacity(options.batch_size);
    let mut last_error: Option<String> = None;
    let mut deadline = Instant::now() + options.flush_interval;
    let mut write = |batch: &mut Vec<AccessEvent>, last_error: &mut Option<String>| {
        if batch.is_empty() {
            return;
        }
        let n = batch.len() as u64;
        match sink.write(batch) {
            Ok(()) => counters.written.fetch_add(n, Ordering::Relaxed),
            Err(e) => {
                *last_error = Some(e.to_string());
                counters.failed.fetch_add(n, Ordering::Relaxed)
            }
        };
        batch.clear();
    };
    loop {
        let wait = deadline.saturating_duration_since(Instant::now());
        match receiver.recv_timeout(wait) {
            Ok(Message::Event(event)) => {
                batch.push(event);
                if batch.len() >= options.batch_size {
                    write(&mut batch, &mut last_error);
                    deadline = Instant::now() + options.flush_interval;
                }
            }
            Ok(Message::Flush(answer)) => {
                write(&mut batch, &mut last_error);
                let _ = answer.send(last_error.take());
            }
            Ok(Message::Close(answer)) => {
                write(&mut batch, &mut last_error);
                let _ = answer.send(last_error.take());
                return;
            }
            Err(RecvTimeoutError::Timeout) => {
                write(&mut batch, &mut last_error);
                deadline = Instant::now() + options.flush_interval;
            }
            Err(RecvTimeoutError::Disconnected) => {
                write(&mut batch, &mut last_error);
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::AccessOp;

    use std::sync::Mutex;

    #[derive(Clone, Default)]
    struct Collecting(Arc<Mutex<Vec<Vec<AccessEvent>>>>);

    impl Sink for Collecting {
        fn write(&mut self, batch: &[AccessEvent]) -> Result<()> {
            self.0.lock().expect("lock").push(batch.to_vec());
            Ok(())
        }
    }

    struct Failing;

    impl Sink for Failing {
        fn write(&mut self, _batch: &[AccessEvent]) -> Result<()> {
            Err(Error::invalid("sink", "disk full"))
        }
    }

    #[test]
    fn events_are_batched_and_metadata_is_sampled() {
        let sink = Collecting::default();
        let options = RecorderOptions {
            batch_size: 4,
            metadata_sample_rate: 0.25,
            ..RecorderOptions::default()
        };
        let recorder = Recorder::new(Box::new(sink.clone()), options).expect("recorder");
        for i in 0..10 {
            assert!(recorder.record(AccessEvent::new(AccessOp::Read, format!("/f{i}"))));
        }
        let kept = (0..100)
            .filter(|i| recorder.record(AccessEvent::new(AccessOp::Stat, format!("/s{i}"))))
            .count();
        assert_eq!(kept, 25, "one stat in four");
        let stats = recorder.close().expect("close");
        assert_eq!(
            (stats.recorded, stats.sampled_out, stats.written),
            (35, 75, 35)
        );
        let batches = sink.0.lock().expect("lock");
        assert!(batches.iter().all(|b| b.len() <= 4));
        assert_eq!(batches.iter().map(Vec::len).sum::<usize>(), 35);
        drop(batches);
        // Closing released the sink (the worker's clone of the shared list): only ours is left.
        let released = (0..100).any(|_| {
            std::thread::sleep(Duration::from_millis(10));
            Arc::strong_count(&sink.0) == 1
        });
        assert!(released, "the worker still holds the sink after close");
        assert_eq!(recorder.close().expect("close again").written, 35);
        assert!(!recorder.record(AccessEvent::new(AccessOp::Read, "/late")));
    }

    #[test]
    fn a_full_queue_drops_instead_of_blocking() {
        struct Slow;
        impl Sink for Slow {
            fn write(&mut self, _batch: &[AccessEvent]) -> Result<()> {
                std::thread::sleep(Duration::from_millis(200));
                Ok(())
            }
        }
        let options = RecorderOptions {
            queue_capacity: 5,
            batch_size: 1,
            ..RecorderOptions::default()
        };
        let recorder = Recorder::new(Box::new(Slow), options).expect("recorder");
        let started = Instant::now();
        for i in 0..100 {
            recorder.record(AccessEvent::new(AccessOp::Write, format!("/f{i}")));
        }
        assert!(
            started.elapsed() < Duration::from_millis(150),
            "record never waits"
        );
        let stats = recorder.stats();
        assert!(stats.dropped >= 90, "{stats:?}");
        assert_eq!(stats.recorded + stats.dropped, 100);
    }

    #[test]
    fn sink_failures_are_counted_and_reported_on_flush() {
        let recorder =
            Recorder::new(Box::new(Failing), RecorderOptions::default()).expect("recorder");
        recorder.record(AccessEvent::new(AccessOp::Open, "/x"));
        let err = recorder.flush().expect_err("the sink failed");
        assert!(err.to_string().contains("disk full"), "{err}");
        assert_eq!(recorder.stats().failed, 1);
        let bad = RecorderOptions {
            metadata_sample_rate: 2.0,
            ..RecorderOptions::default()
        };
        assert!(Recorder::new(Box::new(Failing), bad).is_err());
    }

    #[test]
    fn json_lines_sink_appends_one_event_per_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("access.jsonl");
        let recorder = Recorder::new(
            Box::new(JsonLinesSink::create(&path).expect("sink")),
            RecorderOptions::default(),
        )
        .expect("recorder");
        recorder.record(AccessEvent::new(AccessOp::Write, "/a").with_bytes(10));
        recorder.record(AccessEvent::new(AccessOp::Delete, "/b").with_uid(1000));
        recorder.close().expect("close");
        let text = std::fs::read_to_string(&path).expect("read");
        let events: Vec<AccessEvent> = text
            .lines()
            .map(|line| serde_json::from_str(line).expect("json"))
            .collect();
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].bytes, 10);
        assert_eq!(events[1].uid, Some(1000));
    }

    #[cfg(spectra_unix)]
    #[test]
    fn the_agent_sink_sends_json_lines_and_reconnects_after_a_restart() {
        use std::io::BufRead;
        let dir = tempfile::tempdir().expect("tempdir");
        let socket = dir.path().join("telemetry.sock");
        let listener = std::os::unix::net::UnixListener::bind(&socket).expect("bind");
        let mut sink = AgentSink::connect(&socket).expect("connect");
        let read_lines = |listener: &std::os::unix::net::UnixListener, n: usize| {
            let (stream, _) = listener.accept().expect("accept");
            let lines: Vec<AccessEvent> = std::io::BufReader::new(stream)
                .lines()
                .take(n)
                .map(|line| serde_json::from_str(&line.expect("line")).expect("event"))
                .collect();
            lines
        };
        let first = vec![
            AccessEvent::new(AccessOp::Read, "/srv/a").with_bytes(10),
            AccessEvent::new(AccessOp::Write, "/srv/b").with_user("ana"),
        ];
        sink.write(&first).expect("write");
        assert_eq!(
            read_lines(&listener, 2),
            first,
            "the connection is dropped after reading"
        );
        // The agent went away and came back: the next write reconnects.
        drop(listener);
        std::fs::remove_file(&socket).expect("remove");
        let listener = std::os::unix::net::UnixListener::bind(&socket).expect("bind again");
        let second = vec![AccessEvent::new(AccessOp::Open, "/srv/c")];
        // The first write may still land in the old connection's buffer before the reset is
        // seen; what matters is that the sink never gives up while the agent listens.
        let mut delivered = false;
        for _ in 0..3 {
            if sink.write(&second).is_ok() {
                listener.set_nonblocking(true).expect("nonblocking");
                if let Ok((stream, _)) = listener.accept() {
                    stream.set_nonblocking(false).expect("blocking");
                    let line = std::io::BufReader::new(stream)
                        .lines()
                        .next()
                        .expect("a line")
                        .expect("read");
                    let event: AccessEvent = serde_json::from_str(&line).expect("event");
                    assert_eq!(event, second[0]);
                    delivered = true;
                    break;
                }
            }
        }
        assert!(delivered, "the sink reconnected to the new agent");
        let err = AgentSink::connect(&dir.path().join("none.sock")).expect_err("nobody listens");
        assert!(err.to_string().contains("none.sock"), "{err}");
    }
}
