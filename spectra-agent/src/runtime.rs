//! The running agent: collectors on their schedules, batches through the spool to the server,
//! a heartbeat, and the server's commands under the agent's own limits.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use spectra_core::collect::Sampler;
use spectra_core::diagnose::{Diagnostic, DiagnosticLimits};
use spectra_core::policy::{ActionHooks, Policy, StateDir};
use spectra_core::protocol::{
    AgentInfo, Command, CommandOutcome, CommandResult, Compression, Envelope, MetricBatch,
    PlanReport, TelemetryBatch,
};
use spectra_core::{CancelToken, ErrorBody};
use tokio::sync::{Notify, Semaphore, mpsc};
use tokio_util::sync::CancellationToken;

use crate::AgentError;
use crate::client::{Client, Delivery};
use crate::config::Settings;
use crate::identity::{Identity, write_private};
use crate::spool::Spool;

/// How long a command poll waits on the server.
const POLL_WAIT: Duration = Duration::from_secs(25);
/// Retry delays grow from here …
const FIRST_RETRY: Duration = Duration::from_secs(1);
/// … to at most here.
const LAST_RETRY: Duration = Duration::from_secs(60);
/// Access events that may wait between the socket and the batcher; beyond, embedders wait.
const TELEMETRY_QUEUE: usize = 10_000;

/// What `spectra agent status` shows, written to the state directory as it changes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    pub agent_id: String,
    pub hostname: String,
    pub server: String,
    /// Envelopes written to the spool, and of those, acknowledged by the server.
    pub envelopes_spooled: u64,
    pub envelopes_sent: u64,
    pub batches_sent: u64,
    /// Batches the server will never take (dropped after logging why).
    pub batches_refused: u64,
    /// Batches the full spool dropped, not yet reported.
    pub batches_dropped: u64,
    /// What waits in the spools (metric batches and snapshots).
    pub spool_batches: u64,
    pub spool_bytes: u64,
    pub last_send: Option<chrono::DateTime<chrono::Utc>>,
    pub last_error: Option<String>,
    pub commands_run: u64,
    pub commands_refused: u64,
    /// Scans taken and their snapshots acknowledged by the server.
    pub snapshots_spooled: u64,
    pub snapshots_sent: u64,
    pub last_scan: Option<chrono::DateTime<chrono::Utc>>,
    /// When the next scheduled scan starts (the soonest over the scanned roots).
    pub next_scan: Option<chrono::DateTime<chrono::Utc>>,
    /// Plans the policy loop made, of those enforced, and reports acknowledged.
    pub plans_made: u64,
    pub plans_enforced: u64,
    pub plans_sent: u64,
    pub last_policy_run: Option<chrono::DateTime<chrono::Utc>>,
    /// Access events embedders handed over the socket, spooled, acknowledged by the server,
    /// and left out (malformed, or under none of the indexed roots).
    #[serde(default)]
    pub events_received: u64,
    #[serde(default)]
    pub events_sent: u64,
    #[serde(default)]
    pub events_rejected: u64,
}

impl Status {
    pub fn path(state_dir: &std::path::Path) -> std::path::PathBuf {
        state_dir.join("status.json")
    }

    pub fn load(state_dir: &std::path::Path) -> Result<Status, AgentError> {
        let path = Status::path(state_dir);
        let bytes = std::fs::read(&path)
            .map_err(|e| AgentError::State(format!("{}: {e}", path.display())))?;
        serde_json::from_slice(&bytes)
            .map_err(|e| AgentError::State(format!("{}: {e}", path.display())))
    }
}

/// What a spool holds, and so where it is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Upload {
    Metrics,
    Snapshots,
    Reports,
    Telemetry,
}

/// One spool and the wake-up of its uploader.
pub(crate) struct Queue {
    spool: Mutex<Spool>,
    spooled: Notify,
}

impl Queue {
    fn open(dir: &std::path::Path, max_bytes: u64) -> Result<Queue, AgentError> {
        Ok(Queue {
            spool: Mutex::new(Spool::open(dir, max_bytes)?),
            spooled: Notify::new(),
        })
    }

    fn spool(&self) -> std::sync::MutexGuard<'_, Spool> {
        self.spool.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Keeps `bytes` and wakes the uploader.
    pub(crate) fn push(&self, bytes: &[u8]) -> Result<(), AgentError> {
        self.spool().push(bytes)?;
        self.spooled.notify_one();
        Ok(())
    }
}

/// What the agent's tasks share.
pub(crate) struct Shared {
    pub(crate) settings: Settings,
    identity: Identity,
    client: Client,
    metrics: Queue,
    snapshots: Queue,
    reports: Queue,
    pub(crate) telemetry: Queue,
    status: Mutex<Status>,
    sampler: Sampler,
    /// Cancelled when the server no longer knows this agent's token (see [`run`]).
    revoked: CancellationToken,
}

