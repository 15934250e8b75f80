//! Running the server: the listener (plain TCP or TLS), background maintenance, and graceful
//! shutdown that finishes in-flight requests.

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use crate::api::{self, AppState};
use crate::config::ServeConfig;
use crate::maintenance;
use crate::store::{self, StoreError};

/// How long a client may take over its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot listen on {addr}: {source}")]
    Listen { addr: SocketAddr, source: io::Error },
    #[error("TLS: {0}")]
    Tls(String),
    #[error("server: {0}")]
    Io(#[from] io::Error),
    #[error("alerts: {0}")]
    Alerts(String),
}

/// Opens the store, binds, serves until SIGINT or SIGTERM, then stops accepting, lets
/// in-flight requests finish (long-polls return at once) and returns.
pub async fn run(config: ServeConfig) -> Result<(), ServeError> {
    let store = store::open(&config.db).await?;
    tracing::info!(backend = store.backend(), "store ready");
    let mailer = crate::alerts::Mailer::new(&config.alerts).map_err(ServeError::Alerts)?;
    let state = AppState::new(store, config.clone());
    let maintenance = tokio::spawn(maintain(state.clone()));
    let alerting = crate::alerts::Alerting {
        evaluations: state.alert_evaluations.clone(),
        ..crate::alerts::Alerting::new(state.store.clone(), &state.config)
    };
    let alerting = tokio::spawn(crate::alerts::run(alerting, mailer));
    let trimming = tokio::spawn(release_freed_memory());
    let shutdown = state.shutdown.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutting down: finishing in-flight requests");
        shutdown.cancel();
    });
    let tcp = TcpListener::bind(config.listen)
        .await
        .map_err(|source| ServeError::Listen {
            addr: config.listen,
            source,
        })?;
    let local = tcp.local_addr()?;
    let router = api::app(state.clone());
    let stop = state.shutdown.clone();
    let result = match &config.tls {
        Some((cert, key)) => {
            let listener = TlsListener::new(tcp, tls_acceptor(cert, key)?);
            announce("https", local);
            offer_setup(&state, "https", local).await?;
            axum::serve(
                listener,
                router.into_make_service_with_connect_info::<ClientAddr>(),
            )
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await
        }
        None => {
            announce("http", local);
            offer_setup(&state, "http", local).await?;
            axum::serve(
                tcp,
                router.into_make_service_with_connect_info::<ClientAddr>(),
            )
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await
        }
    };
    maintenance.abort();
    alerting.abort();
    trimming.abort();
    result.map_err(ServeError::from)
}

/// While no user exists, prints a one-time link that creates the first admin (the secret
/// travels in the fragment, which browsers send to no server and no log). Each start makes a
/// new one; `spectra user add` with an admin API token is the other way in.
async fn offer_setup(state: &AppState, scheme: &str, addr: SocketAddr) -> Result<(), ServeError> {
    let secret = crate::accounts::prepare_setup(&state.store, chrono::Utc::now())
        .await
        .map_err(|e| match e {
            crate::accounts::AccountError::Store(store) => ServeError::Store(store),
            other => ServeError::Io(io::Error::other(other.to_string())),
        })?;
    if let Some(secret) = secret {
        tracing::info!("no user yet: the setup link is on standard output");
        println!("spectra serve: create the first admin at {scheme}://{addr}/setup#{secret}");
    }
    Ok(())
}

