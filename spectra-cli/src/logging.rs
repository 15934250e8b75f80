//! Logs of the long-running commands (`serve`, `agent`) and their stop signals.

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    #[cfg(feature = "server")]
    Json,
}

/// Logs to stderr at `RUST_LOG`'s level (default info).
pub fn init(format: Format) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        #[cfg(feature = "server")]
        Format::Json => builder.json().init(),
        Format::Text => builder.init(),
    }
}

/// Resolves on SIGTERM or SIGINT.
#[cfg(feature = "agent")]
pub async fn terminated() {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => std::future::pending().await,
    }
}