impl Shared {
    /// Enrolls if needed and opens the spools.
    async fn open(settings: Settings) -> Result<Arc<Shared>, AgentError> {
        let client = Client::new(&settings.server, settings.ca_file.as_deref())?;
        let identity = enroll(&settings, &client).await?;
        let spools = settings.state_dir.join("spool");
        let metrics = Queue::open(&spools, settings.spool_max_bytes)?;
        let snapshots = Queue::open(&spools.join("snapshots"), settings.spool_max_bytes)?;
        let reports = Queue::open(&spools.join("reports"), settings.spool_max_bytes)?;
        let telemetry = Queue::open(&spools.join("telemetry"), settings.spool_max_bytes)?;
        let status = Status {
            agent_id: identity.agent_id.clone(),
            hostname: settings.hostname.clone(),
            server: settings.server.clone(),
            ..Status::load(&settings.state_dir).unwrap_or_default()
        };
        let shared = Arc::new(Shared {
            settings,
            identity,
            client,
            metrics,
            snapshots,
            reports,
            telemetry,
            status: Mutex::new(status),
            sampler: Sampler::new(),
            revoked: CancellationToken::new(),
        });
        shared.update(|_| {});
        Ok(shared)
    }

    /// Sends everything spooled, oldest first; fails (leaving the rest spooled) when the
    /// server does not take something it could take later.
    async fn drain(&self) -> Result<(), AgentError> {
        for kind in [
            Upload::Metrics,
            Upload::Snapshots,
            Upload::Reports,
            Upload::Telemetry,
        ] {
            loop {
                let next = self.queue(kind).spool().oldest()?;
                let Some((seq, body)) = next else { break };
                match send(self, kind, seq, body).await {
                    Delivery::Done | Delivery::Refused { .. } => {}
                    Delivery::Retry { why, .. } | Delivery::Unauthorized { why, .. } => {
                        return Err(AgentError::Server(format!(
                            "the server did not take what is spooled (it stays spooled): {why}"
                        )));
                    }
                }
            }
        }
        Ok(())
    }