fn announce(scheme: &str, addr: SocketAddr) {
    tracing::info!(%addr, "listening");
    // A plain line on stdout too, for scripts (and tests) that started us on port 0.
    println!("spectra serve: listening on {scheme}://{addr}");
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(
            tokio::signal::unix::SignalKind::terminate(),
        ) {
            Ok(term) => term,
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch SIGTERM; only Ctrl-C stops the server");
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// Requests at least this large (as received; a gzip body may decode to far more) leave
/// request-sized buffers behind in the allocator: see [`release_freed_memory`].
pub(crate) const LARGE_REQUEST_BYTES: usize = 16 << 10;

static LARGE_REQUEST_SEEN: AtomicBool = AtomicBool::new(false);

/// Notes that a large request was handled, so freed memory is handed back soon.
pub(crate) fn note_large_request() {
    LARGE_REQUEST_SEEN.store(true, Ordering::Relaxed);
}

/// Every few seconds after large requests, hands memory freed by their buffers (bodies up to
/// the body limit, decompressions up to the decoded limit, JSON trees) back to the system.
/// glibc's malloc keeps such memory in its per-thread arenas and raises its mmap threshold
/// after each large free, so without this a server's RSS only ever grows to the largest burst
/// it has seen (15 MB → 100+ MB after a probe, and higher with concurrency).
async fn release_freed_memory() {
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    loop {
        tick.tick().await;
        if LARGE_REQUEST_SEEN.swap(false, Ordering::Relaxed) {
            spectra_heap::release_free_memory();
        }
    }
}

/// Rollups, retention, command expiry and quota levels, every `maintenance_interval`. Safe on several
/// replicas at once: each step recomputes from the database.
async fn maintain(state: AppState) {
    let mut tick = tokio::time::interval(state.config.maintenance_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = state
            .store
            .note_replica(&state.replica(chrono::Utc::now()))
            .await
        {
            tracing::warn!(error = %e, "could not record this replica as alive; will retry");
        }
        match maintenance::roll_up(&state.store, &state.config.retention).await {
            Ok(rows) => tracing::debug!(rows, "rollups written"),
            Err(e) => tracing::warn!(error = %e, "rollup failed; will retry"),
        }
        let (retention, timeout) = (&state.config.retention, state.config.command_timeout);
        match maintenance::prune(&state.store, retention, timeout).await {
            Ok(rows) => tracing::debug!(rows, "retention applied"),
            Err(e) => tracing::warn!(error = %e, "retention failed; will retry"),
        }
        if let Err(e) = crate::governance::evaluate_quotas(&state.store, chrono::Utc::now()).await {
            tracing::warn!(error = %e, "quota evaluation failed; will retry");
        }
    }
}

fn tls_acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, ServeError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect())
        .map_err(|e| ServeError::Tls(format!("certificate {}: {e}", cert.display())))?;
    if certs.is_empty() {
        return Err(ServeError::Tls(format!(
            "certificate {}: no certificate in the file",
            cert.display()
        )));
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| ServeError::Tls(format!("key {}: {e}", key.display())))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ServeError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| ServeError::Tls(format!("certificate and key: {e}")))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Accepts TCP connections and hands over those whose TLS handshake completed; handshakes
/// run concurrently, so a slow client does not hold up the others.
struct TlsListener {
    local: SocketAddr,
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    acceptor_task: tokio::task::JoinHandle<()>,
}

impl TlsListener {
    fn new(tcp: TcpListener, acceptor: TlsAcceptor) -> Self {
        let local = tcp
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
        let (sender, ready) = mpsc::channel(64);
        let acceptor_task = tokio::spawn(async move {
            loop {
                let (stream, peer) = match tcp.accept().await {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // Out of file descriptors and the like: wait rather than spin.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let acceptor = acceptor.clone();
                let sender = sender.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let _ = sender.send((tls, peer)).await;
                        }
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        });
        TlsListener {
            local,
            ready,
            acceptor_task,
        }
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.acceptor_task.abort();
    }
}

/// The peer of a connection, as handlers see it (`ConnectInfo<ClientAddr>`), over plain TCP
/// and TLS alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub SocketAddr);

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, TcpListener>>
    for ClientAddr
{
    fn connect_info(stream: axum::serve::IncomingStream<'_, TcpListener>) -> Self {
        ClientAddr(*stream.remote_addr())
    }
}

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, TlsListener>>
    for ClientAddr
{
    fn connect_info(stream: axum::serve::IncomingStream<'_, TlsListener>) -> Self {
        ClientAddr(*stream.remote_addr())
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(accepted) => accepted,
            // The accepting task only ends when aborted, with the listener itself.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.local)
    }
}