    fn status(&self) -> Status {
        self.status
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn update(&self, change: impl FnOnce(&mut Status)) {
        let mut status = self.status.lock().unwrap_or_else(PoisonError::into_inner);
        change(&mut status);
        let (mut batches, mut bytes, mut dropped) = (0, 0, 0);
        for queue in [&self.metrics, &self.snapshots, &self.reports] {
            if let Ok(stats) = queue.spool().stats() {
                batches += stats.batches;
                bytes += stats.bytes;
                dropped += stats.dropped;
            }
        }
        status.spool_batches = batches;
        status.spool_bytes = bytes;
        status.batches_dropped = dropped;
        let bytes = serde_json::to_vec_pretty(&*status).unwrap_or_default();
        if let Err(e) = write_private(&Status::path(&self.settings.state_dir), &bytes) {
            tracing::warn!(error = %e, "could not write the status file");
        }
    }

    /// Encodes `envelopes` as one batch and keeps it in the spool.
    fn spool(&self, envelopes: Vec<Envelope>) {
        if envelopes.is_empty() {
            return;
        }
        let count = envelopes.len() as u64;
        let batch = MetricBatch::new(Some(self.identity.agent_id.clone()), envelopes);
        let written = spectra_core::protocol::encode(&batch, Compression::Gzip)
            .map_err(AgentError::from)
            .and_then(|bytes| self.metrics.push(&bytes));
        match written {
            Ok(()) => self.update(|s| s.envelopes_spooled += count),
            Err(e) => tracing::error!(error = %e, "could not spool a batch of {count} envelopes"),
        }
    }

    fn queue(&self, kind: Upload) -> &Queue {
        match kind {
            Upload::Metrics => &self.metrics,
            Upload::Snapshots => &self.snapshots,
            Upload::Reports => &self.reports,
            Upload::Telemetry => &self.telemetry,
        }
    }
}

/// Enrolls when the state directory has no identity for this server, then returns it.
pub async fn enroll(settings: &Settings, client: &Client) -> Result<Identity, AgentError> {
    if let Some(identity) = Identity::load(&settings.state_dir)?
        && identity.server == settings.server
    {
        return Ok(identity);
    }
    let token = settings.enrollment_token.as_deref().ok_or_else(|| {
        AgentError::Config(
            "not enrolled yet: give --enroll-token (or SPECTRA_ENROLLMENT_TOKEN)".into(),
        )
    })?;
    let probe = settings.clone();
    let info = tokio::task::spawn_blocking(move || agent_info(&probe, &Sampler::new()))
        .await
        .map_err(|e| AgentError::State(format!("probing the collectors: {e}")))?;
    let enrolled = client.enroll(token, None, &info).await?;
    tracing::info!(agent_id = %enrolled.agent_id, status = %enrolled.status, "enrolled");
    let identity = Identity {
        server: settings.server.clone(),
        agent_id: enrolled.agent_id,
        agent_token: enrolled.agent_token,
    };
    identity.save(&settings.state_dir)?;
    Ok(identity)
}

/// What the agent says about itself: its name, system, version, labels and what it can do
/// here — the enabled collectors that work on this host (one sample each through `sampler`
/// tells), and the diagnostics it accepts.
pub fn agent_info(settings: &Settings, sampler: &Sampler) -> AgentInfo {
    let mut capabilities: Vec<String> = settings
        .collectors
        .iter()
        .filter(|(name, _)| {
            !matches!(sampler.sample(name), Err(e) if e.code() == spectra_core::ErrorCode::Unsupported)
        })
        .map(|(name, _)| (*name).to_owned())
        .collect();
    capabilities.extend(settings.diagnostics.iter().cloned());
    AgentInfo {
        hostname: settings.hostname.clone(),
        os: std::env::consts::OS.to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        capabilities,
        machine_id: settings.machine_id.clone(),
        labels: settings.labels.clone(),
    }
}

/// Runs the agent until `shutdown` is cancelled; then what is batched in memory goes to the
/// spool, running commands are cancelled, and it returns. With `once`, every collector is
/// sampled once and the spool is drained (or the attempt fails) before returning. When the
/// server answers that it does not know the agent's token, the run stops the same way and
/// answers [`AgentError::TokenRevoked`] (what is spooled stays for the next identity).
pub async fn run(
    settings: Settings,
    outer: CancellationToken,
    once: bool,
) -> Result<Status, AgentError> {
    let shared = Shared::open(settings).await?;
    if once {
        return run_once(shared).await;
    }
    let shutdown = outer.child_token();
    let revoked = {
        let (shared, shutdown) = (Arc::clone(&shared), shutdown.clone());
        tokio::spawn(async move {
            tokio::select! {
                () = shared.revoked.cancelled() => shutdown.cancel(),
                () = shutdown.cancelled() => {}
            }
        })
    };
    let (envelopes, received) = mpsc::channel(1024);
    let mut tasks = tokio::task::JoinSet::new();
    for (name, every) in shared.settings.collectors.clone() {
        tasks.spawn(collect(
            Arc::clone(&shared),
            name,
            every,
            envelopes.clone(),
            shutdown.clone(),
        ));
    }
    drop(envelopes);
    let batching = tokio::spawn(batch(Arc::clone(&shared), received));
    for scheduled in shared.settings.scans.clone() {
        tasks.spawn(scan(Arc::clone(&shared), scheduled, shutdown.clone()));
    }
    if !shared.settings.roots.is_empty() {
        tasks.spawn(policies(Arc::clone(&shared), shutdown.clone()));
    }
    if let Some(socket) = shared.settings.telemetry_socket.clone() {
        let (events, received) = mpsc::channel(TELEMETRY_QUEUE);
        tasks.spawn(crate::telemetry::listen(
            Arc::clone(&shared),
            socket,
            events,
            shutdown.clone(),
        ));
        tasks.spawn(crate::telemetry::batch(
            Arc::clone(&shared),
            received,
            shutdown.clone(),
        ));
    }
    for kind in [
        Upload::Metrics,
        Upload::Snapshots,
        Upload::Reports,
        Upload::Telemetry,
    ] {
        tasks.spawn(upload(Arc::clone(&shared), kind, shutdown.clone()));
    }
    tasks.spawn(heartbeat(Arc::clone(&shared), shutdown.clone()));
    tasks.spawn(commands(Arc::clone(&shared), shutdown.clone()));
    while tasks.join_next().await.is_some() {}
    // Every collector has stopped, so the batcher has its last envelopes: it spools them.
    let _ = batching.await;
    let _ = revoked.await;
    if shared.revoked.is_cancelled() && !outer.is_cancelled() {
        return Err(AgentError::TokenRevoked(format!(
            "the server does not know agent {}'s token (deleted, or replaced by another \
             enrollment)",
            shared.identity.agent_id
        )));
    }
    let status = shared
        .status
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    Ok(status)
}

async fn run_once(shared: Arc<Shared>) -> Result<Status, AgentError> {
    let mut envelopes = Vec::new();
    for (name, _) in shared.settings.collectors.clone() {
        match sample(&shared, name).await {
            Ok(Some(envelope)) => envelopes.push(envelope),
            Ok(None) => {}
            Err(e) => tracing::debug!(collector = name, error = %e, "not collected"),
        }
    }
    shared.spool(envelopes);
    shared.drain().await?;
    Ok(shared.status())
}

/// The seed's one-shot form (`spectra scan PATH --server URL`): sends `report` as a snapshot
/// and, with `analyze`, plans the server's policies on the settings' roots (the scanned paths),
/// enforcing destructive ones under its `enforce_roots` (the command line's `--enforce`), and
/// reports each plan. Enrolls first when the state directory has no identity; returns once
/// everything is sent.
pub async fn scan_once(
    settings: Settings,
    report: spectra_core::scan::ScanReport,
    analyze: bool,
) -> Result<(spectra_core::protocol::Snapshot, Vec<PlanReport>), AgentError> {
    let shared = Shared::open(settings).await?;
    let snapshot = spectra_core::protocol::Snapshot::new(shared.settings.hostname.clone(), report);
    let bytes =
        spectra_core::protocol::encode(&snapshot, Compression::Gzip).map_err(AgentError::from)?;
    shared.snapshots.push(&bytes)?;
    shared.update(|s| {
        s.snapshots_spooled += 1;
        s.last_scan = Some(chrono::Utc::now());
    });
    let mut plans = Vec::new();
    if analyze {
        let policies = shared
            .client
            .policies(&shared.identity.agent_token)
            .await
            .map_err(|delivery| {
                AgentError::Server(format!("fetching the policies: {delivery:?}"))
            })?;
        let never = CancellationToken::new();
        for policy in policies {
            for target in
                spectra_core::policy::policy_targets(&shared.settings.roots, &policy.scope)
            {
                if let Some(report) = plan_and_report(&shared, policy.clone(), target, &never).await
                {
                    plans.push(report);
                }
            }
        }
    }
    shared.drain().await?;
    Ok((snapshot, plans))
}

/// The one-shot form of the file index (`spectra scan PATH --server URL --index`): enrolls
/// when the state directory has no identity, then crawls the options' one root and uploads
/// its index as `backend` (by default `HOSTNAME:ROOT`). Answers the scan's report too.
pub async fn index_once(
    settings: &Settings,
    backend: Option<String>,
    options: spectra_core::scan::ScanOptions,
) -> Result<(spectra_core::scan::ScanReport, crate::IndexUpload), AgentError> {
    let client = Client::new(&settings.server, settings.ca_file.as_deref())?;
    let identity = enroll(settings, &client).await?;
    let backend = backend.unwrap_or_else(|| {
        let root = options.roots.first().cloned().unwrap_or_default();
        crate::config::default_backend(&settings.hostname, &root)
    });
    crate::index::crawl_and_upload(
        &client,
        &identity.agent_token,
        &settings.state_dir,
        &backend,
        options,
    )
    .await
}

/// Collectors whose samples allocate megabytes (every package, process or unit): the free
/// memory is given back after each, which keeps the agent's RSS near its steady state.
const RECORD_HEAVY: [&str; 3] = ["applications", "processes", "services"];

/// One sample of `name` as an envelope: the collector's own error, or `None` when the task
/// or the encoding failed (logged).
async fn sample(
    shared: &Arc<Shared>,
    name: &'static str,
) -> Result<Option<Envelope>, spectra_core::Error> {
    let task = Arc::clone(shared);
    let sampled = tokio::task::spawn_blocking(move || {
        let metric = task.sampler.sample(name);
        if RECORD_HEAVY.contains(&name) {
            // Its records (megabytes for a package inventory) were freed in this blocking
            // thread's arena, where glibc would keep them for good.
            spectra_heap::release_free_memory();
        }
        metric
    });
    match sampled.await {
        Ok(metric) => match metric?.into_envelope(shared.settings.hostname.clone()) {
            Ok(envelope) => Ok(Some(envelope)),
            Err(e) => {
                tracing::warn!(collector = name, error = %e, "sample not sent");
                Ok(None)
            }
        },
        Err(e) => {
            tracing::error!(collector = name, error = %e, "collector task failed");
            Ok(None)
        }
    }
}

/// A schedule of `every`, the first tick at once; a late tick is not made up for.
fn schedule(every: Duration) -> tokio::time::Interval {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick
}

/// A core cancel switch that `shutdown` flips; drop the handle's task (abort) when done.
fn cancelled_on(shutdown: &CancellationToken) -> (CancelToken, tokio::task::JoinHandle<()>) {
    let cancel = CancelToken::new();
    let stop = cancel.clone();
    let stopping = shutdown.clone();
    let watcher = tokio::spawn(async move {
        stopping.cancelled().await;
        stop.cancel();
    });
    (cancel, watcher)
}

/// Samples `name` every `every` until shutdown. A collector this host lacks stops after
/// saying so once.
async fn collect(
    shared: Arc<Shared>,
    name: &'static str,
    every: Duration,
    out: mpsc::Sender<Envelope>,
    shutdown: CancellationToken,
) {
    let mut tick = schedule(every);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = shutdown.cancelled() => return,
        }
        match sample(&shared, name).await {
            Ok(Some(envelope)) => {
                if out.send(envelope).await.is_err() {
                    return;
                }
            }
            Ok(None) => {}
            Err(e) if e.code() == spectra_core::ErrorCode::Unsupported => {
                tracing::info!(collector = name, reason = %e, "not collected on this host");
                return;
            }
            Err(e) => tracing::warn!(collector = name, error = %e, "sample failed"),
        }
    }
}

/// Gathers envelopes into batches of at most `batch_max_envelopes`, spooling each when full
/// or `batch_max_age` old, and what is left when the collectors stop.
async fn batch(shared: Arc<Shared>, mut received: mpsc::Receiver<Envelope>) {
    let max = shared.settings.batch_max_envelopes;
    let max_age = shared.settings.batch_max_age;
    let mut pending: Vec<Envelope> = Vec::new();
    let mut since = Instant::now();
    loop {
        let deadline = tokio::time::Instant::from_std(since + max_age);
        tokio::select! {
            envelope = received.recv() => match envelope {
                Some(envelope) => {
                    if pending.is_empty() {
                        since = Instant::now();
                    }
                    pending.push(envelope);
                    if pending.len() >= max {
                        shared.spool(std::mem::take(&mut pending));
                    }
                }
                None => {
                    shared.spool(pending);
                    return;
                }
            },
            () = tokio::time::sleep_until(deadline), if !pending.is_empty() => {
                shared.spool(std::mem::take(&mut pending));
            }
        }
    }
}

/// Sends a spool's contents oldest first, retrying with exponential backoff and jitter while
/// the server is away, until shutdown.
async fn upload(shared: Arc<Shared>, kind: Upload, shutdown: CancellationToken) {
    let mut delay = FIRST_RETRY;
    loop {
        let next = shared.queue(kind).spool().oldest();
        let wait = match next {
            Ok(Some((seq, body))) => match send(&shared, kind, seq, body).await {
                Delivery::Done | Delivery::Refused { .. } => {
                    delay = FIRST_RETRY;
                    continue;
                }
                Delivery::Retry { after, .. } => {
                    let wait = after.unwrap_or(delay).max(delay);
                    delay = (delay * 2).min(LAST_RETRY);
                    jitter(wait)
                }
                Delivery::Unauthorized { .. } => LAST_RETRY,
            },
            Ok(None) => Duration::from_secs(3600),
            Err(e) => {
                tracing::error!(error = %e, "cannot read the spool");
                LAST_RETRY
            }
        };
        tokio::select! {
            () = shared.queue(kind).spooled.notified(), if wait == Duration::from_secs(3600) => {}
            () = tokio::time::sleep(wait) => {}
            () = shutdown.cancelled() => return,
        }
    }
}

/// Sends spooled item `seq` of `kind`; removes it once the server has it or can never take
/// it.
async fn send(shared: &Shared, kind: Upload, seq: u64, body: Vec<u8>) -> Delivery {
    let token = &shared.identity.agent_token;
    let (delivery, envelopes) = match kind {
        Upload::Metrics => {
            let envelopes = spectra_core::protocol::decode_metric_batch(
                &body,
                Compression::Gzip,
                &spectra_core::protocol::Limits::default(),
            )
            .map(|batch| batch.envelopes.len() as u64);
            match envelopes {
                Ok(count) => (shared.client.send_batch(token, body).await, count),
                Err(e) => (
                    Delivery::Refused {
                        why: format!("a spooled batch does not decode: {e}"),
                    },
                    0,
                ),
            }
        }
        Upload::Snapshots => (shared.client.send_snapshot(token, body).await, 0),
        Upload::Reports => (shared.client.send_plan_report(token, body).await, 0),
        Upload::Telemetry => {
            let events = spectra_core::protocol::decode::<TelemetryBatch>(
                "telemetry batch",
                &body,
                Compression::Gzip,
                &spectra_core::protocol::Limits::default(),
            )
            .map(|batch| batch.events.len() as u64)
            .unwrap_or(0);
            (shared.client.send_telemetry(token, body).await, events)
        }
    };
    let queue = shared.queue(kind);
    match &delivery {
        Delivery::Done => {
            remove(queue, seq);
            shared.update(|s| {
                match kind {
                    Upload::Metrics => {
                        s.envelopes_sent += envelopes;
                        s.batches_sent += 1;
                    }
                    Upload::Snapshots => s.snapshots_sent += 1,
                    Upload::Reports => s.plans_sent += 1,
                    Upload::Telemetry => s.events_sent += envelopes,
                }
                s.last_send = Some(chrono::Utc::now());
                s.last_error = None;
            });
            let dropped = queue.spool().take_dropped().unwrap_or(0);
            if dropped > 0 {
                tracing::warn!(
                    dropped,
                    "the server is back; the full spool had dropped batches"
                );
            }
        }
        Delivery::Refused { why } => {
            tracing::error!(why, "the server refuses a batch; it is dropped");
            remove(queue, seq);
            shared.update(|s| {
                s.batches_refused += 1;
                s.last_error = Some(why.clone());
            });
        }
        Delivery::Retry { why, .. } => {
            tracing::warn!(why, "the server did not take a batch; it stays spooled");
            shared.update(|s| s.last_error = Some(why.clone()));
        }
        Delivery::Unauthorized { why, revoked } => {
            if *revoked {
                shared.revoked.cancel();
            }
            let what_to_do = token_refused_advice(&shared.settings.state_dir, why);
            tracing::error!(
                why,
                what_to_do,
                "the agent's token is refused; batches stay spooled"
            );
            shared.update(|s| s.last_error = Some(format!("{why} ({what_to_do})")));
        }
    }
    delivery
}

/// What an admin should do about a refused token: a pending agent waits for approval; a
/// token that is unknown was revoked (deleted agent, or another enrollment replaced it).
fn token_refused_advice(state_dir: &std::path::Path, why: &str) -> String {
    if why.contains("pending approval") {
        "wait until an admin approves this agent (POST /api/v1/agents/ID/approve)".to_owned()
    } else {
        format!(
            "this agent's token was revoked or replaced on the server; to enroll again, stop \
             the agent, remove {} and start it with --enroll-token (what is spooled is kept \
             and sent after)",
            Identity::path(state_dir).display()
        )
    }
}

fn remove(queue: &Queue, seq: u64) {
    if let Err(e) = queue.spool().remove(seq) {
        tracing::error!(error = %e, "cannot remove a sent batch from the spool");
    }
}

/// Scans a root on its schedule (the first time at start) and spools each report as a
/// snapshot; shutdown stops a running scan. A root whose configuration opts in has its file
/// index uploaded from the same walk, straight to the server (its baseline makes a retry
/// cheap): when the server is away that scan is skipped and tried at the next tick.
async fn scan(
    shared: Arc<Shared>,
    scheduled: crate::config::ScheduledScan,
    shutdown: CancellationToken,
) {
    let crate::config::ScheduledScan {
        root,
        every,
        index_as,
    } = scheduled;
    let mut tick = schedule(every);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = shutdown.cancelled() => return,
        }
        let (cancel, watcher) = cancelled_on(&shutdown);
        let options = spectra_core::scan::ScanOptions::new(&root);
        let scanned = match &index_as {
            Some(backend) => {
                let indexed = tokio::select! {
                    indexed = crate::index::crawl_and_upload(
                        &shared.client,
                        &shared.identity.agent_token,
                        &shared.settings.state_dir,
                        backend,
                        options,
                    ) => indexed,
                    () = shutdown.cancelled() => return,
                };
                match indexed {
                    Ok((report, upload)) => {
                        tracing::info!(
                            backend = %upload.backend,
                            delta = upload.delta,
                            files_sent = upload.files_sent,
                            removed = upload.removed,
                            "index uploaded"
                        );
                        Ok(Ok(report))
                    }
                    Err(e) => {
                        tracing::warn!(root = %root.display(), error = %e, "index not uploaded");
                        watcher.abort();
                        continue;
                    }
                }
            }
            None => {
                tokio::task::spawn_blocking(move || {
                    spectra_core::scan::Scanner::new(options)?
                        .scan_controlled(spectra_core::scan::ScanControl::new().cancel_with(cancel))
                })
                .await
            }
        };
        watcher.abort();
        let report = match scanned {
            Ok(Ok(report)) if report.cancelled => return,
            Ok(Ok(report)) => report,
            Ok(Err(e)) => {
                tracing::warn!(root = %root.display(), error = %e, "scan failed");
                continue;
            }
            Err(e) => {
                tracing::error!(root = %root.display(), error = %e, "scan task failed");
                continue;
            }
        };
        let snapshot =
            spectra_core::protocol::Snapshot::new(shared.settings.hostname.clone(), report);
        let written = spectra_core::protocol::encode(&snapshot, Compression::Gzip)
            .map_err(AgentError::from)
            .and_then(|bytes| shared.snapshots.push(&bytes));
        let now = chrono::Utc::now();
        let next = now + every;
        match written {
            Ok(()) => shared.update(|s| {
                s.snapshots_spooled += 1;
                s.last_scan = Some(now);
                // Another root's next scan, when it is still to come and sooner, comes first.
                s.next_scan = Some(match s.next_scan {
                    Some(other) if other > now => other.min(next),
                    _ => next,
                });
            }),
            Err(e) => {
                tracing::error!(root = %root.display(), error = %e, "could not spool a snapshot")
            }
        }
    }
}

/// The policy loop: every `policy_interval` (the first time at start), the server's policies
/// (or, while it is away, the last ones it gave, kept on disk) are planned on the agent's roots
/// they apply to; a destructive one is enforced only under a root the agent's configuration
/// marks `enforce = true`. Each plan, with what enforcing it did, is reported to the server.
async fn policies(shared: Arc<Shared>, shutdown: CancellationToken) {
    let cached = shared.settings.state_dir.join("policies.json");
    let mut tick = schedule(shared.settings.policy_interval);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = shutdown.cancelled() => return,
        }
        let fetched = shared.client.policies(&shared.identity.agent_token).await;
        let policies: Vec<Policy> = match fetched {
            Ok(policies) => {
                let bytes = serde_json::to_vec(&policies).unwrap_or_default();
                if let Err(e) = write_private(&cached, &bytes) {
                    tracing::warn!(error = %e, "could not keep the policies");
                }
                policies
            }
            Err(delivery) => {
                tracing::warn!(?delivery, "policies not fetched; using the last ones kept");
                std::fs::read(&cached)
                    .ok()
                    .and_then(|bytes| serde_json::from_slice(&bytes).ok())
                    .unwrap_or_default()
            }
        };
        for policy in policies {
            for target in
                spectra_core::policy::policy_targets(&shared.settings.roots, &policy.scope)
            {
                if shutdown.is_cancelled() {
                    return;
                }
                plan_and_report(&shared, policy.clone(), target, &shutdown).await;
            }
        }
        shared.update(|s| s.last_policy_run = Some(chrono::Utc::now()));
    }
}

/// Plans `policy` on `target`, enforces it when this agent allows that there, and spools the
/// report. The target is resolved first and must stay under the agent's roots (core's
/// containment rule, as for `disk_usage`); enforcement is decided on the resolved paths too.
async fn plan_and_report(
    shared: &Arc<Shared>,
    policy: Policy,
    target: std::path::PathBuf,
    shutdown: &CancellationToken,
) -> Option<PlanReport> {
    let target = match spectra_core::roots::resolve_within(&target, &shared.settings.roots) {
        Ok(resolved) => resolved,
        Err(e) => {
            tracing::warn!(policy = policy.name, error = %e, "policy target skipped");
            return None;
        }
    };
    let enforce_roots: Vec<std::path::PathBuf> = shared
        .settings
        .enforce_roots
        .iter()
        .filter_map(|root| std::fs::canonicalize(root).ok())
        .collect();
    let enforce = policy.action.is_destructive()
        && spectra_core::policy::may_enforce(&target, &enforce_roots);
    let state = StateDir::resolve(Some(shared.settings.state_dir.join("policy")));
    let (cancel, watcher) = cancelled_on(shutdown);
    let where_ = target.clone();
    let done = tokio::task::spawn_blocking(move || -> spectra_core::Result<_> {
        let saved = state.plan(
            &policy,
            spectra_core::scan::ScanOptions::for_policy([&where_]),
            spectra_core::scan::ScanControl::new().cancel_with(cancel.clone()),
        )?;
        let enforcement = if enforce && !saved.plan.files.is_empty() && !saved.plan.scan_partial {
            let hooks = ActionHooks {
                cancel,
                ..ActionHooks::default()
            };
            Some(state.enforce(&saved.plan.id, false, hooks)?.1)
        } else {
            None
        };
        Ok(PlanReport::new(&saved.plan, &where_, enforcement))
    })
    .await;
    watcher.abort();
    let report = match done {
        Ok(Ok(report)) => report,
        Ok(Err(e)) => {
            tracing::warn!(target = %target.display(), error = %e, "policy not applied");
            return None;
        }
        Err(e) => {
            tracing::error!(error = %e, "policy task failed");
            return None;
        }
    };
    let enforced = report.enforcement.is_some();
    let written = spectra_core::protocol::encode(&report, Compression::Gzip)
        .map_err(AgentError::from)
        .and_then(|bytes| shared.reports.push(&bytes));
    match written {
        Ok(()) => shared.update(|s| {
            s.plans_made += 1;
            s.plans_enforced += u64::from(enforced);
        }),
        Err(e) => tracing::error!(error = %e, "could not spool a plan report"),
    }
    Some(report)
}

/// Between 50 % and 100 % of `wait`, so agents that lost the server together do not all come
/// back in the same instant.
/// `wait` scaled by a random factor in [0.5, 1.0]; never more than `wait`, so no value
/// overflows.
fn jitter(wait: Duration) -> Duration {
    let mut byte = [0u8; 1];
    let _ = getrandom::fill(&mut byte);
    scaled(wait, 0.5 + f64::from(byte[0]) / 510.0)
}

fn scaled(wait: Duration, factor: f64) -> Duration {
    Duration::try_from_secs_f64(wait.as_secs_f64() * factor.clamp(0.0, 1.0))
        .unwrap_or(wait)
        .min(wait)
}

async fn heartbeat(shared: Arc<Shared>, shutdown: CancellationToken) {
    let mut tick = schedule(shared.settings.heartbeat);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = shutdown.cancelled() => return,
        }
        match shared.client.heartbeat(&shared.identity.agent_token).await {
            Delivery::Done => {}
            Delivery::Unauthorized { why, revoked } => {
                tracing::debug!(why, "heartbeat not delivered");
                if revoked {
                    shared.revoked.cancel();
                }
            }
            Delivery::Retry { why, .. } | Delivery::Refused { why } => {
                tracing::debug!(why, "heartbeat not delivered");
            }
        }
    }
}

/// Long-polls the server for commands and runs each (at most `max_commands` at once) under
/// the agent's own rules; shutdown cancels the running ones.
async fn commands(shared: Arc<Shared>, shutdown: CancellationToken) {
    let slots = Arc::new(Semaphore::new(shared.settings.max_commands));
    let cancel = CancelToken::new();
    let mut running = tokio::task::JoinSet::new();
    let mut delay = FIRST_RETRY;
    loop {
        let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
            break;
        };
        let polled = tokio::select! {
            polled = shared.client.next_command(&shared.identity.agent_token, POLL_WAIT) => polled,
            () = shutdown.cancelled() => break,
        };
        match polled {
            Ok(Some(command)) => {
                delay = FIRST_RETRY;
                let (task, cancel) = (Arc::clone(&shared), cancel.clone());
                running.spawn(async move {
                    let result = run_command(&task, command, cancel).await;
                    let delivery = task
                        .client
                        .send_result(&task.identity.agent_token, &result)
                        .await;
                    if delivery != Delivery::Done {
                        tracing::warn!(?delivery, "a command's result was not delivered");
                    }
                    drop(slot);
                });
            }
            Ok(None) => delay = FIRST_RETRY,
            Err(delivery) => {
                tracing::debug!(?delivery, "command poll failed");
                tokio::select! {
                    () = tokio::time::sleep(jitter(delay)) => {}
                    () = shutdown.cancelled() => break,
                }
                delay = (delay * 2).min(LAST_RETRY);
            }
        }
    }
    cancel.cancel();
    while running.join_next().await.is_some() {}
}

/// Runs `command` if this agent allows it, through core with core's limits.
async fn run_command(shared: &Arc<Shared>, command: Command, cancel: CancelToken) -> CommandResult {
    let command_id = command.command_id;
    let kind = command.diagnostic.kind();
    let outcome = match admit(&shared.settings, command.diagnostic) {
        Err(why) => {
            tracing::warn!(%command_id, kind, why, "command refused");
            shared.update(|s| s.commands_refused += 1);
            CommandOutcome::Failed(ErrorBody::new("refused", why))
        }
        Ok(diagnostic) => {
            let ran = tokio::task::spawn_blocking(move || {
                diagnostic.run(&DiagnosticLimits::default(), &cancel)
            })
            .await;
            shared.update(|s| s.commands_run += 1);
            match ran {
                Ok(Ok(outcome)) => match serde_json::to_value(&outcome.output) {
                    Ok(output) => CommandOutcome::Succeeded { output },
                    Err(e) => CommandOutcome::Failed(ErrorBody::new("internal", e.to_string())),
                },
                Ok(Err(e)) => CommandOutcome::Failed(e.body()),
                Err(e) => CommandOutcome::Failed(ErrorBody::new("internal", e.to_string())),
            }
        }
    };
    CommandResult {
        command_id,
        outcome,
    }
}

/// What this agent runs of `diagnostic`, or why it does not: a kind its configuration does
/// not list, or a disk usage whose path does not resolve under its roots
/// ([`spectra_core::roots::resolve_within`]). A disk usage it runs is rewritten to the
/// resolved path, so no symlink on the way is followed again.
pub fn admit(settings: &Settings, diagnostic: Diagnostic) -> Result<Diagnostic, String> {
    if !settings.diagnostics.iter().any(|d| d == diagnostic.kind()) {
        return Err(format!(
            "this agent does not run {} (its configuration allows: {})",
            diagnostic.kind(),
            settings.diagnostics.join(", ")
        ));
    }
    match diagnostic {
        Diagnostic::DiskUsage { path, top } => {
            if settings.roots.is_empty() {
                return Err(format!(
                    "{}: this agent has no roots, so it reads no path; add one to `roots` in \
                     its configuration (agent.toml: roots = [\"/srv\"])",
                    path.display()
                ));
            }
            let resolved = spectra_core::roots::resolve_within(&path, &settings.roots)
                .map_err(|e| e.to_string())?;
            Ok(Diagnostic::DiskUsage {
                path: resolved,
                top,
            })
        }
        other => Ok(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::AgentConfig;

    #[test]
    fn the_agent_refuses_what_its_configuration_does_not_allow() {
        let dir = tempfile::tempdir().expect("tmp");
        let root = std::fs::canonicalize(dir.path())
            .expect("canonical")
            .join("srv");
        std::fs::create_dir_all(root.join("data")).expect("mkdir");
        std::os::unix::fs::symlink("/", root.join("escape")).expect("link");
        let config = format!("diagnostics = ['ping', 'disk_usage']\nroots = [{:?}]", root);
        let settings: Settings = toml::from_str::<AgentConfig>(&config)
            .expect("toml")
            .resolve(Some("http://h".into()), None, Some("/tmp/s".into()))
            .expect("settings");
        let ping = Diagnostic::Ping {
            host: "h".into(),
            count: 1,
        };
        assert_eq!(admit(&settings, ping.clone()), Ok(ping));
        let logs = Diagnostic::Logs {
            severity: spectra_core::diagnose::Severity::Error,
            lines: 5,
        };
        assert!(admit(&settings, logs).is_err_and(|why| why.contains("does not run logs")));
        let du = |path: std::path::PathBuf| Diagnostic::DiskUsage { path, top: 5 };
        assert_eq!(
            admit(&settings, du(root.join("data/."))),
            Ok(du(root.join("data"))),
            "run on the resolved path"
        );
        assert!(admit(&settings, du("/etc".into())).is_err());
        assert!(admit(&settings, du(root.join("../../etc"))).is_err());
        let why = admit(&settings, du(root.join("escape"))).expect_err("a link out");
        assert!(why.contains("resolves to /,"), "{why}");

        let rootless: Settings = toml::from_str::<AgentConfig>("")
            .expect("toml")
            .resolve(Some("http://h".into()), None, Some("/tmp/s".into()))
            .expect("settings");
        let why = admit(&rootless, du(root.join("data"))).expect_err("no roots");
        assert!(
            why.contains("no roots") && why.contains("roots = ["),
            "{why}"
        );
    }

    #[test]
    fn jitter_stays_within_half_to_whole_for_any_wait() {
        for wait in [
            Duration::ZERO,
            Duration::from_nanos(1),
            Duration::from_secs(60),
            Duration::MAX,
        ] {
            for factor in [0.0, 0.5, 1.0, f64::NAN, f64::INFINITY, -1.0] {
                assert!(scaled(wait, factor) <= wait, "{wait:?} x {factor}");
            }
            assert!(jitter(wait) <= wait, "{wait:?}");
        }
        assert_eq!(scaled(Duration::from_secs(10), 0.5), Duration::from_secs(5));
    }

    #[test]
    fn the_default_diagnostics_are_every_kind_core_has() {
        let settings: Settings = toml::from_str::<AgentConfig>("")
            .expect("toml")
            .resolve(Some("http://h".into()), None, Some("/tmp/s".into()))
            .expect("settings");
        assert_eq!(
            settings.diagnostics,
            spectra_core::diagnose::KINDS.map(str::to_owned)
        );
    }
}
